package slackfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/slack-go/slack"
)

func TestChatMethodsLandInTranscript(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	api := mustAPI(t, s)

	ch, ts, err := api.PostMessageContext(ctx, "C0OPS",
		slack.MsgOptionText("Prod deploy failed", false),
		slack.MsgOptionBlocks(
			slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "Prod deploy failed", false, false)),
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "Scenario 4, severity *HIGH*", false, false), nil, nil),
		))
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if ch != "C0OPS" || !tsPattern(ts) {
		t.Errorf("PostMessage: got channel %q ts %q, want C0OPS and a Slack timestamp", ch, ts)
	}
	m, ok := s.Message("C0OPS", ts)
	if !ok {
		t.Fatalf("Message(C0OPS, %s): not found", ts)
	}
	if m.Text != "Prod deploy failed" || m.Via != "chat.postMessage" || m.Ephemeral || m.ThreadTS != "" {
		t.Errorf("posted message: got %+v, want top-level text via chat.postMessage", m)
	}
	var blocks []map[string]any
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil || len(blocks) != 2 {
		t.Fatalf("blocks: got %s (%v), want 2 blocks", m.Blocks, err)
	}
	for i, b := range blocks {
		if id, _ := b["block_id"].(string); id == "" {
			t.Errorf("block %d: got no block_id, want one assigned as Slack does", i)
		}
	}

	_, replyTS, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("Diagnostics collected", false), slack.MsgOptionTS(ts), slack.MsgOptionBroadcast())
	if err != nil {
		t.Fatal(err)
	}
	// A reply to a reply lands in the parent's thread.
	_, reply2TS, err := api.PostMessageContext(ctx, "C0OPS", slack.MsgOptionText("Rollback started", false), slack.MsgOptionTS(replyTS))
	if err != nil {
		t.Fatal(err)
	}
	if !(ts < replyTS && replyTS < reply2TS) {
		t.Errorf("timestamps: got %s, %s, %s, want strictly increasing", ts, replyTS, reply2TS)
	}
	thread := s.Thread("C0OPS", ts)
	if len(thread) != 3 || thread[1].ThreadTS != ts || !thread[1].Broadcast || thread[2].ThreadTS != ts || thread[2].Broadcast {
		t.Errorf("thread: got %+v, want parent, broadcast reply, reply", thread)
	}

	_, _, _, err = api.UpdateMessageContext(ctx, "C0OPS", ts, slack.MsgOptionText("Prod deploy failed (rolling back)", false))
	if err != nil {
		t.Fatalf("UpdateMessage: %v", err)
	}
	m, _ = s.Message("C0OPS", ts)
	if m.Updates != 1 || m.Text != "Prod deploy failed (rolling back)" || m.Via != "chat.update" {
		t.Errorf("updated message: got %+v, want 1 update with the new text", m)
	}
	if len(m.History) != 1 || m.History[0].Text != "Prod deploy failed" || m.History[0].Via != "chat.postMessage" {
		t.Errorf("history: got %+v, want the original version", m.History)
	}
	if len(m.Blocks) == 0 {
		t.Errorf("blocks after a text-only update: got none, want the previous blocks kept")
	}

	ets, err := api.PostEphemeralContext(ctx, "C0OPS", "U0ALICE", slack.MsgOptionText("Only you can approve this", false))
	if err != nil {
		t.Fatalf("PostEphemeral: %v", err)
	}
	m, _ = s.Message("C0OPS", ets)
	if !m.Ephemeral || m.User != "U0ALICE" || m.Via != "chat.postEphemeral" {
		t.Errorf("ephemeral: got %+v, want ephemeral for U0ALICE", m)
	}
	if got := len(s.Messages("C0OPS")); got != 4 {
		t.Errorf("messages in C0OPS: got %d, want 4", got)
	}

	// Posting to a user ID posts in the bot's DM with that user.
	dm, _, err := api.PostMessageContext(ctx, "U0BOB", slack.MsgOptionText("You are on call", false))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.DMs("U0BOB"); len(got) != 1 || got[0].Channel != dm || !strings.HasPrefix(dm, "D") {
		t.Errorf("DMs(U0BOB): got %+v in %q, want one message in a D channel", got, dm)
	}

	if _, _, _, err := api.UpdateMessageContext(ctx, "C0OPS", "1.000001", slack.MsgOptionText("x", false)); !isSlackError(err, "message_not_found") {
		t.Errorf("update of an unknown message: got %v, want message_not_found", err)
	}
	if _, _, err := api.DeleteMessageContext(ctx, "C0OPS", replyTS); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Message("C0OPS", replyTS); !m.Deleted {
		t.Errorf("deleted reply: got Deleted false, want true")
	}
}

