package pagerdutyfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/pagerdutyfake"
)

const routingKey = "R0UT1NGKEY0123456789abcdef012345"

// answer is the fake's response body as a client decodes it.
type answer struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

func mustServer(tb testing.TB) *pagerdutyfake.Server {
	tb.Helper()
	srv := pagerdutyfake.New(nil)
	tb.Cleanup(srv.Close)
	return srv
}

// post sends body to /v2/enqueue and returns the status, the Retry-After header and the
// decoded answer.
func post(tb testing.TB, ctx context.Context, srv *pagerdutyfake.Server, body string) (int, string, answer) {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v2/enqueue", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST /v2/enqueue: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		tb.Fatalf("decoding the answer: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), a
}

// mustEvent encodes an event from a map so tests can leave fields out or mistype them.
func mustEvent(tb testing.TB, ev map[string]any) string {
	tb.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func trigger(dedupKey, summary string) map[string]any {
	ev := map[string]any{
		"routing_key":  routingKey,
		"event_action": "trigger",
		"payload": map[string]any{
			"summary":  summary,
			"source":   "medic",
			"severity": "critical",
		},
	}
	if dedupKey != "" {
		ev["dedup_key"] = dedupKey
	}
	return ev
}

func action(name, dedupKey string) map[string]any {
	return map[string]any{"routing_key": routingKey, "event_action": name, "dedup_key": dedupKey}
}

func TestTriggerIsAcceptedAndRecorded(t *testing.T) {
	srv := mustServer(t)
	ev := trigger("incident-42", "ingestion lambda failing")
	p := ev["payload"].(map[string]any)
	p["timestamp"] = "2026-11-05T10:00:00Z"
	p["component"] = "lambda"
	p["group"] = "prod"
	p["class"] = "errors"
	p["custom_details"] = map[string]any{"error_rate": 0.42}
	ev["links"] = []map[string]string{{"href": "https://slack.example/thread", "text": "Slack thread"}}
	ev["images"] = []map[string]string{{"src": "https://img.example/graph.png"}}
	ev["client"] = "medic"
	ev["client_url"] = "https://medic.example"

	before := time.Now()
	status, _, a := post(t, t.Context(), srv, mustEvent(t, ev))
	if status != http.StatusAccepted {
		t.Fatalf("status: got %d, want 202 (%+v)", status, a)
	}
	if a.Status != "success" || a.Message != "Event processed" || a.DedupKey != "incident-42" {
		t.Errorf("answer: got %+v, want success / Event processed / incident-42", a)
	}
	events := srv.Events()
	if len(events) != 1 {
		t.Fatalf("events: got %d, want 1", len(events))
	}
	got := events[0]
	if got.RoutingKey != routingKey || got.Action != "trigger" || got.DedupKey != "incident-42" {
		t.Errorf("event: got %q %q %q, want the routing key, trigger, incident-42", got.RoutingKey, got.Action, got.DedupKey)
	}
	want := pagerdutyfake.Payload{Summary: "ingestion lambda failing", Source: "medic", Severity: "critical",
		Timestamp: "2026-11-05T10:00:00Z", Component: "lambda", Group: "prod", Class: "errors"}
	if got.Payload == nil {
		t.Fatal("payload: got nil")
	}
	gp := *got.Payload
	details, _ := gp.CustomDetails.(map[string]any)
	gp.CustomDetails = nil
	if gp != want {
		t.Errorf("payload: got %+v, want %+v", gp, want)
	}
	if details["error_rate"] != 0.42 {
		t.Errorf("custom_details: got %v, want error_rate 0.42", details)
	}
	if len(got.Links) != 1 || got.Links[0] != (pagerdutyfake.Link{Href: "https://slack.example/thread", Text: "Slack thread"}) {
		t.Errorf("links: got %+v", got.Links)
	}
	if len(got.Images) != 1 || got.Images[0].Src != "https://img.example/graph.png" {
		t.Errorf("images: got %+v", got.Images)
	}
	if got.Client != "medic" || got.ClientURL != "https://medic.example" {
		t.Errorf("client: got %q %q", got.Client, got.ClientURL)
	}
	if got.Received.Before(before) || got.Received.After(time.Now()) {
		t.Errorf("received: got %v, want during the call", got.Received)
	}
	al, ok := srv.Alert("incident-42")
	if !ok || al.Status != pagerdutyfake.StatusTriggered || al.Summary != "ingestion lambda failing" || al.Severity != "critical" || al.RoutingKey != routingKey {
		t.Errorf("alert: got %+v, %v, want a triggered alert", al, ok)
	}
}

func TestTriggerWithoutDedupKeyGetsOne(t *testing.T) {
	srv := mustServer(t)
	var keys []string
	for range 2 {
		status, _, a := post(t, t.Context(), srv, mustEvent(t, trigger("", "disk full")))
		if status != http.StatusAccepted || a.DedupKey == "" {
			t.Fatalf("got %d %+v, want 202 with a generated dedup_key", status, a)
		}
		keys = append(keys, a.DedupKey)
	}
	if keys[0] == keys[1] {
		t.Errorf("generated keys: got %q twice, want two different keys", keys[0])
	}
	if evs := srv.Events(); len(evs) != 2 || evs[0].DedupKey != keys[0] {
		t.Errorf("events: got %+v, want the generated key recorded", evs)
	}
	if n := len(srv.Alerts()); n != 2 {
		t.Errorf("alerts: got %d, want 2 (no dedup key, no deduplication)", n)
	}
}

func TestInvalidEventsAreRejected(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) }
	tests := []struct {
		name string
		body string
		want []string // substrings, one per expected error
	}{
		{"not json", `{"routing_key":`, []string{"not a JSON event object"}},
		{"mistyped field", `{"routing_key":"k","event_action":"trigger","payload":{"summary":1}}`, []string{"'payload.summary' must be a string"}},
		{"no routing key", mustEvent(t, map[string]any{"event_action": "resolve", "dedup_key": "x"}), []string{"'routing_key' is missing"}},
		{"blank routing key", mustEvent(t, map[string]any{"routing_key": "  ", "event_action": "resolve", "dedup_key": "x"}), []string{"'routing_key' is missing"}},
		{"no action", mustEvent(t, map[string]any{"routing_key": routingKey}), []string{"'event_action' is missing"}},
		{"unknown action", mustEvent(t, action("escalate", "x")), []string{`'event_action' is "escalate"`}},
		{"trigger without payload", mustEvent(t, map[string]any{"routing_key": routingKey, "event_action": "trigger"}), []string{"'payload' is missing"}},
		{"empty payload", mustEvent(t, map[string]any{"routing_key": routingKey, "event_action": "trigger", "payload": map[string]any{}}),
			[]string{"'payload.summary' is missing", "'payload.source' is missing", "'payload.severity' is missing"}},
		{"bad severity", mustEvent(t, func() map[string]any {
			ev := trigger("x", "s")
			ev["payload"].(map[string]any)["severity"] = "fatal"
			return ev
		}()), []string{`'payload.severity' is "fatal"`}},
		{"summary too long", mustEvent(t, trigger("x", long(1025))), []string{"'payload.summary' is 1025 characters long"}},
		{"acknowledge without dedup key", mustEvent(t, action("acknowledge", "")), []string{"'dedup_key' is missing"}},
		{"resolve without dedup key", mustEvent(t, action("resolve", "")), []string{"'dedup_key' is missing"}},
		{"dedup key too long", mustEvent(t, action("resolve", long(256))), []string{"'dedup_key' is 256 characters long"}},
		{"link without href", mustEvent(t, func() map[string]any {
			ev := trigger("x", "s")
			ev["links"] = []map[string]string{{"text": "t"}}
			return ev
		}()), []string{"'links[0].href' is missing"}},
		{"too large", mustEvent(t, func() map[string]any {
			ev := trigger("x", "s")
			ev["payload"].(map[string]any)["custom_details"] = map[string]string{"blob": strings.Repeat("a", pagerdutyfake.MaxBody)}
			return ev
		}()), []string{"larger than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mustServer(t)
			status, _, a := post(t, t.Context(), srv, tt.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status: got %d, want 400 (%+v)", status, a)
			}
			if a.Status != "invalid event" || a.Message != "Event object is invalid" {
				t.Errorf("envelope: got %q / %q, want invalid event / Event object is invalid", a.Status, a.Message)
			}
			if len(a.Errors) != len(tt.want) {
				t.Fatalf("errors: got %q, want %d", a.Errors, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(a.Errors[i], w) {
					t.Errorf("errors[%d]: got %q, want it to contain %q", i, a.Errors[i], w)
				}
			}
			if n := len(srv.Events()); n != 0 {
				t.Errorf("events: got %d, want none recorded", n)
			}
		})
	}
}

