// Package recovery is medic's core: the runbook's environments, incidents, scenarios,
// actions and jobs, and the services that gather status, classify failures and run
// recovery. It declares the small interfaces it needs from the world (AWS, GitHub,
// Terraform, the store) and imports no other package of medic.
package recovery

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Environment is one stage of the promotion pipeline (dev, preprod, prod, …) and the
// resources medic watches and recovers in it.
type Environment struct {
	// Name is the environment's name as people type it ("prod").
	Name string
	// Region is the AWS region of the environment's resources.
	Region string
	// RoleARN, when set, is assumed for every AWS call on this environment.
	RoleARN string
	// Functions are the Lambda function names of the environment.
	Functions []string
	// Version says where a function's deployed version is read from.
	Version VersionSource
	// AlarmPrefix selects the environment's CloudWatch alarms ("prod-").
	AlarmPrefix string
	// HealthURL is the health endpoint checked by /status and verification.
	HealthURL string
	// HealthKeySecret is the Secrets Manager ID of the X-API-Key sent to HealthURL.
	HealthKeySecret string
	// DeployWorkflow is the workflow file whose successful runs are deploys ("deploy-prod.yml").
	DeployWorkflow string
	// DeployBranch restricts deploy runs to one branch; empty means any.
	DeployBranch string
	// AlertChannel is the Slack channel ID that receives this environment's alerts.
	AlertChannel string
	// Table is the environment's DynamoDB table ("preprod-sentiment-items").
	Table string
	// ArtifactsBucket holds the Lambda artifacts; ArtifactKey is their key pattern
	// ({function}, {short}, {sha}), "{short}/lambda-{sha}.zip" in the runbook.
	ArtifactsBucket string
	ArtifactKey     string
	// SecretsPrefix is the prefix of the environment's secrets ("prod/").
	SecretsPrefix string
	// Severity is the severity of the troubleshooting cases that happen in this
	// environment (a stuck run, a lock, unreadable secrets, an alarm).
	Severity Severity
	// LockTable is the DynamoDB table holding the environment's Terraform state locks.
	LockTable string
	// DeployerUser and DeployerPolicy name the IAM user the pipeline deploys with and
	// its inline policy, shown when secrets are not accessible.
	DeployerUser   string
	DeployerPolicy string
	// Terraform says how to run Terraform for the environment.
	Terraform TerraformConfig
	// Protected environments always need a second person to approve a recovery
	// action, whatever the incident's severity (config: protected; prod by default).
	Protected bool
	// AllowDestructive environments may be destroyed and recreated and have their
	// test data cleaned (config: allow_destructive; preprod by default).
	AllowDestructive bool
}

// TerraformConfig says where an environment's Terraform configuration lives in the
// repository and how to run it.
type TerraformConfig struct {
	// Dir is the configuration's directory in the repository ("infrastructure/terraform").
	Dir string
	// BackendConfig are `terraform init -backend-config` values: a file in Dir
	// ("backend-prod.hcl") or key=value pairs.
	BackendConfig []string
	// VarFile is the variables file in Dir ("prod.tfvars").
	VarFile string
	// VersionVar is the variable that selects the deployed version ("model_version").
	VersionVar string
	// LockTimeout is passed as -lock-timeout (the runbook: 10m).
	LockTimeout time.Duration
}

// VersionSourceKind names where a Lambda function's deployed version lives.
type VersionSourceKind string

// The places a deployed version can be read from.
const (
	// VersionFromTag reads a resource tag of the function.
	VersionFromTag VersionSourceKind = "tag"
	// VersionFromEnv reads an environment variable of the function.
	VersionFromEnv VersionSourceKind = "env"
	// VersionFromS3Key finds the artifact in ArtifactsBucket whose SHA-256 matches the
	// function's code and reads the version from its key.
	VersionFromS3Key VersionSourceKind = "s3_key"
)

// VersionSource says where a function's deployed version is read from.
type VersionSource struct {
	// Kind is tag, env or s3_key.
	Kind VersionSourceKind
	// Key is the tag key or environment variable name; for s3_key it is the key
	// pattern with the placeholders {function}, {short} and {sha}.
	Key string
	// ShortPrefix is removed from a function name to get {short} ("prod-sentiment-").
	ShortPrefix string
}

// Severity ranks an incident, following the runbook's quick reference.
type Severity int

