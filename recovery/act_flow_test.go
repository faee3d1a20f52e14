package recovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// The buttons of an alert (Engine.Act): a mutating action becomes a request, a paging
// one a page, a read-only one runs now; without actions or paging configured the
// click is refused saying so; every click is audited.

func TestActMutatingButtonRequestsTheAction(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	reply, err := h.Act(t, in.ID, recovery.ActRollback, requester)
	rs := h.Publisher.Requests()
	if err != nil || len(rs) != 1 || !strings.HasPrefix(reply, "Requested Roll back to last good on prod ("+rs[0].ID+")") {
		t.Fatalf("clicking Roll back: got %q, %v and %d requests; want one request", reply, err, len(rs))
	}
	if r := rs[0]; r.IncidentID != in.ID || r.RequestedBy != requester || r.Action != recovery.ActRollback {
		t.Fatalf("request: got %s of %s by %s, want rollback of %s by %s", r.Action, r.IncidentID, r.RequestedBy, in.ID, requester)
	}
}

func TestActPagingButtonPages(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	reply, err := h.Act(t, in.ID, recovery.ActPageOnCall, requester)
	if err != nil || reply == "" {
		t.Fatalf("clicking Page on-call: got %q, %v", reply, err)
	}
	if sends := h.PagerDuty.WaitSends(t, 1); sends[0].Incident.ID != in.ID || !slices.Equal(sends[0].Levels, []string{"oncall"}) {
		t.Fatalf("PagerDuty: got %+v, want the on-call level paged about %s", sends[0], in.ID)
	}
}

func TestActWithoutActionsOrPagingRefusesSayingSo(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithoutActions(), recoverytest.WithoutEscalation())
	in := h.FailJob(t, recovery.JobDeployProd)
	for _, tc := range []struct {
		action recovery.ActionID
		want   string
	}{
		{recovery.ActRollback, "*Roll back to last good* changes prod and needs approval by a second person; medic's recovery actions are not configured here, so nothing was done. The runbook's way: `terraform apply -var model_version=<LAST_GOOD_SHA>`."},
		{recovery.ActPageOnCall, "*Page on-call* pages people; paging is not configured in this version of medic, so nothing was done."},
	} {
		reply, err := h.Act(t, in.ID, tc.action, requester)
		if reply != tc.want || err != nil {
			t.Errorf("clicking %s: got %q, %v; want %q", tc.action, reply, err, tc.want)
		}
	}
	var refused []string
	for _, e := range auditOf(t, h, in.ID, "action.refused") {
		refused = append(refused, e.Actor+" "+e.Detail["action"]+": "+e.Detail["why"])
	}
	if want := []string{requester + " rollback: not available", requester + " page-oncall: not available"}; !slices.Equal(refused, want) {
		t.Fatalf("audit action.refused: got %q, want %q", refused, want)
	}
	if got := len(h.Publisher.Requests()) + len(h.PagerDuty.Sends()) + len(h.SlackPager.Sends()); got != 0 {
		t.Fatalf("requests and pages: got %d, want 0", got)
	}
}

func TestActRefusesWhatItDoesNotKnow(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	_, err := h.Act(t, in.ID, "reboot-the-world", requester)
	if got, want := recoverytest.UserMessage(err), `medic does not know the action "reboot-the-world".`; got != want {
		t.Fatalf("an unknown action: got %q (%v), want %q", got, err, want)
	}
	_, err = h.Act(t, "INC-NOPE", recovery.ActVerify, requester)
	if got, want := recoverytest.UserMessage(err), "Incident INC-NOPE is not on record."; got != want {
		t.Fatalf("an unknown incident: got %q (%v), want %q", got, err, want)
	}
}

func TestActAcknowledge(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	_, err := h.Acknowledge(t, in.ID, outsider)
	if got := recoverytest.UserMessage(err); !strings.Contains(got, "*responder* role") {
		t.Fatalf("acknowledging as %s: got %q (%v), want refused", outsider, got, err)
	}
	h.Advance(2 * time.Minute)
	reply, err := h.Acknowledge(t, in.ID, requester)
	if want := "You acknowledged " + in.ID + "."; reply != want || err != nil {
		t.Fatalf("acknowledging: got %q, %v; want %q", reply, err, want)
	}
	got := h.Incident(t, in.ID)
	if got.Status != recovery.IncidentAcknowledged || got.AckBy != requester || !got.AckAt.Equal(recoverytest.Start.Add(2*time.Minute)) || !got.Escalation.DueAt.IsZero() {
		t.Fatalf("incident: got %s by %q at %v (escalation due %v), want acknowledged by %s at 09:02, escalation stopped", got.Status, got.AckBy, got.AckAt, got.Escalation.DueAt, requester)
	}
	if a, _ := h.Publisher.Alert(in.ID); a.Status != recovery.IncidentAcknowledged {
		t.Fatalf("alert: got %s, want acknowledged", a.Status)
	}
	h.Publisher.WaitNote(t, in.ID, ":eyes: Acknowledged by "+requester+": escalation stopped.")
	if got := h.AuditActions(t, in.ID); !slices.Contains(got, "action.ack") || !slices.Contains(got, "incident.acknowledged") {
		t.Fatalf("audit: got %q, want action.ack and incident.acknowledged", got)
	}
	reply, err = h.Acknowledge(t, in.ID, approver)
	if want := "Incident " + in.ID + " was already acknowledged by <@" + requester + ">."; reply != want || err != nil {
		t.Fatalf("acknowledging again: got %q, %v; want %q", reply, err, want)
	}
}

