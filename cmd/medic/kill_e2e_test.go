package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/slackfake"
	"github.com/medic-ops/medic/store"
)

// TestCancelJobInterruptsTerraform clicks the alert's Cancel job while Terraform
// applies: the apply gets an interrupt, the job ends cancelled, nothing else runs.
func TestCancelJobInterruptsTerraform(t *testing.T) {
	e, alert := rollbackApplying(t, nil) // cancel only once Terraform really applies
	running, _ := e.waitAlert("Production canary failed", "[ Cancel job")
	got := e.press(running, userCarol, "job-cancel:job")
	wantContains(t, got, "Cancelling job JOB-")
	e.threadMessage(alert, "was cancelled at step 2 (terraform apply of the approved plan")
	if l, held := e.sb.TFState.Lock("prod"); held {
		t.Errorf("the interrupted apply left the prod state locked: %+v", l)
	}
	e.threadMessage(alert, "terraform apply of the approved plan", "failed after")
	if strings.Contains(slackfake.Render(e.threadMessage(alert, "was cancelled")), "[ Retry") {
		t.Error("a cancelled job offers Retry")
	}
	for _, m := range e.sb.Slack.Thread(sandboxChannel, alert.TS) {
		if strings.Contains(m.Text, "Step 4/4") {
			t.Error("a step ran after the cancel")
		}
	}
	wantContains(t, e.audit(incidentOf(t, alert)), "U0CAROL:job.cancel.requested", "medic:job.cancelled")
}

