package github

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

const hookSecret = "s3cret-webhook"

var hookNow = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

// sink records the signals a Webhook emits; with full set it refuses them.
type sink struct {
	mu      sync.Mutex
	signals []recovery.Signal
	full    bool
}

func (s *sink) add(_ context.Context, sig recovery.Signal) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return false
	}
	s.signals = append(s.signals, sig)
	return true
}

func (s *sink) all() []recovery.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.signals)
}

// claims is an in-memory Claim.
type claims struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (c *claims) claim(_ context.Context, key string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[key] {
		return false, nil
	}
	c.seen[key] = true
	return true, nil
}

// runFiles is a RunFacts over a fixed map of workflow files; every run is a push to
// main of the repository itself.
func runFiles(m map[int64]string) func(context.Context, int64) (recovery.Run, error) {
	return func(_ context.Context, id int64) (recovery.Run, error) {
		if f, ok := m[id]; ok {
			return recovery.Run{ID: id, Workflow: f, Event: "push", HeadRepository: "octo-org/octo-repo", HeadBranch: "main"}, nil
		}
		return recovery.Run{}, errors.New("no such run")
	}
}

// hookTest is a Webhook served on 127.0.0.1 with a recording sink.
type hookTest struct {
	url  string
	sink *sink
	logs *observer.ObservedLogs
}

// mustHook serves a Webhook for deploy-prod.yml. edit may change the options first.
func mustHook(tb testing.TB, edit func(*WebhookOptions)) *hookTest {
	tb.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	s := &sink{}
	c := &claims{seen: map[string]bool{}}
	o := WebhookOptions{
		Secret:    hookSecret,
		Claim:     c.claim,
		Sink:      s.add,
		Workflows: []string{"deploy-prod.yml"},
		// The real payloads' jobs belong to run 2202229078.
		RunFacts: runFiles(map[int64]string{2202229078: "deploy-prod.yml"}),
		Logger:   zap.New(zapcore.NewTee(core, zaptest.NewLogger(tb).Core())),
		Now:      func() time.Time { return hookNow },
	}
	if edit != nil {
		edit(&o)
	}
	srv := httptest.NewServer(NewWebhook(o))
	tb.Cleanup(srv.Close)
	return &hookTest{url: srv.URL + "/webhooks/github", sink: s, logs: logs}
}

