package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic"
)

// withEnv is runbookEnvs plus an environment name with the given extra keys (each a
// line under the environment, indented by the caller's four spaces).
func withEnv(base, name string, extra ...string) string {
	src := base + "  " + name + ":\n" + `    aws: {region: us-east-1}
    lambda: {functions: [` + name + `-a], version: {tag: v}}
    alarm_prefix: ` + name + `-
    health: {url: "https://` + name + `.example.com/health"}
    deploy: {workflow: deploy-` + name + `.yml}
`
	for _, e := range extra {
		src += "    " + e + "\n"
	}
	return src
}

// withKey adds a key under an environment of runbookEnvs (prod, preprod or dev).
func withKey(tb testing.TB, src, env, key string) string {
	tb.Helper()
	anchor := "    alarm_prefix: " + env + "-\n"
	if !strings.Contains(src, anchor) {
		tb.Fatalf("no environment %s in the base config", env)
	}
	return strings.Replace(src, anchor, anchor+"    "+key+"\n", 1)
}

// policies is each environment's (protected, allow_destructive) as recovery gets them.
func policies(c *Config) map[string][2]bool {
	got := map[string][2]bool{}
	for _, e := range c.DomainEnvironments() {
		got[e.Name] = [2]bool{e.Protected, e.AllowDestructive}
	}
	return got
}

func TestEnvironmentPolicyDefaultsByName(t *testing.T) {
	src := withEnv(withEnv(runbookEnvs, "production"), "staging")
	got := policies(mustParse(t, src))
	want := map[string][2]bool{
		"prod":       {true, false},
		"production": {true, false},
		"preprod":    {false, true},
		"staging":    {false, false},
		"dev":        {false, false},
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got protected=%t allow_destructive=%t, want %t and %t", name, got[name][0], got[name][1], w[0], w[1])
		}
	}
	// The example spells the defaults out.
	ex, err := Parse(bytes.NewReader(medic.ExampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if p := ex.Environments["prod"].Protected; p == nil || !*p {
		t.Errorf("example prod: protected is %v, want spelled out true", p)
	}
	if a := ex.Environments["preprod"].AllowDestructive; a == nil || !*a {
		t.Errorf("example preprod: allow_destructive is %v, want spelled out true", a)
	}
	if got := policies(ex); got["prod"] != [2]bool{true, false} || got["preprod"] != [2]bool{false, true} || got["dev"] != [2]bool{false, false} {
		t.Errorf("example: got %v", got)
	}
}

func TestEnvironmentPolicyExplicitValuesWin(t *testing.T) {
	tests := []struct {
		name, src, env string
		want           [2]bool // protected, allow_destructive
	}{
		{"production unprotected", withEnv(runbookEnvs, "production", "protected: false"), "production", [2]bool{false, false}},
		{"prod unprotected", withKey(t, runbookEnvs, "prod", "protected: false"), "prod", [2]bool{false, false}},
		{"staging destructive", withEnv(runbookEnvs, "staging", "allow_destructive: true"), "staging", [2]bool{false, true}},
		{"staging protected", withEnv(runbookEnvs, "staging", "protected: true"), "staging", [2]bool{true, false}},
		{"dev protected", withKey(t, runbookEnvs, "dev", "protected: true"), "dev", [2]bool{true, false}},
		{"preprod not destructive", withKey(t, runbookEnvs, "preprod", "allow_destructive: false"), "preprod", [2]bool{false, false}},
		// Protecting preprod keeps it from being destroyed, without a second key to write.
		{"preprod protected", withKey(t, runbookEnvs, "preprod", "protected: true"), "preprod", [2]bool{true, false}},
		{"prod both false", withKey(t, runbookEnvs, "prod", "protected: false\n    allow_destructive: false"), "prod", [2]bool{false, false}},
		{"dev unprotected, destructive", withKey(t, runbookEnvs, "dev", "protected: false\n    allow_destructive: true"), "dev", [2]bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := policies(mustParse(t, tt.src))
			if got[tt.env] != tt.want {
				t.Errorf("%s: got protected=%t allow_destructive=%t, want %t and %t", tt.env, got[tt.env][0], got[tt.env][1], tt.want[0], tt.want[1])
			}
		})
	}
}

func TestProtectedEnvironmentIsNeverDestructive(t *testing.T) {
	tests := []struct {
		name, src, wantKey, wantMsg string
	}{
		{"both given", withEnv(runbookEnvs, "staging", "protected: true", "allow_destructive: true"), "environments.staging.allow_destructive", "protected: true"},
		{"another environment, protected", withEnv(runbookEnvs, "live", "protected: true", "allow_destructive: true"), "environments.live.allow_destructive", "protected: true"},
		{"preprod protected", withKey(t, runbookEnvs, "preprod", "protected: true\n    allow_destructive: true"), "environments.preprod.allow_destructive", "protected: true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oneProblem(t, tt.src, tt.wantKey)
			for _, want := range []string{tt.wantMsg, "never destroyed", "remove allow_destructive", "protected: false"} {
				if !strings.Contains(p.String(), want) {
					t.Errorf("got %q, want it to say %q", p, want)
				}
			}
		})
	}
}

