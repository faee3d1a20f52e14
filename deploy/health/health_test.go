package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/medic-ops/medic/recovery"
)

type fakeSecrets struct {
	value string
	err   error
	asked []string
}

func (f *fakeSecrets) SecretString(_ context.Context, _ recovery.Environment, id string) (string, error) {
	f.asked = append(f.asked, id)
	return f.value, f.err
}

var _ SecretReader = (*fakeSecrets)(nil)

const key = "k3y-Sup3r-S3cret-value"

func TestCheckHealthSendsKeyAndRedactsEcho(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != key {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"unhealthy","echo":"` + key + `"}`))
	}))
	defer srv.Close()
	secrets := &fakeSecrets{value: key + "\n"}
	c := New(nil, secrets, nil)
	env := recovery.Environment{Name: "prod", HealthURL: srv.URL + "/health", HealthKeySecret: "prod/sentiment-analyzer/dashboard-api-key"}
	res, err := c.CheckHealth(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 503 || res.Healthy() {
		t.Errorf("got status %d, want 503 and unhealthy", res.StatusCode)
	}
	if strings.Contains(res.Body, key) || !strings.Contains(res.Body, "[REDACTED]") {
		t.Errorf("body excerpt %q: want the echoed key redacted", res.Body)
	}
	if len(secrets.asked) != 1 || secrets.asked[0] != env.HealthKeySecret {
		t.Errorf("secrets asked: got %v, want [%s]", secrets.asked, env.HealthKeySecret)
	}
}

func TestCheckHealthRefusesRedirectToAnotherHost(t *testing.T) {
	var leaked string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("X-API-Key")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/steal", http.StatusFound)
	}))
	defer srv.Close()
	c := New(nil, &fakeSecrets{value: key}, nil)
	_, err := c.CheckHealth(context.Background(), recovery.Environment{HealthURL: srv.URL, HealthKeySecret: "s"})
	if err == nil {
		t.Fatal("got nil, want an error for a cross-host redirect")
	}
	if leaked != "" {
		t.Errorf("the API key reached another host")
	}
	var sum recovery.Summarizer
	if !errors.As(err, &sum) || strings.Contains(sum.Summary(), key) {
		t.Errorf("summary %v: want one without the key", err)
	}
}

func TestCheckHealthSecretFailureSaysSo(t *testing.T) {
	c := New(nil, &fakeSecrets{err: errors.New("AccessDeniedException")}, nil)
	_, err := c.CheckHealth(context.Background(), recovery.Environment{HealthURL: "http://127.0.0.1:1/health", HealthKeySecret: "s"})
	var sum recovery.Summarizer
	if !errors.As(err, &sum) || !strings.Contains(sum.Summary(), "reading the API key") {
		t.Fatalf("got %v, want a summary about reading the API key", err)
	}
}

func TestCheckHealthCachesTheKeyAndRereadsItWhenRefused(t *testing.T) {
	current := "key-one-1234"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != current {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"status":"healthy"}`))
	}))
	defer srv.Close()
	secrets := &fakeSecrets{value: current}
	c := New(nil, secrets, nil)
	env := recovery.Environment{Name: "prod", HealthURL: srv.URL, HealthKeySecret: "s"}
	for i := 0; i < 3; i++ {
		if res, err := c.CheckHealth(context.Background(), env); err != nil || res.StatusCode != 200 {
			t.Fatalf("check %d: got %d, %v", i, res.StatusCode, err)
		}
	}
	if len(secrets.asked) != 1 {
		t.Errorf("secret read %d times for 3 checks, want 1", len(secrets.asked))
	}
	current, secrets.value = "key-two-5678", "key-two-5678" // rotated
	if res, err := c.CheckHealth(context.Background(), env); err != nil || res.StatusCode != 200 {
		t.Fatalf("after rotation: got %d, %v; want the key re-read and 200", res.StatusCode, err)
	}
	if len(secrets.asked) != 2 {
		t.Errorf("secret read %d times, want 2", len(secrets.asked))
	}
}