func mustPayload(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustGitHub(tb testing.TB) *githubfake.Server {
	tb.Helper()
	srv := githubfake.New(githubfake.Options{Repository: "traylorre/sentiment-analyzer-gsk", Token: "ghs_test"})
	tb.Cleanup(srv.Close)
	return srv
}

func TestWebhookRealPayloads(t *testing.T) {
	tests := []struct {
		name, event, file string
		wantStatus        int
		check             func(t *testing.T, s recovery.Signal)
	}{
		{"run completed", "workflow_run", "workflow_run.completed.json", http.StatusAccepted, func(t *testing.T, s recovery.Signal) {
			r := s.Run
			if s.Kind != recovery.SignalRunCompleted || s.Job != nil || r == nil {
				t.Fatalf("got %+v, want a run_completed signal with a Run", s)
			}
			want := recovery.Run{
				ID: 289782451, Attempt: 1, Number: 163, Workflow: "deploy-prod.yml", WorkflowName: "Deploy to Production",
				Status: "completed", Conclusion: "failure", HeadSHA: "3484a3fb816e0859fd6e1cea078d76385ff50625",
				HeadBranch: "master", HeadRepository: "octo-org/octo-repo", Event: "repository_dispatch", Actor: "Codertocat",
				CommitMessage: "build(test): check workflow run event payload", CommitAuthor: "Matthias Fax",
				PullRequests: []int{2}, URL: "https://github.com/octo-org/octo-repo/actions/runs/289782451",
				CreatedAt: time.Date(2020, 10, 5, 16, 33, 24, 0, time.UTC),
				StartedAt: time.Date(2020, 10, 5, 16, 33, 49, 0, time.UTC),
				UpdatedAt: time.Date(2020, 10, 5, 16, 33, 49, 0, time.UTC),
			}
			if fmt.Sprintf("%+v", *r) != fmt.Sprintf("%+v", want) {
				t.Errorf("run:\ngot  %+v\nwant %+v", *r, want)
			}
		}},
		{"run requested", "workflow_run", "workflow_run.requested.json", http.StatusAccepted, nil},
		{"job completed", "workflow_job", "workflow_job.completed.failure.json", http.StatusAccepted, func(t *testing.T, s recovery.Signal) {
			if s.Kind != recovery.SignalJobCompleted || s.Job == nil || s.Run == nil {
				t.Fatalf("got %+v, want a job_completed signal with Run and Job", s)
			}
			j, r := s.Job, s.Run
			if j.ID != 289782451 || j.RunID != 2202229078 || j.Attempt != 1 || j.Name != "Production Canary Test" ||
				j.Conclusion != "failure" || j.URL != "https://github.com/octo-org/octo-repo/runs/1291536064" ||
				!j.CompletedAt.Equal(time.Date(2021, 8, 5, 10, 38, 16, 0, time.UTC)) || len(j.Steps) != 12 {
				t.Errorf("job: got %+v", *j)
			}
			if st, ok := j.FailedStep(); !ok || st.Name != "Run yarn run format-check" || st.Number != 8 {
				t.Errorf("failed step: got %+v, want 8 \"Run yarn run format-check\"", st)
			}
			want := recovery.Run{ID: 2202229078, Attempt: 1, Workflow: "deploy-prod.yml", WorkflowName: "Deploy to Production",
				HeadSHA: "3484a3fb816e0859fd6e1cea078d76385ff50625", HeadBranch: "main", HeadRepository: "octo-org/octo-repo", Event: "push",
				URL: "https://github.com/Codertocat/Hello-World/actions/runs/2202229078"}
			if fmt.Sprintf("%+v", *r) != fmt.Sprintf("%+v", want) {
				t.Errorf("run:\ngot  %+v\nwant %+v", *r, want)
			}
		}},
		{"job in progress", "workflow_job", "workflow_job.in_progress.json", http.StatusAccepted, func(t *testing.T, s recovery.Signal) {
			if s.Kind != recovery.SignalJobStarted || s.Job == nil || s.Job.Name != "Rollback on Failure" || s.Run == nil || s.Run.ID != 2202229078 {
				t.Errorf("got %+v, want job_started for Rollback on Failure", s)
			}
		}},
		{"job queued", "workflow_job", "workflow_job.queued.json", http.StatusAccepted, nil},
		{"ping", "ping", "", http.StatusOK, nil},
		{"other event", "issues", "", http.StatusNoContent, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHook(t, nil)
			gs := mustGitHub(t)
			body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
			if tt.file != "" {
				body = mustPayload(t, tt.file)
			}
			_, status, err := gs.Deliver(context.Background(), h.url, hookSecret, tt.event, body)
			if err != nil || status != tt.wantStatus {
				t.Fatalf("got %d, %v; want %d", status, err, tt.wantStatus)
			}
			got := h.sink.all()
			if tt.check == nil {
				if len(got) != 0 {
					t.Fatalf("got signals %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d signals, want 1", len(got))
			}
			if got[0].Via != "webhook" || !got[0].At.Equal(hookNow) {
				t.Errorf("got Via %q At %s, want webhook at %s", got[0].Via, got[0].At, hookNow)
			}
			tt.check(t, got[0])
		})
	}
}

// post sends body to url with the given headers.
func post(tb testing.TB, method, url string, body []byte, headers map[string]string) int {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func mac(h func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestWebhookRefusals(t *testing.T) {
	payload := mustPayload(t, "workflow_run.completed.json")
	good := "sha256=" + mac(sha256.New, hookSecret, payload)
	headers := func(kv ...string) map[string]string {
		m := map[string]string{"Content-Type": "application/json", "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "d-1"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	malformed := []byte(`{"action":"completed","workflow_run":{"id":"not a number"`)
	tests := []struct {
		name    string
		edit    func(*WebhookOptions)
		method  string
		body    []byte
		headers map[string]string
		want    int
		wantLog string
	}{
		{"wrong secret", nil, "POST", payload, headers("X-Hub-Signature-256", "sha256="+mac(sha256.New, "other", payload)), 401, "webhook signature refused"},
		{"missing signature", nil, "POST", payload, headers(), 401, "webhook delivery without X-Hub-Signature-256"},
		{"garbage signature", nil, "POST", payload, headers("X-Hub-Signature-256", "sha256=zz"), 401, "webhook signature refused"},
		{"tampered body", nil, "POST", append(slices.Clone(payload), ' '), headers("X-Hub-Signature-256", good), 401, "webhook signature refused"},
		{"sha1 only", nil, "POST", payload, headers("X-Hub-Signature", "sha1="+mac(sha1.New, hookSecret, payload)), 401, "webhook delivery without X-Hub-Signature-256"},
		{"no secret configured", func(o *WebhookOptions) { o.Secret = "" }, "POST", payload, headers("X-Hub-Signature-256", good), 503, "webhook secret not configured: refusing delivery"},
		{"no secret, unsigned", func(o *WebhookOptions) { o.Secret = "" }, "POST", payload, headers(), 503, "webhook secret not configured: refusing delivery"},
		{"GET", nil, "GET", nil, headers(), 405, ""},
		{"malformed JSON", nil, "POST", malformed, headers("X-Hub-Signature-256", "sha256="+mac(sha256.New, hookSecret, malformed)), 400, "malformed webhook payload"},
		{"not JSON", nil, "POST", payload, headers("X-Hub-Signature-256", good, "Content-Type", "text/plain"), 400, "webhook payload unreadable"},
		{"too large", func(o *WebhookOptions) { o.MaxBody = 1024 }, "POST", payload, headers("X-Hub-Signature-256", good), 413, "webhook body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHook(t, tt.edit)
			if got := post(t, tt.method, h.url, tt.body, tt.headers); got != tt.want {
				t.Errorf("status: got %d, want %d", got, tt.want)
			}
			if got := h.sink.all(); len(got) != 0 {
				t.Errorf("got signals %+v, want none", got)
			}
			if tt.wantLog == "" {
				return
			}
			entries := h.logs.FilterMessage(tt.wantLog).All()
			if len(entries) != 1 {
				t.Fatalf("got %d log lines %q, want 1", len(entries), tt.wantLog)
			}
			fields := entries[0].ContextMap()
			if fields["delivery"] != "d-1" || !strings.HasPrefix(fmt.Sprint(fields["remote"]), "127.0.0.1:") {
				t.Errorf("log fields: got %v, want the delivery id and remote address", fields)
			}
		})
	}
}

func TestWebhookFormContentType(t *testing.T) {
	h := mustHook(t, nil)
	// Form bodies are signed as sent; the JSON is the payload field.
	form := []byte(url.Values{"payload": {string(mustPayload(t, "workflow_run.completed.json"))}}.Encode())
	status := post(t, "POST", h.url, form, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "d-form",
		"X-Hub-Signature-256": "sha256=" + mac(sha256.New, hookSecret, form),
	})
	if got := h.sink.all(); status != http.StatusAccepted || len(got) != 1 || got[0].Run.ID != 289782451 {
		t.Errorf("got %d and %d signals, want 202 and the run's signal", status, len(got))
	}
}

func TestWebhookRedeliveryEmitsOnce(t *testing.T) {
	gs := mustGitHub(t)
	c, err := New(Options{BaseURL: gs.URL(), Token: "ghs_test", Owner: "traylorre", Repo: "sentiment-analyzer-gsk"})
	if err != nil {
		t.Fatal(err)
	}
	h := mustHook(t, func(o *WebhookOptions) { o.RunFacts = c.RunFacts })
	run := gs.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Name: "Deploy to Production", Conclusion: "failure"})
	job := gs.AddJob(run.ID, githubfake.Job{Name: "Production Canary Test", Conclusion: "failure"})
	ctx := context.Background()
	jobEv, err := gs.JobEvent(job.ID, "completed")
	if err != nil {
		t.Fatal(err)
	}
	runEv, err := gs.RunEvent(run.ID, "completed")
	if err != nil {
		t.Fatal(err)
	}
	jobID, status, err := gs.Deliver(ctx, h.url, hookSecret, "workflow_job", jobEv)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("job delivery: got %d, %v; want 202", status, err)
	}
	runID, status, err := gs.Deliver(ctx, h.url, hookSecret, "workflow_run", runEv)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("run delivery: got %d, %v; want 202", status, err)
	}
	for _, id := range []string{jobID, runID, jobID} {
		if status, err := gs.Redeliver(ctx, h.url, hookSecret, id); err != nil || status != http.StatusOK {
			t.Fatalf("redelivery of %s: got %d, %v; want 200 duplicate", id, status, err)
		}
	}
	got := h.sink.all()
	if len(got) != 2 {
		t.Fatalf("got %d signals, want 2 (one per delivery)", len(got))
	}
	if got[0].Kind != recovery.SignalJobCompleted || got[0].Job.ID != job.ID || got[0].Run.Workflow != "deploy-prod.yml" ||
		got[0].Run.URL != fmt.Sprintf("https://github.com/traylorre/sentiment-analyzer-gsk/actions/runs/%d", run.ID) {
		t.Errorf("job signal: got %+v / %+v", got[0], got[0].Run)
	}
	if got[1].Kind != recovery.SignalRunCompleted || got[1].Run.ID != run.ID || got[1].Run.WorkflowName != "Deploy to Production" {
		t.Errorf("run signal: got %+v", got[1].Run)
	}
	if n := gs.Calls("GetWorkflowRun"); n != 1 {
		t.Errorf("got %d run lookups, want 1 (the job's run, then cached)", n)
	}
}

