package pagerdutyfake_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/pagerdutyfake"
)

// mustClient is go-pagerduty's client pointed at srv, as medic builds it.
func mustClient(tb testing.TB, srv *pagerdutyfake.Server) *pagerduty.Client {
	tb.Helper()
	c := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(srv.URL()))
	c.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	return c
}

func TestGoPagerDutyTriggerAcknowledgeResolve(t *testing.T) {
	srv := mustServer(t)
	c := mustClient(t, srv)
	resp, err := c.ManageEventWithContext(t.Context(), &pagerduty.V2Event{
		RoutingKey: routingKey,
		Action:     "trigger",
		Payload: &pagerduty.V2Payload{
			Summary:  "ingestion lambda failing",
			Source:   "medic",
			Severity: "error",
			Details:  map[string]any{"incident": "INC-7"},
		},
		Links: []any{map[string]string{"href": "https://slack.example/t", "text": "thread"}},
	})
	if err != nil {
		t.Fatalf("trigger: %v", err)
	}
	if resp.Status != "success" || resp.Message != "Event processed" || resp.DedupKey == "" {
		t.Fatalf("trigger: got %+v, want success with a generated dedup key", resp)
	}
	key := resp.DedupKey
	for _, act := range []string{"acknowledge", "resolve"} {
		r, err := c.ManageEventWithContext(t.Context(), &pagerduty.V2Event{RoutingKey: routingKey, Action: act, DedupKey: key})
		if err != nil || r.DedupKey != key {
			t.Fatalf("%s: got %+v, %v, want success for %s", act, r, err, key)
		}
	}
	al, ok := srv.Alert(key)
	if !ok || al.Status != pagerdutyfake.StatusResolved || al.Summary != "ingestion lambda failing" {
		t.Errorf("alert: got %+v, want the trigger's alert resolved", al)
	}
	evs := srv.Events()
	if len(evs) != 3 {
		t.Fatalf("events: got %d, want 3", len(evs))
	}
	if d, _ := evs[0].Payload.CustomDetails.(map[string]any); d["incident"] != "INC-7" {
		t.Errorf("custom_details: got %v, want incident INC-7", evs[0].Payload.CustomDetails)
	}
	if len(evs[0].Links) != 1 || evs[0].Links[0].Href != "https://slack.example/t" {
		t.Errorf("links: got %+v", evs[0].Links)
	}
	if evs[1].Payload != nil {
		t.Errorf("acknowledge payload: got %+v, want none (go-pagerduty omits a nil payload)", evs[1].Payload)
	}
}

// go-pagerduty's Client method reports every non-2xx answer as a pagerduty.APIError (the
// REST API's error type, not EventsAPIV2Error). The Events API body has no "error" key,
// so APIError.Valid is false and PagerDuty's errors[] are lost; only StatusCode remains.
// This pins that behaviour, which deploy/pagerduty works around.
func TestGoPagerDutyErrorsCarryOnlyTheStatus(t *testing.T) {
	tests := []struct {
		name      string
		fault     *fault.Error
		status    int
		temporary bool
	}{
		{"invalid", nil, 400, false},
		{"throttled", &fault.Error{Status: 429, RetryAfter: 30 * time.Second}, 429, true},
		{"unavailable", &fault.Error{Status: 503}, 503, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mustServer(t)
			if tt.fault != nil {
				srv.Faults().Set(pagerdutyfake.Op, fault.Rule{Err: tt.fault})
			}
			// Without a dedup key the acknowledge is invalid: 400 when no fault answers first.
			_, err := mustClient(t, srv).ManageEventWithContext(t.Context(), &pagerduty.V2Event{RoutingKey: routingKey, Action: "acknowledge"})
			var apiErr pagerduty.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("got %T %v, want pagerduty.APIError", err, err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Temporary() != tt.temporary {
				t.Errorf("got status %d temporary %v, want %d %v", apiErr.StatusCode, apiErr.Temporary(), tt.status, tt.temporary)
			}
			if apiErr.APIError.Valid {
				t.Errorf("APIError.Valid: got true (%+v), want false: the Events API body is not a REST error object", apiErr.APIError.ErrorObject)
			}
			var v2Err pagerduty.EventsAPIV2Error
			if errors.As(err, &v2Err) {
				t.Errorf("got an EventsAPIV2Error; only the package-level ManageEvent returns it")
			}
			if n := len(srv.Events()); n != 0 {
				t.Errorf("events: got %d, want 0", n)
			}
		})
	}
}
