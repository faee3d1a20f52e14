package recovery_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// rerunFailed has the requester re-run the failed jobs of a dev incident's run
// (self-service in dev) and returns the job, ended.
func rerunFailed(t *testing.T, h *recoverytest.Harness, in recovery.Incident) recovery.Job {
	t.Helper()
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester})
	r = h.Publisher.WaitRequest(t, "the re-run with its job", func(x recovery.Request) bool { return x.ID == r.ID && x.JobID != "" })
	job := h.WaitJob(t, r.JobID)
	if job.State != recovery.JobSucceeded {
		t.Fatalf("re-run job: got %s, want succeeded", job.State)
	}
	return job
}

// Diagnostics a job's end gathers while the re-run it started passes do not overwrite
// what the pass said: the alert keeps "Attempt 2 passed", not the failed step again.
func TestRefreshOvertakenByTheFollowedEndKeepsItsFindings(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev)
	gate := recoverytest.NewGate(t)
	h.GitHub.JobLogFunc = func(ctx context.Context, jobID int64) (recovery.JobLog, error) {
		if err := gate.Hold(ctx); err != nil {
			return recovery.JobLog{}, err
		}
		return recovery.JobLog{Text: "1 failed"}, nil
	}
	job := rerunFailed(t, h, in)
	gate.WaitHeld(t, 1) // the job's end refresh is gathering
	run := attempt(t, h, in, 2, "success")
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &run, At: h.Clock.Now()})
	if got := h.Incident(t, in.ID); got.Follow == nil || got.Follow.Outcome != recovery.FollowPassed {
		t.Fatalf("follow after attempt 2 passed: got %+v, want passed (job %s)", got.Follow, job.ID)
	}
	gate.Release()
	gate.WaitEnded(t, 1)
	h.Engine.DrainJobs(graceOf(t, recoverytest.WaitTimeout)) // the job's goroutine, refresh included, has ended
	for _, f := range h.Incident(t, in.ID).Findings {
		if f.Diagnostic == recovery.DiagFailedStep && (f.Title != "Attempt 2 passed" || f.Bad) {
			t.Fatalf("failed step finding after the refresh: got %+v, want the passing attempt's", f)
		}
	}
	// Refreshed by hand after the pass, the diagnostics read attempt 2's jobs: the
	// failed step is still the pass.
	if _, err := h.Engine.Act(t.Context(), in.ID, recovery.ActRefresh, requester); err != nil {
		t.Fatal(err)
	}
	for _, f := range h.Incident(t, in.ID).Findings {
		if f.Diagnostic == recovery.DiagFailedStep && (f.Title != "Attempt 2 passed" || f.Bad) {
			t.Fatalf("failed step finding after Refresh diagnostics: got %+v, want the passing attempt's", f)
		}
	}
}

// attempt records on GitHub a new attempt of in's run whose job ends with conclusion,
// and returns the run as it then stands.
func attempt(t *testing.T, h *recoverytest.Harness, in recovery.Incident, n int, conclusion string) recovery.Run {
	t.Helper()
	run, err := h.GitHub.Run(t.Context(), in.RunID)
	if err != nil {
		t.Fatal(err)
	}
	run.Attempt, run.Status, run.Conclusion = n, "completed", conclusion
	job := recovery.JobInfo{ID: in.JobID + int64(n)*100000, RunID: run.ID, Attempt: n, Name: in.JobName, Status: "completed", Conclusion: conclusion,
		URL: run.URL + "/job/attempt-" + conclusion,
		Steps: []recovery.StepInfo{{Number: 1, Name: "Set up job", Status: "completed", Conclusion: "success"},
			{Number: 2, Name: "Run tests", Status: "completed", Conclusion: conclusion}}}
	h.GitHub.AddRun(run, job)
	return run
}

