package recovery_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// The pipeline's own rollback, followed on the alert: started (running), then
// succeeded (fixed, with Resolve offered first and the verification re-run in the
// thread); a late "started" after the end changes nothing.
func TestEngineFollowsTheAutomaticRollbackOnTheAlert(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)
	if a := mustAlert(t, h, in.ID); a.Rollback != "" || !a.FixedAt.IsZero() {
		t.Fatalf("alert before the rollback: got rollback %q fixed %v, want neither", a.Rollback, a.FixedAt)
	}

	h.Advance(time.Minute)
	h.Submit(t, h.JobOf(*failed.Run, recovery.JobRollback, ""))
	if a := mustAlert(t, h, in.ID); a.Rollback != recovery.RollbackRunning {
		t.Fatalf("alert after the rollback started: got rollback %q, want %q", a.Rollback, recovery.RollbackRunning)
	}
	started := h.Publisher.WaitNote(t, in.ID, ":arrows_counterclockwise: Automatic rollback started (Rollback on Failure).")
	if started.LinkText != "rollback job" || !strings.Contains(started.Link, "/job/") {
		t.Fatalf("started note's link: got %q %q, want the rollback job's", started.LinkText, started.Link)
	}

	h.Advance(time.Minute)
	succeeded := h.JobOf(*failed.Run, recovery.JobRollback, "success")
	h.Submit(t, succeeded)
	a := mustAlert(t, h, in.ID)
	if a.Rollback != recovery.RollbackSucceeded || !a.FixedAt.Equal(recoverytest.Start.Add(2*time.Minute)) {
		t.Fatalf("alert after the rollback succeeded: got rollback %q fixed at %v, want %q at %v",
			a.Rollback, a.FixedAt, recovery.RollbackSucceeded, recoverytest.Start.Add(2*time.Minute))
	}
	if got := labels(recovery.Buttons(a)); len(got) == 0 || got[0] != "Resolve" {
		t.Fatalf("buttons once fixed: got %v, want Resolve first", got)
	}
	want := ":white_check_mark: Automatic rollback succeeded: prod is back on " + recoverytest.GoodSHA[:7] +
		".\nVerification re-run: :white_check_mark: health endpoint 200; no alarm in ALARM"
	if n := h.Publisher.WaitNote(t, in.ID, want); n.Link != succeeded.Job.URL {
		t.Fatalf("succeeded note's link: got %q, want %q", n.Link, succeeded.Job.URL)
	}
	var detail map[string]string
	for _, e := range h.Audit(t, in.ID) {
		if e.Action == "rollback.succeeded" {
			detail = e.Detail
		}
	}
	if detail["sha"] != recoverytest.GoodSHA || detail["verified"] != "true" {
		t.Fatalf("rollback.succeeded audit: got %v, want sha %s verified true", detail, recoverytest.GoodSHA)
	}
	inPlace(t, h, in.ID)

	// The news that a rollback started, arriving after how it ended.
	notes, versions := len(h.Publisher.Notes(in.ID)), len(h.Publisher.AlertVersions(in.ID))
	h.Submit(t, h.JobOf(*failed.Run, recovery.JobRollback, ""))
	if a := mustAlert(t, h, in.ID); a.Rollback != recovery.RollbackSucceeded {
		t.Fatalf("alert after a late \"started\": got rollback %q, want still %q", a.Rollback, recovery.RollbackSucceeded)
	}
	if got := h.Incident(t, in.ID).Rollback; got != recovery.RollbackSucceeded {
		t.Fatalf("incident after a late \"started\": got rollback %q, want still %q", got, recovery.RollbackSucceeded)
	}
	if n, v := len(h.Publisher.Notes(in.ID)), len(h.Publisher.AlertVersions(in.ID)); n != notes || v != versions {
		t.Fatalf("after a late \"started\": got %d notes and %d alert versions, want still %d and %d", n, v, notes, versions)
	}
}

