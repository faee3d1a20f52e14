package bot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack"
)

const drillNote = ":rotating_light: *Drill* — sandbox only, nothing real is touched"

// drillRequest is one request as the fake Slack saw it.
type drillRequest struct {
	method, path, query, contentType string
	contentLength                    int64
	body                             []byte
}

// drillSlack is a fake Slack that records every request.
type drillSlack struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []drillRequest
}

func newDrillSlack(tb testing.TB) *drillSlack {
	tb.Helper()
	d := &drillSlack{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.seen = append(d.seen, drillRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), r.ContentLength, body})
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/views."):
			fmt.Fprint(w, `{"ok":true,"view":{"id":"V1"}}`)
		case strings.HasSuffix(r.URL.Path, "conversations.open"):
			fmt.Fprint(w, `{"ok":true,"channel":{"id":"D1"}}`)
		case strings.HasSuffix(r.URL.Path, "users.info"):
			fmt.Fprint(w, `{"ok":true,"user":{"id":"U1","name":"alice"}}`)
		case strings.HasSuffix(r.URL.Path, "usergroups.users.list"):
			fmt.Fprint(w, `{"ok":true,"users":["U1","U2"]}`)
		case strings.HasSuffix(r.URL.Path, "chat.getPermalink"):
			fmt.Fprint(w, `{"ok":true,"channel":"C1","permalink":"https://acme.slack.com/archives/C1/p1"}`)
		default:
			fmt.Fprint(w, `{"ok":true,"channel":"C1","ts":"1700000000.000100","scheduled_message_id":"Q1","user_id":"U1","team_id":"T1"}`)
		}
	}))
	tb.Cleanup(d.srv.Close)
	return d
}

// requests returns what the fake saw and forgets it.
func (d *drillSlack) requests() []drillRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.seen
	d.seen = nil
	return out
}

func (d *drillSlack) client(rt http.RoundTripper) *slack.Client {
	return slack.New("xoxb-drill", slack.OptionHTTPClient(&http.Client{Transport: rt}), slack.OptionAPIURL(d.srv.URL+"/api/"))
}

// mustSendBoth makes call through a plain client and through a drill client and
// returns the one request each sent.
func (d *drillSlack) mustSendBoth(tb testing.TB, call func(*slack.Client) error) (plain, marked drillRequest) {
	tb.Helper()
	if err := call(d.client(http.DefaultTransport)); err != nil {
		tb.Fatalf("plain client: %v", err)
	}
	plain = d.mustOne(tb)
	if err := call(d.client(DrillMarking(nil, drillNote))); err != nil {
		tb.Fatalf("drill client: %v", err)
	}
	return plain, d.mustOne(tb)
}

func (d *drillSlack) mustOne(tb testing.TB) drillRequest {
	tb.Helper()
	seen := d.requests()
	if len(seen) != 1 {
		tb.Fatalf("the fake saw %d requests, want 1", len(seen))
	}
	if seen[0].contentLength != int64(len(seen[0].body)) {
		tb.Errorf("Content-Length %d, body of %d bytes", seen[0].contentLength, len(seen[0].body))
	}
	return seen[0]
}

// drillMsg is a request's message: text, blocks, whether it is a view, and every
// other field encoded.
type drillMsg struct {
	text   string
	blocks []json.RawMessage
	rest   map[string]string
}

