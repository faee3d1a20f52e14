package github

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

const testOwner = "traylorre"

// hookTransport runs before on every request, then sends it.
type hookTransport struct {
	before func(*http.Request)
	next   http.RoundTripper
}

func (h hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.before(r)
	return h.next.RoundTrip(r)
}

// mustHookedClient is mustClient whose requests pass through before first.
func mustHookedClient(tb testing.TB, before func(*http.Request)) (*githubfake.Server, *Client) {
	tb.Helper()
	srv := githubfake.New(githubfake.Options{Repository: testOwner + "/sentiment-analyzer-gsk", Token: "ghs_test"})
	tb.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL(), Token: "ghs_test", Owner: testOwner, Repo: "sentiment-analyzer-gsk",
		HTTPClient: &http.Client{Transport: hookTransport{before: before, next: http.DefaultTransport}}})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, c
}

// mustRefused asserts err is a *RefusedError whose summary contains want.
func mustRefused(tb testing.TB, err error, want string) {
	tb.Helper()
	var re *RefusedError
	if !errors.As(err, &re) {
		tb.Fatalf("got %v (%T), want a *RefusedError", err, err)
	}
	if s := mustSummary(tb, err); !strings.Contains(s, want) {
		tb.Errorf("got summary %q, want it to contain %q", s, want)
	}
}

// mutationOps lists the fake's mutations as "Op status".
func mutationOps(srv *githubfake.Server) []string {
	var out []string
	for _, m := range srv.Mutations() {
		out = append(out, fmt.Sprintf("%s %d", m.Op, m.Status))
	}
	return out
}

// seedRun adds a completed run of deploy-preprod.yml with a successful and a failed job.
func seedRun(srv *githubfake.Server) int64 {
	r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-preprod.yml", Conclusion: "failure"})
	srv.AddJob(r.ID, githubfake.Job{Name: "build", Conclusion: "success"})
	srv.AddJob(r.ID, githubfake.Job{Name: "deploy", Conclusion: "failure"})
	return r.ID
}

func TestRerun(t *testing.T) {
	tests := []struct {
		name    string
		rerun   func(*Client, context.Context, int64) error
		requeue []string
		op      string
	}{
		{"failed jobs only", (*Client).RerunFailedJobs, []string{"deploy"}, "RerunFailed"},
		{"every job", (*Client).RerunRun, []string{"build", "deploy"}, "Rerun"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := mustClient(t)
			id := seedRun(srv)
			before := srv.Jobs(id)
			if err := tt.rerun(c, context.Background(), id); err != nil {
				t.Fatal(err)
			}
			run, _ := srv.Run(id)
			if run.RunAttempt != 2 || run.Status != "queued" {
				t.Errorf("got attempt %d %s, want attempt 2 queued", run.RunAttempt, run.Status)
			}
			var requeued []string
			for i, j := range srv.Jobs(id) {
				if j.ID != before[i].ID {
					if j.Status != "queued" {
						t.Errorf("re-run job %s: got status %s, want queued", j.Name, j.Status)
					}
					requeued = append(requeued, j.Name)
				}
			}
			if !slices.Equal(requeued, tt.requeue) {
				t.Errorf("got re-run jobs %v, want %v", requeued, tt.requeue)
			}

			// A run in progress cannot be re-run: GitHub answers 403.
			if err := tt.rerun(c, context.Background(), id); err == nil {
				t.Fatal("re-run of a queued run: got nil, want an error")
			} else if s, want := mustSummary(t, err), "GitHub: HTTP 403 This workflow run is not completed on "+tt.op; s != want {
				t.Errorf("got %q, want %q", s, want)
			}
		})
	}
}

