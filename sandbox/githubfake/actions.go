package githubfake

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"
)

// Person is a commit author or committer; Login, when set, links them to a GitHub user.
type Person struct {
	Name, Email, Login string
}

// HeadCommit is the commit a run was triggered for, as runs and webhooks show it.
type HeadCommit struct {
	Message string
	Author  Person
}

// Run is a workflow run. AddRun fills zero fields with GitHub's defaults.
type Run struct {
	// ID is assigned by AddRun.
	ID int64
	// WorkflowFile is the workflow's file name, e.g. "deploy-prod.yml"; AddRun registers
	// an unknown file as a workflow named after Name (or the file).
	WorkflowFile string
	// Name is the workflow's name; default the registered workflow's name.
	Name string
	// DisplayTitle defaults to the first line of the head commit's message.
	DisplayTitle string
	// HeadBranch defaults to the default branch; HeadSHA to that branch's head when the
	// git graph has one.
	HeadBranch, HeadSHA string
	// Event defaults to "push".
	Event string
	// HeadRepository, when set to another "owner/name" than the served repository, is
	// the fork the run's code came from (a pull request from a fork): the run's
	// head_repository is that fork and, as on GitHub, its pull_requests list is empty.
	HeadRepository string
	// Status is queued, in_progress or completed (default completed when Conclusion is
	// set, queued otherwise); Conclusion is success, failure, cancelled, timed_out, … or "".
	Status, Conclusion string
	// RunNumber counts the workflow's runs; default the next number.
	RunNumber int
	// RunAttempt defaults to 1; re-runs increase it.
	RunAttempt int
	// CreatedAt defaults to the clock; UpdatedAt and RunStartedAt to CreatedAt.
	CreatedAt, UpdatedAt, RunStartedAt time.Time
	// Actor is the login that triggered the run; default "octocat".
	Actor string
	// HeadCommit defaults to the commit HeadSHA names in the git graph.
	HeadCommit HeadCommit
}

// Step is one step of a job.
type Step struct {
	Name, Status, Conclusion string
	// Number defaults to the step's position, from 1.
	Number                 int64
	StartedAt, CompletedAt time.Time
}

// Job is one job of a run attempt.
type Job struct {
	// ID, RunID and RunAttempt are assigned by AddJob.
	ID, RunID  int64
	RunAttempt int
	Name       string
	// Status is queued, in_progress, completed or waiting (default completed when
	// Conclusion is set, queued otherwise).
	Status, Conclusion string
	// StartedAt defaults to the run's RunStartedAt; CompletedAt to the clock for a
	// completed job.
	StartedAt, CompletedAt time.Time
	Steps                  []Step
	// Log is the plain text served by the log download; empty synthesizes one from Steps
	// in the runner's format ("<timestamp> ##[group]…", "##[error]…").
	Log string
	// Labels defaults to ["ubuntu-latest"].
	Labels []string
	// RunnerName defaults to "GitHub Actions N" once the job left the queue.
	RunnerName string
}

type workflow struct {
	id         int64
	file, name string
	created    time.Time
	nextNumber int
}

type runRecord struct {
	run          Run
	workflowID   int64
	checkSuiteID int64
	// attempts[i] lists the job IDs of attempt i+1; jobs a partial re-run did not touch
	// are carried into the new attempt, as GitHub shows them.
	attempts  [][]int64
	artifacts []*artifact
}

type artifact struct {
	id      int64
	name    string
	size    int64
	created time.Time
}

// Retention and re-run limits (docs.github.com/actions/managing-workflow-runs/re-running-workflows-and-jobs):
// a run can be re-run up to 30 days after it started and at most 50 times; artifacts
// are kept 90 days by default.
const (
	rerunWindow       = 30 * 24 * time.Hour
	maxRunAttempts    = 50
	artifactRetention = 90 * 24 * time.Hour
	// logURLTTL is how long a presigned log URL stays valid ("expires after 1 minute",
	// docs.github.com/rest/actions/workflow-jobs#download-job-logs-for-a-workflow-run).
	logURLTTL = time.Minute
)

// AddWorkflow registers a workflow by file name ("deploy-prod.yml") and display name and
// returns its ID. Registering a known file returns the existing ID.
func (s *Server) AddWorkflow(file, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workflowLocked(file, name).id
}

func (s *Server) workflowLocked(file, name string) *workflow {
	if id, ok := s.w.workflowByFile[file]; ok {
		return s.w.workflows[id]
	}
	if name == "" {
		name = strings.TrimSuffix(strings.TrimSuffix(file, ".yml"), ".yaml")
	}
	wf := &workflow{id: s.w.nextWorkflowID, file: file, name: name, created: s.now(), nextNumber: 1}
	s.w.nextWorkflowID++
	s.w.workflows[wf.id] = wf
	s.w.workflowByFile[file] = wf.id
	return wf
}

