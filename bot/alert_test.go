package bot

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

func canaryIncident() recovery.Incident {
	return recovery.Incident{
		ID: "INC-1KQ7X9ZB", Env: "prod", Scenario: recovery.CanaryFail, Severity: recovery.SeverityCritical,
		Status: recovery.IncidentOpen, Title: "Production canary failed", SourceKey: "run:11000000042",
		OpenedAt: at, UpdatedAt: at, Channel: "C0MEDICOPS", Version: 3, Signals: 2,
		RunID: 11000000042, RunAttempt: 1, RunURL: "https://github.com/traylorre/sentiment-analyzer-gsk/actions/runs/11000000042",
		Workflow: "deploy-prod.yml", WorkflowName: "Deploy to Production", JobID: 30000000007, JobName: "Production Canary Test",
		Step: "Check health endpoint", SHA: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", CommitMessage: "Tune analysis batch size <script>\n\nlonger body",
		CommitAuthor: "Jane Dev", Rollback: recovery.RollbackRunning,
		Findings: []recovery.Finding{
			{Diagnostic: recovery.DiagHealth, Title: "Health endpoint", Bad: true, Lines: []string{"HTTP 503 in 120ms", `{"status":"unhealthy","dynamodb":"timeout"}`}},
			{Diagnostic: recovery.DiagAlarms, Title: "Alarms in ALARM", Bad: true, Lines: []string{"prod-dashboard-errors since 03:01 UTC (11m ago)"}},
			{Diagnostic: recovery.DiagErrorLogs, Title: "ERROR logs (last 10 minutes)", Problem: "CloudWatch Logs: AccessDeniedException on FilterLogEvents (/aws/lambda/prod-sentiment-dashboard)"},
			{Diagnostic: recovery.DiagRollbackProgress, Title: "Auto-rollback", Lines: []string{"Rollback on Failure in progress (step 2 “Terraform apply previous version”)"}, Link: "https://github.com/x/y/actions/runs/1/job/2", LinkText: "rollback job"},
			{Diagnostic: recovery.DiagLastGood, Title: "Last known good", Lines: []string{"1a2b3c4 deployed 2026-11-26 01:12 UTC (2h00m ago)"}, GoodSHA: "1a2b3c4d5e6f"},
		},
	}
}

func TestAlertMessageGolden(t *testing.T) {
	in := canaryIncident()
	blocks, fallback := AlertMessage(in)
	golden(t, "alert_canary", map[string]any{"text": fallback, "blocks": slack.Blocks{BlockSet: blocks}})

	acked := in
	acked.Status, acked.AckBy, acked.AckAt = recovery.IncidentAcknowledged, "U0ALICE", at.Add(3*time.Minute)
	acked.Scenario, acked.Severity, acked.Rollback = recovery.RollbackFail, recovery.SeverityCritical, recovery.RollbackFailed
	acked.Lock = &recovery.StateLock{ID: "6f1c2d3e"}
	blocks, fallback = AlertMessage(acked)
	golden(t, "alert_rollback_fail_acked", map[string]any{"text": fallback, "blocks": slack.Blocks{BlockSet: blocks}})
}

func TestAlertButtonsCarryTheIncident(t *testing.T) {
	blocks, _ := AlertMessage(canaryIncident())
	var actions *slack.ActionBlock
	for _, b := range blocks {
		if a, ok := b.(*slack.ActionBlock); ok {
			actions = a
		}
	}
	if actions == nil {
		t.Fatal("no actions block")
	}
	var ids []string
	for _, e := range actions.Elements.ElementSet {
		btn := e.(*slack.ButtonBlockElement)
		if btn.Value != "INC-1KQ7X9ZB" {
			t.Errorf("button %s carries %q, want the incident ID", btn.ActionID, btn.Value)
		}
		ids = append(ids, btn.ActionID)
	}
	want := "action:rollback,action:verify,action:page-oncall,action:ack,action:refresh"
	if got := strings.Join(ids, ","); got != want {
		t.Errorf("buttons: got %s, want %s", got, want)
	}
}

func TestNoteCutsLongDetailKeepingTheEnd(t *testing.T) {
	var lines []string
	for i := 0; i < 2000; i++ {
		lines = append(lines, "line of the log")
	}
	lines = append(lines, "FAILED tests/x.py::test_y - boom", "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789")
	blocks, _ := NoteMessage(recovery.Note{Title: "Log excerpt", Detail: strings.Join(lines, "\n"), Link: "https://github.com/x/job/1", LinkText: "full log"})
	data, _ := json.Marshal(blocks)
	s := string(data)
	if !strings.Contains(s, "FAILED tests/x.py::test_y - boom") || !strings.Contains(s, "full log") || !strings.Contains(s, "cut to the last lines") {
		t.Errorf("the end of the log, the cut notice or the link is missing: %.300s…", s)
	}
	if strings.Contains(s, "ghp_abcdef") {
		t.Error("a token reached the note")
	}
	for _, b := range blocks {
		if sb, ok := b.(*slack.SectionBlock); ok && len([]rune(sb.Text.Text)) > maxSectionText {
			t.Errorf("section of %d characters, Slack allows %d", len([]rune(sb.Text.Text)), maxSectionText)
		}
	}
}
