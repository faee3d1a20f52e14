package recovery

import (
	"context"
	"fmt"
)

// ActionID names a recovery action offered as a button.
type ActionID string

// The actions of the runbook's scenarios.
const (
	ActRerunFailed       ActionID = "rerun-failed"
	ActRerun             ActionID = "rerun"
	ActCancelRun         ActionID = "cancel-run"
	ActViewLogs          ActionID = "view-logs"
	ActViewArtifacts     ActionID = "view-artifacts"
	ActAcknowledge       ActionID = "ack"
	ActRefresh           ActionID = "refresh"
	ActVerify            ActionID = "verify"
	ActRevert            ActionID = "revert"
	ActTerraformPlan     ActionID = "tf-plan"
	ActForceUnlock       ActionID = "force-unlock"
	ActDestroyRecreate   ActionID = "destroy-recreate"
	ActCleanTestData     ActionID = "clean-test-data"
	ActRollback          ActionID = "rollback"
	ActEmergencyRollback ActionID = "emergency-rollback"
	ActForceLambdaUpdate ActionID = "force-lambda-update"
	ActSetAlarmOK        ActionID = "set-alarm-ok"
	ActPageOnCall        ActionID = "page-oncall"
	ActPageSenior        ActionID = "page-senior"
	ActDataCorruption    ActionID = "data-corruption"
	ActResolve           ActionID = "resolve"
	ActCreateIssue       ActionID = "create-issue"
)

// ActionKind says what an action does to the world.
type ActionKind int

// Action kinds.
const (
	// ReadOnly actions gather or show information, or record a decision about the
	// incident itself (acknowledge, resolve, file its follow-up issue).
	ReadOnly ActionKind = iota
	// Mutating actions change the pipeline or an environment and go through approval.
	Mutating
	// Paging actions call people.
	Paging
)

// Action is a recovery action as people see it.
type Action struct {
	ID    ActionID
	Label string
	// Style is "primary", "danger" or "" (Slack's button styles).
	Style string
	Kind  ActionKind
	// Restricted actions are destructive: they ask for a reason (and some for the
	// environment's name) before anything happens.
	Restricted bool
	// Runbook is the runbook's command or section this action carries out.
	Runbook string
}

// actionSpec is everything medic knows of one action, in one place: how people see
// it, what it asks, where it may run, and what it does. A ReadOnly action has act; a
// Paging action page; a Mutating action params, preview and steps (checked at start).
type actionSpec struct {
	Action
	// nuclear actions ask for the environment's name to be typed.
	nuclear bool
	// destructive actions run only where the environment allows it (AllowDestructive).
	destructive bool
	// needsDeployed actions only go to a version deployed successfully there before.
	needsDeployed bool
	// followsRun: medic follows the run the action re-ran or cancelled to its end.
	followsRun bool
	// fixes: a successful job of the action verified the environment, so the incident
	// is fixed; medic then follows the next deploy.
	fixes bool
	// terraformFallback: when a Terraform step fails, offer to update the Lambda
	// functions directly (the runbook's Scenario 6, step 3).
	terraformFallback bool
	// rollsBack actions requested without an incident (/rollback) belong to the
	// environment's open incident when it has one.
	rollsBack bool
	// asksSHA actions ask which commit, offering the incident's known good ones.
	asksSHA bool
	// shown, when set, says whether the alert offers the action's button now.
	shown func(in Incident) bool

	act     func(e *Engine, ctx context.Context, in Incident, env Environment, user string) (string, error)
	page    func(x *escalator, ctx context.Context, in Incident, user, reason string) (string, error)
	params  func(rq *requester, ctx context.Context, env Environment, in *Incident, p RequestParams) (RequestParams, error)
	preview func(rq *requester, ctx context.Context, env Environment, in *Incident, r Request) Preview
	steps   func(jr *jobRunner, env Environment, job Job, jc *jobCtx) []stepDef
}

