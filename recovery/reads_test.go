package recovery

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// readsOf shares c's reads for freshness on the clock now.
func readsOf(tb testing.TB, c *countingSources, freshness time.Duration, now func() time.Time) *SharedReads {
	tb.Helper()
	src := c.sources()
	r, err := NewSharedReads(ReadSources{Functions: src.Functions, Alarms: src.Alarms, Health: src.Health, Deploys: src.Deploys}, freshness, 5*time.Second, now)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

var readsProd = Environment{Name: "prod", Functions: []string{"prod-sentiment-dashboard"}}

// TestSharedReadsJoinTheReadInFlight: 20 asks of prod's functions while a read is in
// flight cost one call, and every asker gets its answer; dev's functions and prod's
// health are other reads.
func TestSharedReadsJoinTheReadInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &countingSources{hold: make(chan struct{})}
		r := readsOf(t, c, 5*time.Second, time.Now)
		var wg sync.WaitGroup
		got := make([][]FunctionStatus, 20)
		for i := range got {
			wg.Go(func() { got[i], _ = r.Functions(context.Background(), readsProd) })
		}
		wg.Go(func() {
			_, _ = r.Functions(context.Background(), Environment{Name: "dev", Functions: []string{"dev-a"}})
		})
		wg.Go(func() { _, _ = r.CheckHealth(context.Background(), readsProd) })
		synctest.Wait()
		close(c.hold)
		wg.Wait()
		if n := c.calls.Load(); n != 3 {
			t.Fatalf("calls: got %d, want 3 (prod's functions once, dev's, prod's health)", n)
		}
		for i, fns := range got {
			if len(fns) != 1 || fns[0].Name != "prod-sentiment-dashboard" {
				t.Fatalf("asker %d got %+v", i, fns)
			}
		}
	})
}

// TestSharedReadsKeepAReadForItsFreshness: a finished read answers for the freshness,
// then a new read is made; with a freshness of zero only reads in flight are shared.
func TestSharedReadsKeepAReadForItsFreshness(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := &countingSources{}
	r := readsOf(t, c, 5*time.Second, clock)
	ask := func() {
		if _, err := r.AlarmsFiring(context.Background(), readsProd); err != nil {
			t.Fatal(err)
		}
	}
	ask()
	now = now.Add(5*time.Second - time.Millisecond)
	ask()
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("calls within the freshness: got %d, want 1", n)
	}
	now = now.Add(time.Millisecond)
	ask()
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("calls once the freshness passed: got %d, want 2", n)
	}

	c0 := &countingSources{}
	r0 := readsOf(t, c0, 0, clock)
	for range 3 {
		if _, err := r0.LastSuccessfulDeploy(context.Background(), readsProd); err != nil {
			t.Fatal(err)
		}
	}
	if n := c0.calls.Load(); n != 3 {
		t.Fatalf("calls with freshness 0: got %d, want 3 (nothing kept)", n)
	}
}

// TestSharedReadsShareAFailureOnlyWithThoseWaiting: a failed read is every waiting
// asker's failure, and the next ask reads again.
func TestSharedReadsShareAFailureOnlyWithThoseWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &countingSources{hold: make(chan struct{}), alarmsE: errors.New("ThrottlingException: Rate exceeded")}
		r := readsOf(t, c, 5*time.Second, time.Now)
		errs := make([]error, 5)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = r.AlarmsFiring(context.Background(), readsProd) })
		}
		synctest.Wait()
		close(c.hold)
		wg.Wait()
		for i, err := range errs {
			if err == nil || err.Error() != "ThrottlingException: Rate exceeded" {
				t.Fatalf("asker %d: got %v, want the read's error", i, err)
			}
		}
		c.alarmsE = nil
		if _, err := r.AlarmsFiring(context.Background(), readsProd); err != nil {
			t.Fatalf("the ask after the failure: %v, want a new, good read", err)
		}
		if n := c.calls.Load(); n != 2 {
			t.Fatalf("calls: got %d, want 2 (the failed read, then a new one)", n)
		}
	})
}