// AddRun stores a run, filling zero fields with defaults, and returns a copy of what was
// stored. It panics when WorkflowFile is empty: a seeding mistake.
func (s *Server) AddRun(r Run) *Run {
	if r.WorkflowFile == "" {
		panic("githubfake: AddRun needs a WorkflowFile")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wf := s.workflowLocked(r.WorkflowFile, r.Name)
	r.ID = s.w.nextRunID
	s.w.nextRunID++
	if r.RunNumber == 0 {
		r.RunNumber = wf.nextNumber
	}
	wf.nextNumber = max(wf.nextNumber, r.RunNumber+1)
	if r.Name == "" {
		r.Name = wf.name
	}
	if r.HeadBranch == "" {
		r.HeadBranch = s.defaultBranch
	}
	if r.HeadSHA == "" {
		if sha, ok := s.w.refs["refs/heads/"+r.HeadBranch]; ok {
			r.HeadSHA = sha
		} else {
			sum := sha1.Sum([]byte(strconv.FormatInt(r.ID, 10)))
			r.HeadSHA = hex.EncodeToString(sum[:])
		}
	}
	if c, ok := s.w.commits[r.HeadSHA]; ok && r.HeadCommit.Message == "" {
		r.HeadCommit = HeadCommit{Message: c.message, Author: c.author}
	}
	if r.DisplayTitle == "" {
		r.DisplayTitle, _, _ = strings.Cut(r.HeadCommit.Message, "\n")
		if r.DisplayTitle == "" {
			r.DisplayTitle = r.Name
		}
	}
	if r.Event == "" {
		r.Event = "push"
	}
	if r.Status == "" {
		r.Status = "queued"
		if r.Conclusion != "" {
			r.Status = "completed"
		}
	}
	if r.RunAttempt < 1 {
		r.RunAttempt = 1
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	if r.RunStartedAt.IsZero() {
		r.RunStartedAt = r.CreatedAt
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = r.CreatedAt
	}
	if r.Actor == "" {
		r.Actor = "octocat"
	}
	rec := &runRecord{
		run:          r,
		workflowID:   wf.id,
		checkSuiteID: s.w.nextCheckSuiteID,
		attempts:     make([][]int64, r.RunAttempt),
	}
	s.w.nextCheckSuiteID++
	s.w.runs[r.ID] = rec
	out := r
	return &out
}

// Run returns a copy of run id.
func (s *Server) Run(id int64) (Run, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.w.runs[id]
	if !ok {
		return Run{}, false
	}
	return rec.run, true
}

// UpdateRun changes run id in place (its ID cannot change). UpdatedAt moves to the clock
// unless fn set it.
func (s *Server) UpdateRun(id int64, fn func(*Run)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.w.runs[id]
	if !ok {
		return fmt.Errorf("updating run %d: no such run", id)
	}
	before := rec.run.UpdatedAt
	fn(&rec.run)
	rec.run.ID = id
	if rec.run.UpdatedAt.Equal(before) {
		rec.run.UpdatedAt = s.now()
	}
	for len(rec.attempts) < rec.run.RunAttempt {
		rec.attempts = append(rec.attempts, nil)
	}
	return nil
}

// AddJob adds a job to the latest attempt of run runID, filling zero fields with
// defaults, and returns a copy. It panics when the run is unknown: a seeding mistake.
func (s *Server) AddJob(runID int64, j Job) *Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.w.runs[runID]
	if !ok {
		panic(fmt.Sprintf("githubfake: AddJob: no run %d", runID))
	}
	j.ID = s.w.nextJobID
	s.w.nextJobID++
	j.RunID = runID
	j.RunAttempt = rec.run.RunAttempt
	if j.Status == "" {
		j.Status = "queued"
		if j.Conclusion != "" {
			j.Status = "completed"
		}
	}
	if j.StartedAt.IsZero() {
		j.StartedAt = rec.run.RunStartedAt
	}
	if j.Status == "completed" && j.CompletedAt.IsZero() {
		j.CompletedAt = s.now()
	}
	if len(j.Labels) == 0 {
		j.Labels = []string{"ubuntu-latest"}
	}
	if j.RunnerName == "" && j.Status != "queued" && j.Status != "waiting" {
		j.RunnerName = fmt.Sprintf("GitHub Actions %d", j.ID%100)
	}
	j.Steps = slices.Clone(j.Steps)
	for i := range j.Steps {
		st := &j.Steps[i]
		if st.Number == 0 {
			st.Number = int64(i + 1)
		}
		if st.Status == "" {
			st.Status = "queued"
			if st.Conclusion != "" {
				st.Status = "completed"
			}
		}
	}
	stored := j
	s.w.jobs[j.ID] = &stored
	last := len(rec.attempts) - 1
	rec.attempts[last] = append(rec.attempts[last], j.ID)
	return &j
}

// FinishAttempt ends the latest attempt of run runID as GitHub would once its jobs ran:
// every job of the attempt still queued or in progress completes with conclusion
// (success, failure, cancelled …), with its steps, and the run completes with it. Jobs
// carried over from an earlier attempt ("re-run failed jobs") keep theirs. It returns
// the run as it then stands.
func (s *Server) FinishAttempt(runID int64, conclusion string) (Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.w.runs[runID]
	if !ok {
		return Run{}, fmt.Errorf("finishing run %d: no such run", runID)
	}
	now := s.now()
	for _, id := range rec.attempts[len(rec.attempts)-1] {
		j := s.w.jobs[id]
		if j.Status == "completed" {
			continue
		}
		j.Status, j.Conclusion, j.CompletedAt = "completed", conclusion, now
		if j.RunnerName == "" {
			j.RunnerName = fmt.Sprintf("GitHub Actions %d", j.ID%100)
		}
		if len(j.Steps) == 0 {
			j.Steps = []Step{{Name: "Set up job", Conclusion: "success"}, {Name: "Run " + j.Name, Conclusion: conclusion}, {Name: "Complete job", Conclusion: "success"}}
		}
		for i := range j.Steps {
			st := &j.Steps[i]
			if st.Number == 0 {
				st.Number = int64(i + 1)
			}
			st.Status = "completed"
			if st.Conclusion == "" || st.Conclusion == "failure" {
				st.Conclusion = conclusion
			}
			st.StartedAt, st.CompletedAt = j.StartedAt, now
		}
		j.Log = ""
	}
	rec.run.Status, rec.run.Conclusion, rec.run.UpdatedAt = "completed", conclusion, now
	return rec.run, nil
}

// Job returns a copy of job id.
func (s *Server) Job(id int64) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.w.jobs[id]
	if !ok {
		return Job{}, false
	}
	out := *j
	out.Steps = slices.Clone(j.Steps)
	return out, true
}

