package githubfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

// seedRuns adds runs of deploy-prod.yml, one hour apart, oldest first, plus one run of
// another workflow, and returns the deploy runs' IDs.
func seedRuns(srv *githubfake.Server, clk *clock, conclusions ...string) []int64 {
	srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	srv.AddWorkflow("test-dev.yml", "Dev Tests")
	var ids []int64
	base := clk.Now().Add(-time.Duration(len(conclusions)) * time.Hour)
	for i, c := range conclusions {
		r := srv.AddRun(githubfake.Run{
			WorkflowFile: "deploy-prod.yml", Conclusion: c,
			HeadSHA:    strings.Repeat(string(rune('a'+i)), 40),
			CreatedAt:  base.Add(time.Duration(i) * time.Hour),
			Event:      "workflow_dispatch",
			HeadCommit: githubfake.HeadCommit{Message: "deploy model v" + string(rune('1'+i)), Author: githubfake.Person{Name: "Dev One", Email: "dev1@example.com"}},
		})
		ids = append(ids, r.ID)
	}
	srv.AddRun(githubfake.Run{WorkflowFile: "test-dev.yml", Conclusion: "success", CreatedAt: clk.Now()})
	return ids
}

func TestListWorkflowRunsByFileNameFilters(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	ids := seedRuns(srv, clk, "success", "failure", "success", "failure", "success")
	hotfix := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Status: "in_progress", HeadBranch: "hotfix", CreatedAt: clk.Now()})
	gh := mustClient(t, srv)

	tests := []struct {
		name string
		opts github.ListWorkflowRunsOptions
		want []int64 // newest first
	}{
		{"conclusion success", github.ListWorkflowRunsOptions{Status: "success"}, []int64{ids[4], ids[2], ids[0]}},
		{"conclusion failure", github.ListWorkflowRunsOptions{Status: "failure"}, []int64{ids[3], ids[1]}},
		{"status completed", github.ListWorkflowRunsOptions{Status: "completed"}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"branch", github.ListWorkflowRunsOptions{Branch: "main", Status: "failure"}, []int64{ids[3], ids[1]}},
		{"head sha", github.ListWorkflowRunsOptions{HeadSHA: strings.Repeat("c", 40)}, []int64{ids[2]}},
		{"event", github.ListWorkflowRunsOptions{Event: "push"}, []int64{hotfix.ID}},
		{"status in_progress", github.ListWorkflowRunsOptions{Status: "in_progress"}, []int64{hotfix.ID}},
		{"no match", github.ListWorkflowRunsOptions{Branch: "release"}, nil},
		{"created range", github.ListWorkflowRunsOptions{Created: clk.Now().Add(-4*time.Hour).Format(time.RFC3339) + ".." + clk.Now().Add(-2*time.Hour).Format(time.RFC3339)}, []int64{ids[3], ids[2], ids[1]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs, _, err := gh.Actions.ListWorkflowRunsByFileName(context.Background(), owner, repo, "deploy-prod.yml", &tt.opts)
			if err != nil {
				t.Fatalf("ListWorkflowRunsByFileName: %v", err)
			}
			var got []int64
			for _, r := range runs.WorkflowRuns {
				got = append(got, r.GetID())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got runs %v, want %v", got, tt.want)
			}
			if runs.GetTotalCount() != len(tt.want) {
				t.Errorf("got total_count %d, want %d", runs.GetTotalCount(), len(tt.want))
			}
		})
	}
}

