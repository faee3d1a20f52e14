package recovery

import (
	"fmt"
	"strings"
)

// Text is what medic says in a Slack message: its own words, with everything that
// is not its own held apart. The renderer (package bot) escapes and redacts quoted
// text, so a job named "<!channel>" neither pings anyone nor links anywhere, and
// renders mentions, links and code as what they are. The domain never writes
// Slack's markup for a value; it says which kind of value it is.
type Text []Span

// SpanKind says what a span of a Text is.
type SpanKind uint8

// The kinds of spans.
const (
	// SpanWords are medic's own words (a constant in its code). They may use
	// *bold*, _italic_ and :emoji:, never a mention or a link.
	SpanWords SpanKind = iota
	// SpanQuote is text from outside medic (a job name, a commit subject, an error,
	// what someone typed), shown as it is.
	SpanQuote
	// SpanMention is a Slack user ID, shown as a mention.
	SpanMention
	// SpanLink is a link to URL, its label quoted.
	SpanLink
	// SpanCode is quoted text shown as inline code.
	SpanCode
)

// Span is one part of a Text.
type Span struct {
	Kind SpanKind
	// Text holds the words, the quoted text, the user ID, the link's label or the
	// code.
	Text string
	URL  string `json:",omitempty"`
}

// Quote is outside text.
func Quote(s string) Span { return Span{Kind: SpanQuote, Text: s} }

// Mention is a Slack user, mentioned.
func Mention(user string) Span { return Span{Kind: SpanMention, Text: user} }

// LinkTo is a link to url labelled label.
func LinkTo(url, label string) Span { return Span{Kind: SpanLink, Text: label, URL: url} }

// Code is outside text shown as inline code (a SHA, a lock ID, an incident ID).
func Code(s string) Span { return Span{Kind: SpanCode, Text: s} }

// Say makes a Text of format, medic's own words (always a constant), and args: a
// Span or Text argument is kept as it is; any other is outside text, formatted with
// its verb (%s, %d, %v, %q). %% is a percent sign.
func Say(format string, args ...any) Text {
	var t Text
	words := func(s string) {
		if s == "" {
			return
		}
		if n := len(t); n > 0 && t[n-1].Kind == SpanWords {
			t[n-1].Text += s
			return
		}
		t = append(t, Span{Kind: SpanWords, Text: s})
	}
	next := 0
	for {
		i := strings.IndexByte(format, '%')
		if i < 0 || i == len(format)-1 {
			words(format)
			break
		}
		words(format[:i])
		verb := format[i+1]
		format = format[i+2:]
		if verb == '%' {
			words("%")
			continue
		}
		if next >= len(args) {
			words("%!" + string(verb) + "(MISSING)")
			continue
		}
		switch a := args[next].(type) {
		case Span:
			t = append(t, a)
		case Text:
			t = append(t, a...)
		default:
			t = append(t, Quote(fmt.Sprintf("%"+string(verb), a)))
		}
		next++
	}
	return t
}

// Plain is t as plain text, mentions as user IDs: for logs, the audit log and tests.
func (t Text) Plain() string {
	var b strings.Builder
	for _, s := range t {
		b.WriteString(s.Text)
		if s.Kind == SpanLink && s.URL != "" {
			b.WriteString(" (" + s.URL + ")")
		}
	}
	return b.String()
}
