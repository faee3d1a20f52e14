package recovery

import (
	"fmt"
	"slices"
	"strings"
)

// ScenarioID names one of the runbook's failure scenarios or troubleshooting cases.
type ScenarioID string

// The runbook's six scenarios, its four general troubleshooting cases, and three medic
// adds: an alarm firing with no pipeline failure behind it, a failed job no rule knows,
// and a failed run medic does not trust.
const (
	DevTestsFail        ScenarioID = "dev-tests-fail"
	PreprodDeployFail   ScenarioID = "preprod-deploy-fail"
	PreprodTestsFail    ScenarioID = "preprod-tests-fail"
	ProdDeployFail      ScenarioID = "prod-deploy-fail"
	CanaryFail          ScenarioID = "canary-fail"
	RollbackFail        ScenarioID = "rollback-fail"
	WorkflowStuck       ScenarioID = "workflow-stuck"
	StateLockHeld       ScenarioID = "state-lock"
	SecretsInaccessible ScenarioID = "secrets-inaccessible"
	AlarmWontClear      ScenarioID = "alarm-wont-clear"
	AlarmFiring         ScenarioID = "alarm-firing"
	OtherJobFailed      ScenarioID = "job-failed"
	// UntrustedRunFailed is any failure of a run medic does not trust (a pull
	// request, a fork, another branch): LOW, never paged, GitHub's re-run and the logs
	// only. No rule classifies into it and no rule can classify such a run elsewhere.
	UntrustedRunFailed ScenarioID = "untrusted-run-failed"
)

// Scenario is one way the pipeline fails, what to look at and what to do.
type Scenario struct {
	ID ScenarioID
	// Number is the runbook's scenario number (1–6), 0 for troubleshooting cases.
	Number int
	Title  string
	// Severity is fixed for the runbook's scenarios; 0 means "by environment".
	Severity Severity
	// Runbook names the runbook's section.
	Runbook     string
	Diagnostics []DiagnosticID
	Actions     []ActionID
}

var scenarios = map[ScenarioID]Scenario{
	DevTestsFail: {ID: DevTestsFail, Number: 1, Title: "Dev tests failed", Severity: SeverityLow,
		Runbook:     "Scenario 1: Dev Tests Fail",
		Diagnostics: []DiagnosticID{DiagFailedStep, DiagTestFailures, DiagCommit},
		Actions:     []ActionID{ActRerunFailed, ActViewLogs, ActAcknowledge}},
	PreprodDeployFail: {ID: PreprodDeployFail, Number: 2, Title: "Preprod deployment failed", Severity: SeverityMedium,
		Runbook:     "Scenario 2: Preprod Deployment Fails (Terraform)",
		Diagnostics: []DiagnosticID{DiagFailedStep, DiagTerraformError, DiagEnvResources, DiagCommit},
		Actions:     []ActionID{ActRevert, ActTerraformPlan, ActForceUnlock, ActRerun, ActDestroyRecreate, ActAcknowledge}},
	PreprodTestsFail: {ID: PreprodTestsFail, Number: 3, Title: "Preprod integration tests failed", Severity: SeverityMedium,
		Runbook:     "Scenario 3: Preprod Tests Fail (Integration)",
		Diagnostics: []DiagnosticID{DiagFailedStep, DiagTestFailures, DiagTestArtifacts, DiagEnvResources, DiagSecretsReadable, DiagCommit},
		Actions:     []ActionID{ActRevert, ActRerun, ActCleanTestData, ActViewArtifacts, ActAcknowledge}},
	ProdDeployFail: {ID: ProdDeployFail, Number: 4, Title: "Production deployment failed", Severity: SeverityHigh,
		Runbook:     "Scenario 4: Production Deployment Fails (Terraform)",
		Diagnostics: []DiagnosticID{DiagRollbackProgress, DiagLambdaStates, DiagTerraformError, DiagLastGood, DiagCommit},
		Actions:     []ActionID{ActRollback, ActVerify, ActPageOnCall, ActAcknowledge}},
	CanaryFail: {ID: CanaryFail, Number: 5, Title: "Production canary failed", Severity: SeverityCritical,
		Runbook:     "Scenario 5: Canary Test Fails (Production)",
		Diagnostics: []DiagnosticID{DiagHealth, DiagAlarms, DiagErrorLogs, DiagRollbackProgress, DiagLastGood, DiagCommit},
		Actions:     []ActionID{ActRollback, ActVerify, ActPageOnCall, ActAcknowledge}},
	RollbackFail: {ID: RollbackFail, Number: 6, Title: "Production rollback failed", Severity: SeverityCritical,
		Runbook:     "Scenario 6: Rollback Fails (CRITICAL)",
		Diagnostics: []DiagnosticID{DiagLambdaStates, DiagKnownGood, DiagLockState, DiagAlarms, DiagTerraformError},
		Actions:     []ActionID{ActEmergencyRollback, ActForceLambdaUpdate, ActPageSenior, ActDataCorruption, ActAcknowledge}},
	WorkflowStuck: {ID: WorkflowStuck, Title: "Workflow stuck",
		Runbook:     "General Troubleshooting: GitHub Actions Workflow Stuck",
		Diagnostics: []DiagnosticID{DiagStuck, DiagCommit},
		Actions:     []ActionID{ActCancelRun, ActRerun, ActAcknowledge}},
	StateLockHeld: {ID: StateLockHeld, Title: "Terraform state lock held",
		Runbook:     "General Troubleshooting: Terraform State Lock Held",
		Diagnostics: []DiagnosticID{DiagLockHolder, DiagLockState, DiagFailedStep},
		Actions:     []ActionID{ActForceUnlock, ActAcknowledge}},
	SecretsInaccessible: {ID: SecretsInaccessible, Title: "Secrets not accessible",
		Runbook:     "General Troubleshooting: Secrets Not Accessible",
		Diagnostics: []DiagnosticID{DiagSecretErrors, DiagSecretsList, DiagIAMPolicy, DiagFailedStep},
		Actions:     []ActionID{ActAcknowledge}},
	AlarmWontClear: {ID: AlarmWontClear, Title: "Alarm won't clear",
		Runbook:     "General Troubleshooting: CloudWatch Alarms Won't Clear",
		Diagnostics: []DiagnosticID{DiagAlarmDetail, DiagAlarmHistory, DiagHealth},
		Actions:     []ActionID{ActSetAlarmOK, ActVerify, ActAcknowledge}},
	AlarmFiring: {ID: AlarmFiring, Title: "Alarm firing",
		Runbook:     "Scenario 5: Check CloudWatch Alarms",
		Diagnostics: []DiagnosticID{DiagAlarmDetail, DiagHealth, DiagErrorLogs, DiagLambdaStates},
		Actions:     []ActionID{ActVerify, ActAcknowledge}},
	OtherJobFailed: {ID: OtherJobFailed, Title: "Pipeline job failed",
		Runbook:     "General Troubleshooting",
		Diagnostics: []DiagnosticID{DiagFailedStep, DiagLogExcerpt, DiagCommit},
		Actions:     []ActionID{ActRerunFailed, ActViewLogs, ActAcknowledge}},
	UntrustedRunFailed: {ID: UntrustedRunFailed, Title: "Checks failed", Severity: SeverityLow,
		Runbook:     "Scenario 1: Dev Tests Fail (fix the code, push again)",
		Diagnostics: []DiagnosticID{DiagFailedStep, DiagTestFailures, DiagCommit},
		Actions:     []ActionID{ActRerunFailed, ActViewLogs}},
}

