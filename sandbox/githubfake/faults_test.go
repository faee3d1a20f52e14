package githubfake_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

func TestFaultsBecomeGitHubErrors(t *testing.T) {
	tests := []struct {
		name  string
		err   fault.Error
		check func(t *testing.T, err error)
	}{
		{"primary rate limit", fault.Error{Status: 403, Code: "rate_limited", Message: "API rate limit exceeded for user ID 1."}, func(t *testing.T, err error) {
			var rl *github.RateLimitError
			if !errors.As(err, &rl) || rl.Rate.Remaining != 0 || rl.Message != "API rate limit exceeded for user ID 1." {
				t.Errorf("got %v, want *github.RateLimitError with Remaining 0", err)
			}
		}},
		{"secondary rate limit", fault.Error{Status: 403, Code: "secondary_rate_limited", Message: "You have exceeded a secondary rate limit.", RetryAfter: 30 * time.Second}, func(t *testing.T, err error) {
			var ab *github.AbuseRateLimitError
			if !errors.As(err, &ab) || ab.RetryAfter == nil || *ab.RetryAfter != 30*time.Second {
				t.Errorf("got %v, want *github.AbuseRateLimitError with RetryAfter 30s", err)
			}
		}},
		{"429", fault.Error{Status: 429, Code: "too_many_requests", Message: "slow down", RetryAfter: 2 * time.Second}, func(t *testing.T, err error) {
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != 429 || er.Response.Header.Get("Retry-After") != "2" || er.Message != "slow down" {
				t.Errorf("got %v, want a plain *github.ErrorResponse 429 with Retry-After 2", err)
			}
		}},
		{"server error", fault.Error{Status: 502, Code: "bad_gateway", Message: "Server Error"}, func(t *testing.T, err error) {
			var er *github.ErrorResponse
			if !errors.As(err, &er) || er.Response.StatusCode != 502 || er.Message != "Server Error" {
				t.Errorf("got %v, want *github.ErrorResponse 502 Server Error", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			srv := mustServer(t, clk)
			run := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure"})
			gh := mustClient(t, srv)
			e := tt.err
			srv.Faults().Set("github:GetWorkflowRun", fault.Rule{Err: &e, Times: 1})
			_, _, err := gh.Actions.GetWorkflowRunByID(context.Background(), owner, repo, run.ID)
			tt.check(t, err)
			if n := srv.Calls("GetWorkflowRun"); n != 1 {
				t.Errorf("got %d calls, want 1", n)
			}
		})
	}
}

// TestRateLimitResetControlsClientBackoff pins how Reset drives go-github's local
// refusal: without RetryAfter the next call goes out again; with it the client refuses
// calls itself until Reset, without sending them.
func TestRateLimitResetControlsClientBackoff(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter time.Duration
		wantCalls  int // calls the fake saw after two client calls
	}{
		{"reset now", 0, 2},
		{"reset in an hour", time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			srv := mustServer(t, clk)
			run := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Conclusion: "failure"})
			gh := mustClient(t, srv)
			srv.Faults().Set("github:GetWorkflowRun", fault.Rule{Times: 1,
				Err: &fault.Error{Status: 403, Code: "rate_limited", Message: "API rate limit exceeded", RetryAfter: tt.retryAfter}})
			ctx := context.Background()
			_, _, err := gh.Actions.GetWorkflowRunByID(ctx, owner, repo, run.ID)
			var rl *github.RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("first call: got %v, want *github.RateLimitError", err)
			}
			_, _, err = gh.Actions.GetWorkflowRunByID(ctx, owner, repo, run.ID)
			if tt.wantCalls == 2 && err != nil {
				t.Errorf("second call: got %v, want success", err)
			}
			if tt.wantCalls == 1 && !errors.As(err, &rl) {
				t.Errorf("second call: got %v, want a local *github.RateLimitError", err)
			}
			if n := srv.Calls("GetWorkflowRun"); n != tt.wantCalls {
				t.Errorf("got %d calls at the fake, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestFaultOnDownloadAndMutationRecord(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	run, _, deploy := seedFailedRun(srv, clk)
	gh := mustClient(t, srv)
	ctx := context.Background()

	srv.Faults().Set("github:DownloadJobLogs", fault.Rule{Times: 1, Err: &fault.Error{Status: 503, Message: "blob unavailable"}})
	u, _, err := gh.Actions.GetWorkflowJobLogs(ctx, owner, repo, deploy.ID, 1)
	if err != nil {
		t.Fatalf("GetWorkflowJobLogs: %v", err)
	}
	resp, err := http.Get(u.String())
	if err != nil {
		t.Fatalf("GET log: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("got %d, want the injected 503", resp.StatusCode)
	}

	// A faulted mutation is recorded with the status answered, and has no side effect.
	srv.Faults().Set("github:Rerun", fault.Rule{Times: 1, Err: &fault.Error{Status: 500, Message: "boom"}})
	if _, err := gh.Actions.RerunWorkflowByID(ctx, owner, repo, run.ID); err == nil {
		t.Fatalf("RerunWorkflowByID: got no error, want the injected 500")
	}
	if r, _ := srv.Run(run.ID); r.RunAttempt != 1 {
		t.Errorf("got attempt %d after a failed rerun, want 1", r.RunAttempt)
	}
	ms := srv.Mutations()
	if len(ms) != 1 || ms[0].Op != "Rerun" || ms[0].Status != 500 {
		t.Errorf("got mutations %+v, want one Rerun answered 500", ms)
	}
}

// TestEveryRouteConsultsTheInjector sends one request to each listed operation with a
// fault installed and expects the fault back, so no operation bypasses the injector.
func TestEveryRouteConsultsTheInjector(t *testing.T) {
	srv := mustServer(t, newClock())
	fill := strings.NewReplacer("{owner}", owner, "{repo}", repo, "{workflow}", "deploy-prod.yml", "{run}", "1",
		"{job}", "1", "{ref...}", "heads/main", "{basehead...}", "main...dev", "{sha}", strings.Repeat("a", 40))
	routes := srv.Routes()
	if len(routes) < 24 {
		t.Fatalf("got %d routes, want at least 24", len(routes))
	}
	for _, rt := range routes {
		parts := strings.Fields(rt) // METHOD /path github:Op
		method, path, op := parts[0], fill.Replace(parts[1]), parts[2]
		t.Run(op+" "+method+" "+parts[1], func(t *testing.T) {
			srv.Faults().Set(op, fault.Rule{Times: 1, Err: &fault.Error{Status: http.StatusTeapot, Message: "injected"}})
			defer srv.Faults().Clear(op)
			req, _ := http.NewRequest(method, srv.URL()+path, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTeapot {
				t.Errorf("got %d, want the injected 418", resp.StatusCode)
			}
		})
	}
}
