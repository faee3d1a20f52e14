package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func openTempSQLite(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "medic.db"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// On SQLite each query is prepared once and reused: a second read adds no statement,
// a new query adds one, and past the bound queries still run, unprepared.
func TestSQLiteStatementsArePreparedOnce(t *testing.T) {
	s := openTempSQLite(t)
	ctx := context.Background()
	prepared := func() int {
		s.q.mu.Lock()
		defer s.q.mu.Unlock()
		return len(s.q.stmts)
	}
	for range 3 {
		if _, err := s.OpenIncidents(ctx, "prod"); err != nil {
			t.Fatal(err)
		}
	}
	if n := prepared(); n != 1 {
		t.Fatalf("statements after three reads: got %d, want 1", n)
	}
	if _, err := s.Incident(ctx, "INC-NONE"); err == nil {
		t.Fatal("an incident never stored was found")
	}
	if n := prepared(); n != 2 {
		t.Fatalf("statements after another query: got %d, want 2", n)
	}
	for i := prepared(); i < maxCachedStmts+5; i++ {
		var got int
		if err := s.q.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&got); err != nil || got != i {
			t.Fatalf("query %d: got %d, %v", i, got, err)
		}
	}
	if n := prepared(); n != maxCachedStmts {
		t.Fatalf("statements kept: got %d, want the bound %d", n, maxCachedStmts)
	}
}

// BenchmarkSQLiteClaim measures an envelope's claim, the store write every Slack
// command and click makes before it is handled.
func BenchmarkSQLiteClaim(b *testing.B) {
	s := openTempSQLite(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := s.Claim(ctx, fmt.Sprintf("envelope-%d", i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestSQLiteClaimsAtOnceShareTransactions: 300 claims at once, each key asked three
// times, claim each key once, in fewer transactions than claims; a claim after Close
// is refused.
func TestSQLiteClaimsAtOnceShareTransactions(t *testing.T) {
	s := openTempSQLite(t)
	ctx := context.Background()
	var won [100]atomic.Int32
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			ok, err := s.Claim(ctx, fmt.Sprintf("envelope-%d", i%100))
			if err != nil {
				t.Error(err)
			}
			if ok {
				won[i%100].Add(1)
			}
		})
	}
	wg.Wait()
	for k := range won {
		if n := won[k].Load(); n != 1 {
			t.Fatalf("envelope-%d claimed %d times, want once", k, n)
		}
	}
	if n := s.claims.batches.Load(); n >= 300 {
		t.Fatalf("%d transactions for 300 claims at once: none was shared", n)
	}
	if ok, err := s.Claim(ctx, "envelope-7"); ok || err != nil {
		t.Fatalf("a key claimed before: got %v, %v; want false", ok, err)
	}
	s.Close()
	if _, err := s.Claim(ctx, "envelope-late"); !errors.Is(err, errStoreClosed) {
		t.Fatalf("a claim after Close: got %v, want errStoreClosed", err)
	}
}

// TestSQLiteClaimsOfAFailedBatchAreMadeOneByOne: when a batch's transaction fails, each
// of its claims is made on its own: none loses its protection against duplicates.
func TestSQLiteClaimsOfAFailedBatchAreMadeOneByOne(t *testing.T) {
	s := openTempSQLite(t)
	ctx := context.Background()
	s.claims.failTx = func() error { return errors.New("database is locked") }
	for _, want := range []bool{true, false} {
		ok, err := s.Claim(ctx, "envelope-1")
		if err != nil || ok != want {
			t.Fatalf("claim with its batch failing: got %v, %v; want %v", ok, err, want)
		}
	}
}

// BenchmarkSQLiteClaimCrowd measures 500 claims made at once (ns/op per crowd).
func BenchmarkSQLiteClaimCrowd(b *testing.B) {
	s := openTempSQLite(b)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		var wg sync.WaitGroup
		for range 500 {
			key := fmt.Sprintf("envelope-%d", n)
			n++
			wg.Go(func() {
				if _, err := s.Claim(ctx, key); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

// BenchmarkSQLiteOpenIncidents measures the store read each /status makes.
func BenchmarkSQLiteOpenIncidents(b *testing.B) {
	s := openTempSQLite(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.OpenIncidents(ctx, "prod"); err != nil {
			b.Fatal(err)
		}
	}
}

// A crowd of 16 at once leaves its connections open for the next: no connection is
// opened again (with its pragmas and statements) for each command.
func TestSQLiteKeepsTheCrowdsConnections(t *testing.T) {
	s := openTempSQLite(t)
	ctx := context.Background()
	for range 3 {
		var open []*sql.Rows
		for range sqliteIdleConns { // each held open at once: a connection each
			rows, err := s.q.QueryContext(ctx, `SELECT id FROM incidents WHERE env = $1`, "prod")
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, rows)
		}
		for _, rows := range open {
			rows.Close()
		}
	}
	if st := s.db.Stats(); st.MaxIdleClosed > 0 || st.OpenConnections != sqliteIdleConns {
		t.Fatalf("%d connections closed as surplus idle ones, %d open: want the crowd's %d kept", st.MaxIdleClosed, st.OpenConnections, sqliteIdleConns)
	}
}
