package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/medic-ops/medic/recovery"
)

func TestIncidentTextShowsWhatHappened(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	base := recovery.Incident{ID: "INC-AAAA1111", Env: "prod", Severity: recovery.SeverityHigh, Status: recovery.IncidentOpen,
		Scenario: recovery.ProdDeployFail, Title: "Production deployment failed", OpenedAt: at}
	tests := []struct {
		name      string
		change    func(*recovery.Incident)
		want, not []string
	}{
		{name: "new", change: func(*recovery.Incident) {},
			want: []string{"`INC-AAAA1111` HIGH prod", "opened 03-01 09:30 UTC", "*Production deployment failed*"},
			not:  []string{"in <#", "Acknowledged", "Recovery job", "Resolved by", "Checklist", "Follow-up issue"}},
		{name: "posted", change: func(in *recovery.Incident) { in.Channel, in.MessageTS = "C0PROD", "1.2" },
			want: []string{"in <#C0PROD>"}},
		{name: "channel without a message", change: func(in *recovery.Incident) { in.Channel = "C0PROD" },
			not: []string{"in <#"}},
		{name: "message without a channel", change: func(in *recovery.Incident) { in.MessageTS = "1.2" },
			not: []string{"in <#"}},
		{name: "acknowledged", change: func(in *recovery.Incident) { in.AckBy, in.AckAt = "U0BOB", at.Add(5*time.Minute) },
			want: []string{"Acknowledged by <@U0BOB> at 09:35 UTC"}},
		{name: "job", change: func(in *recovery.Incident) { in.RecoveryJob, in.RecoveryState = "JOB-1", "running" },
			want: []string{"Recovery job `JOB-1`: running"}},
		{name: "resolved", change: func(in *recovery.Incident) {
			in.Resolution.By, in.Resolution.At = "U0CAROL", at.Add(time.Hour)
			in.Resolution.Checklist = []recovery.ChecklistItem{{Done: true}, {Done: false}, {Done: true}}
		}, want: []string{"Resolved by <@U0CAROL> at 2026-03-01 10:30 UTC", "Checklist: 2/3 done"}, not: []string{"Follow-up issue"}},
		{name: "follow-up issue", change: func(in *recovery.Incident) {
			in.Resolution.IssueURL, in.Resolution.IssueNumber = "https://github.example/acme/app/issues/7", 7
		}, want: []string{"Follow-up issue: <https://github.example/acme/app/issues/7|#7>"}, not: []string{"Resolved by", "Checklist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			tt.change(&in)
			got := incidentText(in)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %q, want it to contain %q", got, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("got %q, want no %q", got, n)
				}
			}
		})
	}
}

func TestIncidentListText(t *testing.T) {
	in := func(id string) recovery.Incident {
		return recovery.Incident{ID: id, Env: "dev", Severity: recovery.SeverityLow, Status: recovery.IncidentResolved, Scenario: recovery.DevTestsFail}
	}
	if got := incidentListText(nil, nil); got != "*No open incident.*" {
		t.Errorf("nothing: got %q, want only %q", got, "*No open incident.*")
	}
	got := incidentListText(nil, []recovery.Incident{in("INC-00000001")})
	if !strings.Contains(got, "*Resolved in the last 7 days (1)*") || !strings.Contains(got, "`INC-00000001`") {
		t.Errorf("one resolved: got %q, want its heading and line", got)
	}
	var recent []recovery.Incident
	for i := 0; i < 21; i++ {
		recent = append(recent, in("INC-"+strings.Repeat("0", 7)+string(rune('A'+i))))
	}
	got = incidentListText(nil, recent)
	if n := strings.Count(got, "• "); n != 20 || !strings.Contains(got, "(21)") {
		t.Errorf("21 resolved: got %d lines under %q, want 20 lines under a count of 21", n, strings.SplitN(got, "\n", 3)[1])
	}
}

