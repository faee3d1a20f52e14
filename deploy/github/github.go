// Package github reads and drives the GitHub side of medic's pipeline (workflow runs,
// jobs, logs, commits) through go-github.
package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/recovery"
)

// Client is medic's GitHub client for one repository.
type Client struct {
	gh    *gh.Client
	owner string
	repo  string
	// dl fetches presigned log URLs: same transport as gh, but never GitHub's token.
	dl *http.Client
	// trust, when set, leaves untrusted runs out of the deploy history.
	trust *recovery.RunTrust

	mu       sync.Mutex
	runFacts map[int64]recovery.Run          // RunFacts's cache
	onBranch map[string]recovery.CommitPlace // CommitOnBranch's cache: commits found on a branch
}

// Options configure a Client.
type Options struct {
	// BaseURL replaces https://api.github.com/ (GITHUB_API_URL); it must end in "/".
	BaseURL string
	// Token authenticates (GITHUB_TOKEN); empty works for public repositories.
	Token string
	// App, when set, authenticates as the GitHub App's installation instead of Token
	// (which must then be empty).
	App *App
	// HTTPClient replaces http.DefaultClient. Its Transport also carries the log
	// downloads from the presigned storage URLs, so it must not add GitHub's token
	// itself (Token does that for API calls only).
	HTTPClient *http.Client
	Owner      string
	Repo       string
	// Trust, when set, leaves the runs it does not trust (pull requests, forks, other
	// branches) out of the deploy history (SuccessfulDeploys and what uses it).
	Trust *recovery.RunTrust
}

// New returns a Client. It connects nowhere: with an App, the installation is found
// and its first token minted at the first call (Connect does it at once).
func New(o Options) (*Client, error) {
	c, _, err := newClient(o)
	return c, err
}

// Connect returns a Client and, with an App, finds its installation and mints the
// first token, so that a wrong key, app ID or installation stops medic at start-up
// with an *AuthError saying what to fix, not at the first incident. Other failures
// (GitHub unreachable) are left to the first call, which tries again.
func Connect(ctx context.Context, o Options) (*Client, error) {
	c, app, err := newClient(o)
	if err != nil || app == nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var ae *AuthError
	if _, err := app.authorization(ctx); errors.As(err, &ae) {
		return nil, err
	}
	return c, nil
}

// connectTimeout bounds Connect's calls: a GitHub that does not answer delays the
// start by that much, then the first call tries again.
const connectTimeout = 30 * time.Second

