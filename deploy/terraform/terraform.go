// Package terraform runs an environment's Terraform configuration for medic's recovery
// actions (rollback to a SHA with `terraform apply -var model_version=SHA`, plan,
// force-unlock, destroy) through hashicorp/terraform-exec and the terraform binary, or
// OpenTofu's tofu (see CLI).
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
	"net/url"
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

// DefaultLockTimeout is the -lock-timeout used when an environment sets none (the
// runbook waits 10 minutes for a state lock).
const DefaultLockTimeout = 10 * time.Minute

// Options configure a Runner.
type Options struct {
	// ExecPath is the terraform binary (required): Terraform >= MinVersion or OpenTofu
	// >= MinOpenTofuVersion (`tofu`).
	ExecPath string
	// WorkRoot is the parent of the per-job work directories; default
	// os.TempDir()/medic-terraform.
	WorkRoot string
	// Archives downloads the repository's sources at a commit (required).
	Archives recovery.ArchiveFetcher
	// Logger receives one line per Terraform command; default zap.NewNop().
	Logger *zap.Logger
	// Env is extra KEY=VALUE environment for terraform (the sandbox's settings).
	// Variables Terraform-exec manages (TF_VAR_*, TF_CLI_ARGS*, TF_LOG*, TF_INPUT,
	// TF_IN_AUTOMATION, TF_WORKSPACE …), those medic sets (HOME, TMPDIR,
	// TF_CLI_CONFIG_FILE, TF_DATA_DIR …) and AWS credentials (they come from
	// Credentials) are refused.
	Env []string
	// Credentials returns an environment's AWS identity for Terraform as AWS_*
	// variables (access key, secret, session token, region), valid for at least
	// minValid. It is called before every Terraform command, so credentials are fresh
	// for each. nil gives Terraform no AWS credentials at all.
	Credentials func(ctx context.Context, env recovery.Environment, minValid time.Duration) ([]string, error)
	// ProviderMirror is a provider network mirror (an https URL) and PluginDirs are
	// directories of providers (filesystem mirrors): the only places Terraform installs
	// providers from. With neither, providers come from their origin registries. Never
	// from the sources: the CLI configuration medic writes names these explicitly, so
	// the implicit local directories (terraform.d/plugins) do not apply.
	ProviderMirror string
	PluginDirs     []string
	// Shim is an executable that runs terraform confined (medic's own binary, which
	// calls ShimMain first): no_new_privs, a Landlock domain limited to the system's
	// read-only directories and the command's workspace, and RunAs. Empty runs terraform
	// directly, with the environment limits only.
	Shim string
	// RunAs is the user Terraform runs as (through the shim; medic must run as root to
	// switch). nil keeps medic's own.
	RunAs *Identity
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
	creds    func(ctx context.Context, env recovery.Environment, minValid time.Duration) ([]string, error)
	cliConf  string
	roDirs   []string
	shim     string
	runAs    *Identity
	limits   limits
	cli      CLI
	version  string
}

var _ recovery.Terraform = (*Runner)(nil)

// New checks the terraform binary (it must exist and be Terraform >= MinVersion or
// OpenTofu >= MinOpenTofuVersion), logs which it found and returns a Runner. The check
// runs `terraform version` and `terraform version -json`, each bounded by 30 seconds.
func New(o Options) (*Runner, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	execPath, err := checkExecPath(o.ExecPath)
	if err != nil {
		return nil, err
	}
	env, err := parseEnv(o.Env)
	if err != nil {
		return nil, err
	}
	workRoot, err := prepareWorkRoot(o.WorkRoot, o.RunAs, o.Logger)
	if err != nil {
		return nil, err
	}
	shim := ""
	if o.Shim != "" {
		if shim, err = linkShim(o.Shim, workRoot); err != nil {
			return nil, err
		}
	}
	var roDirs []string
	for _, d := range o.PluginDirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("terraform: resolving the plugin directory %s: %w", d, err)
		}
		roDirs = append(roDirs, abs)
	}
	cliConf, err := cliConfig(o.ProviderMirror, roDirs)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		execPath: execPath, workRoot: workRoot, archives: o.Archives,
		log: o.Logger.Named("terraform"), env: env, creds: o.Credentials, cliConf: cliConf, roDirs: roDirs,
		shim: shim, runAs: o.RunAs,
		limits: limits{maxBytes: o.MaxArchiveBytes, maxFiles: o.MaxArchiveFiles},
	}
	cli, v, err := r.checkVersion()
	if err != nil {
		return nil, err
	}
	r.cli, r.version = cli, v
	r.log.Info("terraform cli checked", zap.String("cli", string(cli)), zap.String("version", v), zap.String("path", execPath))
	return r, nil
}

