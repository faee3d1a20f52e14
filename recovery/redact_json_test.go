package recovery

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const ruleKeyID = "AKIAIOSFODNN7EXAMPLE" // an AWS key ID by its shape

// TestRedactJSONKeeping: every string value of a JSON document is redacted, at any
// depth, in objects and arrays, but the values of the keys kept (identifiers medic
// acts on); a document with nothing to redact comes back byte for byte; numbers stay
// as written; HTML characters are not escaped; what is not one JSON value is an error
// and is returned as it was.
func TestRedactJSONKeeping(t *testing.T) {
	keep := func(k string) bool { return k == "value" || k == "alarm" }
	tests := []struct {
		name        string
		in          string
		want        string // "" when the document comes back as it was
		wantChanged bool
		wantErr     bool
	}{
		{"nothing to redact: byte for byte", `{ "b": "x",  "a": [1, 2.50] }`, "", false, false},
		{"a top-level string", `"key ` + ruleKeyID + `"`, `"key [REDACTED AWS KEY ID]"`, true, false},
		{"nested, keys sorted, numbers as written", `{"z": 1.50, "a": {"text": ["ok", "` + ruleKeyID + `"]}}`,
			`{"a":{"text":["ok","[REDACTED AWS KEY ID]"]},"z":1.50}`, true, false},
		{"kept keys at any depth", `{"value": "` + ruleKeyID + `", "blocks": [{"alarm": {"x": "` + ruleKeyID + `"}, "text": "` + ruleKeyID + `"}]}`,
			`{"blocks":[{"alarm":{"x":"` + ruleKeyID + `"},"text":"[REDACTED AWS KEY ID]"}],"value":"` + ruleKeyID + `"}`, true, false},
		{"only kept keys hold secrets", `{"value": "` + ruleKeyID + `"}`, "", false, false},
		{"HTML not escaped", `{"text": "<b>` + ruleKeyID + `</b> & co"}`, `{"text":"<b>[REDACTED AWS KEY ID]</b> & co"}`, true, false},
		{"not JSON", `{"text": `, "", false, true},
		{"two values", `{} {}`, "", false, true},
		{"empty", ``, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := RedactJSONKeeping([]byte(tt.in), keep)
			if (err != nil) != tt.wantErr || changed != tt.wantChanged {
				t.Fatalf("got %q, changed %v, error %v; want changed %v, error %v", out, changed, err, tt.wantChanged, tt.wantErr)
			}
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if string(out) != want {
				t.Errorf("got %s, want %s", out, want)
			}
		})
	}
	out, changed, err := RedactJSON([]byte(`{"value": "` + ruleKeyID + `"}`))
	if err != nil || !changed || strings.Contains(string(out), ruleKeyID) {
		t.Errorf("RedactJSON keeps nothing: got %s, %v, %v; want the key redacted", out, changed, err)
	}
}

// TestRedactValue: the strings of a decoded value are redacted in place, map keys
// stay, other values stay; it says whether anything changed.
func TestRedactValue(t *testing.T) {
	var v any
	if err := json.Unmarshal([]byte(`{"`+ruleKeyID+`": ["x", {"n": 1, "s": "`+ruleKeyID+`", "b": true, "nil": null}]}`), &v); err != nil {
		t.Fatal(err)
	}
	got, changed := RedactValue(v)
	if want := `map[AKIAIOSFODNN7EXAMPLE:[x map[b:true n:1 nil:<nil> s:[REDACTED AWS KEY ID]]]]`; !changed || fmt.Sprint(got) != want {
		t.Errorf("got %v (changed %v), want %s (changed)", got, changed, want)
	}
	for _, v := range []any{"plain", 42, nil, []any{"a", 1.5}, map[string]any{"k": "v"}} {
		if got, changed := RedactValue(v); changed || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("RedactValue(%v): got %v (changed %v), want it unchanged", v, got, changed)
		}
	}
	for _, tt := range []struct {
		in   []any
		want string
	}{{[]any{"ok", ruleKeyID}, "[ok [REDACTED AWS KEY ID]]"}, {[]any{ruleKeyID, "ok"}, "[[REDACTED AWS KEY ID] ok]"}} {
		if got, changed := RedactValue(tt.in); !changed || fmt.Sprint(got) != tt.want {
			t.Errorf("got %v (changed %v), want %s (changed)", got, changed, tt.want)
		}
	}
}

// TestTextPlain: a Text as plain text: words, quotes, mentions as IDs, code, and a
// link's label followed by its URL.
func TestTextPlain(t *testing.T) {
	tx := Say("Rolled back by %s to %s, see %s (%d%%)", Mention("U0ALICE"), Code("abc1234"), LinkTo("https://x/run/1", "the run"), 50)
	if got, want := tx.Plain(), "Rolled back by U0ALICE to abc1234, see the run (https://x/run/1) (50%)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (Text{LinkTo("", "no URL")}).Plain(), "no URL"; got != want {
		t.Errorf("a link without a URL: got %q, want %q", got, want)
	}
}
