package runbookdoc

import (
	"strings"
	"testing"
)

// TestRunbookFollowsTheConfig: a change of who may approve, who is paged or where
// drills run changes the document, where people look for it.
func TestRunbookFollowsTheConfig(t *testing.T) {
	base := mustRead(t, exampleConfig)
	before := mustGenerate(t, base)
	edited := strings.Replace(base, "      admins: [U0MEDICADMIN]\n",
		"      admins: [U0MEDICADMIN]\n    prod:\n      approvers: [U0PRODLEAD]\n", 1)
	edited = strings.Replace(edited, "      slack: [U0SENIORENG]\n", "      slack: [U0SENIORENG, U0SECONDSENIOR]\n", 1)
	edited = strings.Replace(edited, "  alert_channel: C0MEDICOPS\n  workers:", "  alert_channel: C0MEDICOPS\n  drill_channel: C0DRILLS\n  workers:", 1)
	after := mustGenerate(t, edited)
	if after == before {
		t.Fatal("the edited config gives the same document")
	}
	if rows := tableRows(section(t, section(t, before, "## Scenario 4: Production deployment failed"), "**Who may press them:**")); len(rows) == 0 ||
		rows[0][3] != "a second person, never the requester: approvers S0SRELEADS, U0MEDICADMIN (protected environment)" {
		t.Errorf("prod's rollback approval in the default config: got %q, want the approvers and admins of \"*\"", rows)
	}
	rollback := tableRows(section(t, section(t, after, "## Scenario 4: Production deployment failed"), "**Who may press them:**"))
	if len(rollback) == 0 || !strings.Contains(rollback[0][3], "U0PRODLEAD") {
		t.Errorf("prod's rollback approval: got %q, want U0PRODLEAD among the approvers", rollback)
	}
	for _, line := range strings.Split(after, "\n") {
		if strings.Contains(line, "| dev |") && strings.Contains(line, "U0PRODLEAD") {
			t.Errorf("prod's approver shows in dev: %q", line)
		}
	}
	matrix := tableRows(section(t, after, "## Escalation matrix"))
	if len(matrix) < 2 || !strings.Contains(matrix[1][3], "senior engineer (U0SENIORENG, U0SECONDSENIOR)") {
		t.Errorf("the rollback-fails row: got %q, want the second senior engineer paged", matrix)
	}
	if !strings.Contains(after, "Practise with `/drill <scenario>` (`/drill list`, `/drill stop <id>`) in channel C0DRILLS.") {
		t.Errorf("drills: got %q", section(t, after, "## Drills"))
	}
	if !strings.Contains(before, "Drills are off: set `slack.drill_channel`") {
		t.Errorf("drills without a channel: got %q", section(t, before, "## Drills"))
	}
}

// TestRunbookNoAlertChannel: an environment without an alert channel shows a dash in
// its row, not an empty cell.
func TestRunbookNoAlertChannel(t *testing.T) {
	doc := mustGenerate(t, strings.Replace(mustRead(t, exampleConfig), "  alert_channel: C0MEDICOPS\n", "", 1))
	for _, row := range tableRows(section(t, doc, "## Environments and who may act")) {
		if len(row) > 4 && row[0] == "dev" && row[4] != "–" {
			t.Errorf("dev's alert channel cell: %q, want –", row[4])
		}
	}
	if !strings.Contains(doc, "| dev |") {
		t.Fatal("no row for dev")
	}
}
