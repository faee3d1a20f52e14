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
	// SHA is the revert commit whose pipeline run is followed; Workflow the deploy
	// workflow whose dispatched run is (a run of it started by workflow_dispatch since
	// Since).
	SHA      string `json:",omitempty"`
	Workflow string `json:",omitempty"`
	// AnyEvent follows the next run of Workflow whatever started it (after a verified
	// rollback: the deploy that follows it), not only a dispatched one.
	AnyEvent bool `json:",omitempty"`
	// Outcome is "" while followed; Attempt is the attempt that ended it, Text says
	// how in one line, At when.
	Outcome FollowOutcome `json:",omitempty"`
	Attempt int           `json:",omitempty"`
	Text    string        `json:",omitempty"`
	At      time.Time     `json:",omitzero"`
}

// Pending reports whether medic still waits for the end of what it follows.
func (f *FollowUp) Pending() bool { return f != nil && f.Outcome == "" }

// startFollow records, once a job succeeded, what the incident now follows: the run a
// re-run or cancel acted on (the poller reads it until it ends), the pipeline run of a
// pushed revert commit, or the run a destroy & recreate dispatched (runs the poller
// lists as new). Its end, by webhook or poll, updates the incident. started is what a
// step set going (jobCtx.follow), nil for the run actions.
func (e *Engine) startFollow(ctx context.Context, job Job, started *FollowUp) {
	if job.IncidentID == "" {
		return
	}
	var f FollowUp
	what := ""
	spec, _ := specOf(job.Action)
	switch {
	case spec.followsRun && job.Params.RunID != 0:
		f = FollowUp{RunID: job.Params.RunID}
		what = fmt.Sprintf("run %d", job.Params.RunID)
	case started != nil && started.SHA != "":
		// Through to the deploy: the run of the environment's deploy workflow on it.
		env, err := e.deps.Envs.Get(job.Env)
		if err != nil || env.DeployWorkflow == "" {
			return
		}
		f = FollowUp{SHA: started.SHA, Workflow: env.DeployWorkflow}
		what = fmt.Sprintf("the %s run of %s", env.DeployWorkflow, shortSHA(started.SHA))
	case started != nil && started.Workflow != "":
		f = FollowUp{Workflow: started.Workflow, Since: started.Since}
		what = "the dispatched run of " + started.Workflow
	case spec.fixes:
		// Verified already (the job's last step): what follows is the next deploy.
		env, err := e.deps.Envs.Get(job.Env)
		if err != nil || env.DeployWorkflow == "" {
			return
		}
		f = FollowUp{Workflow: env.DeployWorkflow, AnyEvent: true}
		what = "the next run of " + env.DeployWorkflow
	default:
		return
	}
	f.Action, f.Job = job.Action, job.ID
	if f.Since.IsZero() {
		f.Since = e.deps.Now()
	}
	in, err := e.update(ctx, job.IncidentID, func(cur *Incident) {
		g := f
		if g.RunID != 0 && cur.RunID == g.RunID {
			g.After = cur.RunAttempt
		}
		cur.Follow = &g
	})
	if err != nil {
		e.log.Warn("recording what to follow", zap.String("job", job.ID), zap.Error(err))
		return
	}
	e.audit(ctx, in, "medic", AuditFollowStarted, map[string]string{"action": string(job.Action), "job": job.ID, "what": what})
}

// following finds the open incident that follows run when the run is not the
// incident's own: a revert commit's run of the deploy workflow, the run a destroy &
// recreate dispatched, the next deploy after a verified rollback. Only trusted runs
// (the caller checks) of the follow's workflow on the branch medic acts on count, so
// a pull request's or another branch's run never ends what an incident waits for.
// Incidents are looked at in environment order, then as the store lists them; the
// first match wins.
func (e *Engine) following(ctx context.Context, run Run) (Incident, bool, error) {
	if e.deps.Actions == nil || run.HeadBranch != e.deps.Actions.Branch {
		return Incident{}, false, nil
	}
	for _, name := range e.deps.Envs.Names() {
		open, err := e.deps.Incidents.OpenIncidents(ctx, name)
		if err != nil {
			return Incident{}, false, err
		}
		for _, in := range open {
			f := in.Follow
			if !f.Pending() || f.Workflow == "" || f.Workflow != run.Workflow || run.ID == in.RunID || run.CreatedAt.Before(f.Since.Add(-time.Minute)) {
				continue
			}
			switch {
			case f.SHA != "":
				if run.HeadSHA == f.SHA && run.Event == "push" {
					return in, true, nil
				}
			case f.AnyEvent:
				if run.Event == "push" || run.Event == "workflow_dispatch" {
					return in, true, nil
				}
			case run.Event == "workflow_dispatch":
				return in, true, nil
			}
		}
	}
	return Incident{}, false, nil
}

