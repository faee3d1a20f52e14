package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
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

// On SQLite each query is prepared once and reused: a second claim adds no statement,
// a new query adds one, and past the bound queries still run, unprepared.
func TestSQLiteStatementsArePreparedOnce(t *testing.T) {
	s := openTempSQLite(t)
	ctx := context.Background()
	prepared := func() int {
		s.q.mu.Lock()
		defer s.q.mu.Unlock()
		return len(s.q.stmts)
	}
	for i := range 3 {
		if ok, err := s.Claim(ctx, fmt.Sprintf("envelope-%d", i)); err != nil || !ok {
			t.Fatalf("claim %d: %v %v", i, ok, err)
		}
	}
	if ok, err := s.Claim(ctx, "envelope-0"); err != nil || ok {
		t.Fatalf("a claim made twice: got %v %v, want false", ok, err)
	}
	if n := prepared(); n != 1 {
		t.Fatalf("statements after four claims: got %d, want 1", n)
	}
	if _, err := s.OpenIncidents(ctx, "prod"); err != nil {
		t.Fatal(err)
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
