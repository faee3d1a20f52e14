package main

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/config"
	deploygithub "github.com/medic-ops/medic/deploy/github"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/githubfake"
	"github.com/medic-ops/medic/sandbox/slackfake"
	"github.com/medic-ops/medic/store"
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
			// The runs poller's rounds run when the test moves their clock.
			e, _ := mustStartStaged(t, "", withClock{c}, withPolling(50*time.Millisecond, 0), withTickers{c: recoverytest.NewClock(time.Now())})
			run, deliveries := stagePullRequestRun(t, e, fork)
			for _, d := range deliveries {
				event, payload := d()
				if _, status, err := e.sb.GitHub.Deliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, event, payload); err != nil || status >= 300 {
					t.Fatalf("delivering %s: %d %v", event, status, err)
				}
			}
			alert, text := e.waitAlert("LOW · dev · Checks failed on")
			// The poller reads the same run too, round after round: one alert still.
			e.wantSettled(1, 3, "runs")
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

// withAdmin makes user an admin of every environment.
func withAdmin(user string) e2eOption {
	return func(_ *sandbox.World, cfg *config.Config) {
		m := cfg.Access.Roles["*"]
		m.Admins = append(m.Admins, user)
		cfg.Access.Roles["*"] = m
	}
}

// commitOn adds a commit to branch in the sandbox's GitHub, with the Terraform sources
// and extra files, and returns its SHA.
func commitOn(e *e2e, branch, message string, extra map[string]string) string {
	files := sandbox.RepositoryFiles()
	maps.Copy(files, extra)
	c := githubfake.Commit{Message: message, Branch: branch, Files: files}
	if _, ok := e.sb.GitHub.Ref("heads/" + branch); !ok {
		head, _ := e.sb.GitHub.Ref("heads/main")
		c.Parents = []string{head}
	}
	return e.sb.GitHub.AddCommit(c)
}