// followedRunEnded records the end of a run an incident follows that is not its own
// (a revert's pipeline run, a dispatched deploy): passed or failed, in the alert, the
// thread and the audit. Its failure opens an incident of its own as well, as any
// failure does.
func (e *Engine) followedRunEnded(ctx context.Context, in Incident, run Run) error {
	jobs, err := e.deps.Runs.RunJobs(ctx, run.ID)
	if err != nil {
		return err
	}
	a, _ := ActionByID(in.Follow.Action)
	subject := fmt.Sprintf("Run %d of %s", run.ID, orWord(run.WorkflowName, run.Workflow))
	switch {
	case in.Follow.SHA != "":
		subject += " on the revert commit " + shortSHA(in.Follow.SHA)
	case in.Follow.AnyEvent:
		subject = "The next deploy, run " + fmt.Sprint(run.ID) + " of " + orWord(run.WorkflowName, run.Workflow) + " at " + shortSHA(run.HeadSHA) + ","
	}
	outcome, icon := FollowPassed, ":white_check_mark:"
	text := subject + " passed"
	switch run.Conclusion {
	case "success":
	case "cancelled":
		outcome, icon, text = FollowCancelled, ":stop_sign:", subject+" was cancelled"
	default:
		outcome, icon, text = FollowFailed, ":x:", subject+" "+orWord(run.Conclusion, "failed")
		if run.Conclusion == "failure" {
			text = subject + " failed"
		}
	}
	in, err = e.update(ctx, in.ID, func(cur *Incident) {
		f := cur.Follow
		if f == nil || !f.Pending() {
			return
		}
		f.Outcome, f.RunID, f.Attempt, f.Text, f.At = outcome, run.ID, run.Attempt, text, e.deps.Now()
		if outcome == FollowPassed {
			cur.FixedAt = e.deps.Now()
		}
		cur.Signals++
	})
	if err != nil {
		return err
	}
	by := fmt.Sprintf("after %s, medic's %s", a.Label, in.Follow.Job)
	e.audit(ctx, in, "medic", auditFollowEnd(outcome), map[string]string{"run": fmt.Sprint(run.ID), "attempt": fmt.Sprint(run.Attempt),
		"action": string(in.Follow.Action), "job": in.Follow.Job, "text": text, "by": by})
	if err := e.publish(ctx, &in); err != nil {
		return err
	}
	note := Say("%s %s (%s).", icon, text, by)
	if outcome == FollowPassed {
		note = append(note, Say(" Resolve the incident once you are satisfied: the checklist and report follow.")...)
	}
	if what := attemptText(run, jobs); what != "" {
		note = append(note, Say("\n%s", what)...)
	}
	e.postNotes(ctx, in, []Note{{Text: note, Link: run.URL, LinkText: "run"}})
	return nil
}

// FollowedRuns lists the runs open incidents follow and wait for, for the poller to
// read until they end. (A revert's pipeline run and a dispatched deploy are new runs:
// the poller lists them anyway.)
func (e *Engine) FollowedRuns(ctx context.Context) ([]int64, error) {
	var out []int64
	for _, name := range e.deps.Envs.Names() {
		open, err := e.deps.Incidents.OpenIncidents(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, in := range open {
			if in.Follow.Pending() && in.Follow.RunID != 0 && in.Status != IncidentResolved {
				out = append(out, in.Follow.RunID)
			}
		}
	}
	return out, nil
}

// runEnded acts on a run of an open incident that ended: a later attempt that passed
// (the re-run worked, or someone re-ran it in GitHub), or the cancellation medic was
// asked for. A run that is no incident's own may be one an incident follows (a
// revert's pipeline run, a dispatched deploy): its end, whatever it is, is recorded
// there (followedRunEnded).
func (e *Engine) runEnded(ctx context.Context, sig Signal) error {
	in, err := e.deps.Sources.OpenIncidentBySource(ctx, sig.SourceKey())
	if errors.Is(err, ErrNotFound) {
		if sig.Untrusted != "" {
			return nil // an untrusted run ends nothing an incident follows
		}
		other, ok, err := e.following(ctx, *sig.Run)
		if err != nil || !ok {
			return err
		}
		return e.followedRunEnded(ctx, other, *sig.Run)
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
	jobs, err := e.deps.Runs.RunJobs(ctx, run.ID)
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
			f = &FollowUp{RunID: run.ID, After: cur.RunAttempt, Since: e.deps.Now()} // not medic's doing
		}
		f.Outcome, f.Attempt, f.Text, f.At = outcome, run.Attempt, text, e.deps.Now()
		cur.Follow = f
		if outcome == FollowPassed {
			cur.RunAttempt = run.Attempt
			cur.FixedAt = e.deps.Now()
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
	e.audit(ctx, in, "medic", auditFollowEnd(outcome), map[string]string{"run": fmt.Sprint(run.ID), "attempt": fmt.Sprint(run.Attempt),
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
	return replaceStep(findings, f)
}

// replaceStep puts f in place of the failed step's findings (the step, the test
// failures, the log excerpt), first when there were none.
func replaceStep(findings []Finding, f Finding) []Finding {
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
	e.audit(ctx, in, "medic", AuditFollowFailed, map[string]string{"run": fmt.Sprint(sig.Run.ID), "attempt": fmt.Sprint(sig.Run.Attempt),
		"job": sig.Job.Name, "text": text, "by": by})
	return Note{Text: Say(":x: %s (%s). The diagnostics above are this attempt's.", text, by), Link: sig.Job.URL, LinkText: "job"}
}

// failedFollow is the change recording a failed later attempt on an incident.
func (e *Engine) failedFollow(cur *Incident, sig Signal) {
	f := cur.Follow
	if f == nil || f.RunID != sig.Run.ID || !f.Pending() {
		f = &FollowUp{RunID: sig.Run.ID, After: cur.RunAttempt, Since: e.deps.Now()}
	}
	f.Outcome, f.Attempt, f.At = FollowFailed, sig.Run.Attempt, e.deps.Now()
	f.Text = fmt.Sprintf("Attempt %d of run %d failed too: %s", sig.Run.Attempt, sig.Run.ID, sig.Job.Name)
	cur.Follow = f
	cur.FixedAt = time.Time{}
}
