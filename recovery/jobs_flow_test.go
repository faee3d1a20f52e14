package recovery_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// The flows of recovery jobs: one job per request and per environment, each action's
// steps and what they call, the notes in the thread, cancel and retry, the lease
// renewed on the clock's ticks, jobs of a dead replica, the drain at shutdown and the
// verification's watch.

// jobLease is the harness's ActionDeps.JobLease.
const jobLease = 30 * time.Second

// holdApply makes the harness's Terraform applies wait on a gate: a rollback job stops
// in its apply step until the gate is released (or its context ends).
func holdApply(t *testing.T, h *recoverytest.Harness) *recoverytest.Gate {
	gate := recoverytest.NewGate(t)
	h.Terraform.ApplyPlanFunc = func(ctx context.Context, _ recovery.Environment, _ string, _ []byte) error { return gate.Hold(ctx) }
	return gate
}

// jobTexts returns the notes of a job's thread from its start note on.
func jobTexts(h *recoverytest.Harness, job recovery.Job) []string {
	var out []string
	for _, n := range h.Publisher.Thread(job.Channel, job.ThreadTS) {
		s := recoverytest.Plain(n)
		if len(out) > 0 || strings.HasPrefix(s, ":gear: Job "+job.ID+" started") {
			out = append(out, s)
		}
	}
	return out
}

// jobNote returns the last note of a job's thread containing s.
func jobNote(t *testing.T, h *recoverytest.Harness, job recovery.Job, s string) recovery.Note {
	t.Helper()
	notes := h.Publisher.Thread(job.Channel, job.ThreadTS)
	for i := len(notes) - 1; i >= 0; i-- {
		if strings.Contains(recoverytest.Plain(notes[i]), s) {
			return notes[i]
		}
	}
	t.Fatalf("thread of job %s: got %q, want a note saying %q", job.ID, jobTexts(h, job), s)
	return recovery.Note{}
}

func TestApprovingTwiceStartsOneJob(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})

	// Two approvers click at the same moment.
	replies := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, who := range []string{approver, admin} {
		wg.Go(func() { replies[i], errs[i] = h.Approve(t, r.ID, who) })
	}
	wg.Wait()
	stored, err := h.Store.Request(t.Context(), r.ID)
	if err != nil || stored.JobID == "" {
		t.Fatalf("request %s: no job (%v)", r.ID, err)
	}
	started := fmt.Sprintf("You approved %s: Roll back to last good runs as job %s; it reports in the thread.", r.ID, stored.JobID)
	already := fmt.Sprintf("%s was already approved by <@%s>.", r.ID, stored.DecidedBy)
	if errs[0] != nil || errs[1] != nil || !slices.Contains(replies, started) || !slices.Contains(replies, already) {
		t.Fatalf("replies: got %q (%v), want %q and %q", replies, errs, started, already)
	}
	job := h.WaitJob(t, stored.JobID)
	if job.State != recovery.JobSucceeded {
		t.Fatalf("job: got %s (%s), want succeeded", job.State, job.Error)
	}
	// A third click, after the job ended.
	reply, err := h.Approve(t, r.ID, approver)
	if reply != already || err != nil {
		t.Fatalf("approving again: got %q, %v; want %q", reply, err, already)
	}
	if got := auditOf(t, h, in.ID, "job.created"); len(got) != 1 {
		t.Fatalf("audit job.created: got %d, want 1", len(got))
	}
	if got := h.Terraform.Count("ApplyPlan"); got != 1 {
		t.Fatalf("applies: got %d, want 1", got)
	}
}

// One recovery job per environment: while a job runs on prod, another action there is
// refused before any request, naming the job, and audited; other environments are
// free, and prod is free again once the job ended.
func TestEnvironmentBusyRefusesASecondAction(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)

	before := len(h.Publisher.Requests())
	_, reply, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActEmergencyRollback, User: requester})
	want := fmt.Sprintf("prod is busy with job %s; one recovery job per environment at a time. Cancel it or wait for it to end.", job.ID)
	if got := recoverytest.UserMessage(err); got != want || reply != "" {
		t.Fatalf("a second action on prod: got %q, %q (%v); want %q", reply, got, err, want)
	}
	if got := len(h.Publisher.Requests()); got != before {
		t.Fatalf("request messages: got %d, want still %d", got, before)
	}
	refused := auditOf(t, h, in.ID, "request.refused")
	if len(refused) != 1 || refused[0].Detail["why"] != "environment busy" || refused[0].Detail["job"] != job.ID || refused[0].Actor != requester {
		t.Fatalf("audit request.refused: got %+v, want one by %s, environment busy with %s", refused, requester, job.ID)
	}

	preprod := h.FailJob(t, recovery.JobDeployPreprod)
	mustRequest(t, h, recovery.ActionRequest{IncidentID: preprod.ID, Action: recovery.ActRerun, User: requester})

	gate.Release()
	if got := h.WaitJob(t, job.ID); got.State != recovery.JobSucceeded {
		t.Fatalf("job: got %s, want succeeded", got.State)
	}
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActEmergencyRollback, User: requester})
	if r.State != recovery.RequestPending {
		t.Fatalf("a second action once the job ended: got %s, want pending", r.State)
	}
}

// Two requests approved while the environment was free: the second job does not start
// while the first holds the environment, and says so.
func TestSecondJobOnABusyEnvironmentDoesNotStart(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	first := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	second := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActEmergencyRollback, User: requester})
	job := mustApprove(t, h, first.ID, approver)
	gate.WaitHeld(t, 1)

	_, err := h.Approve(t, second.ID, approver)
	msg := recoverytest.UserMessage(err)
	m := regexp.MustCompile(`^Job (JOB-\w+) did not start: (.*)\. One recovery job per environment at a time\.$`).FindStringSubmatch(msg)
	if m == nil || !strings.Contains(m[2], "prod is busy with job "+job.ID) {
		t.Fatalf("approving the second: got %q (%v), want its job not started, prod busy with %s", msg, err, job.ID)
	}
	other := h.Job(t, m[1])
	if other.State != recovery.JobCancelled || other.Error != m[2] {
		t.Fatalf("the job that did not start: got %s (%q), want cancelled (%q)", other.State, other.Error, m[2])
	}
	jobNote(t, h, job, ":no_entry: Job "+other.ID+" did not start: "+m[2]+".")
	gate.Release()
	if got := h.WaitJob(t, job.ID); got.State != recovery.JobSucceeded || h.Terraform.Count("ApplyPlan") != 1 {
		t.Fatalf("first job: got %s with %d applies, want succeeded with 1", got.State, h.Terraform.Count("ApplyPlan"))
	}
	// Past its lease, the job that never started is not taken for one that ran.
	h.Advance(jobLease + time.Second)
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := h.Job(t, other.ID); got.State != recovery.JobCancelled {
		t.Fatalf("the job that did not start after a recovery round: got %s, want still cancelled", got.State)
	}
	if texts := h.Publisher.Texts(in.ID); hasText(texts, "medic stopped while job "+other.ID) {
		t.Fatalf("thread: got %q, want no note of %s interrupted", texts, other.ID)
	}
}

// A job's steps run in order, each told in the thread before and after it runs, and
// shown on the alert while it runs; the audit has each step.
func TestJobStepsAndTheirNotes(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)

	plan := job.PlanSHA256
	apply := "terraform apply of the approved plan (sha256 " + plan[:12] + ")"
	a := h.Publisher.WaitAlerts(t, 1)[0]
	if a.RecoveryJob != job.ID || a.RecoveryState != recovery.JobRunning || a.RecoveryStep != "step 2/3 "+apply {
		t.Fatalf("alert while applying: got job %q %s at %q, want %s running at %q", a.RecoveryJob, a.RecoveryState, a.RecoveryStep, job.ID, "step 2/3 "+apply)
	}
	running := h.Job(t, job.ID)
	if running.State != recovery.JobRunning || running.Current != 1 || running.Steps[0].State != recovery.StepSucceeded || running.Steps[1].State != recovery.StepRunning {
		t.Fatalf("stored job while applying: got %s at step %d, steps %+v", running.State, running.Current, running.Steps)
	}
	h.Advance(45 * time.Second) // the apply takes 45 s
	gate.Release()
	job = h.WaitJob(t, job.ID)

	want := []string{
		fmt.Sprintf(":gear: Job %s started: Roll back to last good on prod (3 steps), approved by %s.", job.ID, approver),
		":arrow_forward: Step 1/3: Fetch the Terraform sources at a1b2c3d and terraform init (prod)",
		":white_check_mark: Fetch the Terraform sources at a1b2c3d and terraform init (prod) (0s)",
		":arrow_forward: Step 2/3: " + apply,
		":white_check_mark: " + apply + " (45s)\nApplied the approved plan (sha256 " + plan[:16] + "), nothing else.",
		":arrow_forward: Step 3/3: Verify: health endpoint 200 and no alarm in ALARM",
		":white_check_mark: Verify: health endpoint 200 and no alarm in ALARM (0s)\n:white_check_mark: health endpoint 200; no alarm in ALARM",
		fmt.Sprintf(":white_check_mark: Job %s (Roll back to last good on prod) succeeded.", job.ID),
	}
	if got := jobTexts(h, job); !slices.Equal(got, want) {
		t.Fatalf("job thread:\n got %q\nwant %q", got, want)
	}
	var steps []string
	for _, e := range auditOf(t, h, in.ID, "job.step") {
		steps = append(steps, e.Detail["step"]+" "+e.Detail["state"]+" mutating="+e.Detail["mutating"])
	}
	if want := []string{
		"Fetch the Terraform sources at a1b2c3d and terraform init (prod) succeeded mutating=false",
		apply + " succeeded mutating=true",
		"Verify: health endpoint 200 and no alarm in ALARM succeeded mutating=false",
	}; !slices.Equal(steps, want) {
		t.Fatalf("audit job.step: got %q, want %q", steps, want)
	}
	if got := job.Steps[1]; got.State != recovery.StepSucceeded || !got.Started.Equal(recoverytest.Start) || !got.Ended.Equal(recoverytest.Start.Add(45*time.Second)) {
		t.Fatalf("apply step: got %s from %v to %v, want succeeded from %v to 45 s later", got.State, got.Started, got.Ended, recoverytest.Start)
	}
	// A rollback that succeeded fixed the incident; the alert then shows the world
	// after it.
	if got := h.Incident(t, in.ID); !got.FixedAt.Equal(h.Clock.Now()) {
		t.Fatalf("incident after the rollback: got fixed at %v, want %v", got.FixedAt, h.Clock.Now())
	}
	h.Publisher.Wait(t, "alert refreshed after the rollback", func() bool {
		a, _ := h.Publisher.Alert(in.ID)
		return a.GatheredAt.Equal(h.Clock.Now())
	})
	if got := auditOf(t, h, in.ID, "job.succeeded"); len(got) != 1 || got[0].JobID != job.ID {
		t.Fatalf("audit job.succeeded: got %+v, want one of %s", got, job.ID)
	}
	if holder, err := h.Store.EnvLock(t.Context(), "prod"); holder != "" || err != nil {
		t.Fatalf("prod's job slot after the job: got %q, %v; want free", holder, err)
	}
}

