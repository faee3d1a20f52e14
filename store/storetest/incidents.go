package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// testRecentIncidents: open ones first, most severe then newest; then the resolved
// opened within the window; at most the limit.
func testRecentIncidents(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	create := func(id string, sev recovery.Severity, opened time.Time, resolve bool) {
		t.Helper()
		in := mustCreateIncident(t, s, recovery.Incident{ID: id, Scenario: recovery.CanaryFail, Severity: sev,
			Status: recovery.IncidentOpen, Title: id, OpenedAt: opened})
		if resolve {
			in.Status = recovery.IncidentResolved
			if _, err := s.UpdateIncident(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
	}
	create("OLD-OPEN-LOW", recovery.SeverityLow, t0.Add(-48*time.Hour), false)
	create("OLD-RESOLVED", recovery.SeverityCritical, t0.Add(-48*time.Hour), true)
	create("EDGE-RESOLVED", recovery.SeverityLow, t0.Add(-24*time.Hour-time.Second), true)
	create("NEW-RESOLVED-CRIT", recovery.SeverityCritical, t0.Add(-time.Hour), true)
	create("NEW-RESOLVED-LOW", recovery.SeverityLow, t0.Add(-24*time.Hour), true)
	create("NEW-OPEN-CRIT", recovery.SeverityCritical, t0.Add(-30*time.Minute), false)
	create("NEW-OPEN-LOW", recovery.SeverityLow, t0.Add(-10*time.Minute), false)
	create("NEW-OPEN-LOW-B", recovery.SeverityLow, t0.Add(-10*time.Minute), false)

	recent := func(limit int) []string {
		t.Helper()
		ins, err := s.RecentIncidents(ctx, t0.Add(-24*time.Hour), limit)
		if err != nil {
			t.Fatal(err)
		}
		return incidentIDs(ins)
	}
	// Open ones first, most severe then newest (then by ID); then the recently
	// resolved, one opened at the window's start included; those resolved and opened
	// before the window (by a second) not at all.
	want := []string{"NEW-OPEN-CRIT", "NEW-OPEN-LOW", "NEW-OPEN-LOW-B", "OLD-OPEN-LOW", "NEW-RESOLVED-CRIT", "NEW-RESOLVED-LOW"}
	if got := recent(10); !slices.Equal(got, want) {
		t.Fatalf("recent incidents: got %v, want %v", got, want)
	}
	if got := recent(2); !slices.Equal(got, want[:2]) {
		t.Fatalf("recent incidents, limit 2: got %v, want %v", got, want[:2])
	}
	if got := recent(0); len(got) != 0 {
		t.Fatalf("recent incidents, limit 0: got %v, want none", got)
	}
}

// testOneOpenIncidentPerSource: a source opens one incident while it is open; open
// incidents are listed per environment.
func testOneOpenIncidentPerSource(t *testing.T, open Open) {
	s := one(t, open, nil)
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
	if _, err := s.Incident(ctx, "inc-2"); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("the refused incident: got %v, want ErrNotFound (not stored)", err)
	}
	in.ID, in.SourceKey = "inc-1", "run:43"
	if err := s.CreateIncident(ctx, in); !errors.Is(err, recovery.ErrIDTaken) {
		t.Fatalf("a second incident with inc-1's ID: got %v, want ErrIDTaken", err)
	}
	if owner, err := s.OpenIncidentBySource(ctx, "run:43"); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("the source of the refused incident: got owner %q, %v; want ErrNotFound (nothing kept)", owner.ID, err)
	}
	got, err := s.OpenIncidents(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "inc-1" || got[0].Severity != recovery.SeverityCritical || !got[0].OpenedAt.Equal(t0) ||
		got[0].SourceKey != "run:42" || got[0].Title != "Canary failed" {
		t.Fatalf("open incidents: got %+v, want inc-1 as created", got)
	}
	if other, _ := s.OpenIncidents(ctx, "preprod"); len(other) != 0 {
		t.Fatalf("preprod: got %d incidents, want 0", len(other))
	}

	// Most severe first, then newest, then by ID; the resolved not at all.
	for _, c := range []struct {
		id  string
		sev recovery.Severity
		at  time.Duration
	}{{"inc-low", recovery.SeverityLow, time.Hour}, {"inc-high-old", recovery.SeverityHigh, time.Minute},
		{"inc-high-new", recovery.SeverityHigh, time.Hour}, {"inc-high-new-b", recovery.SeverityHigh, time.Hour}} {
		mustCreateIncident(t, s, recovery.Incident{ID: c.id, Env: "prod", Severity: c.sev, Status: recovery.IncidentOpen, OpenedAt: t0.Add(c.at)})
	}
	done := mustCreateIncident(t, s, recovery.Incident{ID: "inc-done", Env: "prod", Severity: recovery.SeverityCritical, OpenedAt: t0.Add(time.Hour)})
	done.Status = recovery.IncidentResolved
	if _, err := s.UpdateIncident(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, err = s.OpenIncidents(ctx, "prod")
	if want := []string{"inc-1", "inc-high-new", "inc-high-new-b", "inc-high-old", "inc-low"}; err != nil || !slices.Equal(incidentIDs(got), want) {
		t.Fatalf("open incidents of prod: got %v, %v; want %v", incidentIDs(got), err, want)
	}
}

// testUpdateIncidentVersionsAndSources: each update needs the version it read and
// makes the next; a source belongs to one open incident; a resolved incident gives its
// sources up.
func testUpdateIncidentVersionsAndSources(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	in := recovery.Incident{ID: "INC-1", Env: "prod", Scenario: recovery.CanaryFail, Severity: recovery.SeverityCritical,
		Status: recovery.IncidentOpen, Title: "Production canary failed", SourceKey: "run:42", OpenedAt: t0, UpdatedAt: t0,
		RunID: 42, Findings: []recovery.Finding{{Diagnostic: recovery.DiagHealth, Title: "Health endpoint", Lines: []string{"HTTP 503"}, Bad: true}}}
	if err := s.CreateIncident(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.OpenIncidentBySource(ctx, "run:42")
	if err != nil || got.Version != 1 || got.RunID != 42 || len(got.Findings) != 1 || got.Findings[0].Lines[0] != "HTTP 503" {
		t.Fatalf("by source: got %+v, %v; want INC-1 at version 1 with its run and finding", got, err)
	}
	got.MessageTS = "1700000000.000100"
	saved, err := s.UpdateIncident(ctx, got)
	if err != nil || saved.Version != 2 {
		t.Fatalf("update: got version %d, %v; want 2", saved.Version, err)
	}
	if read, err := s.Incident(ctx, "INC-1"); err != nil || read.Version != 2 || read.MessageTS != "1700000000.000100" {
		t.Fatalf("read after the update: got version %d, message %q, %v; want version 2 and the message", read.Version, read.MessageTS, err)
	}
	got.AckBy = "U1" // still version 1: someone else saved in between
	if _, err := s.UpdateIncident(ctx, got); !errors.Is(err, recovery.ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	if read, _ := s.Incident(ctx, "INC-1"); read.AckBy != "" || read.Version != 2 {
		t.Fatalf("after the stale update: got acknowledged by %q at version %d, want nobody at version 2", read.AckBy, read.Version)
	}
	ahead := saved
	ahead.Version = 3 // a version never stored
	if _, err := s.UpdateIncident(ctx, ahead); !errors.Is(err, recovery.ErrConflict) {
		t.Fatalf("update from a version ahead of the stored one: got %v, want ErrConflict", err)
	}
	if err := s.AttachSource(ctx, "INC-1", "alarm:prod-dashboard-errors"); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachSource(ctx, "INC-9", "alarm:prod-dashboard-errors"); !errors.Is(err, recovery.ErrDuplicate) {
		t.Fatalf("attaching a taken source: got %v, want ErrDuplicate", err)
	}
	if err := s.AttachSource(ctx, "INC-9", "run:42"); !errors.Is(err, recovery.ErrDuplicate) {
		t.Fatalf("attaching the source another incident opened with: got %v, want ErrDuplicate", err)
	}
	if byAlarm, err := s.OpenIncidentBySource(ctx, "alarm:prod-dashboard-errors"); err != nil || byAlarm.ID != "INC-1" {
		t.Fatalf("by attached source: got %q, %v; want INC-1", byAlarm.ID, err)
	}
	other := mustCreateIncident(t, s, recovery.Incident{ID: "INC-OTHER", Status: recovery.IncidentOpen, SourceKey: "run:7", OpenedAt: t0})
	saved.Status = recovery.IncidentResolved
	if _, err := s.UpdateIncident(ctx, saved); err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{"run:42", "alarm:prod-dashboard-errors"} {
		if _, err := s.OpenIncidentBySource(ctx, source); !errors.Is(err, recovery.ErrNotFound) {
			t.Fatalf("a resolved incident still owns %s: got %v, want ErrNotFound", source, err)
		}
	}
	if still, err := s.OpenIncidentBySource(ctx, "run:7"); err != nil || still.ID != other.ID {
		t.Fatalf("another incident's source after INC-1 was resolved: got %q, %v; want %s", still.ID, err, other.ID)
	}
	in2 := in
	in2.ID = "INC-2"
	if err := s.CreateIncident(ctx, in2); err != nil {
		t.Fatalf("a new incident for a source whose incident was resolved: %v", err)
	}
	if err := s.AttachSource(ctx, "INC-2", "alarm:prod-dashboard-errors"); err != nil {
		t.Fatalf("attaching a source a resolved incident had: %v", err)
	}
	if byRun, err := s.OpenIncidentBySource(ctx, "run:42"); err != nil || byRun.ID != "INC-2" {
		t.Fatalf("run:42 after INC-2 opened: got %q, %v; want INC-2", byRun.ID, err)
	}
}

// testNotFound: reading what was never stored is ErrNotFound; updating it is
// ErrNotFound for an incident and ErrConflict for a job or a request (their
// documented "otherwise").
func testNotFound(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	for what, err := range map[string]error{
		"incident": func() error { _, err := s.Incident(ctx, "INC-404"); return err }(),
		"incident by source": func() error {
			_, err := s.OpenIncidentBySource(ctx, "run:404")
			return err
		}(),
		"incident update": func() error {
			_, err := s.UpdateIncident(ctx, recovery.Incident{ID: "INC-404", Version: 1})
			return err
		}(),
		"job":             func() error { _, err := s.Job(ctx, "JOB-404"); return err }(),
		"request":         func() error { _, err := s.Request(ctx, "REQ-404"); return err }(),
		"pending request": func() error { _, err := s.PendingRequest(ctx, "rollback:prod:404"); return err }(),
		"plan":            func() error { _, _, err := s.Plan(ctx, "REQ-404"); return err }(),
	} {
		if !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("%s never stored: got %v, want ErrNotFound", what, err)
		}
	}
	if _, err := s.UpdateJob(ctx, recovery.Job{ID: "JOB-404", Version: 1}); !errors.Is(err, recovery.ErrConflict) {
		t.Errorf("updating a job never stored: got %v, want ErrConflict", err)
	}
	if _, err := s.UpdateRequest(ctx, recovery.Request{ID: "REQ-404", Version: 1}); !errors.Is(err, recovery.ErrConflict) {
		t.Errorf("updating a request never stored: got %v, want ErrConflict", err)
	}
	if _, err := s.Job(ctx, "JOB-404"); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("a job after its update was refused: got %v, want ErrNotFound (nothing stored)", err)
	}
}

// testWritesAreRedacted: what is read back holds no credential (an incident's title
// and commit message, an audit reason), and identifiers medic acts on read back
// unchanged. (The SQL store's own test also reads its rows.)
func testWritesAreRedacted(t *testing.T, open Open) {
	s := one(t, open, nil)
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
	got, err := s.Incident(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	audit, err := s.IncidentAudit(ctx, "inc-1")
	if err != nil || len(audit) != 1 {
		t.Fatalf("audit of inc-1: got %+v, %v; want one entry", audit, err)
	}
	for _, secret := range []string{token, pass, "abcdefgh12345678"} {
		for what, v := range map[string]string{"title": got.Title, "commit message": got.CommitMessage, "audit reason": audit[0].Detail["reason"]} {
			if strings.Contains(v, secret) {
				t.Errorf("the %s read back keeps %q: %q", what, secret, v)
			}
		}
	}
	if !strings.HasPrefix(got.Title, "Canary failed ") || !strings.HasPrefix(audit[0].Detail["reason"], "see Bearer ") {
		t.Errorf("read back: title %q, reason %q; want the words around the secrets kept", got.Title, audit[0].Detail["reason"])
	}
	if got.AlarmName != in.AlarmName {
		t.Errorf("an identifier changed: got alarm %q, want %q", got.AlarmName, in.AlarmName)
	}
	if got.JobName != in.JobName || got.SHA != in.SHA || got.SourceKey != in.SourceKey || !strings.HasPrefix(got.CommitMessage, "fix config\n\nDB_PASSWORD=[REDACTED]") {
		t.Errorf("read back: got job %q sha %q source %q message %q; want them as written, the password [REDACTED]",
			got.JobName, got.SHA, got.SourceKey, got.CommitMessage)
	}

	// An update is redacted too.
	got.CommitMessage = "again: DB_PASSWORD=" + pass
	if _, err := s.UpdateIncident(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Incident(ctx, "inc-1"); err != nil || strings.Contains(again.CommitMessage, pass) {
		t.Errorf("after an update: got message %q, %v; want the password redacted", again.CommitMessage, err)
	}
}
