package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/internal/secreturl"
)

// The store's tests form one conformance suite: each runs once per backend, on a fresh
// database of its own. SQLite always; PostgreSQL on the server at
// MEDIC_TEST_POSTGRES_URL, where each test gets a schema of its own, dropped after.

// pgURLEnv names the PostgreSQL server the tests use; the role must be allowed to
// create schemas in its database.
const pgURLEnv = "MEDIC_TEST_POSTGRES_URL"

// backend is a database the suite runs against.
type backend struct {
	name string
	// fresh returns the URL of a new, empty database for tb, removed when tb ends.
	fresh func(tb testing.TB) string
}

var backends = []backend{
	{name: "sqlite", fresh: func(tb testing.TB) string { return "sqlite:" + filepath.Join(tb.TempDir(), "medic.db") }},
	{name: "postgres", fresh: freshPostgres},
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
func race(t *testing.T, stores []*Store, try func(i int, s *Store) (bool, error)) []int {
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
	admin := os.Getenv(pgURLEnv)
	if admin == "" {
		const how = "`make unit` (and `make test`) start a throwaway server with scripts/pg.sh and set it; " +
			"by hand: eval \"$(scripts/pg.sh start)\", run the tests, then scripts/pg.sh stop"
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			tb.Fatalf("%s is not set, and CI=true needs the PostgreSQL tests to run: %s", pgURLEnv, how)
		}
		tb.Skipf("PostgreSQL tests skipped: %s is not set. %s", pgURLEnv, how)
	}
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
