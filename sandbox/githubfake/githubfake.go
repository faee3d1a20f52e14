// Package githubfake is a local stand-in for the parts of the GitHub REST API that medic
// calls through go-github v66, and a webhook sender that posts the way GitHub-Hookshot does.
//
// One Server holds one repository: its workflows, runs, jobs (with steps and logs),
// artifacts, an in-memory git graph (blobs, trees and commits hashed exactly as git
// hashes them, and refs), issues and pull requests. Tests and `medic demo` seed it with
// the Add* methods, point a real go-github client at it
//
//	c := github.NewClient(nil).WithAuthToken(tok)
//	c.BaseURL, _ = url.Parse(srv.URL() + "/")
//
// and observe the side effects of what medic did through Run, Job, Ref, Issues,
// PullRequests, Mutations and Calls.
//
// With Options.App the fake also hosts a GitHub App (see App): it checks the app's
// JWT, issues installation tokens (ghs_…) and refuses them once expired, so a test
// sees medic mint and refresh them through ghinstallation.
//
// Every REST endpoint passes through the fault injector as "github:<Operation>" (see
// Server.Routes for the list). A *fault.Error becomes GitHub's own wire form:
//
//   - Status 403 with Code "rate_limited": 403 + X-RateLimit-Remaining: 0 and
//     X-RateLimit-Reset, which go-github turns into *github.RateLimitError. go-github then
//     refuses further calls locally until Reset, so Reset is the wall clock plus the
//     rule's RetryAfter: without RetryAfter it is "now" (rounded down to the second) and
//     the very next call goes out again; with RetryAfter the client really backs off.
//   - Status 403 with Code "secondary_rate_limited": 403 + Retry-After and the
//     secondary-rate-limit documentation_url, which go-github turns into
//     *github.AbuseRateLimitError.
//   - anything else (429, 5xx, 404 …): that status with {"message": …} and, when set,
//     Retry-After. go-github turns 429 into a plain *github.ErrorResponse.
//
// Normal answers carry sane rate headers (X-RateLimit-Remaining: 4999) so go-github's
// rate cache never blocks a call by itself.
package githubfake

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medic-ops/medic/sandbox/fault"
)

// Options configures a Server. The zero value serves "acme/sentiment-analyzer".
type Options struct {
	// Repository is the "owner/name" of the one repository served; default
	// "acme/sentiment-analyzer". Requests for any other repository answer 404.
	Repository string
	// DefaultBranch is the repository's default branch; default "main".
	DefaultBranch string
	// Token, when set, is the only token accepted ("Authorization: Bearer <token>", as
	// go-github's WithAuthToken sends it, or "token <token>"); anything else answers 401
	// "Bad credentials". Empty accepts every request, unless App is set.
	Token string
	// App, when set, hosts a GitHub App installed on the repository (see App): its
	// installation tokens are accepted, and with Token empty only they are.
	App *App
	// Login is the authenticated user: the author of issues, pull requests and commits
	// created through the API. Default "medic-bot".
	Login string
	// Faults injects latency and errors; nil creates a private injector.
	Faults *fault.Injector
	// Now is the fake's clock (timestamps, presigned-URL expiry, the 30-day re-run
	// window); default time.Now.
	Now func() time.Time
}

// Server is a running fake GitHub. It is safe for concurrent use.
type Server struct {
	owner, repo   string
	defaultBranch string
	token         string
	login         string
	faults        *fault.Injector
	now           func() time.Time
	signKey       []byte
	app           atomic.Pointer[App]
	http          *httptest.Server
	handler       http.Handler

	mu sync.Mutex
	w  world
	// appTokens are the installation tokens issued, with their expiry.
	appTokens map[string]time.Time
}

// Mutation is one mutating request the fake received, in arrival order.
type Mutation struct {
	// Op is the operation name without the "github:" prefix, for example "UpdateRef".
	Op string
	// Method and Path are the request's method and URL path.
	Method, Path string
	// Body is the raw request body (nil when there was none).
	Body json.RawMessage
	// Status is the HTTP status the fake answered, including injected faults.
	Status int
}

