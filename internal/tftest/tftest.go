// Package tftest finds the real terraform binary for medic's integration tests.
package tftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"

	"github.com/medic-ops/medic/internal/testenv"
)

// MinVersion is the oldest Terraform the tests run: 1.4 added terraform_data.
const MinVersion = "1.4.0"

// PinnedVersion is the release `make tools` (scripts/tools.sh) installs.
const PinnedVersion = "v1.5.7"

// Binary returns the terraform binary the tests use: $MEDIC_TERRAFORM when set, else
// `terraform` on PATH when it is >= MinVersion, else the one `make tools` installs at
// ${XDG_CACHE_HOME:-$HOME/.cache}/medic-tools/terraform-v1.5.7/terraform. When there is
// none it skips the test (saying so on stderr), except under CI (testenv.CI), where a
// test that needs a real part fails instead.
//
// tb is a *testing.T or *testing.B; the package does not import testing itself, as
// `medic demo` (a production binary) uses Find.
func Binary(tb TB) string {
	tb.Helper()
	p, err := Find()
	if err == nil {
		return p
	}
	if os.Getenv("MEDIC_TERRAFORM") != "" {
		tb.Fatal(err)
	} else {
		testenv.Missing(tb, err.Error())
	}
	return ""
}

// TB is the part of testing.TB that Binary uses.
type TB = testenv.TB

// Find looks for a Terraform >= MinVersion the way Binary does ($MEDIC_TERRAFORM, then
// terraform on PATH, then the `make tools` cache) and says what it tried when it finds
// none. `medic demo` uses it too.
func Find() (string, error) {
	if p := os.Getenv("MEDIC_TERRAFORM"); p != "" {
		v, err := Version(p)
		if err != nil {
			return "", fmt.Errorf("MEDIC_TERRAFORM=%s: %w", p, err)
		}
		if !atLeast(v, MinVersion) {
			return "", fmt.Errorf("MEDIC_TERRAFORM=%s is Terraform %s, want >= %s", p, v, MinVersion)
		}
		return p, nil
	}
	var tried []string
	if p, err := exec.LookPath("terraform"); err == nil {
		v, err := Version(p)
		if err == nil && atLeast(v, MinVersion) {
			return p, nil
		}
		tried = append(tried, p+" ("+describe(v, err)+")")
	}
	if p := CachedPath(); p != "" {
		v, err := Version(p)
		if err == nil && atLeast(v, MinVersion) {
			return p, nil
		}
		tried = append(tried, p+" ("+describe(v, err)+")")
	}
	msg := "no Terraform >= " + MinVersion + " found"
	if len(tried) > 0 {
		msg += " (tried " + strings.Join(tried, ", ") + ")"
	}
	return "", errors.New(msg + ": run `make tools` (scripts/tools.sh installs Terraform " + PinnedVersion + ") or set MEDIC_TERRAFORM")
}

// CachedPath is where `make tools` installs Terraform, or "" when no cache directory
// can be named.
func CachedPath() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "medic-tools", "terraform-"+PinnedVersion, "terraform")
}

// Version runs `terraform version -json` and returns the version ("1.5.7").
func Version(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "version", "-json")
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_CLI_CONFIG_FILE="+os.DevNull)
	out, err := cmd.Output()
	if err != nil {
		return "", err
	}
	var v struct {
		TerraformVersion string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", err
	}
	return v.TerraformVersion, nil
}

func atLeast(v, min string) bool {
	got, err := version.NewVersion(v)
	if err != nil {
		return false
	}
	return !got.LessThan(version.Must(version.NewVersion(min)))
}

func describe(v string, err error) string {
	if err != nil {
		return err.Error()
	}
	return "Terraform " + v
}
