package terraform_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/deploy/terraform"
	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/githubfake"
	"github.com/medic-ops/medic/sandbox/tfstate"
)

// githubArchives fetches tarballs from the sandbox's GitHub the way GitHub serves
// them: go-github's archive link (a 302 to codeload), then a plain GET.
type githubArchives struct {
	gh          *github.Client
	owner, repo string
}

func (a githubArchives) Tarball(ctx context.Context, sha string) (io.ReadCloser, error) {
	u, _, err := a.gh.Repositories.GetArchiveLink(ctx, a.owner, a.repo, github.Tarball, &github.RepositoryContentGetOptions{Ref: sha}, 1)
	if err != nil {
		return nil, fmt.Errorf("archive link: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("archive: status %d", resp.StatusCode)
	}
	return resp.Body, nil
}

// mapArchives serves hand-built tarballs by SHA.
type mapArchives map[string][]byte

func (a mapArchives) Tarball(_ context.Context, sha string) (io.ReadCloser, error) {
	b, ok := a[sha]
	if !ok {
		return nil, fmt.Errorf("no archive at %s", sha)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// repoTarball is the sandbox repository's files (plus extra) under GitHub's top
// directory.
func repoTarball(tb testing.TB, sha string, extra map[string]string) []byte {
	tb.Helper()
	top := "acme-sentiment-analyzer-" + sha[:7] + "/"
	entries := []terraform.TarEntry{{Name: top, Type: tar.TypeDir}}
	files := sandbox.RepositoryFiles()
	for k, v := range extra {
		files[k] = v
	}
	for p, body := range files {
		entries = append(entries, terraform.TarEntry{Name: top + p, Body: body})
	}
	return terraform.MustTarball(tb, entries...)
}

// world is a state server, the sandbox GitHub holding the repository at shas and a
// Runner on them.
type world struct {
	state  *tfstate.Server
	gh     *githubfake.Server
	runner *terraform.Runner
	root   string
}

// forEachCLI runs test once per CLI medic runs (Terraform, then OpenTofu), as subtests
// named after them ("terraform", "tofu"), each on the binary tftest finds; a CLI that is
// missing skips or fails its subtest as tftest.CLI.Binary says.
func forEachCLI(t *testing.T, test func(t *testing.T, cli tftest.CLI, bin string)) {
	for _, cli := range tftest.CLIs() {
		t.Run(cli.Name, func(t *testing.T) { test(t, cli, cli.Binary(t)) })
	}
}

// mustWorld starts the fakes, commits the repository files at shas and builds a Runner
// on the real CLI at bin.
func mustWorld(tb testing.TB, bin string, shas ...string) *world {
	tb.Helper()
	w := &world{state: tfstate.New(nil), gh: githubfake.New(githubfake.Options{})}
	tb.Cleanup(w.state.Close)
	tb.Cleanup(w.gh.Close)
	for _, sha := range shas {
		w.gh.AddCommit(githubfake.Commit{SHA: sha, Message: "Deploy " + sha[:7], Branch: "main", Files: sandbox.RepositoryFiles()})
	}
	gh := github.NewClient(nil)
	gh.BaseURL, _ = url.Parse(w.gh.URL() + "/")
	o := isolated(tb, terraform.Options{
		ExecPath: bin, Logger: zaptest.NewLogger(tb),
		Archives: githubArchives{gh: gh, owner: w.gh.Owner(), repo: w.gh.Repo()},
	})
	w.root = o.WorkRoot
	w.runner = mustRunner(tb, o)
	return w
}

// isolated runs terraform as medic does: through the shim (this test binary, whose
// TestMain calls ShimMain), as nobody when the tests run as root, in a work root under
// the system's temporary directory that nobody can reach (t.TempDir's parents are
// private).
func isolated(tb testing.TB, o terraform.Options) terraform.Options {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	o.Shim = exe
	root, err := os.MkdirTemp("", "medic-terraform-test-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(root) })
	o.WorkRoot = filepath.Join(root, "work")
	if err := os.Chmod(root, 0o711); err != nil {
		tb.Fatal(err)
	}
	if os.Geteuid() == 0 {
		id, err := terraform.LookupIdentity("nobody")
		if err != nil {
			tb.Fatalf("the tests run as root and need the user nobody to run Terraform as: %v", err)
		}
		o.RunAs = id
	}
	// No provider ever comes from a registry in tests.
	o.PluginDirs = []string{filepath.Join(root, "providers")}
	if err := os.Mkdir(o.PluginDirs[0], 0o755); err != nil {
		tb.Fatal(err)
	}
	return o
}

func TestMain(m *testing.M) {
	terraform.ShimMain() // this binary is also the terraform shim of the tests' Runners
	holderMain()         // and the stand-in for medic of the isolation test
	os.Exit(m.Run())
}

func mustRunner(tb testing.TB, o terraform.Options) *terraform.Runner {
	tb.Helper()
	r, err := terraform.New(o)
	if err != nil {
		tb.Fatalf("terraform.New: %v", err)
	}
	return r
}

// envConfig is an environment whose state lives on srv.
func envConfig(srv *tfstate.Server, name string, lockTimeout time.Duration) recovery.Environment {
	return recovery.Environment{Name: name, Terraform: recovery.TerraformConfig{
		Dir: sandbox.TerraformDir, BackendConfig: srv.BackendConfig(name),
		VarFile: name + ".tfvars", VersionVar: "model_version", LockTimeout: lockTimeout,
	}}
}

func mustWorkspace(tb testing.TB, r *terraform.Runner, env recovery.Environment, sha string) recovery.TerraformWorkspace {
	tb.Helper()
	ws, err := r.Workspace(context.Background(), env, sha)
	if err != nil {
		tb.Fatalf("Workspace(%s, %s): %v", env.Name, sha, err)
	}
	tb.Cleanup(func() { _ = ws.Close() })
	return ws
}

// deployed maps each Lambda function of env's state to the S3 key it runs.
func deployed(tb testing.TB, srv *tfstate.Server, env string) map[string]string {
	tb.Helper()
	rs, err := srv.Resources(env)
	if err != nil {
		tb.Fatalf("Resources(%s): %v", env, err)
	}
	out := map[string]string{}
	for _, r := range rs {
		if strings.HasPrefix(r.Address, "terraform_data.lambda[") {
			out[r.InputString("function")] = r.InputString("s3_key")
		}
	}
	return out
}

// wantDeployed is what deployed returns when env runs sha everywhere.
func wantDeployed(env, sha string) map[string]string {
	out := map[string]string{}
	for _, f := range []string{"ingestion", "analysis", "dashboard"} {
		out[env+"-sentiment-"+f] = f + "/lambda-" + sha + ".zip"
	}
	return out
}

// sleeps lists the `sleep` processes running in dir (the local-exec provisioner's),
// reading /proc.
func sleeps(dir string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !bytes.HasPrefix(cmdline, []byte("sleep\x00")) {
			continue
		}
		cwd, err := os.Readlink(filepath.Join(p, "cwd"))
		if err != nil || strings.TrimSuffix(cwd, " (deleted)") != dir {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(p)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killSleeps ends the sleep processes a test's provisioner left running in dir.
func killSleeps(tb testing.TB, dir string) {
	tb.Helper()
	for _, pid := range sleeps(dir) {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
			tb.Logf("ended the provisioner's leftover sleep (pid %d)", pid)
		}
	}
}
