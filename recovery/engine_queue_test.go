package recovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// startedJob is the signal of job id of run starting (a job of no stage): handled
// without any effect, for filling queues.
func startedJob(run *recovery.Run, id int64) recovery.Signal {
	return recovery.Signal{Kind: recovery.SignalJobStarted, Via: "webhook", Run: run,
		Job: &recovery.JobInfo{ID: id, RunID: run.ID, Attempt: 1, Name: "Lint", Status: "in_progress"}}
}

// Submit never waits: a source's queue holds QueueSize signals, and the next one is
// refused (false) for the pollers to report again; another worker's queue still takes
// signals.
func TestEngineSubmitRefusesWhenItsQueueIsFull(t *testing.T) {
	h := recoverytest.New(t)
	e := h.IdleEngine(t)
	run := h.FailedJob(recovery.JobDeployProd).Run
	for i := range recovery.QueueSize {
		if !e.Submit(startedJob(run, int64(i+1))) {
			t.Fatalf("submit %d of %d: refused, want queued", i+1, recovery.QueueSize)
		}
	}
	if e.Submit(startedJob(run, recovery.QueueSize+1)) {
		t.Fatalf("submit %d: queued, want refused (the queue holds %d)", recovery.QueueSize+1, recovery.QueueSize)
	}
	if e.Submit(h.FiringAlarm("prod", "prod-errors")) != true {
		// Another source may share the full worker; some other source does not.
		taken := false
		for id := int64(1); id <= 64 && !taken; id++ {
			taken = e.Submit(startedJob(&recovery.Run{ID: 7_000_000 + id, Event: "push", HeadRepository: recoverytest.Repo, HeadBranch: "main"}, id))
		}
		if !taken {
			t.Fatal("64 other sources: all refused, want another worker's queue to take one")
		}
	}
}

// Runs medic does not trust wait in a queue of their own, UntrustedQueueSize long:
// Submit takes the ones beyond it (true) and drops them, and the others are handled
// in order once the workers run.
func TestEngineUntrustedQueueDropsBeyondItsBound(t *testing.T) {
	h := recoverytest.New(t)
	e := h.IdleEngine(t)
	pr := h.FailedJob(recovery.JobTestsDev, recoverytest.FromPullRequest(3, "someone")).Run
	var keys []string
	for i := range recovery.UntrustedQueueSize + 1 {
		sig := startedJob(pr, int64(i+1))
		keys = append(keys, sig.Key())
		if !e.Submit(sig) {
			t.Fatalf("untrusted submit %d: refused, want taken", i+1)
		}
	}
	// A trusted source's signal still goes to its own worker.
	trusted := h.FailedJob(recovery.JobDeployProd)
	if !e.Submit(trusted) {
		t.Fatal("a trusted failure beside a full untrusted queue: refused, want queued")
	}
	recoverytest.RunEngine(t, t.Context(), e)
	last := keys[recovery.UntrustedQueueSize-1]
	h.WaitHandled(t, last, 1)
	h.WaitHandled(t, trusted.Key(), 1)
	marker := startedJob(pr, 99_999)
	if !e.Submit(marker) {
		t.Fatal("the marker: refused")
	}
	h.WaitHandled(t, marker.Key(), 1) // after every signal queued before it
	for i, k := range keys[:recovery.UntrustedQueueSize] {
		if got := h.Handled(k); got != 1 {
			t.Fatalf("untrusted signal %d: handled %d times, want 1", i+1, got)
		}
	}
	if got := h.Handled(keys[recovery.UntrustedQueueSize]); got != 0 {
		t.Fatalf("the untrusted signal beyond the queue's %d: handled %d times, want 0 (dropped)", recovery.UntrustedQueueSize, got)
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts: got %d, want 1 (the trusted failure)", got)
	}
}

// orderedClaims records when each signal's handling started (its claim) and ended.
type orderedClaims struct {
	recovery.WorkClaimer
	mu     sync.Mutex
	events []string
}