// Each action's steps, their outputs and the calls they make on GitHub, AWS and
// Terraform.
func TestEachActionsStepsAndCalls(t *testing.T) {
	good, bad := recoverytest.GoodSHA, recoverytest.BadSHA
	// mutating lists the calls that change something (and Terraform's plans), per
	// fake: GitHub's, then AWS's, then Terraform's (the steps pin their order).
	mutating := func(h *recoverytest.Harness) []string {
		var out []string
		for _, c := range h.GitHub.Calls() {
			switch c.Method {
			case "RerunFailedJobs", "RerunRun", "CancelRun", "DispatchWorkflow", "Revert":
				out = append(out, "github."+c.String())
			}
		}
		for _, c := range h.AWS.Calls() {
			switch c.Method {
			case "SetAlarmOK", "UpdateCode", "WaitUpdated", "DeleteAllItems":
				out = append(out, "aws."+c.String())
			}
		}
		for _, c := range h.Terraform.Calls() {
			switch c.Method {
			case "ApplyPlan":
				out = append(out, fmt.Sprintf("terraform.ApplyPlan[%v %v %s]", c.Args[0], c.Args[1], c.Args[2]))
			case "ForceUnlock", "Plan":
				out = append(out, "terraform."+c.String())
			}
		}
		return out
	}
	lockID := "6f1c3d2e-0b7a-4c1e-9d2f-5a6b7c8d9e0f"
	for _, tc := range []struct {
		name   string
		job    string
		action recovery.ActionID
		params recovery.RequestParams
		setup  func(h *recoverytest.Harness)
		steps  [][2]string
		calls  func(runID int64) []string
	}{
		{name: "re-run failed jobs", job: recovery.JobTestsDev, action: recovery.ActRerunFailed,
			steps: [][2]string{{"Re-run the failed jobs of run {run}", "GitHub queued the failed jobs of run {run} again."}},
			calls: func(id int64) []string { return []string{fmt.Sprintf("github.RerunFailedJobs[%d]", id)} }},
		{name: "re-run", job: recovery.JobDeployPreprod, action: recovery.ActRerun,
			steps: [][2]string{{"Re-run run {run}", "GitHub queued run {run} again."}},
			calls: func(id int64) []string { return []string{fmt.Sprintf("github.RerunRun[%d]", id)} }},
		{name: "cancel run", job: recovery.JobTestsDev, action: recovery.ActCancelRun,
			steps: [][2]string{{"Cancel run {run}", "GitHub is cancelling run {run}."}},
			calls: func(id int64) []string { return []string{fmt.Sprintf("github.CancelRun[%d]", id)} }},
		{name: "revert at the tip", job: recovery.JobDeployPreprod, action: recovery.ActRevert,
			steps: [][2]string{{"Revert badc0ff on main", "Pushed revert commit eeeeeee to main (no force); the pipeline runs again from it."}},
			calls: func(int64) []string { return []string{"github.Revert[" + bad + " main]"} }},
		{name: "revert behind the tip", job: recovery.JobDeployPreprod, action: recovery.ActRevert,
			setup: func(h *recoverytest.Harness) {
				h.GitHub.RevertFunc = func(context.Context, string, string) (recovery.RevertResult, error) {
					return recovery.RevertResult{Method: "pull-request", PullRequest: 7, URL: "https://github.test/pull/7"}, nil
				}
			},
			steps: [][2]string{{"Revert badc0ff on main", "badc0ff is not the tip of main: opened revert pull request #7 https://github.test/pull/7"}},
			calls: func(int64) []string { return []string{"github.Revert[" + bad + " main]"} }},
		{name: "terraform plan", job: recovery.JobDeployPreprod, action: recovery.ActTerraformPlan,
			steps: [][2]string{
				{"Fetch the Terraform sources at badc0ff and terraform init (preprod)", ""},
				{"terraform plan", "Plan: 0 to add, 1 to change, 0 to destroy.\n~ aws_lambda_function.analysis"},
			},
			calls: func(int64) []string {
				return []string{"terraform.Plan[preprod " + bad + " {false true}]", "terraform.Plan[preprod " + bad + " {false false}]"}
			}},
		{name: "emergency rollback", job: recovery.JobDeployProd, action: recovery.ActEmergencyRollback,
			steps: [][2]string{
				{"Fetch the Terraform sources at a1b2c3d and terraform init (prod)", ""},
				{"terraform apply of the approved plan (sha256 {plan12})", "Applied the approved plan (sha256 {plan16}), nothing else."},
				{"Verify: health endpoint 200 and no alarm in ALARM", ":white_check_mark: health endpoint 200; no alarm in ALARM"},
			},
			calls: func(int64) []string {
				return []string{"terraform.Plan[prod " + good + " {false true}]", "terraform.ApplyPlan[prod " + good + " plan #1 of prod at " + good + " (destroy false)]"}
			}},
		{name: "force-unlock", job: recovery.JobDeployPreprod, action: recovery.ActForceUnlock, params: recovery.RequestParams{LockID: lockID, Reason: "the holder is gone"},
			steps: [][2]string{
				{"Fetch the Terraform sources at badc0ff and terraform init (preprod)", ""},
				{"terraform force-unlock " + lockID, "Lock " + lockID + " removed. Terraform runs of preprod can take the state again."},
			},
			calls: func(int64) []string { return []string{"terraform.ForceUnlock[preprod " + bad + " " + lockID + "]"} }},
		{name: "destroy and recreate", job: recovery.JobDeployPreprod, action: recovery.ActDestroyRecreate, params: recovery.RequestParams{Reason: "state is wedged"},
			steps: [][2]string{
				// Without an incident's version, the last good one before what runs now.
				{"Fetch the Terraform sources at 0f1e2d3 and terraform init (preprod)", ""},
				{"terraform apply of the approved plan (sha256 {plan12})", "Applied the approved plan (sha256 {plan16}), nothing else."},
				{"Re-run build-and-promote.yml on main", "build-and-promote.yml dispatched on main: it redeploys preprod."},
			},
			calls: func(int64) []string {
				older := recoverytest.OlderSHA
				return []string{"github.DispatchWorkflow[build-and-promote.yml main map[]]",
					"terraform.Plan[preprod " + older + " {true true}]", "terraform.ApplyPlan[preprod " + older + " plan #1 of preprod at " + older + " (destroy true)]"}
			}},
		{name: "force Lambda update", job: recovery.JobDeployProd, action: recovery.ActForceLambdaUpdate, params: recovery.RequestParams{Reason: "terraform is broken"},
			steps: [][2]string{
				{"Update prod-sentiment-ingestion from s3://prod-sentiment-lambda-deployments/ingestion/lambda-" + good + ".zip", "prod-sentiment-ingestion: update started, version 2 published."},
				{"Wait for prod-sentiment-ingestion to finish updating", "prod-sentiment-ingestion: Active, update Successful, code YXJ0aWZhY3Qtc2h…"},
				{"Update prod-sentiment-analysis from s3://prod-sentiment-lambda-deployments/analysis/lambda-" + good + ".zip", "prod-sentiment-analysis: update started, version 2 published."},
				{"Wait for prod-sentiment-analysis to finish updating", "prod-sentiment-analysis: Active, update Successful, code YXJ0aWZhY3Qtc2h…"},
				{"Update prod-sentiment-dashboard from s3://prod-sentiment-lambda-deployments/dashboard/lambda-" + good + ".zip", "prod-sentiment-dashboard: update started, version 2 published."},
				{"Wait for prod-sentiment-dashboard to finish updating", "prod-sentiment-dashboard: Active, update Successful, code YXJ0aWZhY3Qtc2h…"},
				{"Verify: health endpoint 200 and no alarm in ALARM", ":white_check_mark: health endpoint 200; no alarm in ALARM"},
			},
			calls: func(int64) []string {
				var out []string
				for _, fn := range []string{"ingestion", "analysis", "dashboard"} {
					out = append(out, "aws.UpdateCode[prod prod-sentiment-"+fn+" prod-sentiment-lambda-deployments "+fn+"/lambda-"+good+".zip]",
						"aws.WaitUpdated[prod prod-sentiment-"+fn+"]")
				}
				return out
			}},
		{name: "set alarm OK", job: recovery.JobDeployProd, action: recovery.ActSetAlarmOK, params: recovery.RequestParams{Alarm: "prod-dashboard-errors", Reason: "fixed upstream"},
			steps: [][2]string{{"Set prod-dashboard-errors to OK", "prod-dashboard-errors set to OK: fixed upstream. CloudWatch re-evaluates it at the next period."}},
			calls: func(int64) []string { return []string{"aws.SetAlarmOK[prod prod-dashboard-errors fixed upstream]"} }},
		{name: "clean test data", job: recovery.JobPreprodTests, action: recovery.ActCleanTestData, params: recovery.RequestParams{Reason: "leftovers"},
			setup: func(h *recoverytest.Harness) { h.AWS.SetItems("preprod-sentiment-items", 42) },
			steps: [][2]string{{"Delete the items of preprod-sentiment-items (by key)", "42 items deleted from preprod-sentiment-items."}},
			calls: func(int64) []string { return []string{"aws.DeleteAllItems[preprod preprod-sentiment-items]"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := recoverytest.New(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			in := h.FailJob(t, tc.job)
			r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: tc.action, User: requester, Params: tc.params})
			if r.State == recovery.RequestPending {
				mustApprove(t, h, r.ID, approver)
			}
			r = h.Publisher.WaitRequest(t, "with its job", func(x recovery.Request) bool { return x.ID == r.ID && x.JobID != "" })
			job := h.WaitJob(t, r.JobID)
			if job.State != recovery.JobSucceeded {
				t.Fatalf("job: got %s (%s), want succeeded", job.State, job.Error)
			}
			plan := r.Preview.PlanSHA256 + strings.Repeat("-", 16)
			fill := strings.NewReplacer("{run}", fmt.Sprint(in.RunID), "{plan12}", plan[:12], "{plan16}", plan[:16])
			var got, want []string
			for _, s := range job.Steps {
				got = append(got, s.Name+" → "+s.Output)
			}
			for _, s := range tc.steps {
				want = append(want, fill.Replace(s[0])+" → "+fill.Replace(s[1]))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("steps:\n got %q\nwant %q", got, want)
			}
			if got, want := mutating(h), tc.calls(in.RunID); !slices.Equal(got, want) {
				t.Fatalf("calls:\n got %q\nwant %q", got, want)
			}
			// Each workspace is removed (the job's once its end is told).
			h.Terraform.WaitCalls(t, "Close", h.Terraform.Count("Workspace"))
		})
	}
}

