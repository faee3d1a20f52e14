package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/recovery"
)

type posted struct {
	kind, channel, user, responseURL, text string
	env                                    string // a modal's
	report                                 recovery.StatusReport
}

type fakePoster struct {
	mu    sync.Mutex
	posts []posted
	err   error
}

func (f *fakePoster) PostStatus(_ context.Context, channel, user string, r recovery.StatusReport) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, posted{kind: "status", channel: channel, user: user, report: r})
	return f.err
}

func (f *fakePoster) Ephemeral(_ context.Context, channel, user, responseURL, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, posted{kind: "ephemeral", channel: channel, user: user, responseURL: responseURL, text: text})
	return nil
}

func (f *fakePoster) OpenRequestModal(_ context.Context, trigger, meta string, action recovery.ActionID, env, sha string, asks recovery.Asks) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, posted{kind: "modal", text: string(action) + " " + meta, env: env})
	return nil
}

var _ Poster = (*fakePoster)(nil)

type fakeStatus struct{ err error }

func (f fakeStatus) Status(_ context.Context, env string) (recovery.StatusReport, error) {
	if env != "prod" && env != "dev" {
		return recovery.StatusReport{}, &recovery.UnknownEnvironmentError{Name: env, Valid: []string{"dev", "prod"}}
	}
	return recovery.StatusReport{Env: env}, f.err
}

func TestStatusCommand(t *testing.T) {
	tests := []struct {
		name      string
		channel   string
		text      string
		command   string
		statusErr error
		wantKind  string
		wantText  []string
	}{
		{name: "posts the report in the channel", channel: "C0OPS", text: "prod", wantKind: "status"},
		{name: "extra spaces are fine", channel: "C0OPS", text: "  dev  ", wantKind: "status"},
		{name: "missing argument gives usage", channel: "C0OPS", text: "", wantKind: "ephemeral", wantText: []string{"Usage: `/status <env>`", "dev, prod"}},
		{name: "two arguments give usage", channel: "C0OPS", text: "prod now", wantKind: "ephemeral", wantText: []string{"Usage"}},
		{name: "unknown environment lists the valid ones", channel: "C0OPS", text: "qa", wantKind: "ephemeral", wantText: []string{"Unknown environment `qa`", "dev, prod"}},
		{name: "typed markup is not echoed", channel: "C0OPS", text: "<!here>", wantKind: "ephemeral", wantText: []string{"Unknown environment `!here`"}},
		{name: "channel not allowed", channel: "C0RANDOM", text: "prod", wantKind: "ephemeral", wantText: []string{"does not take commands in this channel", "<#C0OPS>"}},
		{name: "unknown command", channel: "C0OPS", command: "/deploy", text: "prod", wantKind: "ephemeral", wantText: []string{"does not know /deploy", "/status <env>"}},
		{name: "drills off", channel: "C0OPS", command: "/drill", text: "canary-fail", wantKind: "ephemeral", wantText: []string{"Drills are off", "slack.drill_channel"}},
		{name: "internal error gives a reference only", channel: "C0OPS", text: "prod", statusErr: errors.New("db password=hunter2 refused"), wantKind: "ephemeral", wantText: []string{"internal error (ref "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakePoster{}
			r := newRouter(t, p, fakeStatus{err: tt.statusErr}, &fakeActions{}, Options{CommandChannels: []string{"C0OPS"}, Environments: []string{"dev", "prod"}, Logger: zaptest.NewLogger(t)})
			cmd := tt.command
			if cmd == "" {
				cmd = "/status"
			}
			r.HandleSlashCommand(context.Background(), slack.SlashCommand{Command: cmd, Text: tt.text, ChannelID: tt.channel, UserID: "U0ALICE", ResponseURL: "http://sandbox/hooks/1"})
			if len(p.posts) != 1 {
				t.Fatalf("got %d posts, want 1: %+v", len(p.posts), p.posts)
			}
			got := p.posts[0]
			if got.kind != tt.wantKind {
				t.Fatalf("got a %s post (%q), want %s", got.kind, got.text, tt.wantKind)
			}
			for _, w := range tt.wantText {
				if !strings.Contains(got.text, w) {
					t.Errorf("got %q, want it to contain %q", got.text, w)
				}
			}
			if strings.Contains(got.text, "hunter2") {
				t.Errorf("internal error detail reached the user: %q", got.text)
			}
			if got.kind == "ephemeral" && (got.user != "U0ALICE" || got.responseURL == "") {
				t.Errorf("ephemeral went to %q via %q, want U0ALICE via the response URL", got.user, got.responseURL)
			}
			if got.kind == "status" && (got.channel != tt.channel || got.user != "U0ALICE") {
				t.Errorf("status posted to %q for %q", got.channel, got.user)
			}
		})
	}
}

