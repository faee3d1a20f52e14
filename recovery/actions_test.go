package recovery

import (
	"context"
	"strings"
	"testing"
)

// TestActionRegistryRefusesIncompleteOrDuplicateSpecs: the registry is checked when
// the package loads, so an action missing its preview or steps, or defined twice,
// stops medic at start rather than failing a click at 3 a.m.
func TestActionRegistryRefusesIncompleteOrDuplicateSpecs(t *testing.T) {
	table := actionTable()
	if _, err := registry(table); err != nil {
		t.Fatalf("the registry: %v", err)
	}
	mutate := func(id ActionID, change func(*actionSpec)) []actionSpec {
		out := append([]actionSpec(nil), table...)
		for i := range out {
			if out[i].ID == id {
				change(&out[i])
			}
		}
		return out
	}
	noop := func(*Engine, context.Context, Incident, Environment, string) (string, error) { return "", nil }
	tests := []struct {
		name  string
		table []actionSpec
		want  string
	}{
		{"a mutating action without a preview", mutate(ActRollback, func(s *actionSpec) { s.preview = nil }), "action rollback: a mutating action needs params, a preview and steps"},
		{"a mutating action without steps", mutate(ActRevert, func(s *actionSpec) { s.steps = nil }), "action revert: a mutating action needs params, a preview and steps"},
		{"a mutating action without params", mutate(ActSetAlarmOK, func(s *actionSpec) { s.params = nil }), "action set-alarm-ok: a mutating action needs params"},
		{"a mutating action that also acts", mutate(ActRerun, func(s *actionSpec) { s.act = noop }), "action rerun: a mutating action needs"},
		{"a read-only action without act", mutate(ActVerify, func(s *actionSpec) { s.act = nil }), "action verify: a read-only action needs act"},
		{"a read-only action with steps", mutate(ActRefresh, func(s *actionSpec) { s.steps = table[0].steps }), "action refresh: a read-only action needs act, and nothing else"},
		{"a paging action without page", mutate(ActPageSenior, func(s *actionSpec) { s.page = nil }), "action page-senior: a paging action needs page"},
		{"a destructive read-only action", mutate(ActViewLogs, func(s *actionSpec) { s.destructive = true }), "action view-logs: only a mutating action can be destructive"},
		{"a fixing paging action", mutate(ActPageOnCall, func(s *actionSpec) { s.fixes = true }), "action page-oncall: only a mutating action"},
		{"a nuclear action not restricted", mutate(ActForceLambdaUpdate, func(s *actionSpec) { s.Restricted = false }), "action force-lambda-update: a destructive or nuclear action must be restricted"},
		{"a destructive action not restricted", mutate(ActCleanTestData, func(s *actionSpec) { s.Restricted = false }), "action clean-test-data: a destructive or nuclear action must be restricted"},
		{"an action without a label", mutate(ActResolve, func(s *actionSpec) { s.Label = "" }), `action "resolve" has no ID or label`},
		{"an unknown kind", mutate(ActResolve, func(s *actionSpec) { s.Kind = 7 }), "action resolve: unknown kind 7"},
		{"an action defined twice", append(append([]actionSpec(nil), table...), table[3]), "action " + string(table[3].ID) + " is defined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := registry(tt.table)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestEveryActionIsInTheRegistryOnce: each action ID is one entry, and what people see
// of it (ActionByID) is that entry's.
func TestEveryActionIsInTheRegistryOnce(t *testing.T) {
	seen := map[ActionID]int{}
	for _, s := range actionTable() {
		seen[s.ID]++
		if a, ok := ActionByID(s.ID); !ok || a != s.Action {
			t.Errorf("ActionByID(%s): got %+v, %v; want %+v", s.ID, a, ok, s.Action)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s: %d entries, want 1", id, n)
		}
	}
	if len(seen) != len(actions) || len(seen) != 22 {
		t.Errorf("got %d actions in the table and %d known, want 22 each", len(seen), len(actions))
	}
}
