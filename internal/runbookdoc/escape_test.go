package runbookdoc

import (
	"regexp"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Tests (Dev)", "Tests (Dev)"},
		{"a | b", `a \| b`},
		{"two\nlines\r\n", "two lines"},
		{"admin\u202egnp.exe", "admingnp.exe"},
		{"\u2066left\u2069 \u200fright", "left right"},
		{"`rm -rf /`", "\\`rm -rf /\\`"},
		{"<!channel>", `\<\!channel\>`},
		{"# heading", `\# heading`},
		{"- item", `\- item`},
		{"1. item", `1\. item`},
		{"**bold** _em_ snake_case", `\*\*bold\*\* \_em\_ snake_case`},
		{"[link](http://x)", `\[link\](http://x)`},
		{"Destroy & recreate &amp;", `Destroy & recreate \&amp;`},
		{`back\slash`, `back\\slash`},
	} {
		if got := text(tt.in); got != tt.want {
			t.Errorf("text(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// hostile puts Markdown and Slack markup wherever the config lets people write text
// that reaches the document.
func hostile(tb testing.TB) string {
	tb.Helper()
	src := mustRead(tb, exampleConfig)
	for _, r := range [][2]string{
		{"      title: CTO\n", "      title: \"CTO | <!channel> `boss`\\n# not a heading\"\n"},
		{"    - name: Preprod fail\n", "    - name: \"Preprod | fail\\n- not an item\"\n"},
		{"    - Share lessons learned with team\n", "    - \"Share `lessons` | **team** <b>\"\n"},
		{"  untrusted_env: dev\n", "  untrusted_env: dev\n  rules:\n    - {scenario: state-lock, job: \"Lock | `held`\\n## not a heading\", log_contains: \"a|b\"}\n    - {scenario: job-failed}\n"},
	} {
		if !strings.Contains(src, r[0]) {
			tb.Fatalf("the example config no longer has %q", r[0])
		}
		src = strings.Replace(src, r[0], r[1], 1)
	}
	return src
}

func TestRunbookEscapesTheConfigsText(t *testing.T) {
	doc := mustGenerate(t, hostile(t))
	for _, bad := range []string{"<!channel>", "<b>", "**team**", "`boss`", "`held`", "`lessons`"} {
		if strings.Contains(doc, bad) {
			t.Errorf("the document has %q unescaped", bad)
		}
	}
	for _, want := range []string{"CTO \\| \\<\\!channel\\> \\`boss\\` \\# not a heading", `Preprod \| fail - not an item`, "Share \\`lessons\\` \\| \\*\\*team\\*\\* \\<b\\>", "Lock \\| \\`held\\` \\#\\# not a heading"} {
		if !strings.Contains(doc, want) {
			t.Errorf("the document lacks %q", want)
		}
	}
	heading := regexp.MustCompile(`^#{1,3} (Failure recovery runbook|Quick reference|Environments and who may act|Scenario \d: |General troubleshooting|Case \d: |Also handled by medic|Alarm firing|Pipeline job failed|Checks failed|Escalation matrix|Levels|Post-incident checklist|Drills)`)
	cols := 0
	for i, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "#") && !heading.MatchString(line) {
			t.Errorf("line %d is a heading the generator did not write: %q", i+1, line)
		}
		if strings.HasPrefix(line, "- ") && strings.Contains(line, "not an item") {
			t.Errorf("line %d is a list item from the config: %q", i+1, line)
		}
		if (strings.Count(line, "`")-strings.Count(line, "\\`"))%2 != 0 {
			t.Errorf("line %d has an unbalanced code span: %q", i+1, line)
		}
		switch {
		case !strings.HasPrefix(line, "| "):
			cols = 0
		case cols == 0:
			cols = len(splitRow(line))
		case len(splitRow(line)) != cols:
			t.Errorf("line %d has %d cells, its table %d: %q", i+1, len(splitRow(line)), cols, line)
		}
	}
}
