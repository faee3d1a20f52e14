package recovery_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// The alert counts the signals applied to its incident ("· 5 signals"): the failure,
// the rollback's start and success, an alarm joining, the alarm again.
func TestEngineAlertCountsItsSignals(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)
	steps := []struct {
		what string
		sig  func() recovery.Signal
	}{
		{"the rollback started", func() recovery.Signal { return h.JobOf(*failed.Run, recovery.JobRollback, "") }},
		{"the rollback succeeded", func() recovery.Signal { return h.JobOf(*failed.Run, recovery.JobRollback, "success") }},
		{"an alarm joined", func() recovery.Signal { return h.FiringAlarm("prod", "prod-errors") }},
		{"the alarm again", func() recovery.Signal { h.Advance(time.Minute); return h.FiringAlarm("prod", "prod-errors") }},
		{"another job failed", func() recovery.Signal { return h.JobOf(*failed.Run, "Smoke Test", "failure") }},
	}
	if got := mustAlert(t, h, in.ID).Signals; got != 1 {
		t.Fatalf("signals after the failure: got %d, want 1", got)
	}
	for i, s := range steps {
		h.Submit(t, s.sig())
		if got := h.Incident(t, in.ID).Signals; got != i+2 {
			t.Fatalf("signals after %s: got %d, want %d", s.what, got, i+2)
		}
	}
	if got := mustAlert(t, h, in.ID).Signals; got != len(steps)+1 {
		t.Fatalf("the alert's signals: got %d, want %d", got, len(steps)+1)
	}

	stuckIn := h.FiringAlarm("preprod", "preprod-errors")
	h.Submit(t, stuckIn)
	alarmIn := mustOpen(t, h, stuckIn)
	h.Submit(t, stuckAlarm(h, "preprod", "preprod-errors", "INC-FIX", stuckIn.Alarm.Since))
	if got := mustAlert(t, h, alarmIn.ID).Signals; got != 2 {
		t.Fatalf("signals of an alarm incident after it stuck: got %d, want 2", got)
	}
}

// A lock held, as the log names its holder: the holder's lock is the incident's, not
// another the lock table lists.
func TestEngineLogsLockHolderWinsOverTheLockTable(t *testing.T) {
	log, err := os.ReadFile("testdata/terraform_lock_s3.log")
	if err != nil {
		t.Fatal(err)
	}
	h := recoverytest.New(t)
	h.AWS.SetLocks("terraform-state-lock-dev", recovery.StateLock{ID: "0000-table-lock", Who: "someone@elsewhere"})
	sig := h.FailedJob("Build")
	h.GitHub.SetLog(sig.Job.ID, string(log))
	h.Submit(t, sig)
	a := mustAlert(t, h, mustOpen(t, h, sig).ID)
	if a.Scenario != recovery.StateLockHeld || a.Lock == nil || a.Lock.ID != "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b" {
		t.Fatalf("alert: got %s with lock %+v, want %s with the log's holder 6f1c2d3e-…", a.Scenario, a.Lock, recovery.StateLockHeld)
	}
}

// A failed rollback's alert keeps every known good version the diagnostics found.
func TestEngineRollbackFailureKeepsTheKnownGoodVersions(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobRollback)
	a := mustAlert(t, h, in.ID)
	if want := []string{recoverytest.GoodSHA, recoverytest.OlderSHA}; a.Scenario != recovery.RollbackFail || !slices.Equal(a.GoodSHAs, want) || a.RollbackSHA != recoverytest.GoodSHA {
		t.Fatalf("alert: got %s, good versions %v, rollback to %q; want %s, %v, %s", a.Scenario, a.GoodSHAs, a.RollbackSHA, recovery.RollbackFail, want, recoverytest.GoodSHA)
	}
}

// Every alarm that joins a deploy's incident is listed on its alert, once.
func TestEngineAlertListsEachJoiningAlarm(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	for _, name := range []string{"prod-errors", "prod-latency", "prod-throttles"} {
		h.Submit(t, h.FiringAlarm("prod", name))
	}
	h.Advance(time.Minute)
	h.Submit(t, h.FiringAlarm("prod", "prod-latency"))
	if got, want := mustAlert(t, h, in.ID).Alarms, []string{"prod-errors", "prod-latency", "prod-throttles"}; !slices.Equal(got, want) {
		t.Fatalf("alarms on the alert: got %v, want %v", got, want)
	}
}