func (c *orderedClaims) add(ev string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

func (c *orderedClaims) ClaimWork(ctx context.Context, key string, lease time.Duration) (bool, error) {
	c.add("claim " + key)
	return c.WorkClaimer.ClaimWork(ctx, key, lease)
}

func (c *orderedClaims) CompleteWork(ctx context.Context, key string) error {
	err := c.WorkClaimer.CompleteWork(ctx, key)
	c.add("done " + key)
	return err
}

func (c *orderedClaims) index(ev string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.events {
		if x == ev {
			return i
		}
	}
	return -1
}

// The signals of one source are handled in order, one after the other: a run's
// failure, its rollback starting, its rollback succeeding, queued together, make the
// thread in that order, each begun after the one before was done.
func TestEngineHandlesOneSourceInOrder(t *testing.T) {
	h := recoverytest.New(t)
	claims := &orderedClaims{}
	e := h.IdleEngine(t, func(d *recovery.EngineDeps) {
		claims.WorkClaimer = d.Claims
		d.Claims = claims
	})
	failed := h.FailedJob(recovery.JobDeployProd)
	started := h.JobOf(*failed.Run, recovery.JobRollback, "")
	succeeded := h.JobOf(*failed.Run, recovery.JobRollback, "success")
	sigs := []recovery.Signal{failed, started, succeeded}
	for i, sig := range sigs {
		if !e.Submit(sig) {
			t.Fatalf("submit %s: refused", sig.Key())
		}
		// Other sources between them, for the other workers.
		if !e.Submit(h.FiringAlarm("preprod", fmt.Sprintf("preprod-alarm-%d", i))) {
			t.Fatal("submit an alarm: refused")
		}
	}
	recoverytest.RunEngine(t, t.Context(), e)
	h.WaitHandled(t, succeeded.Key(), 1)
	for i := 1; i < len(sigs); i++ {
		done, next := claims.index("done "+sigs[i-1].Key()), claims.index("claim "+sigs[i].Key())
		if done < 0 || next < done {
			t.Fatalf("%s claimed at %d, %s done at %d: want each signal of a source begun after the one before was done; events %v",
				sigs[i].Key(), next, sigs[i-1].Key(), done, claims.events)
		}
	}
	in := mustOpen(t, h, failed)
	var got []string
	for _, s := range h.Publisher.Texts(in.ID) {
		for _, what := range []string{"Automatic rollback started", "Automatic rollback succeeded"} {
			if strings.Contains(s, what) {
				got = append(got, what)
			}
		}
	}
	if want := []string{"Automatic rollback started", "Automatic rollback succeeded"}; !slices.Equal(got, want) {
		t.Fatalf("rollback notes: got %q, want %q", got, want)
	}
}

// blockingCommits makes GitHub's commit check wait for release, then answer as a
// client honouring its context does: an error when ctx ended meanwhile.
func blockingCommits(h *recoverytest.Harness) (entered <-chan struct{}, release func()) {
	in, out := make(chan struct{}), make(chan struct{})
	enter := sync.OnceFunc(func() { close(in) })
	h.GitHub.CommitOnBranchFunc = func(ctx context.Context, sha, branch string) (recovery.CommitPlace, error) {
		enter()
		<-out
		if err := ctx.Err(); err != nil {
			return recovery.CommitPlace{}, err
		}
		return recovery.CommitPlace{SHA: sha, Reachable: true}, nil
	}
	return in, sync.OnceFunc(func() { close(out) })
}

// observed returns an option logging the engine into an observer, and the observer.
func observed() (recoverytest.Option, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Logger = zap.New(core) }), logs
}

