// Package pagerduty pages people through the PagerDuty Events API v2, with
// github.com/PagerDuty/go-pagerduty v1.8.0.
//
// A Sender posts trigger, acknowledge and resolve events for one routing key (the
// integration key of a service's Events API v2 integration). Failures are *Error values
// that say whether trying again may succeed and never contain the routing key.
//
// go-pagerduty's Client reports a failed event as a pagerduty.APIError (the REST API's
// error type) carrying only StatusCode: the Events API's error body
// ({"status","message","errors"}) does not fit it, and no response headers are kept, so
// Retry-After is not reachable through its errors. Its LastAPIResponse debug capture
// would reach the headers but is shared by every call of a Client. Send therefore gives
// each call its own Client whose HTTPClient wraps the caller's *http.Client and records
// the status, Retry-After and error body of that one exchange.
package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	pd "github.com/PagerDuty/go-pagerduty"
)

// DefaultEventsURL is PagerDuty's Events API base URL; go-pagerduty appends /v2/enqueue.
const DefaultEventsURL = "https://events.pagerduty.com"

// MaxSummary is the longest payload.summary PagerDuty accepts, in characters
// (developer-docs, events-API-v2 "Send an Alert Event"). Send cuts longer summaries.
const MaxSummary = 1024

// defaultTimeout bounds a call when New is given no *http.Client.
const defaultTimeout = 30 * time.Second

// maxErrorBody bounds how much of a failure answer is read; PagerDuty's are a few
// hundred bytes.
const maxErrorBody = 16 << 10

// maxDetail bounds PagerDuty's own text in an error message, in characters.
const maxDetail = 300

// redacted replaces the routing key wherever answer text would repeat it.
const redacted = "[routing key]"

