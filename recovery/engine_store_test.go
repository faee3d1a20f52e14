package recovery_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// flakyIncidents is an IncidentStore whose methods fail as scripted (failNext), as a
// database does while it is unreachable.
type flakyIncidents struct {
	recovery.IncidentStore
	sources recovery.SourceIndex
	mu      sync.Mutex
	fails   map[string]int
	// conflicts is how many UpdateIncident calls to come find the incident changed
	// by someone else (ErrConflict).
	conflicts int
}

var errStoreDown = errors.New("store: connection refused")

func (f *flakyIncidents) failNext(method string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[method] += n
}

func (f *flakyIncidents) fail(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails[method] > 0 {
		f.fails[method]--
		return errStoreDown
	}
	return nil
}

func (f *flakyIncidents) OpenIncidentBySource(ctx context.Context, source string) (recovery.Incident, error) {
	if err := f.fail("OpenIncidentBySource"); err != nil {
		return recovery.Incident{}, err
	}
	return f.sources.OpenIncidentBySource(ctx, source)
}

func (f *flakyIncidents) CreateIncident(ctx context.Context, in recovery.Incident) error {
	if err := f.fail("CreateIncident"); err != nil {
		return err
	}
	return f.IncidentStore.CreateIncident(ctx, in)
}

func (f *flakyIncidents) UpdateIncident(ctx context.Context, in recovery.Incident) (recovery.Incident, error) {
	if err := f.fail("UpdateIncident"); err != nil {
		return recovery.Incident{}, err
	}
	f.mu.Lock()
	conflict := f.conflicts > 0
	if conflict {
		f.conflicts--
	}
	f.mu.Unlock()
	if conflict {
		return recovery.Incident{}, fmt.Errorf("incident %s: %w", in.ID, recovery.ErrConflict)
	}
	return f.IncidentStore.UpdateIncident(ctx, in)
}

func (f *flakyIncidents) AttachSource(ctx context.Context, id, source string) error {
	if err := f.fail("AttachSource"); err != nil {
		return err
	}
	return f.sources.AttachSource(ctx, id, source)
}

func (f *flakyIncidents) Incident(ctx context.Context, id string) (recovery.Incident, error) {
	if err := f.fail("Incident"); err != nil {
		return recovery.Incident{}, err
	}
	return f.IncidentStore.Incident(ctx, id)
}

func (f *flakyIncidents) OpenIncidents(ctx context.Context, env string) ([]recovery.Incident, error) {
	if err := f.fail("OpenIncidents"); err != nil {
		return nil, err
	}
	return f.IncidentStore.OpenIncidents(ctx, env)
}

// The store failing while a signal is handled: the signal fails, shows nothing, and
// is queued again after 2 s of the clock; the retry does what the signal says, once.
func TestEngineStoreFailingIsRetriedWithoutLossOrDoubles(t *testing.T) {
	type world = storeWorld
	tests := []struct {
		name   string
		method string
		// setup makes the world before the signal; signal is the signal, made after.
		setup  func(t *testing.T, h *recoverytest.Harness) world
		signal func(w world) recovery.Signal
		// note is what the signal says in the thread of w.in (or of the incident its
		// source opens, when w.in is zero), once in the end.
		note string
	}{
		{"a failure's incident not found", "OpenIncidentBySource", noIncident, failedDeploy, ""},
		{"a failure's incident not created", "CreateIncident", noIncident, failedDeploy, ""},
		{"a failure's incident not updated", "UpdateIncident", noIncident, failedDeploy, ""},
		{"a rollback's incident not found", "OpenIncidentBySource", deployFailed, func(w world) recovery.Signal {
			return w.h.JobOf(recovery.Run{ID: w.in.RunID, Attempt: 1, URL: w.in.RunURL}, recovery.JobRollback, "")
		}, "Automatic rollback started"},
		{"a rollback's success not recorded", "UpdateIncident", deployFailed, func(w world) recovery.Signal {
			return w.h.JobOf(recovery.Run{ID: w.in.RunID, Attempt: 1, URL: w.in.RunURL}, recovery.JobRollback, "success")
		}, "Automatic rollback succeeded"},
		{"an alarm's incident not found", "OpenIncidentBySource", deployFailed, firing, "prod-errors entered ALARM at"},
		{"an environment's incidents not listed", "OpenIncidents", deployFailed, firing, "prod-errors entered ALARM at"},
		{"an alarm not attached", "AttachSource", deployFailed, firing, "prod-errors entered ALARM at"},
		{"an alarm again not recorded", "UpdateIncident", alarmJoined, firing, "prod-errors entered ALARM again"},
		{"a cleared alarm's incident not read", "Incident", alarmOpen, func(w world) recovery.Signal {
			return recovery.Signal{Kind: recovery.SignalAlarmCleared, Via: "alarm-poll", Env: "prod", Alarm: &recovery.Alarm{Name: w.in.AlarmName}, IncidentID: w.in.ID}
		}, "prod-errors is no longer in ALARM"},
		{"a stuck alarm not attached", "AttachSource", alarmOpen, stuck, "prod-errors is still in ALARM"},
		{"a stuck alarm not recorded", "UpdateIncident", alarmOpen, stuck, "prod-errors is still in ALARM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flaky := &flakyIncidents{fails: map[string]int{}}
			h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
				flaky.IncidentStore, flaky.sources = d.Incidents, d.Sources
				d.Incidents, d.Sources = flaky, flaky
			}))
			w := tt.setup(t, h)
			sig := tt.signal(w)
			posts := len(h.Publisher.Posts())

			flaky.failNext(tt.method, 1)
			h.Submit(t, sig)
			if got := len(h.Publisher.Posts()); got != posts {
				t.Fatalf("posts while %s fails: got %d more, want none; posts %v", tt.method, got-posts, h.Publisher.Posts()[posts:])
			}
			h.Clock.WaitTimers(1, recoverytest.WaitTimeout)
			if got := h.Clock.Timers(); len(got) != 1 || !got[0].Equal(h.Clock.Now().Add(2*time.Second)) {
				t.Fatalf("retries pending: got %v, want one in 2 s", got)
			}

			h.Advance(2 * time.Second)
			h.WaitHandled(t, sig.Key(), 2)
			in := w.in
			if in.ID == "" {
				in = mustOpen(t, h, sig)
			}
			if tt.note == "" {
				if got := len(h.Publisher.Alerts()); got != 1 {
					t.Fatalf("alerts after the retry: got %d, want 1", got)
				}
				opened := 0
				for _, a := range h.AuditActions(t, in.ID) {
					if a == "incident.opened" {
						opened++
					}
				}
				if opened != 1 {
					t.Fatalf("incident.opened in the audit: got %d, want 1", opened)
				}
				return
			}
			if got := notesSaying(h, in.ID, tt.note); got != 1 {
				t.Fatalf("notes saying %q after the retry: got %d, want 1; thread %q", tt.note, got, h.Publisher.Texts(in.ID))
			}
		})
	}
}