// actionTable is the registry: one entry per action.
func actionTable() []actionSpec {
	return []actionSpec{
		{Action: Action{ID: ActRerunFailed, Label: "Re-run failed jobs", Style: "primary", Kind: Mutating, Runbook: "gh run rerun <RUN_ID> --failed"},
			followsRun: true, params: (*requester).runParams, preview: (*requester).previewRun, steps: (*jobRunner).stepsRerunFailed},
		{Action: Action{ID: ActRerun, Label: "Re-run", Kind: Mutating, Runbook: "gh run rerun <RUN_ID>"},
			followsRun: true, params: (*requester).runParams, preview: (*requester).previewRun, steps: (*jobRunner).stepsRerun},
		{Action: Action{ID: ActCancelRun, Label: "Cancel run", Style: "danger", Kind: Mutating, Runbook: "gh run cancel <RUN_ID>"},
			followsRun: true, params: (*requester).runParams, preview: (*requester).previewRun, steps: (*jobRunner).stepsCancelRun},
		{Action: Action{ID: ActViewLogs, Label: "View logs", Kind: ReadOnly, Runbook: "gh run view <RUN_ID> --log-failed"},
			act: (*Engine).actViewLogs},
		{Action: Action{ID: ActViewArtifacts, Label: "View artifacts", Kind: ReadOnly, Runbook: "gh run download <RUN_ID>"},
			act: (*Engine).actViewArtifacts, shown: func(in Incident) bool { return in.RunID != 0 }},
		{Action: Action{ID: ActAcknowledge, Label: "Acknowledge", Kind: ReadOnly},
			act: (*Engine).actAcknowledge, shown: func(in Incident) bool { return in.Status == IncidentOpen }},
		{Action: Action{ID: ActRefresh, Label: "Refresh diagnostics", Kind: ReadOnly},
			act: (*Engine).refresh},
		{Action: Action{ID: ActVerify, Label: "Verify", Kind: ReadOnly, Runbook: "curl <health> -H X-API-Key; aws cloudwatch describe-alarms --state-value ALARM"},
			act: (*Engine).actVerify},
		{Action: Action{ID: ActRevert, Label: "Revert commit", Style: "danger", Kind: Mutating, Runbook: "git revert HEAD && git push origin main"},
			params: (*requester).revertParams, preview: (*requester).previewRevert, steps: (*jobRunner).stepsRevert},
		{Action: Action{ID: ActTerraformPlan, Label: "Terraform plan", Kind: Mutating, Runbook: "terraform plan -var-file=<env>.tfvars"},
			params: (*requester).planParams, preview: (*requester).previewTerraform, steps: (*jobRunner).stepsPlan},
		{Action: Action{ID: ActForceUnlock, Label: "Force-unlock", Style: "danger", Kind: Mutating, Restricted: true, Runbook: "terraform force-unlock <LOCK_ID>"},
			shown:  func(in Incident) bool { return in.Lock != nil },
			params: (*requester).unlockParams, preview: (*requester).previewUnlock, steps: (*jobRunner).stepsUnlock},
		{Action: Action{ID: ActDestroyRecreate, Label: "Destroy & recreate", Style: "danger", Kind: Mutating, Restricted: true, Runbook: "terraform destroy; gh workflow run build-and-promote.yml"},
			nuclear: true, destructive: true, params: (*requester).destroyParams, preview: (*requester).previewTerraform, steps: (*jobRunner).stepsDestroy},
		{Action: Action{ID: ActCleanTestData, Label: "Clean test data", Style: "danger", Kind: Mutating, Restricted: true, Runbook: "aws dynamodb scan … | delete-item"},
			destructive: true, params: (*requester).cleanParams, preview: (*requester).previewClean, steps: (*jobRunner).stepsClean},
		{Action: Action{ID: ActRollback, Label: "Roll back to last good", Style: "danger", Kind: Mutating, Runbook: "terraform apply -var model_version=<LAST_GOOD_SHA>"},
			needsDeployed: true, fixes: true, terraformFallback: true, rollsBack: true,
			params: (*requester).rollbackParams, preview: (*requester).previewTerraform, steps: (*jobRunner).stepsRollback},
		{Action: Action{ID: ActEmergencyRollback, Label: "Emergency Terraform rollback", Style: "danger", Kind: Mutating, Runbook: "terraform apply -var model_version=<GOOD_SHA> -lock-timeout=10m"},
			needsDeployed: true, fixes: true, terraformFallback: true, rollsBack: true, asksSHA: true,
			params: (*requester).rollbackParams, preview: (*requester).previewTerraform, steps: (*jobRunner).stepsRollback},
		{Action: Action{ID: ActForceLambdaUpdate, Label: "Force Lambda update", Style: "danger", Kind: Mutating, Restricted: true, Runbook: "aws lambda update-function-code --s3-key <func>/lambda-<GOOD_SHA>.zip --publish"},
			nuclear: true, needsDeployed: true, fixes: true, params: (*requester).lambdaParams, preview: (*requester).previewLambda, steps: (*jobRunner).stepsLambda},
		{Action: Action{ID: ActSetAlarmOK, Label: "Set alarm OK", Kind: Mutating, Restricted: true, Runbook: "aws cloudwatch set-alarm-state --state-value OK --state-reason …"},
			params: (*requester).alarmParams, preview: (*requester).previewAlarm, steps: (*jobRunner).stepsAlarm},
		{Action: Action{ID: ActPageOnCall, Label: "Page on-call", Kind: Paging},
			page: (*escalator).pageOnCall},
		{Action: Action{ID: ActPageSenior, Label: "Page senior engineer", Style: "danger", Kind: Paging},
			page: (*escalator).pageSenior},
		{Action: Action{ID: ActDataCorruption, Label: "Data corruption risk", Style: "danger", Kind: Paging, Restricted: true},
			page: (*escalator).declareDataCorruption},
		{Action: Action{ID: ActResolve, Label: "Resolve", Style: "primary", Kind: ReadOnly},
			act: (*Engine).actResolve},
		{Action: Action{ID: ActCreateIssue, Label: "Create GitHub issue", Kind: ReadOnly},
			act: (*Engine).actCreateIssue},
	}
}