// Event actions.
const (
	ActionTrigger     = "trigger"
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

// Event is one alert event.
type Event struct {
	// Action is "trigger", "acknowledge" or "resolve".
	Action string
	// DedupKey correlates a trigger with its acknowledge and resolve (at most 255
	// characters). A trigger without one gets a key from PagerDuty that Send does not
	// return, so set it.
	DedupKey string
	// Summary, Source, Severity ("critical", "error", "warning" or "info"), Details
	// and Links are sent with triggers only; PagerDuty ignores a payload on
	// acknowledge and resolve.
	Summary  string
	Source   string
	Severity string
	Details  map[string]any
	Links    []Link
}

// Link is a link shown on the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Sender sends events for one routing key. It is safe for concurrent use.
type Sender struct {
	routingKey string
	endpoint   string // base URL without a trailing slash
	hc         *http.Client
	now        func() time.Time
}

// New returns a Sender for routingKey (PAGERDUTY_ROUTING_KEY). eventsURL
// (PAGERDUTY_EVENTS_URL) is the Events API base URL, DefaultEventsURL when empty. hc
// carries the calls; nil means a client with a 30-second timeout. The errors name the
// setting to fix and never contain the key.
func New(routingKey, eventsURL string, hc *http.Client) (*Sender, error) {
	switch {
	case routingKey == "":
		return nil, errors.New("pagerduty: PAGERDUTY_ROUTING_KEY is empty: set it to the integration key of the service's Events API v2 integration")
	case strings.TrimSpace(routingKey) != routingKey:
		return nil, errors.New("pagerduty: PAGERDUTY_ROUTING_KEY starts or ends with white space: remove it")
	}
	endpoint, err := parseEventsURL(eventsURL)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	return &Sender{routingKey: routingKey, endpoint: endpoint, hc: hc, now: time.Now}, nil
}

// parseEventsURL checks PAGERDUTY_EVENTS_URL and returns it without a trailing slash.
func parseEventsURL(raw string) (string, error) {
	const fix = "leave it empty for " + DefaultEventsURL + " or set the base URL of an Events API v2 endpoint"
	if raw == "" {
		return DefaultEventsURL, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold credentials
		}
		return "", fmt.Errorf("pagerduty: PAGERDUTY_EVENTS_URL (pagerduty.events_url) is not a URL (%v): %s", err, fix)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("pagerduty: PAGERDUTY_EVENTS_URL (pagerduty.events_url) %q is not an http or https URL: %s", u.Redacted(), fix)
	case u.Host == "":
		return "", fmt.Errorf("pagerduty: PAGERDUTY_EVENTS_URL (pagerduty.events_url) %q has no host: %s", u.Redacted(), fix)
	case u.User != nil:
		return "", fmt.Errorf("pagerduty: PAGERDUTY_EVENTS_URL (pagerduty.events_url) %q carries credentials: remove user:password; medic authenticates with PAGERDUTY_ROUTING_KEY", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("pagerduty: PAGERDUTY_EVENTS_URL (pagerduty.events_url) %q has a query or fragment: %s", u.Redacted(), fix)
	case strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/v2/enqueue"):
		return "", fmt.Errorf("pagerduty: PAGERDUTY_EVENTS_URL (pagerduty.events_url) %q includes /v2/enqueue, which medic appends: set the base URL, such as %s", u.Redacted(), DefaultEventsURL)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// String describes the Sender without its routing key. String and GoString have value
// receivers so that printing a Sender or a *Sender with any verb uses them.
func (s Sender) String() string {
	u, err := url.Parse(s.endpoint)
	if err != nil {
		return "pagerduty sender"
	}
	return "pagerduty sender for " + u.Redacted()
}

// GoString is String, for %#v.
func (s Sender) GoString() string { return s.String() }

// Send posts ev to the Events API. It returns nil when PagerDuty accepts the event (202)
// and otherwise an *Error: Status 400 for an event PagerDuty refuses (not temporary),
// 429 when throttled and 5xx when PagerDuty fails (temporary, RetryAfter set when
// PagerDuty says how long to wait), Status 0 when no answer arrived (temporary, unless
// ctx was cancelled; errors.Is finds context.DeadlineExceeded and context.Canceled) or
// when the event could not be encoded (not temporary). Summaries longer than MaxSummary
// characters are cut.
func (s *Sender) Send(ctx context.Context, ev Event) error {
	v2 := &pd.V2Event{RoutingKey: s.routingKey, Action: ev.Action, DedupKey: ev.DedupKey}
	if ev.Action == ActionTrigger {
		p := &pd.V2Payload{Summary: cut(ev.Summary, MaxSummary), Source: ev.Source, Severity: ev.Severity}
		if len(ev.Details) > 0 {
			// Only a non-empty map: an interface holding a nil map would encode as null.
			p.Details = ev.Details
		}
		v2.Payload = p
		for _, l := range ev.Links {
			v2.Links = append(v2.Links, l)
		}
	}
	rec := &recorder{hc: s.hc}
	c := pd.NewClient("", pd.WithV2EventsAPIEndpoint(s.endpoint))
	c.HTTPClient = rec
	_, err := c.ManageEventWithContext(ctx, v2)
	if rec.status == http.StatusAccepted {
		// Accepted, even if go-pagerduty could not decode the answer.
		return nil
	}
	return s.failure(ev, rec, err)
}

// failure turns a call that was not accepted into an *Error.
func (s *Sender) failure(ev Event, rec *recorder, err error) *Error {
	e := &Error{Status: rec.status}
	switch {
	case rec.err != nil:
		e.err = rec.err
		e.transport = true
		e.detail = rec.err.Error()
	case rec.status >= 200 && rec.status <= 299:
		e.detail = "unexpected answer, want 202 Accepted"
	case rec.status != 0:
		e.RetryAfter = retryAfter(rec.retryAfter, s.now())
		e.detail = answerText(rec.status, rec.body)
		e.err = err // a pagerduty.APIError
	case err != nil:
		// go-pagerduty failed before sending: the event did not encode.
		e.err = err
		e.detail = "encoding the event: " + err.Error()
	default:
		e.detail = "no answer"
	}
	// PagerDuty's answer or the caller's own fields could repeat the key.
	e.action = strings.ReplaceAll(ev.Action, s.routingKey, redacted)
	e.dedupKey = strings.ReplaceAll(ev.DedupKey, s.routingKey, redacted)
	e.detail = strings.ReplaceAll(e.detail, s.routingKey, redacted)
	return e
}

// recorder is go-pagerduty's HTTPClient for one call: it sends through the caller's
// *http.Client and keeps what go-pagerduty's errors drop.
type recorder struct {
	hc *http.Client

	status     int
	retryAfter string
	body       []byte // of a failure answer, at most maxErrorBody bytes
	err        error  // the transport's error, unwrapped by go-pagerduty's %v
}

// Do implements pagerduty.HTTPClient.
func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.hc.Do(req)
	if err != nil {
		r.err = err
		return resp, err
	}
	r.status = resp.StatusCode
	r.retryAfter = resp.Header.Get("Retry-After")
	if resp.StatusCode != http.StatusAccepted {
		r.body, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(r.body)))
	}
	return resp, nil
}

