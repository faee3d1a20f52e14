// Package config reads and validates medic's YAML configuration file. Secrets never
// live in the file: tokens come from the environment (see Secrets).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/medic-ops/medic/internal/boundedre"
	"github.com/medic-ops/medic/internal/secreturl"
	"github.com/medic-ops/medic/recovery"
)

// Config is medic's whole configuration, as read from one YAML file.
type Config struct {
	// Listen is the address of the public HTTP listener: the GitHub webhook only.
	Listen string `yaml:"listen"`
	// MetricsListen is the address of the operators' listener: /metrics, /healthz and
	// /readyz, kept off the public port.
	MetricsListen string `yaml:"metrics_listen"`
	// Pprof serves Go's runtime profiles (heap, CPU, goroutines) at /debug/pprof/ on
	// metrics_listen, for finding where time and memory go; off by default.
	Pprof bool `yaml:"pprof"`
	// Store is the store URL: sqlite:PATH (the default, sqlite:medic.db) or postgres://…
	Store string `yaml:"store"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// ShutdownGrace is how long medic lets running work (recovery jobs, queued Slack
	// work) finish after SIGTERM before interrupting it (default 25s): keep it under
	// Kubernetes' terminationGracePeriodSeconds (30s by default).
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`

	Slack        Slack                  `yaml:"slack"`
	GitHub       GitHub                 `yaml:"github"`
	Status       Status                 `yaml:"status"`
	Pipeline     Pipeline               `yaml:"pipeline"`
	Access       Access                 `yaml:"access"`
	Verify       Verify                 `yaml:"verify"`
	Terraform    TerraformBinary        `yaml:"terraform"`
	Previews     Previews               `yaml:"previews"`
	Jobs         Jobs                   `yaml:"jobs"`
	Replicas     Replicas               `yaml:"replicas"`
	Escalation   Escalation             `yaml:"escalation"`
	PagerDuty    PagerDuty              `yaml:"pagerduty"`
	Incidents    Incidents              `yaml:"incidents"`
	Environments map[string]Environment `yaml:"environments"`
}

// Access says who may request and approve recovery actions.
type Access struct {
	// RequestTTL is how long a request waits for approval (default 15m).
	RequestTTL time.Duration `yaml:"request_ttl"`
	// Roles maps an environment name, or "*" for all, to its members. Members are Slack
	// user IDs (U…, W…) or user group IDs (S…).
	Roles map[string]RoleMembers `yaml:"roles"`
	// SelfService lists, per environment, the low-risk actions a responder runs without
	// approval (never in prod, never on a HIGH or CRITICAL incident).
	SelfService map[string][]string `yaml:"self_service"`
	// GroupCacheTTL is how long a user group's members are remembered (default 5m).
	GroupCacheTTL time.Duration `yaml:"group_cache_ttl"`
	// GroupCacheMaxStale is how long past GroupCacheTTL remembered members still count
	// while Slack cannot be asked (default 1h); then roles granted through the group fail
	// closed.
	GroupCacheMaxStale time.Duration `yaml:"group_cache_max_stale"`
}

// RoleMembers lists who holds each role.
type RoleMembers struct {
	Responders []string `yaml:"responders"`
	Approvers  []string `yaml:"approvers"`
	Admins     []string `yaml:"admins"`
}

// Verify configures the verification after a recovery.
type Verify struct {
	// Watch keeps checking for that long after the first check (runbook: 10m; 0: once).
	Watch time.Duration `yaml:"watch"`
	// Interval between checks while watching (default 30s).
	Interval time.Duration `yaml:"interval"`
}

// Replicas tunes running several medic processes on one PostgreSQL store.
type Replicas struct {
	// LeaderLease is how long the leader (the replica running the pollers and the
	// escalation timer) holds its lease without renewing it; a replica takes over at
	// most this long (plus a third of it) after the leader dies (default 15s).
	LeaderLease time.Duration `yaml:"leader_lease"`
	// ID names this replica in logs and in the lease; hostname and process ID when empty.
	ID string `yaml:"id"`
}

// Jobs tunes recovery jobs.
type Jobs struct {
	// Lease is how long a running job stays its medic process's without renewal; a job
	// whose process died is marked interrupted after it (default 30s).
	Lease time.Duration `yaml:"lease"`
}

// TerraformBinary says which terraform medic runs and how it is confined.
type TerraformBinary struct {
	// Bin is the terraform executable (default: terraform on PATH): Terraform 1.4 or later,
	// or OpenTofu 1.6 or later (`tofu`). medic tells them apart at start-up.
	Bin string `yaml:"bin"`
	// WorkDir is where per-job working directories are made (default: the OS temp dir).
	WorkDir string `yaml:"work_dir"`
	// User is who Terraform runs as: a user name or uid:gid. Default: nobody when medic
	// runs as root (it can switch), else medic's own user; "medic" keeps medic's own.
	User string `yaml:"user"`
	// ProviderMirror is a provider network mirror (https URL) and PluginDirs are
	// directories of providers: the only places providers are installed from. With
	// neither, providers come from their registries; never from the sources.
	ProviderMirror string   `yaml:"provider_mirror"`
	PluginDirs     []string `yaml:"plugin_dirs"`
}

// Previews tune the pool requests' previews run on.
type Previews struct {
	// Workers is how many previews run at once (default 2); one per environment at a time.
	Workers int `yaml:"workers"`
	// Queue is how many may wait (default 32); a request beyond it is refused.
	Queue int `yaml:"queue"`
	// Timeout bounds each preview (default 5m); a preview that runs out fails its request.
	Timeout time.Duration `yaml:"timeout"`
}

// Pipeline describes the promotion pipeline medic watches.
type Pipeline struct {
	// Workflows maps each watched workflow file to the environment it deploys, used
	// when a failed job does not say more precisely.
	Workflows map[string]string `yaml:"workflows"`
	// Jobs maps job names to the environment they work on (the pipeline's stages);
	// defaults to the runbook's jobs.
	Jobs map[string]string `yaml:"jobs"`
	// RollbackJob is the pipeline's automatic rollback job.
	RollbackJob string `yaml:"rollback_job"`
	// Rules classify failed jobs into scenarios, first match wins; defaults to the
	// runbook's.
	Rules []RuleConfig `yaml:"rules"`
	// StuckAfter: a run in progress longer than this is stuck (runbook: 30 minutes).
	StuckAfter time.Duration `yaml:"stuck_after"`
	// PollInterval is how often the Actions API is read; 0 turns the poller off.
	PollInterval *time.Duration `yaml:"poll_interval"`
	// AlarmPollInterval is how often CloudWatch alarms are read; 0 turns it off.
	AlarmPollInterval *time.Duration `yaml:"alarm_poll_interval"`
	// AlarmClearGrace: an alarm still in ALARM this long after a fix won't clear.
	AlarmClearGrace time.Duration `yaml:"alarm_clear_grace"`
	// DiagnosticTimeout bounds each diagnostic of an alert.
	DiagnosticTimeout time.Duration `yaml:"diagnostic_timeout"`
	// TrustedBranches are the branches whose runs may drive the runbook (default:
	// github.branch and every environment's deploy.branch).
	TrustedBranches []string `yaml:"trusted_branches"`
	// TrustedEvents are the events whose runs may drive the runbook (default push,
	// workflow_dispatch, schedule, workflow_run); pull_request and its kin never are.
	TrustedEvents []string `yaml:"trusted_events"`
	// MaxSignalAge: deliveries and polled runs about runs older than this are ignored
	// (a captured delivery replayed later opens nothing); default 24h.
	MaxSignalAge time.Duration `yaml:"max_signal_age"`
	// UntrustedEnv is the environment the LOW "checks failed" alerts of untrusted runs
	// (pull requests, forks, other branches) are filed under: its channel and its
	// responders. Default: the environment rated lowest (dev in the runbook); "none"
	// ignores untrusted runs.
	UntrustedEnv string `yaml:"untrusted_env"`
}

