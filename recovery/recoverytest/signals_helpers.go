package recoverytest

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// WaitHandled waits (real time, WaitTimeout) until the engine finished handling the
// signal of key at least n times in all (Handled(key) >= n): for signals submitted to
// an engine of the test's own (IdleEngine) rather than through Submit. It fails tb
// saying how many it got when they were not.
func (h *Harness) WaitHandled(tb testing.TB, key string, n int) {
	tb.Helper()
	if !waitFor(WaitTimeout, h.claims.wake, func() bool { return h.Handled(key) >= n }) {
		tb.Fatalf("signal %s: handled %d times after %s, want at least %d", key, h.Handled(key), WaitTimeout, n)
	}
}

// IdleEngine builds another engine over the harness's dependencies (Deps, changed by
// change when given) whose workers do not run until the test calls Run: to fill its
// queues, or to watch it start and stop. It shares the harness's store, claims and
// fakes, so what it handles counts in Handled and shows in the Publisher. The test's
// cleanup drains it.
func (h *Harness) IdleEngine(tb testing.TB, change ...func(*recovery.EngineDeps)) *recovery.Engine {
	tb.Helper()
	d := h.Deps
	for _, c := range change {
		c(&d)
	}
	e, err := recovery.NewEngine(d)
	if err != nil {
		tb.Fatalf("recoverytest: idle engine: %v", err)
	}
	tb.Cleanup(func() { e.DrainJobs(Grace(WaitTimeout)) })
	return e
}

// RunEngine runs e's workers (Engine.Run) until ctx ends or the test's cleanup, and
// returns a channel closed when Run returned. Signals in hand finish without a grace.
func RunEngine(tb testing.TB, ctx context.Context, e *recovery.Engine) (done <-chan struct{}) {
	tb.Helper()
	return RunEngineWithin(tb, ctx, context.Background(), e)
}

// RunEngineWithin is RunEngine with drain as the shutdown's grace.
func RunEngineWithin(tb testing.TB, ctx, drain context.Context, e *recovery.Engine) (done <-chan struct{}) {
	tb.Helper()
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { defer close(stopped); e.Run(ctx, drain) }()
	tb.Cleanup(func() {
		cancel()
		<-stopped
	})
	return stopped
}

// WaitClosed waits (real time, WaitTimeout) until ch is closed, failing tb saying
// what it waited for when it is not.
func WaitClosed(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(WaitTimeout):
		tb.Fatalf("%s: not within %s", what, WaitTimeout)
	}
}

// FromPullRequest makes FailedJob's run a pull request's (event pull_request, from a
// branch other than main, number and author as given): a run medic does not trust.
func FromPullRequest(number int, author string) func(*recovery.Run, *recovery.JobInfo) {
	return func(r *recovery.Run, _ *recovery.JobInfo) {
		r.Event, r.HeadBranch, r.PullRequests, r.Actor = "pull_request", "feature/model-v3", []int{number}, author
	}
}

// settles numbers Settle's signals, so each is a fact of its own.
var settles atomic.Int64

// Settle waits (real time, WaitTimeout) until every worker of the harness's engine is
// done with the signals queued before it: it queues a signal that does nothing on each
// worker (each shard, found as Engine.Submit finds it: FNV-1a of the source modulo
// recovery.Workers, and the untrusted runs' queue) and waits for them, each worker
// taking its queue in order. Submit already waits for the worker of its signal's
// source, through a marker of that source; a SignalAlarmStuck has no marker, so a test
// asserting that a repeat of one did nothing calls Settle first.
func (h *Harness) Settle(tb testing.TB) {
	tb.Helper()
	var sigs []recovery.Signal
	covered := map[uint32]bool{}
	for id := int64(900_000_000); len(covered) < recovery.Workers; id++ {
		src := fmt.Sprintf("run:%d", id)
		f := fnv.New32a()
		f.Write([]byte(src))
		if shard := f.Sum32() % recovery.Workers; !covered[shard] {
			covered[shard] = true
			n := settles.Add(1)
			// A job of no run medic knows started: no trust check, no incident.
			sigs = append(sigs, recovery.Signal{Kind: recovery.SignalJobStarted, Via: "settle",
				Job: &recovery.JobInfo{ID: 900_000_000 + n, RunID: id, Attempt: 1, Name: "medic settle", Status: "in_progress"}})
		}
	}
	n := settles.Add(1)
	// A pull request's job started: the untrusted runs' queue, ignored.
	untrusted := recovery.Run{ID: 900_000_000 + n, Attempt: 1, Event: "pull_request", HeadRepository: Repo, HeadBranch: "settle"}
	sigs = append(sigs, recovery.Signal{Kind: recovery.SignalJobStarted, Via: "settle", Run: &untrusted,
		Job: &recovery.JobInfo{ID: 900_000_000 + n, RunID: untrusted.ID, Attempt: 1, Name: "medic settle", Status: "in_progress"}})
	for _, sig := range sigs {
		h.Submit(tb, sig)
	}
}
