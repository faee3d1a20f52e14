// Package health calls an environment's health endpoint the way the runbook does
// (GET with the X-API-Key header, the key read from Secrets Manager), and reports the
// answer without ever exposing the key.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/medic-ops/medic/recovery"
)

// SecretReader reads a secret's value for an environment.
type SecretReader interface {
	SecretString(ctx context.Context, env recovery.Environment, id string) (string, error)
}

// Checker calls health endpoints. It keeps each environment's API key for keyTTL, so
// a check is one call, not two; a 401 or 403 re-reads the key once (it was rotated).
type Checker struct {
	client  *http.Client
	secrets SecretReader
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]cachedKey
}

type cachedKey struct {
	value string
	at    time.Time
}

// keyTTL is how long an API key read from Secrets Manager is reused.
const keyTTL = 5 * time.Minute

// maxBody is how much of an answer is read; the excerpt shown is shorter still.
const maxBody = 64 << 10

// New returns a Checker. client may be nil (a client without redirects to other
// hosts is used: the key must not follow a redirect elsewhere).
func New(client *http.Client, secrets SecretReader, now func() time.Time) *Checker {
	if client == nil {
		client = &http.Client{CheckRedirect: sameHostRedirects}
	}
	if now == nil {
		now = time.Now
	}
	return &Checker{client: client, secrets: secrets, now: now, keys: map[string]cachedKey{}}
}

// sameHostRedirects refuses redirects to another host, which would carry the API key.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	if req.URL.Host != via[0].URL.Host {
		return fmt.Errorf("refusing redirect to another host (%s)", req.URL.Host)
	}
	return nil
}

// Error is a failed health check, summarized without the key.
type Error struct {
	Step string
	Err  error
}

func (e *Error) Error() string { return "health check: " + e.Step + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Summary says in one line what failed.
func (e *Error) Summary() string {
	var sum recovery.Summarizer
	if errors.As(e.Err, &sum) {
		return "Health: " + e.Step + ": " + sum.Summary()
	}
	return "Health: " + e.Step + ": " + e.Err.Error()
}

// CheckHealth GETs env's health URL with its API key and reports status, latency and
// an excerpt of the body. A non-200 answer is a result, not an error; an error means
// the endpoint could not be asked.
func (c *Checker) CheckHealth(ctx context.Context, env recovery.Environment) (recovery.HealthResult, error) {
	res, key, fresh, err := c.check(ctx, env, false)
	if err == nil && !fresh && key != "" && (res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden) {
		res, _, _, err = c.check(ctx, env, true)
	}
	return res, err
}

// check does one health call; fresh reports whether the key was just read.
func (c *Checker) check(ctx context.Context, env recovery.Environment, reread bool) (recovery.HealthResult, string, bool, error) {
	key, fresh, err := c.apiKey(ctx, env, reread)
	if err != nil {
		return recovery.HealthResult{}, "", false, &Error{Step: "reading the API key", Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.HealthURL, nil)
	if err != nil {
		return recovery.HealthResult{}, key, fresh, &Error{Step: "building the request", Err: err}
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	start := c.now()
	resp, err := c.client.Do(req)
	if err != nil {
		return recovery.HealthResult{}, key, fresh, &Error{Step: "GET " + env.HealthURL, Err: scrub(err, key)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	latency := c.now().Sub(start)
	if err != nil {
		return recovery.HealthResult{}, key, fresh, &Error{Step: "reading the answer", Err: scrub(err, key)}
	}
	return recovery.HealthResult{StatusCode: resp.StatusCode, Body: excerpt(body, key), Latency: latency}, key, fresh, nil
}

// apiKey returns env's API key, from the cache unless reread or stale.
func (c *Checker) apiKey(ctx context.Context, env recovery.Environment, reread bool) (key string, fresh bool, err error) {
	if env.HealthKeySecret == "" {
		return "", false, nil
	}
	c.mu.Lock()
	k, ok := c.keys[env.Name]
	c.mu.Unlock()
	if ok && !reread && c.now().Sub(k.at) < keyTTL {
		return k.value, false, nil
	}
	v, err := c.secrets.SecretString(ctx, env, env.HealthKeySecret)
	if err != nil {
		return "", false, err
	}
	v = strings.TrimSpace(v)
	recovery.KnownSecret(v) // redacted wherever it would leave medic
	c.mu.Lock()
	c.keys[env.Name] = cachedKey{value: v, at: c.now()}
	c.mu.Unlock()
	return v, true, nil
}

// excerpt returns the start of body as text with credentials redacted (the key
// itself, should the endpoint echo it).
func excerpt(body []byte, key string) string {
	s := string(body)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "�")
	}
	// Redacted whole, then cut.
	s = strings.TrimSpace(recovery.Redact(s, key))
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// scrub removes the key from an error's text, should a transport ever quote it.
func scrub(err error, key string) error {
	if key == "" || !strings.Contains(err.Error(), key) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), key, "[REDACTED]"))
}