// A failed rollback's "started" arriving late leaves it failed too.
func TestEngineLateRollbackStartLeavesAFailedRollback(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)
	h.Submit(t, h.JobOf(*failed.Run, recovery.JobRollback, "failure"))
	h.Submit(t, h.JobOf(*failed.Run, recovery.JobRollback, ""))
	if a := mustAlert(t, h, in.ID); a.Rollback != recovery.RollbackFailed {
		t.Fatalf("alert: got rollback %q, want still %q", a.Rollback, recovery.RollbackFailed)
	}
	if got := notesSaying(h, in.ID, "Automatic rollback started"); got != 0 {
		t.Fatalf("started notes after the rollback failed: got %d, want 0", got)
	}
}

// The verification re-run after the rollback says what it found, in the thread.
func TestEngineRollbackSuccessSaysTheVerification(t *testing.T) {
	tests := []struct {
		name   string
		world  func(h *recoverytest.Harness)
		back   string
		verify string
		ok     string
	}{
		{"healthy", func(*recoverytest.Harness) {}, "prod is back on " + recoverytest.GoodSHA[:7],
			":white_check_mark: health endpoint 200; no alarm in ALARM", "true"},
		{"health endpoint failing", func(h *recoverytest.Harness) { h.Health.SetStatus("prod", 503) }, "prod is back on " + recoverytest.GoodSHA[:7],
			":x: health endpoint answered 503; no alarm in ALARM", "false"},
		{"health endpoint unreachable", func(h *recoverytest.Harness) {
			h.Health.CheckHealthFunc = func(context.Context, recovery.Environment) (recovery.HealthResult, error) {
				return recovery.HealthResult{}, errors.New("dial tcp: connection refused\nmore")
			}
		}, "prod is back on " + recoverytest.GoodSHA[:7], ":x: health endpoint: dial tcp: connection refused; no alarm in ALARM", "false"},
		{"alarms in ALARM", func(h *recoverytest.Harness) {
			h.AWS.SetAlarms("prod", recovery.Alarm{Name: "prod-errors", State: "ALARM"}, recovery.Alarm{Name: "prod-latency", State: "ALARM"})
		}, "prod is back on " + recoverytest.GoodSHA[:7], ":x: health endpoint 200; in ALARM: prod-errors, prod-latency", "false"},
		{"alarms unreadable", func(h *recoverytest.Harness) {
			h.AWS.AlarmsFiringFunc = func(context.Context, recovery.Environment) ([]recovery.Alarm, error) {
				return nil, errors.New("AccessDenied on DescribeAlarms")
			}
		}, "prod is back on " + recoverytest.GoodSHA[:7], ":x: health endpoint 200; alarms: AccessDenied on DescribeAlarms", "false"},
		{"no good version known", func(h *recoverytest.Harness) {
			h.GitHub.SuccessfulDeploysFunc = func(context.Context, recovery.Environment, int) ([]recovery.Deploy, error) { return nil, nil }
		}, "prod is back on the last known good version", ":white_check_mark: health endpoint 200; no alarm in ALARM", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t)
			tt.world(h)
			failed := h.FailedJob(recovery.JobDeployProd)
			h.Submit(t, failed)
			in := mustOpen(t, h, failed)
			h.Submit(t, h.JobOf(*failed.Run, recovery.JobRollback, "success"))
			want := ":white_check_mark: Automatic rollback succeeded: " + tt.back + ".\nVerification re-run: " + tt.verify + "\n"
			if got := notesSaying(h, in.ID, want); got != 1 {
				t.Fatalf("notes saying %q: got %d, want 1; thread %q", want, got, h.Publisher.Texts(in.ID))
			}
			for _, e := range h.Audit(t, in.ID) {
				if e.Action == "rollback.succeeded" && e.Detail["verified"] != tt.ok {
					t.Fatalf("rollback.succeeded verified: got %q, want %q", e.Detail["verified"], tt.ok)
				}
			}
		})
	}
}

