package tftest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recorder stands in for a test: it records Skip and Fatal instead of stopping.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Name() string              { return "TestRecorder" }
func (r *recorder) Skip(args ...any)          { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any)         { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...) }

// mustFake writes a terraform stand-in answering `version -json` with v into dir.
func mustFake(tb testing.TB, dir, v string) string {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, "terraform")
	script := "#!/bin/sh\necho '{\"terraform_version\":\"" + v + "\"}'\n"
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestBinary(t *testing.T) {
	tests := []struct {
		name string
		// explicit is MEDIC_TERRAFORM's version ("" unset); onPath and cached the
		// versions of the binaries on PATH and in the tools cache ("" none).
		explicit, onPath, cached string
		ci                       bool
		want                     string // "explicit", "path", "cache", "skip" or "fatal"
	}{
		{name: "MEDIC_TERRAFORM wins", explicit: "1.5.7", onPath: "1.5.7", cached: "1.5.7", want: "explicit"},
		{name: "MEDIC_TERRAFORM too old", explicit: "1.3.0", onPath: "1.5.7", want: "fatal"},
		{name: "PATH before cache", onPath: "1.11.4", cached: "1.5.7", want: "path"},
		{name: "old PATH, cache", onPath: "1.3.9", cached: "1.5.7", want: "cache"},
		{name: "nothing: skip", want: "skip"},
		{name: "nothing under CI: fail", ci: true, want: "fatal"},
		{name: "only old ones under CI: fail", onPath: "1.2.0", cached: "1.0.0", ci: true, want: "fatal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			paths := map[string]string{}
			t.Setenv("MEDIC_TERRAFORM", "")
			if tt.explicit != "" {
				paths["explicit"] = mustFake(t, filepath.Join(tmp, "explicit"), tt.explicit)
				t.Setenv("MEDIC_TERRAFORM", paths["explicit"])
			}
			binDir := filepath.Join(tmp, "bin")
			if err := os.MkdirAll(binDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.onPath != "" {
				paths["path"] = mustFake(t, binDir, tt.onPath)
			}
			// /bin for the stand-ins' shell and echo; no terraform there.
			t.Setenv("PATH", binDir+":/bin:/usr/bin")
			t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "cache"))
			if tt.cached != "" {
				paths["cache"] = mustFake(t, filepath.Dir(CachedPath()), tt.cached)
			}
			t.Setenv("CI", map[bool]string{true: "true"}[tt.ci])
			if _, err := os.Stat("/usr/bin/terraform"); err == nil {
				t.Skip("/usr/bin/terraform exists; this test needs a PATH without terraform")
			}

			rec := &recorder{}
			got := Binary(rec)
			outcome := ""
			switch {
			case rec.fatal != "":
				outcome = "fatal"
			case rec.skipped != "":
				outcome = "skip"
			default:
				for k, p := range paths {
					if p == got {
						outcome = k
					}
				}
			}
			if outcome != tt.want {
				t.Errorf("got %q (binary %q, skip %q, fatal %q), want %s", outcome, got, rec.skipped, rec.fatal, tt.want)
			}
		})
	}
}
