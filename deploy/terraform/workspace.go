package terraform

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
)

var (
	// lockIDPattern is a state lock ID: the http and s3 backends use UUIDs, others
	// numbers or names. A leading dash would read as a flag of force-unlock.
	lockIDPattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z-]{0,127}$`)
	// varName is a Terraform variable name.
	varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)
	// unsafeName matches what may not go into a directory name.
	unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)
)

// Workspace fetches the sources at sha, unpacks them into a fresh private directory
// under WorkRoot and runs `terraform init -reconfigure` in env.Terraform.Dir with the
// environment's -backend-config values. The caller must Close the workspace.
//
// It returns an *Error (Summary, Detail) when init fails and a plain error for a bad
// SHA or configuration, a failed download or an unsafe archive.
func (r *Runner) Workspace(ctx context.Context, env recovery.Environment, sha string) (recovery.TerraformWorkspace, error) {
	if !recovery.ValidSHA(sha) {
		return nil, fmt.Errorf("terraform workspace for %s: %q is not a commit SHA (7 to 40 lowercase hex digits)", env.Name, sha)
	}
	cfg, err := checkConfig(env.Terraform)
	if err != nil {
		return nil, fmt.Errorf("terraform workspace for %s: %w", env.Name, err)
	}
	name := unsafeName.ReplaceAllString(strings.ToLower(env.Name), "")
	root, err := os.MkdirTemp(r.workRoot, fmt.Sprintf("%s-%s-", name, sha[:7]))
	if err != nil {
		return nil, fmt.Errorf("terraform workspace for %s: %w", env.Name, err)
	}
	lock, err := lockDir(root)
	if err != nil {
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("terraform workspace for %s: locking it: %w", env.Name, err)
	}
	ws, err := r.prepare(ctx, env, cfg, sha, root)
	if err != nil {
		_ = os.RemoveAll(root)
		lock.Close()
		return nil, err
	}
	ws.lock = lock
	return ws, nil
}

// prepare downloads and unpacks the sources into root/src, lays out the workspace's
// private directories and runs init.
func (r *Runner) prepare(ctx context.Context, env recovery.Environment, cfg recovery.TerraformConfig, sha, root string) (*Workspace, error) {
	log := r.log.With(zap.String("env", env.Name), zap.String("sha", sha), zap.String("dir", root))
	body, err := r.archives.Tarball(ctx, sha)
	if err != nil {
		return nil, fmt.Errorf("downloading the sources of %s at %s: %w", env.Name, sha, err)
	}
	src := filepath.Join(root, "src")
	skipped, err := unpack(body, src, r.limits)
	_ = body.Close()
	if err != nil {
		return nil, fmt.Errorf("unpacking the sources of %s at %s: %w", env.Name, sha, err)
	}
	if len(skipped) > 0 {
		log.Warn("the sources carry Terraform working data; left out (providers come only from medic's configuration)", zap.Strings("paths", skipped))
	}
	dir := filepath.Join(src, filepath.FromSlash(cfg.Dir))
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("the sources of %s at %s have no directory %s", env.Name, sha, cfg.Dir)
	}
	ws := &Workspace{
		r: r, root: root, dir: dir, env: env, sha: sha, cfg: cfg, log: log,
		planPath: filepath.Join(root, "out", "medic.tfplan"),
	}
	if err := ws.layout(); err != nil {
		return nil, err
	}
	opts := []tfexec.InitOption{tfexec.Reconfigure(true)}
	for _, v := range cfg.BackendConfig {
		opts = append(opts, tfexec.BackendConfig(v))
	}
	if err := ws.run(ctx, "init", func(ctx context.Context, tf *tfexec.Terraform) error { return tf.Init(ctx, opts...) }); err != nil {
		return nil, err
	}
	return ws, nil
}

// The workspace's layout. Terraform (and what it starts) may write only in its
// directories: the sources, its HOME, TMPDIR and data directory, and out/ where plans
// are written. The root and medic/ (the CLI configuration, the plans medic shows and
// applies) are medic's: Terraform may read medic/, never change it.
var terraformDirs = []string{"src", "home", "tmp", "data", "out"}

// layout makes the workspace's directories and its CLI configuration, and gives
// Terraform's directories to the user Terraform runs as.
func (w *Workspace) layout() error {
	if err := os.Chmod(w.root, 0o711); err != nil {
		return fmt.Errorf("terraform workspace of %s: %w", w.env.Name, err)
	}
	for _, d := range terraformDirs {
		if err := os.Mkdir(filepath.Join(w.root, d), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("terraform workspace of %s: %w", w.env.Name, err)
		}
		if err := w.own(filepath.Join(w.root, d)); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(w.root, "medic"), 0o755); err != nil {
		return fmt.Errorf("terraform workspace of %s: %w", w.env.Name, err)
	}
	if err := os.Chmod(filepath.Join(w.root, "medic"), 0o755); err != nil { // whatever the umask
		return fmt.Errorf("terraform workspace of %s: %w", w.env.Name, err)
	}
	if err := writeNew(filepath.Join(w.root, "medic", "terraformrc"), []byte(w.r.cliConf)); err != nil {
		return fmt.Errorf("terraform: writing the CLI config: %w", err)
	}
	return nil
}

// writeNew creates path (which must not exist) readable by everyone, writable by
// medic only, and writes b into it.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil { // whatever the umask
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// own gives path (and all below it) to the user Terraform runs as, when that is
// another user.
func (w *Workspace) own(path string) error {
	id := w.r.runAs
	if id == nil {
		return nil
	}
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, id.UID, id.GID)
	})
	if err != nil {
		return fmt.Errorf("terraform workspace of %s: giving it to user %s: %w", w.env.Name, id.Name, err)
	}
	return nil
}

// checkConfig validates an environment's Terraform settings and fills defaults.
func checkConfig(c recovery.TerraformConfig) (recovery.TerraformConfig, error) {
	if c.Dir == "" {
		return c, fmt.Errorf("no Terraform directory configured")
	}
	if err := localPath(c.Dir); err != nil {
		return c, fmt.Errorf("terraform directory: %w", err)
	}
	if c.VarFile != "" {
		if err := localPath(c.VarFile); err != nil {
			return c, fmt.Errorf("var file: %w", err)
		}
	}
	for _, b := range c.BackendConfig {
		if strings.Contains(b, "=") {
			continue // key=value, passed as one argument
		}
		if err := localPath(b); err != nil {
			return c, fmt.Errorf("backend config file: %w", err)
		}
	}
	if c.VersionVar == "" {
		c.VersionVar = "model_version"
	}
	if !varName.MatchString(c.VersionVar) {
		return c, fmt.Errorf("version variable %q is not a Terraform variable name", c.VersionVar)
	}
	if c.LockTimeout < 0 {
		return c, fmt.Errorf("negative lock timeout %s", c.LockTimeout)
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	return c, nil
}

// localPath accepts a relative slash-separated path that stays where it starts.
func localPath(p string) error {
	switch {
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p) || strings.Contains(p, `\`):
		return fmt.Errorf("%q is not a relative path", p)
	case strings.HasPrefix(p, "-"):
		return fmt.Errorf("%q starts with a dash", p)
	case !filepath.IsLocal(p):
		return fmt.Errorf("%q leaves its directory", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("%q has a .. component", p)
		}
	}
	if trimmed := strings.TrimSuffix(p, "/"); path.Clean(trimmed) != trimmed {
		return fmt.Errorf("%q is not a clean path", p)
	}
	return nil
}

// Workspace is one job's initialized copy of an environment's Terraform configuration
// at a commit. It implements recovery.TerraformWorkspace. Each command gets its own
// terraform-exec handle, so a ForceUnlock may run while an apply waits for the lock.
type Workspace struct {
	r        *Runner
	root     string
	dir      string
	env      recovery.Environment
	sha      string
	cfg      recovery.TerraformConfig
	log      *zap.Logger
	planPath string
	// lock is held while the workspace lives: a medic starting later sweeps only
	// workspaces whose process is gone.
	lock *os.File
}

var _ recovery.TerraformWorkspace = (*Workspace)(nil)

// Dir is the directory Terraform runs in.
func (w *Workspace) Dir() string { return w.dir }

// SHA is the commit the workspace holds.
func (w *Workspace) SHA() string { return w.sha }

// Close removes the workspace's directory, its sources and plans with it.
func (w *Workspace) Close() error {
	err := os.RemoveAll(w.root)
	if w.lock != nil {
		w.lock.Close()
	}
	if err != nil {
		return fmt.Errorf("removing the terraform workspace of %s: %w", w.env.Name, err)
	}
	return nil
}

// vars are the -var-file (empty when unset) and the -var version=sha every plan and
// destroy passes.
func (w *Workspace) vars() (string, string) {
	return w.cfg.VarFile, w.cfg.VersionVar + "=" + w.sha
}

// Plan runs `terraform plan -var-file=<VarFile> -var <VersionVar>=<sha>
// -lock-timeout=<LockTimeout> -out=<plan>` (with -destroy, or -lock=false, as o says),
// summarizes the saved plan with `terraform show -json` and returns it with the plan
// file's bytes and SHA-256. It returns an *Error when Terraform fails.
func (w *Workspace) Plan(ctx context.Context, o recovery.PlanOptions) (recovery.TerraformPlan, error) {
	varFile, v := w.vars()
	opts := []tfexec.PlanOption{tfexec.Var(v), tfexec.Out(w.planPath)}
	if o.NoLock {
		opts = append(opts, tfexec.Lock(false))
	} else {
		opts = append(opts, tfexec.LockTimeout(w.cfg.LockTimeout.String()))
	}
	if o.Destroy {
		opts = append(opts, tfexec.Destroy(true))
	}
	if varFile != "" {
		opts = append(opts, tfexec.VarFile(varFile))
	}
	_ = os.Remove(w.planPath)
	err := w.run(ctx, "plan", func(ctx context.Context, tf *tfexec.Terraform) error {
		_, err := tf.Plan(ctx, opts...)
		return err
	})
	if err != nil {
		return recovery.TerraformPlan{}, err
	}
	// The plan's bytes are taken the moment plan ends, into medic's own file: what show
	// summarizes, what the request shows the SHA-256 of and what the job applies are
	// these bytes, whatever anything Terraform started does to out/ afterwards.
	file, err := readPlan(w.planPath)
	if err != nil {
		return recovery.TerraformPlan{}, fmt.Errorf("terraform plan in %s: %w", w.env.Name, err)
	}
	if err := checkPlanArchive(file); err != nil {
		return recovery.TerraformPlan{}, fmt.Errorf("terraform plan in %s: %w", w.env.Name, err)
	}
	kept, err := w.keepPlan("planned", file)
	if err != nil {
		return recovery.TerraformPlan{}, err
	}
	var plan *tfjson.Plan
	err = w.run(ctx, "show", func(ctx context.Context, tf *tfexec.Terraform) error {
		var err error
		plan, err = tf.ShowPlanFile(ctx, kept)
		return err
	})
	if err != nil {
		return recovery.TerraformPlan{}, err
	}
	sum := Summarize(plan)
	sum.File = file
	h := sha256.Sum256(file)
	sum.SHA256 = hex.EncodeToString(h[:])
	w.log.Info("terraform plan", zap.Int("add", sum.Add), zap.Int("change", sum.Change), zap.Int("destroy", sum.Destroy),
		zap.Bool("destroy_plan", o.Destroy), zap.Bool("locked", !o.NoLock), zap.String("sha256", sum.SHA256))
	return sum, nil
}

