package recovery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// sharedTestdata holds real GitHub webhook deliveries (octokit/webhooks' examples).
const sharedTestdata = "/work/shared/testdata/github-webhooks"

// mustPayload reads a webhook delivery of the shared test data into v.
func mustPayload(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(sharedTestdata, name))
	if err != nil {
		tb.Skipf("shared test data: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

// mustFailedJob is the failed job of a real workflow_job delivery ("linters", whose
// step 8 failed).
func mustFailedJob(tb testing.TB) JobInfo {
	tb.Helper()
	var p struct {
		WorkflowJob struct {
			ID         int64  `json:"id"`
			RunID      int64  `json:"run_id"`
			Attempt    int    `json:"run_attempt"`
			Name       string `json:"name"`
			Status     string `json:"status"`
			Conclusion string `json:"conclusion"`
			Steps      []struct {
				Number     int    `json:"number"`
				Name       string `json:"name"`
				Status     string `json:"status"`
				Conclusion string `json:"conclusion"`
			} `json:"steps"`
		} `json:"workflow_job"`
	}
	mustPayload(tb, "workflow_job.completed.failure.with-organization.payload.json", &p)
	w := p.WorkflowJob
	j := JobInfo{ID: w.ID, RunID: w.RunID, Attempt: w.Attempt, Name: w.Name, Status: w.Status, Conclusion: w.Conclusion}
	for _, s := range w.Steps {
		j.Steps = append(j.Steps, StepInfo{Number: s.Number, Name: s.Name, Status: s.Status, Conclusion: s.Conclusion})
	}
	return j
}

// classifyWithLog classifies a failed job as the engine does: without its log first,
// then with it when a rule needs it.
func classifyWithLog(tb testing.TB, p *Pipeline, run Run, job JobInfo, log string, envs *Environments) Classification {
	tb.Helper()
	c, need := p.Classify(run, job, nil, envs)
	if !need {
		return c
	}
	c, need = p.Classify(run, job, &log, envs)
	if need {
		tb.Fatalf("%s: still needs the log after getting it", job.Name)
	}
	return c
}

// TestDefaultRulesByJob: the runbook's six scenarios are found by the job's exact name,
// whatever the log says, each in its stage's environment; a job named like one but not
// exactly is no scenario of the runbook.
func TestDefaultRulesByJob(t *testing.T) {
	envs := runbookEnvs(t)
	p := runbookPipeline()
	lock := mustLog(t, "terraform_lock_s3.log")
	secrets := mustLog(t, "secrets_denied.log")
	tests := []struct {
		workflow, job, log string
		want               ScenarioID
		wantEnv            string
	}{
		{"build-and-promote.yml", JobTestsDev, secrets, DevTestsFail, "dev"},
		{"build-and-promote.yml", JobDeployPreprod, lock, PreprodDeployFail, "preprod"},
		{"build-and-promote.yml", JobPreprodTests, secrets, PreprodTestsFail, "preprod"},
		{"deploy-prod.yml", JobDeployProd, lock, ProdDeployFail, "prod"},
		{"deploy-prod.yml", JobCanary, "", CanaryFail, "prod"},
		{"deploy-prod.yml", JobRollback, lock, RollbackFail, "prod"},
		// The rules name the job, not the workflow: a runbook job in another workflow.
		{"build-and-promote.yml", JobDeployProd, "", ProdDeployFail, "prod"},
		// Names only like a runbook job's.
		{"deploy-prod.yml", JobDeployProd + " (canary)", "", OtherJobFailed, "prod"},
		{"deploy-prod.yml", "x " + JobDeployProd, "", OtherJobFailed, "prod"},
		{"deploy-prod.yml", strings.ToLower(JobDeployProd), "", OtherJobFailed, "prod"},
		{"deploy-prod.yml", JobDeployProd + " ", "", OtherJobFailed, "prod"},
		{"build-and-promote.yml", "Tests (Dev) 2", "", OtherJobFailed, "preprod"},
		{"build-and-promote.yml", "Deploy to Preprod (retry)", lock, StateLockHeld, "preprod"},
		{"deploy-prod.yml", "Production Canary", "", OtherJobFailed, "prod"},
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			c := classifyWithLog(t, p, Run{ID: 1, Workflow: tt.workflow}, JobInfo{ID: 2, Name: tt.job, Conclusion: "failure"}, tt.log, envs)
			if c.Scenario != tt.want || c.Env != tt.wantEnv {
				t.Errorf("job %q in %s: got %s in %s (rule %s), want %s in %s", tt.job, tt.workflow, c.Scenario, c.Env, c.Rule, tt.want, tt.wantEnv)
			}
		})
	}
}

