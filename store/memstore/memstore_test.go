package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/store/memstore"
	"github.com/medic-ops/medic/store/storetest"
)

// TestConformance holds the in-memory store to the suite the SQL store passes; its
// replicas share one Store, as the replicas of medic in one test would.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, n int, now func() time.Time) []storetest.Backend {
		s := memstore.New(now)
		replicas := make([]storetest.Backend, n)
		for i := range replicas {
			replicas[i] = s
		}
		return replicas
	})
}

// TestNewWithoutClockReadsTimeNow: New(nil) stamps with the wall clock.
func TestNewWithoutClockReadsTimeNow(t *testing.T) {
	s := memstore.New(nil)
	ctx := context.Background()
	before := time.Now().Truncate(time.Millisecond)
	if err := s.AppendAudit(ctx, recovery.AuditEntry{Actor: "U1", Action: "status.requested", IncidentID: "INC-1"}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	es, err := s.IncidentAudit(ctx, "INC-1")
	if err != nil || len(es) != 1 || es[0].At.Before(before) || es[0].At.After(after) {
		t.Fatalf("an entry appended without a time: got %+v, %v; want one stamped between %v and %v", es, err, before, after)
	}
}