func TestCancelRun(t *testing.T) {
	srv, c := mustClient(t)
	r := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-preprod.yml", Status: "in_progress"})
	srv.AddJob(r.ID, githubfake.Job{Name: "deploy", Status: "in_progress"})
	// GitHub answers 202 Accepted, which go-github reports as an error.
	if err := c.CancelRun(context.Background(), r.ID); err != nil {
		t.Fatalf("got %v, want the 202 taken as success", err)
	}
	if run, _ := srv.Run(r.ID); run.Conclusion != "cancelled" {
		t.Errorf("got conclusion %q, want cancelled", run.Conclusion)
	}
	err := c.CancelRun(context.Background(), r.ID)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusConflict {
		t.Fatalf("cancel of a finished run: got %v, want an *APIError with status 409", err)
	}
	if s, want := apiErr.Summary(), fmt.Sprintf("GitHub: run %d had already finished (HTTP 409) on CancelRun", r.ID); s != want {
		t.Errorf("got %q, want %q", s, want)
	}
	if apiErr.Retryable() {
		t.Error("got retryable, want a 409 not to be retried")
	}
}

func TestDispatchWorkflow(t *testing.T) {
	srv, c := mustClient(t)
	srv.AddWorkflow("deploy-preprod.yml", "Deploy to Preprod")
	srv.AddCommit(githubfake.Commit{Branch: "main", Message: "init", Files: map[string]string{"README.md": "x"}})
	ctx := context.Background()
	if err := c.DispatchWorkflow(ctx, "deploy-preprod.yml", "main", map[string]string{"model_version": "abc1234"}); err != nil {
		t.Fatal(err)
	}
	muts := srv.Mutations()
	if len(muts) != 1 || muts[0].Op != "DispatchWorkflow" || muts[0].Status != http.StatusNoContent ||
		muts[0].Path != "/repos/traylorre/sentiment-analyzer-gsk/actions/workflows/deploy-preprod.yml/dispatches" {
		t.Fatalf("got mutations %+v, want one DispatchWorkflow answered 204", muts)
	}
	var body struct {
		Ref    string            `json:"ref"`
		Inputs map[string]string `json:"inputs"`
	}
	if err := json.Unmarshal(muts[0].Body, &body); err != nil || body.Ref != "main" || !maps.Equal(body.Inputs, map[string]string{"model_version": "abc1234"}) {
		t.Errorf("got body %s (%v), want ref main and the model_version input", muts[0].Body, err)
	}

	err := c.DispatchWorkflow(ctx, "deploy-preprod.yml", "release", nil)
	if s, want := mustSummary(t, err), "GitHub: HTTP 422 No ref found for: release on DispatchWorkflow"; s != want {
		t.Errorf("unknown ref: got %q, want %q", s, want)
	}

	refused := []struct{ workflow, ref string }{
		{"../deploy.yml", "main"},
		{"deploy-preprod", "main"},
		{"deploy-preprod.yml", "main; rm -rf /"},
		{"deploy-preprod.yml", "-main"},
		{"deploy-preprod.yml", "feature/../main"},
		{"deploy-preprod.yml", "main.lock"},
	}
	calls := srv.Calls("DispatchWorkflow")
	for _, tt := range refused {
		mustRefused(t, c.DispatchWorkflow(ctx, tt.workflow, tt.ref, nil), "DispatchWorkflow refused")
	}
	if n := srv.Calls("DispatchWorkflow"); n != calls {
		t.Errorf("got %d dispatch calls after refusals, want %d", n, calls)
	}
}

// dev is the author of seeded commits.
var dev = githubfake.Person{Name: "Dev One", Email: "dev1@example.com", Login: "dev-one"}

// seedHistory writes three commits on main: base (a.py, b.py, old.txt), target (changes
// a.py, adds new.py, deletes old.txt) and, when later is set, a later commit writing
// those files.
func seedHistory(srv *githubfake.Server, later map[string]string) (base, target, head string) {
	base = srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Initial", Author: dev,
		Files: map[string]string{"src/a.py": "a = 1\n", "src/b.py": "b = 1\n", "old.txt": "old\n"}})
	target = srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Promote model v2\n\nCanary passed.", Author: dev,
		Files: map[string]string{"src/a.py": "a = 2\n", "src/new.py": "new\n"}, Delete: []string{"old.txt"}})
	head = target
	if later != nil {
		head = srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Later work", Author: dev, Files: later})
	}
	return base, target, head
}

