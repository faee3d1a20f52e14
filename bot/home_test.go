package bot

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/recovery"
)

// homeReport is an approver's Home with an incident, a request for them, one of
// their own, a running job and the levels; its outside text tries markup.
func homeReport() recovery.HomeReport {
	req := func(id, by string) recovery.Request {
		return recovery.Request{ID: id, Env: "prod", IncidentID: "INC-1", Action: recovery.ActRollback, RequestedBy: by,
			RequestedAt: at.Add(-2 * time.Minute), ExpiresAt: at.Add(28 * time.Minute), NeedsApproval: true, PreviewReady: true,
			State: recovery.RequestPending, Params: recovery.RequestParams{SHA: "0123456789abcdef0123", Reason: "<!channel> *now*"},
			Preview: recovery.Preview{Title: "Plan: 1 to change <https://evil.example|click>", Lines: []string{"module.lambda <!channel>"}, PlanSHA256: "ab12"}}
	}
	in := recovery.Incident{ID: "INC-1", Env: "prod", Scenario: "canary-failed", Severity: recovery.SeverityHigh,
		Status: recovery.IncidentOpen, Title: "Canary failed <!here> `x`", OpenedAt: at.Add(-17 * time.Minute)}
	job := recovery.Job{ID: "JOB-1", Env: "prod", Action: recovery.ActRollback, IncidentID: "INC-1", State: recovery.JobRunning,
		RequestedBy: "U0ALICE", ApprovedBy: "U0BOB", Current: 1,
		Steps: []recovery.StepRecord{{Name: "Fetch sources"}, {Name: "terraform apply <@U0EVIL>"}, {Name: "Verify"}}}
	return recovery.HomeReport{
		User: "U0BOB", At: at,
		Approvals: []recovery.Request{req("REQ-A", "U0ALICE")},
		Waiting:   []recovery.Request{req("REQ-B", "U0BOB")},
		Envs: []recovery.HomeEnv{{
			Name:       "prod",
			Incidents:  recovery.Section[[]recovery.Incident]{Value: []recovery.Incident{in}},
			Escalation: map[string]string{"INC-1": "Escalation: prod_high (response 15m) · pages on_call at 03:27 UTC"},
			Jobs:       recovery.Section[[]recovery.Job]{Value: []recovery.Job{job}},
			LastGood:   recovery.Section[*recovery.Deploy]{Value: &recovery.Deploy{RunID: 7, SHA: "fedcba9876543210", Workflow: "deploy <!channel>", At: at.Add(-3 * time.Hour), URL: "https://github.com/o/r/actions/runs/7"}},
		}, {
			Name:      "dev",
			Incidents: recovery.Section[[]recovery.Incident]{Problem: "Incidents: no answer within 10s"},
			Jobs:      recovery.Section[[]recovery.Job]{},
			LastGood:  recovery.Section[*recovery.Deploy]{},
		}},
		Levels: []recovery.Level{
			{Name: "oncall", Title: "on-call engineer", Slack: []string{"S0ONCALL", "U0CAROL"}, PagerDuty: true},
			{Name: "senior", Title: "senior <!everyone>", Slack: []string{"not-an-id>"}},
		},
	}
}

func TestHomeViewGolden(t *testing.T) {
	golden(t, "home_approver", HomeView(homeReport()))
	golden(t, "home_no_role", HomeView(recovery.HomeReport{User: "U0MALLORY", At: at, NoRole: true}))
}

// homeJSON is the view as Slack receives it.
func homeJSON(t *testing.T, v slack.HomeTabViewRequest) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	// slack-go marshals blocks with HTML escaping; read them as Slack does.
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(b.String())
}

// TestHomeViewEscapesOutsideText: titles, names, reasons and steps never become
// mentions or links; only IDs of the right shape do.
func TestHomeViewEscapesOutsideText(t *testing.T) {
	got := homeJSON(t, HomeView(homeReport()))
	for _, bad := range []string{"<!channel>", "<!here>", "<!everyone>", "<https://evil", "<@U0EVIL>", "not-an-id>"} {
		if strings.Contains(got, bad) {
			t.Errorf("the home carries %q as markup", bad)
		}
	}
	for _, want := range []string{"<@U0ALICE>", "<!subteam^S0ONCALL>", "<@U0CAROL>", "&lt;!channel&gt;"} {
		if !strings.Contains(got, want) {
			t.Errorf("the home lacks %q", want)
		}
	}
}