// keepPlan writes a plan into medic/ (read-only for Terraform) under a fresh name and
// returns its path.
func (w *Workspace) keepPlan(name string, plan []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Join(w.root, "medic"), name+"-*.tfplan")
	if err != nil {
		return "", fmt.Errorf("terraform workspace of %s: keeping the plan: %w", w.env.Name, err)
	}
	path := f.Name()
	f.Close()
	if err := os.Remove(path); err != nil {
		return "", fmt.Errorf("terraform workspace of %s: keeping the plan: %w", w.env.Name, err)
	}
	if err := writeNew(path, plan); err != nil {
		return "", fmt.Errorf("terraform workspace of %s: keeping the plan: %w", w.env.Name, err)
	}
	return path, nil
}

// maxPlanUnpacked bounds what a saved plan (a zip) may unpack to: `terraform show
// -json` of a plan holds all of it in memory (terraform-exec reads it whole), so a plan
// that compresses a huge output would take medic's memory.
const maxPlanUnpacked = 256 << 20

// checkPlanArchive refuses a saved plan that is not a zip or that unpacks to more than
// maxPlanUnpacked.
func checkPlanArchive(plan []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(plan), int64(len(plan)))
	if err != nil {
		return fmt.Errorf("the saved plan is not a plan file: %w", err)
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if total > maxPlanUnpacked {
			return fmt.Errorf("the saved plan unpacks to more than %d bytes; medic does not show or apply it", maxPlanUnpacked)
		}
	}
	return nil
}

