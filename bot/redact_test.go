package bot

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack"
)

// TestSlackWritesAreRedacted: a credential in any part of a Slack write (blocks,
// fallback text, a modal, a response_url post) is gone when the request reaches
// Slack, and what Slack receives still parses.
func TestSlackWritesAreRedacted(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			v, err := url.ParseQuery(string(b))
			if err != nil {
				t.Errorf("form body does not parse: %v", err)
			}
			if blocks := v.Get("blocks"); blocks != "" && !json.Valid([]byte(blocks)) {
				t.Errorf("blocks are no longer JSON: %s", blocks)
			}
		} else if !json.Valid(b) {
			t.Errorf("JSON body no longer parses: %s", b)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1.2","view":{"id":"V1"}}`)
	}))
	defer srv.Close()
	redacted := 0
	api := slack.New("xoxb-test", slack.OptionAPIURL(srv.URL+"/"),
		slack.OptionHTTPClient(&http.Client{Transport: RedactingTransport(nil, func() { redacted++ })}))
	ctx := context.Background()
	const tok, pass, key = "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hunter2-hunter2", "AKIAIOSFODNN7EXAMPLE"
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("fallback "+tok, false),
		slack.MsgOptionBlocks(slack.NewSectionBlock(mrkdwn("DB_PASSWORD="+pass+" & <b>"), nil, nil))); err != nil {
		t.Fatal(err)
	}
	if _, err := api.OpenViewContext(ctx, "trigger", slack.ModalViewRequest{Type: slack.VTModal, Title: plain("t"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(mrkdwn("key "+key), nil, nil)}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionResponseURL(srv.URL+"/response", slack.ResponseTypeEphemeral),
		slack.MsgOptionText("answer "+tok, false)); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 {
		t.Fatalf("%d requests reached Slack, want 3", len(bodies))
	}
	all := strings.Join(bodies, "\n")
	for _, s := range []string{tok, pass, key} {
		if strings.Contains(all, s) {
			t.Errorf("Slack received %q:\n%s", s, all)
		}
	}
	if !strings.Contains(all, "fallback") || !strings.Contains(all, "DB_PASSWORD") {
		t.Errorf("the text around the secrets was lost:\n%s", all)
	}
	if redacted != 3 {
		t.Errorf("%d writes counted as redacted at the exit, want 3", redacted)
	}
}

func TestUnreadableSlackBodyIsNotSent(t *testing.T) {
	if _, _, err := redactBody("multipart/form-data; boundary=x", []byte("--x--")); err == nil {
		t.Error("a multipart body was let through unread")
	}
	// A button's value comes back in clicks: it stays as medic wrote it.
	body := `{"blocks":[{"type":"actions","elements":[{"type":"button","value":"INC-1|prod|IAM access-key: old","text":{"type":"plain_text","text":"password: hunter2-hunter2"}}]}]}`
	out, _, err := redactBody("application/json", []byte(body))
	if err != nil || !strings.Contains(string(out), `"value":"INC-1|prod|IAM access-key: old"`) || strings.Contains(string(out), "hunter2") {
		t.Errorf("machine fields were redacted or text was not: %s %v", out, err)
	}
	if out, changed, err := redactBody("application/json", []byte(`{"text":"plain"}`)); err != nil || changed || string(out) != `{"text":"plain"}` {
		t.Errorf("a clean body was changed: %s %v %v", out, changed, err)
	}
}