// waitStored waits (real time) until the stored job satisfies cond.
func waitStored(t *testing.T, h *recoverytest.Harness, id, what string, cond func(recovery.Job) bool) recovery.Job {
	t.Helper()
	deadline := time.Now().Add(recoverytest.WaitTimeout)
	for {
		j := h.Job(t, id)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: got %s (lease until %v), want %s within %s", id, j.State, j.LeaseUntil, what, recoverytest.WaitTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitLease waits until the running job's lease renewal made its ticker (in its own
// goroutine), so that Advance reaches it.
func waitLease(t *testing.T, h *recoverytest.Harness, n int) {
	t.Helper()
	if !h.Clock.WaitTickers(n, recoverytest.WaitTimeout) {
		t.Fatalf("tickers: got %v, want %d (a running job's lease renewal)", h.Clock.Tickers(), n)
	}
}

// buttonsOf lists a note's buttons as "Label ID Value Style".
func buttonsOf(n recovery.Note) []string {
	var out []string
	for _, b := range n.Buttons {
		out = append(out, strings.TrimSpace(strings.Join([]string{b.Label, b.ID, b.Value, b.Style}, " ")))
	}
	return out
}

func retryButton(jobID string) string {
	return "Retry " + recovery.JobRetryID() + " " + jobID
}

// Cancel stops the running step (its context is cancelled) and ends the job
// cancelled at that step; the environment is free again.
func TestCancelStopsTheRunningStep(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)

	_, err := h.CancelJob(t, job.ID, outsider)
	if got, want := recoverytest.UserMessage(err), "You need the *responder* role for prod to cancel a job."; got != want {
		t.Fatalf("cancelling as %s: got %q (%v), want %q", outsider, got, err, want)
	}
	if got := auditOf(t, h, in.ID, "job.cancel.refused"); len(got) != 1 || got[0].Actor != outsider || got[0].JobID != job.ID {
		t.Fatalf("audit job.cancel.refused: got %+v, want one by %s of %s", got, outsider, job.ID)
	}
	if got := h.Job(t, job.ID); got.State != recovery.JobRunning || got.CancelRequestedBy != "" {
		t.Fatalf("job after the refused cancel: got %s, cancel asked by %q; want running, none", got.State, got.CancelRequestedBy)
	}

	reply, err := h.CancelJob(t, job.ID, requester)
	if want := "Cancelling job " + job.ID + "."; reply != want || err != nil {
		t.Fatalf("cancelling: got %q, %v; want %q", reply, err, want)
	}
	if ended := gate.WaitEnded(t, 1); ended[0] == nil || ended[0].Error() != "cancelled by a person" {
		t.Fatalf("the apply's context: got %v, want cancelled by a person", ended[0])
	}
	job = h.WaitJob(t, job.ID)
	if job.State != recovery.JobCancelled || job.CancelRequestedBy != requester || job.Steps[1].State != recovery.StepCancelled || job.Steps[2].State != recovery.StepSkipped {
		t.Fatalf("job: got %s (cancel by %q), steps %s/%s; want cancelled by %s, apply cancelled, verify skipped",
			job.State, job.CancelRequestedBy, job.Steps[1].State, job.Steps[2].State, requester)
	}
	jobNote(t, h, job, requester+" asked to cancel job "+job.ID+".")
	end := jobNote(t, h, job, fmt.Sprintf(":stop_sign: Job %s (Roll back to last good on prod) was cancelled at step 2 (%s).", job.ID, job.Steps[1].Name))
	if len(end.Buttons) != 0 {
		t.Fatalf("buttons of a cancelled job's note: got %q, want none", buttonsOf(end))
	}
	if got := h.AuditActions(t, in.ID); !slices.Contains(got, "job.cancel.requested") || !slices.Contains(got, "job.cancelled") {
		t.Fatalf("audit: got %q, want job.cancel.requested and job.cancelled", got)
	}
	if holder, _ := h.Store.EnvLock(t.Context(), "prod"); holder != "" {
		t.Fatalf("prod's job slot after the cancel: got %q, want free", holder)
	}
	reply, err = h.CancelJob(t, job.ID, requester)
	if want := "Job " + job.ID + " is cancelled already."; reply != want || err != nil {
		t.Fatalf("cancelling again: got %q, %v; want %q", reply, err, want)
	}
}

// A cancel clicked on another replica reaches the job at its process's next lease
// renewal.
func TestCancelFromAnotherReplicaStopsTheJobAtTheNextRenewal(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	other, err := recovery.NewEngine(h.Deps) // a second replica over the same store
	if err != nil {
		t.Fatal(err)
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)

	waitLease(t, h, 1)
	if reply, err := other.CancelJob(t.Context(), job.ID, requester); err != nil || reply != "Cancelling job "+job.ID+"." {
		t.Fatalf("cancelling on the other replica: got %q, %v", reply, err)
	}
	h.Advance(jobLease/3 - time.Second) // no renewal yet
	if got := gate.Ended(); len(got) != 0 {
		t.Fatalf("apply before the next renewal: got ended with %v, want still running", got)
	}
	h.Advance(time.Second)
	if ended := gate.WaitEnded(t, 1); ended[0] == nil || ended[0].Error() != "cancelled by a person" {
		t.Fatalf("the apply's context at the renewal: got %v, want cancelled by a person", ended[0])
	}
	if job = h.WaitJob(t, job.ID); job.State != recovery.JobCancelled {
		t.Fatalf("job: got %s, want cancelled", job.State)
	}
}

// A failed job offers Retry, which asks for the same action again, through approval.
func TestRetryRequestsTheActionAgain(t *testing.T) {
	h := recoverytest.New(t)
	fail := true
	var mu sync.Mutex
	h.Terraform.ApplyPlanFunc = func(context.Context, recovery.Environment, string, []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("Error: updating Lambda function: ThrottlingException")
		}
		return nil
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.WaitJob(t, h.Approved(t, in.ID, recovery.ActRollback).ID)
	if job.State != recovery.JobFailed || job.Error != "Error: updating Lambda function: ThrottlingException" {
		t.Fatalf("job: got %s (%q), want failed with Terraform's error", job.State, job.Error)
	}
	end := jobNote(t, h, job, "Job "+job.ID+" (Roll back to last good on prod) failed at step 2")
	if got := buttonsOf(end); len(got) == 0 || got[0] != retryButton(job.ID) {
		t.Fatalf("buttons of the failed job's note: got %q, want %q first", got, retryButton(job.ID))
	}

	mu.Lock()
	fail = false
	mu.Unlock()
	before := len(h.Publisher.Requests())
	reply, err := h.RetryJob(t, job.ID, recoverytest.GroupMember)
	rs := h.Publisher.Requests()
	if err != nil || len(rs) != before+1 {
		t.Fatalf("retrying: got %q, %v and %d new requests; want one", reply, err, len(rs)-before)
	}
	r := h.WaitPreview(t, rs[before].ID)
	if want := "retry of " + job.ID + "."; r.Params.Reason != want || r.Params.SHA != job.Params.SHA || r.RequestedBy != recoverytest.GroupMember || !r.NeedsApproval || r.IncidentID != in.ID {
		t.Fatalf("retry request: got %+v by %s (needs approval %v), want reason %q, SHA %s, by %s, needing approval", r.Params, r.RequestedBy, r.NeedsApproval, want, job.Params.SHA, recoverytest.GroupMember)
	}
	if r.Preview.PlanSHA256 == "" || r.Preview.PlanSHA256 == job.PlanSHA256 {
		t.Fatalf("retry's plan: got %q, want a new preview's plan (not %q)", r.Preview.PlanSHA256, job.PlanSHA256)
	}
	again := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
	if again.State != recovery.JobSucceeded {
		t.Fatalf("retried job: got %s (%s), want succeeded", again.State, again.Error)
	}
}

func TestRetryOfARunningJobIsRefused(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	_, err := h.RetryJob(t, job.ID, requester)
	if got, want := recoverytest.UserMessage(err), "Job "+job.ID+" is still running."; got != want {
		t.Fatalf("retrying a running job: got %q (%v), want %q", got, err, want)
	}
}

// tfError is an error of Terraform with its long output.
type tfError struct{ msg, detail string }

func (e tfError) Error() string  { return e.msg }
func (e tfError) Detail() string { return e.detail }

// When Terraform fails a rollback, the runbook's next step is offered: a forced
// Lambda update to the same version, whose button asks for it. Not when Terraform
// refused a stale plan, nor for a failure before Terraform ran, nor for other actions.
func TestFailedRollbackOffersTheForcedLambdaUpdate(t *testing.T) {
	h := recoverytest.New(t)
	h.Terraform.ApplyPlanFunc = func(context.Context, recovery.Environment, string, []byte) error {
		return tfError{"Error: creating Lambda version: AccessDenied", "│ Error: creating Lambda version\n│ AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.WaitJob(t, h.Approved(t, in.ID, recovery.ActRollback).ID)
	apply := job.Steps[1].Name

	step := jobNote(t, h, job, ":x: "+apply+" failed after 0s: Error: creating Lambda version: AccessDenied")
	if step.Title != apply+": error" || !strings.HasPrefix(step.Detail, "│ Error: creating Lambda version") || strings.Contains(step.Detail, "wJalrXUtnFEMI") {
		t.Fatalf("the failed step's note: got title %q, detail %q; want Terraform's output, redacted", step.Title, step.Detail)
	}
	end := jobNote(t, h, job, "failed at step 2")
	want := fmt.Sprintf(":x: Job %s (Roll back to last good on prod) failed at step 2 (%s).\nTerraform failed: the runbook's next step is to update the Lambda functions directly to a1b2c3d.", job.ID, apply)
	if got := recoverytest.Plain(end); got != want {
		t.Fatalf("the job's end:\n got %q\nwant %q", got, want)
	}
	value := recovery.ButtonValue(in.ID, "prod", recovery.RequestParams{SHA: recoverytest.GoodSHA})
	if got, want := buttonsOf(end), []string{retryButton(job.ID), "Force Lambda update to a1b2c3d " + recovery.ButtonID(recovery.ActForceLambdaUpdate) + " " + value + " danger"}; !slices.Equal(got, want) {
		t.Fatalf("buttons: got %q, want %q", got, want)
	}

	// The button's value asks for the update of the incident's environment to that SHA.
	incident, env, p := recovery.ParseButtonValue(end.Buttons[1].Value)
	if incident != in.ID || env != "prod" || p.SHA != recoverytest.GoodSHA {
		t.Fatalf("button value: got %q %q %+v, want %s prod %s", incident, env, p, in.ID, recoverytest.GoodSHA)
	}
	p.Reason = "terraform cannot apply"
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: incident, Env: env, Action: recovery.ActForceLambdaUpdate, Params: p, User: requester})
	if r.Params.SHA != recoverytest.GoodSHA || r.Preview.Title != "Lambda code of prod → a1b2c3d" {
		t.Fatalf("forced update request: got SHA %s, preview %q; want %s, the Lambda code of prod", r.Params.SHA, r.Preview.Title, recoverytest.GoodSHA)
	}
}

func TestFailedJobsWithoutTheForcedLambdaUpdate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		job    string
		action recovery.ActionID
		params recovery.RequestParams
		setup  func(h *recoverytest.Harness)
		at     int
		extra  string
	}{
		{name: "stale plan", job: recovery.JobDeployProd, action: recovery.ActRollback, at: 2,
			setup: func(h *recoverytest.Harness) {
				h.Terraform.ApplyPlanFunc = func(context.Context, recovery.Environment, string, []byte) error {
					return fmt.Errorf("applying: %w", recovery.ErrStalePlan)
				}
			},
			extra: "\nNothing was applied: prod's state changed after the plan was approved. Retry makes a new preview, which needs a new approval."},
		{name: "sources not fetched", job: recovery.JobDeployProd, action: recovery.ActEmergencyRollback, at: 1,
			setup: func(h *recoverytest.Harness) {
				var n sync.Mutex
				calls := 0
				h.Terraform.WorkspaceFunc = func(context.Context, recovery.Environment, string) error {
					n.Lock()
					defer n.Unlock()
					if calls++; calls > 1 { // the preview's works, the job's does not
						return errors.New("terraform init: backend unreachable")
					}
					return nil
				}
			}},
		{name: "verification failed", job: recovery.JobDeployProd, action: recovery.ActRollback, at: 3,
			setup: func(h *recoverytest.Harness) { h.Health.SetStatus("prod", 503) }},
		{name: "destroy and recreate", job: recovery.JobDeployPreprod, action: recovery.ActDestroyRecreate, params: recovery.RequestParams{Reason: "wedged"}, at: 2,
			setup: func(h *recoverytest.Harness) {
				h.Terraform.ApplyPlanFunc = func(context.Context, recovery.Environment, string, []byte) error {
					return errors.New("Error: deleting S3 bucket: BucketNotEmpty")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := recoverytest.New(t)
			tc.setup(h)
			in := h.FailJob(t, tc.job)
			r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: tc.action, User: requester, Params: tc.params})
			job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
			if job.State != recovery.JobFailed || job.Current != tc.at-1 {
				t.Fatalf("job: got %s at step %d, want failed at step %d", job.State, job.Current+1, tc.at)
			}
			a, _ := recovery.ActionByID(tc.action)
			want := fmt.Sprintf(":x: Job %s (%s on %s) failed at step %d (%s).%s", job.ID, a.Label, job.Env, tc.at, job.Steps[tc.at-1].Name, tc.extra)
			end := jobNote(t, h, job, "failed at step")
			if got := recoverytest.Plain(end); got != want {
				t.Fatalf("the job's end:\n got %q\nwant %q", got, want)
			}
			if got := buttonsOf(end); !slices.Equal(got, []string{retryButton(job.ID)}) {
				t.Fatalf("buttons: got %q, want Retry only", got)
			}
			if got := h.Incident(t, in.ID); !got.FixedAt.IsZero() {
				t.Fatalf("incident after a failed job: got fixed at %v, want not fixed", got.FixedAt)
			}
		})
	}
}

