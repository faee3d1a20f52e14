// Package slackfake is a local Slack that the real slack-go client and its socketmode
// package talk to unchanged: a Web API under /api/, a Socket Mode WebSocket under /link/
// and response_url sinks under /hooks/. Tests and `medic demo` use it to play the people
// (slash commands, button clicks, modal submissions, events) and to read what the bot
// showed them (a transcript per channel, rendered to plain text).
//
// Wire behaviour follows /work/shared/notes/PROTOCOLS.md section 1: tokens are checked
// the way slack-go sends them, errors are {"ok":false,"error":…}, a fault with HTTP 429
// answers Retry-After so slack-go returns *slack.RateLimitedError, envelopes must be
// acknowledged within AckTimeout or are redelivered, and WebSocket PING frames are sent
// every PingInterval.
package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medic-ops/medic/sandbox/fault"
)

// Defaults of Options.
const (
	// DefaultPingInterval is how often the fake sends WebSocket PING frames. slack-go
	// declares a connection dead after 30 s without one (socketmode.go:51).
	DefaultPingInterval = 5 * time.Second
	// DefaultAckTimeout is Slack's 3-second rule: an envelope not acknowledged within it
	// is redelivered (docs.slack.dev/apis/events-api/using-socket-mode).
	DefaultAckTimeout = 3 * time.Second
	// DefaultMaxRetries is how many times Slack redelivers an unacknowledged envelope.
	DefaultMaxRetries = 3
	// DefaultTeamID is the workspace ID used when Options.TeamID is empty.
	DefaultTeamID = "T0MEDIC"
	// DefaultAppID is the app ID used when Options.AppID is empty.
	DefaultAppID = "A0MEDIC"
	// DefaultBotUserID is the bot's user ID used when Options.BotUserID is empty.
	DefaultBotUserID = "U0MEDICBOT"
	// DefaultAppToken is the app-level token accepted when Options.AppToken is empty.
	DefaultAppToken = "xapp-1-A0MEDIC-sandbox"
	// DefaultBotToken is the bot token accepted when Options.BotToken is empty.
	DefaultBotToken = "xoxb-sandbox-medic"

	// teamDomain is the workspace's subdomain, sent as team_domain.
	teamDomain = "medic-sandbox"
	// botID is the bot's bot_id on the messages it posts.
	botID = "B0MEDIC"
	// verificationToken is the deprecated verification token Slack still puts in payloads.
	verificationToken = "sandbox-verification-token"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// AppToken is the app-level token (xapp-…) accepted by apps.connections.open.
	AppToken string
	// BotToken is the bot token (xoxb-…) accepted by every other method.
	BotToken string
	// TeamID is the workspace ID; DefaultTeamID when empty.
	TeamID string
	// AppID is the app ID; DefaultAppID when empty.
	AppID string
	// BotUserID is the bot's user ID; DefaultBotUserID when empty.
	BotUserID string
	// PingInterval is the period of WebSocket PING frames; DefaultPingInterval when 0.
	PingInterval time.Duration
	// AckTimeout is how long an envelope may stay unacknowledged before it is sent
	// again; DefaultAckTimeout when 0.
	AckTimeout time.Duration
	// MaxRetries is how many times an unacknowledged envelope is redelivered;
	// DefaultMaxRetries when 0, no redelivery when negative.
	MaxRetries int
	// Faults slows down or breaks single operations; a new Injector when nil.
	Faults *fault.Injector
	// Now is the server clock used for timestamps, ack times and trigger_id expiry;
	// time.Now when nil. Timers (pings, ack timeouts) use real time.
	Now func() time.Time
}

// ErrNoConnection is returned when an envelope is injected while no Socket Mode
// connection is open.
var ErrNoConnection = errors.New("no socket mode connection is open")

// ErrUnacked is returned by WaitAck when the envelope was redelivered MaxRetries times
// and never acknowledged: Slack has given up on it.
var ErrUnacked = errors.New("envelope was never acknowledged")