func TestStatusSlackRefusesSaysSo(t *testing.T) {
	p := &fakePoster{err: fmt.Errorf("posting prod status to C0OPS: %w", &slack.RateLimitedError{RetryAfter: 30 * time.Second})}
	r := newRouter(t, p, fakeStatus{}, &fakeActions{}, Options{Environments: []string{"dev", "prod"}, Logger: zaptest.NewLogger(t)})
	r.HandleSlashCommand(context.Background(), slack.SlashCommand{Command: "/status", Text: "prod", ChannelID: "C0OPS", UserID: "U0ALICE", ResponseURL: "http://sandbox/hooks/1"})
	if len(p.posts) != 2 || p.posts[1].kind != "ephemeral" {
		t.Fatalf("got %+v, want the status post, then an answer to the user", p.posts)
	}
	got := p.posts[1].text
	for _, w := range []string{"Slack is rate-limiting medic's messages", "wait 30s", "Try again in a minute"} {
		if !strings.Contains(got, w) {
			t.Errorf("got %q, want it to contain %q", got, w)
		}
	}
	if strings.Contains(got, "internal error") {
		t.Errorf("a Slack rate limit reads as an internal error: %q", got)
	}
}

type fakeActions struct {
	mu    sync.Mutex
	calls []string
	msg   string
	err   error
	// What AsksFor was asked, and answers.
	asked  []string
	asks   recovery.Asks
	ask    bool
	askErr error
}

func (f *fakeActions) Act(_ context.Context, id string, a recovery.ActionID, user string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, id+"/"+string(a)+"/"+user)
	return f.msg, f.err
}

func (f *fakeActions) AsksFor(_ context.Context, id, env string, a recovery.ActionID, user string) (recovery.Asks, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, id+"/"+env+"/"+string(a)+"/"+user)
	return f.asks, f.ask, f.askErr
}
func (f *fakeActions) RequestAction(_ context.Context, ar recovery.ActionRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := "request/" + string(ar.Action) + "/" + ar.Env + "/" + ar.Params.SHA + "/" + ar.User
	if ar.Params.Override {
		call += "/override"
	}
	f.calls = append(f.calls, call)
	return f.msg, f.err
}
func (f *fakeActions) Decide(_ context.Context, id, user string, approve bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("decide/%s/%s/%v", id, user, approve))
	return f.msg, f.err
}
func (f *fakeActions) CancelJob(context.Context, string, string) (string, error) { return f.msg, f.err }
func (f *fakeActions) RetryJob(context.Context, string, string) (string, error)  { return f.msg, f.err }

var (
	_ ActionRequester  = (*fakeActions)(nil)
	_ JobController    = (*fakeActions)(nil)
	_ IncidentPager    = (*fakeActions)(nil)
	_ IncidentResolver = (*fakeActions)(nil)
	_ IncidentReader   = (*fakeActions)(nil)
)