// A step that fails after doing part of its work says how far it got.
func TestCleanTestDataSaysHowFarItGot(t *testing.T) {
	h := recoverytest.New(t)
	h.AWS.DeleteAllItemsFunc = func(context.Context, recovery.Environment, string) (int, error) {
		return 17, errors.New("ProvisionedThroughputExceededException")
	}
	in := h.FailJob(t, recovery.JobPreprodTests)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActCleanTestData, User: requester, Params: recovery.RequestParams{Reason: "leftovers"}})
	job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
	if job.State != recovery.JobFailed || job.Steps[0].Output != "17 items deleted before the error" || job.Steps[0].Error != "ProvisionedThroughputExceededException" {
		t.Fatalf("job: got %s, step %+v; want failed saying 17 items were deleted", job.State, job.Steps[0])
	}
	jobNote(t, h, job, ":x: Delete the items of preprod-sentiment-items (by key) failed after 0s: ProvisionedThroughputExceededException\n17 items deleted before the error")
}

// A long or many-line output goes in its note's detail, under the step's name.
func TestLongStepOutputIsShownAsDetail(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployPreprod)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActTerraformPlan, User: requester})
	shown := h.Publisher.WaitRequest(t, "with its job", func(x recovery.Request) bool { return x.ID == r.ID && x.JobID != "" })
	job := h.WaitJob(t, shown.JobID)
	n := jobNote(t, h, job, ":white_check_mark: terraform plan (0s)")
	if n.Title != "terraform plan" || n.Detail != "Plan: 0 to add, 1 to change, 0 to destroy.\n~ aws_lambda_function.analysis" || n.Text.Plain() != ":white_check_mark: terraform plan (0s)" {
		t.Fatalf("plan step's note: got %q / %q / %q, want the plan as its detail", n.Text.Plain(), n.Title, n.Detail)
	}
	if got := h.Incident(t, in.ID); !got.FixedAt.IsZero() {
		t.Fatalf("incident after a plan: got fixed at %v, want not fixed (a plan changes nothing)", got.FixedAt)
	}
}

func TestButtonValues(t *testing.T) {
	for _, tc := range []struct {
		value         string
		incident, env string
		sha           string
	}{
		{recovery.ButtonValue("INC-1", "prod", recovery.RequestParams{SHA: recoverytest.GoodSHA}), "INC-1", "prod", recoverytest.GoodSHA},
		{recovery.ButtonValue("", "dev", recovery.RequestParams{}), "", "dev", ""},
		{recovery.ButtonValue("INC-2", "", recovery.RequestParams{}), "INC-2", "", ""},
		{"INC-3", "INC-3", "", ""},   // an alert's button: the bare incident ID
		{"incident=%zz", "", "", ""}, // not a value medic made
	} {
		in, env, p := recovery.ParseButtonValue(tc.value)
		if in != tc.incident || env != tc.env || p.SHA != tc.sha {
			t.Errorf("ParseButtonValue(%q): got %q %q %q, want %q %q %q", tc.value, in, env, p.SHA, tc.incident, tc.env, tc.sha)
		}
	}
	if got := recovery.ButtonValue("", "", recovery.RequestParams{}); got != "" {
		t.Errorf("ButtonValue of nothing: got %q, want empty", got)
	}
}

// The job's lease is renewed at every third of it on the clock's ticks.
func TestJobLeaseRenewedOnTheClocksTicks(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	waitLease(t, h, 1)
	if got := h.Clock.Tickers(); !slices.Equal(got, []time.Duration{jobLease / 3}) {
		t.Fatalf("tickers of a running job: got %v, want its lease's every %s", got, jobLease/3)
	}
	if got := h.Job(t, job.ID); got.Owner != "medic-test" || !got.LeaseUntil.Equal(recoverytest.Start.Add(jobLease)) {
		t.Fatalf("job as started: got owner %q, lease until %v; want medic-test until %v", got.Owner, got.LeaseUntil, recoverytest.Start.Add(jobLease))
	}
	for i := 1; i <= 3; i++ {
		h.Advance(jobLease / 3)
		want := recoverytest.Start.Add(time.Duration(i)*jobLease/3 + jobLease)
		waitStored(t, h, job.ID, fmt.Sprintf("lease until %v", want), func(j recovery.Job) bool { return j.LeaseUntil.Equal(want) })
	}
	// Its process is alive: a recovery round leaves it be.
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := h.Job(t, job.ID); got.State != recovery.JobRunning {
		t.Fatalf("job after a recovery round: got %s, want running", got.State)
	}
	gate.Release()
	if job = h.WaitJob(t, job.ID); job.State != recovery.JobSucceeded {
		t.Fatalf("job: got %s, want succeeded", job.State)
	}
}

// A store that cannot renew the lease for a whole lease stops the job: other replicas
// may take it for dead by then.
func TestJobStopsWhenItsLeaseCannotBeRenewed(t *testing.T) {
	flaky := &recoverytest.FlakyJobs{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		flaky.JobStore = d.Actions.Jobs
		d.Actions.Jobs = flaky
	}))
	gate := recoverytest.NewGate(t)
	stoppedAt := make(chan time.Time, 1) // the clock's time when the apply was stopped
	h.Terraform.ApplyPlanFunc = func(ctx context.Context, _ recovery.Environment, _ string, _ []byte) error {
		err := gate.Hold(ctx)
		if err != nil {
			stoppedAt <- h.Clock.Now()
			flaky.Heal() // the store is back for the job to record its end
		}
		return err
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	waitLease(t, h, 1)

	// No renewal for a whole lease: stopped when the clock reaches it, not before (the
	// renewal goroutine reads the clock after each attempt: 29 s at most until the
	// last Advance).
	flaky.Fail(errors.New("connection refused"))
	h.Advance(jobLease - time.Second)
	h.Advance(time.Second)
	select {
	case at := <-stoppedAt:
		if want := recoverytest.Start.Add(jobLease); !at.Equal(want) {
			t.Fatalf("apply stopped at %v, want %v (a whole lease after the lease was taken)", at, want)
		}
	case <-time.After(recoverytest.WaitTimeout):
		t.Fatalf("apply not stopped within %s of a lease without renewal", recoverytest.WaitTimeout)
	}
	job = h.WaitJob(t, job.ID)
	if job.State != recovery.JobInterrupted || job.Steps[1].State != recovery.StepCancelled {
		t.Fatalf("job: got %s, apply %s; want interrupted, apply cancelled", job.State, job.Steps[1].State)
	}
	end := jobNote(t, h, job, "was interrupted at step 2")
	want := fmt.Sprintf(":warning: Job %s (Roll back to last good on prod) was interrupted at step 2 (%s): medic could not reach its store to keep the job, so it stopped it rather than go on unseen. Nothing will be re-run without a new approval.", job.ID, job.Steps[1].Name)
	if got := recoverytest.Plain(end); got != want || !slices.Equal(buttonsOf(end), []string{retryButton(job.ID)}) {
		t.Fatalf("the job's end: got %q with %q, want %q with Retry", got, buttonsOf(end), want)
	}
}

// A renewal that fails now and then does not stop the job.
func TestJobRidesOutAFailedRenewal(t *testing.T) {
	flaky := &recoverytest.FlakyJobs{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		flaky.JobStore = d.Actions.Jobs
		d.Actions.Jobs = flaky
	}))
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	waitLease(t, h, 1)
	flaky.FailNext(1, errors.New("connection reset"))
	base := flaky.Count("UpdateJob")
	h.Advance(jobLease / 3) // fails
	flaky.WaitCalls(t, "UpdateJob", base+1)
	h.Advance(jobLease / 3) // renews
	flaky.WaitCalls(t, "UpdateJob", base+2)
	gate.Release()
	if job = h.WaitJob(t, job.ID); job.State != recovery.JobSucceeded || flaky.Failed() != 1 {
		t.Fatalf("job after one failed renewal: got %s (%s), %d failed writes; want succeeded, 1", job.State, job.Error, flaky.Failed())
	}
}

// staleAnyway is a job store whose StaleJobs lists every running job, as a replica
// whose clock runs ahead sees them: a job renewed meanwhile must still be left be.
type staleAnyway struct{ recovery.JobStore }

