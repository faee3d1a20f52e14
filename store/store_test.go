package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/medic-ops/medic/internal/secreturl"
	"github.com/medic-ops/medic/recovery"
)

var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		if err := s.AppendAudit(ctx, recovery.AuditEntry{Actor: "U1", Action: "status.requested", Env: "prod"}); err != nil {
			t.Fatal(err)
		}
		applied := func(s *Store) int {
			t.Helper()
			var n int
			if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM goose_db_version`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := applied(s)
		s.Close()
		s2 := db.open(t, nil)
		got, err := s2.Audit(ctx, AuditFilter{Env: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Actor != "U1" {
			t.Fatalf("after reopen: got %+v, want the one entry", got)
		}
		if after := applied(s2); after != before {
			t.Fatalf("goose_db_version rows: got %d after reopening, want %d as before", after, before)
		}
	})
}

func TestOpenRefusesUnknownScheme(t *testing.T) {
	_, err := Open(context.Background(), "mysql://u:pw@h/db", Options{})
	if err == nil {
		t.Fatal("got nil, want an error")
	}
	if want := "pw"; containsWord(err.Error(), want) {
		t.Errorf("error %q shows the password", err)
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w && (i+len(w) == len(s) || s[i+len(w)] == '@') {
			return true
		}
	}
	return false
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"postgres://medic:s3cret@db:5432/medic", "postgres://medic:xxxxx@db:5432/medic"},
		{"postgresql://medic:s3cret@db/medic?sslmode=require", "postgresql://medic:xxxxx@db/medic?sslmode=require"},
		{"postgres://medic@db/medic?password=s3cret&sslpassword=s3cret", "postgres://medic@db/medic?password=xxxxx&sslpassword=xxxxx"},
		{"postgres://medic:s3%40cret@db/medic", "postgres://medic:xxxxx@db/medic"},
		{"postgres://medic:s3cret@db:s3cret/medic", "postgres://(hidden: not a valid URL)"}, // a ':' or '/' in the password
		{"postgres://medic:s3 cret@db/medic", "postgres://(hidden: not a valid URL)"},
		{"medic:s3cret@db/medic", "medic:xxxxx@db/medic"},
		{"postgres://medic@db/medic", "postgres://medic@db/medic"},
		{"sqlite:/var/lib/medic/medic.db", "sqlite:/var/lib/medic/medic.db"},
		{"sqlite::memory:", "sqlite::memory:"},
	} {
		got := secreturl.Redact(tc.in)
		if got != tc.want {
			t.Errorf("Redact(%q): got %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3") {
			t.Errorf("Redact(%q) = %q shows the password", tc.in, got)
		}
	}
}

func TestOpenPostgresErrorsHideThePassword(t *testing.T) {
	// Short: where nobody listens, opening keeps trying for as long as it may.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, u := range []string{
		"postgres://medic:s3cret@db:s3cret/medic",                     // does not parse
		"postgres://medic:s3cret@127.0.0.1:1/medic?connect_timeout=5", // nobody listens
	} {
		_, err := Open(ctx, u, Options{})
		if err == nil {
			t.Fatalf("Open(%s): got nil, want an error", secreturl.Redact(u))
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error %q shows the password", err)
		}
		t.Logf("Open(%s): %v", secreturl.Redact(u), err)
	}
}

// TestSQLiteFilesArePrivate: the database and its journal files are medic's only,
// whatever the umask.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "medic.db")
	s, err := Open(context.Background(), "sqlite:"+path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(f), mode)
		}
	}
}

// TestWritesAreRedacted: what reaches the store's rows (an incident's commit message
// and title, an audit reason) holds no credential. The conformance suite checks what
// reads back.
func TestWritesAreRedacted(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		const token, pass = "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hunter2-hunter2"
		in := recovery.Incident{ID: "inc-1", Env: "prod", Scenario: recovery.CanaryFail, Severity: recovery.SeverityCritical,
			Status: recovery.IncidentOpen, Title: "Canary failed " + token, SourceKey: "run:42", OpenedAt: t0, UpdatedAt: t0,
			CommitMessage: "fix config\n\nDB_PASSWORD=" + pass, JobName: "Deploy <prod>", SHA: "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6",
			AlarmName: "IAM access-key: older than 90 days"}
		if err := s.CreateIncident(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, recovery.AuditEntry{At: t0, Actor: "U1", Action: "incident.data_corruption", IncidentID: "inc-1",
			Detail: map[string]string{"reason": "see Bearer abcdefgh12345678"}}); err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, q := range []string{`SELECT data FROM incidents`, `SELECT title FROM incidents`, `SELECT detail FROM audit`} {
			var v string
			if err := s.db.QueryRowContext(ctx, q).Scan(&v); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, v)
		}
		for _, secret := range []string{token, pass, "abcdefgh12345678"} {
			for _, r := range rows {
				if strings.Contains(r, secret) {
					t.Errorf("stored row keeps %q: %s", secret, r)
				}
			}
		}
	})
}

// TestSoleSQLite: opened with Sole, a SQLite database is one process's: a second Sole
// open is refused with a message naming the store and what to do, until the first
// closes; an open without Sole (a tool reading the store) is not refused, and is not
// sole. sqlite::memory: and PostgreSQL are never sole.
func TestSoleSQLite(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "medic.db")
	first, err := Open(ctx, url, Options{Sole: true})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Sole() {
		t.Fatal("the first Sole open is not sole")
	}
	_, err = Open(ctx, url, Options{Sole: true})
	if err == nil || !strings.Contains(err.Error(), "another medic process uses the store "+url) || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("a second Sole open: got %v, want it refused, naming the store", err)
	}
	reader, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatalf("an open without Sole beside the sole one: %v", err)
	}
	if reader.Sole() {
		t.Error("an open without Sole says it is sole")
	}
	reader.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, url, Options{Sole: true})
	if err != nil {
		t.Fatalf("a Sole open after the first closed: %v", err)
	}
	if !again.Sole() {
		t.Error("the Sole open after the first closed is not sole")
	}
	// The same database through a symbolic link is the same database.
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(strings.TrimPrefix(url, "sqlite:"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, "sqlite:"+link, Options{Sole: true}); err == nil || !strings.Contains(err.Error(), "another medic process uses the store") {
		t.Errorf("a Sole open through a symbolic link beside the sole one: got %v, want it refused", err)
	}
	again.Close()
	mem, err := Open(ctx, "sqlite::memory:", Options{Sole: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Sole() {
		t.Error("sqlite::memory: says it is sole")
	}
}