// storeWorld is what a store failure test's signal is about: the harness, and the
// incident the signal concerns when there is one already.
type storeWorld struct {
	h  *recoverytest.Harness
	in recovery.Incident
}

func noIncident(_ *testing.T, h *recoverytest.Harness) storeWorld { return storeWorld{h: h} }

func deployFailed(t *testing.T, h *recoverytest.Harness) storeWorld {
	return storeWorld{h: h, in: h.FailJob(t, recovery.JobDeployProd)}
}

// alarmJoined: prod's deploy failed and prod-errors joined it; a minute later.
func alarmJoined(t *testing.T, h *recoverytest.Harness) storeWorld {
	w := deployFailed(t, h)
	h.Submit(t, h.FiringAlarm("prod", "prod-errors"))
	h.Advance(time.Minute)
	return w
}

// alarmOpen: prod-errors has an incident of its own; 20 minutes later.
func alarmOpen(t *testing.T, h *recoverytest.Harness) storeWorld {
	sig := h.FiringAlarm("prod", "prod-errors")
	h.Submit(t, sig)
	h.Advance(20 * time.Minute)
	return storeWorld{h: h, in: mustOpen(t, h, sig)}
}

func failedDeploy(w storeWorld) recovery.Signal { return w.h.FailedJob(recovery.JobDeployProd) }

func firing(w storeWorld) recovery.Signal { return w.h.FiringAlarm("prod", "prod-errors") }

func stuck(w storeWorld) recovery.Signal {
	return stuckAlarm(w.h, "prod", "prod-errors", "INC-FIX", w.in.OpenedAt)
}

// An update finding the incident changed by someone else reads it again and applies
// its change to the new version, up to 5 times more; a sixth conflict fails the signal
// (to be retried).
func TestEngineUpdateRetriesConflictsFiveTimes(t *testing.T) {
	for _, tt := range []struct {
		conflicts int
		alerted   bool
	}{{5, true}, {6, false}} {
		t.Run(fmt.Sprintf("%d conflicts", tt.conflicts), func(t *testing.T) {
			flaky := &flakyIncidents{fails: map[string]int{}}
			h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
				flaky.IncidentStore, flaky.sources = d.Incidents, d.Sources
				d.Incidents, d.Sources = flaky, flaky
			}))
			flaky.conflicts = tt.conflicts
			sig := h.FailedJob(recovery.JobDeployProd)
			h.Submit(t, sig)
			if got := len(h.Publisher.Alerts()) == 1; got != tt.alerted {
				t.Fatalf("alerted: got %v, want %v", got, tt.alerted)
			}
			if got := len(h.Clock.Timers()) == 1; got == tt.alerted {
				t.Fatalf("retry pending: got %v, want %v", got, !tt.alerted)
			}
		})
	}
}