func (s staleAnyway) StaleJobs(ctx context.Context, _ time.Time) ([]recovery.Job, error) {
	return s.JobStore.StaleJobs(ctx, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
}

// deadJob stores a job a replica that died was running on in's environment, at step
// current (its lease running out a lease from now), holding the environment.
func deadJob(t *testing.T, h *recoverytest.Harness, in recovery.Incident, id string, current int) recovery.Job {
	t.Helper()
	now := h.Clock.Now()
	j := recovery.Job{
		ID: id, Env: in.Env, Action: recovery.ActRollback, IncidentID: in.ID, RequestID: "REQ-" + id, State: recovery.JobRunning,
		RequestedBy: requester, ApprovedBy: approver, CreatedAt: now, UpdatedAt: now, Params: recovery.RequestParams{SHA: recoverytest.GoodSHA},
		Steps: []recovery.StepRecord{
			{Name: "Fetch the Terraform sources", State: recovery.StepPending},
			{Name: "terraform apply of the approved plan", Mutating: true, State: recovery.StepPending},
			{Name: "Verify", State: recovery.StepPending},
		},
		Current: current, Owner: "medic-dead", LeaseUntil: now.Add(jobLease), Channel: in.Channel, ThreadTS: in.MessageTS,
	}
	for i := range current {
		j.Steps[i].State = recovery.StepSucceeded
	}
	j.Steps[current].State = recovery.StepRunning
	if err := h.Store.CreateJob(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	if err := h.Store.LockEnv(t.Context(), in.Env, id); err != nil {
		t.Fatal(err)
	}
	return j
}

// A job whose replica died (its lease ran out) is marked interrupted at the step it
// reached, nothing re-run, and its environment freed; not a second before.
func TestRecoverJobsInterruptsTheJobsOfADeadReplica(t *testing.T) {
	h := recoverytest.New(t)
	prod := h.FailJob(t, recovery.JobDeployProd)
	dev := h.FailJob(t, recovery.JobTestsDev)
	applying := deadJob(t, h, prod, "JOB-DEADPROD", 1)
	fetching := deadJob(t, h, dev, "JOB-DEADDEV0", 0)

	h.Advance(jobLease - time.Second)
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := h.Job(t, applying.ID); got.State != recovery.JobRunning {
		t.Fatalf("job at its lease - 1 s: got %s, want running", got.State)
	}
	h.Advance(2 * time.Second)
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	got := h.Job(t, applying.ID)
	if got.State != recovery.JobInterrupted || got.Steps[1].State != recovery.StepInterrupted || got.Steps[0].State != recovery.StepSucceeded ||
		got.Steps[2].State != recovery.StepPending || got.Error != "medic stopped while the job ran" {
		t.Fatalf("job at its lease + 1 s: got %s (%q), steps %+v; want interrupted at its apply", got.State, got.Error, got.Steps)
	}
	n := jobNote(t, h, got, "medic stopped while job "+applying.ID)
	want := ":warning: medic stopped while job JOB-DEADPROD was at step 2/3 (terraform apply of the approved plan). The job is marked interrupted; nothing was re-run. It was changing prod: check its state before retrying."
	if recoverytest.Plain(n) != want || !slices.Equal(buttonsOf(n), []string{retryButton(applying.ID)}) {
		t.Fatalf("note: got %q with %q, want %q with Retry", recoverytest.Plain(n), buttonsOf(n), want)
	}
	// A step that changed nothing: no warning about the environment's state.
	n = jobNote(t, h, h.Job(t, fetching.ID), "medic stopped while job "+fetching.ID)
	if want := ":warning: medic stopped while job JOB-DEADDEV0 was at step 1/3 (Fetch the Terraform sources). The job is marked interrupted; nothing was re-run."; recoverytest.Plain(n) != want {
		t.Fatalf("note: got %q, want %q", recoverytest.Plain(n), want)
	}
	interrupted := auditOf(t, h, prod.ID, "job.interrupted")
	if len(interrupted) != 1 || interrupted[0].Detail["owner"] != "medic-dead" || interrupted[0].Detail["step"] != "terraform apply of the approved plan" {
		t.Fatalf("audit job.interrupted: got %+v, want one naming medic-dead and the apply", interrupted)
	}
	if a, _ := h.Publisher.Alert(prod.ID); a.RecoveryJob != applying.ID || a.RecoveryState != recovery.JobInterrupted {
		t.Fatalf("alert: got job %q %s, want %s interrupted", a.RecoveryJob, a.RecoveryState, applying.ID)
	}
	for _, env := range []string{"prod", "dev"} {
		if holder, _ := h.Store.EnvLock(t.Context(), env); holder != "" {
			t.Fatalf("%s's job slot: got %q, want free", env, holder)
		}
	}
	// Told once.
	notes := len(h.Publisher.Notes(prod.ID))
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := len(h.Publisher.Notes(prod.ID)); got != notes {
		t.Fatalf("notes after a second round: got %d, want still %d", got, notes)
	}
}

// With the store to itself (SQLite, locked by this process), a job another process left
// running is dead now: the first round marks it interrupted, lease or not. Its own
// jobs keep the lease rule.
func TestRecoverJobsOnASoleStoreDoesNotWaitForTheLease(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Actions.SoleProcess = true }))
	prod := h.FailJob(t, recovery.JobDeployProd)
	dev := h.FailJob(t, recovery.JobTestsDev)
	left := deadJob(t, h, prod, "JOB-LEFTPROD", 1)
	own := deadJob(t, h, dev, "JOB-OWNDEV00", 0)
	own = h.Job(t, own.ID)
	own.Owner = "medic-test" // this process's
	if _, err := h.Store.UpdateJob(t.Context(), own); err != nil {
		t.Fatal(err)
	}
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := h.Job(t, left.ID); got.State != recovery.JobInterrupted || got.Steps[1].State != recovery.StepInterrupted {
		t.Fatalf("a job another process left, its lease running: got %s, steps %+v; want interrupted at once", got.State, got.Steps)
	}
	jobNote(t, h, h.Job(t, left.ID), "medic stopped while job "+left.ID)
	if holder, _ := h.Store.EnvLock(t.Context(), "prod"); holder != "" {
		t.Fatalf("prod's job slot: got %q, want free", holder)
	}
	if got := h.Job(t, own.ID); got.State != recovery.JobRunning {
		t.Fatalf("this process's job within its lease: got %s, want running", got.State)
	}
	// Only the first round: a job another process starts later keeps the lease rule.
	later := deadJob(t, h, h.FailJob(t, recovery.JobDeployPreprod), "JOB-LATERPRE", 1)
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := h.Job(t, later.ID); got.State != recovery.JobRunning {
		t.Fatalf("another process's job started after the first round, within its lease: got %s, want running", got.State)
	}
	h.Advance(jobLease + time.Second)
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := h.Job(t, own.ID); got.State != recovery.JobInterrupted {
		t.Fatalf("this process's job past its lease: got %s, want interrupted", got.State)
	}
}

// A job whose lease was renewed after the store listed it stale is its process's.
func TestRecoverJobsLeavesAJobRenewedMeanwhile(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Actions.Jobs = staleAnyway{d.Actions.Jobs} }))
	in := h.FailJob(t, recovery.JobDeployProd)
	j := deadJob(t, h, in, "JOB-ALIVE001", 1)
	h.Advance(jobLease - time.Second)
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := h.Job(t, j.ID); got.State != recovery.JobRunning {
		t.Fatalf("job listed stale with its lease still running: got %s, want running", got.State)
	}
	h.Advance(time.Second) // its lease ends now
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	if got := h.Job(t, j.ID); got.State != recovery.JobInterrupted {
		t.Fatalf("job at the end of its lease: got %s, want interrupted", got.State)
	}
}

// DrainJobs (shutdown) waits for the running jobs: a job released before its timeout
// ends as it would have; previews are stopped at once, and new ones refused.
func TestDrainJobsWaitsForRunningJobs(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	previews := recoverytest.NewGate(t)
	h.Terraform.PlanFunc = func(ctx context.Context, env recovery.Environment, sha string, _ recovery.PlanOptions) (recovery.TerraformPlan, error) {
		if env.Name == "dev" {
			if err := previews.Hold(ctx); err != nil {
				return recovery.TerraformPlan{}, err
			}
		}
		return recoverytest.NewPlan("plan of " + env.Name + " at " + sha), nil
	}
	prod := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, prod.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	dev := h.FailJob(t, recovery.JobTestsDev)
	r, _, err := h.Request(t, recovery.ActionRequest{IncidentID: dev.ID, Action: recovery.ActTerraformPlan, User: requester})
	if err != nil {
		t.Fatal(err)
	}
	previews.WaitHeld(t, 1)

	drained := make(chan struct{})
	go func() { defer close(drained); h.Engine.DrainJobs(graceOf(t, recoverytest.WaitTimeout)) }()
	previews.WaitEnded(t, 1) // the drain began: it stopped the preview
	if got := h.WaitPreview(t, r.ID); got.State != recovery.RequestFailed || got.Preview.Problem != "medic stopped before the preview was ready; request it again" {
		t.Fatalf("request whose preview the drain stopped: got %s (%q), want failed, saying medic stopped", got.State, got.Preview.Problem)
	}
	preprod := h.FailJob(t, recovery.JobDeployPreprod)
	_, err = h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: preprod.ID, Action: recovery.ActTerraformPlan, User: requester})
	if got, want := recoverytest.UserMessage(err), "Terraform plan could not be prepared: medic is shutting down. Nothing was done; request it again in a minute."; got != want {
		t.Fatalf("a request during the drain: got %q (%v), want %q", got, err, want)
	}
	select {
	case <-drained:
		t.Fatalf("DrainJobs returned while job %s was running (state %s)", job.ID, h.Job(t, job.ID).State)
	default:
	}
	if got := h.Job(t, job.ID); got.State != recovery.JobRunning {
		t.Fatalf("job during the drain: got %s, want running", got.State)
	}
	gate.Release()
	select {
	case <-drained:
	case <-time.After(recoverytest.WaitTimeout):
		t.Fatalf("DrainJobs did not return within %s of the job's end", recoverytest.WaitTimeout)
	}
	if got := h.Job(t, job.ID); got.State != recovery.JobSucceeded {
		t.Fatalf("job drained: got %s (%s), want succeeded", got.State, got.Error)
	}
}

