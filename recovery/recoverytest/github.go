package recoverytest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// GitHub fakes what medic asks of GitHub: runs, jobs and logs (recovery.RunReader),
// the deploy history (DeployHistory, DeployChecker), commits on the branch
// (CommitChecker, Reverter), workflow runs (WorkflowRunner) and follow-up issues
// (IssueTracker). It answers from what AddRun, SetLog and AddDeploy put in; each
// method's Func field, when set, answers instead. Every call is recorded.
//
// Defaults: every commit is on every branch (its full SHA is a known run's or
// deploy's that starts with it, else itself) unless OffBranch or Unknown lists it; a
// SHA was deployed to an environment when AddDeploy recorded it there; re-runs,
// dispatches and cancels succeed; Revert pushes a revert commit.
type GitHub struct {
	Recorder

	RunFunc               func(ctx context.Context, id int64) (recovery.Run, error)
	RunJobsFunc           func(ctx context.Context, runID int64) ([]recovery.JobInfo, error)
	JobLogFunc            func(ctx context.Context, jobID int64) (recovery.JobLog, error)
	RunArtifactsFunc      func(ctx context.Context, runID int64) ([]recovery.Artifact, error)
	RecentRunsFunc        func(ctx context.Context, workflow string, since time.Time) ([]recovery.Run, error)
	SuccessfulDeploysFunc func(ctx context.Context, env recovery.Environment, n int) ([]recovery.Deploy, error)
	CommitOnBranchFunc    func(ctx context.Context, sha, branch string) (recovery.CommitPlace, error)
	DeployedBeforeFunc    func(ctx context.Context, env recovery.Environment, sha string) (bool, error)
	LastDeployFunc        func(ctx context.Context, env recovery.Environment) (*recovery.Deploy, error)
	RerunFailedJobsFunc   func(ctx context.Context, runID int64) error
	RerunRunFunc          func(ctx context.Context, runID int64) error
	CancelRunFunc         func(ctx context.Context, runID int64) error
	DispatchFunc          func(ctx context.Context, workflow, ref string, inputs map[string]string) error
	CommitFunc            func(ctx context.Context, sha, branch string) (recovery.CommitInfo, error)
	RevertFunc            func(ctx context.Context, sha, branch string) (recovery.RevertResult, error)
	FindIssueFunc         func(ctx context.Context, marker string, labels []string) (int, string, bool, error)
	CreateIssueFunc       func(ctx context.Context, title, body string, labels []string) (int, string, error)

	mu        sync.Mutex
	runs      map[int64]recovery.Run
	jobs      map[int64][]recovery.JobInfo
	logs      map[int64]recovery.JobLog
	artifacts map[int64][]recovery.Artifact
	deploys   map[string][]recovery.Deploy // newest first
	offBranch map[string]bool
	unknown   map[string]bool
	issues    []Issue
}

// Issue is a follow-up issue filed on the fake GitHub.
type Issue struct {
	Number int
	Title  string
	Body   string
	Labels []string
	URL    string
}

var (
	_ recovery.RunReader      = (*GitHub)(nil)
	_ recovery.CommitChecker  = (*GitHub)(nil)
	_ recovery.DeployChecker  = (*GitHub)(nil)
	_ recovery.DeployHistory  = (*GitHub)(nil)
	_ recovery.WorkflowRunner = (*GitHub)(nil)
	_ recovery.Reverter       = (*GitHub)(nil)
	_ recovery.IssueTracker   = (*GitHub)(nil)
)

// NewGitHub returns a GitHub with no runs, deploys or issues.
func NewGitHub() *GitHub {
	return &GitHub{
		runs: map[int64]recovery.Run{}, jobs: map[int64][]recovery.JobInfo{}, logs: map[int64]recovery.JobLog{},
		artifacts: map[int64][]recovery.Artifact{}, deploys: map[string][]recovery.Deploy{},
		offBranch: map[string]bool{}, unknown: map[string]bool{},
	}
}

// AddRun records a run and its jobs (replacing earlier ones of the same run ID).
func (g *GitHub) AddRun(run recovery.Run, jobs ...recovery.JobInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.runs[run.ID] = run
	g.jobs[run.ID] = slices.Clone(jobs)
}

// AddJob adds a job to a run's jobs (replacing one with the same ID).
func (g *GitHub) AddJob(runID int64, job recovery.JobInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	jobs := slices.DeleteFunc(g.jobs[runID], func(j recovery.JobInfo) bool { return j.ID == job.ID })
	g.jobs[runID] = append(jobs, job)
}

