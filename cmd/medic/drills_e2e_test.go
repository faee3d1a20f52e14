package main

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// drillChannel is the drill channel of the tests.
const drillChannel = "C0DRILLS"

// withDrills gives the medic under test a drill channel.
func withDrills() withSandbox {
	return func(sb *sandbox.Sandbox, _ *sandbox.World, cfg *config.Config) {
		cfg.Slack.DrillChannel = drillChannel
		sb.Slack.SetChannel(drillChannel, "game-day")
	}
}

// realCalls counts the calls the sandbox that stands for the real world took, but
// Slack's (drills play in the real workspace).
func realCalls(sb *sandbox.Sandbox) map[string]int {
	out := map[string]int{}
	for op, n := range sb.Faults.CallsByOp("") {
		if !strings.HasPrefix(op, "slack:") {
			out[op] = n
		}
	}
	return out
}

// drillStep is what the people do once a drill's alert is up: the recovery buttons
// tried in order (the first on the alert is clicked).
var drillRecovery = []recovery.ActionID{recovery.ActRollback, recovery.ActEmergencyRollback, recovery.ActForceUnlock,
	recovery.ActRerunFailed, recovery.ActRerun}

// TestDrillPlaysEveryScenario plays each of the runbook's six scenarios as a drill in
// the drill channel, through the real slack-go client against the sandbox's Slack: alice
// starts it naming bob, acknowledges, requests the scenario's recovery, bob approves
// when it needs a second person, alice resolves, and the drill's report comes with
// measured times. The sandbox standing for the real GitHub, AWS and PagerDuty sees no
// call, and every message the drill sent says DRILL.
func TestDrillPlaysEveryScenario(t *testing.T) {
	e, _ := mustStartStaged(t, "", withDrills())
	scenarios := []string{"dev-tests-fail-main", "preprod-deploy-fail", "preprod-tests-fail", "prod-deploy-fail", "canary-fail", "rollback-fail"}
	for _, name := range scenarios {
		t.Run(name, func(t *testing.T) {
			before := realCalls(e.sb)
			since := len(e.sb.Slack.Messages(drillChannel))
			dms := len(e.sb.Slack.DMs(userAlice)) + len(e.sb.Slack.DMs(userBob))
			playDrill(t, e, name)
			if after := realCalls(e.sb); !maps.Equal(before, after) {
				t.Errorf("the real endpoints took calls during the drill: before %v, after %v", before, after)
			}
			for _, m := range e.sb.Slack.Messages(drillChannel)[since:] {
				if text := slackfake.Render(m); !strings.Contains(text, "DRILL") {
					t.Errorf("a drill message without DRILL: %q", cut(text, 300))
				}
			}
			all := append(e.sb.Slack.DMs(userAlice), e.sb.Slack.DMs(userBob)...)
			if len(all) < dms {
				t.Fatalf("DMs went missing")
			}
			for _, m := range e.sb.Slack.DMs(userCarol) {
				if strings.Contains(slackfake.Render(m), "DRILL") {
					t.Errorf("carol, not in the drill, got a drill's DM: %q", cut(slackfake.Render(m), 200))
				}
			}
		})
	}
}

// playDrill plays scenario name as a drill on e, to its report.
func playDrill(t *testing.T, e *e2e, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() { e.app.drills.end(context.Background(), "", "the test ended") })
	seen := map[string]bool{}
	for _, m := range e.sb.Slack.Messages(drillChannel) {
		seen[m.TS] = true
	}
	typeIn(t, e, userAlice, "/drill", name+" <@"+userBob+"|bob>", func(m slackfake.Message) bool {
		return m.Ephemeral && strings.Contains(m.Text, "Drill `DRILL-")
	})
	alert, err := e.sb.Slack.WaitForMessage(ctx, func(m slackfake.Message) bool {
		return m.Channel == drillChannel && !seen[m.TS] && !m.Ephemeral && m.ThreadTS == "" && strings.Contains(string(m.Blocks), "Runbook: ")
	})
	if err != nil {
		t.Fatalf("waiting for the drill's alert: %v", err)
	}
	if text := slackfake.Render(alert); !strings.Contains(text, "DRILL") || !strings.Contains(text, "DRILL-INC-") {
		t.Fatalf("the drill's alert is not marked: %q", cut(text, 400))
	}
	d := &sandboxed{sb: e.sb, cfg: e.cfg, app: e.app, narrate: func(string, ...any) {}}
	quiet(ctx, d, alert.TS)
	alert = latest(e, alert)
	if has(alert, recovery.ActAcknowledge) {
		mustClick(t, ctx, d, userAlice, alert, recovery.ButtonID(recovery.ActAcknowledge))
	}
	recoverDrill(t, ctx, d, alert)
	quiet(ctx, d, alert.TS)
	alert = latest(e, alert)
	if has(alert, recovery.ActResolve) {
		mustClick(t, ctx, d, userAlice, alert, recovery.ButtonID(recovery.ActResolve))
	} else {
		// A re-run being followed offers Resolve once it passes: resolve by hand.
		id := "DRILL-" + incidentIDOf(alert)
		typeIn(t, e, userAlice, "/incident", "resolve "+id+" drilled", func(m slackfake.Message) bool {
			return m.Ephemeral && strings.Contains(m.Text, id)
		})
	}
	report, err := waitThread(ctx, d, alert.TS, hasAll("Drill DRILL-", "ended: its incident was resolved", "Times from the alert"))
	if err != nil {
		t.Fatalf("waiting for the drill's report: %v", err)
	}
	text := slackfake.Render(report)
	for _, want := range []string{"acknowledged", "first request", "recovered", "resolved", "Who did what", "Steps that failed"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
	if line := lineWith(text, "resolved "); strings.Contains(line, "not reached") {
		t.Errorf("the report has no measured time for the resolution: %q", line)
	}
	t.Logf("%s", text)
}

