package recoverytest

import (
	"sort"
	"sync"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// Clock is a recovery.Clock whose time moves only when told. Its tickers fire as
// Advance passes their ticks, like time.Ticker: one pending tick at most.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
	timers  []*fakeTimer
	// changed is closed and replaced whenever a ticker is made or stopped.
	changed chan struct{}
}

var _ recovery.Clock = (*Clock)(nil)

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t, changed: make(chan struct{})} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTicker returns a ticker firing every d of the clock's time.
func (c *Clock) NewTicker(d time.Duration) recovery.Ticker {
	if d <= 0 {
		panic("recoverytest: non-positive interval for NewTicker")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{clock: c, every: d, next: c.now.Add(d), c: make(chan time.Time, 1)}
	c.tickers = append(c.tickers, t)
	c.signal()
	return t
}

// signal wakes WaitTickers; c.mu is held.
func (c *Clock) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the clock by d, firing each tick passed on the way in time order.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		// The earliest tick due on the way to end.
		var first *fakeTicker
		for _, t := range c.tickers {
			if !t.next.After(end) && (first == nil || t.next.Before(first.next)) {
				first = t
			}
		}
		// A timer due before it goes first.
		var timer *fakeTimer
		for _, t := range c.timers {
			if !t.at.After(end) && (timer == nil || t.at.Before(timer.at)) {
				timer = t
			}
		}
		if timer != nil && (first == nil || !first.next.Before(timer.at)) {
			if timer.at.After(c.now) {
				c.now = timer.at
			}
			c.removeTimer(timer)
			go timer.f()
			continue
		}
		if first == nil {
			break
		}
		if first.next.After(c.now) {
			c.now = first.next
		}
		select {
		case first.c <- c.now:
		default: // a tick nobody took yet: dropped, as time.Ticker does
		}
		first.next = first.next.Add(first.every)
	}
	c.now = end
	c.mu.Unlock()
}

// AfterFunc calls f in its own goroutine when Advance passes d from now.
func (c *Clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.signal()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.removeTimer(t)
	}
}

// Timers returns when the pending AfterFunc calls are due, earliest first.
func (c *Clock) Timers() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, t := range c.timers {
		out = append(out, t.at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// WaitTimers waits until at least n AfterFunc calls are pending or timeout passes
// (real time), and reports whether they are.
func (c *Clock) WaitTimers(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		got, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// removeTimer forgets t and reports whether it was pending; c.mu is held.
func (c *Clock) removeTimer(t *fakeTimer) bool {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			c.signal()
			return true
		}
	}
	return false
}

type fakeTimer struct {
	at time.Time
	f  func()
}

// Set moves the clock to t (forward only), firing the ticks passed.
func (c *Clock) Set(t time.Time) {
	if d := t.Sub(c.Now()); d > 0 {
		c.Advance(d)
	}
}

// Tickers returns the intervals of the running tickers, shortest first.
func (c *Clock) Tickers() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, t := range c.tickers {
		out = append(out, t.every)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// WaitTickers waits until at least n tickers run (a goroutine under test made its
// ticker, so an Advance will reach it) or timeout passes (real time), and reports
// whether they did.
func (c *Clock) WaitTickers(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		got, changed := len(c.tickers), c.changed
		c.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

type fakeTicker struct {
	clock *Clock
	every time.Duration
	next  time.Time
	c     chan time.Time
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }

func (t *fakeTicker) Stop() {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.tickers {
		if x == t {
			c.tickers = append(c.tickers[:i], c.tickers[i+1:]...)
			c.signal()
			return
		}
	}
}
