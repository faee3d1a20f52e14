package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

	// Each idle connection has the server's goodbye waiting on its socket: the store
	// sees it and checks the connection before using it, so even the first call after
	// the drop gets a live one. Where sockets cannot be peeked at, the call that meets a
	// dead connection may fail (the server may or may not have run it), and the ones
	// after must not.
	if _, err := s.Claim(ctx, "after-drop-0"); err != nil {
		if canPeek {
			t.Fatalf("first call after the server dropped the connections: %v", err)
		}
		t.Logf("first call after the drop: %v", err)
	}
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

// flakyConnector fails its first Connect calls with the errors given, then connects.
type flakyConnector struct {
	mu    sync.Mutex
	fails []error
	calls int
}

type nopConn struct{ driver.Conn }

func (f *flakyConnector) Connect(context.Context) (driver.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.fails) > 0 {
		err := f.fails[0]
		f.fails = f.fails[1:]
		return nil, err
	}
	return nopConn{}, nil
}

func (f *flakyConnector) Driver() driver.Driver { return nil }

func TestPatientConnectorWaitsOutARestart(t *testing.T) {
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		name      string
		fails     []error
		wantCalls int
		wantErr   bool
	}{
		{"refused, then starting up, then up", []error{dial(syscall.ECONNREFUSED), &pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is starting up"}}, 3, false},
		{"shutting down, reset, then up", []error{&pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is shutting down"}, fmt.Errorf("failed to receive message: %w", syscall.ECONNRESET)}, 3, false},
		{"bad password: at once", []error{&pgconn.PgError{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"}}, 1, true},
		{"no such database: at once", []error{&pgconn.PgError{Severity: "FATAL", Code: "3D000", Message: "database does not exist"}}, 1, true},
		{"unknown host: at once", []error{dial(&net.DNSError{Err: "no such host", Name: "pg.invalid", IsNotFound: true})}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &flakyConnector{fails: tt.fails}
			_, err := patientConnector{Connector: f, patience: 10 * time.Second}.Connect(context.Background())
			if (err != nil) != tt.wantErr || f.calls != tt.wantCalls {
				t.Errorf("got %d calls and error %v; want %d calls, error %v", f.calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}

	t.Run("gives up after its patience", func(t *testing.T) {
		f := &flakyConnector{}
		for range 100 {
			f.fails = append(f.fails, dial(syscall.ECONNREFUSED))
		}
		_, err := patientConnector{Connector: f, patience: 300 * time.Millisecond}.Connect(context.Background())
		if !errors.Is(err, syscall.ECONNREFUSED) || f.calls < 2 || f.calls > 10 {
			t.Errorf("got %d calls and error %v; want a few tries, then the refusal", f.calls, err)
		}
	})
	t.Run("stops with its context", func(t *testing.T) {
		f := &flakyConnector{}
		for range 100 {
			f.fails = append(f.fails, dial(syscall.ECONNREFUSED))
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := patientConnector{Connector: f, patience: time.Minute}.Connect(ctx)
		if err == nil || f.calls != 1 {
			t.Errorf("got %d calls and error %v; want one try and its error", f.calls, err)
		}
	})
}
