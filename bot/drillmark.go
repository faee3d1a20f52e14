package bot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// ErrDrillUnmarked is returned (wrapped) by the RoundTripper of DrillMarking when a
// drill message could not be marked; the message was not sent.
var ErrDrillUnmarked = errors.New("drill message could not be marked, not sent")

const (
	// drillPrefix starts the text and the header of every drill message.
	drillPrefix = "DRILL · "
	// drillBare is the text of a drill message that had none.
	drillBare = "DRILL"
	// maxViewBlocks is the most blocks a modal or Home tab view may carry
	// (https://api.slack.com/reference/surfaces/views); messages carry maxBlocks.
	maxViewBlocks = 100
)

// drillMessageMethods are the Web API methods whose text and blocks carry a message;
// keys are lower case.
var drillMessageMethods = map[string]bool{
	"chat.postmessage":     true,
	"chat.update":          true,
	"chat.postephemeral":   true,
	"chat.schedulemessage": true,
}

// drillViewMethods are the Web API methods whose view carries blocks; keys are lower
// case.
var drillViewMethods = map[string]bool{
	"views.open":    true,
	"views.update":  true,
	"views.push":    true,
	"views.publish": true,
}

// slackMethodName is the shape of a Web API method name (chat.postMessage,
// usergroups.users.list), the last element of its URL's path. A response URL
// (https://hooks.slack.com/actions/T…/…/…) ends in a token without a dot.
var slackMethodName = regexp.MustCompile(`^[a-zA-Z]+(\.[a-zA-Z]+)+$`)

type drillKind int

const (
	drillPass    drillKind = iota // not a message: sent untouched
	drillMessage                  // text and blocks: chat.* methods and response URLs
	drillView                     // a view's blocks: views.* methods
)

// drillMarker is the RoundTripper of DrillMarking.
type drillMarker struct {
	next    http.RoundTripper
	context json.RawMessage // the context block carrying the note
	note    string
}

// DrillMarking returns a RoundTripper for the Slack client of a drill that marks
// every message it carries as a drill before next (http.DefaultTransport when nil)
// sends it: chat.postMessage, chat.update, chat.postEphemeral and
// chat.scheduleMessage (form-encoded or JSON), views.open, views.update, views.push
// and views.publish, and JSON posts to response URLs. The text gets "DRILL · " in
// front, a leading header block too, and a context block with note (mrkdwn, inserted
// as is) goes at the top of the blocks. A message already marked is sent unchanged;
// every other request passes through untouched. A message it cannot mark is not
// sent: RoundTrip returns an error wrapping ErrDrillUnmarked.
func DrillMarking(next http.RoundTripper, note string) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if strings.TrimSpace(note) == "" {
		note = "*" + drillBare + "*" // Slack refuses a context element without text
	}
	block, err := marshalRaw(map[string]any{
		"type":     "context",
		"elements": []map[string]string{{"type": "mrkdwn", "text": note}},
	})
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return drillMarker{next: next, context: block, note: note}
}

// RoundTrip marks the request's message, if it carries one, and sends it on.
func (m drillMarker) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := drillKindOf(req)
	if kind == drillPass {
		return m.next.RoundTrip(req)
	}
	body, err := m.markRequest(req, kind)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrDrillUnmarked, req.Method, req.URL.Path, err)
	}
	return m.next.RoundTrip(withBody(req, body))
}

// drillKindOf tells what a request carries, by the last element of its URL's path.
func drillKindOf(req *http.Request) drillKind {
	name := path.Base(req.URL.Path)
	switch lower := strings.ToLower(name); {
	case drillMessageMethods[lower]:
		return drillMessage
	case drillViewMethods[lower]:
		return drillView
	case req.Method == http.MethodPost && !slackMethodName.MatchString(name) && isJSON(req.Header):
		return drillMessage // a response URL
	}
	return drillPass
}

// markRequest reads and closes the request's body and returns it marked.
func (m drillMarker) markRequest(req *http.Request, kind drillKind) ([]byte, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the body: %w", err)
		}
		body = b
	}
	// Slack also reads a method's arguments from the query string: a message there
	// would escape the marks.
	if req.Method != http.MethodPost || req.URL.RawQuery != "" {
		return nil, errors.New("a message must be a POST with its arguments in the body")
	}
	switch {
	case kind == drillView:
		return m.markView(body)
	case isJSON(req.Header):
		return m.markJSONMessage(body)
	case mediaType(req.Header) == "application/x-www-form-urlencoded":
		return m.markForm(body)
	}
	return nil, fmt.Errorf("content type %q is neither a form nor JSON", req.Header.Get("Content-Type"))
}

