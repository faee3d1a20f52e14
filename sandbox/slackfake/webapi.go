package slackfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// tokenKind is the kind of token a Web API method accepts.
type tokenKind int

const (
	// botToken methods accept the bot token (xoxb-…).
	botToken tokenKind = iota
	// appToken methods accept the app-level token (xapp-…).
	appToken
)

// method is one Web API method. Adding a method is one entry in webAPI and one
// function of this shape; the function runs after the fault injector and the token
// check, and returns the fields of an {"ok":true,…} answer or an *apiError.
type method struct {
	token tokenKind
	call  func(s *Server, c *call) (map[string]any, error)
}

// webAPI returns the Web API methods the fake serves, by name.
func webAPI() map[string]method {
	return map[string]method{
		"apps.connections.open": {appToken, (*Server).appsConnectionsOpen},
		"auth.test":             {botToken, (*Server).authTest},
		"chat.postMessage":      {botToken, (*Server).chatPostMessage},
		"chat.update":           {botToken, (*Server).chatUpdate},
		"chat.postEphemeral":    {botToken, (*Server).chatPostEphemeral},
		"chat.delete":           {botToken, (*Server).chatDelete},
		"views.open":            {botToken, (*Server).viewsOpen},
		"views.update":          {botToken, (*Server).viewsUpdate},
		"views.publish":         {botToken, (*Server).viewsPublish},
		"conversations.open":    {botToken, (*Server).conversationsOpen},
		"usergroups.users.list": {botToken, (*Server).usergroupsUsersList},
		"users.info":            {botToken, (*Server).usersInfo},
	}
}

// apiError is a Slack error answer: HTTP 200 with {"ok":false,"error":code}, and the
// details in response_metadata.messages as Slack does for invalid_blocks.
type apiError struct {
	code     string
	messages []string
}

func (e *apiError) Error() string { return e.code }

// fail returns an apiError with Slack's error code and optional detail lines.
func fail(code string, messages ...string) error {
	return &apiError{code: code, messages: messages}
}

// call is one Web API request: its form fields or its JSON body.
type call struct {
	form url.Values
	json map[string]json.RawMessage
}

// str returns a string parameter from the form or the JSON body.
func (c *call) str(name string) string {
	if raw, ok := c.json[name]; ok {
		var v string
		if json.Unmarshal(raw, &v) == nil {
			return v
		}
		return string(raw)
	}
	return c.form.Get(name)
}

// has reports whether a parameter was sent at all.
func (c *call) has(name string) bool {
	if _, ok := c.json[name]; ok {
		return true
	}
	_, ok := c.form[name]
	return ok
}

// raw returns a JSON-valued parameter: the raw JSON of a JSON body field, or the JSON
// text of a form field (slack-go sends blocks as a JSON string in the form).
func (c *call) raw(name string) json.RawMessage {
	if raw, ok := c.json[name]; ok {
		var text string
		if json.Unmarshal(raw, &text) == nil {
			return json.RawMessage(text)
		}
		return raw
	}
	if v := c.form.Get(name); v != "" {
		return json.RawMessage(v)
	}
	return nil
}

// serveAPI answers /api/<method>.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/api/")
	ctx, done := s.requestContext(r)
	defer done()
	if fe := s.faults.Hit(ctx, "slack:"+name); fe != nil {
		writeFault(w, fe)
		return
	}
	m, ok := s.methods[name]
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "unknown_method"})
		return
	}
	c, err := parseCall(r)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	if code := s.checkToken(r, c, m.token); code != "" {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
		return
	}
	res, err := m.call(s, c)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"ok": false, "error": "internal_error"})
			return
		}
		body := map[string]any{"ok": false, "error": ae.code}
		if len(ae.messages) > 0 {
			body["response_metadata"] = map[string]any{"messages": ae.messages}
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	if res == nil {
		res = map[string]any{}
	}
	res["ok"] = true
	writeJSON(w, http.StatusOK, res)
}

// parseCall reads the parameters of a request: a JSON object body (Content-Type
// application/json) or form fields and query parameters.
func parseCall(r *http.Request) (*call, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var buf bytes.Buffer
		if _, err := buf.ReadFrom(r.Body); err != nil {
			return nil, errors.New("invalid_json")
		}
		c := &call{form: r.URL.Query(), json: map[string]json.RawMessage{}}
		if len(bytes.TrimSpace(buf.Bytes())) > 0 {
			if err := json.Unmarshal(buf.Bytes(), &c.json); err != nil {
				return nil, errors.New("invalid_json")
			}
		}
		return c, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, errors.New("invalid_form_data")
	}
	return &call{form: r.Form}, nil
}

