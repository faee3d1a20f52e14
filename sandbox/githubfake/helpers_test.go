package githubfake_test

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

const (
	owner = "acme"
	repo  = "sentiment-analyzer"
	token = "ghp_sandboxtoken"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mustServer starts a fake with a token and the given clock, closed when the test ends.
func mustServer(tb testing.TB, clk *clock) *githubfake.Server {
	tb.Helper()
	opts := githubfake.Options{Token: token}
	if clk != nil {
		opts.Now = clk.Now
	}
	srv := githubfake.New(opts)
	tb.Cleanup(srv.Close)
	return srv
}

// mustClient returns a real go-github client pointed at srv, as medic builds it.
func mustClient(tb testing.TB, srv *githubfake.Server) *github.Client {
	tb.Helper()
	c := github.NewClient(nil).WithAuthToken(token)
	u, err := url.Parse(srv.URL() + "/")
	if err != nil {
		tb.Fatalf("parsing base URL: %v", err)
	}
	c.BaseURL = u
	return c
}
