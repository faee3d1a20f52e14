package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/githubfake"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// hostileRollbackLog is what a pull request's author writes in the log of a job they
// named "Rollback on Failure": a prod state path, a prod secret and a lock ID, hoping
// medic takes them for prod's.
const hostileRollbackLog = `2026-12-07T09:00:01.0000000Z ##[group]Run terraform apply -auto-approve
2026-12-07T09:00:02.0000000Z Error: Error acquiring the state lock
2026-12-07T09:00:02.0000000Z Error message: ConditionalCheckFailedException: The conditional request failed
2026-12-07T09:00:02.0000000Z Lock Info:
2026-12-07T09:00:02.0000000Z   ID:        6a9e5f12-0d1c-4c4e-9f3b-7b2f0c1d2e3f
2026-12-07T09:00:02.0000000Z   Path:      sentiment-tfstate/prod/terraform.tfstate
2026-12-07T09:00:02.0000000Z   Operation: OperationTypeApply
2026-12-07T09:00:02.0000000Z AccessDeniedException: not authorized to read secret prod/sentiment-analyzer/newsapi
2026-12-07T09:00:03.0000000Z ##[error]Process completed with exit code 1.
`

// stagePullRequestRun adds a failed run of the watched deploy-prod.yml that a pull
// request started (from a fork when fork is set), whose failing job is named as the
// pipeline's own rollback, and returns it with its webhook deliveries.
func stagePullRequestRun(t *testing.T, e *e2e, fork bool) (*githubfake.Run, []func() (string, any)) {
	t.Helper()
	gh := e.sb.GitHub
	run := githubfake.Run{WorkflowFile: "deploy-prod.yml", Event: "pull_request", Conclusion: "failure", Actor: "mallory"}
	if fork {
		run.HeadRepository, run.HeadBranch = "mallory/sentiment-analyzer-gsk", "main"
	} else {
		run.HeadBranch = "mallory/prod-hotfix"
		gh.AddPullRequest(githubfake.PullRequest{Title: "Hotfix", Head: run.HeadBranch, Base: "main", Author: "mallory"})
	}
	r := gh.AddRun(run)
	job := gh.AddJob(r.ID, githubfake.Job{Name: "Rollback on Failure", Conclusion: "failure", Log: hostileRollbackLog,
		Steps: []githubfake.Step{{Name: "terraform apply", Conclusion: "failure"}}})
	return r, []func() (string, any){
		func() (string, any) { ev, _ := gh.JobEvent(job.ID, "completed"); return "workflow_job", ev },
		func() (string, any) { ev, _ := gh.RunEvent(r.ID, "completed"); return "workflow_run", ev },
	}
}

// TestPullRequestRunsDriveNothing: a pull request (a fork's, then one from the
// repository) whose job is named "Rollback on Failure" fails with a log naming prod's
// state, secrets and a lock. medic opens no prod incident and pages nobody: each gets
// one LOW "checks failed" alert in dev, with GitHub's re-run and the logs only, and
// nothing of its log becomes a lock or a version medic would act on.
func TestPullRequestRunsDriveNothing(t *testing.T) {
	for _, fork := range []bool{true, false} {
		name := map[bool]string{true: "fork", false: "same repository"}[fork]
		t.Run(name, func(t *testing.T) {
			c := &clock{}
			e, _ := mustStartStaged(t, "", withClock{c})
			run, deliveries := stagePullRequestRun(t, e, fork)
			for _, d := range deliveries {
				event, payload := d()
				if _, status, err := e.sb.GitHub.Deliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, event, payload); err != nil || status >= 300 {
					t.Fatalf("delivering %s: %d %v", event, status, err)
				}
			}
			// The poller sees the same run too.
			e.pollOnce()
			alert, text := e.waitAlert("LOW · dev · Checks failed on")
			want, why := "Checks failed on PR #1 by mallory", "it was started by a pull_request event"
			if fork {
				want, why = "Checks failed on a pull request from mallory/sentiment-analyzer-gsk:main by mallory", "its code comes from mallory/sentiment-analyzer-gsk"
			}
			wantContains(t, strings.ToLower(text), strings.ToLower(want))
			wantContains(t, text, "Not a trusted run: "+why, "pages nobody")
			for _, bad := range []string{"CRITICAL", "rollback failed", "Force-unlock", "Emergency", "Page senior", "Acknowledge"} {
				if strings.Contains(text, bad) {
					t.Errorf("the alert offers or says %q:\n%s", bad, text)
				}
			}
			wantContains(t, text, "[ Re-run failed jobs", "[ View logs")
			in, err := e.app.store.Incident(mustCtx(t), incidentOf(t, alert))
			if err != nil {
				t.Fatal(err)
			}
			if in.Env != "dev" || in.Scenario != recovery.UntrustedRunFailed || in.Severity != recovery.SeverityLow || in.Lock != nil || in.RollbackSHA != "" || in.Cause != recovery.CauseNone {
				t.Errorf("incident: env %s, scenario %s, severity %s, lock %v, rollback SHA %q, cause %q; want dev, untrusted, LOW and nothing taken from the log",
					in.Env, in.Scenario, in.Severity, in.Lock, in.RollbackSHA, in.Cause)
			}
			if prod, _ := e.app.store.OpenIncidents(mustCtx(t), "prod"); len(prod) != 0 {
				t.Errorf("the pull request opened %d prod incidents", len(prod))
			}
			// Nobody is paged, however long nobody reacts.
			c.advance(48 * time.Hour)
			e.escalate()
			e.wantPages(alert, 0, "")
			if ev := e.sb.PagerDuty.Events(); len(ev) != 0 {
				t.Errorf("PagerDuty got %d events", len(ev))
			}
			wantContains(t, e.press(alert, userAlice, "action:view-logs"), "log excerpt is in the alert's thread")
			// A responder cannot page for it either, and no other action can be asked of it.
			_, err = e.app.engine.PageIncident(mustCtx(t), in.ID, recovery.ActPageSenior, userAlice, "")
			if !isUserError(err, "never pages") {
				t.Errorf("paging the senior engineer for it: got %v, want a refusal", err)
			}
			for _, a := range []recovery.ActionID{recovery.ActForceUnlock, recovery.ActRollback, recovery.ActTerraformPlan, recovery.ActRevert} {
				_, err := e.app.engine.RequestAction(mustCtx(t), recovery.ActionRequest{IncidentID: in.ID, Action: a, User: userAlice, Params: recovery.RequestParams{Reason: "x"}})
				if !isUserError(err, "does not trust") {
					t.Errorf("%s on it: got %v, want a refusal", a, err)
				}
			}
			// /rollback dev does not attach to it: the request is not in its thread.
			before := e.ephemeralCount(userAlice)
			e.command(userAlice, sandboxChannel, "/rollback", "dev")
			got := e.nextEphemeral(userAlice, before)
			for _, m := range e.sb.Slack.Thread(sandboxChannel, alert.TS) {
				if strings.Contains(slackfake.Render(m), "requests *Roll back") {
					t.Errorf("/rollback dev landed in the pull request's thread (%s)", got)
				}
			}
			wantContains(t, e.audit(in.ID), "medic:incident.opened", "U0ALICE:page.refused", "U0ALICE:request.refused")
			if n := len(e.alerts()); n != 1 {
				t.Errorf("got %d alerts for run %d (webhook and poller), want 1", n, run.ID)
			}
		})
	}
}

// isUserError reports whether err is a *recovery.UserError saying want.
func isUserError(err error, want string) bool {
	var ue *recovery.UserError
	return errors.As(err, &ue) && strings.Contains(ue.Msg, want)
}