// RuleConfig is one classification rule: a failed job matching every field set is the
// named scenario.
type RuleConfig struct {
	Scenario    string `yaml:"scenario"`
	Workflow    string `yaml:"workflow"`
	Job         string `yaml:"job"`
	LogContains string `yaml:"log_contains"`
	LogRegex    string `yaml:"log_regex"`
	Env         string `yaml:"env"`
}

// Slack configures where medic listens and speaks.
type Slack struct {
	// CommandChannels are the channel IDs where slash commands are accepted; empty
	// accepts every channel.
	CommandChannels []string `yaml:"command_channels"`
	// AlertChannel is the default channel ID for alerts.
	AlertChannel string `yaml:"alert_channel"`
	// DrillChannel is the channel ID where /drill is taken and drills are played; empty
	// turns drills off.
	DrillChannel string `yaml:"drill_channel"`
	// Workers bounds how many commands and clicks are handled at once.
	Workers int `yaml:"workers"`
	// Queue is how many acked commands and clicks may wait for a worker; past it medic
	// answers "overloaded" at once.
	Queue int `yaml:"queue"`
}

// GitHub names the repository whose workflows deploy the service.
type GitHub struct {
	Owner string `yaml:"owner"`
	Repo  string `yaml:"repo"`
	// Branch is the default branch deploys come from and reverts go to (default main).
	Branch string `yaml:"branch"`
}

// Status configures /status.
type Status struct {
	// SectionTimeout bounds each section of the report.
	SectionTimeout time.Duration `yaml:"section_timeout"`
	// Freshness is how long a read of an environment's AWS, GitHub and health answers
	// serves the /status asks that follow it (default 5s; 0 shares only reads in
	// flight): a crowd asking at once costs one read.
	Freshness *time.Duration `yaml:"freshness"`
}

// Environment configures one environment.
type Environment struct {
	AWS          AWS    `yaml:"aws"`
	Lambda       Lambda `yaml:"lambda"`
	AlarmPrefix  string `yaml:"alarm_prefix"`
	Health       Health `yaml:"health"`
	Deploy       Deploy `yaml:"deploy"`
	AlertChannel string `yaml:"alert_channel"`
	// DynamoDBTable is the environment's application table.
	DynamoDBTable string `yaml:"dynamodb_table"`
	// ArtifactsBucket holds Lambda artifacts as {function}/lambda-{sha}.zip.
	ArtifactsBucket string `yaml:"artifacts_bucket"`
	// SecretsPrefix is the Secrets Manager name prefix of the environment ("prod/").
	SecretsPrefix string `yaml:"secrets_prefix"`
	// Severity rates the troubleshooting cases in this environment (LOW … CRITICAL);
	// defaults: prod HIGH, preprod MEDIUM, others LOW.
	Severity string `yaml:"severity"`
	// Protected environments always need a second person to approve a recovery
	// action, whatever the incident's severity. Unset: true for an environment named
	// prod or production, false for any other.
	Protected *bool `yaml:"protected"`
	// AllowDestructive environments may be destroyed and recreated and have their test
	// data cleaned; never a protected one. Unset: true for an environment named preprod
	// that is not protected, false for any other.
	AllowDestructive *bool `yaml:"allow_destructive"`
	// Terraform names the environment's state lock table.
	Terraform Terraform `yaml:"terraform"`
	// Deployer is the IAM user the pipeline deploys with, and its inline policy.
	Deployer Deployer `yaml:"deployer"`
}

// Terraform configures an environment's Terraform configuration and state.
type Terraform struct {
	// LockTable is the DynamoDB table of state locks ("terraform-state-lock-prod").
	LockTable string `yaml:"lock_table"`
	// Dir is the configuration's directory in the repository (default infrastructure/terraform).
	Dir string `yaml:"dir"`
	// BackendConfig are `terraform init -backend-config` values: a file in Dir
	// ("backend-prod.hcl") or key=value pairs.
	BackendConfig []string `yaml:"backend_config"`
	// VarFile is the variables file in Dir (default <env>.tfvars).
	VarFile string `yaml:"var_file"`
	// VersionVar selects the deployed version (default model_version).
	VersionVar string `yaml:"version_var"`
	// LockTimeout is passed as -lock-timeout (default 10m, the runbook's).
	LockTimeout time.Duration `yaml:"lock_timeout"`
}

// Deployer names the pipeline's IAM identity in an environment.
type Deployer struct {
	User   string `yaml:"user"`
	Policy string `yaml:"policy"`
}

// AWS says where an environment's resources live and how medic reaches them.
type AWS struct {
	Region  string `yaml:"region"`
	RoleARN string `yaml:"role_arn"`
}

// Lambda lists an environment's functions, where their deployed version lives and
// where the pipeline keeps their packages.
type Lambda struct {
	Functions []string `yaml:"functions"`
	Version   Version  `yaml:"version"`
	// ShortPrefix is removed from a function name to form {short} in artifact keys
	// ("prod-sentiment-": prod-sentiment-dashboard → dashboard).
	ShortPrefix string `yaml:"short_prefix"`
	// ArtifactKey is where a function's package for a SHA lives in the artifacts
	// bucket (default "{short}/lambda-{sha}.zip", the runbook's).
	ArtifactKey string `yaml:"artifact_key"`
}

// Version names exactly one place a function's deployed version is read from.
type Version struct {
	// Tag is a resource tag key of the function ("model_version").
	Tag string `yaml:"tag"`
	// Env is an environment variable of the function ("MODEL_VERSION").
	Env string `yaml:"env"`
	// S3Key is a key pattern in the artifacts bucket, "{short}/lambda-{sha}.zip".
	S3Key string `yaml:"s3_key"`
}

// Health is an environment's health endpoint.
type Health struct {
	URL string `yaml:"url"`
	// APIKeySecret is the Secrets Manager ID whose value is sent as X-API-Key.
	APIKeySecret string `yaml:"api_key_secret"`
}

// Deploy names the workflow whose successful runs deploy the environment.
type Deploy struct {
	Workflow string `yaml:"workflow"`
	Branch   string `yaml:"branch"`
}

