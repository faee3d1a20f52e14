package recovery

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countingSources counts the external calls (AWS, GitHub, health) behind reports, and
// holds each until release is closed when hold is set.
type countingSources struct {
	fakeSources
	calls   atomic.Int64
	hold    chan struct{}
	alarmsE error
}

func (c *countingSources) wait() {
	if c.hold != nil {
		<-c.hold
	}
}

func (c *countingSources) sources() StatusSources {
	f := c.fakeSources
	f.functions = func(ctx context.Context, env Environment) ([]FunctionStatus, error) {
		c.calls.Add(1)
		c.wait()
		return []FunctionStatus{{Name: env.Functions[0], State: "Active"}}, nil
	}
	f.alarms = func(ctx context.Context, env Environment) ([]Alarm, error) {
		c.calls.Add(1)
		c.wait()
		return nil, c.alarmsE
	}
	f.health = func(ctx context.Context, env Environment) (HealthResult, error) {
		c.calls.Add(1)
		c.wait()
		return HealthResult{StatusCode: 200}, nil
	}
	f.deploys = func(ctx context.Context, env Environment) (*Deploy, error) {
		c.calls.Add(1)
		c.wait()
		return &Deploy{SHA: "abc123"}, nil
	}
	return StatusSources{f, f, f, f, f, f}
}

func coalescingService(tb testing.TB, c *countingSources, freshness time.Duration, now func() time.Time) *StatusService {
	tb.Helper()
	envs, err := NewEnvironments([]Environment{{Name: "prod", Functions: []string{"prod-sentiment-dashboard"}}, {Name: "dev", Functions: []string{"dev-a"}}})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewStatusService(envs, c.sources(), 5*time.Second, now, WithFreshness(freshness))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestStatusCoalescesIdenticalAsks: 50 people asking /status prod while its read is in
// flight cost one read of each source (4 calls), and each gets the full report;
// another environment is read on its own.
func TestStatusCoalescesIdenticalAsks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &countingSources{hold: make(chan struct{})}
		s := coalescingService(t, c, 5*time.Second, time.Now)
		var wg sync.WaitGroup
		reports := make([]StatusReport, 50)
		for i := range reports {
			wg.Go(func() {
				r, err := s.Status(context.Background(), "prod")
				if err != nil {
					t.Error(err)
				}
				reports[i] = r
			})
		}
		synctest.Wait() // every ask is in: one reading, the rest waiting for it
		if got := c.calls.Load(); got != 4 {
			t.Fatalf("calls while 50 asks wait: got %d, want 4 (one read)", got)
		}
		close(c.hold)
		wg.Wait()
		for i, r := range reports {
			if !r.Functions.OK() || r.Functions.Value[0].Name != "prod-sentiment-dashboard" || r.LastGood.Value.SHA != "abc123" || !r.Health.OK() || r.Env != "prod" {
				t.Fatalf("report %d: got %+v, want the full report of prod", i, r)
			}
		}
		if _, err := s.Status(context.Background(), "dev"); err != nil {
			t.Fatal(err)
		}
		if got := c.calls.Load(); got != 8 {
			t.Fatalf("calls after dev's first ask: got %d, want 8 (dev read on its own)", got)
		}
	})
}

// TestStatusFromTheCoalescedReadSaysHowOld: within the freshness an ask gets the read
// again, saying when it was gathered; past it, a new read.
func TestStatusFromTheCoalescedReadSaysHowOld(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := &countingSources{}
	s := coalescingService(t, c, 5*time.Second, clock)
	first, _ := s.Status(context.Background(), "prod")
	now = now.Add(3 * time.Second)
	again, _ := s.Status(context.Background(), "prod")
	if got := c.calls.Load(); got != 4 {
		t.Fatalf("calls after an ask 3 s later: got %d, want 4 (the first read)", got)
	}
	if !first.GatheredAt.Equal(first.At) || !again.GatheredAt.Equal(first.At) || again.At.Sub(again.GatheredAt) != 3*time.Second {
		t.Fatalf("ages: first gathered %v at %v, again gathered %v at %v; want both gathered at the first ask, 3 s old the second time",
			first.GatheredAt, first.At, again.GatheredAt, again.At)
	}
	now = now.Add(2 * time.Second) // the freshness (5 s) has passed
	late, _ := s.Status(context.Background(), "prod")
	if got := c.calls.Load(); got != 8 || !late.GatheredAt.Equal(now) {
		t.Fatalf("an ask 5 s after the read: got %d calls, gathered %v; want a new read (8 calls) gathered now", got, late.GatheredAt)
	}
}

