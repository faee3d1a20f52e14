package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/pagerdutyfake"
	"github.com/medic-ops/medic/sandbox/slackfake"
	"github.com/medic-ops/medic/store"
)

// escalate runs medic's escalation round now (the timer does it every few seconds).
func (e *e2e) escalate() {
	e.t.Helper()
	if err := e.app.engine.Escalate(mustCtx(e.t)); err != nil {
		e.t.Logf("escalation round: %v", err)
	}
	e.settle()
}

// settle waits until no page is being sent, so moving the clock forward does not race
// a delivery in flight (in production nobody moves the clock).
func (e *e2e) settle() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		due, err := e.app.store.DuePages(mustCtx(e.t), e.app.now(), 10)
		if err == nil && len(due) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("pages still due after 10s: %+v %v", due, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alertOf waits for the alert saying header and for medic to have recorded it, so a
// test moving the clock forward does not race the first post.
func (e *e2e) alertOf(header string) (slackfake.Message, string) {
	e.t.Helper()
	alert, _ := e.waitAlert(header)
	incident := incidentOf(e.t, alert)
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := e.app.store.Incident(mustCtx(e.t), incident)
		if err == nil && in.MessageTS == alert.TS && (in.Escalation.Row != "" || in.Untrusted != "") { // an untrusted run follows no row
			return alert, incident
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("medic never recorded the alert of %s: %+v %v", incident, in, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pagesIn lists the "Paging …" notes in the alert's thread, oldest first.
func (e *e2e) pagesIn(alert slackfake.Message) []string {
	var out []string
	for _, m := range e.sb.Slack.Thread(sandboxChannel, alert.TS) {
		if strings.Contains(m.Text, "*Paging ") {
			out = append(out, m.Text)
		}
	}
	return out
}

// wantPages checks the thread's pages: their count and that the last pages who.
func (e *e2e) wantPages(alert slackfake.Message, n int, who string) {
	e.t.Helper()
	if n > 0 {
		e.threadMessage(alert, fmt.Sprintf("*Paging %s* (page %d)", who, n))
	}
	e.settle()
	if got := e.pagesIn(alert); len(got) != n {
		e.t.Fatalf("got %d pages, want %d:\n%s", len(got), n, strings.Join(got, "\n"))
	}
}

// wantDMs waits until user got n pages about incident by direct message.
func (e *e2e) wantDMs(user, incident string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.dms(user, incident) != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s got %d DMs about %s, want %d", user, e.dms(user, incident), incident, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dms counts the direct messages medic sent user that page about incident.
func (e *e2e) dms(user, incident string) int {
	n := 0
	for _, m := range e.sb.Slack.DMs(user) {
		if strings.Contains(m.Text, "medic pages you") && strings.Contains(m.Text, incident) {
			n++
		}
	}
	return n
}

// waitPD waits until PagerDuty has received want (actions, in order) about incident.
func (e *e2e) waitPD(incident string, want ...string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := pdEvents(e.sb, incident)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("PagerDuty events about %s: got %v, want %v", incident, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pdEvents lists the PagerDuty events about incident, as "action" strings.
func pdEvents(sb *sandbox.Sandbox, incident string) []string {
	var out []string
	for _, ev := range sb.PagerDuty.Events() {
		if ev.DedupKey == "medic-"+incident {
			out = append(out, ev.Action)
		}
	}
	return out
}

// withLeaderElsewhere, given to mustStartStaged, has another replica hold the leader
// lease in the store for an hour before medic starts: medic never leads, so no round
// of its leader's work (pollers, escalation ticks, request expiry) runs, only rounds
// something asks for.
func withLeaderElsewhere(t *testing.T) withSandbox {
	return func(_ *sandbox.Sandbox, _ *sandbox.World, cfg *config.Config) {
		t.Helper()
		ctx := mustCtx(t)
		s, err := store.Open(ctx, cfg.Store, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if ok, err := s.AcquireLease(ctx, leaderLease, "another-replica", time.Hour); err != nil || !ok {
			t.Fatalf("holding the leader lease for another replica: got %v, %v; want it held", ok, err)
		}
	}
}

// TestEscalationMatrix: each row of the runbook's matrix pages at its deadline, and
// not before. An IMMEDIATE row pages as its alert goes out: the alert wakes the
// escalation loop (EscalationDeps.Wake), with no round run by hand, no tick (medic's
// tickers are the test's, never advanced) and no leader's round (another replica
// leads).
func TestEscalationMatrix(t *testing.T) {
	tests := []struct {
		caseName, header string
		deadline         time.Duration // 0: at once; -1: never
		first            string
		pd               bool
	}{
		{caseName: "canary-fail", header: "Production canary failed", deadline: 15 * time.Minute, first: "on-call engineer", pd: true},
		{caseName: "preprod-deploy-fail", header: "Preprod deployment failed", deadline: time.Hour, first: "DevOps team", pd: true},
		{caseName: "rollback-fail", header: "rollback failed", deadline: 0, first: "senior engineer", pd: true},
		{caseName: "dev-tests-fail-main", header: "Dev tests failed", deadline: -1},
		{caseName: "dev-tests-fail", header: "Checks failed on PR", deadline: -1}, // a pull request never pages
	}
	for _, tt := range tests {
		t.Run(tt.caseName, func(t *testing.T) {
			c := &clock{}
			opts := []any{withClock{c}}
			if tt.deadline == 0 {
				opts = append(opts, withTickers{c: recoverytest.NewClock(time.Now())}, withLeaderElsewhere(t))
			}
			e, st := mustStartStaged(t, tt.caseName, opts...)
			e.deliver(st)
			alert, incident := e.alertOf(tt.header)
			switch {
			case tt.deadline < 0:
				c.advance(48 * time.Hour)
				e.escalate()
				e.wantPages(alert, 0, "")
				if ev := pdEvents(e.sb, incident); len(ev) != 0 {
					t.Errorf("best effort paged PagerDuty: %v", ev)
				}
				return
			case tt.deadline > 0:
				c.advance(tt.deadline - time.Minute)
				e.escalate()
				e.wantPages(alert, 0, "")
				c.advance(time.Minute)
				e.escalate()
			case tt.deadline == 0:
				if e.app.leader.leads() {
					t.Fatal("medic leads: a leader's round could page, not only the one the alert asks for")
				}
			}
			e.wantPages(alert, 1, tt.first)
			if tt.deadline == 0 {
				// The round is counted when it ends, a moment after its page went out.
				deadline := time.Now().Add(10 * time.Second)
				for e.pollRounds("escalation") < 1 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if n := e.pollRounds("escalation"); n < 1 {
					t.Errorf("escalation rounds: got %g, want at least 1 (the one the alert asked for)", n)
				}
				if !slices.Contains(e.ticks.Tickers(), escalationTick) {
					t.Errorf("tickers on the test's clock: got %v, want the escalation's (%s) among them", e.ticks.Tickers(), escalationTick)
				}
			}
			if tt.pd {
				e.waitPD(incident, "trigger")
			}
			_, text := e.waitAlert(tt.header, "paged "+tt.first)
			wantContains(t, text, "Escalation: ")
		})
	}
}

// TestEscalationFollowsTheInterval: unacknowledged, a prod failure pages on-call at 15
// minutes, then senior every interval, with one PagerDuty alert throughout; an
// acknowledgement stops it, and resolving resolves the PagerDuty alert.
func TestEscalationFollowsTheInterval(t *testing.T) {
	c := &clock{}
	e, st := mustStartStaged(t, "canary-fail", withClock{c})
	e.deliver(st)
	alert, incident := e.alertOf("Production canary failed")

	c.advance(15 * time.Minute)
	e.escalate()
	e.escalate() // a second round at the same time pages nobody twice
	e.wantPages(alert, 1, "on-call engineer")
	e.threadMessage(alert, "not acknowledged within 15m (Prod fail (auto-rollback works))", "<!subteam^S0ONCALL>")
	e.wantDMs(userAlice, incident, 1)
	e.wantDMs(userCarol, incident, 1)
	e.wantDMs(userDave, incident, 0)

	c.advance(14 * time.Minute)
	e.escalate()
	e.wantPages(alert, 1, "on-call engineer")
	c.advance(time.Minute)
	e.escalate()
	e.wantPages(alert, 2, "senior engineer")
	e.threadMessage(alert, "still not acknowledged 15m after the last page", "<@U0DAVE>")
	c.advance(15 * time.Minute)
	e.escalate()
	e.wantPages(alert, 3, "senior engineer") // the path's last step repeats
	e.waitPD(incident, "trigger", "trigger", "trigger")
	if a, ok := e.sb.PagerDuty.Alert("medic-" + incident); !ok || a.Status != pagerdutyfake.StatusTriggered || a.Deduplicated != 2 {
		t.Errorf("PagerDuty alert: %+v (found %v), want one triggered alert with 2 triggers folded in", a, ok)
	}

	wantContains(t, e.press(alert, userMallory, "action:ack"), "You need the *responder* role")
	wantContains(t, e.press(alert, userAlice, "action:ack"), "You acknowledged")
	e.threadMessage(alert, "Acknowledged by <@U0ALICE>: escalation stopped.")
	c.advance(2 * time.Hour)
	e.escalate()
	e.wantPages(alert, 3, "senior engineer")
	if a, _ := e.sb.PagerDuty.Alert("medic-" + incident); a.Status != pagerdutyfake.StatusAcknowledged {
		t.Errorf("PagerDuty alert after the acknowledgement: %s", a.Status)
	}

	before := e.ephemeralCount(userAlice)
	e.command(userAlice, sandboxChannel, "/incident", "resolve "+incident+" rolled back by the pipeline")
	wantContains(t, e.nextEphemeral(userAlice, before), "You resolved "+incident)
	e.waitPD(incident, "trigger", "trigger", "trigger", "acknowledge", "resolve")
	wantContains(t, e.audit(incident), "medic:incident.paged", "U0MALLORY:refused", "U0ALICE:incident.acknowledged", "U0ALICE:incident.resolved", "medic:page.sent")
}

// TestEscalationSurvivesRestart: medic stops before the deadline and starts again
// after it, on the same store: the page goes out once.
func TestEscalationSurvivesRestart(t *testing.T) {
	c := &clock{}
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	cfg, err := sandboxConfig(sb, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	cs, _ := sandbox.CaseByName("canary-fail")
	st, err := cs.Stage(sb, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, c.now), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{sandboxed: d, t: t}
	e.deliver(st)
	alert, incident := e.alertOf("Production canary failed")
	c.advance(10 * time.Minute)
	e.escalate()
	if err := d.close(); err != nil {
		t.Fatal(err)
	}

	c.advance(10 * time.Minute) // the deadline passes while medic is down
	d2, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, c.now), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d2.close() })
	e2 := &e2e{sandboxed: d2, t: t}
	e2.escalate()
	e2.escalate()
	e2.wantPages(alert, 1, "on-call engineer")
	e2.waitPD(incident, "trigger")
	// The schedule goes on from the page: senior 15 minutes later, not before.
	c.advance(14 * time.Minute)
	e2.escalate()
	e2.wantPages(alert, 1, "on-call engineer")
	c.advance(time.Minute)
	e2.escalate()
	e2.wantPages(alert, 2, "senior engineer")
}

// TestFailingPagerIsRetried: PagerDuty answers 503, then 429 with Retry-After, then
// takes the page; the thread says so; Slack's page is not repeated meanwhile.
func TestFailingPagerIsRetried(t *testing.T) {
	c := &clock{}
	e, st := mustStartStaged(t, "rollback-fail", withClock{c})
	e.sb.Faults.Set(pagerdutyfake.Op, fault.Rule{Times: 1, Err: &fault.Error{Status: 503, Message: "unavailable"}})
	e.deliver(st)
	alert, incident := e.alertOf("rollback failed")
	e.escalate()
	e.wantPages(alert, 1, "senior engineer")
	e.threadMessage(alert, "PagerDuty page #1 to senior failed", "HTTP 503", "medic retries (next in 15s")
	if got := pdEvents(e.sb, incident); len(got) != 0 {
		t.Fatalf("PagerDuty recorded %v despite the failure", got)
	}
	e.sb.Faults.Set(pagerdutyfake.Op, fault.Rule{Times: 1, Err: &fault.Error{Status: 429, Message: "throttled", RetryAfter: time.Minute}})
	c.advance(15 * time.Second)
	e.escalate()
	c.advance(30 * time.Second) // under the Retry-After minute: nothing is sent
	e.escalate()
	if got := pdEvents(e.sb, incident); len(got) != 0 {
		t.Fatalf("PagerDuty recorded %v before the Retry-After", got)
	}
	c.advance(31 * time.Second)
	e.escalate()
	e.threadMessage(alert, "PagerDuty page #1 to senior delivered after 3 attempts.")
	e.waitPD(incident, "trigger")
	e.wantPages(alert, 1, "senior engineer")
	e.wantDMs(userDave, incident, 1)
}

// TestPagingButtons: Page senior engineer pages at once; Data corruption risk asks why,
// then pages the CTO and the senior engineer together; /page pages on-call.
func TestPagingButtons(t *testing.T) {
	c := &clock{}
	e, st := mustStartStaged(t, "rollback-fail", withClock{c})
	e.deliver(st)
	alert, incident := e.alertOf("rollback failed")
	e.escalate()
	e.wantPages(alert, 1, "senior engineer")

	wantContains(t, e.press(alert, userCarol, "action:page-senior"), "was paged for "+incident, "not paging again so soon")
	c.advance(2 * time.Minute)
	wantContains(t, e.press(alert, userCarol, "action:page-senior"), "Paging the senior engineer for "+incident)
	e.wantPages(alert, 2, "senior engineer")

	before := e.ephemeralCount(userCarol)
	e.openForm(alert, userCarol, "action:data-corruption")
	if ack := e.submitForm(userCarol, map[string]string{recovery.FormReason: "rollback half-applied: items table schema changed"}); len(ack.Payload) != 0 {
		t.Fatalf("the form was refused: %s", ack.Payload)
	}
	wantContains(t, e.nextEphemeral(userCarol, before), "Data corruption risk declared on "+incident)
	e.threadMessage(alert, "declared a *data corruption risk*", "items table schema changed")
	e.wantPages(alert, 3, "CTO + senior engineer")
	e.wantDMs(userErin, incident, 1)
	e.wantDMs(userDave, incident, 3)

	before = e.ephemeralCount(userCarol)
	e.command(userCarol, sandboxChannel, "/page", "prod")
	wantContains(t, e.nextEphemeral(userCarol, before), "Paging the on-call engineer for "+incident)
	e.wantPages(alert, 4, "on-call engineer")
	// Who paged is a real mention, in the thread and in the DMs (not &lt;@…&gt;).
	if last := e.pagesIn(alert)[3]; !strings.Contains(last, "paged by <@"+userCarol+">") || strings.Contains(last, "&lt;") {
		t.Errorf("the page does not mention who paged: %s", last)
	}
	mentioned := false
	for _, m := range e.sb.Slack.DMs(userDave) {
		if strings.Contains(m.Text, "paged by <@"+userCarol+">") {
			mentioned = true
		}
		if strings.Contains(m.Text, "&lt;@") {
			t.Errorf("a DM shows a mention as text: %s", m.Text)
		}
	}
	if !mentioned {
		t.Errorf("no DM to %s mentions who paged", userDave)
	}
	before = e.ephemeralCount(userMallory)
	e.command(userMallory, sandboxChannel, "/page", incident)
	wantContains(t, e.nextEphemeral(userMallory, before), "You need the *responder* role for prod to page people")
	e.wantPages(alert, 4, "on-call engineer")
	wantContains(t, e.audit(incident), "U0CAROL:incident.data_corruption", "U0CAROL:incident.paged", "U0MALLORY:refused")
}

// TestResolveChecklistReportAndIssue: after a verified recovery the alert offers
// Resolve; resolving posts the checklist (its ticks stored), the report, and a button
// that files the report as one GitHub issue however often it is clicked.
func TestResolveChecklistReportAndIssue(t *testing.T) {
	e, st := mustStartStaged(t, "canary-fail")
	needTerraform(t, e)
	e.deliver(st)
	alert, incident := e.alertOf("Production canary failed")
	if strings.Contains(slackfake.Render(alert), "[ Resolve") {
		t.Error("Resolve is offered before anything was fixed")
	}
	e.press(alert, userAlice, "action:rollback")
	req := e.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	e.press(req, userBob, "approve:request")
	e.threadMessage(alert, "Job JOB-", "succeeded.")
	alert, _ = e.waitAlert("Production canary failed", "[ Resolve")

	wantContains(t, e.press(alert, userMallory, "action:resolve"), "You need the *responder* role")
	wantContains(t, e.press(alert, userAlice, "action:resolve"), "You resolved "+incident)
	before := e.ephemeralCount(userCarol)
	e.command(userCarol, sandboxChannel, "/incident", "resolve "+incident)
	wantContains(t, e.nextEphemeral(userCarol, before), "was resolved by <@U0ALICE>")
	checklist := e.threadMessage(alert, "*Post-incident checklist* of `"+incident+"` (0/7 done)", "[ ] Share lessons learned with team")
	report := e.threadMessage(alert, "Incident report of "+incident, "## Timeline (UTC)", "[ Create GitHub issue")
	wantContains(t, slackfake.Render(report), "| Time to recover |", "Requested Roll back to last good", ": approved Roll back to last good", "| Resolved |")

	tick := func(user, index string) string {
		t.Helper()
		before := e.ephemeralCount(user)
		id, err := e.sb.Slack.Click(mustCtx(t), slackfake.Click{User: user, Channel: checklist.Channel, MessageTS: checklist.TS,
			ActionID: recovery.ChecklistID(incident), Value: index})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.sb.Slack.WaitAck(mustCtx(t), id); err != nil {
			t.Fatal(err)
		}
		return e.nextEphemeral(user, before)
	}
	wantContains(t, tick(userCarol, "0"), "6 item(s) left")
	e.threadMessage(alert, "(1/7 done)", "[x] Write incident report")
	wantContains(t, tick(userCarol, "3"), "5 item(s) left")
	e.threadMessage(alert, "(2/7 done)", "[x] Create GitHub issue to prevent recurrence")
	wantContains(t, tick(userMallory, "1"), "You need the *responder* role")
	wantContains(t, tick(userCarol, "3"), "6 item(s) left") // unticking is recorded too
	in, err := e.app.store.Incident(mustCtx(t), incident)
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	for _, it := range in.Resolution.Checklist {
		if it.Done {
			done = append(done, it.Text+" by "+it.By)
		}
	}
	if len(done) != 1 || !strings.HasPrefix(done[0], "Write incident report") || !strings.HasSuffix(done[0], "by "+userCarol) {
		t.Errorf("stored checklist: %v, want only the report item, ticked by carol", done)
	}

	// A double click and a redelivery file one issue.
	ids, err := e.sb.Slack.ClickRepeatedly(mustCtx(t), slackfake.Click{User: userAlice, Channel: report.Channel, MessageTS: report.TS,
		ActionID: "action:create-issue"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.sb.Slack.Redeliver(ids[0]); err != nil {
		t.Fatal(err)
	}
	e.threadMessage(alert, "Follow-up issue #1 filed by <@U0ALICE>")
	wantContains(t, e.press(report, userCarol, "action:create-issue"), "The follow-up issue of "+incident+" is #1")
	issues := e.sb.GitHub.Issues()
	if len(issues) != 1 {
		t.Fatalf("got %d issues, want 1: %+v", len(issues), issues)
	}
	is := issues[0]
	wantContains(t, is.Title, "Follow-up of "+incident, "Production canary failed")
	wantContains(t, is.Body, "# "+incident, "- [x] Write incident report", "<!-- medic-incident: "+incident+" -->")
	if strings.Join(is.Labels, ",") != "incident,medic" {
		t.Errorf("issue labels: %v, want incident,medic", is.Labels)
	}

	before = e.ephemeralCount(userCarol)
	e.command(userCarol, sandboxChannel, "/incident", "list")
	wantContains(t, e.nextEphemeral(userCarol, before), incident, "Resolved")
	before = e.ephemeralCount(userCarol)
	e.command(userCarol, sandboxChannel, "/incident", "show "+incident)
	wantContains(t, e.nextEphemeral(userCarol, before), incident, "Production canary failed", "#1")
	wantContains(t, e.audit(incident), "U0ALICE:incident.resolved", "U0CAROL:checklist.checked", "U0CAROL:checklist.unchecked", "U0ALICE:incident.issue", "U0MALLORY:refused")
}
