package github

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

func mustClient(tb testing.TB) (*githubfake.Server, *Client) {
	tb.Helper()
	srv := githubfake.New(githubfake.Options{Repository: "traylorre/sentiment-analyzer-gsk", Token: "ghs_test"})
	tb.Cleanup(srv.Close)
	c, err := New(Options{BaseURL: srv.URL(), Token: "ghs_test", Owner: "traylorre", Repo: "sentiment-analyzer-gsk"})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, c
}

var prod = recovery.Environment{Name: "prod", DeployWorkflow: "deploy-prod.yml", DeployBranch: "main"}

func TestLastSuccessfulDeploy(t *testing.T) {
	srv, c := mustClient(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	good := strings.Repeat("a", 40)
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadBranch: "main", HeadSHA: good, Conclusion: "success", CreatedAt: t0, UpdatedAt: t0.Add(8 * time.Minute)})
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadBranch: "main", HeadSHA: strings.Repeat("b", 40), Conclusion: "failure", CreatedAt: t0.Add(time.Hour)})
	srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", HeadBranch: "feature/x", HeadSHA: strings.Repeat("c", 40), Conclusion: "success", CreatedAt: t0.Add(2 * time.Hour)})
	d, err := c.LastSuccessfulDeploy(context.Background(), prod)
	if err != nil {
		t.Fatal(err)
	}
	if d == nil || d.SHA != good || d.Branch != "main" || !d.At.Equal(t0.Add(8*time.Minute)) || d.RunID == 0 || d.URL == "" {
		t.Fatalf("got %+v, want the successful main run %s", d, good)
	}
}

func TestLastSuccessfulDeployNone(t *testing.T) {
	srv, c := mustClient(t)
	srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	d, err := c.LastSuccessfulDeploy(context.Background(), prod)
	if err != nil || d != nil {
		t.Fatalf("got %+v, %v; want nil, nil", d, err)
	}
}

func TestErrorsAreSummarized(t *testing.T) {
	tests := []struct {
		name      string
		fault     fault.Error
		want      string
		retryable bool
		// wait bounds RetryAfter: at least minWait, at most maxWait.
		minWait, maxWait time.Duration
	}{
		{"rate limit", fault.Error{Status: 403, Code: "rate_limited", Message: "API rate limit exceeded", RetryAfter: 30 * time.Second}, "GitHub: rate limited until", true, 28 * time.Second, 31 * time.Second},
		{"secondary rate limit", fault.Error{Status: 403, Code: "secondary_rate_limited", Message: "You have exceeded a secondary rate limit", RetryAfter: 7 * time.Second},
			"GitHub: rate limited (secondary limit), retry after 7s on ListWorkflowRuns", true, 7 * time.Second, 7 * time.Second},
		{"server error", fault.Error{Status: 502, Code: "bad_gateway", Message: "Server Error"}, "GitHub: HTTP 502 Server Error on ListWorkflowRuns", true, 0, 0},
		{"429", fault.Error{Status: 429, Code: "too_many", Message: "slow down"}, "GitHub: rate limited (429) on ListWorkflowRuns", true, time.Minute, time.Minute},
		{"429 with Retry-After", fault.Error{Status: 429, Code: "too_many", Message: "slow down", RetryAfter: 3 * time.Second},
			"GitHub: rate limited (429), retry after 3s on ListWorkflowRuns", true, 3 * time.Second, 3 * time.Second},
		{"not found", fault.Error{Status: 404, Code: "not_found", Message: "Not Found"}, "GitHub: HTTP 404 Not Found on ListWorkflowRuns", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := mustClient(t)
			f := tt.fault
			srv.Faults().Set("github:ListWorkflowRuns", fault.Rule{Err: &f, Times: 1})
			_, err := c.LastSuccessfulDeploy(context.Background(), prod)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %v, want *APIError", err)
			}
			if !strings.HasPrefix(apiErr.Summary(), tt.want) {
				t.Errorf("summary: got %q, want prefix %q", apiErr.Summary(), tt.want)
			}
			if apiErr.Retryable() != tt.retryable {
				t.Errorf("retryable: got %v, want %v", apiErr.Retryable(), tt.retryable)
			}
			if w := apiErr.RetryAfter(); w < tt.minWait || w > tt.maxWait {
				t.Errorf("retry after: got %s, want %s to %s", w, tt.minWait, tt.maxWait)
			}
		})
	}
}

// A transport error on a signed download URL keeps the URL's host and path, never its
// query, where the signature is.
func TestTransportErrorsDropTheSignedQuery(t *testing.T) {
	err := wrap("DownloadJobLogs", nil, &url.Error{Op: "Get", URL: "https://results-receiver.actions.example/logs/1?sig=SECRETSIG&se=2026", Err: errors.New("connection reset by peer")})
	if strings.Contains(err.Error(), "SECRETSIG") || !strings.Contains(err.Error(), "results-receiver.actions.example/logs/1") {
		t.Fatalf("got %q: want the host and path without the query", err)
	}
}
