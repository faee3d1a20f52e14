// Package terraform runs an environment's Terraform configuration for medic's recovery
// actions (rollback to a SHA with `terraform apply -var model_version=SHA`, plan,
// force-unlock, destroy) through hashicorp/terraform-exec and the terraform binary.
//
// Each job gets its own Workspace: the repository's sources at the job's commit,
// downloaded as GitHub's tarball, unpacked into a fresh private directory and
// initialized against the environment's backend. Nothing reaches a shell: SHAs, lock IDs,
// paths and variable names are checked against strict patterns and passed to Terraform
// as separate arguments.
package terraform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"
	"github.com/hashicorp/terraform-exec/tfexec"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
)

// MinVersion is the oldest Terraform medic runs: 1.4 added the built-in terraform_data
// resource the sandbox's configuration uses.
const MinVersion = "1.4.0"

// DefaultLockTimeout is the -lock-timeout used when an environment sets none (the
// runbook waits 10 minutes for a state lock).
const DefaultLockTimeout = 10 * time.Minute

// Options configure a Runner.
type Options struct {
	// ExecPath is the terraform binary (required); it must be Terraform >= MinVersion.
	ExecPath string
	// WorkRoot is the parent of the per-job work directories; default
	// os.TempDir()/medic-terraform.
	WorkRoot string
	// Archives downloads the repository's sources at a commit (required).
	Archives recovery.ArchiveFetcher
	// Logger receives one line per Terraform command; default zap.NewNop().
	Logger *zap.Logger
	// Env is extra KEY=VALUE environment for terraform (AWS settings …). Variables
	// Terraform-exec manages (TF_VAR_*, TF_CLI_ARGS*, TF_LOG*, TF_INPUT,
	// TF_IN_AUTOMATION, TF_WORKSPACE …) are refused: pass variables with var files.
	Env []string
	// MaxArchiveBytes and MaxArchiveFiles cap what an archive may unpack to; defaults
	// DefaultMaxArchiveBytes and DefaultMaxArchiveFiles.
	MaxArchiveBytes int64
	MaxArchiveFiles int
}

// Runner prepares Terraform workspaces. It implements recovery.Terraform and is safe for
// concurrent use.
type Runner struct {
	execPath string
	workRoot string
	archives recovery.ArchiveFetcher
	log      *zap.Logger
	env      map[string]string
	limits   limits
	version  string
}

var _ recovery.Terraform = (*Runner)(nil)

