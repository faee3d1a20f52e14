package pagerduty_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/medic-ops/medic/deploy/pagerduty"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/pagerdutyfake"
)

// routingKey looks like a real integration key (32 characters).
const routingKey = "c0ffee0123456789abcdef0123456789"

func mustFake(tb testing.TB) *pagerdutyfake.Server {
	tb.Helper()
	srv := pagerdutyfake.New(nil)
	tb.Cleanup(srv.Close)
	return srv
}

func mustSender(tb testing.TB, url string) *pagerduty.Sender {
	tb.Helper()
	// No client timeout: each test's ctx bounds its calls.
	s, err := pagerduty.New(routingKey, url, &http.Client{})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return s
}

// mustError asserts err is a *pagerduty.Error.
func mustError(tb testing.TB, err error) *pagerduty.Error {
	tb.Helper()
	var pe *pagerduty.Error
	if !errors.As(err, &pe) {
		tb.Fatalf("got %T %v, want *pagerduty.Error", err, err)
	}
	return pe
}

func trigger(dedupKey string) pagerduty.Event {
	return pagerduty.Event{
		Action:   pagerduty.ActionTrigger,
		DedupKey: dedupKey,
		Summary:  "prod: ingestion lambda failing",
		Source:   "medic",
		Severity: "critical",
		Details:  map[string]any{"incident": "INC-7", "error_rate": 0.42},
		Links:    []pagerduty.Link{{Href: "https://slack.example/archives/C1/p1", Text: "Slack thread"}},
	}
}

func TestTriggerAcknowledgeResolve(t *testing.T) {
	srv := mustFake(t)
	s := mustSender(t, srv.URL())
	steps := []struct {
		ev     pagerduty.Event
		status string
	}{
		{trigger("INC-7"), pagerdutyfake.StatusTriggered},
		{pagerduty.Event{Action: pagerduty.ActionAcknowledge, DedupKey: "INC-7"}, pagerdutyfake.StatusAcknowledged},
		{pagerduty.Event{Action: pagerduty.ActionResolve, DedupKey: "INC-7"}, pagerdutyfake.StatusResolved},
	}
	for _, st := range steps {
		if err := s.Send(t.Context(), st.ev); err != nil {
			t.Fatalf("%s: %v", st.ev.Action, err)
		}
		al, ok := srv.Alert("INC-7")
		if !ok || al.Status != st.status {
			t.Fatalf("after %s: got %+v, want status %s", st.ev.Action, al, st.status)
		}
	}
	evs := srv.Events()
	if len(evs) != 3 {
		t.Fatalf("events: got %d, want 3", len(evs))
	}
	for i, ev := range evs {
		if ev.RoutingKey != routingKey || ev.DedupKey != "INC-7" || ev.Action != steps[i].ev.Action {
			t.Errorf("event %d: got %s %q with key %q, want %s INC-7 with the routing key", i, ev.Action, ev.DedupKey, ev.RoutingKey, steps[i].ev.Action)
		}
	}
	p := evs[0].Payload
	if p == nil || p.Summary != "prod: ingestion lambda failing" || p.Source != "medic" || p.Severity != "critical" {
		t.Fatalf("trigger payload: got %+v", p)
	}
	if d, _ := p.CustomDetails.(map[string]any); d["incident"] != "INC-7" || d["error_rate"] != 0.42 {
		t.Errorf("custom_details: got %v, want incident INC-7 and error_rate 0.42", p.CustomDetails)
	}
	if want := (pagerdutyfake.Link{Href: "https://slack.example/archives/C1/p1", Text: "Slack thread"}); len(evs[0].Links) != 1 || evs[0].Links[0] != want {
		t.Errorf("links: got %+v, want [%+v]", evs[0].Links, want)
	}
	if evs[1].Payload != nil || evs[2].Payload != nil {
		t.Errorf("acknowledge/resolve payloads: got %+v, %+v, want none", evs[1].Payload, evs[2].Payload)
	}
}