func TestActAcknowledgeWithoutEscalation(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithoutEscalation())
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Acknowledge(t, in.ID, requester); err != nil {
		t.Fatal(err)
	}
	n := h.Publisher.WaitNote(t, in.ID, ":eyes: Acknowledged by")
	if got, want := recoverytest.Plain(n), ":eyes: Acknowledged by "+requester+"."; got != want {
		t.Fatalf("note: got %q, want %q", got, want)
	}
}

func TestActAcknowledgeAResolvedIncident(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Resolve(t, in.ID, requester, "rolled back by hand"); err != nil {
		t.Fatal(err)
	}
	reply, err := h.Acknowledge(t, in.ID, requester)
	if want := "Incident " + in.ID + " is resolved."; reply != want || err != nil {
		t.Fatalf("acknowledging a resolved incident: got %q, %v; want %q", reply, err, want)
	}
}

func TestActVerifyPostsTheVerdict(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.Health.SetStatus("prod", 500)
	reply, err := h.Act(t, in.ID, recovery.ActVerify, requester)
	if want := "Verification posted in the alert's thread."; reply != want || err != nil {
		t.Fatalf("verify: got %q, %v; want %q", reply, err, want)
	}
	h.Publisher.WaitNote(t, in.ID, "Verification requested by "+requester+": :x: health endpoint answered 500; no alarm in ALARM")
	if got := auditOf(t, h, in.ID, "action.verify"); len(got) != 1 || got[0].Actor != requester {
		t.Fatalf("audit action.verify: got %+v, want one by %s", got, requester)
	}
}

func TestActRefreshGathersAgain(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.Advance(5 * time.Minute)
	reply, err := h.Act(t, in.ID, recovery.ActRefresh, requester)
	if reply != "Diagnostics refreshed." || err != nil {
		t.Fatalf("refresh: got %q, %v", reply, err)
	}
	if a, _ := h.Publisher.Alert(in.ID); !a.GatheredAt.Equal(recoverytest.Start.Add(5 * time.Minute)) {
		t.Fatalf("alert: got gathered at %v, want %v", a.GatheredAt, recoverytest.Start.Add(5*time.Minute))
	}
}

func TestActViewLogs(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.GitHub.SetLog(in.JobID, "2026-03-02T08:59:00Z Terraform Apply\n2026-03-02T08:59:01Z Error: creating Lambda version: AccessDenied\n")
	reply, err := h.Act(t, in.ID, recovery.ActViewLogs, requester)
	if want := "The log excerpt is in the alert's thread."; reply != want || err != nil {
		t.Fatalf("view logs: got %q, %v; want %q", reply, err, want)
	}
	n := h.Publisher.WaitNote(t, in.ID, "Log of "+recovery.JobDeployProd+", requested by "+requester+":")
	if n.Title != "Log excerpt (last 60 lines up to the error)" || !strings.Contains(n.Detail, "Error: creating Lambda version: AccessDenied") || n.Link != fmt.Sprintf("https://github.test/logs/%d", in.JobID) {
		t.Fatalf("log note: got %q / %q / %q, want the excerpt and its link", n.Title, n.Detail, n.Link)
	}

	h.GitHub.JobLogFunc = func(context.Context, int64) (recovery.JobLog, error) {
		return recovery.JobLog{}, errors.New("github: 502 Bad Gateway")
	}
	_, err = h.Act(t, in.ID, recovery.ActViewLogs, requester)
	if got, want := recoverytest.UserMessage(err), "Could not read the job's log: github: 502 Bad Gateway"; got != want {
		t.Fatalf("view logs while GitHub fails: got %q (%v), want %q", got, err, want)
	}

	alarm := alarmIncident(t, h, "dev", "dev-dashboard-errors")
	reply, err = h.Act(t, alarm.ID, recovery.ActViewLogs, requester)
	if reply != "This incident has no job log." || err != nil {
		t.Fatalf("view logs of an alarm: got %q, %v", reply, err)
	}
}

