// Package pagerdutyfake is a local PagerDuty Events API v2 server, the sandbox's stand-in
// for https://events.pagerduty.com. Tests and `medic demo` point a sender (or
// go-pagerduty's Client, through pagerduty.WithV2EventsAPIEndpoint(srv.URL())) at it
// and read back what was paged with Events, Alert and Alerts.
//
// The protocol, as PagerDuty documents it (developer-docs, events-API-v2 "Send an Alert
// Event" and "Overview"):
//
//   - POST /v2/enqueue with a JSON event: routing_key, event_action (trigger,
//     acknowledge or resolve), dedup_key, payload{summary, source, severity, timestamp,
//     component, group, class, custom_details}, links, images, client, client_url. No
//     authentication header: the routing key in the body picks the service.
//   - 202 {"status":"success","message":"Event processed","dedup_key":…} when accepted.
//     A trigger without a dedup_key gets a generated one (a UUID, as PagerDuty does).
//   - 400 {"status":"invalid event","message":"Event object is invalid","errors":[…]}
//     when not. The texts in errors are the fake's own [unverified against PagerDuty];
//     only the envelope is PagerDuty's.
//   - Alerts are per routing key and dedup key. A trigger while an alert with the same
//     keys is open (triggered or acknowledged) is deduplicated into it; after it is
//     resolved a trigger opens a new alert. Acknowledge and resolve apply to the open
//     alert of the same routing key and are otherwise dropped, still answered 202.
//
// Differences from PagerDuty: any non-empty routing_key is accepted (PagerDuty's are 32
// characters), and an event is applied before the answer is sent, where PagerDuty
// queues it.
//
// Every POST to /v2/enqueue passes through the fault injector as "pagerduty:enqueue"
// before the event is decoded. A *fault.Error is answered with its status and, when set,
// Retry-After in whole seconds: 429 with the throttle body, 400 with the invalid-event
// envelope, anything else with {"status":…,"message":…}. Latency rules delay the
// answer; a request whose caller gave up during the delay is dropped. Failed and
// dropped requests are not recorded as events.
package pagerdutyfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/medic-ops/medic/sandbox/fault"
)

// Op is the fault injector's name for POST /v2/enqueue.
const Op = "pagerduty:enqueue"