// New starts a fake GitHub on 127.0.0.1 with opts. Close it when done.
func New(opts Options) *Server {
	owner, repo, ok := strings.Cut(opts.Repository, "/")
	if !ok || owner == "" || repo == "" {
		owner, repo = "acme", "sentiment-analyzer"
	}
	s := &Server{
		owner:         owner,
		repo:          repo,
		defaultBranch: opts.DefaultBranch,
		token:         opts.Token,
		login:         opts.Login,
		faults:        opts.Faults,
		now:           opts.Now,
		signKey:       make([]byte, 32),
		w:             newWorld(),
	}
	if s.defaultBranch == "" {
		s.defaultBranch = "main"
	}
	if s.login == "" {
		s.login = "medic-bot"
	}
	if s.faults == nil {
		s.faults = fault.New()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.app.Store(opts.App.withDefaults())
	_, _ = rand.Read(s.signKey)
	s.handler = s.newMux()
	s.http = httptest.NewServer(s.handler)
	return s
}

// URL returns the server's base URL, "http://127.0.0.1:PORT" (no trailing slash; go-github's
// BaseURL needs one appended).
func (s *Server) URL() string { return s.http.URL }

// Handler returns the fake's HTTP handler, for mounting it elsewhere. Links it writes
// (Location, url fields) still point at URL().
func (s *Server) Handler() http.Handler { return s.handler }

// Close shuts the server down.
func (s *Server) Close() { s.http.Close() }

// Owner returns the repository owner's login.
func (s *Server) Owner() string { return s.owner }

// Repo returns the repository name.
func (s *Server) Repo() string { return s.repo }

// Faults returns the injector the server consults.
func (s *Server) Faults() *fault.Injector { return s.faults }

// Calls reports how many requests op received; op may be given with or without its
// "github:" prefix ("Rerun" or "github:Rerun").
func (s *Server) Calls(op string) int {
	if !strings.HasPrefix(op, "github:") {
		op = "github:" + op
	}
	return s.faults.Calls(op)
}

// Mutations returns every mutating request received so far, in order.
func (s *Server) Mutations() []Mutation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Mutation, len(s.w.mutations))
	copy(out, s.w.mutations)
	return out
}

// route is one REST operation under /repos/{owner}/{repo}/.
type route struct {
	// pattern is "METHOD path" relative to /repos/{owner}/{repo}/, in net/http's
	// ServeMux syntax.
	pattern string
	// op is the fault-injector operation without the "github:" prefix.
	op string
	// handle does the work; it runs after the fault injector let the call through.
	handle func(w http.ResponseWriter, r *http.Request)
}

// Routes lists the REST operations the fake serves as "METHOD /path op" lines, for
// documentation and for tests that check every operation is reachable.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		out = append(out, method+" /repos/{owner}/{repo}/"+path+" github:"+rt.op)
	}
	return out
}

// routes is the table of REST operations. Adding an operation is one line here plus
// its handler.
func (s *Server) routes() []route {
	return []route{
		// Actions.
		{"GET actions/workflows/{workflow}/runs", "ListWorkflowRuns", s.listWorkflowRuns},
		{"GET actions/runs", "ListWorkflowRuns", s.listRepoRuns},
		{"GET actions/runs/{run}", "GetWorkflowRun", s.getRun},
		{"GET actions/runs/{run}/jobs", "ListJobs", s.listJobs},
		{"GET actions/jobs/{job}", "GetJob", s.getJob},
		{"GET actions/jobs/{job}/logs", "JobLogs", s.jobLogs},
		{"POST actions/runs/{run}/rerun", "Rerun", s.rerun},
		{"POST actions/runs/{run}/rerun-failed-jobs", "RerunFailed", s.rerunFailed},
		{"POST actions/jobs/{job}/rerun", "RerunJob", s.rerunJob},
		{"POST actions/runs/{run}/cancel", "CancelRun", s.cancelRun},
		{"POST actions/workflows/{workflow}/dispatches", "DispatchWorkflow", s.dispatchWorkflow},
		{"GET actions/runs/{run}/artifacts", "ListArtifacts", s.listArtifacts},
		// Commits.
		{"GET commits/{ref...}", "GetCommit", s.getCommit},
		{"GET compare/{basehead...}", "Compare", s.compare},
		// Git data.
		{"GET git/ref/{ref...}", "GetRef", s.getRef},
		{"GET git/matching-refs/{ref...}", "ListMatchingRefs", s.matchingRefs},
		{"PATCH git/refs/{ref...}", "UpdateRef", s.updateRef},
		{"POST git/refs", "CreateRef", s.createRef},
		{"GET git/commits/{sha}", "GetGitCommit", s.getGitCommit},
		{"POST git/commits", "CreateGitCommit", s.createGitCommit},
		{"GET git/trees/{sha}", "GetTree", s.getTree},
		{"POST git/trees", "CreateTree", s.createTree},
		// Issues, pull requests, archives.
		{"POST issues", "CreateIssue", s.createIssue},
		{"GET issues", "ListIssues", s.listIssues},
		{"POST pulls", "CreatePull", s.createPull},
		{"GET pulls", "ListPulls", s.listPulls},
		{"GET tarball/{ref...}", "Tarball", s.tarball},
		{"GET tarball", "Tarball", s.tarball},
	}
}