// Past its timeout DrainJobs interrupts what still runs, and returns once the jobs
// recorded where they stopped.
func TestDrainJobsInterruptsJobsPastItsTimeout(t *testing.T) {
	h := recoverytest.New(t)
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)

	h.Engine.DrainJobs(graceOf(t, 0)) // the grace is over at once: the job never ends by itself
	if ended := gate.Ended(); len(ended) != 1 || ended[0] == nil || ended[0].Error() != "medic is shutting down" {
		t.Fatalf("the apply's context: got %v, want ended as medic is shutting down", ended)
	}
	got := h.Job(t, job.ID)
	if got.State != recovery.JobInterrupted || got.Steps[1].State != recovery.StepCancelled || got.Steps[2].State != recovery.StepSkipped {
		t.Fatalf("job when DrainJobs returned: got %s, steps %s/%s; want interrupted, apply cancelled, verify skipped", got.State, got.Steps[1].State, got.Steps[2].State)
	}
	end := jobNote(t, h, got, "was interrupted at step 2")
	want := fmt.Sprintf(":warning: Job %s (Roll back to last good on prod) was interrupted at step 2 (%s): medic shut down. Nothing will be re-run without a new approval.", job.ID, got.Steps[1].Name)
	if recoverytest.Plain(end) != want || !slices.Equal(buttonsOf(end), []string{retryButton(job.ID)}) {
		t.Fatalf("the job's end: got %q with %q, want %q with Retry", recoverytest.Plain(end), buttonsOf(end), want)
	}
	if holder, _ := h.Store.EnvLock(t.Context(), "prod"); holder != "" {
		t.Fatalf("prod's job slot: got %q, want free", holder)
	}
}

// The verification watch checks at every interval of the clock until the watch has
// passed, and fails at the first check that breaks.
func TestVerificationWatchHoldsForItsWholeWatch(t *testing.T) {
	const watch, every = 2 * time.Minute, 30 * time.Second
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		d.Actions.Verify = recovery.VerifyConfig{Watch: watch, Interval: every}
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	if !h.Clock.WaitTickers(2, recoverytest.WaitTimeout) {
		t.Fatalf("tickers: got %v, want the lease's and the watch's", h.Clock.Tickers())
	}
	if got := h.Clock.Tickers(); !slices.Equal(got, []time.Duration{jobLease / 3, every}) {
		t.Fatalf("tickers: got %v, want %v", got, []time.Duration{jobLease / 3, every})
	}
	checks := h.Health.Count("CheckHealth")
	for i := 1; i < int(watch/every); i++ { // checks at 30 s, 60 s and 90 s
		h.Advance(every)
		h.Health.WaitCalls(t, "CheckHealth", checks+i)
	}
	// The watch reads the clock after each check: moved to 1 s before the watch's end
	// (no tick on the way), it is still watching, and checks once more at its end.
	h.Advance(every - time.Second)
	if got := h.Job(t, job.ID); got.State != recovery.JobRunning {
		t.Fatalf("job 1 s before the watch's end: got %s, want running", got.State)
	}
	h.Advance(time.Second)
	job = h.WaitJob(t, job.ID)
	name := "Verify: health endpoint 200 and no alarm in ALARM, watched for 2m0s"
	if job.State != recovery.JobSucceeded || job.Steps[2].Name != name || job.Steps[2].Output != ":white_check_mark: health endpoint 200; no alarm in ALARM; it held for 2m0s." {
		t.Fatalf("job: got %s, verify %q → %q; want succeeded, %q holding for 2m0s", job.State, job.Steps[2].Name, job.Steps[2].Output, name)
	}
	if got := h.Health.Count("CheckHealth"); got != checks+int(watch/every) {
		t.Fatalf("health checks while watching: got %d, want %d", got-checks, int(watch/every))
	}
}

func TestVerificationWatchFailsWhenItBreaks(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		d.Actions.Verify = recovery.VerifyConfig{Watch: 10 * time.Minute} // checked every 30 s by default
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	if !h.Clock.WaitTickers(2, recoverytest.WaitTimeout) {
		t.Fatalf("tickers: got %v, want the lease's and the watch's", h.Clock.Tickers())
	}
	if got := h.Clock.Tickers(); !slices.Equal(got, []time.Duration{jobLease / 3, 30 * time.Second}) {
		t.Fatalf("tickers: got %v, want the lease's and the watch's every 30 s", got)
	}
	checks := h.Health.Count("CheckHealth")
	h.Advance(30 * time.Second)
	h.Health.WaitCalls(t, "CheckHealth", checks+1)
	h.AWS.SetAlarms("prod", recovery.Alarm{Name: "prod-dashboard-errors", State: "ALARM"})
	h.Advance(30 * time.Second)
	job = h.WaitJob(t, job.ID)
	want := "broke at 09:01:00 UTC: health endpoint 200; in ALARM: prod-dashboard-errors"
	if job.State != recovery.JobFailed || job.Steps[2].Error != want {
		t.Fatalf("job: got %s, verify error %q; want failed, %q", job.State, job.Steps[2].Error, want)
	}
}

func TestVerificationFailsAtOnceWhenUnhealthy(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		d.Actions.Verify = recovery.VerifyConfig{Watch: 10 * time.Minute, Interval: time.Minute}
	}))
	h.Health.SetStatus("prod", 502)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.WaitJob(t, h.Approved(t, in.ID, recovery.ActRollback).ID)
	if want := "health endpoint answered 502; no alarm in ALARM"; job.State != recovery.JobFailed || job.Steps[2].Error != want {
		t.Fatalf("job: got %s, verify error %q; want failed at once, %q", job.State, job.Steps[2].Error, want)
	}
}

// A self-service request whose preview is in while its environment is busy says its
// job did not start.
func TestSelfServiceJobOnABusyEnvironmentSaysItDidNotStart(t *testing.T) {
	h := recoverytest.New(t)
	previews, jobs := recoverytest.NewGate(t), recoverytest.NewGate(t)
	h.Terraform.PlanFunc = func(ctx context.Context, env recovery.Environment, sha string, o recovery.PlanOptions) (recovery.TerraformPlan, error) {
		gate := jobs
		if o.NoLock {
			gate = previews
		}
		if err := gate.Hold(ctx); err != nil {
			return recovery.TerraformPlan{}, err
		}
		return recoverytest.NewPlan("plan of " + env.Name), nil
	}
	in := h.FailJob(t, recovery.JobTestsDev)
	plan, _, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActTerraformPlan, User: requester})
	if err != nil {
		t.Fatal(err)
	}
	previews.WaitHeld(t, 1)
	rerun, _, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester})
	if err != nil {
		t.Fatal(err)
	}
	previews.Release()
	jobs.WaitHeld(t, 1) // the plan's job holds dev
	planJob := h.Publisher.WaitRequest(t, "plan with its job", func(x recovery.Request) bool { return x.ID == plan.ID && x.JobID != "" }).JobID
	// The job's own note, then the policy's answer to the self-service request.
	n := h.Publisher.WaitNote(t, in.ID, "One recovery job per environment at a time.")
	m := regexp.MustCompile(`^:no_entry: Job (JOB-\w+) did not start: dev is busy with job ` + planJob + `: already exists\. One recovery job per environment at a time\.$`).FindStringSubmatch(recoverytest.Plain(n))
	if m == nil {
		t.Fatalf("note: got %q, want the re-run's job not started, dev busy with %s", recoverytest.Plain(n), planJob)
	}
	if texts := h.Publisher.Texts(in.ID); !slices.Contains(texts, ":no_entry: Job "+m[1]+" did not start: dev is busy with job "+planJob+": already exists.") {
		t.Fatalf("thread: got %q, want the job's own note too", texts)
	}
	if got := h.Job(t, m[1]); got.State != recovery.JobCancelled || got.RequestID != rerun.ID {
		t.Fatalf("the re-run's job: got %s of %s, want cancelled, of %s", got.State, got.RequestID, rerun.ID)
	}
	if got := h.GitHub.Count("RerunFailedJobs"); got != 0 {
		t.Fatalf("re-runs: got %d, want 0", got)
	}
}

// A rollback asked on a healthy environment (no incident) runs in its request's
// thread; with no request message, it runs without a thread.
func TestPlannedRollbackRunsInItsRequestsThread(t *testing.T) {
	h := recoverytest.New(t)
	r := mustRequest(t, h, recovery.ActionRequest{Env: "dev", Action: recovery.ActRollback, User: requester, Channel: "C0OPS"})
	job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
	if job.State != recovery.JobSucceeded || job.IncidentID != "" || job.Channel != "C0OPS" || job.ThreadTS != r.MessageTS {
		t.Fatalf("job: got %s in %s/%s (incident %q), want succeeded in the request's thread C0OPS/%s", job.State, job.Channel, job.ThreadTS, job.IncidentID, r.MessageTS)
	}
	texts := jobTexts(h, job)
	if want := fmt.Sprintf(":white_check_mark: Job %s (Roll back to last good on dev) succeeded.", job.ID); len(texts) == 0 || texts[len(texts)-1] != want {
		t.Fatalf("request's thread: got %q, want it to end with %q", texts, want)
	}
	if got := h.Terraform.Applied(); len(got) != 1 || !strings.HasPrefix(string(got[0]), "plan #1 of dev at "+recoverytest.OlderSHA) {
		t.Fatalf("applied: got %q, want dev's plan at %s", got, recoverytest.OlderSHA)
	}

	// Slack refuses the request message: the request stands, its job reports nowhere.
	h.Publisher.FailNext("PostRequest", 1, nil)
	reply, err := h.Engine.RequestAction(t.Context(), recovery.ActionRequest{Env: "preprod", Action: recovery.ActRollback, User: requester, Channel: "C0OPS"})
	id := regexp.MustCompile(`\((REQ-\w+)\)`).FindStringSubmatch(reply)
	if err != nil || id == nil {
		t.Fatalf("requesting while Slack fails: got %q, %v; want the request made", reply, err)
	}
	h.WaitPreview(t, id[1])
	replies := h.Publisher.Count("Reply")
	job = h.WaitJob(t, mustApprove(t, h, id[1], approver).ID)
	if job.State != recovery.JobSucceeded || job.ThreadTS != "" {
		t.Fatalf("job: got %s in thread %q, want succeeded without a thread", job.State, job.ThreadTS)
	}
	if got := h.Publisher.Count("Reply"); got != replies {
		t.Fatalf("replies of a job without a thread: got %d, want none", got-replies)
	}
}

// A cancel reaches the job before its next step even when the running step ignores
// it: nothing after that step runs.
func TestCancelDuringAStepThatIgnoresItStopsBeforeTheNext(t *testing.T) {
	h := recoverytest.New(t)
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	var mu sync.Mutex
	calls := 0
	h.Terraform.WorkspaceFunc = func(context.Context, recovery.Environment, string) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 2 { // the job's, not the preview's: it does not watch its context
			entered <- struct{}{}
			<-release
		}
		return nil
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	<-entered
	if _, err := h.CancelJob(t, job.ID, requester); err != nil {
		t.Fatal(err)
	}
	close(release)
	job = h.WaitJob(t, job.ID)
	if job.State != recovery.JobCancelled || job.Steps[0].State != recovery.StepSucceeded || job.Steps[1].State != recovery.StepPending || job.Steps[2].State != recovery.StepSkipped {
		t.Fatalf("job: got %s, steps %s/%s/%s; want cancelled after its first step, the apply never run", job.State, job.Steps[0].State, job.Steps[1].State, job.Steps[2].State)
	}
	if got := h.Terraform.Count("ApplyPlan"); got != 0 {
		t.Fatalf("applies: got %d, want 0", got)
	}
	jobNote(t, h, job, fmt.Sprintf(":stop_sign: Job %s (Roll back to last good on prod) was cancelled at step 2 (%s).", job.ID, job.Steps[1].Name))
}