// waitLog waits (real time, with a deadline) for a log entry saying msg.
func waitLog(tb testing.TB, logs *observer.ObservedLogs, msg string) observer.LoggedEntry {
	tb.Helper()
	deadline := time.Now().Add(recoverytest.WaitTimeout)
	for {
		if got := logs.FilterMessage(msg).All(); len(got) > 0 {
			return got[0]
		}
		if time.Now().After(deadline) {
			for _, e := range logs.All() {
				tb.Logf("%s %v", e.Message, e.ContextMap())
			}
			tb.Fatalf("log: got no %q within %s", msg, recoverytest.WaitTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// Run stops when its context ends, finishing the signal in hand first: the failure
// it was handling is posted although medic is stopping.
func TestEngineRunStopsWithItsContextFinishingTheSignalInHand(t *testing.T) {
	opt, logs := observed()
	h := recoverytest.New(t, opt)
	e := h.IdleEngine(t)
	entered, release := blockingCommits(h)
	defer release()
	ctx, stop := context.WithCancel(t.Context())
	done := recoverytest.RunEngine(t, ctx, e)
	sig := h.FailedJob(recovery.JobDeployProd)
	if !e.Submit(sig) {
		t.Fatal("submit: refused")
	}
	recoverytest.WaitClosed(t, entered, "the signal's handling started")
	stop()
	release()
	recoverytest.WaitClosed(t, done, "Run returned after its context ended")
	if got := h.Handled(sig.Key()); got != 1 {
		t.Fatalf("the signal in hand: handled %d times, want 1", got)
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts: got %d, want 1 (the signal in hand finished)", got)
	}
	if got := logs.FilterMessage("handling signal failed; giving up on it").Len(); got != 0 {
		t.Fatalf("give-ups logged: got %d, want 0", got)
	}
}

// A signal in hand when medic stops is cut off when the shutdown's grace ends: Run
// returns then, whatever the signal was waiting on.
func TestEngineRunStopsTheSignalInHandWhenTheGraceEnds(t *testing.T) {
	h := recoverytest.New(t)
	e := h.IdleEngine(t)
	entered := make(chan struct{})
	enter := sync.OnceFunc(func() { close(entered) })
	h.GitHub.CommitOnBranchFunc = func(ctx context.Context, sha, branch string) (recovery.CommitPlace, error) {
		enter()
		<-ctx.Done() // GitHub never answers
		return recovery.CommitPlace{}, ctx.Err()
	}
	ctx, stop := context.WithCancel(t.Context())
	drain, endGrace := context.WithCancel(context.Background())
	defer endGrace()
	done := recoverytest.RunEngineWithin(t, ctx, drain, e)
	sig := h.FailedJob(recovery.JobDeployProd)
	if !e.Submit(sig) {
		t.Fatal("submit: refused")
	}
	recoverytest.WaitClosed(t, entered, "the signal's handling started")
	stop()
	select {
	case <-done:
		t.Fatal("Run returned while the grace lasted and the signal was in hand")
	case <-time.After(50 * time.Millisecond):
	}
	endGrace()
	recoverytest.WaitClosed(t, done, "Run returned once the grace ended")
	if got := len(h.Publisher.Alerts()); got != 0 {
		t.Fatalf("alerts: got %d, want 0 (the signal was cut off)", got)
	}
}

// A signal failing while medic stops is not queued again: it is given up, logged.
func TestEngineFailingSignalIsGivenUpWhenStopping(t *testing.T) {
	opt, logs := observed()
	h := recoverytest.New(t, opt)
	e := h.IdleEngine(t)
	entered, release := blockingCommits(h)
	defer release()
	ctx, stop := context.WithCancel(t.Context())
	done := recoverytest.RunEngine(t, ctx, e)
	sig := h.FailedJob(recovery.JobDeployProd)
	h.GitHub.CommitOnBranchFunc = func(next func(context.Context, string, string) (recovery.CommitPlace, error)) func(context.Context, string, string) (recovery.CommitPlace, error) {
		return func(ctx context.Context, sha, branch string) (recovery.CommitPlace, error) {
			_, _ = next(ctx, sha, branch)
			return recovery.CommitPlace{}, errors.New("github: 502")
		}
	}(h.GitHub.CommitOnBranchFunc)
	if !e.Submit(sig) {
		t.Fatal("submit: refused")
	}
	recoverytest.WaitClosed(t, entered, "the signal's handling started")
	stop()
	release()
	recoverytest.WaitClosed(t, done, "Run returned after its context ended")
	gaveUp := waitLog(t, logs, "handling signal failed; giving up on it")
	if got := gaveUp.ContextMap()["retries"]; got != int64(0) {
		t.Fatalf("give-up's retries: got %v, want 0", got)
	}
	if got := logs.FilterMessage("handling signal failed; trying again").Len(); got != 0 {
		t.Fatalf("retries scheduled while stopping: got %d, want 0", got)
	}
}

// githubDown makes GitHub's commit check fail while down holds.
func githubDown(h *recoverytest.Harness, down *atomic.Bool) {
	h.GitHub.CommitOnBranchFunc = func(_ context.Context, sha, _ string) (recovery.CommitPlace, error) {
		if down.Load() {
			return recovery.CommitPlace{}, errors.New("github: 502")
		}
		return recovery.CommitPlace{SHA: sha, Reachable: true}, nil
	}
}

// waitTimer waits until the clock holds one pending timer and checks it is due at at.
func waitTimer(tb testing.TB, h *recoverytest.Harness, at time.Time) {
	tb.Helper()
	if !h.Clock.WaitTimers(1, recoverytest.WaitTimeout) {
		tb.Fatalf("retry timer: none pending within %s, want one due at %v", recoverytest.WaitTimeout, at)
	}
	if got := h.Clock.Timers(); len(got) != 1 || !got[0].Equal(at) {
		tb.Fatalf("retry timers: got %v, want one due at %v", got, at)
	}
}

// A failed signal is released at once and queued again after 2 s, 4 s, 8 s, 16 s and
// 32 s of the clock (not a second before); after 5 retries it is given up, logged, and
// nothing more is tried.
func TestEngineFailedSignalBacksOffThenGivesUp(t *testing.T) {
	opt, logs := observed()
	h := recoverytest.New(t, opt)
	var down atomic.Bool
	down.Store(true)
	githubDown(h, &down)
	sig := h.FailedJob(recovery.JobDeployProd)
	key := sig.Key()
	h.Submit(t, sig)
	for i, wait := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second} {
		waitTimer(t, h, h.Clock.Now().Add(wait))
		h.Advance(wait - time.Second)
		if got, timers := h.Handled(key), len(h.Clock.Timers()); got != i+1 || timers != 1 {
			t.Fatalf("retry %d, 1 s before its time: got %d handlings and %d timers, want %d and 1 pending", i+1, got, timers, i+1)
		}
		h.Advance(time.Second)
		h.WaitHandled(t, key, i+2)
	}
	gaveUp := waitLog(t, logs, "handling signal failed; giving up on it")
	if got := gaveUp.ContextMap()["retries"]; got != int64(5) {
		t.Fatalf("give-up's retries: got %v, want 5", got)
	}
	if got := h.Clock.Timers(); len(got) != 0 {
		t.Fatalf("retry timers after giving up: got %v, want none", got)
	}
	var retries []string
	for _, e := range logs.FilterMessage("handling signal failed; trying again").All() {
		m := e.ContextMap()
		retries = append(retries, fmt.Sprintf("%v#%v", m["in"], m["retry"]))
	}
	if want := []string{"2s#1", "4s#2", "8s#3", "16s#4", "32s#5"}; !slices.Equal(retries, want) {
		t.Fatalf("retries logged: got %v, want %v", retries, want)
	}
	h.Advance(time.Hour)
	if got := h.Handled(key); got != 6 {
		t.Fatalf("handlings after giving up and an hour: got %d, want 6", got)
	}
	if got := len(h.Publisher.Posts()); got != 0 {
		t.Fatalf("posts: got %d, want 0", got)
	}
}

// GitHub back by the second retry: the retry opens the incident, one alert, and no
// retry is left pending.
func TestEngineFailedSignalRetriedUntilItWorks(t *testing.T) {
	h := recoverytest.New(t)
	var down atomic.Bool
	down.Store(true)
	githubDown(h, &down)
	sig := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, sig)
	waitTimer(t, h, h.Clock.Now().Add(2*time.Second))
	h.Advance(2 * time.Second)
	h.WaitHandled(t, sig.Key(), 2)
	waitTimer(t, h, h.Clock.Now().Add(4*time.Second))
	down.Store(false)
	h.Advance(4 * time.Second)
	h.WaitHandled(t, sig.Key(), 3)
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts: got %d, want 1", got)
	}
	if got := h.Clock.Timers(); len(got) != 0 {
		t.Fatalf("retry timers once handled: got %v, want none", got)
	}
	h.Advance(time.Hour)
	if got := h.Handled(sig.Key()); got != 3 {
		t.Fatalf("handlings: got %d, want 3", got)
	}
}

// A retry pending when medic stops is dropped with the engine: its timer is stopped.
func TestEngineRetryPendingIsDroppedWhenStopping(t *testing.T) {
	h := recoverytest.New(t)
	e := h.IdleEngine(t)
	var down atomic.Bool
	down.Store(true)
	githubDown(h, &down)
	ctx, stop := context.WithCancel(t.Context())
	done := recoverytest.RunEngine(t, ctx, e)
	sig := h.FailedJob(recovery.JobDeployProd)
	if !e.Submit(sig) {
		t.Fatal("submit: refused")
	}
	h.WaitHandled(t, sig.Key(), 1)
	waitTimer(t, h, h.Clock.Now().Add(2*time.Second))
	stop()
	recoverytest.WaitClosed(t, done, "Run returned after its context ended")
	deadline := time.Now().Add(recoverytest.WaitTimeout)
	for len(h.Clock.Timers()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("retry timers after stopping: got %v, want none", h.Clock.Timers())
		}
		time.Sleep(time.Millisecond)
	}
	down.Store(false)
	h.Advance(time.Minute)
	if got := h.Handled(sig.Key()); got != 1 {
		t.Fatalf("handlings after stopping and a minute: got %d, want 1", got)
	}
}