func (s *Server) newMux() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		mux.Handle(method+" /repos/{owner}/{repo}/"+path, s.api(rt))
	}
	// The GitHub App's endpoints take its JWT, not a token.
	mux.Handle("GET /repos/{owner}/{repo}/installation", s.appRoute("GetRepoInstallation", s.repoInstallation))
	mux.Handle("POST /app/installations/{id}/access_tokens", s.appRoute("CreateInstallationToken", s.createInstallationToken))
	// Presigned log blobs and codeload archives are fetched without Authorization, as
	// the real storage hosts are.
	mux.Handle("GET /_blob/{file}", s.plain("DownloadJobLogs", s.blob))
	mux.Handle("GET /_codeload/{owner}/{repo}/legacy.tar.gz/{ref...}", s.plain("DownloadTarball", s.codeload))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, "Not Found", docsREST)
	})
	return mux
}

const (
	docsREST = "https://docs.github.com/rest"
	// maxBody bounds request bodies read by the fake.
	maxBody = 10 << 20
)

// api wraps an operation: fault injection, authentication, repository check, rate
// headers and the record of mutations.
func (s *Server) api(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		mutating := r.Method != http.MethodGet && r.Method != http.MethodHead
		if r.Body != nil {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
			if err != nil {
				s.writeError(w, http.StatusBadRequest, "Problems parsing JSON", docsREST)
				return
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		rec := &statusRecorder{ResponseWriter: w}
		if mutating {
			defer func() {
				m := Mutation{Op: rt.op, Method: r.Method, Path: r.URL.Path, Status: rec.status}
				if len(body) > 0 {
					m.Body = json.RawMessage(body)
				}
				s.mu.Lock()
				s.w.mutations = append(s.w.mutations, m)
				s.mu.Unlock()
			}()
		}
		if ferr := s.faults.Hit(r.Context(), "github:"+rt.op); ferr != nil {
			s.writeFault(rec, ferr)
			return
		}
		if !s.authorized(r) {
			s.writeError(rec, http.StatusUnauthorized, "Bad credentials", docsREST)
			return
		}
		// GitHub matches owner and repository names case-insensitively.
		if !strings.EqualFold(r.PathValue("owner"), s.owner) || !strings.EqualFold(r.PathValue("repo"), s.repo) {
			s.writeError(rec, http.StatusNotFound, "Not Found", docsREST)
			return
		}
		s.rateHeaders(rec.Header(), 4999, time.Now().Add(time.Hour))
		rt.handle(rec, r)
	})
}

// plain wraps an unauthenticated download endpoint with the fault injector.
func (s *Server) plain(op string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ferr := s.faults.Hit(r.Context(), "github:"+op); ferr != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if ferr.RetryAfter > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(ferr.RetryAfter))
			}
			w.WriteHeader(statusOr500(ferr.Status))
			_, _ = io.WriteString(w, ferr.Message)
			return
		}
		h(w, r)
	})
}

// authorized reports whether r carries a token the fake accepts: Token, or a live
// installation token of the App. An expired installation token is refused like a
// wrong one, with 401 "Bad credentials", as GitHub does.
func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if s.token != "" && (h == "Bearer "+s.token || h == "token "+s.token) {
		return true
	}
	if s.appConf() != nil {
		tok, ok := strings.CutPrefix(h, "token ")
		if !ok {
			tok, ok = strings.CutPrefix(h, "Bearer ")
		}
		return ok && s.installationTokenLive(tok)
	}
	return s.token == ""
}