// withDefaults refuses Options missing what New needs and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.ExecPath == "" {
		return o, errors.New("terraform: no terraform binary given: install " + Supported + " (`make tools` builds Terraform v1.5.7)")
	}
	if o.Archives == nil {
		return o, errors.New("terraform: no archive fetcher given")
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
	if o.RunAs != nil && o.Shim == "" {
		return o, errors.New("terraform: running as another user needs the shim (Options.Shim)")
	}
	return o, nil
}

// checkExecPath returns the terraform binary's absolute path, once it is known to be an
// executable file.
func checkExecPath(p string) (string, error) {
	execPath, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("terraform: resolving %s: %w", p, err)
	}
	fi, err := os.Stat(execPath)
	switch {
	case err != nil:
		return "", fmt.Errorf("terraform: %w: install %s (`make tools` builds Terraform v1.5.7) and set its path", err, Supported)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("terraform: %s is not an executable file", execPath)
	}
	return execPath, nil
}

// prepareWorkRoot creates the work root (or checks the one there is medic's own), sets
// its mode, sweeps what earlier runs left in it and returns its absolute path. With
// runAs, the root must be reachable by that user.
func prepareWorkRoot(dir string, runAs *Identity, log *zap.Logger) (string, error) {
	workRoot, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("terraform: resolving the work root %s: %w", dir, err)
	}
	// Traversable (not listable) by Terraform's user when it is another one.
	mode := os.FileMode(0o700)
	if runAs != nil {
		mode = 0o711
	}
	if err := os.MkdirAll(workRoot, mode); err != nil {
		return "", fmt.Errorf("terraform: creating the work root: %w", err)
	}
	if err := ownedHere(workRoot); err != nil {
		return "", fmt.Errorf("terraform: the work root %s: %w (config: terraform.work_dir)", workRoot, err)
	}
	if err := os.Chmod(workRoot, mode); err != nil {
		return "", fmt.Errorf("terraform: setting the work root's mode: %w", err)
	}
	sweep(workRoot, log)
	if runAs != nil {
		if err := reachable(workRoot); err != nil {
			return "", fmt.Errorf("terraform: the work root must be reachable by user %s, who runs Terraform: %w (config: terraform.work_dir)", runAs.Name, err)
		}
	}
	return workRoot, nil
}

// ownedHere refuses a work root that is not a directory of medic's own, or that others
// may write in: another local user who made it first could read or swap the plans and
// sources of every job.
func ownedHere(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errors.New("it is not a directory (a link?)")
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("it belongs to user %d, not to medic (user %d)", uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("others may write in it (mode %s)", fi.Mode().Perm())
	}
	return nil
}

// sweepAfter is how old a workspace without a lock must be before it is swept: one
// being made holds its lock within moments.
const sweepAfter = 10 * time.Minute

// sweep removes the workspaces left behind by jobs and previews no process runs any more
// (their process died: its lock is free), with their sources and plans.
func sweep(root string, log *zap.Logger) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		var lock *os.File
		if _, err := os.Lstat(dir + "/.lock"); err == nil {
			if lock, err = lockDir(dir); err != nil {
				continue // held: a live process uses it
			}
		} else if info, err := e.Info(); err != nil || time.Since(info.ModTime()) < sweepAfter {
			continue // being made, its lock not taken yet
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("sweeping a left-over terraform workspace", zap.String("dir", dir), zap.Error(err))
		} else {
			log.Info("swept a left-over terraform workspace", zap.String("dir", dir))
		}
		if lock != nil {
			lock.Close()
		}
	}
}

// linkShim makes the link a Runner starts its shim by (shimName, in the work root) and
// returns its path.
func linkShim(exe, workRoot string) (string, error) {
	target, err := filepath.Abs(exe)
	if err != nil {
		return "", fmt.Errorf("terraform: resolving the shim %s: %w", exe, err)
	}
	link := filepath.Join(workRoot, shimName)
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return link, nil
	}
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return "", fmt.Errorf("terraform: linking the shim: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return "", fmt.Errorf("terraform: linking the shim: %w", err)
	}
	return link, nil
}

// reachable checks that every directory above dir (and dir) lets others pass through.
func reachable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s (mode %s) lets other users not pass through", d, fi.Mode().Perm())
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}

