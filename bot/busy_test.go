package bot

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/medic-ops/medic/sandbox/slackfake"
)

// burst sends n /status commands from users U0…U(n-1) to a bot with one blocked worker
// and a queue of queue, waits for every ack and returns the users whose command was
// refused (the ack carried the overload message), then shuts the bot down and returns
// its logs. summaryEvery replaces the bot's summary interval.
func burst(t *testing.T, n, queue int, summaryEvery time.Duration) (srv *slackfake.Server, refused map[string]bool, logs *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	h := &countingHandler{block: make(chan struct{}), started: make(chan struct{}, n)}
	srv, _, _, cancel, done, wctx := startBusyBot(t, h, Options{Workers: 1, Queue: queue, Logger: zap.New(core)}, summaryEvery)
	defer cancel()
	send := func(user string) string {
		id, err := srv.SlashCommand(wctx, slackfake.Command{User: user, Channel: "C1", Command: "/status", Text: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := send("U0")
	<-h.started // the only worker is now busy: the rest fill the queue, then are refused
	ids := map[string]string{first: "U0"}
	for i := 1; i < n; i++ {
		u := fmt.Sprintf("U%d", i)
		ids[send(u)] = u
	}
	refused = map[string]bool{}
	for id, u := range ids {
		ack, err := srv.WaitAck(wctx, id)
		if err != nil {
			t.Fatalf("%s's command was not acked: %v", u, err)
		}
		if strings.Contains(string(ack.Payload), "overloaded") {
			refused[u] = true
		}
	}
	if len(refused) != n-1-queue {
		t.Fatalf("%d commands refused, want %d (one handled, %d queued)", len(refused), n-1-queue, queue)
	}
	cancel()
	close(h.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return srv, refused, logs
}

// startBusyBot runs a bot with h and opts (summaryEvery replacing its summary interval)
// against a new fake Slack until cancel, and waits for its link; done receives Run's
// result; wctx bounds the test's waits (30 s).
func startBusyBot(t *testing.T, h Handler, opts Options, summaryEvery time.Duration) (srv *slackfake.Server, api *slack.Client, b *Bot, cancel context.CancelFunc, done chan error, wctx context.Context) {
	t.Helper()
	srv = slackfake.New(slackfake.Options{})
	t.Cleanup(srv.Close)
	api = slack.New(srv.BotToken(), slack.OptionAppLevelToken(srv.AppToken()), slack.OptionAPIURL(srv.APIURL()))
	b = New(api, h, opts)
	b.busyLogEvery = summaryEvery
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- b.Run(ctx, context.Background()) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(wcancel)
	if err := srv.WaitConnected(wctx, 1); err != nil {
		cancel()
		t.Fatal(err)
	}
	return srv, api, b, cancel, done, wctx
}

// busySummaries are the summary lines of refused requests.
func busySummaries(logs *observer.ObservedLogs) []observer.LoggedEntry {
	return logs.FilterMessageSnippet("as busy").AllUntimed()
}

// A burst over a full queue refuses most of it without a log line per refusal: one
// warn-level summary counts them all, and every refused person is answered.
func TestBurstOverFullQueueLogsOneSummaryAndAnswersEveryone(t *testing.T) {
	const n, queue = 300, 4
	// The summary interval outlasts the test, so the only summary is the one at shutdown.
	srv, refused, logs := burst(t, n, queue, time.Hour)

	if errs := logs.FilterLevelExact(zapcore.ErrorLevel).AllUntimed(); len(errs) > 0 {
		t.Errorf("got %d error-level log lines, want none; first: %q", len(errs), errs[0].Message)
	}
	if got := logs.Len(); got >= len(refused) {
		t.Errorf("got %d log lines for %d refusals, want far fewer than one each", got, len(refused))
	}
	sums := busySummaries(logs)
	if len(sums) != 1 {
		t.Fatalf("got %d summary lines, want exactly 1: %v", len(sums), sums)
	}
	s := sums[0]
	fields := s.ContextMap()
	if s.Level != zapcore.WarnLevel || s.Stack != "" {
		t.Errorf("summary at %s with stack %q, want warn without a stack", s.Level, s.Stack)
	}
	if fields["refused"] != int64(len(refused)) || fields["slash_commands"] != int64(len(refused)) {
		t.Errorf("summary fields %v, want refused = slash_commands = %d", fields, len(refused))
	}
	if want := fmt.Sprintf("refused %d envelopes as busy", len(refused)); !strings.Contains(s.Message, want) {
		t.Errorf("summary %q, want it to say %q", s.Message, want)
	}

	// Every refused person got the ephemeral overload message, from the ack itself.
	told := map[string]bool{}
	for _, m := range srv.Messages("C1") {
		if m.Ephemeral && m.Via == "ack" && strings.Contains(m.Text, "try again") {
			told[m.User] = true
		}
	}
	for u := range refused {
		if !told[u] {
			t.Errorf("%s was refused and not told", u)
		}
	}
	if len(told) != len(refused) {
		t.Errorf("%d people told medic is busy, want the %d refused", len(told), len(refused))
	}
}

// With summaries due often, each counts only what was refused since the previous
// one: together they count every refusal once, and none is empty.
func TestBusySummariesCountEachRefusalOnce(t *testing.T) {
	const n, queue = 200, 2
	_, refused, logs := burst(t, n, queue, 5*time.Millisecond)
	var total int64
	for _, s := range busySummaries(logs) {
		r, _ := s.ContextMap()["refused"].(int64)
		if r <= 0 {
			t.Errorf("summary %q counts %d", s.Message, r)
		}
		total += r
	}
	if total != int64(len(refused)) {
		t.Errorf("summaries count %d refusals, want %d", total, len(refused))
	}
	if errs := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); errs > 0 {
		t.Errorf("got %d error-level log lines, want none", errs)
	}
}

func TestBusySummaryResetsAndStaysQuietWithoutRefusals(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	b := New(slack.New("xoxb-unused"), &countingHandler{}, Options{Logger: zap.New(core)})
	b.logRefused(10*time.Second, 8)
	if logs.Len() != 0 {
		t.Fatalf("logged %v with nothing refused", logs.AllUntimed())
	}
	b.refused.slash.Add(3)
	b.refused.clicks.Add(2)
	b.untold()
	b.logRefused(10*time.Second, 8)
	b.logRefused(10*time.Second, 8)
	got := logs.AllUntimed()
	if len(got) != 1 {
		t.Fatalf("got %d lines, want 1: %v", len(got), got)
	}
	f := got[0].ContextMap()
	if got[0].Message != "refused 5 envelopes as busy in the last 10s: the work queue was full" ||
		f["slash_commands"] != int64(3) || f["interactive"] != int64(2) || f["interactive_unanswered"] != int64(1) {
		t.Errorf("got %q %v", got[0].Message, f)
	}
}

// Clicks keep Slack's whole callback while they wait, so they have a bound of their
// own within the queue: with one worker busy and ClickQueue 3, of 6 clicks one runs,
// three wait and two are refused as busy though the queue has room; the three run once
// the worker is free.
func TestClicksHaveTheirOwnBoundInTheQueue(t *testing.T) {
	h := &blockingClicks{countingHandler: countingHandler{block: make(chan struct{}), started: make(chan struct{}, 10)}}
	srv, api, b, cancel, done, wctx := startBusyBot(t, h, Options{Workers: 1, Queue: 100, ClickQueue: 3}, time.Hour)
	defer cancel()
	_, ts, err := api.PostMessageContext(wctx, "C1", slack.MsgOptionBlocks(slack.NewActionBlock("acts",
		slack.NewButtonBlockElement("press", "v", slack.NewTextBlockObject(slack.PlainTextType, "Press", false, false)))))
	if err != nil {
		t.Fatal(err)
	}
	click := func() string {
		id, err := srv.Click(wctx, slackfake.Click{User: "U1", Channel: "C1", MessageTS: ts, ActionID: "press"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WaitAck(wctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	click()
	<-h.started // the only worker is busy with the first click
	for range 5 {
		click()
	}
	if n := b.refused.clicks.Load(); n != 2 {
		t.Fatalf("clicks refused: got %d, want 2 (3 wait, within ClickQueue)", n)
	}
	close(h.block)
	for range 3 {
		select {
		case <-h.started:
		case <-wctx.Done():
			t.Fatal("the waiting clicks did not run")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := h.clicks.Load(); n != 4 {
		t.Fatalf("clicks handled: got %d, want 4", n)
	}
}

// blockingClicks is a countingHandler whose clicks, too, say they started and wait.
type blockingClicks struct{ countingHandler }

func (h *blockingClicks) HandleInteraction(ctx context.Context, cb slack.InteractionCallback) {
	h.started <- struct{}{}
	select {
	case <-h.block:
	case <-ctx.Done():
	}
	h.clicks.Add(1)
}
