package main

import (
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// withPreviews sets the click workers and the previews' time limit.
func withPreviews(workers int, timeout time.Duration) e2eOption {
	return func(_ *sandbox.World, cfg *config.Config) {
		cfg.Slack.Workers = workers
		cfg.Previews.Timeout = timeout
	}
}

// TestPreviewsRunOffTheClickWorkers: with two click workers, three /rollback requests
// whose previews hang (GitHub never serves the sources) leave every other command
// answered; their previews run one at a time for prod, without the state lock. The
// preview that runs out of time fails its request, which nobody can approve; the next
// ones, once GitHub answers, can be.
func TestPreviewsRunOffTheClickWorkers(t *testing.T) {
	e, st := mustStartStaged(t, "canary-fail", withPreviews(2, 3*time.Second))
	needTerraform(t, e)
	e.app.terraform.wait() // the previews start at once: medic's Terraform check is over
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed")
	e.sb.Faults.Set("github:Tarball", fault.Rule{Hang: true, Times: 1}) // the first preview's download hangs
	good := worldFromConfig(e.cfg).Envs[2].GoodDeploys                  // prod's, oldest first
	for i, who := range []string{userAlice, userCarol, userAlice} {
		before := e.ephemeralCount(who)
		e.command(who, sandboxChannel, "/rollback", "prod "+good[i])
		wantContains(t, e.nextEphemeral(who, before), "Its preview is being prepared")
	}
	// The click workers are free: another command is answered at once, while the
	// previews wait on GitHub; every requester was answered before any preview ended.
	e.command(userBob, sandboxChannel, "/status", "prod")
	e.waitMessage("prod status", statusOf("prod"))
	if n := e.sb.GitHub.Calls("Tarball"); n != 1 {
		t.Errorf("prod previews running at once: got %d source downloads, want 1 (one at a time per environment)", n)
	}
	preparing := 0
	for _, m := range e.sb.Slack.Thread(sandboxChannel, alert.TS) {
		if strings.Contains(slackfake.Render(m), "Preparing the preview") {
			preparing++
		}
	}
	if preparing != 3 {
		t.Errorf("got %d requests still preparing their preview once everyone was answered, want 3", preparing)
	}
	failed := e.threadMessage(alert, "requests *Roll back to last good*", "preview failed", "no preview within 3s")
	if strings.Contains(slackfake.Render(failed), "[ Approve") {
		t.Errorf("a failed preview offers Approve:\n%s", slackfake.Render(failed))
	}
	e.sb.Faults.Clear("github:Tarball")
	// The failed request cannot be approved, even by a click that was already on its way.
	id := requestIDOf(t, failed)
	if _, err := e.app.engine.Decide(mustCtx(t), id, userBob, true); !isUserError(err, "failed") {
		t.Errorf("approving a request whose preview failed: got %v, want a refusal", err)
	}
	deadline := time.Now().Add(60 * time.Second) // two Terraform plans on a loaded 2-core runner
	for ready := 0; ready < 2; {
		ready = 0
		for _, m := range e.sb.Slack.Thread(sandboxChannel, alert.TS) {
			if r := slackfake.Render(m); strings.Contains(r, "requests *Roll back") && strings.Contains(r, "[ Approve") && strings.Contains(r, "Saved plan sha256") {
				ready++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d requests ready to approve, want 2:\n%s", ready, e.sb.Slack.Transcript(sandboxChannel))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.sb.Faults.Calls("tfstate:LOCK"); n != 0 {
		t.Errorf("previews took the state lock %d times, want never", n)
	}
	wantContains(t, e.audit(incidentOf(t, alert)), "medic:request.preview.failed", "medic:request.preview.ready")
}

// requestIDOf reads the request ID ("REQ-…") a request message shows.
func requestIDOf(t *testing.T, m slackfake.Message) string {
	t.Helper()
	text := slackfake.Render(m)
	i := strings.Index(text, "`REQ-")
	if i < 0 {
		t.Fatalf("no request ID in:\n%s", text)
	}
	id, _, _ := strings.Cut(text[i+1:], "`")
	return id
}

var _ = recovery.RequestFailed

// TestStalePlanIsNeverApplied: two rollbacks of prod are previewed and approved; the
// first applied changes the state, so the second's saved plan is stale. Its job stops
// without applying anything and says why; Retry is a new request, whose new preview
// needs a new approval, and then applies.
func TestStalePlanIsNeverApplied(t *testing.T) {
	forEachCLI(t, func(t *testing.T, _ tftest.CLI, bin e2eOption) { testStalePlanIsNeverApplied(t, bin) })
}

func testStalePlanIsNeverApplied(t *testing.T, bin e2eOption) {
	e, _ := mustStartStaged(t, "", bin)
	needTerraform(t, e)
	good := worldFromConfig(e.cfg).Envs[2].GoodDeploys
	request := func(sha string) slackfake.Message {
		e.command(userAlice, sandboxChannel, "/rollback", "prod "+sha)
		m, _ := e.waitMessage("the request of "+sha[:7], func(m slackfake.Message) bool {
			r := slackfake.Render(m)
			return !m.Ephemeral && strings.Contains(r, "SHA `"+sha[:12]) && strings.Contains(r, "[ Approve")
		})
		return m
	}
	first, second := request(good[1]), request(good[0])
	e.press(second, userBob, "approve:request")
	e.waitMessage("the second job's end", func(m slackfake.Message) bool {
		return m.ThreadTS == second.TS && strings.Contains(m.Text, "succeeded.")
	})
	e.press(first, userBob, "approve:request")
	stale, _ := e.waitMessage("the stale plan refused", func(m slackfake.Message) bool {
		r := slackfake.Render(m)
		return m.ThreadTS == first.TS && strings.Contains(r, "failed at step 2") && strings.Contains(r, "Nothing was applied") && strings.Contains(r, "[ Retry")
	})
	if strings.Contains(slackfake.Render(stale), "Force Lambda update") {
		t.Error("a stale plan offers Force Lambda update")
	}
	if v := deployedVersion(t, e, "prod"); v != good[0] {
		t.Fatalf("prod runs %s after the stale plan, want %s (nothing applied)", v, good[0][:7])
	}
	before := e.ephemeralCount(userAlice)
	e.press(stale, userAlice, "job-retry:job")
	wantContains(t, e.nextEphemeral(userAlice, before), "Requested Roll back to last good on prod")
	again, _ := e.waitMessage("the retry's new preview", func(m slackfake.Message) bool {
		r := slackfake.Render(m)
		return !m.Ephemeral && m.TS != first.TS && strings.Contains(r, "SHA `"+good[1][:12]) && strings.Contains(r, "retry of JOB-") && strings.Contains(r, "[ Approve")
	})
	e.press(again, userBob, "approve:request")
	e.waitMessage("the retried job's end", func(m slackfake.Message) bool {
		return m.ThreadTS == again.TS && strings.Contains(m.Text, "succeeded.")
	})
	if v := deployedVersion(t, e, "prod"); v != good[1] {
		t.Errorf("prod runs %s after the retry, want %s", v, good[1][:7])
	}
}
