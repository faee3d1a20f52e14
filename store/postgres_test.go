package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Behaviour that only PostgreSQL has: a server that drops connections, and replicas
// migrating one database at the same time.

func TestPostgresRecoversWhenTheServerDropsConnections(t *testing.T) {
	db := testDB{backend: "postgres", url: freshPostgres(t)}
	s := db.open(t, nil)
	ctx := context.Background()
	// Several idle connections just used, as after a burst of work: taken twice, as
	// pgx checks a connection that has been idle for over a second before reusing it,
	// and a new one counts as idle forever.
	const n = 3
	for range 2 {
		conns := make([]*sql.Conn, n)
		for i := range conns {
			c, err := s.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			conns[i] = c
		}
		for _, c := range conns {
			c.Close()
		}
	}
	if st := s.db.Stats(); st.Idle != n || st.OpenConnections != n {
		t.Fatalf("connections: got %d open, %d idle; want %d, all idle", st.OpenConnections, st.Idle, n)
	}

	// The server ends them all, as a restart does.
	u, err := url.Parse(db.url)
	if err != nil {
		t.Fatal(err)
	}
	app := u.Query().Get("application_name")
	if _, err := pgAdmin.db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, app); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := pgAdmin.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections of the store still there after pg_terminate_backend", n)
		}
	}

	// The call that meets a dead connection may fail: the server may or may not have
	// run it. The ones after must not.
	_, first := s.Claim(ctx, "after-drop-0")
	t.Logf("first call after the drop: %v", first)
	for i := 1; i <= 3; i++ {
		if _, err := s.Claim(ctx, fmt.Sprintf("after-drop-%d", i)); err != nil {
			t.Fatalf("call %d after the server dropped the connections: %v", i+1, err)
		}
	}
}

func TestPostgresReplicasMigrateTogether(t *testing.T) {
	db := testDB{backend: "postgres", url: freshPostgres(t)}
	ctx := context.Background()
	const n = 6
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := Open(ctx, db.url, Options{})
			if err != nil {
				t.Errorf("replica %d opening an empty database with the others: %v", i, err)
				return
			}
			s.Close()
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	s := db.open(t, nil)
	var applied int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if want := countMigrations(t); applied != want {
		t.Fatalf("migrations recorded: got %d, want %d, each once", applied, want)
	}
}

func countMigrations(tb testing.TB) int {
	tb.Helper()
	files, err := migrations.ReadDir("migrations")
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".sql") {
			n++
		}
	}
	return n
}