// Handle refuses a signal that names no subject (no key to act on it once).
func TestEngineHandleRefusesASignalWithoutItsSubject(t *testing.T) {
	h := recoverytest.New(t)
	for _, sig := range []recovery.Signal{
		{Kind: recovery.SignalJobCompleted, Via: "webhook"},
		{Kind: recovery.SignalRunCompleted, Via: "poll"},
		{Kind: recovery.SignalAlarmFiring, Via: "alarm-poll", Env: "prod"},
		{Kind: "deployment_status", Via: "webhook", Run: &recovery.Run{ID: 1}},
	} {
		err := h.Engine.Handle(t.Context(), sig)
		if want := fmt.Sprintf("signal %s without its subject", sig.Kind); err == nil || err.Error() != want {
			t.Fatalf("Handle(%s): got %v, want %q", sig.Kind, err, want)
		}
	}
}

// claimsFailing is a WorkClaimer whose calls fail.
type claimsFailing struct {
	recovery.WorkClaimer
	claim, complete error
}

func (c claimsFailing) ClaimWork(ctx context.Context, key string, lease time.Duration) (bool, error) {
	if c.claim != nil {
		return false, c.claim
	}
	return c.WorkClaimer.ClaimWork(ctx, key, lease)
}

func (c claimsFailing) CompleteWork(ctx context.Context, key string) error {
	if c.complete != nil {
		return c.complete
	}
	return c.WorkClaimer.CompleteWork(ctx, key)
}

