package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/deploy/terraform"
	"github.com/medic-ops/medic/internal/tftest"
)

func TestMain(m *testing.M) {
	terraform.ShimMain() // the test binary is the terraform shim of the medic it runs
	os.Exit(m.Run())
}

func runMedic(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runMedic(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "medic dev (commit ") {
		t.Errorf("got %d %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runMedic(t, nil, "deploy")
	if code != 2 || !strings.Contains(errOut, `unknown command "deploy"`) || !strings.Contains(errOut, "medic serve") {
		t.Errorf("got %d %q", code, errOut)
	}
}

func TestConfigCheck(t *testing.T) {
	tokens := map[string]string{"SLACK_APP_TOKEN": "xapp-1-A1-tok", "SLACK_BOT_TOKEN": "xoxb-1-tok"}
	code, out, errOut := runMedic(t, tokens, "config", "check", "--config", "../../medic.example.yaml")
	if code != 0 || !strings.Contains(out, "OK (3 environments: [dev preprod prod])") || !strings.Contains(out, "Environment: the Slack tokens and endpoint overrides are well formed") {
		t.Errorf("example config: got %d %q %q", code, out, errOut)
	}
	if !strings.Contains(out, "Not checked here (serve checks them as it starts)") {
		t.Errorf("example config: %q does not say what it leaves to serve", out)
	}
	// What serve refuses, config check refuses: swapped or missing tokens.
	for _, tt := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"swapped", map[string]string{"SLACK_APP_TOKEN": "xoxb-1-tok", "SLACK_BOT_TOKEN": "xapp-1-A1-tok"}, []string{"1 problem(s)", "SLACK_APP_TOKEN and SLACK_BOT_TOKEN: are swapped", "exchange the two values"}},
		{"missing", nil, []string{"2 problem(s)", "SLACK_APP_TOKEN: is not set", "SLACK_BOT_TOKEN: is not set"}},
	} {
		code, out, errOut := runMedic(t, tt.env, "config", "check", "--config", "../../medic.example.yaml")
		if code != 1 || out != "" {
			t.Errorf("%s tokens: got exit %d and %q, want 1 and nothing on stdout", tt.name, code, out)
		}
		for _, want := range tt.want {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s tokens: want %q in %q", tt.name, want, errOut)
			}
		}
		if strings.Contains(errOut, "-tok") {
			t.Errorf("%s tokens: a token was echoed: %q", tt.name, errOut)
		}
		_, _, servErr := runMedic(t, tt.env, "serve", "--config", "../../medic.example.yaml")
		for _, want := range tt.want[1:] {
			if !strings.Contains(servErr, want) {
				t.Errorf("%s tokens: serve does not say %q as config check does: %q", tt.name, want, servErr)
			}
		}
	}
	// --no-env checks the file alone, and says so.
	code, out, errOut = runMedic(t, nil, "config", "check", "--no-env", "--config", "../../medic.example.yaml")
	if code != 0 || !strings.Contains(out, "The environment was not checked (--no-env)") {
		t.Errorf("--no-env: got %d %q %q", code, out, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	src := strings.NewReplacer("region: us-east-1\n      role_arn: arn:aws:iam::111111111111:role/medic-prod", "region: east",
		"workflow: deploy-prod.yml", "workflow: .github/workflows/deploy-prod.yml").Replace(readFile(t, "../../medic.example.yaml"))
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runMedic(t, tokens, "config", "check", "--config", bad)
	if code != 1 {
		t.Errorf("bad config: got exit %d, want 1", code)
	}
	for _, want := range []string{"3 problem(s)", "environments.prod.aws.region", "e.g. us-east-1", "environments.prod.deploy.workflow", "file name under .github/workflows",
		"environments.prod.aws.role_arn: is not set while dev, preprod assume roles"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("want %q in:\n%s", want, errOut)
		}
	}
	code, _, errOut = runMedic(t, nil, "config", "check", "--config", "/nonexistent/medic.yaml")
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: got %d %q", code, errOut)
	}
}

func TestServeRefusesBadTokensBeforeConnecting(t *testing.T) {
	code, _, errOut := runMedic(t, map[string]string{"SLACK_APP_TOKEN": "xoxb-1-tok", "SLACK_BOT_TOKEN": "xapp-1-tok"}, "serve", "--config", "../../medic.example.yaml")
	if code != 2 {
		t.Errorf("got exit %d, want 2", code)
	}
	for _, want := range []string{"SLACK_APP_TOKEN and SLACK_BOT_TOKEN: are swapped: SLACK_APP_TOKEN holds the bot token (xoxb-…) and SLACK_BOT_TOKEN the app-level token (xapp-…)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("want %q in %q", want, errOut)
		}
	}
	if strings.Contains(errOut, "-tok") {
		t.Errorf("a token was echoed: %q", errOut)
	}
}