// readPlan reads the plan file Terraform wrote: a regular file, not a link, a FIFO or
// a device that something Terraform started could have put in its place, and no more
// than recovery.MaxPlanBytes.
func readPlan(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the saved plan: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the saved plan: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading the saved plan: %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, recovery.MaxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the saved plan: %w", err)
	}
	if len(b) > recovery.MaxPlanBytes {
		return nil, fmt.Errorf("the saved plan is over %d bytes", recovery.MaxPlanBytes)
	}
	return b, nil
}

// Summarize counts a plan's resource changes the way Terraform's "Plan: N to add, N to
// change, N to destroy" does: a replacement (delete and create) counts as one add and
// one destroy; no-op and read changes are left out.
func Summarize(plan *tfjson.Plan) recovery.TerraformPlan {
	var out recovery.TerraformPlan
	if plan == nil {
		return out
	}
	for _, rc := range plan.ResourceChanges {
		if rc == nil || rc.Change == nil {
			continue
		}
		a := rc.Change.Actions
		switch {
		case a.Replace():
			out.Add++
			out.Destroy++
		case a.Create():
			out.Add++
		case a.Update():
			out.Change++
		case a.Delete():
			out.Destroy++
		default:
			continue // no-op, read, forget
		}
		actions := make([]string, len(a))
		for i, x := range a {
			actions[i] = string(x)
		}
		out.Changes = append(out.Changes, recovery.ResourceChange{Address: rc.Address, Actions: actions})
	}
	return out
}