func TestCommitIsTip(t *testing.T) {
	srv, c := mustClient(t)
	base, target, _ := seedHistory(srv, nil)
	ctx := context.Background()
	tests := []struct {
		name  string
		sha   string
		want  string
		isTip bool
	}{
		{"head", target, target, true},
		{"head by short SHA", target[:7], target, true},
		{"older", base, base, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := c.Commit(ctx, tt.sha, "main")
			if err != nil {
				t.Fatal(err)
			}
			if info.SHA != tt.want || info.IsTip != tt.isTip || info.Author != "Dev One" ||
				info.URL != "https://github.com/traylorre/sentiment-analyzer-gsk/commit/"+tt.want {
				t.Errorf("got %+v, want %s with IsTip %v by Dev One", info, tt.want, tt.isTip)
			}
		})
	}
	info, _ := c.Commit(ctx, target, "main")
	if info.Message != "Promote model v2\n\nCanary passed." || !slices.Equal(info.Parents, []string{base}) ||
		!slices.Equal(info.Files, []string{"old.txt", "src/a.py", "src/new.py"}) {
		t.Errorf("got message %q, parents %v, files %v; want the target's", info.Message, info.Parents, info.Files)
	}

	_, err := c.Commit(ctx, strings.Repeat("e", 40), "main")
	if s := mustSummary(t, err); !strings.HasPrefix(s, "GitHub: HTTP 422 No commit found for SHA") {
		t.Errorf("unknown commit: got %q", s)
	}
	_, err = c.Commit(ctx, target, "nope")
	if s := mustSummary(t, err); s != "GitHub: HTTP 404 Not Found on GetRef" {
		t.Errorf("unknown branch: got %q", s)
	}
}

func TestRevertTip(t *testing.T) {
	srv, c := mustClient(t)
	base, target, _ := seedHistory(srv, nil)
	res, err := c.Revert(context.Background(), target, "main")
	if err != nil {
		t.Fatal(err)
	}
	head, _ := srv.Ref("heads/main")
	if res.Method != "commit" || res.SHA != head || res.PullRequest != 0 || res.URL != "https://github.com/traylorre/sentiment-analyzer-gsk/commit/"+head {
		t.Errorf("got %+v, want a revert commit at the new head %s", res, head)
	}
	msg, parents, _ := srv.CommitMessage(head)
	if want := "Revert \"Promote model v2\"\n\nThis reverts commit " + target + "."; msg != want || !slices.Equal(parents, []string{target}) {
		t.Errorf("got %q on %v, want %q on [%s]", msg, parents, want, target)
	}
	got, _ := srv.FilesAt(head)
	want, _ := srv.FilesAt(base)
	if !maps.Equal(got, want) {
		t.Errorf("got files %v, want the parent's %v", got, want)
	}
	if ops, want := mutationOps(srv), []string{"CreateGitCommit 201", "UpdateRef 200"}; !slices.Equal(ops, want) {
		t.Errorf("got mutations %v, want %v", ops, want)
	}
	if m := srv.Mutations()[1]; !strings.Contains(string(m.Body), `"force":false`) {
		t.Errorf("got UpdateRef body %s, want force:false", m.Body)
	}

	// Again: main's head is medic's revert of target, so nothing changes.
	again, err := c.Revert(context.Background(), target, "main")
	if err != nil || again != res {
		t.Errorf("second revert: got %+v, %v; want %+v", again, err, res)
	}
	if n := len(srv.Mutations()); n != 2 {
		t.Errorf("got %d mutations after the second revert, want still 2", n)
	}
}