// Event actions, the values of event_action.
const (
	ActionTrigger     = "trigger"
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

// Alert statuses.
const (
	StatusTriggered    = "triggered"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Limits of the Events API v2 (developer-docs, events-API-v2: "Send an Alert Event" for
// the field lengths, "Overview" for the payload size).
const (
	// MaxSummary is the longest payload.summary, in characters.
	MaxSummary = 1024
	// MaxDedupKey is the longest dedup_key, in characters.
	MaxDedupKey = 255
	// MaxBody is the largest event accepted ("Events API payloads are limited to
	// 512 KB"). PagerDuty's answer to a larger one is not documented; the fake answers
	// 400.
	MaxBody = 512 << 10
)

// severities are payload.severity's allowed values.
var severities = []string{"critical", "error", "warning", "info"}

// Event is one accepted event as the server received it.
type Event struct {
	RoutingKey string
	// Action is event_action: ActionTrigger, ActionAcknowledge or ActionResolve.
	Action string
	// DedupKey is the key answered: the event's own or, for a trigger without one, the
	// generated key.
	DedupKey string
	// Payload is nil when the event carried none (acknowledge and resolve usually).
	Payload   *Payload
	Links     []Link
	Images    []Image
	Client    string
	ClientURL string
	// Received is when the server accepted the event.
	Received time.Time
}

// Payload is an event's payload object.
type Payload struct {
	Summary   string `json:"summary"`
	Source    string `json:"source"`
	Severity  string `json:"severity"`
	Timestamp string `json:"timestamp,omitempty"`
	Component string `json:"component,omitempty"`
	Group     string `json:"group,omitempty"`
	Class     string `json:"class,omitempty"`
	// CustomDetails is custom_details as decoded JSON (usually map[string]any).
	CustomDetails any `json:"custom_details,omitempty"`
}

// Link is an entry of an event's links.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Image is an entry of an event's images.
type Image struct {
	Src  string `json:"src"`
	Href string `json:"href,omitempty"`
	Alt  string `json:"alt,omitempty"`
}

// AlertState is one alert: opened by a trigger, then acknowledged and resolved by events
// with its routing key and dedup key.
type AlertState struct {
	RoutingKey string
	DedupKey   string
	// Status is StatusTriggered, StatusAcknowledged or StatusResolved.
	Status string
	// Summary, Source and Severity are those of the trigger that opened the alert;
	// deduplicated triggers do not change them.
	Summary  string
	Source   string
	Severity string
	// Deduplicated counts the triggers merged into the alert after the one that opened
	// it.
	Deduplicated int
	// Opened is when the opening trigger was received.
	Opened time.Time
}

// Server is a running fake Events API. It is safe for concurrent use.
type Server struct {
	faults *fault.Injector
	srv    *httptest.Server
	now    func() time.Time

	mu     sync.Mutex
	events []Event
	alerts []*AlertState // in the order opened
}

// New starts a server on 127.0.0.1. faults may be nil (the server makes its own). Call
// Close when done.
func New(faults *fault.Injector) *Server {
	if faults == nil {
		faults = fault.New()
	}
	s := &Server{faults: faults, now: time.Now}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the server's base URL, the Events API endpoint without /v2/enqueue.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Faults is the server's fault injector.
func (s *Server) Faults() *fault.Injector { return s.faults }

// Events returns the accepted events in the order received. The events' Payload and
// CustomDetails are shared with the server: read them, do not modify them.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Alert returns the most recently opened alert with dedupKey, under any routing key.
func (s *Server) Alert(dedupKey string) (AlertState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range slices.Backward(s.alerts) {
		if a.DedupKey == dedupKey {
			return *a, true
		}
	}
	return AlertState{}, false
}

// Alerts returns every alert in the order opened.
func (s *Server) Alerts() []AlertState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AlertState, len(s.alerts))
	for i, a := range s.alerts {
		out[i] = *a
	}
	return out
}

// wireEvent is the request body.
type wireEvent struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload"`
	Links       []Link   `json:"links"`
	Images      []Image  `json:"images"`
	Client      string   `json:"client"`
	ClientURL   string   `json:"client_url"`
}

// answer is every response body: success, invalid event, throttle and other faults.
type answer struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v2/enqueue" {
		writeJSON(w, http.StatusNotFound, answer{Status: "not found", Message: "no endpoint at " + r.URL.Path})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, answer{Status: "method not allowed", Message: "use POST"})
		return
	}
	// Read the body first: net/http notices a caller hanging up (and cancels
	// r.Context(), which ends injected latency and hangs) only once the body is consumed.
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		writeInvalid(w, "the request body could not be read")
		return
	}
	if fe := s.faults.Hit(r.Context(), Op); fe != nil {
		writeFault(w, fe)
		return
	}
	if r.Context().Err() != nil {
		// The caller gave up during injected latency; nobody reads an answer.
		return
	}
	if len(body) > MaxBody {
		writeInvalid(w, fmt.Sprintf("the event is larger than %d bytes", MaxBody))
		return
	}
	var in wireEvent
	if err := json.Unmarshal(body, &in); err != nil {
		writeInvalid(w, "the request body is not a JSON event object: "+jsonProblem(err))
		return
	}
	if errs := validate(in); len(errs) > 0 {
		writeInvalid(w, errs...)
		return
	}
	ev := s.apply(in)
	writeJSON(w, http.StatusAccepted, answer{Status: "success", Message: "Event processed", DedupKey: ev.DedupKey})
}

// validate lists what is wrong with an event, nothing when it is valid.
func validate(in wireEvent) []string {
	var errs []string
	if strings.TrimSpace(in.RoutingKey) == "" {
		errs = append(errs, "'routing_key' is missing or blank")
	}
	switch in.EventAction {
	case ActionTrigger:
		errs = append(errs, validatePayload(in.Payload)...)
	case ActionAcknowledge, ActionResolve:
		if strings.TrimSpace(in.DedupKey) == "" {
			errs = append(errs, "'dedup_key' is missing or blank; it is required for "+in.EventAction)
		}
	case "":
		errs = append(errs, "'event_action' is missing or blank")
	default:
		errs = append(errs, fmt.Sprintf("'event_action' is %q; it must be trigger, acknowledge or resolve", in.EventAction))
	}
	if n := utf8.RuneCountInString(in.DedupKey); n > MaxDedupKey {
		errs = append(errs, fmt.Sprintf("'dedup_key' is %d characters long; the maximum is %d", n, MaxDedupKey))
	}
	for i, l := range in.Links {
		if strings.TrimSpace(l.Href) == "" {
			errs = append(errs, fmt.Sprintf("'links[%d].href' is missing or blank", i))
		}
	}
	for i, im := range in.Images {
		if strings.TrimSpace(im.Src) == "" {
			errs = append(errs, fmt.Sprintf("'images[%d].src' is missing or blank", i))
		}
	}
	return errs
}

