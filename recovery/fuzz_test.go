package recovery

import (
	"strings"
	"testing"
)

// FuzzClassify feeds arbitrary job logs through classification and every log parser:
// none may panic, classification always names a registered scenario and an
// environment, and excerpts stay within their line budget.
func FuzzClassify(f *testing.F) {
	for _, name := range []string{"pytest_dev.log", "terraform_lock_s3.log", "terraform_lock_http.log", "secrets_denied.log"} {
		f.Add(mustLog(f, name), "Deploy to Preprod")
	}
	f.Add("", "")
	f.Add("│ Error: Error acquiring the state lock\n│ Lock Info:\n│   ID:", "Terraform Plan (prod)")
	f.Add("AccessDeniedException secret: arn:aws:secretsmanager:us-east-1:123456789012:secret:", "Validate Secrets")
	envs := runbookEnvs(f)
	p := runbookPipeline()
	f.Fuzz(func(t *testing.T, log, job string) {
		run := Run{ID: 1, Workflow: "build-and-promote.yml"}
		j := JobInfo{ID: 2, Name: job, Status: "completed", Conclusion: "failure"}
		c, need := p.Classify(run, j, &log, envs)
		if need {
			t.Fatal("asked for the log it was given")
		}
		if _, ok := ScenarioByID(c.Scenario); !ok {
			t.Fatalf("unknown scenario %q", c.Scenario)
		}
		if _, err := envs.Get(c.Env); err != nil {
			t.Fatalf("environment %q: %v", c.Env, err)
		}
		if ex := Excerpt(log, 10); strings.Count(ex, "\n") > 9 {
			t.Fatalf("excerpt of %d lines, want at most 10", strings.Count(ex, "\n")+1)
		}
		PytestFailures(log)
		TerraformErrors(log)
		LikelyCause(log)
		ParseStateLock(log)
		SecretErrors(log)
		Redact(log)
	})
}

// shapeRules recognise a credential by its shape alone.
var shapeRules = map[string]bool{"pem": true, "aws-key-id": true, "github-token": true,
	"github-pat": true, "slack-token": true, "slack-app-token": true, "npm-token": true, "jwt": true,
	"gitlab-token": true, "stripe-key": true, "google-key": true, "pem-base64": true}

// FuzzRedact checks that every kind of credential, placed anywhere in arbitrary
// text, never survives redaction, and that redacting twice changes nothing.
func FuzzRedact(f *testing.F) {
	f.Add("before ", " after")
	f.Add("X-API-Key: ", "\n")
	f.Add("", "")
	f.Add("-----BEGIN RSA PRIVATE KEY-----\n", "")
	f.Add("password=", "@host")
	for _, c := range redactCases {
		f.Add(c.in, c.in)
	}
	f.Fuzz(func(t *testing.T, before, after string) {
		for _, c := range redactCases {
			// A credential by its shape goes in any context; one known by its name
			// (NAME=value, a URL's password) needs its own line, as it has in a log.
			sep := " "
			if !shapeRules[c.rule] {
				sep = "\n"
			}
			in := before + sep + c.in + sep + after
			out := Redact(in)
			if strings.Contains(out, c.gone) && !strings.Contains(before+after, c.gone) {
				t.Fatalf("%s: Redact(%q) = %q keeps %q", c.rule, in, out, c.gone)
			}
			if again := Redact(out); again != out {
				t.Fatalf("Redact is not idempotent on %q: %q then %q", in, out, again)
			}
		}
	})
}
