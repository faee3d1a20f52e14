package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// testLeases: a lease is one holder's until it expires (at its end exactly) or is
// released; its holder renews it; another takes it only when it is free.
func testLeases(t *testing.T, open Open) {
	clk := newClock(t0)
	replicas := open(t, 2, clk.Now)
	a, b := replicas[0], replicas[1]
	ctx := context.Background()
	acquire := func(s Backend, holder string) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx, "leader", holder, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	holder := func() (string, time.Time) {
		t.Helper()
		h, until, err := b.LeaseHolder(ctx, "leader")
		if err != nil {
			t.Fatal(err)
		}
		return h, until
	}
	if h, until := holder(); h != "" || !until.IsZero() {
		t.Fatalf("a lease never taken: held by %q until %v, want nobody", h, until)
	}
	if !acquire(a, "replica-a") {
		t.Fatal("replica-a could not take a free lease")
	}
	if h, until := holder(); h != "replica-a" || !until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("holder: got %q until %v, want replica-a until %v", h, until, t0.Add(time.Minute))
	}
	if acquire(b, "replica-b") {
		t.Fatal("replica-b took a lease replica-a holds")
	}

	clk.Add(50 * time.Second)
	if !acquire(a, "replica-a") {
		t.Fatal("replica-a could not renew its lease")
	}
	clk.Add(50 * time.Second) // past the first term, within the renewed one
	if acquire(b, "replica-b") {
		t.Fatal("replica-b took a renewed lease before it expired")
	}
	if h, until := holder(); h != "replica-a" || !until.Equal(t0.Add(110*time.Second)) {
		t.Fatalf("after renewal: got %q until %v, want replica-a until %v", h, until, t0.Add(110*time.Second))
	}
	clk.Add(9 * time.Second) // 1s before it runs out
	if h, _ := holder(); h != "replica-a" {
		t.Fatalf("1s before the lease runs out: held by %q, want replica-a", h)
	}
	if acquire(b, "replica-b") {
		t.Fatal("replica-b took the lease 1s before it ran out")
	}

	clk.Add(time.Second) // replica-a stopped renewing: the lease runs out now
	if h, until := holder(); h != "" || !until.IsZero() {
		t.Fatalf("an expired lease is held by %q until %v, want nobody", h, until)
	}
	if !acquire(b, "replica-b") {
		t.Fatal("replica-b could not take an expired lease")
	}
	if acquire(a, "replica-a") {
		t.Fatal("replica-a took its lease back from replica-b")
	}

	if err := a.ReleaseLease(ctx, "leader", "replica-a"); err != nil {
		t.Fatal(err)
	}
	if h, _ := holder(); h != "replica-b" {
		t.Fatalf("replica-a released a lease it did not hold: holder %q, want replica-b", h)
	}
	if err := b.ReleaseLease(ctx, "leader", "replica-b"); err != nil {
		t.Fatal(err)
	}
	if h, _ := holder(); h != "" {
		t.Fatalf("a released lease is held by %q, want nobody", h)
	}
	if !acquire(a, "replica-a") {
		t.Fatal("replica-a could not take a released lease")
	}
	if ok, err := a.AcquireLease(ctx, "other", "replica-b", time.Minute); err != nil || !ok {
		t.Fatalf("a second lease name: got %v, %v; want true (leases are independent)", ok, err)
	}
	if _, err := a.AcquireLease(ctx, "leader", "replica-a", 0); err == nil || !strings.Contains(err.Error(), "positive ttl") {
		t.Fatalf("a zero ttl: got %v, want an error", err)
	}
	if _, err := a.AcquireLease(ctx, "leader", "", time.Minute); err == nil || !strings.Contains(err.Error(), "need a holder") {
		t.Fatalf("no holder: got %v, want an error", err)
	}
}

