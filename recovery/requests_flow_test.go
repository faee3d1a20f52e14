package recovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// The flows of requests through the engine, as the request form, the buttons and the
// expiry round drive them: who may request and approve, the request's time to live,
// one pending request per incident and action, rejection and previews.

const (
	requester = recoverytest.Requester
	approver  = recoverytest.Approver
	admin     = recoverytest.Admin
	outsider  = recoverytest.Outsider
)

// requestTTL is RunbookPolicy's: a request waits 15 minutes for its approval.
const requestTTL = 15 * time.Minute

// mustRequest has ar.User request ar.Action, waits for its preview and returns the
// request as stored; it fails tb when medic refuses or posts no request.
func mustRequest(tb testing.TB, h *recoverytest.Harness, ar recovery.ActionRequest) recovery.Request {
	tb.Helper()
	r, reply, err := h.Request(tb, ar)
	if err != nil || r.ID == "" {
		tb.Fatalf("requesting %s: got %q, %v; want a request posted", ar.Action, reply, err)
	}
	return h.WaitPreview(tb, r.ID)
}

// mustApprove has user approve a request and returns the job it started.
func mustApprove(tb testing.TB, h *recoverytest.Harness, requestID, user string) recovery.Job {
	tb.Helper()
	reply, err := h.Approve(tb, requestID, user)
	if err != nil {
		tb.Fatalf("approving %s as %s: got %q, %v; want approved", requestID, user, reply, err)
	}
	r, err := h.Store.Request(tb.Context(), requestID)
	if err != nil || r.JobID == "" {
		tb.Fatalf("request %s: no job after its approval (%v)", requestID, err)
	}
	return h.Job(tb, r.JobID)
}

// auditOf returns an incident's audit entries of one action, oldest first.
func auditOf(tb testing.TB, h *recoverytest.Harness, incidentID, action string) []recovery.AuditEntry {
	tb.Helper()
	var out []recovery.AuditEntry
	for _, e := range h.Audit(tb, incidentID) {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// hasText reports whether one of texts contains s.
func hasText(texts []string, s string) bool {
	return slices.ContainsFunc(texts, func(t string) bool { return strings.Contains(t, s) })
}

// shownRequest returns a request's message as it stands; it fails tb when none was posted.
func shownRequest(tb testing.TB, h *recoverytest.Harness, id string) recovery.Request {
	tb.Helper()
	r, ok := h.Publisher.Request(id)
	if !ok {
		tb.Fatalf("request %s: no message posted", id)
	}
	return r
}

func TestRequestByOutsiderIsRefusedAndAudited(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)

	r, reply, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: outsider})
	want := "You need the *responder* role for prod to request Roll back to last good (config: access.roles). Nothing was done."
	if got := recoverytest.UserMessage(err); got != want || r.ID != "" || reply != "" {
		t.Fatalf("requesting as %s: got request %q, %q, %q; want no request and %q", outsider, r.ID, reply, got, want)
	}
	refused := auditOf(t, h, in.ID, "request.refused")
	if len(refused) != 1 || refused[0].Actor != outsider || refused[0].Detail["why"] != "not a responder" || refused[0].Detail["action"] != "rollback" {
		t.Fatalf("audit request.refused: got %+v, want one by %s, why not a responder, action rollback", refused, outsider)
	}
	if got := h.Terraform.Count("Plan"); got != 0 {
		t.Fatalf("terraform plans after the refusal: got %d, want 0", got)
	}

	// A responder through the on-call group may.
	r = mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: recoverytest.GroupMember})
	if r.RequestedBy != recoverytest.GroupMember || r.State != recovery.RequestPending {
		t.Fatalf("request by %s: got %s by %s, want pending", recoverytest.GroupMember, r.State, r.RequestedBy)
	}
}

func TestProductionApprovalNeedsASecondApprover(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	// An approver asks; only another approver (or an admin) may approve.
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: approver})
	if !r.NeedsApproval {
		t.Fatalf("request %s on prod: got NeedsApproval false, want true", r.ID)
	}

	_, err := h.Approve(t, r.ID, approver)
	if got, want := recoverytest.UserMessage(err), "You requested this: a second person must approve it."; got != want {
		t.Fatalf("approving one's own request: got %q (%v), want %q", got, err, want)
	}
	_, err = h.Approve(t, r.ID, requester)
	if got, want := recoverytest.UserMessage(err), "You need the *approver* role for prod to approve (config: access.roles). Nothing was done."; got != want {
		t.Fatalf("approving as a responder: got %q (%v), want %q", got, err, want)
	}
	refused := auditOf(t, h, in.ID, "request.approve.refused")
	var whys []string
	for _, e := range refused {
		whys = append(whys, e.Actor+": "+e.Detail["why"])
	}
	if want := []string{approver + ": requester approving their own request", requester + ": not an approver"}; !slices.Equal(whys, want) {
		t.Fatalf("audit request.approve.refused: got %q, want %q", whys, want)
	}
	if got := shownRequest(t, h, r.ID); got.State != recovery.RequestPending {
		t.Fatalf("request message after two refusals: got %s, want pending", got.State)
	}

	job := mustApprove(t, h, r.ID, admin)
	if job.ApprovedBy != admin || job.RequestedBy != approver {
		t.Fatalf("job: got requested by %s, approved by %s; want %s then %s", job.RequestedBy, job.ApprovedBy, approver, admin)
	}
	h.WaitJob(t, job.ID)
	shown := shownRequest(t, h, r.ID)
	if shown.State != recovery.RequestApproved || shown.DecidedBy != admin || shown.JobID != job.ID {
		t.Fatalf("request message: got %s by %s, job %q; want approved by %s, job %s", shown.State, shown.DecidedBy, shown.JobID, admin, job.ID)
	}
	approved := auditOf(t, h, in.ID, "request.approved")
	if len(approved) != 1 || approved[0].Actor != admin || approved[0].Detail["requested_by"] != approver || approved[0].Detail["plan_sha256"] != r.Preview.PlanSHA256 {
		t.Fatalf("audit request.approved: got %+v, want one by %s of %s's request with plan %s", approved, admin, approver, r.Preview.PlanSHA256)
	}
}