// cliConfig is the CLI configuration every command gets: providers only from the
// configured mirror or directories (or their registries when none is configured),
// never from the sources' terraform.d/plugins; no update checks.
func cliConfig(mirror string, dirs []string) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by medic: where Terraform may install providers from.\n")
	b.WriteString("disable_checkpoint = true\n")
	b.WriteString("provider_installation {\n")
	for _, d := range dirs {
		if strings.ContainsAny(d, "\"\\\n$%") {
			return "", fmt.Errorf("terraform: the plugin directory %q has characters medic does not write into a configuration", d)
		}
		fmt.Fprintf(&b, "  filesystem_mirror {\n    path = %q\n  }\n", d)
	}
	if mirror != "" {
		u, err := url.Parse(mirror)
		if err != nil || u.Scheme != "https" || u.Host == "" || strings.ContainsAny(mirror, "\"\\\n$%") {
			return "", fmt.Errorf("terraform: the provider mirror %q is not an https URL", mirror)
		}
		fmt.Fprintf(&b, "  network_mirror {\n    url = %q\n  }\n", mirror)
	}
	if mirror == "" && len(dirs) == 0 {
		b.WriteString("  direct {}\n")
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// Confinement says how Terraform runs, for the start-up log: "shim, Landlock v7,
// no_new_privs, as user 65534:65534", or "no shim: environment limits only".
func (r *Runner) Confinement() string {
	if r.shim == "" {
		return "no shim: environment limits only"
	}
	parts := []string{"shim"}
	if v := landlockABI(); v > 0 {
		parts = append(parts, fmt.Sprintf("Landlock v%d", v))
	} else {
		parts = append(parts, "no Landlock (the kernel lacks it)")
	}
	parts = append(parts, "no_new_privs")
	if r.runAs != nil {
		parts = append(parts, "as user "+r.runAs.String())
	} else {
		parts = append(parts, "as medic's own user")
	}
	return strings.Join(parts, ", ")
}

// Version is the terraform binary's version ("1.5.7", "1.12.6" for OpenTofu 1.12.6).
func (r *Runner) Version() string { return r.version }

// CLI says whether the binary is Terraform or OpenTofu.
func (r *Runner) CLI() CLI { return r.cli }

// checkVersion runs the binary's `version` in a scratch workspace (through the shim, as
// every command), reads which CLI it is and its version from the human form, checks that
// terraform-exec reads the same version from `version -json` (it gates its options on
// it) and refuses a CLI older than the oldest medic runs.
func (r *Runner) checkVersion() (CLI, string, error) {
	root, err := os.MkdirTemp(r.workRoot, "version-")
	if err != nil {
		return "", "", fmt.Errorf("terraform: creating a scratch directory: %w", err)
	}
	defer os.RemoveAll(root)
	ws := &Workspace{r: r, root: root, dir: root, env: recovery.Environment{Name: "version"}}
	if err := ws.layout(); err != nil {
		return "", "", err
	}
	// New has no caller context; `terraform version` answers in well under a second.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := ws.versionOutput(ctx)
	if err != nil {
		return "", "", fmt.Errorf("terraform: running %s version: %w", r.execPath, err)
	}
	cli, human, err := ParseVersionOutput(out)
	if err != nil {
		return "", "", fmt.Errorf("terraform: %s: %w; medic runs %s", r.execPath, err, Supported)
	}
	var got *version.Version
	err = ws.command(ctx, "version", nil, func(ctx context.Context, tf *tfexec.Terraform) error {
		var err error
		got, _, err = tf.Version(ctx, true)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("terraform: running %s version -json (%s %s): %w", r.execPath, cli, human, err)
	}
	if !got.Equal(human) {
		return "", "", fmt.Errorf("terraform: %s says it is %s %s, but terraform-exec reads version %s", r.execPath, cli, human, got)
	}
	if err := checkCLIVersion(r.execPath, cli, got); err != nil {
		return "", "", err
	}
	return cli, got.String(), nil
}

// envKey is what an environment variable's name may be.
var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// medicEnv are the variables medic sets for every command: nobody passes them.
var medicEnv = map[string]bool{
	"CHECKPOINT_DISABLE": true, "TF_CLI_CONFIG_FILE": true, "TF_DATA_DIR": true, "TF_PLUGIN_CACHE_DIR": true,
	"HOME": true, "TMPDIR": true, "PATH": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_PROFILE": true,
	"AWS_CONFIG_FILE": true, "AWS_SHARED_CREDENTIALS_FILE": true, "AWS_EC2_METADATA_DISABLED": true,
	"AWS_WEB_IDENTITY_TOKEN_FILE": true, "AWS_ROLE_ARN": true, "AWS_CONTAINER_CREDENTIALS_FULL_URI": true,
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": true, "AWS_CONTAINER_AUTHORIZATION_TOKEN": true,
	envShimExec: true, envShimRW: true, envShimRO: true, envShimUser: true,
}

// parseEnv reads Options.Env, refusing what terraform-exec manages itself and what
// medic sets.
func parseEnv(list []string) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envKey.MatchString(k) {
			return nil, fmt.Errorf("terraform: environment entry %q is not KEY=VALUE", k)
		}
		if medicEnv[k] {
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

// credentialKeys are the variables Options.Credentials may return.
var credentialKeys = map[string]bool{
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_REGION": true, "AWS_DEFAULT_REGION": true,
}
