package githubfake_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

const appID = 4242

var (
	fakeAppKey  = sync.OnceValue(func() *rsa.PrivateKey { return mustKey() })
	strangerKey = sync.OnceValue(func() *rsa.PrivateKey { return mustKey() })
)

func mustKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// signJWT signs claims with key as alg (RS256 unless told), the way a GitHub App
// client does.
func signJWT(tb testing.TB, key *rsa.PrivateKey, alg string, claims map[string]any) string {
	tb.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": alg, "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// offsetClock is the wall clock plus an offset the test moves.
type offsetClock struct{ d atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.d.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.d.Add(int64(d)) }

func mustAppFake(tb testing.TB, app githubfake.App) (*githubfake.Server, *offsetClock) {
	tb.Helper()
	clk := &offsetClock{}
	app.ID, app.PublicKey, app.Now = appID, &fakeAppKey().PublicKey, clk.Now
	srv := githubfake.New(githubfake.Options{App: &app})
	tb.Cleanup(srv.Close)
	return srv, clk
}

// clientWith is a go-github client sending auth as its Authorization header.
func clientWith(tb testing.TB, srv *githubfake.Server, auth string) *github.Client {
	tb.Helper()
	c := github.NewClient(&http.Client{Transport: setHeader{auth}})
	u, err := url.Parse(srv.URL() + "/")
	if err != nil {
		tb.Fatal(err)
	}
	c.BaseURL = u
	return c
}

type setHeader struct{ auth string }

func (s setHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", s.auth)
	return http.DefaultTransport.RoundTrip(r)
}

// mustStatus asserts err is GitHub's answer status with message.
func mustStatus(tb testing.TB, err error, status int, message string) {
	tb.Helper()
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != status || er.Message != message {
		tb.Fatalf("got %v, want %d %q", err, status, message)
	}
}

func TestAppJWTRules(t *testing.T) {
	now := time.Now()
	good := map[string]any{"iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(90 * time.Second).Unix(), "iss": "4242"}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for k2, v2 := range good {
			c[k2] = v2
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name   string
		key    *rsa.PrivateKey
		alg    string
		claims map[string]any
		want   string // GitHub's 401 message, "" for accepted
	}{
		{"accepted", fakeAppKey(), "RS256", good, ""},
		{"iss as a number", fakeAppKey(), "RS256", with("iss", appID), ""},
		{"exp just under ten minutes", fakeAppKey(), "RS256", with("exp", now.Add(9*time.Minute+50*time.Second).Unix()), ""},
		{"signed by another key", strangerKey(), "RS256", good, "A JSON web token could not be decoded"},
		{"another alg", fakeAppKey(), "RS512", good, "A JSON web token could not be decoded"},
		{"another app", fakeAppKey(), "RS256", with("iss", "4243"), "A JSON web token could not be decoded"},
		{"iss not a number", fakeAppKey(), "RS256", with("iss", "Iv1.abc"), "'Issuer' claim ('iss') must be an Integer"},
		{"expired", fakeAppKey(), "RS256", with("exp", now.Add(-time.Second).Unix()), "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"},
		{"no exp", fakeAppKey(), "RS256", with("exp", nil), "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"},
		{"exp past ten minutes", fakeAppKey(), "RS256", with("exp", now.Add(10*time.Minute+10*time.Second).Unix()), "'Expiration time' claim ('exp') is too far in the future"},
		{"issued in the future", fakeAppKey(), "RS256", with("iat", now.Add(time.Minute).Unix()), "'Issued at' claim ('iat') must be an Integer representing a time in the past"},
		{"no iat", fakeAppKey(), "RS256", with("iat", nil), "'Issued at' claim ('iat') must be an Integer representing a time in the past"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := mustAppFake(t, githubfake.App{})
			c := clientWith(t, srv, "Bearer "+signJWT(t, tt.key, tt.alg, tt.claims))
			inst, _, err := c.Apps.FindRepositoryInstallation(context.Background(), owner, repo)
			if tt.want != "" {
				mustStatus(t, err, http.StatusUnauthorized, tt.want)
				return
			}
			if err != nil || inst.GetID() != 51_000_001 || inst.GetAppID() != appID {
				t.Fatalf("got %+v, %v; want installation 51000001 of app %d", inst, err, appID)
			}
		})
	}
}