// Defaults applied to keys left out of the file.
const (
	DefaultListen         = ":8080"
	DefaultMetricsListen  = ":9090"
	DefaultStore          = "sqlite:medic.db"
	DefaultSectionTimeout = 5 * time.Second
	// DefaultStatusFreshness is how long one read serves the /status asks after it.
	DefaultStatusFreshness = 5 * time.Second
	DefaultWorkers         = 16
	// DefaultSlackQueue holds a crowd: 5,000 people typing /status at once are all
	// answered (a queued command keeps only its few short fields; clicks have a bound of
	// their own, see bot.Options.ClickQueue).
	DefaultSlackQueue = 8192
	DefaultLogLevel   = "info"

	DefaultStuckAfter        = 30 * time.Minute
	DefaultPollInterval      = time.Minute
	DefaultAlarmClearGrace   = 15 * time.Minute
	DefaultDiagnosticTimeout = 10 * time.Second

	DefaultRequestTTL     = 15 * time.Minute
	DefaultGroupCacheTTL  = 5 * time.Minute
	DefaultMaxSignalAge   = 24 * time.Hour
	DefaultVerifyInterval = 30 * time.Second
	// DefaultShutdownGrace leaves a pod 5 s of Kubernetes' default 30 s grace period.
	DefaultShutdownGrace = 25 * time.Second
	DefaultTerraformDir  = "infrastructure/terraform"
	DefaultVersionVar    = "model_version"
	DefaultLockTimeout   = 10 * time.Minute
)

// DefaultSelfService are the low-risk actions a responder runs without approval.
func DefaultSelfService() map[string][]string {
	return map[string][]string{
		"dev":     {"rerun-failed", "rerun", "cancel-run", "tf-plan"},
		"preprod": {"rerun-failed", "rerun", "tf-plan"},
	}
}

// Problem is one thing wrong with a config: the key, what is wrong and how to fix it.
type Problem struct {
	Key string
	Msg string
	Fix string
}

func (p Problem) String() string {
	s := p.Key + ": " + p.Msg
	if p.Fix != "" {
		s += " (fix: " + p.Fix + ")"
	}
	return s
}

// Problems is every problem found in a config. It is returned as an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return fmt.Sprintf("%d problem(s) in the config:\n  %s", len(ps), strings.Join(lines, "\n  "))
}

// Load reads and validates the config file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	return Parse(f)
}

// Parse reads and validates a config. Unknown keys are problems, so a typo never
// silently falls back to a default. On failure the error is a Problems listing
// everything found, or a YAML syntax error with its line.
func Parse(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	if doc.Kind == 0 {
		return nil, Problems{{Key: "(file)", Msg: "the config is empty", Fix: "start from medic.example.yaml"}}
	}
	values := readValues(&doc)
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(zeroDurations(data, values)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{Key: "(file)", Msg: "the config is empty", Fix: "start from medic.example.yaml"}}
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			ps := make(Problems, 0, len(te.Errors))
			for _, e := range te.Errors {
				ps = append(ps, typeProblem(e, values))
			}
			return nil, ps
		}
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	c.applyDefaults()
	if ps := c.Validate(); len(ps) > 0 {
		return nil, ps
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
	c.applyServiceDefaults()
	c.applyEscalationDefaults()
	c.applyRuntimeDefaults()
	c.applyEnvironmentDefaults()
	c.applyPipelineDefaults()
}

// applyServiceDefaults fills the process's own keys: listeners, store, logging,
// Slack, GitHub and the access section.
func (c *Config) applyServiceDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MetricsListen == "" {
		c.MetricsListen = DefaultMetricsListen
	}
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Status.Freshness == nil {
		d := DefaultStatusFreshness
		c.Status.Freshness = &d
	}
	if c.Status.SectionTimeout == 0 {
		c.Status.SectionTimeout = DefaultSectionTimeout
	}
	if c.Slack.Queue == 0 {
		c.Slack.Queue = DefaultSlackQueue
	}
	if c.Slack.Workers == 0 {
		c.Slack.Workers = DefaultWorkers
	}
	if c.GitHub.Branch == "" {
		c.GitHub.Branch = "main"
	}
	if c.Access.RequestTTL == 0 {
		c.Access.RequestTTL = DefaultRequestTTL
	}
	if c.Access.GroupCacheTTL == 0 {
		c.Access.GroupCacheTTL = DefaultGroupCacheTTL
	}
	if c.Access.GroupCacheMaxStale == 0 {
		c.Access.GroupCacheMaxStale = recovery.DefaultGroupMaxStale
	}
	if c.Access.SelfService == nil {
		c.Access.SelfService = DefaultSelfService()
	}
}

// applyRuntimeDefaults fills how recovery work runs: jobs, replicas, verification,
// Terraform and previews.
func (c *Config) applyRuntimeDefaults() {
	if c.Jobs.Lease == 0 {
		c.Jobs.Lease = 30 * time.Second
	}
	if c.Replicas.LeaderLease == 0 {
		c.Replicas.LeaderLease = 15 * time.Second
	}
	if c.Verify.Interval == 0 {
		c.Verify.Interval = DefaultVerifyInterval
	}
	if c.Terraform.Bin == "" {
		c.Terraform.Bin = "terraform"
	}
	if c.Previews.Workers == 0 {
		c.Previews.Workers = recovery.DefaultPreviewWorkers
	}
	if c.Previews.Queue == 0 {
		c.Previews.Queue = recovery.DefaultPreviewQueue
	}
	if c.Previews.Timeout == 0 {
		c.Previews.Timeout = recovery.DefaultPreviewTimeout
	}
}

// applyEnvironmentDefaults fills each environment's alert channel (Slack's), artifact
// key and Terraform settings. Protected and AllowDestructive stay as written: an
// unset one follows the environment's name (see protectedOf).
func (c *Config) applyEnvironmentDefaults() {
	for name, env := range c.Environments {
		if env.AlertChannel == "" {
			env.AlertChannel = c.Slack.AlertChannel
		}
		if env.Lambda.ArtifactKey == "" {
			env.Lambda.ArtifactKey = "{short}/lambda-{sha}.zip"
		}
		tf := &env.Terraform
		if tf.Dir == "" {
			tf.Dir = DefaultTerraformDir
		}
		if tf.VarFile == "" {
			tf.VarFile = name + ".tfvars"
		}
		if tf.VersionVar == "" {
			tf.VersionVar = DefaultVersionVar
		}
		if tf.LockTimeout == 0 {
			tf.LockTimeout = DefaultLockTimeout
		}
		c.Environments[name] = env
	}
}