func newClient(o Options) (*Client, *appCredentials, error) {
	if o.Owner == "" || o.Repo == "" {
		return nil, nil, errors.New("github: owner and repo are required")
	}
	if o.Token != "" && o.App != nil {
		return nil, nil, errors.New("github: both a token and a GitHub App are set: medic acts as one of them")
	}
	api, err := url.Parse("https://api.github.com/")
	if o.BaseURL != "" {
		api, err = url.Parse(o.BaseURL)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("parsing GitHub API URL: %w", err)
	}
	if !strings.HasSuffix(api.Path, "/") {
		api.Path += "/"
	}
	hc := &http.Client{}
	if o.HTTPClient != nil {
		*hc = *o.HTTPClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	var creds credentials
	var app *appCredentials
	switch {
	case o.App != nil:
		if app, err = newAppCredentials(base, api, *o.App, o.Owner, o.Repo); err != nil {
			return nil, nil, err
		}
		creds = app
	case o.Token != "":
		creds = tokenCredentials{token: o.Token}
	}
	if creds != nil {
		hc.Transport = &authTransport{base: base, api: api, creds: creds}
	}
	c := gh.NewClient(hc)
	c.BaseURL = api
	// The download client fetches presigned URLs: same transport, never a credential.
	dl := &http.Client{Transport: base, Timeout: hc.Timeout}
	return &Client{gh: c, owner: o.Owner, repo: o.Repo, dl: dl, trust: o.Trust, runFacts: map[int64]recovery.Run{}, onBranch: map[string]recovery.CommitPlace{}}, app, nil
}

// APIError is a failed GitHub call, summarized for people.
type APIError struct {
	Operation string
	Status    int
	Detail    string
	// Wait is how long GitHub asked medic to stay away after a rate limit (see
	// RetryAfter); zero for other failures.
	Wait time.Duration
	Err  error
}

func (e *APIError) Error() string { return e.Summary() + ": " + e.Err.Error() }

// Unwrap returns go-github's error.
func (e *APIError) Unwrap() error { return e.Err }

// Summary says in one line what failed, e.g. "GitHub: rate limited on ListWorkflowRuns".
func (e *APIError) Summary() string {
	s := "GitHub: "
	if e.Detail != "" {
		s += e.Detail
	} else if e.Status != 0 {
		s += fmt.Sprintf("HTTP %d", e.Status)
	} else {
		s += "request failed"
	}
	return s + " on " + e.Operation
}

// Retryable reports whether trying again later may succeed (rate limits, 5xx).
func (e *APIError) Retryable() bool {
	return e.Status == 429 || e.Status >= 500 || e.Wait > 0 || strings.HasPrefix(e.Detail, "rate limited")
}

// RetryAfter reports how long to wait before calling GitHub again after a rate limit,
// 0 for any other failure. GitHub's rules (docs.github.com/rest/using-the-rest-api/
// rate-limits-for-the-rest-api, "Exceeding the rate limit"): wait for the retry-after
// header when there is one; else, when x-ratelimit-remaining is 0, until
// x-ratelimit-reset; else at least a minute.
func (e *APIError) RetryAfter() time.Duration { return e.Wait }

// minRateLimitWait is the wait GitHub asks for after a rate limit that names none.
const minRateLimitWait = time.Minute

// withoutQuery drops the query of the URL a transport error names: a log's or an
// archive's download URL carries its signed token there, and the error reaches logs.
func withoutQuery(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if u, perr := url.Parse(ue.URL); perr == nil && (u.RawQuery != "" || u.Fragment != "") {
		u.RawQuery, u.Fragment = "", ""
		ue.URL = u.String() + "?…"
	}
	return err
}

func wrap(op string, resp *gh.Response, err error) error {
	if err == nil {
		return nil
	}
	err = withoutQuery(err)
	e := &APIError{Operation: op, Err: err}
	if resp != nil {
		e.Status = resp.StatusCode
	}
	var rl *gh.RateLimitError
	var abuse *gh.AbuseRateLimitError
	var er *gh.ErrorResponse
	var auth *AuthError
	switch {
	case errors.As(err, &auth):
		e.Status = auth.Status
		e.Detail = auth.Msg
	case errors.As(err, &rl):
		e.Detail = "rate limited until " + rl.Rate.Reset.UTC().Format("15:04:05 UTC")
		e.Wait = untilReset(rl.Rate.Reset.Time)
	case errors.As(err, &abuse):
		e.Detail = "rate limited (secondary limit)"
		e.Wait = minRateLimitWait
		if abuse.RetryAfter != nil && *abuse.RetryAfter > 0 {
			e.Wait = *abuse.RetryAfter
			e.Detail += ", retry after " + abuse.RetryAfter.String()
		}
	case errors.Is(err, context.DeadlineExceeded):
		e.Detail = "timeout"
	case errors.As(err, &er) && er.Response != nil:
		e.Status = er.Response.StatusCode
		if e.Status == http.StatusTooManyRequests {
			// go-github v66 passes a 429 through as a plain ErrorResponse (PROTOCOLS.md
			// 2.1): the Retry-After header is read here.
			e.Detail = "rate limited (429)"
			e.Wait = minRateLimitWait
			if d, ok := retryAfterHeader(er.Response.Header.Get("Retry-After")); ok {
				e.Wait = d
				e.Detail = "rate limited (429), retry after " + d.String()
			}
		} else {
			e.Detail = fmt.Sprintf("HTTP %d %s", e.Status, firstLine(er.Message))
		}
	case resp != nil && resp.StatusCode == http.StatusForbidden && resp.Rate.Limit > 0 && resp.Rate.Remaining == 0:
		// Calls go-github does not pass through CheckResponse (the log redirect of
		// GetWorkflowJobLogs) report a rate limit only in the headers.
		e.Detail = "rate limited until " + resp.Rate.Reset.UTC().Format("15:04:05 UTC")
		e.Wait = untilReset(resp.Rate.Reset.Time)
	}
	return e
}

// untilReset is the wait until a primary rate limit resets (x-ratelimit-reset, in
// wall-clock seconds, which go-github compares with time.Now too), at least a second.
func untilReset(reset time.Time) time.Duration {
	return max(time.Until(reset), time.Second)
}

// retryAfterHeader reads a Retry-After header in seconds, the form GitHub sends.
func retryAfterHeader(v string) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return max(time.Duration(n)*time.Second, time.Second), true
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strings.TrimSpace(s)
}

// LastSuccessfulDeploy returns the newest successful run of env's deploy workflow
// (on its deploy branch when one is set): the last known good SHA. It returns nil
// when there is none.
func (c *Client) LastSuccessfulDeploy(ctx context.Context, env recovery.Environment) (*recovery.Deploy, error) {
	ds, err := c.SuccessfulDeploys(ctx, env, 1)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return &ds[0], nil
}
