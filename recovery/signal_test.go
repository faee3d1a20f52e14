package recovery

import (
	"testing"
	"time"
)

// TestSignalKeys: two signals of the same fact (a webhook and the poller, a
// redelivery, a retry) share a key, so the fact is acted on once; any other fact (an
// attempt, a job, a conclusion, a kind, an alarm's new firing, another incident) has
// its own key. A signal without its subject has none.
func TestSignalKeys(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	run := func(id int64, attempt int, conclusion string) *Run {
		return &Run{ID: id, Attempt: attempt, Conclusion: conclusion, Workflow: "deploy-prod.yml"}
	}
	job := func(id int64, attempt int, conclusion string) *JobInfo {
		return &JobInfo{ID: id, RunID: 100, Attempt: attempt, Name: JobCanary, Conclusion: conclusion}
	}
	alarm := func(name string, since time.Time) *Alarm { return &Alarm{Name: name, State: "ALARM", Since: since} }

	// Each fact, as two sources report it.
	facts := []struct {
		name string
		a, b Signal
		want string
	}{
		{"run completed",
			Signal{Kind: SignalRunCompleted, Via: "webhook", Run: run(100, 1, "failure"), At: at},
			Signal{Kind: SignalRunCompleted, Via: "poll", Run: &Run{ID: 100, Attempt: 1, Conclusion: "failure"}, At: at.Add(time.Minute), Retries: 2},
			"signal:run:100:1:completed:failure"},
		{"job completed",
			Signal{Kind: SignalJobCompleted, Via: "webhook", Run: run(100, 1, ""), Job: job(200, 1, "failure"), At: at},
			Signal{Kind: SignalJobCompleted, Via: "poll", Job: job(200, 1, "failure"), At: at.Add(time.Hour)},
			"signal:job:200:1:job_completed:failure"},
		{"job started",
			Signal{Kind: SignalJobStarted, Via: "webhook", Job: job(200, 1, "")},
			Signal{Kind: SignalJobStarted, Via: "poll", Job: job(200, 1, "")},
			"signal:job:200:1:job_started:"},
		{"run stuck",
			Signal{Kind: SignalRunStuck, Via: "poll", Run: run(100, 2, "")},
			Signal{Kind: SignalRunStuck, Via: "poll", Run: run(100, 2, ""), At: at.Add(time.Minute)},
			"signal:run:100:2:stuck"},
		{"alarm firing",
			Signal{Kind: SignalAlarmFiring, Via: "alarm-poll", Env: "prod", Alarm: alarm("prod-errors", at)},
			Signal{Kind: SignalAlarmFiring, Via: "alarm-poll", Env: "prod", Alarm: alarm("prod-errors", at), At: at.Add(time.Minute)},
			"signal:alarm:prod-errors:firing:" + "1796634000"},
		{"alarm cleared",
			Signal{Kind: SignalAlarmCleared, Alarm: alarm("prod-errors", at), IncidentID: "INC-1"},
			Signal{Kind: SignalAlarmCleared, Alarm: alarm("prod-errors", at.Add(time.Hour)), IncidentID: "INC-1"},
			"signal:alarm:prod-errors:cleared:INC-1"},
		{"alarm stuck",
			Signal{Kind: SignalAlarmStuck, Alarm: alarm("prod-errors", at), IncidentID: "INC-1"},
			Signal{Kind: SignalAlarmStuck, Alarm: alarm("prod-errors", at), IncidentID: "INC-1", Retries: 1},
			"signal:alarm:prod-errors:stuck:INC-1"},
	}
	seen := map[string]string{}
	for _, f := range facts {
		ka, kb := f.a.Key(), f.b.Key()
		if ka != kb || ka != f.want {
			t.Errorf("%s: got keys %q and %q, want both %q", f.name, ka, kb, f.want)
		}
		if other, dup := seen[ka]; dup {
			t.Errorf("%s: got key %q, the key of %s too", f.name, ka, other)
		}
		seen[ka] = f.name
	}

	// Other facts: each its own key.
	others := []struct {
		name string
		s    Signal
	}{
		{"the run's next attempt", Signal{Kind: SignalRunCompleted, Run: run(100, 2, "failure")}},
		{"the run's success", Signal{Kind: SignalRunCompleted, Run: run(100, 1, "success")}},
		{"another run", Signal{Kind: SignalRunCompleted, Run: run(101, 1, "failure")}},
		{"the job's next attempt", Signal{Kind: SignalJobCompleted, Job: job(200, 2, "failure")}},
		{"another job of the run", Signal{Kind: SignalJobCompleted, Job: job(201, 1, "failure")}},
		{"the job's success", Signal{Kind: SignalJobCompleted, Job: job(200, 1, "success")}},
		{"the job started", Signal{Kind: SignalJobStarted, Job: job(200, 1, "failure")}},
		{"the run's first attempt stuck", Signal{Kind: SignalRunStuck, Run: run(100, 1, "")}},
		{"the alarm firing again later", Signal{Kind: SignalAlarmFiring, Alarm: alarm("prod-errors", at.Add(time.Second))}},
		{"another alarm firing", Signal{Kind: SignalAlarmFiring, Alarm: alarm("prod-latency", at)}},
		{"the alarm cleared for another incident", Signal{Kind: SignalAlarmCleared, Alarm: alarm("prod-errors", at), IncidentID: "INC-2"}},
		{"the alarm stuck past another fix", Signal{Kind: SignalAlarmStuck, Alarm: alarm("prod-errors", at), IncidentID: "INC-2"}},
	}
	for _, o := range others {
		k := o.s.Key()
		if k == "" {
			t.Errorf("%s: got no key", o.name)
			continue
		}
		if other, dup := seen[k]; dup {
			t.Errorf("%s: got key %q, the key of %s too", o.name, k, other)
		}
		seen[k] = o.name
	}

	for _, s := range []Signal{
		{Kind: SignalRunCompleted}, {Kind: SignalRunCompleted, Job: job(200, 1, "failure")},
		{Kind: SignalJobCompleted, Run: run(100, 1, "failure")}, {Kind: SignalJobStarted},
		{Kind: SignalRunStuck}, {Kind: SignalAlarmFiring, Env: "prod"}, {Kind: SignalAlarmCleared, IncidentID: "INC-1"},
		{Kind: SignalAlarmStuck, IncidentID: "INC-1"}, {Kind: "unknown", Run: run(1, 1, "")},
	} {
		if k := s.Key(); k != "" {
			t.Errorf("%s without its subject: got key %q, want none", s.Kind, k)
		}
	}
}

