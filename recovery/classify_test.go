package recovery

import (
	"testing"
)

func runbookEnvs(tb testing.TB) *Environments {
	tb.Helper()
	envs, err := NewEnvironments([]Environment{
		{Name: "dev", SecretsPrefix: "dev/"},
		{Name: "preprod", SecretsPrefix: "preprod/"},
		{Name: "prod", SecretsPrefix: "prod/"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return envs
}

func runbookPipeline() *Pipeline {
	return &Pipeline{
		Workflows: map[string]string{"build-and-promote.yml": "preprod", "deploy-prod.yml": "prod"},
		JobEnvs:   DefaultJobEnvs(),
		Rules:     DefaultRules(),
	}
}

func TestClassify(t *testing.T) {
	envs := runbookEnvs(t)
	p := runbookPipeline()
	tests := []struct {
		name     string
		workflow string
		job      string
		log      string
		needLog  bool
		want     ScenarioID
		wantEnv  string
	}{
		{"dev tests", "build-and-promote.yml", "Tests (Dev)", "pytest_dev.log", false, DevTestsFail, "dev"},
		{"preprod deploy with a lock stays scenario 2", "build-and-promote.yml", "Deploy to Preprod", "terraform_lock_s3.log", false, PreprodDeployFail, "preprod"},
		{"preprod tests", "build-and-promote.yml", "Preprod Integration Tests", "", false, PreprodTestsFail, "preprod"},
		{"prod deploy", "deploy-prod.yml", "Deploy to Production", "", false, ProdDeployFail, "prod"},
		{"canary", "deploy-prod.yml", "Production Canary Test", "", false, CanaryFail, "prod"},
		{"rollback", "deploy-prod.yml", "Rollback on Failure", "", false, RollbackFail, "prod"},
		{"lock in another job (http backend)", "build-and-promote.yml", "Terraform Plan (preprod)", "terraform_lock_http.log", true, StateLockHeld, "preprod"},
		{"lock in an unnamed job, env from the state path", "deploy-prod.yml", "Terraform Plan", "terraform_lock_s3.log", true, StateLockHeld, "preprod"},
		{"secrets, env from the secret's name", "deploy-prod.yml", "Validate Secrets", "secrets_denied.log", true, SecretsInaccessible, "preprod"},
		{"anything else", "build-and-promote.yml", "Lint", "pytest_dev.log", true, OtherJobFailed, "preprod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := Run{ID: 1, Workflow: tt.workflow}
			job := JobInfo{ID: 2, Name: tt.job, Conclusion: "failure", Status: "completed"}
			c, need := p.Classify(run, job, nil, envs)
			if need != tt.needLog {
				t.Fatalf("needs log: got %v, want %v", need, tt.needLog)
			}
			if need {
				text := mustLog(t, tt.log)
				c, need = p.Classify(run, job, &text, envs)
				if need {
					t.Fatal("still needs the log after getting it")
				}
			}
			if c.Scenario != tt.want || c.Env != tt.wantEnv {
				t.Errorf("got %s in %s (rule %s), want %s in %s", c.Scenario, c.Env, c.Rule, tt.want, tt.wantEnv)
			}
		})
	}
}

func TestSeverityOf(t *testing.T) {
	prod := Environment{Name: "prod", Severity: SeverityHigh}
	dev := Environment{Name: "dev"}
	tests := []struct {
		s    ScenarioID
		env  Environment
		want Severity
	}{
		{DevTestsFail, prod, SeverityLow},
		{CanaryFail, dev, SeverityCritical},
		{WorkflowStuck, prod, SeverityHigh},
		{StateLockHeld, dev, SeverityLow},
		{StateLockHeld, Environment{Name: "preprod"}, SeverityMedium},
	}
	for _, tt := range tests {
		if got := SeverityOf(tt.s, tt.env); got != tt.want {
			t.Errorf("SeverityOf(%s, %s): got %s, want %s", tt.s, tt.env.Name, got, tt.want)
		}
	}
}

func TestRegistriesAreComplete(t *testing.T) {
	if err := checkRegistries(diagnostics()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ScenarioIDs() {
		s, _ := ScenarioByID(id)
		if s.Title == "" || s.Runbook == "" || len(s.Diagnostics) == 0 || len(s.Actions) == 0 {
			t.Errorf("scenario %s is incomplete: %+v", id, s)
		}
		for _, a := range s.Actions {
			if len(ButtonID(a)) > 255 {
				t.Errorf("button ID of %s exceeds Slack's 255 characters", a)
			}
		}
	}
	if a, ok := ParseButtonID(ButtonID(ActRollback)); !ok || a != ActRollback {
		t.Errorf("ParseButtonID round trip: got %q, %v", a, ok)
	}
	if _, ok := ParseButtonID("approve:x"); ok {
		t.Error("a foreign button ID parsed as an action")
	}
}

func TestButtonsFollowTheIncident(t *testing.T) {
	in := Incident{Scenario: PreprodDeployFail, Status: IncidentOpen}
	has := func(in Incident, id ActionID) bool {
		for _, a := range Buttons(in) {
			if a.ID == id {
				return true
			}
		}
		return false
	}
	if has(in, ActForceUnlock) {
		t.Error("Force-unlock offered without a lock")
	}
	in.Lock = &StateLock{ID: "x"}
	if !has(in, ActForceUnlock) {
		t.Error("Force-unlock not offered with a lock")
	}
	if !has(in, ActAcknowledge) || !has(in, ActRefresh) {
		t.Error("Acknowledge and Refresh must be offered on an open incident")
	}
	in.Status = IncidentAcknowledged
	if has(in, ActAcknowledge) {
		t.Error("Acknowledge offered again after acknowledgement")
	}
}

func TestCoversPrefix(t *testing.T) {
	tests := []struct {
		resources []string
		prefix    string
		want      bool
	}{
		{[]string{"arn:aws:secretsmanager:us-east-1:*:secret:prod/*"}, "preprod/", false},
		{[]string{"arn:aws:secretsmanager:us-east-1:*:secret:preprod/*"}, "preprod/", true},
		{[]string{"*"}, "prod/", true},
		{[]string{"arn:aws:secretsmanager:*:*:secret:*"}, "dev/", true},
		{[]string{"arn:aws:s3:::bucket/*"}, "prod/", false},
		{[]string{"arn:aws:secretsmanager:us-east-1:1:secret:pro?/*"}, "prod/", true},
	}
	for _, tt := range tests {
		if got := coversPrefix(tt.resources, tt.prefix); got != tt.want {
			t.Errorf("coversPrefix(%v, %q): got %v, want %v", tt.resources, tt.prefix, got, tt.want)
		}
	}
}