// ErrClosed is returned by the Wait methods once the server is closed.
var ErrClosed = errors.New("slackfake server closed")

// Server is a running fake Slack. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	faults  *fault.Injector
	hs      *httptest.Server
	methods map[string]method

	// ctx ends when Close is called; it cancels requests held by a fault.
	ctx    context.Context
	cancel context.CancelFunc
	// wg tracks the goroutines of WebSocket connections.
	wg sync.WaitGroup

	mu      sync.Mutex
	changed chan struct{}
	closed  bool
	seq     int
	lastTS  int64

	tickets   map[string]bool
	failOpens int
	conns     []*wsConn
	live      map[*wsConn]bool
	rr        int
	opened    int
	pingsSent int
	pongs     int

	envelopes map[string]*envelope
	ackOrder  []string

	hooks    map[string]*hook
	triggers map[string]*trigger
	users    map[string]User
	names    map[string]string
	groups   map[string][]string
	dms      map[string]string

	channels  map[string][]*Message
	all       []*Message
	views     map[string]*View
	viewOrder []string
	// homes holds each user's Home tab, as views.publish last set it (home.go).
	homes map[string]*HomeView
}

// New starts a fake Slack on 127.0.0.1. Call Close when done.
func New(opts Options) *Server {
	if opts.AppToken == "" {
		opts.AppToken = DefaultAppToken
	}
	if opts.BotToken == "" {
		opts.BotToken = DefaultBotToken
	}
	if opts.TeamID == "" {
		opts.TeamID = DefaultTeamID
	}
	if opts.AppID == "" {
		opts.AppID = DefaultAppID
	}
	if opts.BotUserID == "" {
		opts.BotUserID = DefaultBotUserID
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	switch {
	case opts.MaxRetries == 0:
		opts.MaxRetries = DefaultMaxRetries
	case opts.MaxRetries < 0:
		opts.MaxRetries = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	faults := opts.Faults
	if faults == nil {
		faults = fault.New()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		faults:    faults,
		ctx:       ctx,
		cancel:    cancel,
		changed:   make(chan struct{}),
		tickets:   map[string]bool{},
		live:      map[*wsConn]bool{},
		envelopes: map[string]*envelope{},
		hooks:     map[string]*hook{},
		triggers:  map[string]*trigger{},
		users:     map[string]User{},
		names:     map[string]string{},
		groups:    map[string][]string{},
		dms:       map[string]string{},
		channels:  map[string][]*Message{},
		views:     map[string]*View{},
	}
	s.methods = webAPI()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/link/", s.serveLink)
	mux.HandleFunc("/hooks/", s.serveHook)
	s.hs = httptest.NewServer(mux)
	return s
}

// Close closes every connection, stops redelivery and shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*wsConn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	s.conns = nil
	for _, env := range s.envelopes {
		if env.timer != nil {
			env.timer.Stop()
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.close()
	}
	s.hs.Close()
	s.wg.Wait()
}

// URL returns the server's base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.hs.URL }

// APIURL returns the Web API base for slack.OptionAPIURL, with its trailing slash:
// "http://127.0.0.1:PORT/api/". slack-go appends the method name to it.
func (s *Server) APIURL() string { return s.hs.URL + "/api/" }

// AppToken returns the accepted app-level token.
func (s *Server) AppToken() string { return s.opts.AppToken }

// BotToken returns the accepted bot token.
func (s *Server) BotToken() string { return s.opts.BotToken }

// Faults returns the fault injector the server consults, one operation per Web API
// method ("slack:chat.postMessage"), plus "slack:response_url" and "slack:websocket".
func (s *Server) Faults() *fault.Injector { return s.faults }

// now reads the server clock.
func (s *Server) now() time.Time { return s.opts.Now() }

// nextIDLocked returns a fresh sequence number.
func (s *Server) nextIDLocked() int {
	s.seq++
	return s.seq
}

// nextTSLocked returns a Slack timestamp ("1700000000.000100") from the server clock,
// strictly greater than every one handed out before.
func (s *Server) nextTSLocked() string {
	micro := s.now().UnixMicro()
	if micro <= s.lastTS {
		micro = s.lastTS + 1
	}
	s.lastTS = micro
	return fmt.Sprintf("%d.%06d", micro/1e6, micro%1e6)
}

// notifyLocked wakes every waiter; it is called after each change of state.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait blocks until cond, evaluated under s.mu, holds, ctx ends or the server closes.
func (s *Server) wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		ch, closed := s.changed, s.closed
		s.mu.Unlock()
		if ok {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// requestContext returns a context that ends with the request or with Close, so a
// request held by a fault does not keep Close waiting.
func (s *Server) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// writeFault answers a request with the fault's wire form: HTTP 429 with Retry-After and
// {"ok":false,"error":"ratelimited"} (slack-go: *slack.RateLimitedError, misc.go:550);
// status 0 or 200 as {"ok":false,"error":Code}; any other status with that status.
func writeFault(w http.ResponseWriter, fe *fault.Error) {
	code := fe.Code
	status := fe.Status
	if status == 0 {
		status = http.StatusOK
	}
	retryAfter := fe.RetryAfter
	if status == http.StatusTooManyRequests {
		if code == "" {
			code = "ratelimited"
		}
		// Slack always sends Retry-After with a 429 (api.slack.com/docs/rate-limits);
		// without it slack-go returns a plain StatusCodeError.
		if retryAfter <= 0 {
			retryAfter = time.Second
		}
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	if code == "" {
		code = "internal_error"
	}
	writeJSON(w, status, map[string]any{"ok": false, "error": code})
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// SetUser seeds a user returned by users.info and used for user names in payloads.
// Users not seeded are synthesized from their ID.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// SetUserGroup seeds the members of a user group for usergroups.users.list.
func (s *Server) SetUserGroup(id string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = append([]string(nil), users...)
}

// SetChannel names a channel; the name appears in payloads (channel_name). Channels
// not named are called by their lower-cased ID.
func (s *Server) SetChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[id] = name
}

// User is a workspace member as users.info describes it.
type User struct {
	// ID is the user ID, "U…".
	ID string
	// Name is the handle, e.g. "alice".
	Name string
	// RealName is the full name.
	RealName string
	// Email is the profile e-mail address.
	Email string
	// TZ is the IANA time zone; "UTC" when empty.
	TZ string
	// IsBot marks bot users.
	IsBot bool
}

// userLocked returns the seeded user or one synthesized from the ID.
func (s *Server) userLocked(id string) User {
	if u, ok := s.users[id]; ok {
		if u.Name == "" {
			u.Name = strings.ToLower(id)
		}
		if u.TZ == "" {
			u.TZ = "UTC"
		}
		return u
	}
	u := User{ID: id, Name: strings.ToLower(id), RealName: "User " + id, TZ: "UTC"}
	if id == s.opts.BotUserID {
		u.Name, u.RealName, u.IsBot = "medic", "medic", true
	}
	return u
}

// channelNameLocked returns a channel's name for payloads.
func (s *Server) channelNameLocked(id string) string {
	if n, ok := s.names[id]; ok {
		return n
	}
	if strings.HasPrefix(id, "D") {
		return "directmessage"
	}
	return strings.ToLower(id)
}

// dmLocked returns the direct-message channel between the bot and user, creating it.
func (s *Server) dmLocked(user string) string {
	if id, ok := s.dms[user]; ok {
		return id
	}
	id := "D" + user
	if len(user) > 1 && (user[0] == 'U' || user[0] == 'W') {
		id = "D" + user[1:]
	}
	s.dms[user] = id
	return id
}