// Jobs returns copies of the jobs of the latest attempt of run runID, in order.
func (s *Server) Jobs(runID int64) []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.w.runs[runID]
	if !ok {
		return nil
	}
	var out []Job
	for _, id := range rec.attempts[len(rec.attempts)-1] {
		j := *s.w.jobs[id]
		j.Steps = slices.Clone(j.Steps)
		out = append(out, j)
	}
	return out
}

// UpdateJob changes job id in place (its IDs cannot change).
func (s *Server) UpdateJob(id int64, fn func(*Job)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.w.jobs[id]
	if !ok {
		return fmt.Errorf("updating job %d: no such job", id)
	}
	runID, attempt := j.RunID, j.RunAttempt
	fn(j)
	j.ID, j.RunID, j.RunAttempt = id, runID, attempt
	return nil
}

// AddArtifact adds an artifact to run runID and returns its ID. It panics when the run
// is unknown: a seeding mistake.
func (s *Server) AddArtifact(runID int64, name string, size int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.w.runs[runID]
	if !ok {
		panic(fmt.Sprintf("githubfake: AddArtifact: no run %d", runID))
	}
	a := &artifact{id: s.w.nextArtifactID, name: name, size: size, created: s.now()}
	s.w.nextArtifactID++
	rec.artifacts = append(rec.artifacts, a)
	return a.id
}

// JSON documents.

func (s *Server) userDoc(login string) *github.User {
	id := stableID("user", login)
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return &github.User{
		Login:     github.String(login),
		ID:        github.Int64(id),
		NodeID:    github.String(nodeID("U", id)),
		AvatarURL: github.String(fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id)),
		HTMLURL:   github.String("https://github.com/" + login),
		URL:       github.String(s.URL() + "/users/" + login),
		Type:      github.String(typ),
		SiteAdmin: github.Bool(false),
	}
}

func (s *Server) repoDoc() *github.Repository {
	id := stableID("repo", s.owner+"/"+s.repo)
	owner := s.userDoc(s.owner)
	owner.Type = github.String("Organization")
	return &github.Repository{
		ID:            github.Int64(id),
		NodeID:        github.String(nodeID("R", id)),
		Name:          github.String(s.repo),
		FullName:      github.String(s.owner + "/" + s.repo),
		Owner:         owner,
		Private:       github.Bool(true),
		Visibility:    github.String("private"),
		HTMLURL:       github.String(s.htmlURL("")),
		URL:           github.String(s.apiURL("")),
		CloneURL:      github.String(s.htmlURL(".git")),
		DefaultBranch: github.String(s.defaultBranch),
		Fork:          github.Bool(false),
		Archived:      github.Bool(false),
		Disabled:      github.Bool(false),
	}
}

// headRepoDoc is the repository a run's code came from: the served one, or the fork
// Run.HeadRepository names.
func (s *Server) headRepoDoc(r Run) *github.Repository {
	if r.HeadRepository == "" || r.HeadRepository == s.owner+"/"+s.repo {
		return s.repoDoc()
	}
	owner, name, _ := strings.Cut(r.HeadRepository, "/")
	id := stableID("repo", r.HeadRepository)
	return &github.Repository{
		ID:            github.Int64(id),
		NodeID:        github.String(nodeID("R", id)),
		Name:          github.String(name),
		FullName:      github.String(r.HeadRepository),
		Owner:         s.userDoc(owner),
		Private:       github.Bool(false),
		HTMLURL:       github.String("https://github.com/" + r.HeadRepository),
		URL:           github.String(s.URL() + "/repos/" + r.HeadRepository),
		DefaultBranch: github.String(s.defaultBranch),
		Fork:          github.Bool(true),
	}
}