// validatePayload checks a trigger's payload.
func validatePayload(p *Payload) []string {
	if p == nil {
		return []string{"'payload' is missing; it is required for trigger"}
	}
	var errs []string
	switch n := utf8.RuneCountInString(p.Summary); {
	case strings.TrimSpace(p.Summary) == "":
		errs = append(errs, "'payload.summary' is missing or blank")
	case n > MaxSummary:
		errs = append(errs, fmt.Sprintf("'payload.summary' is %d characters long; the maximum is %d", n, MaxSummary))
	}
	if strings.TrimSpace(p.Source) == "" {
		errs = append(errs, "'payload.source' is missing or blank")
	}
	switch {
	case p.Severity == "":
		errs = append(errs, "'payload.severity' is missing or blank")
	case !slices.Contains(severities, p.Severity):
		errs = append(errs, fmt.Sprintf("'payload.severity' is %q; it must be critical, error, warning or info", p.Severity))
	}
	return errs
}

// apply records a valid event and moves its alert.
func (s *Server) apply(in wireEvent) Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := Event{
		RoutingKey: in.RoutingKey,
		Action:     in.EventAction,
		DedupKey:   in.DedupKey,
		Payload:    in.Payload,
		Links:      in.Links,
		Images:     in.Images,
		Client:     in.Client,
		ClientURL:  in.ClientURL,
		Received:   s.now(),
	}
	if ev.DedupKey == "" {
		ev.DedupKey = uuid.NewString()
	}
	s.events = append(s.events, ev)
	open := s.openLocked(ev.RoutingKey, ev.DedupKey)
	switch ev.Action {
	case ActionTrigger:
		if open != nil {
			open.Deduplicated++
			break
		}
		s.alerts = append(s.alerts, &AlertState{
			RoutingKey: ev.RoutingKey,
			DedupKey:   ev.DedupKey,
			Status:     StatusTriggered,
			Summary:    ev.Payload.Summary,
			Source:     ev.Payload.Source,
			Severity:   ev.Payload.Severity,
			Opened:     ev.Received,
		})
	case ActionAcknowledge:
		if open != nil {
			open.Status = StatusAcknowledged
		}
	case ActionResolve:
		if open != nil {
			open.Status = StatusResolved
		}
	}
	return ev
}

// openLocked returns the open (triggered or acknowledged) alert of the keys, or nil.
func (s *Server) openLocked(routingKey, dedupKey string) *AlertState {
	for _, a := range slices.Backward(s.alerts) {
		if a.RoutingKey == routingKey && a.DedupKey == dedupKey && a.Status != StatusResolved {
			return a
		}
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("'%s' must be a %s", te.Field, te.Type)
	}
	return err.Error()
}

func writeInvalid(w http.ResponseWriter, errs ...string) {
	writeJSON(w, http.StatusBadRequest, answer{Status: "invalid event", Message: "Event object is invalid", Errors: errs})
}

// writeFault answers an injected error in PagerDuty's shapes.
func writeFault(w http.ResponseWriter, fe *fault.Error) {
	status := fe.Status
	if status < 100 || status > 599 {
		status = http.StatusInternalServerError
	}
	if fe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((fe.RetryAfter+time.Second-1)/time.Second)))
	}
	msg := fe.Message
	switch status {
	case http.StatusTooManyRequests:
		// The throttle body of the Events API [unverified for v2; v1 answered this text].
		if msg == "" {
			msg = "Requests for this service are arriving too quickly. Please retry later."
		}
		writeJSON(w, status, answer{Status: "throttle exceeded", Message: msg})
	case http.StatusBadRequest:
		if msg == "" {
			msg = "injected invalid event"
		}
		writeInvalid(w, msg)
	default:
		code := fe.Code
		if code == "" {
			code = strings.ToLower(http.StatusText(status))
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		writeJSON(w, status, answer{Status: code, Message: msg})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