// newRouter is a Router on p whose services are s (for /status) and fa (for the rest).
func newRouter(t testing.TB, p Poster, s StatusReader, fa *fakeActions, o Options) *Router {
	t.Helper()
	r, err := NewRouter(p, Services{Status: s, Requests: fa, Jobs: fa, Paging: fa, Resolution: fa, Incidents: fa}, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// NewRouter refuses a missing service, naming it.
func TestNewRouterNamesWhatIsMissing(t *testing.T) {
	fa := &fakeActions{}
	full := Services{Status: fakeStatus{}, Requests: fa, Jobs: fa, Paging: fa, Resolution: fa, Incidents: fa}
	if _, err := NewRouter(&fakePoster{}, full, Options{}); err != nil {
		t.Fatalf("every service given: %v", err)
	}
	for name, drop := range map[string]func(*Services){
		"Status":     func(s *Services) { s.Status = nil },
		"Requests":   func(s *Services) { s.Requests = nil },
		"Jobs":       func(s *Services) { s.Jobs = nil },
		"Paging":     func(s *Services) { s.Paging = nil },
		"Resolution": func(s *Services) { s.Resolution = nil },
		"Incidents":  func(s *Services) { s.Incidents = nil },
	} {
		svc := full
		drop(&svc)
		r, err := NewRouter(&fakePoster{}, svc, Options{})
		if err == nil || r != nil || !strings.Contains(err.Error(), "Services."+name) {
			t.Errorf("without %s: got %v, %v; want an error naming Services.%s", name, r, err, name)
		}
	}
	if _, err := NewRouter(nil, full, Options{}); err == nil || !strings.Contains(err.Error(), "Poster") {
		t.Errorf("without a Poster: got %v, want an error naming it", err)
	}
}

func click(actionID, value string) slack.InteractionCallback {
	cb := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, User: slack.User{ID: "U0ALICE"}, ResponseURL: "http://sandbox/hooks/2"}
	cb.Channel.ID = "C0OPS"
	cb.ActionCallback.BlockActions = []*slack.BlockAction{{ActionID: actionID, Value: value}}
	return cb
}

func TestButtons(t *testing.T) {
	tests := []struct {
		name      string
		actionID  string
		act       *fakeActions
		wantCall  string
		wantReply string
	}{
		{"acknowledge", "action:ack", &fakeActions{msg: "You acknowledged INC-1."}, "INC-1/ack/U0ALICE", "You acknowledged INC-1."},
		{"user error", "action:rollback", &fakeActions{err: &recovery.UserError{Msg: "Incident INC-1 is not on record."}}, "INC-1/rollback/U0ALICE", "not on record"},
		{"internal error", "action:verify", &fakeActions{err: errors.New("db is down: password=x")}, "INC-1/verify/U0ALICE", "internal error (ref "},
		{"unknown button", "frobnicate:xyz", &fakeActions{}, "", "does not know this button"},
		{"approve", "approve:request", &fakeActions{msg: "You approved REQ-1"}, "decide/INC-1/U0ALICE/true", "You approved"},
		{"reject", "reject:request", &fakeActions{msg: "You rejected REQ-1"}, "decide/INC-1/U0ALICE/false", "You rejected"},
		{"follow-up with a SHA", "action:force-lambda-update", &fakeActions{msg: "Requested"}, "request/force-lambda-update/prod/abc1234/U0ALICE", "Requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakePoster{}
			r := newRouter(t, p, fakeStatus{}, tt.act, Options{Logger: zaptest.NewLogger(t)})
			value := "INC-1"
			if tt.name == "follow-up with a SHA" {
				value = recovery.ButtonValue("", "prod", recovery.RequestParams{SHA: "abc1234"})
			}
			r.HandleInteraction(context.Background(), click(tt.actionID, value))
			if got := strings.Join(tt.act.calls, ","); got != tt.wantCall {
				t.Errorf("calls: got %q, want %q", got, tt.wantCall)
			}
			if len(p.posts) != 1 || !strings.Contains(p.posts[0].text, tt.wantReply) || p.posts[0].user != "U0ALICE" {
				t.Fatalf("replies: got %+v, want one to U0ALICE containing %q", p.posts, tt.wantReply)
			}
			if strings.Contains(p.posts[0].text, "password") {
				t.Errorf("internal detail reached the user: %q", p.posts[0].text)
			}
		})
	}
}