func (s *Server) orgDoc() *github.Organization {
	id := stableID("user", s.owner)
	return &github.Organization{
		Login:     github.String(s.owner),
		ID:        github.Int64(id),
		NodeID:    github.String(nodeID("O", id)),
		URL:       github.String(s.URL() + "/orgs/" + s.owner),
		AvatarURL: github.String(fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id)),
	}
}

func (s *Server) workflowDoc(wf *workflow) *github.Workflow {
	return &github.Workflow{
		ID:        github.Int64(wf.id),
		NodeID:    github.String(nodeID("W", wf.id)),
		Name:      github.String(wf.name),
		Path:      github.String(".github/workflows/" + wf.file),
		State:     github.String("active"),
		CreatedAt: ts(wf.created),
		UpdatedAt: ts(wf.created),
		URL:       github.String(s.apiURL("/actions/workflows/%d", wf.id)),
		HTMLURL:   github.String(s.htmlURL("/blob/%s/.github/workflows/%s", s.defaultBranch, wf.file)),
		BadgeURL:  github.String(s.htmlURL("/workflows/%s/badge.svg", url.PathEscape(wf.name))),
	}
}

// runDoc renders a run as go-github's WorkflowRun. s.mu must be held.
func (s *Server) runDoc(rec *runRecord) *github.WorkflowRun {
	r := rec.run
	wf := s.w.workflows[rec.workflowID]
	repo := s.repoDoc()
	doc := &github.WorkflowRun{
		ID:               github.Int64(r.ID),
		Name:             github.String(r.Name),
		NodeID:           github.String(nodeID("WFR", r.ID)),
		HeadBranch:       github.String(r.HeadBranch),
		HeadSHA:          github.String(r.HeadSHA),
		Path:             github.String(".github/workflows/" + wf.file),
		DisplayTitle:     github.String(r.DisplayTitle),
		RunNumber:        github.Int(r.RunNumber),
		RunAttempt:       github.Int(r.RunAttempt),
		Event:            github.String(r.Event),
		Status:           github.String(r.Status),
		WorkflowID:       github.Int64(wf.id),
		CheckSuiteID:     github.Int64(rec.checkSuiteID),
		CheckSuiteNodeID: github.String(nodeID("CS", rec.checkSuiteID)),
		URL:              github.String(s.apiURL("/actions/runs/%d", r.ID)),
		HTMLURL:          github.String(s.htmlURL("/actions/runs/%d", r.ID)),
		PullRequests:     s.runPullsLocked(r),
		CreatedAt:        ts(r.CreatedAt),
		UpdatedAt:        ts(r.UpdatedAt),
		RunStartedAt:     ts(r.RunStartedAt),
		JobsURL:          github.String(s.apiURL("/actions/runs/%d/jobs", r.ID)),
		LogsURL:          github.String(s.apiURL("/actions/runs/%d/logs", r.ID)),
		CheckSuiteURL:    github.String(s.apiURL("/check-suites/%d", rec.checkSuiteID)),
		ArtifactsURL:     github.String(s.apiURL("/actions/runs/%d/artifacts", r.ID)),
		CancelURL:        github.String(s.apiURL("/actions/runs/%d/cancel", r.ID)),
		RerunURL:         github.String(s.apiURL("/actions/runs/%d/rerun", r.ID)),
		WorkflowURL:      github.String(s.apiURL("/actions/workflows/%d", wf.id)),
		Repository:       repo,
		HeadRepository:   s.headRepoDoc(r),
		Actor:            s.userDoc(r.Actor),
		TriggeringActor:  s.userDoc(r.Actor),
	}
	if r.Conclusion != "" {
		doc.Conclusion = github.String(r.Conclusion)
	}
	if r.RunAttempt > 1 {
		doc.PreviousAttemptURL = github.String(s.apiURL("/actions/runs/%d/attempts/%d", r.ID, r.RunAttempt-1))
	}
	hc := &github.HeadCommit{
		ID:        github.String(r.HeadSHA),
		Message:   github.String(r.HeadCommit.Message),
		Timestamp: ts(r.CreatedAt),
		Author:    &github.CommitAuthor{Name: github.String(r.HeadCommit.Author.Name), Email: github.String(r.HeadCommit.Author.Email)},
		Committer: &github.CommitAuthor{Name: github.String(r.HeadCommit.Author.Name), Email: github.String(r.HeadCommit.Author.Email)},
	}
	if c, ok := s.w.commits[r.HeadSHA]; ok {
		hc.TreeID = github.String(c.tree)
		hc.Timestamp = ts(c.committerDate)
		hc.Committer = &github.CommitAuthor{Name: github.String(c.committer.Name), Email: github.String(c.committer.Email)}
	}
	doc.HeadCommit = hc
	return doc
}

// runJSON is runDoc with the keys GitHub always sends, null when empty.
func (s *Server) runJSON(rec *runRecord) map[string]any {
	return fillAbsent(s.runDoc(rec), map[string]any{
		"conclusion":           nil,
		"pull_requests":        []any{},
		"previous_attempt_url": nil,
		"referenced_workflows": []any{},
	})
}