// A store that fails for a moment loses nothing: a step's record is tried again, a
// conflicting write read again.
func TestJobRidesOutAMomentaryStoreFailure(t *testing.T) {
	flaky := &recoverytest.FlakyJobs{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		flaky.JobStore = d.Actions.Jobs
		d.Actions.Jobs = flaky
	}))
	in := h.FailJob(t, recovery.JobTestsDev)
	flaky.FailNext(1, fmt.Errorf("stale write: %w", recovery.ErrConflict)) // read again at once
	flaky.FailNext(1, errors.New("connection reset"))                      // tried again after 100 ms
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester})
	// The engine waits its 100 ms on its own clock: move it once the wait is set.
	retry := h.Clock.Now().Add(100 * time.Millisecond)
	for deadline := time.Now().Add(recoverytest.WaitTimeout); !slices.Contains(h.Clock.Timers(), retry); {
		if time.Now().After(deadline) {
			t.Fatalf("no retry of the job's write due at +100ms; timers %v", h.Clock.Timers())
		}
		h.Clock.WaitTimers(len(h.Clock.Timers())+1, 50*time.Millisecond)
	}
	h.Advance(100 * time.Millisecond)
	job := h.WaitJob(t, h.Publisher.WaitRequest(t, "with its job", func(x recovery.Request) bool { return x.ID == r.ID && x.JobID != "" }).JobID)
	if job.State != recovery.JobSucceeded || h.GitHub.Count("RerunFailedJobs") != 1 {
		t.Fatalf("job: got %s (%s) with %d re-runs, want succeeded with 1", job.State, job.Error, h.GitHub.Count("RerunFailedJobs"))
	}
	if got := flaky.Failed(); got != 2 {
		t.Fatalf("failed job writes: got %d, want 2", got)
	}
}

// A job taken for dead (its lease ran out, the recovery round marked it) while it was
// ending does not tell its end a second time.
func TestJobTakenForDeadDoesNotTellItsEndTwice(t *testing.T) {
	flaky := &recoverytest.FlakyJobs{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		flaky.JobStore = d.Actions.Jobs
		d.Actions.Jobs = flaky
	}))
	gate := recoverytest.NewGate(t)
	recovered := make(chan error, 1)
	h.Terraform.ApplyPlanFunc = func(ctx context.Context, _ recovery.Environment, _ string, _ []byte) error {
		err := gate.Hold(ctx)
		if err != nil { // its lease lost: another replica's round takes it for dead
			// The store takes that round's write (and the job's own end) but still
			// none of this replica's renewals, whose ticks may be pending.
			flaky.Pass(func(j recovery.Job) bool { return j.State != recovery.JobRunning })
			h.Advance(time.Second)
			recovered <- h.Engine.RecoverJobs(context.Background())
		}
		return err
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	waitLease(t, h, 1)
	flaky.Fail(nil)
	h.Advance(jobLease - time.Second)
	h.Advance(time.Second) // a whole lease without a renewal
	select {
	case err := <-recovered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(recoverytest.WaitTimeout):
		t.Fatalf("the job was not stopped within %s", recoverytest.WaitTimeout)
	}
	h.Engine.DrainJobs(graceOf(t, recoverytest.WaitTimeout)) // the job's goroutine has ended
	var ends []string
	for _, s := range jobTexts(h, job) {
		if strings.Contains(s, "interrupted") || strings.Contains(s, "medic stopped") {
			ends = append(ends, s)
		}
	}
	want := fmt.Sprintf(":warning: medic stopped while job %s was at step 2/3 (%s). The job is marked interrupted; nothing was re-run. It was changing prod: check its state before retrying.", job.ID, job.Steps[1].Name)
	if !slices.Equal(ends, []string{want}) {
		t.Fatalf("the job's end told: got %q, want once, %q", ends, want)
	}
	if got := h.Job(t, job.ID); got.State != recovery.JobInterrupted {
		t.Fatalf("job: got %s, want interrupted", got.State)
	}
}

// The commit is checked again when the job fetches it: main may have moved since the
// request.
func TestJobChecksItsCommitAgain(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	h.GitHub.OffBranch(recoverytest.GoodSHA) // force-pushed away meanwhile
	job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
	want := "a1b2c3d is not on main (GitHub compares it as diverged): medic only runs code that is on main. Merge it first, or pick a commit of main; nothing was done."
	if job.State != recovery.JobFailed || job.Steps[0].Error != want {
		t.Fatalf("job: got %s, fetch error %q; want failed, %q", job.State, job.Steps[0].Error, want)
	}
	if got := h.Terraform.Count("Workspace"); got != 1 {
		t.Fatalf("workspaces: got %d, want the preview's only", got)
	}
}

// A plan shows each change as Terraform does, fifteen at most.
func TestPlanJobShowsThePlan(t *testing.T) {
	var changes []recovery.ResourceChange
	for _, a := range [][]string{{"create"}, {"delete"}, {"update"}, {"delete", "create"}, {"create", "delete"}, {"read"}} {
		changes = append(changes, recovery.ResourceChange{Address: "aws_x." + strings.Join(a, "_"), Actions: a})
	}
	for i := len(changes); i < 17; i++ {
		changes = append(changes, recovery.ResourceChange{Address: fmt.Sprintf("aws_y.n%d", i), Actions: []string{"update"}})
	}
	for _, tc := range []struct {
		name string
		plan recovery.TerraformPlan
		want string
	}{
		{"no changes", recovery.TerraformPlan{}, "No changes: the infrastructure already matches."},
		{"seventeen changes", recovery.TerraformPlan{Changes: changes, Add: 3, Change: 12, Destroy: 3},
			"Plan: 3 to add, 12 to change, 3 to destroy.\n+ aws_x.create\n- aws_x.delete\n~ aws_x.update\n-/+ aws_x.delete_create\n-/+ aws_x.create_delete\nread aws_x.read" +
				"\n~ aws_y.n6\n~ aws_y.n7\n~ aws_y.n8\n~ aws_y.n9\n~ aws_y.n10\n~ aws_y.n11\n~ aws_y.n12\n~ aws_y.n13\n~ aws_y.n14\n…and 2 more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := recoverytest.New(t)
			h.Terraform.PlanFunc = func(context.Context, recovery.Environment, string, recovery.PlanOptions) (recovery.TerraformPlan, error) {
				return tc.plan, nil
			}
			in := h.FailJob(t, recovery.JobDeployPreprod)
			r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActTerraformPlan, User: requester})
			if first, _, _ := strings.Cut(tc.want, "\n"); !slices.Contains(r.Preview.Lines, first) || r.Preview.Detail != tc.want {
				t.Fatalf("preview: got lines %q, detail %q; want %q", r.Preview.Lines, r.Preview.Detail, tc.want)
			}
			shown := h.Publisher.WaitRequest(t, "with its job", func(x recovery.Request) bool { return x.ID == r.ID && x.JobID != "" })
			if job := h.WaitJob(t, shown.JobID); job.Steps[1].Output != tc.want {
				t.Fatalf("plan step: got %q, want %q", job.Steps[1].Output, tc.want)
			}
		})
	}
}

// A verification being watched stops when its job is cancelled.
func TestCancelStopsTheVerificationWatch(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		d.Actions.Verify = recovery.VerifyConfig{Watch: 10 * time.Minute, Interval: time.Minute}
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	if !h.Clock.WaitTickers(2, recoverytest.WaitTimeout) {
		t.Fatalf("tickers: got %v, want the lease's and the watch's", h.Clock.Tickers())
	}
	if _, err := h.CancelJob(t, job.ID, requester); err != nil {
		t.Fatal(err)
	}
	job = h.WaitJob(t, job.ID)
	if job.State != recovery.JobCancelled || job.Steps[2].State != recovery.StepCancelled {
		t.Fatalf("job: got %s, verify %s; want cancelled while watching", job.State, job.Steps[2].State)
	}
}

// A failing call of a step fails the step and says only the error.
func TestFailingStepSaysOnlyItsError(t *testing.T) {
	h := recoverytest.New(t)
	h.GitHub.RerunFailedJobsFunc = func(context.Context, int64) error {
		return errors.New("github: 403 Resource not accessible by integration")
	}
	in := h.FailJob(t, recovery.JobTestsDev)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester})
	job := h.WaitJob(t, h.Publisher.WaitRequest(t, "with its job", func(x recovery.Request) bool { return x.ID == r.ID && x.JobID != "" }).JobID)
	if got := job.Steps[0]; job.State != recovery.JobFailed || got.Output != "" || got.Error != "github: 403 Resource not accessible by integration" {
		t.Fatalf("job: got %s, step %+v; want failed with the error only", job.State, got)
	}
}

// A step's output of up to 200 characters on one line goes in its note's text;
// longer, in the note's detail under the step's name.
func TestStepOutputOfTwoHundredCharactersStaysInTheNote(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	const alarm = "prod-dashboard-errors"
	fixed := len(alarm + " set to OK: " + ". CloudWatch re-evaluates it at the next period.")
	for _, size := range []int{200, 201} {
		reason := strings.Repeat("r", size-fixed)
		r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActSetAlarmOK, User: requester, Params: recovery.RequestParams{Alarm: alarm, Reason: reason}})
		job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
		out := job.Steps[0].Output
		if len(out) != size {
			t.Fatalf("output: got %d characters, want %d", len(out), size)
		}
		n := jobNote(t, h, job, ":white_check_mark: Set "+alarm+" to OK")
		inText := n.Text.Plain() == ":white_check_mark: Set "+alarm+" to OK (0s)\n"+out && n.Title == "" && n.Detail == ""
		inDetail := n.Text.Plain() == ":white_check_mark: Set "+alarm+" to OK (0s)" && n.Title == "Set "+alarm+" to OK" && n.Detail == out
		if want := size <= 200; inText != want || inDetail == want {
			t.Fatalf("note of a %d-character output: got text %q, title %q, detail %d characters; want it in the %s", size, n.Text.Plain(), n.Title, len(n.Detail),
				map[bool]string{true: "text", false: "detail"}[want])
		}
	}
}

// The forced Lambda update waits for each function, asking AWS every 2 seconds.
func TestForcedLambdaUpdateWaitsPollingEveryTwoSeconds(t *testing.T) {
	h := recoverytest.New(t)
	var mu sync.Mutex
	var polls []time.Duration
	h.AWS.WaitUpdatedFunc = func(_ context.Context, _ recovery.Environment, name string, poll time.Duration) (recovery.FunctionCode, error) {
		mu.Lock()
		defer mu.Unlock()
		polls = append(polls, poll)
		return recovery.FunctionCode{Name: name, CodeSha256: "YXJ0aWZhY3Qtc2hhMjU2", Version: "2", LastUpdateStatus: "Successful", State: "Active"}, nil
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActForceLambdaUpdate, User: requester, Params: recovery.RequestParams{Reason: "terraform is broken"}})
	if job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID); job.State != recovery.JobSucceeded {
		t.Fatalf("job: got %s (%s), want succeeded", job.State, job.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}; !slices.Equal(polls, want) {
		t.Fatalf("polls: got %v, want %v", polls, want)
	}
}

