package main

import (
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// openHome opens user's Home tab and waits until it shows every want.
func (e *e2e) openHome(user string, wants ...string) string {
	e.t.Helper()
	id, err := e.sb.Slack.OpenHome(mustCtx(e.t), user)
	if err != nil {
		e.t.Fatalf("opening the home of %s: %v", user, err)
	}
	if _, err := e.sb.Slack.WaitAck(mustCtx(e.t), id); err != nil {
		e.t.Fatalf("ack of app_home_opened: %v", err)
	}
	return e.waitHome(user, wants...)
}

// waitHome waits until user's Home tab shows every want and returns it as text.
func (e *e2e) waitHome(user string, wants ...string) string {
	e.t.Helper()
	return e.waitHomeWhere(user, func(text string) bool {
		for _, w := range wants {
			if !strings.Contains(text, w) {
				return false
			}
		}
		return true
	}, "showing %q", wants)
}

func (e *e2e) waitHomeWhere(user string, ok func(string) bool, what string, args ...any) string {
	e.t.Helper()
	h, err := e.sb.Slack.WaitForHome(mustCtx(e.t), user, func(h slackfake.HomeView) bool { return ok(slackfake.RenderHome(h)) })
	if err != nil {
		cur, _ := e.sb.Slack.Home(user)
		e.t.Fatalf("the home of %s never ended "+what+": %v\nit shows:\n%s", append(append([]any{user}, args...), err, slackfake.RenderHome(cur))...)
	}
	text := slackfake.RenderHome(h)
	e.t.Logf("home of %s:\n%s", user, text)
	return text
}

func wantLacks(t *testing.T, got string, lacks ...string) {
	t.Helper()
	for _, l := range lacks {
		if strings.Contains(got, l) {
			t.Errorf("got %q, which should not contain %q", got, l)
		}
	}
}

// TestHomeTab: what the Home tab shows a responder, an approver, the requester and
// someone without a role, and that it follows an approval made on it.
func TestHomeTab(t *testing.T) {
	e, st := mustStartStaged(t, "canary-fail")
	needTerraform(t, e)
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed")
	incident := incidentOf(t, alert)

	// A responder sees the incident, its escalation, the levels and the last good deploy.
	carol := e.openHome(userCarol, incident, "*prod*", "Open incidents", "Escalation:", "Escalation levels", "<!subteam^"+groupOnCall+">", "Last known good deploy", st.PreviousSHA[:12])
	wantContains(t, carol, "Waiting for your approval* (0)")
	wantLacks(t, carol, "[ Approve")

	// Someone without a role sees nothing of medic's.
	mallory := e.openHome(userMallory, "You hold no role in medic")
	wantLacks(t, mallory, incident, "Approve", "Escalation", st.PreviousSHA[:12])

	// The approver opened Home before the request: it refreshes when the request comes.
	e.openHome(userBob, incident)
	e.press(alert, userAlice, "action:rollback")
	req := e.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	requestID := requestIDOf(t, req)
	bob := e.waitHome(userBob, "Waiting for your approval* (1)", requestID, "[ Approve ]", "[ Reject ]")
	wantContains(t, bob, "<@"+userAlice+"> requests *Roll back to last good* on *prod*")

	// The requester sees their request without Approve.
	alice := e.openHome(userAlice, requestID)
	wantContains(t, alice, "Waiting for your approval* (0)", "your request: another approver decides")
	wantLacks(t, alice, "[ Approve")

	// Approving from Home runs the same checks as from the channel: a responder's
	// forged click on Carol's own Home has nothing to press; the approver's works.
	if _, err := e.sb.Slack.ClickHome(mustCtx(t), slackfake.HomeClick{User: userCarol, ActionID: "approve:request", Value: requestID}); err == nil {
		t.Error("Carol's home offers Approve")
	}
	// Verification's health check waits, so the job is seen running.
	e.sb.Faults.Set("health:prod", fault.Rule{Latency: 6 * time.Second, Times: 1})
	id, err := e.sb.Slack.ClickHome(mustCtx(t), slackfake.HomeClick{User: userBob, ActionID: "approve:request", Value: requestID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.Slack.WaitAck(mustCtx(t), id); err != nil {
		t.Fatal(err)
	}
	dm, err := e.sb.Slack.WaitForMessage(mustCtx(t), func(m slackfake.Message) bool {
		return strings.Contains(m.Text, "You approved "+requestID)
	})
	if err != nil {
		t.Fatalf("no answer to the approval from Home: %v", err)
	}
	if want := e.sb.Slack.DMs(userBob); len(want) == 0 || want[len(want)-1].TS != dm.TS {
		t.Errorf("the answer to Bob's click went to %s, not his direct messages", dm.Channel)
	}
	bob = e.waitHomeWhere(userBob, func(text string) bool {
		return strings.Contains(text, "Waiting for your approval* (0)") && strings.Contains(text, "JOB-") && strings.Contains(text, "· running")
	}, "without the request and with the job running")
	wantLacks(t, bob, requestID+"` · expires", "[ Approve")
	wantContains(t, bob, "Roll back to last good · running · step", "approved by <@"+userBob+">")
}

// TestManifestEnablesTheHomeTab: the Home tab is on, the Messages tab stays on, and
// medic subscribes to app_home_opened (and to nothing else).
func TestManifestEnablesTheHomeTab(t *testing.T) {
	m := appManifest()
	if !m.Features.AppHome.HomeTabEnabled || !m.Features.AppHome.MessagesTabEnabled {
		t.Errorf("app_home: got %+v, want the home and messages tabs on", m.Features.AppHome)
	}
	if got := strings.Join(m.Settings.EventSubscriptions.BotEvents, ","); got != "app_home_opened" {
		t.Errorf("bot events: got %q, want app_home_opened", got)
	}
}
