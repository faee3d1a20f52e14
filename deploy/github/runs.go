package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/recovery"
)

// The reads below never get a 202 from GitHub. Where a call can (CancelWorkflowRunByID
// answers 202 Accepted), go-github reports it as *gh.AcceptedError, which callers must
// treat as success with errors.As.

var _ recovery.RunReader = (*Client)(nil)

// Paging limits. GitHub's per_page is capped at 100
// (docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api).
const (
	maxPerPage = 100
	// recentRunsPerPage and recentRunsMaxPages bound RecentRuns to 500 runs: a
	// diagnostic wants the last few hours, not the whole history.
	recentRunsPerPage  = 50
	recentRunsMaxPages = 10
	// maxListPages bounds the jobs and artifacts of one run (100 per page). GitHub
	// allows at most 256 jobs per matrix, so 20 pages is more than any real run has.
	maxListPages = 20
	// maxDeployPages bounds the pages SuccessfulDeploys reads looking for trusted runs.
	maxDeployPages = 10
	// maxLogBytes is how much of a job log medic keeps: the end, where the failure is.
	maxLogBytes = 5 << 20
)

// Run returns workflow run id.
func (c *Client) Run(ctx context.Context, id int64) (recovery.Run, error) {
	r, resp, err := c.gh.Actions.GetWorkflowRunByID(ctx, c.owner, c.repo, id)
	if err != nil {
		return recovery.Run{}, wrap("GetWorkflowRun", resp, err)
	}
	return RunFromGitHub(r), nil
}