func TestRevertTipRaceFallsBackToPullRequest(t *testing.T) {
	var once sync.Once
	var srv *githubfake.Server
	srv, c := mustHookedClient(t, func(r *http.Request) {
		// Someone pushes to main between medic's read of the ref and its update.
		if r.Method == http.MethodPatch && strings.HasSuffix(r.URL.Path, "/git/refs/heads/main") {
			once.Do(func() {
				srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Hotfix", Author: dev, Files: map[string]string{"hotfix.txt": "fix\n"}})
			})
		}
	})
	_, target, _ := seedHistory(srv, nil)
	res, err := c.Revert(context.Background(), target, "main")
	if err != nil {
		t.Fatal(err)
	}
	hotfix, _ := srv.Ref("heads/main")
	if msg, _, _ := srv.CommitMessage(hotfix); msg != "Hotfix" {
		t.Fatalf("got main at %q, want the hotfix untouched", msg)
	}
	branch := "medic/revert-" + target[:7]
	revHead, ok := srv.Ref("heads/" + branch)
	if !ok || res.Method != "pull-request" || res.SHA != revHead || res.PullRequest == 0 {
		t.Fatalf("got %+v, want a pull request from %s", res, branch)
	}
	_, parents, _ := srv.CommitMessage(revHead)
	got, _ := srv.FilesAt(revHead)
	want := map[string]string{"src/a.py": "a = 1\n", "src/b.py": "b = 1\n", "old.txt": "old\n", "hotfix.txt": "fix\n"}
	if !maps.Equal(got, want) || !slices.Equal(parents, []string{hotfix}) {
		t.Errorf("got files %v on %v, want %v on the hotfix", got, parents, want)
	}
	ops := mutationOps(srv)
	if !slices.Contains(ops, "UpdateRef 422") || slices.Contains(ops, "UpdateRef 200") {
		t.Errorf("got mutations %v, want the 422 and no ref update", ops)
	}
}

func TestRevertOlderCommitOpensPullRequest(t *testing.T) {
	srv, c := mustClient(t)
	_, target, head := seedHistory(srv, map[string]string{"src/b.py": "b = 2\n"})
	ctx := context.Background()
	res, err := c.Revert(ctx, target[:10], "main")
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := srv.Ref("heads/main"); now != head {
		t.Errorf("got main at %s, want it untouched at %s", now, head)
	}
	prs := srv.PullRequests()
	branch := "medic/revert-" + target[:7]
	if len(prs) != 1 {
		t.Fatalf("got %d pull requests, want 1", len(prs))
	}
	pr := prs[0]
	if pr.Head != branch || pr.Base != "main" || pr.Title != `Revert "Promote model v2"` || !strings.Contains(pr.Body, "medic opened this pull request") ||
		!strings.Contains(pr.Body, target) {
		t.Errorf("got pull request %+v, want %s → main titled Revert \"Promote model v2\"", pr, branch)
	}
	if res.Method != "pull-request" || res.PullRequest != pr.Number || res.SHA != pr.HeadSHA ||
		res.URL != fmt.Sprintf("https://github.com/traylorre/sentiment-analyzer-gsk/pull/%d", pr.Number) {
		t.Errorf("got %+v, want pull request #%d", res, pr.Number)
	}
	got, _ := srv.FilesAt(branch)
	want := map[string]string{"src/a.py": "a = 1\n", "src/b.py": "b = 2\n", "old.txt": "old\n"}
	if !maps.Equal(got, want) {
		t.Errorf("got files %v on %s, want %v (a.py back, new.py gone, old.txt restored, later b.py kept)", got, branch, want)
	}
	msg, parents, _ := srv.CommitMessage(pr.HeadSHA)
	if want := "Revert \"Promote model v2\"\n\nThis reverts commit " + target + "."; msg != want || !slices.Equal(parents, []string{head}) {
		t.Errorf("got %q on %v, want %q on [%s]", msg, parents, want, head)
	}
	for _, m := range srv.Mutations() {
		if m.Op == "UpdateRef" || strings.Contains(string(m.Body), `"force":true`) {
			t.Errorf("got mutation %s %s, want no ref update and no force", m.Op, m.Body)
		}
	}

	// Idempotent: the pull request exists, the second call finds it and changes nothing.
	n := len(srv.Mutations())
	again, err := c.Revert(ctx, target, "main")
	if err != nil || again != res {
		t.Errorf("second revert: got %+v, %v; want %+v", again, err, res)
	}
	if m := len(srv.Mutations()); m != n {
		t.Errorf("got %d mutations after the second revert, want %d", m, n)
	}
}