// Error is a failed Send. Its message is one line and never contains the routing key.
type Error struct {
	// Status is PagerDuty's HTTP status, 0 when no answer arrived.
	Status int
	// RetryAfter is how long PagerDuty asked to wait (its Retry-After header), 0 when
	// it did not say.
	RetryAfter time.Duration

	action    string
	dedupKey  string
	detail    string // one line, the routing key removed
	transport bool   // no answer arrived
	err       error
}

// Error says what was sent and what went wrong, for example
// `pagerduty: trigger "db-down": HTTP 429 throttle exceeded: Requests … (retry after 30s)`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pagerduty: ")
	if e.action == "" {
		b.WriteString("event")
	}
	b.WriteString(e.action)
	if e.dedupKey != "" {
		b.WriteString(" " + strconv.Quote(e.dedupKey))
	}
	b.WriteString(": ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.detail != "" {
			b.WriteString(" ")
		}
	}
	b.WriteString(e.detail)
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return oneLine(b.String())
}

// Unwrap returns the transport's error (context.DeadlineExceeded, a *url.Error …) or
// go-pagerduty's.
func (e *Error) Unwrap() error { return e.err }

// Temporary reports whether sending the same event again later may succeed: after a 429
// (wait RetryAfter when set), a 408, a 5xx or a call that got no answer, except when
// its context was cancelled. PagerDuty's table of response codes
// (developer-docs, events-API-v2 "Overview") says to retry 429, 5xx and network errors,
// not 400.
func (e *Error) Temporary() bool {
	switch {
	case e.transport:
		return !errors.Is(e.err, context.Canceled)
	case e.Status == http.StatusTooManyRequests, e.Status == http.StatusRequestTimeout:
		return true
	default:
		return e.Status >= 500 && e.Status <= 599
	}
}

// answerText summarizes a failure answer: PagerDuty's status, message and errors when
// the body is its JSON envelope, else the HTTP status text.
func answerText(status int, body []byte) string {
	var a struct {
		Status  string   `json:"status"`
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	if json.Unmarshal(body, &a) != nil {
		return http.StatusText(status)
	}
	var errs []string
	for _, e := range a.Errors {
		if e = strings.TrimSpace(e); e != "" {
			errs = append(errs, e)
		}
	}
	var parts []string
	for _, p := range []string{a.Status, a.Message, strings.Join(errs, "; ")} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return http.StatusText(status)
	}
	return cut(oneLine(strings.Join(parts, ": ")), maxDetail)
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date (RFC 9110
// section 10.2.3). It returns 0 when the header is absent, unreadable or in the past.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now).Truncate(time.Second)
	}
	return 0
}

// cut shortens s to at most n characters, ending in "…" when it cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n-1 {
			return s[:j] + "…"
		}
		i++
	}
	return s
}

// oneLine replaces line breaks and tabs with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
