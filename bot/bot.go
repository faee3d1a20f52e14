// Package bot is medic's Slack side: the Socket Mode connection, acks, the bounded
// worker pool that handles what people do, and Block Kit rendering and posting. It
// knows nothing of AWS, GitHub or Terraform; what to do with a command or a click is
// the Handler's business.
package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
)

// Handler is what the bot hands people's commands and clicks to, after the envelope is
// acknowledged. Calls run on the bot's worker pool, concurrently.
type Handler interface {
	HandleSlashCommand(ctx context.Context, cmd slack.SlashCommand)
	HandleInteraction(ctx context.Context, cb slack.InteractionCallback)
}

// SubmissionValidator is implemented by a Handler that checks submitted forms before
// they are acknowledged: the errors (block ID → message) go back in the ack, which is
// the only way Slack shows them beside the fields. It must not do I/O.
type SubmissionValidator interface {
	ValidateSubmission(cb slack.InteractionCallback) map[string]string
}

// Claimer records keys and reports whether the caller is the first to claim one. The
// store implements it, so redelivered envelopes are handled once even across restarts
// and replicas. Claim returns an error only when the claim could not be recorded.
type Claimer interface {
	Claim(ctx context.Context, key string) (bool, error)
}

// Options tune a Bot. Zero values take the defaults named on each field.
type Options struct {
	// Workers handle envelopes concurrently (default 16).
	Workers int
	// ClickQueue is how many of the queued envelopes may be clicks and form submissions
	// (default 1024), which keep far more than a command.
	ClickQueue int
	// Queue is how many acked envelopes may wait for a worker (default 1024). When it is
	// full, new requests are acked at once and refused with a message saying medic is
	// overloaded: the ack never waits for work.
	Queue int
	// HandlerTimeout bounds one command or click (default 2m).
	HandlerTimeout time.Duration
	// Claimer dedupes envelopes; an in-memory one is used when nil.
	Claimer Claimer
	Logger  *zap.Logger
	Metrics *Metrics
	// SocketOptions are passed to socketmode.New (tests shorten ping intervals).
	SocketOptions []socketmode.Option
}

// Bot owns the Socket Mode connection.
type Bot struct {
	api     *slack.Client
	handler Handler
	opts    Options
	log     *zap.Logger
	ready   atomic.Bool
	// busySlots bounds the goroutines telling people medic is overloaded.
	busySlots chan struct{}
	// refused counts what was refused as busy since the last summary line, which Run
	// logs at most once every busyLogEvery: a burst refuses thousands of envelopes, and
	// a line each would flood the logs exactly when medic is busiest.
	refused      refusals
	busyLogEvery time.Duration
	// burst holds the workers while a burst of envelopes is being acked.
	burst *burstGate
	// clicks bounds the clicks waiting in the queue (Options.ClickQueue).
	clicks clickCap
}

// refusals counts requests refused because the work queue was full. The reader
// goroutine adds to it; Run's summary takes and resets it.
type refusals struct {
	slash      atomic.Int64 // slash commands, answered in their ack
	clicks     atomic.Int64 // clicks and other interactions
	unanswered atomic.Int64 // interactions that could not be told medic is busy
}

// busyLogEvery is how often at most the summary of refused requests is logged.
const busyLogEvery = 10 * time.Second

