// Package tftest finds the real Terraform and OpenTofu binaries for medic's integration
// tests.
package tftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"

	"github.com/medic-ops/medic/deploy/terraform"
	"github.com/medic-ops/medic/internal/testenv"
)

// MinVersion is the oldest Terraform the tests run: 1.4 added terraform_data.
const MinVersion = terraform.MinVersion

// PinnedVersion is the Terraform release `make tools` (scripts/tools.sh) installs.
const PinnedVersion = "v1.5.7"

// PinnedTofuVersion is the OpenTofu release `make tofu-tool` (scripts/tofu.sh) builds.
const PinnedTofuVersion = "v1.12.6"

// CLI is a command-line tool the Terraform tests run against, once each, as subtests
// named after it:
//
//	for _, cli := range tftest.CLIs() {
//		t.Run(cli.Name, func(t *testing.T) { bin := cli.Binary(t); … })
//	}
type CLI struct {
	// Name is the tool's command and its subtests' name: "terraform" or "tofu".
	Name string
	// Product is what its `version` says it is.
	Product terraform.CLI
	// envVar names the binary explicitly; pinned is the release the tools cache holds.
	envVar, pinned, install string
	// required says whether a test must fail, not skip, when the CLI is missing.
	required func() bool
}

var (
	// Terraform is found as $MEDIC_TERRAFORM, terraform on PATH or `make tools`'s
	// build. A test without it fails under CI (testenv.CI): `make test` installs it.
	Terraform = CLI{Name: "terraform", Product: terraform.CLITerraform, envVar: "MEDIC_TERRAFORM", pinned: PinnedVersion,
		install:  "run `make tools` (scripts/tools.sh installs Terraform " + PinnedVersion + ") or set MEDIC_TERRAFORM",
		required: testenv.CI}
	// OpenTofu is found as $MEDIC_TOFU, tofu on PATH or `make tofu-tool`'s build. `make
	// test` does not build it (it takes longer than the rest of CI's tools): a test
	// without it skips, also under CI, unless MEDIC_REQUIRE_TOFU is true (`make
	// test-tofu` sets it after building OpenTofu).
	OpenTofu = CLI{Name: "tofu", Product: terraform.CLIOpenTofu, envVar: "MEDIC_TOFU", pinned: PinnedTofuVersion,
		install:  "run `make tofu-tool` (scripts/tofu.sh builds OpenTofu " + PinnedTofuVersion + ") or set MEDIC_TOFU",
		required: TofuRequired}
)

// CLIs are the CLIs the Terraform tests run against: Terraform, then OpenTofu.
func CLIs() []CLI { return []CLI{Terraform, OpenTofu} }

// TofuRequired reports whether the OpenTofu runs of the tests must run:
// MEDIC_REQUIRE_TOFU parses as true with strconv.ParseBool.
func TofuRequired() bool {
	v, _ := strconv.ParseBool(os.Getenv("MEDIC_REQUIRE_TOFU"))
	return v
}

// Binary returns the terraform binary the tests use: Terraform.Binary.
func Binary(tb TB) string {
	tb.Helper()
	return Terraform.Binary(tb)
}

// Binary returns the CLI's binary: its variable ($MEDIC_TERRAFORM, $MEDIC_TOFU) when
// set, else the command on PATH when it is the right CLI and recent enough, else the
// one the tools cache holds. When there is none it stops tb: it fails when the variable
// names a binary that is not the CLI or is too old, and when the CLI is required (under
// CI for Terraform, with MEDIC_REQUIRE_TOFU for OpenTofu); otherwise it skips, saying so
// on stderr.
//
// tb is a *testing.T or *testing.B; the package does not import testing itself, as
// `medic demo` (a production binary) uses Find.
func (c CLI) Binary(tb TB) string {
	tb.Helper()
	p, err := c.Find()
	if err == nil {
		return p
	}
	switch {
	case os.Getenv(c.envVar) != "":
		tb.Fatal(err)
	case c.required():
		tb.Fatal(err.Error() + " (" + c.requiredBy() + ")")
	default:
		fmt.Fprintf(os.Stderr, "--- SKIP: %s: %s\n", tb.Name(), err)
		tb.Skip(err.Error())
	}
	return ""
}

func (c CLI) requiredBy() string {
	if c.Product == terraform.CLIOpenTofu {
		return "MEDIC_REQUIRE_TOFU=" + os.Getenv("MEDIC_REQUIRE_TOFU") + ": the OpenTofu runs must run"
	}
	return "CI=" + os.Getenv("CI") + ": every test must run"
}

// TB is the part of testing.TB that Binary uses.
type TB = testenv.TB

// Find looks for Terraform the way Terraform.Binary does. `medic demo` uses it too.
func Find() (string, error) { return Terraform.Find() }

// Find looks for the CLI the way Binary does and says what it tried when it finds none.
func (c CLI) Find() (string, error) {
	if p := os.Getenv(c.envVar); p != "" {
		if err := c.check(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", c.envVar, p, err)
		}
		return p, nil
	}
	var tried []string
	var candidates []string
	if p, err := exec.LookPath(c.Name); err == nil {
		candidates = append(candidates, p)
	}
	if p := c.CachedPath(); p != "" {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		err := c.check(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			tried = append(tried, p+" ("+err.Error()+")")
		}
	}
	msg := "no " + string(c.Product) + " >= " + c.Product.MinVersion() + " found"
	if len(tried) > 0 {
		msg += " (tried " + strings.Join(tried, ", ") + ")"
	}
	return "", errors.New(msg + ": " + c.install)
}

// check runs p's `version` and accepts the CLI at MinVersion or later.
func (c CLI) check(p string) error {
	cli, v, err := Identify(p)
	if err != nil {
		return err
	}
	if cli != c.Product || !atLeast(v, c.Product.MinVersion()) {
		return fmt.Errorf("it is %s %s, want %s >= %s", cli, v, c.Product, c.Product.MinVersion())
	}
	return nil
}

// CachedPath is where `make tools` installs Terraform, or "" when no cache directory
// can be named.
func CachedPath() string { return Terraform.CachedPath() }

// CachedPath is where the tools cache holds the CLI
// (${XDG_CACHE_HOME:-$HOME/.cache}/medic-tools/<name>-<pinned>/<name>), or "" when no
// cache directory can be named.
func (c CLI) CachedPath() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "medic-tools", c.Name+"-"+c.pinned, c.Name)
}

// Identify runs `<path> version` and says which CLI it is and its version ("1.5.7").
func Identify(path string) (terraform.CLI, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "TF_CLI_CONFIG_FILE="+os.DevNull)
	out, err := cmd.Output()
	if err != nil {
		return "", "", err
	}
	cli, v, err := terraform.ParseVersionOutput(string(out))
	if err != nil {
		return "", "", err
	}
	return cli, v.Original(), nil
}

// Version runs `terraform version -json` and returns the version ("1.5.7"); OpenTofu's
// says it under the same key.
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
