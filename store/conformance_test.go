package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// ids lists the IDs of pages or incidents, for messages that read "got [a b], want [b a]".
func ids[T any](xs []T, id func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func pageIDs(ps []recovery.Page) []string {
	return ids(ps, func(p recovery.Page) string { return p.ID })
}

func incidentIDs(ins []recovery.Incident) []string {
	return ids(ins, func(in recovery.Incident) string { return in.ID })
}

func mustCreateIncident(tb testing.TB, s *Store, in recovery.Incident) recovery.Incident {
	tb.Helper()
	if in.SourceKey == "" {
		in.SourceKey = "source:" + in.ID
	}
	if in.Env == "" {
		in.Env = "prod"
	}
	if in.UpdatedAt.IsZero() {
		in.UpdatedAt = in.OpenedAt
	}
	if err := s.CreateIncident(context.Background(), in); err != nil {
		tb.Fatalf("creating %s: %v", in.ID, err)
	}
	got, err := s.Incident(context.Background(), in.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func TestPages(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		page := func(id, incident string, created, next time.Time) recovery.Page {
			return recovery.Page{ID: id, IncidentID: incident, Pager: "pagerduty", Kind: recovery.PageTrigger, Levels: []string{"L1", "L2"},
				Reason: "no acknowledgement in 15m", By: "medic", Seq: 1, State: recovery.PagePending, CreatedAt: created, NextAt: next}
		}
		for _, p := range []recovery.Page{
			page("INC-1#1/pagerduty", "INC-1", t0, t0),
			page("INC-1#2/pagerduty", "INC-1", t0.Add(time.Second), t0.Add(10*time.Minute)),
			page("INC-2#1/slack", "INC-2", t0.Add(2*time.Second), t0.Add(-time.Minute)),
		} {
			if err := s.AddPage(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddPage(ctx, page("INC-1#1/pagerduty", "INC-1", t0, t0)); !errors.Is(err, recovery.ErrDuplicate) {
			t.Fatalf("adding a page twice: got %v, want ErrDuplicate", err)
		}

		due := func(at time.Time, limit int) []recovery.Page {
			t.Helper()
			ps, err := s.DuePages(ctx, at, limit)
			if err != nil {
				t.Fatal(err)
			}
			return ps
		}
		if got, want := pageIDs(due(t0, 10)), []string{"INC-2#1/slack", "INC-1#1/pagerduty"}; !slices.Equal(got, want) {
			t.Fatalf("due at t0: got %v, want %v (soonest first, the later page not yet)", got, want)
		}
		if got, want := pageIDs(due(t0, 1)), []string{"INC-2#1/slack"}; !slices.Equal(got, want) {
			t.Fatalf("due at t0, limit 1: got %v, want %v", got, want)
		}

		sent := due(t0, 10)[1]
		sent.State, sent.Attempts, sent.SentAt = recovery.PageSent, 1, t0.Add(3*time.Second)
		if err := s.UpdatePage(ctx, sent); err != nil {
			t.Fatal(err)
		}
		retry := due(t0, 10)[0]
		retry.Attempts, retry.LastError, retry.NextAt = 1, "slack: 503", t0.Add(5*time.Minute)
		retry.Reached = []string{"C0123"}
		if err := s.UpdatePage(ctx, retry); err != nil {
			t.Fatal(err)
		}
		if got := due(t0, 10); len(got) != 0 {
			t.Fatalf("due at t0 after one was sent and one put off: got %v, want none", pageIDs(got))
		}
		later := due(t0.Add(5*time.Minute), 10)
		if len(later) != 1 || later[0].ID != "INC-2#1/slack" || later[0].Attempts != 1 || later[0].LastError != "slack: 503" ||
			!slices.Equal(later[0].Reached, []string{"C0123"}) || !later[0].NextAt.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("due after the retry delay: got %+v, want INC-2#1/slack, attempt 1, its error and what it reached", later)
		}

		// A replica finishing late must not make a sent page pending again.
		stale := sent
		stale.State, stale.NextAt = recovery.PagePending, t0.Add(time.Minute)
		if err := s.UpdatePage(ctx, stale); !errors.Is(err, recovery.ErrConflict) {
			t.Fatalf("putting a sent page back to pending: got %v, want ErrConflict", err)
		}
		if err := s.UpdatePage(ctx, page("INC-9#1/slack", "INC-9", t0, t0)); !errors.Is(err, recovery.ErrNotFound) {
			t.Fatalf("updating a page never added: got %v, want ErrNotFound", err)
		}

		of, err := s.PagesOf(ctx, "INC-1")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := pageIDs(of), []string{"INC-1#1/pagerduty", "INC-1#2/pagerduty"}; !slices.Equal(got, want) {
			t.Fatalf("pages of INC-1: got %v, want %v (oldest first)", got, want)
		}
		if p := of[0]; p.State != recovery.PageSent || !p.SentAt.Equal(t0.Add(3*time.Second)) || !slices.Equal(p.Levels, []string{"L1", "L2"}) ||
			p.Reason != "no acknowledgement in 15m" || p.Kind != recovery.PageTrigger {
			t.Fatalf("the sent page: got %+v, want it sent at t0+3s with its levels, reason and kind", p)
		}
		if none, err := s.PagesOf(ctx, "INC-404"); err != nil || len(none) != 0 {
			t.Fatalf("pages of an incident without any: got %v, %v; want none", pageIDs(none), err)
		}
	})
}

func TestDueEscalations(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		inc := func(id string) recovery.Incident {
			return recovery.Incident{ID: id, Scenario: recovery.CanaryFail, Severity: recovery.SeverityHigh, Status: recovery.IncidentOpen,
				Title: "Canary failed", OpenedAt: t0, UpdatedAt: t0}
		}
		late := mustCreateIncident(t, s, inc("INC-LATE"))
		soon := mustCreateIncident(t, s, inc("INC-SOON"))
		acked := mustCreateIncident(t, s, inc("INC-ACKED"))
		resolved := mustCreateIncident(t, s, inc("INC-RESOLVED"))
		mustCreateIncident(t, s, inc("INC-NEVER")) // no escalation deadline

		due := func(at time.Time) []string {
			t.Helper()
			ins, err := s.DueEscalations(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			return incidentIDs(ins)
		}
		if got := due(t0.Add(time.Hour)); len(got) != 0 {
			t.Fatalf("before any deadline was saved: got %v due, want none", got)
		}
		save := func(in recovery.Incident, status recovery.IncidentStatus, dueAt time.Time) {
			t.Helper()
			in.Status, in.Escalation.DueAt, in.Escalation.Row = status, dueAt, "critical-prod"
			if _, err := s.UpdateIncident(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		save(late, recovery.IncidentOpen, t0.Add(15*time.Minute))
		save(soon, recovery.IncidentOpen, t0.Add(5*time.Minute))
		save(resolved, recovery.IncidentResolved, t0.Add(time.Minute))
		save(acked, recovery.IncidentOpen, t0.Add(time.Minute))
		acked, err := s.Incident(ctx, acked.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := due(t0.Add(time.Minute)), []string{"INC-ACKED"}; !slices.Equal(got, want) {
			t.Fatalf("due at t0+1m: got %v, want %v", got, want)
		}
		// Acknowledging stops the clock (recovery clears the deadline).
		acked.AckBy, acked.AckAt = "U1", t0.Add(30*time.Second)
		save(acked, recovery.IncidentAcknowledged, time.Time{})

		if got := due(t0.Add(4 * time.Minute)); len(got) != 0 {
			t.Fatalf("due at t0+4m: got %v, want none (the acknowledged and the resolved never are)", got)
		}
		if got, want := due(t0.Add(5*time.Minute)), []string{"INC-SOON"}; !slices.Equal(got, want) {
			t.Fatalf("due at t0+5m: got %v, want %v (due at its deadline exactly)", got, want)
		}
		all, err := s.DueEscalations(ctx, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := incidentIDs(all), []string{"INC-SOON", "INC-LATE"}; !slices.Equal(got, want) {
			t.Fatalf("due at t0+1h: got %v, want %v (earliest deadline first)", got, want)
		}
		if e := all[1].Escalation; !e.DueAt.Equal(t0.Add(15*time.Minute)) || e.Row != "critical-prod" || all[1].Version != 2 {
			t.Fatalf("the due incident: got escalation %+v, version %d; want due at t0+15m on row critical-prod, version 2", e, all[1].Version)
		}
	})
}

func TestRecentIncidents(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
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
		create("NEW-RESOLVED-CRIT", recovery.SeverityCritical, t0.Add(-time.Hour), true)
		create("NEW-OPEN-CRIT", recovery.SeverityCritical, t0.Add(-30*time.Minute), false)
		create("NEW-OPEN-LOW", recovery.SeverityLow, t0.Add(-10*time.Minute), false)

		recent := func(limit int) []string {
			t.Helper()
			ins, err := s.RecentIncidents(ctx, t0.Add(-24*time.Hour), limit)
			if err != nil {
				t.Fatal(err)
			}
			return incidentIDs(ins)
		}
		// Open ones first, most severe then newest; then the recently resolved; the
		// incident resolved before the window not at all.
		want := []string{"NEW-OPEN-CRIT", "NEW-OPEN-LOW", "OLD-OPEN-LOW", "NEW-RESOLVED-CRIT"}
		if got := recent(10); !slices.Equal(got, want) {
			t.Fatalf("recent incidents: got %v, want %v", got, want)
		}
		if got := recent(2); !slices.Equal(got, want[:2]) {
			t.Fatalf("recent incidents, limit 2: got %v, want %v", got, want[:2])
		}
	})
}

func TestIncidentAudit(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		s := db.open(t, nil)
		ctx := context.Background()
		for _, e := range []recovery.AuditEntry{
			{At: t0.Add(3 * time.Second), Actor: "U2", Action: "incident.acknowledged", Env: "prod", IncidentID: "INC-1"},
			{At: t0, Actor: "medic", Action: "incident.opened", Env: "prod", IncidentID: "INC-1", Detail: map[string]string{"source": "run:42"}},
			{At: t0.Add(time.Second), Actor: "medic", Action: "incident.opened", Env: "preprod", IncidentID: "INC-2"},
			{At: t0.Add(2 * time.Second), Actor: "U1", Action: "job.started", Env: "prod", IncidentID: "INC-1", JobID: "JOB-1"},
		} {
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.IncidentAudit(ctx, "INC-1")
		if err != nil {
			t.Fatal(err)
		}
		actions := ids(got, func(e recovery.AuditEntry) string { return e.Action })
		if want := []string{"incident.opened", "job.started", "incident.acknowledged"}; !slices.Equal(actions, want) {
			t.Fatalf("audit of INC-1: got %v, want %v (oldest first, INC-1's only)", actions, want)
		}
		if e := got[0]; e.Detail["source"] != "run:42" || !e.At.Equal(t0) || e.Actor != "medic" || e.Env != "prod" {
			t.Fatalf("first entry: got %+v, want medic's at t0 in prod with source run:42", e)
		}
		byJob, err := s.Audit(ctx, AuditFilter{JobID: "JOB-1"})
		if err != nil || len(byJob) != 1 || byJob[0].Action != "job.started" {
			t.Fatalf("audit of JOB-1: got %+v, %v; want the job.started entry", byJob, err)
		}
		firstTwo, err := s.Audit(ctx, AuditFilter{Env: "prod", Limit: 2})
		if got := ids(firstTwo, func(e recovery.AuditEntry) string { return e.Action }); err != nil ||
			!slices.Equal(got, []string{"incident.opened", "job.started"}) {
			t.Fatalf("first two of prod: got %v, %v; want [incident.opened job.started]", got, err)
		}
		if none, err := s.IncidentAudit(ctx, "INC-404"); err != nil || len(none) != 0 {
			t.Fatalf("audit of an unknown incident: got %+v, %v; want none", none, err)
		}
	})
}

func TestLeases(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		clk := newClock(t0)
		a, b := db.open(t, clk.Now), db.open(t, clk.Now) // two replicas
		ctx := context.Background()
		acquire := func(s *Store, holder string) bool {
			t.Helper()
			ok, err := s.AcquireLease(ctx, "leader", holder, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		holder := func() (string, time.Time) {
			t.Helper()
			h, until, err := b.LeaseHolder(ctx, "leader")
			if err != nil {
				t.Fatal(err)
			}
			return h, until
		}
		if h, until := holder(); h != "" || !until.IsZero() {
			t.Fatalf("a lease never taken: held by %q until %v, want nobody", h, until)
		}
		if !acquire(a, "replica-a") {
			t.Fatal("replica-a could not take a free lease")
		}
		if h, until := holder(); h != "replica-a" || !until.Equal(t0.Add(time.Minute)) {
			t.Fatalf("holder: got %q until %v, want replica-a until %v", h, until, t0.Add(time.Minute))
		}
		if acquire(b, "replica-b") {
			t.Fatal("replica-b took a lease replica-a holds")
		}

		clk.Add(50 * time.Second)
		if !acquire(a, "replica-a") {
			t.Fatal("replica-a could not renew its lease")
		}
		clk.Add(50 * time.Second) // past the first term, within the renewed one
		if acquire(b, "replica-b") {
			t.Fatal("replica-b took a renewed lease before it expired")
		}
		if h, until := holder(); h != "replica-a" || !until.Equal(t0.Add(110*time.Second)) {
			t.Fatalf("after renewal: got %q until %v, want replica-a until %v", h, until, t0.Add(110*time.Second))
		}

		clk.Add(10 * time.Second) // replica-a stopped renewing: the lease runs out now
		if h, _ := holder(); h != "" {
			t.Fatalf("an expired lease is held by %q, want nobody", h)
		}
		if !acquire(b, "replica-b") {
			t.Fatal("replica-b could not take an expired lease")
		}
		if acquire(a, "replica-a") {
			t.Fatal("replica-a took its lease back from replica-b")
		}

		if err := a.ReleaseLease(ctx, "leader", "replica-a"); err != nil {
			t.Fatal(err)
		}
		if h, _ := holder(); h != "replica-b" {
			t.Fatalf("replica-a released a lease it did not hold: holder %q, want replica-b", h)
		}
		if err := b.ReleaseLease(ctx, "leader", "replica-b"); err != nil {
			t.Fatal(err)
		}
		if !acquire(a, "replica-a") {
			t.Fatal("replica-a could not take a released lease")
		}
		if ok, err := a.AcquireLease(ctx, "other", "replica-b", time.Minute); err != nil || !ok {
			t.Fatalf("a second lease name: got %v, %v; want true (leases are independent)", ok, err)
		}
		if _, err := a.AcquireLease(ctx, "leader", "replica-a", 0); err == nil || !strings.Contains(err.Error(), "positive ttl") {
			t.Fatalf("a zero ttl: got %v, want an error", err)
		}
	})
}

// TestPlans: a request's saved plan comes back byte for byte with the SHA-256 of what
// was read, on another replica too; saving again replaces it; deleting and purging
// forget it; an oversized plan is refused.
func TestPlans(t *testing.T) {
	each(t, func(t *testing.T, db testDB) {
		at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { return at }
		s := db.open(t, clock)
		other := db.open(t, clock)
		ctx := context.Background()
		plan := []byte("PK\x03\x04 a zip holding tfplan, tfstate and tfconfig \x00\xff")
		if err := s.SavePlan(ctx, "REQ-1", plan); err != nil {
			t.Fatal(err)
		}
		got, sum, err := other.Plan(ctx, "REQ-1")
		if err != nil || string(got) != string(plan) || sum != sha256Hex(plan) {
			t.Fatalf("got %q %s %v, want the plan byte for byte and its SHA-256 %s", got, sum, err, sha256Hex(plan))
		}
		newer := append(plan, '!')
		if err := s.SavePlan(ctx, "REQ-1", newer); err != nil {
			t.Fatal(err)
		}
		if got, sum, _ := s.Plan(ctx, "REQ-1"); string(got) != string(newer) || sum != sha256Hex(newer) {
			t.Errorf("after saving again: got %q, want the newer plan", got)
		}
		if _, _, err := s.Plan(ctx, "REQ-none"); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("a plan never saved: got %v, want ErrNotFound", err)
		}
		if err := s.DeletePlan(ctx, "REQ-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePlan(ctx, "REQ-1"); err != nil {
			t.Errorf("deleting twice: %v", err)
		}
		if _, _, err := s.Plan(ctx, "REQ-1"); !errors.Is(err, recovery.ErrNotFound) {
			t.Errorf("after delete: got %v, want ErrNotFound", err)
		}
		if err := s.SavePlan(ctx, "REQ-2", plan); err != nil {
			t.Fatal(err)
		}
		if n, err := s.PurgePlans(ctx, at); err != nil || n != 0 {
			t.Errorf("purging plans older than their save: got %d, %v; want 0", n, err)
		}
		if n, err := s.PurgePlans(ctx, at.Add(time.Millisecond)); err != nil || n != 1 {
			t.Errorf("purging plans saved before now: got %d, %v; want 1", n, err)
		}
		if err := s.SavePlan(ctx, "REQ-3", make([]byte, recovery.MaxPlanBytes+1)); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("an oversized plan: got %v, want it refused", err)
		}
	})
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
