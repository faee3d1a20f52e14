package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// testCursors: a cursor never set is the zero time; the last set wins.
func testCursors(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	if c, err := s.Cursor(ctx, "runs:deploy-prod.yml"); err != nil || !c.IsZero() {
		t.Fatalf("unset cursor: got %v, %v; want the zero time", c, err)
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
	if c, err := s.Cursor(ctx, "runs:deploy-preprod.yml"); err != nil || !c.IsZero() {
		t.Fatalf("another cursor: got %v, %v; want the zero time", c, err)
	}
	if err := s.SetCursor(ctx, "runs:deploy-prod.yml", t1.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Cursor(ctx, "runs:deploy-prod.yml"); err != nil || !c.Equal(t1.Add(-time.Hour)) {
		t.Fatalf("a cursor set back: got %v, %v; want %v (the last set wins)", c, err, t1.Add(-time.Hour))
	}
}

// testTimesKeptToTheMillisecond: a store keeps times to the millisecond, in UTC: what
// a test compares with == after a round trip must hold on the SQL store too.
func testTimesKeptToTheMillisecond(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	paris := time.FixedZone("CET", 3600)
	at := t0.Add(1234567 * time.Nanosecond).In(paris) // 1.234567 ms past t0
	want := t0.Add(time.Millisecond)
	if err := s.SetCursor(ctx, "c", at); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Cursor(ctx, "c"); err != nil || c != want {
		t.Errorf("cursor: got %s, %v; want %s", stamp(c), err, stamp(want))
	}
	in := mustCreateIncident(t, s, recovery.Incident{ID: "INC-1", Status: recovery.IncidentOpen, OpenedAt: at, UpdatedAt: at})
	if in.OpenedAt != want || in.UpdatedAt != want {
		t.Errorf("incident: got opened %s, updated %s; want both %s", stamp(in.OpenedAt), stamp(in.UpdatedAt), stamp(want))
	}
	if err := s.AppendAudit(ctx, recovery.AuditEntry{At: at, Actor: "U1", Action: "a", IncidentID: "INC-1"}); err != nil {
		t.Fatal(err)
	}
	es, err := s.IncidentAudit(ctx, "INC-1")
	if err != nil || len(es) != 1 {
		t.Fatalf("audit: got %+v, %v; want one entry", es, err)
	}
	if es[0].At != want {
		t.Errorf("audit: got an entry at %s, want %s", stamp(es[0].At), stamp(want))
	}
}

// stamp shows a time with its nanoseconds and the name of its location ("Local" for
// time.Local, even where that is UTC).
func stamp(t time.Time) string {
	return t.Format("2006-01-02T15:04:05.000000000") + " " + t.Location().String()
}

// testValuesAreCopies: values go in and out as copies. A caller changing what it
// stored, or what it read (slices and maps included), changes nothing stored.
func testValuesAreCopies(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()

	in := recovery.Incident{ID: "INC-1", Env: "prod", Status: recovery.IncidentOpen, SourceKey: "run:1", OpenedAt: t0, UpdatedAt: t0,
		Alarms:   []string{"alarm-a"},
		Findings: []recovery.Finding{{Diagnostic: recovery.DiagHealth, Title: "Health endpoint", Lines: []string{"HTTP 503"}}},
	}
	in.Escalation.DueAt = t0
	if err := s.CreateIncident(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Alarms[0], in.Findings[0].Lines[0] = "changed by the caller", "changed by the caller"
	readIncident := func(what string) {
		t.Helper()
		got, err := s.Incident(ctx, "INC-1")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Alarms, []string{"alarm-a"}) || len(got.Findings) != 1 || !slices.Equal(got.Findings[0].Lines, []string{"HTTP 503"}) {
			t.Fatalf("incident after %s: got alarms %q, findings %+v; want [alarm-a] and one finding [HTTP 503]", what, got.Alarms, got.Findings)
		}
	}
	readIncident("the caller changed what it created")
	for what, read := range map[string]func() ([]recovery.Incident, error){
		"Incident": func() ([]recovery.Incident, error) {
			in, err := s.Incident(ctx, "INC-1")
			return []recovery.Incident{in}, err
		},
		"OpenIncidentBySource": func() ([]recovery.Incident, error) {
			in, err := s.OpenIncidentBySource(ctx, "run:1")
			return []recovery.Incident{in}, err
		},
		"OpenIncidents":   func() ([]recovery.Incident, error) { return s.OpenIncidents(ctx, "prod") },
		"RecentIncidents": func() ([]recovery.Incident, error) { return s.RecentIncidents(ctx, t0, 10) },
		"DueEscalations":  func() ([]recovery.Incident, error) { return s.DueEscalations(ctx, t0) },
	} {
		got, err := read()
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: got %d incidents, %v; want INC-1", what, len(got), err)
		}
		got[0].Alarms[0], got[0].Findings[0].Lines[0] = "changed by the reader", "changed by the reader"
		readIncident("a caller changed what " + what + " returned")
	}
	cur, err := s.Incident(ctx, "INC-1")
	if err != nil {
		t.Fatal(err)
	}
	cur.Alarms = append(cur.Alarms[:1:1], "alarm-b")
	saved, err := s.UpdateIncident(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	saved.Alarms[1] = "changed by the caller"
	if got, _ := s.Incident(ctx, "INC-1"); !slices.Equal(got.Alarms, []string{"alarm-a", "alarm-b"}) {
		t.Fatalf("incident after the caller changed what it updated: got alarms %q, want [alarm-a alarm-b]", got.Alarms)
	}

	p := recovery.Page{ID: "INC-1#1/slack", IncidentID: "INC-1", Levels: []string{"L1"}, State: recovery.PagePending, CreatedAt: t0, NextAt: t0}
	if err := s.AddPage(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Levels[0] = "changed by the caller"
	due, err := s.DuePages(ctx, t0, 10)
	if err != nil || len(due) != 1 || !slices.Equal(due[0].Levels, []string{"L1"}) {
		t.Fatalf("due pages after the caller changed what it added: got %+v, %v; want INC-1#1/slack to L1", due, err)
	}
	due[0].Levels[0] = "changed by the reader"
	of, err := s.PagesOf(ctx, "INC-1")
	if err != nil || len(of) != 1 || !slices.Equal(of[0].Levels, []string{"L1"}) {
		t.Fatalf("pages after a caller changed what DuePages returned: got %+v, %v; want INC-1#1/slack to L1", of, err)
	}
	of[0].Reached = []string{"C1"}
	of[0].Levels[0] = "changed by the reader"
	if again, _ := s.PagesOf(ctx, "INC-1"); len(again) != 1 || !slices.Equal(again[0].Levels, []string{"L1"}) || again[0].Reached != nil {
		t.Fatalf("pages after a caller changed what PagesOf returned: got %+v; want INC-1#1/slack to L1, nothing reached", again)
	}

	j := recovery.Job{ID: "JOB-1", RequestID: "REQ-1", Env: "prod", State: recovery.JobRunning, CreatedAt: t0,
		Steps: []recovery.StepRecord{{Name: "rollback", State: recovery.StepRunning}}}
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	j.Steps[0].Name = "changed by the caller"
	for what, read := range map[string]func() ([]recovery.Job, error){
		"Job": func() ([]recovery.Job, error) {
			j, err := s.Job(ctx, "JOB-1")
			return []recovery.Job{j}, err
		},
		"RunningJobs": func() ([]recovery.Job, error) { return s.RunningJobs(ctx, "prod") },
		"StaleJobs":   func() ([]recovery.Job, error) { return s.StaleJobs(ctx, t0.Add(time.Hour)) },
	} {
		got, err := read()
		if err != nil || len(got) != 1 || len(got[0].Steps) != 1 || got[0].Steps[0].Name != "rollback" {
			t.Fatalf("%s: got %+v, %v; want JOB-1 with its step rollback", what, got, err)
		}
		got[0].Steps[0].Name = "changed by the reader"
	}
	if got, _ := s.Job(ctx, "JOB-1"); len(got.Steps) != 1 || got.Steps[0].Name != "rollback" {
		t.Fatalf("job after callers changed what they read: got steps %+v, want [rollback]", got.Steps)
	}

	r := recovery.Request{ID: "REQ-1", Env: "prod", State: recovery.RequestPending, DedupeKey: "k", RequestedAt: t0, ExpiresAt: t0,
		Preview: recovery.Preview{Lines: []string{"roll back to abc1234"}}}
	if err := s.CreateRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Preview.Lines[0] = "changed by the caller"
	for what, read := range map[string]func() ([]recovery.Request, error){
		"Request": func() ([]recovery.Request, error) {
			r, err := s.Request(ctx, "REQ-1")
			return []recovery.Request{r}, err
		},
		"PendingRequest": func() ([]recovery.Request, error) {
			r, err := s.PendingRequest(ctx, "k")
			return []recovery.Request{r}, err
		},
		"ExpiredRequests": func() ([]recovery.Request, error) { return s.ExpiredRequests(ctx, t0.Add(time.Second)) },
	} {
		got, err := read()
		if err != nil || len(got) != 1 || !slices.Equal(got[0].Preview.Lines, []string{"roll back to abc1234"}) {
			t.Fatalf("%s: got %+v, %v; want REQ-1 with its preview", what, got, err)
		}
		got[0].Preview.Lines[0] = "changed by the reader"
	}
	if got, _ := s.Request(ctx, "REQ-1"); !slices.Equal(got.Preview.Lines, []string{"roll back to abc1234"}) {
		t.Fatalf("request after callers changed what they read: got preview %q, want [roll back to abc1234]", got.Preview.Lines)
	}

	detail := map[string]string{"reason": "flaky canary"}
	if err := s.AppendAudit(ctx, recovery.AuditEntry{At: t0, Actor: "U1", Action: "incident.noted", IncidentID: "INC-1", Detail: detail}); err != nil {
		t.Fatal(err)
	}
	detail["reason"] = "changed by the caller"
	es, err := s.IncidentAudit(ctx, "INC-1")
	if err != nil || len(es) != 1 || es[0].Detail["reason"] != "flaky canary" {
		t.Fatalf("audit after the caller changed what it appended: got %+v, %v; want reason flaky canary", es, err)
	}
	es[0].Detail["reason"] = "changed by the reader"
	if again, _ := s.IncidentAudit(ctx, "INC-1"); len(again) != 1 || again[0].Detail["reason"] != "flaky canary" {
		t.Fatalf("audit after the reader changed what it read: got %+v; want reason flaky canary", again)
	}

	plan := []byte("plan bytes")
	if err := s.SavePlan(ctx, "REQ-1", plan); err != nil {
		t.Fatal(err)
	}
	plan[0] = 'X'
	got, sum, err := s.Plan(ctx, "REQ-1")
	if err != nil || string(got) != "plan bytes" || sum != sha256Hex([]byte("plan bytes")) {
		t.Fatalf("plan after the caller changed what it saved: got %q %s, %v; want \"plan bytes\" and its SHA-256", got, sum, err)
	}
	got[0] = 'Y'
	if again, _, _ := s.Plan(ctx, "REQ-1"); string(again) != "plan bytes" {
		t.Fatalf("plan after the reader changed what it read: got %q, want \"plan bytes\"", again)
	}
}

// testCancelledContext: every call fails once its context is done, with an error
// that says so (errors.Is context.Canceled), and changes nothing.
func testCancelledContext(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := recovery.Incident{ID: "INC-1", Env: "prod", Status: recovery.IncidentOpen, SourceKey: "run:1", OpenedAt: t0, UpdatedAt: t0, Version: 1}
	page := recovery.Page{ID: "P-1", IncidentID: "INC-1", State: recovery.PagePending, CreatedAt: t0, NextAt: t0}
	job := recovery.Job{ID: "JOB-1", RequestID: "REQ-1", Env: "prod", State: recovery.JobRunning, CreatedAt: t0, Version: 1}
	req := recovery.Request{ID: "REQ-1", Env: "prod", State: recovery.RequestPending, DedupeKey: "k", RequestedAt: t0, ExpiresAt: t0, Version: 1}
	calls := map[string]func() error{
		"ClaimWork":            func() error { _, err := s.ClaimWork(ctx, "k", time.Minute); return err },
		"CompleteWork":         func() error { return s.CompleteWork(ctx, "k") },
		"ReleaseWork":          func() error { return s.ReleaseWork(ctx, "k") },
		"PurgeWork":            func() error { _, err := s.PurgeWork(ctx, t0); return err },
		"Claim":                func() error { _, err := s.Claim(ctx, "k"); return err },
		"Unclaim":              func() error { return s.Unclaim(ctx, "k") },
		"PurgeClaims":          func() error { _, err := s.PurgeClaims(ctx, t0); return err },
		"CreateIncident":       func() error { return s.CreateIncident(ctx, in) },
		"UpdateIncident":       func() error { _, err := s.UpdateIncident(ctx, in); return err },
		"AttachSource":         func() error { return s.AttachSource(ctx, "INC-1", "alarm:a") },
		"Incident":             func() error { _, err := s.Incident(ctx, "INC-1"); return err },
		"OpenIncidentBySource": func() error { _, err := s.OpenIncidentBySource(ctx, "run:1"); return err },
		"OpenIncidents":        func() error { _, err := s.OpenIncidents(ctx, "prod"); return err },
		"RecentIncidents":      func() error { _, err := s.RecentIncidents(ctx, t0, 10); return err },
		"DueEscalations":       func() error { _, err := s.DueEscalations(ctx, t0); return err },
		"AddPage":              func() error { return s.AddPage(ctx, page) },
		"UpdatePage":           func() error { return s.UpdatePage(ctx, page) },
		"DuePages":             func() error { _, err := s.DuePages(ctx, t0, 10); return err },
		"PagesOf":              func() error { _, err := s.PagesOf(ctx, "INC-1"); return err },
		"CreateJob":            func() error { return s.CreateJob(ctx, job) },
		"UpdateJob":            func() error { _, err := s.UpdateJob(ctx, job); return err },
		"Job":                  func() error { _, err := s.Job(ctx, "JOB-1"); return err },
		"RunningJobs":          func() error { _, err := s.RunningJobs(ctx, "prod"); return err },
		"StaleJobs":            func() error { _, err := s.StaleJobs(ctx, t0); return err },
		"LockEnv":              func() error { return s.LockEnv(ctx, "prod", "JOB-1") },
		"UnlockEnv":            func() error { return s.UnlockEnv(ctx, "prod", "JOB-1") },
		"EnvLock":              func() error { _, err := s.EnvLock(ctx, "prod"); return err },
		"CreateRequest":        func() error { return s.CreateRequest(ctx, req) },
		"UpdateRequest":        func() error { _, err := s.UpdateRequest(ctx, req); return err },
		"Request":              func() error { _, err := s.Request(ctx, "REQ-1"); return err },
		"PendingRequest":       func() error { _, err := s.PendingRequest(ctx, "k"); return err },
		"ExpiredRequests":      func() error { _, err := s.ExpiredRequests(ctx, t0); return err },
		"AppendAudit": func() error {
			return s.AppendAudit(ctx, recovery.AuditEntry{Actor: "U1", Action: "a", IncidentID: "INC-1"})
		},
		"IncidentAudit": func() error { _, err := s.IncidentAudit(ctx, "INC-1"); return err },
		"Cursor":        func() error { _, err := s.Cursor(ctx, "c"); return err },
		"SetCursor":     func() error { return s.SetCursor(ctx, "c", t0) },
		"SavePlan":      func() error { return s.SavePlan(ctx, "REQ-1", []byte("plan")) },
		"Plan":          func() error { _, _, err := s.Plan(ctx, "REQ-1"); return err },
		"DeletePlan":    func() error { return s.DeletePlan(ctx, "REQ-1") },
		"PurgePlans":    func() error { _, err := s.PurgePlans(ctx, t0); return err },
		"AcquireLease":  func() error { _, err := s.AcquireLease(ctx, "leader", "replica-a", time.Minute); return err },
		"ReleaseLease":  func() error { return s.ReleaseLease(ctx, "leader", "replica-a") },
		"LeaseHolder":   func() error { _, _, err := s.LeaseHolder(ctx, "leader"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want an error wrapping context.Canceled", name, err)
		}
	}
	// Nothing was written.
	live := context.Background()
	if _, err := s.Incident(live, "INC-1"); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("the incident created with a cancelled context: got %v, want ErrNotFound", err)
	}
	if ok, err := s.Claim(live, "k"); err != nil || !ok {
		t.Errorf("the key claimed with a cancelled context: got %v, %v; want it free", ok, err)
	}
	if ok, err := s.ClaimWork(live, "k", time.Minute); err != nil || !ok {
		t.Errorf("the work claimed with a cancelled context: got %v, %v; want it free", ok, err)
	}
	if h, _, err := s.LeaseHolder(live, "leader"); err != nil || h != "" {
		t.Errorf("the lease acquired with a cancelled context: got %q, %v; want it free", h, err)
	}
	if holder, err := s.EnvLock(live, "prod"); err != nil || holder != "" {
		t.Errorf("prod locked with a cancelled context: got %q, %v; want it free", holder, err)
	}
	if es, err := s.IncidentAudit(live, "INC-1"); err != nil || len(es) != 0 {
		t.Errorf("audit appended with a cancelled context: got %+v, %v; want none", es, err)
	}
}