// applyPipelineDefaults fills the pipeline section; it follows the environments' and
// GitHub's defaults, which it reads.
func (c *Config) applyPipelineDefaults() {
	p := &c.Pipeline
	if len(p.Workflows) == 0 {
		p.Workflows = c.defaultWorkflows()
	}
	if p.Jobs == nil {
		p.Jobs = recovery.DefaultJobEnvs()
	}
	if p.RollbackJob == "" {
		p.RollbackJob = recovery.DefaultRollbackJob
	}
	if p.StuckAfter == 0 {
		p.StuckAfter = DefaultStuckAfter
	}
	if p.MaxSignalAge == 0 {
		p.MaxSignalAge = DefaultMaxSignalAge
	}
	if p.PollInterval == nil {
		d := DefaultPollInterval
		p.PollInterval = &d
	}
	if p.AlarmPollInterval == nil {
		d := DefaultPollInterval
		p.AlarmPollInterval = &d
	}
	if p.AlarmClearGrace == 0 {
		p.AlarmClearGrace = DefaultAlarmClearGrace
	}
	if p.DiagnosticTimeout == 0 {
		p.DiagnosticTimeout = DefaultDiagnosticTimeout
	}
	if len(p.TrustedBranches) == 0 {
		p.TrustedBranches = c.defaultTrustedBranches()
	}
	if len(p.TrustedEvents) == 0 {
		p.TrustedEvents = recovery.DefaultTrustedEvents()
	}
	if p.UntrustedEnv == "" {
		p.UntrustedEnv = c.lowestRatedEnv()
	}
}

// defaultWorkflows watches each environment's deploy workflow; a workflow shared by
// several environments (build-and-promote.yml: dev and preprod) belongs to the one the
// runbook rates highest.
func (c *Config) defaultWorkflows() map[string]string {
	workflows := map[string]string{}
	for _, name := range sortedKeys(c.Environments) {
		wf := c.Environments[name].Deploy.Workflow
		if wf == "" {
			continue
		}
		if cur, ok := workflows[wf]; !ok || severityOf(name, c.Environments[name].Severity) > severityOf(cur, c.Environments[cur].Severity) {
			workflows[wf] = name
		}
	}
	return workflows
}

// defaultTrustedBranches are github.branch and every environment's deploy branch.
func (c *Config) defaultTrustedBranches() []string {
	branches := []string{c.GitHub.Branch}
	for _, name := range sortedKeys(c.Environments) {
		if b := c.Environments[name].Deploy.Branch; b != "" && !slices.Contains(branches, b) {
			branches = append(branches, b)
		}
	}
	return branches
}

// lowestRatedEnv is the environment rated lowest; by name among equals ("" when there
// is none).
func (c *Config) lowestRatedEnv() string {
	lowest := ""
	for _, name := range sortedKeys(c.Environments) {
		e := c.Environments[name]
		if lowest == "" || severityOf(name, e.Severity) < severityOf(lowest, c.Environments[lowest].Severity) {
			lowest = name
		}
	}
	return lowest
}

