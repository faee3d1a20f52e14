package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/internal/testenv"
	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/slackfake"
	"github.com/medic-ops/medic/sandbox/tfstate"
	"github.com/medic-ops/medic/store"
)

// needTerraform skips (or, under CI, fails) when no real terraform is there.
func needTerraform(t *testing.T, e *e2e) {
	t.Helper()
	if e.cfg.Terraform.Bin == "" {
		missingTerraform(t)
	}
}

// missingTerraform stops tb, which needs the real Terraform and found none: it fails
// under CI and skips elsewhere, saying what to install (testenv.Missing).
func missingTerraform(tb testing.TB) {
	tb.Helper()
	why := "no terraform >= " + tftest.MinVersion
	if _, err := tftest.Find(); err != nil {
		why = err.Error()
	}
	testenv.Missing(tb, why)
}

// press clicks a button of any message as user and returns the answer only they see.
func (e *e2e) press(m slackfake.Message, user, actionID string) string {
	e.t.Helper()
	before := e.ephemeralCount(user)
	id, err := e.sb.Slack.Click(mustCtx(e.t), slackfake.Click{User: user, Channel: m.Channel, MessageTS: m.TS, ActionID: actionID})
	if err != nil {
		e.t.Fatalf("clicking %s: %v", actionID, err)
	}
	if _, err := e.sb.Slack.WaitAck(mustCtx(e.t), id); err != nil {
		e.t.Fatalf("ack of the click on %s: %v", actionID, err)
	}
	got := e.nextEphemeral(user, before)
	e.t.Logf("%s clicked %s: %s", user, actionID, got)
	return got
}

func (e *e2e) ephemeralCount(user string) int {
	n := 0
	for _, m := range e.sb.Slack.Messages(sandboxChannel) {
		if m.Ephemeral && m.User == user {
			n++
		}
	}
	return n
}

// nextEphemeral waits for the user's ephemeral message number n+1 and returns it.
func (e *e2e) nextEphemeral(user string, n int) string {
	e.t.Helper()
	var text string
	_, err := e.sb.Slack.WaitForMessage(mustCtx(e.t), func(slackfake.Message) bool {
		i := 0
		for _, m := range e.sb.Slack.Messages(sandboxChannel) {
			if m.Ephemeral && m.User == user {
				if i == n {
					text = m.Text
					return true
				}
				i++
			}
		}
		return false
	})
	if err != nil {
		e.t.Fatalf("no answer to %s: %v\n%s", user, err, e.sb.Slack.Transcript(sandboxChannel))
	}
	return text
}

// threadMessage waits for a reply in the alert's thread containing every want.
func (e *e2e) threadMessage(alert slackfake.Message, wants ...string) slackfake.Message {
	e.t.Helper()
	m, err := e.sb.Slack.WaitForMessage(mustCtx(e.t), func(m slackfake.Message) bool {
		if m.ThreadTS != alert.TS {
			return false
		}
		text := slackfake.Render(m)
		for _, w := range wants {
			if !strings.Contains(text, w) {
				return false
			}
		}
		return true
	})
	if err != nil {
		var why []string
		for _, m := range e.sb.Slack.Messages(sandboxChannel) {
			first, _, _ := strings.Cut(slackfake.Render(m), "\n")
			why = append(why, fmt.Sprintf("msg ts=%s thread=%s eph=%v upd=%d: %.120s", m.TS, m.ThreadTS, m.Ephemeral, m.Updates, first))
		}
		for _, m := range e.sb.Slack.Messages(sandboxChannel) {
			if m.ThreadTS == alert.TS {
				text := slackfake.Render(m)
				for _, w := range wants {
					if !strings.Contains(text, w) {
						why = append(why, fmt.Sprintf("%s lacks %q", m.TS, w))
					}
				}
			}
		}
		e.t.Fatalf("no thread reply saying %q: %v\n%s\n%s", wants, err, strings.Join(why, "\n"), e.sb.Slack.Transcript(sandboxChannel))
	}
	return m
}

