package recovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// FollowOutcome is how what medic followed after a recovery action ended.
type FollowOutcome string

// Follow outcomes; "" while it is still followed.
const (
	FollowPassed    FollowOutcome = "passed"
	FollowFailed    FollowOutcome = "failed"
	FollowCancelled FollowOutcome = "cancelled"
)

// FollowUp is what medic follows after a recovery action set something going in
// GitHub, until it ends: a re-run's new attempt, a cancelled run's end. A success of
// the incident's run that nobody asked medic for (the pipeline healed, someone re-ran
// it in GitHub) is recorded the same way, with no Action.
type FollowUp struct {
	// Action and Job are the recovery action and job that set it going.
	Action ActionID `json:",omitempty"`
	Job    string   `json:",omitempty"`
	// RunID is the run followed; After its attempt before the action (a re-run's new
	// attempt is a later one).
	RunID int64     `json:",omitempty"`
	After int       `json:",omitempty"`
	Since time.Time `json:",omitzero"`
	// Outcome is "" while followed; Attempt is the attempt that ended it, Text says
	// how in one line, At when.
	Outcome FollowOutcome `json:",omitempty"`
	Attempt int           `json:",omitempty"`
	Text    string        `json:",omitempty"`
	At      time.Time     `json:",omitzero"`
}

// Pending reports whether medic still waits for the end of what it follows.
func (f *FollowUp) Pending() bool { return f != nil && f.Outcome == "" }

// followed are the actions whose effect medic follows in GitHub after their job ends.
var followed = map[ActionID]bool{ActRerun: true, ActRerunFailed: true, ActCancelRun: true}

// startFollow records, once a re-run or cancel job succeeded, that the incident now
// follows the run it acted on: the poller reads that run until it ends, and its end
// (by webhook or poll) updates the incident.
func (e *Engine) startFollow(ctx context.Context, job Job) {
	if !followed[job.Action] || job.IncidentID == "" || job.Params.RunID == 0 {
		return
	}
	in, err := e.update(ctx, job.IncidentID, func(cur *Incident) {
		after := 0
		if cur.RunID == job.Params.RunID {
			after = cur.RunAttempt
		}
		cur.Follow = &FollowUp{Action: job.Action, Job: job.ID, RunID: job.Params.RunID, After: after, Since: e.Now()}
	})
	if err != nil {
		e.log.Warn("recording what to follow", zap.String("job", job.ID), zap.Error(err))
		return
	}
	e.audit(ctx, in, "medic", "follow.started", map[string]string{"action": string(job.Action), "job": job.ID, "run": fmt.Sprint(job.Params.RunID)})
}