// Signals arrive in any order: a rollback's success before the failure it answers
// handles the run's failed jobs first (one incident, its failure once); a rollback
// starting with no failure on record opens nothing.
func TestEngineRollbackNewsBeforeTheFailure(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd) // on GitHub, not delivered yet

	h.Submit(t, h.JobOf(*failed.Run, recovery.JobRollback, ""))
	if got := len(h.Publisher.Posts()); got != 0 {
		t.Fatalf("posts after a rollback started with no failure on record: got %d, want 0", got)
	}

	h.Submit(t, h.JobOf(*failed.Run, recovery.JobRollback, "success"))
	in := mustOpen(t, h, failed)
	a := mustAlert(t, h, in.ID)
	if a.Scenario != recovery.ProdDeployFail || a.Rollback != recovery.RollbackSucceeded || a.JobID != failed.Job.ID {
		t.Fatalf("alert: got %s, rollback %q, job %d; want %s, %q, the failed deploy %d", a.Scenario, a.Rollback, a.JobID, recovery.ProdDeployFail, recovery.RollbackSucceeded, failed.Job.ID)
	}
	if got := h.Handled(failed.Key()); got != 1 {
		t.Fatalf("the failed deploy's signal: handled %d times, want 1 (handled first)", got)
	}
	if got := notesSaying(h, in.ID, "Automatic rollback succeeded"); got != 1 {
		t.Fatalf("succeeded notes: got %d, want 1; thread %q", got, h.Publisher.Texts(in.ID))
	}
	notes := len(h.Publisher.Notes(in.ID))
	h.Submit(t, failed) // the failure's own delivery, late
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts after the late failure: got %d, want 1", got)
	}
	if got := len(h.Publisher.Notes(in.ID)); got != notes {
		t.Fatalf("notes after the late failure: got %d, want still %d", got, notes)
	}
}

// A finished run's failed jobs (and its rollback's success) are handled as the job
// deliveries would be, once: the poller and the webhook report the same facts.
func TestEngineRunCompletedHandlesItsJobsOnce(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd)
	canary := h.JobOf(*failed.Run, recovery.JobCanary, "failure")
	h.JobOf(*failed.Run, "Notify", "success")
	h.JobOf(*failed.Run, "Cleanup", "cancelled")
	running := h.JobOf(*failed.Run, "Report", "failure")
	running.Job.Status = "in_progress"
	h.GitHub.AddJob(failed.Run.ID, *running.Job)
	rolled := h.JobOf(*failed.Run, recovery.JobRollback, "success")

	completed := recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: failed.Run, At: h.Clock.Now()}
	h.Submit(t, completed)
	in := mustOpen(t, h, failed)
	a := mustAlert(t, h, in.ID)
	if a.Scenario != recovery.CanaryFail || a.Rollback != recovery.RollbackSucceeded {
		t.Fatalf("alert: got %s rollback %q, want %s rollback %q", a.Scenario, a.Rollback, recovery.CanaryFail, recovery.RollbackSucceeded)
	}
	for _, sig := range []recovery.Signal{failed, canary, rolled} {
		if got := h.Handled(sig.Key()); got != 1 {
			t.Fatalf("%s (%s): handled %d times, want 1", sig.Job.Name, sig.Key(), got)
		}
		h.Submit(t, sig) // the webhook's delivery of the same job
	}
	for _, s := range []string{"Escalated", "Automatic rollback succeeded"} {
		if got := notesSaying(h, in.ID, s); got != 1 {
			t.Fatalf("notes saying %q: got %d, want 1; thread %q", s, got, h.Publisher.Texts(in.ID))
		}
	}
	for _, s := range []string{"Notify", "Cleanup", "Report"} {
		if got := notesSaying(h, in.ID, s); got != 0 {
			t.Fatalf("notes naming %s (succeeded, cancelled or running): got %d, want 0", s, got)
		}
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts: got %d, want 1", got)
	}
}

// A run that succeeded or was skipped is not looked into.
func TestEngineRunCompletedWithoutFailureIsNotLookedInto(t *testing.T) {
	for _, conclusion := range []string{"success", "skipped"} {
		t.Run(conclusion, func(t *testing.T) {
			h := recoverytest.New(t)
			run := h.FailedJob(recovery.JobDeployProd, func(r *recovery.Run, _ *recovery.JobInfo) { r.Conclusion = conclusion })
			h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: run.Run})
			if got := h.GitHub.Count("RunJobs"); got != 0 {
				t.Fatalf("RunJobs calls for a run that ended in %s: got %d, want 0", conclusion, got)
			}
			if got := len(h.Publisher.Posts()); got != 0 {
				t.Fatalf("posts: got %d, want 0", got)
			}
		})
	}
}