// Production is never destroyed: allow_destructive is refused on prod or production
// (protected or not) and on any environment rated HIGH or above.
func TestProductionIsNeverDestructive(t *testing.T) {
	tests := []struct {
		name, src, wantKey, wantMsg string
	}{
		{"prod, protected by name", withKey(t, runbookEnvs, "prod", "allow_destructive: true"), "environments.prod.allow_destructive", "production is never destroyed"},
		{"prod, unprotected", withKey(t, runbookEnvs, "prod", "protected: false\n    allow_destructive: true"), "environments.prod.allow_destructive", "production is never destroyed"},
		{"production, rated LOW", withEnv(runbookEnvs, "production", "protected: false", "severity: LOW", "allow_destructive: true"), "environments.production.allow_destructive", "production is never destroyed"},
		{"staging rated HIGH", withEnv(runbookEnvs, "staging", "severity: HIGH", "allow_destructive: true"), "environments.staging.allow_destructive", "rated HIGH"},
		{"preprod rated CRITICAL", withKey(t, runbookEnvs, "preprod", "severity: CRITICAL"), "environments.preprod.allow_destructive", "rated CRITICAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := oneProblem(t, tt.src, tt.wantKey); !strings.Contains(p.String(), tt.wantMsg) {
				t.Fatalf("got %q, want it to say %q", p, tt.wantMsg)
			}
		})
	}
	// A staging rated MEDIUM may be destroyed.
	if got := policies(mustParse(t, withEnv(runbookEnvs, "staging", "severity: MEDIUM", "allow_destructive: true")))["staging"]; got != [2]bool{false, true} {
		t.Errorf("staging rated MEDIUM with allow_destructive: got %v, want unprotected, destructive", got)
	}
}

func TestWarnsWhenNoEnvironmentIsProtected(t *testing.T) {
	ex, err := Parse(bytes.NewReader(medic.ExampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*Config{
		"example":               ex,
		"minimal":               mustParse(t, minimal),
		"runbook's":             mustParse(t, runbookEnvs),
		"prod off, dev on":      mustParse(t, withKey(t, withKey(t, runbookEnvs, "prod", "protected: false"), "dev", "protected: true")),
		"production by default": mustParse(t, strings.Replace(minimal, "  prod:", "  production:", 1)),
	} {
		if ws := keyed(c.Warnings(), "environments"); len(ws) != 0 {
			t.Errorf("%s config: got warnings %v, want none", name, ws)
		}
	}
	for name, src := range map[string]string{
		"prod unprotected": withKey(t, runbookEnvs, "prod", "protected: false"),
		"no prod":          strings.Replace(minimal, "  prod:", "  live:", 1),
	} {
		ws := keyed(mustParse(t, src).Warnings(), "environments") // a warning, not a problem: it parses
		if len(ws) != 1 || ws[0].Key != "environments" || !strings.Contains(ws[0].String(), "no environment is protected") ||
			!strings.Contains(ws[0].Fix, "protected: true") {
			t.Errorf("%s: got warnings %v, want one saying no environment is protected and how to protect one", name, ws)
		}
	}
}

func TestShutdownGrace(t *testing.T) {
	if got := mustParse(t, minimal).ShutdownGrace; got != 25*time.Second {
		t.Errorf("default: got %s, want 25s", got)
	}
	if got := mustParse(t, "shutdown_grace: 0\n"+minimal).ShutdownGrace; got != DefaultShutdownGrace {
		t.Errorf("0: got %s, want the default", got)
	}
	if got := mustParse(t, "shutdown_grace: 10s\n"+minimal).ShutdownGrace; got != 10*time.Second {
		t.Errorf("override: got %s, want 10s", got)
	}
	_, err := Parse(strings.NewReader("shutdown_grace: -5s\n" + minimal))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Key != "shutdown_grace" ||
		!strings.Contains(ps[0].String(), "-5s is not a positive duration") || !strings.Contains(ps[0].Fix, "terminationGracePeriodSeconds") {
		t.Errorf("negative: got %v, want one problem for shutdown_grace saying it must be positive", err)
	}
}

// An environment open to destructive actions never shares what they act on with
// another environment: its table (the same, or named after the other), its role, its
// lock table, its Terraform variables or backend.
func TestDestructiveEnvironmentOwnsItsResources(t *testing.T) {
	tests := []struct {
		name, src, wantKey string
	}{
		{"prod's table", withKey(t, runbookEnvs, "preprod", "dynamodb_table: prod-sentiment-items"), "environments.preprod.dynamodb_table"},
		{"a table named after a longer environment", withEnv(withKey(t, runbookEnvs, "preprod", "dynamodb_table: preprod-eu-items"), "preprod-eu", "protected: true"), "environments.preprod.dynamodb_table"},
		{"a table named after another environment", withEnv(runbookEnvs, "staging", "allow_destructive: true", "dynamodb_table: dev-items"), "environments.staging.dynamodb_table"},
		{"prod's role", strings.ReplaceAll(runbookEnvs, "aws: {region: us-east-1}", `aws: {region: us-east-1, role_arn: "arn:aws:iam::123456789012:role/medic-prod"}`), "environments.preprod.aws.role_arn"},
		{"prod's lock table", withKey(t, withKey(t, runbookEnvs, "prod", "terraform: {lock_table: terraform-state-lock}"), "preprod", "terraform: {lock_table: terraform-state-lock}"), "environments.preprod.terraform.lock_table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.src))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got %v, want Problems", err)
			}
			var found bool
			for _, p := range ps {
				found = found || (p.Key == tt.wantKey && strings.Contains(p.String(), "allows destructive actions"))
			}
			if !found {
				t.Fatalf("got %v, want a problem for %s", ps, tt.wantKey)
			}
		})
	}
	// Its own table, named after it, is fine; so is a shorter environment's prefix.
	mustParse(t, withEnv(withKey(t, runbookEnvs, "preprod", "dynamodb_table: preprod-items"), "pre"))
}