// Incident IDs are "INC-" and eight characters people can type, the first four from
// the time, so IDs sort by when the incidents opened.
func TestEngineIncidentIDsSortByAge(t *testing.T) {
	h := recoverytest.New(t)
	var ids []string
	for _, wait := range []time.Duration{0, time.Minute, time.Hour, 24 * time.Hour, 30 * 24 * time.Hour} {
		h.Advance(wait)
		in := h.FailJob(t, recovery.JobDeployPreprod)
		if !regexp.MustCompile(`^INC-[0-9A-HJKMNP-TV-Z]{8}$`).MatchString(in.ID) {
			t.Fatalf("incident ID: got %q, want INC- and 8 Crockford base32 characters", in.ID)
		}
		ids = append(ids, in.ID)
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatalf("IDs of incidents opened one after the other: got %v, want them sorted", ids)
	}
}

// A delivery missing the run's commit (a job's payload): the diagnostics read the
// run from GitHub, and the alert shows its commit.
func TestEngineAlertTakesTheRunGitHubReturned(t *testing.T) {
	h := recoverytest.New(t)
	sig := h.FailedJob(recovery.JobDeployProd)
	full := *sig.Run
	h.GitHub.AddRun(full, *sig.Job)
	payload := full
	payload.CommitMessage, payload.CommitAuthor, payload.Number = "", "", 0
	sig.Run = &payload
	h.Submit(t, sig)
	a := mustAlert(t, h, mustOpen(t, h, sig).ID)
	if a.CommitMessage != full.CommitMessage || a.CommitAuthor != full.CommitAuthor {
		t.Fatalf("alert's commit: got %q by %q, want %q by %q", a.CommitMessage, a.CommitAuthor, full.CommitMessage, full.CommitAuthor)
	}
}

// The pull requests a run belongs to stay on its alert when a later signal of the run
// names none.
func TestEngineAlertKeepsTheRunsPullRequests(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd, func(r *recovery.Run, _ *recovery.JobInfo) { r.PullRequests = []int{12} })
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)
	run := *failed.Run
	run.PullRequests = nil
	h.Submit(t, h.JobOf(run, recovery.JobCanary, "failure"))
	a := mustAlert(t, h, in.ID)
	if a.Scenario != recovery.CanaryFail || !slices.Equal(a.PullRequests, []int{12}) {
		t.Fatalf("alert: got %s with pull requests %v, want %s with [12]", a.Scenario, a.PullRequests, recovery.CanaryFail)
	}
}

// takenOnce is an IncidentStore whose first CreateIncident answers that the ID is
// another incident's, as when two incidents drew the same random ID.
type takenOnce struct {
	recovery.IncidentStore
	ids []string
}

func (s *takenOnce) CreateIncident(ctx context.Context, in recovery.Incident) error {
	s.ids = append(s.ids, in.ID)
	if len(s.ids) == 1 {
		return fmt.Errorf("creating incident %s: %w", in.ID, recovery.ErrIDTaken)
	}
	return s.IncidentStore.CreateIncident(ctx, in)
}

// An incident whose random ID is taken draws another at once: the failure still
// opens its incident, on the first handling of its signal, under a new ID.
func TestEngineDrawsANewIDWhenItsIsTaken(t *testing.T) {
	taken := &takenOnce{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		taken.IncidentStore = d.Incidents
		d.Incidents = taken
	}))
	failed := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)
	if len(taken.ids) != 2 || taken.ids[0] == taken.ids[1] || in.ID != taken.ids[1] {
		t.Fatalf("IDs tried %v, incident %s: want a second, new ID, kept", taken.ids, in.ID)
	}
	if got := mustAlert(t, h, in.ID).Signals; got != 1 {
		t.Fatalf("the alert's signals: got %d, want 1", got)
	}
}
