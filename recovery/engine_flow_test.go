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

// notesSaying counts the notes of an incident's thread whose plain text contains s.
func notesSaying(h *recoverytest.Harness, incidentID, s string) int {
	n := 0
	for _, text := range h.Publisher.Texts(incidentID) {
		if strings.Contains(text, s) {
			n++
		}
	}
	return n
}

// mustOpen returns the open incident of a signal's source.
func mustOpen(tb testing.TB, h *recoverytest.Harness, sig recovery.Signal) recovery.Incident {
	tb.Helper()
	in, err := h.Store.OpenIncidentBySource(tb.Context(), sig.SourceKey())
	if err != nil {
		tb.Fatalf("open incident of %s: %v", sig.SourceKey(), err)
	}
	return in
}

// mustAlert returns an incident's alert as it stands in Slack.
func mustAlert(tb testing.TB, h *recoverytest.Harness, incidentID string) recovery.Incident {
	tb.Helper()
	a, ok := h.Publisher.Alert(incidentID)
	if !ok {
		tb.Fatalf("alert of %s: none posted; texts %q", incidentID, h.Publisher.Texts(incidentID))
	}
	return a
}

// inPlace checks that an incident's alert was posted once and every later state of it
// updated that message.
func inPlace(tb testing.TB, h *recoverytest.Harness, incidentID string) {
	tb.Helper()
	var at []string
	for _, p := range h.Publisher.Posts() {
		if p.Incident.ID != incidentID {
			continue
		}
		switch p.Method {
		case "PostAlert":
			at = append(at, "posted "+p.Channel+"/"+p.TS)
		case "UpdateAlert":
			if len(at) == 0 || at[0] != "posted "+p.Channel+"/"+p.TS {
				tb.Fatalf("alert of %s: updated at %s/%s after %v, want every update at the one alert posted", incidentID, p.Channel, p.TS, at)
			}
		}
	}
	if len(at) != 1 {
		tb.Fatalf("alert of %s: got %v, want posted once", incidentID, at)
	}
}

func labels(as []recovery.Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Label)
	}
	return out
}

// Every signal of one source (a workflow run) is one incident and one alert, updated
// in place; another run is another incident with its own alert.
func TestEngineOneIncidentAndOneAlertPerSource(t *testing.T) {
	h := recoverytest.New(t)
	first := h.FailedJob(recovery.JobDeployPreprod)
	h.Submit(t, first)
	in := mustOpen(t, h, first)
	second := h.JobOf(*first.Run, recovery.JobPreprodTests, "failure")
	h.Submit(t, second)
	h.Submit(t, second) // redelivered

	alerts := h.Publisher.Alerts()
	if len(alerts) != 1 || alerts[0].ID != in.ID {
		t.Fatalf("alerts after two failed jobs of one run: got %d, want 1 (%s)", len(alerts), in.ID)
	}
	want := "Another job of this run failed: " + recovery.JobPreprodTests
	if got := notesSaying(h, in.ID, want); got != 1 {
		t.Fatalf("notes saying %q: got %d, want 1; thread %q", want, got, h.Publisher.Texts(in.ID))
	}
	inPlace(t, h, in.ID)
	// The first job stays the incident's subject: the second only adds its note.
	if a := alerts[0]; a.JobName != recovery.JobDeployPreprod || a.Scenario != recovery.PreprodDeployFail {
		t.Fatalf("alert: got job %q scenario %s, want %q %s", a.JobName, a.Scenario, recovery.JobDeployPreprod, recovery.PreprodDeployFail)
	}

	other := h.FailJob(t, recovery.JobDeployPreprod)
	if other.ID == in.ID {
		t.Fatalf("another run's failure: got incident %s again, want a new one", in.ID)
	}
	if got := len(h.Publisher.Alerts()); got != 2 {
		t.Fatalf("alerts after another run failed: got %d, want 2", got)
	}
	if got := notesSaying(h, in.ID, "Another job"); got != 1 {
		t.Fatalf("notes of %s after another run failed: got %d saying \"Another job\", want still 1", in.ID, got)
	}
}

