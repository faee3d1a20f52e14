package sandbox

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

const testAPIKeyPrefix = "sbx-"

// runbookWorld is the healthy world of medic.example.yaml, built as cmd/medic's
// worldFromConfig builds it.
func runbookWorld() World {
	envs := []struct {
		name, workflow, branch, tag, env, bucket string
	}{
		{"prod", "deploy-prod.yml", "main", "model_version", "", "prod-sentiment-lambda-deployments"},
		{"preprod", "build-and-promote.yml", "main", "model_version", "", "preprod-sentiment-lambda-deployments"},
		{"dev", "build-and-promote.yml", "", "", "MODEL_VERSION", ""},
	}
	names := map[string]string{"deploy-prod.yml": "Deploy to Production", "build-and-promote.yml": "Build and Promote to Preprod"}
	var w World
	for _, e := range envs {
		w.Envs = append(w.Envs, Env{
			Name:               e.name,
			Functions:          lambdaFunctions(e.name),
			Alarms:             []string{e.name + "-dashboard-errors", e.name + "-analysis-errors", e.name + "-ingestion-throttles"},
			APIKeySecret:       e.name + "/sentiment-analyzer/dashboard-api-key",
			APIKey:             testAPIKeyPrefix + e.name + "-api-key-5f2b9c",
			DeployWorkflow:     e.workflow,
			DeployWorkflowName: names[e.workflow],
			DeployBranch:       e.branch,
			GoodDeploys:        []string{historySHA(e.name, 1), historySHA(e.name, 2), historySHA(e.name, 3)},
			Table:              e.name + "-sentiment-items",
			Bucket:             e.bucket,
			ShortPrefix:        e.name + "-sentiment-",
			VersionTag:         e.tag,
			VersionEnv:         e.env,
			Secrets:            map[string]string{e.name + "/sentiment-analyzer/newsapi": "sbx-newsapi-key"},
		})
	}
	return w
}

func historySHA(env string, n int) string {
	return fmt.Sprintf("%x", sha1.Sum([]byte(fmt.Sprintf("%s-%d-medic-sandbox-history", env, n))))
}

// mustHealthySandbox starts a sandbox on a fixed clock, seeded with the runbook world.
func mustHealthySandbox(tb testing.TB, now time.Time) *Sandbox {
	tb.Helper()
	sb := Start(Options{Now: func() time.Time { return now }})
	tb.Cleanup(sb.Close)
	if err := sb.Seed(runbookWorld()); err != nil {
		tb.Fatalf("seeding the runbook world: %v", err)
	}
	return sb
}

// mustStage stages the case called name on a fresh healthy sandbox.
func mustStage(tb testing.TB, name string, now time.Time) (*Sandbox, Staged) {
	tb.Helper()
	c, ok := CaseByName(name)
	if !ok {
		tb.Fatalf("CaseByName(%q): no such case", name)
	}
	sb := mustHealthySandbox(tb, now)
	st, err := c.Stage(sb, now)
	if err != nil {
		tb.Fatalf("staging %s: %v", name, err)
	}
	return sb, st
}

func mustGitHubClient(tb testing.TB, sb *Sandbox) *github.Client {
	tb.Helper()
	c := github.NewClient(nil)
	u, err := url.Parse(sb.GitHub.URL() + "/")
	if err != nil {
		tb.Fatalf("parsing the GitHub fake's URL: %v", err)
	}
	c.BaseURL = u
	return c
}

func mustAWSConfig(tb testing.TB, sb *Sandbox) aws.Config {
	tb.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDSANDBOXTEST", "sandbox-secret", "")),
		config.WithBaseEndpoint(sb.AWS.URL()),
		config.WithRetryMaxAttempts(1),
		config.WithSharedConfigFiles([]string{}), config.WithSharedCredentialsFiles([]string{}))
	if err != nil {
		tb.Fatalf("loading AWS config: %v", err)
	}
	return cfg
}