func mustDrillMsg(tb testing.TB, r drillRequest) drillMsg {
	tb.Helper()
	m := drillMsg{rest: map[string]string{}}
	if strings.HasPrefix(r.contentType, "application/x-www-form-urlencoded") {
		vals, err := url.ParseQuery(string(r.body))
		if err != nil {
			tb.Fatal(err)
		}
		for k, v := range vals {
			m.rest[k] = strings.Join(v, "\x00")
		}
		m.text = vals.Get("text")
		if b := vals.Get("blocks"); b != "" {
			mustUnmarshal(tb, []byte(b), &m.blocks)
		}
		delete(m.rest, "text")
		delete(m.rest, "blocks")
		return m
	}
	var obj map[string]json.RawMessage
	mustUnmarshal(tb, r.body, &obj)
	if raw, ok := obj["view"]; ok {
		var view map[string]json.RawMessage
		mustUnmarshal(tb, raw, &view)
		mustUnmarshal(tb, view["blocks"], &m.blocks)
		delete(view, "blocks")
		for k, v := range view {
			m.rest["view."+k] = string(v)
		}
		delete(obj, "view")
	} else {
		_ = json.Unmarshal(obj["text"], &m.text)
		_ = json.Unmarshal(obj["blocks"], &m.blocks)
		delete(obj, "text")
		delete(obj, "blocks")
	}
	for k, v := range obj {
		m.rest[k] = string(v)
	}
	return m
}

func mustUnmarshal(tb testing.TB, b []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("parsing %s: %v", b, err)
	}
}

// wantNote is the context block the drill client inserts.
func wantNote(tb testing.TB) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, drillNote, false, false)))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func jsonSame(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var x, y any
	mustUnmarshal(tb, a, &x)
	mustUnmarshal(tb, b, &y)
	return reflect.DeepEqual(x, y)
}

// assertDrillMarked checks that marked is plain with the marks: text prefixed (for
// messages), the header prefixed, the note after it, every other block byte for byte
// and every other field as it was.
func assertDrillMarked(t *testing.T, plain, marked drillRequest, view bool) {
	t.Helper()
	if marked.path != plain.path || marked.contentType != plain.contentType {
		t.Errorf("sent to %s as %s, want %s as %s", marked.path, marked.contentType, plain.path, plain.contentType)
	}
	p, m := mustDrillMsg(t, plain), mustDrillMsg(t, marked)
	if !view {
		want := "DRILL · " + p.text
		if p.text == "" {
			want = "DRILL"
		}
		if m.text != want {
			t.Errorf("text %q, want %q", m.text, want)
		}
	}
	if !reflect.DeepEqual(m.rest, p.rest) {
		t.Errorf("other fields %v, want %v", m.rest, p.rest)
	}
	at := 0
	if len(p.blocks) > 0 && blockType(p.blocks[0]) == "header" {
		at = 1
		var got, want map[string]any
		mustUnmarshal(t, m.blocks[0], &got)
		mustUnmarshal(t, p.blocks[0], &want)
		text := want["text"].(map[string]any)
		text["text"] = "DRILL · " + text["text"].(string)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("header %v, want %v", got, want)
		}
	}
	if len(m.blocks) != len(p.blocks)+1 {
		t.Fatalf("%d blocks, want %d", len(m.blocks), len(p.blocks)+1)
	}
	if !jsonSame(t, m.blocks[at], wantNote(t)) {
		t.Errorf("block %d is %s, want the note %s", at, m.blocks[at], wantNote(t))
	}
	for i := at; i < len(p.blocks); i++ {
		if !bytes.Equal(m.blocks[i+1], p.blocks[i]) {
			t.Errorf("block %d is %s, want %s", i+1, m.blocks[i+1], p.blocks[i])
		}
	}
}

func drillAlertBlocks() []slack.Block {
	return []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, ":red_circle: critical · prod · Canary failed", true, false)),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*Scenario 1* `INC-1` <https://example.com/run|run 42> & <!channel> stays text", false, false), nil, nil),
		slack.NewActionBlock("actions", slack.NewButtonBlockElement("action:rollback", "INC-1", slack.NewTextBlockObject(slack.PlainTextType, "Roll back", false, false))),
	}
}