// rateHeaders writes GitHub's primary rate-limit headers for the "core" resource
// (5,000 requests per hour for a token). The reset is wall-clock time because go-github
// compares it with time.Now, not with the fake's clock.
func (s *Server) rateHeaders(h http.Header, remaining int, reset time.Time) {
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(5000-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// writeFault answers an injected fault in GitHub's wire form (see the package comment).
func (s *Server) writeFault(w http.ResponseWriter, e *fault.Error) {
	status := statusOr500(e.Status)
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	h := w.Header()
	if e.RetryAfter > 0 {
		h.Set("Retry-After", retryAfterSeconds(e.RetryAfter))
	}
	switch {
	case status == http.StatusForbidden && e.Code == "rate_limited":
		// Reset rounds up so a RetryAfter of 1.5s keeps the client out for 2s.
		reset := time.Now().Add(e.RetryAfter + time.Second - 1)
		if e.RetryAfter == 0 {
			reset = time.Now()
		}
		s.rateHeaders(h, 0, reset)
		s.writeError(w, status, msg, "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit")
	case status == http.StatusForbidden && e.Code == "secondary_rate_limited":
		s.writeError(w, status, msg, "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits")
	default:
		s.writeError(w, status, msg, docsREST)
	}
}

func statusOr500(status int) int {
	if status < 100 || status > 599 {
		return http.StatusInternalServerError
	}
	return status
}

func retryAfterSeconds(d time.Duration) string {
	sec := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(sec, 10)
}

// apiError is GitHub's error document. Since 2023 GitHub adds the status as a string.
type apiError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url"`
	Status           string       `json:"status"`
}

// fieldError is one entry of a 422 "Validation Failed" document.
type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func (s *Server) writeError(w http.ResponseWriter, status int, msg, doc string) {
	s.writeJSON(w, status, apiError{Message: msg, DocumentationURL: doc, Status: strconv.Itoa(status)})
}

func (s *Server) writeValidation(w http.ResponseWriter, doc string, errs ...fieldError) {
	s.writeJSON(w, http.StatusUnprocessableEntity, apiError{
		Message: "Validation Failed", Errors: errs, DocumentationURL: doc,
		Status: strconv.Itoa(http.StatusUnprocessableEntity),
	})
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, fmt.Sprintf("encoding response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeBody decodes a JSON request body into v, answering 400 "Problems parsing JSON"
// as GitHub does when it is not JSON. It reports whether the handler may go on.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		s.writeError(w, http.StatusBadRequest, "Problems parsing JSON", docsREST)
		return false
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Pagination: GitHub's per_page defaults to 30 and is capped at 100
// (docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api).
const (
	defaultPerPage = 30
	maxPerPage     = 100
)

// paginate returns the [lo, hi) window of total items that the request's page and
// per_page select, and writes the Link header GitHub sends when there is more than one
// page.
func (s *Server) paginate(w http.ResponseWriter, r *http.Request, total int) (lo, hi int) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = defaultPerPage
	}
	perPage = min(perPage, maxPerPage)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (total+perPage-1)/perPage)
	lo = min((page-1)*perPage, total)
	hi = min(lo+perPage, total)

	link := func(p int, rel string) string {
		q2 := r.URL.Query()
		q2.Set("per_page", strconv.Itoa(perPage))
		q2.Set("page", strconv.Itoa(p))
		u := url.URL{Path: r.URL.Path, RawQuery: q2.Encode()}
		return fmt.Sprintf("<%s%s>; rel=%q", s.URL(), u.String(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(min(page-1, last), "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	return lo, hi
}

// Helpers for the JSON documents.

func (s *Server) apiURL(format string, args ...any) string {
	return s.URL() + "/repos/" + s.owner + "/" + s.repo + fmt.Sprintf(format, args...)
}

func (s *Server) htmlURL(format string, args ...any) string {
	return "https://github.com/" + s.owner + "/" + s.repo + fmt.Sprintf(format, args...)
}

// ts turns t into GitHub's second-precision UTC timestamp, nil for the zero time.
func ts(t time.Time) *timestamp {
	if t.IsZero() {
		return nil
	}
	return &timestamp{Time: t.UTC().Truncate(time.Second)}
}

// stableID derives a repeatable positive ID from a name, for users and repositories.
func stableID(kind, name string) int64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, kind+"/"+strings.ToLower(name))
	return int64(h.Sum64()%90_000_000) + 10_000_000
}

func nodeID(prefix string, id int64) string {
	return prefix + "_kwDO" + strconv.FormatInt(id, 36)
}

// fillAbsent marshals v (a go-github value, whose fields are all omitempty) into a map and
// adds the keys GitHub always sends, with their empty value (null or []), where v left
// them out.
func fillAbsent(v any, defaults map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m == nil {
		m = map[string]any{}
	}
	for k, d := range defaults {
		if _, ok := m[k]; !ok {
			m[k] = d
		}
	}
	return m
}

// list is GitHub's {"total_count": n, "<key>": [...]} wrapper; items is never null.
func list(key string, total int, items []any) map[string]any {
	if items == nil {
		items = []any{}
	}
	return map[string]any{"total_count": total, key: items}
}
