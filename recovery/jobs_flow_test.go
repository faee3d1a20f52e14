package recovery_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
		})
	}
}
