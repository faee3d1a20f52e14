package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

const (
	testAppID = 123456
	appRepo   = "sentiment-analyzer-gsk"
)

// appKey and otherKey are the app's key and a key of nobody's: 2048-bit RSA, as
// GitHub generates them. Made once: key generation is slow under -race.
var (
	appKey   = sync.OnceValue(func() *rsa.PrivateKey { return mustRSAKey() })
	otherKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSAKey() })
)

func mustRSAKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// pemOf is k as the .pem file GitHub generates (PKCS #1).
func pemOf(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// appClock is the fake app's clock: the wall clock plus an offset the test moves
// (ghinstallation signs and refreshes by the wall clock, see githubfake.App).
type appClock struct{ offset atomic.Int64 }

func (c *appClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *appClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *appClock) Elapsed() time.Duration  { return time.Duration(c.offset.Load()) }

// appSetup is a fake GitHub hosting the app, and how medic's client reaches it.
type appSetup struct {
	srv   *githubfake.Server
	clock *appClock
	// before, when set, runs before every request medic sends (API calls and token
	// requests alike).
	before func(*http.Request)
	// auth records the Authorization header of every request, by path.
	mu   sync.Mutex
	auth map[string][]string
}

func mustAppServer(tb testing.TB, app githubfake.App) *appSetup {
	tb.Helper()
	s := &appSetup{clock: &appClock{}, auth: map[string][]string{}}
	if app.ID == 0 {
		app.ID = testAppID
	}
	if app.PublicKey == nil {
		app.PublicKey = &appKey().PublicKey
	}
	app.Now = s.clock.Now
	s.srv = githubfake.New(githubfake.Options{Repository: testOwner + "/" + appRepo, App: &app})
	tb.Cleanup(s.srv.Close)
	return s
}

func (s *appSetup) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.before != nil {
		s.before(r)
	}
	s.mu.Lock()
	s.auth[r.URL.Path] = append(s.auth[r.URL.Path], r.Header.Get("Authorization"))
	s.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (s *appSetup) headers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, hs := range s.auth {
		out = append(out, hs...)
	}
	return out
}

// options are medic's client options for the app, with key as its private key.
func (s *appSetup) options(key []byte, installation int64) Options {
	return Options{BaseURL: s.srv.URL(), Owner: testOwner, Repo: appRepo, HTTPClient: &http.Client{Transport: s},
		App: &App{ID: testAppID, PrivateKey: key, InstallationID: installation}}
}

func mustConnect(tb testing.TB, s *appSetup) *Client {
	tb.Helper()
	c, err := Connect(context.Background(), s.options(pemOf(appKey()), 0))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestAppMintsOneTokenForManyCalls(t *testing.T) {
	s := mustAppServer(t, githubfake.App{})
	s.srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	c := mustConnect(t, s)
	if got := s.srv.Calls("CreateInstallationToken"); got != 1 {
		t.Fatalf("after Connect: got %d installation tokens minted, want 1 (minted at start-up)", got)
	}
	if got := s.srv.Calls("GetRepoInstallation"); got != 1 {
		t.Errorf("got %d installation look-ups, want 1 (no GITHUB_APP_INSTALLATION_ID: found from the repository)", got)
	}
	for i := range 5 {
		if _, err := c.LastSuccessfulDeploy(context.Background(), prod); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if got := s.srv.Calls("CreateInstallationToken"); got != 1 {
		t.Errorf("after 5 calls: got %d installation tokens minted, want still 1 (a token lasts an hour)", got)
	}
	for _, h := range s.auth["/repos/"+testOwner+"/"+appRepo+"/actions/workflows/deploy-prod.yml/runs"] {
		if !strings.HasPrefix(h, "token ghs_") {
			t.Errorf("an API call carried %q, want an installation token", h)
		}
	}
}

// TestAppTokenLifetimeAroundGhinstallationsMinute pins the rule medic relies on:
// ghinstallation replaces a token that expires within a minute before its next use.
func TestAppTokenLifetimeAroundGhinstallationsMinute(t *testing.T) {
	tests := []struct {
		ttl        time.Duration
		wantMinted int // after Connect and 3 calls
	}{
		{30 * time.Second, 4},
		{10 * time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			s := mustAppServer(t, githubfake.App{TokenTTL: tt.ttl})
			s.srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
			c := mustConnect(t, s)
			for range 3 {
				if _, err := c.LastSuccessfulDeploy(context.Background(), prod); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.srv.Calls("CreateInstallationToken"); got != tt.wantMinted {
				t.Errorf("got %d tokens minted, want %d", got, tt.wantMinted)
			}
		})
	}
}

// TestAppTokenRefreshedDuringLongJob runs a revert (five GitHub calls) while each
// installation token lasts 5 s of the app's clock and every API call takes 2 s of it:
// the first token is dead by the third call, and the revert still lands because
// medic mints the next token before using a dying one.
func TestAppTokenRefreshedDuringLongJob(t *testing.T) {
	s := mustAppServer(t, githubfake.App{TokenTTL: 5 * time.Second})
	_, target, _ := seedHistory(s.srv, nil)
	c := mustConnect(t, s)
	apiCalls := 0
	s.before = func(r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/app/") {
			apiCalls++
			s.clock.Advance(2 * time.Second)
		}
	}
	res, err := c.Revert(context.Background(), target, "main")
	if err != nil {
		t.Fatalf("revert with short-lived tokens: %v", err)
	}
	if head, _ := s.srv.Ref("heads/main"); res.SHA != head {
		t.Errorf("got %+v, want the revert at main's head %s", res, head)
	}
	if s.clock.Elapsed() <= 5*time.Second {
		t.Fatalf("the job took %s of the app's clock, want more than a token's 5 s", s.clock.Elapsed())
	}
	if minted := s.srv.Calls("CreateInstallationToken"); minted < 2 {
		t.Errorf("got %d tokens minted over %d calls and %s, want a second one after the first expired", minted, apiCalls, s.clock.Elapsed())
	}
}

func TestExpiredInstallationTokenInGitHubToken(t *testing.T) {
	s := mustAppServer(t, githubfake.App{TokenTTL: 10 * time.Second})
	s.srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	tok, _ := s.srv.IssueInstallationToken()
	c, err := New(Options{BaseURL: s.srv.URL(), Token: tok, Owner: testOwner, Repo: appRepo})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LastSuccessfulDeploy(context.Background(), prod); err != nil {
		t.Fatalf("while the token lives: %v", err)
	}
	s.clock.Advance(11 * time.Second)
	_, err = c.LastSuccessfulDeploy(context.Background(), prod)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("got %v, want an *AuthError for the 401", err)
	}
	sum := mustSummary(t, err)
	for _, want := range []string{"GITHUB_TOKEN refused (401 Bad credentials)", "installation token (ghs_…)", "expires those an hour after", "GITHUB_APP_ID"} {
		if !strings.Contains(sum, want) {
			t.Errorf("got summary %q, want it to say %q", sum, want)
		}
	}
	if strings.Contains(err.Error(), tok) {
		t.Errorf("the error quotes the token: %v", err)
	}
}

