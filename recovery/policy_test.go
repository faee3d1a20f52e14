package recovery

import (
	"fmt"
	"sort"
	"testing"
)

// rulePolicy is the default policy (config.DefaultSelfService): re-runs, cancel and
// plan on dev, re-runs and plan on preprod; one action listed for prod, which never
// counts.
func rulePolicy() Policy {
	return Policy{SelfService: map[string][]ActionID{
		"dev":     {ActRerunFailed, ActRerun, ActCancelRun, ActTerraformPlan},
		"preprod": {ActRerunFailed, ActRerun, ActTerraformPlan},
		"prod":    {ActRerunFailed},
		"perf":    {ActRerunFailed},
		"staging": {ActRerunFailed},
	}}
}

// TestNeedsApprovalBoundaries: self-service holds only for an action listed for the
// environment, in an environment that is neither protected nor rated HIGH or above, for
// an incident below HIGH. An environment's name counts for nothing: protection is config.
func TestNeedsApprovalBoundaries(t *testing.T) {
	p := rulePolicy()
	dev := Environment{Name: "dev", Severity: SeverityLow}
	preprod := Environment{Name: "preprod", Severity: SeverityMedium}
	prod := Environment{Name: "prod", Severity: SeverityHigh, Protected: true}
	tests := []struct {
		name   string
		action ActionID
		env    Environment
		sev    Severity
		want   bool
	}{
		{"listed, no incident", ActRerunFailed, dev, 0, false},
		{"listed, LOW incident", ActRerunFailed, dev, SeverityLow, false},
		{"listed, MEDIUM incident", ActRerun, preprod, SeverityMedium, false},
		{"listed, HIGH incident in a non-prod environment", ActRerunFailed, dev, SeverityHigh, true},
		{"listed, HIGH incident in preprod", ActTerraformPlan, preprod, SeverityHigh, true},
		{"listed, CRITICAL incident", ActRerunFailed, dev, SeverityCritical, true},
		{"listed for dev, not for preprod", ActCancelRun, preprod, SeverityLow, true},
		{"not listed anywhere", ActRevert, dev, 0, true},
		{"listed for prod, which never counts", ActRerunFailed, prod, 0, true},
		{"prod, protected, rated LOW by mistake", ActRerunFailed, Environment{Name: "prod", Severity: SeverityLow, Protected: true}, SeverityLow, true},
		{"a protected staging, rated LOW, listed", ActRerunFailed, Environment{Name: "staging", Severity: SeverityLow, Protected: true}, 0, true},
		{"the same staging unprotected", ActRerunFailed, Environment{Name: "staging", Severity: SeverityLow}, 0, false},
		{"an environment named prod but not protected, rated LOW", ActRerunFailed, Environment{Name: "prod", Severity: SeverityLow}, 0, false},
		{"an environment rated HIGH", ActRerunFailed, Environment{Name: "perf", Severity: SeverityHigh}, 0, true},
		{"an environment rated CRITICAL", ActRerunFailed, Environment{Name: "perf", Severity: SeverityCritical}, 0, true},
		{"an environment rated MEDIUM", ActRerunFailed, Environment{Name: "perf", Severity: SeverityMedium}, 0, false},
		{"an environment with no self-service list", ActRerunFailed, Environment{Name: "qa"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.NeedsApproval(tt.action, tt.env, tt.sev); got != tt.want {
				t.Errorf("NeedsApproval(%s, %s rated %s, incident %s): got %v, want %v", tt.action, tt.env.Name, ruleSevName(tt.env.Severity), ruleSevName(tt.sev), got, tt.want)
			}
		})
	}
	if !(Policy{}).NeedsApproval(ActRerunFailed, dev, 0) {
		t.Error("a policy with no self-service: got no approval needed, want every action approved")
	}
	// A restricted action, or one medic does not know, is never self-service, even
	// listed (config check refuses such a list; the rule holds without it).
	listed := Policy{SelfService: map[string][]ActionID{"dev": {ActForceUnlock, "no-such-action"}}}
	for _, a := range []ActionID{ActForceUnlock, "no-such-action"} {
		if !listed.NeedsApproval(a, dev, 0) {
			t.Errorf("%s listed as self-service in dev: got no approval needed, want approval", a)
		}
	}
}

// TestNeedsApprovalEveryActionEnvSeverity: every mutating action, in every kind of
// environment (prod, rated HIGH, preprod, dev), for every severity: approval is needed
// unless the action is self-service for that environment and neither the environment
// nor the incident is HIGH or above.
func TestNeedsApprovalEveryActionEnvSeverity(t *testing.T) {
	p := rulePolicy()
	envs := []struct {
		env       Environment
		protected bool
	}{
		{Environment{Name: "prod", Severity: SeverityHigh, Protected: true}, true},
		{Environment{Name: "perf", Severity: SeverityHigh}, true},
		{Environment{Name: "preprod", Severity: SeverityMedium}, false},
		{Environment{Name: "dev", Severity: SeverityLow}, false},
	}
	selfService := map[string]map[ActionID]bool{
		"preprod": {ActRerunFailed: true, ActRerun: true, ActTerraformPlan: true},
		"dev":     {ActRerunFailed: true, ActRerun: true, ActCancelRun: true, ActTerraformPlan: true},
	}
	var mutating []ActionID
	for id, a := range actions {
		if a.Kind == Mutating {
			mutating = append(mutating, id)
		}
	}
	sort.Slice(mutating, func(i, j int) bool { return mutating[i] < mutating[j] })
	if len(mutating) < 12 {
		t.Fatalf("got %d mutating actions, want the runbook's 12 at least", len(mutating))
	}
	free := 0
	for _, e := range envs {
		for _, sev := range []Severity{0, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical} {
			for _, id := range mutating {
				want := e.protected || sev >= SeverityHigh || !selfService[e.env.Name][id]
				if !want {
					free++
				}
				if got := p.NeedsApproval(id, e.env, sev); got != want {
					t.Errorf("NeedsApproval(%s, %s, incident %s): got %v, want %v", id, e.env.Name, ruleSevName(sev), got, want)
				}
			}
		}
	}
	// dev: 4 actions, preprod: 3, each for no incident, LOW and MEDIUM.
	if free != (4+3)*3 {
		t.Errorf("self-service cases: got %d, want %d", free, (4+3)*3)
	}
}

func ruleSevName(s Severity) string {
	if s == 0 {
		return "none"
	}
	return fmt.Sprint(s)
}