func TestTriggerWithoutDetailsSendsNone(t *testing.T) {
	srv := mustFake(t)
	ev := trigger("INC-8")
	ev.Details = map[string]any{}
	if err := mustSender(t, srv.URL()).Send(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if d := srv.Events()[0].Payload.CustomDetails; d != nil {
		t.Errorf("custom_details: got %#v, want none", d)
	}
}

func TestLongSummaryIsCut(t *testing.T) {
	tests := []struct {
		name   string
		length int
		cut    bool
	}{
		{"at the limit", pagerduty.MaxSummary, false},
		{"over the limit", 3 * pagerduty.MaxSummary, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mustFake(t)
			ev := trigger("INC-9")
			ev.Summary = strings.Repeat("ü", tt.length) // two bytes each: a cut must count characters
			if err := mustSender(t, srv.URL()).Send(t.Context(), ev); err != nil {
				t.Fatalf("got %v, want the event accepted", err)
			}
			got := srv.Events()[0].Payload.Summary
			if n := utf8.RuneCountInString(got); n != pagerduty.MaxSummary || !utf8.ValidString(got) {
				t.Errorf("summary: got %d characters (valid UTF-8: %v), want %d", n, utf8.ValidString(got), pagerduty.MaxSummary)
			}
			if strings.HasSuffix(got, "…") != tt.cut {
				t.Errorf("summary ends in an ellipsis: got %v, want %v", strings.HasSuffix(got, "…"), tt.cut)
			}
		})
	}
}

func TestFailedSends(t *testing.T) {
	tests := []struct {
		name       string
		fault      *fault.Error
		ev         pagerduty.Event
		status     int
		temporary  bool
		retryAfter time.Duration
		message    string
	}{
		{"invalid event", nil, pagerduty.Event{Action: pagerduty.ActionAcknowledge},
			400, false, 0, "pagerduty: acknowledge: HTTP 400 invalid event: Event object is invalid: 'dedup_key' is missing or blank"},
		{"bad severity", nil, func() pagerduty.Event { ev := trigger("INC-1"); ev.Severity = "sev1"; return ev }(),
			400, false, 0, `pagerduty: trigger "INC-1": HTTP 400 invalid event: Event object is invalid: 'payload.severity' is "sev1"`},
		{"throttled", &fault.Error{Status: 429, RetryAfter: 30 * time.Second}, trigger("INC-1"),
			429, true, 30 * time.Second, `pagerduty: trigger "INC-1": HTTP 429 throttle exceeded: Requests for this service are arriving too quickly. Please retry later. (retry after 30s)`},
		{"throttled without Retry-After", &fault.Error{Status: 429}, trigger("INC-1"),
			429, true, 0, `pagerduty: trigger "INC-1": HTTP 429 throttle exceeded`},
		{"unavailable", &fault.Error{Status: 503, Message: "maintenance"}, trigger("INC-1"),
			503, true, 0, `pagerduty: trigger "INC-1": HTTP 503 service unavailable: maintenance`},
		{"internal error", &fault.Error{Status: 500}, trigger("INC-1"),
			500, true, 0, `pagerduty: trigger "INC-1": HTTP 500`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mustFake(t)
			if tt.fault != nil {
				srv.Faults().Set(pagerdutyfake.Op, fault.Rule{Err: tt.fault})
			}
			err := mustSender(t, srv.URL()).Send(t.Context(), tt.ev)
			pe := mustError(t, err)
			if pe.Status != tt.status || pe.Temporary() != tt.temporary || pe.RetryAfter != tt.retryAfter {
				t.Errorf("got status %d, temporary %v, retry after %v; want %d, %v, %v",
					pe.Status, pe.Temporary(), pe.RetryAfter, tt.status, tt.temporary, tt.retryAfter)
			}
			if !strings.HasPrefix(err.Error(), tt.message) {
				t.Errorf("message:\ngot  %s\nwant %s…", err, tt.message)
			}
			if n := len(srv.Events()); n != 0 {
				t.Errorf("events: got %d, want 0", n)
			}
		})
	}
}

