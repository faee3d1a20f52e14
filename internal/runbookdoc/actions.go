package runbookdoc

import (
	"fmt"

	"github.com/medic-ops/medic/recovery"
)

// actionDoc is what the document says of one recovery action beyond what recovery
// exports (its label, kind, restriction and runbook command): what it calls, as read
// from recovery/steps.go, recovery/preview.go, recovery/act.go, recovery/escalation.go
// and the deploy packages, and the rules of its spec that recovery keeps unexported.
type actionDoc struct {
	// runs is the Markdown of what the action runs: the API calls of its steps.
	runs string
	// destructive actions run only where the environment allows it (actionSpec.destructive).
	destructive bool
	// nuclear actions ask for the environment's name to be typed (actionSpec.nuclear).
	nuclear bool
	// responder: a read-only action that checks the responder role (acknowledge,
	// resolve, file the issue: needRole in recovery/act.go and recovery/resolve.go).
	responder bool
}

// Steps shared by several actions (recovery/steps.go: stepWorkspace, stepApplySaved, stepVerify).
const (
	workspace = "fetch the Terraform sources at the commit (GitHub `GET /repos/{owner}/{repo}/tarball/{sha}`) and `terraform init` with the environment's backend"
	applySave = "`terraform apply` of the saved plan the approver saw (its sha256 checked; Terraform refuses it if the state changed)"
	verifyRun = "verify: the health endpoint answers 200 and no alarm under the environment's prefix is in ALARM (CloudWatch `DescribeAlarms`)"
)

// actionDocs has one entry per action a scenario offers; New fails without one.
var actionDocs = map[recovery.ActionID]actionDoc{
	recovery.ActRerunFailed:   {runs: "GitHub: `POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs`; medic follows the new attempt to its end"},
	recovery.ActRerun:         {runs: "GitHub: `POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun`; medic follows the new attempt to its end"},
	recovery.ActCancelRun:     {runs: "GitHub: `POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel`; medic follows the run until it stops"},
	recovery.ActViewLogs:      {runs: "GitHub: `GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs`; the last 60 lines up to the error go to the alert's thread"},
	recovery.ActViewArtifacts: {runs: "GitHub: `GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts`; listed in the thread with a download link (shown when the incident has a run)"},
	recovery.ActAcknowledge:   {runs: "records who acknowledged: the escalation stops and PagerDuty's incident is acknowledged", responder: true},
	recovery.ActRefresh:       {runs: "gathers the scenario's diagnostics again"},
	recovery.ActVerify:        {runs: "health endpoint (`GET` health.url with the X-API-Key from Secrets Manager) and CloudWatch `DescribeAlarms` (state ALARM); the verdict goes to the thread"},
	recovery.ActRevert: {runs: "GitHub Git Data API: if the commit is the branch's tip, `POST /repos/{owner}/{repo}/git/commits` (its parent's tree) and " +
		"`PATCH /repos/{owner}/{repo}/git/refs/heads/{branch}` fast-forward, never forced; otherwise a revert commit on `medic/revert-<sha>` and " +
		"`POST /repos/{owner}/{repo}/pulls`. After a fast-forward the pipeline runs again from the revert and medic follows it; a pull request waits for people to merge it"},
	recovery.ActTerraformPlan: {runs: workspace + ", then `terraform plan`; nothing is applied"},
	recovery.ActForceUnlock:   {runs: workspace + ", then `terraform force-unlock <LOCK_ID>` (shown when medic found the lock)"},
	recovery.ActDestroyRecreate: {runs: "preview: `terraform plan -destroy`, saved; job: " + workspace + ", " + applySave +
		", then GitHub `POST /repos/{owner}/{repo}/actions/workflows/{deploy.workflow}/dispatches` on the branch to deploy it again", destructive: true, nuclear: true},
	recovery.ActCleanTestData: {runs: "DynamoDB: `DescribeTable` for the key schema, `Scan` of the keys of the environment's dynamodb_table, `DeleteItem` per key (4 at a time)", destructive: true},
	recovery.ActRollback: {runs: "preview: `terraform plan` with the version variable at the last good SHA, saved; job: " + workspace + ", " + applySave +
		", then " + verifyRun + ". If Terraform fails, medic offers Force Lambda update"},
	recovery.ActEmergencyRollback: {runs: "asks which known good SHA; preview: `terraform plan` at it, saved; job: " + workspace + ", " +
		applySave + ", then " + verifyRun + ". If Terraform fails, medic offers Force Lambda update"},
	recovery.ActForceLambdaUpdate: {runs: "per function: Lambda `UpdateFunctionCode` from `s3://{artifacts_bucket}/{lambda.artifact_key}` (default `{short}/lambda-{sha}.zip`) with Publish, then " +
		"`GetFunctionConfiguration` until the update ends; then " + verifyRun, nuclear: true},
	recovery.ActSetAlarmOK:     {runs: "CloudWatch `SetAlarmState` to OK with the reason given; CloudWatch re-evaluates it at the next period"},
	recovery.ActPageOnCall:     {runs: "pages the escalation.on_call level: a mention in the thread, a direct message to each member and, for a level with pagerduty, a PagerDuty Events API v2 trigger"},
	recovery.ActPageSenior:     {runs: "pages the escalation.senior level, the same way"},
	recovery.ActDataCorruption: {runs: "asks why, then flags the incident as a data corruption risk: the matrix's data corruption row applies and pages at once"},
	recovery.ActResolve:        {runs: "resolves the incident and posts the post-incident checklist in the thread", responder: true},
	recovery.ActCreateIssue:    {runs: "GitHub: `POST /repos/{owner}/{repo}/issues` with incidents.issue_labels", responder: true},
}

