package githubfake_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

// TestGitHashesMatchGit pins the object hashing to what git itself computes for the same
// content, author and date (values from `git commit` with these inputs).
func TestGitHashesMatchGit(t *testing.T) {
	srv := mustServer(t, nil)
	sha := srv.AddCommit(githubfake.Commit{
		Message: "Initial commit\n",
		Author:  githubfake.Person{Name: "Dev One", Email: "dev1@example.com"},
		Files:   map[string]string{"hello.txt": "hello\n", "infra/main.tf": "model_version = \"v1\"\n"},
		When:    time.Unix(1717236000, 0),
	})
	if want := "a870df799c5f6b7922435d0c4b4ee813099e85cc"; sha != want {
		t.Errorf("got commit %s, want git's %s", sha, want)
	}
	gh := mustClient(t, srv)
	c, _, err := gh.Git.GetCommit(context.Background(), owner, repo, sha)
	if err != nil {
		t.Fatalf("Git.GetCommit: %v", err)
	}
	if want := "6f6f2fadf33d05edb3c6dd2f954194dda65ce66c"; c.GetTree().GetSHA() != want {
		t.Errorf("got tree %s, want git's %s", c.GetTree().GetSHA(), want)
	}
	tree, _, err := gh.Git.GetTree(context.Background(), owner, repo, c.GetTree().GetSHA(), true)
	if err != nil {
		t.Fatalf("Git.GetTree: %v", err)
	}
	var entries []string
	for _, e := range tree.Entries {
		entries = append(entries, e.GetType()+" "+e.GetPath()+" "+e.GetSHA())
	}
	want := []string{
		"blob hello.txt ce013625030ba8dba906f756967f9e9ca394464a",
		"tree infra da65f2ba9ada9f9b203509c1272dd3f455833bf3",
		"blob infra/main.tf 19ce19daa6a54c73baea9d0ca21175cd38bacb6b",
	}
	if !slices.Equal(entries, want) {
		t.Errorf("got tree entries %v, want git's %v", entries, want)
	}
}

// seedMain builds main with two commits and returns their SHAs.
func seedMain(srv *githubfake.Server, clk *clock) (first, second string) {
	dev := githubfake.Person{Name: "Dev One", Email: "dev1@example.com", Login: "dev-one"}
	first = srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Set model v1", Author: dev, When: clk.Now().Add(-2 * time.Hour),
		Files: map[string]string{"terraform/prod.tfvars": "model_version = \"v1\"\n", "README.md": "# sentiment\n"}})
	second = srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Promote model v2\n\nCanary passed in preprod.", Author: dev, When: clk.Now().Add(-time.Hour),
		Files: map[string]string{"terraform/prod.tfvars": "model_version = \"v2\"\n"}})
	return first, second
}

// revertHead runs PROTOCOLS.md 2.4 with go-github: it builds the revert commit of the
// head of main and returns it with the head it was built on.
func revertHead(ctx context.Context, t *testing.T, gh *github.Client) (newSHA, oldHead string) {
	t.Helper()
	ref, _, err := gh.Git.GetRef(ctx, owner, repo, "refs/heads/main")
	if err != nil {
		t.Fatalf("GetRef: %v", err)
	}
	head := ref.GetObject().GetSHA()
	hc, _, err := gh.Git.GetCommit(ctx, owner, repo, head)
	if err != nil {
		t.Fatalf("GetCommit head: %v", err)
	}
	if len(hc.Parents) != 1 {
		t.Fatalf("got %d parents, want 1", len(hc.Parents))
	}
	parent, _, err := gh.Git.GetCommit(ctx, owner, repo, hc.Parents[0].GetSHA())
	if err != nil {
		t.Fatalf("GetCommit parent: %v", err)
	}
	subject, _, _ := strings.Cut(hc.GetMessage(), "\n")
	msg := fmt.Sprintf("Revert %q\n\nThis reverts commit %s.", subject, head)
	n, resp, err := gh.Git.CreateCommit(ctx, owner, repo, &github.Commit{
		Message: github.String(msg),
		Tree:    &github.Tree{SHA: parent.GetTree().SHA},
		Parents: []*github.Commit{{SHA: github.String(head)}},
	}, nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("CreateCommit: got %v, %v; want 201", resp, err)
	}
	return n.GetSHA(), head
}