// The same fact reported twice (a webhook redelivery, the poller seeing what the
// webhook said) is acted on once: its notes are posted once and the alert is not
// touched again, though the engine looked at it (Handled counts both).
func TestEngineSameSignalTwicePostsItsNotesOnce(t *testing.T) {
	tests := []struct {
		name string
		// fact returns the signal reported twice, after whatever it needs happened.
		fact func(h *recoverytest.Harness, run recovery.Run) recovery.Signal
		note string
	}{
		{"rollback started", func(h *recoverytest.Harness, run recovery.Run) recovery.Signal {
			return h.JobOf(run, recovery.JobRollback, "")
		}, "Automatic rollback started (Rollback on Failure)."},
		{"rollback succeeded", func(h *recoverytest.Harness, run recovery.Run) recovery.Signal {
			return h.JobOf(run, recovery.JobRollback, "success")
		}, "Automatic rollback succeeded"},
		{"another failed job", func(h *recoverytest.Harness, run recovery.Run) recovery.Signal {
			return h.JobOf(run, "Smoke Test", "failure")
		}, "Another job of this run failed: Smoke Test"},
		{"canary failed", func(h *recoverytest.Harness, run recovery.Run) recovery.Signal {
			return h.JobOf(run, recovery.JobCanary, "failure")
		}, "Escalated: Production deployment failed (scenario 4) (HIGH) → Production canary failed (scenario 5) (CRITICAL)"},
		{"alarm entered ALARM again", func(h *recoverytest.Harness, run recovery.Run) recovery.Signal {
			h.Submit(t, h.FiringAlarm("prod", "prod-dashboard-errors"))
			h.Advance(7 * time.Minute)
			return h.FiringAlarm("prod", "prod-dashboard-errors")
		}, "prod-dashboard-errors entered ALARM again (09:07 UTC)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t)
			failed := h.FailedJob(recovery.JobDeployProd)
			h.Submit(t, failed)
			in := mustOpen(t, h, failed)
			sig := tt.fact(h, *failed.Run)

			h.Submit(t, sig)
			if got := notesSaying(h, in.ID, tt.note); got != 1 {
				t.Fatalf("notes saying %q after the first report: got %d, want 1; thread %q", tt.note, got, h.Publisher.Texts(in.ID))
			}
			notes, versions := len(h.Publisher.Notes(in.ID)), len(h.Publisher.AlertVersions(in.ID))
			h.Submit(t, sig)
			if got := notesSaying(h, in.ID, tt.note); got != 1 {
				t.Fatalf("notes saying %q after the repeat: got %d, want 1; thread %q", tt.note, got, h.Publisher.Texts(in.ID))
			}
			if got := len(h.Publisher.Notes(in.ID)); got != notes {
				t.Fatalf("notes after the repeat: got %d, want still %d", got, notes)
			}
			if got := len(h.Publisher.AlertVersions(in.ID)); got != versions {
				t.Fatalf("alert versions after the repeat: got %d, want still %d", got, versions)
			}
			if got := len(h.Publisher.Alerts()); got != 1 {
				t.Fatalf("alerts: got %d, want 1", got)
			}
			if got := h.Handled(sig.Key()); got != 2 {
				t.Fatalf("handled %s: got %d, want 2 (the repeat was looked at)", sig.Key(), got)
			}
		})
	}
}