var (
	// specs is the registry by ID, and actions what people see of each action.
	specs   map[ActionID]actionSpec
	actions map[ActionID]Action
)

func init() {
	var err error
	if specs, err = registry(actionTable()); err != nil {
		panic("recovery: " + err.Error())
	}
	actions = make(map[ActionID]Action, len(specs))
	for id, s := range specs {
		actions[id] = s.Action
	}
}

// registry indexes the action table and checks each entry has what its kind needs, so
// a missing piece fails at start, not when someone clicks at 3 a.m.
func registry(table []actionSpec) (map[ActionID]actionSpec, error) {
	out := make(map[ActionID]actionSpec, len(table))
	for _, s := range table {
		if s.ID == "" || s.Label == "" {
			return nil, fmt.Errorf("action %q has no ID or label", s.ID)
		}
		if _, dup := out[s.ID]; dup {
			return nil, fmt.Errorf("action %s is defined twice", s.ID)
		}
		if err := s.complete(); err != nil {
			return nil, fmt.Errorf("action %s: %w", s.ID, err)
		}
		out[s.ID] = s
	}
	return out, nil
}

// complete says what the spec lacks for its kind, or carries that it should not.
func (s actionSpec) complete() error {
	mutating := s.params != nil || s.preview != nil || s.steps != nil
	switch s.Kind {
	case ReadOnly:
		if s.act == nil || s.page != nil || mutating {
			return fmt.Errorf("a read-only action needs act, and nothing else")
		}
	case Paging:
		if s.page == nil || s.act != nil || mutating {
			return fmt.Errorf("a paging action needs page, and nothing else")
		}
	case Mutating:
		if s.params == nil || s.preview == nil || s.steps == nil || s.act != nil || s.page != nil {
			return fmt.Errorf("a mutating action needs params, a preview and steps")
		}
	default:
		return fmt.Errorf("unknown kind %d", s.Kind)
	}
	if (s.destructive || s.nuclear || s.needsDeployed || s.followsRun || s.fixes || s.terraformFallback || s.rollsBack || s.asksSHA) && s.Kind != Mutating {
		return fmt.Errorf("only a mutating action can be destructive, nuclear, need a deployed target, follow or fix")
	}
	if (s.destructive || s.nuclear) && !s.Restricted {
		return fmt.Errorf("a destructive or nuclear action must be restricted (asks a reason, never self-service)")
	}
	return nil
}

// ActionByID returns an action.
func ActionByID(id ActionID) (Action, bool) {
	a, ok := actions[id]
	return a, ok
}

// specOf returns an action's spec.
func specOf(id ActionID) (actionSpec, bool) {
	s, ok := specs[id]
	return s, ok
}