func TestDrillMarkingPostMessage(t *testing.T) {
	d := newDrillSlack(t)
	plain, marked := d.mustSendBoth(t, func(c *slack.Client) error {
		_, _, err := c.PostMessage("C1", slack.MsgOptionText("canary failed", false), slack.MsgOptionBlocks(drillAlertBlocks()...), slack.MsgOptionTS("1700000000.000001"))
		return err
	})
	assertDrillMarked(t, plain, marked, false)
	m := mustDrillMsg(t, marked)
	if m.text != "DRILL · canary failed" || m.rest["channel"] != "C1" || m.rest["thread_ts"] != "1700000000.000001" || m.rest["token"] != "xoxb-drill" {
		t.Errorf("text %q, fields %v; want the marked text, channel C1, the thread and the token", m.text, m.rest)
	}
	var h slack.HeaderBlock
	mustUnmarshal(t, m.blocks[0], &h)
	if h.Text.Text != "DRILL · :red_circle: critical · prod · Canary failed" {
		t.Errorf("header %q", h.Text.Text)
	}
	if blockType(m.blocks[1]) != "context" || blockType(m.blocks[2]) != "section" || blockType(m.blocks[3]) != "actions" {
		t.Errorf("blocks %s, want header, context, section, actions", m.blocks)
	}
}

func TestDrillMarkingMessagesAndViews(t *testing.T) {
	d := newDrillSlack(t)
	blocks := drillAlertBlocks()
	modal := slack.ModalViewRequest{
		Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "Roll back", false, false),
		Submit: slack.NewTextBlockObject(slack.PlainTextType, "Go", false, false), CallbackID: "rollback", PrivateMetadata: "INC-1",
		Blocks: slack.Blocks{BlockSet: blocks[1:]},
	}
	for _, tc := range []struct {
		name string
		view bool
		call func(*slack.Client) error
	}{
		{"chat.update", false, func(c *slack.Client) error {
			_, _, _, err := c.UpdateMessage("C1", "1700000000.000100", slack.MsgOptionText("resolved", false), slack.MsgOptionBlocks(blocks...))
			return err
		}},
		{"chat.postEphemeral", false, func(c *slack.Client) error {
			_, err := c.PostEphemeral("C1", "U1", slack.MsgOptionText("only you", false), slack.MsgOptionBlocks(blocks[1:]...))
			return err
		}},
		{"chat.postEphemeral text only", false, func(c *slack.Client) error {
			_, err := c.PostEphemeral("C1", "U1", slack.MsgOptionText("only you", false))
			return err
		}},
		{"chat.scheduleMessage", false, func(c *slack.Client) error {
			_, _, err := c.ScheduleMessage("C1", "1900000000", slack.MsgOptionBlocks(blocks...))
			return err
		}},
		{"response URL", false, func(c *slack.Client) error {
			_, _, err := c.PostMessage("C1", slack.MsgOptionResponseURL(d.srv.URL+"/actions/T1/2/abc", slack.ResponseTypeEphemeral), slack.MsgOptionText("queued", false), slack.MsgOptionBlocks(blocks[1:]...))
			return err
		}},
		{"views.open", true, func(c *slack.Client) error { _, err := c.OpenView("trigger-1", modal); return err }},
		{"views.push", true, func(c *slack.Client) error { _, err := c.PushView("trigger-1", modal); return err }},
		{"views.update", true, func(c *slack.Client) error { _, err := c.UpdateView(modal, "", "h1", "V1"); return err }},
		{"views.publish", true, func(c *slack.Client) error {
			_, err := c.PublishView("U1", slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}, "")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, marked := d.mustSendBoth(t, tc.call)
			if strings.HasSuffix(tc.name, "text only") {
				if m := mustDrillMsg(t, marked); m.text != "DRILL · only you" || len(m.blocks) != 0 {
					t.Errorf("text %q and %d blocks, want the text marked and no blocks", m.text, len(m.blocks))
				}
				return
			}
			assertDrillMarked(t, plain, marked, tc.view)
			if tc.name == "response URL" && (marked.path != "/actions/T1/2/abc" || mustDrillMsg(t, marked).rest["response_type"] != `"ephemeral"`) {
				t.Errorf("sent to %s with %v, want /actions/T1/2/abc, ephemeral", marked.path, mustDrillMsg(t, marked).rest)
			}
		})
	}
}

