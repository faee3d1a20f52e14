package main

import (
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/githubfake"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// TestRerunIsFollowedToItsEnd: on the dev alert alice clicks Re-run failed jobs
// (self-service in dev); GitHub re-runs the job and attempt 2 ends. The alert says how:
// passed (told by a signed workflow_run delivery only, or seen by polling only, the
// re-run's run being older than the poller's cursor), with the failed step replaced and
// Resolve offered; or failed again, with attempt 2's failure. The incident's timeline
// has it.
func TestRerunIsFollowedToItsEnd(t *testing.T) {
	for _, tt := range []struct {
		name, via, conclusion string
	}{
		{"passes, told by webhook only", "webhook", "success"},
		{"passes, seen by polling only", "poll", "success"},
		{"fails again", "webhook", "failure"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var opts []any
			if tt.via == "poll" {
				opts = append(opts, e2eOption(func(_ *sandbox.World, cfg *config.Config) {
					every := 100 * time.Millisecond
					cfg.Pipeline.PollInterval = &every
				}))
			}
			e, st := mustStartStaged(t, "dev-tests-fail-main", opts...)
			e.deliver(st)
			alert, incident := e.alertOf("Dev tests failed")
			if tt.via == "poll" {
				// A newer run of the workflow moves the poller's cursor past the failed
				// run before it is re-run, as a busy pipeline does: the re-run is then
				// seen only because medic follows it.
				failed, _ := e.sb.GitHub.Run(st.RunID)
				e.sb.GitHub.AddRun(githubfake.Run{WorkflowFile: failed.WorkflowFile, HeadBranch: failed.HeadBranch, HeadSHA: failed.HeadSHA,
					Event: "push", Status: "completed", Conclusion: "success", CreatedAt: time.Now().Add(time.Hour)})
				deadline := time.Now().Add(10 * time.Second)
				for rounds := e.pollRounds("runs"); e.pollRounds("runs") < rounds+2; {
					if time.Now().After(deadline) {
						t.Fatal("the run poller ran fewer than 2 rounds in 10 s")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			wantContains(t, e.press(alert, userAlice, "action:rerun-failed"), "runs without approval (self-service)")
			e.threadMessage(alert, "Job JOB-", "succeeded.")
			e.waitAlert("Dev tests failed", "Following run", "until it ends")

			run, err := e.sb.GitHub.FinishAttempt(st.RunID, tt.conclusion)
			if err != nil {
				t.Fatal(err)
			}
			if run.RunAttempt != 2 {
				t.Fatalf("the re-run: attempt %d, want 2", run.RunAttempt)
			}
			if tt.via == "webhook" {
				ev, err := e.sb.GitHub.RunEvent(st.RunID, "completed")
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // a redelivery changes nothing
					if _, status, err := e.sb.GitHub.Deliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, "workflow_run", ev); err != nil || status != 202 {
						t.Fatalf("delivering the re-run's end: %d, %v", status, err)
					}
				}
			}
			switch tt.conclusion {
			case "success":
				m, text := e.waitAlert("Dev tests failed", "Attempt 2 of run", "passed", "[ Resolve")
				if strings.Contains(text, ":x: *Failed step*") {
					t.Errorf("the alert still shows the failed step:\n%s", text)
				}
				wantContains(t, text, "*Attempt 2 passed*", "Tests (Dev): success")
				note := e.threadMessage(m, "Attempt 2 of run", "passed", "(medic's JOB-")
				passed := 0
				for _, n := range e.sb.Slack.Thread(sandboxChannel, alert.TS) {
					if strings.Contains(n.Text, "Attempt 2 of run") && strings.Contains(n.Text, "passed") {
						passed++
					}
				}
				if passed != 1 {
					t.Errorf("notes saying attempt 2 passed: %d, want 1 (%s)", passed, slackfake.Render(note))
				}
				wantContains(t, e.audit(incident), "medic:follow.started", "medic:follow.passed")
			default:
				_, text := e.waitAlert("Dev tests failed", "Attempt 2 of run", "failed too")
				if strings.Contains(text, "[ Resolve") {
					t.Errorf("an alert whose re-run failed offers Resolve:\n%s", text)
				}
				e.threadMessage(alert, "Attempt 2 of run", "failed too: Tests (Dev)", "The diagnostics above are this attempt's.")
				wantContains(t, e.audit(incident), "medic:follow.started", "medic:follow.failed")
			}
		})
	}
}

// TestRevertIsFollowedToItsDeploy: on the preprod alert alice requests Revert commit,
// bob approves, medic pushes the revert commit; GitHub runs the pipeline on it and the
// run, through to its deploy, passes. The alert says so and offers Resolve.
func TestRevertIsFollowedToItsDeploy(t *testing.T) {
	e, st := mustStartStaged(t, "preprod-deploy-fail")
	e.deliver(st)
	alert, incident := e.alertOf("Preprod deployment failed")
	e.press(alert, userAlice, "action:revert")
	req := e.threadMessage(alert, "requests *Revert commit*", "[ Approve")
	wantContains(t, e.press(req, userBob, "approve:request"), "You approved")
	e.threadMessage(alert, "Pushed revert commit")
	e.waitAlert("Preprod deployment failed", "Following the pipeline run of")
	revert, ok := e.sb.GitHub.Ref("heads/main")
	if !ok || revert == st.HeadSHA {
		t.Fatalf("main after the revert: %q, want a new commit", revert)
	}
	failed, _ := e.sb.GitHub.Run(st.RunID)
	run := e.sb.GitHub.AddRun(githubfake.Run{WorkflowFile: failed.WorkflowFile, HeadBranch: "main", HeadSHA: revert, Event: "push", Status: "completed", Conclusion: "success"})
	for _, name := range []string{"Tests (Dev)", "Build", "Deploy to Preprod", "Preprod Integration Tests"} {
		e.sb.GitHub.AddJob(run.ID, githubfake.Job{Name: name, Conclusion: "success"})
	}
	ev, err := e.sb.GitHub.RunEvent(run.ID, "completed")
	if err != nil {
		t.Fatal(err)
	}
	if _, status, err := e.sb.GitHub.Deliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, "workflow_run", ev); err != nil || status != 202 {
		t.Fatalf("delivering the revert's run: %d, %v", status, err)
	}
	_, text := e.waitAlert("Preprod deployment failed", "on the revert commit", "passed", "[ Resolve")
	wantContains(t, text, revert[:7])
	e.threadMessage(alert, "on the revert commit", "passed (after Revert commit, medic's JOB-", "Deploy to Preprod: success")
	wantContains(t, e.audit(incident), "medic:follow.started", "medic:follow.passed")
}