// poll runs one round of a run poller on the harness's GitHub and store that follows
// what the engine follows, and waits for the engine to handle what it reported. The
// poller's cursors are past the incident's run, as they are a while after it was
// created: a re-run of it is only seen by following it.
func poll(t *testing.T, h *recoverytest.Harness) {
	t.Helper()
	var sigs []recovery.Signal
	cursors := h.Store.(recovery.CursorStore)
	pipeline := recoverytest.RunbookPipeline()
	for wf := range pipeline.Workflows {
		if err := cursors.SetCursor(t.Context(), "runs:"+wf, h.Clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	p := &recovery.RunPoller{Runs: h.GitHub, Cursors: cursors, Pipeline: pipeline,
		Submit: func(s recovery.Signal) bool { sigs = append(sigs, s); return true }, Now: h.Clock.Now,
		Logger: zaptest.NewLogger(t), Followed: h.Engine.FollowedRuns}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatalf("poll: %v", err)
	}
	for _, s := range sigs {
		h.Submit(t, s)
	}
}

// A re-run that passes ends the incident's failure, by webhook or by polling alone:
// the alert says which attempt passed and offers Resolve, the failed step's finding is
// replaced, the thread says it once, and the report's timeline has it.
func TestRerunThatPassesSaysSo(t *testing.T) {
	for _, via := range []string{"webhook", "poll"} {
		t.Run(via, func(t *testing.T) {
			h := recoverytest.New(t)
			in := h.FailJob(t, recovery.JobTestsDev)
			job := rerunFailed(t, h, in)
			got := h.Incident(t, in.ID)
			if f := got.Follow; !f.Pending() || f.RunID != in.RunID || f.After != 1 || f.Job != job.ID || f.Action != recovery.ActRerunFailed {
				t.Fatalf("after the re-run's job: follow %+v, want run %d followed after attempt 1 by %s", f, in.RunID, job.ID)
			}
			if runs, err := h.Engine.FollowedRuns(t.Context()); err != nil || !slices.Equal(runs, []int64{in.RunID}) {
				t.Fatalf("followed runs: got %v, %v; want [%d]", runs, err, in.RunID)
			}
			run := attempt(t, h, in, 2, "success")
			for range 2 { // told once, however often it is reported
				if via == "webhook" {
					r := run
					h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &r, At: h.Clock.Now()})
				} else {
					poll(t, h)
				}
			}
			got = h.Incident(t, in.ID)
			want := "Attempt 2 of run " + itoa(in.RunID) + " passed: " + recovery.JobTestsDev + ", which failed in attempt 1, passed"
			if f := got.Follow; f == nil || f.Outcome != recovery.FollowPassed || f.Attempt != 2 || f.Text != want {
				t.Fatalf("follow: got %+v, want passed at attempt 2 saying %q", got.Follow, want)
			}
			if got.FixedAt.IsZero() || got.RunAttempt != 2 {
				t.Errorf("incident: fixed at %v, attempt %d; want fixed, attempt 2", got.FixedAt, got.RunAttempt)
			}
			a, _ := h.Publisher.Alert(in.ID)
			if ids := actionIDs(recovery.Buttons(a)); !slices.Contains(ids, recovery.ActResolve) {
				t.Errorf("buttons: got %v, want Resolve offered", ids)
			}
			for _, f := range a.Findings {
				if f.Diagnostic == recovery.DiagFailedStep && (f.Title != "Attempt 2 passed" || f.Bad) {
					t.Errorf("failed step finding: got %+v, want it replaced by the passing attempt", f)
				}
			}
			var passed int
			for _, text := range h.Publisher.Texts(in.ID) {
				if strings.Contains(text, want) {
					passed++
				}
			}
			if passed != 1 {
				t.Errorf("thread: %d notes saying %q, want 1:\n%s", passed, want, strings.Join(h.Publisher.Texts(in.ID), "\n"))
			}
			if runs, _ := h.Engine.FollowedRuns(t.Context()); len(runs) != 0 {
				t.Errorf("followed runs after the end: %v", runs)
			}
			report, err := h.Engine.Report(t.Context(), in.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range []string{"Following run " + itoa(in.RunID) + " until it ends (Re-run failed jobs, job " + job.ID + ")", want + " (medic's " + job.ID + ")"} {
				if !strings.Contains(report, line) {
					t.Errorf("report: want %q in:\n%s", line, report)
				}
			}
		})
	}
}