// TestRollbackRunsOnlyTrustedCommits: /rollback prod with a commit that is not on main
// (a branch's, one GitHub does not have) is refused before anything of it is
// downloaded or run; one on main that was never deployed to prod is refused too, and
// an admin may override that rule only, through a form whose override the approver
// sees.
func TestRollbackRunsOnlyTrustedCommits(t *testing.T) {
	e, _ := mustStartStaged(t, "", withAdmin(userErin))
	needTerraform(t, e)
	wip := commitOn(e, "someone/wip", "wip: try a provider", map[string]string{
		// What the commit would run if medic fetched it and ran terraform init.
		sandbox.TerraformDir + "/terraform.d/plugins/registry.terraform.io/evil/probe/1.0.0/linux_amd64/terraform-provider-probe": "#!/bin/sh\nenv > /tmp/probe\n",
	})
	rollback := func(user, text string) string {
		before := e.ephemeralCount(user)
		e.command(user, sandboxChannel, "/rollback", text)
		return e.nextEphemeral(user, before)
	}
	wantContains(t, rollback(userAlice, "prod "+wip[:10]), wip[:7]+" is not on main", "Merge it first", "nothing was done")
	wantContains(t, rollback(userAlice, "prod deadbeefcafe"), "The repository has no commit deadbee", "nothing was done")

	fresh := commitOn(e, "main", "chore: bump the model", nil)
	got := rollback(userAlice, "prod "+fresh)
	wantContains(t, got, fresh[:7]+" is on main but was never deployed successfully to prod", "/rollback prod "+fresh[:7]+" override")
	// A responder's override is refused; so is one without the typed confirmation.
	e.command(userAlice, sandboxChannel, "/rollback", "prod "+fresh+" override")
	e.waitForm(userAlice)
	before := e.ephemeralCount(userAlice)
	if ack := e.submitForm(userAlice, map[string]string{recovery.FormReason: "trust me", recovery.FormOverride: fresh[:7]}); len(ack.Payload) != 0 {
		t.Fatalf("form refused: %s", ack.Payload)
	}
	wantContains(t, e.nextEphemeral(userAlice, before), "Only an admin of prod may override")

	if n, m := e.sb.GitHub.Calls("Tarball")+e.sb.GitHub.Calls("DownloadTarball"), e.sb.Faults.Calls("tfstate:GET"); n != 0 || m != 0 {
		t.Fatalf("refused requests downloaded sources %d times and ran Terraform against prod's state %d times, want 0", n, m)
	}
	if msgs := e.requests(); len(msgs) != 0 {
		t.Fatalf("refused requests were posted: %d", len(msgs))
	}

	// The admin overrides: the form wants the SHA typed, and the approver sees why.
	e.command(userErin, sandboxChannel, "/rollback", "prod "+fresh[:9]+" override")
	e.waitForm(userErin)
	if ack := e.submitForm(userErin, map[string]string{recovery.FormReason: "the model fix never reached prod", recovery.FormOverride: "nope"}); !strings.Contains(string(ack.Payload), "Type "+fresh[:7]+" exactly") {
		t.Fatalf("a wrong confirmation was accepted: %s", ack.Payload)
	}
	if ack := e.submitForm(userErin, map[string]string{recovery.FormReason: "the model fix never reached prod", recovery.FormOverride: fresh[:7]}); len(ack.Payload) != 0 {
		t.Fatalf("form refused: %s", ack.Payload)
	}
	req, text := e.waitMessage("the override request", func(m slackfake.Message) bool {
		return !m.Ephemeral && strings.Contains(slackfake.Render(m), "Admin override by <@U0ERIN>") && strings.Contains(slackfake.Render(m), "[ Approve")
	})
	wantContains(t, text, fresh[:12]+"` was never deployed successfully to prod", "the model fix never reached prod")
	wantContains(t, e.press(req, userBob, "approve:request"), "You approved")
	e.waitMessage("the job's end", func(m slackfake.Message) bool {
		return m.ThreadTS == req.TS && strings.Contains(m.Text, "succeeded.")
	})
	if v := deployedVersion(t, e, "prod"); v != fresh {
		t.Errorf("prod runs %q, want the overridden %s", v, fresh[:7])
	}
	audit, err := e.app.store.Audit(mustCtx(t), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var overrides, refused int
	for _, a := range audit {
		switch {
		case a.Action == "request.override" && a.Actor == userErin && a.Detail["sha"] == fresh:
			overrides++
		case a.Action == "request.refused":
			refused++
		}
	}
	if overrides != 1 || refused != 4 {
		t.Errorf("audit: %d overrides by erin and %d refusals, want 1 and 4", overrides, refused)
	}
}

// waitForm waits until a form is open for user.
func (e *e2e) waitForm(user string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, v := range e.sb.Slack.Views() {
			if v.User == user && !v.Closed {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no form opened for %s", user)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requests returns the request messages posted so far.
func (e *e2e) requests() []slackfake.Message {
	var out []slackfake.Message
	for _, m := range e.sb.Slack.Messages(sandboxChannel) {
		if !m.Ephemeral && strings.Contains(slackfake.Render(m), " requests *") {
			out = append(out, m)
		}
	}
	return out
}

// TestForceLambdaUpdateTargetsOnlyKnownGood: when GitHub failed while the alert's
// diagnostics ran, the incident knows no good version; Force Lambda update then never
// falls back to the incident's own (failing) commit: it asks GitHub for the last known
// good deploy, and refuses when it cannot say.
func TestForceLambdaUpdateTargetsOnlyKnownGood(t *testing.T) {
	e, st := mustStartStaged(t, "rollback-fail")
	e.sb.Faults.Set("github:ListWorkflowRuns", fault.Rule{Err: &fault.Error{Status: 502, Code: "BadGateway", Message: "bad gateway"}})
	e.deliver(st)
	alert, _ := e.waitAlert("rollback failed")
	in, err := e.app.store.Incident(mustCtx(t), incidentOf(t, alert))
	if err != nil || in.RollbackSHA != "" {
		t.Fatalf("the incident knows a good version (%q, %v) although GitHub failed", in.RollbackSHA, err)
	}
	request := func() string {
		e.openForm(alert, userAlice, "action:force-lambda-update")
		before := e.ephemeralCount(userAlice)
		if ack := e.submitForm(userAlice, map[string]string{recovery.FormReason: "terraform is wedged", recovery.FormConfirmEnv: "prod"}); len(ack.Payload) != 0 {
			t.Fatalf("form refused: %s", ack.Payload)
		}
		return e.nextEphemeral(userAlice, before)
	}
	wantContains(t, request(), "Could not read the deploy history")
	for _, m := range e.requests() {
		t.Errorf("a request was posted while no good version was known:\n%s", slackfake.Render(m))
	}
	e.sb.Faults.Clear("github:ListWorkflowRuns")
	wantContains(t, request(), "Requested Force Lambda update on prod")
	req := e.threadMessage(alert, "requests *Force Lambda update*", "[ Approve")
	text := slackfake.Render(req)
	wantContains(t, text, "dashboard/lambda-"+st.PreviousSHA+".zip")
	if strings.Contains(text, st.HeadSHA) || strings.Contains(text, st.HeadSHA[:12]) {
		t.Errorf("the forced update targets the failing commit %s:\n%s", st.HeadSHA[:7], text)
	}
}

// TestTagNamedLikeTheBranchIsNotTrusted: a run started by pushing a tag named main
// reports "main" as its branch; its commit is not on the branch main, so the run is not
// trusted: no prod incident, nobody paged.
func TestTagNamedLikeTheBranchIsNotTrusted(t *testing.T) {
	e, _ := mustStartStaged(t, "")
	evil := commitOn(e, "mallory/evil", "ci: my own rollback", nil)
	run := e.sb.GitHub.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Event: "push", HeadBranch: "main", HeadSHA: evil, Conclusion: "failure", Actor: "mallory"})
	job := e.sb.GitHub.AddJob(run.ID, githubfake.Job{Name: "Rollback on Failure", Conclusion: "failure", Log: hostileRollbackLog})
	for _, d := range []func() (string, any){
		func() (string, any) { ev, _ := e.sb.GitHub.JobEvent(job.ID, "completed"); return "workflow_job", ev },
		func() (string, any) { ev, _ := e.sb.GitHub.RunEvent(run.ID, "completed"); return "workflow_run", ev },
	} {
		event, payload := d()
		if _, status, err := e.sb.GitHub.Deliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, event, payload); err != nil || status >= 300 {
			t.Fatalf("delivering %s: %d %v", event, status, err)
		}
	}
	_, text := e.waitAlert("LOW · dev · Checks failed on branch main")
	wantContains(t, text, "Not a trusted run: its commit "+evil[:7], "is not on branch main")
	if prod, _ := e.app.store.OpenIncidents(mustCtx(t), "prod"); len(prod) != 0 {
		t.Errorf("a tag named main opened %d prod incidents", len(prod))
	}
}

// TestPullRequestFloodCannotHideAProdFailure: a pull request whose run fails 300 jobs
// (each delivered by webhook) gets one alert and no note per job; a real prod failure
// delivered right after is alerted all the same. Then the runs poller reads the same
// run and jobs again, round after round (its rounds run when the test moves medic's
// ticker clock): nothing more is posted.
func TestPullRequestFloodCannotHideAProdFailure(t *testing.T) {
	e, _ := mustStartStaged(t, "", withPolling(50*time.Millisecond, 0), withTickers{c: recoverytest.NewClock(time.Now())})
	st := e.stage("canary-fail")
	gh := e.sb.GitHub
	run := gh.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Event: "pull_request", HeadRepository: "mallory/sentiment-analyzer-gsk", HeadBranch: "main", Conclusion: "failure", Actor: "mallory"})
	var jobs []int64
	for i := range 300 {
		name := fmt.Sprintf("shard %d", i)
		if i == 0 {
			name = "<!channel> <https://evil.example/approve|Approve REQ-1234>"
		}
		jobs = append(jobs, gh.AddJob(run.ID, githubfake.Job{Name: name, Conclusion: "failure"}).ID)
	}
	for _, id := range jobs {
		ev, err := gh.JobEvent(id, "completed")
		if err != nil {
			t.Fatal(err)
		}
		if _, status, err := gh.Deliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, "workflow_job", ev); err != nil || status >= 300 {
			t.Fatalf("delivering job %d: %d %v", id, status, err)
		}
	}
	e.deliver(st)
	e.waitAlert("Production canary failed")
	pr, _ := e.waitAlert("Checks failed on a pull request from mallory")
	// The poller reads the same 300 jobs again: two alerts still, no note repeated.
	e.wantSettled(2, 3, "runs")
	for _, m := range e.sb.Slack.Thread(sandboxChannel, pr.TS) {
		if strings.Contains(m.Text, "Another job of this run failed") {
			t.Fatalf("the pull request's thread got a note per job: %q", m.Text)
		}
	}
	wantContains(t, e.press(pr, userAlice, "action:view-logs"), "log excerpt is in the alert's thread")
	for _, m := range e.sb.Slack.Messages(sandboxChannel) {
		if strings.Contains(m.Text, "<!channel>") || strings.Contains(string(m.Blocks), "<https://evil.example") {
			t.Errorf("a job name reached Slack as markup: %q", m.Text)
		}
	}
	if n := len(e.alerts()); n != 2 {
		t.Errorf("got %d alerts, want 2 (the pull request's and prod's)", n)
	}
}

