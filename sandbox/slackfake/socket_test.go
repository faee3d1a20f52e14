package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

func TestSlashCommandIsDeliveredAndAcked(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	s.SetUser(User{ID: "U0ALICE", Name: "alice"})
	s.SetChannel("C0OPS", "ops")
	c := mustClient(t, s, clientOptions{})

	hello := c.next(ctx, t, socketmode.EventTypeHello)
	if got := hello.Request.NumConnections; got != 1 {
		t.Errorf("hello num_connections: got %d, want 1", got)
	}
	if got := hello.Request.ConnectionInfo.AppID; got != DefaultAppID {
		t.Errorf("hello app_id: got %q, want %q", got, DefaultAppID)
	}
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}

	id, err := s.SlashCommand(ctx, Command{User: "U0ALICE", Channel: "C0OPS", Command: "/medic", Text: "status prod"})
	if err != nil {
		t.Fatalf("SlashCommand: %v", err)
	}
	evt := c.next(ctx, t, socketmode.EventTypeSlashCommand)
	cmd, ok := evt.Data.(slack.SlashCommand)
	if !ok {
		t.Fatalf("event data: got %T, want slack.SlashCommand", evt.Data)
	}
	if evt.Request.EnvelopeID != id {
		t.Errorf("envelope_id: got %q, want %q", evt.Request.EnvelopeID, id)
	}
	if !evt.Request.AcceptsResponsePayload {
		t.Errorf("accepts_response_payload: got false, want true for a slash command")
	}
	want := slack.SlashCommand{
		Token: verificationToken, TeamID: DefaultTeamID, TeamDomain: teamDomain,
		ChannelID: "C0OPS", ChannelName: "ops", UserID: "U0ALICE", UserName: "alice",
		Command: "/medic", Text: "status prod", APIAppID: DefaultAppID,
		ResponseURL: cmd.ResponseURL, TriggerID: cmd.TriggerID,
	}
	if cmd != want {
		t.Errorf("slash command:\ngot  %+v\nwant %+v", cmd, want)
	}
	if !strings.HasPrefix(cmd.ResponseURL, s.URL()+"/hooks/") {
		t.Errorf("response_url: got %q, want a URL under %s/hooks/", cmd.ResponseURL, s.URL())
	}
	if cmd.TriggerID == "" {
		t.Errorf("trigger_id: got empty, want one")
	}

	if err := c.sm.Ack(*evt.Request, map[string]any{"text": "queued"}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	ack, err := s.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Count != 1 || ack.Type != "slash_commands" || ack.Conn != 1 {
		t.Errorf("ack: got count %d type %q conn %d, want 1 slash_commands 1", ack.Count, ack.Type, ack.Conn)
	}
	if got := string(ack.Payload); got != `{"text":"queued"}` {
		t.Errorf("ack payload: got %s, want {\"text\":\"queued\"}", got)
	}
	if got := s.Acks(); len(got) != 1 || got[0].EnvelopeID != id {
		t.Errorf("Acks: got %+v, want the one ack of %s", got, id)
	}
	// Slack shows a slash command's ack payload to the user who typed it.
	m, err := s.WaitForMessage(ctx, func(m Message) bool { return m.Via == "ack" })
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != "queued" || !m.Ephemeral || m.User != "U0ALICE" || m.Channel != "C0OPS" {
		t.Errorf("ack message: got %+v, want ephemeral \"queued\" for U0ALICE in C0OPS", m)
	}
}

func TestInjectingWithoutConnectionFails(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	_, err := s.SlashCommand(ctx, Command{User: "U1", Channel: "C1", Command: "/medic"})
	if !errors.Is(err, ErrNoConnection) {
		t.Errorf("SlashCommand with no connection: got %v, want ErrNoConnection", err)
	}
	_, err = s.Event(ctx, "app_mention", nil)
	if !errors.Is(err, ErrNoConnection) {
		t.Errorf("Event with no connection: got %v, want ErrNoConnection", err)
	}
}