func TestSelfServiceRunsWithoutApproval(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev)

	r, reply, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester})
	if err != nil || r.ID == "" {
		t.Fatalf("requesting a re-run in dev: got %q, %v", reply, err)
	}
	if want := fmt.Sprintf("Re-run failed jobs on dev runs without approval (self-service) once its preview is ready; it reports in the thread (%s).", r.ID); reply != want {
		t.Fatalf("reply: got %q, want %q", reply, want)
	}
	shown := h.Publisher.WaitRequest(t, "approved by policy", func(x recovery.Request) bool {
		return x.ID == r.ID && x.State == recovery.RequestApproved && x.JobID != ""
	})
	if shown.DecidedBy != "policy" || shown.NeedsApproval {
		t.Fatalf("request message: got decided by %q, NeedsApproval %v; want policy, false", shown.DecidedBy, shown.NeedsApproval)
	}
	job := h.WaitJob(t, shown.JobID)
	if job.State != recovery.JobSucceeded || job.ApprovedBy != "policy" {
		t.Fatalf("job: got %s approved by %q, want succeeded approved by policy", job.State, job.ApprovedBy)
	}
	calls := h.GitHub.CallsTo("RerunFailedJobs")
	if len(calls) != 1 || calls[0].Args[0] != in.RunID {
		t.Fatalf("GitHub re-runs: got %v, want one of run %d", calls, in.RunID)
	}
	texts := h.Publisher.Texts(in.ID)
	if want := fmt.Sprintf(":gear: Job %s started: Re-run failed jobs on dev (1 steps), approved by policy (self-service).", job.ID); !hasText(texts, want) {
		t.Fatalf("thread: got %q, want %q", texts, want)
	}
	approved := auditOf(t, h, in.ID, "request.approved")
	if len(approved) != 1 || approved[0].Actor != requester || approved[0].Detail["by"] != "policy (self-service)" {
		t.Fatalf("audit request.approved: got %+v, want one by policy (self-service)", approved)
	}
}

// A re-run in dev is self-service, but not for an incident rated HIGH: it waits for a
// second person, who starts it.
func TestHighIncidentInDevNeedsApproval(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev)
	in.Severity = recovery.SeverityHigh
	if _, err := h.Store.UpdateIncident(t.Context(), in); err != nil {
		t.Fatal(err)
	}

	r, reply, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester})
	if err != nil || r.ID == "" {
		t.Fatalf("requesting a re-run: got %q, %v", reply, err)
	}
	if want := fmt.Sprintf("Requested Re-run failed jobs on dev (%s). Its preview is being prepared; an approver other than you must approve it in the thread before 09:15 UTC.", r.ID); reply != want {
		t.Fatalf("reply: got %q, want %q", reply, want)
	}
	// The preview is in (the worker ran and showed it): still pending, nothing re-run.
	shown := h.Publisher.WaitRequest(t, "with its preview", func(x recovery.Request) bool { return x.ID == r.ID && x.PreviewReady })
	if shown.State != recovery.RequestPending || !shown.NeedsApproval {
		t.Fatalf("request message with its preview: got %s, NeedsApproval %v; want pending, true", shown.State, shown.NeedsApproval)
	}
	if got := h.GitHub.Count("RerunFailedJobs"); got != 0 {
		t.Fatalf("re-runs before the approval: got %d, want 0", got)
	}
	job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
	if job.State != recovery.JobSucceeded || h.GitHub.Count("RerunFailedJobs") != 1 {
		t.Fatalf("after the approval: job %s, %d re-runs; want succeeded, 1", job.State, h.GitHub.Count("RerunFailedJobs"))
	}
}

// Production never runs self-service, even an action that is self-service elsewhere.
func TestProductionReRunNeedsApproval(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester})
	if r.State != recovery.RequestPending || !r.NeedsApproval {
		t.Fatalf("re-run on prod with its preview: got %s, NeedsApproval %v; want pending, true", r.State, r.NeedsApproval)
	}
	if got := h.GitHub.Count("RerunFailedJobs"); got != 0 {
		t.Fatalf("re-runs before the approval: got %d, want 0", got)
	}
}

// The request's time to live: approvable until RequestTTL has passed, expired after.
func TestRequestApprovableOneSecondBeforeItsTTL(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	if want := recoverytest.Start.Add(requestTTL); !r.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt: got %v, want %v", r.ExpiresAt, want)
	}

	h.Advance(requestTTL - time.Second)
	if err := h.ExpireRequests(t); err != nil {
		t.Fatal(err)
	}
	if got := shownRequest(t, h, r.ID); got.State != recovery.RequestPending {
		t.Fatalf("request message at TTL - 1 s after an expiry round: got %s, want pending", got.State)
	}
	job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
	if job.State != recovery.JobSucceeded {
		t.Fatalf("job approved at TTL - 1 s: got %s (%s), want succeeded", job.State, job.Error)
	}
	if got := auditOf(t, h, in.ID, "request.expired"); len(got) != 0 {
		t.Fatalf("audit request.expired: got %+v, want none", got)
	}
}

func TestRequestExpiredOneSecondAfterItsTTL(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})

	h.Advance(requestTTL + time.Second)
	if err := h.ExpireRequests(t); err != nil {
		t.Fatal(err)
	}
	shown := shownRequest(t, h, r.ID)
	if shown.State != recovery.RequestExpired || shown.DecidedBy != "medic" {
		t.Fatalf("request message at TTL + 1 s after an expiry round: got %s by %q, want expired by medic", shown.State, shown.DecidedBy)
	}
	expired := auditOf(t, h, in.ID, "request.expired")
	if len(expired) != 1 || expired[0].Actor != "medic" || expired[0].Detail["request"] != r.ID {
		t.Fatalf("audit request.expired: got %+v, want one of %s by medic", expired, r.ID)
	}
	if _, _, err := h.Store.Plan(t.Context(), r.ID); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("saved plan of the expired request: got %v, want it dropped (not found)", err)
	}

	reply, err := h.Approve(t, r.ID, approver)
	if want := r.ID + " was already expired by medic."; reply != want || err != nil {
		t.Fatalf("approving after the expiry: got %q, %v; want %q", reply, err, want)
	}
	if got := h.Terraform.Count("ApplyPlan"); got != 0 || shownRequest(t, h, r.ID).JobID != "" {
		t.Fatalf("after approving an expired request: %d applies, job %q; want none", got, shownRequest(t, h, r.ID).JobID)
	}

	// Asking again makes a new request.
	again := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	if again.ID == r.ID || again.State != recovery.RequestPending {
		t.Fatalf("a new request after the expiry: got %s %s, want a new pending one", again.ID, again.State)
	}
}

// Approving after the TTL expires the request then, even before an expiry round.
func TestApprovingAfterTheTTLSaysItExpired(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})

	h.Advance(requestTTL + time.Second)
	_, err := h.Approve(t, r.ID, approver)
	if got, want := recoverytest.UserMessage(err), r.ID+" expired at 09:15 UTC without an approval. Request it again if it is still needed."; got != want {
		t.Fatalf("approving at TTL + 1 s: got %q (%v), want %q", got, err, want)
	}
	if shown := shownRequest(t, h, r.ID); shown.State != recovery.RequestExpired || shown.JobID != "" {
		t.Fatalf("request message: got %s, job %q; want expired, no job", shown.State, shown.JobID)
	}
	refused := auditOf(t, h, in.ID, "request.approve.refused")
	if len(refused) != 1 || refused[0].Actor != approver || refused[0].Detail["why"] != "expired" {
		t.Fatalf("audit request.approve.refused: got %+v, want one by %s, why expired", refused, approver)
	}
	if got := auditOf(t, h, in.ID, "request.expired"); len(got) != 1 {
		t.Fatalf("audit request.expired: got %+v, want one", got)
	}
	if got := h.Terraform.Count("ApplyPlan"); got != 0 {
		t.Fatalf("applies: got %d, want 0", got)
	}
}

