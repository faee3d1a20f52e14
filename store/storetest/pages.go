package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// testPages: pages due soonest first (then by ID), at most the limit; a page sent is
// final; a page put off is due again at its retry with what it reached.
func testPages(t *testing.T, open Open) {
	s := one(t, open, nil)
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
	if got := due(t0.Add(-time.Minute-time.Second), 10); len(got) != 0 {
		t.Fatalf("due 1s before the first is: got %v, want none", pageIDs(got))
	}
	if got, want := pageIDs(due(t0, 10)), []string{"INC-2#1/slack", "INC-1#1/pagerduty"}; !slices.Equal(got, want) {
		t.Fatalf("due at t0: got %v, want %v (soonest first, the later page not yet)", got, want)
	}
	if got, want := pageIDs(due(t0, 1)), []string{"INC-2#1/slack"}; !slices.Equal(got, want) {
		t.Fatalf("due at t0, limit 1: got %v, want %v", got, want)
	}
	if got := due(t0, 0); len(got) != 0 {
		t.Fatalf("due at t0, limit 0: got %v, want none", pageIDs(got))
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
	if got := due(t0.Add(5*time.Minute-time.Second), 10); len(got) != 0 {
		t.Fatalf("due 1s before the retry: got %v, want none", pageIDs(got))
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
	if got := due(t0.Add(time.Hour), 10); !slices.Equal(pageIDs(got), []string{"INC-2#1/slack", "INC-1#2/pagerduty"}) {
		t.Fatalf("due at t0+1h after the stale update: got %v, want [INC-2#1/slack INC-1#2/pagerduty] (the sent page stays sent)", pageIDs(got))
	}
	failed := later[0]
	failed.State = recovery.PageFailed
	if err := s.UpdatePage(ctx, failed); err != nil {
		t.Fatal(err)
	}
	failed.State = recovery.PageSent
	if err := s.UpdatePage(ctx, failed); !errors.Is(err, recovery.ErrConflict) {
		t.Fatalf("saving a failed page again: got %v, want ErrConflict (failed is final)", err)
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

	// Ties: pages due at the same time, or made at the same time, go by ID.
	for _, id := range []string{"INC-3#2/slack", "INC-3#1/slack"} {
		if err := s.AddPage(ctx, page(id, "INC-3", t0.Add(time.Hour), t0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := pageIDs(due(t0.Add(time.Hour), 1)), []string{"INC-1#2/pagerduty"}; !slices.Equal(got, want) {
		t.Fatalf("due at t0+1h, limit 1: got %v, want %v (the soonest)", got, want)
	}
	if got, want := pageIDs(due(t0.Add(time.Hour), 10)), []string{"INC-1#2/pagerduty", "INC-3#1/slack", "INC-3#2/slack"}; !slices.Equal(got, want) {
		t.Fatalf("due at t0+1h: got %v, want %v (soonest first, then by ID)", got, want)
	}
	of3, err := s.PagesOf(ctx, "INC-3")
	if got, want := pageIDs(of3), []string{"INC-3#1/slack", "INC-3#2/slack"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("pages of INC-3: got %v, %v; want %v (made together: by ID)", got, err, want)
	}
}

// testDueEscalations: an incident is due at its deadline exactly, not before; the
// acknowledged (deadline cleared) and the resolved never are; earliest deadline first.
func testDueEscalations(t *testing.T, open Open) {
	s := one(t, open, nil)
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
	created := inc("INC-CREATED-DUE")
	created.Escalation.DueAt = t0.Add(30 * time.Minute)
	mustCreateIncident(t, s, created)

	due := func(at time.Time) []string {
		t.Helper()
		ins, err := s.DueEscalations(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		return incidentIDs(ins)
	}
	if got := due(t0.Add(29 * time.Minute)); len(got) != 0 {
		t.Fatalf("before any deadline was saved: got %v due, want none", got)
	}
	if got, want := due(t0.Add(30*time.Minute)), []string{"INC-CREATED-DUE"}; !slices.Equal(got, want) {
		t.Fatalf("at the deadline it was created with: got %v due, want %v", got, want)
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
	if got := due(t0.Add(time.Minute - time.Second)); len(got) != 0 {
		t.Fatalf("due at t0+59s: got %v, want none (1s before the first deadline)", got)
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
	if got, want := incidentIDs(all), []string{"INC-SOON", "INC-LATE", "INC-CREATED-DUE"}; !slices.Equal(got, want) {
		t.Fatalf("due at t0+1h: got %v, want %v (earliest deadline first)", got, want)
	}
	if e := all[1].Escalation; !e.DueAt.Equal(t0.Add(15*time.Minute)) || e.Row != "critical-prod" || all[1].Version != 2 {
		t.Fatalf("the due incident: got escalation %+v, version %d; want due at t0+15m on row critical-prod, version 2", e, all[1].Version)
	}
	// Ties go by ID.
	tie := late
	tie.ID, tie.SourceKey = "INC-A-LATE", "source:INC-A-LATE"
	tie.Escalation.DueAt = t0.Add(15 * time.Minute)
	tie.Version = 0
	mustCreateIncident(t, s, tie)
	if got, want := due(t0.Add(15*time.Minute)), []string{"INC-SOON", "INC-A-LATE", "INC-LATE"}; !slices.Equal(got, want) {
		t.Fatalf("due at t0+15m: got %v, want %v (one deadline: by ID)", got, want)
	}
}