// New returns a Bot that connects with api (which must carry the app-level token, see
// slack.OptionAppLevelToken) and hands envelopes to h.
func New(api *slack.Client, h Handler, opts Options) *Bot {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.ClickQueue <= 0 {
		opts.ClickQueue = defaultClickQueue
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Claimer == nil {
		opts.Claimer = newMemClaimer(time.Hour, time.Now)
	}
	return &Bot{api: api, handler: h, opts: opts, log: opts.Logger.Named("slack"),
		busySlots: make(chan struct{}, 8), busyLogEvery: busyLogEvery, burst: newBurstGate(), clicks: clickCap{max: int64(opts.ClickQueue)}}
}

// Ready reports whether the Socket Mode link is up (Slack's hello received and no
// disconnect since).
func (b *Bot) Ready() bool { return b.ready.Load() }

// ErrAuth is returned by Run when Slack refuses medic's tokens; retrying cannot help.
var ErrAuth = errors.New("slack refused the app token")

type work struct {
	kind       string
	envelopeID string
	run        func(ctx context.Context)
	// taken, when set, is called as a worker takes the work from the queue.
	taken func()
}

// Run connects and serves until ctx ends, reconnecting with backoff whenever the link
// drops. At shutdown it stops reading, lets queued work finish until drain ends (the
// shutdown grace: drain should end some time after ctx does), then cancels the work
// left and returns once it has stopped. Work is handled with contexts derived from
// drain, not ctx, so acked work is not dropped when ctx ends. It returns ErrAuth
// (wrapped) when Slack refuses the tokens.
func (b *Bot) Run(ctx, drain context.Context) error {
	opts := append([]socketmode.Option{
		socketmode.OptionLog(zap.NewStdLog(b.log.Named("socketmode"))),
		socketmode.OptionDialer(socketDialer()),
	}, b.opts.SocketOptions...)
	client := socketmode.New(b.api, opts...)
	queue := make(chan work, b.opts.Queue)

	// Workers outlive ctx so queued, already-acked work is not dropped at shutdown;
	// each piece of work gets its own deadline, and all of it stops when drain ends.
	workCtx, stopWork := context.WithCancel(drain)
	defer stopWork()
	var workers sync.WaitGroup
	for i := 0; i < b.opts.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for w := range queue {
				if w.taken != nil {
					w.taken()
				}
				b.burst.wait(len(queue))
				b.handle(workCtx, w)
			}
		}()
	}

	connErr := make(chan error, 1)
	go func() { connErr <- b.connectLoop(ctx, client) }()

	summary := time.NewTicker(b.busyLogEvery)
	defer summary.Stop()
	since := time.Now()
	var runErr error
	func() {
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-connErr:
				runErr = err
				return
			case evt := <-client.Events:
				b.dispatch(ctx, client, evt, queue)
			case now := <-summary.C:
				b.logRefused(now.Sub(since), cap(queue))
				since = now
			}
		}
	}()
	// Nothing is refused after the reader stops; say what was since the last summary.
	b.logRefused(time.Since(since), cap(queue))
	b.ready.Store(false)
	b.metric(func(m *Metrics) { m.connected.Set(0) })
	close(queue)
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-drain.Done():
		b.log.Warn("shutdown: queued slack work did not finish in time; cancelling it", zap.NamedError("drain", context.Cause(drain)))
		stopWork()
		<-drained
	}
	return runErr
}

// socketReadBuffer is the kernel receive buffer of the Socket Mode connection. A burst
// of envelopes (an incident storm, everyone typing /status at once) arrives as many
// small frames; with the default buffer Linux may drop some and resend them only
// after its 200 ms retransmission timeout, which would delay acks far past Slack's
// 3-second rule under load. 4 MiB absorbs thousands of envelopes.
const socketReadBuffer = 4 << 20

// socketFrameBuffer is gorilla's read buffer: a burst's frames are read many at a time
// rather than one read call each.
const socketFrameBuffer = 64 << 10

// socketDialer is slack-go's default dialer (proxy from the environment, same timeouts)
// with larger receive buffers and the acks' writes gathered (gatheringConn).
func socketDialer() *websocket.Dialer {
	return &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: 45 * time.Second,
		ReadBufferSize:   socketFrameBuffer,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(socketReadBuffer) // best effort: the kernel may cap it
			}
			return newGatheringConn(c), nil
		},
	}
}

