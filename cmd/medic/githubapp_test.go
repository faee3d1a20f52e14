package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/medic-ops/medic"
	"github.com/medic-ops/medic/bot"
	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/githubfake"
)

const sandboxAppID = 987654

var sandboxAppKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func appKeyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func TestUsageNamesGitHubAppVariables(t *testing.T) {
	_, _, errOut := runMedic(t, nil)
	for _, v := range []string{config.EnvGitHubAppID, config.EnvGitHubAppPrivateKey, config.EnvGitHubAppPrivateKeyFile, config.EnvGitHubAppInstallationID} {
		if !strings.Contains(errOut, v) {
			t.Errorf("usage does not name %s:\n%s", v, errOut)
		}
	}
}

func TestConfigCheckGitHubApp(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(keyFile, appKeyPEM(sandboxAppKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) map[string]string {
		m := map[string]string{"SLACK_APP_TOKEN": "xapp-1-A1-tok", "SLACK_BOT_TOKEN": "xoxb-1-tok"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		code int
		want string
	}{
		{"app", env(config.EnvGitHubAppID, "42", config.EnvGitHubAppPrivateKeyFile, keyFile), 0, ""},
		{"app and token", env(config.EnvGitHubAppID, "42", config.EnvGitHubAppPrivateKeyFile, keyFile, config.EnvGitHubToken, "ghp_tok"), 1,
			"GITHUB_TOKEN and GITHUB_APP_ID: are both set"},
		{"client ID", env(config.EnvGitHubAppID, "Iv1.abc", config.EnvGitHubAppPrivateKeyFile, keyFile), 1, "GITHUB_APP_ID: is not a number (it holds the Client ID, Iv…)"},
		{"not a key", env(config.EnvGitHubAppID, "42", config.EnvGitHubAppPrivateKey, "ghp_tok"), 1, "GITHUB_APP_PRIVATE_KEY: is not a PEM key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runMedic(t, tt.env, "config", "check", "--config", "../../medic.example.yaml")
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("got exit %d and %q, want %d and %q", code, errOut, tt.code, tt.want)
			}
			if strings.Contains(errOut, "ghp_tok") || strings.Contains(errOut, "MII") {
				t.Errorf("the check echoes a credential: %q", errOut)
			}
		})
	}
}

// appTicker is the sandbox app's clock: the wall clock plus an offset that each of
// medic's GitHub API calls moves by step, so that a token lasting a few steps dies
// in the middle of medic's work.
type appTicker struct {
	offset atomic.Int64
	step   time.Duration
	host   string
	calls  atomic.Int64
	next   http.RoundTripper
}

func (c *appTicker) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *appTicker) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == c.host && !strings.HasPrefix(r.URL.Path, "/app/") && !strings.HasPrefix(r.URL.Path, "/_") {
		c.calls.Add(1)
		c.offset.Add(int64(c.step))
	}
	return c.next.RoundTrip(r)
}