// A re-run that fails again: the alert shows attempt 2's failure with fresh
// diagnostics, no Resolve, and the thread says the attempt failed too.
func TestRerunThatFailsAgainSaysSo(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev)
	rerunFailed(t, h, in)
	run := attempt(t, h, in, 2, "failure")
	jobs, _ := h.GitHub.RunJobs(t.Context(), run.ID)
	r, j := run, jobs[0]
	h.Submit(t, recovery.Signal{Kind: recovery.SignalJobCompleted, Via: "webhook", Run: &r, Job: &j, At: h.Clock.Now()})
	got := h.Incident(t, in.ID)
	want := "Attempt 2 of run " + itoa(in.RunID) + " failed too: " + recovery.JobTestsDev
	if f := got.Follow; f == nil || f.Outcome != recovery.FollowFailed || f.Attempt != 2 || f.Text != want {
		t.Fatalf("follow: got %+v, want failed at attempt 2", got.Follow)
	}
	if got.RunAttempt != 2 || got.JobID != j.ID || got.JobURL != j.URL || !got.FixedAt.IsZero() {
		t.Errorf("incident: attempt %d, job %d %q, fixed %v; want attempt 2's job, not fixed", got.RunAttempt, got.JobID, got.JobURL, got.FixedAt)
	}
	if ids := actionIDs(recovery.Buttons(got)); slices.Contains(ids, recovery.ActResolve) {
		t.Errorf("buttons: got %v, want no Resolve", ids)
	}
	n := h.Publisher.WaitNote(t, in.ID, want)
	if text := n.Text.Plain(); !strings.Contains(text, "(the re-run of JOB-") || !strings.Contains(text, "The diagnostics above are this attempt's.") {
		t.Errorf("note: %q", text)
	}
	for _, text := range h.Publisher.Texts(in.ID) {
		if strings.Contains(text, "Another job of this run failed") {
			t.Errorf("attempt 2's failure read as another job's: %q", text)
		}
	}
	if acts := h.AuditActions(t, in.ID); !slices.Contains(acts, "follow.failed") {
		t.Errorf("audit: %v, want follow.failed", acts)
	}
}

// A run of an incident that passes in a later attempt nobody asked medic for (someone
// re-ran it in GitHub) updates the incident the same way, as not medic's doing; a
// success of the attempt that failed, or of a run no incident has, changes nothing.
func TestRunHealedOutsideMedic(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev)
	other := h.FailedJob(recovery.JobTestsDev) // a run no incident has: never submitted
	o := *other.Run
	o.Conclusion = "success"
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &o, At: h.Clock.Now()})

	run := attempt(t, h, in, 1, "success") // attempt 1 again: not a later attempt
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &run, At: h.Clock.Now()})
	if got := h.Incident(t, in.ID); got.Follow != nil || !got.FixedAt.IsZero() {
		t.Fatalf("a success of the failed attempt: follow %+v, fixed %v; want nothing", got.Follow, got.FixedAt)
	}
	run = attempt(t, h, in, 3, "success")
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: &run, At: h.Clock.Now()})
	got := h.Incident(t, in.ID)
	if f := got.Follow; f == nil || f.Outcome != recovery.FollowPassed || f.Action != "" || f.Attempt != 3 {
		t.Fatalf("follow: got %+v, want passed at attempt 3, no action of medic's", got.Follow)
	}
	h.Publisher.WaitNote(t, in.ID, "(not medic's doing: the pipeline or someone in GitHub)")
}

// Cancel run: medic follows the run until GitHub says it was cancelled.
func TestCancelledRunIsFollowedToItsEnd(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActCancelRun, User: requester})
	r = h.Publisher.WaitRequest(t, "the cancel with its job", func(x recovery.Request) bool { return x.ID == r.ID && x.JobID != "" })
	h.WaitJob(t, r.JobID)
	if f := h.Incident(t, in.ID).Follow; !f.Pending() || f.Action != recovery.ActCancelRun {
		t.Fatalf("follow after the cancel's job: %+v", f)
	}
	run, _ := h.GitHub.Run(t.Context(), in.RunID)
	run.Conclusion = "cancelled"
	h.GitHub.AddRun(run)
	poll(t, h)
	got := h.Incident(t, in.ID)
	if f := got.Follow; f == nil || f.Outcome != recovery.FollowCancelled || f.Text != "Run "+itoa(in.RunID)+" was cancelled" {
		t.Fatalf("follow: got %+v, want cancelled", got.Follow)
	}
	if !got.FixedAt.IsZero() {
		t.Error("a cancelled run counts as fixed")
	}
	h.Publisher.WaitNote(t, in.ID, ":stop_sign: Run "+itoa(in.RunID)+" was cancelled (medic's JOB-")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func actionIDs(as []recovery.Action) []recovery.ActionID {
	var out []recovery.ActionID
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// approvedJob requests action on in with params, has the approver approve it, and
// returns its job, ended.
func approvedJob(t *testing.T, h *recoverytest.Harness, in recovery.Incident, action recovery.ActionID, params recovery.RequestParams) recovery.Job {
	t.Helper()
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: action, User: requester, Params: params})
	job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
	if job.State != recovery.JobSucceeded {
		t.Fatalf("%s job: got %s (%s), want succeeded", action, job.State, job.Error)
	}
	return job
}

