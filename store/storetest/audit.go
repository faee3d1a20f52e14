package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// testIncidentAudit: an incident's entries, oldest first whatever the order they were
// appended in, with what each said.
func testIncidentAudit(t *testing.T, open Open) {
	s := one(t, open, nil)
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
	if want := []string{"incident.opened", "job.started", "incident.acknowledged"}; !slices.Equal(actions(got), want) {
		t.Fatalf("audit of INC-1: got %v, want %v (oldest first, INC-1's only)", actions(got), want)
	}
	if e := got[0]; e.Detail["source"] != "run:42" || !e.At.Equal(t0) || e.Actor != "medic" || e.Env != "prod" || e.IncidentID != "INC-1" {
		t.Fatalf("first entry: got %+v, want medic's at t0 in prod about INC-1 with source run:42", e)
	}
	if e := got[1]; e.JobID != "JOB-1" || e.Actor != "U1" || !e.At.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("second entry: got %+v, want U1's at t0+2s about JOB-1", e)
	}
	if none, err := s.IncidentAudit(ctx, "INC-404"); err != nil || len(none) != 0 {
		t.Fatalf("audit of an unknown incident: got %+v, %v; want none", none, err)
	}
}

// testAuditOrder: entries of one time keep the order they were appended in; an entry
// without a time is stamped with the store's clock.
func testAuditOrder(t *testing.T, open Open) {
	clk := newClock(t0.Add(time.Minute))
	s := one(t, open, clk.Now)
	ctx := context.Background()
	entries := []recovery.AuditEntry{
		{At: t0.Add(2 * time.Second), Actor: "U2", Action: "approved", IncidentID: "inc-1", Detail: map[string]string{"sha": "abc123"}},
		{At: t0, Actor: "medic", Action: "detected", IncidentID: "inc-1"},
		{At: t0.Add(time.Second), Actor: "U1", Action: "requested", IncidentID: "inc-2"},
		{Actor: "medic", Action: "stamped", IncidentID: "inc-1"},
	}
	for _, a := range []string{"same-1", "same-2", "same-3", "same-4"} {
		entries = append(entries, recovery.AuditEntry{At: t0.Add(5 * time.Second), Actor: "medic", Action: a, IncidentID: "inc-1"})
	}
	for _, e := range entries {
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.IncidentAudit(ctx, "inc-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"detected", "approved", "same-1", "same-2", "same-3", "same-4", "stamped"}; !slices.Equal(actions(got), want) {
		t.Fatalf("audit of inc-1: got %v, want %v", actions(got), want)
	}
	if got[1].Detail["sha"] != "abc123" {
		t.Fatalf("the approval's detail: got %v, want sha abc123", got[1].Detail)
	}
	if at := got[len(got)-1].At; !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("an entry appended without a time: got %v, want the store's now %v", at, t0.Add(time.Minute))
	}
}
