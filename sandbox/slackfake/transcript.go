package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Message is one message as the people in a channel see it, with its history.
type Message struct {
	// Channel is the channel ID ("C…", or "D…" for a direct message).
	Channel string
	// TS is the message timestamp, its ID within the channel ("1700000000.000100").
	TS string
	// ThreadTS is the parent's TS for a thread reply, "" for a top-level message.
	ThreadTS string
	// Text is the current text (the notification fallback when there are blocks).
	Text string
	// Blocks is the current Block Kit JSON array, with the block_ids Slack assigned.
	Blocks json.RawMessage
	// Ephemeral marks a message only User sees.
	Ephemeral bool
	// User is, for an ephemeral message, the only user who sees it.
	User string
	// Via is how the current version arrived: "chat.postMessage", "chat.update",
	// "chat.postEphemeral", "response_url" or "ack" (a slash command's ack payload).
	Via string
	// Broadcast marks a thread reply also sent to the channel (reply_broadcast).
	Broadcast bool
	// Deleted marks a message removed by chat.delete or delete_original.
	Deleted bool
	// Updates counts the edits.
	Updates int
	// History holds the previous versions, oldest first.
	History []Version
}

// Version is an earlier version of an edited message.
type Version struct {
	// Text is the text of that version.
	Text string
	// Blocks is the Block Kit JSON of that version.
	Blocks json.RawMessage
	// Via is how that version arrived.
	Via string
}

// clone returns a copy that shares no slices with m.
func (m *Message) clone() Message {
	c := *m
	c.History = append([]Version(nil), m.History...)
	return c
}

// addLocked appends a new message to its channel.
func (s *Server) addLocked(m *Message) {
	s.channels[m.Channel] = append(s.channels[m.Channel], m)
	s.all = append(s.all, m)
	s.notifyLocked()
}

// updateLocked records an edit, keeping the previous version.
func (s *Server) updateLocked(m *Message, text string, blocks json.RawMessage, via string) {
	m.History = append(m.History, Version{Text: m.Text, Blocks: m.Blocks, Via: m.Via})
	m.Text, m.Blocks, m.Via = text, blocks, via
	m.Updates++
	s.notifyLocked()
}

// findLocked returns the message ts of channel, or nil.
func (s *Server) findLocked(channel, ts string) *Message {
	for _, m := range s.channels[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// threadRootLocked returns the TS of the thread a reply to ts belongs to: replying to
// a reply lands in the parent's thread, as in Slack.
func (s *Server) threadRootLocked(channel, ts string) string {
	if ts == "" {
		return ""
	}
	if m := s.findLocked(channel, ts); m != nil && m.ThreadTS != "" {
		return m.ThreadTS
	}
	return ts
}

// wireMessageLocked returns a message as the Web API and interaction payloads show it.
func (s *Server) wireMessageLocked(m *Message) map[string]any {
	w := map[string]any{
		"type":   "message",
		"text":   m.Text,
		"user":   s.opts.BotUserID,
		"bot_id": botID,
		"app_id": s.opts.AppID,
		"team":   s.opts.TeamID,
		"ts":     m.TS,
	}
	if len(m.Blocks) > 0 {
		w["blocks"] = m.Blocks
	}
	if m.ThreadTS != "" {
		w["thread_ts"] = m.ThreadTS
	}
	if m.Updates > 0 {
		w["edited"] = map[string]any{"user": s.opts.BotUserID, "ts": m.TS}
	}
	return w
}

// Messages returns every message of a channel, thread replies included, in the order
// they were posted.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.channels[channel]))
	for _, m := range s.channels[channel] {
		out = append(out, m.clone())
	}
	return out
}

// Thread returns the parent message ts of channel followed by its replies, in order.
func (s *Server) Thread(channel, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.channels[channel] {
		if m.TS == ts || m.ThreadTS == ts {
			out = append(out, m.clone())
		}
	}
	return out
}

// Message returns the message ts of channel.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(channel, ts)
	if m == nil {
		return Message{}, false
	}
	return m.clone(), true
}

// DMs returns the messages of the bot's direct-message channel with user.
func (s *Server) DMs(user string) []Message {
	s.mu.Lock()
	id, ok := s.dms[user]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return s.Messages(id)
}