// alarmIncident fires an alarm of env (with no open incident) and returns the
// incident it opened.
func alarmIncident(t *testing.T, h *recoverytest.Harness, env, name string) recovery.Incident {
	t.Helper()
	h.Submit(t, h.FiringAlarm(env, name))
	alerts := h.Publisher.Alerts()
	a := alerts[len(alerts)-1]
	if a.AlarmName != name {
		t.Fatalf("alerts after %s fired: got %s about %q last, want its incident", name, a.ID, a.AlarmName)
	}
	return a
}

func TestActViewArtifacts(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobPreprodTests)
	h.GitHub.SetArtifacts(in.RunID, recovery.Artifact{Name: "test-results", Size: 2048}, recovery.Artifact{Name: "coverage", Size: 3 << 20}, recovery.Artifact{Name: "junit.xml", Size: 512})
	reply, err := h.Act(t, in.ID, recovery.ActViewArtifacts, requester)
	if want := "The artifacts are listed in the alert's thread."; reply != want || err != nil {
		t.Fatalf("view artifacts: got %q, %v; want %q", reply, err, want)
	}
	n := h.Publisher.WaitNote(t, in.ID, "Artifacts of run")
	want := fmt.Sprintf("Artifacts of run %d, requested by %s:\n• test-results (2.0 KiB)\n• coverage (3.0 MiB)\n• junit.xml (512 B)", in.RunID, requester)
	if got := n.Text.Plain(); got != want || n.Link != in.RunURL+"#artifacts" {
		t.Fatalf("artifacts note: got %q (%s), want %q (%s#artifacts)", got, n.Link, want, in.RunURL)
	}

	h.GitHub.SetArtifacts(in.RunID)
	if _, err := h.Act(t, in.ID, recovery.ActViewArtifacts, requester); err != nil {
		t.Fatal(err)
	}
	h.Publisher.WaitNote(t, in.ID, fmt.Sprintf("Artifacts of run %d, requested by %s:\nThe run uploaded no artifacts.", in.RunID, requester))

	h.GitHub.RunArtifactsFunc = func(context.Context, int64) ([]recovery.Artifact, error) {
		return nil, errors.New("github: 404 Not Found")
	}
	_, err = h.Act(t, in.ID, recovery.ActViewArtifacts, requester)
	if got, want := recoverytest.UserMessage(err), "Could not list the run's artifacts: github: 404 Not Found"; got != want {
		t.Fatalf("view artifacts while GitHub fails: got %q (%v), want %q", got, err, want)
	}
	if got := auditOf(t, h, in.ID, "action.view-artifacts"); len(got) != 3 {
		t.Fatalf("audit action.view-artifacts: got %d, want 3 (every click)", len(got))
	}
}

// Resolve and Create GitHub issue go to their services (pinned with them).
func TestActResolveAndCreateIssue(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Act(t, in.ID, recovery.ActCreateIssue, requester); err != nil {
		t.Fatalf("create issue: %v", err)
	}
	if got := h.GitHub.Issues(); len(got) != 1 {
		t.Fatalf("issues: got %d, want 1", len(got))
	}
	if _, err := h.Act(t, in.ID, recovery.ActResolve, requester); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if got := h.Incident(t, in.ID); got.Status != recovery.IncidentResolved {
		t.Fatalf("incident: got %s, want resolved", got.Status)
	}
	if got := h.AuditActions(t, in.ID); !slices.Contains(got, "action.create-issue") || !slices.Contains(got, "action.resolve") {
		t.Fatalf("audit: got %q, want action.create-issue and action.resolve", got)
	}
}

// findingLines returns the lines of an incident's finding of one diagnostic, as its
// alert shows them.
func findingLines(t *testing.T, h *recoverytest.Harness, incidentID string, id recovery.DiagnosticID) []string {
	t.Helper()
	a, ok := h.Publisher.Alert(incidentID)
	if !ok {
		t.Fatalf("no alert of %s", incidentID)
	}
	for _, f := range a.Findings {
		if f.Diagnostic == id {
			return f.Lines
		}
	}
	t.Fatalf("alert of %s: no %s finding", incidentID, id)
	return nil
}