// A run's jobs unreadable: the run's signal fails, is released, and the poller's
// next report of it opens the incident.
func TestEngineRunCompletedRetriedWhenItsJobsAreUnreadable(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd)
	h.GitHub.RunJobsFunc = func(context.Context, int64) ([]recovery.JobInfo, error) { return nil, errors.New("github: 502") }
	completed := recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: failed.Run}
	h.Submit(t, completed)
	if got := len(h.Publisher.Alerts()); got != 0 {
		t.Fatalf("alerts while GitHub fails: got %d, want 0", got)
	}
	h.GitHub.RunJobsFunc = nil
	h.Submit(t, completed)
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts once GitHub answers: got %d, want 1", got)
	}
}

// Slack failing while an alert is posted: the signal fails and is released, nothing
// is shown; its next report posts the alert and its diagnostics' notes, once, and the
// incident opened once.
func TestEnginePublisherFailingLosesAndDoublesNothing(t *testing.T) {
	h := recoverytest.New(t)
	sig := h.FailedJob(recovery.JobTestsDev)
	h.GitHub.SetLog(sig.Job.ID, "FAILED tests/test_model.py::test_predict - AssertionError: expected positive\n1 failed, 41 passed in 3.2s\n")
	h.Publisher.FailNext("PostAlert", 1, nil)
	h.Submit(t, sig)
	if got := len(h.Publisher.Posts()); got != 0 {
		t.Fatalf("posts while Slack fails: got %d, want 0", got)
	}
	in := mustOpen(t, h, sig)
	if in.MessageTS != "" {
		t.Fatalf("incident: got alert ts %q, want none", in.MessageTS)
	}

	h.Submit(t, sig) // reported again (the retry, or the poller)
	a := mustAlert(t, h, in.ID)
	if a.Scenario != recovery.DevTestsFail {
		t.Fatalf("alert: got %s, want %s", a.Scenario, recovery.DevTestsFail)
	}
	texts := h.Publisher.Texts(in.ID)
	if len(texts) == 0 || notesSaying(h, in.ID, "test_predict") != 1 {
		t.Fatalf("thread after the retry: got %q, want the test failures once", texts)
	}
	h.Submit(t, sig)
	if got := h.Publisher.Texts(in.ID); !slices.Equal(got, texts) {
		t.Fatalf("thread after a third report: got %q, want still %q", got, texts)
	}
	if got := h.AuditActions(t, in.ID); !slices.Equal(got, []string{"incident.opened", "incident.alerted"}) {
		t.Fatalf("audit: got %v, want incident.opened, incident.alerted", got)
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts: got %d, want 1", got)
	}
}

// Slack failing while the alert is updated: the rollback's start is not told until
// its next report, which tells it once.
func TestEnginePublisherFailingOnUpdateRetriesTheNote(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)
	started := h.JobOf(*failed.Run, recovery.JobRollback, "")
	h.Publisher.FailNext("UpdateAlert", 1, nil)
	h.Submit(t, started)
	if got := notesSaying(h, in.ID, "Automatic rollback started"); got != 0 {
		t.Fatalf("started notes while Slack fails: got %d, want 0", got)
	}
	h.Submit(t, started)
	if got := notesSaying(h, in.ID, "Automatic rollback started"); got != 1 {
		t.Fatalf("started notes after the retry: got %d, want 1; thread %q", got, h.Publisher.Texts(in.ID))
	}
	if a := mustAlert(t, h, in.ID); a.Rollback != recovery.RollbackRunning {
		t.Fatalf("alert: got rollback %q, want %q", a.Rollback, recovery.RollbackRunning)
	}
}