// TestEveryDefaultRuleIsReachable: each of the runbook's rules is the one that matches
// some failure (none is shadowed by an earlier one), so every scenario classification
// can give is reachable.
func TestEveryDefaultRuleIsReachable(t *testing.T) {
	envs := runbookEnvs(t)
	p := runbookPipeline()
	cases := []struct{ job, log string }{
		{JobRollback, ""}, {JobCanary, ""}, {JobDeployProd, ""}, {JobDeployPreprod, ""}, {JobPreprodTests, ""}, {JobTestsDev, ""},
		{"Terraform Plan", mustLog(t, "terraform_lock_http.log")},
		{"Validate Secrets", mustLog(t, "secrets_denied.log")},
		{"Lint", mustLog(t, "pytest_dev.log")},
	}
	matched := map[string]ScenarioID{}
	for _, c := range cases {
		got := classifyWithLog(t, p, Run{ID: 1, Workflow: "build-and-promote.yml"}, JobInfo{ID: 2, Name: c.job, Conclusion: "failure"}, c.log, envs)
		matched[got.Rule] = got.Scenario
	}
	for _, r := range DefaultRules() {
		if got, ok := matched[r.String()]; !ok || got != r.Scenario {
			t.Errorf("rule %q: matched no failure (got %v), want it to give %s", r, matched, r.Scenario)
		}
		if _, ok := ScenarioByID(r.Scenario); !ok {
			t.Errorf("rule %q names an unregistered scenario", r)
		}
	}
}

// TestRuleFields: each field of a rule narrows what it matches: the workflow file, the
// job's exact name, the log; Env sets the incident's environment; the first rule that
// matches wins.
func TestRuleFields(t *testing.T) {
	envs := runbookEnvs(t)
	p := &Pipeline{
		Workflows: map[string]string{"build-and-promote.yml": "preprod", "deploy-prod.yml": "prod", "nightly.yml": "dev"},
		JobEnvs:   DefaultJobEnvs(),
		Rules: []Rule{
			{Scenario: RollbackFail, Workflow: "deploy-prod.yml", Job: "Smoke"},
			{Scenario: CanaryFail, Workflow: "deploy-prod.yml"},
			{Scenario: PreprodTestsFail, Job: "Smoke", Env: "preprod"},
			{Scenario: DevTestsFail, Job: "Nightly", Log: regexp.MustCompile(`FAILED`)},
			{Scenario: StateLockHeld, Job: "Nightly", Env: "preprod"},
			{Scenario: SecretsInaccessible, Log: SecretsErrorLog, Env: "prod"},
		},
	}
	pytest := mustLog(t, "pytest_dev.log")
	tests := []struct {
		name, workflow, job, log string
		want                     ScenarioID
		wantEnv                  string
	}{
		{"workflow and job", "deploy-prod.yml", "Smoke", "", RollbackFail, "prod"},
		{"workflow only", "deploy-prod.yml", "Anything", "", CanaryFail, "prod"},
		{"the job in another workflow skips the workflow's rules", "nightly.yml", "Smoke", "", PreprodTestsFail, "preprod"},
		{"job and log", "nightly.yml", "Nightly", pytest, DevTestsFail, "dev"},
		{"the job without the log's match falls through", "nightly.yml", "Nightly", "all good", StateLockHeld, "preprod"},
		{"log only, its Env", "nightly.yml", "Fetch", mustLog(t, "secrets_denied.log"), SecretsInaccessible, "prod"},
		{"nothing matches", "nightly.yml", "Fetch", pytest, OtherJobFailed, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := classifyWithLog(t, p, Run{ID: 1, Workflow: tt.workflow}, JobInfo{ID: 2, Name: tt.job, Conclusion: "failure"}, tt.log, envs)
			if c.Scenario != tt.want || c.Env != tt.wantEnv {
				t.Errorf("job %q in %s: got %s in %s (rule %s), want %s in %s", tt.job, tt.workflow, c.Scenario, c.Env, c.Rule, tt.want, tt.wantEnv)
			}
		})
	}
	if c, _ := (&Pipeline{Workflows: p.Workflows}).Classify(Run{Workflow: "nightly.yml"}, JobInfo{Name: "x"}, nil, envs); c.Scenario != OtherJobFailed || c.Env != "dev" || c.Rule != "no rule matched" {
		t.Errorf("no rules: got %+v, want %s in dev, no rule matched", c, OtherJobFailed)
	}
}

