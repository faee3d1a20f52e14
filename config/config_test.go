package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic"
	"github.com/medic-ops/medic/recovery"
)

func mustParse(tb testing.TB, src string) *Config {
	tb.Helper()
	c, err := Parse(strings.NewReader(src))
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	return c
}

func TestExampleConfigIsValidAndUsesRunbookNames(t *testing.T) {
	c, err := Parse(bytes.NewReader(medic.ExampleConfig))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	prod, ok := c.Environments["prod"]
	if !ok {
		t.Fatal("example config has no prod environment")
	}
	want := []string{"prod-sentiment-ingestion", "prod-sentiment-analysis", "prod-sentiment-dashboard"}
	if strings.Join(prod.Lambda.Functions, ",") != strings.Join(want, ",") {
		t.Errorf("prod functions: got %v, want %v", prod.Lambda.Functions, want)
	}
	if prod.AlarmPrefix != "prod-" || prod.Deploy.Workflow != "deploy-prod.yml" {
		t.Errorf("prod alarm prefix/workflow: got %q/%q, want prod-/deploy-prod.yml", prod.AlarmPrefix, prod.Deploy.Workflow)
	}
	if got := c.Environments["preprod"].DynamoDBTable; got != "preprod-sentiment-items" {
		t.Errorf("preprod table: got %q, want preprod-sentiment-items", got)
	}
	if got := c.Environments["preprod"].Deploy.Workflow; got != "build-and-promote.yml" {
		t.Errorf("preprod workflow: got %q, want build-and-promote.yml", got)
	}
}

const minimal = `
github: {owner: acme, repo: svc}
environments:
  prod:
    aws: {region: us-east-1}
    lambda: {functions: [prod-a], version: {tag: v}}
    alarm_prefix: prod-
    health: {url: "https://h.example.com/health"}
    deploy: {workflow: deploy-prod.yml}
`

func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal)
	if c.Listen != DefaultListen || c.Store != DefaultStore || c.Status.SectionTimeout != DefaultSectionTimeout || c.Slack.Workers != DefaultWorkers {
		t.Errorf("defaults: got listen=%q store=%q timeout=%s workers=%d", c.Listen, c.Store, c.Status.SectionTimeout, c.Slack.Workers)
	}
	envs := c.DomainEnvironments()
	if len(envs) != 1 || envs[0].Version.Kind != recovery.VersionFromTag || envs[0].Version.Key != "v" {
		t.Errorf("domain environments: got %+v", envs)
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name    string
		replace [2]string // old, new applied to minimal
		wantKey string
		wantFix string
	}{
		{"unknown key is refused", [2]string{"alarm_prefix: prod-", "alarm_prefix: prod-\n    alarm_prefx: x"}, "(yaml)", "remove or rename"},
		{"bad region", [2]string{"us-east-1", "useast"}, "environments.prod.aws.region", "e.g. us-east-1"},
		{"bad role", [2]string{"region: us-east-1}", "region: us-east-1, role_arn: medic}"}, "environments.prod.aws.role_arn", "arn:aws:iam::"},
		{"no functions", [2]string{"functions: [prod-a]", "functions: []"}, "environments.prod.lambda.functions", "list the"},
		{"function ARN instead of name", [2]string{"[prod-a]", "[\"arn:aws:lambda:us-east-1:1:function:a\"]"}, "environments.prod.lambda.functions[0]", "not its ARN"},
		{"two version sources", [2]string{"{tag: v}", "{tag: v, env: V}"}, "environments.prod.lambda.version", "exactly one"},
		{"s3 key without bucket", [2]string{"{tag: v}", "{s3_key: \"{short}/lambda-{sha}.zip\"}"}, "environments.prod.artifacts_bucket", "artifacts bucket"},
		{"s3 key without sha", [2]string{"{tag: v}}", "{s3_key: \"lambda.zip\"}}\n    artifacts_bucket: b-1"}, "environments.prod.lambda.version.s3_key", "{sha}"},
		{"no alarm prefix", [2]string{"alarm_prefix: prod-", "alarm_prefix: \"\""}, "environments.prod.alarm_prefix", "prefix"},
		{"health not a URL", [2]string{"https://h.example.com/health", "h.example.com"}, "environments.prod.health.url", "full URL"},
		{"health URL with password", [2]string{"https://h.example.com/health", "https://u:p@h.example.com/health"}, "environments.prod.health.url", "api_key_secret"},
		{"workflow path", [2]string{"deploy-prod.yml", ".github/workflows/deploy-prod.yml"}, "environments.prod.deploy.workflow", "file name"},
		{"channel name instead of ID", [2]string{"github:", "slack: {alert_channel: \"#ops\"}\ngithub:"}, "slack.alert_channel", "ID"},
		{"drill channel name instead of ID", [2]string{"github:", "slack: {drill_channel: \"#game-day\"}\ngithub:"}, "slack.drill_channel", "ID"},
		{"drill channel shared with alerts", [2]string{"github:", "slack: {alert_channel: C0OPS, drill_channel: C0OPS}\ngithub:"}, "slack.drill_channel", "own"},
		{"drill channel shared with commands", [2]string{"github:", "slack: {command_channels: [C0OPS], drill_channel: C0OPS}\ngithub:"}, "slack.drill_channel", "own"},
		{"bad store", [2]string{"github:", "store: mysql://x\ngithub:"}, "store", "sqlite:PATH"},
		{"password in the store URL", [2]string{"github:", "store: postgres://medic:hunter2@db:5432/medic\ngithub:"}, "store", "PGPASSWORD"},
		{"password parameter in the store URL", [2]string{"github:", "store: postgres://medic@db:5432/medic?sslmode=require&password=hunter2\ngithub:"}, "store", "PGPASSWORD"},
		{"bad env name", [2]string{"  prod:", "  Prod_1:"}, "environments.Prod_1", "lowercase"},
		{"no repo", [2]string{"repo: svc", "repo: \"\""}, "github.repo", "repository name"},
		{"bad log level", [2]string{"github:", "log_level: loud\ngithub:"}, "log_level", "debug, info"},
		{"timeout out of range", [2]string{"github:", "status: {section_timeout: 1h}\ngithub:"}, "status.section_timeout", "between"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(minimal, tt.replace[0], tt.replace[1], 1)
			if src == minimal {
				t.Fatalf("replacement %q not found in the base config", tt.replace[0])
			}
			_, err := Parse(strings.NewReader(src))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got error %v, want Problems", err)
			}
			for _, p := range ps {
				if p.Key == tt.wantKey {
					if !strings.Contains(p.Fix+p.Msg, tt.wantFix) {
						t.Errorf("problem %q: got %q, want it to mention %q", p.Key, p.String(), tt.wantFix)
					}
					return
				}
			}
			t.Errorf("got problems %v, want one for key %q", ps, tt.wantKey)
		})
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	src := strings.NewReplacer("us-east-1", "nowhere", "deploy-prod.yml", "x", "prod-\n", "\"\"\n").Replace(minimal)
	_, err := Parse(strings.NewReader(src))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want Problems", err)
	}
	if len(ps) != 3 {
		t.Errorf("got %d problems (%v), want 3", len(ps), ps)
	}
}