func TestLimitsAreInclusive(t *testing.T) {
	srv := mustServer(t)
	ev := trigger(strings.Repeat("k", pagerdutyfake.MaxDedupKey), strings.Repeat("é", pagerdutyfake.MaxSummary))
	if status, _, a := post(t, t.Context(), srv, mustEvent(t, ev)); status != http.StatusAccepted {
		t.Errorf("summary of %d and dedup key of %d characters: got %d %+v, want 202",
			pagerdutyfake.MaxSummary, pagerdutyfake.MaxDedupKey, status, a)
	}
}

func TestAlertLifecycle(t *testing.T) {
	srv := mustServer(t)
	steps := []struct {
		event        map[string]any
		status       string
		deduplicated int
		alerts       int
	}{
		{trigger("db-down", "database down"), pagerdutyfake.StatusTriggered, 0, 1},
		{trigger("db-down", "database still down"), pagerdutyfake.StatusTriggered, 1, 1},
		{action("acknowledge", "db-down"), pagerdutyfake.StatusAcknowledged, 1, 1},
		// A trigger on an acknowledged alert is deduplicated; the alert stays acknowledged.
		{trigger("db-down", "database down again"), pagerdutyfake.StatusAcknowledged, 2, 1},
		{action("resolve", "db-down"), pagerdutyfake.StatusResolved, 2, 1},
		// Acknowledge and resolve without an open alert are accepted and dropped.
		{action("acknowledge", "db-down"), pagerdutyfake.StatusResolved, 2, 1},
		// After resolve, a trigger opens a new alert.
		{trigger("db-down", "database down once more"), pagerdutyfake.StatusTriggered, 0, 2},
	}
	for i, st := range steps {
		if status, _, a := post(t, t.Context(), srv, mustEvent(t, st.event)); status != http.StatusAccepted || a.DedupKey != "db-down" {
			t.Fatalf("step %d: got %d %+v, want 202 for db-down", i, status, a)
		}
		al, ok := srv.Alert("db-down")
		if !ok || al.Status != st.status || al.Deduplicated != st.deduplicated {
			t.Errorf("step %d: got %+v, want status %s with %d deduplicated", i, al, st.status, st.deduplicated)
		}
		if n := len(srv.Alerts()); n != st.alerts {
			t.Errorf("step %d: alerts: got %d, want %d", i, n, st.alerts)
		}
	}
	alerts := srv.Alerts()
	if alerts[0].Summary != "database down" || alerts[1].Summary != "database down once more" {
		t.Errorf("summaries: got %q and %q, want each alert's opening trigger", alerts[0].Summary, alerts[1].Summary)
	}
	if n := len(srv.Events()); n != len(steps) {
		t.Errorf("events: got %d, want %d", n, len(steps))
	}
}