// The claims' store failing: a signal that cannot be claimed is not acted on, and
// one whose completion is not recorded fails (to be retried), both saying so.
func TestEngineHandleFailsWhenClaimsFail(t *testing.T) {
	down := errors.New("store down")
	t.Run("claim", func(t *testing.T) {
		h := recoverytest.New(t)
		e := h.IdleEngine(t, func(d *recovery.EngineDeps) { d.Claims = claimsFailing{WorkClaimer: d.Claims, claim: down} })
		sig := h.FailedJob(recovery.JobDeployProd)
		err := e.Handle(t.Context(), sig)
		if !errors.Is(err, down) || !strings.HasPrefix(err.Error(), "claiming "+sig.Key()+": ") {
			t.Fatalf("Handle: got %v, want claiming %s: %v", err, sig.Key(), down)
		}
		if got := len(h.Publisher.Posts()); got != 0 {
			t.Fatalf("posts: got %d, want 0", got)
		}
	})
	t.Run("complete", func(t *testing.T) {
		h := recoverytest.New(t)
		e := h.IdleEngine(t, func(d *recovery.EngineDeps) { d.Claims = claimsFailing{WorkClaimer: d.Claims, complete: down} })
		sig := h.FailedJob(recovery.JobDeployProd)
		if err := e.Handle(t.Context(), sig); !errors.Is(err, down) {
			t.Fatalf("Handle: got %v, want %v", err, down)
		}
	})
}

