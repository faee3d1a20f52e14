package recovery_test

import (
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// A signal's Key names the fact it reports (the same fact from the webhook and the
// poller has the same key, so it is acted on once); its SourceKey the incident it
// belongs to (all attempts of a run, all transitions of an alarm share it).
func TestSignalKeys(t *testing.T) {
	since := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	run := &recovery.Run{ID: 77, Attempt: 2, Conclusion: "failure"}
	job := &recovery.JobInfo{ID: 501, RunID: 77, Attempt: 2, Conclusion: "timed_out"}
	alarm := &recovery.Alarm{Name: "prod-errors", Since: since}
	tests := []struct {
		name      string
		sig       recovery.Signal
		key       string
		sourceKey string
	}{
		{"job completed", recovery.Signal{Kind: recovery.SignalJobCompleted, Run: run, Job: job},
			"signal:job:501:2:job_completed:timed_out", "run:77"},
		{"job started", recovery.Signal{Kind: recovery.SignalJobStarted, Run: run, Job: &recovery.JobInfo{ID: 502, RunID: 77, Attempt: 1}},
			"signal:job:502:1:job_started:", "run:77"},
		{"job without its run", recovery.Signal{Kind: recovery.SignalJobCompleted, Job: job},
			"signal:job:501:2:job_completed:timed_out", "run:77"},
		{"job completed without its job", recovery.Signal{Kind: recovery.SignalJobCompleted, Run: run}, "", "run:77"},
		{"job started without its job", recovery.Signal{Kind: recovery.SignalJobStarted, Run: run}, "", "run:77"},
		{"run completed", recovery.Signal{Kind: recovery.SignalRunCompleted, Run: run},
			"signal:run:77:2:completed:failure", "run:77"},
		{"run completed without its run", recovery.Signal{Kind: recovery.SignalRunCompleted}, "", ""},
		{"run stuck", recovery.Signal{Kind: recovery.SignalRunStuck, Run: run}, "signal:run:77:2:stuck", "run:77"},
		{"run stuck without its run", recovery.Signal{Kind: recovery.SignalRunStuck}, "", ""},
		{"alarm firing", recovery.Signal{Kind: recovery.SignalAlarmFiring, Env: "prod", Alarm: alarm},
			"signal:alarm:prod-errors:firing:1772442000", "alarm:prod-errors"},
		{"alarm firing without its alarm", recovery.Signal{Kind: recovery.SignalAlarmFiring, Env: "prod"}, "", ""},
		{"alarm cleared", recovery.Signal{Kind: recovery.SignalAlarmCleared, Alarm: alarm, IncidentID: "INC-1"},
			"signal:alarm:prod-errors:cleared:INC-1", "alarm:prod-errors"},
		{"alarm cleared without its alarm", recovery.Signal{Kind: recovery.SignalAlarmCleared, IncidentID: "INC-1"}, "", ""},
		{"alarm stuck", recovery.Signal{Kind: recovery.SignalAlarmStuck, Alarm: alarm, IncidentID: "INC-1"},
			"signal:alarm:prod-errors:stuck:INC-1", "alarm-stuck:prod-errors:INC-1"},
		{"alarm stuck without its alarm", recovery.Signal{Kind: recovery.SignalAlarmStuck, IncidentID: "INC-1"}, "", ""},
		{"unknown kind", recovery.Signal{Kind: "deployment", Run: run}, "", "run:77"},
	}
	for _, tt := range tests {
		if got := tt.sig.Key(); got != tt.key {
			t.Errorf("%s: Key got %q, want %q", tt.name, got, tt.key)
		}
		if got := tt.sig.SourceKey(); got != tt.sourceKey {
			t.Errorf("%s: SourceKey got %q, want %q", tt.name, got, tt.sourceKey)
		}
	}
}

// Facts that differ in what they report have different keys: another attempt, another
// conclusion, another transition into ALARM, another incident's clearing.
func TestSignalKeysTellFactsApart(t *testing.T) {
	job := func(attempt int, conclusion string) recovery.Signal {
		return recovery.Signal{Kind: recovery.SignalJobCompleted, Job: &recovery.JobInfo{ID: 9, RunID: 1, Attempt: attempt, Conclusion: conclusion}}
	}
	run := func(attempt int, conclusion string) recovery.Signal {
		return recovery.Signal{Kind: recovery.SignalRunCompleted, Run: &recovery.Run{ID: 1, Attempt: attempt, Conclusion: conclusion}}
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	firing := func(since time.Time) recovery.Signal {
		return recovery.Signal{Kind: recovery.SignalAlarmFiring, Alarm: &recovery.Alarm{Name: "a", Since: since}}
	}
	cleared := func(incident string) recovery.Signal {
		return recovery.Signal{Kind: recovery.SignalAlarmCleared, Alarm: &recovery.Alarm{Name: "a"}, IncidentID: incident}
	}
	sigs := []recovery.Signal{
		job(1, "failure"), job(2, "failure"), job(1, "success"),
		{Kind: recovery.SignalJobStarted, Job: &recovery.JobInfo{ID: 9, RunID: 1, Attempt: 1}},
		run(1, "failure"), run(2, "failure"), run(1, "cancelled"),
		{Kind: recovery.SignalRunStuck, Run: &recovery.Run{ID: 1, Attempt: 1}},
		{Kind: recovery.SignalRunStuck, Run: &recovery.Run{ID: 1, Attempt: 2}},
		firing(at), firing(at.Add(time.Second)),
		cleared("INC-1"), cleared("INC-2"),
		{Kind: recovery.SignalAlarmStuck, Alarm: &recovery.Alarm{Name: "a"}, IncidentID: "INC-1"},
	}
	var keys []string
	for _, s := range sigs {
		k := s.Key()
		if k == "" || slices.Contains(keys, k) {
			t.Fatalf("key of %s: got %q, want one of its own (keys so far %q)", s.Kind, k, keys)
		}
		keys = append(keys, k)
	}
	// The same fact seen by the webhook and the poller, at other times.
	a, b := job(1, "failure"), job(1, "failure")
	a.Via, a.At, b.Via, b.At, b.Retries = "webhook", at, "poll", at.Add(time.Minute), 3
	if a.Key() != b.Key() {
		t.Fatalf("the same fact: got keys %q and %q, want one", a.Key(), b.Key())
	}
}