// TestHomeViewButtons: Approve and Reject only for the requests in Approvals, with the
// request message's action IDs and values; none for a person without a role.
func TestHomeViewButtons(t *testing.T) {
	v := HomeView(homeReport())
	var ids []string
	for _, b := range v.Blocks.BlockSet {
		if a, ok := b.(*slack.ActionBlock); ok {
			for _, el := range a.Elements.ElementSet {
				btn := el.(*slack.ButtonBlockElement)
				ids = append(ids, a.BlockID+" "+btn.ActionID+"="+btn.Value)
			}
		}
	}
	want := []string{"request:REQ-A " + recovery.ApproveID() + "=REQ-A", "request:REQ-A " + recovery.RejectID() + "=REQ-A"}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("buttons: got %v, want %v", ids, want)
	}
	if got := homeJSON(t, HomeView(recovery.HomeReport{User: "U0MALLORY", At: at, NoRole: true})); strings.Contains(got, `"actions"`) {
		t.Errorf("a person without a role gets buttons: %s", got)
	}
}

// TestHomeViewShowsWhatIsApproved: an approval on the Home shows the request's
// preview as its message does, plan and all.
func TestHomeViewShowsWhatIsApproved(t *testing.T) {
	r := homeReport()
	r.Waiting = nil
	got := homeJSON(t, HomeView(r))
	for _, want := range []string{"Preview: Plan: 1 to change", "module.lambda &lt;!channel&gt;", "Approving approves this plan (sha256 ab12), nothing else."} {
		if !strings.Contains(got, want) {
			t.Errorf("the approval lacks %q", want)
		}
	}
}

// TestHomeViewKeepsSlackLimits: a storm of requests still fits 100 blocks.
func TestHomeViewKeepsSlackLimits(t *testing.T) {
	r := homeReport()
	for i := 0; i < 80; i++ {
		r.Approvals = append(r.Approvals, r.Approvals[0])
		r.Envs = append(r.Envs, r.Envs[1])
	}
	if n := len(HomeView(r).Blocks.BlockSet); n > maxHomeBlocks {
		t.Errorf("got %d blocks, Slack allows %d", n, maxHomeBlocks)
	}
}

// homeHandler records the Homes it is asked to show.
type homeHandler struct {
	countingHandler
	opened chan string
}

func (h *homeHandler) HomeOpened(_ context.Context, user string) { h.opened <- user }

// TestAppHomeOpenedReachesTheHandler: the Home tab's app_home_opened is acked and
// handed to the handler; the Messages tab's, and other events, are only acked.
func TestAppHomeOpenedReachesTheHandler(t *testing.T) {
	h := &homeHandler{opened: make(chan string, 10)}
	srv, _ := mustBot(t, h, Options{Workers: 1, Logger: zaptest.NewLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ids []string
	for _, ev := range []struct {
		typ   string
		event map[string]any
	}{
		{"app_home_opened", map[string]any{"user": "U0CAROL", "tab": "messages"}},
		{"app_mention", map[string]any{"user": "U0CAROL", "text": "<@U0MEDIC> hi", "channel": "C1"}},
		{"app_home_opened", map[string]any{"user": "<!channel>", "tab": "home"}},
	} {
		id, err := srv.Event(ctx, ev.typ, ev.event)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	id, err := srv.OpenHome(ctx, "U0BOB")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range append(ids, id) {
		if _, err := srv.WaitAck(ctx, id); err != nil {
			t.Fatalf("event %s not acked: %v", id, err)
		}
	}
	// One worker takes the queue in order: anything queued before Bob's Home would
	// have come first.
	select {
	case got := <-h.opened:
		if got != "U0BOB" {
			t.Errorf("the first Home shown was %q's, want U0BOB's", got)
		}
	case <-ctx.Done():
		t.Fatal("U0BOB's Home was never shown")
	}
}