// SetLog sets a job's log.
func (g *GitHub) SetLog(jobID int64, text string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.logs[jobID] = recovery.JobLog{Text: text, URL: fmt.Sprintf("https://github.test/logs/%d", jobID)}
}

// SetArtifacts sets a run's artifacts.
func (g *GitHub) SetArtifacts(runID int64, arts ...recovery.Artifact) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.artifacts[runID] = arts
}

// AddDeploy records a successful deploy of env, newer than those recorded before.
func (g *GitHub) AddDeploy(env string, d recovery.Deploy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deploys[env] = append([]recovery.Deploy{d}, g.deploys[env]...)
}

// OffBranch makes CommitOnBranch answer that sha (as given) is not on any branch.
func (g *GitHub) OffBranch(sha string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.offBranch[sha] = true
}

// Unknown makes CommitOnBranch answer that the repository has no commit sha.
func (g *GitHub) Unknown(sha string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.unknown[sha] = true
}

// Issues returns the issues filed, in order.
func (g *GitHub) Issues() []Issue {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.issues)
}

// Run returns a run added with AddRun (an error wrapping recovery.ErrNotFound otherwise).
func (g *GitHub) Run(ctx context.Context, id int64) (recovery.Run, error) {
	g.record("Run", id)
	if g.RunFunc != nil {
		return g.RunFunc(ctx, id)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.runs[id]
	if !ok {
		return recovery.Run{}, fmt.Errorf("github: run %d: %w", id, recovery.ErrNotFound)
	}
	return r, nil
}

// RunJobs returns the jobs added with the run.
func (g *GitHub) RunJobs(ctx context.Context, runID int64) ([]recovery.JobInfo, error) {
	g.record("RunJobs", runID)
	if g.RunJobsFunc != nil {
		return g.RunJobsFunc(ctx, runID)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.jobs[runID]), nil
}

// JobLog returns the log SetLog set ("" when none).
func (g *GitHub) JobLog(ctx context.Context, jobID int64) (recovery.JobLog, error) {
	g.record("JobLog", jobID)
	if g.JobLogFunc != nil {
		return g.JobLogFunc(ctx, jobID)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := g.logs[jobID]; ok {
		return l, nil
	}
	return recovery.JobLog{URL: fmt.Sprintf("https://github.test/logs/%d", jobID)}, nil
}

// RunArtifacts returns what SetArtifacts set.
func (g *GitHub) RunArtifacts(ctx context.Context, runID int64) ([]recovery.Artifact, error) {
	g.record("RunArtifacts", runID)
	if g.RunArtifactsFunc != nil {
		return g.RunArtifactsFunc(ctx, runID)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.artifacts[runID]), nil
}

// RecentRuns returns the runs of workflow created at or after since, newest first.
func (g *GitHub) RecentRuns(ctx context.Context, workflow string, since time.Time) ([]recovery.Run, error) {
	g.record("RecentRuns", workflow, since)
	if g.RecentRunsFunc != nil {
		return g.RecentRunsFunc(ctx, workflow, since)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []recovery.Run
	for _, r := range g.runs {
		if r.Workflow == workflow && !r.CreatedAt.Before(since) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b recovery.Run) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// SuccessfulDeploys returns up to n of env's deploys, newest first.
func (g *GitHub) SuccessfulDeploys(ctx context.Context, env recovery.Environment, n int) ([]recovery.Deploy, error) {
	g.record("SuccessfulDeploys", env.Name, n)
	if g.SuccessfulDeploysFunc != nil {
		return g.SuccessfulDeploysFunc(ctx, env, n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.deploys[env.Name]
	return slices.Clone(d[:min(n, len(d))]), nil
}

// LastSuccessfulDeploy returns env's newest deploy, nil when it has none.
func (g *GitHub) LastSuccessfulDeploy(ctx context.Context, env recovery.Environment) (*recovery.Deploy, error) {
	g.record("LastSuccessfulDeploy", env.Name)
	if g.LastDeployFunc != nil {
		return g.LastDeployFunc(ctx, env)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := g.deploys[env.Name]; len(d) > 0 {
		last := d[0]
		return &last, nil
	}
	return nil, nil
}

// CommitOnBranch answers that sha is on branch, unless OffBranch or Unknown said
// otherwise.
func (g *GitHub) CommitOnBranch(ctx context.Context, sha, branch string) (recovery.CommitPlace, error) {
	g.record("CommitOnBranch", sha, branch)
	if g.CommitOnBranchFunc != nil {
		return g.CommitOnBranchFunc(ctx, sha, branch)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.unknown[sha]:
		return recovery.CommitPlace{}, fmt.Errorf("github: commit %s: %w", sha, recovery.ErrNotFound)
	case g.offBranch[sha]:
		return recovery.CommitPlace{Status: "diverged"}, nil
	}
	return recovery.CommitPlace{SHA: g.fullSHA(sha), Status: "behind", Reachable: true}, nil
}

// fullSHA is the full SHA of a known run or deploy starting with sha, else sha; g.mu
// is held.
func (g *GitHub) fullSHA(sha string) string {
	for _, r := range g.runs {
		if strings.HasPrefix(r.HeadSHA, sha) {
			return r.HeadSHA
		}
	}
	for _, ds := range g.deploys {
		for _, d := range ds {
			if strings.HasPrefix(d.SHA, sha) {
				return d.SHA
			}
		}
	}
	return sha
}

// DeployedBefore reports whether AddDeploy recorded sha for env.
func (g *GitHub) DeployedBefore(ctx context.Context, env recovery.Environment, sha string) (bool, error) {
	g.record("DeployedBefore", env.Name, sha)
	if g.DeployedBeforeFunc != nil {
		return g.DeployedBeforeFunc(ctx, env, sha)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.ContainsFunc(g.deploys[env.Name], func(d recovery.Deploy) bool { return d.SHA == sha }), nil
}

// RerunFailedJobs records the call and succeeds.
func (g *GitHub) RerunFailedJobs(ctx context.Context, runID int64) error {
	g.record("RerunFailedJobs", runID)
	if g.RerunFailedJobsFunc != nil {
		return g.RerunFailedJobsFunc(ctx, runID)
	}
	return nil
}

// RerunRun records the call and succeeds.
func (g *GitHub) RerunRun(ctx context.Context, runID int64) error {
	g.record("RerunRun", runID)
	if g.RerunRunFunc != nil {
		return g.RerunRunFunc(ctx, runID)
	}
	return nil
}

// CancelRun records the call and succeeds.
func (g *GitHub) CancelRun(ctx context.Context, runID int64) error {
	g.record("CancelRun", runID)
	if g.CancelRunFunc != nil {
		return g.CancelRunFunc(ctx, runID)
	}
	return nil
}

// DispatchWorkflow records the call and succeeds.
func (g *GitHub) DispatchWorkflow(ctx context.Context, workflow, ref string, inputs map[string]string) error {
	g.record("DispatchWorkflow", workflow, ref, inputs)
	if g.DispatchFunc != nil {
		return g.DispatchFunc(ctx, workflow, ref, inputs)
	}
	return nil
}

// Commit describes sha as the tip of branch, with one parent and one changed file.
func (g *GitHub) Commit(ctx context.Context, sha, branch string) (recovery.CommitInfo, error) {
	g.record("Commit", sha, branch)
	if g.CommitFunc != nil {
		return g.CommitFunc(ctx, sha, branch)
	}
	return recovery.CommitInfo{SHA: sha, Message: "Change the model version", Author: "dev", Parents: []string{strings.Repeat("0", 40)},
		Files: []string{"infrastructure/terraform/main.tf"}, URL: "https://github.test/commit/" + sha, IsTip: true}, nil
}

// Revert pushes a revert commit (method "commit").
func (g *GitHub) Revert(ctx context.Context, sha, branch string) (recovery.RevertResult, error) {
	g.record("Revert", sha, branch)
	if g.RevertFunc != nil {
		return g.RevertFunc(ctx, sha, branch)
	}
	return recovery.RevertResult{Method: "commit", SHA: strings.Repeat("e", 40), URL: "https://github.test/commit/" + strings.Repeat("e", 40)}, nil
}

// FindIssue finds a filed issue whose body contains marker and which carries labels.
func (g *GitHub) FindIssue(ctx context.Context, marker string, labels []string) (int, string, bool, error) {
	g.record("FindIssue", marker, labels)
	if g.FindIssueFunc != nil {
		return g.FindIssueFunc(ctx, marker, labels)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, is := range g.issues {
		if strings.Contains(is.Body, marker) && !slices.ContainsFunc(labels, func(l string) bool { return !slices.Contains(is.Labels, l) }) {
			return is.Number, is.URL, true, nil
		}
	}
	return 0, "", false, nil
}

// CreateIssue files an issue numbered from 1.
func (g *GitHub) CreateIssue(ctx context.Context, title, body string, labels []string) (int, string, error) {
	g.record("CreateIssue", title, labels)
	if g.CreateIssueFunc != nil {
		return g.CreateIssueFunc(ctx, title, body, labels)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.issues) + 1
	is := Issue{Number: n, Title: title, Body: body, Labels: slices.Clone(labels), URL: fmt.Sprintf("https://github.test/issues/%d", n)}
	g.issues = append(g.issues, is)
	return n, is.URL, nil
}