// newRun records on GitHub a completed run of workflow at sha, started by event, whose
// one job ends with conclusion, and returns it.
func newRun(h *recoverytest.Harness, id int64, workflow, sha, event, conclusion string) recovery.Run {
	now := h.Clock.Now()
	run := recovery.Run{ID: id, Attempt: 1, Workflow: workflow, WorkflowName: strings.TrimSuffix(workflow, ".yml"), Status: "completed", Conclusion: conclusion,
		HeadSHA: sha, HeadBranch: "main", HeadRepository: recoverytest.Repo, Event: event, Actor: "medic",
		URL: "https://github.test/runs/" + itoa(id), CreatedAt: now, StartedAt: now, UpdatedAt: now}
	h.GitHub.AddRun(run, recovery.JobInfo{ID: id*10 + 1, RunID: id, Attempt: 1, Name: recovery.JobDeployPreprod, Status: "completed", Conclusion: conclusion,
		URL: run.URL + "/job", Steps: []recovery.StepInfo{{Number: 1, Name: "Terraform Apply", Status: "completed", Conclusion: conclusion}}})
	return run
}

// A revert is followed through its commit's pipeline run: the run's end, passed or
// failed, is told on the incident the revert was for, and a failure opens its own
// incident too.
func TestRevertIsFollowedThroughItsPipelineRun(t *testing.T) {
	for _, conclusion := range []string{"success", "failure"} {
		t.Run(conclusion, func(t *testing.T) {
			h := recoverytest.New(t)
			in := h.FailJob(t, recovery.JobDeployPreprod)
			job := approvedJob(t, h, in, recovery.ActRevert, recovery.RequestParams{})
			revert := strings.Repeat("e", 40) // the harness's revert commit
			if f := h.Incident(t, in.ID).Follow; !f.Pending() || f.SHA != revert || f.RunID != 0 {
				t.Fatalf("follow after the revert: %+v, want the revert commit's run", f)
			}
			// Another commit's run, and the revert's run while it runs, end nothing.
			other := newRun(h, 7001, recoverytest.Workflow(recovery.JobDeployPreprod), recoverytest.GoodSHA, "push", "success")
			h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &other, At: h.Clock.Now()})
			if f := h.Incident(t, in.ID).Follow; !f.Pending() {
				t.Fatalf("another commit's run ended the follow: %+v", f)
			}
			run := newRun(h, 7002, recoverytest.Workflow(recovery.JobDeployPreprod), revert, "push", conclusion)
			h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &run, At: h.Clock.Now()})
			got := h.Incident(t, in.ID)
			subject := "Run 7002 of build-and-promote on the revert commit eeeeeee"
			switch conclusion {
			case "success":
				if f := got.Follow; f == nil || f.Outcome != recovery.FollowPassed || f.Text != subject+" passed" || got.FixedAt.IsZero() {
					t.Fatalf("follow: %+v, fixed %v; want passed and fixed", got.Follow, got.FixedAt)
				}
				h.Publisher.WaitNote(t, in.ID, ":white_check_mark: "+subject+" passed (after Revert commit, medic's "+job.ID+").")
			default:
				if f := got.Follow; f == nil || f.Outcome != recovery.FollowFailed || f.Text != subject+" failed" || !got.FixedAt.IsZero() {
					t.Fatalf("follow: %+v, fixed %v; want failed, not fixed", got.Follow, got.FixedAt)
				}
				h.Publisher.WaitNote(t, in.ID, ":x: "+subject+" failed (after Revert commit, medic's "+job.ID+").")
				if _, err := h.Store.OpenIncidentBySource(t.Context(), "run:7002"); err != nil {
					t.Errorf("the revert's failed run has no incident of its own: %v", err)
				}
			}
			if acts := h.AuditActions(t, in.ID); !slices.Contains(acts, "follow.started") || !slices.Contains(acts, "follow."+map[string]string{"success": "passed", "failure": "failed"}[conclusion]) {
				t.Errorf("audit: %v", acts)
			}
		})
	}
}