var (
	envNameRE   = boundedre.MustCompile(`^[a-z][a-z0-9-]*$`, 1, 32)
	channelRE   = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
	regionRE    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	roleARNRE   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
	lambdaRE    = boundedre.MustCompile(`^[A-Za-z0-9_-]+$`, 1, 64)
	workflowRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]+\.ya?ml$`)
	ghNameRE    = boundedre.MustCompile(`^[A-Za-z0-9_.-]+$`, 1, 100)
	tagKeyRE    = boundedre.MustCompile(`^[\w.:/=+@ -]+$`, 1, 128)
	envVarRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	bucketRE    = boundedre.MustCompile(`^[a-z0-9][a-z0-9.-]*[a-z0-9]$`, 3, 63)
	tableRE     = boundedre.MustCompile(`^[A-Za-z0-9_.-]+$`, 3, 255)
	secretIDRE  = boundedre.MustCompile(`^[A-Za-z0-9/_+=.@:-]+$`, 1, 512)
	branchRE    = boundedre.MustCompile(`^[A-Za-z0-9._/-]+$`, 1, 255)
	eventRE     = boundedre.MustCompile(`^[a-z_]+$`, 1, 64)
	userRE      = regexp.MustCompile(`^([a-z_][a-z0-9_-]{0,31}|\d{1,10}:\d{1,10})$`)
	logLevelSet = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}
)

// Validate returns every problem of a config after defaults are applied.
func (c *Config) Validate() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: key, Msg: msg, Fix: fix}) }

	if c.MetricsListen == c.Listen {
		add("metrics_listen", fmt.Sprintf("%q is also listen's address", c.MetricsListen), "serve /metrics and the probes on another address than the public webhook, e.g. :9090 or 127.0.0.1:9090")
	}
	if !logLevelSet[c.LogLevel] {
		add("log_level", fmt.Sprintf("unknown level %q", c.LogLevel), "use debug, info, warn or error")
	}
	if c.ShutdownGrace <= 0 {
		add("shutdown_grace", fmt.Sprintf("%s is not a positive duration", c.ShutdownGrace),
			"use a positive duration below the pod's terminationGracePeriodSeconds (30s by default), e.g. 25s (the default)")
	}
	if !strings.HasPrefix(c.Store, "sqlite:") && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		add("store", fmt.Sprintf("unsupported store URL %q", secreturl.Redact(c.Store)), "use sqlite:PATH (e.g. sqlite:/var/lib/medic/medic.db) or postgres://user@host/db")
	}
	if u, err := url.Parse(c.Store); err == nil && storeURLHasPassword(u) {
		add("store", fmt.Sprintf("%q carries a password", secreturl.Redact(c.Store)), "remove it from the file: secrets come from the environment; set PGPASSWORD (or a PGPASSFILE) for medic instead")
	}
	if f := c.Status.Freshness; f != nil && (*f < 0 || *f > time.Minute) {
		add("status.freshness", fmt.Sprintf("%s is out of range", *f), "use a duration from 0s (share only reads in flight) to 1m, e.g. 5s (the default)")
	}
	if c.Status.SectionTimeout < 0 || c.Status.SectionTimeout > 5*time.Minute {
		add("status.section_timeout", fmt.Sprintf("%s is out of range", c.Status.SectionTimeout), "use a duration between 1s and 5m, e.g. 5s")
	}
	if c.Slack.Workers < 1 || c.Slack.Workers > 1024 {
		add("slack.workers", fmt.Sprintf("%d is out of range", c.Slack.Workers), "use 1 to 1024 (default 16)")
	}
	if c.Slack.Queue < 16 || c.Slack.Queue > 65536 {
		add("slack.queue", fmt.Sprintf("%d is out of range", c.Slack.Queue), fmt.Sprintf("use 16 to 65536 (default %d)", DefaultSlackQueue))
	}
	for i, ch := range c.Slack.CommandChannels {
		if !channelRE.MatchString(ch) {
			add(fmt.Sprintf("slack.command_channels[%d]", i), fmt.Sprintf("%q is not a Slack channel ID", ch), "use the channel's ID (C…), from the channel's details in Slack, not its name")
		}
	}
	if c.Slack.AlertChannel != "" && !channelRE.MatchString(c.Slack.AlertChannel) {
		add("slack.alert_channel", fmt.Sprintf("%q is not a Slack channel ID", c.Slack.AlertChannel), "use the channel's ID (C…), not its name")
	}
	if c.Slack.DrillChannel != "" && !channelRE.MatchString(c.Slack.DrillChannel) {
		add("slack.drill_channel", fmt.Sprintf("%q is not a Slack channel ID", c.Slack.DrillChannel), "use the channel's ID (C…), not its name")
	}
	if d := c.Slack.DrillChannel; d != "" && (d == c.Slack.AlertChannel || slices.Contains(c.Slack.CommandChannels, d)) {
		add("slack.drill_channel", "is also a channel of real alerts or commands", "give drills a channel of their own: everything typed or clicked there goes to the drill")
	}
	for name, e := range c.Environments {
		if d := c.Slack.DrillChannel; d != "" && e.AlertChannel == d {
			add("slack.drill_channel", fmt.Sprintf("is also environment %s's alert channel", name), "give drills a channel of their own: everything typed or clicked there goes to the drill")
		}
	}
	if !ghNameRE.MatchString(c.GitHub.Owner) {
		add("github.owner", fmt.Sprintf("%q is not a GitHub owner", c.GitHub.Owner), "set the organisation or user that owns the repository")
	}
	if !branchRE.MatchString(c.GitHub.Branch) || strings.Contains(c.GitHub.Branch, "..") {
		add("github.branch", fmt.Sprintf("%q is not a branch name", c.GitHub.Branch), "use the default branch, e.g. main")
	}
	if !ghNameRE.MatchString(c.GitHub.Repo) {
		add("github.repo", fmt.Sprintf("%q is not a GitHub repository name", c.GitHub.Repo), "set the repository name without the owner")
	}
	ps = append(ps, c.validateEnvironments()...)
	ps = append(ps, c.validatePipeline()...)
	ps = append(ps, c.validateAccess()...)
	ps = append(ps, c.validateRuntime()...)
	ps = append(ps, c.validateTerraform()...)
	ps = append(ps, c.validateEscalation()...)
	return ps
}

// validateEnvironments checks each environment, then that they all assume roles or
// none does.
func (c *Config) validateEnvironments() Problems {
	var ps Problems
	if len(c.Environments) == 0 {
		ps = append(ps, Problem{Key: "environments", Msg: "no environment is configured", Fix: "add at least one, e.g. environments: {prod: {...}}"})
	}
	for _, name := range sortedKeys(c.Environments) {
		ps = append(ps, validateEnv(name, c.Environments[name])...)
	}
	ps = append(ps, c.validateDestructiveResources()...)
	// medic's own AWS identity is the one that assumes the environments' roles: an
	// environment without a role would hand it to Terraform (and its providers) there.
	var withRole []string
	for _, name := range sortedKeys(c.Environments) {
		if c.Environments[name].AWS.RoleARN != "" {
			withRole = append(withRole, name)
		}
	}
	if len(withRole) == 0 {
		return ps
	}
	for _, name := range sortedKeys(c.Environments) {
		if c.Environments[name].AWS.RoleARN == "" {
			ps = append(ps, Problem{Key: "environments." + name + ".aws.role_arn",
				Msg: fmt.Sprintf("is not set while %s assume roles: Terraform in %s would get medic's own AWS credentials, which can assume those roles", strings.Join(withRole, ", "), name),
				Fix: "give " + name + " a role of its own, with only " + name + "'s permissions"})
		}
	}
	return ps
}

var memberRE = regexp.MustCompile(`^[UWS][A-Z0-9]{2,}$`)

func (c *Config) validateAccess() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: key, Msg: msg, Fix: fix}) }
	envList := strings.Join(sortedKeys(c.Environments), ", ")
	if c.Access.GroupCacheMaxStale < 0 || c.Access.GroupCacheMaxStale > 7*24*time.Hour {
		add("access.group_cache_max_stale", fmt.Sprintf("%s is out of range", c.Access.GroupCacheMaxStale), "use up to 168h (default 1h)")
	}
	if c.Access.RequestTTL < time.Minute || c.Access.RequestTTL > 24*time.Hour {
		add("access.request_ttl", fmt.Sprintf("%s is out of range", c.Access.RequestTTL), "use 1m to 24h (default 15m)")
	}
	for _, env := range sortedKeys(c.Access.Roles) {
		if _, ok := c.Environments[env]; !ok && env != recovery.AllEnvironments {
			add("access.roles."+env, "is not a configured environment", "use one of: "+envList+", or \"*\" for all")
		}
		m := c.Access.Roles[env]
		for role, ids := range map[string][]string{"responders": m.Responders, "approvers": m.Approvers, "admins": m.Admins} {
			for i, id := range ids {
				if !memberRE.MatchString(id) {
					add(fmt.Sprintf("access.roles.%s.%s[%d]", env, role, i), fmt.Sprintf("%q is not a Slack user or user group ID", id), "use the member's ID (U…/W…) or the user group's ID (S…), not a name")
				}
			}
		}
	}
	for _, env := range sortedKeys(c.Access.SelfService) {
		if _, ok := c.Environments[env]; !ok {
			if _, isDefault := DefaultSelfService()[env]; !isDefault {
				add("access.self_service."+env, "is not a configured environment", "use one of: "+envList)
			}
		}
		for i, a := range c.Access.SelfService[env] {
			act, ok := recovery.ActionByID(recovery.ActionID(a))
			if !ok || act.Kind != recovery.Mutating {
				add(fmt.Sprintf("access.self_service.%s[%d]", env, i), fmt.Sprintf("%q is not an action", a), "use action IDs such as rerun-failed, rerun, cancel-run, tf-plan")
			} else if act.Restricted {
				add(fmt.Sprintf("access.self_service.%s[%d]", env, i), fmt.Sprintf("%s is destructive and always needs approval", a), "remove it")
			}
		}
	}
	return ps
}

// validateRuntime checks how recovery work runs: verification, replicas, jobs and
// previews.
func (c *Config) validateRuntime() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: key, Msg: msg, Fix: fix}) }
	if c.Verify.Watch < 0 || c.Verify.Watch > time.Hour {
		add("verify.watch", fmt.Sprintf("%s is out of range", c.Verify.Watch), "use 0 (check once) to 1h; the runbook watches 10m")
	}
	if c.Replicas.LeaderLease < 3*time.Second || c.Replicas.LeaderLease > 5*time.Minute {
		add("replicas.leader_lease", fmt.Sprintf("%s is out of range", c.Replicas.LeaderLease), "use 3s to 5m (default 15s)")
	}
	if c.Jobs.Lease < time.Second || c.Jobs.Lease > 10*time.Minute {
		add("jobs.lease", fmt.Sprintf("%s is out of range", c.Jobs.Lease), "use 1s to 10m (default 30s)")
	}
	if c.Verify.Interval < time.Second {
		add("verify.interval", fmt.Sprintf("%s is too short", c.Verify.Interval), "use at least 1s (default 30s)")
	}
	if c.Previews.Workers < 1 || c.Previews.Workers > 16 {
		add("previews.workers", fmt.Sprintf("%d is out of range", c.Previews.Workers), "use 1 to 16 (default 2)")
	}
	if c.Previews.Queue < 1 || c.Previews.Queue > 1024 {
		add("previews.queue", fmt.Sprintf("%d is out of range", c.Previews.Queue), "use 1 to 1024 (default 32)")
	}
	if c.Previews.Timeout < 10*time.Second || c.Previews.Timeout > time.Hour {
		add("previews.timeout", fmt.Sprintf("%s is out of range", c.Previews.Timeout), "use 10s to 1h (default 5m)")
	}
	return ps
}

// validateTerraform checks the terraform section and each environment's terraform
// keys.
func (c *Config) validateTerraform() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: key, Msg: msg, Fix: fix}) }
	if m := c.Terraform.ProviderMirror; m != "" {
		if u, err := url.Parse(m); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			add("terraform.provider_mirror", fmt.Sprintf("%q is not an https URL", m), "use the mirror's base URL, e.g. https://terraform-mirror.example.com/providers/")
		}
	}
	for i, d := range c.Terraform.PluginDirs {
		if !strings.HasPrefix(d, "/") || strings.ContainsAny(d, "\"\\\n$%") {
			add(fmt.Sprintf("terraform.plugin_dirs[%d]", i), fmt.Sprintf("%q is not an absolute directory path", d), "use an absolute path such as /opt/terraform/providers")
		}
	}
	if u := c.Terraform.User; u != "" && u != "medic" && !userRE.MatchString(u) {
		add("terraform.user", fmt.Sprintf("%q is not a user name or uid:gid", u), "use a user such as nobody, or uid:gid such as 65534:65534, or medic")
	}
	for _, name := range sortedKeys(c.Environments) {
		tf := c.Environments[name].Terraform
		k := "environments." + name + ".terraform"
		if strings.HasPrefix(tf.Dir, "/") || strings.Contains(tf.Dir, "..") {
			add(k+".dir", fmt.Sprintf("%q must be a path inside the repository", tf.Dir), "use a relative path such as infrastructure/terraform")
		}
		if strings.Contains(tf.VarFile, "..") || strings.HasPrefix(tf.VarFile, "/") {
			add(k+".var_file", fmt.Sprintf("%q must be a file in the Terraform directory", tf.VarFile), "use a name such as prod.tfvars")
		}
		if !envVarRE.MatchString(tf.VersionVar) {
			add(k+".version_var", fmt.Sprintf("%q is not a variable name", tf.VersionVar), "use the variable that selects the version, e.g. model_version")
		}
	}
	return ps
}

// DomainAccess converts the access section into recovery's roles and policy.
func (c *Config) DomainAccess() (map[string]recovery.RoleMembers, recovery.Policy) {
	roles := map[string]recovery.RoleMembers{}
	for env, m := range c.Access.Roles {
		roles[env] = recovery.RoleMembers{Responders: m.Responders, Approvers: m.Approvers, Admins: m.Admins}
	}
	p := recovery.Policy{RequestTTL: c.Access.RequestTTL, SelfService: map[string][]recovery.ActionID{}}
	for env, actions := range c.Access.SelfService {
		for _, a := range actions {
			p.SelfService[env] = append(p.SelfService[env], recovery.ActionID(a))
		}
	}
	return roles, p
}

func (c *Config) validatePipeline() Problems {
	var ps Problems
	ps = append(ps, c.validatePipelineStages()...)
	for i, r := range c.Pipeline.Rules {
		ps = append(ps, c.validateRule(fmt.Sprintf("pipeline.rules[%d]", i), r)...)
	}
	ps = append(ps, c.validatePipelineTiming()...)
	ps = append(ps, c.validatePipelineTrust()...)
	return ps
}

// validatePipelineStages checks pipeline.workflows and pipeline.jobs.
func (c *Config) validatePipelineStages() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: "pipeline." + key, Msg: msg, Fix: fix}) }
	p := c.Pipeline
	envList := strings.Join(sortedKeys(c.Environments), ", ")
	if len(p.Workflows) == 0 {
		add("workflows", "no workflow is watched", "map each workflow file to its environment, e.g. {deploy-prod.yml: prod}")
	}
	deployWorkflows := map[string]bool{}
	for _, e := range c.Environments {
		deployWorkflows[e.Deploy.Workflow] = true
	}
	for _, wf := range sortedKeys(p.Workflows) {
		if !workflowRE.MatchString(wf) && !deployWorkflows[wf] { // deploy workflows are checked with their environment
			add("workflows."+wf, "is not a workflow file name", "use the file name under .github/workflows, e.g. deploy-prod.yml")
		}
		if _, ok := c.Environments[p.Workflows[wf]]; !ok {
			add("workflows."+wf, fmt.Sprintf("environment %q is not configured", p.Workflows[wf]), "use one of: "+envList)
		}
	}
	for _, job := range sortedKeys(p.Jobs) {
		if _, ok := c.Environments[p.Jobs[job]]; !ok && len(c.Environments) > 0 {
			if _, isDefault := recovery.DefaultJobEnvs()[job]; isDefault && len(c.Pipeline.Jobs) == len(recovery.DefaultJobEnvs()) {
				continue // a default stage for an environment this install does not have
			}
			add(fmt.Sprintf("jobs[%q]", job), fmt.Sprintf("environment %q is not configured", p.Jobs[job]), "use one of: "+envList)
		}
	}
	return ps
}

// validateRule checks one classification rule, key being pipeline.rules[i].
func (c *Config) validateRule(key string, r RuleConfig) Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: key, Msg: msg, Fix: fix}) }
	if recovery.ScenarioID(r.Scenario) == recovery.UntrustedRunFailed {
		add(key+".scenario", "untrusted-run-failed is what runs medic does not trust get; no rule gives it", "use another scenario, or pipeline.trusted_* to say which runs are trusted")
	} else if _, ok := recovery.ScenarioByID(recovery.ScenarioID(r.Scenario)); !ok {
		var ids []string
		for _, id := range recovery.ScenarioIDs() {
			ids = append(ids, string(id))
		}
		add(key+".scenario", fmt.Sprintf("unknown scenario %q", r.Scenario), "use one of: "+strings.Join(ids, ", "))
	}
	if r.Env != "" {
		if _, ok := c.Environments[r.Env]; !ok {
			add(key+".env", fmt.Sprintf("environment %q is not configured", r.Env), "use one of: "+strings.Join(sortedKeys(c.Environments), ", "))
		}
	}
	if r.LogContains != "" && r.LogRegex != "" {
		add(key, "log_contains and log_regex are both set", "keep one")
	}
	if r.LogRegex != "" {
		if _, err := regexp.Compile(r.LogRegex); err != nil {
			add(key+".log_regex", "does not compile: "+err.Error(), "write a Go (RE2) regular expression")
		}
	}
	return ps
}

// validatePipelineTiming checks the pipeline's durations.
func (c *Config) validatePipelineTiming() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: "pipeline." + key, Msg: msg, Fix: fix}) }
	p := c.Pipeline
	if p.StuckAfter < time.Minute {
		add("stuck_after", fmt.Sprintf("%s is too short", p.StuckAfter), "use at least 1m (runbook: 30m)")
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
	}{{"poll_interval", p.PollInterval}, {"alarm_poll_interval", p.AlarmPollInterval}} {
		if d.v != nil && *d.v != 0 && *d.v < 10*time.Second {
			add(d.key, fmt.Sprintf("%s is too short", *d.v), "use 0 (off) or at least 10s, mind GitHub's and AWS's rate limits")
		}
	}
	if p.MaxSignalAge < time.Hour || p.MaxSignalAge > 30*24*time.Hour {
		add("max_signal_age", fmt.Sprintf("%s is out of range", p.MaxSignalAge), "use 1h to 720h (default 24h)")
	}
	if p.DiagnosticTimeout < 0 || p.DiagnosticTimeout > 5*time.Minute {
		add("diagnostic_timeout", fmt.Sprintf("%s is out of range", p.DiagnosticTimeout), "use 1s to 5m (default 10s)")
	}
	return ps
}

// validatePipelineTrust checks which runs are trusted and where untrusted runs go.
func (c *Config) validatePipelineTrust() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: "pipeline." + key, Msg: msg, Fix: fix}) }
	p := c.Pipeline
	for i, b := range p.TrustedBranches {
		if !branchRE.MatchString(b) || strings.Contains(b, "..") {
			add(fmt.Sprintf("trusted_branches[%d]", i), fmt.Sprintf("%q is not a branch name", b), "use branch names such as main")
		}
	}
	for i, ev := range p.TrustedEvents {
		switch {
		case slices.Contains(recovery.UntrustedEvents, ev):
			add(fmt.Sprintf("trusted_events[%d]", i), fmt.Sprintf("%s runs carry code or choices of people outside the repository's writers (a pull request's author)", ev),
				"remove it: such runs only ever get a LOW \"checks failed\" alert")
		case !eventRE.MatchString(ev):
			add(fmt.Sprintf("trusted_events[%d]", i), fmt.Sprintf("%q is not a GitHub event name", ev), "use names such as push, workflow_dispatch, schedule, workflow_run")
		}
	}
	if u := p.UntrustedEnv; u != "none" {
		if _, ok := c.Environments[u]; !ok && len(c.Environments) > 0 {
			add("untrusted_env", fmt.Sprintf("environment %q is not configured", u), "use one of: "+strings.Join(sortedKeys(c.Environments), ", ")+", or none to ignore untrusted runs")
		}
	}
	return ps
}

// DomainPipeline converts the pipeline section into recovery's Pipeline.
func (c *Config) DomainPipeline() *recovery.Pipeline {
	p := &recovery.Pipeline{
		Workflows:       map[string]string{},
		JobEnvs:         map[string]string{},
		RollbackJob:     c.Pipeline.RollbackJob,
		MaxSignalAge:    c.Pipeline.MaxSignalAge,
		StuckAfter:      c.Pipeline.StuckAfter,
		AlarmClearGrace: c.Pipeline.AlarmClearGrace,
		Trust:           c.RunTrust(),
	}
	if c.Pipeline.UntrustedEnv != "none" {
		p.UntrustedEnv = c.Pipeline.UntrustedEnv
	}
	for k, v := range c.Pipeline.Workflows {
		p.Workflows[k] = v
	}
	for k, v := range c.Pipeline.Jobs {
		if _, ok := c.Environments[v]; ok {
			p.JobEnvs[k] = v
		}
	}
	if len(c.Pipeline.Rules) == 0 {
		for _, r := range recovery.DefaultRules() {
			if r.Env != "" {
				if _, ok := c.Environments[r.Env]; !ok {
					continue // e.g. no dev environment configured
				}
			}
			p.Rules = append(p.Rules, r)
		}
		return p
	}
	for _, rc := range c.Pipeline.Rules {
		r := recovery.Rule{Scenario: recovery.ScenarioID(rc.Scenario), Workflow: rc.Workflow, Job: rc.Job, Env: rc.Env}
		switch {
		case rc.LogContains != "":
			r.Log = regexp.MustCompile(regexp.QuoteMeta(rc.LogContains))
		case rc.LogRegex != "":
			r.Log = regexp.MustCompile(rc.LogRegex)
		}
		p.Rules = append(p.Rules, r)
	}
	return p
}

// RunTrust is which runs may drive the runbook: the repository's own, on a trusted
// branch, from a trusted event.
func (c *Config) RunTrust() recovery.RunTrust {
	return recovery.RunTrust{
		Repository: c.GitHub.Owner + "/" + c.GitHub.Repo,
		Branches:   slices.Clone(c.Pipeline.TrustedBranches),
		Events:     slices.Clone(c.Pipeline.TrustedEvents),
	}
}

func validateEnv(name string, e Environment) Problems {
	var ps Problems
	k := "environments." + name
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: k + key, Msg: msg, Fix: fix}) }
	if !envNameRE.MatchString(name) {
		add("", fmt.Sprintf("%q is not a valid environment name", name), "use lowercase letters, digits and dashes, starting with a letter (e.g. prod)")
	}
	if !regionRE.MatchString(e.AWS.Region) {
		add(".aws.region", fmt.Sprintf("%q is not an AWS region", e.AWS.Region), "set the region of the environment's resources, e.g. us-east-1")
	}
	if e.AWS.RoleARN != "" && !roleARNRE.MatchString(e.AWS.RoleARN) {
		add(".aws.role_arn", fmt.Sprintf("%q is not an IAM role ARN", e.AWS.RoleARN), "use arn:aws:iam::ACCOUNT:role/NAME, or remove the key to use the default credentials")
	}
	validateEnvLambda(e, add)
	if e.AlarmPrefix == "" {
		add(".alarm_prefix", "no alarm prefix is set", `set the prefix of the environment's alarm names, e.g. "prod-"`)
	}
	validateEnvEndpoints(e, add)
	validateEnvResources(e, add)
	validateEnvPolicy(name, e, add)
	return ps
}