// A failure outranking the incident's (a canary after the deploy, the rollback
// failing) escalates it in place: the alert shows the new scenario and severity, the
// thread says what changed, the audit log records it. One as serious (or less) is
// another job's note.
func TestEngineEscalatesTheAlertInPlace(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)

	h.Submit(t, h.JobOf(*failed.Run, recovery.JobCanary, "failure"))
	inPlace(t, h, in.ID)
	a := mustAlert(t, h, in.ID)
	if a.Scenario != recovery.CanaryFail || a.Severity != recovery.SeverityCritical || a.Title != "Production canary failed" {
		t.Fatalf("alert after the canary failed: got %s %s %q, want %s CRITICAL %q",
			a.Scenario, a.Severity, a.Title, recovery.CanaryFail, "Production canary failed")
	}
	if a.JobName != recovery.JobCanary {
		t.Fatalf("alert's job after escalating: got %q, want %q", a.JobName, recovery.JobCanary)
	}

	rollback := h.JobOf(*failed.Run, recovery.JobRollback, "failure")
	h.Submit(t, rollback)
	a = mustAlert(t, h, in.ID)
	if a.Scenario != recovery.RollbackFail || a.Severity != recovery.SeverityCritical || a.Rollback != recovery.RollbackFailed {
		t.Fatalf("alert after the rollback failed: got %s %s rollback %q, want %s CRITICAL rollback %q",
			a.Scenario, a.Severity, a.Rollback, recovery.RollbackFail, recovery.RollbackFailed)
	}
	want := "Escalated: Production canary failed (scenario 5) (CRITICAL) → Production rollback failed (scenario 6) (CRITICAL). " +
		"The automatic rollback failed: production may be broken. IMMEDIATE ACTION REQUIRED."
	if got := notesSaying(h, in.ID, want); got != 1 {
		t.Fatalf("notes saying %q: got %d, want 1; thread %q", want, got, h.Publisher.Texts(in.ID))
	}

	// The rollback's re-run failing again is the same scenario: no second escalation.
	again := h.JobOf(*failed.Run, recovery.JobRollback, "failure")
	h.Submit(t, again)
	if got := notesSaying(h, in.ID, "Escalated"); got != 2 {
		t.Fatalf("escalation notes after the rollback failed again: got %d, want still 2; thread %q", got, h.Publisher.Texts(in.ID))
	}
	if got := notesSaying(h, in.ID, "Another job of this run failed: "+recovery.JobRollback); got != 1 {
		t.Fatalf("the rollback failing again: got %d notes, want 1 saying another job failed; thread %q", got, h.Publisher.Texts(in.ID))
	}
	var escalated []string
	for _, e := range h.Audit(t, in.ID) {
		if e.Action == "incident.escalated" {
			escalated = append(escalated, e.Detail["from"]+"→"+e.Detail["to"])
		}
	}
	if want := []string{"prod-deploy-fail→canary-fail", "canary-fail→rollback-fail"}; !slices.Equal(escalated, want) {
		t.Fatalf("escalations in the audit log: got %v, want %v", escalated, want)
	}
	inPlace(t, h, in.ID)
}

// A failure as serious as the incident's, of another scenario, does not escalate it
// (the boundary of "more serious"): it is another job's note.
func TestEngineSameSeverityDoesNotEscalate(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployPreprod) // MEDIUM
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)
	h.Submit(t, h.JobOf(*failed.Run, recovery.JobPreprodTests, "failure")) // MEDIUM too
	if got := notesSaying(h, in.ID, "Escalated"); got != 0 {
		t.Fatalf("escalation notes: got %d, want 0; thread %q", got, h.Publisher.Texts(in.ID))
	}
	if a := mustAlert(t, h, in.ID); a.Scenario != recovery.PreprodDeployFail {
		t.Fatalf("alert: got %s, want still %s", a.Scenario, recovery.PreprodDeployFail)
	}
}