// New checks the terraform binary (it must exist and be >= MinVersion) and returns a
// Runner. The version check runs `terraform version` once, bounded by 30 seconds.
func New(o Options) (*Runner, error) {
	if o.ExecPath == "" {
		return nil, errors.New("terraform: no terraform binary given: install Terraform >= " + MinVersion + " (`make tools` builds v1.5.7)")
	}
	if o.Archives == nil {
		return nil, errors.New("terraform: no archive fetcher given")
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.WorkRoot == "" {
		o.WorkRoot = filepath.Join(os.TempDir(), "medic-terraform")
	}
	if o.MaxArchiveBytes <= 0 {
		o.MaxArchiveBytes = DefaultMaxArchiveBytes
	}
	if o.MaxArchiveFiles <= 0 {
		o.MaxArchiveFiles = DefaultMaxArchiveFiles
	}
	execPath, err := filepath.Abs(o.ExecPath)
	if err != nil {
		return nil, fmt.Errorf("terraform: resolving %s: %w", o.ExecPath, err)
	}
	fi, err := os.Stat(execPath)
	switch {
	case err != nil:
		return nil, fmt.Errorf("terraform: %w: install Terraform >= %s (`make tools` builds v1.5.7) and set its path", err, MinVersion)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return nil, fmt.Errorf("terraform: %s is not an executable file", execPath)
	}
	env, err := parseEnv(o.Env)
	if err != nil {
		return nil, err
	}
	workRoot, err := filepath.Abs(o.WorkRoot)
	if err != nil {
		return nil, fmt.Errorf("terraform: resolving the work root %s: %w", o.WorkRoot, err)
	}
	if err := os.MkdirAll(workRoot, 0o700); err != nil {
		return nil, fmt.Errorf("terraform: creating the work root: %w", err)
	}
	r := &Runner{
		execPath: execPath, workRoot: workRoot, archives: o.Archives,
		log: o.Logger.Named("terraform"), env: env,
		limits: limits{maxBytes: o.MaxArchiveBytes, maxFiles: o.MaxArchiveFiles},
	}
	v, err := r.checkVersion()
	if err != nil {
		return nil, err
	}
	r.version = v
	return r, nil
}

// Version is the terraform binary's version ("1.5.7").
func (r *Runner) Version() string { return r.version }

// checkVersion runs `terraform version` in a scratch directory and refuses versions
// older than MinVersion.
func (r *Runner) checkVersion() (string, error) {
	dir, err := os.MkdirTemp(r.workRoot, "version-")
	if err != nil {
		return "", fmt.Errorf("terraform: creating a scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	rc, err := writeCLIConfig(dir)
	if err != nil {
		return "", err
	}
	tf, err := r.newTerraform(dir, rc, nil)
	if err != nil {
		return "", err
	}
	// New has no caller context; `terraform version` answers in well under a second.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, _, err := tf.Version(ctx, true)
	if err != nil {
		return "", fmt.Errorf("terraform: running %s version: %w", r.execPath, err)
	}
	if got.LessThan(version.Must(version.NewVersion(MinVersion))) {
		return "", fmt.Errorf("terraform: %s is Terraform %s; medic needs >= %s (`make tools` builds v1.5.7)", r.execPath, got, MinVersion)
	}
	return got.String(), nil
}

// writeCLIConfig writes the empty CLI configuration TF_CLI_CONFIG_FILE points at (a
// missing file makes every command warn) into scratch and returns its path.
func writeCLIConfig(scratch string) (string, error) {
	rc := filepath.Join(scratch, "terraformrc")
	if err := os.WriteFile(rc, nil, 0o600); err != nil {
		return "", fmt.Errorf("terraform: writing the CLI config: %w", err)
	}
	return rc, nil
}

// newTerraform returns a terraform-exec handle on workDir whose environment is PATH and
// HOME, CHECKPOINT_DISABLE=1 (no version check over the network), TF_CLI_CONFIG_FILE=rc
// and Options.Env; stderr also goes to stderr when not nil. A handle serves one command:
// its stderr writer is per handle, so commands may run concurrently.
func (r *Runner) newTerraform(workDir, rc string, stderr io.Writer) (*tfexec.Terraform, error) {
	tf, err := tfexec.NewTerraform(workDir, r.execPath)
	if err != nil {
		return nil, fmt.Errorf("terraform: %w", err)
	}
	env := map[string]string{}
	for _, k := range []string{"PATH", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range r.env {
		env[k] = v
	}
	env["CHECKPOINT_DISABLE"] = "1"
	env["TF_CLI_CONFIG_FILE"] = rc
	if err := tf.SetEnv(env); err != nil {
		return nil, fmt.Errorf("terraform: setting the environment: %w", err)
	}
	if stderr != nil {
		tf.SetStderr(stderr)
	}
	return tf, nil
}

// envKey is what an environment variable's name may be.
var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseEnv reads Options.Env, refusing what terraform-exec manages itself and what
// medic sets.
func parseEnv(list []string) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envKey.MatchString(k) {
			return nil, fmt.Errorf("terraform: environment entry %q is not KEY=VALUE", k)
		}
		switch k {
		case "CHECKPOINT_DISABLE", "TF_CLI_CONFIG_FILE", "TF_DATA_DIR":
			return nil, fmt.Errorf("terraform: environment variable %s is set by medic", k)
		}
		env[k] = v
	}
	if bad := tfexec.ProhibitedEnv(env); len(bad) > 0 {
		slices.Sort(bad)
		return nil, fmt.Errorf("terraform: environment variables %s are managed by terraform-exec (pass variables in var files)", strings.Join(bad, ", "))
	}
	return env, nil
}