func TestRevertFlow(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	first, second := seedMain(srv, clk)
	gh := mustClient(t, srv)

	revert, head := revertHead(ctx, t, gh)
	if head != second {
		t.Fatalf("got head %s, want %s", head, second)
	}
	updated, _, err := gh.Git.UpdateRef(ctx, owner, repo, &github.Reference{
		Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: github.String(revert)},
	}, false)
	if err != nil {
		t.Fatalf("UpdateRef fast-forward: %v", err)
	}
	if updated.GetObject().GetSHA() != revert || updated.GetRef() != "refs/heads/main" {
		t.Errorf("got ref %s at %s, want refs/heads/main at %s", updated.GetRef(), updated.GetObject().GetSHA(), revert)
	}
	if sha, _ := srv.Ref("heads/main"); sha != revert {
		t.Errorf("got main at %s, want %s", sha, revert)
	}
	msg, parents, _ := srv.CommitMessage(revert)
	if want := "Revert \"Promote model v2\"\n\nThis reverts commit " + second + "."; msg != want || !slices.Equal(parents, []string{second}) {
		t.Errorf("got revert %q with parents %v, want %q with [%s]", msg, parents, want, second)
	}
	got, _ := srv.FilesAt(revert)
	want, _ := srv.FilesAt(first)
	if !maps.Equal(got, want) {
		t.Errorf("got files %v after the revert, want the first commit's %v", got, want)
	}

	// Someone pushes meanwhile: a revert built on the old head is no fast-forward.
	stale, _ := revertHead(ctx, t, gh)
	srv.AddCommit(githubfake.Commit{Branch: "main", Message: "Hotfix", Files: map[string]string{"hotfix.txt": "x\n"}})
	_, _, err = gh.Git.UpdateRef(ctx, owner, repo, &github.Reference{
		Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: github.String(stale)},
	}, false)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity || er.Message != "Update is not a fast forward" {
		t.Errorf("stale UpdateRef: got %v, want 422 Update is not a fast forward", err)
	}
	// force:true overrides.
	if _, _, err := gh.Git.UpdateRef(ctx, owner, repo, &github.Reference{
		Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: github.String(stale)},
	}, true); err != nil {
		t.Errorf("forced UpdateRef: %v", err)
	}

	var ops []string
	for _, m := range srv.Mutations() {
		ops = append(ops, fmt.Sprintf("%s %s %d", m.Op, m.Method, m.Status))
	}
	wantOps := []string{"CreateGitCommit POST 201", "UpdateRef PATCH 200", "CreateGitCommit POST 201", "UpdateRef PATCH 422", "UpdateRef PATCH 200"}
	if !slices.Equal(ops, wantOps) {
		t.Errorf("got mutations %v, want %v", ops, wantOps)
	}
	if m := srv.Mutations()[3]; !strings.Contains(string(m.Body), `"force":false`) {
		t.Errorf("got UpdateRef body %s, want it to carry force:false", m.Body)
	}
}