// TestKilledMidJobThenRestarted kills the medic process (SIGKILL, with its Terraform)
// while a rollback applies, starts it again on the same SQLite store, and expects the
// job marked interrupted at once (not when its lease lapses) at the step it reached, said so in the thread with Retry, the
// audit complete, and no mutating step run again.
func TestKilledMidJobThenRestarted(t *testing.T) {
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	dir := t.TempDir()
	cfg, err := sandboxConfig(sb, dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Terraform.Bin == "" {
		missingTerraform(t)
	}
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	prod := cfg.Environments["prod"]
	prod.Terraform.VarFile = "prod-slow.tfvars"
	cfg.Environments["prod"] = prod
	cfg.Listen, cfg.MetricsListen = freeAddr(t), freeAddr(t)
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	c, _ := sandbox.CaseByName("canary-fail")
	st, err := c.Stage(sb, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "medic.yaml")
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(cfgPath); err != nil {
		t.Fatalf("the written config does not load: %v", err)
	}
	bin := filepath.Join(dir, "medic")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building medic: %v\n%s", err, out)
	}
	ext := sandboxExternal(sb, nil)
	env := append(os.Environ(),
		"SLACK_APP_TOKEN="+ext.secrets.SlackAppToken, "SLACK_BOT_TOKEN="+ext.secrets.SlackBotToken,
		"SLACK_API_URL="+ext.secrets.SlackAPIURL, "GITHUB_API_URL="+ext.secrets.GitHubAPIURL,
		"GITHUB_TOKEN=ghs_sandbox", "GITHUB_WEBHOOK_SECRET="+sandboxWebhookSecret,
		"AWS_ENDPOINT_URL="+sb.AWS.URL(), "AWS_ACCESS_KEY_ID=AKIASANDBOX0000000", "AWS_SECRET_ACCESS_KEY=sandbox-secret-key",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PROFILE=", "AWS_CA_BUNDLE=")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfgPath)
		cmd.Env = env
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, with Terraform
		logFile, _ := os.Create(filepath.Join(dir, fmt.Sprintf("medic-%d.log", time.Now().UnixNano())))
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _, _ = cmd.Process.Wait() })
		waitReady(t, "http://"+cfg.MetricsListen+"/readyz")
		return cmd
	}
	ctx := mustCtx(t)
	first := start()
	if err := st.Deliver(ctx, sb, "http://"+cfg.Listen+"/webhooks/github", sandboxWebhookSecret); err != nil {
		t.Fatal(err)
	}
	e := &e2e{t: t, sandboxed: &sandboxed{sb: sb, cfg: cfg}}
	alert, _ := e.waitAlert("Production canary failed")
	e.press(alert, userAlice, "action:rollback")
	req := e.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	e.press(req, userBob, "approve:request")
	e.threadMessage(alert, "Step 2/3: terraform apply of the approved plan")
	waitApplyLock(t, sb, "prod") // kill it inside the apply's minute
	if err := syscall.Kill(-first.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = first.Process.Wait()
	// The job's lease (jobs.lease) still runs: on SQLite the new process owns the
	// store alone, so it knows at once that the job's process is dead.
	if jobs := runningJobs(t, cfg.Store, "prod"); len(jobs) != 1 || !jobs[0].LeaseUntil.After(time.Now().Add(10*time.Second)) {
		t.Fatalf("running jobs of prod after the kill: got %+v, want 1 with its lease running", jobs)
	}

	start()
	note := e.threadMessage(alert, "medic stopped while job JOB-", "at step 2/3 (terraform apply of the approved plan", "nothing was re-run", "[ Retry")
	wantContains(t, slackfake.Render(note), "It was changing prod: check its state before retrying.")
	e.waitAlert("Production canary failed", "interrupted")

	starts := 0
	for _, m := range sb.Slack.Thread(sandboxChannel, alert.TS) {
		if strings.Contains(m.Text, "Step 2/3: terraform apply of the approved plan") {
			starts++
		}
		if strings.Contains(m.Text, "Step 4/4") {
			t.Errorf("the job went on after the restart: %s", m.Text)
		}
	}
	if starts != 1 {
		t.Errorf("terraform apply started %d times, want 1", starts)
	}
	// The audit, read from the store the killed process wrote.
	s, err := store.Open(ctx, cfg.Store, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entries, err := s.Audit(ctx, store.AuditFilter{IncidentID: incidentOf(t, alert)})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range entries {
		actions = append(actions, a.Actor+":"+a.Action)
	}
	audit := strings.Join(actions, " ")
	wantContains(t, audit, "U0ALICE:request.created", "U0BOB:request.approved", "U0BOB:job.created", "medic:job.interrupted")
	if n := strings.Count(audit, "job.created"); n != 1 {
		t.Errorf("jobs created: got %d, want 1", n)
	}
	if n := strings.Count(audit, "medic:job.step"); n != 1 {
		t.Errorf("steps finished: got %d, want 1 (fetch+init; the apply never finished)", n)
	}
}

// lapseJobLeases plays the time it takes a dead medic's jobs to look dead: it moves
// the lease of every running job of env into the past, through the store at url, as
// jobs.lease (30s in tests) passing without a renewal would. It returns how many jobs
// it moved.
func lapseJobLeases(t *testing.T, url, env string) int {
	t.Helper()
	ctx := mustCtx(t)
	s, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jobs, err := s.RunningJobs(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		j.LeaseUntil = time.Now().Add(-time.Second)
		if _, err := s.UpdateJob(ctx, j); err != nil {
			t.Fatalf("moving the lease of %s into the past: %v", j.ID, err)
		}
	}
	return len(jobs)
}

// runningJobs reads env's running jobs from the store at url.
func runningJobs(t *testing.T, url, env string) []recovery.Job {
	t.Helper()
	ctx := mustCtx(t)
	s, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jobs, err := s.RunningJobs(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// rollbackApplying starts medic on the canary failure with prod's Terraform apply
// sleeping a minute (and change made to the config), has alice request and bob approve
// the rollback, and returns once Terraform holds prod's state lock mid-apply.
func rollbackApplying(t *testing.T, change func(*config.Config)) (*e2e, slackfake.Message) {
	t.Helper()
	e, st := mustStartStaged(t, "canary-fail", e2eOption(func(_ *sandbox.World, cfg *config.Config) {
		env := cfg.Environments["prod"]
		env.Terraform.VarFile = "prod-slow.tfvars" // the apply sleeps a minute
		cfg.Environments["prod"] = env
		if change != nil {
			change(cfg)
		}
	}))
	needTerraform(t, e)
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed")
	e.press(alert, userAlice, "action:rollback")
	req := e.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	e.press(req, userBob, "approve:request")
	e.threadMessage(alert, "Step 2/3: terraform apply of the approved plan")
	waitApplyLock(t, e.sb, "prod")
	return e, alert
}

// waitApplyLock waits until a terraform apply holds env's state lock.
func waitApplyLock(t *testing.T, sb *sandbox.Sandbox, env string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if l, held := sb.TFState.Lock(env); held && l.Operation == "OperationTypeApply" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no terraform apply took the %s state lock", env)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("medic never became ready at %s", url)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