// testPlans: a request's saved plan comes back byte for byte with the SHA-256 of what
// was read, on another replica too; saving again replaces it; deleting and purging
// forget it; an oversized plan is refused.
func testPlans(t *testing.T, open Open) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	replicas := open(t, 2, clock)
	s, other := replicas[0], replicas[1]
	ctx := context.Background()
	plan := []byte("PK\x03\x04 a zip holding tfplan, tfstate and tfconfig \x00\xff")
	if err := s.SavePlan(ctx, "REQ-1", plan); err != nil {
		t.Fatal(err)
	}
	got, sum, err := other.Plan(ctx, "REQ-1")
	if err != nil || string(got) != string(plan) || sum != sha256Hex(plan) {
		t.Fatalf("got %q %s %v, want the plan byte for byte and its SHA-256 %s", got, sum, err, sha256Hex(plan))
	}
	newer := append(plan, '!')
	if err := s.SavePlan(ctx, "REQ-1", newer); err != nil {
		t.Fatal(err)
	}
	if got, sum, _ := s.Plan(ctx, "REQ-1"); string(got) != string(newer) || sum != sha256Hex(newer) {
		t.Errorf("after saving again: got %q, want the newer plan", got)
	}
	if _, _, err := s.Plan(ctx, "REQ-none"); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("a plan never saved: got %v, want ErrNotFound", err)
	}
	if err := s.DeletePlan(ctx, "REQ-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePlan(ctx, "REQ-1"); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if _, _, err := s.Plan(ctx, "REQ-1"); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("after delete: got %v, want ErrNotFound", err)
	}
	if err := s.SavePlan(ctx, "REQ-2", plan); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgePlans(ctx, at); err != nil || n != 0 {
		t.Errorf("purging plans older than their save: got %d, %v; want 0", n, err)
	}
	if n, err := s.PurgePlans(ctx, at.Add(time.Millisecond)); err != nil || n != 1 {
		t.Errorf("purging plans saved before now: got %d, %v; want 1", n, err)
	}
	if _, _, err := s.Plan(ctx, "REQ-2"); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("a purged plan: got %v, want ErrNotFound", err)
	}
	// Over the limit by a byte. (A plan of the limit's size itself is not saved here:
	// 64 MiB takes tens of seconds through SQL.)
	if err := s.SavePlan(ctx, "REQ-3", make([]byte, recovery.MaxPlanBytes+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("a plan 1 byte over the limit: got %v, want it refused", err)
	}
	if _, _, err := s.Plan(ctx, "REQ-3"); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("the oversized plan: got %v, want ErrNotFound (not saved)", err)
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// testClaimIsWonOnceUnderConcurrency: of many goroutines claiming one key on one
// store, one wins. (testExactlyOnceAcrossReplicas races replicas.)
func testClaimIsWonOnceUnderConcurrency(t *testing.T, open Open) {
	s := one(t, open, nil)
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			ok, err := s.Claim(context.Background(), "envelope:E1")
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("got %d winners, want 1", wins)
	}
}

// testPurgeClaims: claims older than the cut are forgotten (and can be claimed again),
// newer ones kept; an unclaimed key can be claimed again.
func testPurgeClaims(t *testing.T, open Open) {
	clk := newClock(t0)
	s := one(t, open, clk.Now)
	ctx := context.Background()
	claim := func(key string) bool {
		t.Helper()
		ok, err := s.Claim(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("old") {
		t.Fatal("a new key could not be claimed")
	}
	clk.Add(2 * time.Hour)
	if !claim("new") {
		t.Fatal("a new key could not be claimed")
	}
	if n, err := s.PurgeClaims(ctx, t0); err != nil || n != 0 {
		t.Fatalf("purging claims made before the oldest: got %d, %v; want 0, nil", n, err)
	}
	n, err := s.PurgeClaims(ctx, clk.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purge: got %d, %v; want 1, nil", n, err)
	}
	if !claim("old") {
		t.Error("a purged key could not be claimed again")
	}
	if claim("new") {
		t.Error("a recent key was claimed twice")
	}
	if err := s.Unclaim(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if !claim("new") {
		t.Error("an unclaimed key could not be claimed again")
	}
}

// testClaimWorkLease: work is claimed once while its lease runs (to its end exactly),
// again once it ran out or was released, never once done; done work is purged.
func testClaimWorkLease(t *testing.T, open Open) {
	clk := newClock(t0)
	s := one(t, open, clk.Now)
	ctx := context.Background()
	claim := func() bool {
		t.Helper()
		ok, err := s.ClaimWork(ctx, "signal:job:1", 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim() {
		t.Fatal("first claim refused")
	}
	if claim() {
		t.Fatal("claimed twice within the lease")
	}
	clk.Add(5*time.Minute - time.Second)
	if claim() {
		t.Fatal("claimed again 1s before the lease ran out")
	}
	clk.Add(time.Second)
	if claim() {
		t.Fatal("claimed again as the lease ends (it runs to its end)")
	}
	clk.Add(time.Second) // the first worker died: its lease ran out
	if !claim() {
		t.Fatal("an expired lease could not be claimed again 1s after it ran out")
	}
	if claim() {
		t.Fatal("the work claimed again was claimed twice within its new lease")
	}
	if err := s.ReleaseWork(ctx, "signal:job:1"); err != nil {
		t.Fatal(err)
	}
	if !claim() {
		t.Fatal("released work could not be claimed")
	}
	if err := s.CompleteWork(ctx, "signal:job:1"); err != nil {
		t.Fatal(err)
	}
	done := clk.Now()
	if err := s.ReleaseWork(ctx, "signal:job:1"); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	if claim() {
		t.Fatal("finished work was claimed again (after a release, an hour later)")
	}
	if ok, err := s.ClaimWork(ctx, "signal:job:2", 5*time.Minute); err != nil || !ok {
		t.Fatalf("other work: got %v, %v; want it claimed", ok, err)
	}
	if n, err := s.PurgeWork(ctx, done); err != nil || n != 0 {
		t.Fatalf("purging work finished before it was: got %d, %v; want 0", n, err)
	}
	if n, err := s.PurgeWork(ctx, clk.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("purge: got %d, %v; want 1 (the done work, not the claimed)", n, err)
	}
	if !claim() {
		t.Fatal("purged work could not be claimed again")
	}
	if ok, _ := s.ClaimWork(ctx, "signal:job:2", 5*time.Minute); ok {
		t.Fatal("claimed work was purged")
	}
}
