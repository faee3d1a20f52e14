package recovery

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPlanNoChanges(t *testing.T) {
	tests := []struct {
		plan TerraformPlan
		want bool
	}{
		{TerraformPlan{}, true},
		{TerraformPlan{Changes: []ResourceChange{{"data.aws_caller_identity.me", []string{"read"}}}}, true},
		{TerraformPlan{Add: 1}, false},
		{TerraformPlan{Change: 1}, false},
		{TerraformPlan{Destroy: 1}, false},
	}
	for _, tt := range tests {
		if got := tt.plan.NoChanges(); got != tt.want {
			t.Errorf("%+v: got NoChanges %v, want %v", tt.plan, got, tt.want)
		}
	}
}

// TestPlanAsPeopleReadIt: the plan a preview shows, one line per resource with
// Terraform's symbols, fifteen at most.
func TestPlanAsPeopleReadIt(t *testing.T) {
	var many []ResourceChange
	var manyLines []string
	for i := 1; i <= 17; i++ {
		many = append(many, ResourceChange{fmt.Sprintf("aws_s3_object.o%02d", i), []string{"create"}})
		if i <= 15 {
			manyLines = append(manyLines, fmt.Sprintf("+ aws_s3_object.o%02d", i))
		}
	}
	tests := []struct {
		name string
		plan TerraformPlan
		want string
	}{
		{"no changes", TerraformPlan{}, "No changes: the infrastructure already matches."},
		{"each kind of change", TerraformPlan{Add: 1, Change: 1, Destroy: 3, Changes: []ResourceChange{
			{"a.create", []string{"create"}}, {"a.update", []string{"update"}}, {"a.delete", []string{"delete"}},
			{"a.replace", []string{"delete", "create"}}, {"a.replace_first", []string{"create", "delete"}}, {"a.other", []string{"read"}}}},
			"Plan: 1 to add, 1 to change, 3 to destroy.\n+ a.create\n~ a.update\n- a.delete\n-/+ a.replace\n-/+ a.replace_first\nread a.other"},
		{"fifteen and a count", TerraformPlan{Add: 17, Changes: many},
			"Plan: 17 to add, 0 to change, 0 to destroy.\n" + strings.Join(manyLines, "\n") + "\n…and 2 more"},
		{"fifteen all shown", TerraformPlan{Add: 15, Changes: many[:15]},
			"Plan: 15 to add, 0 to change, 0 to destroy.\n" + strings.Join(manyLines, "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := planText(tt.plan); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestHowDiagnosticsWriteFigures: sizes, durations, counts and cut text as the alert
// shows them, at each unit's boundary.
func TestHowDiagnosticsWriteFigures(t *testing.T) {
	sizes := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {1<<20 - 1, "1024.0 KiB"}, {1 << 20, "1.0 MiB"}, {5 << 30, "5120.0 MiB"}}
	for _, s := range sizes {
		if got := sizeText(s.n); got != s.want {
			t.Errorf("sizeText(%d): got %q, want %q", s.n, got, s.want)
		}
	}
	durations := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {59 * time.Second, "59s"}, {time.Minute, "1m"}, {time.Hour - time.Second, "59m"},
		{time.Hour, "1h00m"}, {time.Hour + 5*time.Minute, "1h05m"}, {48*time.Hour - time.Minute, "47h59m"}, {48 * time.Hour, "2d"}, {71 * time.Hour, "2d"}, {72 * time.Hour, "3d"},
	}
	for _, d := range durations {
		if got := duration(d.d); got != d.want {
			t.Errorf("duration(%s): got %q, want %q", d.d, got, d.want)
		}
	}
	if got := age(dgNow, time.Time{}); got != "unknown" {
		t.Errorf("age of the zero time: got %q, want unknown", got)
	}
	if got := age(dgNow, dgNow.Add(-90*time.Second)); got != "1m ago" {
		t.Errorf("age of 90s: got %q, want 1m ago", got)
	}
	if got := age(dgNow, dgNow.Add(time.Minute)); got != "0s ago" {
		t.Errorf("age of a time ahead: got %q, want 0s ago", got)
	}
	for n, want := range map[int]string{0: "0 ERROR events", 1: "1 ERROR event", 2: "2 ERROR events"} {
		if got := plural(n, "ERROR event"); got != want {
			t.Errorf("plural(%d): got %q, want %q", n, got, want)
		}
	}
	cuts := []struct {
		s    string
		n    int
		want string
	}{{"héllo", 5, "héllo"}, {"héllo", 4, "hél…"}, {"", 3, ""}}
	for _, c := range cuts {
		if got := cutText(c.s, c.n); got != c.want {
			t.Errorf("cutText(%q, %d): got %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

func TestCapLines(t *testing.T) {
	lines := func(n int) []string {
		var l []string
		for i := 1; i <= n; i++ {
			l = append(l, fmt.Sprint(i))
		}
		return l
	}
	tests := []struct {
		in, want []string
	}{
		{nil, nil},
		{lines(10), lines(10)},
		{lines(11), append(lines(9), "…and 2 more")},
		{lines(25), append(lines(9), "…and 16 more")},
	}
	for _, tt := range tests {
		in := append([]string(nil), tt.in...)
		if got := capLines(in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("capLines of %d: got %q, want %q", len(tt.in), got, tt.want)
		}
	}
}

// TestOneLineOfAnError: a diagnostic's error in one line: the source's summary when it
// has one (never its raw text), else the first line, cut at 160 characters.
func TestOneLineOfAnError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{dgSummarized{"GitHub: 404 on GET run"}, "GitHub: 404 on GET run"},
		{fmt.Errorf("reading: %w", dgSummarized{"GitHub: 404 on GET run"}), "GitHub: 404 on GET run"},
		{errors.New("first\nsecond"), "first"},
		{errors.New(strings.Repeat("x", 160)), strings.Repeat("x", 160)},
		{errors.New(strings.Repeat("x", 161)), strings.Repeat("x", 160) + "…"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.err); got != tt.want {
			t.Errorf("oneLine(%q): got %q, want %q", tt.err, got, tt.want)
		}
	}
}

// A plan that adds one resource and destroys another changes something.
func TestTerraformPlanNoChanges(t *testing.T) {
	for _, tc := range []struct {
		p    TerraformPlan
		want bool
	}{
		{TerraformPlan{}, true},
		{TerraformPlan{Add: 1, Destroy: 1}, false},
		{TerraformPlan{Change: 1}, false},
		{TerraformPlan{Add: 2, Change: 1, Destroy: 3}, false},
	} {
		if got := tc.p.NoChanges(); got != tc.want {
			t.Errorf("%+v.NoChanges(): got %v, want %v", tc.p, got, tc.want)
		}
	}
}
