package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/medic-ops/medic/config"
)

// unprotectedConfig writes the example config with prod's protected: true turned off,
// so that no environment is protected, and returns its path.
func unprotectedConfig(t *testing.T) string {
	t.Helper()
	src := readFile(t, "../../medic.example.yaml")
	if strings.Count(src, "    protected: true\n") != 1 {
		t.Fatal("the example config no longer says protected: true once")
	}
	path := filepath.Join(t.TempDir(), "unprotected.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(src, "    protected: true\n", "    protected: false\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigCheckPrintsWarnings(t *testing.T) {
	tokens := map[string]string{"SLACK_APP_TOKEN": "xapp-1-A1-tok", "SLACK_BOT_TOKEN": "xoxb-1-tok"}
	path := unprotectedConfig(t)
	const want = "warning: environments: no environment is protected"
	for _, args := range [][]string{{"--config", path}, {"--no-env", "--config", path}} {
		code, out, errOut := runMedic(t, tokens, append([]string{"config", "check"}, args...)...)
		if code != 0 || !strings.Contains(out, "OK (3 environments: [dev preprod prod])") {
			t.Errorf("%v: got exit %d and %q, want 0 and OK: a warning does not fail the check", args, code, out)
		}
		if !strings.Contains(errOut, path+": "+want) || !strings.Contains(errOut, "(fix: set protected: true on the production environment") {
			t.Errorf("%v: want %q and its fix in %q", args, want, errOut)
		}
		if n := strings.Count(errOut, "warning:"); n != 1 {
			t.Errorf("%v: got %d warnings in %q, want 1", args, n, errOut)
		}
	}
	// A warning shows beside the environment's problems, which still fail the check.
	code, out, errOut := runMedic(t, nil, "config", "check", "--config", path)
	if code != 1 || out != "" || !strings.Contains(errOut, want) || !strings.Contains(errOut, "SLACK_APP_TOKEN: is not set") {
		t.Errorf("no tokens: got %d %q %q, want 1, the warning and the problems", code, out, errOut)
	}

	// The example config protects prod: nothing to warn about.
	code, _, errOut = runMedic(t, tokens, "config", "check", "--config", "../../medic.example.yaml")
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Errorf("example config: got exit %d and %q on stderr, want 0 and no warning", code, errOut)
	}
}

func TestServeLogsConfigWarnings(t *testing.T) {
	for name, tt := range map[string]struct {
		path string
		want int
	}{
		"unprotected": {unprotectedConfig(t), 1},
		"example":     {"../../medic.example.yaml", 0},
	} {
		cfg, err := config.Load(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zapcore.DebugLevel)
		logWarnings(zap.New(core), cfg)
		if got := logs.Len(); got != tt.want {
			t.Errorf("%s: got %d log lines %v, want %d", name, got, logs.All(), tt.want)
		}
		for _, e := range logs.All() {
			f := e.ContextMap()
			if e.Level != zapcore.WarnLevel || e.Message != "config warning" || f["key"] != "environments" ||
				!strings.Contains(fmt.Sprint(f["problem"]), "no environment is protected") || !strings.Contains(fmt.Sprint(f["fix"]), "protected: true") {
				t.Errorf("%s: got %s %q %v, want a warning naming the key, the problem and its fix", name, e.Level, e.Message, f)
			}
		}
	}
}
