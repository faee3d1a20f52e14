package recovery

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// demoIncident is the incident `medic demo --scenario rollback-fail` plays, with its
// audit log: the canary fails, the automatic rollback fails too, the senior engineer
// is paged at once and the CTO 15 minutes later, alice acknowledges and requests an
// emergency rollback, bob approves, the job succeeds, alice resolves.
func demoIncident() (Incident, []AuditEntry) {
	t0 := time.Date(2026, 11, 26, 9, 41, 26, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	in := Incident{
		ID: "INC-HAN5KYBT", Title: "Production rollback failed", Env: "prod",
		Scenario: RollbackFail, Severity: SeverityCritical, Status: IncidentResolved,
		OpenedAt: t0, AckBy: "U0ALICE", AckAt: at(15*time.Minute + 5*time.Second),
		FixedAt:       at(15*time.Minute + 6*time.Second),
		SHA:           "f6b9a66376ac51a3f5c6f0f4c1d1b9a7e0c2d4e6",
		CommitMessage: "feat(dashboard): encrypt environment variables with a customer-managed KMS key\n\nRotates the key.",
		CommitAuthor:  "Daniel Chen",
		RunURL:        "https://github.com/traylorre/sentiment-analyzer-gsk/actions/runs/11000000010",
		JobName:       "Rollback on Failure", Step: "Terraform apply previous version",
		Rollback: RollbackFailed, RollbackSHA: "a27f88b2c0b9abf610708c4fb3bb92797125ff9a",
		Escalation: Escalation{Row: "Prod fail (auto-rollback fails)", Step: 2, Pages: 2},
		Resolution: Resolution{By: "U0ALICE", At: at(15*time.Minute + 7*time.Second), Note: "prod back on a27f88b; KMS key restored",
			Checklist: []ChecklistItem{{Text: "Write incident report (what, when, why, how resolved)", Done: true, By: "U0ALICE", At: at(16 * time.Minute)}, {Text: "Root cause analysis (5 whys)"}}},
	}
	e := func(d time.Duration, actor, action string, detail map[string]string) AuditEntry {
		return AuditEntry{At: at(d), Actor: actor, Action: action, Env: "prod", IncidentID: in.ID, Detail: detail}
	}
	job := func(a AuditEntry) AuditEntry { a.JobID = "JOB-HANM8CPD"; return a }
	entries := []AuditEntry{
		e(0, "medic", "incident.opened", map[string]string{"scenario": "canary-fail", "severity": "CRITICAL", "via": "webhook"}),
		e(0, "medic", "incident.alerted", nil),
		e(0, "medic", "incident.escalated", map[string]string{"from": "canary-fail", "to": "rollback-fail"}),
		e(0, "medic", "escalation.row", map[string]string{"from": "Prod fail (auto-rollback works)", "to": "Prod fail (auto-rollback fails)"}),
		e(time.Second, "medic", "incident.paged", map[string]string{"levels": "senior", "reason": "Prod fail (auto-rollback fails): response IMMEDIATE"}),
		e(time.Second, "medic", "page.sent", map[string]string{"pager": "slack"}),
		e(2*time.Second, "medic", "page.failed", map[string]string{"pager": "pagerduty", "attempt": "1", "retry": "true", "error": "PagerDuty answered 503"}),
		e(17*time.Second, "medic", "page.failed", map[string]string{"pager": "pagerduty", "attempt": "2", "retry": "true", "error": "PagerDuty answered 503"}),
		e(15*time.Minute+time.Second, "medic", "incident.paged", map[string]string{"levels": "cto,senior", "reason": "still not acknowledged 15m after the last page (Prod fail (auto-rollback fails))"}),
		e(15*time.Minute+2*time.Second, "U0MALLORY", "request.refused", map[string]string{"action": "emergency-rollback"}),
		e(15*time.Minute+5*time.Second, "U0ALICE", "incident.acknowledged", nil),
		e(15*time.Minute+5*time.Second, "U0ALICE", "request.created", map[string]string{"action": "emergency-rollback", "request": "REQ-HANMPD7N"}),
		e(15*time.Minute+5*time.Second, "U0BOB", "request.approved", map[string]string{"action": "emergency-rollback", "request": "REQ-HANMPD7N"}),
		job(e(15*time.Minute+5*time.Second, "U0BOB", "job.created", map[string]string{"action": "emergency-rollback"})),
		job(e(15*time.Minute+5*time.Second, "medic", "job.step", map[string]string{"step": "terraform plan", "state": "succeeded"})),
		job(e(15*time.Minute+6*time.Second, "medic", "job.step", map[string]string{"step": "terraform apply", "state": "succeeded"})),
		job(e(15*time.Minute+6*time.Second, "medic", "job.step", map[string]string{"step": "Verify: health endpoint 200 and no alarm in ALARM", "state": "succeeded"})),
		job(e(15*time.Minute+6*time.Second, "medic", "job.succeeded", nil)),
		e(15*time.Minute+6*time.Second, "medic", "alarm.cleared", map[string]string{"alarm": "prod-dashboard-errors"}),
		e(15*time.Minute+7*time.Second, "U0ALICE", "incident.resolved", map[string]string{"note": "prod back on a27f88b; KMS key restored"}),
		e(16*time.Minute, "U0ALICE", "checklist.checked", map[string]string{"item": "Write incident report (what, when, why, how resolved)"}),
	}
	return in, entries
}

// TestReportGolden pins the report of the demo incident: how it reads is the point,
// so a change to it shows up as a diff of testdata/report_rollback_fail.golden.md
// (go test ./recovery -run TestReportGolden -update rewrites it).
func TestReportGolden(t *testing.T) {
	in, entries := demoIncident()
	p := &EscalationPolicy{Levels: DefaultLevels(), Matrix: DefaultMatrix(), Interval: 15 * time.Minute}
	got := Report(in, entries, p, map[string]string{"U0ALICE": "alice", "U0BOB": "bob"})
	path := filepath.Join("testdata", "report_rollback_fail.golden.md")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden report (go test ./recovery -run TestReportGolden -update writes it): %v", err)
	}
	if got != string(want) {
		t.Errorf("the report changed; if that is intended, rewrite it with -update.\n--- got\n%s\n--- want\n%s", got, want)
	}
}