// Destroy & recreate is followed through the deploy run it dispatched: the next
// workflow_dispatch run of the environment's deploy workflow.
func TestDestroyRecreateIsFollowedThroughTheDispatchedRun(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployPreprod)
	job := approvedJob(t, h, in, recovery.ActDestroyRecreate, recovery.RequestParams{Reason: "state is wedged"})
	if f := h.Incident(t, in.ID).Follow; !f.Pending() || f.Workflow != "build-and-promote.yml" {
		t.Fatalf("follow after the dispatch: %+v", f)
	}
	push := newRun(h, 8001, "build-and-promote.yml", recoverytest.GoodSHA, "push", "success") // not the dispatched run
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: &push, At: h.Clock.Now()})
	if f := h.Incident(t, in.ID).Follow; !f.Pending() {
		t.Fatalf("a push run ended the follow: %+v", f)
	}
	run := newRun(h, 8002, "build-and-promote.yml", recoverytest.GoodSHA, "workflow_dispatch", "success")
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: &run, At: h.Clock.Now()})
	got := h.Incident(t, in.ID)
	if f := got.Follow; f == nil || f.Outcome != recovery.FollowPassed || f.RunID != 8002 || got.FixedAt.IsZero() {
		t.Fatalf("follow: %+v, fixed %v; want passed by run 8002", got.Follow, got.FixedAt)
	}
	h.Publisher.WaitNote(t, in.ID, "Run 8002 of build-and-promote passed (after Destroy & recreate, medic's "+job.ID+").")
}

// After a verified rollback medic follows the environment's next deploy run, whatever
// started it, and reports how it ended on the incident.
func TestVerifiedRollbackReportsTheNextDeploy(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.WaitJob(t, h.Approved(t, in.ID, recovery.ActRollback).ID)
	if job.State != recovery.JobSucceeded {
		t.Fatalf("rollback: %s (%s)", job.State, job.Error)
	}
	got := h.Incident(t, in.ID)
	if f := got.Follow; !f.Pending() || f.Workflow != "deploy-prod.yml" || !f.AnyEvent || got.FixedAt.IsZero() {
		t.Fatalf("after the verified rollback: follow %+v, fixed %v; want the next deploy-prod.yml run followed", f, got.FixedAt)
	}
	// The incident's own run ending changes nothing; the next deploy (a push) does.
	own, _ := h.GitHub.Run(t.Context(), in.RunID)
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: &own, At: h.Clock.Now()})
	if f := h.Incident(t, in.ID).Follow; !f.Pending() {
		t.Fatalf("the incident's own run ended the follow: %+v", f)
	}
	run := newRun(h, 9001, "deploy-prod.yml", recoverytest.GoodSHA, "push", "failure")
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &run, At: h.Clock.Now()})
	got = h.Incident(t, in.ID)
	want := "The next deploy, run 9001 of deploy-prod at a1b2c3d, failed"
	if f := got.Follow; f == nil || f.Outcome != recovery.FollowFailed || f.Text != want {
		t.Fatalf("follow: %+v, want %q", got.Follow, want)
	}
	if got.FixedAt.IsZero() {
		t.Error("a failed next deploy undid the verified rollback's fix")
	}
	h.Publisher.WaitNote(t, in.ID, ":x: "+want+" (after Roll back to last good, medic's "+job.ID+").")
}