// oneProblem parses src and returns its one problem, which must be key's.
func oneProblem(t *testing.T, src, key string) Problem {
	t.Helper()
	_, err := Parse(strings.NewReader(src))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Key != key {
		t.Fatalf("got %v, want one problem for %s", err, key)
	}
	return ps[0]
}

// keyed are the problems of key.
func keyed(ps []Problem, key string) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Key == key {
			out = append(out, p)
		}
	}
	return out
}

// Environments named otherwise than the runbook's, with its default stages, rules and
// escalation matrix left in place: config check warns that those defaults name
// environments it does not have. Spelt out, or with a prod, there is no warning.
func TestWarnsWhenTheDefaultsNameMissingEnvironments(t *testing.T) {
	renamed := strings.ReplaceAll(strings.ReplaceAll(runbookEnvs, "  prod:", "  production:"), "  preprod:", "  staging:")
	ws := keyed(mustParse(t, renamed).Warnings(), "pipeline")
	if len(ws) != 1 || !strings.Contains(ws[0].Msg, "(preprod, prod)") || !strings.Contains(ws[0].Msg, "escalation matrix") || !strings.Contains(ws[0].Fix, "pipeline.jobs") {
		t.Fatalf("renamed environments: got %v, want one warning naming preprod and prod and the defaults", ws)
	}
	ex, err := Parse(bytes.NewReader(medic.ExampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*Config{"example": ex, "minimal (prod only)": mustParse(t, minimal), "runbook's": mustParse(t, runbookEnvs)} {
		if ws := keyed(c.Warnings(), "pipeline"); len(ws) != 0 {
			t.Errorf("%s config: got %v, want no warning", name, ws)
		}
	}
}

// status.freshness: 5s by default, 0s allowed (reads in flight only), refused below 0
// or above a minute.
func TestStatusFreshness(t *testing.T) {
	if got := *mustParse(t, minimal).Status.Freshness; got != 5*time.Second {
		t.Errorf("default: got %s, want 5s", got)
	}
	withFreshness := func(v string) string { return "status:\n  freshness: " + v + "\n" + minimal }
	if got := *mustParse(t, withFreshness("0s")).Status.Freshness; got != 0 {
		t.Errorf("0s: got %s, want 0 kept (not the default)", got)
	}
	if got := *mustParse(t, withFreshness("1m")).Status.Freshness; got != time.Minute {
		t.Errorf("1m: got %s", got)
	}
	for _, v := range []string{"-1s", "61s"} {
		oneProblem(t, withFreshness(v), "status.freshness")
	}
}

// slack.queue: 8192 by default (a crowd of 5,000 fits), 16 to 65536.
func TestSlackQueue(t *testing.T) {
	if got := mustParse(t, minimal).Slack.Queue; got != 8192 {
		t.Errorf("default: got %d, want 8192", got)
	}
	withQueue := func(v string) string { return "slack:\n  queue: " + v + "\n" + minimal }
	for v, want := range map[string]int{"16": 16, "65536": 65536} {
		if got := mustParse(t, withQueue(v)).Slack.Queue; got != want {
			t.Errorf("%s: got %d", v, got)
		}
	}
	for _, v := range []string{"15", "65537", "-1"} {
		oneProblem(t, withQueue(v), "slack.queue")
	}
}
