package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

func TestClaimIsWonOnceUnderConcurrency(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		// One store's pool shared by many goroutines; replicas_test.go races stores.
		s := db.open(t, nil)
		var wins int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				ok, err := s.Claim(context.Background(), "envelope:E1")
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("got %d winners, want 1", wins)
		}
	})
}

func TestPurgeClaims(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		clk := newClock(t0)
		s := db.open(t, clk.Now)
		ctx := context.Background()
		if _, err := s.Claim(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Hour)
		if _, err := s.Claim(ctx, "new"); err != nil {
			t.Fatal(err)
		}
		n, err := s.PurgeClaims(ctx, clk.Now().Add(-time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("purge: got %d, %v; want 1, nil", n, err)
		}
		if ok, _ := s.Claim(ctx, "old"); !ok {
			t.Error("a purged key could not be claimed again")
		}
		if ok, _ := s.Claim(ctx, "new"); ok {
			t.Error("a recent key was claimed twice")
		}
	})
}

func TestOneOpenIncidentPerSource(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		in := recovery.Incident{ID: "inc-1", Env: "prod", Scenario: recovery.CanaryFail, Severity: recovery.SeverityCritical,
			Status: recovery.IncidentOpen, Title: "Canary failed", SourceKey: "run:42", OpenedAt: t0, UpdatedAt: t0}
		if err := s.CreateIncident(ctx, in); err != nil {
			t.Fatal(err)
		}
		in.ID = "inc-2"
		if err := s.CreateIncident(ctx, in); !errors.Is(err, recovery.ErrDuplicate) {
			t.Fatalf("second open incident for run:42: got %v, want ErrDuplicate", err)
		}
		got, err := s.OpenIncidents(ctx, "prod")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != "inc-1" || got[0].Severity != recovery.SeverityCritical || !got[0].OpenedAt.Equal(t0) {
			t.Fatalf("open incidents: got %+v", got)
		}
		if other, _ := s.OpenIncidents(ctx, "preprod"); len(other) != 0 {
			t.Fatalf("preprod: got %d incidents, want 0", len(other))
		}
	})
}

func TestJobsAndEnvLocks(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		for i, st := range []recovery.JobState{recovery.JobRunning, recovery.JobSucceeded, recovery.JobPending} {
			j := recovery.Job{ID: string(rune('a' + i)), RequestID: "r" + string(rune('a'+i)), Env: "prod", Action: recovery.ActRollback, State: st,
				CreatedAt: t0.Add(time.Duration(i) * time.Minute), UpdatedAt: t0, LeaseUntil: t0.Add(time.Duration(i) * time.Minute)}
			if err := s.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateJob(ctx, recovery.Job{ID: "z", RequestID: "ra", Env: "prod"}); !errors.Is(err, recovery.ErrDuplicate) {
			t.Fatalf("a second job for one request: got %v, want ErrDuplicate", err)
		}
		got, err := s.RunningJobs(ctx, "prod")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "a" || got[1].ID != "c" {
			t.Fatalf("running jobs: got %+v, want a then c", got)
		}
		stale, err := s.StaleJobs(ctx, t0.Add(90*time.Second))
		if err != nil || len(stale) != 1 || stale[0].ID != "a" {
			t.Fatalf("stale jobs: got %+v, %v", stale, err)
		}
		j := got[0]
		j.State, j.Current = recovery.JobSucceeded, 3
		saved, err := s.UpdateJob(ctx, j)
		if err != nil || saved.Version != 2 {
			t.Fatalf("update: got %+v, %v", saved, err)
		}
		if _, err := s.UpdateJob(ctx, j); !errors.Is(err, recovery.ErrConflict) {
			t.Fatalf("stale job update: got %v", err)
		}
		if err := s.LockEnv(ctx, "prod", "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.LockEnv(ctx, "prod", "c"); !errors.Is(err, recovery.ErrDuplicate) || !strings.Contains(err.Error(), "job a") {
			t.Fatalf("second lock: got %v, want ErrDuplicate naming job a", err)
		}
		if err := s.UnlockEnv(ctx, "prod", "c"); err != nil {
			t.Fatal(err)
		}
		if holder, _ := s.EnvLock(ctx, "prod"); holder != "a" {
			t.Fatalf("a non-holder unlocked prod: holder %q", holder)
		}
		if err := s.UnlockEnv(ctx, "prod", "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.LockEnv(ctx, "prod", "c"); err != nil {
			t.Fatalf("lock after release: %v", err)
		}
	})
}

