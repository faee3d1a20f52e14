package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// The conformance suite every store passes lives in store/storetest (TestConformance
// in backend_test.go runs it here); this file tests what only the SQL store has.

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

// TestAuditFilter: Audit selects by incident, job and environment, oldest first, at
// most Limit; an empty filter reads the whole log.
func TestAuditFilter(t *testing.T) {
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
		actions := func(f AuditFilter) []string {
			t.Helper()
			es, err := s.Audit(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range es {
				out = append(out, e.Action)
			}
			return out
		}
		for _, c := range []struct {
			name string
			f    AuditFilter
			want []string
		}{
			{"everything", AuditFilter{}, []string{"incident.opened", "incident.opened", "job.started", "incident.acknowledged"}},
			{"INC-1", AuditFilter{IncidentID: "INC-1"}, []string{"incident.opened", "job.started", "incident.acknowledged"}},
			{"JOB-1", AuditFilter{JobID: "JOB-1"}, []string{"job.started"}},
			{"preprod", AuditFilter{Env: "preprod"}, []string{"incident.opened"}},
			{"first two of prod", AuditFilter{Env: "prod", Limit: 2}, []string{"incident.opened", "job.started"}},
			{"INC-1 in preprod", AuditFilter{IncidentID: "INC-1", Env: "preprod"}, nil},
		} {
			if got := actions(c.f); !slices.Equal(got, c.want) {
				t.Errorf("audit of %s: got %v, want %v", c.name, got, c.want)
			}
		}
	})
}