// A second click (the same person or another) while a request is pending returns
// it, sequentially or at the same moment: one request message.
func TestDoubleClickRequestsOnce(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	ar := recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester}

	h.Advance(3 * time.Minute) // requested at 09:03
	replies := make([]string, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() { replies[i], errs[i] = h.Engine.RequestAction(t.Context(), ar) })
	}
	wg.Wait()
	rs := h.Publisher.Requests()
	if len(rs) != 1 {
		t.Fatalf("request messages after two clicks at once: got %d, want 1", len(rs))
	}
	already := fmt.Sprintf("Roll back to last good was already requested by <@%s> at 09:03 UTC (%s); it is waiting for approval in the thread.", requester, rs[0].ID)
	if errs[0] != nil || errs[1] != nil || !slices.Contains(replies, already) {
		t.Fatalf("replies: got %q (%v), want one of them %q", replies, errs, already)
	}

	// Later, another responder clicks: the same pending request.
	h.WaitPreview(t, rs[0].ID)
	reply, err := h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: recoverytest.GroupMember})
	if reply != already || err != nil {
		t.Fatalf("a later click: got %q, %v; want %q", reply, err, already)
	}
	if got := len(h.Publisher.Requests()); got != 1 {
		t.Fatalf("request messages: got %d, want 1", got)
	}
	if got := h.Terraform.Count("Plan"); got != 1 {
		t.Fatalf("previews planned: got %d, want 1", got)
	}
	if got := auditOf(t, h, in.ID, "request.created"); len(got) != 1 {
		t.Fatalf("audit request.created: got %d, want 1", len(got))
	}
}

func TestRejectClosesTheRequest(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})

	// Someone without the approver role may not reject another person's request.
	_, err := h.Reject(t, r.ID, recoverytest.GroupMember)
	if got, want := recoverytest.UserMessage(err), "You need the *approver* role for prod to reject another person's request."; got != want {
		t.Fatalf("rejecting as a responder: got %q (%v), want %q", got, err, want)
	}
	refused := auditOf(t, h, in.ID, "request.reject.refused")
	if len(refused) != 1 || refused[0].Actor != recoverytest.GroupMember || refused[0].Detail["why"] != "not an approver" {
		t.Fatalf("audit request.reject.refused: got %+v, want one by %s, not an approver", refused, recoverytest.GroupMember)
	}

	reply, err := h.Reject(t, r.ID, approver)
	if want := "You rejected " + r.ID + "; nothing was done."; reply != want || err != nil {
		t.Fatalf("rejecting: got %q, %v; want %q", reply, err, want)
	}
	if shown := shownRequest(t, h, r.ID); shown.State != recovery.RequestRejected || shown.DecidedBy != approver {
		t.Fatalf("request message: got %s by %q, want rejected by %s", shown.State, shown.DecidedBy, approver)
	}
	if got := auditOf(t, h, in.ID, "request.rejected"); len(got) != 1 || got[0].Actor != approver {
		t.Fatalf("audit request.rejected: got %+v, want one by %s", got, approver)
	}
	if _, _, err := h.Store.Plan(t.Context(), r.ID); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("saved plan of the rejected request: got %v, want it dropped (not found)", err)
	}
	reply, err = h.Approve(t, r.ID, admin)
	if want := fmt.Sprintf("%s was already rejected by <@%s>.", r.ID, approver); reply != want || err != nil {
		t.Fatalf("approving after the rejection: got %q, %v; want %q", reply, err, want)
	}
	if got := h.Terraform.Count("ApplyPlan"); got != 0 {
		t.Fatalf("applies: got %d, want 0", got)
	}
}

// The requester may withdraw their own request without the approver role.
func TestRequesterWithdrawsTheirRequest(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	reply, err := h.Reject(t, r.ID, requester)
	if want := "You rejected " + r.ID + "; nothing was done."; reply != want || err != nil {
		t.Fatalf("withdrawing: got %q, %v; want %q", reply, err, want)
	}
	if shown := shownRequest(t, h, r.ID); shown.State != recovery.RequestRejected || shown.DecidedBy != requester {
		t.Fatalf("request message: got %s by %q, want rejected by %s", shown.State, shown.DecidedBy, requester)
	}
}

// The preview is shown before anyone may approve: approving while it is being made is
// refused, and the job applies the plan the preview saved, byte for byte.
func TestPreviewShownBeforeApprovalAndItsPlanApplied(t *testing.T) {
	h := recoverytest.New(t)
	gate := recoverytest.NewGate(t)
	h.Terraform.PlanFunc = func(ctx context.Context, env recovery.Environment, sha string, o recovery.PlanOptions) (recovery.TerraformPlan, error) {
		if err := gate.Hold(ctx); err != nil {
			return recovery.TerraformPlan{}, err
		}
		return recoverytest.NewPlan("the plan of " + env.Name + " at " + sha), nil
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	r, _, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	if err != nil || r.ID == "" {
		t.Fatalf("requesting: %v", err)
	}
	if r.Preview.Title != "Preparing the preview…" || r.PreviewReady {
		t.Fatalf("request message as posted: got preview %q (ready %v), want %q", r.Preview.Title, r.PreviewReady, "Preparing the preview…")
	}
	gate.WaitHeld(t, 1)
	_, err = h.Approve(t, r.ID, approver)
	if got, want := recoverytest.UserMessage(err), "The preview of "+r.ID+" is still being made; approve once it shows what will happen."; got != want {
		t.Fatalf("approving before the preview: got %q (%v), want %q", got, err, want)
	}
	gate.Release()

	plan := recoverytest.NewPlan("the plan of prod at " + recoverytest.GoodSHA)
	shown := h.Publisher.WaitRequest(t, "with its preview", func(x recovery.Request) bool { return x.ID == r.ID && x.PreviewReady })
	wantLines := []string{
		"Plan: 0 to add, 1 to change, 0 to destroy.",
		"Saved plan sha256 " + plan.SHA256[:16] + ": the job applies exactly this plan, and stops if prod's state changes before it runs.",
	}
	if shown.Preview.Title != "terraform plan of prod at a1b2c3d" || !slices.Equal(shown.Preview.Lines, wantLines) ||
		shown.Preview.Detail != "Plan: 0 to add, 1 to change, 0 to destroy.\n~ aws_lambda_function.analysis" || shown.Preview.PlanSHA256 != plan.SHA256 {
		t.Fatalf("preview shown: got %+v, want title %q, lines %q, the plan's detail and sha256 %s", shown.Preview, "terraform plan of prod at a1b2c3d", wantLines, plan.SHA256)
	}
	if got := h.Terraform.CallsTo("Plan"); len(got) != 1 || got[0].Args[2] != (recovery.PlanOptions{NoLock: true}) {
		t.Fatalf("preview plans: got %v, want one without the lock", got)
	}

	job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
	if job.State != recovery.JobSucceeded || job.PlanSHA256 != plan.SHA256 {
		t.Fatalf("job: got %s with plan %s, want succeeded with %s", job.State, job.PlanSHA256, plan.SHA256)
	}
	applied := h.Terraform.Applied()
	if len(applied) != 1 || string(applied[0]) != string(plan.File) {
		t.Fatalf("applied: got %q, want the previewed plan %q once", applied, plan.File)
	}
	if got := h.Terraform.Count("Plan"); got != 1 {
		t.Fatalf("plans: got %d, want the preview's only", got)
	}
	if _, _, err := h.Store.Plan(t.Context(), r.ID); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("saved plan after its job: got %v, want it dropped (applied once)", err)
	}
}

