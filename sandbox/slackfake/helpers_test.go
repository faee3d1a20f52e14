package slackfake

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// testTimeout bounds each test's waiting; tests never assert on elapsed time.
const testTimeout = 15 * time.Second

// mustServer starts a fake Slack closed at the end of the test.
func mustServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := New(opts)
	tb.Cleanup(s.Close)
	return s
}

// mustContext returns a context ending at the end of the test or after testTimeout.
func mustContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// mustAPI returns a real slack-go Web API client for the fake.
func mustAPI(tb testing.TB, s *Server) *slack.Client {
	tb.Helper()
	return slack.New(s.BotToken(), slack.OptionAppLevelToken(s.AppToken()), slack.OptionAPIURL(s.APIURL()))
}

// testClient is a real slack-go socketmode client connected to the fake, as a medic
// replica would be.
type testClient struct {
	api *slack.Client
	sm  *socketmode.Client
	// events receives hello, slash command, interactive and events_api events.
	events chan socketmode.Event
	// done receives RunContext's result.
	done chan error
}

// clientOptions configures mustClient.
type clientOptions struct {
	// autoAck acknowledges every envelope at once, with no payload.
	autoAck bool
	// appToken overrides the app-level token.
	appToken string
	// socket are extra socketmode options.
	socket []socketmode.Option
}

// mustClient runs a socketmode client against s until the end of the test.
func mustClient(tb testing.TB, s *Server, o clientOptions) *testClient {
	tb.Helper()
	appTok := s.AppToken()
	if o.appToken != "" {
		appTok = o.appToken
	}
	api := slack.New(s.BotToken(), slack.OptionAppLevelToken(appTok), slack.OptionAPIURL(s.APIURL()))
	sm := socketmode.New(api, o.socket...)
	c := &testClient{api: api, sm: sm, events: make(chan socketmode.Event, 100), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.done <- sm.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				switch evt.Type {
				case socketmode.EventTypeHello, socketmode.EventTypeSlashCommand,
					socketmode.EventTypeInteractive, socketmode.EventTypeEventsAPI:
				default:
					continue
				}
				if o.autoAck && evt.Request != nil && evt.Type != socketmode.EventTypeHello {
					_ = sm.Ack(*evt.Request)
				}
				select {
				case c.events <- evt:
				case <-ctx.Done():
					return
				}
			}
		}
	})
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return c
}

// next returns the client's next event of type typ, skipping others.
func (c *testClient) next(ctx context.Context, tb testing.TB, typ socketmode.EventType) socketmode.Event {
	tb.Helper()
	for {
		select {
		case evt := <-c.events:
			if evt.Type == typ {
				return evt
			}
		case <-ctx.Done():
			tb.Fatalf("waiting for a %s event: %v", typ, ctx.Err())
		}
	}
}

// testClock is a settable server clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// now returns the clock's time.
func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// advance moves the clock forward.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
