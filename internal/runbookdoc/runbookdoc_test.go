package runbookdoc

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medic-ops/medic/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// exampleConfig is the documented default configuration, as a clean clone has it.
const exampleConfig = "../../medic.example.yaml"

// mustGenerate returns the runbook of the config text src.
func mustGenerate(tb testing.TB, src string) string {
	tb.Helper()
	cfg, err := config.Parse(strings.NewReader(src))
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	doc, err := Generate(cfg)
	if err != nil {
		tb.Fatalf("Generate: %v", err)
	}
	return doc
}

func mustRead(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestRunbookGolden pins the runbook of the default configuration: what people read.
func TestRunbookGolden(t *testing.T) {
	cfg, err := config.Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "runbook.golden.md")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./internal/runbookdoc -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s changed; got:\n%s\n(run go test ./internal/runbookdoc -update if the change is intended)", path, got)
	}
	if again, _ := Generate(cfg); again != got {
		t.Error("two runs of the same config differ")
	}
}

// section returns the text under heading, up to the next heading of its level or higher.
func section(tb testing.TB, doc, heading string) string {
	tb.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		tb.Fatalf("no section %q", heading)
	}
	level := len(strings.Fields(heading)[0])
	rest := doc[i+1+len(heading):]
	for off := 0; ; {
		j := strings.Index(rest[off:], "\n#")
		if j < 0 {
			return rest
		}
		line := rest[off+j+1:]
		if hashes := len(line) - len(strings.TrimLeft(line, "#")); hashes <= level && strings.HasPrefix(line[hashes:], " ") {
			return rest[:off+j]
		}
		off += j + 1
	}
}

// tableRows returns the body rows of the first table in s, as cells.
func tableRows(s string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "| ") {
			if len(rows) > 0 {
				break // the first table ended
			}
			continue
		}
		if strings.HasPrefix(line, "| ---") {
			continue
		}
		rows = append(rows, splitRow(line))
	}
	if len(rows) == 0 {
		return nil
	}
	return rows[1:]
}

// splitRow splits a table row at its unescaped pipes.
func splitRow(line string) []string {
	var cells []string
	cur, escaped := "", false
	for _, r := range strings.TrimSpace(line) {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == '|':
			cells = append(cells, strings.TrimSpace(cur))
			cur = ""
			continue
		}
		cur += string(r)
	}
	return cells[1:]
}
