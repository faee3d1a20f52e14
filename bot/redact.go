package bot

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/medic-ops/medic/recovery"
)

// RedactingTransport is the exit of everything medic writes to Slack: the body of
// every request (chat.postMessage, chat.update, chat.postEphemeral, views.open, a
// response_url post) has its text redacted before it leaves, whichever part of
// medic built it: blocks, fallback text, modal fields. Form bodies are redacted
// value by value (a value holding JSON, such as blocks, string by string); JSON
// bodies string by string. A body of another type is refused rather than sent
// unread. counted, when set, is told of each request that needed redacting: it
// means a part of medic let a credential through.
func RedactingTransport(base http.RoundTripper, counted func()) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &redactingTransport{base: base, counted: counted}
}

type redactingTransport struct {
	base    http.RoundTripper
	counted func()
}

func (t *redactingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return t.base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		req.Body = http.NoBody
		return t.base.RoundTrip(req)
	}
	out, changed, err := redactBody(req.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, err
	}
	if changed && t.counted != nil {
		t.counted()
	}
	return t.base.RoundTrip(withBody(req, out))
}

// withBody is a copy of req sending body instead (re-readable, for redirects and
// retries); req is left as it was.
func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return r
}

// redactBody redacts a request body by its media type.
func redactBody(contentType string, body []byte) ([]byte, bool, error) {
	switch mediaTypeOf(contentType) {
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, false, &redactError{"a form body that does not parse: " + err.Error()}
		}
		changed := false
		for k, vs := range vals {
			if k == "token" {
				continue // slack-go's own credential for this call, meant for Slack
			}
			for i, v := range vs {
				r := redactText(v)
				if r != v {
					vs[i], changed = r, true
				}
			}
			vals[k] = vs
		}
		if !changed {
			return body, false, nil
		}
		return []byte(vals.Encode()), true, nil
	case "application/json":
		out, changed, err := recovery.RedactJSONKeeping(body, slackMachineField)
		if err != nil {
			return nil, false, &redactError{"a JSON body that does not parse: " + err.Error()}
		}
		return out, changed, nil
	}
	return nil, false, &redactError{"a body of type " + strconv.Quote(contentType) + ", which medic does not send"}
}

// redactText redacts a form value: one holding a JSON document string by string
// (the JSON stays valid), any other as text.
func redactText(v string) string {
	if t := strings.TrimSpace(v); strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") {
		if out, _, err := recovery.RedactJSONKeeping([]byte(v), slackMachineField); err == nil {
			return string(out)
		}
	}
	return recovery.Redact(v)
}

// redactError is a Slack write medic refuses to send because it cannot read it.
type redactError struct{ what string }

func (e *redactError) Error() string { return "not sent to Slack: " + e.what }

// slackMachineField reports whether a Block Kit field is medic's own data that comes
// back to it in interactions (a button's value, a modal's private metadata, action
// and block IDs): redacting it would make a click act on something else. No person
// sees these fields.
func slackMachineField(key string) bool {
	switch key {
	case "value", "action_id", "block_id", "callback_id", "private_metadata", "external_id":
		return true
	}
	return false
}