// Two failed jobs of one run while Slack fails once: the failure of the first is
// retried with the run; the thread ends with each job's news once.
func TestEngineRunCompletedWithSlackFailingOnce(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployPreprod)
	second := h.JobOf(*failed.Run, "Lint", "failure")
	completed := recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: failed.Run}
	h.Publisher.FailNext("PostAlert", 1, nil)
	h.Submit(t, completed)
	in := mustOpen(t, h, failed)
	if got := h.Handled(second.Key()); got != 1 {
		t.Fatalf("the second job: handled %d times, want 1 (one job's failure does not stop the others)", got)
	}
	h.Submit(t, completed)
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts: got %d, want 1", got)
	}
	if got := notesSaying(h, in.ID, "Another job of this run failed: Lint"); got != 1 {
		t.Fatalf("notes about Lint: got %d, want 1; thread %q", got, h.Publisher.Texts(in.ID))
	}
	if got := h.Handled(failed.Key()); got != 2 {
		t.Fatalf("the first job: handled %d times, want 2 (failed, then retried with the run)", got)
	}
}

// pipeline.max_signal_age: a signal about a run whose last news is older opens
// nothing (a replayed capture); at the limit it is acted on. The newest of the run's
// and the job's times counts.
func TestEngineIgnoresSignalsOlderThanMaxSignalAge(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		age    time.Duration // of the run's UpdatedAt (0: not said)
		create time.Duration // of the run's CreatedAt (0: not said)
		job    time.Duration // of the job's CompletedAt (0: not said)
		start  time.Duration // of the job's StartedAt (0: not said)
		max    time.Duration
		opens  bool
	}{
		{name: "at the limit", age: day, max: day, opens: true},
		{name: "a second past it", age: day + time.Second, max: day, opens: false},
		{name: "created past it, no update time", create: day + time.Second, max: day, opens: false},
		{name: "created at the limit, no update time", create: day, max: day, opens: true},
		{name: "old run, its job completed lately", age: 3 * day, job: time.Hour, max: day, opens: true},
		{name: "old run, its job started lately", age: 3 * day, start: time.Hour, max: day, opens: true},
		{name: "old run and job", age: 3 * day, job: 2 * day, start: 2 * day, max: day, opens: false},
		{name: "recent run, older job", age: time.Hour, job: 2 * day, max: day, opens: true},
		{name: "no time said", max: day, opens: true},
		{name: "no limit", age: 30 * day, max: 0, opens: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
				p := *d.Pipeline
				p.MaxSignalAge = tt.max
				d.Pipeline = &p
			}))
			now := h.Clock.Now()
			at := func(ago time.Duration) time.Time {
				if ago == 0 {
					return time.Time{}
				}
				return now.Add(-ago)
			}
			sig := h.FailedJob(recovery.JobDeployProd, func(r *recovery.Run, j *recovery.JobInfo) {
				r.UpdatedAt, r.CreatedAt, r.StartedAt = at(tt.age), at(tt.create), time.Time{}
				j.CompletedAt, j.StartedAt = at(tt.job), at(tt.start)
			})
			h.Submit(t, sig)
			if got := len(h.Publisher.Alerts()) == 1; got != tt.opens {
				t.Fatalf("alert posted: got %v, want %v; posts %d", got, tt.opens, len(h.Publisher.Posts()))
			}
		})
	}
}

// A delivery that carries its run's event and repository (every webhook does) costs no
// read of the run to decide whether to trust it; one without them is read once.
func TestRunFactsReadOnlyWhenMissing(t *testing.T) {
	h := recoverytest.New(t)
	sig := h.FailedJob(recovery.JobTestsDev)
	h.Submit(t, sig)
	if got := h.GitHub.Count("Run"); got != 0 {
		t.Errorf("reads of a run the delivery described: %d, want 0", got)
	}
	bare := h.FailedJob(recovery.JobTestsDev)
	bare.Run.Event, bare.Run.HeadRepository = "", ""
	h.Submit(t, bare)
	if got := h.GitHub.Count("Run"); got < 1 {
		t.Errorf("reads of a run the delivery did not describe: %d, want at least 1", got)
	}
}
