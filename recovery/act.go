package recovery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// UserError is an error whose message is meant for the person who clicked or typed.
type UserError struct{ Msg string }

func (e *UserError) Error() string { return e.Msg }

// Act carries out a button click on an incident's alert and returns what to tell the
// user who clicked (only they see it). Read-only actions run now; a mutating action
// becomes a request (see RequestAction) and a paging action a page, or, where those are
// not configured, is refused saying so and how the runbook does it by hand. Every click
// is audited.
func (e *Engine) Act(ctx context.Context, incidentID string, id ActionID, user string) (string, error) {
	a, ok := ActionByID(id)
	if !ok {
		return "", &UserError{fmt.Sprintf("medic does not know the action %s.", Literal(strconv.Quote(string(id))))}
	}
	in, err := e.deps.Incidents.Incident(ctx, incidentID)
	if errors.Is(err, ErrNotFound) {
		return "", &UserError{fmt.Sprintf("Incident %s is not on record.", incidentID)}
	}
	if err != nil {
		return "", err
	}
	env, err := e.deps.Envs.Get(in.Env)
	if err != nil {
		return "", err
	}
	switch {
	case a.Kind == Mutating && e.deps.Actions != nil:
		return e.RequestAction(ctx, ActionRequest{IncidentID: incidentID, Action: id, User: user})
	case a.Kind == Paging && e.deps.Escalation != nil:
		return e.PageIncident(ctx, incidentID, id, user, "")
	case a.Kind == Mutating, a.Kind == Paging:
		e.audit(ctx, in, user, AuditActionRefused, map[string]string{"action": string(id), "why": "not available"})
		what := "changes " + in.Env + " and needs approval by a second person; medic's recovery actions are not configured here"
		if a.Kind == Paging {
			what = "pages people; paging is not configured in this version of medic"
		}
		msg := fmt.Sprintf("*%s* %s, so nothing was done.", a.Label, what)
		if a.Runbook != "" {
			msg += fmt.Sprintf(" The runbook's way: `%s`.", a.Runbook)
		}
		return msg, nil
	}
	e.audit(ctx, in, user, auditClick(id), nil)
	s, _ := specOf(id)
	return s.act(e, ctx, in, env, user)
}

// The read-only actions' entry points (see actionTable).

func (e *Engine) actAcknowledge(ctx context.Context, in Incident, _ Environment, user string) (string, error) {
	return e.acknowledge(ctx, in, user)
}

func (e *Engine) actResolve(ctx context.Context, in Incident, _ Environment, user string) (string, error) {
	return e.Resolve(ctx, in.ID, user, "")
}

func (e *Engine) actCreateIssue(ctx context.Context, in Incident, _ Environment, user string) (string, error) {
	return e.CreateFollowUpIssue(ctx, in.ID, user)
}

func (e *Engine) actVerify(ctx context.Context, in Incident, env Environment, user string) (string, error) {
	verdict, _ := e.verify(ctx, env)
	e.postNotes(ctx, in, []Note{{Text: Say("Verification requested by %s: %s", Mention(user), verdict)}})
	return "Verification posted in the alert's thread.", nil
}

func (e *Engine) actViewLogs(ctx context.Context, in Incident, _ Environment, user string) (string, error) {
	return e.viewLogs(ctx, in, user)
}

func (e *Engine) actViewArtifacts(ctx context.Context, in Incident, _ Environment, user string) (string, error) {
	return e.viewArtifacts(ctx, in, user)
}

func (e *Engine) acknowledge(ctx context.Context, in Incident, user string) (string, error) {
	if err := e.needRole(ctx, in, user, RoleResponder, "acknowledge an incident"); err != nil {
		return "", err
	}
	if in.Status != IncidentOpen {
		who := in.AckBy
		if who == "" {
			return fmt.Sprintf("Incident %s is %s.", in.ID, in.Status), nil
		}
		return fmt.Sprintf("Incident %s was already acknowledged by <@%s>.", in.ID, who), nil
	}
	already := ""
	in, err := e.update(ctx, in.ID, func(cur *Incident) {
		if cur.Status != IncidentOpen {
			already = cur.AckBy
			return
		}
		cur.Status, cur.AckBy, cur.AckAt = IncidentAcknowledged, user, e.deps.Now()
		cur.Escalation.DueAt = time.Time{} // the clock stops
	})
	if err != nil {
		return "", err
	}
	if already != "" {
		return fmt.Sprintf("Incident %s was already acknowledged by <@%s>.", in.ID, already), nil
	}
	if err := e.publish(ctx, &in); err != nil {
		return "", err
	}
	e.audit(ctx, in, user, AuditIncidentAcknowledged, nil)
	text := Say(":eyes: Acknowledged by %s.", Mention(user))
	if in.Escalation.Row != "" && e.deps.Escalation != nil {
		text = Say(":eyes: Acknowledged by %s: escalation stopped.", Mention(user))
	}
	e.postNotes(ctx, in, []Note{{Text: text}})
	e.esc.followPagerDuty(ctx, in, PageAcknowledge, user)
	return fmt.Sprintf("You acknowledged %s.", in.ID), nil
}

