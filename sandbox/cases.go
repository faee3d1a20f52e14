package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

// Case is one of the runbook's failure cases, replayable on a sandbox: the GitHub runs,
// jobs, logs and webhooks of what went wrong, and the AWS state behind it.
type Case struct {
	// Name identifies the case, e.g. "canary-fail".
	Name string
	// About is one line for `medic demo --list`.
	About string
	// Stage adds the case to a sandbox seeded with the healthy runbook world (the names
	// of medic.example.yaml: prod, preprod and dev, {env}-sentiment-{ingestion,analysis,
	// dashboard}, {env}- alarms) as if it happened just before now, and returns what
	// happened. Stage a case on a freshly seeded sandbox: a second case may undo parts
	// of the first.
	Stage func(sb *Sandbox, now time.Time) (Staged, error)
}

// Staged is what staging a case did.
type Staged struct {
	// RunID is the workflow run of the case.
	RunID int64
	// FailedJobIDs are the run's jobs that failed, in order.
	FailedJobIDs []int64
	// Deliveries are the webhooks GitHub sent for the run, in GitHub's order:
	// workflow_run requested and in_progress; per job workflow_job queued, in_progress
	// and completed (a skipped job sends completed only); workflow_run completed once
	// every job is. A run still in progress ends without the completed events.
	Deliveries []Delivery
	// HeadSHA is the commit the run built. PreviousSHA is the commit the environment ran
	// before it: the last known good version a rollback returns to.
	HeadSHA, PreviousSHA string
	// LockID is the ID of the Terraform state lock the case leaves held in a lock table
	// (the holder's), "" when it holds none.
	LockID string
}

// Delivery is one webhook: Event is the X-GitHub-Event header ("workflow_run" or
// "workflow_job") and Payload the body, a *github.WorkflowRunEvent or
// *github.WorkflowJobEvent of go-github.
type Delivery struct {
	Event   string
	Payload any
}

// Deliver POSTs the deliveries to url in order as GitHub's webhooks do, signed with
// secret. It stops at the first delivery the receiver does not answer with 2xx.
func (s Staged) Deliver(ctx context.Context, sb *Sandbox, url, secret string) error {
	for i, d := range s.Deliveries {
		_, status, err := sb.GitHub.Deliver(ctx, url, secret, d.Event, d.Payload)
		if err != nil {
			return fmt.Errorf("delivering webhook %d (%s): %w", i+1, d.Event, err)
		}
		if status < 200 || status > 299 {
			return fmt.Errorf("delivering webhook %d (%s): receiver answered %d", i+1, d.Event, status)
		}
	}
	return nil
}

// Cases returns the runbook's failure cases: its six scenarios, the variants of the
// preprod deploy failure, and its general troubleshooting cases.
func Cases() []Case {
	return []Case{
		{Name: "dev-tests-fail", About: "scenario 1: Tests (Dev) fails on a pull request, 2 unit tests red (an untrusted run: LOW, re-run and logs only)", Stage: stageDevTestsFail(false)},
		{Name: "dev-tests-fail-main", About: "scenario 1: Tests (Dev) fails on a push to main, 2 unit tests red", Stage: stageDevTestsFail(true)},
		{Name: "preprod-deploy-fail", About: "scenario 2: Deploy to Preprod fails, Terraform state lock held in terraform-state-lock-preprod", Stage: stagePreprodDeployFail("lock")},
		{Name: "preprod-deploy-fail-throttling", About: "scenario 2: Deploy to Preprod fails, AWS API throttling during terraform apply", Stage: stagePreprodDeployFail("throttling")},
		{Name: "preprod-deploy-fail-exists", About: "scenario 2: Deploy to Preprod fails, resources created by hand already exist", Stage: stagePreprodDeployFail("exists")},
		{Name: "preprod-deploy-fail-config", About: "scenario 2: Deploy to Preprod fails, Terraform configuration error", Stage: stagePreprodDeployFail("config")},
		{Name: "preprod-tests-fail", About: "scenario 3: Preprod Integration Tests fail against AWS (DynamoDB table misnamed)", Stage: stagePreprodTestsFail},
		{Name: "prod-deploy-fail", About: "scenario 4: Deploy to Production fails (Lambda update in progress), rollback running", Stage: stageProdDeployFail},
		{Name: "canary-fail", About: "scenario 5: Production Canary Test gets HTTP 503, prod-dashboard-errors in ALARM, rollback running", Stage: stageCanaryFail},
		{Name: "rollback-fail", About: "scenario 6: canary failed and Rollback on Failure failed too; dashboard Failed, prod state locked", Stage: stageRollbackFail},
		{Name: "workflow-stuck", About: "troubleshooting: Build and Promote running for 47 minutes, integration tests hanging", Stage: stageWorkflowStuck},
		{Name: "state-lock", About: "troubleshooting: Terraform Plan (preprod) cannot acquire the state lock (HTTP backend)", Stage: stageStateLock},
		{Name: "secrets-inaccessible", About: "troubleshooting: Validate Secrets gets AccessDeniedException on preprod/sentiment-analyzer/newsapi", Stage: stageSecretsInaccessible},
		{Name: "alarm-wont-clear", About: "troubleshooting: prod-analysis-errors still in ALARM 30 minutes after the fix was deployed", Stage: stageAlarmWontClear},
	}
}