func TestEmptyConfig(t *testing.T) {
	_, err := Parse(strings.NewReader(""))
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("got %v, want a problem saying the config is empty", err)
	}
}

func TestRedactedHidesStorePassword(t *testing.T) {
	// config check refuses a password in the file; Redacted masks one all the same
	// (defence in depth: a Config can be built in code).
	c := mustParse(t, minimal)
	c.Store = "postgres://medic:s3cret@db:5432/medic"
	if r := c.Redacted(); strings.Contains(r.Store, "s3cret") {
		t.Errorf("redacted store: got %q, want the password masked", r.Store)
	}
	for _, u := range []string{"postgres://medic@db/medic?password=s3cret", "postgres://medic:s3cret@db:s3cret/medic"} {
		c.Store = u
		if r := c.Redacted(); strings.Contains(r.Store, "s3cret") {
			t.Errorf("redacted store %q: got %q, want the password masked", u, r.Store)
		}
	}
	c.Store = "postgres://medic:s3cret@db:5432/medic"
	if c.Store != "postgres://medic:s3cret@db:5432/medic" {
		t.Errorf("Redacted changed the original: %q", c.Store)
	}
}

func TestSecretsFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := []struct {
		name     string
		vars     map[string]string
		wantKeys []string
		wantMsg  string
	}{
		{"good", map[string]string{EnvSlackAppToken: "xapp-1-A", EnvSlackBotToken: "xoxb-1"}, nil, ""},
		{"missing both", map[string]string{}, []string{EnvSlackAppToken, EnvSlackBotToken}, "is not set"},
		{"swapped", map[string]string{EnvSlackAppToken: "xoxb-1-tok", EnvSlackBotToken: "xapp-1-tok"}, []string{EnvSlackAppToken + " and " + EnvSlackBotToken},
			"are swapped: SLACK_APP_TOKEN holds the bot token (xoxb-…) and SLACK_BOT_TOKEN the app-level token (xapp-…) (fix: exchange the two values)"},
		{"bot token in both", map[string]string{EnvSlackAppToken: "xoxb-1-tok", EnvSlackBotToken: "xoxb-2-tok"}, []string{EnvSlackAppToken}, "(it holds a bot token, xoxb-…)"},
		{"user token as the bot's", map[string]string{EnvSlackAppToken: "xapp-1-tok", EnvSlackBotToken: "xoxp-2-tok"}, []string{EnvSlackBotToken}, "(it holds a user token, xoxp-…)"},
		{"something else", map[string]string{EnvSlackAppToken: "xapp-1-tok", EnvSlackBotToken: "ghp_tok"}, []string{EnvSlackBotToken}, `does not start with "xoxb-" (fix`},
		{"bad api url", map[string]string{EnvSlackAppToken: "xapp-1", EnvSlackBotToken: "xoxb-1", EnvSlackAPIURL: "localhost:1"}, []string{EnvSlackAPIURL}, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := SecretsFromEnv(env(tt.vars))
			var keys []string
			for _, p := range ps {
				keys = append(keys, p.Key)
				for _, v := range tt.vars {
					if v != "" && strings.Contains(p.String(), v) && strings.HasSuffix(v, "tok") {
						t.Errorf("problem %q echoes a token", p.String())
					}
				}
			}
			if strings.Join(keys, ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("got problems for %v, want %v", keys, tt.wantKeys)
			}
			if tt.wantMsg != "" && !strings.Contains(ps.Error(), tt.wantMsg) {
				t.Errorf("got %v, want it to say %q", ps, tt.wantMsg)
			}
		})
	}
	s, _ := SecretsFromEnv(env(map[string]string{EnvSlackAPIURL: "http://127.0.0.1:1/api", EnvGitHubAPIURL: "http://127.0.0.1:2"}))
	if s.SlackAPIURL != "http://127.0.0.1:1/api/" || s.GitHubAPIURL != "http://127.0.0.1:2/" {
		t.Errorf("trailing slashes: got %q and %q", s.SlackAPIURL, s.GitHubAPIURL)
	}
}