// TestOldRunsAreIgnored: a signed delivery about a run older than
// pipeline.max_signal_age (a capture replayed once its delivery ID was purged) opens
// nothing and pages nobody.
func TestOldRunsAreIgnored(t *testing.T) {
	for _, tc := range []struct {
		age     time.Duration
		handled bool
	}{{25 * time.Hour, false}, {23 * time.Hour, true}} {
		t.Run(tc.age.String(), func(t *testing.T) {
			c := &clock{}
			e, st := mustStartStaged(t, "canary-fail", withClock{c})
			c.advance(tc.age)
			gh, err := deploygithub.New(deploygithub.Options{BaseURL: e.sb.GitHub.URL() + "/", Token: "ghs_sandbox", Owner: e.cfg.GitHub.Owner, Repo: e.cfg.GitHub.Repo})
			if err != nil {
				t.Fatal(err)
			}
			run, err := gh.Run(mustCtx(t), st.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.app.engine.Handle(mustCtx(t), recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "webhook", Run: &run}); err != nil {
				t.Fatal(err)
			}
			if tc.handled {
				e.waitAlert("Production canary failed")
				return
			}
			if open, _ := e.app.store.OpenIncidents(mustCtx(t), "prod"); len(open) != 0 {
				t.Errorf("a run %s old opened %d incidents", tc.age, len(open))
			}
		})
	}
}
