package recovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// rateLimitedError is a failure carrying the wait a service asked for.
type rateLimitedError struct{ wait time.Duration }

func (e rateLimitedError) Error() string             { return fmt.Sprintf("rate limited, retry after %s", e.wait) }
func (e rateLimitedError) RetryAfter() time.Duration { return e.wait }

// fakeRuns answers RecentRuns with runs, or with the error next returns.
type fakeRuns struct {
	RunReader
	mu    sync.Mutex
	calls int
	runs  []Run
	next  func() error
}

func (f *fakeRuns) RecentRuns(_ context.Context, _ string, since time.Time) ([]Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.next != nil {
		if err := f.next(); err != nil {
			return nil, err
		}
	}
	var out []Run
	for _, r := range f.runs {
		if !r.CreatedAt.Before(since) {
			out = append(out, r)
		}
	}
	return out, nil
}

type memCursors struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (c *memCursors) Cursor(_ context.Context, name string) (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name], nil
}

func (c *memCursors) SetCursor(_ context.Context, name string, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[name] = t
	return nil
}

func TestRunPollerPausesForARateLimitAndCatchesUp(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	now := t0
	runs := &fakeRuns{}
	var submitted []Signal
	p := &RunPoller{
		Runs:     runs,
		Cursors:  &memCursors{m: map[string]time.Time{}},
		Pipeline: &Pipeline{Workflows: map[string]string{"deploy-prod.yml": "prod", "build-and-promote.yml": "preprod"}},
		Submit:   func(s Signal) bool { submitted = append(submitted, s); return true },
		Now:      func() time.Time { return now },
		Logger:   zaptest.NewLogger(t),
	}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A run fails while GitHub rate-limits medic for two minutes.
	runs.runs = []Run{{ID: 7, Status: "completed", Conclusion: "failure", CreatedAt: t0.Add(30 * time.Second)}}
	runs.next = func() error { return rateLimitedError{2 * time.Minute} }
	now = t0.Add(time.Minute)
	before := runs.calls
	var ra RetryAfterError
	if err := p.Poll(context.Background()); !errors.As(err, &ra) {
		t.Fatalf("rate-limited round: got %v, want the rate limit", err)
	}
	if got := runs.calls - before; got != 1 {
		t.Errorf("calls in the rate-limited round: got %d, want 1 (the round stops at the limit)", got)
	}
	// Rounds within the wait call nothing.
	for _, at := range []time.Duration{90 * time.Second, 2 * time.Minute, 179 * time.Second} {
		now = t0.Add(at)
		before := runs.calls
		if err := p.Poll(context.Background()); !errors.Is(err, ErrPollPaused) {
			t.Fatalf("round at +%s: got %v, want ErrPollPaused", at, err)
		}
		if runs.calls != before {
			t.Errorf("round at +%s called GitHub %d times during the pause, want 0", at, runs.calls-before)
		}
	}
	if len(submitted) != 0 {
		t.Fatalf("signals during the pause: %+v", submitted)
	}
	// After the wait, the next round reads both workflows and finds the run, once.
	runs.next = nil
	now = t0.Add(3*time.Minute + time.Second)
	before = runs.calls
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := runs.calls - before; got != 2 {
		t.Errorf("calls after the pause: got %d, want 2 (both workflows)", got)
	}
	ids := map[int64]int{}
	for _, s := range submitted {
		ids[s.Run.ID]++
	}
	if ids[7] == 0 {
		t.Errorf("the run that failed during the rate limit was missed: %+v", submitted)
	}
}