// startWithApp starts medic on a sandbox whose GitHub hosts the app (with the
// app's key unless key is given) and staged caseName, medic acting as the app.
func startWithApp(t *testing.T, caseName string, key *rsa.PrivateKey, ttl time.Duration) (*e2e, sandbox.Staged, *appTicker, error) {
	t.Helper()
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	cfg, err := sandboxConfigFrom(sb, t.TempDir(), medic.ExampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	var st sandbox.Staged
	if caseName != "" {
		c, ok := sandbox.CaseByName(caseName)
		if !ok {
			t.Fatalf("no sandbox case %q", caseName)
		}
		if st, err = c.Stage(sb, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := url.Parse(sb.GitHub.URL())
	clk := &appTicker{step: 500 * time.Millisecond, host: u.Host, next: http.DefaultTransport}
	sb.GitHub.EnableApp(githubfake.App{ID: sandboxAppID, PublicKey: &sandboxAppKey().PublicKey, TokenTTL: ttl, Now: clk.Now})
	ext := sandboxExternal(sb, nil)
	ext.secrets.GitHubToken = ""
	if key == nil {
		key = sandboxAppKey()
	}
	ext.secrets.GitHubApp = &config.GitHubApp{ID: sandboxAppID, PrivateKey: appKeyPEM(key)}
	ext.httpClient = &http.Client{Transport: clk}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d, err := startSandboxed(ctx, sb, cfg, ext, zaptest.NewLogger(t))
	if err != nil {
		return nil, st, clk, err
	}
	t.Cleanup(func() {
		if err := d.close(); err != nil {
			t.Errorf("medic stopped with: %v", err)
		}
	})
	return &e2e{sandboxed: d, t: t}, st, clk, nil
}

func TestGitHubAppWithAWrongKeyStopsTheStart(t *testing.T) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = startWithApp(t, "", other, 0)
	if err == nil || !strings.Contains(err.Error(), "GitHub refused GitHub App 987654's JWT (401 A JSON web token could not be decoded)") ||
		!strings.Contains(err.Error(), "Private keys") {
		t.Fatalf("got %v, want the start refused, naming the app's key", err)
	}
}

// TestGitHubAppTokensRenewedThroughAnAlertAndARerun: medic acts as the app while its
// installation tokens last 2 s of the app's clock and each GitHub call takes 0.5 s of
// it: the alert's diagnostics and the re-run (nine calls, 4.5 s) outlive several
// tokens, and medic renews them as it goes.
func TestGitHubAppTokensRenewedThroughAnAlertAndARerun(t *testing.T) {
	e, st, clk, err := startWithApp(t, "dev-tests-fail-main", nil, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.sb.GitHub.Calls("CreateInstallationToken"); got != 1 {
		t.Errorf("at start: got %d tokens minted, want 1", got)
	}
	e.deliver(st)
	alert, _ := e.alertOf("Dev tests failed")
	wantContains(t, e.press(alert, userAlice, "action:rerun-failed"), "runs without approval (self-service)")
	e.threadMessage(alert, "Job JOB-", "succeeded.")
	if run, _ := e.sb.GitHub.Run(st.RunID); run.RunAttempt != 2 {
		t.Errorf("the run's attempt is %d, want 2: the re-run reached GitHub", run.RunAttempt)
	}
	calls, minted := clk.calls.Load(), e.sb.GitHub.Calls("CreateInstallationToken")
	t.Logf("%d GitHub calls, %d installation tokens minted", calls, minted)
	if elapsed := time.Duration(calls) * clk.step; elapsed <= 2*time.Second || minted < 2 {
		t.Errorf("got %d tokens minted over %d calls (%s of the app's clock), want the calls to outlive a token and more than one minted", minted, calls, elapsed)
	}
}

// TestGitHubAppSecretsNeverLeaveMedic: an installation token, a JWT and the app's key
// that reach text medic writes leave neither through Slack's exit
// (bot.RedactingTransport) nor through the log's (redactLogs).
func TestGitHubAppSecretsNeverLeaveMedic(t *testing.T) {
	srv := githubfake.New(githubfake.Options{App: &githubfake.App{ID: sandboxAppID, PublicKey: &sandboxAppKey().PublicKey}})
	defer srv.Close()
	tok, _ := srv.IssueInstallationToken()
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	signing := enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(map[string]any{"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "iss": "987654"})
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, sandboxAppKey(), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	jwt := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	key := string(appKeyPEM(sandboxAppKey()))
	keyLine := strings.Split(key, "\n")[3]
	secrets := map[string]string{"installation token": tok, "JWT": jwt, "a line of the key": keyLine}
	text := "GitHub said no to token " + tok + " (JWT " + jwt + "), key:\n" + key

	var got []byte
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer slack.Close()
	body, _ := json.Marshal(map[string]any{"channel": "C1", "text": text, "blocks": []any{map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": text}}}})
	req, _ := http.NewRequest("POST", slack.URL+"/chat.postMessage", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: bot.RedactingTransport(http.DefaultTransport, nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	core, logs := observer.New(zapcore.DebugLevel)
	redactLogs(zap.New(core)).Error(text, zap.String("authorization", "token "+tok), zap.Error(errors.New(text)))
	logged := logs.All()[0].Message
	for k, v := range logs.All()[0].ContextMap() {
		logged += " " + k + "=" + fmtAny(v)
	}
	for what, secret := range secrets {
		if strings.Contains(string(got), secret) {
			t.Errorf("Slack received the %s: %s", what, got)
		}
		if strings.Contains(logged, secret) {
			t.Errorf("the log has the %s: %s", what, logged)
		}
	}
	if !strings.Contains(string(got), "GitHub said no to token") || !strings.Contains(logged, "GitHub said no to token") {
		t.Errorf("the text around the secrets went too: %s / %s", got, logged)
	}
}
