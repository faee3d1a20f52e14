package githubfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

func TestWorkflowDispatch(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	seedMain(srv, clk)
	srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	gh := mustClient(t, srv)

	tests := []struct {
		name     string
		workflow string
		ref      string
		want     int
	}{
		{"branch", "deploy-prod.yml", "main", http.StatusNoContent},
		{"unknown workflow", "nope.yml", "main", http.StatusNotFound},
		{"unknown ref", "deploy-prod.yml", "release", http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := gh.Actions.CreateWorkflowDispatchEventByFileName(ctx, owner, repo, tt.workflow, github.CreateWorkflowDispatchEventRequest{
				Ref: tt.ref, Inputs: map[string]any{"model_version": "abc1234"},
			})
			if resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("got %v, %v; want HTTP %d", resp, err, tt.want)
			}
			if tt.want != http.StatusNoContent {
				var er *github.ErrorResponse
				if !errors.As(err, &er) {
					t.Errorf("got %v, want a *github.ErrorResponse", err)
				}
			}
		})
	}

	var got []githubfake.Mutation
	for _, m := range srv.Mutations() {
		if m.Op == "DispatchWorkflow" {
			got = append(got, m)
		}
	}
	if len(got) != 3 || got[0].Status != http.StatusNoContent || got[0].Path != "/repos/acme/sentiment-analyzer/actions/workflows/deploy-prod.yml/dispatches" {
		t.Fatalf("got dispatch mutations %+v, want 3 with the first answered 204", got)
	}
	var body struct {
		Ref    string            `json:"ref"`
		Inputs map[string]string `json:"inputs"`
	}
	if err := json.Unmarshal(got[0].Body, &body); err != nil || body.Ref != "main" || body.Inputs["model_version"] != "abc1234" {
		t.Errorf("got recorded body %s (%v), want ref main and the model_version input", got[0].Body, err)
	}
}

func TestListPullsFilters(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	seedMain(srv, clk)
	srv.AddCommit(githubfake.Commit{Branch: "feature/a", Parents: []string{mustRef(t, srv, "heads/main")}, Message: "a", Files: map[string]string{"a": "1"}})
	srv.AddCommit(githubfake.Commit{Branch: "feature/b", Parents: []string{mustRef(t, srv, "heads/main")}, Message: "b", Files: map[string]string{"b": "1"}})
	a := srv.AddPullRequest(githubfake.PullRequest{Title: "A", Head: "feature/a"})
	b := srv.AddPullRequest(githubfake.PullRequest{Title: "B", Head: "feature/b"})
	gh := mustClient(t, srv)

	tests := []struct {
		name string
		opts github.PullRequestListOptions
		want []int
	}{
		{"all open, newest first", github.PullRequestListOptions{}, []int{b, a}},
		{"owner:branch", github.PullRequestListOptions{Head: owner + ":feature/a"}, []int{a}},
		{"bare branch is ignored, as on GitHub", github.PullRequestListOptions{Head: "feature/a"}, []int{b, a}},
		{"other owner", github.PullRequestListOptions{Head: "someone:feature/a"}, nil},
		{"base", github.PullRequestListOptions{Base: "release"}, nil},
		{"closed", github.PullRequestListOptions{State: "closed"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prs, _, err := gh.PullRequests.List(ctx, owner, repo, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, p := range prs {
				got = append(got, p.GetNumber())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	prs, _, err := gh.PullRequests.List(ctx, owner, repo, &github.PullRequestListOptions{Head: owner + ":feature/b"})
	if err != nil || len(prs) != 1 || prs[0].GetHead().GetRef() != "feature/b" || prs[0].GetBase().GetRef() != "main" ||
		prs[0].GetTitle() != "B" || prs[0].GetHTMLURL() != "https://github.com/acme/sentiment-analyzer/pull/2" {
		t.Errorf("got %+v, %v; want PR #2 B feature/b→main", prs, err)
	}
}

func mustRef(tb testing.TB, srv *githubfake.Server, ref string) string {
	tb.Helper()
	sha, ok := srv.Ref(ref)
	if !ok {
		tb.Fatalf("no ref %s", ref)
	}
	return sha
}