// tsPattern reports whether ts looks like a Slack timestamp.
func tsPattern(ts string) bool {
	sec, micro, ok := strings.Cut(ts, ".")
	return ok && len(sec) == 10 && len(micro) == 6
}

// isSlackError reports whether err is a Slack {"ok":false} answer with code.
func isSlackError(err error, code string) bool {
	var se slack.SlackErrorResponse
	return errors.As(err, &se) && se.Err == code
}

func TestFaultsBecomeSlackErrors(t *testing.T) {
	tests := []struct {
		name  string
		fault fault.Error
		check func(error) string
	}{
		{"429 with Retry-After", fault.Error{Status: 429, RetryAfter: 7 * time.Second}, func(err error) string {
			var rl *slack.RateLimitedError
			if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second || !rl.Retryable() {
				return fmt.Sprintf("got %v, want *slack.RateLimitedError retrying after 7s", err)
			}
			return ""
		}},
		{"429 without RetryAfter still sends one", fault.Error{Status: 429}, func(err error) string {
			var rl *slack.RateLimitedError
			if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
				return fmt.Sprintf("got %v, want *slack.RateLimitedError retrying after 1s", err)
			}
			return ""
		}},
		{"ok false", fault.Error{Code: "channel_not_found"}, func(err error) string {
			if !isSlackError(err, "channel_not_found") {
				return fmt.Sprintf("got %v, want channel_not_found", err)
			}
			return ""
		}},
		{"500", fault.Error{Status: 500, Code: "internal_error"}, func(err error) string {
			var sc slack.StatusCodeError
			if !errors.As(err, &sc) || sc.Code != 500 {
				return fmt.Sprintf("got %v, want StatusCodeError 500", err)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := mustContext(t)
			faults := fault.New()
			s := mustServer(t, Options{Faults: faults})
			api := mustAPI(t, s)
			fe := tt.fault
			faults.Set("slack:chat.postMessage", fault.Rule{Err: &fe, Times: 1})
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
			if msg := tt.check(err); msg != "" {
				t.Error(msg)
			}
			if got := len(s.Messages("C1")); got != 0 {
				t.Errorf("messages after a fault: got %d, want 0", got)
			}
			if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false)); err != nil {
				t.Errorf("second call (rule used up): %v", err)
			}
			if got := faults.Calls("slack:chat.postMessage"); got != 2 {
				t.Errorf("calls: got %d, want 2", got)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{BotToken: "xoxb-right", AppToken: "xapp-right"})
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"bot token", "xoxb-right", ""},
		{"wrong token", "xoxb-wrong", "invalid_auth"},
		{"app token on a bot method", "xapp-right", "not_allowed_token_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := slack.New(tt.token, slack.OptionAPIURL(s.APIURL()))
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hi", false))
			if tt.want == "" && err != nil {
				t.Errorf("PostMessage: got %v, want success", err)
			}
			if tt.want != "" && !isSlackError(err, tt.want) {
				t.Errorf("PostMessage: got %v, want %s", err, tt.want)
			}
			_, err = api.AuthTestContext(ctx)
			if tt.want == "" && err != nil {
				t.Errorf("AuthTest: got %v, want success", err)
			}
			if tt.want != "" && !isSlackError(err, tt.want) {
				t.Errorf("AuthTest: got %v, want %s", err, tt.want)
			}
		})
	}
}