// CaseByName returns the case called name.
func CaseByName(name string) (Case, bool) {
	for _, c := range Cases() {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// The people of the sandbox's repository.
func developer() githubfake.Person {
	return githubfake.Person{Name: "Priya Raman", Email: "priya.raman@example.com", Login: "praman"}
}

func platformEngineer() githubfake.Person {
	return githubfake.Person{Name: "Daniel Chen", Email: "daniel.chen@example.com", Login: "dchen"}
}

// staged turns a played run into the case's result.
func staged(p playedRun, sha, prev, lockID string) Staged {
	return Staged{RunID: p.runID, FailedJobIDs: p.failed, Deliveries: p.deliveries, HeadSHA: sha, PreviousSHA: prev, LockID: lockID}
}

// begin starts staging: the baseline every case needs and the commit env runs now.
func begin(sb *Sandbox, name, env string, now time.Time) (*stager, string, error) {
	st := newStager(sb, name, now)
	if err := st.baseline(); err != nil {
		return nil, "", fmt.Errorf("staging %s: %w", name, err)
	}
	prev, err := st.deployedSHA(env)
	if err != nil {
		return nil, "", fmt.Errorf("staging %s: %w", name, err)
	}
	return st, prev, nil
}

// stageDevTestsFail stages scenario 1: on a pull request from a feature branch, or,
// with onMain, on the push of the same change to main.
func stageDevTestsFail(onMain bool) func(*Sandbox, time.Time) (Staged, error) {
	name := "dev-tests-fail"
	if onMain {
		name += "-main"
	}
	return func(sb *Sandbox, now time.Time) (Staged, error) {
		st, prev, err := begin(sb, name, "preprod", now)
		if err != nil {
			return Staged{}, err
		}
		branch := "feature/emphatic-boost"
		if onMain {
			branch = "main"
		}
		base, ok := sb.GitHub.Ref("heads/main")
		if !ok {
			base = prev
		}
		sha := st.commit(branch, base, githubfake.Commit{
			Message: "feat(analysis): boost scores for emphatic punctuation\n\n" +
				"Exclamation marks and all-caps words now raise the magnitude of the\n" +
				"compound score, so \"GREAT!!!\" reads as more positive than \"great\".",
			Author: developer(), When: now.Add(-9 * time.Minute),
			Files: map[string]string{"src/analysis/scoring.py": "EMPHASIS_BOOST = 0.293\n\ndef boost(score, text):\n    bangs = min(text.count(\"!\"), 4)\n    return score + (EMPHASIS_BOOST * bangs if score > 0 else -EMPHASIS_BOOST * bangs)\n"},
		})
		event := "push"
		if !onMain {
			event = "pull_request"
			sb.GitHub.AddPullRequest(githubfake.PullRequest{
				Title: "Boost sentiment scores for emphatic punctuation", Head: branch, Base: "main", HeadSHA: sha, BaseSHA: base,
				Body: "Scores for \"GREAT!!!\" now come out stronger than for \"great\".", Author: "praman", CreatedAt: now.Add(-8 * time.Minute),
			})
		}
		p, err := st.play(runPlan{
			workflow: buildWorkflow, event: event, branch: branch, sha: sha, actor: "praman",
			jobs: []jobPlan{
				{log: "dev-tests-fail"},
				{skip: "Build"}, {skip: "Deploy to Preprod"}, {skip: "Preprod Integration Tests"},
			},
			vars:  logVars{"prev_sha": prev},
			endAt: now.Add(-time.Minute),
		})
		if err != nil {
			return Staged{}, fmt.Errorf("staging %s: %w", name, err)
		}
		return staged(p, sha, prev, ""), nil
	}
}

// stagePreprodDeployFail stages scenario 2 with the Terraform failure of variant: "lock"
// (state lock held), "throttling", "exists" (resources created by hand) or "config".
func stagePreprodDeployFail(variant string) func(*Sandbox, time.Time) (Staged, error) {
	name, log := "preprod-deploy-fail", "preprod-deploy-fail"
	if variant != "lock" {
		name, log = name+"-"+variant, log+"-"+variant
	}
	messages := map[string]string{
		"lock":       "chore(infra): raise the analysis Lambda's memory to 1024 MB",
		"throttling": "feat(observability): one log group per news source",
		"exists":     "feat(ingestion): backfill Lambda and sources table",
		"config":     "chore(infra): make the analysis Lambda's memory and timeout configurable",
	}
	return func(sb *Sandbox, now time.Time) (Staged, error) {
		st, prev, err := begin(sb, name, "preprod", now)
		if err != nil {
			return Staged{}, err
		}
		sha := st.commit("main", prev, githubfake.Commit{
			Message: messages[variant], Author: platformEngineer(), When: now.Add(-12 * time.Minute),
			Files: map[string]string{"infrastructure/terraform/lambda.tf": "# " + messages[variant] + "\n"},
		})
		vars := logVars{"prev_sha": prev}
		var lockID string
		if variant == "lock" {
			// An earlier apply whose runner was cancelled left its lock behind.
			lockID = st.lockID("holder")
			holder := lockInfo{
				ID: lockID, Operation: "OperationTypeApply", Who: st.runnerWho("cancelled-apply"),
				Version: terraformVersion, Created: now.Add(-27*time.Minute - 13*time.Second - 482913417*time.Nanosecond).UTC(),
				Path: statePath("preprod"),
			}
			if err := st.holdLock("preprod", holder); err != nil {
				return Staged{}, fmt.Errorf("staging %s: %w", name, err)
			}
			vars["lock_id"], vars["lock_who"], vars["lock_created"] = holder.ID, holder.Who, lockTime(holder.Created)
		}
		if variant == "exists" {
			// Someone created the new resources by hand while trying the change out.
			sb.AWS.PutTable(awsfake.Table{Name: "preprod-sentiment-sources", HashKey: "source_id"})
			sb.AWS.PutFunction(awsfake.Function{
				Name: "preprod-sentiment-backfill", Runtime: "python3.11", Handler: "handler.lambda_handler",
				LastModified: now.Add(-3 * time.Hour), Tags: map[string]string{"environment": "preprod", "created-by": "dchen"},
			})
		}
		p, err := st.play(runPlan{
			workflow: buildWorkflow, sha: sha, actor: "dchen",
			jobs: []jobPlan{
				{log: "tests-dev-ok"}, {log: "build-ok"}, {log: log},
				{skip: "Preprod Integration Tests"},
			},
			vars: vars, endAt: now.Add(-time.Minute),
		})
		if err != nil {
			return Staged{}, fmt.Errorf("staging %s: %w", name, err)
		}
		return staged(p, sha, prev, lockID), nil
	}
}

func stagePreprodTestsFail(sb *Sandbox, now time.Time) (Staged, error) {
	st, prev, err := begin(sb, "preprod-tests-fail", "preprod", now)
	if err != nil {
		return Staged{}, err
	}
	sha := st.commit("main", prev, githubfake.Commit{
		Message: "feat(storage): write scores to the v2 items table", Author: developer(), When: now.Add(-14 * time.Minute),
		Files: map[string]string{"infrastructure/terraform/lambda.tf": "# DYNAMODB_TABLE = \"${var.environment}-sentiment-items-v2\"\n"},
	})
	p, err := st.play(runPlan{
		workflow: buildWorkflow, sha: sha, actor: "praman",
		jobs:  []jobPlan{{log: "tests-dev-ok"}, {log: "build-ok"}, {log: "deploy-preprod-ok"}, {log: "preprod-tests-fail"}},
		vars:  logVars{"prev_sha": prev},
		endAt: now.Add(-time.Minute),
	})
	if err != nil {
		return Staged{}, fmt.Errorf("staging preprod-tests-fail: %w", err)
	}
	// Deploy to Preprod succeeded: preprod runs sha, and the analysis function now
	// writes to a table that does not exist.
	deployed := p.jobs[2].log.end
	if err := st.deploy(deployed, sha, lambdaFunctions("preprod")...); err != nil {
		return Staged{}, fmt.Errorf("staging preprod-tests-fail: %w", err)
	}
	if err := st.updateFunction("preprod-sentiment-analysis", func(f *awsfake.Function) {
		f.Env["DYNAMODB_TABLE"] = "preprod-sentiment-items-v2"
	}); err != nil {
		return Staged{}, fmt.Errorf("staging preprod-tests-fail: %w", err)
	}
	return staged(p, sha, prev, ""), nil
}

func stageProdDeployFail(sb *Sandbox, now time.Time) (Staged, error) {
	st, prev, err := begin(sb, "prod-deploy-fail", "prod", now)
	if err != nil {
		return Staged{}, err
	}
	sha := st.commit("main", prev, githubfake.Commit{
		Message: "perf(ingestion): batch NewsAPI requests", Author: platformEngineer(), When: now.Add(-2 * time.Hour),
		Files: map[string]string{"src/ingestion/newsapi.py": "BATCH_SIZE = 50\n"},
	})
	rollbackLock := st.lockID("rollback")
	p, err := st.play(runPlan{
		workflow: prodWorkflow, event: "workflow_dispatch", sha: sha, actor: "mokafor",
		jobs: []jobPlan{
			{log: "prod-deploy-fail"},
			{skip: "Production Canary Test"},
			{log: "rollback-in-progress", vars: logVars{"rollback_plan": "rollback-plan-2"}},
		},
		vars:  logVars{"prev_sha": prev},
		endAt: now.Add(-20 * time.Second),
	})
	if err != nil {
		return Staged{}, fmt.Errorf("staging prod-deploy-fail: %w", err)
	}
	// The failed apply updated ingestion and dashboard; analysis kept the old code.
	if err := st.deploy(p.jobs[0].log.end, sha, "prod-sentiment-ingestion", "prod-sentiment-dashboard"); err != nil {
		return Staged{}, fmt.Errorf("staging prod-deploy-fail: %w", err)
	}
	if err := st.holdRollbackLock(p.jobs[2], rollbackLock); err != nil {
		return Staged{}, fmt.Errorf("staging prod-deploy-fail: %w", err)
	}
	return staged(p, sha, prev, rollbackLock), nil
}

// holdRollbackLock records the lock the running rollback's terraform apply holds.
func (st *stager) holdRollbackLock(job scheduled, id string) error {
	return st.holdLock("prod", lockInfo{
		ID: id, Operation: "OperationTypeApply", Who: st.runnerWho(job.plan.log),
		Version: terraformVersion, Created: job.log.marks["lock_created"], Path: statePath("prod"),
	})
}

// prodAPIKey is the key prod's health endpoint expects, or a made-up one.
func (st *stager) prodAPIKey() string {
	st.sb.mu.Lock()
	defer st.sb.mu.Unlock()
	if h, ok := st.sb.envs["prod"]; ok && h.apiKey != "" {
		return h.apiKey
	}
	return "9f86d081884c7d659a2feaa0c55ad015"
}

// dashboardErrors writes what the broken dashboard logs from from until to: ERROR
// events with stack traces and, once, a debug dump with credentials in it.
func (st *stager) dashboardErrors(from, to time.Time) {
	const fn = "prod-sentiment-dashboard"
	trace := "Health check failed: dynamodb\nTraceback (most recent call last):\n" +
		"  File \"/var/task/dashboard/health.py\", line 41, in check_dynamodb\n" +
		"    table.query(IndexName=\"by_timestamp\", KeyConditionExpression=Key(\"day\").eq(today), Limit=1)\n" +
		"  File \"/var/lang/lib/python3.11/site-packages/boto3/resources/factory.py\", line 581, in do_action\n" +
		"    response = action(self, *args, **kwargs)\n" +
		"  File \"/var/lang/lib/python3.11/site-packages/botocore/client.py\", line 569, in _api_call\n" +
		"    return self._make_api_call(operation_name, kwargs)\n" +
		"  File \"/var/lang/lib/python3.11/site-packages/botocore/client.py\", line 1023, in _make_api_call\n" +
		"    raise error_class(parsed_response, operation_name)\n" +
		"botocore.exceptions.ClientError: An error occurred (ValidationException) when calling the Query operation: The table does not have the specified index: by_timestamp"
	dump := "Request failed; context for debugging: method=GET path=/health source_ip=20.42.17.9 user_agent=curl/8.5.0 " +
		"X-API-Key: " + st.prodAPIKey() + " aws_access_key_id=AKIAIOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	n := 0
	for at := from; at.Before(to); at = at.Add(17 * time.Second) {
		body := []string{trace}
		if n == 2 {
			body = append(body, dump)
		}
		st.lambdaInvocation(fn, at, body...)
		n++
	}
}

// lambdaInvocation writes one invocation's events as the Python runtime logs them:
// START, an [ERROR] line per body, END and REPORT.
func (st *stager) lambdaInvocation(fn string, at time.Time, errors ...string) {
	rid := fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", st.id(fn+at.String())&0xffffffff, st.id("b"+at.String())&0xffff,
		st.id("c"+at.String())&0xfff, st.id("d"+at.String())&0xfff, st.id("e"+at.String())&0xffffffffffff)
	st.lambdaLog(fn, at, "START RequestId: "+rid+" Version: $LATEST")
	t := at
	for _, e := range errors {
		t = t.Add(87 * time.Millisecond)
		st.lambdaLog(fn, t, "[ERROR]\t"+t.UTC().Format("2006-01-02T15:04:05.000Z")+"\t"+rid+"\t"+e)
	}
	t = t.Add(12 * time.Millisecond)
	st.lambdaLog(fn, t, "END RequestId: "+rid)
	st.lambdaLog(fn, t, "REPORT RequestId: "+rid+"\tDuration: 412.37 ms\tBilled Duration: 413 ms\tMemory Size: 512 MB\tMax Memory Used: 97 MB")
}

func stageCanaryFail(sb *Sandbox, now time.Time) (Staged, error) {
	st, prev, err := begin(sb, "canary-fail", "prod", now)
	if err != nil {
		return Staged{}, err
	}
	sha := st.commit("main", prev, githubfake.Commit{
		Message: "feat(dashboard): query recent items through the by_timestamp index", Author: developer(), When: now.Add(-3 * time.Hour),
		Files: map[string]string{"src/dashboard/health.py": "INDEX = \"by_timestamp\"\n"},
	})
	body := canaryHealthBody(sha)
	rollbackLock := st.lockID("rollback")
	p, err := st.play(runPlan{
		workflow: prodWorkflow, event: "workflow_dispatch", sha: sha, actor: "mokafor",
		jobs: []jobPlan{
			{log: "prod-deploy-ok"}, {log: "canary-fail"},
			{log: "rollback-in-progress", vars: logVars{"rollback_plan": "rollback-plan-3"}},
		},
		vars:  logVars{"prev_sha": prev, "health_body": body, "health_length": fmt.Sprint(len(body))},
		endAt: now.Add(-15 * time.Second),
	})
	if err != nil {
		return Staged{}, fmt.Errorf("staging canary-fail: %w", err)
	}
	deployed := p.jobs[0].log.end
	if err := st.deploy(deployed, sha, lambdaFunctions("prod")...); err != nil {
		return Staged{}, fmt.Errorf("staging canary-fail: %w", err)
	}
	if err := st.holdRollbackLock(p.jobs[2], rollbackLock); err != nil {
		return Staged{}, fmt.Errorf("staging canary-fail: %w", err)
	}
	st.brokenDashboard(deployed, body)
	// An unrelated error long before the deploy, outside the runbook's 10-minute window.
	st.lambdaInvocation("prod-sentiment-dashboard", now.Add(-37*time.Minute), "Client disconnected before the response was sent (path=/items/recent)")
	return staged(p, sha, prev, rollbackLock), nil
}

// brokenDashboard is prod after a deploy at deployed broke the dashboard: /health
// answers 503 with body, the dashboard logs errors, prod-dashboard-errors fires.
func (st *stager) brokenDashboard(deployed time.Time, body string) {
	st.sb.SetHealth("prod", 503, body)
	st.dashboardErrors(deployed.Add(3*time.Second), st.now)
	firing := deployed.Add(time.Minute)
	if limit := st.now.Add(-10 * time.Second); firing.After(limit) {
		firing = limit
	}
	st.setAlarm("prod-dashboard-errors", "ALARM", alarmReason("ALARM", 12, firing), firing)
}

func stageRollbackFail(sb *Sandbox, now time.Time) (Staged, error) {
	st, prev, err := begin(sb, "rollback-fail", "prod", now)
	if err != nil {
		return Staged{}, err
	}
	sha := st.commit("main", prev, githubfake.Commit{
		Message: "feat(dashboard): encrypt environment variables with a customer-managed KMS key", Author: platformEngineer(), When: now.Add(-4 * time.Hour),
		Files: map[string]string{"infrastructure/terraform/kms.tf": "resource \"aws_kms_key\" \"lambda_env\" {}\n"},
	})
	body := canaryHealthBody(sha)
	lock := st.lockID("rollback")
	p, err := st.play(runPlan{
		workflow: prodWorkflow, event: "workflow_dispatch", sha: sha, actor: "mokafor",
		jobs: []jobPlan{
			{log: "prod-deploy-ok"}, {log: "canary-fail"},
			{log: "rollback-fail", vars: logVars{"lock_id": lock, "lock_who": st.runnerWho("rollback-fail"), "kms_error": kmsFailure}},
		},
		vars:  logVars{"prev_sha": prev, "health_body": body, "health_length": fmt.Sprint(len(body))},
		endAt: now.Add(-time.Minute),
	})
	if err != nil {
		return Staged{}, fmt.Errorf("staging rollback-fail: %w", err)
	}
	deployed, rolledBack := p.jobs[0].log.end, p.jobs[2].log.end
	if err := st.deploy(deployed, sha, lambdaFunctions("prod")...); err != nil {
		return Staged{}, fmt.Errorf("staging rollback-fail: %w", err)
	}
	st.brokenDashboard(deployed, body)
	// The rollback restored ingestion and analysis; the dashboard's update failed and
	// the lock could not be released.
	if err := st.deploy(rolledBack, prev, "prod-sentiment-ingestion", "prod-sentiment-analysis"); err != nil {
		return Staged{}, fmt.Errorf("staging rollback-fail: %w", err)
	}
	if err := st.updateFunction("prod-sentiment-dashboard", func(f *awsfake.Function) {
		f.State, f.StateReason = "Failed", kmsFailure
		f.LastUpdateStatus, f.LastUpdateStatusReason = "Failed", kmsFailure
		f.LastModified = rolledBack
	}); err != nil {
		return Staged{}, fmt.Errorf("staging rollback-fail: %w", err)
	}
	st.sb.SetHealth("prod", 502, `{"message":"Internal Server Error"}`)
	if err := st.holdRollbackLock(p.jobs[2], lock); err != nil {
		return Staged{}, fmt.Errorf("staging rollback-fail: %w", err)
	}
	return staged(p, sha, prev, lock), nil
}

func stageWorkflowStuck(sb *Sandbox, now time.Time) (Staged, error) {
	st, prev, err := begin(sb, "workflow-stuck", "preprod", now)
	if err != nil {
		return Staged{}, err
	}
	sha := st.commit("main", prev, githubfake.Commit{
		Message: "test(integration): check ingestion end to end against NewsAPI", Author: developer(), When: now.Add(-49 * time.Minute),
		Files: map[string]string{"tests/integration/test_ingestion_preprod.py": "def test_ingestion_end_to_end():\n    ...\n"},
	})
	p, err := st.play(runPlan{
		workflow: buildWorkflow, sha: sha, actor: "praman",
		jobs:    []jobPlan{{log: "tests-dev-ok"}, {log: "build-ok"}, {log: "deploy-preprod-ok"}, {log: "workflow-stuck"}},
		vars:    logVars{"prev_sha": prev},
		startAt: now.Add(-47 * time.Minute),
	})
	if err != nil {
		return Staged{}, fmt.Errorf("staging workflow-stuck: %w", err)
	}
	if err := st.deploy(p.jobs[2].log.end, sha, lambdaFunctions("preprod")...); err != nil {
		return Staged{}, fmt.Errorf("staging workflow-stuck: %w", err)
	}
	return staged(p, sha, prev, ""), nil
}

func stageStateLock(sb *Sandbox, now time.Time) (Staged, error) {
	st, prev, err := begin(sb, "state-lock", "preprod", now)
	if err != nil {
		return Staged{}, err
	}
	sha := st.commit("main", prev, githubfake.Commit{
		Message: "chore(infra): tag preprod resources with a cost centre", Author: platformEngineer(), When: now.Add(-11 * time.Minute),
		Files: map[string]string{"infrastructure/terraform/tags.tf": "locals { cost_centre = \"sentiment\" }\n"},
	})
	// A laptop apply that was interrupted two hours ago still holds the lock.
	holder := lockInfo{
		ID: st.lockID("holder"), Operation: "OperationTypeApply", Who: "dchen@dchen-mbp.local",
		Version: terraformVersion, Created: now.Add(-2*time.Hour - 14*time.Minute - 51*time.Second - 207334118*time.Nanosecond).UTC(),
		Path: statePath("preprod"),
	}
	if err := st.holdLock("preprod", holder); err != nil {
		return Staged{}, fmt.Errorf("staging state-lock: %w", err)
	}
	p, err := st.play(runPlan{
		workflow: buildWorkflow, sha: sha, actor: "dchen",
		jobs: []jobPlan{
			{log: "tests-dev-ok"}, {log: "build-ok"}, {log: "state-lock"},
			{skip: "Deploy to Preprod"}, {skip: "Preprod Integration Tests"},
		},
		vars:  logVars{"prev_sha": prev, "lock_id": holder.ID, "contender_id": st.lockID("contender")},
		endAt: now.Add(-time.Minute),
	})
	if err != nil {
		return Staged{}, fmt.Errorf("staging state-lock: %w", err)
	}
	return staged(p, sha, prev, holder.ID), nil
}

func stageSecretsInaccessible(sb *Sandbox, now time.Time) (Staged, error) {
	st, prev, err := begin(sb, "secrets-inaccessible", "preprod", now)
	if err != nil {
		return Staged{}, err
	}
	sha := st.commit("main", prev, githubfake.Commit{
		Message: "chore(iam): scope deployer secrets access per environment", Author: platformEngineer(), When: now.Add(-10 * time.Minute),
		Files: map[string]string{"infrastructure/iam/deployers.tf": "# secrets: arn:aws:secretsmanager:us-east-1:*:secret:prod/*\n"},
	})
	// The change copied prod's secrets statement into the preprod deployer's policy.
	sb.AWS.PutUserPolicy(deployerUser("preprod"), deployerPolicyName("preprod"), deployerPolicy("preprod", "prod/"))
	sb.AWS.DenySecret("preprod/sentiment-analyzer/newsapi")
	p, err := st.play(runPlan{
		workflow: buildWorkflow, sha: sha, actor: "dchen",
		jobs: []jobPlan{
			{log: "tests-dev-ok"}, {log: "build-ok"}, {log: "secrets-inaccessible"},
			{skip: "Deploy to Preprod"}, {skip: "Preprod Integration Tests"},
		},
		vars:  logVars{"prev_sha": prev},
		endAt: now.Add(-time.Minute),
	})
	if err != nil {
		return Staged{}, fmt.Errorf("staging secrets-inaccessible: %w", err)
	}
	return staged(p, sha, prev, ""), nil
}

func stageAlarmWontClear(sb *Sandbox, now time.Time) (Staged, error) {
	st, prev, err := begin(sb, "alarm-wont-clear", "prod", now)
	if err != nil {
		return Staged{}, err
	}
	const alarm, fn = "prod-analysis-errors", "prod-sentiment-analysis"
	// The incident: analysis failed on empty batches from 75 to 31 minutes ago, and
	// the alarm flapped before settling in ALARM 40 minutes ago.
	for _, h := range []struct {
		state string
		value float64
		ago   time.Duration
	}{{"ALARM", 14, 75 * time.Minute}, {"OK", 2, 58 * time.Minute}, {"ALARM", 9, 40 * time.Minute}} {
		at := now.Add(-h.ago)
		st.setAlarm(alarm, h.state, alarmReason(h.state, h.value, at), at)
	}
	failure := "Batch scoring failed\nTraceback (most recent call last):\n" +
		"  File \"/var/task/handler.py\", line 38, in lambda_handler\n    scores = model.score_batch(batch)\n" +
		"  File \"/var/task/analysis/model.py\", line 92, in score_batch\n    raise ValueError(\"cannot score an empty batch\")\n" +
		"ValueError: cannot score an empty batch"
	for at := now.Add(-75 * time.Minute); at.Before(now.Add(-31 * time.Minute)); at = at.Add(3*time.Minute + 41*time.Second) {
		st.lambdaInvocation(fn, at, failure)
	}
	sha := st.commit("main", prev, githubfake.Commit{
		Message: "fix(analysis): skip empty batches instead of raising", Author: developer(), When: now.Add(-50 * time.Minute),
		Files: map[string]string{"src/analysis/model.py": "def score_batch(batch):\n    if not batch:\n        return []\n"},
	})
	p, err := st.play(runPlan{
		workflow: prodWorkflow, event: "workflow_dispatch", sha: sha, actor: "mokafor",
		jobs:  []jobPlan{{log: "prod-deploy-ok"}, {log: "canary-ok"}, {skip: "Rollback on Failure"}},
		vars:  logVars{"prev_sha": prev},
		endAt: now.Add(-30 * time.Minute),
	})
	if err != nil {
		return Staged{}, fmt.Errorf("staging alarm-wont-clear: %w", err)
	}
	if err := st.deploy(p.jobs[0].log.end, sha, lambdaFunctions("prod")...); err != nil {
		return Staged{}, fmt.Errorf("staging alarm-wont-clear: %w", err)
	}
	return staged(p, sha, prev, ""), nil
}