// markForm marks a form-encoded message, as slack-go sends chat.* methods: text and
// blocks (a JSON string); every other value is kept.
func (m drillMarker) markForm(body []byte) ([]byte, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("parsing the form: %w", err)
	}
	for _, k := range []string{"text", "blocks"} {
		if len(vals[k]) > 1 {
			return nil, fmt.Errorf("the form has %d values of %s", len(vals[k]), k)
		}
	}
	var blocks []json.RawMessage
	if vals.Has("blocks") {
		if blocks, err = parseBlocks([]byte(vals.Get("blocks"))); err != nil {
			return nil, err
		}
	}
	text, blocks, changed, err := m.markMessage(vals.Get("text"), blocks)
	if err != nil || !changed {
		return body, err
	}
	vals.Set("text", text)
	if blocks != nil {
		b, err := marshalRaw(blocks)
		if err != nil {
			return nil, err
		}
		vals.Set("blocks", string(b))
	}
	return []byte(vals.Encode()), nil
}

// markJSONMessage marks a JSON message: a chat.* method's arguments or a response
// URL's payload. Its blocks may be an array or, as in forms, a JSON string.
func (m drillMarker) markJSONMessage(body []byte) ([]byte, error) {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, fmt.Errorf("parsing the message: %w", err)
	}
	if msg == nil {
		return nil, errors.New("the message is null")
	}
	var text string
	if raw, ok := msg["text"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, fmt.Errorf("parsing text: %w", err)
		}
	}
	blocks, quoted, err := jsonBlocks(msg["blocks"])
	if err != nil {
		return nil, err
	}
	text, blocks, changed, err := m.markMessage(text, blocks)
	if err != nil || !changed {
		return body, err
	}
	if msg["text"], err = marshalRaw(text); err != nil {
		return nil, err
	}
	if blocks != nil {
		if msg["blocks"], err = marshalBlocks(blocks, quoted); err != nil {
			return nil, err
		}
	}
	return marshalRaw(msg)
}

// markView marks the blocks of a views.* method's view.
func (m drillMarker) markView(body []byte) ([]byte, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("parsing the request: %w", err)
	}
	var view map[string]json.RawMessage
	if err := json.Unmarshal(req["view"], &view); err != nil || view == nil {
		return nil, fmt.Errorf("parsing view: %w", errors.Join(err, errors.New("a view object is required")))
	}
	blocks, quoted, err := jsonBlocks(view["blocks"])
	if err != nil {
		return nil, err
	}
	if m.marked(blocks) {
		return body, nil
	}
	if blocks, err = m.markBlocks(blocks, maxViewBlocks); err != nil {
		return nil, err
	}
	if view["blocks"], err = marshalBlocks(blocks, quoted); err != nil {
		return nil, err
	}
	if req["view"], err = marshalRaw(view); err != nil {
		return nil, err
	}
	return marshalRaw(req)
}

// markMessage marks a message's text and blocks; changed is false when the message
// was already marked. A message without blocks gets its text marked only: a lone
// context block would hide the text, which Slack shows only when there are none.
func (m drillMarker) markMessage(text string, blocks []json.RawMessage) (_ string, _ []json.RawMessage, changed bool, _ error) {
	if len(blocks) == 0 {
		if text == drillBare || strings.HasPrefix(text, drillPrefix) {
			return text, blocks, false, nil
		}
		return drillText(text), blocks, true, nil
	}
	if m.marked(blocks) {
		return text, blocks, false, nil
	}
	blocks, err := m.markBlocks(blocks, maxBlocks)
	if err != nil {
		return "", nil, false, err
	}
	return drillText(text), blocks, true, nil
}

func drillText(text string) string {
	if text == "" {
		return drillBare
	}
	return drillPrefix + text
}

// marked tells whether blocks already carry the note: the first block after a header
// is the note's context block or, at the block limit, a section starting with it.
func (m drillMarker) marked(blocks []json.RawMessage) bool {
	i := 0
	if len(blocks) > 0 && blockType(blocks[0]) == "header" {
		i = 1
	}
	if i < len(blocks) && m.isNote(blocks[i]) {
		return true
	}
	if j, ok := noteSection(blocks); ok {
		text, _ := sectionText(blocks[j])
		return strings.HasPrefix(text, m.note+"\n")
	}
	return false
}

// noteSection is the index of the section that takes the note at the block limit:
// the first with text.
func noteSection(blocks []json.RawMessage) (int, bool) {
	for i, b := range blocks {
		if blockType(b) != "section" {
			continue
		}
		if _, ok := sectionText(b); ok {
			return i, true
		}
	}
	return 0, false
}