func TestSanitizeCutsAfter40(t *testing.T) {
	forty := strings.Repeat("a", 40)
	if got := sanitize(forty); got != forty {
		t.Errorf("40 characters: got %q, want them all", got)
	}
	if got := sanitize(forty + "b"); got != forty+"…" {
		t.Errorf("41 characters: got %q, want 40 and an ellipsis", got)
	}
	if got := sanitize("<!channel> *x*\n`y`"); got != "!channel xy" {
		t.Errorf("markup: got %q, want it dropped", got)
	}
}

// silentPoster fails every ephemeral answer, as Slack does when the response URL expired.
type silentPoster struct{ fakePoster }

func (s *silentPoster) Ephemeral(ctx context.Context, channel, user, responseURL, text string) error {
	_ = s.fakePoster.Ephemeral(ctx, channel, user, responseURL, text)
	return errors.New("expired_url")
}

// A failed answer is logged as an error, and only a failed one: a person left without
// an answer is what operators look for.
func TestFailedAnswersAreLogged(t *testing.T) {
	cmd := slack.SlashCommand{Command: "/incident", Text: "list", ChannelID: "C0OPS", UserID: "U0ALICE"}
	submission := func(meta string) slack.InteractionCallback {
		cb := slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission, User: slack.User{ID: "U0ERIN"}}
		cb.View.CallbackID = recovery.FormCallback
		cb.View.PrivateMetadata = meta
		cb.View.State = &slack.ViewState{Values: map[string]map[string]slack.BlockAction{recovery.FormReason: {recovery.FormInput: {Value: "canary 503"}}}}
		return cb
	}
	for _, tt := range []struct {
		name string
		run  func(r *Router)
	}{
		{"command", func(r *Router) { r.HandleSlashCommand(context.Background(), cmd) }},
		{"click", func(r *Router) {
			r.HandleInteraction(context.Background(), click("action:ack", "INC-AAAA1111"))
		}},
		{"submission", func(r *Router) {
			r.HandleInteraction(context.Background(), submission("action=rollback&channel=C0OPS&env=prod&sha=9f8e7d6"))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, fail := range []bool{false, true} {
				core, logs := observer.New(zapcore.ErrorLevel)
				var p Poster = &fakePoster{}
				if fail {
					p = &silentPoster{}
				}
				r := newRouter(t, p, fakeStatus{}, &fakeActions{msg: "done"}, Options{Environments: []string{"prod"}, Logger: zap.New(core)})
				tt.run(r)
				n := logs.FilterMessage("could not answer the user").Len()
				if fail && n != 1 || !fail && n != 0 {
					t.Errorf("answer failing=%v: got %d error logs %v, want %d", fail, n, logs.All(), map[bool]int{true: 1}[fail])
				}
			}
		})
	}
}

// A submission is answered in the channel it came from, and not at all without one.
func TestSubmissionAnswersInItsChannel(t *testing.T) {
	for _, tt := range []struct{ meta, want string }{
		{"action=rollback&channel=C0OPS&env=prod&sha=9f8e7d6", "C0OPS"},
		{"action=rollback&env=prod&sha=9f8e7d6", ""},
	} {
		p := &fakePoster{}
		r := newRouter(t, p, fakeStatus{}, &fakeActions{msg: "Requested"}, Options{Environments: []string{"prod"}})
		cb := slack.InteractionCallback{Type: slack.InteractionTypeViewSubmission, User: slack.User{ID: "U0ERIN"}}
		cb.View.CallbackID = recovery.FormCallback
		cb.View.PrivateMetadata = tt.meta
		cb.View.State = &slack.ViewState{Values: map[string]map[string]slack.BlockAction{}}
		r.HandleInteraction(context.Background(), cb)
		switch {
		case tt.want == "" && len(p.posts) != 0:
			t.Errorf("%s: got answers %+v, want none (no channel to answer in)", tt.meta, p.posts)
		case tt.want != "" && (len(p.posts) != 1 || p.posts[0].channel != tt.want || p.posts[0].text != "Requested"):
			t.Errorf("%s: got answers %+v, want %q in %s", tt.meta, p.posts, "Requested", tt.want)
		}
	}
}
