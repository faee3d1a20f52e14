package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	gh "github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

// headerLog records the Authorization header of every request by path.
type headerLog struct {
	mu   sync.Mutex
	auth map[string][]string
	next http.RoundTripper
}

func (h *headerLog) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.auth[r.URL.Path] = append(h.auth[r.URL.Path], r.Header.Get("Authorization"))
	h.mu.Unlock()
	return h.next.RoundTrip(r)
}

// authOf returns the Authorization headers sent to paths starting with prefix.
func (h *headerLog) authOf(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for p, a := range h.auth {
		if strings.HasPrefix(p, prefix) {
			out = append(out, a...)
		}
	}
	return out
}

// mustRecordingClient is mustClient with a transport that records headers.
func mustRecordingClient(tb testing.TB) (*githubfake.Server, *Client, *headerLog) {
	tb.Helper()
	srv := githubfake.New(githubfake.Options{Repository: "traylorre/sentiment-analyzer-gsk", Token: "ghs_test"})
	tb.Cleanup(srv.Close)
	hl := &headerLog{auth: map[string][]string{}, next: http.DefaultTransport}
	c, err := New(Options{BaseURL: srv.URL(), Token: "ghs_test", Owner: "traylorre", Repo: "sentiment-analyzer-gsk",
		HTTPClient: &http.Client{Transport: hl}})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, c, hl
}

func mustSummary(tb testing.TB, err error) string {
	tb.Helper()
	var sum recovery.Summarizer
	if !errors.As(err, &sum) {
		tb.Fatalf("got %v (%T), want an error with a Summary", err, err)
	}
	return sum.Summary()
}