// Severities from the runbook, lowest first.
const (
	SeverityLow Severity = iota + 1
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = map[Severity]string{
	SeverityLow:      "LOW",
	SeverityMedium:   "MEDIUM",
	SeverityHigh:     "HIGH",
	SeverityCritical: "CRITICAL",
}

func (s Severity) String() string {
	if n, ok := severityNames[s]; ok {
		return n
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// ParseSeverity reads LOW, MEDIUM, HIGH or CRITICAL (any case).
func ParseSeverity(s string) (Severity, error) {
	for sev, name := range severityNames {
		if strings.EqualFold(s, name) {
			return sev, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want LOW, MEDIUM, HIGH or CRITICAL)", s)
}

// IncidentStatus is where an incident stands.
type IncidentStatus string

// Incident statuses.
const (
	IncidentOpen         IncidentStatus = "open"
	IncidentAcknowledged IncidentStatus = "acknowledged"
	IncidentResolved     IncidentStatus = "resolved"
)

// Incident is one failure being handled: one signal source (a workflow run, an alarm)
// is one incident while it is open, and later signals from the same source update it.
type Incident struct {
	ID       string
	Env      string
	Scenario ScenarioID
	Severity Severity
	Status   IncidentStatus
	Title    string
	// SourceKey is the source that opened it ("run:123", "alarm:prod-dashboard-errors").
	SourceKey string
	OpenedAt  time.Time
	UpdatedAt time.Time
	// Channel and MessageTS locate the incident's alert message in Slack.
	Channel   string
	MessageTS string
	// Version counts the incident's saved changes; an update carrying a stale version
	// is refused (ErrConflict), so concurrent updates never overwrite each other.
	Version int

	// The run and job behind a pipeline incident.
	RunID         int64  `json:",omitempty"`
	RunAttempt    int    `json:",omitempty"`
	RunURL        string `json:",omitempty"`
	Workflow      string `json:",omitempty"`
	WorkflowName  string `json:",omitempty"`
	JobID         int64  `json:",omitempty"`
	JobName       string `json:",omitempty"`
	JobURL        string `json:",omitempty"`
	Step          string `json:",omitempty"`
	SHA           string `json:",omitempty"`
	Branch        string `json:",omitempty"`
	CommitMessage string `json:",omitempty"`
	CommitAuthor  string `json:",omitempty"`
	PullRequests  []int  `json:",omitempty"`
	// Untrusted says why the run behind the incident is not trusted (a pull request, a
	// fork, another branch): nothing of the run chooses an action, and nobody is paged.
	Untrusted string `json:",omitempty"`
	// AlarmName is the alarm behind an alarm incident.
	AlarmName string `json:",omitempty"`
	// Alarms are alarms seen in ALARM while the incident was open.
	Alarms []string `json:",omitempty"`

	// Cause is the likely cause read from the failure's log; Lock the state lock involved.
	Cause Cause      `json:",omitempty"`
	Lock  *StateLock `json:",omitempty"`

	AckBy string    `json:",omitempty"`
	AckAt time.Time `json:",omitzero"`
	// Rollback follows the pipeline's own "Rollback on Failure" job.
	Rollback    RollbackState `json:",omitempty"`
	RollbackSHA string        `json:",omitempty"`
	// FixedAt is when the failure was fixed (rollback succeeded, recovery verified).
	FixedAt time.Time `json:",omitzero"`

	// Findings are the diagnostics last gathered.
	Findings   []Finding `json:",omitempty"`
	GatheredAt time.Time `json:",omitzero"`
	// Signals counts the signals applied to the incident.
	Signals int `json:",omitempty"`
	// MergedInto names the incident this one was folded into (an alarm that turned
	// out to be part of a pipeline failure); a merged incident is resolved.
	MergedInto string `json:",omitempty"`
	// GoodSHAs are the known good versions the diagnostics found, newest first.
	GoodSHAs []string `json:",omitempty"`

	// Escalation is where the incident stands in the escalation matrix; Resolution how
	// it ended and what followed.
	Escalation Escalation `json:",omitzero"`
	Resolution Resolution `json:",omitzero"`
	// EscalationLine is the escalation as the alert shows it, filled when publishing.
	EscalationLine string `json:"-"`

	// Follow is what medic follows after the last recovery action that set something
	// going in GitHub (a re-run, a cancel), and how it ended.
	Follow *FollowUp `json:",omitempty"`

	// The recovery job running or last run for the incident, shown on the alert.
	RecoveryJob    string   `json:",omitempty"`
	RecoveryAction ActionID `json:",omitempty"`
	RecoveryState  JobState `json:",omitempty"`
	RecoveryStep   string   `json:",omitempty"`
}

// RollbackState follows the pipeline's automatic rollback.
type RollbackState string

// Rollback states.
const (
	RollbackRunning   RollbackState = "running"
	RollbackSucceeded RollbackState = "succeeded"
	RollbackFailed    RollbackState = "failed"
)

// ErrDuplicate is returned by a store when a row would break a uniqueness rule (an
// open incident for a source that already has one).
var ErrDuplicate = errors.New("already exists")

// ErrIDTaken is returned by a store when a new row's ID is another row's already
// (two incidents drew the same random ID): the caller draws a new ID and tries again.
var ErrIDTaken = errors.New("ID taken")

// ErrConflict is returned by a store when an update carries a stale version.
var ErrConflict = errors.New("changed by someone else")

// ErrNotFound is returned by a store for a row that does not exist.
var ErrNotFound = errors.New("not found")

// JobState is where a recovery job stands.
type JobState string

// Job states.
const (
	JobPending     JobState = "pending"
	JobRunning     JobState = "running"
	JobSucceeded   JobState = "succeeded"
	JobFailed      JobState = "failed"
	JobCancelled   JobState = "cancelled"
	JobInterrupted JobState = "interrupted"
)

// Job is an approved recovery action being carried out as durable steps.
type Job struct {
	ID          string
	Env         string
	Action      ActionID
	IncidentID  string
	RequestID   string
	State       JobState
	RequestedBy string
	ApprovedBy  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Params      RequestParams
	// Steps are the job's steps in order, with what happened to each.
	Steps []StepRecord
	// Current is the index of the step running or next to run.
	Current int
	// Owner is the medic process running the job; LeaseUntil is renewed while it runs,
	// so a job whose process died is found and marked interrupted.
	Owner      string
	LeaseUntil time.Time
	// Channel and ThreadTS locate the thread the job reports in.
	Channel  string
	ThreadTS string
	// Error says why the job failed or was interrupted.
	Error string
	// CancelRequestedBy is set when someone asked to cancel the job; the process
	// running it stops it.
	CancelRequestedBy string `json:",omitempty"`
	// PlanSHA256 is the SHA-256 of the saved plan the approver approved; the job
	// applies that plan only.
	PlanSHA256 string `json:",omitempty"`
	Version    int
}

// StepState is where a job's step stands.
type StepState string

// Step states.
const (
	StepPending     StepState = "pending"
	StepRunning     StepState = "running"
	StepSucceeded   StepState = "succeeded"
	StepFailed      StepState = "failed"
	StepSkipped     StepState = "skipped"
	StepInterrupted StepState = "interrupted"
	StepCancelled   StepState = "cancelled"
)

// StepRecord is one step of a job and what happened to it.
type StepRecord struct {
	Name     string
	Mutating bool
	State    StepState
	Started  time.Time `json:",omitzero"`
	Ended    time.Time `json:",omitzero"`
	// Output is what the step reports (redacted); Error why it failed.
	Output string `json:",omitempty"`
	Error  string `json:",omitempty"`
}

// RequestState is where a request for an action stands.
type RequestState string

// Request states.
const (
	RequestPending  RequestState = "pending"
	RequestApproved RequestState = "approved"
	RequestRejected RequestState = "rejected"
	RequestExpired  RequestState = "expired"
	// RequestFailed: its preview could not be made, so nobody may approve it.
	RequestFailed RequestState = "failed"
)

// RequestParams are an action's inputs, checked before they are used.
type RequestParams struct {
	SHA    string `json:",omitempty"`
	LockID string `json:",omitempty"`
	Alarm  string `json:",omitempty"`
	RunID  int64  `json:",omitempty"`
	Reason string `json:",omitempty"`
	// Planned marks a rollback asked for on a healthy environment.
	Planned bool `json:",omitempty"`
	// Override marks an admin's override of the deploy-history rule: the target was
	// never deployed successfully to the environment before. The approver sees it.
	Override bool `json:",omitempty"`
}

// Preview says what an action will do, shown before anyone approves it.
type Preview struct {
	Title   string   `json:",omitempty"`
	Lines   []string `json:",omitempty"`
	Detail  string   `json:",omitempty"`
	Problem string   `json:",omitempty"`
	// PlanSHA256 is the hex SHA-256 of the saved Terraform plan the job will apply.
	PlanSHA256 string `json:",omitempty"`
}

// Request is someone asking for an action: it waits for approval (or not, per the
// policy), then becomes a job.
type Request struct {
	ID          string
	Env         string
	IncidentID  string
	Action      ActionID
	Params      RequestParams
	RequestedBy string
	RequestedAt time.Time
	ExpiresAt   time.Time
	// NeedsApproval says a second person must approve.
	NeedsApproval bool
	State         RequestState
	DecidedBy     string
	DecidedAt     time.Time `json:",omitzero"`
	Preview       Preview
	// PreviewReady is set once the preview is made: nobody approves before seeing it.
	PreviewReady bool
	// Channel and ThreadTS locate where the request is discussed; MessageTS is the
	// request message itself.
	Channel   string
	ThreadTS  string
	MessageTS string
	JobID     string
	// DedupeKey makes a second identical request while one is pending return it.
	DedupeKey string
	Version   int
}

// AuditEntry is one line of the append-only audit log: who decided or did what.
type AuditEntry struct {
	At         time.Time
	Actor      string
	Action     string
	Env        string
	IncidentID string
	JobID      string
	// Detail holds redacted inputs and outputs.
	Detail map[string]string
}
