package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/zap"

	"github.com/medic-ops/medic"
	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/sandbox"
)

// The people and channel of the sandbox's workspace.
const (
	sandboxChannel = "C0MEDICOPS"
	userAlice      = "U0ALICE"
	userBob        = "U0BOB"
	userCarol      = "U0CAROL"
	userMallory    = "U0MALLORY"
	userDave       = "U0DAVE"
	userErin       = "U0ERIN"
	groupOnCall    = "S0ONCALL"
	groupDevOps    = "S0DEVOPS"
	// sandboxRoutingKey is the PagerDuty integration key of the sandbox's service.
	sandboxRoutingKey = "R0SANDBOXPAGERDUTYROUTINGKEY0001"
	// sandboxWebhookSecret signs the sandbox's GitHub webhook deliveries.
	sandboxWebhookSecret = "sandbox-webhook-secret"
)

// sandboxConfig returns the shipped example config pointed at sb: health endpoints on
// the sandbox, the store in dir, the HTTP listener on a free loopback port.
func sandboxConfig(sb *sandbox.Sandbox, dir string) (*config.Config, error) {
	return sandboxConfigFrom(sb, dir, medic.ExampleConfig)
}

// sandboxConfigFrom is sandboxConfig starting from the config file src instead of the
// example: the sandbox's world follows its environments' names (worldFromConfig).
func sandboxConfigFrom(sb *sandbox.Sandbox, dir string, src []byte) (*config.Config, error) {
	cfg, err := onSandbox(sb, dir, src)
	if err != nil {
		return nil, err
	}
	// The sandbox's people: alice is on call (responder and approver), bob approves,
	// carol responds, mallory has no role.
	cfg.Access.Roles = map[string]config.RoleMembers{
		"*": {Responders: []string{userAlice, userCarol}, Approvers: []string{userAlice, userBob}},
	}
	// Who is paged: the on-call group (alice and carol), dave the senior engineer,
	// erin the CTO, the DevOps group (carol).
	sb.Slack.SetUserGroup(groupOnCall, userAlice, userCarol)
	sb.Slack.SetUserGroup(groupDevOps, userCarol)
	cfg.Escalation.Levels = map[string]config.EscalationLevel{
		"oncall": {Slack: []string{groupOnCall}},
		"devops": {Slack: []string{groupDevOps}},
		"senior": {Slack: []string{userDave}},
		"cto":    {Slack: []string{userErin}},
	}
	cfg.Verify.Watch = 0
	if bin, err := tftest.Find(); err == nil {
		cfg.Terraform.Bin = bin
	} else {
		cfg.Terraform.Bin = "" // Terraform actions say it is missing; the rest works
	}
	return cfg, nil
}

// onSandbox parses the config file src and points it at sb: health endpoints and
// Terraform state on the sandbox, the store and Terraform's work in dir, the HTTP
// listeners on free loopback ports, no provider from any registry. Its people and its
// Terraform binary are src's.
func onSandbox(sb *sandbox.Sandbox, dir string, src []byte) (*config.Config, error) {
	cfg, err := config.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("sandbox's config: %w", err)
	}
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Store = "sqlite:" + filepath.Join(dir, "medic.db")
	for name, env := range cfg.Environments {
		env.Health.URL = sb.HealthURL(name)
		// Terraform keeps each environment's state in the sandbox's http backend.
		env.Terraform.BackendConfig = sb.TFState.BackendConfig(name)
		cfg.Environments[name] = env
	}
	// A running job renews its lease every third of it and gives itself up when it
	// could not for a whole lease. The default (30s) leaves a busy machine room: a CPU
	// stall of a few seconds on a 2-core runner must not make a job stop itself. Tests
	// about a lost lease move the time past it themselves.
	cfg.Jobs.Lease = 30 * time.Second
	cfg.Terraform.WorkDir = filepath.Join(dir, "terraform")
	// Terraform runs as another user when medic runs as root: it must reach its work
	// directory. And no provider ever comes from a registry in the sandbox: the only
	// source is an empty directory (the sandbox's configuration uses built-in resources).
	if err := passable(dir); err != nil {
		return nil, err
	}
	cfg.Terraform.PluginDirs = []string{filepath.Join(dir, "providers")}
	if err := os.MkdirAll(cfg.Terraform.PluginDirs[0], 0o755); err != nil {
		return nil, err
	}
	return cfg, nil
}

// passable lets other users pass through dir and its parents below the system's
// temporary directory (a test's temporary directories are private), without letting
// them list anything.
func passable(dir string) error {
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		return err
	}
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for ; strings.HasPrefix(d, tmp+string(filepath.Separator)); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("letting Terraform's user reach %s: %w", d, err)
			}
		}
	}
	return nil
}

