package recovery

import (
	"context"
	"time"
)

// Run is a GitHub Actions workflow run, as medic needs it.
type Run struct {
	ID      int64
	Attempt int
	Number  int
	// Workflow is the workflow's file name ("deploy-prod.yml"); WorkflowName its name.
	Workflow     string
	WorkflowName string
	// Status is queued, in_progress or completed; Conclusion is set once completed
	// (success, failure, cancelled, timed_out, …).
	Status     string
	Conclusion string
	HeadSHA    string
	HeadBranch string
	// HeadRepository is the repository the run's code came from, "owner/name": a
	// fork's for a pull request from a fork.
	HeadRepository string
	// Event is what started the run: push, pull_request, workflow_dispatch …
	Event string
	Actor string
	// CommitMessage and CommitAuthor describe the head commit.
	CommitMessage string
	CommitAuthor  string
	// PullRequests are the numbers of the pull requests the run belongs to.
	PullRequests []int
	URL          string
	CreatedAt    time.Time
	StartedAt    time.Time
	UpdatedAt    time.Time
}

// JobInfo is one job of a workflow run.
type JobInfo struct {
	ID          int64
	RunID       int64
	Attempt     int
	Name        string
	Status      string
	Conclusion  string
	StartedAt   time.Time
	CompletedAt time.Time
	URL         string
	Steps       []StepInfo
}

// StepInfo is one step of a job.
type StepInfo struct {
	Number     int
	Name       string
	Status     string
	Conclusion string
}

// Failed reports whether the job or step ended badly.
func (j JobInfo) Failed() bool { return failedConclusion(j.Conclusion) }

// Failed reports whether the step ended badly.
func (s StepInfo) Failed() bool { return failedConclusion(s.Conclusion) }

func failedConclusion(c string) bool { return c == "failure" || c == "timed_out" }

// FailedStep returns the first step that failed, or the step running now when none
// has; ok is false when the job has no steps.
func (j JobInfo) FailedStep() (StepInfo, bool) {
	for _, s := range j.Steps {
		if s.Failed() {
			return s, true
		}
	}
	for _, s := range j.Steps {
		if s.Status == "in_progress" {
			return s, true
		}
	}
	return StepInfo{}, false
}

// Artifact is a file a workflow run uploaded.
type Artifact struct {
	ID      int64
	Name    string
	Size    int64
	URL     string
	Expired bool
}

// JobLog is the text of a job's log and where people can read all of it.
type JobLog struct {
	Text string
	URL  string
}

// readJobLog reads a job's log and redacts it whole, before anything classifies,
// parses or cuts it: no part of medic sees a log's credentials.
func readJobLog(ctx context.Context, runs RunReader, jobID int64) (JobLog, error) {
	l, err := runs.JobLog(ctx, jobID)
	l.Text = Redact(l.Text)
	return l, err
}

// RunReader reads one workflow run from GitHub. Methods return errors that implement
// Summarizer.
type RunReader interface {
	// Run returns one run.
	Run(ctx context.Context, id int64) (Run, error)
	// RunJobs lists the jobs of a run's latest attempt.
	RunJobs(ctx context.Context, runID int64) ([]JobInfo, error)
	// JobLog downloads a job's log.
	JobLog(ctx context.Context, jobID int64) (JobLog, error)
	// RunArtifacts lists a run's artifacts.
	RunArtifacts(ctx context.Context, runID int64) ([]Artifact, error)
}

// RunHistory lists workflow runs from GitHub. Methods return errors that implement
// Summarizer.
type RunHistory interface {
	// RecentRuns lists a workflow's runs created at or after since, newest first.
	RecentRuns(ctx context.Context, workflow string, since time.Time) ([]Run, error)
	// SuccessfulDeploys lists up to n newest successful runs of env's deploy workflow.
	SuccessfulDeploys(ctx context.Context, env Environment, n int) ([]Deploy, error)
}

// TableStatus is whether a DynamoDB table exists and its status.
type TableStatus struct {
	Name      string
	Exists    bool
	Status    string
	ItemCount int64
}

// SecretMeta is what medic may know of a secret: never its value.
type SecretMeta struct {
	Name         string
	LastChanged  time.Time
	LastAccessed time.Time
	// Readable is false when describing it was refused; Problem says why.
	Readable bool
	Problem  string
}

// PolicyStatement is one statement of an IAM policy document.
type PolicyStatement struct {
	Sid       string
	Effect    string
	Actions   []string
	Resources []string
}

// LogEvent is one CloudWatch Logs event.
type LogEvent struct {
	At      time.Time
	Stream  string
	Message string
}

// AlarmHistoryItem is one entry of an alarm's history.
type AlarmHistoryItem struct {
	At      time.Time
	Type    string
	Summary string
}

// StateLock is a Terraform state lock as its backend records it.
type StateLock struct {
	ID        string
	Path      string
	Operation string
	Who       string
	Version   string
	Created   time.Time
}

// EnvReader reads the parts of an environment's AWS resources that diagnostics show.
// Methods return errors that implement Summarizer.
type EnvReader interface {
	// Table describes a DynamoDB table; a missing table is Exists=false, not an error.
	Table(ctx context.Context, env Environment, name string) (TableStatus, error)
	// BucketExists reports whether an S3 bucket exists and medic may see it.
	BucketExists(ctx context.Context, env Environment, name string) (bool, error)
	// Secrets lists the secrets whose names start with prefix, metadata only.
	Secrets(ctx context.Context, env Environment, prefix string) ([]SecretMeta, error)
	// UserPolicy returns the statements of an IAM user's inline policy.
	UserPolicy(ctx context.Context, env Environment, user, policy string) ([]PolicyStatement, error)
}

// EnvHistory reads what an environment's AWS resources recorded: logs, an alarm's
// history, Terraform's state locks. Methods return errors that implement Summarizer.
type EnvHistory interface {
	// LogEvents returns events of a log group matching pattern since a time, newest
	// last, at most limit.
	LogEvents(ctx context.Context, env Environment, group, pattern string, since time.Time, limit int) ([]LogEvent, error)
	// AlarmHistory returns an alarm's newest history items, newest first.
	AlarmHistory(ctx context.Context, env Environment, alarm string, limit int) ([]AlarmHistoryItem, error)
	LockReader
}

// LockReader reads an environment's Terraform state locks. Its errors implement
// Summarizer.
type LockReader interface {
	// StateLocks lists the locks recorded in a Terraform DynamoDB lock table.
	StateLocks(ctx context.Context, env Environment, table string) ([]StateLock, error)
}