// ApplyPlan writes plan (a saved plan file, as Plan returned it) into the workspace
// and runs `terraform apply <plan file>`: Terraform applies exactly that plan, or
// refuses it when the state changed since it was made (an error wrapping
// recovery.ErrStalePlan). It returns an *Error when Terraform fails; when ctx is
// cancelled Terraform gets an interrupt, stops, writes its state and releases the lock,
// and the error wraps context.Canceled.
func (w *Workspace) ApplyPlan(ctx context.Context, plan []byte) error {
	if len(plan) == 0 {
		return fmt.Errorf("terraform apply in %s: no plan to apply", w.env.Name)
	}
	path, err := w.keepPlan("approved", plan)
	if err != nil {
		return err
	}
	return w.run(ctx, "apply", func(ctx context.Context, tf *tfexec.Terraform) error {
		return tf.Apply(ctx, tfexec.DirOrPlan(path), tfexec.LockTimeout(w.cfg.LockTimeout.String()))
	})
}

// ForceUnlock runs `terraform force-unlock -force <lockID>`. lockID must be the
// holder's ID (1 to 128 letters, digits and dashes, not starting with a dash). With the
// http backend Terraform does not send the ID: the state server releases whatever lock
// it holds, so pass the ID read from the failed command (Error.LockID). It returns an
// *Error when Terraform fails.
func (w *Workspace) ForceUnlock(ctx context.Context, lockID string) error {
	if !lockIDPattern.MatchString(lockID) {
		return fmt.Errorf("force-unlocking %s: %q is not a lock ID", w.env.Name, lockID)
	}
	return w.run(ctx, "force-unlock", func(ctx context.Context, tf *tfexec.Terraform) error { return tf.ForceUnlock(ctx, lockID) })
}

// Destroy runs `terraform destroy` with the var file, the version variable and the lock
// timeout. It returns an *Error when Terraform fails. Recovery plans a destroy and
// applies that plan instead, so people approve what is destroyed.
func (w *Workspace) Destroy(ctx context.Context) error {
	varFile, v := w.vars()
	opts := []tfexec.DestroyOption{tfexec.Var(v), tfexec.LockTimeout(w.cfg.LockTimeout.String())}
	if varFile != "" {
		opts = append(opts, tfexec.VarFile(varFile))
	}
	return w.run(ctx, "destroy", func(ctx context.Context, tf *tfexec.Terraform) error { return tf.Destroy(ctx, opts...) })
}

// maxStderr bounds the stderr kept for an error; Terraform's diagnostics are a few
// kilobytes.
const maxStderr = 256 << 10

// run runs one Terraform command on a fresh handle with its stderr captured, logs it
// and wraps a failure into an *Error.
func (w *Workspace) run(ctx context.Context, op string, fn func(context.Context, *tfexec.Terraform) error) error {
	stderr := &capped{max: maxStderr}
	start := time.Now()
	err := w.command(ctx, op, stderr, fn)
	log := w.log.With(zap.String("command", op), zap.Duration("took", time.Since(start)))
	if err == nil {
		log.Info("terraform command done")
		return nil
	}
	var setup *setupError
	if errors.As(err, &setup) {
		log.Warn("terraform command not started", zap.Error(err))
		return err
	}
	e := newError(op, w.env.Name, err, stderr.String())
	log.Warn("terraform command failed", zap.String("summary", e.Summary()))
	return e
}