func TestRequests(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		r := recovery.Request{ID: "REQ-1", Env: "prod", Action: recovery.ActRollback, State: recovery.RequestPending, DedupeKey: "k",
			RequestedAt: t0, ExpiresAt: t0.Add(15 * time.Minute), Params: recovery.RequestParams{SHA: "abc1234"}}
		if err := s.CreateRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		r2 := r
		r2.ID = "REQ-2"
		if err := s.CreateRequest(ctx, r2); !errors.Is(err, recovery.ErrDuplicate) {
			t.Fatalf("second pending request with the same key: got %v", err)
		}
		got, err := s.PendingRequest(ctx, "k")
		if err != nil || got.ID != "REQ-1" || got.Params.SHA != "abc1234" {
			t.Fatalf("pending: got %+v, %v", got, err)
		}
		if exp, _ := s.ExpiredRequests(ctx, t0.Add(16*time.Minute)); len(exp) != 1 {
			t.Fatalf("expired: got %d, want 1", len(exp))
		}
		got.State = recovery.RequestApproved
		if _, err := s.UpdateRequest(ctx, got); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateRequest(ctx, got); !errors.Is(err, recovery.ErrConflict) {
			t.Fatalf("double approval: got %v, want ErrConflict", err)
		}
		if err := s.CreateRequest(ctx, r2); err != nil {
			t.Fatalf("a new request once the first is decided: %v", err)
		}
	})
}

