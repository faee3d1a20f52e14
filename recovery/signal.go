package recovery

import (
	"fmt"
	"time"
)

// SignalKind says what happened.
type SignalKind string

// The kinds of signal medic acts on.
const (
	// SignalRunCompleted: a workflow run finished (its failed jobs are looked up).
	SignalRunCompleted SignalKind = "run_completed"
	// SignalJobCompleted: a job finished, with its conclusion.
	SignalJobCompleted SignalKind = "job_completed"
	// SignalJobStarted: a job began running (rollback progress).
	SignalJobStarted SignalKind = "job_started"
	// SignalRunStuck: a run has been in progress longer than the configured limit.
	SignalRunStuck SignalKind = "run_stuck"
	// SignalAlarmFiring: a CloudWatch alarm with an environment's prefix is in ALARM.
	SignalAlarmFiring SignalKind = "alarm_firing"
	// SignalAlarmCleared: an alarm medic saw in ALARM is no longer in ALARM.
	SignalAlarmCleared SignalKind = "alarm_cleared"
	// SignalAlarmStuck: an alarm is still in ALARM long after its incident was fixed.
	SignalAlarmStuck SignalKind = "alarm_stuck"
)

// Signal is one observation about the pipeline or an environment, from a webhook or
// a poller. The same fact seen twice (webhook and poller, or a redelivery) has the
// same Key and is acted on once.
type Signal struct {
	Kind SignalKind
	// Via names the source: "webhook", "poll" or "alarm-poll".
	Via string
	// Run is set for run and job signals; Job for job signals.
	Run *Run
	Job *JobInfo
	// Env and Alarm are set for alarm signals.
	Env   string
	Alarm *Alarm
	// IncidentID is set for SignalAlarmStuck (the fix the alarm outlived) and
	// SignalAlarmCleared (the incident the alarm belonged to).
	IncidentID string
	At         time.Time
	// Retries counts how often handling it failed and it was queued again.
	Retries int
	// Untrusted, set by the engine, says why the signal's run is not trusted.
	Untrusted string `json:",omitempty"`
}

// Key identifies the fact a signal reports, for acting on it once.
func (s Signal) Key() string {
	switch s.Kind {
	case SignalJobCompleted, SignalJobStarted:
		if s.Job != nil {
			return fmt.Sprintf("signal:job:%d:%d:%s:%s", s.Job.ID, s.Job.Attempt, s.Kind, s.Job.Conclusion)
		}
	case SignalRunCompleted:
		if s.Run != nil {
			return fmt.Sprintf("signal:run:%d:%d:completed:%s", s.Run.ID, s.Run.Attempt, s.Run.Conclusion)
		}
	case SignalRunStuck:
		if s.Run != nil {
			return fmt.Sprintf("signal:run:%d:%d:stuck", s.Run.ID, s.Run.Attempt)
		}
	case SignalAlarmFiring:
		if s.Alarm != nil {
			return fmt.Sprintf("signal:alarm:%s:firing:%d", s.Alarm.Name, s.Alarm.Since.Unix())
		}
	case SignalAlarmCleared:
		if s.Alarm != nil {
			return fmt.Sprintf("signal:alarm:%s:cleared:%s", s.Alarm.Name, s.IncidentID)
		}
	case SignalAlarmStuck:
		if s.Alarm != nil {
			return fmt.Sprintf("signal:alarm:%s:stuck:%s", s.Alarm.Name, s.IncidentID)
		}
	}
	return ""
}

// SourceKey names the signal's source: one source is one incident while it is open.
// All attempts of a run share the run's source.
func (s Signal) SourceKey() string {
	switch {
	case s.Kind == SignalAlarmStuck && s.Alarm != nil:
		return "alarm-stuck:" + s.Alarm.Name + ":" + s.IncidentID
	case s.Alarm != nil:
		return "alarm:" + s.Alarm.Name
	case s.Run != nil:
		return fmt.Sprintf("run:%d", s.Run.ID)
	case s.Job != nil:
		return fmt.Sprintf("run:%d", s.Job.RunID)
	}
	return ""
}