// jobDoc renders a job as go-github's WorkflowJob. s.mu must be held.
func (s *Server) jobDoc(j *Job) *github.WorkflowJob {
	rec := s.w.runs[j.RunID]
	doc := &github.WorkflowJob{
		ID:           github.Int64(j.ID),
		RunID:        github.Int64(j.RunID),
		RunURL:       github.String(s.apiURL("/actions/runs/%d", j.RunID)),
		NodeID:       github.String(nodeID("CR", j.ID)),
		HeadBranch:   github.String(rec.run.HeadBranch),
		HeadSHA:      github.String(rec.run.HeadSHA),
		URL:          github.String(s.apiURL("/actions/jobs/%d", j.ID)),
		HTMLURL:      github.String(s.htmlURL("/actions/runs/%d/job/%d", j.RunID, j.ID)),
		Status:       github.String(j.Status),
		CreatedAt:    ts(j.StartedAt),
		StartedAt:    ts(j.StartedAt),
		CompletedAt:  ts(j.CompletedAt),
		Name:         github.String(j.Name),
		CheckRunURL:  github.String(s.apiURL("/check-runs/%d", j.ID)),
		Labels:       j.Labels,
		RunAttempt:   github.Int64(int64(j.RunAttempt)),
		WorkflowName: github.String(rec.run.Name),
		Steps:        []*github.TaskStep{},
	}
	if j.Conclusion != "" {
		doc.Conclusion = github.String(j.Conclusion)
	}
	if j.RunnerName != "" {
		doc.RunnerName = github.String(j.RunnerName)
		doc.RunnerID = github.Int64(j.ID % 100)
		doc.RunnerGroupID = github.Int64(2)
		doc.RunnerGroupName = github.String("GitHub Actions")
	}
	for _, st := range j.Steps {
		step := &github.TaskStep{
			Name:        github.String(st.Name),
			Status:      github.String(st.Status),
			Number:      github.Int64(st.Number),
			StartedAt:   ts(st.StartedAt),
			CompletedAt: ts(st.CompletedAt),
		}
		if st.Conclusion != "" {
			step.Conclusion = github.String(st.Conclusion)
		}
		doc.Steps = append(doc.Steps, step)
	}
	return doc
}

// jobJSON is jobDoc with the keys GitHub always sends, null when empty.
func (s *Server) jobJSON(j *Job) map[string]any {
	m := fillAbsent(s.jobDoc(j), map[string]any{
		"conclusion": nil, "completed_at": nil, "steps": []any{}, "labels": []any{},
		"runner_id": nil, "runner_name": nil, "runner_group_id": nil, "runner_group_name": nil,
	})
	if steps, ok := m["steps"].([]any); ok {
		for _, st := range steps {
			if sm, ok := st.(map[string]any); ok {
				for _, k := range []string{"conclusion", "started_at", "completed_at"} {
					if _, ok := sm[k]; !ok {
						sm[k] = nil
					}
				}
			}
		}
	}
	return m
}

// Handlers.

// validRunStatus reports whether the status filter of the run lists accepts v: a
// status or a conclusion (docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository).
func validRunStatus(v string) bool {
	switch v {
	case "requested", "in_progress", "completed", "queued", "waiting", "pending",
		"action_required", "cancelled", "failure", "neutral", "skipped", "stale", "success", "timed_out", "startup_failure":
		return true
	}
	return false
}

// workflowIDLocked resolves a {workflow} path value, a file name or a numeric ID.
// s.mu must be held.
func (s *Server) workflowIDLocked(key string) (int64, bool) {
	if id, ok := s.w.workflowByFile[key]; ok {
		return id, true
	}
	if n, err := strconv.ParseInt(key, 10, 64); err == nil && s.w.workflows[n] != nil {
		return n, true
	}
	return 0, false
}

func (s *Server) listWorkflowRuns(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	id, ok := s.workflowIDLocked(r.PathValue("workflow"))
	s.mu.Unlock()
	if !ok {
		s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow")
		return
	}
	s.listRuns(w, r, id)
}