// A saved plan that is not the one approved (replaced, or gone) is not applied.
func TestJobAppliesOnlyTheApprovedPlan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, h *recoverytest.Harness, requestID string)
		want   string
	}{
		{"replaced", func(t *testing.T, h *recoverytest.Harness, id string) {
			if err := h.Store.SavePlan(t.Context(), id, []byte("another plan")); err != nil {
				t.Fatal(err)
			}
		}, "the saved plan (sha256 %s) is not the one approved (sha256 %s); nothing was applied"},
		{"gone", func(t *testing.T, h *recoverytest.Harness, id string) {
			if err := h.Store.DeletePlan(t.Context(), id); err != nil {
				t.Fatal(err)
			}
		}, "the approved plan is no longer on record (applied once already?); request it again for a new preview"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := recoverytest.New(t)
			in := h.FailJob(t, recovery.JobDeployProd)
			r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
			tc.change(t, h, r.ID)
			job := h.WaitJob(t, mustApprove(t, h, r.ID, approver).ID)
			want := tc.want
			if strings.Contains(want, "%s") {
				other := recoverytest.NewPlan("another plan") // its SHA256 is the file's
				want = fmt.Sprintf(want, other.SHA256[:12], r.Preview.PlanSHA256[:12])
			}
			if job.State != recovery.JobFailed || job.Steps[1].Error != want || job.Steps[2].State != recovery.StepSkipped {
				t.Fatalf("job: got %s, apply step %q, verify %s; want failed at the apply saying %q, verify skipped", job.State, job.Steps[1].Error, job.Steps[2].State, want)
			}
			if got := h.Terraform.Count("ApplyPlan"); got != 0 {
				t.Fatalf("applies: got %d, want 0", got)
			}
		})
	}
}

// A preview that fails closes the request: nobody approves what nobody could see. What
// it quotes of the world is redacted.
func TestFailedPreviewCannotBeApproved(t *testing.T) {
	h := recoverytest.New(t)
	h.Terraform.PlanFunc = func(context.Context, recovery.Environment, string, recovery.PlanOptions) (recovery.TerraformPlan, error) {
		return recovery.TerraformPlan{}, errors.New("Error: reading backend: password=hunter2hunter2 rejected")
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	shown := h.Publisher.WaitRequest(t, "closed", func(x recovery.Request) bool { return x.ID == r.ID && x.State != recovery.RequestPending })
	if shown.State != recovery.RequestFailed || shown.DecidedBy != "medic" || !shown.PreviewReady {
		t.Fatalf("request message: got %s by %q (preview ready %v), want failed by medic with its preview", shown.State, shown.DecidedBy, shown.PreviewReady)
	}
	if p := shown.Preview.Problem; !strings.HasPrefix(p, "Error: reading backend: ") || strings.Contains(p, "hunter2") {
		t.Fatalf("preview problem: got %q, want Terraform's error, redacted", p)
	}
	failed := auditOf(t, h, in.ID, "request.preview.failed")
	if len(failed) != 1 || failed[0].Detail["problem"] != shown.Preview.Problem {
		t.Fatalf("audit request.preview.failed: got %+v, want one quoting %q", failed, shown.Preview.Problem)
	}
	_, err := h.Approve(t, r.ID, approver)
	if got, want := recoverytest.UserMessage(err), "The preview of "+r.ID+" failed ("+shown.Preview.Problem+"), so nobody can approve it. Request it again once that is fixed."; got != want {
		t.Fatalf("approving: got %q (%v), want %q", got, err, want)
	}
	if got := h.Terraform.Count("ApplyPlan"); got != 0 {
		t.Fatalf("applies: got %d, want 0", got)
	}
	// The failed request no longer holds the action: a new request may be made.
	again := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	if again.ID == r.ID {
		t.Fatalf("requesting again after a failed preview: got the failed request %s back", r.ID)
	}
}

// A preview has its time limit: past it the request fails saying so.
func TestPreviewPastItsTimeLimitFails(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Actions.Previews.Timeout = 20 * time.Millisecond }))
	h.Terraform.PlanFunc = func(ctx context.Context, _ recovery.Environment, _ string, _ recovery.PlanOptions) (recovery.TerraformPlan, error) {
		<-ctx.Done()
		return recovery.TerraformPlan{}, errors.New("terraform plan interrupted")
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	shown := h.Publisher.WaitRequest(t, "closed", func(x recovery.Request) bool { return x.ID == r.ID && x.State != recovery.RequestPending })
	if want := "no preview within 20ms (terraform plan interrupted)"; shown.State != recovery.RequestFailed || shown.Preview.Problem != want {
		t.Fatalf("request message: got %s, problem %q; want failed, %q", shown.State, shown.Preview.Problem, want)
	}
}