// WaitForMessage returns the first message, in posting order and across channels,
// for which match returns true, waiting for new messages and edits until ctx ends.
// match sees each message's current version and may call the Server.
func (s *Server) WaitForMessage(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		s.mu.Lock()
		snapshot := make([]Message, 0, len(s.all))
		for _, m := range s.all {
			snapshot = append(snapshot, m.clone())
		}
		ch, closed := s.changed, s.closed
		s.mu.Unlock()
		for _, m := range snapshot {
			if match(m) {
				return m, nil
			}
		}
		if closed {
			return Message{}, ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("waiting for a message: %w", ctx.Err())
		}
	}
}

// Transcript renders a channel for a terminal: every message with RenderTranscript.
func (s *Server) Transcript(channel string) string {
	return RenderTranscript(s.Messages(channel))
}

// Limits of response_url (docs.slack.dev/interactivity/handling-user-interaction#message_responses):
// it may be used up to five times within thirty minutes.
const (
	maxResponseURLUses = 5
	responseURLTTL     = 30 * time.Minute
)

// hook is a response_url handed out with a slash command or an interaction.
type hook struct {
	channel string
	user    string
	// source is the TS of the message whose button was clicked, "" for a command.
	source  string
	created time.Time
	uses    int
}

// newHookLocked registers a response_url and returns it.
func (s *Server) newHookLocked(channel, user, source string) string {
	n := s.nextIDLocked()
	id := fmt.Sprintf("%s/%d/%08x", s.opts.TeamID, n, uint32(n)*2654435761)
	s.hooks[id] = &hook{channel: channel, user: user, source: source, created: s.now()}
	return s.hs.URL + "/hooks/" + id
}

// hookBody is what slack-go posts to a response_url (chat.go:467, slack.Msg).
type hookBody struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
}

// serveHook answers a response_url POST with plain "ok", as Slack does; slack-go
// parses the answer by its Content-Type (misc.go:601).
func (s *Server) serveHook(w http.ResponseWriter, r *http.Request) {
	ctx, done := s.requestContext(r)
	defer done()
	if fe := s.faults.Hit(ctx, "slack:response_url"); fe != nil {
		writeFault(w, fe)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/hooks/")
	var body hookBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_payload"})
		return
	}
	var blocks json.RawMessage
	if len(body.Blocks) > 0 && string(body.Blocks) != "null" {
		s.mu.Lock()
		b, err := s.normalizeBlocksLocked(body.Blocks, maxMessageBlocks)
		s.mu.Unlock()
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_blocks"})
			return
		}
		blocks = b
	}
	if code, status := s.applyHook(id, body, blocks); code != "" {
		writeJSON(w, status, map[string]any{"ok": false, "error": code})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// applyHook records what a response_url POST shows, or returns an error code and status.
func (s *Server) applyHook(id string, body hookBody, blocks json.RawMessage) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hooks[id]
	switch {
	case !ok:
		return "no_service", http.StatusNotFound
	case s.now().Sub(h.created) > responseURLTTL:
		return "expired_url", http.StatusNotFound
	case h.uses >= maxResponseURLUses:
		return "used_url", http.StatusNotFound
	}
	h.uses++
	src := s.findLocked(h.channel, h.source)
	if h.source == "" {
		src = nil
	}
	if body.DeleteOriginal {
		if src != nil && !src.Deleted {
			src.Deleted = true
			s.notifyLocked()
		}
		return "", 0
	}
	if body.Text == "" && len(blocks) == 0 {
		return "no_text", http.StatusBadRequest
	}
	if body.ReplaceOriginal && src != nil && !src.Deleted {
		s.updateLocked(src, body.Text, blocks, "response_url")
		return "", 0
	}
	m := &Message{
		Channel:  h.channel,
		TS:       s.nextTSLocked(),
		ThreadTS: s.threadRootLocked(h.channel, body.ThreadTS),
		Text:     body.Text,
		Blocks:   blocks,
		Via:      "response_url",
	}
	if body.ResponseType != "in_channel" {
		m.Ephemeral, m.User = true, h.user
	}
	s.addLocked(m)
	return "", 0
}