// setupError is a command that could not be started (no credentials, no handle).
type setupError struct{ err error }

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

// command runs fn on a terraform-exec handle on the workspace whose environment is
// exactly what Terraform needs and nothing of medic's: PATH; a private HOME, TMPDIR
// and data directory; the CLI configuration medic wrote; no update checks; the
// environment's own AWS identity (fresh credentials for each command, never the
// instance's metadata service or shared files); Options.Env; and, with a shim, its
// settings.
func (w *Workspace) command(ctx context.Context, op string, stderr io.Writer, fn func(context.Context, *tfexec.Terraform) error) error {
	tf, err := tfexec.NewTerraform(w.dir, w.exe())
	if err != nil {
		return &setupError{fmt.Errorf("terraform: %w", err)}
	}
	env, err := w.environ(ctx, op)
	if err != nil {
		return err
	}
	if err := tf.SetEnv(env); err != nil {
		return &setupError{fmt.Errorf("terraform: setting the environment: %w", err)}
	}
	if stderr != nil {
		tf.SetStderr(stderr)
	}
	return fn(ctx, tf)
}

// exe is what a command starts: the shim, or terraform itself when there is none.
func (w *Workspace) exe() string {
	if w.r.shim != "" {
		return w.r.shim
	}
	return w.r.execPath
}

// maxVersionOutput bounds what versionOutput reads: the version line and one line per
// provider.
const maxVersionOutput = 64 << 10

// versionOutput runs `terraform version` (the human form, whose first line names the
// CLI) on the workspace, as command runs every command but without terraform-exec:
// terraform-exec runs only `version -json`, which names no CLI (it reads the human
// form only when the JSON does not parse, and then only Terraform's). The command line
// is fixed; no shell is involved.
func (w *Workspace) versionOutput(ctx context.Context) (string, error) {
	env, err := w.environ(ctx, "version")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, w.exe(), "version")
	cmd.Dir = w.dir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout := &capped{max: maxVersionOutput}
	stderr := &capped{max: maxVersionOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		if msg := firstLine(stderr.String()); msg != "" {
			return "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", err
	}
	return stdout.String(), nil
}

// environ is the environment of a command on the workspace (see command).
func (w *Workspace) environ(ctx context.Context, op string) (map[string]string, error) {
	env := map[string]string{
		"HOME":                        filepath.Join(w.root, "home"),
		"TMPDIR":                      filepath.Join(w.root, "tmp"),
		"TF_DATA_DIR":                 filepath.Join(w.root, "data"),
		"TF_CLI_CONFIG_FILE":          filepath.Join(w.root, "medic", "terraformrc"),
		"CHECKPOINT_DISABLE":          "1",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             filepath.Join(w.root, "home", ".aws", "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(w.root, "home", ".aws", "credentials"),
	}
	if v, ok := os.LookupEnv("PATH"); ok {
		env["PATH"] = v
	}
	for k, v := range w.r.env {
		env[k] = v
	}
	if w.r.creds != nil && op != "version" {
		minValid := credentialsMinValid
		if dl, ok := ctx.Deadline(); ok {
			minValid = max(minValid, time.Until(dl)+time.Minute)
		}
		kvs, err := w.r.creds(ctx, w.env, minValid)
		if err != nil {
			return nil, &setupError{fmt.Errorf("terraform %s in %s: getting the environment's AWS credentials: %w", op, w.env.Name, err)}
		}
		for _, kv := range kvs {
			k, v, _ := strings.Cut(kv, "=")
			if !credentialKeys[k] {
				return nil, &setupError{fmt.Errorf("terraform %s in %s: the credentials carry %s, which is not an AWS credential variable", op, w.env.Name, k)}
			}
			env[k] = v
		}
	}
	if w.r.shim != "" {
		var rw []string
		for _, d := range terraformDirs {
			rw = append(rw, filepath.Join(w.root, d))
		}
		env[envShimExec] = w.r.execPath
		env[envShimRW] = strings.Join(rw, "\n")
		env[envShimRO] = strings.Join(append([]string{filepath.Join(w.root, "medic")}, w.r.roDirs...), "\n")
		if w.r.runAs != nil {
			env[envShimUser] = w.r.runAs.String()
		}
	}
	return env, nil
}

// credentialsMinValid is the least time credentials handed to a command must stay
// valid; a command with a longer deadline asks for credentials that outlive it.
const credentialsMinValid = 15 * time.Minute

// capped is a concurrency-safe buffer keeping the first max bytes written.
type capped struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
