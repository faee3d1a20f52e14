package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/sandbox/slackfake"
)

type countingHandler struct {
	commands atomic.Int64
	clicks   atomic.Int64
	block    chan struct{} // when set, handlers wait on it
	started  chan struct{} // when set, receives once per handler start
}

func (h *countingHandler) HandleSlashCommand(ctx context.Context, _ slack.SlashCommand) {
	if h.started != nil {
		h.started <- struct{}{}
	}
	if h.block != nil {
		select {
		case <-h.block:
		case <-ctx.Done():
		}
	}
	h.commands.Add(1)
}

func (h *countingHandler) HandleInteraction(context.Context, slack.InteractionCallback) {
	h.clicks.Add(1)
}

var _ Handler = (*countingHandler)(nil)

func mustBot(tb testing.TB, h Handler, opts Options) (*slackfake.Server, *Bot) {
	tb.Helper()
	srv := slackfake.New(slackfake.Options{})
	tb.Cleanup(srv.Close)
	api := slack.New(srv.BotToken(), slack.OptionAppLevelToken(srv.AppToken()), slack.OptionAPIURL(srv.APIURL()))
	b := New(api, h, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, context.Background()) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := srv.WaitConnected(wctx, 1); err != nil {
		tb.Fatal(err)
	}
	return srv, b
}

func TestAcksBeforeHandlingAndHandlesOnce(t *testing.T) {
	h := &countingHandler{block: make(chan struct{})}
	srv, _ := mustBot(t, h, Options{Workers: 2, Logger: zaptest.NewLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ids []string
	for i := 0; i < 5; i++ {
		id, err := srv.SlashCommand(ctx, slackfake.Command{User: "U1", Channel: "C1", Command: "/status", Text: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Every handler is blocked, yet every envelope is acked.
	for _, id := range ids {
		if _, err := srv.WaitAck(ctx, id); err != nil {
			t.Fatalf("ack of %s while handlers are busy: %v", id, err)
		}
	}
	if got := h.commands.Load(); got != 0 {
		t.Fatalf("got %d commands handled before release, want 0", got)
	}
	if err := srv.Redeliver(ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WaitAcks(ctx, ids[0], 2); err != nil {
		t.Fatal(err)
	}
	close(h.block)
	deadline := time.Now().Add(10 * time.Second)
	for h.commands.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := h.commands.Load(); got != 5 {
		t.Fatalf("got %d commands handled, want 5 (the redelivery skipped)", got)
	}
}

func TestShutdownDrainsQueuedWork(t *testing.T) {
	h := &countingHandler{block: make(chan struct{})}
	srv := slackfake.New(slackfake.Options{})
	defer srv.Close()
	api := slack.New(srv.BotToken(), slack.OptionAppLevelToken(srv.AppToken()), slack.OptionAPIURL(srv.APIURL()))
	b := New(api, h, Options{Workers: 1, Logger: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, context.Background()) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := srv.WaitConnected(wctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		id, err := srv.SlashCommand(wctx, slackfake.Command{User: "U1", Channel: "C1", Command: "/status", Text: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WaitAck(wctx, id); err != nil {
			t.Fatal(err)
		}
	}
	cancel() // shut down with three acked commands waiting
	close(h.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.commands.Load(); got != 3 {
		t.Errorf("got %d commands handled at shutdown, want all 3", got)
	}
	if b.Ready() {
		t.Error("Ready after Run returned")
	}
}

// Work still running when the drain ends (the shutdown grace) has its context
// cancelled, and Run returns once it has stopped.
func TestShutdownCancelsWorkLeftWhenTheDrainEnds(t *testing.T) {
	h := &countingHandler{block: make(chan struct{}), started: make(chan struct{}, 1)} // block never closes
	srv := slackfake.New(slackfake.Options{})
	defer srv.Close()
	api := slack.New(srv.BotToken(), slack.OptionAppLevelToken(srv.AppToken()), slack.OptionAPIURL(srv.APIURL()))
	b := New(api, h, Options{Workers: 1, Logger: zaptest.NewLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	drain, endDrain := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, drain) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := srv.WaitConnected(wctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SlashCommand(wctx, slackfake.Command{User: "U1", Channel: "C1", Command: "/status", Text: "prod"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.started:
	case <-wctx.Done():
		t.Fatal("the command was not handled")
	}
	cancel() // shutdown begins; the handler goes on until its context ends
	endDrain()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-wctx.Done():
		t.Fatal("Run did not return after the drain ended")
	}
	if got := h.commands.Load(); got != 1 {
		t.Errorf("got %d commands ended, want the one cut short by the drain", got)
	}
}

func TestBadAppTokenStopsRun(t *testing.T) {
	srv := slackfake.New(slackfake.Options{})
	defer srv.Close()
	api := slack.New(srv.BotToken(), slack.OptionAppLevelToken("xapp-wrong"), slack.OptionAPIURL(srv.APIURL()))
	b := New(api, &countingHandler{}, Options{Logger: zaptest.NewLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.Run(ctx, context.Background())
	if err == nil || ctx.Err() != nil {
		t.Fatalf("got %v (ctx %v), want ErrAuth before the deadline", err, ctx.Err())
	}
	if !errorsIs(err, ErrAuth) {
		t.Fatalf("got %v, want ErrAuth", err)
	}
}

// BenchmarkAckPath measures the bot's ack path alone: 500 slash commands sent at once,
// a handler that does nothing, latency from the sandbox sending each envelope to its
// ack arriving.
func BenchmarkAckPath(b *testing.B) {
	const concurrent = 500
	srv, _ := mustBot(b, &countingHandler{}, Options{})
	ctx := context.Background()
	var all []time.Duration
	for i := 0; i < b.N; i++ {
		ids := make([]string, concurrent)
		for j := range ids {
			id, err := srv.SlashCommand(ctx, slackfake.Command{User: fmt.Sprintf("U%d", j), Channel: "C1", Command: "/status", Text: "prod"})
			if err != nil {
				b.Fatal(err)
			}
			ids[j] = id
		}
		for _, id := range ids {
			ack, err := srv.WaitAck(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, ack.Latency)
		}
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestFullQueueRefusesInTheAckWithoutWaiting(t *testing.T) {
	h := &countingHandler{block: make(chan struct{}), started: make(chan struct{}, 3)}
	defer close(h.block)
	srv, _ := mustBot(t, h, Options{Workers: 1, Queue: 1, Logger: zaptest.NewLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var acks []slackfake.Ack
	for i := 0; i < 3; i++ {
		id, err := srv.SlashCommand(ctx, slackfake.Command{User: "U1", Channel: "C1", Command: "/status", Text: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		ack, err := srv.WaitAck(ctx, id)
		if err != nil {
			t.Fatalf("command %d was not acked while the worker is busy: %v", i, err)
		}
		acks = append(acks, ack)
		if i == 0 {
			<-h.started // the only worker is now busy with the first command
		}
	}
	// The first is being handled, the second waits in the queue, the third is refused.
	if len(acks[0].Payload) != 0 || len(acks[1].Payload) != 0 {
		t.Errorf("queued commands got ack payloads %s / %s, want none", acks[0].Payload, acks[1].Payload)
	}
	if !strings.Contains(string(acks[2].Payload), "overloaded") {
		t.Errorf("third ack payload: got %s, want the overload message", acks[2].Payload)
	}
	m, err := srv.WaitForMessage(ctx, func(m slackfake.Message) bool { return m.Ephemeral })
	if err != nil || !strings.Contains(m.Text, "try again") {
		t.Errorf("the refused user saw %q (%v), want the overload message", m.Text, err)
	}
}