// TestSignalSourceKeys: all signals about one run (every attempt, every job) share
// its source, so they make one incident while it is open; an alarm is its own source;
// an alarm stuck past a fix is a source per incident.
func TestSignalSourceKeys(t *testing.T) {
	tests := []struct {
		name string
		s    Signal
		want string
	}{
		{"a run", Signal{Kind: SignalRunCompleted, Run: &Run{ID: 100, Attempt: 1}}, "run:100"},
		{"its next attempt", Signal{Kind: SignalRunCompleted, Run: &Run{ID: 100, Attempt: 2}}, "run:100"},
		{"its stuck signal", Signal{Kind: SignalRunStuck, Run: &Run{ID: 100, Attempt: 3}}, "run:100"},
		{"a job of it, with the run", Signal{Kind: SignalJobCompleted, Run: &Run{ID: 100}, Job: &JobInfo{ID: 7, RunID: 100}}, "run:100"},
		{"a job of it, alone", Signal{Kind: SignalJobCompleted, Job: &JobInfo{ID: 8, RunID: 100, Attempt: 2}}, "run:100"},
		{"another run", Signal{Kind: SignalRunCompleted, Run: &Run{ID: 101}}, "run:101"},
		{"an alarm", Signal{Kind: SignalAlarmFiring, Alarm: &Alarm{Name: "prod-errors"}}, "alarm:prod-errors"},
		{"the alarm cleared", Signal{Kind: SignalAlarmCleared, Alarm: &Alarm{Name: "prod-errors"}, IncidentID: "INC-1"}, "alarm:prod-errors"},
		{"the alarm stuck past a fix", Signal{Kind: SignalAlarmStuck, Alarm: &Alarm{Name: "prod-errors"}, IncidentID: "INC-1"}, "alarm-stuck:prod-errors:INC-1"},
		{"the alarm stuck past another fix", Signal{Kind: SignalAlarmStuck, Alarm: &Alarm{Name: "prod-errors"}, IncidentID: "INC-2"}, "alarm-stuck:prod-errors:INC-2"},
		{"nothing", Signal{Kind: SignalAlarmStuck}, ""},
	}
	for _, tt := range tests {
		if got := tt.s.SourceKey(); got != tt.want {
			t.Errorf("%s: got source %q, want %q", tt.name, got, tt.want)
		}
	}
}