func TestAppInstallationTokens(t *testing.T) {
	srv, clk := mustAppFake(t, githubfake.App{TokenTTL: 10 * time.Second})
	srv.AddWorkflow("deploy.yml", "Deploy")
	jwt := func() string {
		n := clk.Now()
		return "Bearer " + signJWT(t, fakeAppKey(), "RS256", map[string]any{"iat": n.Add(-30 * time.Second).Unix(), "exp": n.Add(time.Minute).Unix(), "iss": "4242"})
	}
	ctx := context.Background()
	tok, _, err := clientWith(t, srv, jwt()).Apps.CreateInstallationToken(ctx, 51_000_001, &github.InstallationTokenOptions{Repositories: []string{repo}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.GetToken(), "ghs_") || len(tok.GetToken()) != 40 {
		t.Errorf("got token %q, want ghs_ and 36 characters, as GitHub's", tok.GetToken())
	}
	if d := tok.GetExpiresAt().Sub(clk.Now()); d < 9*time.Second || d > 10*time.Second {
		t.Errorf("got expires_at in %s, want the 10 s lifetime", d)
	}
	api := clientWith(t, srv, "token "+tok.GetToken())
	list := func() error {
		_, _, err := api.Actions.ListWorkflowRunsByFileName(ctx, owner, repo, "deploy.yml", nil)
		return err
	}
	if err := list(); err != nil {
		t.Fatalf("a live token: %v", err)
	}
	clk.Advance(9 * time.Second)
	if err := list(); err != nil {
		t.Fatalf("a token 9 s into its 10: %v", err)
	}
	clk.Advance(2 * time.Second)
	mustStatus(t, list(), http.StatusUnauthorized, "Bad credentials")

	// Neither the JWT on the API, nor a token where the JWT belongs, nor a token
	// for another repository, nor another installation.
	mustStatus(t, func() error {
		_, _, err := clientWith(t, srv, jwt()).Actions.ListWorkflowRunsByFileName(ctx, owner, repo, "deploy.yml", nil)
		return err
	}(), http.StatusUnauthorized, "Bad credentials")
	_, _, err = clientWith(t, srv, "Bearer "+tok.GetToken()).Apps.CreateInstallationToken(ctx, 51_000_001, nil)
	mustStatus(t, err, http.StatusUnauthorized, "A JSON web token could not be decoded")
	_, _, err = clientWith(t, srv, jwt()).Apps.CreateInstallationToken(ctx, 51_000_001, &github.InstallationTokenOptions{Repositories: []string{"other"}})
	mustStatus(t, err, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
	_, _, err = clientWith(t, srv, jwt()).Apps.CreateInstallationToken(ctx, 7, nil)
	mustStatus(t, err, http.StatusNotFound, "Not Found")
	if got := srv.Calls("CreateInstallationToken"); got != 4 {
		t.Errorf("got %d token requests counted, want 4", got)
	}
}

func TestAppNotInstalled(t *testing.T) {
	srv, clk := mustAppFake(t, githubfake.App{NotInstalled: true})
	n := clk.Now()
	c := clientWith(t, srv, "Bearer "+signJWT(t, fakeAppKey(), "RS256", map[string]any{"iat": n.Add(-30 * time.Second).Unix(), "exp": n.Add(time.Minute).Unix(), "iss": "4242"}))
	_, _, err := c.Apps.FindRepositoryInstallation(context.Background(), owner, repo)
	mustStatus(t, err, http.StatusNotFound, "Not Found")
}

// TestNoAppNoJWT: a fake without an app answers its endpoints as GitHub answers a
// token where a JWT belongs.
func TestNoAppNoJWT(t *testing.T) {
	srv := mustServer(t, nil)
	_, _, err := mustClient(t, srv).Apps.FindRepositoryInstallation(context.Background(), owner, repo)
	mustStatus(t, err, http.StatusUnauthorized, "A JSON web token could not be decoded")
}