// TestFormsForThoseWhoMaySendThem: a button that needs a form opens it on the
// environment AsksFor names (the incident's: the button carries only its ID), and
// someone AsksFor refuses gets the refusal, not a form.
func TestFormsForThoseWhoMaySendThem(t *testing.T) {
	p := &fakePoster{}
	act := &fakeActions{ask: true, asks: recovery.Asks{Env: "prod", SHA: "9f8e7d6"}}
	r := newRouter(t, p, fakeStatus{}, act, Options{Logger: zaptest.NewLogger(t)})
	r.HandleInteraction(context.Background(), click("action:emergency-rollback", "INC-1"))
	if got := strings.Join(act.asked, ","); got != "INC-1//emergency-rollback/U0ALICE" {
		t.Errorf("AsksFor calls: got %q, want the clicker's", got)
	}
	if len(p.posts) != 1 || p.posts[0].kind != "modal" || p.posts[0].env != "prod" || !strings.Contains(p.posts[0].text, "env=prod") {
		t.Fatalf("got %+v, want the form opened on prod, with prod in its metadata", p.posts)
	}

	p = &fakePoster{}
	act = &fakeActions{askErr: &recovery.UserError{Msg: "You need the *responder* role for prod to request Emergency Terraform rollback (config: access.roles). Nothing was done."}}
	r = newRouter(t, p, fakeStatus{}, act, Options{Logger: zaptest.NewLogger(t)})
	r.HandleInteraction(context.Background(), click("action:emergency-rollback", "INC-1"))
	if len(p.posts) != 1 || p.posts[0].kind != "ephemeral" || !strings.Contains(p.posts[0].text, "You need the *responder* role") {
		t.Fatalf("got %+v, want the refusal and no form", p.posts)
	}
	if len(act.calls) != 0 {
		t.Errorf("calls after a refusal: %v", act.calls)
	}
}

func TestRollbackCommand(t *testing.T) {
	tests := []struct {
		text, wantCall, wantReply string
	}{
		{"prod", "request/rollback/prod//U0ALICE", "Requested"},
		{"PROD 9F8E7D6", "request/rollback/prod/9f8e7d6/U0ALICE", "Requested"},
		{"", "", "Usage: `/rollback <env> [sha]`"},
		{"qa", "", "Unknown environment `qa`"},
		{"prod main; rm -rf /", "", "Usage"},
		{"prod HEAD~1", "", "is not a commit SHA"},
		// An override asks again in a form (a reason, the SHA typed); nothing is
		// requested until it is submitted.
		{"prod 9F8E7D6 override", "", "rollback action=rollback&channel=C0OPS&env=prod&sha=9f8e7d6&confirm=9f8e7d6"},
		{"prod 9f8e7d6 now", "", "Usage"},
		{"prod override", "", "is not a commit SHA"},
		{"prod HEAD override", "", "is not a commit SHA"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			p := &fakePoster{}
			act := &fakeActions{msg: "Requested rollback"}
			r := newRouter(t, p, fakeStatus{}, act, Options{Environments: []string{"dev", "prod"}, Logger: zaptest.NewLogger(t)})
			r.HandleSlashCommand(context.Background(), slack.SlashCommand{Command: "/rollback", Text: tt.text, ChannelID: "C0OPS", UserID: "U0ALICE", ResponseURL: "http://x", TriggerID: "trig"})
			if got := strings.Join(act.calls, ","); got != tt.wantCall {
				t.Errorf("calls: got %q, want %q", got, tt.wantCall)
			}
			if len(p.posts) != 1 || !strings.Contains(p.posts[0].text, tt.wantReply) {
				t.Errorf("replies: got %+v, want one containing %q", p.posts, tt.wantReply)
			}
		})
	}
}