// TestStatusFailingSectionOfACoalescedReadGoesToEveryAsker: a source failing in the
// shared read is every asker's problem, said the same way, and the other sections
// are there for all.
func TestStatusFailingSectionOfACoalescedReadGoesToEveryAsker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &countingSources{hold: make(chan struct{}), alarmsE: summarized{"CloudWatch: Throttling on DescribeAlarms"}}
		s := coalescingService(t, c, 5*time.Second, time.Now)
		var wg sync.WaitGroup
		reports := make([]StatusReport, 10)
		for i := range reports {
			wg.Go(func() { reports[i], _ = s.Status(context.Background(), "prod") })
		}
		synctest.Wait()
		close(c.hold)
		wg.Wait()
		for i, r := range reports {
			if r.Alarms.Problem != "CloudWatch: Throttling on DescribeAlarms" || !r.Functions.OK() || !r.Health.OK() {
				t.Fatalf("report %d: alarms %q, functions ok %v, health ok %v; want the throttling said, the rest there", i, r.Alarms.Problem, r.Functions.OK(), r.Health.OK())
			}
		}
		if got := c.calls.Load(); got != 4 {
			t.Fatalf("calls: got %d, want 4", got)
		}
	})
}

// TestStatusAskerLeavingDoesNotCutTheSharedRead: the asker whose ask started the read
// leaving (its context cancelled) does not fail the read for the others.
func TestStatusAskerLeavingDoesNotCutTheSharedRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &countingSources{hold: make(chan struct{})}
		s := coalescingService(t, c, 0, time.Now)
		ctx, leave := context.WithCancel(context.Background())
		var first, second StatusReport
		var wg sync.WaitGroup
		wg.Go(func() { first, _ = s.Status(ctx, "prod") })
		synctest.Wait()
		wg.Go(func() { second, _ = s.Status(context.Background(), "prod") })
		synctest.Wait()
		leave()
		synctest.Wait()
		close(c.hold)
		wg.Wait()
		if !second.Functions.OK() || !second.Health.OK() {
			t.Fatalf("the other asker's report: got %+v, want it whole", second)
		}
		if got := c.calls.Load(); got != 4 {
			t.Fatalf("calls: got %d, want 4 (one shared read)", got)
		}
		if first.Env != "prod" {
			t.Fatalf("the leaving asker's report: got %+v, want prod's", first)
		}
	})
}

// BenchmarkStatusCoalesced measures the AWS, GitHub and health calls behind N identical
// /status asks arriving at once (calls/ask), and the time per batch.
func BenchmarkStatusCoalesced(b *testing.B) {
	for _, n := range []int{1, 50, 500} {
		b.Run(itoaBench(n)+"-asks", func(b *testing.B) {
			c := &countingSources{}
			s := coalescingService(b, c, 5*time.Second, time.Now)
			var asks int64
			for b.Loop() {
				s.mu.Lock()
				clear(s.reads) // each batch arrives after the freshness
				s.mu.Unlock()
				var wg sync.WaitGroup
				for range n {
					wg.Go(func() { _, _ = s.Status(context.Background(), "prod") })
				}
				wg.Wait()
				asks += int64(n)
			}
			b.ReportMetric(float64(c.calls.Load())/float64(asks), "calls/ask")
			b.ReportMetric(float64(c.calls.Load())/float64(b.N), "calls/batch")
		})
	}
}

func itoaBench(n int) string {
	switch n {
	case 1:
		return "1"
	case 50:
		return "50"
	}
	return "500"
}