func (s *Server) listRepoRuns(w http.ResponseWriter, r *http.Request) { s.listRuns(w, r, 0) }

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, workflowID int64) {
	const doc = "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository"
	q := r.URL.Query()
	status := q.Get("status")
	if status != "" && !validRunStatus(status) {
		s.writeValidation(w, doc, fieldError{Resource: "WorkflowRun", Field: "status", Code: "invalid"})
		return
	}
	created, err := parseDateRange(q.Get("created"))
	if err != nil {
		s.writeValidation(w, doc, fieldError{Resource: "WorkflowRun", Field: "created", Code: "invalid", Message: err.Error()})
		return
	}
	s.mu.Lock()
	var recs []*runRecord
	for _, rec := range s.w.runs {
		run := rec.run
		switch {
		case workflowID != 0 && rec.workflowID != workflowID,
			status != "" && run.Status != status && run.Conclusion != status,
			q.Has("branch") && run.HeadBranch != q.Get("branch"),
			q.Has("event") && run.Event != q.Get("event"),
			q.Has("actor") && !strings.EqualFold(run.Actor, q.Get("actor")),
			q.Has("head_sha") && run.HeadSHA != q.Get("head_sha"),
			!created.contains(run.CreatedAt):
			continue
		}
		recs = append(recs, rec)
	}
	// Newest first, as GitHub lists runs.
	slices.SortFunc(recs, func(a, b *runRecord) int {
		if c := b.run.CreatedAt.Compare(a.run.CreatedAt); c != 0 {
			return c
		}
		return int(b.run.ID - a.run.ID)
	})
	lo, hi := s.paginate(w, r, len(recs))
	items := make([]any, 0, hi-lo)
	for _, rec := range recs[lo:hi] {
		items = append(items, s.runJSON(rec))
	}
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, list("workflow_runs", len(recs), items))
}

// runFrom resolves the {run} path value; it answers 404 itself and returns nil when the
// run is unknown. s.mu must be held.
func (s *Server) runFrom(w http.ResponseWriter, r *http.Request) *runRecord {
	id, err := strconv.ParseInt(r.PathValue("run"), 10, 64)
	rec := s.w.runs[id]
	if err != nil || rec == nil {
		s.writeError(w, http.StatusNotFound, "Not Found", docsREST)
		return nil
	}
	return rec
}

// jobFrom resolves the {job} path value like runFrom.
func (s *Server) jobFrom(w http.ResponseWriter, r *http.Request) *Job {
	id, err := strconv.ParseInt(r.PathValue("job"), 10, 64)
	j := s.w.jobs[id]
	if err != nil || j == nil {
		s.writeError(w, http.StatusNotFound, "Not Found", docsREST)
		return nil
	}
	return j
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.runFrom(w, r); rec != nil {
		s.writeJSON(w, http.StatusOK, s.runJSON(rec))
	}
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.runFrom(w, r)
	if rec == nil {
		return
	}
	var ids []int64
	switch f := r.URL.Query().Get("filter"); f {
	case "", "latest":
		ids = rec.attempts[len(rec.attempts)-1]
	case "all":
		for _, a := range rec.attempts {
			for _, id := range a {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	default:
		s.writeValidation(w, "https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run",
			fieldError{Resource: "WorkflowJob", Field: "filter", Code: "invalid"})
		return
	}
	lo, hi := s.paginate(w, r, len(ids))
	items := make([]any, 0, hi-lo)
	for _, id := range ids[lo:hi] {
		items = append(items, s.jobJSON(s.w.jobs[id]))
	}
	s.writeJSON(w, http.StatusOK, list("jobs", len(ids), items))
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobFrom(w, r); j != nil {
		s.writeJSON(w, http.StatusOK, s.jobJSON(j))
	}
}

// jobLogs answers 302 with a presigned plain-text URL, valid for logURLTTL, as GitHub
// does; go-github returns the Location without following it.
func (s *Server) jobLogs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	j := s.jobFrom(w, r)
	s.mu.Unlock()
	if j == nil {
		return
	}
	file := fmt.Sprintf("job-%d.txt", j.ID)
	expiry := s.now().Add(logURLTTL).UTC().Format(time.RFC3339)
	q := url.Values{}
	q.Set("rsct", "text/plain")
	q.Set("se", expiry)
	q.Set("sp", "r")
	q.Set("sr", "b")
	q.Set("sig", s.sign(file, expiry))
	w.Header().Set("Location", s.URL()+"/_blob/"+file+"?"+q.Encode())
	w.WriteHeader(http.StatusFound)
}

func (s *Server) sign(file, expiry string) string {
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(file + "\n" + expiry))
	return hex.EncodeToString(m.Sum(nil))
}

