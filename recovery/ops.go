package recovery

import (
	"context"
	"errors"
	"io"
	"time"
)

// The interfaces recovery actions change the world through. Methods return errors that
// implement Summarizer where they can, and never include credentials in them.

// WorkflowRunner acts on GitHub Actions runs (the runbook's `gh run …`).
type WorkflowRunner interface {
	// RerunFailedJobs re-runs a run's failed jobs (`gh run rerun --failed`).
	RerunFailedJobs(ctx context.Context, runID int64) error
	// RerunRun re-runs every job of a run.
	RerunRun(ctx context.Context, runID int64) error
	// CancelRun cancels a run in progress.
	CancelRun(ctx context.Context, runID int64) error
	// DispatchWorkflow starts a workflow on ref (`gh workflow run`).
	DispatchWorkflow(ctx context.Context, workflow, ref string, inputs map[string]string) error
}

// CommitInfo describes a commit for a revert's preview.
type CommitInfo struct {
	SHA     string
	Message string
	Author  string
	Parents []string
	Files   []string
	URL     string
	// IsTip reports whether the commit is the head of the branch it was looked up on.
	IsTip bool
}

// RevertResult is what a revert did.
type RevertResult struct {
	// Method is "commit" (a revert commit pushed without force) or "pull-request".
	Method string
	// SHA is the revert commit.
	SHA string
	// PullRequest is the revert pull request's number, for Method "pull-request".
	PullRequest int
	URL         string
}

// Reverter reverts commits on a branch, never by force-pushing.
type Reverter interface {
	// Commit describes sha, with IsTip telling whether it is branch's head.
	Commit(ctx context.Context, sha, branch string) (CommitInfo, error)
	// Revert reverts sha on branch: a commit with the parent's tree when sha is the
	// tip (the ref moves only fast-forward), a revert pull request otherwise.
	Revert(ctx context.Context, sha, branch string) (RevertResult, error)
}

// ArchiveFetcher downloads the repository's sources at a commit (a tar.gz with one top
// directory, as GitHub serves it).
type ArchiveFetcher interface {
	Tarball(ctx context.Context, sha string) (io.ReadCloser, error)
}

// ResourceChange is one resource a Terraform plan changes.
type ResourceChange struct {
	Address string
	// Actions are Terraform's: ["create"], ["update"], ["delete"], ["delete","create"] …
	Actions []string
}

// TerraformPlan summarizes a saved plan (from `terraform show -json`).
type TerraformPlan struct {
	Changes []ResourceChange
	Add     int
	Change  int
	Destroy int
	// File is the saved plan (`terraform plan -out`), byte for byte; SHA256 its hex
	// SHA-256, which the request shows and the job checks before applying it.
	File   []byte `json:"-"`
	SHA256 string `json:",omitempty"`
}

// MaxPlanBytes bounds a saved plan medic keeps (it holds the configuration and the
// state it was planned against).
const MaxPlanBytes = 64 << 20

// PlanStore keeps the plans previews saved, from the preview to the end of the
// request's job, so the job applies exactly what the approver read, on any replica.
type PlanStore interface {
	// SavePlan keeps a request's plan, replacing an earlier one.
	SavePlan(ctx context.Context, requestID string, plan []byte) error
	// Plan returns a request's plan and the hex SHA-256 of the bytes read, or an error
	// wrapping ErrNotFound.
	Plan(ctx context.Context, requestID string) ([]byte, string, error)
	// DeletePlan forgets a request's plan (no error when there is none).
	DeletePlan(ctx context.Context, requestID string) error
}

// ErrStalePlan is returned (wrapped) by ApplyPlan when the state changed since the plan
// was made: Terraform refuses to apply it, and a new plan needs a new approval.
var ErrStalePlan = errors.New("the saved plan is stale: the state changed since it was made")

// PlanOptions say how to plan.
type PlanOptions struct {
	// Destroy plans the destruction of every resource of the state (`plan -destroy`).
	Destroy bool
	// NoLock plans without taking the state lock (`-lock=false`): a preview's plan is
	// applied later only if the state did not change meanwhile, which Terraform checks.
	NoLock bool
}

