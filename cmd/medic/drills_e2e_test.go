package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/slackfake"
	"github.com/medic-ops/medic/store"
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
			for _, u := range []string{userCarol, userDave, userErin} {
				if n := len(e.sb.Slack.DMs(u)); n != 0 {
					t.Errorf("%s, not in the drill, got %d DMs: %q", u, n, cut(slackfake.Render(e.sb.Slack.DMs(u)[0]), 200))
				}
			}
			if name == "rollback-fail" && len(all) == dms {
				// CRITICAL pages at once: the participants, not the senior engineer.
				t.Error("rollback-fail's immediate page reached neither alice nor bob")
			}
			for _, m := range all[dms:] {
				if !strings.Contains(slackfake.Render(m), "DRILL") {
					t.Errorf("a drill's DM without DRILL: %q", cut(slackfake.Render(m), 200))
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
	waitDrillsIdle(t, e)
	typeIn(t, e, userAlice, "/drill", name+" <@"+userBob+"|bob>", func(m slackfake.Message) bool {
		return m.Ephemeral && !seen[m.TS] && strings.Contains(m.Text, "started: its alert comes in a moment")
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
	// An alarm seen first may open an incident that the failure's own then absorbs:
	// the drill goes on on the surviving alert.
	alert = survivingAlert(d, latest(e, alert))
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

// waitDrillsIdle waits until no drill runs, starts or ends.
func waitDrillsIdle(t *testing.T, e *e2e) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		e.app.drills.mu.Lock()
		idle := e.app.drills.cur == nil && !e.app.drills.starting && !e.app.drills.ending
		e.app.drills.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a drill is still running, starting or ending after a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
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
		t.Fatalf("waiting for the answer to %s %s: %v\n%s", command, text, err, e.sb.Slack.Transcript(drillChannel))
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

// TestDrillCommands: who may drill and where, one drill at a time, /drill stop with
// its report, commands of the drill channel answered from the drill's world, clicks on
// an ended drill refused, and the real store left with the drill's start and end only.
func TestDrillCommands(t *testing.T) {
	e, _ := mustStartStaged(t, "", withDrills())
	ephemeral := func(want string) func(slackfake.Message) bool {
		return func(m slackfake.Message) bool { return m.Ephemeral && strings.Contains(slackfake.Render(m), want) }
	}
	typeIn(t, e, userMallory, "/drill", "list", ephemeral("Only responders"))
	id, err := e.sb.Slack.SlashCommand(mustCtx(t), slackfake.Command{User: userAlice, Channel: sandboxChannel, Command: "/drill", Text: "list"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.Slack.WaitAck(mustCtx(t), id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.Slack.WaitForMessage(mustCtx(t), ephemeral("Drills are played in <#"+drillChannel+">")); err != nil {
		t.Fatalf("/drill outside the drill channel: %v", err)
	}
	typeIn(t, e, userAlice, "/drill", "list", ephemeral("No drill is running."))
	typeIn(t, e, userAlice, "/drill", "no-such-scenario", ephemeral(`no scenario "no-such-scenario"`))
	typeIn(t, e, userAlice, "/drill", "canary-fail @bob", ephemeral("name people with @"))
	typeIn(t, e, userAlice, "/drill", "canary-fail <@"+userMallory+"|mallory>", ephemeral("holds no role"))

	before := realCalls(e.sb)
	typeIn(t, e, userAlice, "/drill", "canary-fail fast", ephemeral("Drill `DRILL-"))
	drillID := e.app.drills.router() != nil
	if !drillID {
		t.Fatal("no drill runs after /drill canary-fail")
	}
	typeIn(t, e, userCarol, "/drill", "dev-tests-fail", ephemeral("one at a time"))
	typeIn(t, e, userCarol, "/status", "prod", func(m slackfake.Message) bool {
		return m.Channel == drillChannel && !m.Ephemeral && strings.Contains(slackfake.Render(m), "DRILL · PROD STATUS")
	})
	alert, err := e.sb.Slack.WaitForMessage(mustCtx(t), func(m slackfake.Message) bool {
		return m.Channel == drillChannel && m.ThreadTS == "" && strings.Contains(string(m.Blocks), "Runbook: ")
	})
	if err != nil {
		t.Fatalf("waiting for the drill's alert: %v", err)
	}
	typeIn(t, e, userCarol, "/drill", "stop DRILL-NOPE", ephemeral("No drill `DRILL-NOPE` is running"))
	cur := e.app.drills.current()
	typeIn(t, e, userCarol, "/drill", "stop "+cur, ephemeral("Only the people in drill `"+cur+"` (or an admin) stop it"))
	typeIn(t, e, userAlice, "/drill", "stop "+cur, ephemeral("Drill `"+cur+"` ended"))
	report, err := e.sb.Slack.WaitForMessage(mustCtx(t), func(m slackfake.Message) bool {
		return m.Channel == drillChannel && strings.Contains(slackfake.Render(m), "Drill "+cur+": scenario 5")
	})
	if err != nil {
		t.Fatalf("waiting for the stopped drill's report: %v", err)
	}
	if text := slackfake.Render(report); !strings.Contains(text, "stopped by U0ALICE") || !strings.Contains(text, "10 times faster") {
		t.Errorf("report of a stopped fast drill: %q", text)
	}
	if after := realCalls(e.sb); !maps.Equal(before, after) {
		t.Errorf("the real endpoints took calls during the drill: before %v, after %v", before, after)
	}
	// A click on the ended drill's alert is taken by no one.
	// (An alarm's alert merged into the failure's has no buttons left: the alert that
	// still offers Acknowledge is clicked.)
	d := &sandboxed{sb: e.sb, cfg: e.cfg, app: e.app, narrate: func(string, ...any) {}}
	alert = survivingAlert(d, latest(e, alert))
	mustClick(t, mustCtx(t), d, userAlice, alert, recovery.ButtonID(recovery.ActAcknowledge))
	if _, err := e.sb.Slack.WaitForMessage(mustCtx(t), ephemeral("No drill is running")); err != nil {
		t.Fatalf("a click on an ended drill: %v", err)
	}
	// The real store: no incident, and in the audit log only the drill's start and end,
	// marked.
	if ins, err := e.app.store.RecentIncidents(mustCtx(t), time.Time{}, 10); err != nil || len(ins) != 0 {
		t.Errorf("real incidents after a drill: %v, %v", ins, err)
	}
	entries, err := e.app.store.Audit(mustCtx(t), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action)
		if !strings.HasPrefix(en.Action, "drill.") || en.IncidentID != cur {
			t.Errorf("real audit entry %s %s by %s: want drill.* about %s only", en.Action, en.IncidentID, en.Actor, cur)
		}
	}
	if !slices.Equal(actions, []string{"drill.started", "drill.ended"}) {
		t.Errorf("real audit actions = %v, want the drill's start and end", actions)
	}
	if rep := entries[len(entries)-1].Detail["report"]; !strings.Contains(rep, "Times from the alert") {
		t.Errorf("the real audit log does not keep the report: %q", rep)
	}
}