func TestDrillMarkingPassesOtherRequestsUntouched(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func(*slack.Client) error
	}{
		{"conversations.open", func(c *slack.Client) error {
			_, _, _, err := c.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U1"}})
			return err
		}},
		{"users.info", func(c *slack.Client) error { _, err := c.GetUserInfo("U1"); return err }},
		{"usergroups.users.list", func(c *slack.Client) error { _, err := c.GetUserGroupMembers("S1"); return err }},
		{"auth.test", func(c *slack.Client) error { _, err := c.AuthTest(); return err }},
		{"GET chat.getPermalink", func(c *slack.Client) error {
			_, err := c.GetPermalink(&slack.PermalinkParameters{Channel: "C1", Ts: "1700000000.000100"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDrillSlack(t)
			plain, marked := d.mustSendBoth(t, tc.call)
			if !reflect.DeepEqual(marked, plain) {
				t.Errorf("sent %+v, want it untouched: %+v", marked, plain)
			}
		})
	}
}

// TestDrillMarkingNotTwice sends bodies already marked: by the drill client itself
// (marking what it marked) and by a caller that marked its own message.
func TestDrillMarkingNotTwice(t *testing.T) {
	d := newDrillSlack(t)
	drill := DrillMarking(nil, drillNote)
	note := slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, drillNote, false, false))
	header := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "DRILL · canary", true, false))
	for _, call := range []func(*slack.Client) error{
		func(c *slack.Client) error {
			_, _, err := c.PostMessage("C1", slack.MsgOptionText("DRILL · hi", false), slack.MsgOptionBlocks(header, note, drillAlertBlocks()[1]))
			return err
		},
		func(c *slack.Client) error {
			_, _, err := c.PostMessage("C1", slack.MsgOptionText("DRILL · hi", false))
			return err
		},
		func(c *slack.Client) error {
			_, err := c.PublishView("U1", slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{note}}}, "")
			return err
		},
	} {
		plain, marked := d.mustSendBoth(t, call)
		if !bytes.Equal(marked.body, plain.body) {
			t.Errorf("sent %s, want it unchanged: %s", marked.body, plain.body)
		}
	}
	// Marking what the drill client sent changes nothing.
	_, first := d.mustSendBoth(t, func(c *slack.Client) error {
		_, _, err := c.PostMessage("C1", slack.MsgOptionText("canary failed", false), slack.MsgOptionBlocks(drillAlertBlocks()...))
		return err
	})
	again := mustDrillReplay(t, d, drill, first)
	if !bytes.Equal(again.body, first.body) {
		t.Errorf("marked again: %s, want %s", again.body, first.body)
	}
}

