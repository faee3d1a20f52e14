// Package bot is medic's Slack side: the Socket Mode connection, acks, the bounded
// worker pool that handles what people do, and Block Kit rendering and posting. It
// knows nothing of AWS, GitHub or Terraform; what to do with a command or a click is
// the Handler's business.
package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// Handler is what the bot hands people's commands and clicks to, after the envelope is
// acknowledged. Calls run on the bot's worker pool, concurrently.
type Handler interface {
	HandleSlashCommand(ctx context.Context, cmd slack.SlashCommand)
	HandleInteraction(ctx context.Context, cb slack.InteractionCallback)
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
	// Queue is how many acked envelopes may wait for a worker (default 1024). When it is
	// full the reader waits, and Slack redelivers what it could not ack in time.
	Queue int
	// HandlerTimeout bounds one command or click (default 2m).
	HandlerTimeout time.Duration
	// DrainTimeout bounds how long Run waits for queued work at shutdown (default 30s).
	DrainTimeout time.Duration
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
}

// New returns a Bot that connects with api (which must carry the app-level token, see
// slack.OptionAppLevelToken) and hands envelopes to h.
func New(api *slack.Client, h Handler, opts Options) *Bot {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = 2 * time.Minute
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Claimer == nil {
		opts.Claimer = newMemClaimer(time.Hour, time.Now)
	}
	return &Bot{api: api, handler: h, opts: opts, log: opts.Logger.Named("slack")}
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
}

// Run connects and serves until ctx ends, reconnecting with backoff whenever the link
// drops. At shutdown it stops reading, lets queued work finish within DrainTimeout and
// returns. It returns ErrAuth (wrapped) when Slack refuses the tokens.
func (b *Bot) Run(ctx context.Context) error {
	opts := append([]socketmode.Option{socketmode.OptionLog(zap.NewStdLog(b.log.Named("socketmode")))}, b.opts.SocketOptions...)
	client := socketmode.New(b.api, opts...)
	queue := make(chan work, b.opts.Queue)

	// Workers outlive ctx so queued, already-acked work is not dropped at shutdown;
	// each piece of work gets its own deadline.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var workers sync.WaitGroup
	for i := 0; i < b.opts.Workers; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for w := range queue {
				b.handle(workCtx, w)
			}
		}()
	}

	connErr := make(chan error, 1)
	go func() { connErr <- b.connectLoop(ctx, client) }()

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
			}
		}
	}()
	b.ready.Store(false)
	b.metric(func(m *Metrics) { m.connected.Set(0) })
	close(queue)
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(b.opts.DrainTimeout):
		b.log.Warn("shutdown: queued slack work did not finish in time", zap.Duration("drain_timeout", b.opts.DrainTimeout))
		stopWork()
		<-drained
	}
	return runErr
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
		if !b.ack(client, evt, ok) {
			return
		}
		b.enqueue(ctx, queue, work{kind: "slash_commands", envelopeID: evt.Request.EnvelopeID,
			run: func(ctx context.Context) { b.handler.HandleSlashCommand(ctx, cmd) }})
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		if !b.ack(client, evt, ok) {
			return
		}
		b.enqueue(ctx, queue, work{kind: "interactive", envelopeID: evt.Request.EnvelopeID,
			run: func(ctx context.Context) { b.handler.HandleInteraction(ctx, cb) }})
	case socketmode.EventTypeEventsAPI:
		// medic subscribes to no events yet; ack so Slack does not redeliver.
		b.ack(client, evt, true)
	}
}

func errDetail(d any) any {
	if err, ok := d.(error); ok {
		return err.Error()
	}
	return d
}

// ack acknowledges the envelope of evt. A payload of the wrong type is acked too (so
// Slack stops redelivering it) and dropped with a log line.
func (b *Bot) ack(client *socketmode.Client, evt socketmode.Event, typeOK bool) bool {
	if evt.Request == nil {
		return false
	}
	if err := client.Ack(*evt.Request); err != nil {
		b.log.Error("ack failed", zap.String("envelope", evt.Request.EnvelopeID), zap.Error(err))
	}
	b.metric(func(m *Metrics) { m.envelopes.WithLabelValues(string(evt.Type)).Inc() })
	if !typeOK {
		b.log.Error("envelope payload not understood; dropped", zap.String("envelope", evt.Request.EnvelopeID), zap.String("type", string(evt.Type)))
	}
	return typeOK
}

func (b *Bot) enqueue(ctx context.Context, queue chan<- work, w work) {
	b.metric(func(m *Metrics) { m.queued.Inc() })
	select {
	case queue <- w:
	case <-ctx.Done():
		b.metric(func(m *Metrics) { m.queued.Dec() })
		b.log.Warn("shutting down; acked envelope not handled", zap.String("envelope", w.envelopeID))
	}
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
