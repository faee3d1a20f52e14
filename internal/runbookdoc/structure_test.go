package runbookdoc

import (
	"regexp"
	"strings"
	"testing"
)

// The failure recovery runbook's structure (FAILURE_RECOVERY_RUNBOOK.md, kept outside
// this repository): its six scenarios ("## Scenario N: …", with the severity of its
// "Quick Reference" table), its four "General Troubleshooting" cases, its "Escalation
// Matrix" rows with their response times, and its seven-item "Post-Incident
// Checklist" (item 3 reads "Update the runbook…" where the runbook says "this").
var (
	runbookScenarios = []struct{ section, severity string }{
		{"Scenario 1: Dev Tests Fail", "LOW"},
		{"Scenario 2: Preprod Deployment Fails (Terraform)", "MEDIUM"},
		{"Scenario 3: Preprod Tests Fail (Integration)", "MEDIUM"},
		{"Scenario 4: Production Deployment Fails (Terraform)", "HIGH"},
		{"Scenario 5: Canary Test Fails (Production)", "CRITICAL"},
		{"Scenario 6: Rollback Fails (CRITICAL)", "CRITICAL"},
	}
	runbookTroubleshooting = []string{
		"GitHub Actions Workflow Stuck",
		"Terraform State Lock Held",
		"Secrets Not Accessible",
		"CloudWatch Alarms Won't Clear",
	}
	// runbookMatrix is the matrix's rows, as the default configuration orders them
	// (most specific first), with medic's spelling of each response time.
	runbookMatrix = []struct{ row, response string }{
		{"Data corruption", "IMMEDIATE"},
		{"Prod fail (auto-rollback fails)", "IMMEDIATE"},
		{"Prod fail (auto-rollback works)", "15m"},
		{"Preprod fail", "1h00m"},
		{"Dev tests fail", "best effort"},
	}
	runbookChecklist = []string{
		"Write incident report (what, when, why, how resolved)",
		"Root cause analysis (5 whys)",
		"Update the runbook with the new failure mode",
		"Create GitHub issue to prevent recurrence",
		"Test recovery procedure works",
		"Update monitoring/alerting if gaps found",
		"Share lessons learned with team",
	}
)

func TestRunbookStructure(t *testing.T) {
	doc := mustGenerate(t, mustRead(t, exampleConfig))

	scenarios := regexp.MustCompile(`(?m)^## Scenario (\d+): `).FindAllStringSubmatch(doc, -1)
	if len(scenarios) != len(runbookScenarios) {
		t.Errorf("got %d scenario sections, want %d", len(scenarios), len(runbookScenarios))
	}
	quick := tableRows(section(t, doc, "## Quick reference"))
	if len(quick) != len(runbookScenarios) {
		t.Errorf("quick reference: got %d rows, want %d", len(quick), len(runbookScenarios))
	}
	for i, want := range runbookScenarios {
		n := string(rune('1' + i))
		if i >= len(scenarios) || scenarios[i][1] != n {
			t.Errorf("scenario section %d: got %v, want number %s", i+1, scenarios, n)
			continue
		}
		if !strings.Contains(doc, "Runbook section: "+text(want.section)+".") {
			t.Errorf("scenario %s: no section names the runbook's %q", n, want.section)
		}
		if i < len(quick) && (quick[i][0] != n || quick[i][2] != want.severity) {
			t.Errorf("quick reference row %d: got %q, want scenario %s rated %s", i+1, quick[i], n, want.severity)
		}
	}

	cases := regexp.MustCompile(`(?m)^### Case \d+: `).FindAllString(section(t, doc, "## General troubleshooting"), -1)
	if len(cases) != len(runbookTroubleshooting) {
		t.Errorf("got %d troubleshooting cases, want %d", len(cases), len(runbookTroubleshooting))
	}
	for _, want := range runbookTroubleshooting {
		if !strings.Contains(doc, "Runbook section: General Troubleshooting: "+text(want)+".") {
			t.Errorf("no troubleshooting case names the runbook's %q", want)
		}
	}

	matrix := tableRows(section(t, doc, "## Escalation matrix"))
	if len(matrix) != len(runbookMatrix) {
		t.Errorf("escalation matrix: got %d rows, want %d", len(matrix), len(runbookMatrix))
	}
	for i, want := range runbookMatrix {
		if i < len(matrix) && (matrix[i][0] != text(want.row) || matrix[i][2] != want.response) {
			t.Errorf("escalation matrix row %d: got %q, want %q responding %s", i+1, matrix[i], want.row, want.response)
		}
	}

	items := regexp.MustCompile(`(?m)^- \[ \] (.*)$`).FindAllStringSubmatch(section(t, doc, "## Post-incident checklist"), -1)
	if len(items) != len(runbookChecklist) {
		t.Errorf("checklist: got %d items, want %d", len(items), len(runbookChecklist))
	}
	for i, want := range runbookChecklist {
		if i < len(items) && items[i][1] != text(want) {
			t.Errorf("checklist item %d: got %q, want %q", i+1, items[i][1], want)
		}
	}
}