// Refresh gathers the diagnostics again about the incident's own job: the one of its
// ID among the run's jobs, else the first of its name, else what the incident knows.
func TestActRefreshFindsTheIncidentsJob(t *testing.T) {
	failedAt := func(id int64, name string, step int, stepName string) recovery.JobInfo {
		return recovery.JobInfo{ID: id, Name: name, Status: "completed", Conclusion: "failure",
			Steps: []recovery.StepInfo{{Number: step, Name: stepName, Status: "completed", Conclusion: "failure"}}}
	}
	for _, tc := range []struct {
		name string
		jobs func(in recovery.Incident) ([]recovery.JobInfo, error)
		want string
	}{
		{"its ID after another of its name", func(in recovery.Incident) ([]recovery.JobInfo, error) {
			return []recovery.JobInfo{failedAt(7, in.JobName, 3, "Upload"), failedAt(in.JobID, in.JobName, 2, "Terraform Apply")}, nil
		}, recovery.JobDeployPreprod + " › step 2 “Terraform Apply” failed"},
		{"the first of its name when its ID is gone", func(in recovery.Incident) ([]recovery.JobInfo, error) {
			return []recovery.JobInfo{failedAt(5, "Lint", 5, "Lint"), failedAt(6, in.JobName, 4, "Plan"), failedAt(8, in.JobName, 6, "Smoke")}, nil
		}, recovery.JobDeployPreprod + " › step 4 “Plan” failed"},
		{"what the incident knows when GitHub fails", func(recovery.Incident) ([]recovery.JobInfo, error) {
			return nil, errors.New("github: 502")
		}, recovery.JobDeployPreprod + " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := recoverytest.New(t)
			in := h.FailJob(t, recovery.JobDeployPreprod)
			h.GitHub.RunJobsFunc = func(context.Context, int64) ([]recovery.JobInfo, error) { return tc.jobs(in) }
			if _, err := h.Act(t, in.ID, recovery.ActRefresh, requester); err != nil {
				t.Fatal(err)
			}
			got := findingLines(t, h, in.ID, recovery.DiagFailedStep)
			want := []string{tc.want, fmt.Sprintf("build-and-promote run #%d, attempt 1", in.RunID-1000)}
			if !slices.Equal(got, want) {
				t.Fatalf("failed step after a refresh: got %q, want %q", got, want)
			}
		})
	}
}

// Refresh of an alarm's incident shows that alarm as CloudWatch has it now.
func TestActRefreshOfAnAlarm(t *testing.T) {
	h := recoverytest.New(t)
	in := alarmIncident(t, h, "dev", "dev-dashboard-errors")
	h.Advance(10 * time.Minute)
	since := recoverytest.Start.Add(5 * time.Minute)
	h.AWS.SetAlarms("dev",
		recovery.Alarm{Name: "dev-ingestion-throttles", State: "ALARM", Reason: "throttled", Since: since},
		recovery.Alarm{Name: "dev-dashboard-errors", State: "ALARM", Reason: "errors above 5", Since: since})
	if _, err := h.Act(t, in.ID, recovery.ActRefresh, requester); err != nil {
		t.Fatal(err)
	}
	want := []string{"dev-dashboard-errors is ALARM since 09:05 UTC (5m ago)", "errors above 5"}
	if got := findingLines(t, h, in.ID, recovery.DiagAlarmDetail); !slices.Equal(got, want) {
		t.Fatalf("alarm after a refresh: got %q, want %q", got, want)
	}
	h.AWS.AlarmsFiringFunc = func(context.Context, recovery.Environment) ([]recovery.Alarm, error) {
		return nil, errors.New("cloudwatch: throttled")
	}
	if _, err := h.Act(t, in.ID, recovery.ActRefresh, requester); err != nil {
		t.Fatal(err)
	}
	if got := findingLines(t, h, in.ID, recovery.DiagAlarmDetail); !slices.Equal(got, []string{"dev-dashboard-errors"}) {
		t.Fatalf("alarm after a refresh while CloudWatch fails: got %q, want its name only", got)
	}
}

// Verify gives its checks the runbook's time (a deadline some seconds away), not an
// expired context: a health endpoint that honours its context still answers.
func TestVerifyGivesItsChecksTime(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.Health.CheckHealthFunc = func(ctx context.Context, env recovery.Environment) (recovery.HealthResult, error) {
		if d, ok := ctx.Deadline(); !ok || time.Until(d) < 10*time.Second {
			return recovery.HealthResult{}, fmt.Errorf("health: a deadline of %v", time.Until(d))
		}
		return recovery.HealthResult{StatusCode: 200}, ctx.Err()
	}
	if _, err := h.Act(t, in.ID, recovery.ActVerify, requester); err != nil {
		t.Fatal(err)
	}
	h.Publisher.WaitNote(t, in.ID, "Verification requested by "+requester+": :white_check_mark: health endpoint 200")
}