// TestSharedReadsOutliveTheirFirstAsker: the asker that started a read leaving does
// not cut it short for those who joined it; the leaver gets its own context's error.
func TestSharedReadsOutliveTheirFirstAsker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &countingSources{hold: make(chan struct{})}
		r := readsOf(t, c, 5*time.Second, time.Now)
		first, leave := context.WithCancel(context.Background())
		var firstErr, joinedErr error
		var joined HealthResult
		var wg sync.WaitGroup
		wg.Go(func() { _, firstErr = r.CheckHealth(first, readsProd) })
		synctest.Wait()
		wg.Go(func() { joined, joinedErr = r.CheckHealth(context.Background(), readsProd) })
		synctest.Wait()
		leave()
		synctest.Wait()
		close(c.hold)
		wg.Wait()
		if joinedErr != nil || joined.StatusCode != 200 {
			t.Fatalf("the asker who joined: got %+v, %v; want the read's 200", joined, joinedErr)
		}
		if !errors.Is(firstErr, context.Canceled) {
			t.Fatalf("the first asker, gone: got %v, want context.Canceled", firstErr)
		}
		if n := c.calls.Load(); n != 1 {
			t.Fatalf("calls: got %d, want 1", n)
		}
	})
}

// TestSharedReadsOutliveTheirFirstAskersDeadline: an asker with 50 ms left starts a
// read that takes a second; one with time to spare joins it and gets the answer.
func TestSharedReadsOutliveTheirFirstAskersDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &countingSources{}
		c.functions = func(ctx context.Context, env Environment) ([]FunctionStatus, error) {
			select {
			case <-time.After(time.Second):
				return []FunctionStatus{{Name: env.Functions[0]}}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		r, err := NewSharedReads(ReadSources{Functions: c.fakeSources, Alarms: c.fakeSources, Health: c.fakeSources, Deploys: c.fakeSources}, 5*time.Second, 5*time.Second, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		hurried, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer stop()
		var wg sync.WaitGroup
		var hurriedErr, joinedErr error
		var joined []FunctionStatus
		wg.Go(func() { _, hurriedErr = r.Functions(hurried, readsProd) })
		synctest.Wait()
		wg.Go(func() { joined, joinedErr = r.Functions(context.Background(), readsProd) })
		wg.Wait()
		if !errors.Is(hurriedErr, context.DeadlineExceeded) {
			t.Errorf("the hurried asker: got %v, want its deadline", hurriedErr)
		}
		if joinedErr != nil || len(joined) != 1 {
			t.Fatalf("the asker who joined: got %v, %v; want the read's answer", joined, joinedErr)
		}
	})
}