// blob serves a presigned log like Azure Blob Storage: 403 AuthenticationFailed when the
// signature is wrong or expired, 404 BlobNotFound when the job is gone.
func (s *Server) blob(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	q := r.URL.Query()
	expiry, err := time.Parse(time.RFC3339, q.Get("se"))
	if err != nil || !hmac.Equal([]byte(q.Get("sig")), []byte(s.sign(file, q.Get("se")))) || s.now().After(expiry) {
		writeAzureError(w, http.StatusForbidden, "AuthenticationFailed",
			"Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
		return
	}
	var id int64
	if _, err := fmt.Sscanf(path.Base(file), "job-%d.txt", &id); err != nil {
		writeAzureError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	}
	s.mu.Lock()
	j, ok := s.w.jobs[id]
	var text string
	if ok {
		text = j.Log
		if text == "" {
			text = synthesizeLog(j)
		}
	}
	s.mu.Unlock()
	if !ok {
		writeAzureError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(text))
}

func writeAzureError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// synthesizeLog writes a job log in the runner's format from the job's steps.
func synthesizeLog(j *Job) string {
	var b strings.Builder
	stamp := func(t time.Time) string {
		if t.IsZero() {
			t = j.StartedAt
		}
		return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
	}
	for _, st := range j.Steps {
		fmt.Fprintf(&b, "%s ##[group]Run %s\n", stamp(st.StartedAt), st.Name)
		fmt.Fprintf(&b, "%s ##[endgroup]\n", stamp(st.StartedAt))
		if st.Conclusion == "failure" {
			fmt.Fprintf(&b, "%s ##[error]Process completed with exit code 1.\n", stamp(st.CompletedAt))
		}
	}
	return b.String()
}

// rerunnable reports why run rec cannot be re-run ("" when it can). s.mu must be held.
func (s *Server) rerunnable(rec *runRecord) string {
	switch {
	case rec.run.Status != "completed":
		return "This workflow run is not completed"
	case rec.run.RunAttempt >= maxRunAttempts:
		return fmt.Sprintf("This workflow run has been re-run the maximum of %d times", maxRunAttempts)
	case s.now().Sub(rec.run.CreatedAt) > rerunWindow:
		return "This workflow run cannot be re-run because it is older than 30 days"
	}
	return ""
}

// startAttempt opens attempt n+1 of a run: jobs for which again(job) holds are queued
// again under new IDs, the others are carried into the new attempt unchanged, as GitHub
// shows them. s.mu must be held.
func (s *Server) startAttempt(rec *runRecord, again func(*Job) bool) {
	now := s.now()
	prev := rec.attempts[len(rec.attempts)-1]
	rec.run.RunAttempt++
	rec.run.Status = "queued"
	rec.run.Conclusion = ""
	rec.run.UpdatedAt = now
	rec.run.RunStartedAt = now
	next := make([]int64, 0, len(prev))
	for _, id := range prev {
		old := s.w.jobs[id]
		if !again(old) {
			next = append(next, id)
			continue
		}
		nj := &Job{
			ID: s.w.nextJobID, RunID: old.RunID, RunAttempt: rec.run.RunAttempt,
			Name: old.Name, Status: "queued", StartedAt: now, Labels: slices.Clone(old.Labels),
		}
		s.w.nextJobID++
		s.w.jobs[nj.ID] = nj
		next = append(next, nj.ID)
	}
	rec.attempts = append(rec.attempts, next)
}

func (s *Server) rerun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.runFrom(w, r)
	if rec == nil {
		return
	}
	if why := s.rerunnable(rec); why != "" {
		s.writeError(w, http.StatusForbidden, why, "https://docs.github.com/rest/actions/workflow-runs#re-run-a-workflow")
		return
	}
	s.startAttempt(rec, func(*Job) bool { return true })
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte("{}"))
}

// failedJob reports whether "re-run failed jobs" repeats j. Jobs skipped because a job
// they need failed are re-run with it; the fake has no dependency graph and treats every
// skipped job as such a dependent.
func failedJob(j *Job) bool {
	switch j.Conclusion {
	case "failure", "cancelled", "timed_out", "startup_failure", "skipped":
		return true
	}
	return false
}

func (s *Server) rerunFailed(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.runFrom(w, r)
	if rec == nil {
		return
	}
	if why := s.rerunnable(rec); why != "" {
		s.writeError(w, http.StatusForbidden, why, "https://docs.github.com/rest/actions/workflow-runs#re-run-failed-jobs-from-a-workflow-run")
		return
	}
	s.startAttempt(rec, failedJob)
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte("{}"))
}

func (s *Server) rerunJob(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobFrom(w, r)
	if j == nil {
		return
	}
	rec := s.w.runs[j.RunID]
	const doc = "https://docs.github.com/rest/actions/workflow-runs#re-run-a-job-from-a-workflow-run"
	if why := s.rerunnable(rec); why != "" {
		s.writeError(w, http.StatusForbidden, why, doc)
		return
	}
	if !slices.Contains(rec.attempts[len(rec.attempts)-1], j.ID) {
		s.writeError(w, http.StatusForbidden, "This job is not part of the latest attempt of its workflow run", doc)
		return
	}
	target := j.ID
	s.startAttempt(rec, func(o *Job) bool { return o.ID == target })
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte("{}"))
}

// cancelRun answers 202 (go-github reports it as *github.AcceptedError) and cancels the
// run at once; GitHub finishes cancelling a moment later. A completed run answers 409.
func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.runFrom(w, r)
	if rec == nil {
		return
	}
	if rec.run.Status == "completed" {
		s.writeError(w, http.StatusConflict, "Cannot cancel a workflow run that is completed.",
			"https://docs.github.com/rest/actions/workflow-runs#cancel-a-workflow-run")
		return
	}
	now := s.now()
	rec.run.Status, rec.run.Conclusion, rec.run.UpdatedAt = "completed", "cancelled", now
	for _, id := range rec.attempts[len(rec.attempts)-1] {
		j := s.w.jobs[id]
		if j.Status == "completed" {
			continue
		}
		j.Status, j.Conclusion, j.CompletedAt = "completed", "cancelled", now
		for i := range j.Steps {
			st := &j.Steps[i]
			switch st.Status {
			case "in_progress":
				st.Status, st.Conclusion, st.CompletedAt = "completed", "cancelled", now
			case "queued", "pending", "":
				st.Status, st.Conclusion = "completed", "skipped"
			}
		}
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte("{}"))
}