// checkToken returns the Slack error code for a missing or wrong token, or "". Slack
// reads a token from the Authorization: Bearer header or the `token` parameter;
// slack-go sends the form field for chat.* and the header for JSON methods.
func (s *Server) checkToken(r *http.Request, c *call, want tokenKind) string {
	token := c.str("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	wantToken, otherToken := s.opts.BotToken, s.opts.AppToken
	if want == appToken {
		wantToken, otherToken = otherToken, wantToken
	}
	switch token {
	case "":
		return "not_authed"
	case wantToken:
		return ""
	case otherToken:
		return "not_allowed_token_type"
	default:
		return "invalid_auth"
	}
}

// appsConnectionsOpen hands out a single-use WebSocket URL; FailConnectionsOpen makes
// it answer internal_error, which slack-go retries with backoff.
func (s *Server) appsConnectionsOpen(c *call) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failOpens > 0 {
		s.failOpens--
		return nil, fail("internal_error")
	}
	ticket := fmt.Sprintf("%d", s.nextIDLocked())
	s.tickets[ticket] = true
	host := strings.TrimPrefix(s.hs.URL, "http://")
	return map[string]any{"url": "ws://" + host + "/link/?ticket=" + ticket + "&app_id=" + s.opts.AppID}, nil
}

// authTest describes the bot.
func (s *Server) authTest(c *call) (map[string]any, error) {
	return map[string]any{
		"url":                   "https://" + teamDomain + ".slack.com/",
		"team":                  "medic sandbox",
		"user":                  "medic",
		"team_id":               s.opts.TeamID,
		"user_id":               s.opts.BotUserID,
		"bot_id":                botID,
		"is_enterprise_install": false,
	}, nil
}

// maxMessageText is the longest message text Slack accepts; longer text is refused
// with msg_too_long (docs.slack.dev/reference/methods/chat.postMessage, "text").
const maxMessageText = 40000

// messageContent reads and checks the text and blocks of chat.* and response_url
// messages. blocksSent reports whether a blocks parameter was present.
func (s *Server) messageContent(c *call) (text string, blocks json.RawMessage, blocksSent bool, err error) {
	text = c.str("text")
	if utf8.RuneCountInString(text) > maxMessageText {
		return "", nil, false, fail("msg_too_long")
	}
	if raw := c.raw("blocks"); raw != nil {
		blocksSent = true
		s.mu.Lock()
		blocks, err = s.normalizeBlocksLocked(raw, maxMessageBlocks)
		s.mu.Unlock()
		if err != nil {
			return "", nil, false, err
		}
	}
	return text, blocks, blocksSent, nil
}

// resolveChannelLocked maps a user ID used as a channel to the bot's DM with that user,
// as chat.postMessage does.
func (s *Server) resolveChannelLocked(channel string) string {
	if strings.HasPrefix(channel, "U") || strings.HasPrefix(channel, "W") {
		return s.dmLocked(channel)
	}
	return channel
}

