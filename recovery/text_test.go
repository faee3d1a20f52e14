package recovery

import (
	"errors"
	"reflect"
	"testing"
)

func TestSay(t *testing.T) {
	got := Say("*Job* %s by %s: %d steps, %s, 100%%", Code("JOB-1"), Mention("U0ALICE"), 3, errors.New("boom <!channel>"))
	want := Text{
		{Kind: SpanWords, Text: "*Job* "}, {Kind: SpanCode, Text: "JOB-1"}, {Kind: SpanWords, Text: " by "},
		{Kind: SpanMention, Text: "U0ALICE"}, {Kind: SpanWords, Text: ": "}, {Kind: SpanQuote, Text: "3"},
		{Kind: SpanWords, Text: " steps, "}, {Kind: SpanQuote, Text: "boom <!channel>"}, {Kind: SpanWords, Text: ", 100%"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Say:\n got %#v\nwant %#v", got, want)
	}
	inner := Say("a %s", "b")
	if got := Say("x %s y", inner); len(got) != 4 || got[2].Kind != SpanQuote || got.Plain() != "x a b y" {
		t.Errorf("a Text argument is not kept as it is: %#v", got)
	}
	if got := Say("%s and %s", "one").Plain(); got != "one and %!s(MISSING)" {
		t.Errorf("missing argument: %q", got)
	}
}