// stripTimestamps removes the runner's timestamp from every line of a job log.
func stripTimestamps(log string) string {
	return regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z `).ReplaceAllString(log, "")
}

// caseWant is what a staged case must look like through the fakes.
type caseWant struct {
	workflow           string
	status, conclusion string
	// jobs are "name=conclusion", or "name=in_progress" for a running job, in order.
	jobs []string
	// step is the failed (or running) step of the first failed (or running) job, and
	// logHas lines its log must contain once timestamps are stripped.
	step   string
	logHas []string
	check  func(t *testing.T, sb *Sandbox, st Staged, now time.Time)
}

func TestCasesStage(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	tests := map[string]caseWant{
		"dev-tests-fail": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs: []string{"Tests (Dev)=failure", "Build=skipped", "Deploy to Preprod=skipped", "Preprod Integration Tests=skipped"},
			step: "Run unit tests",
			logHas: []string{
				"FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds - AssertionError: score 1.0347",
				"=========================== short test summary info ============================",
				"========================= 2 failed, 41 passed in 3.21s =========================",
				"E   AssertionError: score 1.0347 out of bounds",
				"##[error]Process completed with exit code 1.",
			},
			check: checkDevTestsFail,
		},
		"dev-tests-fail-main": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs:   []string{"Tests (Dev)=failure", "Build=skipped", "Deploy to Preprod=skipped", "Preprod Integration Tests=skipped"},
			step:   "Run unit tests",
			logHas: []string{"FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds - AssertionError: score 1.0347"},
			check: func(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
				run, _ := sb.GitHub.Run(st.RunID)
				if run.Event != "push" || run.HeadBranch != "main" || run.HeadRepository != "" || len(sb.GitHub.PullRequests()) != 0 {
					t.Errorf("run: got event %s on %s from %q with %d pull requests, want a push to main of the repository itself", run.Event, run.HeadBranch, run.HeadRepository, len(sb.GitHub.PullRequests()))
				}
				if head, _ := sb.GitHub.Ref("heads/main"); head != st.HeadSHA {
					t.Errorf("main's head: got %s, want the failing commit %s", head, st.HeadSHA)
				}
			},
		},
		"preprod-deploy-fail": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs: []string{"Tests (Dev)=success", "Build=success", "Deploy to Preprod=failure", "Preprod Integration Tests=skipped"},
			step: "Terraform Apply",
			logHas: []string{
				"Error: Error acquiring the state lock",
				"Error message: ConditionalCheckFailedException: The conditional request\nfailed",
				"  Operation: OperationTypeApply\n  Who:       runner@fv-az",
				"  Version:   1.5.7",
			},
			check: func(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
				log := mustFailedLog(t, sb, st)
				if !strings.Contains(log, "Lock Info:\n  ID:        "+st.LockID+"\n") {
					t.Errorf("log lacks Lock Info with the held lock %s", st.LockID)
				}
				checkHeldLock(t, sb, "preprod", st.LockID)
			},
		},
		"preprod-deploy-fail-throttling": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs:   []string{"Tests (Dev)=success", "Build=success", "Deploy to Preprod=failure", "Preprod Integration Tests=skipped"},
			step:   "Terraform Apply",
			logHas: []string{"ThrottlingException: Rate exceeded", "api error Throttling: Rate exceeded", "Plan: 6 to add, 1 to change, 0 to destroy."},
			check: func(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
				checkNoLock(t, sb, "preprod")
			},
		},
		"preprod-deploy-fail-exists": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs:   []string{"Tests (Dev)=success", "Build=success", "Deploy to Preprod=failure", "Preprod Integration Tests=skipped"},
			step:   "Terraform Apply",
			logHas: []string{"ResourceInUseException: Table already exists: preprod-sentiment-sources", "ResourceConflictException: Function already exist: preprod-sentiment-backfill"},
			check: func(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
				if _, ok := sb.AWS.Table("preprod-sentiment-sources"); !ok {
					t.Error("table preprod-sentiment-sources: got missing, want the hand-made table")
				}
				if _, ok := sb.AWS.Function("preprod-sentiment-backfill"); !ok {
					t.Error("function preprod-sentiment-backfill: got missing, want the hand-made function")
				}
			},
		},
		"preprod-deploy-fail-config": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs: []string{"Tests (Dev)=success", "Build=success", "Deploy to Preprod=failure", "Preprod Integration Tests=skipped"},
			step: "Terraform Apply",
			logHas: []string{
				"Error: Unsupported argument\n\n  on lambda.tf line 57",
				"Error: Reference to undeclared input variable",
				`An argument named "memory_limit" is not expected here.`,
			},
		},
		"preprod-tests-fail": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs: []string{"Tests (Dev)=success", "Build=success", "Deploy to Preprod=success", "Preprod Integration Tests=failure"},
			step: "Run integration tests",
			logHas: []string{
				"FAILED tests/integration/test_analysis_preprod.py::test_analysis_writes_scores_to_dynamodb - AssertionError",
				"ResourceNotFoundException) when calling the PutItem operation",
				"1 failed, 13 passed in 48.73s",
			},
			check: checkPreprodTestsFail,
		},
		"prod-deploy-fail": {
			workflow: "deploy-prod.yml", status: "in_progress",
			jobs: []string{"Deploy to Production=failure", "Production Canary Test=skipped", "Rollback on Failure=in_progress"},
			step: "Terraform Apply",
			logHas: []string{
				"ResourceConflictException: The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:prod-sentiment-analysis",
			},
			check: func(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
				checkRollbackRunning(t, sb, st)
				checkVersion(t, sb, "prod-sentiment-ingestion", st.HeadSHA)
				checkVersion(t, sb, "prod-sentiment-analysis", st.PreviousSHA)
				checkHeldLock(t, sb, "prod", st.LockID)
			},
		},
		"canary-fail": {
			workflow: "deploy-prod.yml", status: "in_progress",
			jobs:   []string{"Deploy to Production=success", "Production Canary Test=failure", "Rollback on Failure=in_progress"},
			step:   "Run canary health check",
			logHas: []string{"HTTP/2 503\n", `{"status":"unhealthy","version":"`, "##[error]https://prod-dashboard.sentiment.example.com/health returned HTTP 503 after 3 attempts"},
			check:  checkCanaryFail,
		},
		"rollback-fail": {
			workflow: "deploy-prod.yml", status: "completed", conclusion: "failure",
			jobs: []string{"Deploy to Production=success", "Production Canary Test=failure", "Rollback on Failure=failure"},
			step: "Run canary health check",
			check: func(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
				checkRollbackFail(t, sb, st)
			},
		},
		"workflow-stuck": {
			workflow: "build-and-promote.yml", status: "in_progress",
			jobs:   []string{"Tests (Dev)=success", "Build=success", "Deploy to Preprod=success", "Preprod Integration Tests=in_progress"},
			step:   "Run integration tests",
			logHas: []string{"tests/integration/test_canary_preprod.py::test_canary_rejects_missing_api_key PASSED"},
			check: func(t *testing.T, sb *Sandbox, st Staged, now time.Time) {
				run, _ := sb.GitHub.Run(st.RunID)
				if want := now.Add(-47 * time.Minute); !run.RunStartedAt.Equal(want) {
					t.Errorf("run_started_at: got %s, want %s", run.RunStartedAt, want)
				}
			},
		},
		"state-lock": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs: []string{"Tests (Dev)=success", "Build=success", "Terraform Plan (preprod)=failure", "Deploy to Preprod=skipped", "Preprod Integration Tests=skipped"},
			step: "Terraform Plan",
			logHas: []string{
				"Error: Error acquiring the state lock",
				"  Operation: OperationTypePlan",
			},
			check: checkStateLock,
		},
		"secrets-inaccessible": {
			workflow: "build-and-promote.yml", status: "completed", conclusion: "failure",
			jobs: []string{"Tests (Dev)=success", "Build=success", "Validate Secrets=failure", "Deploy to Preprod=skipped", "Preprod Integration Tests=skipped"},
			step: "Check secrets are readable",
			logHas: []string{
				"An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:iam::123456789012:user/sentiment-analyzer-preprod-deployer is not authorized to perform: secretsmanager:GetSecretValue on resource: preprod/sentiment-analyzer/newsapi",
			},
			check: checkSecretsInaccessible,
		},
		"alarm-wont-clear": {
			workflow: "deploy-prod.yml", status: "completed", conclusion: "success",
			jobs:  []string{"Deploy to Production=success", "Production Canary Test=success", "Rollback on Failure=skipped"},
			check: checkAlarmWontClear,
		},
	}
	for _, c := range Cases() {
		if _, ok := tests[c.Name]; !ok {
			t.Errorf("case %s has no test", c.Name)
		}
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			sb, st := mustStage(t, name, now)
			checkRun(t, sb, st, want)
			checkDeliveries(t, sb, st, want)
			checkThroughGoGitHub(t, sb, st, want)
			checkBaseline(t, sb)
			if want.check != nil {
				want.check(t, sb, st, now)
			}
		})
	}
}