func TestOtherRoutingKeyDoesNotTouchTheAlert(t *testing.T) {
	srv := mustServer(t)
	post(t, t.Context(), srv, mustEvent(t, trigger("cpu", "cpu high")))
	ev := action("resolve", "cpu")
	ev["routing_key"] = "another-service-key"
	if status, _, a := post(t, t.Context(), srv, mustEvent(t, ev)); status != http.StatusAccepted {
		t.Fatalf("got %d %+v, want 202 (dropped, not refused)", status, a)
	}
	if al, _ := srv.Alert("cpu"); al.Status != pagerdutyfake.StatusTriggered {
		t.Errorf("alert: got %s, want it still triggered", al.Status)
	}
}

func TestConcurrentTriggersDeduplicate(t *testing.T) {
	srv := mustServer(t)
	const n = 20
	body := mustEvent(t, trigger("storm", "alert storm"))
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if status, _, a := post(t, t.Context(), srv, body); status != http.StatusAccepted {
				t.Errorf("got %d %+v, want 202", status, a)
			}
		})
	}
	wg.Wait()
	al, ok := srv.Alert("storm")
	if !ok || al.Deduplicated != n-1 || len(srv.Alerts()) != 1 {
		t.Errorf("got %+v and %d alerts, want one alert with %d deduplicated", al, len(srv.Alerts()), n-1)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		err        fault.Error
		status     int
		retryAfter string
		answer     string
	}{
		{"throttled", fault.Error{Status: 429, RetryAfter: 1500 * time.Millisecond}, 429, "2", "throttle exceeded"},
		{"throttled without Retry-After", fault.Error{Status: 429}, 429, "", "throttle exceeded"},
		{"unavailable", fault.Error{Status: 503, Message: "maintenance"}, 503, "", "service unavailable"},
		{"internal", fault.Error{Status: 500, Code: "boom"}, 500, "", "boom"},
		{"invalid", fault.Error{Status: 400, Message: "routing key unknown"}, 400, "", "invalid event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mustServer(t)
			e := tt.err
			srv.Faults().Set(pagerdutyfake.Op, fault.Rule{Err: &e, Times: 1})
			body := mustEvent(t, trigger("x", "s"))
			status, retryAfter, a := post(t, t.Context(), srv, body)
			if status != tt.status || retryAfter != tt.retryAfter || a.Status != tt.answer {
				t.Errorf("got %d, Retry-After %q, status %q; want %d, %q, %q", status, retryAfter, a.Status, tt.status, tt.retryAfter, tt.answer)
			}
			if n := len(srv.Events()); n != 0 {
				t.Errorf("events after the fault: got %d, want 0", n)
			}
			if status, _, _ := post(t, t.Context(), srv, body); status != http.StatusAccepted {
				t.Errorf("after the one-time fault: got %d, want 202", status)
			}
			if got := srv.Faults().Calls(pagerdutyfake.Op); got != 2 {
				t.Errorf("calls: got %d, want 2", got)
			}
		})
	}
}

func TestLatencyOutlastingTheCallerDropsTheEvent(t *testing.T) {
	srv := mustServer(t)
	srv.Faults().Set(pagerdutyfake.Op, fault.Rule{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v2/enqueue", strings.NewReader(mustEvent(t, trigger("slow", "s"))))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got %d, want the call to time out during the latency", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want context.DeadlineExceeded", err)
	}
	// Close waits for the abandoned request's handler to finish.
	srv.Close()
	if n := len(srv.Events()); n != 0 {
		t.Errorf("events: got %d, want the abandoned trigger dropped", n)
	}
	if n := srv.Faults().Calls(pagerdutyfake.Op); n != 1 {
		t.Errorf("calls: got %d, want 1", n)
	}
}

func TestOnlyPostToEnqueue(t *testing.T) {
	srv := mustServer(t)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/v2/enqueue", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v2/change/enqueue", http.StatusNotFound},
		{http.MethodPost, "/generic/2010-04-15/create_event.json", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL()+tt.path, bytes.NewReader(nil))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
	if n := srv.Faults().Calls(pagerdutyfake.Op); n != 0 {
		t.Errorf("calls counted: got %d, want 0 (only POST /v2/enqueue is the operation)", n)
	}
}