// openForm clicks a button whose action asks questions first and waits for the form.
func (e *e2e) openForm(m slackfake.Message, user, actionID string) {
	e.t.Helper()
	before := 0
	for _, v := range e.sb.Slack.Views() {
		if v.User == user {
			before++
		}
	}
	id, err := e.sb.Slack.Click(mustCtx(e.t), slackfake.Click{User: user, Channel: m.Channel, MessageTS: m.TS, ActionID: actionID})
	if err != nil {
		e.t.Fatalf("clicking %s: %v", actionID, err)
	}
	if _, err := e.sb.Slack.WaitAck(mustCtx(e.t), id); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, v := range e.sb.Slack.Views() {
			if v.User == user {
				n++
			}
		}
		if n > before {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no form opened for %s after clicking %s", user, actionID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// submitForm fills and submits the request form user opened last.
func (e *e2e) submitForm(user string, values map[string]string) slackfake.Ack {
	e.t.Helper()
	var view slackfake.View
	for _, v := range e.sb.Slack.Views() {
		if v.User == user && !v.Closed {
			view = v
		}
	}
	if view.ID == "" {
		e.t.Fatalf("no open form for %s", user)
	}
	vals := map[string]map[string]string{}
	for block, v := range values {
		vals[block] = map[string]string{recovery.FormInput: v}
	}
	id, err := e.sb.Slack.SubmitView(mustCtx(e.t), slackfake.Submission{User: user, ViewID: view.ID, Values: vals})
	if err != nil {
		e.t.Fatalf("submitting the form: %v", err)
	}
	ack, err := e.sb.Slack.WaitAck(mustCtx(e.t), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ack
}

func (e *e2e) audit(incident string) string {
	e.t.Helper()
	return e.auditOf(store.AuditFilter{IncidentID: incident})
}

// auditOf is the audit log f selects as actor:action, oldest first.
func (e *e2e) auditOf(f store.AuditFilter) string {
	e.t.Helper()
	entries, err := e.app.store.Audit(mustCtx(e.t), f)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, a := range entries {
		out = append(out, a.Actor+":"+a.Action)
	}
	return strings.Join(out, " ")
}

func deployedVersion(t *testing.T, e *e2e, env string) string {
	t.Helper()
	rs, err := e.sb.TFState.Resources(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if k := r.InputString("s3_key"); strings.Contains(k, "lambda-") {
			return strings.TrimSuffix(k[strings.Index(k, "lambda-")+len("lambda-"):], ".zip")
		}
	}
	return ""
}

func TestTwoPersonRollbackOfProd(t *testing.T) {
	e, st := mustStartStaged(t, "canary-fail")
	needTerraform(t, e)
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed")
	incident := incidentOf(t, alert)

	got := e.press(alert, userAlice, "action:rollback")
	wantContains(t, got, "Requested Roll back to last good on prod")
	req := e.threadMessage(alert, "requests *Roll back to last good* on *prod*", "Plan: 4 to add", "[ Approve")
	wantContains(t, slackfake.Render(req), st.PreviousSHA[:7], "[ Approve", "[ Reject", "Waiting for an approver other than <@U0ALICE>")
	// The plan people read is saved; the job applies that plan, by its SHA-256.
	m := regexp.MustCompile(`Saved plan sha256 ([0-9a-f]{16})`).FindStringSubmatch(slackfake.Render(req))
	if m == nil {
		t.Fatalf("the request shows no saved plan's SHA-256:\n%s", slackfake.Render(req))
	}
	planSum := m[1]

	wantContains(t, e.press(req, userAlice, "approve:request"), "You requested this: a second person must approve it.")
	wantContains(t, e.press(req, userCarol, "approve:request"), "You need the *approver* role for prod")
	wantContains(t, e.press(req, userBob, "approve:request"), "You approved", "runs as job JOB-")

	e.threadMessage(alert, "Job JOB-", "succeeded.")
	e.threadMessage(alert, ":white_check_mark: terraform apply of the approved plan (sha256 "+planSum[:12]+")", "Applied the approved plan (sha256 "+planSum+")")
	if v := deployedVersion(t, e, "prod"); v != st.PreviousSHA {
		t.Errorf("prod runs %q, want the last known good %q", v, st.PreviousSHA)
	}
	_, text := e.waitAlert("Production canary failed", "succeeded")
	wantContains(t, text, "Roll back to last good) succeeded")
	for _, step := range []string{"Fetch the Terraform sources at " + st.PreviousSHA[:7], "terraform apply of the approved plan", "Verify: health endpoint 200 and no alarm in ALARM"} {
		e.threadMessage(alert, ":white_check_mark: "+step)
	}
	e.threadMessage(alert, "Approved by <@U0BOB>", "job `JOB-")
	wantContains(t, e.audit(incident),
		"U0ALICE:request.created", "U0ALICE:request.approve.refused", "U0CAROL:request.approve.refused",
		"U0BOB:request.approved", "U0BOB:job.created", "medic:job.step", "medic:job.succeeded")
	if n := strings.Count(e.audit(incident), "medic:job.step"); n != 3 {
		t.Errorf("got %d audited steps, want 3", n)
	}
}

func TestRefusals(t *testing.T) {
	c := &clock{}
	e, st := mustStartStaged(t, "canary-fail", withClock{c})
	needTerraform(t, e)
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed")
	incident := incidentOf(t, alert)

	wantContains(t, e.press(alert, userMallory, "action:rollback"), "You need the *responder* role for prod", "Nothing was done")
	wantContains(t, e.audit(incident), "U0MALLORY:request.refused")

	e.press(alert, userAlice, "action:rollback")
	req := e.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	// A second click while it waits gives the same request.
	wantContains(t, e.press(alert, userCarol, "action:rollback"), "was already requested by <@U0ALICE>")

	c.advance(16 * time.Minute) // past access.request_ttl
	wantContains(t, e.press(req, userBob, "approve:request"), "expired at", "Request it again")
	m, err := e.sb.Slack.WaitForMessage(mustCtx(t), func(m slackfake.Message) bool {
		return m.TS == req.TS && strings.Contains(slackfake.Render(m), "Expired at")
	})
	if err != nil {
		t.Fatalf("the request message does not say it expired: %v", err)
	}
	if strings.Contains(slackfake.Render(m), "[ Approve") {
		t.Error("an expired request still offers Approve")
	}
	wantContains(t, e.audit(incident), "medic:request.expired", "U0BOB:request.approve.refused")
	if strings.Contains(e.audit(incident), "job.created") {
		t.Error("a job started from an expired request")
	}
}

func TestSameApprovalDeliveredManyTimesStartsOneJob(t *testing.T) {
	e, st := mustStartStaged(t, "canary-fail")
	needTerraform(t, e)
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed")
	e.press(alert, userAlice, "action:rollback")
	req := e.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")

	const n = 8
	handledBefore, dupBefore := e.envelopeCounts()
	ids, err := e.sb.Slack.ClickRepeatedly(mustCtx(t), slackfake.Click{User: userBob, Channel: req.Channel, MessageTS: req.TS, ActionID: "approve:request"}, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:3] {
		if err := e.sb.Slack.Redeliver(id); err != nil {
			t.Fatal(err)
		}
	}
	e.threadMessage(alert, "Job JOB-", "succeeded.")
	// Every click and redelivery was handled or skipped: a second job would be there.
	for i, id := range ids {
		deliveries := 1
		if i < 3 {
			deliveries = 2 // redelivered
		}
		if _, err := e.sb.Slack.WaitAcks(mustCtx(t), id, deliveries); err != nil {
			t.Fatalf("the deliveries of %s were not all acked: %v", id, err)
		}
	}
	e.waitEnvelopesSettled(ids, handledBefore, dupBefore)
	incident := incidentOf(t, alert)
	audit := e.audit(incident)
	if c := strings.Count(audit, "job.created"); c != 1 {
		t.Fatalf("got %d jobs for one request approved %d times, want 1: %s", c, n, audit)
	}
	if c := strings.Count(audit, "U0BOB:request.approved"); c != 1 {
		t.Errorf("got %d approvals recorded, want 1", c)
	}
	starts := 0
	for _, m := range e.sb.Slack.Thread(sandboxChannel, alert.TS) {
		if strings.Contains(m.Text, "terraform apply") && strings.Contains(m.Text, "Step 2/3") {
			starts++
		}
	}
	if starts != 1 {
		t.Errorf("terraform apply started %d times, want 1", starts)
	}
}

func TestForceUnlockThenApply(t *testing.T) {
	forEachCLI(t, func(t *testing.T, _ tftest.CLI, bin e2eOption) { testForceUnlockThenApply(t, bin) })
}

func testForceUnlockThenApply(t *testing.T, bin e2eOption) {
	e, st := mustStartStaged(t, "state-lock", bin)
	needTerraform(t, e)
	// The lock the log names is really held in preprod's state backend.
	e.sb.TFState.Hold("preprod", tfstate.LockInfo{ID: st.LockID, Operation: "OperationTypeApply", Who: "dchen@dchen-mbp.local"})
	e.deliver(st)
	alert, _ := e.waitAlert("Terraform state lock held")

	// Force-unlock is destructive: a form asks why.
	e.openForm(alert, userAlice, "action:force-unlock")
	ack := e.submitForm(userAlice, map[string]string{recovery.FormReason: "holder dchen confirmed his laptop run died"})
	if len(ack.Payload) != 0 {
		t.Fatalf("the form was refused: %s", ack.Payload)
	}
	req := e.threadMessage(alert, "requests *Force-unlock* on *preprod*", "lock `"+st.LockID+"`", "[ Approve")
	wantContains(t, slackfake.Render(req), "Lock "+st.LockID, "dchen confirmed")
	wantContains(t, e.press(req, userBob, "approve:request"), "You approved")
	e.threadMessage(alert, ":white_check_mark: terraform force-unlock "+st.LockID)
	e.threadMessage(alert, "succeeded.")
	if n := e.sb.TFState.ForcedUnlocks("preprod"); n != 1 {
		t.Errorf("forced unlocks: got %d, want 1", n)
	}
	if _, held := e.sb.TFState.Lock("preprod"); held {
		t.Error("the lock is still held")
	}

	// With the lock gone, a rollback of preprod applies.
	before := e.ephemeralCount(userAlice)
	e.command(userAlice, sandboxChannel, "/rollback", "preprod")
	wantContains(t, e.nextEphemeral(userAlice, before), "Requested Roll back to last good on preprod")
	rb := e.threadMessage(alert, "requests *Roll back to last good* on *preprod*", "[ Approve")
	e.press(rb, userBob, "approve:request")
	e.threadMessage(alert, ":white_check_mark: terraform apply")
}

func TestTerraformFailureOffersForceLambdaUpdate(t *testing.T) {
	e, st := mustStartStaged(t, "canary-fail")
	needTerraform(t, e)
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed")
	// The state backend refuses writes: the apply fails.
	e.sb.Faults.Set("tfstate:POST", fault.Rule{Err: &fault.Error{Status: 500, Code: "InternalError", Message: "state storage unavailable"}})
	e.press(alert, userAlice, "action:rollback")
	req := e.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	e.press(req, userBob, "approve:request")
	failed := e.threadMessage(alert, "failed at step 2 (terraform apply of the approved plan", "[ Force Lambda update to "+st.PreviousSHA[:7])
	e.sb.Faults.Clear("tfstate:POST")

	// The runbook's nuclear option: a form asks why and the environment's name.
	e.openForm(failed, userAlice, "action:force-lambda-update")
	ack := e.submitForm(userAlice, map[string]string{recovery.FormReason: "terraform cannot write its state", recovery.FormConfirmEnv: "preprod"})
	if !strings.Contains(string(ack.Payload), "Type prod exactly") {
		t.Fatalf("a wrong confirmation was accepted: ack %s", ack.Payload)
	}
	ack = e.submitForm(userAlice, map[string]string{recovery.FormReason: "terraform cannot write its state", recovery.FormConfirmEnv: "prod"})
	if len(ack.Payload) != 0 {
		t.Fatalf("the form was refused: %s", ack.Payload)
	}
	req = e.threadMessage(alert, "requests *Force Lambda update* on *prod*", "prod-sentiment-dashboard: now code", "dashboard/lambda-"+st.PreviousSHA+".zip", "[ Approve")
	e.press(req, userBob, "approve:request")
	e.threadMessage(alert, ":white_check_mark: Update prod-sentiment-dashboard from s3://prod-sentiment-lambda-deployments/dashboard/lambda-"+st.PreviousSHA+".zip")
	e.threadMessage(alert, ":white_check_mark: Verify")
	e.threadMessage(alert, "Force Lambda update", "succeeded.")
	for _, fn := range []string{"prod-sentiment-ingestion", "prod-sentiment-analysis", "prod-sentiment-dashboard"} {
		f, _ := e.sb.AWS.Function(fn)
		if f.Tags["model_version"] != st.PreviousSHA || len(f.Published) == 0 {
			t.Errorf("%s: runs %q with %d published versions, want %s and a new version", fn, f.Tags["model_version"], len(f.Published), st.PreviousSHA[:7])
		}
	}
}

func TestVerificationFailingFailsTheJob(t *testing.T) {
	e, st := mustStartStaged(t, "canary-fail")
	needTerraform(t, e)
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed")
	e.sb.Faults.Set("health:prod", fault.Rule{Err: &fault.Error{Status: 502, Code: "BadGateway", Message: "bad gateway"}})
	e.press(alert, userAlice, "action:rollback")
	req := e.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	e.press(req, userBob, "approve:request")
	e.threadMessage(alert, ":white_check_mark: terraform apply")
	e.threadMessage(alert, ":x: Verify", "health endpoint answered 502")
	note := e.threadMessage(alert, "failed at step 3 (Verify", "[ Retry")
	if strings.Contains(slackfake.Render(note), "Force Lambda update") {
		t.Error("a verification failure offered Force Lambda update (Terraform did not fail)")
	}
}

func TestSelfServiceRunsWithoutApproval(t *testing.T) {
	e, st := mustStartStaged(t, "dev-tests-fail")
	e.deliver(st)
	alert, _ := e.waitAlert("Checks failed on PR")
	got := e.press(alert, userCarol, "action:rerun-failed")
	wantContains(t, got, "without approval (self-service)")
	e.threadMessage(alert, ":white_check_mark: Re-run the failed jobs of run")
	if n := e.sb.GitHub.Calls("RerunFailed"); n != 1 {
		t.Errorf("GitHub re-run calls: got %d, want 1", n)
	}
}

// TestActions runs the other actions end to end: each one's success, and a failure.
func TestActions(t *testing.T) {
	tests := []struct {
		name, caseName, header, action string
		form                           map[string]string
		fault                          string
		want                           string
		check                          func(t *testing.T, e *e2e)
		selfService                    bool // runs on the click, without a request
		terraform                      bool // needs the real Terraform
	}{
		{name: "re-run", caseName: "preprod-deploy-fail", header: "Preprod deployment failed", action: "action:rerun", selfService: true,
			want: ":white_check_mark: Re-run run", check: func(t *testing.T, e *e2e) {
				if n := e.sb.GitHub.Calls("Rerun"); n != 1 {
					t.Errorf("re-run calls: got %d, want 1", n)
				}
			}},
		{name: "re-run fails", caseName: "preprod-deploy-fail", header: "Preprod deployment failed", action: "action:rerun", selfService: true,
			fault: "github:Rerun", want: ":x: Re-run run", check: func(t *testing.T, e *e2e) {
				for _, a := range e.alerts() {
					for _, m := range e.sb.Slack.Thread(sandboxChannel, a.TS) {
						if strings.Contains(m.Text, "GitHub queued run") {
							t.Errorf("a failed re-run reads as queued: %q", m.Text)
						}
					}
				}
			}},
		{name: "re-run of a stuck run", caseName: "workflow-stuck", header: "Workflow stuck", action: "action:rerun", selfService: true,
			want: "GitHub re-runs only a finished run. Cancel it first."},
		{name: "re-run failed jobs fails", caseName: "dev-tests-fail", header: "Checks failed on PR", action: "action:rerun-failed", selfService: true,
			fault: "github:RerunFailed", want: ":x: Re-run the failed jobs of run"},
		{name: "terraform plan", caseName: "preprod-deploy-fail", header: "Preprod deployment failed", action: "action:tf-plan", selfService: true, terraform: true,
			want: ":white_check_mark: terraform plan"},
		{name: "terraform plan fails", caseName: "preprod-deploy-fail", header: "Preprod deployment failed", action: "action:tf-plan", selfService: true, terraform: true,
			fault: "tfstate:GET", want: "preview failed"},
		{name: "destroy and recreate", caseName: "preprod-deploy-fail", header: "Preprod deployment failed", action: "action:destroy-recreate", terraform: true,
			form: map[string]string{recovery.FormReason: "state and resources diverged", recovery.FormConfirmEnv: "preprod"},
			want: ":white_check_mark: Re-run build-and-promote.yml on main", check: func(t *testing.T, e *e2e) {
				if n := e.sb.GitHub.Calls("DispatchWorkflow"); n != 1 {
					t.Errorf("workflow dispatches: got %d, want 1", n)
				}
				if rs, _ := e.sb.TFState.Resources("preprod"); len(rs) != 0 {
					t.Errorf("preprod's state still has %d resources after the destroy", len(rs))
				}
			}},
		{name: "destroy and recreate fails", caseName: "preprod-deploy-fail", header: "Preprod deployment failed", action: "action:destroy-recreate", terraform: true,
			form:  map[string]string{recovery.FormReason: "state and resources diverged", recovery.FormConfirmEnv: "preprod"},
			fault: "github:DispatchWorkflow", want: ":x: Re-run build-and-promote.yml on main"},
		{name: "emergency rollback", caseName: "rollback-fail", header: "rollback failed", action: "action:emergency-rollback", terraform: true,
			form: map[string]string{}, want: ":white_check_mark: terraform apply", check: func(t *testing.T, e *e2e) {
				if v := deployedVersion(t, e, "prod"); v == "" {
					t.Error("prod's state names no deployed version after the emergency rollback")
				}
			}},
		{name: "emergency rollback fails", caseName: "rollback-fail", header: "rollback failed", action: "action:emergency-rollback", terraform: true,
			form: map[string]string{}, fault: "tfstate:POST", want: "failed at step 2 (terraform apply of the approved plan"},
		{name: "cancel stuck run", caseName: "workflow-stuck", header: "Workflow stuck", action: "action:cancel-run",
			want: ":white_check_mark: Cancel run", check: func(t *testing.T, e *e2e) {
				if n := e.sb.GitHub.Calls("CancelRun"); n != 1 {
					t.Errorf("cancel calls: got %d", n)
				}
			}},
		{name: "cancel fails", caseName: "workflow-stuck", header: "Workflow stuck", action: "action:cancel-run",
			fault: "github:CancelRun", want: ":x: Cancel run"},
		{name: "revert the tip", caseName: "preprod-deploy-fail", header: "Preprod deployment failed", action: "action:revert",
			want: "Pushed revert commit", check: func(t *testing.T, e *e2e) {
				if n := e.sb.GitHub.Calls("UpdateRef"); n != 1 {
					t.Errorf("ref updates: got %d, want 1", n)
				}
			}},
		{name: "revert fails", caseName: "preprod-deploy-fail", header: "Preprod deployment failed", action: "action:revert",
			fault: "github:CreateGitCommit", want: ":x: Revert"},
		{name: "set alarm OK", caseName: "alarm-wont-clear", header: "Alarm won't clear", action: "action:set-alarm-ok",
			form: map[string]string{recovery.FormReason: "fix verified by hand"}, want: ":white_check_mark: Set prod-analysis-errors to OK",
			check: func(t *testing.T, e *e2e) {
				if a, _ := e.sb.AWS.Alarm("prod-analysis-errors"); a.State != "OK" || !strings.Contains(a.Reason, "fix verified by hand") {
					t.Errorf("alarm: got %s (%s)", a.State, a.Reason)
				}
			}},
		{name: "set alarm OK fails", caseName: "alarm-wont-clear", header: "Alarm won't clear", action: "action:set-alarm-ok",
			form: map[string]string{recovery.FormReason: "fix verified"}, fault: "cloudwatch:SetAlarmState", want: ":x: Set prod-analysis-errors to OK"},
		{name: "clean test data", caseName: "preprod-tests-fail", header: "Preprod integration tests failed", action: "action:clean-test-data",
			form: map[string]string{recovery.FormReason: "polluted by a failed run"}, want: "items deleted from preprod-sentiment-items"},
		{name: "clean test data fails", caseName: "preprod-tests-fail", header: "Preprod integration tests failed", action: "action:clean-test-data",
			form: map[string]string{recovery.FormReason: "polluted"}, fault: "dynamodb:Scan", want: ":x: Delete the items of preprod-sentiment-items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, st := mustStartStaged(t, tt.caseName)
			if tt.terraform {
				needTerraform(t, e)
			}
			if len(st.Deliveries) > 0 {
				e.deliver(st)
			}
			e.pollOnce() // stuck runs and alarms are seen by the pollers only
			alert, _ := e.waitAlert(tt.header)
			injectFault := func() {
				if tt.fault != "" {
					e.sb.Faults.Set(tt.fault, fault.Rule{Err: &fault.Error{Status: 500, Code: "InternalError", Message: "injected"}})
				}
			}
			if tt.selfService {
				injectFault()
				wantContains(t, e.press(alert, userCarol, tt.action), "without approval (self-service)")
				e.threadMessage(alert, tt.want)
				if tt.check != nil {
					tt.check(t, e)
				}
				return
			}
			if tt.form != nil {
				e.openForm(alert, userAlice, tt.action)
				if ack := e.submitForm(userAlice, tt.form); len(ack.Payload) != 0 {
					t.Fatalf("form refused: %s", ack.Payload)
				}
			} else {
				e.press(alert, userAlice, tt.action)
			}
			req := e.threadMessage(alert, "requests *", "[ Approve")
			injectFault()
			wantContains(t, e.press(req, userBob, "approve:request"), "You approved")
			e.threadMessage(alert, tt.want)
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

// pollOnce runs medic's pollers once, for cases no webhook reports.
func (e *e2e) pollOnce() {
	e.t.Helper()
	ctx := mustCtx(e.t)
	if err := e.app.runPoller.Poll(ctx); err != nil {
		e.t.Logf("run poll: %v", err)
	}
	if err := e.app.alarmPoller.Poll(ctx); err != nil {
		e.t.Logf("alarm poll: %v", err)
	}
}

// TestFormsOpenForRespondersOnly: mallory, who has no role, clicking a button whose
// action asks questions first is refused at the click, and no form opens; alice's form
// names the environment it acts on (the button carries only the incident).
func TestFormsOpenForRespondersOnly(t *testing.T) {
	e, st := mustStartStaged(t, "rollback-fail")
	e.deliver(st)
	alert, incident := e.alertOf("rollback failed")
	for _, action := range []string{"action:emergency-rollback", "action:force-lambda-update"} {
		wantContains(t, e.press(alert, userMallory, action), "You need the *responder* role for prod to request", "Nothing was done")
	}
	for _, v := range e.sb.Slack.Views() {
		if v.User == userMallory {
			t.Errorf("a form opened for mallory: %s", v.Title)
		}
	}
	wantContains(t, e.audit(incident), "U0MALLORY:request.refused")

	e.openForm(alert, userAlice, "action:emergency-rollback")
	var form slackfake.View
	for _, v := range e.sb.Slack.Views() {
		if v.User == userAlice {
			form = v
		}
	}
	wantContains(t, string(form.Blocks), `*Emergency Terraform rollback* on *prod*`)
	wantContains(t, form.PrivateMetadata, "env=prod")
}

// TestPlannedRollbackReadsTheRunningVersionAnew: a /status prod reads prod's functions
// running g3; a second later g4's deploy has finished and they run g4. A /rollback prod
// then (within status.freshness) rolls back to g3, the version before the running one:
// its target is chosen from the functions read anew, never from the shared read /status
// made.
func TestPlannedRollbackReadsTheRunningVersionAnew(t *testing.T) {
	var good []string
	var tag string
	e := mustStart(t, withEnv("prod", func(env *sandbox.Env) {
		env.GoodDeploys = append(env.GoodDeploys, fakeSHA("prod", 4))
		good = env.GoodDeploys
		env.Version = good[len(good)-2] // g3 runs; g4's deploy is about to land
		tag = env.VersionTag
	}))
	g3, g4 := good[len(good)-2], good[len(good)-1]
	e.command(userAlice, sandboxChannel, "/status", "prod")
	e.waitMessage("prod status", statusOf("prod"))
	for _, name := range e.cfg.Environments["prod"].Lambda.Functions {
		f, ok := e.sb.AWS.Function(name)
		if !ok || tag == "" {
			t.Fatalf("prod's function %s (version tag %q) not in the sandbox", name, tag)
		}
		f.Tags[tag] = g4
		e.sb.AWS.PutFunction(f)
	}
	e.command(userAlice, sandboxChannel, "/rollback", "prod")
	_, text := e.waitMessage("prod's rollback request", func(m slackfake.Message) bool {
		return !m.Ephemeral && strings.Contains(slackfake.Render(m), "requests *Roll back to last good* on *prod*")
	})
	if !strings.Contains(text, g3[:7]) || strings.Contains(text, g4[:7]) {
		t.Fatalf("a planned rollback with g4 running: want the target g3 (%s), not g4 (%s):\n%s", g3[:7], g4[:7], text)
	}
}