// FollowedRuns lists the runs open incidents follow and wait for, for the poller to
// read until they end.
func (e *Engine) FollowedRuns(ctx context.Context) ([]int64, error) {
	var out []int64
	for _, name := range e.Envs.Names() {
		open, err := e.Incidents.OpenIncidents(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, in := range open {
			if in.Follow.Pending() && in.Status != IncidentResolved {
				out = append(out, in.Follow.RunID)
			}
		}
	}
	return out, nil
}

// runEnded acts on a run of an open incident that ended without a failed job to open
// or update an incident with: a later attempt that passed (the re-run worked, or
// someone re-ran it in GitHub), or the cancellation medic was asked for. ok is false
// when the run is no incident's.
func (e *Engine) runEnded(ctx context.Context, sig Signal) error {
	in, err := e.Incidents.OpenIncidentBySource(ctx, sig.SourceKey())
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	run := *sig.Run
	var outcome FollowOutcome
	switch {
	case run.Conclusion == "success" && run.Attempt > in.RunAttempt:
		outcome = FollowPassed
	case run.Conclusion == "cancelled" && in.Follow.Pending() && in.Follow.Action == ActCancelRun && in.Follow.RunID == run.ID:
		outcome = FollowCancelled
	default:
		return nil
	}
	jobs, err := e.Runs.RunJobs(ctx, run.ID)
	if err != nil {
		return err
	}
	what := attemptText(run, jobs)
	text := ""
	switch outcome {
	case FollowPassed:
		text = fmt.Sprintf("Attempt %d of run %d passed", run.Attempt, run.ID)
		if was := in.JobName; was != "" {
			text += fmt.Sprintf(": %s, which failed in attempt %d, passed", was, in.RunAttempt)
		}
	case FollowCancelled:
		text = fmt.Sprintf("Run %d was cancelled", run.ID)
	}
	in, err = e.update(ctx, in.ID, func(cur *Incident) {
		f := cur.Follow
		if f == nil || f.RunID != run.ID || !f.Pending() {
			f = &FollowUp{RunID: run.ID, After: cur.RunAttempt, Since: e.Now()} // not medic's doing
		}
		f.Outcome, f.Attempt, f.Text, f.At = outcome, run.Attempt, text, e.Now()
		cur.Follow = f
		if outcome == FollowPassed {
			cur.RunAttempt = run.Attempt
			cur.FixedAt = e.Now()
			cur.Findings = passedFindings(cur.Findings, run, jobs, text)
		}
		cur.Signals++
	})
	if err != nil {
		return err
	}
	by := "medic's " + in.Follow.Job
	if in.Follow.Action == "" {
		by = "not medic's doing: the pipeline or someone in GitHub"
	}
	e.audit(ctx, in, "medic", "follow."+string(outcome), map[string]string{"run": fmt.Sprint(run.ID), "attempt": fmt.Sprint(run.Attempt),
		"action": string(in.Follow.Action), "job": in.Follow.Job, "text": text, "by": by})
	if err := e.publish(ctx, &in); err != nil {
		return err
	}
	note := Say(":white_check_mark: %s (%s).", text, by)
	if outcome == FollowCancelled {
		note = Say(":stop_sign: %s (%s).", text, by)
	} else {
		note = append(note, Say(" Resolve the incident once you are satisfied: the checklist and report follow.")...)
	}
	if what != "" {
		note = append(note, Say("\n%s", what)...)
	}
	e.postNotes(ctx, in, []Note{{Text: note, Link: run.URL, LinkText: "run"}})
	return nil
}

// attemptText lists a run attempt's jobs and how each ended, one per line.
func attemptText(run Run, jobs []JobInfo) string {
	var lines []string
	for _, j := range jobs {
		lines = append(lines, fmt.Sprintf("• %s: %s", j.Name, orWord(j.Conclusion, j.Status)))
	}
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("Attempt %d:\n%s", run.Attempt, strings.Join(capLines(lines), "\n"))
}

// passedFindings replaces the failed step's finding by what the passing attempt did:
// the alert no longer shows a failure that is gone.
func passedFindings(findings []Finding, run Run, jobs []JobInfo, text string) []Finding {
	f := Finding{Diagnostic: DiagFailedStep, Title: fmt.Sprintf("Attempt %d passed", run.Attempt), Link: run.URL, LinkText: "run"}
	f.Lines = []string{text}
	for _, j := range jobs {
		f.Lines = append(f.Lines, fmt.Sprintf("%s: %s", j.Name, orWord(j.Conclusion, j.Status)))
	}
	f.Lines = capLines(f.Lines)
	out := make([]Finding, 0, len(findings))
	replaced := false
	for _, old := range findings {
		if old.Diagnostic == DiagFailedStep || old.Diagnostic == DiagTestFailures || old.Diagnostic == DiagLogExcerpt {
			if !replaced {
				out = append(out, f)
				replaced = true
			}
			continue
		}
		out = append(out, old)
	}
	if !replaced {
		out = append([]Finding{f}, out...)
	}
	return out
}

// newAttemptFailed notes, on an incident whose run failed again in a later attempt
// (a re-run, medic's or someone's in GitHub), that this attempt failed too, and
// records the outcome of what the incident followed.
func (e *Engine) newAttemptFailed(ctx context.Context, in Incident, sig Signal) Note {
	text := fmt.Sprintf("Attempt %d of run %d failed too: %s", sig.Run.Attempt, sig.Run.ID, sig.Job.Name)
	by := "not medic's doing"
	if in.Follow.Pending() && in.Follow.RunID == sig.Run.ID {
		by = "the re-run of " + in.Follow.Job
	}
	e.audit(ctx, in, "medic", "follow.failed", map[string]string{"run": fmt.Sprint(sig.Run.ID), "attempt": fmt.Sprint(sig.Run.Attempt),
		"job": sig.Job.Name, "text": text, "by": by})
	return Note{Text: Say(":x: %s (%s). The diagnostics above are this attempt's.", text, by), Link: sig.Job.URL, LinkText: "job"}
}

// failedFollow is the change recording a failed later attempt on an incident.
func (e *Engine) failedFollow(cur *Incident, sig Signal) {
	f := cur.Follow
	if f == nil || f.RunID != sig.Run.ID || !f.Pending() {
		f = &FollowUp{RunID: sig.Run.ID, After: cur.RunAttempt, Since: e.Now()}
	}
	f.Outcome, f.Attempt, f.At = FollowFailed, sig.Run.Attempt, e.Now()
	f.Text = fmt.Sprintf("Attempt %d of run %d failed too: %s", sig.Run.Attempt, sig.Run.ID, sig.Job.Name)
	cur.Follow = f
	cur.FixedAt = time.Time{}
}