func TestManifest(t *testing.T) {
	code, out, _ := runMedic(t, nil, "manifest")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var m manifest
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("manifest is not YAML: %v", err)
	}
	if !m.Settings.SocketModeEnabled || !m.Settings.Interactivity.IsEnabled {
		t.Error("socket mode and interactivity must be on")
	}
	var cmds []string
	for _, c := range m.Features.SlashCommands {
		cmds = append(cmds, c.Command)
	}
	if !strings.Contains(strings.Join(cmds, " "), "/status") {
		t.Errorf("slash commands: got %v, want /status", cmds)
	}
	// Every scope medic's bot token needs, and no other: Slack grants what the manifest
	// asks for, and a workspace admin reads the list before installing.
	want := []string{
		"chat:write",        // alerts, status answers, thread notes
		"chat:write.public", // alerts in channels medic was not invited to
		"commands",          // slash commands
		"im:write",          // pages by direct message
		"usergroups:read",   // user groups in the roles and the escalation levels
		"users:read",        // names of who requested, approved, resolved
	}
	got := slices.Clone(m.OAuthConfig.Scopes.Bot)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("bot scopes: got %v, want exactly %v", got, want)
	}
}

func TestDemoPlaysStatus(t *testing.T) {
	code, out, errOut := runMedic(t, nil, "demo")
	if code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"@alice types in #ops: /status prod", "PROD STATUS", "prod needs attention: 1 alarm in ALARM", "prod-dashboard-errors", "Last known good deploy"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in the demo output:\n%s", want, out)
		}
	}
	code, out, _ = runMedic(t, nil, "demo", "--list")
	if code != 0 || !strings.Contains(out, "status") {
		t.Errorf("demo --list: got %d %q", code, out)
	}
}

// TestDemoPlaysDevTestsFail: the dev story ends with the re-run passing and the alert
// saying so, with Resolve offered.
func TestDemoPlaysDevTestsFail(t *testing.T) {
	code, out, errOut := runMedic(t, nil, "demo", "--scenario", "dev-tests-fail")
	if code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"@alice clicks [Re-run failed jobs]", "GitHub runs attempt 2 of run", "*Attempt 2 passed*",
		":white_check_mark: *Attempt 2 of run", "which failed in attempt 1, passed*", "[ Resolve ] (primary)"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in the demo output:\n%s", want, out)
		}
	}
}

// TestDemoPlaysRollbackFail: the escalation story pages the senior engineer at once,
// escalates after 15 minutes, and ends resolved with a report and an issue.
func TestDemoPlaysRollbackFail(t *testing.T) {
	if _, err := tftest.Find(); err != nil {
		missingTerraform(t)
	}
	code, out, errOut := runMedic(t, nil, "demo", "--scenario", "rollback-fail")
	if code != 0 {
		t.Fatalf("demo exited %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"*Paging senior engineer* (page 1): Prod fail (auto-rollback fails): response IMMEDIATE",
		"*Paging CTO + senior engineer* (page 2): still not acknowledged 15m after the last page",
		"Acknowledged by <@U0ALICE>: escalation stopped.",
		"Job JOB-", "(Emergency Terraform rollback on prod) succeeded.",
		"*Post-incident checklist*", "(1/7 done)",
		"| Time to acknowledge | 15m |", "Paged CTO and senior engineer",
		"Follow-up issue #1 filed by <@U0ALICE>",
		":x: *Auto-rollback failed*",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in the demo output:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "*Paging senior engineer* (page 1)"); n != 1 {
		t.Errorf("the first page shows %d times in the thread, want once", n)
	}
	if strings.Contains(out, "Auto-rollback running") {
		t.Errorf("the alert still says the rollback is running after it failed:\n%s", out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUsageNamesEveryVariable: `medic`'s usage text names every environment variable
// medic reads its secrets and endpoints from.
func TestUsageNamesEveryVariable(t *testing.T) {
	_, _, errOut := runMedic(t, nil)
	for _, v := range []string{config.EnvSlackAppToken, config.EnvSlackBotToken, config.EnvGitHubToken, config.EnvWebhookSecret,
		config.EnvSlackAPIURL, config.EnvGitHubAPIURL, config.EnvPagerDutyKey, config.EnvPagerDutyURL, "PGPASSWORD", "AWS_ENDPOINT_URL"} {
		if !strings.Contains(errOut, v) {
			t.Errorf("usage does not name %s:\n%s", v, errOut)
		}
	}
}

// TestBotOptionsFollowTheConfig: slack.workers and slack.queue reach the bot.
func TestBotOptionsFollowTheConfig(t *testing.T) {
	a := &app{cfg: &config.Config{Slack: config.Slack{Workers: 7, Queue: 12345}}, log: zap.NewNop()}
	o := a.botOptions(nil, prometheus.NewRegistry(), nil)
	if o.Workers != 7 || o.Queue != 12345 {
		t.Errorf("bot options: workers %d, queue %d; want 7 and 12345 (slack.workers, slack.queue)", o.Workers, o.Queue)
	}
}
