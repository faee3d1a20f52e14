package recovery_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// A production deploy failure, driven through the harness as the webhook and the
// buttons drive medic: one HIGH "Production deployment failed" alert in prod's
// channel, and an approved rollback that applies the plan its approver saw, at the
// last good version, and says so in the thread.
func TestHarnessProdDeployFailureRollsBack(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)

	alerts := h.Publisher.Alerts()
	if len(alerts) != 1 {
		t.Fatalf("alerts: got %d, want 1", len(alerts))
	}
	a := alerts[0]
	if a.ID != in.ID || a.Scenario != recovery.ProdDeployFail || a.Severity != recovery.SeverityHigh || a.Channel != recoverytest.Channel("prod") {
		t.Fatalf("alert: got %s %s %s in %s, want %s %s %s in %s", a.ID, a.Scenario, a.Severity, a.Channel,
			in.ID, recovery.ProdDeployFail, recovery.SeverityHigh, recoverytest.Channel("prod"))
	}
	if in.RollbackSHA != recoverytest.GoodSHA {
		t.Fatalf("rollback target: got %q, want the last good deploy %q", in.RollbackSHA, recoverytest.GoodSHA)
	}

	job := h.Approved(t, in.ID, recovery.ActRollback)
	if job.Params.SHA != recoverytest.GoodSHA || job.ApprovedBy != recoverytest.Approver || job.RequestedBy != recoverytest.Requester {
		t.Fatalf("job: got %s at %s, requested by %s, approved by %s; want rollback to %s, %s then %s",
			job.Action, job.Params.SHA, job.RequestedBy, job.ApprovedBy, recoverytest.GoodSHA, recoverytest.Requester, recoverytest.Approver)
	}
	job = h.WaitJob(t, job.ID)
	if job.State != recovery.JobSucceeded {
		t.Fatalf("job %s: got %s (%s), want %s", job.ID, job.State, job.Error, recovery.JobSucceeded)
	}

	planned := h.Terraform.CallsTo("Plan")
	applied := h.Terraform.Applied()
	if len(planned) != 1 || len(applied) != 1 {
		t.Fatalf("terraform: got %d plans and %d applies, want 1 and 1", len(planned), len(applied))
	}
	if env, sha := planned[0].Args[0], planned[0].Args[1]; env != "prod" || sha != recoverytest.GoodSHA {
		t.Fatalf("planned: got %v at %v, want prod at %s", env, sha, recoverytest.GoodSHA)
	}
	if want := "plan #1 of prod at " + recoverytest.GoodSHA; !strings.HasPrefix(string(applied[0]), want) {
		t.Fatalf("applied: got %q, want the previewed plan %q", applied[0], want)
	}
	texts := h.Publisher.Texts(in.ID)
	succeeded := "Job " + job.ID + " (Roll back to last good on prod) succeeded."
	if !slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, succeeded) }) {
		t.Fatalf("thread of %s: got %q, want a note saying %q", in.ID, texts, succeeded)
	}
	if got := h.AuditActions(t, in.ID); !slices.Contains(got, "job.succeeded") || !slices.Contains(got, "request.approved") {
		t.Fatalf("audit of %s: got %v, want request.approved and job.succeeded", in.ID, got)
	}
}

// A drill's engine (EngineDeps.IDPrefix) makes every incident, request and job ID with
// its prefix, so none looks like a real one or is taken for it.
func TestIDPrefixMarksEveryID(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.IDPrefix = "DRILL-" }))
	in := h.FailJob(t, recovery.JobDeployProd)
	job := h.Approved(t, in.ID, recovery.ActRollback)
	for what, id := range map[string]string{"incident": in.ID, "request": job.RequestID, "job": job.ID} {
		if !strings.HasPrefix(id, "DRILL-") {
			t.Errorf("%s ID %q: want it to start with DRILL-", what, id)
		}
	}
	if !strings.HasPrefix(in.ID, "DRILL-INC-") || !strings.HasPrefix(job.RequestID, "DRILL-REQ-") || !strings.HasPrefix(job.ID, "DRILL-JOB-") {
		t.Errorf("IDs %s %s %s: want DRILL-INC-, DRILL-REQ-, DRILL-JOB-", in.ID, job.RequestID, job.ID)
	}
	h.WaitJob(t, job.ID)
}
