package githubfake_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

func TestIssuesAndPullsShareNumbers(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	first, _ := seedMain(srv, clk)
	gh := mustClient(t, srv)

	issue, resp, err := gh.Issues.Create(ctx, owner, repo, &github.IssueRequest{
		Title:     github.String("Post-incident: prod deploy failed"),
		Body:      github.String("Timeline…"),
		Labels:    &[]string{"incident", "prod"},
		Assignees: &[]string{"dev-one"},
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("Issues.Create: got %v, %v; want 201", resp, err)
	}
	if issue.GetNumber() != 1 || issue.GetHTMLURL() != "https://github.com/acme/sentiment-analyzer/issues/1" || issue.GetState() != "open" ||
		len(issue.Labels) != 2 || issue.GetAssignee().GetLogin() != "dev-one" || issue.GetUser().GetLogin() != "medic-bot" {
		t.Errorf("got issue #%d %s %s labels %d assignee %s by %s, want #1 open with 2 labels for dev-one by medic-bot",
			issue.GetNumber(), issue.GetHTMLURL(), issue.GetState(), len(issue.Labels), issue.GetAssignee().GetLogin(), issue.GetUser().GetLogin())
	}

	_, _, err = gh.Issues.Create(ctx, owner, repo, &github.IssueRequest{Body: github.String("no title")})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity || len(er.Errors) != 1 || er.Errors[0].Field != "title" {
		t.Errorf("issue without title: got %v, want 422 with a title field error", err)
	}

	if _, _, err := gh.Git.CreateRef(ctx, owner, repo, &github.Reference{Ref: github.String("refs/heads/medic/revert"), Object: &github.GitObject{SHA: github.String(first)}}); err != nil {
		t.Fatalf("CreateRef: %v", err)
	}
	// medic/revert is behind main: no commits to merge.
	_, _, err = gh.PullRequests.Create(ctx, owner, repo, &github.NewPullRequest{Title: github.String("Revert"), Head: github.String("medic/revert"), Base: github.String("main")})
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity || len(er.Errors) != 1 || !strings.HasPrefix(er.Errors[0].Message, "No commits between") {
		t.Errorf("empty pull request: got %v, want 422 No commits between", err)
	}
	srv.AddCommit(githubfake.Commit{Branch: "medic/revert", Message: "Revert", Files: map[string]string{"x": "y"}})
	pr, resp, err := gh.PullRequests.Create(ctx, owner, repo, &github.NewPullRequest{
		Title: github.String("Revert \"Promote model v2\""), Head: github.String("acme:medic/revert"), Base: github.String("main"),
	})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("PullRequests.Create: got %v, %v; want 201", resp, err)
	}
	if pr.GetNumber() != 2 || pr.GetHead().GetRef() != "medic/revert" || pr.GetBase().GetRef() != "main" || pr.GetHTMLURL() != "https://github.com/acme/sentiment-analyzer/pull/2" {
		t.Errorf("got PR #%d %s→%s %s, want #2 medic/revert→main", pr.GetNumber(), pr.GetHead().GetRef(), pr.GetBase().GetRef(), pr.GetHTMLURL())
	}
	_, _, err = gh.PullRequests.Create(ctx, owner, repo, &github.NewPullRequest{Title: github.String("again"), Head: github.String("medic/revert"), Base: github.String("main")})
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("duplicate pull request: got %v, want 422", err)
	}

	issues, pulls := srv.Issues(), srv.PullRequests()
	if len(issues) != 1 || issues[0].Title != "Post-incident: prod deploy failed" || !slices.Equal(issues[0].Labels, []string{"incident", "prod"}) {
		t.Errorf("got issues %+v, want the post-incident issue", issues)
	}
	if len(pulls) != 1 || pulls[0].Number != 2 || pulls[0].Head != "medic/revert" {
		t.Errorf("got pulls %+v, want PR #2 from medic/revert", pulls)
	}
}