// TestClassifyAsksForTheLogOnlyWhenNeeded: the log is fetched only when the first rule
// that could match needs it; a job a rule names without a log is classified at once.
func TestClassifyAsksForTheLogOnlyWhenNeeded(t *testing.T) {
	p := runbookPipeline()
	envs := runbookEnvs(t)
	for _, tt := range []struct {
		job  string
		want bool
	}{{JobCanary, false}, {JobTestsDev, false}, {"Lint", true}, {"Terraform Plan (prod)", true}} {
		c, need := p.Classify(Run{Workflow: "deploy-prod.yml"}, JobInfo{Name: tt.job}, nil, envs)
		if need != tt.want {
			t.Errorf("%s without its log: got needLog %v (%+v), want %v", tt.job, need, c, tt.want)
		}
		if need && c != (Classification{}) {
			t.Errorf("%s: got %+v with needLog, want nothing classified yet", tt.job, c)
		}
	}
}

// TestEnvironmentOfAFailure: a rule without Env files the incident under the job's
// stage, else an environment the job's name names as a word, else the one the log
// names (a secret's prefix, a Terraform state path), else the workflow's.
func TestEnvironmentOfAFailure(t *testing.T) {
	// ci has no secrets of its own: no secret names it.
	envs, err := NewEnvironments([]Environment{
		{Name: "ci"}, {Name: "dev", SecretsPrefix: "dev/"}, {Name: "preprod", SecretsPrefix: "preprod/"}, {Name: "prod", SecretsPrefix: "prod/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{
		Workflows: map[string]string{"build-and-promote.yml": "dev", "deploy-prod.yml": "prod"},
		JobEnvs:   map[string]string{"Build": "dev", "Integration": "preprod"},
		Rules:     []Rule{{Scenario: OtherJobFailed}},
	}
	secretLine := func(secret string) string {
		return "An error occurred (AccessDeniedException) when calling the GetSecretValue operation: on resource: " + secret + "\n"
	}
	lockPath := func(path string) string {
		return "│ Error: Error acquiring the state lock\n│ Lock Info:\n│   ID:        x\n│   Path:      " + path + "\n"
	}
	tests := []struct {
		name, workflow, job, log string
		want                     string
	}{
		{"the job's stage", "deploy-prod.yml", "Integration", secretLine("prod/x"), "preprod"},
		{"the job's name", "deploy-prod.yml", "Terraform Plan (preprod)", secretLine("dev/x"), "preprod"},
		{"prod in the job's name", "build-and-promote.yml", "Smoke prod", "", "prod"},
		{"a name inside a word is not named", "deploy-prod.yml", "Terraform Plan (preproduction)", "", "prod"},
		{"preprod does not name prod", "build-and-promote.yml", "Plan-preprod", "", "preprod"},
		{"a secret's prefix", "deploy-prod.yml", "Fetch", secretLine("preprod/sentiment-analyzer/newsapi"), "preprod"},
		{"a secret's ARN", "deploy-prod.yml", "Fetch", secretLine("arn:aws:secretsmanager:us-east-1:111111111111:secret:dev/x-AbCdEf"), "dev"},
		{"a secret of no environment", "build-and-promote.yml", "Fetch", secretLine("shared/x"), "dev"},
		{"a secret naming an environment past its start", "build-and-promote.yml", "Fetch", secretLine("shared/preprod/x"), "dev"},
		{"a state path", "deploy-prod.yml", "Plan", lockPath("tfstate/preprod/terraform.tfstate"), "preprod"},
		{"a state key named by file", "build-and-promote.yml", "Plan", lockPath("bucket/prod.tfstate"), "prod"},
		{"a state path naming none", "deploy-prod.yml", "Plan", lockPath("bucket/production/terraform.tfstate"), "prod"},
		{"a state path with the name inside a word", "build-and-promote.yml", "Plan", lockPath("bucket/preprod2/x"), "dev"},
		{"the workflow's", "build-and-promote.yml", "Lint", mustLog(t, "pytest_dev.log"), "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := tt.log
			c, _ := p.Classify(Run{Workflow: tt.workflow}, JobInfo{Name: tt.job}, &log, envs)
			if c.Env != tt.want {
				t.Errorf("job %q in %s: got env %q, want %q", tt.job, tt.workflow, c.Env, tt.want)
			}
		})
	}
	// Without the environments, only the stage and the workflow say.
	log := secretLine("preprod/x")
	if c, _ := p.Classify(Run{Workflow: "deploy-prod.yml"}, JobInfo{Name: "Terraform Plan (dev)"}, &log, nil); c.Env != "prod" {
		t.Errorf("without environments: got %q, want the workflow's prod", c.Env)
	}
}

// TestSecretsErrorLog: the secrets rule matches AccessDenied, AccessDeniedException,
// ResourceNotFoundException and SecretNotFoundException on a line that mentions a
// secret after the code, and nothing else.
func TestSecretsErrorLog(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"An error occurred (AccessDeniedException) when calling the GetSecretValue operation", true},
		{"AccessDenied: not authorized to read secret prod/x", true},
		{"botocore.errorfactory.ResourceNotFoundException: Secrets Manager can't find the specified secret.", true},
		{"SecretNotFoundException: secret prod/x is gone", true},
		{"api error AccessDeniedException: not authorized to perform: SECRETSMANAGER:GetSecretValue", true},
		{"AccessDenied: s3:GetObject on bucket x", false},
		{"AccessDeniedException: dynamodb:PutItem on table preprod-items", false},
		{"ResourceNotFoundException: Requested resource not found: Table: preprod-items not found", false},
		{"SecretNotFoundException", false},
		{"AccessDeniedException\nthe secret was fine", false},
		{"ThrottlingException on GetSecretValue", false},
		{"secret rotation done", false},
	}
	for _, tt := range tests {
		if got := SecretsErrorLog.MatchString(tt.line); got != tt.want {
			t.Errorf("SecretsErrorLog on %q: got %v, want %v", tt.line, got, tt.want)
		}
	}
	p := runbookPipeline()
	envs := runbookEnvs(t)
	for _, tt := range tests {
		want := OtherJobFailed
		if tt.want {
			want = SecretsInaccessible
		}
		if c := classifyWithLog(t, p, Run{Workflow: "deploy-prod.yml"}, JobInfo{Name: "Validate Secrets"}, tt.line, envs); c.Scenario != want {
			t.Errorf("a job whose log says %q: got %s, want %s", tt.line, c.Scenario, want)
		}
	}
}

