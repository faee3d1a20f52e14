package githubfake_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v66/github"
)

// receiver is a webhook endpoint the way medic writes one: validate, then parse.
type receiver struct {
	secret string
	mu     sync.Mutex
	events []any
	heads  []http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	payload, err := github.ValidatePayload(r, []byte(rc.secret))
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	ev, err := github.ParseWebHook(github.WebHookType(r), payload)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.events = append(rc.events, ev)
	rc.heads = append(rc.heads, r.Header.Clone())
	rc.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func TestWebhookDelivery(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	srv := mustServer(t, clk)
	run, _, deploy := seedFailedRun(srv, clk)
	rc := &receiver{secret: "s3cret"}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)

	runEv, err := srv.RunEvent(run.ID, "completed")
	if err != nil {
		t.Fatalf("RunEvent: %v", err)
	}
	id, status, err := srv.Deliver(ctx, hook.URL, "s3cret", "workflow_run", runEv)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("Deliver workflow_run: got %d, %v; want 202", status, err)
	}
	jobEv, err := srv.JobEvent(deploy.ID, "completed")
	if err != nil {
		t.Fatalf("JobEvent: %v", err)
	}
	if _, status, err := srv.Deliver(ctx, hook.URL, "s3cret", "workflow_job", jobEv); err != nil || status != http.StatusAccepted {
		t.Fatalf("Deliver workflow_job: got %d, %v; want 202", status, err)
	}
	// A wrong secret fails the receiver's signature check.
	if _, status, _ := srv.Deliver(ctx, hook.URL, "other", "workflow_run", runEv); status != http.StatusUnauthorized {
		t.Errorf("wrong secret: got %d, want 401 from ValidatePayload", status)
	}
	// A redelivery repeats the body and the delivery GUID.
	if status, err := srv.Redeliver(ctx, hook.URL, "s3cret", id); err != nil || status != http.StatusAccepted {
		t.Fatalf("Redeliver: got %d, %v; want 202", status, err)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.events) != 3 {
		t.Fatalf("got %d accepted events, want 3", len(rc.events))
	}
	re, ok := rc.events[0].(*github.WorkflowRunEvent)
	if !ok {
		t.Fatalf("got %T, want *github.WorkflowRunEvent", rc.events[0])
	}
	if re.GetAction() != "completed" || re.GetWorkflowRun().GetID() != run.ID || re.GetWorkflowRun().GetConclusion() != "failure" ||
		re.GetWorkflow().GetPath() != ".github/workflows/deploy-prod.yml" || re.GetRepo().GetFullName() != "acme/sentiment-analyzer" || re.GetSender().GetLogin() != "octocat" {
		t.Errorf("got workflow_run %s run %d %s workflow %s repo %s sender %s, want the seeded failed run",
			re.GetAction(), re.GetWorkflowRun().GetID(), re.GetWorkflowRun().GetConclusion(), re.GetWorkflow().GetPath(), re.GetRepo().GetFullName(), re.GetSender().GetLogin())
	}
	je, ok := rc.events[1].(*github.WorkflowJobEvent)
	if !ok {
		t.Fatalf("got %T, want *github.WorkflowJobEvent", rc.events[1])
	}
	if je.GetWorkflowJob().GetID() != deploy.ID || je.GetWorkflowJob().Steps[1].GetConclusion() != "failure" {
		t.Errorf("got workflow_job %d, want job %d with the failing step", je.GetWorkflowJob().GetID(), deploy.ID)
	}
	h := rc.heads[0]
	checks := map[string]string{
		"X-GitHub-Event":    "workflow_run",
		"X-GitHub-Delivery": id,
		"Content-Type":      "application/json",
	}
	for k, want := range checks {
		if got := h.Get(k); got != want {
			t.Errorf("header %s: got %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(h.Get("User-Agent"), "GitHub-Hookshot/") || !strings.HasPrefix(h.Get("X-Hub-Signature"), "sha1=") || !strings.HasPrefix(h.Get("X-Hub-Signature-256"), "sha256=") {
		t.Errorf("got User-Agent %q and signatures %q %q, want Hookshot with sha1 and sha256", h.Get("User-Agent"), h.Get("X-Hub-Signature"), h.Get("X-Hub-Signature-256"))
	}
	if got := rc.heads[2].Get("X-GitHub-Delivery"); got != id {
		t.Errorf("redelivery GUID: got %q, want %q", got, id)
	}
	ds := srv.Deliveries()
	if len(ds) != 4 || !ds[3].Redelivery || ds[3].ID != id || string(ds[3].Body) != string(ds[0].Body) {
		t.Errorf("got %d deliveries, want 4 with the last a redelivery of the first", len(ds))
	}
}

// goGithubKeys returns the keys of the object at key in a real payload that go-github
// models: the file is decoded into v and re-encoded.
func goGithubKeys(t *testing.T, file, key string, v any) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "github-webhooks", file))
	if err != nil {
		t.Skipf("testdata not available: %v", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	return objectKeys(t, v, key)
}

func objectKeys(t *testing.T, v any, key string) []string {
	t.Helper()
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	var inner map[string]json.RawMessage
	_ = json.Unmarshal(m[key], &inner)
	var keys []string
	for k := range inner {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestEventShapesMatchRealPayloads checks that every field of the real example payloads
// that go-github reads is present in the payloads the fake builds.
func TestEventShapesMatchRealPayloads(t *testing.T) {
	clk := newClock()
	srv := mustServer(t, clk)
	run, _, deploy := seedFailedRun(srv, clk)
	runEv, _ := srv.RunEvent(run.ID, "completed")
	jobEv, _ := srv.JobEvent(deploy.ID, "completed")

	tests := []struct {
		name, file, key string
		real            any
		ours            any
	}{
		{"workflow_run", "workflow_run.completed.payload.json", "workflow_run", &github.WorkflowRunEvent{}, runEv},
		{"workflow_job", "workflow_job.completed.failure.with-organization.payload.json", "workflow_job", &github.WorkflowJobEvent{}, jobEv},
		{"workflow_run envelope", "workflow_run.completed.payload.json", "", &github.WorkflowRunEvent{}, runEv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want, got []string
			if tt.key == "" {
				want = topKeys(t, tt.file, tt.real)
				got = topKeysOf(tt.ours)
			} else {
				want = goGithubKeys(t, tt.file, tt.key, tt.real)
				got = objectKeys(t, tt.ours, tt.key)
			}
			for _, k := range want {
				if !slices.Contains(got, k) {
					t.Errorf("key %q of the real payload is missing from ours (got %v)", k, got)
				}
			}
		})
	}
}

func topKeys(t *testing.T, file string, v any) []string {
	t.Helper()
	goGithubKeys(t, file, "action", v)
	return topKeysOf(v)
}

func topKeysOf(v any) []string {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