func TestWebhookUnwatchedWorkflow(t *testing.T) {
	gs := mustGitHub(t)
	c, err := New(Options{BaseURL: gs.URL(), Token: "ghs_test", Owner: "traylorre", Repo: "sentiment-analyzer-gsk"})
	if err != nil {
		t.Fatal(err)
	}
	h := mustHook(t, func(o *WebhookOptions) { o.RunFacts = c.RunFacts })
	run := gs.AddRun(githubfake.Run{WorkflowFile: "ci.yml", Name: "CI", Conclusion: "failure"})
	job := gs.AddJob(run.ID, githubfake.Job{Name: "lint", Conclusion: "failure"})
	runEv, _ := gs.RunEvent(run.ID, "completed")
	jobEv, _ := gs.JobEvent(job.ID, "completed")
	for event, payload := range map[string]any{"workflow_run": runEv, "workflow_job": jobEv} {
		if _, status, err := gs.Deliver(context.Background(), h.url, hookSecret, event, payload); err != nil || status != http.StatusAccepted {
			t.Errorf("%s: got %d, %v; want 202", event, status, err)
		}
	}
	if got := h.sink.all(); len(got) != 0 {
		t.Errorf("got %d signals, want none for ci.yml", len(got))
	}
	if n := h.logs.FilterMessage("workflow not watched").Len(); n != 2 {
		t.Errorf("got %d \"workflow not watched\" log lines, want 2", n)
	}
}

