// Package storetest is the conformance suite of medic's stores: what every
// implementation of the store interfaces package recovery declares must do, the SQL
// store (store.Store, on SQLite and PostgreSQL) and the in-memory one
// (store/memstore) alike. A fake that passes it may stand in for the real store in
// the fast tests of the rules that use one.
package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// Backend is what the suite tests: every store interface package recovery declares,
// and the housekeeping medic runs on its store (claims, finished work, old plans, the
// leader's lease).
type Backend interface {
	recovery.WorkClaimer
	recovery.IncidentStore
	recovery.SourceIndex
	recovery.IncidentLister
	recovery.Auditor
	recovery.AuditReader
	recovery.PageStore
	recovery.EscalationQueue
	recovery.RequestStore
	recovery.RequestExpiry
	recovery.JobStore
	recovery.EnvSlots
	recovery.JobReader
	recovery.CursorStore
	recovery.PlanStore
	Claims
	PlanPurger
	Leases
}

// Claims are the envelope claims and the finished work medic's housekeeping keeps.
type Claims interface {
	// Claim records key and reports whether this call was the first to claim it.
	Claim(ctx context.Context, key string) (bool, error)
	// Unclaim forgets a claim, so the key can be claimed again.
	Unclaim(ctx context.Context, key string) error
	// PurgeClaims forgets claims made before t and reports how many.
	PurgeClaims(ctx context.Context, before time.Time) (int64, error)
	// PurgeWork forgets work finished before t and reports how many.
	PurgeWork(ctx context.Context, before time.Time) (int64, error)
}

// PlanPurger forgets old saved plans.
type PlanPurger interface {
	// PurgePlans forgets plans saved before t and reports how many.
	PurgePlans(ctx context.Context, before time.Time) (int64, error)
}

// Leases are the named leases replicas hold (the leader's).
type Leases interface {
	// AcquireLease takes or renews the lease name for holder until ttl from now and
	// reports whether holder holds it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder holds it.
	ReleaseLease(ctx context.Context, name, holder string) error
	// LeaseHolder returns who holds the lease and until when, "" when nobody does.
	LeaseHolder(ctx context.Context, name string) (string, time.Time, error)
}

// Open returns n replicas of one new, empty store for t, all reading the clock now
// (time.Now when nil) and each ready to be used: what one replica writes, the others
// read. The store is removed when t ends. A store of the SQL kind gives each replica
// its own connections, as separate processes of medic would have; an in-memory store
// gives the same store n times.
type Open func(t *testing.T, n int, now func() time.Time) []Backend

// Run runs the whole suite, each test on a new store of open's.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		test func(t *testing.T, open Open)
	}{
		{"Pages", testPages},
		{"DueEscalations", testDueEscalations},
		{"RecentIncidents", testRecentIncidents},
		{"IncidentAudit", testIncidentAudit},
		{"AuditOrder", testAuditOrder},
		{"Leases", testLeases},
		{"Plans", testPlans},
		{"ClaimIsWonOnceUnderConcurrency", testClaimIsWonOnceUnderConcurrency},
		{"PurgeClaims", testPurgeClaims},
		{"OneOpenIncidentPerSource", testOneOpenIncidentPerSource},
		{"JobsAndEnvLocks", testJobsAndEnvLocks},
		{"StaleJobsAtTheLeaseBoundary", testStaleJobsAtTheLeaseBoundary},
		{"Requests", testRequests},
		{"ExpiredRequestsAtTheBoundary", testExpiredRequestsAtTheBoundary},
		{"ClaimWorkLease", testClaimWorkLease},
		{"UpdateIncidentVersionsAndSources", testUpdateIncidentVersionsAndSources},
		{"NotFound", testNotFound},
		{"Cursors", testCursors},
		{"TimesKeptToTheMillisecond", testTimesKeptToTheMillisecond},
		{"WritesAreRedacted", testWritesAreRedacted},
		{"ValuesAreCopies", testValuesAreCopies},
		{"CancelledContext", testCancelledContext},
		{"ExactlyOnceAcrossReplicas", testExactlyOnceAcrossReplicas},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open) })
	}
}

// t0 is the suite's start of time: a whole second, as a store keeps milliseconds.
var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

// one opens a single store.
func one(t *testing.T, open Open, now func() time.Time) Backend {
	t.Helper()
	bs := open(t, 1, now)
	if len(bs) != 1 {
		t.Fatalf("open(1): got %d stores, want 1", len(bs))
	}
	return bs[0]
}

// ids lists the IDs of pages or incidents, for messages that read "got [a b], want [b a]".
func ids[T any](xs []T, id func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func pageIDs(ps []recovery.Page) []string {
	return ids(ps, func(p recovery.Page) string { return p.ID })
}

func incidentIDs(ins []recovery.Incident) []string {
	return ids(ins, func(in recovery.Incident) string { return in.ID })
}

func jobIDs(js []recovery.Job) []string {
	return ids(js, func(j recovery.Job) string { return j.ID })
}

func requestIDs(rs []recovery.Request) []string {
	return ids(rs, func(r recovery.Request) string { return r.ID })
}

func actions(es []recovery.AuditEntry) []string {
	return ids(es, func(e recovery.AuditEntry) string { return e.Action })
}

// mustCreateIncident stores in (with a source, an environment and an update time of
// its own when it has none) and returns it as read back.
func mustCreateIncident(tb testing.TB, s Backend, in recovery.Incident) recovery.Incident {
	tb.Helper()
	if in.SourceKey == "" {
		in.SourceKey = "source:" + in.ID
	}
	if in.Env == "" {
		in.Env = "prod"
	}
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = in.OpenedAt
	}
	if err := s.CreateIncident(context.Background(), in); err != nil {
		tb.Fatalf("creating %s: %v", in.ID, err)
	}
	got, err := s.Incident(context.Background(), in.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// clock is a settable clock, safe for the concurrent use of several stores.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// race calls try on every store at the same moment, from a goroutine each, and returns
// the indexes of those for which it reported a win, in order. An error fails the test.
func race(t *testing.T, stores []Backend, try func(i int, s Backend) (bool, error)) []int {
	t.Helper()
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		mu    sync.Mutex
		won   []int
	)
	for i, s := range stores {
		wg.Go(func() {
			<-start
			ok, err := try(i, s)
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				return
			}
			if ok {
				mu.Lock()
				won = append(won, i)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(won)
	return won
}
