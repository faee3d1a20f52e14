package mutation

import (
	"bytes"
	"strings"
	"testing"
)

const results = `{"go_module":"example","files":[{"file_name":"a.go","mutations":[
 {"type":"CONDITIONALS_BOUNDARY","status":"LIVED","line":4,"column":7},
 {"type":"CONDITIONALS_NEGATION","status":"KILLED","line":4,"column":7},
 {"type":"CONDITIONALS_BOUNDARY","status":"LIVED","line":11,"column":7},
 {"type":"CONDITIONALS_NEGATION","status":"TIMED OUT","line":11,"column":7},
 {"type":"ARITHMETIC_BASE","status":"NOT COVERED","line":12,"column":3},
 {"type":"INVERT_NEGATIVES","status":"NOT VIABLE","line":13,"column":3}]}]}`

func mustSummary(tb testing.TB, equivalents string) Summary {
	tb.Helper()
	res, err := ReadResult(strings.NewReader(results))
	if err != nil {
		tb.Fatal(err)
	}
	eqs, err := ReadEquivalents("equivalent.txt", strings.NewReader(equivalents))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := Summarize("testdata", "pkg", res, eqs)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestSummaryCountsAndFigures(t *testing.T) {
	s := mustSummary(t, "")
	if s.Killed != 1 || s.Lived != 2 || s.TimedOut != 1 || s.NotCovered != 1 || s.NotViable != 1 || s.Equiv != 0 {
		t.Fatalf("got %+v, want killed 1, lived 2, timed out 1, not covered 1, not viable 1", s)
	}
	// Covered: 1 killed + 2 lived + 1 timed out of 5 viable; killed: 2 of 4 ran.
	if got := s.Coverage(); got != 80 {
		t.Errorf("coverage: got %.2f, want 80", got)
	}
	if got := s.Efficacy(); got != 50 {
		t.Errorf("efficacy: got %.2f, want 50", got)
	}
	want := []string{"pkg/a.go:4:7 CONDITIONALS_BOUNDARY `if a < b {`", "pkg/a.go:11:7 CONDITIONALS_BOUNDARY `if x > 10 {`"}
	if strings.Join(s.Survivors, "\n") != strings.Join(want, "\n") {
		t.Errorf("survivors: got %q, want %q", s.Survivors, want)
	}
}

func TestEquivalentsAreSetAsideBySourceLine(t *testing.T) {
	s := mustSummary(t, `# comment

pkg/a.go | CONDITIONALS_BOUNDARY | if a < b { | equal a and b return the same value either way
pkg/a.go | CONDITIONALS_NEGATION | if a < b { | a killed mutant: not used
other/b.go | CONDITIONALS_BOUNDARY | if x > 10 { | another package's entry is not this one's
`)
	if s.Equiv != 1 || s.Lived != 1 {
		t.Fatalf("got equivalent %d, lived %d; want 1 and 1", s.Equiv, s.Lived)
	}
	// 1 killed + 1 lived + 1 timed out of 4 counted (the equivalent one set aside).
	if got := s.Coverage(); got != 75 {
		t.Errorf("coverage: got %.2f, want 75", got)
	}
	if got, want := s.Efficacy(), 200.0/3; got != want {
		t.Errorf("efficacy: got %.4f, want %.4f", got, want)
	}
	if len(s.Unused) != 1 || s.Unused[0].At != "equivalent.txt:4" {
		t.Errorf("unused entries: got %+v, want the one at equivalent.txt:4", s.Unused)
	}
	var out bytes.Buffer
	s.Report(&out)
	for _, want := range []string{"pkg: mutant coverage 75.0%, efficacy 66.7%", "lived: pkg/a.go:11:7", "equivalent.txt:4: no lived mutant matches"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestEquivalentsNeedEveryField(t *testing.T) {
	for _, line := range []string{
		"pkg/a.go | CONDITIONALS_BOUNDARY | if a < b {",
		"pkg/a.go | CONDITIONALS_BOUNDARY | if a < b { | ",
		" | CONDITIONALS_BOUNDARY | if a < b { | why",
	} {
		if _, err := ReadEquivalents("e.txt", strings.NewReader(line)); err == nil || !strings.Contains(err.Error(), "e.txt:1") {
			t.Errorf("%q: got %v, want an error naming e.txt:1", line, err)
		}
	}
}

func TestUnknownStatusIsAnError(t *testing.T) {
	res := Result{Files: []File{{FileName: "a.go", Mutations: []Mutation{{Type: "X", Status: "RUNNABLE", Line: 1}}}}}
	if _, err := Summarize("testdata", "pkg", res, nil); err == nil {
		t.Fatal("a dry run's RUNNABLE status was summed up as a result")
	}
}