func TestWebhookDependencies(t *testing.T) {
	payload := mustPayload(t, "workflow_job.completed.failure.json")
	tests := []struct {
		name        string
		edit        func(*WebhookOptions)
		want        int
		wantSignals int
	}{
		{"claim error processes anyway", func(o *WebhookOptions) {
			o.Claim = func(context.Context, string) (bool, error) { return false, errors.New("store down") }
		}, http.StatusAccepted, 1},
		{"no claim", func(o *WebhookOptions) { o.Claim = nil }, http.StatusAccepted, 1},
		{"run lookup fails", func(o *WebhookOptions) { o.RunFacts = runFiles(nil) }, http.StatusServiceUnavailable, 0},
		{"no run lookup", func(o *WebhookOptions) { o.RunFacts = nil }, http.StatusAccepted, 0},
		{"no workflows", func(o *WebhookOptions) { o.Workflows = nil }, http.StatusAccepted, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHook(t, tt.edit)
			gs := mustGitHub(t)
			if _, status, err := gs.Deliver(context.Background(), h.url, hookSecret, "workflow_job", payload); err != nil || status != tt.want {
				t.Errorf("got %d, %v; want %d", status, err, tt.want)
			}
			if got := len(h.sink.all()); got != tt.wantSignals {
				t.Errorf("got %d signals, want %d", got, tt.wantSignals)
			}
		})
	}
}

func TestWebhookSurvivesPanics(t *testing.T) {
	var calls atomic.Int32
	h := mustHook(t, func(o *WebhookOptions) {
		o.Sink = func(context.Context, recovery.Signal) bool {
			if calls.Add(1) == 1 {
				panic("sink bug")
			}
			return true
		}
	})
	gs := mustGitHub(t)
	payload := mustPayload(t, "workflow_run.completed.json")
	if _, status, err := gs.Deliver(context.Background(), h.url, hookSecret, "workflow_run", payload); err != nil || status != http.StatusInternalServerError {
		t.Fatalf("first: got %d, %v; want 500", status, err)
	}
	if _, status, err := gs.Deliver(context.Background(), h.url, hookSecret, "workflow_run", payload); err != nil || status != http.StatusAccepted {
		t.Fatalf("second: got %d, %v; want 202 from the same server", status, err)
	}
	if n := h.logs.FilterMessage("panic handling webhook delivery").Len(); n != 1 {
		t.Errorf("got %d panic log lines, want 1", n)
	}
}