// connectLoop keeps the Socket Mode link up: slack-go reconnects by itself after a
// disconnect frame, and this loop restarts it with backoff after any other failure.
func (b *Bot) connectLoop(ctx context.Context, client *socketmode.Client) error {
	backoff := time.Second
	for {
		err := client.RunContext(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var se slack.SlackErrorResponse
		if errors.As(err, &se) {
			switch se.Err {
			case "invalid_auth", "account_inactive", "not_authed", "token_revoked", "not_allowed_token_type":
				b.log.Error("slack refused the app token; check SLACK_APP_TOKEN", zap.String("slack_error", se.Err))
				return fmt.Errorf("%w (%s): check SLACK_APP_TOKEN", ErrAuth, se.Err)
			}
		}
		var sce slack.StatusCodeError
		if errors.As(err, &sce) && sce.Code == 404 {
			return fmt.Errorf("%w (apps.connections.open answered 404): check SLACK_APP_TOKEN and SLACK_API_URL", ErrAuth)
		}
		b.log.Warn("socket mode link failed; reconnecting", zap.Error(err), zap.Duration("backoff", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// dispatch handles one socketmode event on the reader goroutine. Envelopes are acked
// here, before anything else, to stay within Slack's 3-second ack window; the work is
// queued for the pool.
func (b *Bot) dispatch(ctx context.Context, client *socketmode.Client, evt socketmode.Event, queue chan<- work) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		b.setReady(false)
	case socketmode.EventTypeConnected:
		b.metric(func(m *Metrics) { m.reconnects.Inc() })
	case socketmode.EventTypeHello:
		b.setReady(true)
		b.log.Info("socket mode link up")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeDisconnect:
		b.setReady(false)
		b.log.Warn("socket mode link down", zap.String("event", string(evt.Type)), zap.Any("detail", errDetail(evt.Data)))
	case socketmode.EventTypeInvalidAuth:
		b.setReady(false)
		b.log.Error("slack refused the app token; check SLACK_APP_TOKEN")
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			b.ackBad(client, evt)
			return
		}
		w := work{kind: "slash_commands", envelopeID: evt.Request.EnvelopeID,
			run: func(ctx context.Context) { b.handler.HandleSlashCommand(ctx, cmd) }}
		if b.tryEnqueue(queue, w) {
			b.ack(client, evt)
			return
		}
		b.refused.slash.Add(1)
		// The queue is full: say so in the ack itself (Slack shows a slash command's ack
		// payload to the user), which costs no extra call and keeps the ack instant.
		b.ack(client, evt, map[string]any{"response_type": "ephemeral", "text": busyText})
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			b.ackBad(client, evt)
			return
		}
		if v, ok := b.handler.(SubmissionValidator); ok && cb.Type == slack.InteractionTypeViewSubmission {
			if errs := v.ValidateSubmission(cb); len(errs) > 0 {
				// Keep the form open with the errors beside their fields; nothing is queued.
				b.ack(client, evt, slack.NewErrorsViewSubmissionResponse(errs))
				return
			}
		}
		queued := b.enqueueClick(queue, evt.Request.EnvelopeID, func(ctx context.Context) { b.handler.HandleInteraction(ctx, cb) })
		b.ack(client, evt)
		if !queued {
			b.refused.clicks.Add(1)
			b.tellBusy(ctx, cb)
		}
	case socketmode.EventTypeEventsAPI:
		// Ack first so Slack does not redeliver; of the events, medic takes only
		// app_home_opened (home.go).
		if evt.Request != nil {
			b.ack(client, evt)
		}
		b.homeOpened(evt, queue)
	}
}

// busyText is what people see when medic cannot take their request right now.
const busyText = "medic is overloaded and could not take this request. Nothing was done; please try again in a minute."

func errDetail(d any) any {
	if err, ok := d.(error); ok {
		return err.Error()
	}
	return d
}

// ack acknowledges evt's envelope, with an optional payload.
func (b *Bot) ack(client *socketmode.Client, evt socketmode.Event, payload ...any) {
	// An ack's payload leaves over the socket, not through RedactingTransport.
	if len(payload) == 1 {
		if raw, err := json.Marshal(payload[0]); err == nil {
			if out, changed, err := recovery.RedactJSONKeeping(raw, slackMachineField); err == nil && changed {
				payload[0] = json.RawMessage(out)
			}
		}
	}
	if err := client.Ack(*evt.Request, payload...); err != nil {
		b.log.Error("ack failed", zap.String("envelope", evt.Request.EnvelopeID), zap.Error(err))
	}
	b.metric(func(m *Metrics) { m.envelopes.WithLabelValues(string(evt.Type)).Inc() })
}

// ackBad acks an envelope whose payload was not understood (so Slack stops
// redelivering it) and drops it with a log line.
func (b *Bot) ackBad(client *socketmode.Client, evt socketmode.Event) {
	if evt.Request == nil {
		return
	}
	b.ack(client, evt)
	b.log.Error("envelope payload not understood; dropped", zap.String("envelope", evt.Request.EnvelopeID), zap.String("type", string(evt.Type)))
}

// tryEnqueue queues w without waiting: the reader must never block, or acks for the
// envelopes behind it would wait on the work in front of them.
func (b *Bot) tryEnqueue(queue chan<- work, w work) bool {
	select {
	case queue <- w:
		b.burst.arrived()
		b.metric(func(m *Metrics) { m.queued.Inc() })
		return true
	default:
		// No log line here: a burst refuses thousands, and Run logs one summary of them
		// (logRefused) at most every busyLogEvery.
		b.metric(func(m *Metrics) { m.rejected.Inc() })
		return false
	}
}

// logRefused logs, at warn level and without a stack trace, one line summing up the
// requests refused as busy since the previous call (over window), and resets the
// counts. It logs nothing when nothing was refused.
func (b *Bot) logRefused(window time.Duration, queue int) {
	slash, clicks, unanswered := b.refused.slash.Swap(0), b.refused.clicks.Swap(0), b.refused.unanswered.Swap(0)
	n := slash + clicks
	if n == 0 && unanswered == 0 {
		return
	}
	window = window.Round(time.Second)
	b.log.Warn(fmt.Sprintf("refused %d envelopes as busy in the last %s: the work queue was full", n, window),
		zap.Int64("refused", n), zap.Int64("slash_commands", slash), zap.Int64("interactive", clicks),
		zap.Int64("interactive_unanswered", unanswered), zap.Duration("window", window), zap.Int("queue", queue))
}

// tellBusy answers a click that could not be queued, through its response_url, on a
// small bounded set of goroutines, so a burst neither blocks the reader nor floods
// Slack; past that bound, or when the answer fails, the refusal is only counted in
// the summary logRefused logs.
func (b *Bot) tellBusy(ctx context.Context, cb slack.InteractionCallback) {
	if cb.ResponseURL == "" {
		b.untold()
		return
	}
	select {
	case b.busySlots <- struct{}{}:
	default:
		b.untold()
		return
	}
	go func() {
		defer func() { <-b.busySlots }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, _, err := b.api.PostMessageContext(ctx, cb.Channel.ID,
			slack.MsgOptionResponseURL(cb.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText(busyText, false)); err != nil {
			b.untold()
			b.log.Debug("could not tell the user medic is busy", zap.Error(err))
		}
	}()
}

// untold counts a refused request whose sender could not be told medic is busy.
func (b *Bot) untold() {
	b.refused.unanswered.Add(1)
	b.metric(func(m *Metrics) { m.busyUntold.Inc() })
}

// handle runs one piece of work once: a redelivered envelope (same envelope ID) is
// skipped. A handler panic is logged, not fatal.
func (b *Bot) handle(ctx context.Context, w work) {
	b.metric(func(m *Metrics) { m.queued.Dec() })
	log := b.log.With(zap.String("envelope", w.envelopeID), zap.String("type", w.kind))
	ctx, cancel := context.WithTimeout(ctx, b.opts.HandlerTimeout)
	defer cancel()
	first, err := b.opts.Claimer.Claim(ctx, "slack-envelope:"+w.envelopeID)
	if err != nil {
		// Handling twice is better than not at all: every mutating action carries its
		// own idempotency key further down.
		log.Error("could not record envelope; handling it anyway", zap.Error(err))
	} else if !first {
		b.metric(func(m *Metrics) { m.duplicates.Inc() })
		log.Info("duplicate envelope skipped")
		return
	}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			log.Error("handler panicked", zap.Any("panic", p), zap.Stack("stack"))
		}
		b.metric(func(m *Metrics) { m.handled.WithLabelValues(w.kind).Observe(time.Since(start).Seconds()) })
	}()
	w.run(ctx)
}

func (b *Bot) setReady(v bool) {
	b.ready.Store(v)
	b.metric(func(m *Metrics) {
		if v {
			m.connected.Set(1)
		} else {
			m.connected.Set(0)
		}
	})
}

func (b *Bot) metric(f func(*Metrics)) {
	if b.opts.Metrics != nil {
		f(b.opts.Metrics)
	}
}

// memClaimer is the in-memory Claimer used when no store is given: it remembers keys
// for ttl.
type memClaimer struct {
	mu   sync.Mutex
	ttl  time.Duration
	now  func() time.Time
	seen map[string]time.Time
}

func newMemClaimer(ttl time.Duration, now func() time.Time) *memClaimer {
	return &memClaimer{ttl: ttl, now: now, seen: map[string]time.Time{}}
}

func (m *memClaimer) Claim(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.seen) > 10000 {
		for k, t := range m.seen {
			if now.Sub(t) > m.ttl {
				delete(m.seen, k)
			}
		}
	}
	if t, ok := m.seen[key]; ok && now.Sub(t) <= m.ttl {
		return false, nil
	}
	m.seen[key] = now
	return true, nil
}
