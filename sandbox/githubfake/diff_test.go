package githubfake

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func TestUnifiedPatch(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"identical", "a\nb\n", "a\nb\n", ""},
		{"one line", "v1\n", "v2\n", "@@ -1 +1 @@\n-v1\n+v2"},
		{"new file", "", "a\nb\n", "@@ -0,0 +1,2 @@\n+a\n+b"},
		{"deleted file", "a\n", "", "@@ -1 +0,0 @@\n-a"},
		{"append with context", "a\nb\nc\nd\ne\n", "a\nb\nc\nd\ne\nf\n", "@@ -3,3 +3,4 @@\n c\n d\n e\n+f"},
		{
			"two hunks",
			numbered(1, 20),
			strings.Replace(strings.Replace(numbered(1, 20), "line 2\n", "line two\n", 1), "line 18\n", "line eighteen\n", 1),
			"@@ -1,5 +1,5 @@\n line 1\n-line 2\n+line two\n line 3\n line 4\n line 5\n" +
				"@@ -15,6 +15,6 @@\n line 15\n line 16\n line 17\n-line 18\n+line eighteen\n line 19\n line 20",
		},
		{
			"nearby changes share a hunk",
			numbered(1, 10),
			strings.Replace(strings.Replace(numbered(1, 10), "line 3\n", "x\n", 1), "line 8\n", "y\n", 1),
			"@@ -1,10 +1,10 @@\n line 1\n line 2\n-line 3\n+x\n line 4\n line 5\n line 6\n line 7\n-line 8\n+y\n line 9\n line 10",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unifiedPatch(lineDiff(splitLines(tt.old), splitLines(tt.new)))
			if got != tt.want {
				t.Errorf("got patch\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseDateRange(t *testing.T) {
	at := func(s string) bool {
		d, err := parseDateRange(s)
		if err != nil {
			t.Fatalf("parseDateRange(%q): %v", s, err)
		}
		return d.contains(mustTime(t, "2024-06-01T10:00:00Z"))
	}
	tests := []struct {
		expr string
		want bool
	}{
		{"2024-06-01", true},
		{"2024-06-02", false},
		{">=2024-06-01", true},
		{">2024-06-01", false},
		{"<2024-06-01", false},
		{"<=2024-06-01", true},
		{"2024-05-01..2024-06-01", true},
		{"2024-06-02..*", false},
		{"*..2024-06-01T09:59:59Z", false},
		{"2024-06-01T09:00:00Z..2024-06-01T11:00:00Z", true},
	}
	for _, tt := range tests {
		if got := at(tt.expr); got != tt.want {
			t.Errorf("created=%s contains 2024-06-01T10:00Z: got %v, want %v", tt.expr, got, tt.want)
		}
	}
	if _, err := parseDateRange("yesterday"); err == nil {
		t.Errorf("parseDateRange(yesterday): got no error, want one")
	}
}

func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatalf("parsing %q: %v", s, err)
	}
	return v
}