// recoverDrill clicks the first recovery button the alert offers; a form is submitted
// as it opens, a request is approved by bob, and the job is waited for.
func recoverDrill(t *testing.T, ctx context.Context, d *sandboxed, alert slackfake.Message) {
	t.Helper()
	for _, act := range drillRecovery {
		if !has(alert, act) {
			continue
		}
		mustClick(t, ctx, d, userAlice, alert, recovery.ButtonID(act))
		if v, ok := formOpen(d, userAlice); ok {
			submitForm(t, ctx, d, v)
		}
		m, err := waitThread(ctx, d, alert.TS, func(text string) bool {
			return strings.Contains(text, "[ Approve") || strings.Contains(text, "Job DRILL-JOB-")
		})
		if err != nil {
			t.Fatalf("after %s: %v", act, err)
		}
		if strings.Contains(slackfake.Render(m), "[ Approve") {
			mustClick(t, ctx, d, userBob, m, recovery.ApproveID())
		}
		if _, err := waitThread(ctx, d, alert.TS, func(text string) bool {
			return strings.Contains(text, "Job DRILL-JOB-") && (strings.Contains(text, "succeeded.") || strings.Contains(text, "failed at step"))
		}); err != nil {
			t.Fatalf("waiting for the job of %s: %v", act, err)
		}
		return
	}
	t.Fatalf("the drill's alert offers none of %v: %s", drillRecovery, cut(slackfake.Render(alert), 600))
}

func typeIn(t *testing.T, e *e2e, user, command, text string, answered func(slackfake.Message) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(mustCtx(t), 30*time.Second)
	defer cancel()
	id, err := e.sb.Slack.SlashCommand(ctx, slackfake.Command{User: user, Channel: drillChannel, Command: command, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.Slack.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.Slack.WaitForMessage(ctx, answered); err != nil {
		t.Fatalf("waiting for the answer to %s %s: %v", command, text, err)
	}
}

func mustClick(t *testing.T, ctx context.Context, d *sandboxed, user string, m slackfake.Message, actionID string) {
	t.Helper()
	if err := clickAndWait(ctx, d, user, m, actionID); err != nil {
		t.Fatal(err)
	}
}

// has tells whether m offers act's button.
func has(m slackfake.Message, act recovery.ActionID) bool {
	return strings.Contains(string(m.Blocks), fmt.Sprintf("%q", recovery.ButtonID(act)))
}

// latest is m as it is now (alerts are updated in place).
func latest(e *e2e, m slackfake.Message) slackfake.Message {
	if cur, ok := e.sb.Slack.Message(m.Channel, m.TS); ok {
		return cur
	}
	return m
}

// formOpen returns user's open form, waiting a moment for one to open.
func formOpen(d *sandboxed, user string) (slackfake.View, bool) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, v := range d.sb.Slack.Views() {
			if v.User == user && !v.Closed {
				return v, true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return slackfake.View{}, false
}

// submitForm submits v with a reason, the environment typed where it is asked, and
// the rest as prefilled.
func submitForm(t *testing.T, ctx context.Context, d *sandboxed, v slackfake.View) {
	t.Helper()
	values := map[string]map[string]string{}
	blocks := string(v.Blocks)
	if strings.Contains(blocks, `"`+recovery.FormReason+`"`) {
		values[recovery.FormReason] = map[string]string{recovery.FormInput: "drill: practising the runbook"}
	}
	if strings.Contains(blocks, `"`+recovery.FormConfirmEnv+`"`) {
		for _, env := range []string{"prod", "preprod", "dev"} {
			if strings.Contains(blocks, "*"+env+"*") || strings.Contains(blocks, "`"+env+"`") {
				values[recovery.FormConfirmEnv] = map[string]string{recovery.FormInput: env}
				break
			}
		}
	}
	id, err := d.sb.Slack.SubmitView(ctx, slackfake.Submission{User: v.User, ViewID: v.ID, Values: values})
	if err != nil {
		t.Fatalf("submitting the form: %v", err)
	}
	ack, err := d.sb.Slack.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(ack.Payload) != 0 {
		t.Fatalf("the form was refused: %s", ack.Payload)
	}
}

// lineWith is the first line of text containing s.
func lineWith(text, s string) string {
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}
