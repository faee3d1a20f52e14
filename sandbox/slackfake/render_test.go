package slackfake

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// mustBlocks marshals slack-go blocks the way chat.postMessage sends them.
func mustBlocks(tb testing.TB, blocks ...slack.Block) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(blocks)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestRenderRealisticAlert(t *testing.T) {
	txt := func(typ, s string) *slack.TextBlockObject { return slack.NewTextBlockObject(typ, s, false, false) }
	approve := slack.NewButtonBlockElement("approve:rollback", "inc-7", txt(slack.PlainTextType, "Roll back"))
	approve.Style = slack.StyleDanger
	retry := slack.NewButtonBlockElement("action:retry", "inc-7", txt(slack.PlainTextType, "Retry deploy"))
	retry.Style = slack.StylePrimary
	ack := slack.NewButtonBlockElement("ack", "inc-7", txt(slack.PlainTextType, "Acknowledge"))
	env := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, txt(slack.PlainTextType, "Environment"), "env",
		slack.NewOptionBlockObject("prod", txt(slack.PlainTextType, "prod"), nil))
	m := Message{
		Channel: "C0OPS",
		TS:      "1700000000.000100",
		Text:    "fallback",
		Updates: 1,
		Blocks: mustBlocks(t,
			slack.NewHeaderBlock(txt(slack.PlainTextType, "Prod deploy failed")),
			slack.NewSectionBlock(txt(slack.MarkdownType, "*Scenario 4* · severity *HIGH*"),
				[]*slack.TextBlockObject{txt(slack.MarkdownType, "*Env:* prod"), txt(slack.MarkdownType, "*SHA:* abc1234")}, nil),
			slack.NewContextBlock("", txt(slack.MarkdownType, "run 42"), txt(slack.PlainTextType, "attempt 1")),
			slack.NewDividerBlock(),
			slack.NewActionBlock("", retry, approve, ack, env),
		),
	}
	got := Render(m)
	for _, want := range []string{
		"[1700000000.000100] (edited)\n",
		"■ PROD DEPLOY FAILED\n",
		"*Scenario 4* · severity *HIGH*\n",
		"  *Env:* prod\n  *SHA:* abc1234\n",
		"· run 42 | attempt 1\n",
		dividerLine + "\n",
		"[ Retry deploy ] (primary)  [ Roll back ] (danger)  [ Acknowledge ]  [ Environment ▾ ]\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Render: missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "fallback") {
		t.Errorf("Render: got the fallback text with blocks present:\n%s", got)
	}
	// Blocks render in order.
	if strings.Index(got, "■") > strings.Index(got, "[ Retry deploy ]") {
		t.Errorf("Render: header after buttons:\n%s", got)
	}
}

func TestRenderBlocks(t *testing.T) {
	txt := func(typ, s string) *slack.TextBlockObject { return slack.NewTextBlockObject(typ, s, false, false) }
	accessory := slack.NewAccessory(slack.NewButtonBlockElement("logs", "", txt(slack.PlainTextType, "View logs")))
	input := slack.NewInputBlock("reason", txt(slack.PlainTextType, "Reason"), nil,
		slack.NewPlainTextInputBlockElement(txt(slack.PlainTextType, "why"), "reason_input"))
	input.Optional = true
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"text only", Message{TS: "1.000001", Text: "hello\nworld"}, "[1.000001]\nhello\nworld\n"},
		{"ephemeral", Message{TS: "1.000001", Text: "psst", Ephemeral: true, User: "U1"}, "[1.000001] (only visible to U1)\npsst\n"},
		{"deleted", Message{TS: "1.000001", Text: "gone", Deleted: true}, "[1.000001] (deleted)\ngone\n"},
		{"broadcast", Message{TS: "1.000002", ThreadTS: "1.000001", Text: "r", Broadcast: true}, "[1.000002] (also sent to the channel)\nr\n"},
		{"section accessory", Message{TS: "1.000001", Blocks: mustBlocks(t,
			slack.NewSectionBlock(txt(slack.MarkdownType, "Lambda errors"), nil, accessory))},
			"[1.000001]\nLambda errors\n  ↳ [ View logs ]\n"},
		{"input", Message{TS: "1.000001", Blocks: mustBlocks(t, input)}, "[1.000001]\nReason (optional): [ why… ]\n"},
		{"unknown block", Message{TS: "1.000001", Blocks: json.RawMessage(`[{"type":"video","title":{"type":"plain_text","text":"x"}}]`)},
			"[1.000001]\n[video block]\n"},
		{"markdown block", Message{TS: "1.000001", Blocks: json.RawMessage(`[{"type":"markdown","text":"**hi**"}]`)}, "[1.000001]\n**hi**\n"},
		{"rich text", Message{TS: "1.000001", Blocks: json.RawMessage(`[{"type":"rich_text","elements":[
			{"type":"rich_text_section","elements":[{"type":"text","text":"Paging "},{"type":"user","user_id":"U1"},{"type":"text","text":" in "},{"type":"channel","channel_id":"C1"}]},
			{"type":"rich_text_list","style":"ordered","elements":[
				{"type":"rich_text_section","elements":[{"type":"text","text":"check alarms"}]},
				{"type":"rich_text_section","elements":[{"type":"link","url":"https://x.test","text":"runbook"}]}]},
			{"type":"rich_text_quote","elements":[{"type":"text","text":"quoted","style":{"bold":true}}]},
			{"type":"rich_text_preformatted","elements":[{"type":"text","text":"terraform apply"}]}]}]`)},
			"[1.000001]\nPaging @U1 in #C1\n1. check alarms\n2. runbook (https://x.test)\n> quoted\n```\nterraform apply\n```\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(tt.m); got != tt.want {
				t.Errorf("Render:\ngot\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRenderTranscriptIndentsThreads(t *testing.T) {
	msgs := []Message{
		{TS: "1.000001", Text: "alert"},
		{TS: "1.000002", Text: "other"},
		{TS: "1.000003", ThreadTS: "1.000001", Text: "step 1 ok"},
		{TS: "1.000004", ThreadTS: "1.000001", Text: "step 2\nfailed", Ephemeral: true, User: "U1"},
	}
	want := "[1.000001]\nalert\n" +
		"    │ [1.000003]\n    │ step 1 ok\n" +
		"    │ [1.000004] (only visible to U1)\n    │ step 2\n    │ failed\n" +
		"\n[1.000002]\nother\n"
	if got := RenderTranscript(msgs); got != want {
		t.Errorf("RenderTranscript:\ngot\n%s\nwant\n%s", got, want)
	}
}