// sandboxExternal points medic's clients at sb, with the sandbox's tokens and static
// AWS credentials.
func sandboxExternal(sb *sandbox.Sandbox, now func() time.Time) external {
	return external{
		secrets: config.Secrets{
			SlackAppToken: sb.Slack.AppToken(),
			SlackBotToken: sb.Slack.BotToken(),
			SlackAPIURL:   sb.Slack.APIURL(),
			GitHubAPIURL:  sb.GitHub.URL() + "/",
			GitHubToken:   "ghs_sandbox",
			WebhookSecret: sandboxWebhookSecret,

			PagerDutyRoutingKey: sandboxRoutingKey,
			PagerDutyEventsURL:  sb.PagerDuty.URL(),
		},
		awsEndpoint:    sb.AWS.URL(),
		awsCredentials: credentials.NewStaticCredentialsProvider("AKIASANDBOX0000000", "sandbox-secret-key", ""),
		now:            now,
	}
}

// worldFromConfig describes a healthy world matching cfg's names: every function
// active on the last good deploy, every secret readable, every health endpoint 200.
func worldFromConfig(cfg *config.Config) sandbox.World {
	var w sandbox.World
	for _, e := range cfg.DomainEnvironments() {
		env := sandbox.Env{
			Name:               e.Name,
			Functions:          e.Functions,
			Alarms:             []string{e.AlarmPrefix + "dashboard-errors", e.AlarmPrefix + "analysis-errors", e.AlarmPrefix + "ingestion-throttles"},
			APIKeySecret:       e.HealthKeySecret,
			APIKey:             "sbx-" + e.Name + "-api-key-5f2b9c",
			DeployWorkflow:     e.DeployWorkflow,
			DeployWorkflowName: workflowName(e.DeployWorkflow),
			DeployBranch:       e.DeployBranch,
			GoodDeploys:        []string{fakeSHA(e.Name, 1), fakeSHA(e.Name, 2), fakeSHA(e.Name, 3)},
			Table:              e.Table,
			Bucket:             e.ArtifactsBucket,
			ShortPrefix:        e.Version.ShortPrefix,
			Secrets:            map[string]string{e.SecretsPrefix + "sentiment-analyzer/newsapi": "sbx-newsapi-key"},
		}
		switch e.Version.Kind {
		case "tag":
			env.VersionTag = e.Version.Key
		case "env":
			env.VersionEnv = e.Version.Key
		}
		w.Envs = append(w.Envs, env)
	}
	return w
}

func workflowName(file string) string {
	switch file {
	case "deploy-prod.yml":
		return "Deploy to Production"
	case "build-and-promote.yml":
		return "Build and Promote to Preprod"
	}
	return file
}

// fakeSHA makes a stable, real-looking commit SHA for the sandbox's history.
func fakeSHA(env string, n int) string {
	return fmt.Sprintf("%x", sha1.Sum([]byte(fmt.Sprintf("%s-%d-medic-sandbox-history", env, n))))
}

// offsetClock is real time moved forward on demand: the demo and the tests use it to
// let a deadline pass without waiting for it.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// advance moves the clock forward by d.
func (c *offsetClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// sandboxed is medic running in-process against a sandbox.
type sandboxed struct {
	sb        *sandbox.Sandbox
	cfg       *config.Config
	app       *app
	done      chan error
	stop      context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	// clock is medic's clock when the demo moves it; nil otherwise.
	clock *offsetClock
	// narrate tells the reader what the people do (the demo prints it; tests drop it).
	narrate func(format string, args ...any)
}

// startSandboxed starts medic on cfg against sb and waits until its Socket Mode link
// is up.
func startSandboxed(ctx context.Context, sb *sandbox.Sandbox, cfg *config.Config, ext external, log *zap.Logger) (*sandboxed, error) {
	a, err := newApp(ctx, cfg, ext, log)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	s := &sandboxed{sb: sb, cfg: cfg, app: a, done: make(chan error, 1), stop: stop, narrate: func(string, ...any) {}}
	go func() { s.done <- a.run(runCtx) }()
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for !a.bot.Ready() {
		select {
		case err := <-s.done:
			s.done <- err
			s.close()
			return nil, fmt.Errorf("medic stopped before connecting: %v", err)
		case <-waitCtx.Done():
			s.close()
			return nil, fmt.Errorf("medic did not connect to the sandbox's Slack within 10s")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return s, nil
}

// close stops medic and waits for it; closing again returns the same result.
func (s *sandboxed) close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.closeErr = <-s.done
		s.app.close()
	})
	return s.closeErr
}
