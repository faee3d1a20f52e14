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

	"github.com/medic-ops/medic/recovery"
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

// TestPostgresRetriesWhenTheServerEndsTheSession ends the session of the store's
// connection in the middle of each kind of write (a trigger has the server terminate
// its own backend, once per table, as a restart would): every call must still succeed,
// on another connection, and its row be written once.
func TestPostgresRetriesWhenTheServerEndsTheSession(t *testing.T) {
	db := testDB{backend: "postgres", url: freshPostgres(t)}
	s := db.open(t, nil)
	ctx := context.Background()
	for _, table := range []string{"incidents", "requests", "jobs", "audit", "work", "pages", "leases"} {
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`
			CREATE SEQUENCE end_session_%[1]s;
			CREATE FUNCTION end_session_%[1]s() RETURNS trigger AS $$
			BEGIN
				IF nextval('end_session_%[1]s') = 1 THEN
					PERFORM pg_terminate_backend(pg_backend_pid());
					PERFORM pg_sleep(5); -- ended before this is over
				END IF;
				RETURN NEW;
			END $$ LANGUAGE plpgsql;
			CREATE TRIGGER end_session BEFORE INSERT OR UPDATE ON %[1]s FOR EACH ROW EXECUTE FUNCTION end_session_%[1]s();`, table)); err != nil {
			t.Fatal(err)
		}
	}
	ended := func(table string) {
		t.Helper()
		var n int64
		if err := s.db.QueryRowContext(ctx, `SELECT last_value FROM end_session_`+table).Scan(&n); err != nil || n < 2 {
			t.Errorf("%s: the session was not ended and retried (sequence at %d, %v)", table, n, err)
		}
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	in := mustCreateIncident(t, s, recovery.Incident{ID: "INC-1", OpenedAt: t0, Status: recovery.IncidentOpen})
	in.Title = "changed"
	if _, err := s.UpdateIncident(ctx, in); err != nil {
		t.Fatalf("updating an incident: %v", err)
	}
	ended("incidents")
	if got, _ := s.Incident(ctx, "INC-1"); got.Title != "changed" || got.Version != 2 {
		t.Errorf("incident after the retries: %+v, want version 2 titled changed", got)
	}

	r := recovery.Request{ID: "REQ-1", Env: "prod", State: recovery.RequestPending, DedupeKey: "k", RequestedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateRequest(ctx, r); err != nil {
		t.Fatalf("creating a request: %v", err)
	}
	ended("requests")
	j := recovery.Job{ID: "JOB-1", RequestID: "REQ-1", Env: "prod", State: recovery.JobPending, CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatalf("creating a job: %v", err)
	}
	ended("jobs")
	if err := s.AppendAudit(ctx, recovery.AuditEntry{At: t0, Actor: "U1", Action: "request.approved", IncidentID: "INC-1"}); err != nil {
		t.Fatalf("appending to the audit: %v", err)
	}
	ended("audit")
	if n := count(`SELECT count(*) FROM audit WHERE action = 'request.approved'`); n != 1 {
		t.Errorf("audit entries: got %d, want 1", n)
	}
	if ok, err := s.ClaimWork(ctx, "signal:1", time.Minute); err != nil || !ok {
		t.Fatalf("claiming work: %v, %v; want true", ok, err)
	}
	ended("work")
	if err := s.AddPage(ctx, recovery.Page{ID: "INC-1#1/slack", IncidentID: "INC-1", State: recovery.PagePending, CreatedAt: t0, NextAt: t0}); err != nil {
		t.Fatalf("adding a page: %v", err)
	}
	ended("pages")
	if ok, err := s.AcquireLease(ctx, "leader", "replica-a", time.Minute); err != nil || !ok {
		t.Fatalf("taking a lease: %v, %v; want true", ok, err)
	}
	ended("leases")
	for table, want := range map[string]int{"incidents": 1, "requests": 1, "jobs": 1, "work": 1, "pages": 1, "leases": 1} {
		if n := count(`SELECT count(*) FROM ` + table); n != want {
			t.Errorf("%s: got %d rows, want %d", table, n, want)
		}
	}
}
