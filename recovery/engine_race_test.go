package recovery_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// racingIncidents is an IncidentStore where another replica opens each source's
// incident a moment before the engine does (its CreateIncident then finds it there).
type racingIncidents struct {
	recovery.IncidentStore
	mu     sync.Mutex
	theirs map[string]string // source → the other replica's incident ID
}

func (r *racingIncidents) CreateIncident(ctx context.Context, in recovery.Incident) error {
	r.mu.Lock()
	theirs := in
	theirs.ID += "-OTHER"
	r.theirs[in.SourceKey] = theirs.ID
	r.mu.Unlock()
	if err := r.IncidentStore.CreateIncident(ctx, theirs); err != nil {
		return err
	}
	return r.IncidentStore.CreateIncident(ctx, in)
}

// Two replicas opening one source's incident at once: the one that finds it opened
// updates that incident, so people see one alert, with its diagnostics once, and the
// audit log one opening (the other replica's to write).
func TestEngineIncidentOpenedMeanwhileIsUpdated(t *testing.T) {
	racing := &racingIncidents{theirs: map[string]string{}}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		racing.IncidentStore = d.Incidents
		d.Incidents = racing
	}))
	sig := h.FailedJob(recovery.JobTestsDev)
	h.GitHub.SetLog(sig.Job.ID, "FAILED tests/test_model.py::test_predict - AssertionError\n1 failed, 41 passed in 3.2s\n")
	h.Submit(t, sig)
	in := mustOpen(t, h, sig)
	if want := racing.theirs[sig.SourceKey()]; in.ID != want {
		t.Fatalf("open incident: got %s, want the other replica's %s", in.ID, want)
	}
	alerts := h.Publisher.Alerts()
	if len(alerts) != 1 || alerts[0].ID != in.ID || alerts[0].Scenario != recovery.DevTestsFail {
		t.Fatalf("alerts: got %d (%v), want one, of %s", len(alerts), alerts, in.ID)
	}
	if got := notesSaying(h, in.ID, "test_predict"); got != 1 {
		t.Fatalf("diagnostics notes: got %d, want 1; thread %q", got, h.Publisher.Texts(in.ID))
	}
	if got := h.AuditActions(t, in.ID); slices.Contains(got, "incident.opened") {
		t.Fatalf("audit: got %v, want no incident.opened by the replica that lost", got)
	}
}

// hookedPublisher runs before when an alert is about to be posted.
type hookedPublisher struct {
	recovery.Publisher
	before func(in recovery.Incident)
}

func (p hookedPublisher) PostAlert(ctx context.Context, in recovery.Incident) (string, error) {
	p.before(in)
	return p.Publisher.PostAlert(ctx, in)
}

// An incident changed while its alert was being posted (someone acknowledged it):
// the alert is updated at once to show the change.
func TestEngineAlertChangedWhilePostedShowsTheChange(t *testing.T) {
	var h *recoverytest.Harness
	once := sync.Once{}
	h = recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		d.Publisher = hookedPublisher{Publisher: d.Publisher, before: func(in recovery.Incident) {
			once.Do(func() {
				cur, err := h.Store.Incident(context.Background(), in.ID)
				if err != nil {
					t.Errorf("incident %s: %v", in.ID, err)
					return
				}
				cur.Status, cur.AckBy, cur.AckAt = recovery.IncidentAcknowledged, recoverytest.Requester, h.Clock.Now()
				if _, err := h.Store.UpdateIncident(context.Background(), cur); err != nil {
					t.Errorf("acknowledging %s: %v", in.ID, err)
				}
			})
		}}
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	inPlace(t, h, in.ID)
	a := mustAlert(t, h, in.ID)
	if a.Status != recovery.IncidentAcknowledged || a.AckBy != recoverytest.Requester {
		t.Fatalf("alert: got %s by %q, want acknowledged by %s", a.Status, a.AckBy, recoverytest.Requester)
	}
	if got := labels(recovery.Buttons(a)); slices.Contains(got, "Acknowledge") {
		t.Fatalf("buttons: got %v, want no Acknowledge once acknowledged", got)
	}
}

// An alert whose incident did not change while it was posted is posted once, not
// updated again.
func TestEngineAlertPostedOnceWhenUnchanged(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	if got := h.Publisher.Count("UpdateAlert"); got != 0 {
		t.Fatalf("alert updates after a plain post: got %d, want 0", got)
	}
	if got := len(h.Publisher.AlertVersions(in.ID)); got != 1 {
		t.Fatalf("alert versions: got %d, want 1", got)
	}
}

// postHeld is a WorkClaimer where another worker holds every alert's post.
type postHeld struct{ recovery.WorkClaimer }

func (p postHeld) ClaimWork(ctx context.Context, key string, lease time.Duration) (bool, error) {
	if strings.HasPrefix(key, "post-alert:") {
		return false, nil
	}
	return p.WorkClaimer.ClaimWork(ctx, key, lease)
}

// Another worker posting the incident's alert: this one leaves it to the winner
// (posting nothing) and its signal is done, not failed.
func TestEngineAlertPostHeldElsewhereIsLeftToItsHolder(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Claims = postHeld{d.Claims} }))
	sig := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, sig)
	if got := h.Publisher.Count("PostAlert"); got != 0 {
		t.Fatalf("alerts posted: got %d, want 0 (another worker posts it)", got)
	}
	if got := h.Clock.Timers(); len(got) != 0 {
		t.Fatalf("retries pending: got %v, want none (done, not failed)", got)
	}
	mustOpen(t, h, sig)
}

// A job's log unreadable: the failure is classified without it (the catch-all for a
// job no rule names) rather than left unreported.
func TestEngineJobLogUnreadableStillAlerts(t *testing.T) {
	h := recoverytest.New(t)
	h.GitHub.JobLogFunc = func(context.Context, int64) (recovery.JobLog, error) {
		return recovery.JobLog{}, os.ErrDeadlineExceeded
	}
	in := h.FailJob(t, "Build")
	if a := mustAlert(t, h, in.ID); a.Scenario != recovery.OtherJobFailed || a.Env != "dev" {
		t.Fatalf("alert: got %s in %s, want %s in dev", a.Scenario, a.Env, recovery.OtherJobFailed)
	}
}

// A lock named by the failed job's log is the incident's: the alert offers
// Force-unlock for it and says the likely cause.
func TestEngineLockFromTheLogIsOffered(t *testing.T) {
	log, err := os.ReadFile("testdata/terraform_lock_s3.log")
	if err != nil {
		t.Fatal(err)
	}
	h := recoverytest.New(t)
	sig := h.FailedJob(recovery.JobDeployPreprod)
	h.GitHub.SetLog(sig.Job.ID, string(log))
	h.Submit(t, sig)
	a := mustAlert(t, h, mustOpen(t, h, sig).ID)
	if a.Lock == nil || a.Lock.ID != "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b" || a.Cause == recovery.CauseNone {
		t.Fatalf("alert: got lock %+v, cause %q; want the log's lock 6f1c2d3e-… and its cause", a.Lock, a.Cause)
	}
	if got := labels(recovery.Buttons(a)); !slices.Contains(got, "Force-unlock") {
		t.Fatalf("buttons: got %v, want Force-unlock", got)
	}
}