// checkRun checks the run, its jobs and the log of its first failed or running job
// through the GitHub fake's own API.
func checkRun(t *testing.T, sb *Sandbox, st Staged, want caseWant) {
	t.Helper()
	run, ok := sb.GitHub.Run(st.RunID)
	if !ok {
		t.Fatalf("run %d: got none, want the staged run", st.RunID)
	}
	if run.WorkflowFile != want.workflow || run.Status != want.status || run.Conclusion != want.conclusion {
		t.Errorf("run: got %s %s/%s, want %s %s/%s", run.WorkflowFile, run.Status, run.Conclusion, want.workflow, want.status, want.conclusion)
	}
	if run.HeadSHA != st.HeadSHA || st.HeadSHA == st.PreviousSHA {
		t.Errorf("run head: got %s (previous %s), want the staged commit %s", run.HeadSHA, st.PreviousSHA, st.HeadSHA)
	}
	if msg, _, ok := sb.GitHub.CommitMessage(st.HeadSHA); !ok || msg == "" || run.HeadCommit.Message != msg {
		t.Errorf("head commit: got message %q in the run and %q (found %v) in git, want the same", run.HeadCommit.Message, msg, ok)
	}
	jobs := sb.GitHub.Jobs(st.RunID)
	var got, failed []string
	var focus *githubfake.Job
	for i, j := range jobs {
		c := j.Conclusion
		if j.Status != "completed" {
			c = j.Status
		}
		got = append(got, j.Name+"="+c)
		if c == "failure" {
			failed = append(failed, fmt.Sprint(j.ID))
		}
		if focus == nil && (c == "failure" || c == "in_progress") {
			focus = &jobs[i]
		}
	}
	if !slices.Equal(got, want.jobs) {
		t.Errorf("jobs: got %q, want %q", got, want.jobs)
	}
	var wantFailed []string
	for _, id := range st.FailedJobIDs {
		wantFailed = append(wantFailed, fmt.Sprint(id))
	}
	if !slices.Equal(failed, wantFailed) {
		t.Errorf("failed jobs: got %v, Staged.FailedJobIDs %v", failed, wantFailed)
	}
	if want.step == "" {
		return
	}
	if focus == nil {
		t.Fatalf("no failed or running job, want one at step %q", want.step)
	}
	var step *githubfake.Step
	for i, s := range focus.Steps {
		if s.Conclusion == "failure" || s.Status == "in_progress" {
			step = &focus.Steps[i]
			break
		}
	}
	if step == nil || step.Name != want.step {
		t.Errorf("job %q: got failed/running step %+v, want %q", focus.Name, step, want.step)
	}
	for i, s := range focus.Steps {
		if s.Number != int64(i+1) {
			t.Errorf("job %q step %q: got number %d, want %d", focus.Name, s.Name, s.Number, i+1)
		}
	}
	log := stripTimestamps(focus.Log)
	for _, line := range want.logHas {
		if !strings.Contains(log, line) {
			t.Errorf("job %q log: got no %q", focus.Name, line)
		}
	}
}