// RunJobs lists the jobs of run runID's latest attempt (filter=latest), following every
// page.
func (c *Client) RunJobs(ctx context.Context, runID int64) ([]recovery.JobInfo, error) {
	opts := &gh.ListWorkflowJobsOptions{Filter: "latest", ListOptions: gh.ListOptions{PerPage: maxPerPage}}
	var out []recovery.JobInfo
	for range maxListPages {
		jobs, resp, err := c.gh.Actions.ListWorkflowJobs(ctx, c.owner, c.repo, runID, opts)
		if err != nil {
			return nil, wrap("ListJobs", resp, err)
		}
		for _, j := range jobs.Jobs {
			out = append(out, JobFromGitHub(j))
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// RunArtifacts lists the artifacts run runID uploaded, following every page.
func (c *Client) RunArtifacts(ctx context.Context, runID int64) ([]recovery.Artifact, error) {
	opts := &gh.ListOptions{PerPage: maxPerPage}
	var out []recovery.Artifact
	for range maxListPages {
		list, resp, err := c.gh.Actions.ListWorkflowRunArtifacts(ctx, c.owner, c.repo, runID, opts)
		if err != nil {
			return nil, wrap("ListArtifacts", resp, err)
		}
		for _, a := range list.Artifacts {
			out = append(out, recovery.Artifact{
				ID:      a.GetID(),
				Name:    a.GetName(),
				Size:    a.GetSizeInBytes(),
				URL:     a.GetArchiveDownloadURL(),
				Expired: a.GetExpired(),
			})
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// RecentRuns lists the runs of workflow (a file name, "deploy-prod.yml") created at or
// after since, newest first. It reads at most 10 pages of 50 runs.
func (c *Client) RecentRuns(ctx context.Context, workflow string, since time.Time) ([]recovery.Run, error) {
	opts := &gh.ListWorkflowRunsOptions{
		Created:     ">=" + since.UTC().Format(time.RFC3339),
		ListOptions: gh.ListOptions{PerPage: recentRunsPerPage},
	}
	var out []recovery.Run
	for range recentRunsMaxPages {
		runs, resp, err := c.gh.Actions.ListWorkflowRunsByFileName(ctx, c.owner, c.repo, workflow, opts)
		if err != nil {
			return nil, wrap("ListWorkflowRuns", resp, err)
		}
		for _, r := range runs.WorkflowRuns {
			out = append(out, RunFromGitHub(r))
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	// GitHub lists newest first already; a run created while we paged can shift a page
	// boundary, so sort (stably) rather than trust the order across pages.
	slices.SortStableFunc(out, func(a, b recovery.Run) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// SuccessfulDeploys lists up to n newest successful runs of env's deploy workflow (on
// its deploy branch when one is set), newest first. With Options.Trust, runs medic does
// not trust (a pull request's, a fork's) are left out. It reads at most 10 pages.
func (c *Client) SuccessfulDeploys(ctx context.Context, env recovery.Environment, n int) ([]recovery.Deploy, error) {
	if n <= 0 {
		return nil, nil
	}
	opts := &gh.ListWorkflowRunsOptions{
		Status:      "success",
		Branch:      env.DeployBranch,
		ListOptions: gh.ListOptions{PerPage: min(n, maxPerPage)},
	}
	var out []recovery.Deploy
	for page := 0; len(out) < n && page < maxDeployPages; page++ {
		runs, resp, err := c.gh.Actions.ListWorkflowRunsByFileName(ctx, c.owner, c.repo, env.DeployWorkflow, opts)
		if err != nil {
			return nil, wrap("ListWorkflowRuns", resp, err)
		}
		for _, r := range runs.WorkflowRuns {
			if len(out) == n {
				break
			}
			if c.trust != nil {
				if why := c.trust.Untrusted(RunFromGitHub(r)); why != "" {
					continue // a pull request's or a fork's "deploy" deployed nothing medic trusts
				}
				// The run's commit must be on the branch the run names: a tag named like
				// the branch (its runs report the tag as their head_branch) is not it.
				place, err := c.CommitOnBranch(ctx, r.GetHeadSHA(), r.GetHeadBranch())
				if err != nil && !errors.Is(err, recovery.ErrNotFound) {
					return nil, err
				}
				if !place.Reachable {
					continue
				}
			}
			out = append(out, recovery.Deploy{
				RunID:    r.GetID(),
				SHA:      r.GetHeadSHA(),
				Branch:   r.GetHeadBranch(),
				Workflow: env.DeployWorkflow,
				URL:      r.GetHTMLURL(),
				At:       r.GetUpdatedAt().UTC(),
			})
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

var _ recovery.DeployChecker = (*Client)(nil)

// DeployedBefore reports whether a successful run of env's deploy workflow (on its
// deploy branch when one is set; with Options.Trust, a trusted run whose commit is on
// the branch it names) built sha, a full SHA: GitHub lists the runs of that commit
// (head_sha), however old.
func (c *Client) DeployedBefore(ctx context.Context, env recovery.Environment, sha string) (bool, error) {
	if err := checkSHA("ListWorkflowRuns", sha); err != nil {
		return false, err
	}
	opts := &gh.ListWorkflowRunsOptions{Status: "success", Branch: env.DeployBranch, HeadSHA: sha, ListOptions: gh.ListOptions{PerPage: maxPerPage}}
	for range maxDeployPages {
		runs, resp, err := c.gh.Actions.ListWorkflowRunsByFileName(ctx, c.owner, c.repo, env.DeployWorkflow, opts)
		if err != nil {
			return false, wrap("ListWorkflowRuns", resp, err)
		}
		for _, r := range runs.WorkflowRuns {
			if r.GetHeadSHA() != sha {
				continue
			}
			if c.trust == nil {
				return true, nil
			}
			if c.trust.Untrusted(RunFromGitHub(r)) != "" {
				continue
			}
			if place, err := c.CommitOnBranch(ctx, sha, r.GetHeadBranch()); err == nil && place.Reachable {
				return true, nil
			} else if err != nil && !errors.Is(err, recovery.ErrNotFound) {
				return false, err
			}
		}
		if resp.NextPage == 0 {
			return false, nil
		}
		opts.Page = resp.NextPage
	}
	return false, nil
}

// JobLog downloads the log of job jobID. GitHub answers the log request with a 302 to
// a presigned URL (valid for one minute), which is fetched at once without the GitHub
// token. Only the last 5 MiB are kept, where a failure shows; a log cut that way starts
// with a line saying so. URL is the job's page on GitHub, which people can open (the
// presigned URL expires). When the job is found but its log cannot be read, the
// returned JobLog still carries URL, alongside the error.
func (c *Client) JobLog(ctx context.Context, jobID int64) (recovery.JobLog, error) {
	job, resp, err := c.gh.Actions.GetWorkflowJobByID(ctx, c.owner, c.repo, jobID)
	if err != nil {
		return recovery.JobLog{}, wrap("GetJob", resp, err)
	}
	out := recovery.JobLog{URL: job.GetHTMLURL()}
	// maxRedirects 1: follow a 301 once (repository renamed), then expect the 302.
	loc, resp, err := c.gh.Actions.GetWorkflowJobLogs(ctx, c.owner, c.repo, jobID, 1)
	if err != nil {
		return out, wrap("JobLogs", resp, err)
	}
	text, err := c.download(ctx, loc.String())
	if err != nil {
		return out, err
	}
	out.Text = text
	return out, nil
}

// download GETs a presigned log URL with the download client (no Authorization
// header) and keeps the end of the text.
func (c *Client) download(ctx context.Context, u string) (string, error) {
	const op = "DownloadJobLogs"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", &APIError{Operation: op, Detail: "bad log URL", Err: withoutQuery(err)}
	}
	resp, err := c.dl.Do(req)
	if err != nil {
		return "", wrap(op, nil, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", &APIError{Operation: op, Status: resp.StatusCode,
			Detail: fmt.Sprintf("HTTP %d from log storage", resp.StatusCode),
			Err:    fmt.Errorf("downloading job log: %s", resp.Status)}
	}
	tail, dropped, err := readTail(resp.Body, maxLogBytes)
	if err != nil {
		return "", wrap(op, nil, fmt.Errorf("reading job log: %w", err))
	}
	if dropped == 0 {
		return string(tail), nil
	}
	// Start at a whole line.
	if i := bytes.IndexByte(tail, '\n'); i >= 0 && i < len(tail)-1 {
		dropped += int64(i + 1)
		tail = tail[i+1:]
	}
	return fmt.Sprintf("[medic: log cut to its last %d bytes; %d earlier bytes are on GitHub]\n", len(tail), dropped) + string(tail), nil
}

// readTail reads r to the end and returns its last limit bytes and how many bytes came
// before them.
func readTail(r io.Reader, limit int) (tail []byte, dropped int64, err error) {
	buf := make([]byte, 0, 64<<10)
	chunk := make([]byte, 64<<10)
	for {
		n, rerr := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if len(buf) >= 2*limit {
			cut := len(buf) - limit
			dropped += int64(cut)
			buf = buf[:copy(buf, buf[cut:])]
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, 0, rerr
		}
	}
	if len(buf) > limit {
		cut := len(buf) - limit
		dropped += int64(cut)
		buf = buf[cut:]
	}
	return buf, dropped, nil
}

// RunFacts returns what never changes about run runID: its workflow file
// ("deploy-prod.yml"), the event that started it, and the repository, branch and commit
// its code came from (the other fields are zero). The webhook receiver needs them for
// workflow_job deliveries, which name neither the workflow's file nor the event nor the
// head repository. Answers are cached.
func (c *Client) RunFacts(ctx context.Context, runID int64) (recovery.Run, error) {
	c.mu.Lock()
	f, ok := c.runFacts[runID]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	r, resp, err := c.gh.Actions.GetWorkflowRunByID(ctx, c.owner, c.repo, runID)
	if err != nil {
		return recovery.Run{}, wrap("GetWorkflowRun", resp, err)
	}
	f = facts(RunFromGitHub(r))
	c.RememberRun(f)
	return f, nil
}

// RememberRun records a run's facts learned elsewhere (a workflow_run delivery, signed
// by GitHub), so RunFacts needs no call for it. A run without its workflow file, event
// or head repository is not remembered.
func (c *Client) RememberRun(run recovery.Run) {
	f := facts(run)
	if f.ID == 0 || f.Workflow == "" || f.Event == "" || f.HeadRepository == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.runFacts) >= maxCachedRuns {
		clear(c.runFacts)
	}
	c.runFacts[f.ID] = f
}

// facts keeps the fields of a run that never change.
func facts(r recovery.Run) recovery.Run {
	return recovery.Run{ID: r.ID, Workflow: r.Workflow, Event: r.Event, HeadRepository: r.HeadRepository, HeadBranch: r.HeadBranch, HeadSHA: r.HeadSHA}
}

// maxCachedRuns bounds RunFacts's cache; when full it starts over.
const maxCachedRuns = 4096

// WorkflowFile returns the file name of a workflow path as runs carry it
// (".github/workflows/deploy-prod.yml" → "deploy-prod.yml"), dropping an "@ref" suffix.
func WorkflowFile(p string) string {
	p, _, _ = strings.Cut(p, "@")
	if p == "" {
		return ""
	}
	return path.Base(p)
}

// RunFromGitHub converts go-github's workflow run, from the REST API or a webhook;
// nil gives the zero Run.
func RunFromGitHub(r *gh.WorkflowRun) recovery.Run {
	if r == nil {
		return recovery.Run{}
	}
	run := recovery.Run{
		ID:             r.GetID(),
		Attempt:        r.GetRunAttempt(),
		Number:         r.GetRunNumber(),
		Workflow:       WorkflowFile(r.GetPath()),
		WorkflowName:   r.GetName(),
		Status:         r.GetStatus(),
		Conclusion:     r.GetConclusion(),
		HeadSHA:        r.GetHeadSHA(),
		HeadBranch:     r.GetHeadBranch(),
		HeadRepository: r.GetHeadRepository().GetFullName(),
		Event:          r.GetEvent(),
		Actor:          r.GetActor().GetLogin(),
		CommitMessage:  r.GetHeadCommit().GetMessage(),
		CommitAuthor:   commitAuthor(r.GetHeadCommit().GetAuthor()),
		URL:            r.GetHTMLURL(),
		CreatedAt:      utc(r.GetCreatedAt()),
		StartedAt:      utc(r.GetRunStartedAt()),
		UpdatedAt:      utc(r.GetUpdatedAt()),
	}
	for _, pr := range r.PullRequests {
		if n := pr.GetNumber(); n != 0 {
			run.PullRequests = append(run.PullRequests, n)
		}
	}
	return run
}

// commitAuthor names a commit's author: the name, else the GitHub login, else the email.
func commitAuthor(a *gh.CommitAuthor) string {
	for _, s := range []string{a.GetName(), a.GetLogin(), a.GetEmail()} {
		if s != "" {
			return s
		}
	}
	return ""
}

// JobFromGitHub converts go-github's workflow job, from the REST API or a webhook;
// nil gives the zero JobInfo.
func JobFromGitHub(j *gh.WorkflowJob) recovery.JobInfo {
	if j == nil {
		return recovery.JobInfo{}
	}
	job := recovery.JobInfo{
		ID:          j.GetID(),
		RunID:       j.GetRunID(),
		Attempt:     int(j.GetRunAttempt()),
		Name:        j.GetName(),
		Status:      j.GetStatus(),
		Conclusion:  j.GetConclusion(),
		StartedAt:   utc(j.GetStartedAt()),
		CompletedAt: utc(j.GetCompletedAt()),
		URL:         j.GetHTMLURL(),
	}
	for _, s := range j.Steps {
		job.Steps = append(job.Steps, recovery.StepInfo{
			Number:     int(s.GetNumber()),
			Name:       s.GetName(),
			Status:     s.GetStatus(),
			Conclusion: s.GetConclusion(),
		})
	}
	return job
}

// utc returns a GitHub timestamp in UTC; an absent one stays the zero time.
func utc(t gh.Timestamp) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
