package sandbox

import (
	"fmt"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

// FinishRollback ends a staged run's "Rollback on Failure" job, as the pipeline would
// minutes later: every step done and the run completed. A successful rollback also
// brings prod back: the health endpoint answers 200 and prod-dashboard-errors is OK.
func FinishRollback(sb *Sandbox, st Staged, success bool, now time.Time) error {
	var rollback *githubfake.Job
	for _, j := range sb.GitHub.Jobs(st.RunID) {
		if j.Name == "Rollback on Failure" {
			jj := j
			rollback = &jj
		}
	}
	if rollback == nil {
		return fmt.Errorf("run %d has no rollback job", st.RunID)
	}
	conclusion := "success"
	if !success {
		conclusion = "failure"
	}
	if err := sb.GitHub.UpdateJob(rollback.ID, func(j *githubfake.Job) {
		j.Status, j.Conclusion, j.CompletedAt = "completed", conclusion, now
		for i := range j.Steps {
			if j.Steps[i].Status != "completed" {
				j.Steps[i].Status, j.Steps[i].Conclusion, j.Steps[i].CompletedAt = "completed", conclusion, now
			}
		}
	}); err != nil {
		return err
	}
	if err := sb.GitHub.UpdateRun(st.RunID, func(r *githubfake.Run) {
		r.Status, r.Conclusion, r.UpdatedAt = "completed", "failure", now
	}); err != nil {
		return err
	}
	if success {
		sb.SetHealth("prod", 200, `{"status":"healthy"}`)
		if a, ok := sb.AWS.Alarm("prod-dashboard-errors"); ok {
			a.State, a.Reason, a.UpdatedAt = "OK", "Threshold Crossed: no datapoints were >= threshold", now
			sb.AWS.SetAlarm(a)
		}
	}
	return nil
}

// UnwatchedRunEvent builds the workflow_run delivery of a failed run of a workflow
// medic does not watch (lint.yml), for tests of the webhook receiver.
func UnwatchedRunEvent(sb *Sandbox, st Staged) (*github.WorkflowRunEvent, error) {
	sb.GitHub.AddWorkflow("lint.yml", "Lint")
	r := sb.GitHub.AddRun(githubfake.Run{WorkflowFile: "lint.yml", HeadSHA: st.HeadSHA, Conclusion: "failure"})
	return sb.GitHub.RunEvent(r.ID, "completed")
}