func TestGitDataErrors(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	_, second := seedMain(srv, clk)
	gh := mustClient(t, srv)
	missing := strings.Repeat("0", 40)

	tests := []struct {
		name       string
		call       func() error
		wantStatus int
		wantMsg    string
	}{
		{"get unknown ref", func() error {
			_, _, err := gh.Git.GetRef(ctx, owner, repo, "refs/heads/nope")
			return err
		}, 404, "Not Found"},
		{"update unknown ref", func() error {
			_, _, err := gh.Git.UpdateRef(ctx, owner, repo, &github.Reference{Ref: github.String("refs/heads/nope"), Object: &github.GitObject{SHA: github.String(second)}}, false)
			return err
		}, 422, "Reference does not exist"},
		{"update to unknown object", func() error {
			_, _, err := gh.Git.UpdateRef(ctx, owner, repo, &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: github.String(missing)}}, false)
			return err
		}, 422, "Object does not exist"},
		{"create existing ref", func() error {
			_, _, err := gh.Git.CreateRef(ctx, owner, repo, &github.Reference{Ref: github.String("refs/heads/main"), Object: &github.GitObject{SHA: github.String(second)}})
			return err
		}, 422, "Reference already exists"},
		{"commit with unknown tree", func() error {
			_, _, err := gh.Git.CreateCommit(ctx, owner, repo, &github.Commit{Message: github.String("x"), Tree: &github.Tree{SHA: github.String(missing)}}, nil)
			return err
		}, 422, "Tree SHA does not exist"},
		{"get unknown git commit", func() error {
			_, _, err := gh.Git.GetCommit(ctx, owner, repo, missing)
			return err
		}, 404, "Not Found"},
		{"get unknown commit", func() error {
			_, _, err := gh.Repositories.GetCommit(ctx, owner, repo, "nope", nil)
			return err
		}, 422, "No commit found for SHA: nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != tt.wantStatus || er.Message != tt.wantMsg {
				t.Errorf("got %v, want %d %q", err, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}

func TestCreateRefMatchingRefsAndTree(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	first, second := seedMain(srv, clk)
	gh := mustClient(t, srv)

	ref, resp, err := gh.Git.CreateRef(ctx, owner, repo, &github.Reference{
		Ref: github.String("refs/heads/medic/revert-1"), Object: &github.GitObject{SHA: github.String(first)},
	})
	if err != nil || resp.StatusCode != http.StatusCreated || ref.GetObject().GetSHA() != first {
		t.Fatalf("CreateRef: got %v %v %v, want 201 at %s", ref, resp, err, first)
	}
	refs, _, err := gh.Git.ListMatchingRefs(ctx, owner, repo, &github.ReferenceListOptions{Ref: "heads/"})
	if err != nil {
		t.Fatalf("ListMatchingRefs: %v", err)
	}
	var names []string
	for _, r := range refs {
		names = append(names, r.GetRef())
	}
	if want := []string{"refs/heads/main", "refs/heads/medic/revert-1"}; !slices.Equal(names, want) {
		t.Errorf("got refs %v, want %v", names, want)
	}
	got, _, err := gh.Git.GetRef(ctx, owner, repo, "refs/heads/medic/revert-1")
	if err != nil || got.GetObject().GetSHA() != first {
		t.Errorf("GetRef of a slashed branch: got %v, %v; want %s", got, err, first)
	}

	// CreateTree on a base tree, then a commit on it.
	c, _, _ := gh.Git.GetCommit(ctx, owner, repo, second)
	tree, _, err := gh.Git.CreateTree(ctx, owner, repo, c.GetTree().GetSHA(), []*github.TreeEntry{
		{Path: github.String("terraform/prod.tfvars"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String("model_version = \"v3\"\n")},
		{Path: github.String("README.md"), Mode: github.String("100644"), Type: github.String("blob")}, // sha null: delete
	})
	if err != nil {
		t.Fatalf("CreateTree: %v", err)
	}
	n, _, err := gh.Git.CreateCommit(ctx, owner, repo, &github.Commit{
		Message: github.String("Promote v3"), Tree: &github.Tree{SHA: tree.SHA}, Parents: []*github.Commit{{SHA: github.String(second)}},
	}, nil)
	if err != nil {
		t.Fatalf("CreateCommit: %v", err)
	}
	files, _ := srv.FilesAt(n.GetSHA())
	if want := map[string]string{"terraform/prod.tfvars": "model_version = \"v3\"\n"}; !maps.Equal(files, want) {
		t.Errorf("got files %v, want %v", files, want)
	}
	if n.GetAuthor().GetName() != "medic-bot" {
		t.Errorf("got author %q, want the authenticated user medic-bot", n.GetAuthor().GetName())
	}
}

func TestGetCommitWithFilesAndCompare(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	first, second := seedMain(srv, clk)
	srv.SetRef("heads/feature/model-v3", second)
	feature := srv.AddCommit(githubfake.Commit{Branch: "feature/model-v3", Message: "Model v3",
		Files: map[string]string{"terraform/prod.tfvars": "model_version = \"v3\"\n", "docs/v3.md": "notes\n"}})
	gh := mustClient(t, srv)

	c, _, err := gh.Repositories.GetCommit(ctx, owner, repo, "main", nil)
	if err != nil {
		t.Fatalf("GetCommit: %v", err)
	}
	if c.GetSHA() != second || c.GetCommit().GetMessage() != "Promote model v2\n\nCanary passed in preprod." || c.GetAuthor().GetLogin() != "dev-one" {
		t.Errorf("got %s %q by %s, want %s by dev-one", c.GetSHA(), c.GetCommit().GetMessage(), c.GetAuthor().GetLogin(), second)
	}
	if len(c.Files) != 1 {
		t.Fatalf("got %d files, want 1", len(c.Files))
	}
	f := c.Files[0]
	wantPatch := "@@ -1 +1 @@\n-model_version = \"v1\"\n+model_version = \"v2\""
	if f.GetFilename() != "terraform/prod.tfvars" || f.GetStatus() != "modified" || f.GetAdditions() != 1 || f.GetDeletions() != 1 || f.GetPatch() != wantPatch {
		t.Errorf("got file %s %s +%d -%d %q, want terraform/prod.tfvars modified +1 -1 %q", f.GetFilename(), f.GetStatus(), f.GetAdditions(), f.GetDeletions(), f.GetPatch(), wantPatch)
	}
	if c.GetStats().GetTotal() != 2 {
		t.Errorf("got stats total %d, want 2", c.GetStats().GetTotal())
	}

	tests := []struct {
		base, head    string
		status        string
		ahead, behind int
		files         int
	}{
		{"main", "feature/model-v3", "ahead", 1, 0, 2},
		{"feature/model-v3", "main", "behind", 0, 1, 0},
		{first, "feature/model-v3", "ahead", 2, 0, 2},
		{"main", "main", "identical", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.base+"..."+tt.head, func(t *testing.T) {
			cmp, _, err := gh.Repositories.CompareCommits(ctx, owner, repo, tt.base, tt.head, nil)
			if err != nil {
				t.Fatalf("CompareCommits: %v", err)
			}
			if cmp.GetStatus() != tt.status || cmp.GetAheadBy() != tt.ahead || cmp.GetBehindBy() != tt.behind || len(cmp.Files) != tt.files {
				t.Errorf("got %s ahead %d behind %d files %d, want %s %d %d %d", cmp.GetStatus(), cmp.GetAheadBy(), cmp.GetBehindBy(), len(cmp.Files), tt.status, tt.ahead, tt.behind, tt.files)
			}
			if len(cmp.Commits) != tt.ahead {
				t.Errorf("got %d commits, want %d", len(cmp.Commits), tt.ahead)
			}
		})
	}
	cmp, _, _ := gh.Repositories.CompareCommits(ctx, owner, repo, first, feature, nil)
	var order []string
	for _, c := range cmp.Commits {
		order = append(order, c.GetSHA())
	}
	if want := []string{second, feature}; !slices.Equal(order, want) {
		t.Errorf("got commits %v, want oldest first %v", order, want)
	}
	if cmp.GetMergeBaseCommit().GetSHA() != first {
		t.Errorf("got merge base %s, want %s", cmp.GetMergeBaseCommit().GetSHA(), first)
	}
}