// ScenarioByID returns a scenario.
func ScenarioByID(id ScenarioID) (Scenario, bool) {
	s, ok := scenarios[id]
	return s, ok
}

// ScenarioIDs lists every scenario, in the runbook's order.
func ScenarioIDs() []ScenarioID {
	return []ScenarioID{DevTestsFail, PreprodDeployFail, PreprodTestsFail, ProdDeployFail, CanaryFail, RollbackFail,
		WorkflowStuck, StateLockHeld, SecretsInaccessible, AlarmWontClear, AlarmFiring, OtherJobFailed, UntrustedRunFailed}
}

// checkRegistries verifies at start-up that every scenario names known diagnostics
// and actions, so a typo fails in New, not when an alert is due.
func checkRegistries(diags map[DiagnosticID]diagnostic) error {
	for _, id := range ScenarioIDs() {
		s, ok := scenarios[id]
		if !ok || s.ID != id {
			return fmt.Errorf("scenario %s is not registered", id)
		}
		for _, d := range s.Diagnostics {
			if _, ok := diags[d]; !ok {
				return fmt.Errorf("scenario %s names unknown diagnostic %s", id, d)
			}
		}
		for _, a := range s.Actions {
			if _, ok := actions[a]; !ok {
				return fmt.Errorf("scenario %s names unknown action %s", id, a)
			}
		}
	}
	return nil
}

// Buttons lists the actions offered on an incident's alert: its scenario's actions,
// minus those that do not apply now (Force-unlock without a lock, Acknowledge once
// acknowledged), plus Refresh diagnostics.
func Buttons(in Incident) []Action {
	s, ok := scenarios[in.Scenario]
	if !ok || in.Status == IncidentResolved {
		return nil
	}
	var out []Action
	for _, id := range s.Actions {
		if spec := specs[id]; spec.shown != nil && !spec.shown(in) {
			continue
		}
		out = append(out, actions[id])
	}
	if !slices.ContainsFunc(out, func(a Action) bool { return a.ID == ActRefresh }) {
		out = append(out, actions[ActRefresh])
	}
	if !in.FixedAt.IsZero() {
		// Verified fixed: offer to close it.
		out = append([]Action{actions[ActResolve]}, out...)
	}
	return out
}

// buttonPrefix namespaces the IDs of action buttons, so other interactive elements
// (approvals, modals) never collide with them.
const buttonPrefix = "action:"

// ButtonID is the interactive element ID of an action's button.
func ButtonID(id ActionID) string { return buttonPrefix + string(id) }

// ParseButtonID reads the action of a button ID made by ButtonID.
func ParseButtonID(s string) (ActionID, bool) {
	rest, ok := strings.CutPrefix(s, buttonPrefix)
	if !ok || rest == "" {
		return "", false
	}
	return ActionID(rest), true
}
