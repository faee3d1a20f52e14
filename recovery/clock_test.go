package recovery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// rounds runs recovery.Rounds in the background and reports each round on a channel.
type rounds struct {
	ran    chan time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

func startRounds(t *testing.T, clock *recoverytest.Clock, interval time.Duration, wake chan struct{}, gate func() bool) *rounds {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &rounds{ran: make(chan time.Time, 16), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		recovery.Rounds(ctx, clock, interval, wake, gate, func(context.Context) { r.ran <- clock.Now() })
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// next waits for the next round (real time, bounded) and returns when it ran.
func (r *rounds) next(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-r.ran:
		return at
	case <-time.After(5 * time.Second):
		t.Fatal("no round ran within 5s")
		return time.Time{}
	}
}

// none asserts no round is running or pending. Rounds made its ticker before the first
// round returned, and each round reports before Rounds waits again, so after the last
// expected round was received a further one would already be on its way only if a
// tick or wake were pending.
func (r *rounds) none(t *testing.T) {
	t.Helper()
	select {
	case at := <-r.ran:
		t.Fatalf("a round ran at %v, want none", at)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRoundsRunNowThenAtEachTick(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := recoverytest.NewClock(t0)
	r := startRounds(t, clock, 5*time.Second, nil, nil)
	if at := r.next(t); !at.Equal(t0) {
		t.Fatalf("first round at %v, want at once (%v)", at, t0)
	}
	if !clock.WaitTickers(1, 5*time.Second) {
		t.Fatal("Rounds made no ticker")
	}
	if got := clock.Tickers(); len(got) != 1 || got[0] != 5*time.Second {
		t.Fatalf("tickers: got %v, want [5s]", got)
	}
	clock.Advance(4 * time.Second)
	r.none(t)
	clock.Advance(time.Second)
	if at := r.next(t); !at.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("second round at %v, want %v", at, t0.Add(5*time.Second))
	}
	r.none(t)
}

func TestRoundsWokenRunWhateverTheGateSays(t *testing.T) {
	clock := recoverytest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	leading := false
	gate := func() bool { mu.Lock(); defer mu.Unlock(); return leading }
	wake := make(chan struct{}, 1)
	r := startRounds(t, clock, time.Minute, wake, gate)
	if !clock.WaitTickers(1, 5*time.Second) {
		t.Fatal("Rounds made no ticker")
	}
	// Not leading: neither the first round nor a tick runs one.
	clock.Advance(time.Minute)
	r.none(t)
	// A wake runs one anyway (an IMMEDIATE escalation is not left for the leader's tick).
	wake <- struct{}{}
	r.next(t)
	r.none(t)
	mu.Lock()
	leading = true
	mu.Unlock()
	clock.Advance(time.Minute)
	r.next(t)
}

func TestRoundsStopWithTheirContext(t *testing.T) {
	clock := recoverytest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	r := startRounds(t, clock, time.Second, nil, nil)
	r.next(t)
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Fatal("Rounds did not return after its context ended")
	}
	if !clock.WaitTickers(0, time.Second) || len(clock.Tickers()) != 0 {
		t.Fatalf("the ticker was not stopped: %v", clock.Tickers())
	}
}
