package recoverytest

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

func TestHarnessSubmitReturnsOnceTheSignalIsHandled(t *testing.T) {
	h := New(t)
	sig := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, sig)
	if got := h.Handled(sig.Key()); got != 1 {
		t.Fatalf("handled: got %d, want 1", got)
	}
	alerts := h.Publisher.Alerts()
	if len(alerts) != 1 {
		t.Fatalf("alerts after the first delivery: got %d, want 1", len(alerts))
	}
	notes := len(h.Publisher.Notes(alerts[0].ID))
	looked := len(h.AWS.Calls()) // the diagnostics read AWS

	h.Submit(t, sig) // GitHub delivers it again
	if got := h.Handled(sig.Key()); got != 2 {
		t.Fatalf("handled: got %d, want 2 (the redelivery was looked at)", got)
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts after the redelivery: got %d, want still 1", got)
	}
	if got := len(h.Publisher.Notes(alerts[0].ID)); got != notes {
		t.Fatalf("notes after the redelivery: got %d, want still %d", got, notes)
	}
	if got := len(h.AWS.Calls()); got != looked {
		t.Fatalf("AWS calls after the redelivery: got %d, want still %d (a fact is acted on once)", got, looked)
	}
}

func TestHarnessPagesThroughItsPagersOnItsClock(t *testing.T) {
	h := New(t)
	in := h.FailJob(t, recovery.JobDeployProd) // the runbook: on-call after 15 minutes
	h.Advance(15*time.Minute - time.Second)
	if err := h.Escalate(t); err != nil {
		t.Fatal(err)
	}
	if got := len(h.PagerDuty.Sends()); got != 0 {
		t.Fatalf("PagerDuty sends 1 s before the deadline: got %d, want 0", got)
	}
	h.Advance(2 * time.Second)
	if err := h.Escalate(t); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Pager{h.PagerDuty, h.SlackPager} {
		sends := p.Sends()
		if len(sends) != 1 {
			t.Fatalf("%s sends 1 s after the deadline: got %d, want 1", p.Name(), len(sends))
		}
		s := sends[0]
		if want := Start.Add(15*time.Minute + time.Second); !s.At.Equal(want) || s.Incident.ID != in.ID || !slices.Equal(s.Levels, []string{"oncall"}) {
			t.Fatalf("%s send: got %v about %s to %v, want %v about %s to [oncall]", p.Name(), s.At, s.Incident.ID, s.Levels, want, in.ID)
		}
	}
}

func TestHarnessUsersHoldTheirRoles(t *testing.T) {
	h := New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	_, err := h.Acknowledge(t, in.ID, Outsider)
	if msg := UserMessage(err); !strings.Contains(msg, "*responder* role") {
		t.Fatalf("acknowledging as %s: got %q (%v), want a refusal naming the responder role", Outsider, msg, err)
	}
	reply, err := h.Acknowledge(t, in.ID, GroupMember)
	if err != nil || !strings.Contains(reply, "You acknowledged") {
		t.Fatalf("acknowledging as %s (through %s): got %q, %v; want acknowledged", GroupMember, OnCallGroup, reply, err)
	}
	if got := h.Incident(t, in.ID); got.Status != recovery.IncidentAcknowledged || got.AckBy != GroupMember {
		t.Fatalf("incident: got %s by %q, want acknowledged by %s", got.Status, got.AckBy, GroupMember)
	}
}

func TestHarnessOptionsChangeTheEngine(t *testing.T) {
	mine := NewPublisher()
	h := New(t, WithoutActions(), WithDeps(func(d *recovery.EngineDeps) { d.Publisher = mine }))
	in := h.FailJob(t, recovery.JobDeployProd)
	if got, theirs := len(mine.Alerts()), len(h.Publisher.Alerts()); got != 1 || theirs != 0 {
		t.Fatalf("alerts: got %d on the test's publisher and %d on the harness's, want 1 and 0", got, theirs)
	}
	reply, err := h.Act(t, in.ID, recovery.ActRollback, Requester)
	if err != nil || !strings.Contains(reply, "recovery actions are not configured") {
		t.Fatalf("rollback without actions: got %q, %v; want it refused as not configured", reply, err)
	}
}

