package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/awsfake"
	"github.com/medic-ops/medic/sandbox/githubfake"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// The runbook's own backend for prod, on the sandbox's AWS.
const (
	s3StateBucket = "medic-e2e-terraform-state"
	s3StateKey    = "prod/terraform.tfstate"
	s3LockTable   = "terraform-state-lock-prod"
	prodRole      = "arn:aws:iam::111111111111:role/medic-prod"
)

// withS3Backend keeps prod's state in the runbook's backend: an S3 bucket with a
// DynamoDB lock table, on the sandbox's AWS, with the settings the Terraform binary's
// version takes.
func withS3Backend(t *testing.T) withSandbox {
	return func(sb *sandbox.Sandbox, w *sandbox.World, cfg *config.Config) {
		if cfg.Terraform.Bin == "" {
			return // needTerraform says so
		}
		v, err := tftest.Version(cfg.Terraform.Bin)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := awsfake.S3BackendConfig(v, sb.AWS.URL(), s3StateBucket, s3StateKey, s3LockTable, "us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		prod := cfg.Environments["prod"]
		prod.Terraform.BackendConfig = kv
		prod.Terraform.LockTimeout = 2 * time.Second
		cfg.Environments["prod"] = prod
		if err := sb.AWS.CreateS3Backend(s3StateBucket, s3LockTable); err != nil {
			t.Fatal(err)
		}
		for i := range w.Envs {
			if w.Envs[i].Name == "prod" {
				w.Envs[i].TerraformBackend = "s3"
			}
		}
	}
}

// terraformCalls are the calls on prod's state (its bucket, its lock table) since the
// mutation numbered from: only Terraform makes them.
func stateMutations(sb *sandbox.Sandbox, from int) []awsfake.Mutation {
	var out []awsfake.Mutation
	for _, m := range sb.AWS.Mutations()[from:] {
		if strings.Contains(m.Input, s3StateBucket) || strings.Contains(m.Input, s3LockTable) {
			out = append(out, m)
		}
	}
	return out
}

// TestRollbackOnS3BackendActsAsTheEnvironmentsRole: prod keeps its state in S3 with a
// DynamoDB lock table. A rollback's preview plans without taking the lock; the job
// applies the approved plan, byte for byte, and every write Terraform makes to the state
// and the lock table is signed by prod's assumed role, never by medic's own
// credentials. Then a lock left in the table by a dead runner is force-unlocked from its
// alert, through Terraform, as prod's role.
func TestRollbackOnS3BackendActsAsTheEnvironmentsRole(t *testing.T) {
	forEachCLI(t, testRollbackOnS3Backend)
}

func testRollbackOnS3Backend(t *testing.T, cli tftest.CLI, bin e2eOption) {
	e, _ := mustStartStaged(t, "", bin, withS3Backend(t))
	needTerraform(t, e)
	cliVersion, err := tftest.Version(e.cfg.Terraform.Bin)
	if err != nil {
		t.Fatal(err)
	}
	good := worldFromConfig(e.cfg).Envs[2].GoodDeploys // prod's, oldest first; it runs the newest
	before := len(e.sb.AWS.Mutations())

	e.command(userAlice, sandboxChannel, "/rollback", "prod")
	req, text := e.waitMessage("the request's preview", func(m slackfake.Message) bool {
		return !m.Ephemeral && strings.Contains(slackfake.Render(m), "requests *Roll back to last good*") && strings.Contains(slackfake.Render(m), "[ Approve")
	})
	wantContains(t, text, good[1][:7], "Plan: 4 to add")
	planSum := regexp.MustCompile(`Saved plan sha256 ([0-9a-f]{16})`).FindStringSubmatch(text)
	if planSum == nil {
		t.Fatalf("no saved plan in the request:\n%s", text)
	}
	for _, m := range stateMutations(e.sb, before) {
		if strings.HasPrefix(m.Op, "dynamodb:") {
			t.Errorf("the preview locked the state: %s %s", m.Op, m.Input)
		}
	}
	wantContains(t, e.press(req, userBob, "approve:request"), "You approved")
	e.waitMessage("the job's end", func(m slackfake.Message) bool {
		return m.ThreadTS == req.TS && strings.Contains(m.Text, "succeeded.")
	})
	e.waitMessage("the applied plan", func(m slackfake.Message) bool {
		return m.ThreadTS == req.TS && strings.Contains(slackfake.Render(m), "Applied the approved plan (sha256 "+planSum[1]+")")
	})

	// The state is in the bucket, at the version rolled back to.
	obj, err := e.sb.AWS.Backend().GetObject(s3StateBucket, s3StateKey, nil)
	if err != nil {
		t.Fatalf("no state in s3://%s/%s: %v", s3StateBucket, s3StateKey, err)
	}
	raw, _ := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	var state struct {
		Version string                         `json:"terraform_version"`
		Outputs map[string]struct{ Value any } `json:"outputs"`
	}
	if err := json.Unmarshal(raw, &state); err != nil || state.Outputs["model_version"].Value != good[1] {
		t.Errorf("state: model_version %v (%v), want %s", state.Outputs["model_version"].Value, err, good[1][:7])
	}
	if state.Version != cliVersion {
		t.Errorf("state written by version %q, want %s %s's", state.Version, cli.Product, cliVersion)
	}
	// Terraform wrote the state and took and released the lock, as prod's role only.
	var writes, locks int
	for _, m := range stateMutations(e.sb, before) {
		if m.Role != prodRole {
			t.Errorf("%s on prod's state signed by %q, want prod's role %s", m.Op, m.Role, prodRole)
		}
		switch m.Op {
		case "s3:PutObject":
			writes++
		case "dynamodb:PutItem", "dynamodb:DeleteItem":
			locks++
		}
	}
	if writes == 0 || locks < 2 {
		t.Errorf("Terraform wrote the state %d times and locked/unlocked %d times, want both", writes, locks)
	}
	for _, c := range e.sb.AWS.Calls() {
		if (strings.HasPrefix(c.Op, "s3:") || strings.HasPrefix(c.Op, "dynamodb:")) && c.AccessKeyID == "AKIASANDBOX0000000" {
			t.Errorf("%s was signed by medic's own key, not an environment's identity", c.Op)
		}
	}

	// A runner died holding prod's lock; the next run fails on it.
	lockID := "0c4a9e27-5b1d-4f8e-a36c-2d7e91b04f58"
	t.Log("holding prod's lock as a dead runner would")
	holdS3Lock(t, e.sb, lockID)
	run := e.sb.GitHub.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Event: "workflow_dispatch", Conclusion: "failure"})
	job := e.sb.GitHub.AddJob(run.ID, githubfake.Job{Name: "Terraform Plan (prod)", Conclusion: "failure", Log: s3LockLog(lockID),
		Steps: []githubfake.Step{{Name: "terraform plan", Conclusion: "failure"}}})
	for _, ev := range []struct {
		name    string
		payload func() (any, error)
	}{
		{"workflow_job", func() (any, error) { return e.sb.GitHub.JobEvent(job.ID, "completed") }},
		{"workflow_run", func() (any, error) { return e.sb.GitHub.RunEvent(run.ID, "completed") }},
	} {
		p, err := ev.payload()
		if err != nil {
			t.Fatal(err)
		}
		if _, status, err := e.sb.GitHub.Deliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, ev.name, p); err != nil || status >= 300 {
			t.Fatalf("delivering %s: %d %v", ev.name, status, err)
		}
	}
	alert, _ := e.waitAlert("Terraform state lock held", "Force-unlock")
	e.openForm(alert, userAlice, "action:force-unlock")
	if ack := e.submitForm(userAlice, map[string]string{recovery.FormReason: "the runner holding it was killed"}); len(ack.Payload) != 0 {
		t.Fatalf("form refused: %s", ack.Payload)
	}
	unlock := e.threadMessage(alert, "requests *Force-unlock* on *prod*", "lock `"+lockID+"`", "[ Approve")
	wantContains(t, slackfake.Render(unlock), "runner@fv-az42")
	unlocking := len(e.sb.AWS.Mutations())
	e.press(unlock, userBob, "approve:request")
	e.threadMessage(alert, ":white_check_mark: terraform force-unlock "+lockID)
	if tbl, _ := e.sb.AWS.Table(s3LockTable); hasLock(tbl) {
		t.Errorf("prod's lock is still in %s", s3LockTable)
	}
	deleted := false
	for _, m := range stateMutations(e.sb, unlocking) {
		if m.Role != prodRole {
			t.Errorf("%s on prod's lock table signed by %q, want %s", m.Op, m.Role, prodRole)
		}
		deleted = deleted || m.Op == "dynamodb:DeleteItem"
	}
	if !deleted {
		t.Error("Terraform did not delete the lock item")
	}
}