// validateEnvLambda checks an environment's functions and where their version lives;
// add takes keys relative to the environment (".lambda.functions").
func validateEnvLambda(e Environment, add func(key, msg, fix string)) {
	if len(e.Lambda.Functions) == 0 {
		add(".lambda.functions", "no Lambda function is listed", "list the environment's function names")
	}
	seen := map[string]bool{}
	for i, f := range e.Lambda.Functions {
		if !lambdaRE.MatchString(f) {
			add(fmt.Sprintf(".lambda.functions[%d]", i), fmt.Sprintf("%q is not a Lambda function name", f), "use the function's name (letters, digits, - and _), not its ARN")
		}
		if seen[f] {
			add(fmt.Sprintf(".lambda.functions[%d]", i), fmt.Sprintf("%q is listed twice", f), "remove the duplicate")
		}
		seen[f] = true
	}
	v := e.Lambda.Version
	set := 0
	for _, s := range []string{v.Tag, v.Env, v.S3Key} {
		if s != "" {
			set++
		}
	}
	switch {
	case set != 1:
		add(".lambda.version", "exactly one of tag, env or s3_key must be set", "e.g. version: {tag: model_version}")
	case v.Tag != "" && !tagKeyRE.MatchString(v.Tag):
		add(".lambda.version.tag", fmt.Sprintf("%q is not a tag key", v.Tag), "use the tag key that holds the deployed version")
	case v.Env != "" && !envVarRE.MatchString(v.Env):
		add(".lambda.version.env", fmt.Sprintf("%q is not an environment variable name", v.Env), "use the variable name, e.g. MODEL_VERSION")
	case v.S3Key != "":
		if !strings.Contains(v.S3Key, "{sha}") {
			add(".lambda.version.s3_key", fmt.Sprintf("%q has no {sha} placeholder", v.S3Key), `use a pattern like "{short}/lambda-{sha}.zip"`)
		}
		if e.ArtifactsBucket == "" {
			add(".artifacts_bucket", "s3_key needs the artifacts bucket", "set artifacts_bucket to the bucket holding the Lambda artifacts")
		}
	}
}