func TestUnknownMethod(t *testing.T) {
	s := mustServer(t, Options{})
	resp, err := http.PostForm(s.APIURL()+"reactions.teleport", url.Values{"token": {s.BotToken()}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body.OK || body.Error != "unknown_method" {
		t.Errorf("unknown method: got %d %+v, want 200 ok:false unknown_method", resp.StatusCode, body)
	}
	if got := s.Faults().Calls("slack:reactions.teleport"); got != 1 {
		t.Errorf("fault calls: got %d, want 1", got)
	}
}

func TestDirectoryMethods(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	s.SetUser(User{ID: "U0ALICE", Name: "alice", RealName: "Alice Liddell", Email: "alice@example.com"})
	s.SetUserGroup("S0ONCALL", "U0ALICE", "U0BOB")
	api := mustAPI(t, s)

	auth, err := api.AuthTestContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if auth.UserID != DefaultBotUserID || auth.TeamID != DefaultTeamID || auth.BotID == "" {
		t.Errorf("auth.test: got %+v, want the bot in the sandbox team", auth)
	}

	members, err := api.GetUserGroupMembersContext(ctx, "S0ONCALL")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(members, ",") != "U0ALICE,U0BOB" {
		t.Errorf("usergroups.users.list: got %v, want [U0ALICE U0BOB]", members)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, "S0NOPE"); !isSlackError(err, "no_such_subteam") {
		t.Errorf("unknown group: got %v, want no_such_subteam", err)
	}

	u, err := api.GetUserInfoContext(ctx, "U0ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "alice" || u.RealName != "Alice Liddell" || u.Profile.Email != "alice@example.com" {
		t.Errorf("users.info seeded: got %+v, want alice", u)
	}
	u, err = api.GetUserInfoContext(ctx, "U0CAROL")
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "U0CAROL" || u.Name == "" {
		t.Errorf("users.info synthesized: got %+v, want U0CAROL with a name", u)
	}

	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U0ALICE"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ch.ID, "D") {
		t.Errorf("conversations.open: got %q, want a D channel", ch.ID)
	}
	if _, _, err := api.PostMessageContext(ctx, ch.ID, slack.MsgOptionText("paged", false)); err != nil {
		t.Fatal(err)
	}
	if got := s.DMs("U0ALICE"); len(got) != 1 || got[0].Text != "paged" {
		t.Errorf("DMs(U0ALICE): got %+v, want the one message", got)
	}
}

func TestBlockLimits(t *testing.T) {
	section := func(text string) slack.Block {
		return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
	}
	many := func(n int) []slack.Block {
		var bs []slack.Block
		for range n {
			bs = append(bs, slack.NewDividerBlock())
		}
		return bs
	}
	badStyle := slack.NewButtonBlockElement("a", "v", slack.NewTextBlockObject(slack.PlainTextType, "Go", false, false))
	badStyle.Style = "warning"
	tests := []struct {
		name   string
		blocks []slack.Block
		want   string
	}{
		{"50 blocks", many(50), ""},
		{"51 blocks", many(51), "invalid_blocks"},
		{"3000-character section", []slack.Block{section(strings.Repeat("x", 3000))}, ""},
		{"3001-character section", []slack.Block{section(strings.Repeat("x", 3001))}, "invalid_blocks"},
		{"151-character header", []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("h", 151), false, false))}, "invalid_blocks"},
		{"256-character action_id", []slack.Block{slack.NewActionBlock("", slack.NewButtonBlockElement(strings.Repeat("a", 256), "", slack.NewTextBlockObject(slack.PlainTextType, "Go", false, false)))}, "invalid_blocks"},
		{"unknown button style", []slack.Block{slack.NewActionBlock("", badStyle)}, "invalid_blocks"},
		{"duplicate block_id", []slack.Block{
			&slack.DividerBlock{Type: slack.MBTDivider, BlockID: "same"},
			&slack.DividerBlock{Type: slack.MBTDivider, BlockID: "same"},
		}, "invalid_blocks"},
		{"markdown block", []slack.Block{slack.NewMarkdownBlock("", "**bold**")}, ""},
	}
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	api := mustAPI(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(tt.blocks...))
			if tt.want == "" && err != nil {
				t.Errorf("PostMessage: got %v, want success", err)
			}
			if tt.want != "" && !isSlackError(err, tt.want) {
				t.Errorf("PostMessage: got %v, want %s", err, tt.want)
			}
		})
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText(strings.Repeat("y", maxMessageText+1), false)); !isSlackError(err, "msg_too_long") {
		t.Errorf("long text: got %v, want msg_too_long", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1"); !isSlackError(err, "no_text") {
		t.Errorf("empty message: got %v, want no_text", err)
	}
}

func TestWaitForMessage(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	api := mustAPI(t, s)
	_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("first", false))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.WaitForMessage(ctx, func(m Message) bool { return m.Text == "first" })
	if err != nil || m.TS != ts {
		t.Errorf("existing message: got %+v, %v, want %s", m, err, ts)
	}
	type result struct {
		m   Message
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := s.WaitForMessage(ctx, func(m Message) bool { return m.Updates > 0 })
		done <- result{m, err}
	}()
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("second", false)); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.m.Text != "second" {
		t.Errorf("edited message: got %+v, %v, want text second", r.m, r.err)
	}
}

func TestUpdateWithEmptyBlocksRemovesThem(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	api := mustAPI(t, s)
	_, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("alert", false), slack.MsgOptionBlocks(slack.NewDividerBlock()))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C1", ts, slack.MsgOptionText("resolved", false), slack.MsgOptionBlocks()); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Message("C1", ts)
	if len(m.Blocks) != 0 || m.Text != "resolved" {
		t.Errorf("after update with []: got text %q blocks %s, want resolved and no blocks", m.Text, m.Blocks)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionBlocks()); !isSlackError(err, "no_text") {
		t.Errorf("post with no text and []: got %v, want no_text", err)
	}
}