func TestRunReadsEveryField(t *testing.T) {
	srv, c := mustClient(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	sha := strings.Repeat("d", 40)
	r := srv.AddRun(githubfake.Run{
		WorkflowFile: "deploy-prod.yml", HeadBranch: "main", HeadSHA: sha, Event: "workflow_run",
		Conclusion: "failure", RunAttempt: 2, Actor: "traylorre",
		CreatedAt: t0, RunStartedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(9 * time.Minute),
		HeadCommit: githubfake.HeadCommit{Message: "Bump model to v2\n\nDetails", Author: githubfake.Person{Name: "Scott", Email: "s@example.com"}},
	})
	got, err := c.Run(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := recovery.Run{
		ID: r.ID, Attempt: 2, Number: 1, Workflow: "deploy-prod.yml", WorkflowName: "Deploy to Production",
		Status: "completed", Conclusion: "failure", HeadSHA: sha, HeadBranch: "main", HeadRepository: "traylorre/sentiment-analyzer-gsk", Event: "workflow_run",
		Actor: "traylorre", CommitMessage: "Bump model to v2\n\nDetails", CommitAuthor: "Scott",
		URL:       "https://github.com/traylorre/sentiment-analyzer-gsk/actions/runs/" + fmt.Sprint(r.ID),
		CreatedAt: t0, StartedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(9 * time.Minute),
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	_, err = c.Run(context.Background(), 42)
	if s := mustSummary(t, err); s != "GitHub: HTTP 404 Not Found on GetWorkflowRun" {
		t.Errorf("unknown run: got %q, want the 404 summary", s)
	}
}

func TestRunJobsLatestAttemptAllPages(t *testing.T) {
	srv, c := mustClient(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure", CreatedAt: t0})
	srv.AddJob(r.ID, githubfake.Job{Name: "attempt one", Conclusion: "failure"})
	if err := srv.UpdateRun(r.ID, func(run *githubfake.Run) { run.RunAttempt = 2 }); err != nil {
		t.Fatal(err)
	}
	canary := srv.AddJob(r.ID, githubfake.Job{Name: "Production Canary Test", Conclusion: "failure",
		StartedAt: t0, CompletedAt: t0.Add(3 * time.Minute),
		Steps: []githubfake.Step{
			{Name: "Set up job", Conclusion: "success"},
			{Name: "Run canary", Conclusion: "failure"},
			{Name: "Post", Conclusion: "skipped"},
		}})
	for i := range 104 { // 105 jobs in attempt 2: two pages of 100
		srv.AddJob(r.ID, githubfake.Job{Name: fmt.Sprintf("matrix %d", i), Conclusion: "success"})
	}
	jobs, err := c.RunJobs(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 105 {
		t.Fatalf("got %d jobs, want 105 (latest attempt, both pages)", len(jobs))
	}
	for _, j := range jobs {
		if j.Name == "attempt one" {
			t.Errorf("got the first attempt's job %+v, want only the latest attempt", j)
		}
	}
	j := jobs[0]
	if j.ID != canary.ID || j.RunID != r.ID || j.Attempt != 2 || j.Name != "Production Canary Test" ||
		j.Status != "completed" || j.Conclusion != "failure" || !j.StartedAt.Equal(t0) || !j.CompletedAt.Equal(t0.Add(3*time.Minute)) ||
		j.URL != fmt.Sprintf("https://github.com/traylorre/sentiment-analyzer-gsk/actions/runs/%d/job/%d", r.ID, canary.ID) {
		t.Errorf("got %+v, want the canary job", j)
	}
	step, ok := j.FailedStep()
	if !ok || step.Name != "Run canary" || step.Number != 2 || len(j.Steps) != 3 {
		t.Errorf("got failed step %+v (ok %v) of %d steps, want step 2 \"Run canary\" of 3", step, ok, len(j.Steps))
	}
}

func TestJobLogWithoutToken(t *testing.T) {
	srv, c, hl := mustRecordingClient(t)
	r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure"})
	text := "2026-11-25T10:00:00.0000000Z ##[group]Run terraform apply\nError: Error acquiring the state lock\n##[error]Process completed with exit code 1.\n"
	j := srv.AddJob(r.ID, githubfake.Job{Name: "Deploy to Production", Conclusion: "failure", Log: text})
	got, err := c.JobLog(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != text {
		t.Errorf("text: got %q, want %q", got.Text, text)
	}
	if want := fmt.Sprintf("https://github.com/traylorre/sentiment-analyzer-gsk/actions/runs/%d/job/%d", r.ID, j.ID); got.URL != want {
		t.Errorf("URL: got %q, want the job's page %q", got.URL, want)
	}
	blob := hl.authOf("/_blob/")
	if len(blob) != 1 || blob[0] != "" {
		t.Errorf("log download Authorization headers: got %q, want one request without the header", blob)
	}
	api := hl.authOf("/repos/")
	if len(api) != 2 || api[0] != "Bearer ghs_test" || api[1] != "Bearer ghs_test" {
		t.Errorf("API Authorization headers: got %q, want the token on GetJob and JobLogs", api)
	}
}

func TestJobLogKeepsTheEnd(t *testing.T) {
	srv, c := mustClient(t)
	r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure"})
	var b strings.Builder
	for i := 0; b.Len() < maxLogBytes+(1<<20); i++ {
		fmt.Fprintf(&b, "2026-11-25T10:00:00.0000000Z line %08d of noise before the failure\n", i)
	}
	b.WriteString("##[error]Canary failed: /health returned 503\n")
	j := srv.AddJob(r.ID, githubfake.Job{Name: "Production Canary Test", Conclusion: "failure", Log: b.String()})
	got, err := c.JobLog(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got.Text, "##[error]Canary failed: /health returned 503\n") {
		t.Errorf("got text ending %q, want the last line kept", got.Text[max(0, len(got.Text)-80):])
	}
	head, rest, _ := strings.Cut(got.Text, "\n")
	if !strings.HasPrefix(head, "[medic: log cut to its last") {
		t.Errorf("got first line %q, want the cut notice", head)
	}
	if len(rest) > maxLogBytes {
		t.Errorf("got %d bytes of log, want at most %d", len(rest), maxLogBytes)
	}
	if !strings.HasPrefix(rest, "2026-11-25T10:00:00.0000000Z line ") {
		t.Errorf("got log starting %q, want a whole line", rest[:60])
	}
	if !strings.HasSuffix(b.String(), rest) {
		t.Error("got text that is not the end of the log")
	}
}

func TestJobLogErrorsAreSummarized(t *testing.T) {
	tests := []struct {
		name    string
		op      string
		fault   fault.Error
		want    string
		wantURL bool
	}{
		{"job lookup", "github:GetJob", fault.Error{Status: 502, Message: "Server Error"}, "GitHub: HTTP 502 Server Error on GetJob", false},
		{"log redirect", "github:JobLogs", fault.Error{Status: 410, Message: "Gone"}, "GitHub: HTTP 410 on JobLogs", true},
		{"log redirect rate limited", "github:JobLogs", fault.Error{Status: 403, Code: "rate_limited", Message: "API rate limit exceeded"}, "GitHub: rate limited until", true},
		{"storage", "github:DownloadJobLogs", fault.Error{Status: 403, Code: "AuthenticationFailed"}, "GitHub: HTTP 403 from log storage on DownloadJobLogs", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := mustClient(t)
			r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure"})
			j := srv.AddJob(r.ID, githubfake.Job{Name: "deploy", Conclusion: "failure"})
			f := tt.fault
			srv.Faults().Set(tt.op, fault.Rule{Err: &f, Times: 1})
			got, err := c.JobLog(context.Background(), j.ID)
			if s := mustSummary(t, err); !strings.HasPrefix(s, tt.want) {
				t.Errorf("summary: got %q, want prefix %q", s, tt.want)
			}
			if (got.URL != "") != tt.wantURL {
				t.Errorf("URL: got %q, want set=%v", got.URL, tt.wantURL)
			}
		})
	}
}

func TestRunArtifacts(t *testing.T) {
	srv, c := mustClient(t)
	r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure"})
	for i := range 103 {
		srv.AddArtifact(r.ID, fmt.Sprintf("lambda-%03d.zip", i), int64(1000+i))
	}
	got, err := c.RunArtifacts(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 103 {
		t.Fatalf("got %d artifacts, want 103 across two pages", len(got))
	}
	a := got[102]
	if a.ID == 0 || a.Name != "lambda-102.zip" || a.Size != 1102 || a.Expired || !strings.HasSuffix(a.URL, fmt.Sprintf("/actions/artifacts/%d/zip", a.ID)) {
		t.Errorf("got %+v, want lambda-102.zip of 1102 bytes", a)
	}
	srv.Faults().Set("github:ListArtifacts", fault.Rule{Err: &fault.Error{Status: 500, Message: "boom"}, Times: 1})
	_, err = c.RunArtifacts(context.Background(), r.ID)
	if s := mustSummary(t, err); s != "GitHub: HTTP 500 boom on ListArtifacts" {
		t.Errorf("got %q, want the 500 summary", s)
	}
}

func TestRecentRuns(t *testing.T) {
	srv, c := mustClient(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "success", CreatedAt: t0.Add(-time.Second)})
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-preprod.yml", Conclusion: "failure", CreatedAt: t0.Add(time.Hour)})
	for i := range 120 {
		srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure", CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	// since in another zone: the filter must be sent in UTC.
	since := t0.In(time.FixedZone("PST", -8*3600))
	got, err := c.RecentRuns(context.Background(), "deploy-prod.yml", since)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 120 {
		t.Fatalf("got %d runs, want the 120 created at or after %s (3 pages)", len(got), t0)
	}
	if !got[0].CreatedAt.Equal(t0.Add(119*time.Minute)) || !got[119].CreatedAt.Equal(t0) {
		t.Errorf("got first %s, last %s; want newest first", got[0].CreatedAt, got[119].CreatedAt)
	}
	if !slices.IsSortedFunc(got, func(a, b recovery.Run) int { return b.CreatedAt.Compare(a.CreatedAt) }) {
		t.Error("got runs out of order, want newest first")
	}
	for _, r := range got {
		if r.Workflow != "deploy-prod.yml" {
			t.Fatalf("got a run of %s, want deploy-prod.yml only", r.Workflow)
		}
	}
	if n := srv.Calls("ListWorkflowRuns"); n != 3 {
		t.Errorf("got %d list calls, want 3 pages of 50", n)
	}
}

func TestRecentRunsStopsAtTenPages(t *testing.T) {
	srv, c := mustClient(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range 520 {
		srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "success", CreatedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	got, err := c.RecentRuns(context.Background(), "deploy-prod.yml", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 500 || !got[0].CreatedAt.Equal(t0.Add(519*time.Second)) {
		t.Errorf("got %d runs, newest %v; want the newest 500", len(got), got[0].CreatedAt)
	}
}

func TestSuccessfulDeploys(t *testing.T) {
	srv, c := mustClient(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	for i := range 130 {
		srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadBranch: "main", HeadSHA: fmt.Sprintf("%040d", i),
			Conclusion: "success", CreatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadBranch: "main", Conclusion: "failure", CreatedAt: t0.Add(time.Hour * 24)})
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadBranch: "feature/x", Conclusion: "success", CreatedAt: t0.Add(time.Hour * 24)})
	tests := []struct {
		n, want int
	}{{0, 0}, {1, 1}, {3, 3}, {120, 120}, {500, 130}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			got, err := c.SuccessfulDeploys(context.Background(), prod, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("got %d deploys, want %d", len(got), tt.want)
			}
			for i, d := range got {
				if wantSHA := fmt.Sprintf("%040d", 129-i); d.SHA != wantSHA || d.Branch != "main" || d.Workflow != "deploy-prod.yml" {
					t.Fatalf("deploy %d: got %+v, want SHA %s on main, newest first", i, d, wantSHA)
				}
			}
		})
	}
}

func TestRunFactsAreCached(t *testing.T) {
	srv, c := mustClient(t)
	r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Event: "workflow_dispatch"})
	for range 3 {
		f, err := c.RunFacts(context.Background(), r.ID)
		if err != nil || f.Workflow != "deploy-prod.yml" || f.Event != "workflow_dispatch" || f.HeadRepository != "traylorre/sentiment-analyzer-gsk" || f.HeadBranch != "main" {
			t.Fatalf("got %+v, %v; want deploy-prod.yml, workflow_dispatch, on main of traylorre/sentiment-analyzer-gsk", f, err)
		}
	}
	if n := srv.Calls("GetWorkflowRun"); n != 1 {
		t.Errorf("got %d GetWorkflowRun calls, want 1 (cached)", n)
	}
	if _, err := c.RunFacts(context.Background(), 7); err == nil {
		t.Error("unknown run: got no error, want 404")
	}
}

func TestWorkflowFile(t *testing.T) {
	tests := []struct{ in, want string }{
		{".github/workflows/deploy-prod.yml", "deploy-prod.yml"},
		{".github/workflows/deploy-prod.yml@refs/heads/main", "deploy-prod.yml"},
		{"deploy-prod.yml", "deploy-prod.yml"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := WorkflowFile(tt.in); got != tt.want {
			t.Errorf("WorkflowFile(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRunFromGitHubNilAndPullRequests(t *testing.T) {
	if got := RunFromGitHub(nil); got.ID != 0 || !got.CreatedAt.IsZero() {
		t.Errorf("nil run: got %+v, want the zero Run", got)
	}
	if got := JobFromGitHub(nil); got.ID != 0 || got.Steps != nil {
		t.Errorf("nil job: got %+v, want the zero JobInfo", got)
	}
	r := &gh.WorkflowRun{PullRequests: []*gh.PullRequest{{Number: gh.Int(7)}, {}, {Number: gh.Int(9)}},
		HeadCommit: &gh.HeadCommit{Author: &gh.CommitAuthor{Login: gh.String("octocat")}}}
	got := RunFromGitHub(r)
	if !slices.Equal(got.PullRequests, []int{7, 9}) || got.CommitAuthor != "octocat" {
		t.Errorf("got PRs %v, author %q; want [7 9], octocat", got.PullRequests, got.CommitAuthor)
	}
}

func TestReadTail(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		limit       int
		want        string
		wantDropped int64
	}{
		{"short", "abc", 5, "abc", 0},
		{"exact", "abcde", 5, "abcde", 0},
		{"long", "0123456789", 4, "6789", 6},
		{"empty", "", 4, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// OneByteReader exercises the ring: many reads, buffer trimmed repeatedly.
			got, dropped, err := readTail(iotest.OneByteReader(strings.NewReader(tt.in)), tt.limit)
			if err != nil || string(got) != tt.want || dropped != tt.wantDropped {
				t.Errorf("got %q, %d, %v; want %q, %d", got, dropped, err, tt.want, tt.wantDropped)
			}
		})
	}
	big := bytes.Repeat([]byte("x"), 3<<20)
	big = append(big, "END"...)
	got, dropped, err := readTail(bytes.NewReader(big), 1<<20)
	if err != nil || len(got) != 1<<20 || !bytes.HasSuffix(got, []byte("END")) || dropped != int64(len(big)-(1<<20)) {
		t.Errorf("big: got %d bytes (dropped %d), %v; want the last 1 MiB", len(got), dropped, err)
	}
	if _, _, err := readTail(iotest.ErrReader(errors.New("reset")), 4); err == nil {
		t.Error("read error: got nil, want it returned")
	}
}

// TestDeployHistoryLeavesOutUntrustedRuns: a pull request's (or a fork's) successful
// run of the deploy workflow deployed nothing medic trusts, so it is never a "last known
// good" version.
func TestDeployHistoryLeavesOutUntrustedRuns(t *testing.T) {
	srv := githubfake.New(githubfake.Options{Repository: "traylorre/sentiment-analyzer-gsk", Token: "ghs_test"})
	t.Cleanup(srv.Close)
	trust := recovery.RunTrust{Repository: "traylorre/sentiment-analyzer-gsk", Branches: []string{"main"}, Events: recovery.DefaultTrustedEvents()}
	c, err := New(Options{BaseURL: srv.URL(), Token: "ghs_test", Owner: "traylorre", Repo: "sentiment-analyzer-gsk", Trust: &trust})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	onMain := srv.AddCommit(githubfake.Commit{Message: "on main", Branch: "main"})
	offMain := srv.AddCommit(githubfake.Commit{Message: "wip", Branch: "mallory/wip", Parents: []string{onMain}})
	good := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadSHA: onMain, Event: "workflow_dispatch", Conclusion: "success", CreatedAt: t0})
	// A tag named main: GitHub reports the tag as the run's head_branch.
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadSHA: offMain, HeadBranch: "main", Event: "push", Conclusion: "success", CreatedAt: t0.Add(3 * time.Hour)})
	// Newer, successful, on a branch called main, but not trusted: a pull request
	// from the repository, and a push to a fork's main.
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadSHA: strings.Repeat("b", 40), Event: "pull_request", Conclusion: "success", CreatedAt: t0.Add(time.Hour)})
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadSHA: strings.Repeat("c", 40), Event: "push", HeadRepository: "mallory/sentiment-analyzer-gsk",
		Conclusion: "success", CreatedAt: t0.Add(2 * time.Hour)})
	got, err := c.SuccessfulDeploys(context.Background(), prod, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].RunID != good.ID {
		t.Fatalf("got %+v, want only run %d (the trusted one)", got, good.ID)
	}
	// Without a trust policy every successful run counts (the old behaviour, kept for
	// callers that filter themselves).
	_, plain := mustClientOn(t, srv)
	if all, _ := plain.SuccessfulDeploys(context.Background(), prod, 5); len(all) != 4 {
		t.Errorf("without trust: got %d deploys, want 4", len(all))
	}
	for sha, want := range map[string]bool{onMain: true, offMain: false, strings.Repeat("b", 40): false} {
		if got, err := c.DeployedBefore(context.Background(), prod, sha); err != nil || got != want {
			t.Errorf("DeployedBefore(%s): got %v, %v; want %v", sha[:7], got, err, want)
		}
	}
}

func mustClientOn(tb testing.TB, srv *githubfake.Server) (*githubfake.Server, *Client) {
	tb.Helper()
	c, err := New(Options{BaseURL: srv.URL(), Token: "ghs_test", Owner: "traylorre", Repo: "sentiment-analyzer-gsk"})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, c
}