// FuzzWebhook feeds correctly signed arbitrary bodies under arbitrary event names: the
// receiver must never panic (a recovered panic answers 500) and answers only 200, 202,
// 204, 400 or 401.
func FuzzWebhook(f *testing.F) {
	for _, name := range []string{"workflow_run.completed.json", "workflow_run.requested.json",
		"workflow_job.completed.failure.json", "workflow_job.in_progress.json", "workflow_job.queued.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name))
		if err != nil {
			f.Fatal(err)
		}
		event, _, _ := strings.Cut(name, ".")
		f.Add(event, b)
		f.Add(event, b[:len(b)/2])
	}
	f.Add("ping", []byte(`{"zen":"Design for failure."}`))
	f.Add("workflow_run", []byte(""))
	f.Add("workflow_job", []byte("null"))
	f.Add("workflow_run", []byte(`{"action":"completed"}`))
	f.Add("workflow_job", []byte(`{"action":"completed","workflow_job":{"id":1,"run_id":2202229078,"steps":[null]}}`))
	f.Add("workflow_run", []byte(`{"action":"completed","workflow_run":{"id":1,"path":"","pull_requests":[null]},"workflow":null}`))

	var emitted atomic.Int64
	h := NewWebhook(WebhookOptions{
		Secret:    hookSecret,
		Claim:     func(context.Context, string) (bool, error) { return true, nil },
		Sink:      func(context.Context, recovery.Signal) bool { emitted.Add(1); return true },
		Workflows: []string{"deploy-prod.yml", "test.yml"},
		RunFacts: func(context.Context, int64) (recovery.Run, error) {
			return recovery.Run{Workflow: "deploy-prod.yml"}, nil
		},
		Now: func() time.Time { return hookNow },
	})
	allowed := []int{http.StatusOK, http.StatusAccepted, http.StatusNoContent, http.StatusBadRequest, http.StatusUnauthorized}
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header["X-Github-Event"] = []string{event}
		req.Header.Set("X-GitHub-Delivery", "fuzz")
		req.Header.Set("X-Hub-Signature-256", "sha256="+mac(sha256.New, hookSecret, body))
		before := emitted.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("event %q: got status %d (%s), want one of %v", event, rec.Code, rec.Body.String(), allowed)
		}
		if n := emitted.Load() - before; n > 1 || (n == 1 && rec.Code != http.StatusAccepted) {
			t.Fatalf("event %q: got %d signals with status %d, want at most one, with 202", event, n, rec.Code)
		}
	})
}

func TestWebhookLearnsRunFilesFromRunDeliveries(t *testing.T) {
	srv := githubfake.New(githubfake.Options{Repository: "traylorre/sentiment-analyzer-gsk"})
	defer srv.Close()
	srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	run := srv.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Status: "in_progress"})
	job := srv.AddJob(run.ID, githubfake.Job{Name: "Deploy to Production", Status: "in_progress"})
	c, err := New(Options{BaseURL: srv.URL(), Owner: "traylorre", Repo: "sentiment-analyzer-gsk"})
	if err != nil {
		t.Fatal(err)
	}
	var got []recovery.Signal
	h := httptest.NewServer(NewWebhook(WebhookOptions{
		Secret: "s", Workflows: []string{"deploy-prod.yml"}, RunFacts: c.RunFacts, Learn: c.RememberRun,
		Sink: func(_ context.Context, s recovery.Signal) bool { got = append(got, s); return true },
	}))
	defer h.Close()
	ctx := context.Background()
	runEv, err := srv.RunEvent(run.ID, "requested")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Deliver(ctx, h.URL, "s", "workflow_run", runEv); err != nil {
		t.Fatal(err)
	}
	jobEv, err := srv.JobEvent(job.ID, "in_progress")
	if err != nil {
		t.Fatal(err)
	}
	if _, status, err := srv.Deliver(ctx, h.URL, "s", "workflow_job", jobEv); err != nil || status != 202 {
		t.Fatalf("job delivery: %d %v", status, err)
	}
	if n := srv.Calls("GetWorkflowRun"); n != 0 {
		t.Errorf("the job delivery looked the run up %d times, want 0 (learned from the run delivery)", n)
	}
	if len(got) != 1 || got[0].Run.Workflow != "deploy-prod.yml" {
		t.Errorf("signals: got %+v", got)
	}
}

