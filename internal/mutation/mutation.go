// Package mutation reads gremlins' machine-readable results (gremlins unleash -o) and
// sums them up per package the way `make mutation` reports them: mutant coverage and
// efficacy, after setting aside the mutants listed as equivalent (a mutant no test can
// kill because it does not change what medic does), each with its reason.
package mutation

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Result is gremlins' JSON output, the parts medic reads.
type Result struct {
	Module string `json:"go_module"`
	Files  []File `json:"files"`
}

// File is one source file's mutants; FileName is relative to the package gremlins ran on.
type File struct {
	FileName  string     `json:"file_name"`
	Mutations []Mutation `json:"mutations"`
}

// Mutation is one mutant.
type Mutation struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// Gremlins' mutant statuses.
const (
	Killed     = "KILLED"
	Lived      = "LIVED"
	NotCovered = "NOT COVERED"
	TimedOut   = "TIMED OUT"
	NotViable  = "NOT VIABLE"
)

// Equivalent is a mutant set aside: in File, a mutant of Type on the line whose
// trimmed text is Source, because of Why.
type Equivalent struct {
	File, Type, Source, Why string
	// At is where the entry was read ("equivalent.txt:12").
	At string
}

func (e Equivalent) key() string { return e.File + "\x00" + e.Type + "\x00" + e.Source }

// ReadEquivalents reads a file of equivalent mutants: one per line,
// `file | MUTATOR_TYPE | source line, trimmed | why`; blank lines and lines starting
// with # are skipped. Every field is required.
func ReadEquivalents(name string, r io.Reader) ([]Equivalent, error) {
	var out []Equivalent
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, " | ", 4)
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" || parts[3] == "" {
			return nil, fmt.Errorf("%s:%d: want `file | MUTATOR_TYPE | source line | why`, got %q", name, n, line)
		}
		out = append(out, Equivalent{File: parts[0], Type: parts[1], Source: parts[2], Why: parts[3], At: fmt.Sprintf("%s:%d", name, n)})
	}
	return out, sc.Err()
}

// Summary is one package's figures.
type Summary struct {
	Package                                               string
	Killed, Lived, TimedOut, NotCovered, NotViable, Equiv int
	// Survivors are the lived mutants no equivalent entry explains, as
	// "file:line:col TYPE `source`".
	Survivors []string
	// Unused are equivalent entries of this package that matched no lived mutant.
	Unused []Equivalent
}

// Coverage is the percent of mutants some test ran (killed, lived or timed out) over
// all viable mutants but the equivalent ones.
func (s Summary) Coverage() float64 {
	covered := s.Killed + s.Lived + s.TimedOut
	return percent(covered, covered+s.NotCovered)
}

// Efficacy is the percent of the mutants tests ran that a test killed (a timeout
// counts as killed: the mutant made the tests hang).
func (s Summary) Efficacy() float64 {
	return percent(s.Killed+s.TimedOut, s.Killed+s.TimedOut+s.Lived)
}

func percent(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// Summarize sums up r, a run on pkg ("recovery", relative to root, the module's
// directory), setting aside lived mutants that eqs explains. Source lines are read
// from root.
func Summarize(root, pkg string, r Result, eqs []Equivalent) (Summary, error) {
	s := Summary{Package: pkg}
	explained := map[string]*Equivalent{}
	used := map[string]bool{}
	for i := range eqs {
		if filepath.Dir(eqs[i].File) == filepath.Clean(pkg) {
			explained[eqs[i].key()] = &eqs[i]
		}
	}
	files := append([]File(nil), r.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].FileName < files[j].FileName })
	for _, f := range files {
		path := filepath.ToSlash(filepath.Join(pkg, f.FileName))
		var lines []string
		muts := append([]Mutation(nil), f.Mutations...)
		sort.Slice(muts, func(i, j int) bool {
			if muts[i].Line != muts[j].Line {
				return muts[i].Line < muts[j].Line
			}
			return muts[i].Column < muts[j].Column
		})
		for _, m := range muts {
			switch m.Status {
			case Killed:
				s.Killed++
			case TimedOut:
				s.TimedOut++
			case NotCovered:
				s.NotCovered++
			case NotViable:
				s.NotViable++
			case Lived:
				if lines == nil {
					b, err := os.ReadFile(filepath.Join(root, path))
					if err != nil {
						return s, fmt.Errorf("reading the source of a lived mutant: %w", err)
					}
					lines = strings.Split(string(b), "\n")
				}
				src := ""
				if m.Line >= 1 && m.Line <= len(lines) {
					src = strings.TrimSpace(lines[m.Line-1])
				}
				k := Equivalent{File: path, Type: m.Type, Source: src}.key()
				if explained[k] != nil {
					s.Equiv++
					used[k] = true
					continue
				}
				s.Lived++
				s.Survivors = append(s.Survivors, fmt.Sprintf("%s:%d:%d %s `%s`", path, m.Line, m.Column, m.Type, src))
			default:
				return s, fmt.Errorf("%s:%d:%d: unknown mutant status %q", path, m.Line, m.Column, m.Status)
			}
		}
	}
	for k, e := range explained {
		if !used[k] {
			s.Unused = append(s.Unused, *e)
		}
	}
	sort.Slice(s.Unused, func(i, j int) bool { return s.Unused[i].At < s.Unused[j].At })
	return s, nil
}

// Report writes s as `make mutation` prints it.
func (s Summary) Report(w io.Writer) {
	fmt.Fprintf(w, "%s: mutant coverage %.1f%%, efficacy %.1f%% (killed %d, timed out %d, lived %d, not covered %d, equivalent %d, not viable %d)\n",
		s.Package, s.Coverage(), s.Efficacy(), s.Killed, s.TimedOut, s.Lived, s.NotCovered, s.Equiv, s.NotViable)
	for _, l := range s.Survivors {
		fmt.Fprintf(w, "  lived: %s\n", l)
	}
	for _, e := range s.Unused {
		fmt.Fprintf(w, "  %s: no lived mutant matches this equivalent entry any more (%s %s `%s`): remove it\n", e.At, e.File, e.Type, e.Source)
	}
}

// ReadResult reads gremlins' JSON output.
func ReadResult(r io.Reader) (Result, error) {
	var res Result
	if err := json.NewDecoder(r).Decode(&res); err != nil {
		return res, fmt.Errorf("reading gremlins' results: %w", err)
	}
	return res, nil
}