// TestOverrideSubmission: the override form passes Override only when the SHA was
// typed exactly; a mistyped one keeps the form open with the error by the field.
func TestOverrideSubmission(t *testing.T) {
	act := &fakeActions{msg: "Requested"}
	r := newRouter(t, &fakePoster{}, fakeStatus{}, act, Options{Environments: []string{"prod"}, Logger: zaptest.NewLogger(t)})
	submit := func(typed string) slack.InteractionCallback {
		cb := slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission, User: slack.User{ID: "U0ERIN"}}
		cb.View.CallbackID = recovery.FormCallback
		cb.View.PrivateMetadata = "action=rollback&channel=C0OPS&env=prod&sha=9f8e7d6&confirm=9f8e7d6"
		cb.View.State = &slack.ViewState{Values: map[string]map[string]slack.BlockAction{
			recovery.FormReason:   {recovery.FormInput: {Value: "never shipped"}},
			recovery.FormOverride: {recovery.FormInput: {Value: typed}},
		}}
		return cb
	}
	if errs := r.ValidateSubmission(submit("9f8e7d")); !strings.Contains(errs[recovery.FormOverride], "Type 9f8e7d6 exactly") {
		t.Errorf("a mistyped SHA: got %v, want the form kept open", errs)
	}
	if errs := r.ValidateSubmission(submit("9f8e7d6")); errs != nil {
		t.Errorf("the SHA typed: got %v", errs)
	}
	r.HandleInteraction(context.Background(), submit("9f8e7d6"))
	if got := strings.Join(act.calls, ","); got != "request/rollback/prod/9f8e7d6/U0ERIN/override" {
		t.Errorf("calls: got %q, want the rollback requested with the override", got)
	}
}

func TestValidateSubmission(t *testing.T) {
	form := func(meta string, values map[string]string) slack.InteractionCallback {
		cb := slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission}
		cb.View.CallbackID = recovery.FormCallback
		cb.View.PrivateMetadata = meta
		cb.View.State = &slack.ViewState{Values: map[string]map[string]slack.BlockAction{}}
		for block, v := range values {
			cb.View.State.Values[block] = map[string]slack.BlockAction{recovery.FormInput: {Value: v}}
		}
		return cb
	}
	r := newRouter(t, &fakePoster{}, fakeStatus{}, &fakeActions{}, Options{Logger: zaptest.NewLogger(t)})
	meta := "action=force-lambda-update&env=prod&incident=INC-1"
	if errs := r.ValidateSubmission(form(meta, map[string]string{recovery.FormReason: "canary 503", recovery.FormConfirmEnv: "prod"})); errs != nil {
		t.Errorf("good form: got errors %v", errs)
	}
	errs := r.ValidateSubmission(form(meta, map[string]string{recovery.FormReason: " ", recovery.FormConfirmEnv: "preprod"}))
	if errs[recovery.FormConfirmEnv] == "" || errs[recovery.FormReason] == "" {
		t.Errorf("bad form: got %v, want errors for the confirmation and the reason", errs)
	}
	if errs := r.ValidateSubmission(form("action=emergency-rollback&env=prod", map[string]string{recovery.FormSHA: "HEAD"})); errs[recovery.FormSHA] == "" {
		t.Errorf("bad SHA: got %v", errs)
	}
}

func (f *fakeActions) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeActions) PageIncident(_ context.Context, id string, a recovery.ActionID, user, reason string) (string, error) {
	f.record("page/" + id + "/" + string(a) + "/" + user)
	return f.msg, f.err
}
func (f *fakeActions) PageEnv(_ context.Context, env, user string) (string, error) {
	f.record("page-env/" + env + "/" + user)
	return f.msg, f.err
}
func (f *fakeActions) Resolve(_ context.Context, id, user, note string) (string, error) {
	f.record("resolve/" + id + "/" + user + "/" + note)
	return f.msg, f.err
}
func (f *fakeActions) SetChecklist(_ context.Context, id, user string, selected []string) (string, error) {
	f.record("checklist/" + id + "/" + user + "/" + strings.Join(selected, ","))
	return f.msg, f.err
}
func (f *fakeActions) IncidentList(context.Context) ([]recovery.Incident, []recovery.Incident, error) {
	f.record("list")
	return []recovery.Incident{{ID: "INC-AAAA1111", Env: "prod", Severity: recovery.SeverityCritical, Status: recovery.IncidentOpen, Scenario: recovery.CanaryFail}}, nil, f.err
}
func (f *fakeActions) Incident(_ context.Context, id string) (recovery.Incident, error) {
	f.record("show/" + id)
	return recovery.Incident{ID: id, Env: "prod", Title: "Production canary failed", EscalationLine: "Escalation: Prod fail"}, f.err
}