// checkActions fails when a scenario names an action, or an action its diagnostic,
// that the document cannot describe: a new action is documented or the command fails.
func checkActions() error {
	for _, id := range recovery.ScenarioIDs() {
		s, ok := recovery.ScenarioByID(id)
		if !ok {
			return fmt.Errorf("scenario %s is not registered", id)
		}
		for _, a := range append(append([]recovery.ActionID{}, s.Actions...), recovery.ActRefresh, recovery.ActResolve) {
			if _, ok := actionDocs[a]; !ok {
				return fmt.Errorf("action %s of scenario %s is not described in internal/runbookdoc", a, id)
			}
			if _, ok := recovery.ActionByID(a); !ok {
				return fmt.Errorf("action %s of scenario %s is not registered", a, id)
			}
		}
		for _, d := range s.Diagnostics {
			if _, ok := diagnosticTitles[d]; !ok {
				return fmt.Errorf("diagnostic %s of scenario %s is not described in internal/runbookdoc", d, id)
			}
		}
	}
	return nil
}

// diagnosticTitles are the diagnostics' titles as alerts show them (recovery/diagnose.go).
var diagnosticTitles = map[recovery.DiagnosticID]string{
	recovery.DiagFailedStep:       "Failed step",
	recovery.DiagTestFailures:     "Failing tests",
	recovery.DiagLogExcerpt:       "Log excerpt",
	recovery.DiagCommit:           "Commit",
	recovery.DiagTerraformError:   "Terraform error",
	recovery.DiagEnvResources:     "Environment resources",
	recovery.DiagTestArtifacts:    "Test results",
	recovery.DiagSecretsReadable:  "Secrets",
	recovery.DiagRollbackProgress: "Auto-rollback",
	recovery.DiagLambdaStates:     "Lambda functions",
	recovery.DiagLastGood:         "Last known good",
	recovery.DiagKnownGood:        "Known good deploys",
	recovery.DiagHealth:           "Health endpoint",
	recovery.DiagAlarms:           "Alarms in ALARM",
	recovery.DiagErrorLogs:        "ERROR logs (last 10 minutes)",
	recovery.DiagLockState:        "Terraform lock table",
	recovery.DiagLockHolder:       "State lock",
	recovery.DiagStuck:            "Run progress",
	recovery.DiagSecretErrors:     "Secret errors",
	recovery.DiagSecretsList:      "Secrets under the prefix",
	recovery.DiagIAMPolicy:        "Deployer's Secrets Manager permissions",
	recovery.DiagAlarmHistory:     "Alarm history",
	recovery.DiagAlarmDetail:      "Alarm",
}