// mustDrillReplay sends r's body again through rt and returns what the fake saw.
func mustDrillReplay(tb testing.TB, d *drillSlack, rt http.RoundTripper, r drillRequest) drillRequest {
	tb.Helper()
	req, err := http.NewRequest(r.method, d.srv.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", r.contentType)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return d.mustOne(tb)
}

// brokenBlock encodes as a JSON string, which is no block.
type brokenBlock struct{}

func (brokenBlock) BlockType() slack.MessageBlockType { return slack.MBTSection }
func (brokenBlock) ID() string                        { return "" }
func (brokenBlock) MarshalJSON() ([]byte, error)      { return []byte(`"not a block"`), nil }

// closeTracker is a request body that remembers being closed.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestDrillMarkingFailsClosed(t *testing.T) {
	d := newDrillSlack(t)
	_, _, err := d.client(DrillMarking(nil, drillNote)).PostMessage("C1", slack.MsgOptionText("hi", false), slack.MsgOptionBlocks(brokenBlock{}))
	if !errors.Is(err, ErrDrillUnmarked) {
		t.Errorf("PostMessage with a malformed block: got %v, want ErrDrillUnmarked", err)
	}
	if seen := d.requests(); len(seen) != 0 {
		t.Errorf("the fake saw %d requests, want none", len(seen))
	}
	for _, tc := range []struct{ name, method, path, query, contentType, body string }{
		{"blocks not JSON", "POST", "/api/chat.postMessage", "", "application/x-www-form-urlencoded", "channel=C1&text=hi&blocks=%5B%7B"},
		{"form not a form", "POST", "/api/chat.update", "", "application/x-www-form-urlencoded", "text=%zz"},
		{"two texts", "POST", "/api/chat.postMessage", "", "application/x-www-form-urlencoded", "text=a&text=b"},
		{"JSON not JSON", "POST", "/api/chat.postEphemeral", "", "application/json", `{"text":`},
		{"text not a string", "POST", "/api/chat.postMessage", "", "application/json", `{"text":1}`},
		{"multipart", "POST", "/api/chat.postMessage", "", "multipart/form-data; boundary=x", "--x--"},
		{"query", "POST", "/api/chat.postMessage", "text=hi", "application/x-www-form-urlencoded", "channel=C1"},
		{"GET", "GET", "/api/chat.scheduleMessage", "channel=C1&text=hi", "", ""},
		{"view missing", "POST", "/api/views.open", "", "application/json", `{"trigger_id":"t"}`},
		{"view blocks not blocks", "POST", "/api/views.publish", "", "application/json", `{"view":{"blocks":{}}}`},
		{"response URL not JSON", "POST", "/actions/T1/2/abc", "", "application/json", `{"text":"hi"`},
		{"header without text", "POST", "/api/chat.postMessage", "", "application/json", `{"text":"hi","blocks":[{"type":"header"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &closeTracker{Reader: strings.NewReader(tc.body)}
			req, err := http.NewRequest(tc.method, d.srv.URL+tc.path+"?"+tc.query, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			resp, err := DrillMarking(nil, drillNote).RoundTrip(req)
			if resp != nil {
				resp.Body.Close()
			}
			if !errors.Is(err, ErrDrillUnmarked) || !strings.Contains(err.Error(), "drill message could not be marked") {
				t.Errorf("got %v, want ErrDrillUnmarked", err)
			}
			if seen := d.requests(); len(seen) != 0 {
				t.Errorf("the fake saw %d requests, want none", len(seen))
			}
			if !body.closed {
				t.Error("the request body was not closed")
			}
		})
	}
}

// TestDrillMarkingKeepsTheCallersRequest checks the RoundTripper contract: the
// caller's request is not changed.
func TestDrillMarkingKeepsTheCallersRequest(t *testing.T) {
	d := newDrillSlack(t)
	body := "channel=C1&text=hi"
	req, err := http.NewRequest("POST", d.srv.URL+"/api/chat.postMessage", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Content-Length", fmt.Sprint(len(body)))
	before := req.Header.Clone()
	resp, err := DrillMarking(nil, drillNote).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if req.ContentLength != int64(len(body)) || !reflect.DeepEqual(req.Header, before) {
		t.Errorf("the caller's request changed: length %d, header %v; want %d, %v", req.ContentLength, req.Header, len(body), before)
	}
	if got := mustDrillMsg(t, d.mustOne(t)).text; got != "DRILL · hi" {
		t.Errorf("text %q, want %q", got, "DRILL · hi")
	}
}

func TestDrillMarkingLongHeader(t *testing.T) {
	d := newDrillSlack(t)
	long := strings.Repeat("é", maxHeaderText)
	_, marked := d.mustSendBoth(t, func(c *slack.Client) error {
		_, _, err := c.PostMessage("C1", slack.MsgOptionBlocks(slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, long, false, false))))
		return err
	})
	var h slack.HeaderBlock
	mustUnmarshal(t, mustDrillMsg(t, marked).blocks[0], &h)
	want := "DRILL · " + strings.Repeat("é", maxHeaderText-len([]rune("DRILL · "))-1) + "…"
	if h.Text.Text != want || len([]rune(h.Text.Text)) != maxHeaderText {
		t.Errorf("header of %d characters %q, want %d: %q", len([]rune(h.Text.Text)), h.Text.Text, maxHeaderText, want)
	}
}

func drillSections(n int) []slack.Block {
	var out []slack.Block
	for i := range n {
		out = append(out, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, fmt.Sprintf("line %d", i), false, false), nil, nil))
	}
	return out
}

// TestDrillMarkingBlockLimit pins Slack's limits: 50 blocks in a message, 100 in a
// view. One under, the note is a block of its own; at the limit it goes in front of
// the first section's text.
func TestDrillMarkingBlockLimit(t *testing.T) {
	header := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "alarms", false, false))
	divider := slack.NewDividerBlock()
	post := func(blocks []slack.Block) func(*slack.Client) error {
		return func(c *slack.Client) error {
			_, _, err := c.PostMessage("C1", slack.MsgOptionText("alarms", false), slack.MsgOptionBlocks(blocks...))
			return err
		}
	}
	open := func(blocks []slack.Block) func(*slack.Client) error {
		return func(c *slack.Client) error {
			_, err := c.OpenView("t", slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "Alarms", false, false), Blocks: slack.Blocks{BlockSet: blocks}})
			return err
		}
	}
	for _, tc := range []struct {
		name    string
		call    func(*slack.Client) error
		want    int  // blocks sent
		inFront bool // the note is in front of the first section's text
	}{
		{"message of 49", post(append([]slack.Block{header, divider}, drillSections(47)...)), 50, false},
		{"message of 50", post(append([]slack.Block{header, divider}, drillSections(48)...)), 50, true},
		{"modal of 99", open(append([]slack.Block{divider}, drillSections(98)...)), 100, false},
		{"modal of 100", open(append([]slack.Block{divider}, drillSections(99)...)), 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDrillSlack(t)
			_, marked := d.mustSendBoth(t, tc.call)
			m := mustDrillMsg(t, marked)
			if len(m.blocks) != tc.want {
				t.Fatalf("%d blocks, want %d", len(m.blocks), tc.want)
			}
			first, _ := sectionText(m.blocks[firstOfType(m.blocks, "section")])
			if gotInFront := first == drillNote+"\nline 0"; gotInFront != tc.inFront {
				t.Errorf("first section %q; note in front: %v, want %v", first, gotInFront, tc.inFront)
			}
			at := 0
			if blockType(m.blocks[0]) == "header" {
				at = 1
			}
			if noteBlock := blockType(m.blocks[at]) == "context"; noteBlock == tc.inFront {
				t.Errorf("block %d is %s; want a note block: %v", at, m.blocks[at], !tc.inFront)
			}
			if again := mustDrillReplay(t, d, DrillMarking(nil, drillNote), marked); !bytes.Equal(again.body, marked.body) {
				t.Errorf("marked again: %s, want %s", again.body, marked.body)
			}
		})
	}
	t.Run("message of 50 whose first section has fields only", func(t *testing.T) {
		fields := slack.NewSectionBlock(nil, []*slack.TextBlockObject{slack.NewTextBlockObject(slack.MarkdownType, "*a*", false, false)}, nil)
		d := newDrillSlack(t)
		_, marked := d.mustSendBoth(t, post(append([]slack.Block{header, fields}, drillSections(48)...)))
		m := mustDrillMsg(t, marked)
		if text, _ := sectionText(m.blocks[2]); text != drillNote+"\nline 0" {
			t.Errorf("the first section with text reads %q, want the note in front", text)
		}
		if again := mustDrillReplay(t, d, DrillMarking(nil, drillNote), marked); !bytes.Equal(again.body, marked.body) {
			t.Errorf("marked again: %s, want %s", again.body, marked.body)
		}
	})
	t.Run("message of 50 without a section", func(t *testing.T) {
		d := newDrillSlack(t)
		var dividers []slack.Block
		for range maxBlocks {
			dividers = append(dividers, divider)
		}
		if err := post(dividers)(d.client(DrillMarking(nil, drillNote))); !errors.Is(err, ErrDrillUnmarked) {
			t.Errorf("got %v, want ErrDrillUnmarked", err)
		}
		if seen := d.requests(); len(seen) != 0 {
			t.Errorf("the fake saw %d requests, want none", len(seen))
		}
	})
}

// firstOfType is the index of the first block of type typ.
func firstOfType(blocks []json.RawMessage, typ string) int {
	for i, b := range blocks {
		if blockType(b) == typ {
			return i
		}
	}
	return -1
}