func TestAuditOrderAndFilter(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		entries := []recovery.AuditEntry{
			{At: t0.Add(2 * time.Second), Actor: "U2", Action: "approved", IncidentID: "inc-1", Detail: map[string]string{"sha": "abc123"}},
			{At: t0, Actor: "medic", Action: "detected", IncidentID: "inc-1"},
			{At: t0.Add(time.Second), Actor: "U1", Action: "requested", IncidentID: "inc-2"},
		}
		for _, e := range entries {
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Audit(ctx, AuditFilter{IncidentID: "inc-1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Action != "detected" || got[1].Action != "approved" || got[1].Detail["sha"] != "abc123" {
			t.Fatalf("audit of inc-1: got %+v", got)
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

func TestClaimWorkLease(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		clk := newClock(t0)
		s := db.open(t, clk.Now)
		ctx := context.Background()
		claim := func() bool {
			ok, err := s.ClaimWork(ctx, "signal:job:1", 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !claim() {
			t.Fatal("first claim refused")
		}
		if claim() {
			t.Fatal("claimed twice within the lease")
		}
		clk.Add(6 * time.Minute) // the first worker died: its lease ran out
		if !claim() {
			t.Fatal("an expired lease could not be claimed again")
		}
		if err := s.ReleaseWork(ctx, "signal:job:1"); err != nil {
			t.Fatal(err)
		}
		if !claim() {
			t.Fatal("released work could not be claimed")
		}
		if err := s.CompleteWork(ctx, "signal:job:1"); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Hour)
		if claim() {
			t.Fatal("finished work was claimed again")
		}
		if n, err := s.PurgeWork(ctx, clk.Now().Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("purge: got %d, %v", n, err)
		}
	})
}

func TestUpdateIncidentVersionsAndSources(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		in := recovery.Incident{ID: "INC-1", Env: "prod", Scenario: recovery.CanaryFail, Severity: recovery.SeverityCritical,
			Status: recovery.IncidentOpen, Title: "Production canary failed", SourceKey: "run:42", OpenedAt: t0, UpdatedAt: t0,
			RunID: 42, Findings: []recovery.Finding{{Diagnostic: recovery.DiagHealth, Title: "Health endpoint", Lines: []string{"HTTP 503"}, Bad: true}}}
		if err := s.CreateIncident(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := s.OpenIncidentBySource(ctx, "run:42")
		if err != nil || got.Version != 1 || got.RunID != 42 || len(got.Findings) != 1 || got.Findings[0].Lines[0] != "HTTP 503" {
			t.Fatalf("by source: got %+v, %v", got, err)
		}
		got.MessageTS = "1700000000.000100"
		saved, err := s.UpdateIncident(ctx, got)
		if err != nil || saved.Version != 2 {
			t.Fatalf("update: got version %d, %v", saved.Version, err)
		}
		got.AckBy = "U1" // still version 1: someone else saved in between
		if _, err := s.UpdateIncident(ctx, got); !errors.Is(err, recovery.ErrConflict) {
			t.Fatalf("stale update: got %v, want ErrConflict", err)
		}
		if err := s.AttachSource(ctx, "INC-1", "alarm:prod-dashboard-errors"); err != nil {
			t.Fatal(err)
		}
		if err := s.AttachSource(ctx, "INC-9", "alarm:prod-dashboard-errors"); !errors.Is(err, recovery.ErrDuplicate) {
			t.Fatalf("attaching a taken source: got %v, want ErrDuplicate", err)
		}
		if byAlarm, err := s.OpenIncidentBySource(ctx, "alarm:prod-dashboard-errors"); err != nil || byAlarm.ID != "INC-1" {
			t.Fatalf("by attached source: got %+v, %v", byAlarm, err)
		}
		saved.Status = recovery.IncidentResolved
		if _, err := s.UpdateIncident(ctx, saved); err != nil {
			t.Fatal(err)
		}
		if _, err := s.OpenIncidentBySource(ctx, "run:42"); !errors.Is(err, recovery.ErrNotFound) {
			t.Fatalf("a resolved incident still owns its source: %v", err)
		}
		in2 := in
		in2.ID = "INC-2"
		if err := s.CreateIncident(ctx, in2); err != nil {
			t.Fatalf("a new incident for a source whose incident was resolved: %v", err)
		}
		if _, err := s.Incident(ctx, "INC-404"); !errors.Is(err, recovery.ErrNotFound) {
			t.Fatalf("missing incident: got %v", err)
		}
	})
}

func TestCursors(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		if c, err := s.Cursor(ctx, "runs:deploy-prod.yml"); err != nil || !c.IsZero() {
			t.Fatalf("unset cursor: got %v, %v", c, err)
		}
		t1 := time.Date(2026, 11, 26, 3, 4, 5, 0, time.UTC)
		for _, v := range []time.Time{t1.Add(-time.Hour), t1} {
			if err := s.SetCursor(ctx, "runs:deploy-prod.yml", v); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := s.Cursor(ctx, "runs:deploy-prod.yml"); err != nil || !c.Equal(t1) {
			t.Fatalf("cursor: got %v, %v; want %v", c, err, t1)
		}
	})
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
// and title, an audit reason, a job's step output) holds no credential, and the rest
// reads back unchanged.
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
		got, err := s.Incident(ctx, "inc-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.AlarmName != in.AlarmName {
			t.Errorf("an identifier changed: alarm %q", got.AlarmName)
		}
		if got.JobName != in.JobName || got.SHA != in.SHA || got.SourceKey != in.SourceKey || !strings.HasPrefix(got.CommitMessage, "fix config\n\nDB_PASSWORD=[REDACTED]") {
			t.Errorf("read back: job %q sha %q source %q message %q", got.JobName, got.SHA, got.SourceKey, got.CommitMessage)
		}
	})
}