// TestStatusAfterDiagnosticsSaysHowOldItsReadsAre: a /status asked 3 s after an
// alert's diagnostics read prod's functions, alarms and health reuses those reads (only
// the last good deploy is read anew) and says it was gathered 3 s ago.
func TestStatusAfterDiagnosticsSaysHowOldItsReadsAre(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := &countingSources{}
	r := readsOf(t, c, 5*time.Second, clock)
	// What an alert's diagnostics read.
	_, _ = r.Functions(context.Background(), readsProd)
	_, _ = r.AlarmsFiring(context.Background(), readsProd)
	_, _ = r.CheckHealth(context.Background(), readsProd)
	diagnosedAt := now
	now = now.Add(3 * time.Second)

	envs, err := NewEnvironments([]Environment{readsProd})
	if err != nil {
		t.Fatal(err)
	}
	f := c.fakeSources
	s, err := NewStatusService(envs, StatusSources{Functions: r, Alarms: r, Health: r, Deploys: r, Incidents: f, Jobs: f}, 5*time.Second, clock, WithFreshness(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Status(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	if n := c.calls.Load(); n != 4 {
		t.Fatalf("calls: got %d, want 4 (3 by the diagnostics, the last good deploy by /status)", n)
	}
	if !rep.GatheredAt.Equal(diagnosedAt) || rep.At.Sub(rep.GatheredAt) != 3*time.Second {
		t.Fatalf("report at %v gathered %v: want gathered at the diagnostics' reads, 3 s before", rep.At, rep.GatheredAt)
	}
	if len(rep.Functions.Value) != 1 || rep.Health.Value.StatusCode != 200 || rep.LastGood.Value == nil {
		t.Fatalf("report: %+v", rep)
	}
}

// TestStatusNeverServesDataOlderThanTheFreshness: a report built at t+4 s on reads made
// at t is not served again at t+8 s (its data would be 8 s old, the freshness 5 s).
func TestStatusNeverServesDataOlderThanTheFreshness(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := &countingSources{}
	r := readsOf(t, c, 5*time.Second, clock)
	_, _ = r.Functions(context.Background(), readsProd)
	_, _ = r.AlarmsFiring(context.Background(), readsProd)
	_, _ = r.CheckHealth(context.Background(), readsProd)
	_, _ = r.LastSuccessfulDeploy(context.Background(), readsProd)
	envs, err := NewEnvironments([]Environment{readsProd})
	if err != nil {
		t.Fatal(err)
	}
	f := c.fakeSources
	s, err := NewStatusService(envs, StatusSources{Functions: r, Alarms: r, Health: r, Deploys: r, Incidents: f, Jobs: f}, 5*time.Second, clock, WithFreshness(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(4 * time.Second)
	if _, err := s.Status(context.Background(), "prod"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(4 * time.Second)
	rep, err := s.Status(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	if age := rep.At.Sub(rep.GatheredAt); age >= 5*time.Second {
		t.Errorf("a /status 8 s after the reads answered with data %s old; want at most the freshness (5s)", age)
	}
}

// TestFreshReadsNeverReuseAFinishedRead: an alert's diagnostics (Fresh) read anew
// though a read of a second ago is kept, and a /status after them answers from what
// they read.
func TestFreshReadsNeverReuseAFinishedRead(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := &countingSources{}
	r := readsOf(t, c, 5*time.Second, clock)
	fresh := r.Fresh()
	if _, err := r.Functions(context.Background(), readsProd); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if _, err := fresh.Functions(context.Background(), readsProd); err != nil {
		t.Fatal(err)
	}
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("calls after a shared read and a fresh one a second later: got %d, want 2", n)
	}
	now = now.Add(time.Second)
	if _, err := r.Functions(context.Background(), readsProd); err != nil {
		t.Fatal(err)
	}
	if n := c.calls.Load(); n != 2 {
		t.Fatalf("a shared ask after the fresh read: got %d calls, want 2 (the fresh read reused)", n)
	}
}

// TestFreshReadsDoNotJoinAReadInFlight: a read in flight may have begun before the
// failure an alert reports: a fresh ask makes its own.
func TestFreshReadsDoNotJoinAReadInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &countingSources{hold: make(chan struct{})}
		r := readsOf(t, c, 5*time.Second, time.Now)
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = r.CheckHealth(context.Background(), readsProd) })
		synctest.Wait()
		wg.Go(func() { _, _ = r.Fresh().CheckHealth(context.Background(), readsProd) })
		synctest.Wait()
		if n := c.calls.Load(); n != 2 {
			t.Fatalf("calls with a fresh ask during a shared read: got %d, want 2", n)
		}
		close(c.hold)
		wg.Wait()
	})
}

func TestNewSharedReadsRequiresEverySource(t *testing.T) {
	f := fakeSources{}
	if _, err := NewSharedReads(ReadSources{Functions: f, Alarms: f, Health: f}, time.Second, time.Second, time.Now); err == nil {
		t.Fatal("no deploy history: got nil, want an error")
	}
	if _, err := NewSharedReads(ReadSources{Functions: f, Alarms: f, Health: f, Deploys: f}, time.Second, time.Second, nil); err == nil {
		t.Fatal("no clock: got nil, want an error")
	}
	if _, err := NewSharedReads(ReadSources{Functions: f, Alarms: f, Health: f, Deploys: f}, time.Second, 0, time.Now); err == nil {
		t.Fatal("no timeout: got nil, want an error")
	}
}

// TestSharedReadHasItsOwnTimeout: a source that never answers holds a shared read for
// the reads' timeout at most, even for an asker without a deadline; the next ask reads
// again.
func TestSharedReadHasItsOwnTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int64
		f := fakeSources{}
		f.functions = func(ctx context.Context, env Environment) ([]FunctionStatus, error) {
			calls.Add(1)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		r, err := NewSharedReads(ReadSources{Functions: f, Alarms: f, Health: f, Deploys: f}, 5*time.Second, 5*time.Second, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = r.Functions(context.Background(), readsProd)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Fatalf("a hanging read: %v after %s, want the deadline after 5s", err, time.Since(start))
		}
		_, _ = r.Functions(context.Background(), readsProd)
		if n := calls.Load(); n != 2 {
			t.Errorf("calls: %d, want 2 (a failed read is not kept)", n)
		}
	})
}