func TestPipelineDefaultsAndRules(t *testing.T) {
	c, err := Parse(bytes.NewReader(medic.ExampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	p := c.DomainPipeline()
	if p.Workflows["deploy-prod.yml"] != "prod" || p.Workflows["build-and-promote.yml"] != "preprod" {
		t.Errorf("workflows: got %v", p.Workflows)
	}
	if len(p.Rules) != len(recovery.DefaultRules()) || p.Rules[0].Scenario != recovery.RollbackFail {
		t.Errorf("rules: got %v", p.Rules)
	}
	if p.StuckAfter != 30*time.Minute || p.RollbackJob != "Rollback on Failure" {
		t.Errorf("stuck/rollback: got %s %q", p.StuckAfter, p.RollbackJob)
	}
	prod := c.DomainEnvironments()[2]
	if prod.Name != "prod" || prod.LockTable != "terraform-state-lock-prod" || prod.DeployerUser != "sentiment-analyzer-prod-deployer" || prod.Severity != recovery.SeverityHigh {
		t.Errorf("prod: got %+v", prod)
	}
	// Without a pipeline section the deploy workflows are watched; the one dev and
	// preprod share belongs to preprod.
	m := mustParse(t, strings.Replace(minimal, "prod:\n", "prod:\n    severity: HIGH\n", 1))
	if got := m.DomainPipeline().Workflows; len(got) != 1 || got["deploy-prod.yml"] != "prod" {
		t.Errorf("derived workflows: got %v", got)
	}
}

// TestEveryEnvironmentHasItsOwnRole: when some environments assume roles, medic's own
// credentials can assume them, so an environment without one is refused.
func TestEveryEnvironmentHasItsOwnRole(t *testing.T) {
	two := strings.Replace(minimal, "    aws: {region: us-east-1}\n", "    aws: {region: us-east-1, role_arn: \"arn:aws:iam::111111111111:role/medic-prod\"}\n", 1) + `
  dev:
    aws: {region: us-east-1}
    lambda: {functions: [dev-a], version: {tag: v}}
    alarm_prefix: dev-
    health: {url: "https://d.example.com/health"}
    deploy: {workflow: deploy-dev.yml}
`
	_, err := Parse(strings.NewReader(two))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].Key != "environments.dev.aws.role_arn" || !strings.Contains(ps[0].String(), "can assume those roles") {
		t.Fatalf("got %v, want dev's missing role refused", err)
	}
	mustParse(t, strings.Replace(two, "    aws: {region: us-east-1}\n", "    aws: {region: us-east-1, role_arn: \"arn:aws:iam::222222222222:role/medic-dev\"}\n", 1))
	mustParse(t, minimal) // no role anywhere: medic's own credentials everywhere, by choice
}

func TestMetricsListen(t *testing.T) {
	if c := mustParse(t, minimal); c.MetricsListen != DefaultMetricsListen || c.Listen != DefaultListen {
		t.Errorf("defaults: got %q and %q", c.Listen, c.MetricsListen)
	}
	_, err := Parse(strings.NewReader("listen: \":8080\"\nmetrics_listen: \":8080\"\n" + minimal))
	if err == nil || !strings.Contains(err.Error(), "metrics_listen") {
		t.Errorf("the same address for both: got %v, want a problem", err)
	}
}

func TestRunTrustDefaults(t *testing.T) {
	c, err := Parse(bytes.NewReader(medic.ExampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	p := c.DomainPipeline()
	want := recovery.RunTrust{Repository: "traylorre/sentiment-analyzer-gsk", Branches: []string{"main"}, Events: recovery.DefaultTrustedEvents()}
	if fmt.Sprint(p.Trust) != fmt.Sprint(want) {
		t.Errorf("trust: got %+v, want %+v", p.Trust, want)
	}
	if p.UntrustedEnv != "dev" {
		t.Errorf("untrusted runs go to %q, want dev (the environment rated lowest)", p.UntrustedEnv)
	}
	// A deploy branch is trusted too; "none" turns untrusted alerts off; with only prod
	// (HIGH), untrusted runs still go to the lowest there is.
	m := mustParse(t, strings.Replace(minimal, "deploy: {workflow: deploy-prod.yml}", "deploy: {workflow: deploy-prod.yml, branch: release}", 1))
	if got := m.DomainPipeline(); strings.Join(got.Trust.Branches, ",") != "main,release" || got.UntrustedEnv != "prod" {
		t.Errorf("with a deploy branch: got branches %v and untrusted env %q, want main,release and prod", got.Trust.Branches, got.UntrustedEnv)
	}
	if got := mustParse(t, minimal+"pipeline: {untrusted_env: none}\n").DomainPipeline(); got.UntrustedEnv != "" {
		t.Errorf("untrusted_env none: got %q, want untrusted runs ignored", got.UntrustedEnv)
	}
}

func TestPipelineProblems(t *testing.T) {
	tests := []struct {
		name, pipeline, wantKey, wantFix string
	}{
		{"unknown scenario", "rules: [{scenario: canary}]", "pipeline.rules[0].scenario", "canary-fail"},
		{"bad regex", "rules: [{scenario: state-lock, log_regex: \"(\"}]", "pipeline.rules[0].log_regex", "RE2"},
		{"both log matchers", "rules: [{scenario: state-lock, log_regex: a, log_contains: b}]", "pipeline.rules[0]", "keep one"},
		{"rule env unknown", "rules: [{scenario: state-lock, env: qa}]", "pipeline.rules[0].env", "use one of: prod"},
		{"workflow env unknown", "workflows: {deploy-prod.yml: qa}", "pipeline.workflows.deploy-prod.yml", "use one of: prod"},
		{"job env unknown", "jobs: {\"Deploy to Production\": production}", "pipeline.jobs[\"Deploy to Production\"]", "use one of"},
		{"poll too fast", "poll_interval: 1s", "pipeline.poll_interval", "at least 10s"},
		{"stuck too short", "stuck_after: 5s", "pipeline.stuck_after", "30m"},
		{"pull requests trusted", "trusted_events: [push, pull_request]", "pipeline.trusted_events[1]", "only ever get a LOW"},
		{"pull_request_target trusted", "trusted_events: [pull_request_target]", "pipeline.trusted_events[0]", "remove it"},
		{"not an event", "trusted_events: [\"Push!\"]", "pipeline.trusted_events[0]", "workflow_dispatch"},
		{"not a branch", "trusted_branches: [\"main..x\"]", "pipeline.trusted_branches[0]", "branch names"},
		{"untrusted env unknown", "untrusted_env: qa", "pipeline.untrusted_env", "or none"},
		{"a rule giving the untrusted scenario", "rules: [{scenario: untrusted-run-failed}]", "pipeline.rules[0].scenario", "pipeline.trusted_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(minimal + "pipeline: {" + strings.TrimSpace(tt.pipeline) + "}\n"))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got %v, want Problems", err)
			}
			for _, p := range ps {
				if p.Key == tt.wantKey {
					if !strings.Contains(p.String(), tt.wantFix) {
						t.Errorf("got %q, want it to mention %q", p, tt.wantFix)
					}
					return
				}
			}
			t.Errorf("got %v, want a problem for %s", ps, tt.wantKey)
		})
	}
}