func TestHangingServerHonoursDeadline(t *testing.T) {
	srv := mustFake(t)
	srv.Faults().Set(pagerdutyfake.Op, fault.Rule{Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := mustSender(t, srv.URL()).Send(ctx, trigger("INC-2"))
	pe := mustError(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want it to wrap context.DeadlineExceeded", err)
	}
	if pe.Status != 0 || !pe.Temporary() {
		t.Errorf("got status %d temporary %v, want 0 and temporary", pe.Status, pe.Temporary())
	}
	if !strings.HasPrefix(err.Error(), `pagerduty: trigger "INC-2": `) || strings.Contains(err.Error(), "\n") {
		t.Errorf("message: got %q, want one line naming the event", err)
	}
}

func TestCancelledSendIsNotTemporary(t *testing.T) {
	srv := mustFake(t)
	srv.Faults().Set(pagerdutyfake.Op, fault.Rule{Hang: true})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for srv.Faults().Calls(pagerdutyfake.Op) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	err := mustSender(t, srv.URL()).Send(ctx, trigger("INC-3"))
	if pe := mustError(t, err); pe.Temporary() || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v (temporary %v), want context.Canceled and not temporary", err, pe.Temporary())
	}
}

func TestUnreachableIsTemporary(t *testing.T) {
	srv := pagerdutyfake.New(nil)
	url := srv.URL()
	srv.Close()
	err := mustSender(t, url).Send(t.Context(), trigger("INC-4"))
	if pe := mustError(t, err); pe.Status != 0 || !pe.Temporary() {
		t.Errorf("got %v (status %d, temporary %v), want status 0 and temporary", err, pe.Status, pe.Temporary())
	}
}

func TestAnswersOtherThanPagerDuty(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		temporary bool
		message   string
	}{
		{"200 is not 202", 200, map[string]string{"Content-Type": "application/json"}, `{"status":"success"}`, false,
			`pagerduty: trigger "INC-5": HTTP 200 unexpected answer, want 202 Accepted`},
		{"proxy error page", 502, map[string]string{"Content-Type": "text/html"}, "<html>\n<h1>Bad Gateway</h1></html>", true,
			`pagerduty: trigger "INC-5": HTTP 502 Bad Gateway`},
		{"throttled with a date", 429, map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, "", true,
			`pagerduty: trigger "INC-5": HTTP 429 Too Many Requests`}, // a date in the past: no wait
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			err := mustSender(t, srv.URL).Send(t.Context(), trigger("INC-5"))
			pe := mustError(t, err)
			if pe.Status != tt.status || pe.Temporary() != tt.temporary || pe.RetryAfter != 0 {
				t.Errorf("got status %d temporary %v retry after %v, want %d %v 0", pe.Status, pe.Temporary(), pe.RetryAfter, tt.status, tt.temporary)
			}
			if err.Error() != tt.message {
				t.Errorf("message:\ngot  %s\nwant %s", err, tt.message)
			}
		})
	}
}