// NewEngine refuses, at start-up, an engine missing what it needs, naming it.
func TestNewEngineRefusesWhatItCannotRunWith(t *testing.T) {
	h := recoverytest.New(t)
	pipeline := func(change func(*recovery.Pipeline)) func(*recovery.EngineDeps) {
		return func(d *recovery.EngineDeps) {
			p := *d.Pipeline
			change(&p)
			d.Pipeline = &p
		}
	}
	actions := func(change func(*recovery.ActionDeps)) func(*recovery.EngineDeps) {
		return func(d *recovery.EngineDeps) {
			a := *d.Actions
			change(&a)
			d.Actions = &a
		}
	}
	escalation := func(change func(*recovery.EscalationDeps)) func(*recovery.EngineDeps) {
		return func(d *recovery.EngineDeps) {
			x := *d.Escalation
			change(&x)
			d.Escalation = &x
		}
	}
	every := "engine: every dependency is required"
	tests := []struct {
		name   string
		change func(*recovery.EngineDeps)
		want   string
	}{
		{"no environments", func(d *recovery.EngineDeps) { d.Envs = nil }, every},
		{"no pipeline", func(d *recovery.EngineDeps) { d.Pipeline = nil }, every},
		{"no claims", func(d *recovery.EngineDeps) { d.Claims = nil }, every},
		{"no incidents", func(d *recovery.EngineDeps) { d.Incidents = nil }, every},
		{"no audit", func(d *recovery.EngineDeps) { d.Audit = nil }, every},
		{"no publisher", func(d *recovery.EngineDeps) { d.Publisher = nil }, every},
		{"no diagnoser", func(d *recovery.EngineDeps) { d.Diagnoser = nil }, every},
		{"no runs", func(d *recovery.EngineDeps) { d.Runs = nil }, every},
		{"no alarms", func(d *recovery.EngineDeps) { d.Alarms = nil }, every},
		{"no health", func(d *recovery.EngineDeps) { d.Health = nil }, every},
		{"no commits", func(d *recovery.EngineDeps) { d.Commits = nil }, every},
		{"a workflow of no environment", pipeline(func(p *recovery.Pipeline) {
			p.Workflows = map[string]string{"deploy-qa.yml": "qa"}
		}), `engine: workflow deploy-qa.yml: unknown environment "qa"`},
		{"no trusted repository", pipeline(func(p *recovery.Pipeline) { p.Trust.Repository = "" }), "engine: the pipeline's trust (repository, branches, events) is required"},
		{"no trusted branch", pipeline(func(p *recovery.Pipeline) { p.Trust.Branches = nil }), "engine: the pipeline's trust (repository, branches, events) is required"},
		{"no trusted event", pipeline(func(p *recovery.Pipeline) { p.Trust.Events = nil }), "engine: the pipeline's trust (repository, branches, events) is required"},
		{"untrusted runs in no environment", pipeline(func(p *recovery.Pipeline) { p.UntrustedEnv = "sandbox" }), `engine: untrusted runs' environment: unknown environment "sandbox"`},
		{"an action dependency missing", actions(func(a *recovery.ActionDeps) { a.Plans = nil }), "engine: every action dependency is required"},
		{"an action dependency missing (access)", actions(func(a *recovery.ActionDeps) { a.Access = nil }), "engine: every action dependency is required"},
		{"requests never expiring", actions(func(a *recovery.ActionDeps) { a.Policy.RequestTTL = 0 }), "engine: the request TTL must be positive"},
		{"escalation without its policy", escalation(func(x *recovery.EscalationDeps) { x.Policy = nil }), "engine: escalation needs its policy and page store"},
		{"escalation without its pages", escalation(func(x *recovery.EscalationDeps) { x.Pages = nil }), "engine: escalation needs its policy and page store"},
		{"an invalid escalation policy", escalation(func(x *recovery.EscalationDeps) {
			p := *x.Policy
			p.Interval = -time.Minute
			x.Policy = &p
		}), "engine: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := h.Deps
			tt.change(&d)
			e, err := recovery.NewEngine(d)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || e != nil {
				t.Fatalf("NewEngine: got %v, %v; want an error saying %q", e != nil, err, tt.want)
			}
		})
	}
	// A missing dependency is named, so the error says what to wire.
	for field, change := range map[string]func(*recovery.EngineDeps){
		"EngineDeps.Publisher":      func(d *recovery.EngineDeps) { d.Publisher = nil },
		"EngineDeps.Sources":        func(d *recovery.EngineDeps) { d.Sources = nil },
		"EngineDeps.History":        func(d *recovery.EngineDeps) { d.History = nil },
		"EngineDeps.Commits, Envs":  func(d *recovery.EngineDeps) { d.Envs, d.Commits = nil, nil },
		"ActionDeps.Plans":          actions(func(a *recovery.ActionDeps) { a.Plans = nil }),
		"ActionDeps.Views":          actions(func(a *recovery.ActionDeps) { a.Views = nil }),
		"ActionDeps.Expiry, Slots":  actions(func(a *recovery.ActionDeps) { a.Expiry, a.Slots = nil, nil }),
		"EscalationDeps.Due":        escalation(func(x *recovery.EscalationDeps) { x.Due = nil }),
		"ResolutionDeps.Checklists": func(d *recovery.EngineDeps) { r := *d.Resolution; r.Checklists = nil; d.Resolution = &r },
	} {
		d := h.Deps
		change(&d)
		if _, err := recovery.NewEngine(d); err == nil || !strings.HasSuffix(err.Error(), "; missing "+field) {
			t.Errorf("NewEngine without %s: got %v, want an error naming it", field, err)
		}
	}

	// What may be left out: a logger, a clock, the untrusted runs' environment, the
	// action, escalation and resolution parts.
	d := h.Deps
	d.Logger, d.Clock, d.Now, d.Actions, d.Escalation, d.Resolution = nil, nil, nil, nil, nil, nil
	p := *d.Pipeline
	p.UntrustedEnv = ""
	d.Pipeline = &p
	if _, err := recovery.NewEngine(d); err != nil {
		t.Fatalf("NewEngine with the optional parts left out: %v", err)
	}
}