// deadlines is a job store recording how far off each update's deadline was.
type deadlines struct {
	recovery.JobStore
	mu  sync.Mutex
	got []time.Duration
}

func (d *deadlines) UpdateJob(ctx context.Context, j recovery.Job) (recovery.Job, error) {
	if dl, ok := ctx.Deadline(); ok {
		d.mu.Lock()
		d.got = append(d.got, time.Until(dl))
		d.mu.Unlock()
	}
	return d.JobStore.UpdateJob(ctx, j)
}

// Each renewal of the lease is given a third of the lease: a store that hangs cannot
// hold the job past its lease.
func TestLeaseRenewalIsGivenAThirdOfTheLease(t *testing.T) {
	dl := &deadlines{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		dl.JobStore = d.Actions.Jobs
		d.Actions.Jobs = dl
	}))
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	waitLease(t, h, 1)
	h.Advance(jobLease / 3)
	waitStored(t, h, job.ID, "its lease renewed", func(j recovery.Job) bool { return j.LeaseUntil.Equal(recoverytest.Start.Add(jobLease/3 + jobLease)) })
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if len(dl.got) != 1 || dl.got[0] <= 0 || dl.got[0] > jobLease/3 {
		t.Fatalf("deadlines of the job's writes: got %v, want one, the renewal's, within %s", dl.got, jobLease/3)
	}
}

// A renewal the store keeps refusing as stale is tried eleven times, then given up
// until the next tick.
func TestLeaseRenewalGivesUpAfterElevenStaleWrites(t *testing.T) {
	flaky := &recoverytest.FlakyJobs{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		flaky.JobStore = d.Actions.Jobs
		d.Actions.Jobs = flaky
	}))
	gate := holdApply(t, h)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	waitLease(t, h, 1)
	base := flaky.Count("UpdateJob")
	flaky.Fail(fmt.Errorf("stale: %w", recovery.ErrConflict))
	h.Advance(jobLease / 3)
	flaky.WaitCalls(t, "UpdateJob", base+11)
	flaky.Heal()
	h.Advance(jobLease / 3)
	waitStored(t, h, job.ID, "its lease renewed at 20 s", func(j recovery.Job) bool {
		return j.LeaseUntil.Equal(recoverytest.Start.Add(2*jobLease/3 + jobLease))
	})
	if got := flaky.Count("UpdateJob") - base; got != 12 {
		t.Fatalf("renewal writes: got %d, want 11 refused at 10 s and 1 at 20 s", got)
	}
}

// A job of a replica that died before its first step (still pending) is marked
// interrupted too.
func TestRecoverJobsInterruptsAPendingJob(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	j := deadJob(t, h, in, "JOB-PENDING1", 0)
	j = h.Job(t, j.ID)
	j.State, j.Steps[0].State = recovery.JobPending, recovery.StepPending
	if _, err := h.Store.UpdateJob(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	h.Advance(jobLease + time.Second)
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	got := h.Job(t, j.ID)
	if got.State != recovery.JobInterrupted || got.Steps[0].State != recovery.StepPending {
		t.Fatalf("pending job after its lease: got %s, first step %s; want interrupted, its first step still pending", got.State, got.Steps[0].State)
	}
	n := jobNote(t, h, got, "medic stopped while job "+j.ID)
	if want := ":warning: medic stopped while job JOB-PENDING1 was at step 1/3 (Fetch the Terraform sources). The job is marked interrupted; nothing was re-run."; recoverytest.Plain(n) != want {
		t.Fatalf("note: got %q, want %q", recoverytest.Plain(n), want)
	}
}

// holdingPublisher holds a job's start note until its gate is released (or the job's
// context ends): the job is then between its start and its first step.
type holdingPublisher struct {
	recovery.Publisher
	gate *recoverytest.Gate
}

func (p holdingPublisher) Reply(ctx context.Context, channel, ts string, n recovery.Note) error {
	if strings.HasPrefix(n.Text.Plain(), ":gear: Job ") {
		_ = p.gate.Hold(ctx)
	}
	return p.Publisher.Reply(ctx, channel, ts, n)
}

// A job cancelled before its first step ends cancelled at step 1, and says so;
// nothing ran.
func TestJobCancelledBeforeItsFirstStep(t *testing.T) {
	var gate *recoverytest.Gate
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		gate = recoverytest.NewGate(t)
		d.Publisher = holdingPublisher{Publisher: d.Publisher, gate: gate}
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	gate.WaitHeld(t, 1)
	if _, err := h.CancelJob(t, job.ID, requester); err != nil {
		t.Fatal(err)
	}
	job = h.WaitJob(t, job.ID)
	if job.State != recovery.JobCancelled || job.Steps[0].State != recovery.StepPending || job.Steps[1].State != recovery.StepSkipped {
		t.Fatalf("job: got %s, steps %s/%s; want cancelled before its first step", job.State, job.Steps[0].State, job.Steps[1].State)
	}
	jobNote(t, h, job, fmt.Sprintf(":stop_sign: Job %s (Roll back to last good on prod) was cancelled at step 1 (%s).", job.ID, job.Steps[0].Name))
	if got := h.Terraform.Count("Workspace"); got != 1 {
		t.Fatalf("workspaces: got %d, want the preview's only", got)
	}
}

// Requests and jobs that go well log no warning and no error: what medic logs at
// those levels is only what went wrong (the operators' alerts watch for them).
func TestFlowsThatGoWellLogNoWarning(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Logger = zap.New(core) }))
	prod := h.FailJob(t, recovery.JobDeployProd)
	dev := h.FailJob(t, recovery.JobTestsDev)

	// Approved and run, with its plan, its alert and its refresh after the job.
	job := h.WaitJob(t, h.Approved(t, prod.ID, recovery.ActRollback).ID)
	// Self-service.
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: dev.ID, Action: recovery.ActRerunFailed, User: requester})
	h.WaitJob(t, h.Publisher.WaitRequest(t, "with its job", func(x recovery.Request) bool { return x.ID == r.ID && x.JobID != "" }).JobID)
	// Rejected, and expired.
	r = mustRequest(t, h, recovery.ActionRequest{IncidentID: prod.ID, Action: recovery.ActEmergencyRollback, User: requester})
	if _, err := h.Reject(t, r.ID, approver); err != nil {
		t.Fatal(err)
	}
	mustRequest(t, h, recovery.ActionRequest{IncidentID: prod.ID, Action: recovery.ActEmergencyRollback, User: requester})
	h.Advance(requestTTL + time.Second)
	if err := h.ExpireRequests(t); err != nil {
		t.Fatal(err)
	}
	// A dead replica's job.
	deadJob(t, h, h.FailJob(t, recovery.JobDeployPreprod), "JOB-DEADPREP", 1)
	h.Advance(jobLease + time.Second)
	if err := h.RecoverJobs(t); err != nil {
		t.Fatal(err)
	}
	h.Engine.DrainJobs(graceOf(t, recoverytest.WaitTimeout)) // every job's goroutine has ended

	if job.State != recovery.JobSucceeded {
		t.Fatalf("rollback: got %s, want succeeded", job.State)
	}
	var got []string
	for _, e := range logs.All() {
		got = append(got, fmt.Sprintf("%s %q %v", e.Level, e.Message, e.ContextMap()))
	}
	if len(got) != 0 {
		t.Fatalf("warnings and errors logged: got %q, want none", got)
	}
}

// graceOf is a shutdown grace of d for DrainJobs: a context done after d (at once for 0).
func graceOf(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Once the drain began, nothing starts: an approval is refused and its request stays
// pending, and no job takes the environment; the drain then returns at once.
func TestNoJobStartsOnceTheDrainBegan(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r, reply, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	if err != nil || r.ID == "" {
		t.Fatalf("requesting a rollback: %q, %v", reply, err)
	}
	h.WaitPreview(t, r.ID)
	h.Engine.DrainJobs(graceOf(t, 0))
	_, err = h.Approve(t, r.ID, approver)
	if got, want := recoverytest.UserMessage(err), "medic is shutting down, so nothing starts now; "+r.ID+" stays pending: approve it again in a minute."; got != want {
		t.Fatalf("approving during the drain: got %q (%v), want %q", got, err, want)
	}
	if got, _ := h.Store.Request(t.Context(), r.ID); got.State != recovery.RequestPending || got.JobID != "" {
		t.Fatalf("request after the refused approval: got %s with job %q, want pending without a job", got.State, got.JobID)
	}
	if holder, _ := h.Store.EnvLock(t.Context(), "prod"); holder != "" || h.Terraform.Count("ApplyPlan") != 0 {
		t.Fatalf("prod after the refused approval: slot held by %q, %d applies; want free, none", holder, h.Terraform.Count("ApplyPlan"))
	}
}

// slowHealth holds its n-th check until release is closed.
type slowHealth struct {
	recovery.HealthChecker
	n       int64
	calls   *atomic.Int64
	held    chan struct{}
	release chan struct{}
}

func (s slowHealth) CheckHealth(ctx context.Context, env recovery.Environment) (recovery.HealthResult, error) {
	if s.calls.Add(1) == s.n {
		close(s.held)
		<-s.release
	}
	return s.HealthChecker.CheckHealth(ctx, env)
}

// A check that ends after the watch's end (the clock moved on while it ran) is not the
// last: the watch still checks at its end.
func TestVerificationWatchSurvivesASlowCheck(t *testing.T) {
	const watch, every = 2 * time.Minute, 30 * time.Second
	var slow slowHealth
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		d.Actions.Verify = recovery.VerifyConfig{Watch: watch, Interval: every}
		slow = slowHealth{HealthChecker: d.Health, calls: &atomic.Int64{}, held: make(chan struct{}), release: make(chan struct{})}
		d.Health = &slow
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	if !h.Clock.WaitTickers(2, recoverytest.WaitTimeout) {
		t.Fatalf("tickers: got %v, want the lease's and the watch's", h.Clock.Tickers())
	}
	// The watch's third check (at 90 s) is held while the clock reaches the end.
	base := slow.calls.Load()
	slow.n = base + 3
	for i := int64(1); i <= 2; i++ {
		h.Advance(every)
		deadline := time.Now().Add(recoverytest.WaitTimeout)
		for slow.calls.Load() < base+i {
			if time.Now().After(deadline) {
				t.Fatalf("the watch's check %d never came", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	h.Advance(every)
	select {
	case <-slow.held:
	case <-time.After(recoverytest.WaitTimeout):
		t.Fatal("the watch's third check never came")
	}
	h.Advance(every)
	close(slow.release)
	if job = h.WaitJob(t, job.ID); job.State != recovery.JobSucceeded {
		t.Fatalf("job: got %s (%s), want succeeded", job.State, job.Error)
	}
	if got := slow.calls.Load() - (slow.n - 3); got != 4 {
		t.Errorf("checks while watching: got %d, want 4 (30, 60, 90 and 120 s)", got)
	}
}