// Previews wait in a bounded queue: a request beyond it fails at once, saying so.
func TestRequestBeyondThePreviewQueueFails(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Actions.Previews.Workers, d.Actions.Previews.Queue = 1, 1 }))
	gate := recoverytest.NewGate(t)
	h.Terraform.PlanFunc = func(ctx context.Context, env recovery.Environment, sha string, _ recovery.PlanOptions) (recovery.TerraformPlan, error) {
		if err := gate.Hold(ctx); err != nil {
			return recovery.TerraformPlan{}, err
		}
		return recoverytest.NewPlan("plan of " + env.Name), nil
	}
	prod := h.FailJob(t, recovery.JobDeployProd)
	if _, _, err := h.Request(t, recovery.ActionRequest{IncidentID: prod.ID, Action: recovery.ActRollback, User: requester}); err != nil {
		t.Fatal(err)
	}
	gate.WaitHeld(t, 1)
	preprod := h.FailJob(t, recovery.JobDeployPreprod)
	r, _, err := h.Request(t, recovery.ActionRequest{IncidentID: preprod.ID, Action: recovery.ActTerraformPlan, User: requester})
	if got, want := recoverytest.UserMessage(err), "Terraform plan could not be prepared: medic is busy preparing other previews. Nothing was done; request it again in a minute."; got != want {
		t.Fatalf("a request beyond the queue: got %q (%v), want %q", got, err, want)
	}
	shown := shownRequest(t, h, r.ID)
	if want := "medic is busy preparing other previews; request it again in a minute"; shown.State != recovery.RequestFailed || shown.Preview.Problem != want {
		t.Fatalf("its message: got %s, problem %q; want failed, %q", shown.State, shown.Preview.Problem, want)
	}
	if got := auditOf(t, h, preprod.ID, "request.preview.failed"); len(got) != 1 || got[0].Detail["problem"] != shown.Preview.Problem {
		t.Fatalf("audit request.preview.failed: got %+v, want one", got)
	}
}

// Destructive actions stay where allow_destructive is set (preprod in the runbook's
// config): asked elsewhere they are refused before any request, and the refusal is
// audited.
func TestDestructiveActionsOutsidePreprodRefused(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	for _, tc := range []struct {
		action recovery.ActionID
		want   string
	}{
		{recovery.ActDestroyRecreate, "Destroy & recreate only runs where allow_destructive is set (config: environments.prod.allow_destructive), never prod."},
		{recovery.ActCleanTestData, `Clean test data only touches the table of an environment with allow_destructive (config: environments.prod.allow_destructive), named after it (prod-…); prod's table "prod-sentiment-items" is refused.`},
	} {
		r, _, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: tc.action, User: admin, Params: recovery.RequestParams{Reason: "recreate it"}})
		if got := recoverytest.UserMessage(err); got != tc.want || r.ID != "" {
			t.Fatalf("%s on prod: got request %q, %q (%v); want none, %q", tc.action, r.ID, got, err, tc.want)
		}
	}
	var refused []string
	for _, e := range auditOf(t, h, in.ID, "request.refused") {
		refused = append(refused, e.Detail["action"]+": "+e.Detail["why"])
	}
	if want := []string{"destroy-recreate: Destroy & recreate only runs where allow_destructive is set (config: environments.prod.allow_destructive), never prod.",
		`clean-test-data: Clean test data only touches the table of an environment with allow_destructive (config: environments.prod.allow_destructive), named after it (prod-…); prod's table "prod-sentiment-items" is refused.`}; !slices.Equal(refused, want) {
		t.Fatalf("audit request.refused: got %q, want %q", refused, want)
	}
	if got := h.Terraform.Count("Plan") + h.AWS.Count("CountItems"); got != 0 {
		t.Fatalf("previews after the refusals: got %d calls, want 0", got)
	}
}

// A run medic does not trust gets nothing but GitHub's own re-run.
func TestUntrustedRunGetsOnlyItsReRun(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev, func(r *recovery.Run, _ *recovery.JobInfo) { r.Event, r.HeadBranch = "pull_request", "feature" })
	if in.Untrusted == "" {
		t.Fatalf("incident of a pull request's run: got trusted, want untrusted")
	}
	_, _, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActTerraformPlan, User: requester})
	if got := recoverytest.UserMessage(err); !strings.Contains(got, "is about a run medic does not trust") {
		t.Fatalf("a plan of an untrusted run: got %q (%v), want refused as untrusted", got, err)
	}
	if got := auditOf(t, h, in.ID, "request.refused"); len(got) != 1 || got[0].Detail["why"] != "untrusted run" {
		t.Fatalf("audit request.refused: got %+v, want one, untrusted run", got)
	}
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester})
	if r.State == recovery.RequestFailed {
		t.Fatalf("re-run of an untrusted run: got %s (%s), want it allowed", r.State, r.Preview.Problem)
	}
}

// /rollback on an environment with an open incident belongs to the incident; on a
// healthy one it is a planned rollback posted in the channel it was asked in.
func TestRollbackCommandWithAndWithoutAnIncident(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{Env: "prod", Action: recovery.ActRollback, User: requester, Channel: "C0OPS"})
	if r.IncidentID != in.ID || r.Channel != in.Channel || r.ThreadTS != in.MessageTS || r.Params.SHA != recoverytest.GoodSHA || r.Params.Planned {
		t.Fatalf("/rollback prod: got incident %q in %s/%s to %s (planned %v); want %s's thread, to %s", r.IncidentID, r.Channel, r.ThreadTS, r.Params.SHA, r.Params.Planned, in.ID, recoverytest.GoodSHA)
	}

	r = mustRequest(t, h, recovery.ActionRequest{Env: "dev", Action: recovery.ActRollback, User: requester, Channel: "C0OPS"})
	if r.IncidentID != "" || r.Channel != "C0OPS" || r.Params.SHA != recoverytest.OlderSHA || !r.Params.Planned {
		t.Fatalf("/rollback dev: got incident %q in %s to %s (planned %v); want none, in C0OPS, to %s, planned", r.IncidentID, r.Channel, r.Params.SHA, r.Params.Planned, recoverytest.OlderSHA)
	}
	if want := "Planned rollback: dev has no open incident; this rolls it back to 0f1e2d3."; !slices.Contains(r.Preview.Lines, want) {
		t.Fatalf("preview: got %q, want a line %q", r.Preview.Lines, want)
	}
	// Only a rollback asked on an environment joins its open incident.
	r = mustRequest(t, h, recovery.ActionRequest{Env: "prod", Action: recovery.ActEmergencyRollback, User: requester, Channel: "C0OPS"})
	if r.IncidentID != in.ID {
		t.Fatalf("emergency rollback of prod: got incident %q, want %s", r.IncidentID, in.ID)
	}
	r = mustRequest(t, h, recovery.ActionRequest{Env: "prod", Action: recovery.ActTerraformPlan, User: requester, Channel: "C0OPS"})
	if r.IncidentID != "" || r.Channel != "C0OPS" {
		t.Fatalf("terraform plan of prod: got incident %q in %s, want none, in C0OPS", r.IncidentID, r.Channel)
	}
	// Without a channel it goes to the environment's alert channel.
	r = mustRequest(t, h, recovery.ActionRequest{Env: "preprod", Action: recovery.ActRollback, User: requester})
	if r.Channel != recoverytest.Channel("preprod") {
		t.Fatalf("/rollback preprod without a channel: got %s, want %s", r.Channel, recoverytest.Channel("preprod"))
	}
}