// TestReportFacts checks the report's figures and that what only reads or retries
// stays out of the timeline, independently of the golden file's wording.
func TestReportFacts(t *testing.T) {
	in, entries := demoIncident()
	got := Report(in, entries, nil, nil)
	for _, want := range []string{
		"| Time to acknowledge | 15m |",
		"| Time to recover | 15m |",
		"| Acknowledged | 2026-11-26 09:56 UTC by U0ALICE |",
		"failed at step \"Terraform apply previous version\".\n\nHow it was resolved: prod back on a27f88b; KMS key restored",
		"PagerDuty page failed (attempt 1): PagerDuty answered 503",
		"- [x] Write incident report",
		"- [ ] Root cause analysis (5 whys)",
		"- U0ALICE: acknowledged; requested Emergency Terraform rollback; resolved",
		"- U0BOB: approved Emergency Terraform rollback",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the report lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"attempt 2", "request.refused", "U0MALLORY", "checklist.checked"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("the report shows %q:\n%s", unwanted, got)
		}
	}

	// An incident resolved without a verified fix says so instead of inventing one.
	in.FixedAt = time.Time{}
	if got := Report(in, entries, nil, nil); !strings.Contains(got, "(to resolution; no verified fix recorded)") {
		t.Errorf("a report without a fix claims a time to recover:\n%s", got)
	}
}

// TestReportOutsideTextIsInert: a commit subject, author, job name or typed reason
// cannot mention anyone on GitHub, hide the rest of the report behind an HTML
// comment, or draw a link or a table cell of its own.
func TestReportOutsideTextIsInert(t *testing.T) {
	in := Incident{ID: "INC-1", Env: "prod", Scenario: CanaryFail, Severity: SeverityCritical, Title: "Production canary failed",
		SHA: "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6", CommitMessage: "fix #12 <!-- the rest is hidden\nbody",
		CommitAuthor: "@octocat", JobName: "[Approve](https://evil.example) | x", Step: "**bold**",
		Resolution: Resolution{Note: "cc @security-team <img src=x>"}}
	r := Report(in, nil, nil, map[string]string{})
	for _, bad := range []string{"<!--", "#12", "@octocat", "@security-team", "<img", "[Approve](", "**bold**"} {
		if strings.Contains(r, bad) {
			t.Errorf("report carries %q as Markdown:\n%s", bad, r)
		}
	}
	for _, kept := range []string{"octocat", "Approve", "security-team", "bold", `\| x`} {
		if !strings.Contains(r, kept) {
			t.Errorf("report lost %q:\n%s", kept, r)
		}
	}
}