func TestAppRefusedAtStart(t *testing.T) {
	tests := []struct {
		name         string
		app          githubfake.App
		key          []byte
		installation int64
		want         []string
	}{
		{"wrong key, installation found", githubfake.App{}, pemOf(otherKey()), 0,
			[]string{"GitHub refused GitHub App 123456's JWT (401 A JSON web token could not be decoded)", "Private keys"}},
		{"wrong key, installation given", githubfake.App{InstallationID: 77}, pemOf(otherKey()), 77,
			[]string{"GitHub refused GitHub App 123456's JWT (401 A JSON web token could not be decoded)", "GITHUB_APP_ID"}},
		{"wrong app ID", githubfake.App{ID: 999}, pemOf(appKey()), 0,
			[]string{"GitHub App 123456's JWT (401"}},
		{"not installed on the repository", githubfake.App{NotInstalled: true}, pemOf(appKey()), 0,
			[]string{"GitHub App 123456 is not installed on traylorre/sentiment-analyzer-gsk", "install the app on that repository", "GITHUB_APP_INSTALLATION_ID"}},
		{"installation unknown", githubfake.App{InstallationID: 77}, pemOf(appKey()), 78,
			[]string{"GitHub App 123456 has no installation 78 (404 Not Found)", "GITHUB_APP_INSTALLATION_ID is wrong"}},
		{"a permission not granted", githubfake.App{Permissions: map[string]string{"actions": "write", "contents": "write", "pull_requests": "write", "issues": "read", "metadata": "read"}}, pemOf(appKey()), 0,
			[]string{"cannot have a token for traylorre/sentiment-analyzer-gsk with medic's permissions (422 The permissions requested are not granted to this installation.)", "Issues: Read and write"}},
		{"repository left out of the installation", githubfake.App{InstallationID: 77, NotInstalled: true}, pemOf(appKey()), 77,
			[]string{"installation 77 cannot have a token for traylorre/sentiment-analyzer-gsk with medic's permissions (422", "Repository access"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustAppServer(t, tt.app)
			_, err := Connect(context.Background(), s.options(tt.key, tt.installation))
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an *AuthError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestAppKeyRefusedBeforeAnyCall(t *testing.T) {
	pub, _ := x509.MarshalPKIXPublicKey(&appKey().PublicKey)
	tests := []struct {
		name string
		key  []byte
		want string
	}{
		{"not PEM", []byte("MIIEowIBAAKCAQEA"), "is not a PEM key"},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), "holds a public key"},
		{"broken", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("nope")}), "holds an RSA PRIVATE KEY block that does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustAppServer(t, githubfake.App{})
			_, err := Connect(context.Background(), s.options(tt.key, 0))
			if err == nil || !strings.Contains(err.Error(), "GitHub App's private key "+tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
			if n := len(s.headers()); n != 0 {
				t.Errorf("medic sent %d requests with a key it cannot use, want none", n)
			}
		})
	}
}