func TestRequestsAndDecisionsOfWhatIsNotThere(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	for _, tc := range []struct {
		name string
		do   func() (string, error)
		want string
	}{
		{"unknown action", func() (string, error) {
			return h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: in.ID, Action: "drop-tables", User: requester})
		}, `"drop-tables" is not an action medic runs.`},
		{"read-only action", func() (string, error) {
			return h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActVerify, User: requester})
		}, `"verify" is not an action medic runs.`},
		{"unknown incident", func() (string, error) {
			return h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: "INC-NOPE", Action: recovery.ActRollback, User: requester})
		}, "Incident INC-NOPE is not on record."},
		{"unknown environment", func() (string, error) {
			return h.Engine.RequestAction(t.Context(), recovery.ActionRequest{Env: "qa", Action: recovery.ActRerun, User: requester, Params: recovery.RequestParams{RunID: 1}})
		}, `unknown environment "qa"; valid environments: dev, preprod, prod`},
		{"unknown request", func() (string, error) { return h.Approve(t, "REQ-NOPE", approver) }, "Request REQ-NOPE is not on record."},
		{"unknown job to cancel", func() (string, error) { return h.CancelJob(t, "JOB-NOPE", requester) }, "Job JOB-NOPE is not on record."},
		{"unknown job to retry", func() (string, error) { return h.RetryJob(t, "JOB-NOPE", requester) }, "Job JOB-NOPE is not on record."},
	} {
		reply, err := tc.do()
		if got := recoverytest.UserMessage(err); got != tc.want || reply != "" {
			t.Errorf("%s: got %q, %q (%v); want %q", tc.name, reply, got, err, tc.want)
		}
	}
	if got := len(h.Publisher.Requests()); got != 0 {
		t.Fatalf("request messages: got %d, want 0", got)
	}
}

func TestWithoutActionsNothingIsRequested(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithoutActions())
	in := h.FailJob(t, recovery.JobDeployProd)
	for _, tc := range []struct {
		name string
		do   func() (string, error)
		want string
	}{
		{"request", func() (string, error) {
			return h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
		}, "medic's recovery actions are not configured here; nothing was done."},
		{"decide", func() (string, error) { return h.Approve(t, "REQ-X", approver) }, "medic's recovery actions are not configured here."},
		{"cancel", func() (string, error) { return h.CancelJob(t, "JOB-X", requester) }, "medic's recovery actions are not configured here."},
		{"retry", func() (string, error) { return h.RetryJob(t, "JOB-X", requester) }, "medic's recovery actions are not configured here."},
	} {
		reply, err := tc.do()
		if got := recoverytest.UserMessage(err); got != tc.want || reply != "" {
			t.Errorf("%s: got %q, %q (%v); want %q", tc.name, reply, got, err, tc.want)
		}
	}
	if err := h.ExpireRequests(t); err != nil {
		t.Fatalf("expiry round without actions: %v", err)
	}
	if err := h.RecoverJobs(t); err != nil {
		t.Fatalf("recovery round without actions: %v", err)
	}
}

// What a modal asks before an action: a reason for the restricted ones, the
// environment's name for the nuclear ones, the SHA of an emergency rollback.
func TestAsksFor(t *testing.T) {
	h := recoverytest.New(t)
	prod := h.FailJob(t, recovery.JobDeployProd)
	prod.GoodSHAs = []string{recoverytest.GoodSHA, recoverytest.OlderSHA}
	if _, err := h.Store.UpdateIncident(t.Context(), prod); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		incident, env string
		action        recovery.ActionID
		want          recovery.Asks
		ok            bool
	}{
		{prod.ID, "", recovery.ActRollback, recovery.Asks{Env: "prod"}, false},
		{prod.ID, "", recovery.ActVerify, recovery.Asks{}, false},
		{prod.ID, "", recovery.ActForceLambdaUpdate, recovery.Asks{Env: "prod", Reason: true, EnvName: "prod"}, true},
		{"", "preprod", recovery.ActDestroyRecreate, recovery.Asks{Env: "preprod", Reason: true, EnvName: "preprod"}, true},
		{"", "preprod", recovery.ActCleanTestData, recovery.Asks{Env: "preprod", Reason: true}, true},
		{prod.ID, "", recovery.ActEmergencyRollback, recovery.Asks{Env: "prod", SHA: recoverytest.GoodSHA, KnownSHAs: []string{recoverytest.GoodSHA, recoverytest.OlderSHA}}, true},
		{prod.ID, "preprod", recovery.ActEmergencyRollback, recovery.Asks{Env: "prod", SHA: recoverytest.GoodSHA, KnownSHAs: []string{recoverytest.GoodSHA, recoverytest.OlderSHA}}, true}, // the incident's environment wins
		{prod.ID, "", recovery.ActDataCorruption, recovery.Asks{Env: "prod", Reason: true}, true},
		{prod.ID, "", "nope", recovery.Asks{}, false},
	} {
		got, ok, err := h.Engine.AsksFor(t.Context(), tc.incident, tc.env, tc.action, recoverytest.Requester)
		if err != nil || ok != tc.ok || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("AsksFor(%q, %q, %s): got %+v, %v, %v; want %+v, %v", tc.incident, tc.env, tc.action, got, ok, err, tc.want, tc.ok)
		}
	}
	if _, _, err := h.Engine.AsksFor(t.Context(), "INC-NOPE", "", recovery.ActRollback, recoverytest.Requester); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("AsksFor of an unknown incident: got %v, want not found", err)
	}
}

// A form is for someone who may send it: without the responder role, AsksFor refuses
// (and audits it) before any form opens, for every action that asks something.
func TestAsksForRefusesWhoMayNotRequest(t *testing.T) {
	h := recoverytest.New(t)
	prod := h.FailJob(t, recovery.JobDeployProd)
	for _, tc := range []struct {
		incident, env string
		action        recovery.ActionID
		want          string
	}{
		{prod.ID, "", recovery.ActEmergencyRollback, "You need the *responder* role for prod to request Emergency Terraform rollback"},
		{prod.ID, "", recovery.ActForceLambdaUpdate, "You need the *responder* role for prod to request Force Lambda update"},
		{"", "preprod", recovery.ActDestroyRecreate, "You need the *responder* role for preprod to request"},
		{prod.ID, "", recovery.ActDataCorruption, "You need the *responder* role for prod to page people"},
	} {
		var before int
		if tc.incident != "" {
			before = len(h.AuditActions(t, tc.incident))
		}
		_, ok, err := h.Engine.AsksFor(t.Context(), tc.incident, tc.env, tc.action, recoverytest.Outsider)
		var ue *recovery.UserError
		if ok || !errors.As(err, &ue) || !strings.Contains(ue.Msg, tc.want) {
			t.Errorf("%s by an outsider: got %v, %v; want a refusal saying %q", tc.action, ok, err, tc.want)
		}
		if tc.incident == "" {
			continue
		}
		if got := h.AuditActions(t, tc.incident)[before:]; !slices.Contains(got, "refused") && !slices.Contains(got, "request.refused") {
			t.Errorf("%s by an outsider: audit %v, want the refusal recorded", tc.action, got)
		}
	}
	if _, _, err := h.Engine.AsksFor(t.Context(), prod.ID, "", recovery.ActEmergencyRollback, recoverytest.Requester); err != nil {
		t.Errorf("a responder for prod: %v", err)
	}
}