func (e *Engine) refresh(ctx context.Context, in Incident, env Environment, user string) (string, error) {
	var run *Run
	var job *JobInfo
	if in.RunID != 0 {
		run = &Run{ID: in.RunID, Attempt: in.RunAttempt, Workflow: in.Workflow, WorkflowName: in.WorkflowName, HeadSHA: in.SHA, HeadBranch: in.Branch, URL: in.RunURL}
	}
	if in.JobID != 0 {
		if jobs, err := e.deps.Runs.RunJobs(ctx, in.RunID); err == nil {
			for _, j := range jobs {
				if j.ID == in.JobID || (j.Name == in.JobName && job == nil) {
					jj := j
					job = &jj
				}
			}
		}
		if job == nil {
			job = &JobInfo{ID: in.JobID, RunID: in.RunID, Name: in.JobName, URL: in.JobURL}
		}
	}
	var alarm *Alarm
	if in.AlarmName != "" {
		if firing, err := e.deps.Alarms.AlarmsFiring(ctx, env); err == nil {
			for _, a := range firing {
				if a.Name == in.AlarmName {
					aa := a
					alarm = &aa
				}
			}
		}
	}
	seen := in
	findings := e.deps.Diagnoser.Gather(ctx, in, env, run, job, alarm, nil)
	in, err := e.update(ctx, in.ID, func(cur *Incident) {
		if cur.RunAttempt != seen.RunAttempt {
			return // a later attempt of the run set newer findings meanwhile
		}
		if f, ok := passingStep(*cur); ok {
			// What medic followed passed: the run's failed step is that pass now, whatever
			// the diagnostics read of the attempt's jobs.
			findings = replaceStep(findings, f)
		}
		setFindings(cur, findings, e.deps.Now())
	})
	if err != nil {
		return "", err
	}
	if err := e.publish(ctx, &in); err != nil {
		return "", err
	}
	return "Diagnostics refreshed.", nil
}

func (e *Engine) viewLogs(ctx context.Context, in Incident, user string) (string, error) {
	if in.JobID == 0 {
		return "This incident has no job log.", nil
	}
	log, err := readJobLog(ctx, e.deps.Runs, in.JobID)
	if err != nil {
		return "", &UserError{"Could not read the job's log: " + Literal(oneLine(err))}
	}
	e.postNotes(ctx, in, []Note{{Text: Say("Log of %s, requested by %s:", in.JobName, Mention(user)), Title: "Log excerpt (last 60 lines up to the error)", Detail: Excerpt(log.Text, 60), Link: log.URL, LinkText: "full log"}})
	return "The log excerpt is in the alert's thread.", nil
}

func (e *Engine) viewArtifacts(ctx context.Context, in Incident, user string) (string, error) {
	arts, err := e.deps.Runs.RunArtifacts(ctx, in.RunID)
	if err != nil {
		return "", &UserError{"Could not list the run's artifacts: " + Literal(oneLine(err))}
	}
	text := Say("Artifacts of run %d, requested by %s:", in.RunID, Mention(user))
	for _, a := range arts {
		text = append(text, Say("\n• %s (%s)", a.Name, sizeText(a.Size))...)
	}
	if len(arts) == 0 {
		text = append(text, Say("\nThe run uploaded no artifacts.")...)
	}
	link := ""
	if in.RunURL != "" {
		link = in.RunURL + "#artifacts"
	}
	e.postNotes(ctx, in, []Note{{Text: text, Link: link, LinkText: "download"}})
	return "The artifacts are listed in the alert's thread.", nil
}

// passingStep is the finding saying the attempt medic followed passed, when it did.
func passingStep(in Incident) (Finding, bool) {
	if in.Follow == nil || in.Follow.Outcome != FollowPassed {
		return Finding{}, false
	}
	for _, f := range in.Findings {
		if f.Diagnostic == DiagFailedStep && !f.Bad {
			return f, true
		}
	}
	return Finding{}, false
}
