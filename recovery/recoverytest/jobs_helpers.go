package recoverytest

import (
	"context"
	"sync"
	"testing"

	"github.com/medic-ops/medic/recovery"
)

// Gate holds the calls of a fake (a Terraform apply, a workflow dispatch …) until the
// test releases them, so a test sees a job in the middle of a step: a fake's Func
// calls Hold, the test waits for it with WaitHeld, looks, then calls Release. A held
// call whose context ends (a cancelled job, a drain) returns at once with the cause.
type Gate struct {
	mu      sync.Mutex
	held    int
	ended   []error
	changed chan struct{}
	release chan struct{}
	once    sync.Once
}

// NewGate returns a Gate holding every call until Release; tb's cleanup releases it
// (before the harness drains its jobs, when made after New).
func NewGate(tb testing.TB) *Gate {
	g := &Gate{release: make(chan struct{})}
	tb.Cleanup(g.Release)
	return g
}

// Hold blocks until Release or until ctx ends, and returns nil when released, else
// context.Cause(ctx).
func (g *Gate) Hold(ctx context.Context) error {
	g.bump(func() { g.held++ })
	var err error
	select {
	case <-g.release:
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	g.bump(func() { g.ended = append(g.ended, err) })
	return err
}

// Release lets the held calls, and every later one, go.
func (g *Gate) Release() { g.once.Do(func() { close(g.release) }) }

// WaitHeld waits (real time, WaitTimeout) until at least n calls were held.
func (g *Gate) WaitHeld(tb testing.TB, n int) {
	tb.Helper()
	var got int
	if !waitFor(WaitTimeout, g.wake, func() bool { got = g.count(); return got >= n }) {
		tb.Fatalf("gate: got %d calls held after %s, want at least %d", got, WaitTimeout, n)
	}
}

// WaitEnded waits (real time, WaitTimeout) until at least n held calls returned and
// returns what each returned, in order (nil: released; else why its context ended).
func (g *Gate) WaitEnded(tb testing.TB, n int) []error {
	tb.Helper()
	var got []error
	if !waitFor(WaitTimeout, g.wake, func() bool { got = g.Ended(); return len(got) >= n }) {
		tb.Fatalf("gate: got %d held calls returned after %s, want at least %d", len(got), WaitTimeout, n)
	}
	return got
}

// Ended returns what the held calls that returned returned, in order.
func (g *Gate) Ended() []error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]error(nil), g.ended...)
}

func (g *Gate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

func (g *Gate) bump(change func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	change()
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}

func (g *Gate) wake() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed == nil {
		g.changed = make(chan struct{})
	}
	return g.changed
}

// FlakyJobs is a recovery.JobStore whose UpdateJob fails while Fail says so, as a
// store medic cannot reach, or for the next calls FailNext scripts; the rest goes to
// the JobStore it wraps. Every UpdateJob
// is recorded ("UpdateJob", the job's ID, the error returned). Put it in the engine
// with WithDeps:
//
//	flaky := &recoverytest.FlakyJobs{}
//	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
//		flaky.JobStore = d.Actions.Jobs
//		d.Actions.Jobs = flaky
//	}))
type FlakyJobs struct {
	recovery.JobStore
	Recorder

	mu   sync.Mutex
	err  error
	next []error
	pass func(recovery.Job) bool
}

// Pass lets through, while Fail holds, the updates pass accepts (nil: none): a store
// that answers one replica's writes and not another's.
func (f *FlakyJobs) Pass(pass func(recovery.Job) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pass = pass
}

var _ recovery.JobStore = (*FlakyJobs)(nil)

// Fail makes UpdateJob return err from now on (ErrInjected when nil).
func (f *FlakyJobs) Fail(err error) {
	if err == nil {
		err = ErrInjected
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// FailNext makes the next n UpdateJob calls fail with err (ErrInjected when nil),
// after those scripted before; then UpdateJob answers as Fail and Heal said.
func (f *FlakyJobs) FailNext(n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.next = append(f.next, err)
	}
}

// Heal makes UpdateJob reach the store again (FailNext's calls still fail).
func (f *FlakyJobs) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = nil
}

// UpdateJob fails as Fail said, else updates the job in the wrapped store.
func (f *FlakyJobs) UpdateJob(ctx context.Context, j recovery.Job) (recovery.Job, error) {
	f.mu.Lock()
	err := f.err
	if err != nil && f.pass != nil && f.pass(j) {
		err = nil
	}
	if len(f.next) > 0 {
		err, f.next = f.next[0], f.next[1:]
	}
	f.mu.Unlock()
	id := j.ID
	if err != nil {
		j = recovery.Job{}
	} else {
		j, err = f.JobStore.UpdateJob(ctx, j)
	}
	f.record("UpdateJob", id, err)
	return j, err
}

// Failed returns how many UpdateJob calls failed so far.
func (f *FlakyJobs) Failed() int {
	n := 0
	for _, c := range f.CallsTo("UpdateJob") {
		if c.Args[1] != nil {
			n++
		}
	}
	return n
}