func TestRevertResumesAfterBranchWithoutPullRequest(t *testing.T) {
	// An earlier call died after creating the branch: the next one opens the pull
	// request from it.
	srv, c := mustClient(t)
	_, target, _ := seedHistory(srv, map[string]string{"src/b.py": "b = 2\n"})
	ctx := context.Background()
	srv.Faults().Set("github:CreatePull", fault.Rule{Times: 1, Err: &fault.Error{Status: 502, Message: "Server Error"}})
	if _, err := c.Revert(ctx, target, "main"); err == nil {
		t.Fatal("got nil, want the injected 502")
	}
	branchHead, ok := srv.Ref("heads/medic/revert-" + target[:7])
	if !ok {
		t.Fatal("revert branch missing after the failed pull request")
	}
	res, err := c.Revert(ctx, target, "main")
	if err != nil {
		t.Fatal(err)
	}
	prs := srv.PullRequests()
	if len(prs) != 1 || res.PullRequest != prs[0].Number || prs[0].HeadSHA != branchHead {
		t.Errorf("got %+v and pulls %+v, want one pull request from the existing branch at %s", res, prs, branchHead)
	}
	if n := srv.Calls("CreateRef"); n != 1 {
		t.Errorf("got %d CreateRef calls, want 1", n)
	}
}