func TestReconnect(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(*Server)
	}{
		{"disconnect refresh_requested", func(s *Server) { s.Disconnect("refresh_requested") }},
		{"disconnect warning", func(s *Server) { s.Disconnect("warning") }},
		{"disconnect link_disabled", func(s *Server) { s.Disconnect("link_disabled") }},
		{"disconnect too_many_websockets", func(s *Server) { s.Disconnect("too_many_websockets") }},
		{"drop", (*Server).Drop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := mustContext(t)
			s := mustServer(t, Options{})
			c := mustClient(t, s, clientOptions{autoAck: true})
			if err := s.WaitConnected(ctx, 1); err != nil {
				t.Fatal(err)
			}
			tt.breakIt(s)
			// The old connection is forgotten at once, so this waits for the new one.
			if err := s.WaitConnected(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if got := s.ConnectionsOpened(); got != 2 {
				t.Errorf("ConnectionsOpened: got %d, want 2", got)
			}
			if got := s.Faults().Calls("slack:apps.connections.open"); got != 2 {
				t.Errorf("apps.connections.open calls: got %d, want 2", got)
			}
			id, err := s.SlashCommand(ctx, Command{User: "U1", Channel: "C1", Command: "/medic", Text: "after"})
			if err != nil {
				t.Fatal(err)
			}
			evt := c.next(ctx, t, socketmode.EventTypeSlashCommand)
			if got := evt.Data.(slack.SlashCommand).Text; got != "after" {
				t.Errorf("command after reconnect: got %q, want %q", got, "after")
			}
			ack, err := s.WaitAck(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if ack.Conn != 2 {
				t.Errorf("ack arrived on connection %d, want 2 (the new one)", ack.Conn)
			}
		})
	}
}

func TestFailConnectionsOpen(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	s.FailConnectionsOpen(2)
	mustClient(t, s, clientOptions{})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Faults().Calls("slack:apps.connections.open"); got != 3 {
		t.Errorf("apps.connections.open calls: got %d, want 3 (two refused, one accepted)", got)
	}
	if got := s.ConnectionsOpened(); got != 1 {
		t.Errorf("ConnectionsOpened: got %d, want 1", got)
	}
}

func TestWrongAppTokenIsFatal(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	c := mustClient(t, s, clientOptions{appToken: "xapp-wrong"})
	select {
	case err := <-c.done:
		if err == nil || err.Error() != "invalid_auth" {
			t.Errorf("RunContext: got %v, want invalid_auth", err)
		}
	case <-ctx.Done():
		t.Fatal("RunContext did not return with a wrong app token")
	}
	if got := s.ConnectionsOpened(); got != 0 {
		t.Errorf("ConnectionsOpened: got %d, want 0", got)
	}
}

func TestUnackedEnvelopeIsRedelivered(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{AckTimeout: 300 * time.Millisecond, MaxRetries: 2})
	c := mustClient(t, s, clientOptions{})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id, err := s.Event(ctx, "app_mention", map[string]any{"user": "U1", "text": "<@U0MEDICBOT> hi", "channel": "C1", "ts": "1700000000.000100"})
	if err != nil {
		t.Fatal(err)
	}
	first := c.next(ctx, t, socketmode.EventTypeEventsAPI)
	if first.Request.RetryAttempt != 0 || first.Request.RetryReason != "" {
		t.Errorf("first delivery: got retry %d %q, want 0 \"\"", first.Request.RetryAttempt, first.Request.RetryReason)
	}
	// Not acked: Slack sends it again.
	second := c.next(ctx, t, socketmode.EventTypeEventsAPI)
	if second.Request.EnvelopeID != id || second.Request.RetryAttempt != 1 || second.Request.RetryReason != "timeout" {
		t.Errorf("redelivery: got %s retry %d %q, want %s retry 1 \"timeout\"",
			second.Request.EnvelopeID, second.Request.RetryAttempt, second.Request.RetryReason, id)
	}
	ev1 := first.Data.(slackevents.EventsAPIEvent)
	ev2 := second.Data.(slackevents.EventsAPIEvent)
	cb1 := ev1.Data.(*slackevents.EventsAPICallbackEvent)
	cb2 := ev2.Data.(*slackevents.EventsAPICallbackEvent)
	if cb1.EventID == "" || cb1.EventID != cb2.EventID {
		t.Errorf("event_id: got %q then %q, want the same non-empty ID", cb1.EventID, cb2.EventID)
	}
	if _, ok := ev1.InnerEvent.Data.(*slackevents.AppMentionEvent); !ok {
		t.Errorf("inner event: got %T, want *slackevents.AppMentionEvent", ev1.InnerEvent.Data)
	}
	if err := c.sm.Ack(*second.Request); err != nil {
		t.Fatal(err)
	}
	ack, err := s.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Count != 1 {
		t.Errorf("ack count: got %d, want 1", ack.Count)
	}
	env, _ := s.Envelope(id)
	if len(env.Deliveries) != 2 {
		t.Errorf("deliveries: got %d, want 2", len(env.Deliveries))
	}
}