// chatPostMessage posts a message, in a thread when thread_ts is set.
func (s *Server) chatPostMessage(c *call) (map[string]any, error) {
	channel := c.str("channel")
	if channel == "" {
		return nil, fail("channel_not_found")
	}
	text, blocks, _, err := s.messageContent(c)
	if err != nil {
		return nil, err
	}
	if text == "" && len(blocks) == 0 && c.str("attachments") == "" {
		return nil, fail("no_text")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	channel = s.resolveChannelLocked(channel)
	m := &Message{
		Channel:  channel,
		TS:       s.nextTSLocked(),
		ThreadTS: s.threadRootLocked(channel, c.str("thread_ts")),
		Text:     text,
		Blocks:   blocks,
		Via:      "chat.postMessage",
	}
	m.Broadcast = m.ThreadTS != "" && c.str("reply_broadcast") == "true"
	s.addLocked(m)
	return map[string]any{"channel": channel, "ts": m.TS, "message": s.wireMessageLocked(m)}, nil
}

// chatUpdate replaces the text and/or blocks of a posted message. As in Slack, an
// omitted blocks parameter keeps the previous blocks and an empty array removes them.
func (s *Server) chatUpdate(c *call) (map[string]any, error) {
	channel, ts := c.str("channel"), c.str("ts")
	text, blocks, blocksSent, err := s.messageContent(c)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	channel = s.resolveChannelLocked(channel)
	m := s.findLocked(channel, ts)
	if m == nil || m.Ephemeral || m.Deleted {
		return nil, fail("message_not_found")
	}
	if !c.has("text") {
		text = m.Text
	}
	if !blocksSent {
		blocks = m.Blocks
	}
	if text == "" && len(blocks) == 0 {
		return nil, fail("no_text")
	}
	s.updateLocked(m, text, blocks, "chat.update")
	return map[string]any{"channel": channel, "ts": m.TS, "text": m.Text, "message": s.wireMessageLocked(m)}, nil
}

// chatPostEphemeral posts a message only one user sees.
func (s *Server) chatPostEphemeral(c *call) (map[string]any, error) {
	channel, user := c.str("channel"), c.str("user")
	if channel == "" {
		return nil, fail("channel_not_found")
	}
	if user == "" {
		return nil, fail("user_not_found")
	}
	text, blocks, _, err := s.messageContent(c)
	if err != nil {
		return nil, err
	}
	if text == "" && len(blocks) == 0 && c.str("attachments") == "" {
		return nil, fail("no_text")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	channel = s.resolveChannelLocked(channel)
	m := &Message{
		Channel:   channel,
		TS:        s.nextTSLocked(),
		ThreadTS:  s.threadRootLocked(channel, c.str("thread_ts")),
		Text:      text,
		Blocks:    blocks,
		Ephemeral: true,
		User:      user,
		Via:       "chat.postEphemeral",
	}
	s.addLocked(m)
	return map[string]any{"message_ts": m.TS}, nil
}

// chatDelete removes a message; the transcript keeps it marked as deleted.
func (s *Server) chatDelete(c *call) (map[string]any, error) {
	channel, ts := c.str("channel"), c.str("ts")
	s.mu.Lock()
	defer s.mu.Unlock()
	channel = s.resolveChannelLocked(channel)
	m := s.findLocked(channel, ts)
	if m == nil || m.Ephemeral || m.Deleted {
		return nil, fail("message_not_found")
	}
	m.Deleted = true
	s.notifyLocked()
	return map[string]any{"channel": channel, "ts": ts}, nil
}

// conversationsOpen opens (or finds) the DM with one user, or a group DM with several.
func (s *Server) conversationsOpen(c *call) (map[string]any, error) {
	if ch := c.str("channel"); ch != "" {
		return map[string]any{"channel": map[string]any{"id": ch}, "no_op": true, "already_open": true}, nil
	}
	var users []string
	for _, u := range strings.Split(c.str("users"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return nil, fail("users_list_not_supplied")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(users) == 1 {
		_, existed := s.dms[users[0]]
		id := s.dmLocked(users[0])
		return map[string]any{
			"channel":      map[string]any{"id": id, "is_im": true, "user": users[0]},
			"no_op":        existed,
			"already_open": existed,
		}, nil
	}
	key := strings.Join(users, ",")
	id, existed := s.dms[key]
	if !existed {
		id = fmt.Sprintf("G%07d", s.nextIDLocked())
		s.dms[key] = id
	}
	return map[string]any{
		"channel":      map[string]any{"id": id, "is_mpim": true},
		"no_op":        existed,
		"already_open": existed,
	}, nil
}

// usergroupsUsersList lists the members seeded with SetUserGroup.
func (s *Server) usergroupsUsersList(c *call) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	users, ok := s.groups[c.str("usergroup")]
	if !ok {
		return nil, fail("no_such_subteam")
	}
	return map[string]any{"users": append([]string{}, users...)}, nil
}

// usersInfo describes a seeded or synthesized user.
func (s *Server) usersInfo(c *call) (map[string]any, error) {
	id := c.str("user")
	if id == "" || !(strings.HasPrefix(id, "U") || strings.HasPrefix(id, "W")) {
		return nil, fail("user_not_found")
	}
	s.mu.Lock()
	u := s.userLocked(id)
	s.mu.Unlock()
	return map[string]any{"user": map[string]any{
		"id":        u.ID,
		"team_id":   s.opts.TeamID,
		"name":      u.Name,
		"real_name": u.RealName,
		"tz":        u.TZ,
		"is_bot":    u.IsBot,
		"deleted":   false,
		"profile": map[string]any{
			"real_name":    u.RealName,
			"display_name": u.Name,
			"email":        u.Email,
		},
	}}, nil
}