// What each failed job opens, as its alert shows it: the scenario, the severity (the
// scenario's, or the environment's for the troubleshooting cases), the channel and
// the job and step that failed.
func TestEngineAlertShowsScenarioAndSeverityPerJob(t *testing.T) {
	tests := []struct {
		job      string
		workflow string // "" for the job's own
		log      string
		scenario recovery.ScenarioID
		severity recovery.Severity
		env      string
		title    string
	}{
		{recovery.JobTestsDev, "", "", recovery.DevTestsFail, recovery.SeverityLow, "dev", "Dev tests failed"},
		{recovery.JobDeployPreprod, "", "", recovery.PreprodDeployFail, recovery.SeverityMedium, "preprod", "Preprod deployment failed"},
		{recovery.JobPreprodTests, "", "", recovery.PreprodTestsFail, recovery.SeverityMedium, "preprod", "Preprod integration tests failed"},
		{recovery.JobDeployProd, "", "", recovery.ProdDeployFail, recovery.SeverityHigh, "prod", "Production deployment failed"},
		{recovery.JobCanary, "", "", recovery.CanaryFail, recovery.SeverityCritical, "prod", "Production canary failed"},
		{recovery.JobRollback, "", "", recovery.RollbackFail, recovery.SeverityCritical, "prod", "Production rollback failed"},
		// The troubleshooting cases take their environment's severity.
		{"Build", "", "", recovery.OtherJobFailed, recovery.SeverityLow, "dev", "Pipeline job failed"},
		{"Lint", "", "", recovery.OtherJobFailed, recovery.SeverityMedium, "preprod", "Pipeline job failed"},
		{"Smoke Test", "deploy-prod.yml", "", recovery.OtherJobFailed, recovery.SeverityHigh, "prod", "Pipeline job failed"},
		{"Build", "", "Error: Error acquiring the state lock\nLock Info:\n  ID: 1234", recovery.StateLockHeld, recovery.SeverityLow, "dev", "Terraform state lock held"},
		{"Lint", "", "AccessDeniedException: not authorized to perform GetSecretValue on secret preprod/x", recovery.SecretsInaccessible, recovery.SeverityMedium, "preprod", "Secrets not accessible"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s in %s", tt.job, tt.scenario), func(t *testing.T) {
			h := recoverytest.New(t)
			sig := h.FailedJob(tt.job, func(r *recovery.Run, _ *recovery.JobInfo) {
				if tt.workflow != "" {
					r.Workflow = tt.workflow
				}
			})
			if tt.log != "" {
				h.GitHub.SetLog(sig.Job.ID, tt.log)
			}
			h.Submit(t, sig)
			in := mustOpen(t, h, sig)
			a := mustAlert(t, h, in.ID)
			if a.Scenario != tt.scenario || a.Severity != tt.severity || a.Env != tt.env || a.Channel != recoverytest.Channel(tt.env) || a.Title != tt.title {
				t.Fatalf("alert: got %s %s %q in %s (%s), want %s %s %q in %s (%s)",
					a.Scenario, a.Severity, a.Title, a.Env, a.Channel, tt.scenario, tt.severity, tt.title, tt.env, recoverytest.Channel(tt.env))
			}
			if a.JobName != tt.job || a.JobID != sig.Job.ID || a.Step != "Terraform Apply" || a.RunID != sig.Run.ID || a.SHA != recoverytest.BadSHA || a.Branch != "main" {
				t.Fatalf("alert's subject: got job %q (%d) step %q of run %d at %s on %s, want %q (%d) step \"Terraform Apply\" of run %d at %s on main",
					a.JobName, a.JobID, a.Step, a.RunID, a.SHA, a.Branch, tt.job, sig.Job.ID, sig.Run.ID, recoverytest.BadSHA)
			}
			if a.Status != recovery.IncidentOpen || a.SourceKey != sig.SourceKey() || !a.OpenedAt.Equal(recoverytest.Start) {
				t.Fatalf("alert: got %s, source %q, opened %v; want open, %q, %v", a.Status, a.SourceKey, a.OpenedAt, sig.SourceKey(), recoverytest.Start)
			}
			entries := h.Audit(t, in.ID)
			if len(entries) == 0 || entries[0].Action != "incident.opened" {
				t.Fatalf("audit of %s: got %v, want incident.opened first", in.ID, h.AuditActions(t, in.ID))
			}
			d := entries[0].Detail
			if d["scenario"] != string(tt.scenario) || d["severity"] != tt.severity.String() || d["source"] != sig.SourceKey() || d["via"] != "webhook" || d["signal"] != sig.Key() || d["untrusted"] != "" {
				t.Fatalf("incident.opened detail: got %v, want scenario %s, severity %s, source %s, via webhook, signal %s, trusted",
					d, tt.scenario, tt.severity, sig.SourceKey(), sig.Key())
			}
		})
	}
}