func TestUnackedEnvelopeIsGivenUp(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{AckTimeout: 50 * time.Millisecond, MaxRetries: 2})
	mustClient(t, s, clientOptions{})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id, err := s.SlashCommand(ctx, Command{User: "U1", Channel: "C1", Command: "/medic"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(ctx, id); !errors.Is(err, ErrUnacked) {
		t.Fatalf("WaitAck: got %v, want ErrUnacked", err)
	}
	env, _ := s.Envelope(id)
	var attempts []int
	for _, d := range env.Deliveries {
		attempts = append(attempts, d.RetryAttempt)
	}
	if len(attempts) != 3 || attempts[0] != 0 || attempts[1] != 1 || attempts[2] != 2 {
		t.Errorf("retry attempts: got %v, want [0 1 2]", attempts)
	}
	if !env.GaveUp || env.Acked {
		t.Errorf("envelope: got gave up %v acked %v, want true false", env.GaveUp, env.Acked)
	}
}

func TestRedeliverSendsDuplicate(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	c := mustClient(t, s, clientOptions{autoAck: true})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id, err := s.SlashCommand(ctx, Command{User: "U1", Channel: "C1", Command: "/medic", Text: "approve"})
	if err != nil {
		t.Fatal(err)
	}
	first := c.next(ctx, t, socketmode.EventTypeSlashCommand)
	if _, err := s.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Redeliver(id); err != nil {
		t.Fatal(err)
	}
	dup := c.next(ctx, t, socketmode.EventTypeSlashCommand)
	if dup.Request.EnvelopeID != id || string(dup.Request.Payload) != string(first.Request.Payload) {
		t.Errorf("duplicate: got %s %s, want %s with the same payload", dup.Request.EnvelopeID, dup.Request.Payload, id)
	}
	ack, err := s.WaitAcks(ctx, id, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Count != 2 {
		t.Errorf("ack count: got %d, want 2", ack.Count)
	}
	if err := s.Redeliver("no-such-envelope"); err == nil {
		t.Errorf("Redeliver of an unknown envelope: got nil error, want one")
	}
}

func TestEnvelopesAreSpreadOverConnections(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	a := mustClient(t, s, clientOptions{autoAck: true})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	b := mustClient(t, s, clientOptions{autoAck: true})
	if err := s.WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := a.next(ctx, t, socketmode.EventTypeHello).Request.NumConnections; got != 1 {
		t.Errorf("first hello num_connections: got %d, want 1", got)
	}
	if got := b.next(ctx, t, socketmode.EventTypeHello).Request.NumConnections; got != 2 {
		t.Errorf("second hello num_connections: got %d, want 2", got)
	}
	const n = 6
	ids := map[string]bool{}
	for range n {
		id, err := s.Event(ctx, "app_mention", map[string]any{"user": "U1", "text": "hi", "channel": "C1"})
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	got := map[string]int{}
	for range n / 2 {
		got["a:"+a.next(ctx, t, socketmode.EventTypeEventsAPI).Request.EnvelopeID]++
		got["b:"+b.next(ctx, t, socketmode.EventTypeEventsAPI).Request.EnvelopeID]++
	}
	seen := map[string]bool{}
	for k := range got {
		id := k[2:]
		if !ids[id] || seen[id] {
			t.Errorf("envelope %s: delivered twice or unknown", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("distinct envelopes delivered: got %d, want %d", len(seen), n)
	}
	for id := range ids {
		if _, err := s.WaitAck(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPingsKeepTheConnection(t *testing.T) {
	tests := []struct {
		name         string
		serverPing   time.Duration
		wantReopened bool
	}{
		// slack-go expects a PING within 300 ms; the fake sends one every 50 ms.
		{"pings every 50ms", 50 * time.Millisecond, false},
		// Control: without PINGs the same client declares the connection dead.
		{"no pings", time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := mustContext(t)
			s := mustServer(t, Options{PingInterval: tt.serverPing})
			mustClient(t, s, clientOptions{socket: []socketmode.Option{socketmode.OptionPingInterval(300 * time.Millisecond)}})
			if err := s.WaitConnected(ctx, 1); err != nil {
				t.Fatal(err)
			}
			var err error
			if tt.wantReopened {
				err = s.wait(ctx, func() bool { return s.opened >= 2 })
			} else {
				// About a second of 50 ms PINGs, each answered with a PONG.
				err = s.wait(ctx, func() bool { return s.pongs >= 20 })
			}
			if err != nil {
				t.Fatal(err)
			}
			st := s.Pings()
			if tt.wantReopened {
				if st.Sent != 0 {
					t.Errorf("PINGs sent: got %d, want 0", st.Sent)
				}
				return
			}
			if st.Sent < 20 {
				t.Errorf("PINGs sent: got %d, want at least 20", st.Sent)
			}
			if got := s.ConnectionsOpened(); got != 1 {
				t.Errorf("ConnectionsOpened after %d PINGs: got %d, want 1", st.Sent, got)
			}
		})
	}
}

func TestStallIsNoticedByThePingTimeout(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{PingInterval: 50 * time.Millisecond, AckTimeout: 200 * time.Millisecond})
	mustClient(t, s, clientOptions{autoAck: true, socket: []socketmode.Option{socketmode.OptionPingInterval(300 * time.Millisecond)}})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.Stall()
	// Sent into the stalled link: recorded as delivered on connection 1, never seen.
	id, err := s.SlashCommand(ctx, Command{User: "U1", Channel: "C1", Command: "/medic", Text: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	pingsAtStall := s.Pings().Sent
	// No close frame and no PING: the client gives up on the link and opens another.
	if err := s.wait(ctx, func() bool { return s.opened >= 2 && len(s.conns) == 1 }); err != nil {
		t.Fatal(err)
	}
	ack, err := s.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Conn != 2 || ack.Count != 1 {
		t.Errorf("ack: got conn %d count %d, want conn 2 count 1", ack.Conn, ack.Count)
	}
	// Redeliveries go to the stalled link until the client closes it, then to the new one.
	env, _ := s.Envelope(id)
	last := env.Deliveries[len(env.Deliveries)-1]
	if env.Deliveries[0].Conn != 1 || last.Conn != 2 || last.RetryAttempt < 1 || last.RetryReason != "timeout" {
		t.Errorf("deliveries: got %+v, want the first on connection 1 and a timeout redelivery on connection 2 last", env.Deliveries)
	}
	if err := s.wait(ctx, func() bool { return s.pingsSent > pingsAtStall }); err != nil {
		t.Fatalf("no PING on the new connection: %v", err)
	}
}

func TestSubmitViewAndAckResponses(t *testing.T) {
	ctx := mustContext(t)
	clock := &testClock{t: time.Unix(1700000000, 0)}
	s := mustServer(t, Options{Now: clock.now})
	c := mustClient(t, s, clientOptions{})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	trigger := mustTrigger(ctx, t, s, c)
	modal := slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, "Roll back prod", false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, "Roll back", false, false),
		CallbackID:      "rollback_confirm",
		PrivateMetadata: "incident-7",
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("reason_block", slack.NewTextBlockObject(slack.PlainTextType, "Reason", false, false), nil,
				slack.NewPlainTextInputBlockElement(nil, "reason_input")),
			slack.NewInputBlock("env_block", slack.NewTextBlockObject(slack.PlainTextType, "Environment", false, false), nil,
				slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, nil, "env_select",
					slack.NewOptionBlockObject("prod", slack.NewTextBlockObject(slack.PlainTextType, "prod", false, false), nil),
					slack.NewOptionBlockObject("preprod", slack.NewTextBlockObject(slack.PlainTextType, "preprod", false, false), nil))),
		}},
	}
	resp, err := c.api.OpenViewContext(ctx, trigger, modal)
	if err != nil {
		t.Fatalf("OpenView: %v", err)
	}
	if resp.View.ID == "" || resp.View.CallbackID != "rollback_confirm" || resp.View.Hash == "" {
		t.Errorf("opened view: got id %q callback %q hash %q, want an ID, rollback_confirm and a hash",
			resp.View.ID, resp.View.CallbackID, resp.View.Hash)
	}

	// A submission with a field the modal lacks is refused before it reaches the app.
	_, err = s.SubmitView(ctx, Submission{User: "U1", ViewID: resp.View.ID, Values: map[string]map[string]string{
		"reason_block": {"reason_input": "x"}, "env_block": {"env_select": "prod"}, "nope": {"nope": "x"},
	}})
	if err == nil {
		t.Errorf("SubmitView with an unknown input: got nil error, want one")
	}
	_, err = s.SubmitView(ctx, Submission{User: "U1", ViewID: resp.View.ID, Values: map[string]map[string]string{
		"reason_block": {"reason_input": "x"},
	}})
	if err == nil {
		t.Errorf("SubmitView without a required input: got nil error, want one")
	}

	id, err := s.SubmitView(ctx, Submission{User: "U1", ViewID: resp.View.ID, Values: map[string]map[string]string{
		"reason_block": {"reason_input": "bad deploy"}, "env_block": {"env_select": "prod"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	evt := c.next(ctx, t, socketmode.EventTypeInteractive)
	cb := evt.Data.(slack.InteractionCallback)
	if cb.Type != slack.InteractionTypeViewSubmission || cb.View.CallbackID != "rollback_confirm" || cb.View.PrivateMetadata != "incident-7" {
		t.Errorf("submission: got type %q callback %q metadata %q, want view_submission rollback_confirm incident-7",
			cb.Type, cb.View.CallbackID, cb.View.PrivateMetadata)
	}
	if got := cb.View.State.Values["reason_block"]["reason_input"].Value; got != "bad deploy" {
		t.Errorf("reason: got %q, want %q", got, "bad deploy")
	}
	if got := cb.View.State.Values["env_block"]["env_select"].SelectedOption.Value; got != "prod" {
		t.Errorf("environment: got %q, want %q", got, "prod")
	}
	if err := c.sm.Ack(*evt.Request, slack.NewErrorsViewSubmissionResponse(map[string]string{"reason_block": "too short"})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	v := s.Views()[0]
	if v.Closed || v.Errors["reason_block"] != "too short" {
		t.Errorf("after errors response: got closed %v errors %v, want open with the reason error", v.Closed, v.Errors)
	}

	id, err = s.SubmitView(ctx, Submission{User: "U1", ViewID: resp.View.ID, Values: map[string]map[string]string{
		"reason_block": {"reason_input": "canary failed twice"}, "env_block": {"env_select": "prod"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	evt = c.next(ctx, t, socketmode.EventTypeInteractive)
	if err := c.sm.Ack(*evt.Request); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	if v := s.Views()[0]; !v.Closed {
		t.Errorf("after a plain ack: got view open, want closed")
	}
}

// TestSubmitViewKeepsPrefilledInput: an input the user leaves as the modal prefilled it
// is submitted with its initial value, as Slack does.
func TestSubmitViewKeepsPrefilledInput(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	c := mustClient(t, s, clientOptions{})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	trigger := mustTrigger(ctx, t, s, c)
	sha := slack.NewPlainTextInputBlockElement(nil, "sha_input")
	sha.InitialValue = "a27f88b"
	modal := slack.ModalViewRequest{
		Type:   slack.VTModal,
		Title:  slack.NewTextBlockObject(slack.PlainTextType, "Emergency rollback", false, false),
		Submit: slack.NewTextBlockObject(slack.PlainTextType, "Request", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("sha_block", slack.NewTextBlockObject(slack.PlainTextType, "SHA", false, false), nil, sha),
		}},
	}
	resp, err := c.api.OpenViewContext(ctx, trigger, modal)
	if err != nil {
		t.Fatalf("OpenView: %v", err)
	}
	for _, entered := range []map[string]map[string]string{nil, {"sha_block": {"sha_input": "0d3c5e1"}}} {
		if _, err := s.SubmitView(ctx, Submission{User: "U1", ViewID: resp.View.ID, Values: entered}); err != nil {
			t.Fatal(err)
		}
		evt := c.next(ctx, t, socketmode.EventTypeInteractive)
		cb := evt.Data.(slack.InteractionCallback)
		want := "a27f88b"
		if entered != nil {
			want = "0d3c5e1"
		}
		if got := cb.View.State.Values["sha_block"]["sha_input"].Value; got != want {
			t.Errorf("submitted %v: got %q, want %q", entered, got, want)
		}
		if err := c.sm.Ack(*evt.Request, slack.NewErrorsViewSubmissionResponse(map[string]string{"sha_block": "keep it open"})); err != nil {
			t.Fatal(err)
		}
	}
}

func TestViewsOpenTriggerLifetime(t *testing.T) {
	ctx := mustContext(t)
	clock := &testClock{t: time.Unix(1700000000, 0)}
	s := mustServer(t, Options{Now: clock.now})
	c := mustClient(t, s, clientOptions{autoAck: true})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	modal := slack.ModalViewRequest{
		Type:  slack.VTModal,
		Title: slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false),
	}
	fresh := mustTrigger(ctx, t, s, c)
	old := mustTrigger(ctx, t, s, c)
	if _, err := c.api.OpenViewContext(ctx, fresh, modal); err != nil {
		t.Errorf("views.open with a fresh trigger: %v", err)
	}
	clock.advance(triggerTTL + time.Millisecond)
	tests := []struct {
		name, trigger, want string
	}{
		{"used trigger", fresh, "exchanged_trigger_id"},
		{"expired trigger", old, "expired_trigger_id"},
		{"unknown trigger", "1.2.3", "invalid_trigger_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.api.OpenViewContext(ctx, tt.trigger, modal)
			var se slack.SlackErrorResponse
			if !errors.As(err, &se) || se.Err != tt.want {
				t.Errorf("views.open: got %v, want %s", err, tt.want)
			}
		})
	}
	if got := len(s.Views()); got != 1 {
		t.Errorf("views: got %d, want 1", got)
	}
}

// mustTrigger returns a fresh trigger_id, from a slash command.
func mustTrigger(ctx context.Context, tb testing.TB, s *Server, c *testClient) string {
	tb.Helper()
	if _, err := s.SlashCommand(ctx, Command{User: "U1", Channel: "C1", Command: "/medic", Text: "rollback"}); err != nil {
		tb.Fatal(err)
	}
	evt := c.next(ctx, tb, socketmode.EventTypeSlashCommand)
	return evt.Data.(slack.SlashCommand).TriggerID
}

func TestClickDeliversBlockAction(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	c := mustClient(t, s, clientOptions{autoAck: true})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	approve := slack.NewButtonBlockElement("approve:run-42", "run-42", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
	approve.Style = slack.StylePrimary
	env := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, slack.NewTextBlockObject(slack.PlainTextType, "Environment", false, false), "env",
		slack.NewOptionBlockObject("prod", slack.NewTextBlockObject(slack.PlainTextType, "prod", false, false), nil))
	_, ts, err := c.api.PostMessageContext(ctx, "C0OPS",
		slack.MsgOptionText("Prod deploy failed", false),
		slack.MsgOptionBlocks(
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*Prod deploy failed*", false, false), nil, nil),
			slack.NewActionBlock("", approve, env),
		))
	if err != nil {
		t.Fatal(err)
	}

	id, err := s.Click(ctx, Click{User: "U0BOB", Channel: "C0OPS", MessageTS: ts, ActionID: "approve:run-42"})
	if err != nil {
		t.Fatal(err)
	}
	evt := c.next(ctx, t, socketmode.EventTypeInteractive)
	cb := evt.Data.(slack.InteractionCallback)
	if evt.Request.EnvelopeID != id || evt.Request.AcceptsResponsePayload {
		t.Errorf("envelope: got %s accepts %v, want %s false", evt.Request.EnvelopeID, evt.Request.AcceptsResponsePayload, id)
	}
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("callback: got type %q with %d block actions, want block_actions with 1", cb.Type, len(cb.ActionCallback.BlockActions))
	}
	a := cb.ActionCallback.BlockActions[0]
	if a.ActionID != "approve:run-42" || a.Value != "run-42" || a.BlockID == "" || a.Text.Text != "Approve" {
		t.Errorf("action: got %+v, want approve:run-42 run-42 with a block_id and its text", a)
	}
	if cb.User.ID != "U0BOB" || cb.Channel.ID != "C0OPS" || cb.Container.MessageTs != ts || cb.Container.ChannelID != "C0OPS" {
		t.Errorf("callback: got user %s channel %s container %+v, want U0BOB C0OPS %s", cb.User.ID, cb.Channel.ID, cb.Container, ts)
	}
	if cb.Message.Timestamp != ts || len(cb.Message.Blocks.BlockSet) != 2 {
		t.Errorf("message: got ts %s with %d blocks, want %s with 2", cb.Message.Timestamp, len(cb.Message.Blocks.BlockSet), ts)
	}
	if cb.TriggerID == "" || !strings.HasPrefix(cb.ResponseURL, s.URL()+"/hooks/") {
		t.Errorf("callback: got trigger %q response_url %q, want both set", cb.TriggerID, cb.ResponseURL)
	}

	// The response_url replaces the clicked message.
	_, _, _, err = c.api.SendMessageContext(ctx, "", slack.MsgOptionReplaceOriginal(cb.ResponseURL), slack.MsgOptionText("Approved by <@U0BOB>", false))
	if err != nil {
		t.Fatalf("response_url: %v", err)
	}
	m, _ := s.Message("C0OPS", ts)
	if m.Text != "Approved by <@U0BOB>" || m.Via != "response_url" || m.Updates != 1 || len(m.Blocks) != 0 {
		t.Errorf("replaced message: got %+v, want the new text via response_url, 1 update, no blocks", m)
	}

	// What is no longer shown cannot be clicked.
	if _, err := s.Click(ctx, Click{User: "U0BOB", Channel: "C0OPS", MessageTS: ts, ActionID: "approve:run-42"}); err == nil {
		t.Errorf("click on a removed button: got nil error, want one")
	}
}

func TestClickErrors(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	c := mustClient(t, s, clientOptions{autoAck: true})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	btn := slack.NewButtonBlockElement("retry", "job-1", slack.NewTextBlockObject(slack.PlainTextType, "Retry", false, false))
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, nil, "env",
		slack.NewOptionBlockObject("prod", slack.NewTextBlockObject(slack.PlainTextType, "prod", false, false), nil))
	_, ts, err := c.api.PostMessageContext(ctx, "C1", slack.MsgOptionBlocks(slack.NewActionBlock("acts", btn, sel)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		click   Click
		wantErr bool
	}{
		{"button", Click{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "retry"}, false},
		{"button in its block", Click{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "retry", BlockID: "acts"}, false},
		{"select option", Click{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "env", Value: "prod"}, false},
		{"unknown option", Click{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "env", Value: "dev"}, true},
		{"wrong button value", Click{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "retry", Value: "job-2"}, true},
		{"wrong block", Click{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "retry", BlockID: "other"}, true},
		{"unknown action", Click{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "nope"}, true},
		{"unknown message", Click{User: "U1", Channel: "C1", MessageTS: "1.000001", ActionID: "retry"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Click(ctx, tt.click)
			if (err != nil) != tt.wantErr {
				t.Errorf("Click: got error %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				evt := c.next(ctx, t, socketmode.EventTypeInteractive)
				a := evt.Data.(slack.InteractionCallback).ActionCallback.BlockActions[0]
				if a.ActionID != tt.click.ActionID {
					t.Errorf("action_id: got %q, want %q", a.ActionID, tt.click.ActionID)
				}
				if a.Type == "static_select" && a.SelectedOption.Value != tt.click.Value {
					t.Errorf("selected option: got %q, want %q", a.SelectedOption.Value, tt.click.Value)
				}
			}
		})
	}
}

func TestSlashCommandResponseURL(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	c := mustClient(t, s, clientOptions{autoAck: true})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SlashCommand(ctx, Command{User: "U0ALICE", Channel: "C0OPS", Command: "/medic", Text: "status"}); err != nil {
		t.Fatal(err)
	}
	cmd := c.next(ctx, t, socketmode.EventTypeSlashCommand).Data.(slack.SlashCommand)
	tests := []struct {
		name          string
		responseType  string
		wantEphemeral bool
	}{
		{"ephemeral", slack.ResponseTypeEphemeral, true},
		{"in channel", slack.ResponseTypeInChannel, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "answer " + tt.name
			_, _, _, err := c.api.SendMessageContext(ctx, "", slack.MsgOptionResponseURL(cmd.ResponseURL, tt.responseType), slack.MsgOptionText(text, false))
			if err != nil {
				t.Fatalf("response_url: %v", err)
			}
			m, err := s.WaitForMessage(ctx, func(m Message) bool { return m.Text == text })
			if err != nil {
				t.Fatal(err)
			}
			if m.Ephemeral != tt.wantEphemeral || m.Channel != "C0OPS" || m.Via != "response_url" {
				t.Errorf("message: got %+v, want ephemeral %v in C0OPS via response_url", m, tt.wantEphemeral)
			}
			if m.Ephemeral && m.User != "U0ALICE" {
				t.Errorf("ephemeral for: got %q, want U0ALICE", m.User)
			}
		})
	}
	// Slack accepts five uses of a response_url.
	for i := 3; i <= 6; i++ {
		_, _, _, err := c.api.SendMessageContext(ctx, "", slack.MsgOptionResponseURL(cmd.ResponseURL, "ephemeral"), slack.MsgOptionText("again", false))
		var sc slack.StatusCodeError
		if i <= maxResponseURLUses && err != nil {
			t.Errorf("use %d: got %v, want success", i, err)
		}
		if i > maxResponseURLUses && (!errors.As(err, &sc) || sc.Code != 404) {
			t.Errorf("use %d: got %v, want HTTP 404", i, err)
		}
	}
}

func TestAckOfUnknownEnvelopeIsIgnored(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	c := mustClient(t, s, clientOptions{})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.sm.Ack(socketmode.Request{EnvelopeID: "not-sent"}, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	// An ack that follows on the same socket proves the first one was read.
	id, err := s.Event(ctx, "app_mention", map[string]any{"user": "U1", "text": "hi", "channel": "C1"})
	if err != nil {
		t.Fatal(err)
	}
	evt := c.next(ctx, t, socketmode.EventTypeEventsAPI)
	if err := c.sm.Ack(*evt.Request); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := s.Acks(); len(got) != 1 {
		t.Errorf("acks: got %d, want 1", len(got))
	}
	if _, err := s.WaitAck(ctx, "not-sent"); err == nil {
		t.Errorf("WaitAck of an unknown envelope: got nil error, want one")
	}
}

func TestViewsUpdateAndCallbackOnlySubmission(t *testing.T) {
	ctx := mustContext(t)
	s := mustServer(t, Options{})
	c := mustClient(t, s, clientOptions{autoAck: true})
	if err := s.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	title := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
	}
	opened, err := c.api.OpenViewContext(ctx, mustTrigger(ctx, t, s, c), slack.ModalViewRequest{Type: slack.VTModal, Title: title("Step 1"), ExternalID: "inc-7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.api.UpdateViewContext(ctx, slack.ModalViewRequest{Type: slack.VTModal, Title: title("Step 2")}, "", "stale-hash", opened.View.ID); !isSlackError(err, "hash_conflict") {
		t.Errorf("views.update with a stale hash: got %v, want hash_conflict", err)
	}
	updated, err := c.api.UpdateViewContext(ctx, slack.ModalViewRequest{Type: slack.VTModal, Title: title("Step 2")}, "inc-7", opened.View.Hash, "")
	if err != nil {
		t.Fatalf("views.update by external_id: %v", err)
	}
	if updated.View.ID != opened.View.ID || updated.View.Hash == opened.View.Hash {
		t.Errorf("updated view: got id %s hash %s, want id %s and a new hash", updated.View.ID, updated.View.Hash, opened.View.ID)
	}
	if v := s.Views()[0]; v.Title != "Step 2" || v.Updates != 1 {
		t.Errorf("view: got title %q updates %d, want Step 2 and 1", v.Title, v.Updates)
	}
	if _, err := c.api.OpenViewContext(ctx, mustTrigger(ctx, t, s, c), slack.ModalViewRequest{Type: slack.VTModal, Title: title(strings.Repeat("t", maxViewTitle+1))}); !isSlackError(err, "invalid_arguments") {
		t.Errorf("views.open with a 25-character title: got %v, want invalid_arguments", err)
	}

	if _, err := s.SubmitView(ctx, Submission{User: "U1", CallbackID: "page_confirm", PrivateMetadata: "inc-9",
		Values: map[string]map[string]string{"note": {"note_input": "paging now"}}}); err != nil {
		t.Fatal(err)
	}
	cb := c.next(ctx, t, socketmode.EventTypeInteractive).Data.(slack.InteractionCallback)
	if cb.View.CallbackID != "page_confirm" || cb.View.PrivateMetadata != "inc-9" || cb.View.State.Values["note"]["note_input"].Value != "paging now" {
		t.Errorf("callback-only submission: got %+v, want page_confirm inc-9 with the note", cb.View)
	}
}