// validateEnvEndpoints checks what medic calls or watches in an environment: its
// health endpoint, deploy workflow and alert channel.
func validateEnvEndpoints(e Environment, add func(key, msg, fix string)) {
	if e.Health.URL != "" {
		u, err := url.Parse(e.Health.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(".health.url", fmt.Sprintf("%q is not an http(s) URL", e.Health.URL), "use the full URL of the health endpoint, e.g. https://dashboard.example.com/health")
		} else if u.User != nil {
			add(".health.url", "the URL carries credentials", "remove user:password from the URL; the API key comes from health.api_key_secret")
		}
	} else {
		add(".health.url", "no health endpoint is set", "set the URL medic calls to check the environment")
	}
	if e.Health.APIKeySecret != "" && !secretIDRE.MatchString(e.Health.APIKeySecret) {
		add(".health.api_key_secret", fmt.Sprintf("%q is not a Secrets Manager ID", e.Health.APIKeySecret), "use the secret's name or ARN")
	}
	if !workflowRE.MatchString(e.Deploy.Workflow) {
		add(".deploy.workflow", fmt.Sprintf("%q is not a workflow file name", e.Deploy.Workflow), "use the file name under .github/workflows, e.g. deploy-prod.yml")
	}
	if e.Deploy.Branch != "" && !branchRE.MatchString(e.Deploy.Branch) {
		add(".deploy.branch", fmt.Sprintf("%q is not a branch name", e.Deploy.Branch), "use a branch name such as main, or remove the key")
	}
	if e.AlertChannel != "" && !channelRE.MatchString(e.AlertChannel) {
		add(".alert_channel", fmt.Sprintf("%q is not a Slack channel ID", e.AlertChannel), "use the channel's ID (C…), not its name")
	}
}