// The request and job controls' element IDs read back as their controls.
func TestControlIDs(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want recovery.Control
	}{
		{recovery.ApproveID(), recovery.ControlApprove},
		{recovery.RejectID(), recovery.ControlReject},
		{recovery.JobCancelID(), recovery.ControlJobCancel},
		{recovery.JobRetryID(), recovery.ControlJobRetry},
	} {
		if got, ok := recovery.ParseControlID(tc.id); !ok || got != tc.want {
			t.Errorf("ParseControlID(%q): got %q, %v; want %q", tc.id, got, ok, tc.want)
		}
	}
	if got, ok := recovery.ParseControlID("action:rollback"); ok {
		t.Errorf("ParseControlID of an action button: got %q, want none", got)
	}
}

// racingRequests is a request store where, once armed, someone else decides a request
// (rejects it as by) just before the engine's next update of it lands.
type racingRequests struct {
	recovery.RequestStore
	mu    sync.Mutex
	armed bool
	by    string
}

func (r *racingRequests) arm(by string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.armed, r.by = true, by
}

func (r *racingRequests) UpdateRequest(ctx context.Context, req recovery.Request) (recovery.Request, error) {
	r.mu.Lock()
	armed, by := r.armed, r.by
	r.armed = false
	r.mu.Unlock()
	if armed {
		cur, err := r.RequestStore.Request(ctx, req.ID)
		if err != nil {
			return recovery.Request{}, err
		}
		cur.State, cur.DecidedBy, cur.DecidedAt = recovery.RequestRejected, by, req.DecidedAt
		if _, err := r.RequestStore.UpdateRequest(ctx, cur); err != nil {
			return recovery.Request{}, err
		}
	}
	return r.RequestStore.UpdateRequest(ctx, req)
}

func withRacingRequests(race *racingRequests) recoverytest.Option {
	return recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		race.RequestStore = d.Actions.Requests
		d.Actions.Requests = race
	})
}

// An approval that loses the race to another decision says who decided, and starts
// nothing.
func TestApprovalLosingARaceSaysWhoDecided(t *testing.T) {
	race := &racingRequests{}
	h := recoverytest.New(t, withRacingRequests(race))
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	race.arm(admin)
	reply, err := h.Approve(t, r.ID, approver)
	if want := fmt.Sprintf("%s was already rejected by <@%s>.", r.ID, admin); reply != want || err != nil {
		t.Fatalf("approving as the request is rejected: got %q, %v; want %q", reply, err, want)
	}
	if got := auditOf(t, h, in.ID, "request.approved"); len(got) != 0 {
		t.Fatalf("audit request.approved: got %+v, want none", got)
	}
	if got, _ := h.Store.Request(t.Context(), r.ID); got.JobID != "" || got.State != recovery.RequestRejected {
		t.Fatalf("request: got %s with job %q, want rejected without a job", got.State, got.JobID)
	}
}

// A request decided as the expiry round reaches it is not expired.
func TestExpiryLosingARaceLeavesTheDecision(t *testing.T) {
	race := &racingRequests{}
	h := recoverytest.New(t, withRacingRequests(race))
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	h.Advance(requestTTL + time.Second)
	race.arm(approver)
	if err := h.ExpireRequests(t); err != nil {
		t.Fatal(err)
	}
	if got := auditOf(t, h, in.ID, "request.expired"); len(got) != 0 {
		t.Fatalf("audit request.expired: got %+v, want none", got)
	}
	if got, _ := h.Store.Request(t.Context(), r.ID); got.State != recovery.RequestRejected || got.DecidedBy != approver {
		t.Fatalf("request: got %s by %s, want rejected by %s", got.State, got.DecidedBy, approver)
	}
}

// A request decided while its preview waited for a worker gets no preview: nothing is
// planned for it.
func TestPreviewOfARequestDecidedWhileItWaitedIsNotMade(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Actions.Previews.Workers = 1 }))
	gate := recoverytest.NewGate(t)
	h.Terraform.PlanFunc = func(ctx context.Context, env recovery.Environment, sha string, _ recovery.PlanOptions) (recovery.TerraformPlan, error) {
		if env.Name == "prod" {
			if err := gate.Hold(ctx); err != nil {
				return recovery.TerraformPlan{}, err
			}
		}
		return recoverytest.NewPlan("plan of " + env.Name + " at " + sha), nil
	}
	prod := h.FailJob(t, recovery.JobDeployProd)
	if _, _, err := h.Request(t, recovery.ActionRequest{IncidentID: prod.ID, Action: recovery.ActRollback, User: requester}); err != nil {
		t.Fatal(err)
	}
	gate.WaitHeld(t, 1) // the only worker is busy with prod's
	dev := h.FailJob(t, recovery.JobTestsDev)
	waiting, _, err := h.Request(t, recovery.ActionRequest{IncidentID: dev.ID, Action: recovery.ActTerraformPlan, User: requester})
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := h.Reject(t, waiting.ID, requester); err != nil {
		t.Fatalf("withdrawing: %q, %v", reply, err)
	}
	after, _, err := h.Request(t, recovery.ActionRequest{IncidentID: dev.ID, Action: recovery.ActRerunFailed, User: requester})
	if err != nil {
		t.Fatal(err)
	}
	gate.Release()
	h.WaitPreview(t, after.ID) // dev's queue ran in order: the withdrawn one first
	var devPlans []string
	for _, c := range h.Terraform.Calls() {
		if c.Args[0] == "dev" {
			devPlans = append(devPlans, c.String())
		}
	}
	if len(devPlans) != 0 {
		t.Fatalf("terraform calls for the withdrawn plan: got %q, want none", devPlans)
	}
	if got, _ := h.Store.Request(t.Context(), waiting.ID); got.State != recovery.RequestRejected || got.PreviewReady {
		t.Fatalf("withdrawn request: got %s (preview ready %v), want rejected without a preview", got.State, got.PreviewReady)
	}
}

// failingGroups is Slack failing to say who is in a user group.
type failingGroups struct{}

func (failingGroups) GroupMembers(context.Context, string) ([]string, error) {
	return nil, errors.New("slack: ratelimited")
}