// checkDeliveries checks the webhooks' order and that each one is a payload go-github
// parses back to the run or job it names.
func checkDeliveries(t *testing.T, sb *Sandbox, st Staged, want caseWant) {
	t.Helper()
	var seq []string
	state := map[int64]string{}
	for i, d := range st.Deliveries {
		body, err := json.Marshal(d.Payload)
		if err != nil {
			t.Fatalf("delivery %d: encoding: %v", i, err)
		}
		ev, err := github.ParseWebHook(d.Event, body)
		if err != nil {
			t.Fatalf("delivery %d (%s): go-github cannot parse it: %v", i, d.Event, err)
		}
		switch e := ev.(type) {
		case *github.WorkflowRunEvent:
			if e.GetWorkflowRun().GetID() != st.RunID {
				t.Errorf("delivery %d: got run %d, want %d", i, e.GetWorkflowRun().GetID(), st.RunID)
			}
			if e.GetAction() == "completed" && (e.GetWorkflowRun().GetStatus() != "completed" || e.GetWorkflowRun().GetConclusion() != want.conclusion) {
				t.Errorf("workflow_run completed: got %s/%s, want completed/%s", e.GetWorkflowRun().GetStatus(), e.GetWorkflowRun().GetConclusion(), want.conclusion)
			}
			if e.GetAction() == "requested" && e.GetWorkflowRun().GetStatus() != "queued" {
				t.Errorf("workflow_run requested: got status %s, want queued", e.GetWorkflowRun().GetStatus())
			}
			seq = append(seq, "run:"+e.GetAction())
		case *github.WorkflowJobEvent:
			j := e.GetWorkflowJob()
			if j.GetRunID() != st.RunID {
				t.Errorf("delivery %d: got job of run %d, want %d", i, j.GetRunID(), st.RunID)
			}
			if j.GetStatus() != e.GetAction() && !(e.GetAction() == "completed" && j.GetStatus() == "completed") {
				t.Errorf("workflow_job %s: got job status %s, want %s", e.GetAction(), j.GetStatus(), e.GetAction())
			}
			next := map[string]string{"": "queued", "queued": "in_progress", "in_progress": "completed"}[state[j.GetID()]]
			if e.GetAction() != next && !(e.GetAction() == "completed" && j.GetConclusion() == "skipped" && state[j.GetID()] == "") {
				t.Errorf("workflow_job %d (%s): got %s after %q, want %s", j.GetID(), j.GetName(), e.GetAction(), state[j.GetID()], next)
			}
			state[j.GetID()] = e.GetAction()
			seq = append(seq, "job:"+e.GetAction())
		default:
			t.Errorf("delivery %d: got %T, want a workflow_run or workflow_job event", i, ev)
		}
	}
	if len(seq) < 3 || seq[0] != "run:requested" || seq[1] != "run:in_progress" {
		t.Fatalf("deliveries: got %v, want workflow_run requested, in_progress, then jobs", seq)
	}
	last := seq[len(seq)-1]
	switch {
	case want.status == "completed" && last != "run:completed":
		t.Errorf("last delivery: got %s, want workflow_run completed", last)
	case want.status != "completed" && last != "job:in_progress":
		t.Errorf("last delivery of a running run: got %s, want the running job's in_progress", last)
	}
	if n := len(sb.GitHub.Jobs(st.RunID)); len(state) != n {
		t.Errorf("deliveries cover %d jobs, want all %d", len(state), n)
	}
}