// untar reads a gzip'd tar into name → content (directories end in "/") and returns the
// pax global header's comment.
func untar(t *testing.T, r io.Reader) (map[string]string, string) {
	t.Helper()
	gz, err := gzip.NewReader(r)
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	files := map[string]string{}
	var comment string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		if c, ok := h.PAXRecords["comment"]; ok {
			comment = c
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	return files, comment
}

func TestTarballAtSHA(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	first, _ := seedMain(srv, clk)
	gh := mustClient(t, srv)

	u, resp, err := gh.Repositories.GetArchiveLink(ctx, owner, repo, github.Tarball, &github.RepositoryContentGetOptions{Ref: first}, 1)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("GetArchiveLink: got %v, %v; want 302", resp, err)
	}
	get, err := http.Get(u.String()) // codeload needs no token
	if err != nil {
		t.Fatalf("GET archive: %v", err)
	}
	defer get.Body.Close()
	if get.StatusCode != http.StatusOK {
		t.Fatalf("GET archive: got %d, want 200", get.StatusCode)
	}
	files, comment := untar(t, get.Body)
	top := "acme-sentiment-analyzer-" + first[:7] + "/"
	want := map[string]string{
		top:                           "",
		top + "README.md":             "# sentiment\n",
		top + "terraform/":            "",
		top + "terraform/prod.tfvars": "model_version = \"v1\"\n",
		"pax_global_header":           "",
	}
	if !maps.Equal(files, want) {
		t.Errorf("got archive %v, want the first commit's files under %s: %v", files, top, want)
	}
	if comment != first {
		t.Errorf("got pax comment %q, want the commit SHA %s", comment, first)
	}

	// The default branch when no ref is given, via the redirect GitHub sends.
	u, _, err = gh.Repositories.GetArchiveLink(ctx, owner, repo, github.Tarball, nil, 1)
	if err != nil || !strings.HasSuffix(u.Path, "/legacy.tar.gz/refs/heads/main") {
		t.Errorf("default archive link: got %v, %v; want …/legacy.tar.gz/refs/heads/main", u, err)
	}
	_, _, err = gh.Repositories.GetArchiveLink(ctx, owner, repo, github.Tarball, &github.RepositoryContentGetOptions{Ref: "nope"}, 1)
	if err == nil {
		t.Errorf("archive of an unknown ref: got no error, want a 404")
	}
}

func TestRoutingAuthAndUnknownPaths(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	tests := []struct {
		name, method, path, auth string
		wantStatus               int
		wantMessage              string
	}{
		{"unknown endpoint", "GET", "/repos/acme/sentiment-analyzer/nope", "Bearer " + token, 404, "Not Found"},
		{"unknown top level", "GET", "/user/repos", "Bearer " + token, 404, "Not Found"},
		{"other repository", "GET", "/repos/acme/other/actions/runs", "Bearer " + token, 404, "Not Found"},
		{"wrong method", "DELETE", "/repos/acme/sentiment-analyzer/actions/runs", "Bearer " + token, 404, "Not Found"},
		{"bad token", "GET", "/repos/acme/sentiment-analyzer/actions/runs", "Bearer wrong", 401, "Bad credentials"},
		{"no token", "GET", "/repos/acme/sentiment-analyzer/actions/runs", "", 401, "Bad credentials"},
		{"classic token scheme", "GET", "/repos/acme/sentiment-analyzer/actions/runs", "token " + token, 200, ""},
		{"owner case-insensitive", "GET", "/repos/ACME/Sentiment-Analyzer/actions/runs", "Bearer " + token, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL()+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			defer resp.Body.Close()
			er := github.CheckResponse(resp)
			var ge *github.ErrorResponse
			switch {
			case resp.StatusCode != tt.wantStatus:
				t.Errorf("got %d, want %d", resp.StatusCode, tt.wantStatus)
			case tt.wantMessage != "" && (!errors.As(er, &ge) || ge.Message != tt.wantMessage || ge.DocumentationURL == ""):
				t.Errorf("got %v, want message %q with a documentation_url", er, tt.wantMessage)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
		})
	}
}

