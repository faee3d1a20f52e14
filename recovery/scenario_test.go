package recovery

import (
	"strings"
	"testing"
	"time"
)

// buttonIDs lists the actions offered on an incident's alert, in order.
func buttonIDs(in Incident) string {
	var ids []string
	for _, a := range Buttons(in) {
		ids = append(ids, string(a.ID))
	}
	return strings.Join(ids, " ")
}

// TestButtonsOnAlerts: the buttons of an alert are its scenario's actions in the
// runbook's order, minus Force-unlock without a lock, Acknowledge once acknowledged and
// View artifacts without a run, plus Refresh diagnostics; Resolve comes first once the
// fix is seen; a resolved incident or an unknown scenario offers nothing.
func TestButtonsOnAlerts(t *testing.T) {
	fixed := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   Incident
		want string
	}{
		{"preprod deploy, no lock", Incident{Scenario: PreprodDeployFail, Status: IncidentOpen},
			"revert tf-plan rerun destroy-recreate ack refresh"},
		{"preprod deploy with a lock", Incident{Scenario: PreprodDeployFail, Status: IncidentOpen, Lock: &StateLock{ID: "x"}},
			"revert tf-plan force-unlock rerun destroy-recreate ack refresh"},
		{"preprod tests with a run", Incident{Scenario: PreprodTestsFail, Status: IncidentOpen, RunID: 5},
			"revert rerun clean-test-data view-artifacts ack refresh"},
		{"preprod tests without a run", Incident{Scenario: PreprodTestsFail, Status: IncidentOpen},
			"revert rerun clean-test-data ack refresh"},
		{"acknowledged", Incident{Scenario: CanaryFail, Status: IncidentAcknowledged},
			"rollback verify page-oncall refresh"},
		{"fixed: Resolve first", Incident{Scenario: CanaryFail, Status: IncidentAcknowledged, FixedAt: fixed},
			"resolve rollback verify page-oncall refresh"},
		{"rollback failed", Incident{Scenario: RollbackFail, Status: IncidentOpen},
			"emergency-rollback force-lambda-update page-senior data-corruption ack refresh"},
		{"untrusted run: re-run and logs only", Incident{Scenario: UntrustedRunFailed, Status: IncidentOpen, RunID: 5},
			"rerun-failed view-logs refresh"},
		{"resolved", Incident{Scenario: CanaryFail, Status: IncidentResolved, FixedAt: fixed}, ""},
		{"unknown scenario", Incident{Scenario: "nope", Status: IncidentOpen}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buttonIDs(tt.in); got != tt.want {
				t.Errorf("got buttons %q, want %q", got, tt.want)
			}
		})
	}
}

// TestButtonIDs: an action's button ID reads back as the action; other elements'
// IDs (approvals, job controls) and an empty action do not.
func TestButtonIDs(t *testing.T) {
	for id := range actions {
		if got, ok := ParseButtonID(ButtonID(id)); !ok || got != id {
			t.Errorf("ParseButtonID(ButtonID(%s)): got %q, %v", id, got, ok)
		}
	}
	for _, s := range []string{"", "action:", "rollback", ApproveID(), RejectID(), JobCancelID(), JobRetryID(), "xaction:rollback"} {
		if got, ok := ParseButtonID(s); ok {
			t.Errorf("ParseButtonID(%q): got %q, want no action", s, got)
		}
	}
	if _, ok := ActionByID("nope"); ok {
		t.Error("ActionByID(nope): got an action, want none")
	}
}
