package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunbookCommand prints the default configuration's runbook: the golden file
// internal/runbookdoc pins (go test ./internal/runbookdoc -update rewrites it).
func TestRunbookCommand(t *testing.T) {
	code, out, errOut := runMedic(t, nil, "runbook", "--config", "../../medic.example.yaml")
	if code != 0 || errOut != "" {
		t.Fatalf("got %d %q", code, errOut)
	}
	if want := readFile(t, "../../internal/runbookdoc/testdata/runbook.golden.md"); out != want {
		t.Errorf("medic runbook printed:\n%s\nwant internal/runbookdoc/testdata/runbook.golden.md", out)
	}
}

func TestRunbookConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listen: \":8080\"\nno_such_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing", []string{"--config", filepath.Join(dir, "absent.yaml")}, []string{filepath.Join(dir, "absent.yaml") + ": reading config", "no such file"}},
		{"invalid", []string{"--config", bad}, []string{bad + ": ", "no_such_key"}},
		{"argument", []string{"prod"}, []string{`unexpected argument "prod"`}},
		{"flag", []string{"--conf", "x"}, []string{"flag provided but not defined"}},
	} {
		code, out, errOut := runMedic(t, nil, append([]string{"runbook"}, tt.args...)...)
		if code != 2 || out != "" {
			t.Errorf("%s: got exit %d and %q, want 2 and nothing printed", tt.name, code, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr %q lacks %q", tt.name, errOut, w)
			}
		}
	}
}

// TestRunbookDefaultConfig: without --config, medic.yaml in the working directory, as
// serve and config check read it.
func TestRunbookDefaultConfig(t *testing.T) {
	example := readFile(t, "../../medic.example.yaml")
	t.Chdir(t.TempDir())
	code, _, errOut := runMedic(t, nil, "runbook")
	if code != 2 || !strings.HasPrefix(errOut, "medic.yaml: reading config") {
		t.Errorf("without medic.yaml: got %d %q, want 2 naming medic.yaml", code, errOut)
	}
	if err := os.WriteFile("medic.yaml", []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMedic(t, nil, "runbook")
	if code != 0 || !strings.HasPrefix(out, "# Failure recovery runbook\n") {
		t.Errorf("with medic.yaml: got %d %q %q", code, errOut, out[:min(len(out), 80)])
	}
}

func TestRunbookInUsage(t *testing.T) {
	_, out, _ := runMedic(t, nil, "help")
	if !strings.Contains(out, "medic runbook  [--config FILE]") {
		t.Errorf("usage lacks medic runbook: %q", out)
	}
}
