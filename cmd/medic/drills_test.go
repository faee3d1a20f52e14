package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
)

func TestDrillsOwn(t *testing.T) {
	d := &drills{cfg: &config.Config{Slack: config.Slack{DrillChannel: "C0DRILLS"}}}
	click := func(channel, value string) slack.InteractionCallback {
		var cb slack.InteractionCallback
		cb.Type = slack.InteractionTypeBlockActions
		cb.Channel.ID = channel
		cb.ActionCallback.BlockActions = []*slack.BlockAction{{ActionID: "action:ack", Value: value}}
		return cb
	}
	form := func(meta string) slack.InteractionCallback {
		var cb slack.InteractionCallback
		cb.Type = slack.InteractionTypeViewSubmission
		cb.View.PrivateMetadata = meta
		return cb
	}
	home := click("", "DRILL-INC-X")
	home.View.Type = slack.VTHomeTab
	for _, tt := range []struct {
		name string
		cb   slack.InteractionCallback
		want bool
	}{
		{"a click in the drill channel", click("C0DRILLS", "INC-AAAA1111"), true},
		{"a click elsewhere naming a drill", click("C0OPS", "DRILL-REQ-AAAA1111"), true},
		{"a real click", click("C0OPS", "INC-AAAA1111"), false},
		{"a form from the drill channel", form("channel=C0DRILLS&action=rollback&env=prod"), true},
		{"a form about a drill's incident", form("channel=C0OPS&incident=DRILL-INC-AAAA1111"), true},
		{"a real form", form("channel=C0OPS&incident=INC-AAAA1111"), false},
		{"a Home tab click", home, false},
	} {
		if got := d.owns(tt.cb); got != tt.want {
			t.Errorf("%s: owns = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestDrillEscalation: a drill pages its participants only, at every level, and `fast`
// divides the interval and the response times by ten.
func TestDrillEscalation(t *testing.T) {
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	cfg, err := sandboxConfig(sb, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	real := (&app{cfg: cfg}).escalationPolicy()
	a := &app{cfg: cfg, drill: &drillWiring{participants: []string{"U0ALICE", "U0BOB"}, speed: 10}}
	p := a.escalationPolicy()
	if p.Interval != real.Interval/10 {
		t.Errorf("interval %s, want %s / 10", p.Interval, real.Interval)
	}
	for name, l := range p.Levels {
		if len(l.Slack) != 2 || l.Slack[0] != "U0ALICE" || l.Slack[1] != "U0BOB" {
			t.Errorf("level %s pages %v, want the participants only", name, l.Slack)
		}
	}
	for i, r := range p.Matrix {
		if r.Response != real.Matrix[i].Response/10 {
			t.Errorf("row %s responds in %s, want %s / 10", r.Name, r.Response, real.Matrix[i].Response)
		}
	}
	if real.Levels["senior"].Slack[0] != "U0DAVE" || real.Interval != 15*time.Minute {
		t.Errorf("the real policy changed: %+v", real.Levels["senior"])
	}
}

// TestDrillExternalHoldsNoRealCredential: a drill's medic gets Slack's bot token (it
// posts in the real workspace) and nothing else of the real medic's: no GitHub token or
// app key, no webhook secret, no AWS credentials or endpoint, no PagerDuty key but the
// drill's.
func TestDrillExternalHoldsNoRealCredential(t *testing.T) {
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	real := external{
		secrets: config.Secrets{
			SlackAppToken: "xapp-1-real-app-token", SlackBotToken: "xoxb-real-bot-token", SlackAPIURL: "https://slack.example/api/",
			GitHubToken: "ghp_realrealrealrealrealrealrealrealreal", GitHubAPIURL: "https://github.example/api/v3/",
			WebhookSecret: "real-webhook-secret", PagerDutyRoutingKey: "R0REALPAGERDUTYKEY00000000000001",
			PagerDutyEventsURL: "https://pagerduty.example", Others: []string{"real-aws-secret-key"},
			GitHubApp: &config.GitHubApp{ID: 42, PrivateKey: []byte("-----BEGIN RSA PRIVATE KEY-----\nreal\n-----END RSA PRIVATE KEY-----\n")},
		},
		awsEndpoint:    "https://aws.example",
		awsCredentials: credentials.NewStaticCredentialsProvider("AKIAREALREALREAL0000", "real-aws-secret-key", ""),
		terraformEnv:   []string{"AWS_PROFILE=real"},
	}
	got := drillExternal(real, &drill{sb: sb})
	if got.secrets.SlackBotToken != real.secrets.SlackBotToken || got.secrets.SlackAPIURL != real.secrets.SlackAPIURL {
		t.Errorf("the drill does not reach the real Slack: %+v", got.secrets)
	}
	dump := fmt.Sprintf("%+v %+v %v", got.secrets, got.secrets.GitHubApp, got.terraformEnv)
	creds, err := got.awsCredentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dump += creds.AccessKeyID + creds.SecretAccessKey + got.awsEndpoint
	for _, secret := range []string{"xapp-1-real-app-token", "ghp_real", "real-webhook-secret", "R0REALPAGERDUTYKEY", "pagerduty.example",
		"real-aws-secret-key", "AKIAREAL", "aws.example", "github.example", "RSA PRIVATE KEY", "AWS_PROFILE"} {
		if strings.Contains(dump, secret) {
			t.Errorf("the drill's medic gets %q of the real one's", secret)
		}
	}
	real.secrets.PagerDutyDrillRoutingKey = "R0DRILLPAGERDUTYKEY0000000000001"
	if got := drillExternal(real, &drill{sb: sb}); got.secrets.PagerDutyRoutingKey != real.secrets.PagerDutyDrillRoutingKey {
		t.Errorf("with PAGERDUTY_DRILL_ROUTING_KEY the drill pages with %q", got.secrets.PagerDutyRoutingKey)
	}
}

func TestSweepDrills(t *testing.T) {
	parent := t.TempDir()
	now := time.Now()
	old, young, other := filepath.Join(parent, "medic-drill-1"), filepath.Join(parent, "medic-drill-2"), filepath.Join(parent, "medic-terraform")
	for _, d := range []string{old, young, other} {
		if err := os.MkdirAll(filepath.Join(d, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{old, other} {
		if err := os.Chtimes(d, now.Add(-4*time.Hour), now.Add(-4*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	sweepDrills(parent, now, zap.NewNop())
	for d, want := range map[string]bool{old: false, young: true, other: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: exists = %v, want %v", d, err == nil, want)
		}
	}
}

// TestDrillPagerDutySummary: a drill's page through PagerDuty (with
// PAGERDUTY_DRILL_ROUTING_KEY) says DRILL first; a real one does not.
func TestDrillPagerDutySummary(t *testing.T) {
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	in := recovery.Incident{ID: "DRILL-INC-AAAA1111", Env: "prod", Scenario: recovery.RollbackFail, Severity: recovery.SeverityCritical}
	for _, drill := range []bool{true, false} {
		pd, err := newPagerDuty("R0DRILLPAGERDUTYKEY0000000000001", sb.PagerDuty.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		pd.drill = drill
		pg := recovery.Page{ID: in.ID + "#1/pagerduty", IncidentID: in.ID, Kind: recovery.PageTrigger, Seq: 1}
		if err := pd.Send(context.Background(), pg, in, []recovery.Level{{Name: "senior", Title: "senior engineer"}}); err != nil {
			t.Fatal(err)
		}
		evs := sb.PagerDuty.Events()
		got := evs[len(evs)-1].Payload.Summary
		if strings.HasPrefix(got, "DRILL: ") != drill {
			t.Errorf("drill %v: summary %q", drill, got)
		}
	}
}

func TestNamesDrillID(t *testing.T) {
	for s, want := range map[string]bool{
		"DRILL-INC-AAAA1111":            true,
		"checklist:DRILL-INC-AAAA1111":  true,
		"DRILL-REQ-AAAA1111":            true,
		"INC-AAAA1111|abc123":           false,
		"feature/DRILL-notes":           false,
		"xDRILL-INC-AAAA1111":           false,
		"DRILL-INC-AAAA11112":           false,
		"action:rollback":               false,
		"DRILL-JOB-AAAA1111|0123456789": true,
	} {
		if got := namesDrillID(s); got != want {
			t.Errorf("namesDrillID(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestDrillReportBounds: a drill full of clicks gives a report of bounded size, saying
// how much it left out.
func TestDrillReportBounds(t *testing.T) {
	start := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	r := drillOutcome{dr: &drill{id: "DRILL-AAAA1111", scenario: "canary-fail", starter: "U0ALICE", participants: []string{"U0ALICE"}, started: start},
		why: "stopped", ended: start.Add(time.Hour), names: map[string]string{}}
	for i := range 3000 {
		r.entries = append(r.entries, recovery.AuditEntry{At: start.Add(time.Duration(i) * time.Second), Actor: "U0MALLORY",
			Action: string(recovery.AuditActionRefused), Detail: map[string]string{"why": strings.Repeat("é", 500)}})
	}
	text := r.text()
	if len(text) > reportMax+32 {
		t.Errorf("report of %d bytes, want at most about %d", len(text), reportMax)
	}
	if !strings.Contains(text, "… and 2900 more") {
		t.Errorf("the report does not say how many actions it left out:\n%s", cut(text, 2000))
	}
	if !utf8.ValidString(text) {
		t.Error("the report is cut inside a character")
	}
}