// validateEnvResources checks the names of an environment's AWS resources and its
// severity.
func validateEnvResources(e Environment, add func(key, msg, fix string)) {
	if e.DynamoDBTable != "" && !tableRE.MatchString(e.DynamoDBTable) {
		add(".dynamodb_table", fmt.Sprintf("%q is not a DynamoDB table name", e.DynamoDBTable), "use the table's name")
	}
	if e.ArtifactsBucket != "" && !bucketRE.MatchString(e.ArtifactsBucket) {
		add(".artifacts_bucket", fmt.Sprintf("%q is not an S3 bucket name", e.ArtifactsBucket), "use the bucket's name without s3://")
	}
	if e.Severity != "" {
		if _, err := recovery.ParseSeverity(e.Severity); err != nil {
			add(".severity", err.Error(), "use LOW, MEDIUM, HIGH or CRITICAL")
		}
	}
	if e.Terraform.LockTable != "" && !tableRE.MatchString(e.Terraform.LockTable) {
		add(".terraform.lock_table", fmt.Sprintf("%q is not a DynamoDB table name", e.Terraform.LockTable), "use the lock table's name, e.g. terraform-state-lock-prod")
	}
	if (e.Deployer.User == "") != (e.Deployer.Policy == "") {
		add(".deployer", "user and policy go together", "set both deployer.user and deployer.policy, or neither")
	}
}

// DomainEnvironments converts the config's environments into recovery's domain values,
// sorted by name.
func (c *Config) DomainEnvironments() []recovery.Environment {
	out := make([]recovery.Environment, 0, len(c.Environments))
	for _, name := range sortedKeys(c.Environments) {
		e := c.Environments[name]
		vs := recovery.VersionSource{ShortPrefix: e.Lambda.ShortPrefix}
		switch {
		case e.Lambda.Version.Tag != "":
			vs.Kind, vs.Key = recovery.VersionFromTag, e.Lambda.Version.Tag
		case e.Lambda.Version.Env != "":
			vs.Kind, vs.Key = recovery.VersionFromEnv, e.Lambda.Version.Env
		default:
			vs.Kind, vs.Key = recovery.VersionFromS3Key, e.Lambda.Version.S3Key
		}
		out = append(out, recovery.Environment{
			Name:             name,
			Region:           e.AWS.Region,
			RoleARN:          e.AWS.RoleARN,
			Functions:        append([]string(nil), e.Lambda.Functions...),
			Version:          vs,
			AlarmPrefix:      e.AlarmPrefix,
			HealthURL:        e.Health.URL,
			HealthKeySecret:  e.Health.APIKeySecret,
			DeployWorkflow:   e.Deploy.Workflow,
			DeployBranch:     e.Deploy.Branch,
			AlertChannel:     e.AlertChannel,
			Table:            e.DynamoDBTable,
			ArtifactsBucket:  e.ArtifactsBucket,
			SecretsPrefix:    e.SecretsPrefix,
			Severity:         severityOf(name, e.Severity),
			Protected:        protectedOf(name, e),
			AllowDestructive: allowDestructiveOf(name, e),
			LockTable:        e.Terraform.LockTable,
			DeployerUser:     e.Deployer.User,
			DeployerPolicy:   e.Deployer.Policy,
			ArtifactKey:      e.Lambda.ArtifactKey,
			Terraform: recovery.TerraformConfig{
				Dir: e.Terraform.Dir, BackendConfig: append([]string(nil), e.Terraform.BackendConfig...),
				VarFile: e.Terraform.VarFile, VersionVar: e.Terraform.VersionVar, LockTimeout: e.Terraform.LockTimeout,
			},
		})
	}
	return out
}

func severityOf(env, s string) recovery.Severity {
	if sev, err := recovery.ParseSeverity(s); err == nil {
		return sev
	}
	return recovery.DefaultSeverity(env)
}

// Redacted returns a copy safe to log: the store URL's password is masked.
func (c *Config) Redacted() Config {
	r := *c
	r.Store = secreturl.Redact(c.Store)
	return r
}

// storeURLHasPassword reports a password in a store URL's user information or in a
// password parameter (password=, sslpassword=).
func storeURLHasPassword(u *url.URL) bool {
	if _, has := u.User.Password(); has {
		return true
	}
	for k := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