// dispatchWorkflow answers a workflow_dispatch event with 204 and no body; the request
// stays in Mutations, where tests read ref and inputs. ref must name a branch or a tag
// (GitHub answers 422 "No ref found for: <ref>" otherwise, a SHA included). The fake
// knows no workflow's triggers or declared inputs, so it never answers GitHub's 422s
// for a workflow without a workflow_dispatch trigger or for unexpected inputs, and it
// starts no run.
func (s *Server) dispatchWorkflow(w http.ResponseWriter, r *http.Request) {
	const doc = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
	var body struct {
		Ref    *string        `json:"ref"`
		Inputs map[string]any `json:"inputs"`
	}
	if !s.decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.workflowIDLocked(r.PathValue("workflow")); !ok {
		s.writeError(w, http.StatusNotFound, "Not Found", doc)
		return
	}
	if body.Ref == nil {
		s.invalidRequest(w, "ref", doc)
		return
	}
	ref := *body.Ref
	found := false
	for _, name := range []string{"refs/heads/" + ref, "refs/tags/" + ref, ref} {
		if _, ok := s.w.refs[name]; ok && strings.HasPrefix(name, "refs/") {
			found = true
			break
		}
	}
	if !found {
		s.writeError(w, http.StatusUnprocessableEntity, "No ref found for: "+ref, doc)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.runFrom(w, r)
	if rec == nil {
		return
	}
	lo, hi := s.paginate(w, r, len(rec.artifacts))
	items := make([]any, 0, hi-lo)
	repoID := stableID("repo", s.owner+"/"+s.repo)
	for _, a := range rec.artifacts[lo:hi] {
		expires := a.created.Add(artifactRetention)
		items = append(items, &github.Artifact{
			ID:                 github.Int64(a.id),
			NodeID:             github.String(nodeID("MDg", a.id)),
			Name:               github.String(a.name),
			SizeInBytes:        github.Int64(a.size),
			URL:                github.String(s.apiURL("/actions/artifacts/%d", a.id)),
			ArchiveDownloadURL: github.String(s.apiURL("/actions/artifacts/%d/zip", a.id)),
			Expired:            github.Bool(s.now().After(expires)),
			CreatedAt:          ts(a.created),
			UpdatedAt:          ts(a.created),
			ExpiresAt:          ts(expires),
			WorkflowRun: &github.ArtifactWorkflowRun{
				ID: github.Int64(rec.run.ID), RepositoryID: github.Int64(repoID), HeadRepositoryID: github.Int64(repoID),
				HeadBranch: github.String(rec.run.HeadBranch), HeadSHA: github.String(rec.run.HeadSHA),
			},
		})
	}
	s.writeJSON(w, http.StatusOK, list("artifacts", len(rec.artifacts), items))
}

// dateRange is a parsed "created" filter in GitHub's search syntax.
type dateRange struct {
	from, to time.Time // inclusive; zero means open
}

func (d dateRange) contains(t time.Time) bool {
	return (d.from.IsZero() || !t.Before(d.from)) && (d.to.IsZero() || !t.After(d.to))
}

// parseDateRange reads GitHub's date qualifiers: "2024-05-01", ">=2024-05-01",
// "<2024-05-01T10:00:00Z", "2024-05-01..2024-05-07", "2024-05-01..*".
func parseDateRange(v string) (dateRange, error) {
	if v == "" {
		return dateRange{}, nil
	}
	// parse returns the first and last instant a date or date-time names.
	parse := func(s string) (lo, hi time.Time, err error) {
		if t, err := time.Parse("2006-01-02", s); err == nil {
			return t, t.Add(24*time.Hour - time.Nanosecond), nil
		}
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, t, nil
			}
		}
		return time.Time{}, time.Time{}, fmt.Errorf("invalid date %q", s)
	}
	var d dateRange
	switch {
	case strings.Contains(v, ".."):
		a, b, _ := strings.Cut(v, "..")
		if a != "*" {
			lo, _, err := parse(a)
			if err != nil {
				return d, err
			}
			d.from = lo
		}
		if b != "*" {
			_, hi, err := parse(b)
			if err != nil {
				return d, err
			}
			d.to = hi
		}
	case strings.HasPrefix(v, ">="), strings.HasPrefix(v, "<="):
		lo, hi, err := parse(v[2:])
		if err != nil {
			return d, err
		}
		if v[0] == '>' {
			d.from = lo
		} else {
			d.to = hi
		}
	case strings.HasPrefix(v, ">"), strings.HasPrefix(v, "<"):
		lo, hi, err := parse(v[1:])
		if err != nil {
			return d, err
		}
		if v[0] == '>' {
			d.from = hi.Add(time.Nanosecond)
		} else {
			d.to = lo.Add(-time.Nanosecond)
		}
	default:
		lo, hi, err := parse(v)
		if err != nil {
			return d, err
		}
		d.from, d.to = lo, hi
	}
	return d, nil
}