// checkThroughGoGitHub reads the run, its jobs and the focus job's log with go-github.
func checkThroughGoGitHub(t *testing.T, sb *Sandbox, st Staged, want caseWant) {
	t.Helper()
	ctx := context.Background()
	gh := mustGitHubClient(t, sb)
	owner, repo := sb.GitHub.Owner(), sb.GitHub.Repo()
	run, _, err := gh.Actions.GetWorkflowRunByID(ctx, owner, repo, st.RunID)
	if err != nil {
		t.Fatalf("GetWorkflowRunByID: %v", err)
	}
	if run.GetStatus() != want.status || run.GetConclusion() != want.conclusion || run.GetPath() != ".github/workflows/"+want.workflow {
		t.Errorf("go-github run: got %s %s/%s, want %s %s/%s", run.GetPath(), run.GetStatus(), run.GetConclusion(), want.workflow, want.status, want.conclusion)
	}
	jobs, _, err := gh.Actions.ListWorkflowJobs(ctx, owner, repo, st.RunID, &github.ListWorkflowJobsOptions{Filter: "latest"})
	if err != nil {
		t.Fatalf("ListWorkflowJobs: %v", err)
	}
	if len(jobs.Jobs) != len(want.jobs) {
		t.Fatalf("go-github jobs: got %d, want %d", len(jobs.Jobs), len(want.jobs))
	}
	for _, j := range jobs.Jobs {
		if j.GetStatus() == "completed" && j.GetConclusion() != "skipped" && (j.GetCompletedAt().Before(j.GetStartedAt().Time) || len(j.Steps) == 0) {
			t.Errorf("job %q: got %d steps from %s to %s, want steps and an end after the start", j.GetName(), len(j.Steps), j.GetStartedAt(), j.GetCompletedAt())
		}
		if j.GetConclusion() != "failure" {
			continue
		}
		u, _, err := gh.Actions.GetWorkflowJobLogs(ctx, owner, repo, j.GetID(), 1)
		if err != nil {
			t.Fatalf("GetWorkflowJobLogs(%d): %v", j.GetID(), err)
		}
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatalf("downloading job %d's log: %v", j.GetID(), err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		stored, _ := sb.GitHub.Job(j.GetID())
		if resp.StatusCode != http.StatusOK || string(text) != stored.Log || !strings.Contains(string(text), "##[error]") {
			t.Errorf("job %d's log download: got %d, %d bytes, want 200 and the %d-byte log with an ##[error] line", j.GetID(), resp.StatusCode, len(text), len(stored.Log))
		}
	}
}

// checkBaseline checks what every case adds to the healthy world.
func checkBaseline(t *testing.T, sb *Sandbox) {
	t.Helper()
	for _, env := range []string{"prod", "preprod"} {
		doc := mustUserPolicy(t, sb, "sentiment-analyzer-"+env+"-deployer", strings.ToUpper(env[:1])+env[1:]+"DeploymentPolicy")
		if !json.Valid([]byte(doc)) || !strings.Contains(doc, `"arn:aws:secretsmanager:us-east-1:*:secret:`) {
			t.Errorf("%s deployer policy: got %.80q…, want a JSON document with a Secrets Manager statement", env, doc)
		}
		if env == "prod" && !strings.Contains(doc, `"arn:aws:secretsmanager:us-east-1:*:secret:prod/*"`) {
			t.Errorf("prod deployer policy: got %.80q…, want secrets limited to prod/*", doc)
		}
		tab, ok := sb.AWS.Table("terraform-state-lock-" + env)
		if !ok || tab.HashKey != "LockID" {
			t.Errorf("lock table of %s: got %+v (found %v), want hash key LockID", env, tab, ok)
			continue
		}
		digest := false
		for _, it := range tab.Items {
			digest = digest || attr(it, "LockID") == statePath(env)+"-md5" && len(attr(it, "Digest")) == 32
		}
		if !digest {
			t.Errorf("lock table of %s: got %v, want the state's digest item", env, tab.Items)
		}
	}
}

// mustUserPolicy reads an IAM user's inline policy with the awsQuery call the SDK makes
// and decodes the URL-encoded document, as medic must. It speaks the wire protocol with
// net/http: the SDK's IAM client intermittently fails to read responses of this size
// from the fake under load ("use of closed network connection" while deserializing).
func mustUserPolicy(t *testing.T, sb *Sandbox, user, policy string) string {
	t.Helper()
	resp, err := http.PostForm(sb.AWS.URL()+"/", url.Values{"Action": {"GetUserPolicy"}, "Version": {"2010-05-08"}, "UserName": {user}, "PolicyName": {policy}})
	if err != nil {
		t.Fatalf("GetUserPolicy %s/%s: %v", user, policy, err)
	}
	defer resp.Body.Close()
	var out struct {
		Document string `xml:"GetUserPolicyResult>PolicyDocument"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GetUserPolicy %s/%s: got %d (%v), want 200 and a document", user, policy, resp.StatusCode, err)
	}
	doc, err := url.QueryUnescape(out.Document)
	if err != nil {
		t.Fatalf("GetUserPolicy %s/%s: document not URL-encoded: %v", user, policy, err)
	}
	return doc
}

func attr(it awsfake.Item, name string) string {
	v, _ := it[name].(map[string]any)
	s, _ := v["S"].(string)
	return s
}

// checkHeldLock checks that env's lock table holds exactly the lock id, as Terraform
// writes it.
func checkHeldLock(t *testing.T, sb *Sandbox, env, id string) {
	t.Helper()
	tab, _ := sb.AWS.Table("terraform-state-lock-" + env)
	var locks []lockInfo
	for _, it := range tab.Items {
		if attr(it, "LockID") != statePath(env) {
			continue
		}
		var li lockInfo
		if err := json.Unmarshal([]byte(attr(it, "Info")), &li); err != nil {
			t.Fatalf("lock Info: %v", err)
		}
		locks = append(locks, li)
	}
	if len(locks) != 1 || id == "" || locks[0].ID != id || locks[0].Path != statePath(env) || locks[0].Version != "1.5.7" || locks[0].Created.IsZero() {
		t.Errorf("locks of %s: got %+v, want one held lock %q on %s", env, locks, id, statePath(env))
	}
}

func checkNoLock(t *testing.T, sb *Sandbox, env string) {
	t.Helper()
	tab, _ := sb.AWS.Table("terraform-state-lock-" + env)
	for _, it := range tab.Items {
		if attr(it, "LockID") == statePath(env) {
			t.Errorf("lock table of %s: got a held lock %v, want none", env, it)
		}
	}
}

func checkVersion(t *testing.T, sb *Sandbox, fn, sha string) {
	t.Helper()
	f, ok := sb.AWS.Function(fn)
	if !ok || f.Tags["model_version"] != sha || !strings.Contains(f.S3Key, sha) {
		t.Errorf("function %s: got model_version %q, package %q, want %s", fn, f.Tags["model_version"], f.S3Key, sha)
	}
}

func mustFailedLog(t *testing.T, sb *Sandbox, st Staged) string {
	t.Helper()
	if len(st.FailedJobIDs) == 0 {
		t.Fatal("no failed job")
	}
	j, _ := sb.GitHub.Job(st.FailedJobIDs[0])
	return stripTimestamps(j.Log)
}

func checkDevTestsFail(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
	run, _ := sb.GitHub.Run(st.RunID)
	if run.Event != "pull_request" || run.HeadBranch != "feature/emphatic-boost" || run.HeadCommit.Author.Name != "Priya Raman" {
		t.Errorf("run: got event %s on %s by %q, want pull_request on feature/emphatic-boost by Priya Raman", run.Event, run.HeadBranch, run.HeadCommit.Author.Name)
	}
	pulls := sb.GitHub.PullRequests()
	if len(pulls) != 1 || pulls[0].Head != "feature/emphatic-boost" || pulls[0].HeadSHA != st.HeadSHA || pulls[0].Author != "praman" {
		t.Fatalf("pull requests: got %+v, want one from feature/emphatic-boost at %s", pulls, st.HeadSHA)
	}
	number := pulls[0].Number
	for _, d := range st.Deliveries {
		ev, ok := d.Payload.(*github.WorkflowRunEvent)
		if !ok {
			continue
		}
		prs := ev.GetWorkflowRun().PullRequests
		if len(prs) != 1 || prs[0].GetNumber() != number || prs[0].GetHead().GetSHA() != st.HeadSHA || prs[0].GetBase().GetRef() != "main" ||
			prs[0].GetHead().GetRepo().GetID() != ev.GetRepo().GetID() {
			t.Errorf("workflow_run %s pull_requests: got %+v, want #%d from %s into main", ev.GetAction(), prs, number, st.HeadSHA)
		}
	}
	doc, _, err := mustGitHubClient(t, sb).Actions.GetWorkflowRunByID(context.Background(), sb.GitHub.Owner(), sb.GitHub.Repo(), st.RunID)
	if err != nil || len(doc.PullRequests) != 1 || doc.PullRequests[0].GetNumber() != number {
		t.Errorf("go-github run pull_requests: got %v (%v), want #%d", doc.PullRequests, err, number)
	}
}

func checkPreprodTestsFail(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
	gh := mustGitHubClient(t, sb)
	arts, _, err := gh.Actions.ListWorkflowRunArtifacts(context.Background(), sb.GitHub.Owner(), sb.GitHub.Repo(), st.RunID, nil)
	if err != nil {
		t.Fatalf("ListWorkflowRunArtifacts: %v", err)
	}
	var names []string
	for _, a := range arts.Artifacts {
		names = append(names, a.GetName())
	}
	if !slices.Contains(names, "preprod-test-results-"+st.HeadSHA) || !slices.Contains(names, "lambda-packages-"+st.HeadSHA) {
		t.Errorf("artifacts: got %v, want lambda-packages-%s and preprod-test-results-%s", names, st.HeadSHA, st.HeadSHA)
	}
	log := mustFailedLog(t, sb, st)
	for _, a := range arts.Artifacts {
		if strings.HasPrefix(a.GetName(), "preprod-test-results-") && !strings.Contains(log, fmt.Sprintf("Artifact ID is %d", a.GetID())) {
			t.Errorf("log: got no upload of artifact %d, want the log to name the artifact the run lists", a.GetID())
		}
	}
	checkVersion(t, sb, "preprod-sentiment-analysis", st.HeadSHA)
	if f, _ := sb.AWS.Function("preprod-sentiment-analysis"); f.Env["DYNAMODB_TABLE"] != "preprod-sentiment-items-v2" {
		t.Errorf("preprod analysis DYNAMODB_TABLE: got %q, want preprod-sentiment-items-v2", f.Env["DYNAMODB_TABLE"])
	}
}

// checkRollbackRunning checks the rollback job of a deploy-prod run is at its apply.
func checkRollbackRunning(t *testing.T, sb *Sandbox, st Staged) {
	t.Helper()
	jobs := sb.GitHub.Jobs(st.RunID)
	rb := jobs[len(jobs)-1]
	states := map[string]string{}
	for _, s := range rb.Steps {
		states[s.Name] = s.Status + "/" + s.Conclusion
	}
	if states["Find previous successful deployment"] != "completed/success" || states["Terraform apply previous version"] != "in_progress/" {
		t.Errorf("rollback steps: got %v, want the previous deployment found and the apply in progress", states)
	}
	if !strings.Contains(rb.Log, "Rolling back to "+st.PreviousSHA) {
		t.Errorf("rollback log: got no %q", "Rolling back to "+st.PreviousSHA)
	}
}

func checkCanaryFail(t *testing.T, sb *Sandbox, st Staged, now time.Time) {
	checkRollbackRunning(t, sb, st)
	checkHeldLock(t, sb, "prod", st.LockID)
	for _, fn := range lambdaFunctions("prod") {
		checkVersion(t, sb, fn, st.HeadSHA)
	}
	req, _ := http.NewRequest(http.MethodGet, sb.HealthURL("prod"), nil)
	req.Header.Set("X-API-Key", testAPIKeyPrefix+"prod-api-key-5f2b9c")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET prod health: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(mustFailedLog(t, sb, st), string(body)) {
		t.Errorf("prod health: got %d %s, want 503 with the body the canary logged", resp.StatusCode, body)
	}
	if a, _ := sb.AWS.Alarm("prod-dashboard-errors"); a.State != "ALARM" || a.UpdatedAt.After(now) || !strings.HasPrefix(a.Reason, "Threshold Crossed") {
		t.Errorf("prod-dashboard-errors: got %s since %s (%q), want ALARM before now", a.State, a.UpdatedAt, a.Reason)
	}
	logs := cloudwatchlogs.NewFromConfig(mustAWSConfig(t, sb))
	out, err := logs.FilterLogEvents(context.Background(), &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String("/aws/lambda/prod-sentiment-dashboard"), FilterPattern: aws.String("ERROR"),
		StartTime: aws.Int64(now.Add(-10 * time.Minute).UnixMilli()),
	})
	if err != nil {
		t.Fatalf("FilterLogEvents: %v", err)
	}
	var traces, secrets int
	for _, e := range out.Events {
		msg := aws.ToString(e.Message)
		if strings.Contains(msg, "Traceback (most recent call last):") {
			traces++
		}
		if strings.Contains(msg, "X-API-Key: ") && strings.Contains(msg, "AKIAIOSFODNN7EXAMPLE") {
			secrets++
		}
		if strings.Contains(msg, "Client disconnected") {
			t.Errorf("ERROR events of the last 10 minutes: got the one from 37 minutes ago")
		}
	}
	if traces < 2 || secrets != 1 {
		t.Errorf("ERROR events of the last 10 minutes: got %d with a stack trace and %d with credentials in %d events, want >=2 and 1", traces, secrets, len(out.Events))
	}
}

func checkRollbackFail(t *testing.T, sb *Sandbox, st Staged) {
	t.Helper()
	if len(st.FailedJobIDs) != 2 {
		t.Fatalf("failed jobs: got %v, want the canary and the rollback", st.FailedJobIDs)
	}
	rb, _ := sb.GitHub.Job(st.FailedJobIDs[1])
	log := stripTimestamps(rb.Log)
	for _, want := range []string{
		"Error: Error releasing the state lock",
		"Lock Info:\n  ID:        " + st.LockID + "\n",
		"unexpected state 'Failed', wanted target 'Successful'",
		`please call the "force-unlock" command`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("rollback log: got no %q", want)
		}
	}
	checkHeldLock(t, sb, "prod", st.LockID)
	if f, _ := sb.AWS.Function("prod-sentiment-dashboard"); f.State != "Failed" || !strings.Contains(f.StateReason, "KMS") {
		t.Errorf("prod dashboard: got state %s (%q), want Failed for the KMS key", f.State, f.StateReason)
	}
	checkVersion(t, sb, "prod-sentiment-ingestion", st.PreviousSHA)
	gh := mustGitHubClient(t, sb)
	runs, _, err := gh.Actions.ListWorkflowRunsByFileName(context.Background(), sb.GitHub.Owner(), sb.GitHub.Repo(), "deploy-prod.yml", &github.ListWorkflowRunsOptions{Status: "success"})
	if err != nil {
		t.Fatalf("ListWorkflowRunsByFileName: %v", err)
	}
	var good []string
	for _, r := range runs.WorkflowRuns {
		good = append(good, r.GetHeadSHA())
	}
	if len(good) < 3 || good[0] != st.PreviousSHA || slices.Contains(good, st.HeadSHA) {
		t.Errorf("successful deploy-prod runs: got %v, want several, newest %s, without %s", good, st.PreviousSHA, st.HeadSHA)
	}
}

func checkStateLock(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
	log := mustFailedLog(t, sb, st)
	if !strings.Contains(log, "Error message: HTTP remote state already locked:\nID="+st.LockID+"\nLock Info:\n") {
		t.Errorf("log: got no %q followed by the holder's ID %s", "HTTP remote state already locked:", st.LockID)
	}
	m := regexp.MustCompile(`Lock Info:\n  ID:        (\S+)`).FindStringSubmatch(log)
	if m == nil || m[1] == st.LockID || len(m[1]) != 36 {
		t.Errorf("Lock Info ID: got %v, want the contender's own UUID, not the holder's %s", m, st.LockID)
	}
	checkHeldLock(t, sb, "preprod", st.LockID)
}

func checkSecretsInaccessible(t *testing.T, sb *Sandbox, st Staged, _ time.Time) {
	cfg := mustAWSConfig(t, sb)
	_, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("preprod/sentiment-analyzer/newsapi")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" {
		t.Errorf("GetSecretValue preprod newsapi: got %v, want AccessDeniedException", err)
	}
	doc := mustUserPolicy(t, sb, "sentiment-analyzer-preprod-deployer", "PreprodDeploymentPolicy")
	if !strings.Contains(doc, "secret:prod/*") || strings.Contains(doc, "secret:preprod/*") {
		t.Errorf("PreprodDeploymentPolicy: got %.80q…, want its secrets statement limited to prod/*", doc)
	}
}

func checkAlarmWontClear(t *testing.T, sb *Sandbox, st Staged, now time.Time) {
	if len(st.FailedJobIDs) != 0 {
		t.Errorf("failed jobs: got %v, want none (the fix deployed fine)", st.FailedJobIDs)
	}
	run, _ := sb.GitHub.Run(st.RunID)
	if want := now.Add(-30 * time.Minute); !run.UpdatedAt.Equal(want) {
		t.Errorf("fix run finished: got %s, want %s", run.UpdatedAt, want)
	}
	for _, fn := range lambdaFunctions("prod") {
		checkVersion(t, sb, fn, st.HeadSHA)
	}
	a, _ := sb.AWS.Alarm("prod-analysis-errors")
	if a.State != "ALARM" || !a.UpdatedAt.Equal(now.Add(-40*time.Minute)) {
		t.Errorf("prod-analysis-errors: got %s since %s, want ALARM since %s", a.State, a.UpdatedAt, now.Add(-40*time.Minute))
	}
	cfg := mustAWSConfig(t, sb)
	hist, err := cloudwatch.NewFromConfig(cfg).DescribeAlarmHistory(context.Background(), &cloudwatch.DescribeAlarmHistoryInput{AlarmName: aws.String("prod-analysis-errors")})
	if err != nil {
		t.Fatalf("DescribeAlarmHistory: %v", err)
	}
	var updates []string
	for _, h := range hist.AlarmHistoryItems {
		if h.HistoryItemType == "StateUpdate" {
			updates = append(updates, aws.ToString(h.HistorySummary))
		}
	}
	if len(updates) < 4 {
		t.Errorf("state updates: got %q, want the healthy OK and three changes during the incident", updates)
	}
	logs := cloudwatchlogs.NewFromConfig(cfg)
	for _, c := range []struct {
		from  time.Duration
		wantN bool
	}{{80 * time.Minute, true}, {30 * time.Minute, false}} {
		out, err := logs.FilterLogEvents(context.Background(), &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String("/aws/lambda/prod-sentiment-analysis"), FilterPattern: aws.String("ERROR"),
			StartTime: aws.Int64(now.Add(-c.from).UnixMilli()),
		})
		if err != nil {
			t.Fatalf("FilterLogEvents: %v", err)
		}
		if got := len(out.Events) > 0; got != c.wantN {
			t.Errorf("ERROR events since %s ago: got %d, want some: %v", c.from, len(out.Events), c.wantN)
		}
	}
}

func TestStagedDeliver(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	sb, st := mustStage(t, "secrets-inaccessible", now)
	const secret = "webhook-secret"
	var got []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := github.ValidatePayload(r, []byte(secret))
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		ev, err := github.ParseWebHook(github.WebHookType(r), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch e := ev.(type) {
		case *github.WorkflowRunEvent:
			got = append(got, "workflow_run:"+e.GetAction())
		case *github.WorkflowJobEvent:
			got = append(got, "workflow_job:"+e.GetAction())
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	if err := st.Deliver(context.Background(), sb, receiver.URL, secret); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(got) != len(st.Deliveries) || got[len(got)-1] != "workflow_run:completed" {
		t.Errorf("received: got %v, want %d deliveries ending with workflow_run:completed", got, len(st.Deliveries))
	}
	if err := st.Deliver(context.Background(), sb, receiver.URL, "wrong-secret"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Deliver with a wrong secret: got %v, want the receiver's 401", err)
	}
}

func TestCaseByName(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		if seen[c.Name] || c.About == "" || c.Stage == nil {
			t.Errorf("case %q: got duplicate %v, about %q, stage %v; want unique, described, stageable", c.Name, seen[c.Name], c.About, c.Stage != nil)
		}
		seen[c.Name] = true
		if got, ok := CaseByName(c.Name); !ok || got.Name != c.Name {
			t.Errorf("CaseByName(%q): got %q, %v", c.Name, got.Name, ok)
		}
	}
	for _, name := range []string{"dev-tests-fail", "dev-tests-fail-main", "preprod-deploy-fail", "preprod-tests-fail", "prod-deploy-fail", "canary-fail", "rollback-fail",
		"workflow-stuck", "state-lock", "secrets-inaccessible", "alarm-wont-clear",
		"preprod-deploy-fail-throttling", "preprod-deploy-fail-exists", "preprod-deploy-fail-config"} {
		if !seen[name] {
			t.Errorf("Cases(): got no %q", name)
		}
	}
	if _, ok := CaseByName("no-such-case"); ok {
		t.Error("CaseByName(no-such-case): got a case, want none")
	}
}

func TestStageNeedsSeededWorld(t *testing.T) {
	now := time.Now().UTC()
	sb := Start(Options{Now: func() time.Time { return now }})
	defer sb.Close()
	c, _ := CaseByName("canary-fail")
	if _, err := c.Stage(sb, now); err == nil || !strings.Contains(err.Error(), "seed the runbook's world") {
		t.Errorf("staging on an empty sandbox: got %v, want an error asking for the seeded world", err)
	}
}