// Left out, the action parts' defaults: a job's lease is 30 s, the process gets an
// instance name of its own, and the branch medic works on is main.
func TestNewEngineActionDefaults(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		a := *d.Actions
		a.JobLease, a.Instance, a.Branch = 0, "", ""
		d.Actions = &a
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	if !strings.HasPrefix(job.Owner, "MEDIC-") || !job.LeaseUntil.Equal(h.Clock.Now().Add(30*time.Second)) {
		t.Fatalf("job: got owner %q, lease until %v; want a MEDIC- instance, %v", job.Owner, job.LeaseUntil, h.Clock.Now().Add(30*time.Second))
	}
	h.WaitJob(t, job.ID)

	pre := h.FailJob(t, recovery.JobDeployPreprod)
	r, reply, err := h.Request(t, recovery.ActionRequest{IncidentID: pre.ID, Action: recovery.ActRevert, User: recoverytest.Requester,
		Params: recovery.RequestParams{SHA: recoverytest.BadSHA}})
	if err != nil || r.ID == "" {
		t.Fatalf("requesting a revert: %q, %v", reply, err)
	}
	r = h.WaitPreview(t, r.ID)
	if calls := h.GitHub.CallsTo("Commit"); len(calls) == 0 || calls[len(calls)-1].Args[1] != "main" {
		t.Fatalf("GitHub Commit calls: got %v, want the commit looked up on main", calls)
	}
}

