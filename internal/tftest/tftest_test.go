package tftest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// mustFake writes a stand-in named name into dir: `version` prints banner ("Terraform
// v1.5.7", "OpenTofu v1.12.6") and `version -json` its version, as both CLIs do.
func mustFake(tb testing.TB, dir, name, banner string) string {
	tb.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, name)
	_, v, _ := strings.Cut(banner, " v")
	script := "#!/bin/sh\nif [ \"$2\" = -json ]; then echo '{\"terraform_version\":\"" + v + "\"}'; else echo '" + banner + "'; echo 'on linux_amd64'; fi\n"
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestBinary(t *testing.T) {
	const tf, tofu = "Terraform v", "OpenTofu v"
	tests := []struct {
		name string
		cli  CLI
		// explicit is the banner of the binary its variable names ("" unset); onPath
		// and cached the banners of the binaries on PATH and in the tools cache.
		explicit, onPath, cached string
		ci, requireTofu          bool
		want                     string // "explicit", "path", "cache", "skip" or "fatal"
	}{
		{name: "MEDIC_TERRAFORM wins", cli: Terraform, explicit: tf + "1.5.7", onPath: tf + "1.5.7", cached: tf + "1.5.7", want: "explicit"},
		{name: "MEDIC_TERRAFORM too old", cli: Terraform, explicit: tf + "1.3.0", onPath: tf + "1.5.7", want: "fatal"},
		{name: "MEDIC_TERRAFORM is OpenTofu", cli: Terraform, explicit: tofu + "1.12.6", onPath: tf + "1.5.7", want: "fatal"},
		{name: "PATH before cache", cli: Terraform, onPath: tf + "1.11.4", cached: tf + "1.5.7", want: "path"},
		{name: "old PATH, cache", cli: Terraform, onPath: tf + "1.3.9", cached: tf + "1.5.7", want: "cache"},
		{name: "terraform on PATH is OpenTofu", cli: Terraform, onPath: tofu + "1.12.6", cached: tf + "1.5.7", want: "cache"},
		{name: "nothing: skip", cli: Terraform, want: "skip"},
		{name: "nothing under CI: fail", cli: Terraform, ci: true, want: "fatal"},
		{name: "only old ones under CI: fail", cli: Terraform, onPath: tf + "1.2.0", cached: tf + "1.0.0", ci: true, want: "fatal"},
		{name: "no Terraform, MEDIC_REQUIRE_TOFU: skip", cli: Terraform, requireTofu: true, want: "skip"},

		{name: "MEDIC_TOFU wins", cli: OpenTofu, explicit: tofu + "1.10.6", onPath: tofu + "1.12.6", cached: tofu + "1.12.6", want: "explicit"},
		{name: "MEDIC_TOFU is Terraform", cli: OpenTofu, explicit: tf + "1.5.7", cached: tofu + "1.12.6", want: "fatal"},
		{name: "MEDIC_TOFU too old", cli: OpenTofu, explicit: tofu + "1.5.0", cached: tofu + "1.12.6", want: "fatal"},
		{name: "tofu on PATH", cli: OpenTofu, onPath: tofu + "1.6.0", cached: tofu + "1.12.6", want: "path"},
		{name: "tofu on PATH too old", cli: OpenTofu, onPath: tofu + "1.5.9", cached: tofu + "1.12.6", want: "cache"},
		{name: "no tofu: skip", cli: OpenTofu, want: "skip"},
		{name: "no tofu under CI: skip (make test does not build it)", cli: OpenTofu, ci: true, want: "skip"},
		{name: "no tofu, MEDIC_REQUIRE_TOFU: fail", cli: OpenTofu, requireTofu: true, want: "fatal"},
		{name: "old tofu, MEDIC_REQUIRE_TOFU: fail", cli: OpenTofu, onPath: tofu + "1.5.0", requireTofu: true, want: "fatal"},
		{name: "tofu cached under CI", cli: OpenTofu, cached: tofu + "1.12.6", ci: true, want: "cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			paths := map[string]string{}
			t.Setenv("MEDIC_TERRAFORM", "")
			t.Setenv("MEDIC_TOFU", "")
			if tt.explicit != "" {
				paths["explicit"] = mustFake(t, filepath.Join(tmp, "explicit"), tt.cli.Name, tt.explicit)
				t.Setenv(tt.cli.envVar, paths["explicit"])
			}
			binDir := filepath.Join(tmp, "bin")
			if err := os.MkdirAll(binDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.onPath != "" {
				paths["path"] = mustFake(t, binDir, tt.cli.Name, tt.onPath)
			}
			// /bin for the stand-ins' shell and echo; no terraform or tofu there.
			t.Setenv("PATH", binDir+":/bin:/usr/bin")
			t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "cache"))
			if tt.cached != "" {
				paths["cache"] = mustFake(t, filepath.Dir(tt.cli.CachedPath()), tt.cli.Name, tt.cached)
			}
			t.Setenv("CI", map[bool]string{true: "true"}[tt.ci])
			t.Setenv("MEDIC_REQUIRE_TOFU", map[bool]string{true: "1"}[tt.requireTofu])
			for _, sys := range []string{"/usr/bin/", "/bin/"} {
				if _, err := os.Stat(sys + tt.cli.Name); err == nil {
					t.Skipf("%s%s exists; this test needs a PATH without it", sys, tt.cli.Name)
				}
			}

			rec := &recorder{}
			got := tt.cli.Binary(rec)
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

func TestCachedPaths(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	for _, tt := range []struct {
		cli  CLI
		want string
	}{
		{Terraform, "/cache/medic-tools/terraform-v1.5.7/terraform"},
		{OpenTofu, "/cache/medic-tools/tofu-v1.12.6/tofu"},
	} {
		if got := tt.cli.CachedPath(); got != tt.want {
			t.Errorf("%s: got %s, want %s (where scripts/tools.sh and scripts/tofu.sh install it)", tt.cli.Name, got, tt.want)
		}
	}
}