// A role granted through a user group Slack cannot list is an error for the logs,
// not a refusal in the person's name.
func TestRoleLookupFailuresAreErrors(t *testing.T) {
	const group = "S0APPROVERS"
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		roles := map[string]recovery.RoleMembers{recovery.AllEnvironments: {Responders: []string{requester}, Approvers: []string{approver, group}, Admins: []string{admin}}}
		d.Actions.Access = recovery.NewAccess(roles, failingGroups{}, 5*time.Minute, time.Hour, time.Now)
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	job := mustApprove(t, h, r.ID, approver)
	h.WaitJob(t, job.ID)
	r2 := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActEmergencyRollback, User: requester})
	for _, tc := range []struct {
		name string
		do   func() (string, error)
	}{
		{"request", func() (string, error) {
			return h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerun, User: outsider})
		}},
		{"approve", func() (string, error) { return h.Approve(t, r2.ID, outsider) }},
		{"reject", func() (string, error) { return h.Reject(t, r2.ID, outsider) }},
		{"cancel", func() (string, error) { return h.CancelJob(t, job.ID, outsider) }},
	} {
		reply, err := tc.do()
		if err == nil || recoverytest.UserMessage(err) != "" || !strings.Contains(err.Error(), "resolving user group "+group) {
			t.Errorf("%s as %s while Slack fails: got %q, %v; want an error resolving %s", tc.name, outsider, reply, err, group)
		}
	}
	if got := auditOf(t, h, in.ID, "request.refused"); len(got) != 0 {
		t.Fatalf("audit request.refused: got %+v, want none (nobody was refused)", got)
	}
}

// A paging action asked through the request form pages.
func TestRequestingAPagingActionPages(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActPageOnCall, User: requester}); err != nil {
		t.Fatal(err)
	}
	if sends := h.PagerDuty.WaitSends(t, 1); sends[0].Incident.ID != in.ID {
		t.Fatalf("PagerDuty: got a page about %s, want %s", sends[0].Incident.ID, in.ID)
	}
	if got := len(h.Publisher.Requests()); got != 0 {
		t.Fatalf("request messages: got %d, want 0", got)
	}
}

// brokenLocks is a store whose environment slots cannot be taken (the store
// refuses the write).
type brokenLocks struct{ recovery.EnvSlots }

func (brokenLocks) LockEnv(context.Context, string, string) error {
	return errors.New("store: connection refused")
}

// A self-service job that cannot start for a reason not meant for people says
// "internal error" in the thread, with the error's first line.
func TestSelfServiceJobFailingToStartSaysInternalError(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Actions.Slots = brokenLocks{d.Actions.Slots} }))
	in := h.FailJob(t, recovery.JobTestsDev)
	if _, _, err := h.Request(t, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRerunFailed, User: requester}); err != nil {
		t.Fatal(err)
	}
	n := h.Publisher.WaitNote(t, in.ID, ":no_entry: internal error: ")
	if got, want := recoverytest.Plain(n), ":no_entry: internal error: store: connection refused"; got != want {
		t.Fatalf("note: got %q, want %q", got, want)
	}
	if got := h.GitHub.Count("RerunFailedJobs"); got != 0 {
		t.Fatalf("re-runs: got %d, want 0", got)
	}
}

// slowAlert is an incident store that, once armed, shows an incident without its
// alert's ts the first time it is read: the alert on screen a moment before its ts
// is stored.
type slowAlert struct {
	recovery.IncidentStore
	mu    sync.Mutex
	blank int
}

func (s *slowAlert) Incident(ctx context.Context, id string) (recovery.Incident, error) {
	in, err := s.IncidentStore.Incident(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blank > 0 {
		s.blank--
		in.MessageTS = ""
	}
	return in, err
}

// A request on an alert whose ts is not stored yet waits for it, and lands in the
// alert's thread.
func TestRequestWaitsForItsAlertsTS(t *testing.T) {
	slow := &slowAlert{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		slow.IncidentStore = d.Incidents
		d.Incidents = slow
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	slow.mu.Lock()
	slow.blank = 1
	slow.mu.Unlock()
	// The engine waits on its own clock: move it 100 ms once the wait is set.
	pending := len(h.Clock.Timers())
	go func() {
		if h.Clock.WaitTimers(pending+1, recoverytest.WaitTimeout) {
			h.Advance(100 * time.Millisecond)
		}
	}()
	r := mustRequest(t, h, recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	if r.ThreadTS != in.MessageTS || r.Channel != in.Channel {
		t.Fatalf("request: got in %s/%q, want in the alert's thread %s/%s", r.Channel, r.ThreadTS, in.Channel, in.MessageTS)
	}
}

// conflictingRequests is a request store whose updates, once armed, are all refused
// as stale (someone else keeps writing the request); it counts them.
type conflictingRequests struct {
	recovery.RequestStore
	mu      sync.Mutex
	armed   bool
	refused int
}

func (c *conflictingRequests) UpdateRequest(ctx context.Context, r recovery.Request) (recovery.Request, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed {
		c.refused++
		return recovery.Request{}, fmt.Errorf("updating request %s: %w", r.ID, recovery.ErrConflict)
	}
	return c.RequestStore.UpdateRequest(ctx, r)
}

// A request whose message ts cannot be recorded, the store refusing every write as
// stale, fails after six tries, with an error for the logs.
func TestRequestGivesUpAfterSixStaleWrites(t *testing.T) {
	c := &conflictingRequests{}
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		c.RequestStore = d.Actions.Requests
		d.Actions.Requests = c
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
	reply, err := h.Engine.RequestAction(t.Context(), recovery.ActionRequest{IncidentID: in.ID, Action: recovery.ActRollback, User: requester})
	if !errors.Is(err, recovery.ErrConflict) || recoverytest.UserMessage(err) != "" || reply != "" {
		t.Fatalf("requesting while every write is stale: got %q, %v; want the conflict as an error", reply, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused != 6 {
		t.Fatalf("writes tried: got %d, want 6", c.refused)
	}
}

// /rollback names its environment however it is spelt: the request belongs to the
// environment's open incident all the same, with its severity (so its approval).
func TestRollbackOfAnEnvironmentSpeltOtherwiseJoinsItsIncident(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployPreprod)
	r, reply, err := h.Request(t, recovery.ActionRequest{Env: " PREPROD", Action: recovery.ActRollback, User: requester, Channel: "C0OTHER"})
	if err != nil || r.ID == "" {
		t.Fatalf("requesting a rollback of \" PREPROD\": %q, %v", reply, err)
	}
	if r.IncidentID != in.ID || r.Env != "preprod" || r.ThreadTS != in.MessageTS {
		t.Fatalf("request: got incident %q in %q (thread %q), want %s in preprod, in its thread", r.IncidentID, r.Env, r.ThreadTS, in.ID)
	}
}