// diedClaims is a WorkClaimer of a replica that dies after claiming its first signal:
// that claim is never completed nor released.
type diedClaims struct {
	recovery.WorkClaimer
	died atomic.Bool
}

func (c *diedClaims) ReleaseWork(ctx context.Context, key string) error {
	if c.died.CompareAndSwap(false, true) {
		return nil // gone before releasing it
	}
	return c.WorkClaimer.ReleaseWork(ctx, key)
}

// A replica dying with a signal claimed holds it for the work lease (5 minutes of the
// clock) and no longer: until then the fact is taken for being handled elsewhere,
// after it any replica takes it.
func TestEngineWorkLeaseOfADeadReplica(t *testing.T) {
	h := recoverytest.New(t)
	claims := &diedClaims{}
	e := h.IdleEngine(t, func(d *recovery.EngineDeps) {
		claims.WorkClaimer = d.Claims
		d.Claims = claims
	})
	var down atomic.Bool
	down.Store(true)
	githubDown(h, &down)
	sig := h.FailedJob(recovery.JobDeployProd)
	if err := e.Handle(t.Context(), sig); err == nil {
		t.Fatal("Handle while GitHub is down: got nil, want its error")
	}
	down.Store(false)

	h.Advance(5*time.Minute - time.Second)
	if err := e.Handle(t.Context(), sig); err != nil {
		t.Fatalf("Handle 1 s before the lease ends: %v", err)
	}
	if got := len(h.Publisher.Posts()); got != 0 {
		t.Fatalf("posts 1 s before the lease ends: got %d, want 0 (still claimed)", got)
	}
	h.Advance(2 * time.Second)
	if err := e.Handle(t.Context(), sig); err != nil {
		t.Fatalf("Handle 1 s after the lease ended: %v", err)
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts 1 s after the lease ended: got %d, want 1", got)
	}
}

// EngineDeps.Now tells the engine's time when given; left out, the clock's does.
func TestNewEngineTellsTimeByNowElseByItsClock(t *testing.T) {
	later := recoverytest.Start.Add(time.Hour)
	for _, tt := range []struct {
		name string
		now  func() time.Time
		want time.Time
	}{
		{"Now given", func() time.Time { return later }, later},
		{"Now left out", nil, recoverytest.Start},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t)
			e := h.IdleEngine(t, func(d *recovery.EngineDeps) { d.Now = tt.now })
			sig := h.FailedJob(recovery.JobDeployProd)
			if err := e.Handle(t.Context(), sig); err != nil {
				t.Fatal(err)
			}
			if got := mustOpen(t, h, sig).OpenedAt; !got.Equal(tt.want) {
				t.Fatalf("opened at: got %v, want %v", got, tt.want)
			}
		})
	}
}
