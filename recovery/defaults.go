package recovery

import "time"

// The runbook's defaults, as data: its pipeline's job names and the environment each
// works on, its classification rules, its escalation levels and matrix, and its
// severity by environment. The config starts from these and may replace every one;
// this is the one file of recovery that names environments (dev, preprod, prod), and
// what it names is data, never a rule: protection and destructive actions follow the
// environment's config (Environment.Protected, Environment.AllowDestructive).

// The pipeline's jobs, as the runbook names them.
const (
	JobTestsDev      = "Tests (Dev)"
	JobDeployPreprod = "Deploy to Preprod"
	JobPreprodTests  = "Preprod Integration Tests"
	JobDeployProd    = "Deploy to Production"
	JobCanary        = "Production Canary Test"
	JobRollback      = DefaultRollbackJob
)

// DefaultRules are the runbook's: the six scenarios by job name (the production ones
// first), then the troubleshooting cases by log for any other failed job, then a
// catch-all so no failure in a watched workflow goes unreported.
func DefaultRules() []Rule {
	return []Rule{
		{Scenario: RollbackFail, Job: JobRollback, Env: "prod"},
		{Scenario: CanaryFail, Job: JobCanary, Env: "prod"},
		{Scenario: ProdDeployFail, Job: JobDeployProd, Env: "prod"},
		{Scenario: PreprodDeployFail, Job: JobDeployPreprod, Env: "preprod"},
		{Scenario: PreprodTestsFail, Job: JobPreprodTests, Env: "preprod"},
		{Scenario: DevTestsFail, Job: JobTestsDev, Env: "dev"},
		{Scenario: StateLockHeld, Log: StateLockLog},
		{Scenario: SecretsInaccessible, Log: SecretsErrorLog},
		{Scenario: OtherJobFailed},
	}
}

// DefaultJobEnvs are the pipeline's stages: which environment each job works on.
func DefaultJobEnvs() map[string]string {
	return map[string]string{
		JobTestsDev: "dev", "Build": "dev",
		JobDeployPreprod: "preprod", JobPreprodTests: "preprod",
		JobDeployProd: "prod", JobCanary: "prod", JobRollback: "prod",
	}
}

// defaultSeverities rate environments the way the runbook's quick reference does.
var defaultSeverities = map[string]Severity{
	"prod": SeverityHigh, "production": SeverityHigh,
	"preprod": SeverityMedium, "staging": SeverityMedium,
}

// DefaultSeverity is an environment's severity when the config gives none: prod HIGH,
// preprod MEDIUM (and their other usual names), anything else LOW.
func DefaultSeverity(env string) Severity {
	if s, ok := defaultSeverities[env]; ok {
		return s
	}
	return SeverityLow
}

// DefaultLevels are the runbook's escalation levels, without members: the config
// names who is in each.
func DefaultLevels() map[string]Level {
	return map[string]Level{
		"developers": {Name: "developers", Title: "developers"},
		"devops":     {Name: "devops", Title: "DevOps team", PagerDuty: true},
		"oncall":     {Name: "oncall", Title: "on-call engineer", PagerDuty: true},
		"senior":     {Name: "senior", Title: "senior engineer", PagerDuty: true},
		"cto":        {Name: "cto", Title: "CTO", PagerDuty: true},
	}
}

// DefaultMatrix is the runbook's escalation matrix. Rows are tried in order.
func DefaultMatrix() []MatrixRow {
	return []MatrixRow{
		{Name: "Data corruption", DataCorruption: true, Path: [][]string{{"cto", "senior"}}},
		{Name: "Prod fail (auto-rollback fails)", Scenarios: []ScenarioID{RollbackFail}, Path: [][]string{{"senior"}, {"cto", "senior"}}},
		{Name: "Prod fail (auto-rollback works)", Envs: []string{"prod"}, Response: 15 * time.Minute, Path: [][]string{{"oncall"}, {"senior"}}},
		{Name: "Preprod fail", Envs: []string{"preprod"}, Response: time.Hour, Path: [][]string{{"devops"}, {"oncall"}}},
		{Name: "Dev tests fail", Envs: []string{"dev"}, BestEffort: true},
	}
}

// DefaultRollbackJob is the pipeline's automatic rollback job.
const DefaultRollbackJob = "Rollback on Failure"