// TestStateLockRule: a lock error in any job no runbook job rule names is the
// runbook's state lock case; the same log in a runbook job is that job's scenario.
func TestStateLockRule(t *testing.T) {
	p := runbookPipeline()
	envs := runbookEnvs(t)
	for _, tt := range []struct {
		job, log string
		want     ScenarioID
	}{
		{"Terraform Plan", mustLog(t, "terraform_lock_s3.log"), StateLockHeld},
		{"Terraform Plan", mustLog(t, "terraform_lock_http.log"), StateLockHeld},
		{"Terraform Plan", "Error: Error acquiring the state lock\n", StateLockHeld},
		{"Terraform Plan", "Error: error acquiring the state lock\n", OtherJobFailed},
		{"Terraform Plan", "Acquiring state lock. This may take a few moments...\nReleasing state lock.\n", OtherJobFailed},
		{JobDeployProd, mustLog(t, "terraform_lock_s3.log"), ProdDeployFail},
		{JobRollback, mustLog(t, "terraform_lock_s3.log"), RollbackFail},
	} {
		if c := classifyWithLog(t, p, Run{Workflow: "deploy-prod.yml"}, JobInfo{Name: tt.job}, tt.log, envs); c.Scenario != tt.want {
			t.Errorf("%s with log %.40q: got %s, want %s", tt.job, tt.log, c.Scenario, tt.want)
		}
	}
}

