package recoverytest

import (
	"time"

	"github.com/medic-ops/medic/recovery"
)

// The runbook's world as the Harness builds it: the repository, the commits, the
// people and groups.
const (
	// Repo is the repository medic serves and trusts runs of.
	Repo = "acme/sentiment-analyzer"
	// GoodSHA is the version every environment last deployed successfully;
	// OlderSHA the one before it. BadSHA is the commit a failed run built.
	GoodSHA  = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
	OlderSHA = "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"
	BadSHA   = "badc0ffee0ddf00d1234567890abcdef12345678"

	// Requester is a responder everywhere: may request, acknowledge and resolve.
	Requester = "U0REQUESTER"
	// Approver is an approver everywhere (and so a responder).
	Approver = "U0APPROVER"
	// Admin is an admin everywhere (and so an approver and a responder).
	Admin = "U0ADMIN"
	// Outsider holds no role.
	Outsider = "U0OUTSIDER"
	// GroupMember is a responder through the user group OnCallGroup.
	GroupMember = "U0GROUPMEMBER"
	// OnCallGroup is the on-call rotation's user group: responders, and the
	// escalation's "oncall" level.
	OnCallGroup = "S0ONCALL"
	// DevOpsGroup is the escalation's "devops" level.
	DevOpsGroup = "S0DEVOPS"
	// Senior and CTO are the escalation's "senior" and "cto" levels.
	Senior = "U0SENIOR"
	CTO    = "U0CTO"
)

// Channel is the alert channel of an environment in RunbookEnvironments ("C0PROD").
func Channel(env string) string {
	switch env {
	case "dev":
		return "C0DEV"
	case "preprod":
		return "C0PREPROD"
	case "prod":
		return "C0PROD"
	}
	return "C0" + env
}

// RunbookEnvironments are the runbook's dev, preprod and prod, configured as in
// medic.example.yaml (prod HIGH and protected, preprod MEDIUM and allowing destructive
// actions, dev LOW), each with its own alert channel (Channel).
func RunbookEnvironments() []recovery.Environment {
	var out []recovery.Environment
	for _, name := range []string{"dev", "preprod", "prod"} {
		env := recovery.Environment{
			Name:            name,
			Region:          "us-east-1",
			Functions:       []string{name + "-sentiment-ingestion", name + "-sentiment-analysis", name + "-sentiment-dashboard"},
			Version:         recovery.VersionSource{Kind: recovery.VersionFromTag, Key: "model_version", ShortPrefix: name + "-sentiment-"},
			AlarmPrefix:     name + "-",
			HealthURL:       "https://" + name + "-dashboard.sentiment.example.com/health",
			HealthKeySecret: name + "/sentiment-analyzer/dashboard-api-key",
			DeployWorkflow:  "build-and-promote.yml",
			DeployBranch:    "main",
			AlertChannel:    Channel(name),
			Table:           name + "-sentiment-items",
			ArtifactsBucket: name + "-sentiment-lambda-deployments",
			SecretsPrefix:   name + "/",
			Severity:        recovery.DefaultSeverity(name),
			LockTable:       "terraform-state-lock-" + name,
			DeployerUser:    "sentiment-analyzer-" + name + "-deployer",
			DeployerPolicy:  "DeploymentPolicy",
			Terraform: recovery.TerraformConfig{
				Dir: "infrastructure/terraform", BackendConfig: []string{"backend-" + name + ".hcl"},
				VarFile: name + ".tfvars", VersionVar: "model_version", LockTimeout: 10 * time.Minute,
			},
		}
		switch name {
		case "prod":
			env.DeployWorkflow = "deploy-prod.yml"
			env.Severity = recovery.SeverityHigh
			env.Protected = true
		case "preprod":
			env.Severity = recovery.SeverityMedium
			env.AllowDestructive = true
		}
		out = append(out, env)
	}
	return out
}

// Workflow is the workflow of the runbook's pipeline that runs job: deploy-prod.yml
// for the production jobs, build-and-promote.yml for the others.
func Workflow(job string) string {
	if recovery.DefaultJobEnvs()[job] == "prod" {
		return "deploy-prod.yml"
	}
	return "build-and-promote.yml"
}

// RunbookPipeline is the runbook's pipeline as medic.example.yaml configures it: the
// default rules and stages, build-and-promote.yml deploying preprod and
// deploy-prod.yml prod, runs of Repo's main branch trusted, untrusted runs' failures
// filed under dev.
func RunbookPipeline() *recovery.Pipeline {
	return &recovery.Pipeline{
		Workflows:       map[string]string{"build-and-promote.yml": "preprod", "deploy-prod.yml": "prod"},
		JobEnvs:         recovery.DefaultJobEnvs(),
		Rules:           recovery.DefaultRules(),
		RollbackJob:     recovery.DefaultRollbackJob,
		StuckAfter:      30 * time.Minute,
		AlarmClearGrace: 15 * time.Minute,
		MaxSignalAge:    24 * time.Hour,
		Trust:           recovery.RunTrust{Repository: Repo, Branches: []string{"main"}, Events: recovery.DefaultTrustedEvents()},
		UntrustedEnv:    "dev",
	}
}

// RunbookEscalation is the runbook's escalation matrix (recovery.DefaultMatrix) and
// levels, with members: oncall is OnCallGroup, devops DevOpsGroup, senior Senior, cto
// CTO; escalation every 15 minutes after the first page.
func RunbookEscalation() *recovery.EscalationPolicy {
	levels := recovery.DefaultLevels()
	members := map[string][]string{"developers": {"S0DEVELOPERS"}, "devops": {DevOpsGroup}, "oncall": {OnCallGroup}, "senior": {Senior}, "cto": {CTO}}
	for name, l := range levels {
		l.Slack = members[name]
		levels[name] = l
	}
	return &recovery.EscalationPolicy{Interval: 15 * time.Minute, Levels: levels, Matrix: recovery.DefaultMatrix(), OnCall: "oncall", Senior: "senior"}
}

// RunbookRoles grants roles in every environment: Requester and OnCallGroup respond,
// Approver approves, Admin administers.
func RunbookRoles() map[string]recovery.RoleMembers {
	return map[string]recovery.RoleMembers{recovery.AllEnvironments: {
		Responders: []string{Requester, OnCallGroup},
		Approvers:  []string{Approver},
		Admins:     []string{Admin},
	}}
}

// RunbookPolicy is medic.example.yaml's: requests wait 15 minutes for approval; in
// dev and preprod a responder re-runs (and plans) without approval.
func RunbookPolicy() recovery.Policy {
	return recovery.Policy{RequestTTL: 15 * time.Minute, SelfService: map[string][]recovery.ActionID{
		"dev":     {recovery.ActRerunFailed, recovery.ActRerun, recovery.ActCancelRun, recovery.ActTerraformPlan},
		"preprod": {recovery.ActRerunFailed, recovery.ActRerun, recovery.ActTerraformPlan},
	}}
}