// TestRoutingKeyNeverInText checks every failure's message, its formatted forms and what
// a zap logger writes for it and for the Sender.
func TestRoutingKeyNeverInText(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A server (or proxy) that repeats the request in its error.
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"status":"invalid event","message":"Event object is invalid","errors":["unknown routing_key %s in %s"]}`,
			routingKey, strings.ReplaceAll(buf.String(), `"`, `'`))
	}))
	defer echo.Close()
	gone := pagerdutyfake.New(nil)
	goneURL := gone.URL()
	gone.Close()

	tests := []struct {
		name  string
		url   func(*pagerdutyfake.Server) string
		fault *fault.Rule
		ev    pagerduty.Event
	}{
		{"invalid", nil, nil, pagerduty.Event{Action: pagerduty.ActionResolve}},
		{"throttled", nil, &fault.Rule{Err: &fault.Error{Status: 429, RetryAfter: time.Minute}}, trigger("INC-6")},
		{"unavailable", nil, &fault.Rule{Err: &fault.Error{Status: 503}}, trigger("INC-6")},
		{"timeout", nil, &fault.Rule{Hang: true}, trigger("INC-6")},
		{"unreachable", func(*pagerdutyfake.Server) string { return goneURL }, nil, trigger("INC-6")},
		{"echoing server", func(*pagerdutyfake.Server) string { return echo.URL }, nil, trigger("INC-6")},
		{"key in the caller's own fields", func(*pagerdutyfake.Server) string { return echo.URL }, nil, pagerduty.Event{Action: pagerduty.ActionTrigger, DedupKey: "dedup-" + routingKey}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mustFake(t)
			url := srv.URL()
			if tt.url != nil {
				url = tt.url(srv)
			}
			if tt.fault != nil {
				srv.Faults().Set(pagerdutyfake.Op, *tt.fault)
			}
			s := mustSender(t, url)
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			err := s.Send(ctx, tt.ev)
			if err == nil {
				t.Fatal("got nil, want a failure")
			}
			var logged bytes.Buffer
			logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logged), zap.DebugLevel))
			logger.Error("paging failed", zap.Error(err), zap.Stringer("sender", s), zap.Any("sender_any", s), zap.Any("error_any", err))
			texts := map[string]string{
				"Error()":         err.Error(),
				"%v":              fmt.Sprintf("%v", err),
				"%+v":             fmt.Sprintf("%+v", err),
				"%#v":             fmt.Sprintf("%#v", err),
				"sender %v %+v":   fmt.Sprintf("%v %+v", s, s),
				"sender %#v":      fmt.Sprintf("%#v %#v", s, *s),
				"zap JSON output": logged.String(),
			}
			for form, text := range texts {
				if strings.Contains(text, routingKey) {
					t.Errorf("%s contains the routing key: %s", form, text)
				}
			}
			if !strings.Contains(logged.String(), "paging failed") {
				t.Errorf("zap output: got %q, want the entry (the check above read nothing)", logged.String())
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		url     string
		wantErr string // substring; "" for success
	}{
		{"defaults", routingKey, "", ""},
		{"trailing slash", routingKey, "https://events.eu.pagerduty.com/", ""},
		{"no key", "", "", "PAGERDUTY_ROUTING_KEY is empty"},
		{"key with a newline", routingKey + "\n", "", "PAGERDUTY_ROUTING_KEY starts or ends with white space"},
		{"not a URL", routingKey, "http://bad host", "PAGERDUTY_EVENTS_URL (pagerduty.events_url) is not a URL"},
		{"no scheme", routingKey, "events.pagerduty.com", "PAGERDUTY_EVENTS_URL (pagerduty.events_url) \"events.pagerduty.com\" is not an http or https URL"},
		{"no host", routingKey, "https:///v2", "PAGERDUTY_EVENTS_URL (pagerduty.events_url) \"https:///v2\" has no host"},
		{"query", routingKey, "https://events.pagerduty.com?x=1", "has a query or fragment"},
		{"full endpoint", routingKey, "https://events.pagerduty.com/v2/enqueue", "includes /v2/enqueue"},
		{"password hidden", routingKey, "ftp://user:hunter2@example.com", "ftp://user:xxxxx@example.com"},
		{"credentials", routingKey, "https://user:hunter2@events.pagerduty.com", "https://user:xxxxx@events.pagerduty.com\" carries credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pagerduty.New(tt.key, tt.url, nil)
			if tt.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("got %v, want a Sender", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), routingKey) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error repeats a secret: %v", err)
			}
		})
	}
}

func TestBaseURLWithTrailingSlashReachesEnqueue(t *testing.T) {
	srv := mustFake(t)
	if err := mustSender(t, srv.URL()+"/").Send(t.Context(), trigger("INC-10")); err != nil {
		t.Fatalf("got %v, want the event accepted at /v2/enqueue", err)
	}
	if _, ok := srv.Alert("INC-10"); !ok {
		t.Error("alert: got none, want INC-10")
	}
}

func TestSenderStringShowsTheEndpoint(t *testing.T) {
	s := mustSender(t, "")
	if got, want := s.String(), "pagerduty sender for https://events.pagerduty.com"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
