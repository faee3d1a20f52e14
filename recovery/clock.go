package recovery

import (
	"context"
	"time"
)

// Clock tells the time and makes the tickers medic waits on: the job lease renewal,
// a verification's watch, the escalation and job-recovery rounds. Tests pass a fake
// that moves time (and fires the tickers) without sleeping.
type Clock interface {
	Now() time.Time
	// NewTicker returns a ticker firing every d (d > 0), like time.NewTicker: a tick
	// nobody received yet is not queued behind another.
	NewTicker(d time.Duration) Ticker
	// AfterFunc calls f in its own goroutine once d has passed, like time.AfterFunc;
	// the returned stop prevents the call if it has not happened yet and reports
	// whether it did prevent it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Ticker is what a Clock's NewTicker returns.
type Ticker interface {
	// C delivers the ticks.
	C() <-chan time.Time
	// Stop stops the ticks; it does not close C.
	Stop()
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker returns a time.Ticker.
func (SystemClock) NewTicker(d time.Duration) Ticker { return sysTicker{time.NewTicker(d)} }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

type sysTicker struct{ t *time.Ticker }

func (s sysTicker) C() <-chan time.Time { return s.t.C }
func (s sysTicker) Stop()               { s.t.Stop() }

// Rounds runs round now, then at every tick of a ticker of interval made by clock and
// whenever wake receives (nil: never), until ctx ends. Rounds at a tick run only while
// gate says so (nil: always); a woken round runs whatever gate says. A failing round
// is round's to report: the next tick tries again.
func Rounds(ctx context.Context, clock Clock, interval time.Duration, wake <-chan struct{}, gate func() bool, round func(context.Context)) {
	t := clock.NewTicker(interval)
	defer t.Stop()
	woken := false
	for {
		if gate == nil || woken || gate() {
			round(ctx)
			if ctx.Err() != nil {
				return
			}
		}
		woken = false
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-wake:
			woken = true
		}
	}
}

// Sleep waits d on clock, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, clock Clock, d time.Duration) error {
	done := make(chan struct{})
	stop := clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		stop()
		return ctx.Err()
	}
}