func TestHarnessJobOfAndFiringAlarmAreSignalsOfTheSameWorld(t *testing.T) {
	h := New(t)
	sig := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, sig)
	in, err := h.Store.OpenIncidentBySource(t.Context(), sig.SourceKey())
	if err != nil {
		t.Fatal(err)
	}
	started := h.JobOf(*sig.Run, recovery.JobRollback, "")
	h.Submit(t, started)
	h.Publisher.WaitNote(t, in.ID, "Automatic rollback started (Rollback on Failure).")
	if got := h.Incident(t, in.ID).Rollback; got != recovery.RollbackRunning {
		t.Fatalf("rollback: got %q, want %q", got, recovery.RollbackRunning)
	}
	jobs, _ := h.GitHub.RunJobs(t.Context(), sig.Run.ID)
	if len(jobs) != 2 || jobs[1].Name != recovery.JobRollback || jobs[1].Status != "in_progress" {
		t.Fatalf("jobs of run %d: got %v, want the deploy and the rollback in progress", sig.Run.ID, jobs)
	}

	alarm := h.FiringAlarm("preprod", "preprod-dashboard-errors")
	h.Submit(t, alarm)
	a, err := h.Store.OpenIncidentBySource(t.Context(), alarm.SourceKey())
	if err != nil || a.Scenario != recovery.AlarmFiring || a.Env != "preprod" {
		t.Fatalf("alarm incident: got %s in %s (%v), want %s in preprod", a.Scenario, a.Env, err, recovery.AlarmFiring)
	}
	firing, _ := h.AWS.AlarmsFiring(t.Context(), recovery.Environment{Name: "preprod"})
	if len(firing) != 1 || firing[0].Name != "preprod-dashboard-errors" {
		t.Fatalf("preprod alarms in ALARM: got %v, want preprod-dashboard-errors", firing)
	}
}

func TestGitHubAnswersCommitsFromWhatItKnows(t *testing.T) {
	ctx := t.Context()
	g := NewGitHub()
	g.AddDeploy("prod", recovery.Deploy{SHA: GoodSHA})
	g.OffBranch("cafebabe")
	g.Unknown("deadbeef")
	tests := []struct {
		sha       string
		wantSHA   string
		reachable bool
		notFound  bool
	}{
		{GoodSHA[:7], GoodSHA, true, false},
		{BadSHA, BadSHA, true, false},
		{"cafebabe", "", false, false},
		{"deadbeef", "", false, true},
	}
	for _, tt := range tests {
		p, err := g.CommitOnBranch(ctx, tt.sha, "main")
		if p.SHA != tt.wantSHA || p.Reachable != tt.reachable || errors.Is(err, recovery.ErrNotFound) != tt.notFound {
			t.Errorf("CommitOnBranch(%s): got %q reachable %v, %v; want %q reachable %v, not found %v", tt.sha, p.SHA, p.Reachable, err, tt.wantSHA, tt.reachable, tt.notFound)
		}
	}
	prod := recovery.Environment{Name: "prod"}
	for sha, want := range map[string]bool{GoodSHA: true, BadSHA: false} {
		if got, _ := g.DeployedBefore(ctx, prod, sha); got != want {
			t.Errorf("DeployedBefore(prod, %s): got %v, want %v", sha, got, want)
		}
	}
	if got := g.CallsTo("CommitOnBranch"); len(got) != 4 || got[0].Args[0] != GoodSHA[:7] {
		t.Fatalf("recorded calls: got %v, want the 4 CommitOnBranch calls in order", got)
	}
}

func TestHarnessClockDrivesAJobsVerificationWatch(t *testing.T) {
	h := New(t, WithDeps(func(d *recovery.EngineDeps) {
		d.Actions.Verify = recovery.VerifyConfig{Watch: 10 * time.Minute, Interval: 30 * time.Second}
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	// The job renews its lease every 10 s and, once verifying, checks every 30 s.
	if !h.Clock.WaitTickers(2, WaitTimeout) {
		t.Fatalf("tickers: got %v, want the lease's and the watch's", h.Clock.Tickers())
	}
	if got := h.Job(t, job.ID).State; got != recovery.JobRunning {
		t.Fatalf("job while watching: got %s, want %s", got, recovery.JobRunning)
	}
	h.Advance(10 * time.Minute)
	job = h.WaitJob(t, job.ID)
	if job.State != recovery.JobSucceeded {
		t.Fatalf("job after the watch: got %s (%s), want %s", job.State, job.Error, recovery.JobSucceeded)
	}
	h.Publisher.WaitNote(t, in.ID, "it held for 10m")
}