// TestCredentialsGoToTheAPIOnly: neither a token nor the app's (installation token,
// JWT) goes to another host or to a path outside the API's, wherever a response or a
// link points medic.
func TestCredentialsGoToTheAPIOnly(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			mu.Lock()
			leaked = append(leaked, r.URL.Path+": "+h)
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer elsewhere.Close()

	s := mustAppServer(t, githubfake.App{})
	app := mustConnect(t, s)
	tok, err := New(Options{BaseURL: s.srv.URL() + "/api/v3/", Token: "ghp_" + strings.Repeat("x", 36), Owner: testOwner, Repo: appRepo})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{app, tok} {
		// Another host, and the API's host under another name.
		for _, target := range []string{elsewhere.URL + "/repos/x/y", strings.Replace(s.srv.URL(), "127.0.0.1", "localhost", 1) + "/api/v3/repos/x/y"} {
			req, err := c.gh.NewRequest("GET", target, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.gh.Do(context.Background(), req, nil)
		}
	}
	// A path outside the API's own (/api/v3/ for the token client) is not the API's.
	api := tok.gh.BaseURL
	if underAPI(&url.URL{Scheme: api.Scheme, Host: api.Host, Path: "/other/repos/x/y"}, api) {
		t.Errorf("/other counted as under %s", api)
	}
	if len(leaked) > 0 {
		t.Errorf("credentials went to another host: %q", leaked)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range []string{"/repos/x/y", "/api/v3/repos/x/y"} {
		if len(s.auth[p]) != 1 || s.auth[p][0] != "" {
			t.Errorf("the app client sent %q to %s, want one request without credentials", s.auth[p], p)
		}
	}
}

// TestAppSecretsAreRedacted: what the app puts on the wire (the installation token,
// the JWT) and its key are removed by recovery.Redact, which every exit of medic
// applies (Slack, logs, issues, the store).
func TestAppSecretsAreRedacted(t *testing.T) {
	s := mustAppServer(t, githubfake.App{})
	s.srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	c := mustConnect(t, s)
	if _, err := c.LastSuccessfulDeploy(context.Background(), prod); err != nil {
		t.Fatal(err)
	}
	var tokens, jwts int
	for _, h := range s.headers() {
		_, secret, _ := strings.Cut(h, " ")
		switch {
		case strings.HasPrefix(secret, "ghs_"):
			tokens++
		case strings.HasPrefix(secret, "eyJ"):
			jwts++
		default:
			continue
		}
		text := "error calling GitHub with " + secret + "; retrying"
		if got := recovery.Redact(text); strings.Contains(got, secret) || strings.Contains(got, secret[4:20]) {
			t.Errorf("Redact left the credential in: %q", got)
		}
	}
	if tokens == 0 || jwts == 0 {
		t.Fatalf("saw %d installation tokens and %d JWTs on the wire, want both", tokens, jwts)
	}
	key := string(pemOf(appKey()))
	if got := recovery.Redact("key: " + key); strings.Contains(got, "PRIVATE KEY-----\nMII") {
		t.Errorf("Redact left the private key in: %q", got)
	}
}

// TestAppTokenRefusedIsReplaced: GitHub refuses a token ghinstallation still holds
// fresh (revoked, or GitHub's clock ahead of medic's); the call fails saying so, and
// the next one mints a new token rather than keep sending the dead one for its hour.
func TestAppTokenRefusedIsReplaced(t *testing.T) {
	// 80 s: ghinstallation keeps it for 20 s; the app's clock then jumps 81 s, past
	// the token, within the 90 s the JWT ghinstallation signs is good for.
	s := mustAppServer(t, githubfake.App{TokenTTL: 80 * time.Second})
	s.srv.AddWorkflow("deploy-prod.yml", "Deploy to Production")
	c := mustConnect(t, s)
	if _, err := c.LastSuccessfulDeploy(context.Background(), prod); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(81 * time.Second)
	_, err := c.LastSuccessfulDeploy(context.Background(), prod)
	if s := mustSummary(t, err); !strings.Contains(s, "GitHub App 123456's installation token refused (401 Bad credentials)") {
		t.Fatalf("got %q, want the refused token named", s)
	}
	if got := s.srv.Calls("CreateInstallationToken"); got != 1 {
		t.Fatalf("got %d tokens minted before the refusal, want 1", got)
	}
	if _, err := c.LastSuccessfulDeploy(context.Background(), prod); err != nil {
		t.Fatalf("the call after the refusal: %v", err)
	}
	if got := s.srv.Calls("CreateInstallationToken"); got != 2 {
		t.Errorf("got %d tokens minted, want 2: a new one after the refusal", got)
	}
}