// isNote tells whether b is the context block holding the note, whatever its JSON's
// spacing and key order.
func (m drillMarker) isNote(b json.RawMessage) bool {
	var got, want any
	return json.Unmarshal(b, &got) == nil && json.Unmarshal(m.context, &want) == nil && jsonEqual(got, want)
}

func jsonEqual(a, b any) bool {
	x, errX := json.Marshal(a) // maps encode with sorted keys
	y, errY := json.Marshal(b)
	return errX == nil && errY == nil && bytes.Equal(x, y)
}

// markBlocks prefixes a leading header and puts the note's context block after it.
// When that would pass limit (50 blocks in a message, 100 in a view: Slack refuses
// more), the note goes in front of the first section's text instead.
func (m drillMarker) markBlocks(blocks []json.RawMessage, limit int) ([]json.RawMessage, error) {
	out := append([]json.RawMessage(nil), blocks...)
	at := 0
	if len(out) > 0 && blockType(out[0]) == "header" {
		h, err := markHeader(out[0])
		if err != nil {
			return nil, err
		}
		out[0], at = h, 1
	}
	if len(out) < limit {
		return append(out[:at], append([]json.RawMessage{m.context}, out[at:]...)...), nil
	}
	if i, ok := noteSection(out); ok {
		s, err := setText(out[i], func(t string) string { return cut(m.note+"\n"+t, maxSectionText) })
		if err != nil {
			return nil, err
		}
		out[i] = s
		return out, nil
	}
	return nil, fmt.Errorf("%d blocks leave no room for the note (Slack allows %d) and none is a section with text", len(out), limit)
}

// markHeader puts drillPrefix in front of a header's plain text, within Slack's
// 150 characters (maxHeaderText).
func markHeader(b json.RawMessage) (json.RawMessage, error) {
	return setText(b, func(t string) string {
		return drillPrefix + cut(t, maxHeaderText-len([]rune(drillPrefix)))
	})
}

// setText rewrites the text of a block's text object, keeping every other field.
func setText(b json.RawMessage, f func(string) string) (json.RawMessage, error) {
	var block, obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &block); err != nil {
		return nil, fmt.Errorf("parsing a block: %w", err)
	}
	if err := json.Unmarshal(block["text"], &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("parsing a %s block's text: %w", blockType(b), errors.Join(err, errors.New("a text object is required")))
	}
	var text string
	if err := json.Unmarshal(obj["text"], &text); err != nil {
		return nil, fmt.Errorf("parsing a %s block's text: %w", blockType(b), err)
	}
	var err error
	if obj["text"], err = marshalRaw(f(text)); err != nil {
		return nil, err
	}
	if block["text"], err = marshalRaw(obj); err != nil {
		return nil, err
	}
	return marshalRaw(block)
}

// sectionText is a section's text, if it has one.
func sectionText(b json.RawMessage) (string, bool) {
	var block struct {
		Text *struct {
			Text *string `json:"text"`
		} `json:"text"`
	}
	if json.Unmarshal(b, &block) != nil || block.Text == nil || block.Text.Text == nil {
		return "", false
	}
	return *block.Text.Text, true
}

// blockType is a block's type, "" when it has none.
func blockType(b json.RawMessage) string {
	var block struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &block)
	return block.Type
}

// jsonBlocks parses a blocks value: absent or null, an array of objects, or a JSON
// string holding one (quoted).
func jsonBlocks(raw json.RawMessage) (blocks []json.RawMessage, quoted bool, _ error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw, quoted = json.RawMessage(s), true
	}
	blocks, err := parseBlocks(raw)
	return blocks, quoted, err
}

// parseBlocks parses a JSON array of blocks (or null), each an object.
func parseBlocks(raw []byte) ([]json.RawMessage, error) {
	var blocks []json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, fmt.Errorf("parsing blocks: %w", err)
	}
	for i, b := range blocks {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
			return nil, fmt.Errorf("parsing block %d: %w", i, errors.Join(err, errors.New("a block is an object")))
		}
	}
	return blocks, nil
}

// marshalBlocks encodes blocks as an array or, when quoted, as a JSON string of one.
func marshalBlocks(blocks []json.RawMessage, quoted bool) (json.RawMessage, error) {
	b, err := marshalRaw(blocks)
	if err != nil || !quoted {
		return b, err
	}
	return marshalRaw(string(b))
}

// marshalRaw encodes v without escaping HTML, so the JSON it keeps stays as it was.
func marshalRaw(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func isJSON(h http.Header) bool { return mediaType(h) == "application/json" }

func mediaType(h http.Header) string { return mediaTypeOf(h.Get("Content-Type")) }

// mediaTypeOf is a Content-Type's media type, without its parameters.
func mediaTypeOf(contentType string) string {
	t, _, _ := mime.ParseMediaType(contentType)
	return t
}