// A run stuck in progress is a "Workflow stuck" incident of the stage its running job
// works on, or of its workflow's environment when no running job names one.
func TestEngineStuckRunIsAnIncidentOfItsRunningStage(t *testing.T) {
	running := func(r *recovery.Run, j *recovery.JobInfo) {
		r.Status, r.Conclusion = "in_progress", ""
		j.Status, j.Conclusion, j.CompletedAt = "in_progress", "", time.Time{}
	}
	tests := []struct {
		name    string
		job     string
		change  func(*recovery.Run, *recovery.JobInfo)
		jobsErr bool
		env     string
		sev     recovery.Severity
	}{
		{"deploy to production running", recovery.JobDeployProd, running, false, "prod", recovery.SeverityHigh},
		{"tests (dev) running", recovery.JobTestsDev, running, false, "dev", recovery.SeverityLow},
		{"a job of no stage running", "Lint", running, false, "preprod", recovery.SeverityMedium},
		{"no job running", recovery.JobTestsDev, func(r *recovery.Run, j *recovery.JobInfo) {
			r.Status, r.Conclusion = "in_progress", ""
			j.Status, j.Conclusion = "queued", ""
		}, false, "preprod", recovery.SeverityMedium},
		{"its jobs unreadable", recovery.JobTestsDev, running, true, "preprod", recovery.SeverityMedium},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t)
			job := h.FailedJob(tt.job, tt.change)
			if tt.jobsErr {
				h.GitHub.RunJobsFunc = func(_ context.Context, runID int64) ([]recovery.JobInfo, error) {
					return nil, errors.New("github: 502")
				}
			}
			stuck := recovery.Signal{Kind: recovery.SignalRunStuck, Via: "poll", Run: job.Run, At: h.Clock.Now()}
			h.Submit(t, stuck)
			in := mustOpen(t, h, stuck)
			a := mustAlert(t, h, in.ID)
			if a.Scenario != recovery.WorkflowStuck || a.Env != tt.env || a.Severity != tt.sev || a.Channel != recoverytest.Channel(tt.env) {
				t.Fatalf("alert: got %s in %s %s (%s), want %s in %s %s", a.Scenario, a.Env, a.Severity, a.Channel, recovery.WorkflowStuck, tt.env, tt.sev)
			}
		})
	}
}

// A run stuck in production whose canary then fails: the stuck case (a troubleshooting
// case, no scenario number) escalates to the canary's scenario.
func TestEngineStuckRunEscalatesWhenItsCanaryFails(t *testing.T) {
	h := recoverytest.New(t)
	job := h.FailedJob(recovery.JobDeployProd, func(r *recovery.Run, j *recovery.JobInfo) {
		r.Status, r.Conclusion = "in_progress", ""
		j.Status, j.Conclusion, j.CompletedAt = "in_progress", "", time.Time{}
	})
	stuck := recovery.Signal{Kind: recovery.SignalRunStuck, Via: "poll", Run: job.Run, At: h.Clock.Now()}
	h.Submit(t, stuck)
	in := mustOpen(t, h, stuck)
	h.Submit(t, h.JobOf(*job.Run, recovery.JobCanary, "failure"))
	want := ":arrow_double_up: Escalated: Workflow stuck (HIGH) → Production canary failed (scenario 5) (CRITICAL)"
	if got := notesSaying(h, in.ID, want); got != 1 {
		t.Fatalf("notes saying %q: got %d, want 1; thread %q", want, got, h.Publisher.Texts(in.ID))
	}
	if a := mustAlert(t, h, in.ID); a.Scenario != recovery.CanaryFail || a.Severity != recovery.SeverityCritical {
		t.Fatalf("alert: got %s %s, want %s CRITICAL", a.Scenario, a.Severity, recovery.CanaryFail)
	}
}