// TestConcurrentUse drives reads and writes from many goroutines; -race checks the locking.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	seedMain(srv, clk)
	var runs []int64
	for range 8 {
		r, _, _ := seedFailedRun(srv, clk)
		runs = append(runs, r.ID)
	}
	gh := mustClient(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i, id := range runs {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if _, err := gh.Actions.RerunFailedJobsByID(ctx, owner, repo, id); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if _, _, err := gh.Actions.ListWorkflowRunsByFileName(ctx, owner, repo, "deploy-prod.yml", &github.ListWorkflowRunsOptions{Status: "failure"}); err != nil {
				errs <- err
			}
			if _, _, err := gh.Actions.ListWorkflowJobs(ctx, owner, repo, id, nil); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if _, _, err := gh.Issues.Create(ctx, owner, repo, &github.IssueRequest{Title: github.String("incident " + itoa(int64(i)))}); err != nil {
				errs <- err
			}
			if _, err := srv.RunEvent(id, "completed"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	var numbers []int
	for _, is := range srv.Issues() {
		numbers = append(numbers, is.Number)
	}
	slices.Sort(numbers)
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(numbers, want) {
		t.Errorf("got issue numbers %v, want %v", numbers, want)
	}
	for _, id := range runs {
		if r, _ := srv.Run(id); r.RunAttempt != 2 {
			t.Errorf("run %d: got attempt %d, want 2", id, r.RunAttempt)
		}
	}
}

func TestRunsListTheirPullRequests(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	_, base := seedMain(srv, clk)
	head := srv.AddCommit(githubfake.Commit{Branch: "feature/boost", Parents: []string{base}, Message: "Boost scores", When: clk.Now()})
	issue := mustIssue(t, srv)
	number := srv.AddPullRequest(githubfake.PullRequest{Title: "Boost scores", Head: "feature/boost", Author: "dev-one"})
	if number != issue+1 {
		t.Errorf("pull request number: got %d, want %d (after issue #%d)", number, issue+1, issue)
	}
	prRun := srv.AddRun(githubfake.Run{WorkflowFile: "ci.yml", HeadBranch: "feature/boost", HeadSHA: head, Event: "pull_request", Conclusion: "failure"})
	mainRun := srv.AddRun(githubfake.Run{WorkflowFile: "ci.yml", HeadBranch: "main", HeadSHA: base, Conclusion: "success"})

	gh := mustClient(t, srv)
	run, _, err := gh.Actions.GetWorkflowRunByID(ctx, owner, repo, prRun.ID)
	if err != nil {
		t.Fatalf("GetWorkflowRunByID: %v", err)
	}
	ev, err := srv.RunEvent(prRun.ID, "completed")
	if err != nil {
		t.Fatalf("RunEvent: %v", err)
	}
	for src, prs := range map[string][]*github.PullRequest{"REST": run.PullRequests, "webhook": ev.GetWorkflowRun().PullRequests} {
		if len(prs) != 1 {
			t.Fatalf("%s pull_requests: got %d, want 1", src, len(prs))
		}
		pr := prs[0]
		if pr.GetNumber() != number || pr.GetID() == 0 || pr.GetHead().GetRef() != "feature/boost" || pr.GetHead().GetSHA() != head ||
			pr.GetBase().GetRef() != "main" || pr.GetBase().GetSHA() != base || pr.GetHead().GetRepo().GetName() != repo ||
			pr.GetURL() != srv.URL()+"/repos/acme/sentiment-analyzer/pulls/"+fmt.Sprint(number) {
			t.Errorf("%s pull request: got #%d %s@%s into %s@%s (%s), want #%d feature/boost@%s into main@%s",
				src, pr.GetNumber(), pr.GetHead().GetRef(), pr.GetHead().GetSHA(), pr.GetBase().GetRef(), pr.GetBase().GetSHA(), pr.GetURL(), number, head, base)
		}
	}
	other, _, err := gh.Actions.GetWorkflowRunByID(ctx, owner, repo, mainRun.ID)
	if err != nil || len(other.PullRequests) != 0 {
		t.Errorf("run on main: got pull_requests %v (%v), want none", other.PullRequests, err)
	}
	if pulls := srv.PullRequests(); len(pulls) != 1 || pulls[0].Number != number || pulls[0].HeadSHA != head || pulls[0].Author != "dev-one" {
		t.Errorf("PullRequests(): got %+v, want #%d from feature/boost by dev-one", pulls, number)
	}
}

// mustIssue creates an issue through the API and returns its number.
func mustIssue(t *testing.T, srv *githubfake.Server) int {
	t.Helper()
	issue, _, err := mustClient(t, srv).Issues.Create(context.Background(), owner, repo, &github.IssueRequest{Title: github.String("Flaky canary")})
	if err != nil {
		t.Fatalf("Issues.Create: %v", err)
	}
	return issue.GetNumber()
}