func TestRevertRefusals(t *testing.T) {
	tests := []struct {
		name   string
		later  map[string]string
		sha    func(base, target string) string
		branch string
		want   string
	}{
		{"file changed since", map[string]string{"src/a.py": "a = 3\n"}, func(_, t string) string { return t }, "main",
			"a file it touches changed on main after"},
		{"added file changed since", map[string]string{"src/new.py": "newer\n", "old.txt": "back\n"}, func(_, t string) string { return t }, "main",
			"files it touches changed on main after"},
		{"root commit", nil, func(b, _ string) string { return b }, "main", "is a root commit"},
		{"bad SHA", nil, func(string, string) string { return "HEAD~1" }, "main", `"HEAD~1" is not a commit SHA`},
		{"uppercase SHA", nil, func(_, t string) string { return strings.ToUpper(t) }, "main", "is not a commit SHA"},
		{"bad branch", nil, func(_, t string) string { return t }, "main..x", `"main..x" is not a valid branch name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := mustClient(t)
			base, target, _ := seedHistory(srv, tt.later)
			_, err := c.Revert(context.Background(), tt.sha(base, target), tt.branch)
			mustRefused(t, err, tt.want)
			if len(srv.Mutations()) != 0 {
				t.Errorf("got mutations %v, want none", mutationOps(srv))
			}
		})
	}
	// Files named in the refusal.
	srv, c := mustClient(t)
	_, target, _ := seedHistory(srv, map[string]string{"src/a.py": "a = 3\n"})
	_, err := c.Revert(context.Background(), target, "main")
	if s := mustSummary(t, err); !strings.Contains(s, "src/a.py") || !strings.Contains(s, "a person must resolve") {
		t.Errorf("got %q, want it to name src/a.py and ask for a person", s)
	}
}

func TestRevertBranchTakenByOtherWork(t *testing.T) {
	srv, c := mustClient(t)
	_, target, head := seedHistory(srv, map[string]string{"src/b.py": "b = 2\n"})
	srv.AddCommit(githubfake.Commit{Parents: []string{head}, Branch: "medic/revert-" + target[:7], Message: "something else", Files: map[string]string{"x": "y"}})
	_, err := c.Revert(context.Background(), target, "main")
	mustRefused(t, err, "is not a revert of "+target[:7])
	if len(srv.PullRequests()) != 0 {
		t.Errorf("got pulls %+v, want none", srv.PullRequests())
	}
}

func TestTarballAtSHAWithoutToken(t *testing.T) {
	srv, c, hl := mustRecordingClient(t)
	base, _, _ := seedHistory(srv, nil)
	rc, err := c.Tarball(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	gz, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
	top := "traylorre-sentiment-analyzer-gsk-" + base[:7] + "/"
	want := map[string]string{top + "src/a.py": "a = 1\n", top + "src/b.py": "b = 1\n", top + "old.txt": "old\n"}
	if !maps.Equal(files, want) {
		t.Errorf("got files %v, want the base commit's %v", files, want)
	}
	if dl := hl.authOf("/_codeload/"); len(dl) != 1 || dl[0] != "" {
		t.Errorf("archive download Authorization headers: got %q, want one request without the header", dl)
	}
	if api := hl.authOf("/repos/"); len(api) != 1 || api[0] != "Bearer ghs_test" {
		t.Errorf("API Authorization headers: got %q, want the token on the tarball request", api)
	}

	_, err = c.Tarball(context.Background(), strings.Repeat("e", 40))
	if s := mustSummary(t, err); s != "GitHub: HTTP 404 on Tarball" {
		t.Errorf("unknown SHA: got %q, want the 404 summary", s)
	}
	srv.Faults().Set("github:DownloadTarball", fault.Rule{Times: 1, Err: &fault.Error{Status: 503, Message: "unavailable"}})
	_, err = c.Tarball(context.Background(), base)
	if s := mustSummary(t, err); s != "GitHub: HTTP 503 from archive storage on DownloadTarball" {
		t.Errorf("storage failure: got %q", s)
	}
	mustRefused(t, func() error { _, err := c.Tarball(context.Background(), "main"); return err }(), "is not a commit SHA")
}

func TestCappedBody(t *testing.T) {
	tests := []struct {
		size    int
		wantErr bool
	}{
		{0, false}, {99, false}, {100, false}, {101, true}, {5000, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			b := &cappedBody{rc: io.NopCloser(strings.NewReader(strings.Repeat("x", tt.size))), left: 100, limit: 100}
			got, err := io.ReadAll(b)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got %d bytes, %v; want error %v", len(got), err, tt.wantErr)
			}
			if !tt.wantErr && len(got) != tt.size {
				t.Errorf("got %d bytes, want %d", len(got), tt.size)
			}
			if tt.wantErr && len(got) > 100 {
				t.Errorf("got %d bytes, want at most the 100-byte cap", len(got))
			}
		})
	}
}

func TestRevertMessageAsGitWritesIt(t *testing.T) {
	srv, c := mustClient(t)
	srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Initial", Files: map[string]string{"a": "1"}})
	target := srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Use \"v2\" model – ünïcode\n\nBody.", Files: map[string]string{"a": "2"}})
	res, err := c.Revert(context.Background(), target, "main")
	if err != nil {
		t.Fatal(err)
	}
	msg, _, _ := srv.CommitMessage(res.SHA)
	if want := "Revert \"Use \"v2\" model – ünïcode\"\n\nThis reverts commit " + target + "."; msg != want {
		t.Errorf("got %q, want %q", msg, want)
	}
}

// TestCommitOnBranch: a commit is on a branch when it is the branch's head or behind
// it; a branch's commit ahead of it, one GitHub does not have and a tag named like the
// branch are not.
func TestCommitOnBranch(t *testing.T) {
	srv, c := mustClient(t)
	first := srv.AddCommit(githubfake.Commit{Message: "first", Branch: "main"})
	head := srv.AddCommit(githubfake.Commit{Message: "head", Branch: "main"})
	wip := srv.AddCommit(githubfake.Commit{Message: "wip", Branch: "someone/wip", Parents: []string{head}})
	ctx := context.Background()
	for _, tt := range []struct {
		sha       string
		reachable bool
		status    string
	}{{head, true, "identical"}, {first, true, "behind"}, {first[:7], true, "behind"}, {wip, false, "ahead"}} {
		got, err := c.CommitOnBranch(ctx, tt.sha, "main")
		if err != nil || got.Reachable != tt.reachable || got.Status != tt.status {
			t.Errorf("%s: got %+v, %v; want reachable %v (%s)", tt.sha[:7], got, err, tt.reachable, tt.status)
		}
		if tt.reachable && !strings.HasPrefix(got.SHA, tt.sha) || tt.reachable && len(got.SHA) != 40 {
			t.Errorf("%s: got full SHA %q", tt.sha[:7], got.SHA)
		}
	}
	if _, err := c.CommitOnBranch(ctx, "deadbeefcafe", "main"); !errors.Is(err, recovery.ErrNotFound) {
		t.Errorf("unknown commit: got %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"HEAD", "main", "deadbee; rm", ""} {
		if _, err := c.CommitOnBranch(ctx, bad, "main"); err == nil {
			t.Errorf("%q: got no error, want it refused", bad)
		}
	}
	// Found once, remembered: no second compare.
	before := srv.Calls("Compare")
	if _, err := c.CommitOnBranch(ctx, first, "main"); err != nil || srv.Calls("Compare") != before {
		t.Errorf("a second check compared again (%d → %d)", before, srv.Calls("Compare"))
	}
}