func TestPageAndIncidentCommands(t *testing.T) {
	tests := []struct {
		command, text string
		wantCall      string
		wantText      []string
	}{
		{command: "/page", text: "INC-ab12cd34", wantCall: "page/INC-AB12CD34/page-oncall/U0ALICE"},
		{command: "/page", text: "Prod", wantCall: "page-env/prod/U0ALICE"},
		{command: "/page", text: "", wantText: []string{"Usage: `/page <env|incident>`", "dev, prod"}},
		{command: "/page", text: "qa", wantText: []string{"`qa` is neither an incident ID"}},
		{command: "/page", text: "INC-1; rm -rf /", wantText: []string{"Usage"}},
		{command: "/incident", text: "list", wantCall: "list", wantText: []string{"Open incidents (1)", "`INC-AAAA1111` CRITICAL prod"}},
		{command: "/incident", text: "show inc-aaaa1111", wantCall: "show/INC-AAAA1111", wantText: []string{"Production canary failed", "Escalation: Prod fail"}},
		{command: "/incident", text: "resolve INC-AAAA1111 rolled back, <!channel> verified", wantCall: "resolve/INC-AAAA1111/U0ALICE/rolled back, !channel verified"},
		{command: "/incident", text: "resolve INC-AAAA1111", wantCall: "resolve/INC-AAAA1111/U0ALICE/"},
		{command: "/incident", text: "resolve nope", wantText: []string{"`nope` is not an incident ID"}},
		{command: "/incident", text: "show", wantText: []string{"Usage: `/incident list`"}},
		{command: "/incident", text: "delete INC-AAAA1111", wantText: []string{"Usage"}},
	}
	for _, tt := range tests {
		t.Run(tt.command+" "+tt.text, func(t *testing.T) {
			p := &fakePoster{}
			fa := &fakeActions{msg: "done"}
			r := newRouter(t, p, fakeStatus{}, fa, Options{Environments: []string{"dev", "prod"}, Logger: zaptest.NewLogger(t)})
			r.HandleSlashCommand(context.Background(), slack.SlashCommand{Command: tt.command, Text: tt.text, ChannelID: "C0OPS", UserID: "U0ALICE", ResponseURL: "http://sandbox/hooks/1"})
			if tt.wantCall != "" && (len(fa.calls) != 1 || fa.calls[0] != tt.wantCall) {
				t.Errorf("calls %q, want [%q]", fa.calls, tt.wantCall)
			}
			if tt.wantCall == "" && len(fa.calls) != 0 {
				t.Errorf("bad input reached recovery: %q", fa.calls)
			}
			if len(p.posts) != 1 {
				t.Fatalf("got %d answers, want 1", len(p.posts))
			}
			for _, w := range tt.wantText {
				if !strings.Contains(p.posts[0].text, w) {
					t.Errorf("answer %q lacks %q", p.posts[0].text, w)
				}
			}
		})
	}
}

func TestChecklistClick(t *testing.T) {
	p := &fakePoster{}
	fa := &fakeActions{msg: "Checklist saved"}
	r := newRouter(t, p, fakeStatus{}, fa, Options{Environments: []string{"prod"}, Logger: zaptest.NewLogger(t)})
	cb := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, User: slack.User{ID: "U0BOB"}, Channel: slack.Channel{GroupConversation: slack.GroupConversation{Conversation: slack.Conversation{ID: "C0OPS"}}}}
	cb.ActionCallback.BlockActions = []*slack.BlockAction{{ActionID: recovery.ChecklistID("INC-AAAA1111"), SelectedOptions: []slack.OptionBlockObject{{Value: "0"}, {Value: "3"}}}}
	r.HandleInteraction(context.Background(), cb)
	if len(fa.calls) != 1 || fa.calls[0] != "checklist/INC-AAAA1111/U0BOB/0,3" {
		t.Errorf("calls %q", fa.calls)
	}
}
