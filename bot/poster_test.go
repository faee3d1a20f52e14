package bot

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// mustPoster returns a Poster on a fresh fake Slack whose client does not retry by
// itself, and the waits the Poster asked for instead of sleeping them.
func mustPoster(tb testing.TB) (*slackfake.Server, *Poster, *[]time.Duration) {
	tb.Helper()
	srv := slackfake.New(slackfake.Options{})
	tb.Cleanup(srv.Close)
	p := NewPoster(slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL())))
	var waits []time.Duration
	p.wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return srv, p, &waits
}

func TestPosterSendsAgainAfterRetryAfterWhileRateLimited(t *testing.T) {
	srv, p, waits := mustPoster(t)
	limited := &fault.Error{Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second}
	srv.Faults().Set("slack:chat.postMessage", fault.Rule{Times: maxRateLimitedSends - 1, Err: limited})
	in := canaryIncident()
	in.Channel = "C0OPS"
	ts, err := p.PostAlert(context.Background(), in)
	if err != nil {
		t.Fatalf("PostAlert through %d refusals: %v", maxRateLimitedSends-1, err)
	}
	if got := srv.Faults().Calls("slack:chat.postMessage"); got != maxRateLimitedSends {
		t.Errorf("chat.postMessage calls: got %d, want %d", got, maxRateLimitedSends)
	}
	if msgs := srv.Messages("C0OPS"); len(msgs) != 1 || msgs[0].TS != ts {
		t.Errorf("got %d messages, want the alert once (ts %s)", len(msgs), ts)
	}
	for _, w := range *waits {
		if w != 7*time.Second {
			t.Errorf("waited %s, want the Retry-After, 7s", w)
		}
	}
}

func TestPosterGivesUpOnAPersistentRateLimit(t *testing.T) {
	srv, p, waits := mustPoster(t)
	srv.Faults().Set("slack:chat.update", fault.Rule{Err: &fault.Error{Status: http.StatusTooManyRequests, RetryAfter: time.Second}})
	in := canaryIncident()
	in.Channel, in.MessageTS = "C0OPS", "1700000000.000100"
	err := p.UpdateAlert(context.Background(), in)
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("got %v, want *slack.RateLimitedError", err)
	}
	if got := srv.Faults().Calls("slack:chat.update"); got != maxRateLimitedSends {
		t.Errorf("chat.update calls: got %d, want %d (bounded)", got, maxRateLimitedSends)
	}
	if len(*waits) != maxRateLimitedSends-1 {
		t.Errorf("waits: got %v, want %d", *waits, maxRateLimitedSends-1)
	}
}

func TestPosterStopsWaitingWhenTheContextEnds(t *testing.T) {
	srv, p, _ := mustPoster(t)
	srv.Faults().Set("slack:chat.postMessage", fault.Rule{Err: &fault.Error{Status: http.StatusTooManyRequests, RetryAfter: time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The caller gives up while medic waits out the Retry-After.
	p.wait = func(ctx context.Context, _ time.Duration) error {
		cancel()
		return ctx.Err()
	}
	err := p.Reply(ctx, "C0OPS", "1700000000.000100", recovery.Note{Text: recovery.Say("hi")})
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("got %v, want the 429 Slack answered", err)
	}
	if got := srv.Faults().Calls("slack:chat.postMessage"); got != 1 {
		t.Errorf("chat.postMessage calls: got %d, want 1 (none after the context ended)", got)
	}
}

func TestPosterDoesNotResendOtherFailures(t *testing.T) {
	srv, p, waits := mustPoster(t)
	srv.Faults().Set("slack:chat.postMessage", fault.Rule{Err: &fault.Error{Code: "channel_not_found"}})
	if _, err := p.PostAlert(context.Background(), canaryIncident()); err == nil {
		t.Fatal("a refused alert reads as posted")
	}
	if got := srv.Faults().Calls("slack:chat.postMessage"); got != 1 || len(*waits) != 0 {
		t.Errorf("calls %d waits %v, want 1 call and no wait", got, *waits)
	}
}