// Only a trusted run of the follow's workflow on the branch medic acts on ends what an
// incident follows: not a pull request's run at the revert commit, not a push of it to
// another branch, not another workflow's run of it, not a pull request's run of the
// deploy workflow after a rollback.
func TestFollowsCountOnlyTrustedRunsOfTheirWorkflowOnTheBranch(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployPreprod)
	approvedJob(t, h, in, recovery.ActRevert, recovery.RequestParams{})
	revert := strings.Repeat("e", 40)
	pending := func(what string) {
		t.Helper()
		if f := h.Incident(t, in.ID).Follow; !f.Pending() {
			t.Fatalf("%s ended the follow: %+v", what, f)
		}
	}
	pr := newRun(h, 7101, "build-and-promote.yml", revert, "pull_request", "success")
	pr.HeadBranch, pr.HeadRepository = "feature", "someone/fork"
	h.GitHub.AddRun(pr)
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &pr, At: h.Clock.Now()})
	pending("a fork's pull request run at the revert commit")
	branch := newRun(h, 7102, "build-and-promote.yml", revert, "push", "success")
	branch.HeadBranch = "release"
	h.GitHub.AddRun(branch)
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &branch, At: h.Clock.Now()})
	pending("a push of the revert commit to another branch")
	other := newRun(h, 7103, "deploy-prod.yml", revert, "push", "success")
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &other, At: h.Clock.Now()})
	pending("another workflow's run of the revert commit")
	dispatched := newRun(h, 7104, "build-and-promote.yml", revert, "workflow_dispatch", "success")
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &dispatched, At: h.Clock.Now()})
	pending("a dispatched run of the revert commit")

	// After a verified rollback of prod, a pull request's run of deploy-prod.yml is not
	// the next deploy.
	prod := h.FailJob(t, recovery.JobDeployProd)
	h.WaitJob(t, h.Approved(t, prod.ID, recovery.ActRollback).ID)
	prRun := newRun(h, 9101, "deploy-prod.yml", recoverytest.GoodSHA, "pull_request", "success")
	prRun.HeadBranch, prRun.HeadRepository = "feature", "someone/fork"
	h.GitHub.AddRun(prRun)
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &prRun, At: h.Clock.Now()})
	if f := h.Incident(t, prod.ID).Follow; !f.Pending() {
		t.Fatalf("a pull request's deploy-prod.yml run ended prod's follow: %+v", f)
	}
}

// A later attempt that fails and also raises the scenario is still the incident's new
// failure: the earlier attempt's pass is undone (no Resolve), the follow ends failed.
func TestALaterAttemptThatEscalatesUndoesTheFix(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev)
	rerunFailed(t, h, in)
	run := attempt(t, h, in, 2, "success")
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &run, At: h.Clock.Now()})
	if got := h.Incident(t, in.ID); got.FixedAt.IsZero() {
		t.Fatal("attempt 2 passed: not fixed")
	}
	// Attempt 3 gets further and fails at the preprod deploy: a more severe scenario.
	run.Attempt, run.Conclusion = 3, "failure"
	deploy := recovery.JobInfo{ID: in.JobID + 300000, RunID: run.ID, Attempt: 3, Name: recovery.JobDeployPreprod, Status: "completed", Conclusion: "failure",
		URL: run.URL + "/job/deploy", Steps: []recovery.StepInfo{{Number: 1, Name: "Terraform Apply", Status: "completed", Conclusion: "failure"}}}
	h.GitHub.AddRun(run, deploy)
	r, j := run, deploy
	h.Submit(t, recovery.Signal{Kind: recovery.SignalJobCompleted, Via: "webhook", Run: &r, Job: &j, At: h.Clock.Now()})
	got := h.Incident(t, in.ID)
	if got.Scenario != recovery.PreprodDeployFail {
		t.Fatalf("scenario: got %s, want it raised to %s", got.Scenario, recovery.PreprodDeployFail)
	}
	if f := got.Follow; f == nil || f.Outcome != recovery.FollowFailed || f.Attempt != 3 || !got.FixedAt.IsZero() {
		t.Fatalf("follow %+v, fixed %v; want failed at attempt 3 and not fixed", got.Follow, got.FixedAt)
	}
	if slices.Contains(actionIDs(recovery.Buttons(got)), recovery.ActResolve) {
		t.Error("Resolve offered on a failing, raised incident")
	}
}