// TestRealFailedJob: a real workflow_job delivery's job ("linters") is no runbook job:
// a generic failure of its workflow's environment; renamed to a runbook job, it is
// that job's scenario.
func TestRealFailedJob(t *testing.T) {
	job := mustFailedJob(t)
	p := runbookPipeline()
	envs := runbookEnvs(t)
	c := classifyWithLog(t, p, Run{ID: job.RunID, Workflow: "build-and-promote.yml"}, job, "Run yarn run format-check\n##[error]Process completed with exit code 1.\n", envs)
	if c.Scenario != OtherJobFailed || c.Env != "preprod" {
		t.Errorf("job %q: got %s in %s, want %s in preprod", job.Name, c.Scenario, c.Env, OtherJobFailed)
	}
	job.Name = JobTestsDev
	if c, _ := p.Classify(Run{ID: job.RunID, Workflow: "build-and-promote.yml"}, job, nil, envs); c.Scenario != DevTestsFail || c.Env != "dev" {
		t.Errorf("renamed %q: got %s in %s, want %s in dev", job.Name, c.Scenario, c.Env, DevTestsFail)
	}
}

// TestSeverityPerEnvironment: the runbook's six scenarios and untrusted runs have
// their own severity wherever they happen; the other cases take the environment's,
// or by default prod HIGH, preprod MEDIUM, anything else LOW.
func TestSeverityPerEnvironment(t *testing.T) {
	fixed := map[ScenarioID]Severity{
		DevTestsFail: SeverityLow, PreprodDeployFail: SeverityMedium, PreprodTestsFail: SeverityMedium,
		ProdDeployFail: SeverityHigh, CanaryFail: SeverityCritical, RollbackFail: SeverityCritical,
		UntrustedRunFailed: SeverityLow,
	}
	envs := []struct {
		env  Environment
		want Severity // of the cases rated by environment
	}{
		{Environment{Name: "prod"}, SeverityHigh},
		{Environment{Name: "production"}, SeverityHigh},
		{Environment{Name: "preprod"}, SeverityMedium},
		{Environment{Name: "staging"}, SeverityMedium},
		{Environment{Name: "dev"}, SeverityLow},
		{Environment{Name: "Prod"}, SeverityLow},
		{Environment{Name: ""}, SeverityLow},
		{Environment{Name: "dev", Severity: SeverityCritical}, SeverityCritical},
		{Environment{Name: "prod", Severity: SeverityMedium}, SeverityMedium},
	}
	for _, id := range ScenarioIDs() {
		for _, e := range envs {
			want, ok := fixed[id]
			if !ok {
				want = e.want
			}
			if got := SeverityOf(id, e.env); got != want {
				t.Errorf("SeverityOf(%s, %q rated %s): got %s, want %s", id, e.env.Name, ruleSevName(e.env.Severity), got, want)
			}
		}
	}
	if got := SeverityOf("no-such-scenario", Environment{Name: "prod"}); got != SeverityHigh {
		t.Errorf("an unknown scenario in prod: got %s, want HIGH", got)
	}
}

// TestRuleString: the rule an incident's audit names.
func TestRuleString(t *testing.T) {
	for _, tt := range []struct {
		r    Rule
		want string
	}{
		{Rule{Scenario: CanaryFail, Job: JobCanary, Env: "prod"}, `job "Production Canary Test" → canary-fail`},
		{Rule{Scenario: StateLockHeld, Workflow: "deploy-prod.yml", Log: StateLockLog}, "workflow deploy-prod.yml, log ~ /Error acquiring the state lock/ → state-lock"},
		{Rule{Scenario: OtherJobFailed}, " → job-failed"},
	} {
		if got := tt.r.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestWatches: only the configured workflow files are watched.
func TestWatches(t *testing.T) {
	p := runbookPipeline()
	for _, tt := range []struct {
		wf   string
		want bool
	}{{"deploy-prod.yml", true}, {"build-and-promote.yml", true}, {"codeql.yml", false}, {"", false}, {"Deploy-prod.yml", false}} {
		if got := p.Watches(tt.wf); got != tt.want {
			t.Errorf("Watches(%q): got %v, want %v", tt.wf, got, tt.want)
		}
	}
}

// TestRegistriesNameKnownDiagnostics: a scenario naming a diagnostic medic does not
// have fails at start-up, naming both.
func TestRegistriesNameKnownDiagnostics(t *testing.T) {
	diags := diagnostics()
	delete(diags, DiagSecretsList)
	err := checkRegistries(diags)
	if err == nil || !strings.Contains(err.Error(), "scenario secrets-inaccessible names unknown diagnostic "+string(DiagSecretsList)) {
		t.Errorf("got %v, want secrets-inaccessible naming the unknown %s", err, DiagSecretsList)
	}
}
