package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/internal/secreturl"
	"github.com/medic-ops/medic/internal/testenv"
	"github.com/medic-ops/medic/store/storetest"
)

// The store's tests run once per backend, each on a fresh database of its own: the
// conformance suite every store passes (TestConformance), and the tests of what only
// the SQL store has. SQLite always; PostgreSQL on the server at
// MEDIC_TEST_POSTGRES_URL, where each test gets a schema of its own, dropped after.

// pgURLEnv names the PostgreSQL server the tests use; the role must be allowed to
// create schemas in its database.
const pgURLEnv = "MEDIC_TEST_POSTGRES_URL"

// backend is a database the suite runs against.
type backend struct {
	name string
	// ready skips tb, or fails it, when the backend cannot be had; nil when it always can.
	ready func(tb testing.TB)
	// fresh returns the URL of a new, empty database for tb, removed when tb ends.
	fresh func(tb testing.TB) string
}

var backends = []backend{
	{name: "sqlite", fresh: func(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "medic.db") }},
	{name: "postgres", ready: func(tb testing.TB) { postgresAdminURL(tb) }, fresh: freshPostgres},
}

// testDB is one test's database.
type testDB struct {
	backend string
	url     string
}

// each runs test on every backend, each time on a fresh database.
func each(t *testing.T, test func(t *testing.T, db testDB)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			test(t, testDB{backend: b.name, url: b.fresh(t)})
		})
	}
}

// TestConformance runs the stores' conformance suite (store/storetest) on every
// backend, each of its tests on a fresh database; its replicas are Stores opened on
// the same database, each with its own connections.
func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if b.ready != nil {
				b.ready(t)
			}
			storetest.Run(t, func(t *testing.T, n int, now func() time.Time) []storetest.Backend {
				db := testDB{backend: b.name, url: b.fresh(t)}
				var replicas []storetest.Backend
				for _, s := range db.replicas(t, n, now) {
					replicas = append(replicas, s)
				}
				return replicas
			})
		})
	}
}

// open opens a Store on db, closed when tb ends. Each call opens another pool of
// connections, as another replica of medic would; now is its clock (time.Now if nil).
func (db testDB) open(tb testing.TB, now func() time.Time) *Store {
	tb.Helper()
	s, err := Open(context.Background(), db.url, Options{Now: now})
	if err != nil {
		tb.Fatalf("opening %s: %v", db.backend, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// replicas opens n Stores on db, all reading the clock now, each with its own
// connections already made, ready to race.
func (db testDB) replicas(tb testing.TB, n int, now func() time.Time) []*Store {
	tb.Helper()
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = db.open(tb, now)
		if err := stores[i].Ping(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	return stores
}

// postgresAdminURL returns MEDIC_TEST_POSTGRES_URL. Without it, it skips tb, or fails
// it under CI=true.
func postgresAdminURL(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv(pgURLEnv)
	if admin == "" {
		const how = "`make unit` (and `make test`) start a throwaway server with scripts/pg.sh and set it; " +
			"by hand: eval \"$(scripts/pg.sh start)\", run the tests, then scripts/pg.sh stop"
		testenv.Missing(tb, fmt.Sprintf("PostgreSQL tests need %s: %s", pgURLEnv, how))
	}
	return admin
}

var pgAdmin struct {
	once sync.Once
	db   *sql.DB
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgAdmin.db != nil {
		pgAdmin.db.Close()
	}
	os.Exit(code)
}

// freshPostgres makes a schema for tb on the server at MEDIC_TEST_POSTGRES_URL and
// returns a URL whose connections use it (search_path) and are named after it
// (application_name). Without the variable it skips tb, or fails it under CI=true.
func freshPostgres(tb testing.TB) string {
	tb.Helper()
	admin := postgresAdminURL(tb)
	pgAdmin.once.Do(func() {
		pgAdmin.db, pgAdmin.err = sql.Open("pgx", admin)
	})
	if pgAdmin.err != nil {
		tb.Fatalf("%s: %v", pgURLEnv, pgAdmin.err)
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("%s must be a postgres:// URL", pgURLEnv)
	}
	schema := fmt.Sprintf("medic_test_%016x", rand.Uint64())
	ctx := context.Background()
	if _, err := pgAdmin.db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("creating schema %s on %s: %v", schema, secreturl.Redact(admin), err)
	}
	tb.Cleanup(func() {
		if _, err := pgAdmin.db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
