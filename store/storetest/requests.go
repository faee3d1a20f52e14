package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// testRequests: one pending request per dedupe key; versioned updates (a second
// approval conflicts); once decided, the key is free again.
func testRequests(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	r := recovery.Request{ID: "REQ-1", Env: "prod", Action: recovery.ActRollback, State: recovery.RequestPending, DedupeKey: "k",
		RequestedAt: t0, ExpiresAt: t0.Add(15 * time.Minute), Params: recovery.RequestParams{SHA: "abc1234"}}
	if err := s.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	r2 := r
	r2.ID = "REQ-2"
	if err := s.CreateRequest(ctx, r2); !errors.Is(err, recovery.ErrDuplicate) {
		t.Fatalf("second pending request with the same key: got %v, want ErrDuplicate", err)
	}
	if _, err := s.Request(ctx, "REQ-2"); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("the refused request: got %v, want ErrNotFound (not stored)", err)
	}
	same := r
	same.DedupeKey = "other"
	if err := s.CreateRequest(ctx, same); !errors.Is(err, recovery.ErrDuplicate) {
		t.Fatalf("a second request with REQ-1's ID: got %v, want ErrDuplicate", err)
	}
	got, err := s.PendingRequest(ctx, "k")
	if err != nil || got.ID != "REQ-1" || got.Params.SHA != "abc1234" || got.Version != 1 || !got.ExpiresAt.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("pending: got %+v, %v; want REQ-1 at version 1 with its SHA and expiry", got, err)
	}
	if exp, _ := s.ExpiredRequests(ctx, t0.Add(16*time.Minute)); !slices.Equal(requestIDs(exp), []string{"REQ-1"}) {
		t.Fatalf("expired at t0+16m: got %v, want [REQ-1]", requestIDs(exp))
	}
	got.State, got.DecidedBy = recovery.RequestApproved, "U2"
	saved, err := s.UpdateRequest(ctx, got)
	if err != nil || saved.Version != 2 {
		t.Fatalf("approving: got version %d, %v; want 2", saved.Version, err)
	}
	if _, err := s.UpdateRequest(ctx, got); !errors.Is(err, recovery.ErrConflict) {
		t.Fatalf("double approval: got %v, want ErrConflict", err)
	}
	if read, err := s.Request(ctx, "REQ-1"); err != nil || read.State != recovery.RequestApproved || read.DecidedBy != "U2" || read.Version != 2 {
		t.Fatalf("REQ-1 after approval: got %s by %q at version %d, %v; want approved by U2 at version 2", read.State, read.DecidedBy, read.Version, err)
	}
	if _, err := s.PendingRequest(ctx, "k"); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("pending request once REQ-1 was approved: got %v, want ErrNotFound", err)
	}
	if exp, _ := s.ExpiredRequests(ctx, t0.Add(16*time.Minute)); len(exp) != 0 {
		t.Fatalf("expired once approved: got %v, want none (only pending requests expire)", requestIDs(exp))
	}
	if err := s.CreateRequest(ctx, r2); err != nil {
		t.Fatalf("a new request once the first is decided: %v", err)
	}
	if p, err := s.PendingRequest(ctx, "k"); err != nil || p.ID != "REQ-2" {
		t.Fatalf("pending request of k: got %q, %v; want REQ-2", p.ID, err)
	}
	decided := r
	decided.ID, decided.State = "REQ-3", recovery.RequestRejected
	if err := s.CreateRequest(ctx, decided); err != nil {
		t.Fatalf("a decided request with a pending one's key: got %v, want it stored (only pending keys are unique)", err)
	}
	decided.Version, decided.DecidedBy = 1, "U3"
	if _, err := s.UpdateRequest(ctx, decided); err != nil {
		t.Fatalf("updating a decided request while another with its key is pending: got %v, want it saved", err)
	}

	// One pending request per key holds for updates too: REQ-1 cannot be pending
	// again while REQ-2 is, and can once REQ-2 is decided.
	again := saved
	again.State = recovery.RequestPending
	if _, err := s.UpdateRequest(ctx, again); err == nil {
		t.Fatal("making REQ-1 pending again while REQ-2 is: got nil, want an error")
	}
	if p, err := s.PendingRequest(ctx, "k"); err != nil || p.ID != "REQ-2" {
		t.Fatalf("pending request of k after the refused update: got %q, %v; want REQ-2", p.ID, err)
	}
	if read, _ := s.Request(ctx, "REQ-1"); read.State != recovery.RequestApproved || read.Version != 2 {
		t.Fatalf("REQ-1 after the refused update: got %s at version %d, want approved at version 2", read.State, read.Version)
	}
	p2, err := s.Request(ctx, "REQ-2")
	if err != nil {
		t.Fatal(err)
	}
	p2.State = recovery.RequestExpired
	if _, err := s.UpdateRequest(ctx, p2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRequest(ctx, again); err != nil {
		t.Fatalf("making REQ-1 pending again once its key is free: got %v, want it saved", err)
	}
	if p, err := s.PendingRequest(ctx, "k"); err != nil || p.ID != "REQ-1" || p.Version != 3 {
		t.Fatalf("pending request of k: got %q at version %d, %v; want REQ-1 at version 3", p.ID, p.Version, err)
	}
}

// testExpiredRequestsAtTheBoundary: a pending request expires after its ExpiresAt, not
// at it; oldest first.
func testExpiredRequestsAtTheBoundary(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	ttl := 15 * time.Minute
	for i, id := range []string{"REQ-B", "REQ-A"} {
		if err := s.CreateRequest(ctx, recovery.Request{ID: id, Env: "prod", Action: recovery.ActRollback, State: recovery.RequestPending,
			DedupeKey: "rollback:" + id, RequestedAt: t0.Add(time.Duration(i) * time.Second), ExpiresAt: t0.Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	expired := func(at time.Time) []string {
		t.Helper()
		rs, err := s.ExpiredRequests(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		return requestIDs(rs)
	}
	if got := expired(t0.Add(ttl - time.Second)); len(got) != 0 {
		t.Fatalf("expired at TTL-1s: got %v, want none", got)
	}
	if got := expired(t0.Add(ttl)); len(got) != 0 {
		t.Fatalf("expired at TTL: got %v, want none (it expires after)", got)
	}
	if got, want := expired(t0.Add(ttl+time.Second)), []string{"REQ-B", "REQ-A"}; !slices.Equal(got, want) {
		t.Fatalf("expired at TTL+1s: got %v, want %v (oldest first)", got, want)
	}
}