// holdS3Lock puts a lock item in prod's lock table as the S3 backend writes it.
func holdS3Lock(t *testing.T, sb *sandbox.Sandbox, id string) {
	t.Helper()
	// As the backend writes it: OpenTofu removes it only then (awsfake.S3BackendLock).
	item, err := awsfake.S3BackendLock{
		ID: id, Operation: "OperationTypeApply", Who: "runner@fv-az42-1",
		Version: "1.5.7", Created: time.Now().Add(-20 * time.Minute).UTC(), Path: s3StateBucket + "/" + s3StateKey,
	}.Item()
	if err != nil {
		t.Fatal(err)
	}
	tbl, ok := sb.AWS.Table(s3LockTable)
	if !ok {
		t.Fatalf("no table %s", s3LockTable)
	}
	tbl.Items = append(tbl.Items, item)
	sb.AWS.PutTable(tbl)
}

func hasLock(t awsfake.Table) bool {
	for _, it := range t.Items {
		if v, _ := json.Marshal(it["LockID"]); strings.Contains(string(v), s3StateKey) && !strings.Contains(string(v), "-md5") {
			return true
		}
	}
	return false
}

// s3LockLog is a failed plan's log as Terraform 1.5's S3 backend writes it.
func s3LockLog(id string) string {
	lines := []string{
		"##[group]Run terraform plan -var-file=prod.tfvars -lock-timeout=10m",
		"╷",
		"│ Error: Error acquiring the state lock",
		"│ ",
		"│ Error message: ConditionalCheckFailedException: The conditional request",
		"│ failed",
		"│ Lock Info:",
		"│   ID:        " + id,
		"│   Path:      " + s3StateBucket + "/" + s3StateKey,
		"│   Operation: OperationTypeApply",
		"│   Who:       runner@fv-az42-1",
		"│   Version:   1.5.7",
		"│   Created:   " + time.Now().Add(-20*time.Minute).UTC().Format("2006-01-02 15:04:05.999999999 -0700 MST"),
		"│   Info:      ",
		"╵",
		"##[error]Process completed with exit code 1.",
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z"), l)
	}
	return b.String()
}

var _ = context.Background