// TestWebhookJobTakesTrustFromTheRun: a workflow_job delivery says neither what started
// the run nor where its code came from; the signal carries the run's facts as GitHub
// reports them, never a guess from the job (a fork's branch may well be called main).
func TestWebhookJobTakesTrustFromTheRun(t *testing.T) {
	gs := mustGitHub(t)
	c, err := New(Options{BaseURL: gs.URL(), Token: "ghs_test", Owner: "traylorre", Repo: "sentiment-analyzer-gsk"})
	if err != nil {
		t.Fatal(err)
	}
	h := mustHook(t, func(o *WebhookOptions) { o.RunFacts = c.RunFacts })
	run := gs.AddRun(githubfake.Run{WorkflowFile: "deploy-prod.yml", Event: "pull_request", HeadBranch: "main",
		HeadRepository: "mallory/sentiment-analyzer-gsk", Conclusion: "failure"})
	job := gs.AddJob(run.ID, githubfake.Job{Name: "Rollback on Failure", Conclusion: "failure"})
	jobEv, err := gs.JobEvent(job.ID, "completed")
	if err != nil {
		t.Fatal(err)
	}
	if _, status, err := gs.Deliver(context.Background(), h.url, hookSecret, "workflow_job", jobEv); err != nil || status != http.StatusAccepted {
		t.Fatalf("job delivery: got %d, %v; want 202", status, err)
	}
	got := h.sink.all()
	if len(got) != 1 {
		t.Fatalf("got %d signals, want 1", len(got))
	}
	r := got[0].Run
	if r.Event != "pull_request" || r.HeadRepository != "mallory/sentiment-analyzer-gsk" || r.HeadBranch != "main" {
		t.Errorf("run facts: got event %q, head repository %q, branch %q; want pull_request from mallory/sentiment-analyzer-gsk:main", r.Event, r.HeadRepository, r.HeadBranch)
	}
	trust := recovery.RunTrust{Repository: "traylorre/sentiment-analyzer-gsk", Branches: []string{"main"}, Events: recovery.DefaultTrustedEvents()}
	if why := trust.Untrusted(*r); !strings.Contains(why, "mallory/sentiment-analyzer-gsk") {
		t.Errorf("trust: got %q, want the fork named as the reason", why)
	}
}

// TestWebhookOverloadedIsNotSwallowed: when medic cannot queue a delivery's signal, the
// delivery is answered 503 and its claim released, so GitHub's redelivery is processed
// rather than answered "duplicate".
func TestWebhookOverloadedIsNotSwallowed(t *testing.T) {
	c := &claims{seen: map[string]bool{}}
	h := mustHook(t, func(o *WebhookOptions) {
		o.Claim = c.claim
		o.Unclaim = func(_ context.Context, key string) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			delete(c.seen, key)
			return nil
		}
	})
	h.sink.full = true
	body := mustPayload(t, "workflow_run.completed.json")
	headers := map[string]string{"Content-Type": "application/json", "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "d-busy",
		"X-Hub-Signature-256": "sha256=" + mac(sha256.New, hookSecret, body)}
	if status := post(t, "POST", h.url, body, headers); status != http.StatusServiceUnavailable {
		t.Fatalf("overloaded: got %d, want 503", status)
	}
	h.sink.mu.Lock()
	h.sink.full = false
	h.sink.mu.Unlock()
	if status := post(t, "POST", h.url, body, headers); status != http.StatusAccepted {
		t.Fatalf("redelivery: got %d, want 202 (processed, not a duplicate)", status)
	}
	if got := h.sink.all(); len(got) != 1 {
		t.Errorf("got %d signals, want 1", len(got))
	}
}

// TestWebhookTricklerLosesItsPlace: a client that takes the only delivery place and
// sends its body a byte at a time is cut off after BodyTimeout, and GitHub's delivery
// behind it is taken.
func TestWebhookTricklerLosesItsPlace(t *testing.T) {
	h := mustHook(t, func(o *WebhookOptions) { o.MaxInFlight, o.BodyTimeout = 1, 300*time.Millisecond })
	u, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 100000\r\n\r\n{", u.Path, u.Host)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // a byte every 100 ms, for ever
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	payload := mustPayload(t, "workflow_run.completed.json")
	headers := map[string]string{"Content-Type": "application/json", "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "d-2",
		"X-Hub-Signature-256": "sha256=" + mac(sha256.New, hookSecret, payload)}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := post(t, "POST", h.url, payload, headers)
		if got == http.StatusOK || got == http.StatusAccepted {
			return
		}
		if got != http.StatusServiceUnavailable {
			t.Fatalf("GitHub's delivery: got %d", got)
		}
		if time.Now().After(deadline) {
			t.Fatal("the trickling client kept the only place for 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
