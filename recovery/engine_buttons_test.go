package recovery_test

import (
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// The buttons an alert offers: its scenario's actions in the runbook's order, minus
// those that do not apply now (Force-unlock without a lock, Acknowledge once
// acknowledged, View artifacts without a run), plus Refresh diagnostics; Resolve first
// once fixed; none once resolved.
func TestButtonsOfferWhatAppliesNow(t *testing.T) {
	lock := &recovery.StateLock{ID: "7d1c"}
	fixed := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   recovery.Incident
		want []string
	}{
		{"prod deploy failed", recovery.Incident{Scenario: recovery.ProdDeployFail, Status: recovery.IncidentOpen, RunID: 1},
			[]string{"Roll back to last good", "Verify", "Page on-call", "Acknowledge", "Refresh diagnostics"}},
		{"acknowledged", recovery.Incident{Scenario: recovery.ProdDeployFail, Status: recovery.IncidentAcknowledged, RunID: 1},
			[]string{"Roll back to last good", "Verify", "Page on-call", "Refresh diagnostics"}},
		{"fixed", recovery.Incident{Scenario: recovery.ProdDeployFail, Status: recovery.IncidentOpen, RunID: 1, FixedAt: fixed},
			[]string{"Resolve", "Roll back to last good", "Verify", "Page on-call", "Acknowledge", "Refresh diagnostics"}},
		{"resolved", recovery.Incident{Scenario: recovery.ProdDeployFail, Status: recovery.IncidentResolved, RunID: 1, FixedAt: fixed}, nil},
		{"a lock held, none known", recovery.Incident{Scenario: recovery.StateLockHeld, Status: recovery.IncidentOpen, RunID: 1},
			[]string{"Acknowledge", "Refresh diagnostics"}},
		{"a lock held, known", recovery.Incident{Scenario: recovery.StateLockHeld, Status: recovery.IncidentOpen, RunID: 1, Lock: lock},
			[]string{"Force-unlock", "Acknowledge", "Refresh diagnostics"}},
		{"preprod tests of a run", recovery.Incident{Scenario: recovery.PreprodTestsFail, Status: recovery.IncidentOpen, RunID: 1},
			[]string{"Revert commit", "Re-run", "Clean test data", "View artifacts", "Acknowledge", "Refresh diagnostics"}},
		{"preprod tests of no run", recovery.Incident{Scenario: recovery.PreprodTestsFail, Status: recovery.IncidentOpen},
			[]string{"Revert commit", "Re-run", "Clean test data", "Acknowledge", "Refresh diagnostics"}},
		{"a pull request's checks", recovery.Incident{Scenario: recovery.UntrustedRunFailed, Status: recovery.IncidentOpen, RunID: 1, Untrusted: "a pull request"},
			[]string{"Re-run failed jobs", "View logs", "Refresh diagnostics"}},
		{"the rollback failed", recovery.Incident{Scenario: recovery.RollbackFail, Status: recovery.IncidentOpen, RunID: 1},
			[]string{"Emergency Terraform rollback", "Force Lambda update", "Page senior engineer", "Data corruption risk", "Acknowledge", "Refresh diagnostics"}},
		{"an unknown scenario", recovery.Incident{Scenario: "gone", Status: recovery.IncidentOpen}, nil},
	}
	for _, tt := range tests {
		if got := labels(recovery.Buttons(tt.in)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Button IDs carry the action namespace; only IDs of that namespace naming an action
// read back.
func TestButtonIDsReadBack(t *testing.T) {
	for _, id := range []recovery.ActionID{recovery.ActRollback, recovery.ActForceUnlock, recovery.ActRefresh} {
		b := recovery.ButtonID(id)
		if b != "action:"+string(id) {
			t.Fatalf("ButtonID(%s): got %q, want %q", id, b, "action:"+string(id))
		}
		if got, ok := recovery.ParseButtonID(b); !ok || got != id {
			t.Fatalf("ParseButtonID(%q): got %q, %v; want %q, true", b, got, ok, id)
		}
	}
	for _, s := range []string{"action:", "approve:REQ-1", "rollback", ""} {
		if got, ok := recovery.ParseButtonID(s); ok {
			t.Fatalf("ParseButtonID(%q): got %q, true; want false", s, got)
		}
	}
}