// NoChanges reports whether the plan changes nothing.
func (p TerraformPlan) NoChanges() bool { return p.Add+p.Change+p.Destroy == 0 }

// TerraformWorkspace is one job's private copy of an environment's Terraform sources at
// a commit, initialized against the environment's backend. Commands stop (Terraform gets
// an interrupt) when their ctx is cancelled.
type TerraformWorkspace interface {
	// Plan plans with the environment's var file, -var <version var>=sha and
	// -lock-timeout (or without the lock), saves the plan and returns it with its
	// summary.
	Plan(ctx context.Context, o PlanOptions) (TerraformPlan, error)
	// ApplyPlan applies a saved plan (`terraform apply <plan file>`), nothing else; it
	// returns an error wrapping ErrStalePlan when the state changed since the plan.
	ApplyPlan(ctx context.Context, plan []byte) error
	// ForceUnlock removes the state lock with the holder's ID.
	ForceUnlock(ctx context.Context, lockID string) error
	// Close removes the workspace.
	Close() error
}

// Terraform prepares workspaces: it fetches the sources at sha, unpacks them in a
// private directory and runs `terraform init` with the environment's backend config.
type Terraform interface {
	Workspace(ctx context.Context, env Environment, sha string) (TerraformWorkspace, error)
}

// FunctionCode is a Lambda function's deployed code.
type FunctionCode struct {
	Name             string
	CodeSha256       string
	Version          string
	LastUpdateStatus string
	State            string
}

// ArtifactInfo is a Lambda artifact in S3.
type ArtifactInfo struct {
	Bucket string
	Key    string
	Exists bool
	// SHA256 is the object's base64 SHA-256 when S3 keeps one.
	SHA256 string
	Size   int64
}

// LambdaUpdater updates Lambda functions' code from S3 (the runbook's nuclear option).
type LambdaUpdater interface {
	FunctionCode(ctx context.Context, env Environment, name string) (FunctionCode, error)
	Artifact(ctx context.Context, env Environment, bucket, key string) (ArtifactInfo, error)
	// UpdateCode points the function at the S3 object and publishes a version; it
	// returns the new version.
	UpdateCode(ctx context.Context, env Environment, name, bucket, key string) (string, error)
	// WaitUpdated waits until the function's last update is no longer InProgress and
	// returns its state; a Failed update is an error.
	WaitUpdated(ctx context.Context, env Environment, name string, poll time.Duration) (FunctionCode, error)
}

// AlarmSetter sets a CloudWatch alarm's state.
type AlarmSetter interface {
	SetAlarmOK(ctx context.Context, env Environment, alarm, reason string) error
}

// TableCleaner removes test data from a DynamoDB table by key only.
type TableCleaner interface {
	// CountItems counts a table's items (a scan of keys only).
	CountItems(ctx context.Context, env Environment, table string) (int, error)
	// DeleteAllItems deletes every item by its key and returns how many it deleted.
	DeleteAllItems(ctx context.Context, env Environment, table string) (int, error)
}

// CommitPlace is where a commit stands against a branch.
type CommitPlace struct {
	// SHA is the commit's full SHA (when Reachable).
	SHA string
	// Status is GitHub's comparison of the commit with the branch's head:
	// "identical", "behind" (an ancestor of the head), "ahead" or "diverged".
	Status string
	// Reachable reports whether the commit is on the branch: its head or one of its
	// ancestors.
	Reachable bool
}

// CommitChecker tells whether a commit is on a branch (GitHub's compare API).
type CommitChecker interface {
	// CommitOnBranch compares sha (7 to 40 hex digits) with branch's head. It returns
	// an error wrapping ErrNotFound when the repository has no such commit.
	CommitOnBranch(ctx context.Context, sha, branch string) (CommitPlace, error)
}

// DeployChecker tells whether a commit was deployed to an environment.
type DeployChecker interface {
	// DeployedBefore reports whether a successful, trusted run of env's deploy
	// workflow built sha (a full SHA).
	DeployedBefore(ctx context.Context, env Environment, sha string) (bool, error)
}