func TestListWorkflowRunsPaging(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	ids := seedRuns(srv, clk, "success", "failure", "success", "success", "success")
	gh := mustClient(t, srv)

	opts := &github.ListWorkflowRunsOptions{Status: "success", ListOptions: github.ListOptions{PerPage: 3}}
	var got []int64
	var pages int
	for {
		runs, resp, err := gh.Actions.ListWorkflowRunsByFileName(context.Background(), owner, repo, "deploy-prod.yml", opts)
		if err != nil {
			t.Fatalf("page %d: %v", opts.Page, err)
		}
		pages++
		if runs.GetTotalCount() != 4 {
			t.Errorf("page %d: got total_count %d, want 4", pages, runs.GetTotalCount())
		}
		if pages == 1 && resp.LastPage != 2 {
			t.Errorf("page 1: got LastPage %d, want 2", resp.LastPage)
		}
		for _, r := range runs.WorkflowRuns {
			got = append(got, r.GetID())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	want := []int64{ids[4], ids[3], ids[2], ids[0]}
	if pages != 2 || !slices.Equal(got, want) {
		t.Errorf("got %d pages with runs %v, want 2 pages with %v", pages, got, want)
	}
	if n := srv.Calls("ListWorkflowRuns"); n != 2 {
		t.Errorf("got %d ListWorkflowRuns calls, want 2", n)
	}
}

func TestListRepositoryWorkflowRunsAndUnknownWorkflow(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	seedRuns(srv, clk, "failure", "success")
	gh := mustClient(t, srv)

	runs, _, err := gh.Actions.ListRepositoryWorkflowRuns(context.Background(), owner, repo, &github.ListWorkflowRunsOptions{Status: "success"})
	if err != nil {
		t.Fatalf("ListRepositoryWorkflowRuns: %v", err)
	}
	if runs.GetTotalCount() != 2 {
		t.Errorf("got %d successful runs repo-wide, want 2 (one per workflow)", runs.GetTotalCount())
	}
	_, _, err = gh.Actions.ListWorkflowRunsByFileName(context.Background(), owner, repo, "nope.yml", nil)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound {
		t.Errorf("unknown workflow: got %v, want a 404 *github.ErrorResponse", err)
	}
}

func TestGetWorkflowRunByID(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	ids := seedRuns(srv, clk, "failure")
	gh := mustClient(t, srv)

	run, _, err := gh.Actions.GetWorkflowRunByID(context.Background(), owner, repo, ids[0])
	if err != nil {
		t.Fatalf("GetWorkflowRunByID: %v", err)
	}
	checks := []struct{ field, got, want string }{
		{"name", run.GetName(), "Deploy to Production"},
		{"path", run.GetPath(), ".github/workflows/deploy-prod.yml"},
		{"head_branch", run.GetHeadBranch(), "main"},
		{"head_sha", run.GetHeadSHA(), strings.Repeat("a", 40)},
		{"status", run.GetStatus(), "completed"},
		{"conclusion", run.GetConclusion(), "failure"},
		{"event", run.GetEvent(), "workflow_dispatch"},
		{"display_title", run.GetDisplayTitle(), "deploy model v1"},
		{"head_commit.message", run.GetHeadCommit().GetMessage(), "deploy model v1"},
		{"head_commit.author.email", run.GetHeadCommit().GetAuthor().GetEmail(), "dev1@example.com"},
		{"actor", run.GetActor().GetLogin(), "octocat"},
		{"repository", run.GetRepository().GetFullName(), "acme/sentiment-analyzer"},
		{"html_url", run.GetHTMLURL(), "https://github.com/acme/sentiment-analyzer/actions/runs/" + itoa(ids[0])},
		{"jobs_url", run.GetJobsURL(), srv.URL() + "/repos/acme/sentiment-analyzer/actions/runs/" + itoa(ids[0]) + "/jobs"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.field, c.got, c.want)
		}
	}
	if run.GetRunAttempt() != 1 || run.GetRunNumber() != 1 {
		t.Errorf("got run_attempt %d run_number %d, want 1 and 1", run.GetRunAttempt(), run.GetRunNumber())
	}
	if ids[0] <= 1<<32 {
		t.Errorf("got run ID %d, want one above 2^32 like GitHub's", ids[0])
	}

	_, _, err = gh.Actions.GetWorkflowRunByID(context.Background(), owner, repo, 42)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusNotFound || er.Message != "Not Found" {
		t.Errorf("unknown run: got %v, want 404 Not Found", err)
	}
}

// TestRunJSONKeepsNulls pins the raw JSON: GitHub sends "conclusion": null for a run
// that is still going, and empty arrays rather than leaving keys out.
func TestRunJSONKeepsNulls(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Status: "in_progress"})
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/repos/acme/sentiment-analyzer/actions/runs/"+itoa(r.ID), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET run: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("decoding run: %v", err)
	}
	if v, ok := m["conclusion"]; !ok || v != nil {
		t.Errorf("got conclusion %v (present %v), want null", v, ok)
	}
	if v, ok := m["pull_requests"].([]any); !ok || len(v) != 0 {
		t.Errorf("got pull_requests %v, want []", m["pull_requests"])
	}
	if got := resp.Header.Get("X-RateLimit-Remaining"); got != "4999" {
		t.Errorf("got X-RateLimit-Remaining %q, want 4999", got)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// seedFailedRun adds a failed prod deploy with a passing test job and a failing deploy job.
func seedFailedRun(srv *githubfake.Server, clk *clock) (run *githubfake.Run, testJob, deployJob *githubfake.Job) {
	t0 := clk.Now().Add(-10 * time.Minute)
	run = srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure", CreatedAt: t0})
	testJob = srv.AddJob(run.ID, githubfake.Job{Name: "test", Conclusion: "success", StartedAt: t0, CompletedAt: t0.Add(time.Minute),
		Steps: []githubfake.Step{{Name: "Set up job", Conclusion: "success"}, {Name: "Run pytest", Conclusion: "success"}}})
	deployJob = srv.AddJob(run.ID, githubfake.Job{Name: "deploy", Conclusion: "failure", StartedAt: t0.Add(time.Minute), CompletedAt: t0.Add(3 * time.Minute),
		Steps: []githubfake.Step{
			{Name: "Set up job", Conclusion: "success"},
			{Name: "Terraform Apply", Conclusion: "failure"},
			{Name: "Post Run actions/checkout@v4", Conclusion: "skipped", Number: 14},
		},
		Log: "2024-06-01T09:52:00.0000000Z ##[group]Run terraform apply\n2024-06-01T09:53:00.0000000Z Error: Error acquiring the state lock\n"})
	return run, testJob, deployJob
}

func TestListWorkflowJobsWithSteps(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	run, _, deploy := seedFailedRun(srv, clk)
	gh := mustClient(t, srv)

	jobs, _, err := gh.Actions.ListWorkflowJobs(context.Background(), owner, repo, run.ID, &github.ListWorkflowJobsOptions{Filter: "latest"})
	if err != nil {
		t.Fatalf("ListWorkflowJobs: %v", err)
	}
	if jobs.GetTotalCount() != 2 || len(jobs.Jobs) != 2 {
		t.Fatalf("got %d jobs (total_count %d), want 2", len(jobs.Jobs), jobs.GetTotalCount())
	}
	j := jobs.Jobs[1]
	if j.GetID() != deploy.ID || j.GetName() != "deploy" || j.GetConclusion() != "failure" || j.GetRunID() != run.ID {
		t.Errorf("got job %d %q %q run %d, want %d \"deploy\" \"failure\" run %d", j.GetID(), j.GetName(), j.GetConclusion(), j.GetRunID(), deploy.ID, run.ID)
	}
	if j.GetWorkflowName() != run.Name {
		t.Errorf("got workflow_name %q, want %q", j.GetWorkflowName(), run.Name)
	}
	var steps []string
	for _, st := range j.Steps {
		steps = append(steps, st.GetName()+"#"+itoa(st.GetNumber())+"="+st.GetConclusion())
	}
	want := []string{"Set up job#1=success", "Terraform Apply#2=failure", "Post Run actions/checkout@v4#14=skipped"}
	if !slices.Equal(steps, want) {
		t.Errorf("got steps %v, want %v", steps, want)
	}

	one, _, err := gh.Actions.GetWorkflowJobByID(context.Background(), owner, repo, deploy.ID)
	if err != nil {
		t.Fatalf("GetWorkflowJobByID: %v", err)
	}
	if one.GetHTMLURL() != j.GetHTMLURL() || len(one.Steps) != 3 {
		t.Errorf("got job %s with %d steps, want %s with 3", one.GetHTMLURL(), len(one.Steps), j.GetHTMLURL())
	}
}

func TestJobLogsRedirect(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	_, testJob, deploy := seedFailedRun(srv, clk)
	gh := mustClient(t, srv)

	u, _, err := gh.Actions.GetWorkflowJobLogs(context.Background(), owner, repo, deploy.ID, 1)
	if err != nil {
		t.Fatalf("GetWorkflowJobLogs: %v", err)
	}
	get := func(raw string) (int, string) {
		t.Helper()
		resp, err := http.Get(raw) // no Authorization, as medic fetches it
		if err != nil {
			t.Fatalf("GET log: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, text := get(u.String())
	if status != http.StatusOK || text != deploy.Log {
		t.Errorf("got %d %q, want 200 %q", status, text, deploy.Log)
	}

	// A synthesized log for a job without Log shows its steps.
	u2, _, err := gh.Actions.GetWorkflowJobLogs(context.Background(), owner, repo, testJob.ID, 1)
	if err != nil {
		t.Fatalf("GetWorkflowJobLogs: %v", err)
	}
	if _, text := get(u2.String()); !strings.Contains(text, "##[group]Run Run pytest") {
		t.Errorf("got synthesized log %q, want the step groups", text)
	}

	// The presigned URL expires after a minute.
	clk.Advance(2 * time.Minute)
	if status, _ := get(u.String()); status != http.StatusForbidden {
		t.Errorf("expired log URL: got %d, want 403", status)
	}
	// A tampered signature is refused too.
	tampered := strings.Replace(u2.String(), "sig=", "sig=00", 1)
	if status, _ := get(tampered); status != http.StatusForbidden {
		t.Errorf("tampered log URL: got %d, want 403", status)
	}
}

func TestRerunAndCancelSideEffects(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	gh := mustClient(t, srv)

	t.Run("rerun all", func(t *testing.T) {
		run, testJob, deploy := seedFailedRun(srv, clk)
		resp, err := gh.Actions.RerunWorkflowByID(ctx, owner, repo, run.ID)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("RerunWorkflowByID: got %v, %v; want 201", resp, err)
		}
		got, _, err := gh.Actions.GetWorkflowRunByID(ctx, owner, repo, run.ID)
		if err != nil {
			t.Fatalf("GetWorkflowRunByID: %v", err)
		}
		if got.GetRunAttempt() != 2 || got.GetStatus() != "queued" || got.Conclusion != nil {
			t.Errorf("got attempt %d status %q conclusion %v, want 2 queued nil", got.GetRunAttempt(), got.GetStatus(), got.Conclusion)
		}
		latest, _, _ := gh.Actions.ListWorkflowJobs(ctx, owner, repo, run.ID, &github.ListWorkflowJobsOptions{Filter: "latest"})
		all, _, _ := gh.Actions.ListWorkflowJobs(ctx, owner, repo, run.ID, &github.ListWorkflowJobsOptions{Filter: "all"})
		if latest.GetTotalCount() != 2 || all.GetTotalCount() != 4 {
			t.Errorf("got %d latest and %d all jobs, want 2 and 4", latest.GetTotalCount(), all.GetTotalCount())
		}
		for _, j := range latest.Jobs {
			if j.GetID() == testJob.ID || j.GetID() == deploy.ID || j.GetStatus() != "queued" || j.GetRunAttempt() != 2 {
				t.Errorf("got latest job %d %q attempt %d, want a new queued job of attempt 2", j.GetID(), j.GetStatus(), j.GetRunAttempt())
			}
		}
	})

	t.Run("rerun failed jobs", func(t *testing.T) {
		run, testJob, deploy := seedFailedRun(srv, clk)
		if _, err := gh.Actions.RerunFailedJobsByID(ctx, owner, repo, run.ID); err != nil {
			t.Fatalf("RerunFailedJobsByID: %v", err)
		}
		jobs := srv.Jobs(run.ID)
		if len(jobs) != 2 || jobs[0].ID != testJob.ID || jobs[1].ID == deploy.ID || jobs[1].Status != "queued" {
			t.Errorf("got latest jobs %+v, want the passing job kept and the deploy job queued anew", jobs)
		}
	})

	t.Run("rerun failed jobs, then the attempt passes", func(t *testing.T) {
		run, testJob, _ := seedFailedRun(srv, clk)
		if _, err := gh.Actions.RerunFailedJobsByID(ctx, owner, repo, run.ID); err != nil {
			t.Fatalf("RerunFailedJobsByID: %v", err)
		}
		if _, err := srv.FinishAttempt(run.ID, "success"); err != nil {
			t.Fatal(err)
		}
		got, _, err := gh.Actions.GetWorkflowRunByID(ctx, owner, repo, run.ID)
		if err != nil || got.GetRunAttempt() != 2 || got.GetStatus() != "completed" || got.GetConclusion() != "success" {
			t.Fatalf("run: got attempt %d %s/%s (%v), want attempt 2 completed/success", got.GetRunAttempt(), got.GetStatus(), got.GetConclusion(), err)
		}
		latest, _, _ := gh.Actions.ListWorkflowJobs(ctx, owner, repo, run.ID, &github.ListWorkflowJobsOptions{Filter: "latest"})
		for _, j := range latest.Jobs {
			if j.GetStatus() != "completed" || j.GetConclusion() != "success" || (j.GetID() != testJob.ID && len(j.Steps) == 0) {
				t.Errorf("job %d %s: %s/%s with %d steps, want completed/success with steps", j.GetID(), j.GetName(), j.GetStatus(), j.GetConclusion(), len(j.Steps))
			}
		}
		if _, err := srv.FinishAttempt(999999, "success"); err == nil {
			t.Error("finishing an unknown run: no error")
		}
	})

	t.Run("rerun one job", func(t *testing.T) {
		run, testJob, _ := seedFailedRun(srv, clk)
		if _, err := gh.Actions.RerunJobByID(ctx, owner, repo, testJob.ID); err != nil {
			t.Fatalf("RerunJobByID: %v", err)
		}
		got, _ := srv.Run(run.ID)
		jobs := srv.Jobs(run.ID)
		if got.RunAttempt != 2 || jobs[0].ID == testJob.ID || jobs[0].Name != "test" || jobs[1].Conclusion != "failure" {
			t.Errorf("got attempt %d jobs %+v, want attempt 2 with a new test job and the old deploy job", got.RunAttempt, jobs)
		}
	})

	t.Run("rerun while running is refused", func(t *testing.T) {
		run := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Status: "in_progress"})
		_, err := gh.Actions.RerunWorkflowByID(ctx, owner, repo, run.ID)
		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden {
			t.Errorf("got %v, want 403", err)
		}
	})

	t.Run("rerun after 30 days is refused", func(t *testing.T) {
		run := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure", CreatedAt: clk.Now().Add(-31 * 24 * time.Hour)})
		_, err := gh.Actions.RerunWorkflowByID(ctx, owner, repo, run.ID)
		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusForbidden {
			t.Errorf("got %v, want 403", err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		run := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Status: "in_progress"})
		job := srv.AddJob(run.ID, githubfake.Job{Name: "deploy", Status: "in_progress",
			Steps: []githubfake.Step{{Name: "Set up job", Conclusion: "success"}, {Name: "Terraform Apply", Status: "in_progress"}, {Name: "Smoke test"}}})
		_, err := gh.Actions.CancelWorkflowRunByID(ctx, owner, repo, run.ID)
		var accepted *github.AcceptedError
		if !errors.As(err, &accepted) {
			t.Fatalf("CancelWorkflowRunByID: got %v, want *github.AcceptedError (202)", err)
		}
		got, _ := srv.Run(run.ID)
		j, _ := srv.Job(job.ID)
		if got.Status != "completed" || got.Conclusion != "cancelled" || j.Conclusion != "cancelled" {
			t.Errorf("got run %s/%s job %s, want completed/cancelled and a cancelled job", got.Status, got.Conclusion, j.Conclusion)
		}
		if c := j.Steps[1].Conclusion + "," + j.Steps[2].Conclusion; c != "cancelled,skipped" {
			t.Errorf("got step conclusions %s, want cancelled,skipped", c)
		}

		_, err = gh.Actions.CancelWorkflowRunByID(ctx, owner, repo, run.ID)
		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != http.StatusConflict || er.Message != "Cannot cancel a workflow run that is completed." {
			t.Errorf("second cancel: got %v, want 409 Cannot cancel a workflow run that is completed.", err)
		}
	})

	var ops []string
	for _, m := range srv.Mutations() {
		ops = append(ops, m.Op+"="+itoa(int64(m.Status)))
	}
	want := []string{"Rerun=201", "RerunFailed=201", "RerunFailed=201", "RerunJob=201", "Rerun=403", "Rerun=403", "CancelRun=202", "CancelRun=409"}
	if !slices.Equal(ops, want) {
		t.Errorf("got mutations %v, want %v", ops, want)
	}
	if n := srv.Calls("github:CancelRun"); n != 2 {
		t.Errorf("got %d CancelRun calls, want 2", n)
	}
}

func TestListArtifacts(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	run, _, _ := seedFailedRun(srv, clk)
	id := srv.AddArtifact(run.ID, "terraform-plan", 2048)
	gh := mustClient(t, srv)

	list, _, err := gh.Actions.ListWorkflowRunArtifacts(context.Background(), owner, repo, run.ID, nil)
	if err != nil {
		t.Fatalf("ListWorkflowRunArtifacts: %v", err)
	}
	if list.GetTotalCount() != 1 || list.Artifacts[0].GetID() != id || list.Artifacts[0].GetName() != "terraform-plan" ||
		list.Artifacts[0].GetSizeInBytes() != 2048 || list.Artifacts[0].GetWorkflowRun().GetID() != run.ID {
		t.Errorf("got %v, want one terraform-plan artifact of 2048 bytes for run %d", list, run.ID)
	}
}
