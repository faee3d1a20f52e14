package recovery

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Rule maps a failed job to a scenario. Rules are tried in order; the first that
// matches wins. Empty fields match anything.
type Rule struct {
	Scenario ScenarioID
	// Workflow is the workflow file ("deploy-prod.yml").
	Workflow string
	// Job is the job's exact name ("Production Canary Test").
	Job string
	// Log, when set, must match the job's log.
	Log *regexp.Regexp
	// Env is the environment the incident belongs to; empty means: the job's stage,
	// then what the log names, then the workflow's environment.
	Env string
}

func (r Rule) String() string {
	var parts []string
	if r.Workflow != "" {
		parts = append(parts, "workflow "+r.Workflow)
	}
	if r.Job != "" {
		parts = append(parts, fmt.Sprintf("job %q", r.Job))
	}
	if r.Log != nil {
		parts = append(parts, fmt.Sprintf("log ~ /%s/", r.Log))
	}
	return fmt.Sprintf("%s → %s", strings.Join(parts, ", "), r.Scenario)
}

// Log patterns of the runbook's general troubleshooting cases.
var (
	StateLockLog    = regexp.MustCompile(`Error acquiring the state lock`)
	SecretsErrorLog = regexp.MustCompile(`(?:AccessDenied(?:Exception)?|ResourceNotFoundException|SecretNotFoundException)[^\n]*(?i:secret)`)
)

// Pipeline is what medic knows of the promotion pipeline it watches.
type Pipeline struct {
	// Workflows maps each watched workflow file to its environment, used when a job
	// says nothing more precise.
	Workflows map[string]string
	// JobEnvs maps job names to the environment they work on.
	JobEnvs map[string]string
	Rules   []Rule
	// RollbackJob is the pipeline's automatic rollback job.
	RollbackJob string
	// StuckAfter is how long a run may be in progress before it is stuck.
	StuckAfter time.Duration
	// AlarmClearGrace is how long an alarm may stay in ALARM after a fix.
	AlarmClearGrace time.Duration
	// Trust says which runs may drive the runbook; every other run's failure is at
	// most a LOW UntrustedRunFailed incident.
	Trust RunTrust
	// MaxSignalAge: signals about runs older than this are ignored (a replayed
	// delivery); zero keeps every signal.
	MaxSignalAge time.Duration
	// UntrustedEnv is the environment the incidents of untrusted runs are filed under
	// (their channel and who may re-run them); "" ignores untrusted runs.
	UntrustedEnv string
}

// Watches reports whether the workflow file is watched.
func (p *Pipeline) Watches(workflow string) bool {
	_, ok := p.Workflows[workflow]
	return ok
}

// Classification is what a failed job is.
type Classification struct {
	Scenario ScenarioID
	Env      string
	// Rule is the rule that matched, for the audit.
	Rule string
}

// Classify finds the scenario of a failed job. When the first rule that could match
// needs the job's log and log is nil, it returns needLog=true: fetch the log and call
// again. A job no rule matches is OtherJobFailed.
func (p *Pipeline) Classify(run Run, job JobInfo, log *string, envs *Environments) (c Classification, needLog bool) {
	for _, r := range p.Rules {
		if r.Workflow != "" && r.Workflow != run.Workflow {
			continue
		}
		if r.Job != "" && r.Job != job.Name {
			continue
		}
		if r.Log != nil {
			if log == nil {
				return Classification{}, true
			}
			if !r.Log.MatchString(*log) {
				continue
			}
		}
		env := r.Env
		if env == "" {
			env = p.envOf(run, job, log, envs)
		}
		return Classification{Scenario: r.Scenario, Env: env, Rule: r.String()}, false
	}
	return Classification{Scenario: OtherJobFailed, Env: p.envOf(run, job, log, envs), Rule: "no rule matched"}, false
}

// envOf finds the environment a job worked on: its stage, an environment named in the
// job's name ("Terraform Plan (preprod)"), one named by the log (a secret's prefix, a
// state path), then the workflow's.
func (p *Pipeline) envOf(run Run, job JobInfo, log *string, envs *Environments) string {
	if env, ok := p.JobEnvs[job.Name]; ok {
		return env
	}
	if envs != nil {
		for _, name := range envs.Names() {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(job.Name) {
				return name
			}
		}
		if log != nil {
			if env := envFromLog(*log, envs); env != "" {
				return env
			}
		}
	}
	return p.Workflows[run.Workflow]
}

// envFromLog reads the environment from a secret named in a Secrets Manager error or
// from a Terraform state path.
func envFromLog(log string, envs *Environments) string {
	for _, e := range SecretErrors(log) {
		for _, name := range envs.Names() {
			env, _ := envs.Get(name)
			if env.SecretsPrefix != "" && strings.HasPrefix(e.Secret, env.SecretsPrefix) {
				return name
			}
		}
	}
	if lock, ok := ParseStateLock(log); ok && lock.Path != "" {
		for _, name := range envs.Names() {
			if regexp.MustCompile(`(^|[/_.-])` + regexp.QuoteMeta(name) + `([/_.-]|$)`).MatchString(lock.Path) {
				return name
			}
		}
	}
	return ""
}

// SeverityOf is an incident's severity: the scenario's, or the environment's for the
// cases the runbook rates by environment.
func SeverityOf(id ScenarioID, env Environment) Severity {
	if s, ok := scenarios[id]; ok && s.Severity != 0 {
		return s.Severity
	}
	if env.Severity != 0 {
		return env.Severity
	}
	return DefaultSeverity(env.Name)
}
