package recoverytest

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// WaitTimeout is how long (real time) the Wait helpers wait for what a goroutine of
// the engine is expected to do before they fail the test.
const WaitTimeout = 10 * time.Second

// Call is one call made on a fake: the method's name and its arguments (the context
// left out), in the order made.
type Call struct {
	Method string
	Args   []any
}

// String shows the call as Method[args].
func (c Call) String() string { return fmt.Sprintf("%s%v", c.Method, c.Args) }

// Recorder records the calls made on a fake. The fakes of this package embed one:
// fake.Calls(), fake.CallsTo("RerunFailedJobs"), fake.Count("Apply").
type Recorder struct {
	mu      sync.Mutex
	calls   []Call
	changed chan struct{}
}

// record appends a call and wakes WaitCalls.
func (r *Recorder) record(method string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Call{Method: method, Args: args})
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// Calls returns every call made so far, in order.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// CallsTo returns the calls of one method, in order.
func (r *Recorder) CallsTo(method string) []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Call
	for _, c := range r.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Count is how many calls of method were made.
func (r *Recorder) Count(method string) int { return len(r.CallsTo(method)) }

// WaitCalls waits (real time, WaitTimeout) until method was called at least n times
// and returns its calls; it fails tb when it was not.
func (r *Recorder) WaitCalls(tb testing.TB, method string, n int) []Call {
	tb.Helper()
	var got []Call
	if !waitFor(WaitTimeout, r.wake, func() bool { got = r.CallsTo(method); return len(got) >= n }) {
		tb.Fatalf("%s: got %d calls after %s, want at least %d; calls: %v", method, len(got), WaitTimeout, n, r.Calls())
	}
	return got
}

// wake returns a channel closed at the next call.
func (r *Recorder) wake() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

// orTimeout is d, or WaitTimeout when d is zero.
func orTimeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return WaitTimeout
}

// waitFor checks cond until it holds or timeout (real time) passes, waking whenever
// the channel wake returns is closed (and at least every 10 ms, for conditions that
// change without a wake-up). It reports whether cond held.
func waitFor(timeout time.Duration, wake func() <-chan struct{}, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var w <-chan struct{}
		if wake != nil {
			w = wake() // taken before cond, so a change after cond wakes us
		}
		if cond() {
			return true
		}
		select {
		case <-w:
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
}
