package terraform_test

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medic-ops/medic/deploy/terraform"
	"github.com/medic-ops/medic/sandbox/tfstate"
)

// mustFakeTerraform writes a stand-in Terraform that only answers `version` ("Terraform
// v<v>") and `version -json` with version v; what the tests below check is refused
// before any other command runs.
func mustFakeTerraform(tb testing.TB, v string) string {
	tb.Helper()
	return mustFakeCLI(tb, "Terraform v"+v, v)
}

// mustFakeCLI writes a stand-in CLI whose `version` prints banner and whose `version
// -json` says jsonVersion, as both Terraform and OpenTofu print it.
func mustFakeCLI(tb testing.TB, banner, jsonVersion string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "terraform")
	script := "#!/bin/sh\n" +
		"if [ \"$1 $2\" = \"version -json\" ]; then echo '{\"terraform_version\":\"" + jsonVersion + "\",\"platform\":\"linux_amd64\",\"provider_selections\":{}}'; exit 0; fi\n" +
		"if [ \"$*\" = version ]; then printf '%s\\non linux_amd64\\n' '" + banner + "'; exit 0; fi\n" +
		"echo \"fake terraform: unexpected $*\" >&2; exit 1\n"
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestNewRefuses(t *testing.T) {
	archives := mapArchives{}
	tests := []struct {
		name    string
		opts    terraform.Options
		wantErr string
	}{
		{name: "no binary", opts: terraform.Options{Archives: archives}, wantErr: "install Terraform >= 1.4.0 or OpenTofu >= 1.6.0"},
		{name: "missing binary", opts: terraform.Options{ExecPath: "/nonexistent/terraform", Archives: archives}, wantErr: "install Terraform >= 1.4.0 or OpenTofu >= 1.6.0"},
		{name: "too old", opts: terraform.Options{ExecPath: mustFakeTerraform(t, "1.3.9"), Archives: archives}, wantErr: "is Terraform 1.3.9; medic needs Terraform >= 1.4.0"},
		{name: "OpenTofu too old", opts: terraform.Options{ExecPath: mustFakeCLI(t, "OpenTofu v1.5.9", "1.5.9"), Archives: archives}, wantErr: "is OpenTofu 1.5.9; medic needs OpenTofu >= 1.6.0"},
		{name: "OpenTofu prerelease of 1.6", opts: terraform.Options{ExecPath: mustFakeCLI(t, "OpenTofu v1.6.0-alpha1", "1.6.0-alpha1"), Archives: archives}, wantErr: "is OpenTofu 1.6.0-alpha1; medic needs OpenTofu >= 1.6.0"},
		{name: "neither", opts: terraform.Options{ExecPath: mustFakeCLI(t, "Terraformer v1.5.7", "1.5.7"), Archives: archives}, wantErr: `its version says "Terraformer v1.5.7", neither Terraform nor OpenTofu`},
		{name: "versions disagree", opts: terraform.Options{ExecPath: mustFakeCLI(t, "OpenTofu v1.12.6", "1.5.0"), Archives: archives}, wantErr: "says it is OpenTofu 1.12.6, but terraform-exec reads version 1.5.0"},
		{name: "no archives", opts: terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7")}, wantErr: "no archive fetcher"},
		{name: "TF_VAR in env", opts: terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7"), Archives: archives, Env: []string{"TF_VAR_model_version=x"}}, wantErr: "TF_VAR_model_version"},
		{name: "TF_LOG in env", opts: terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7"), Archives: archives, Env: []string{"TF_LOG=trace"}}, wantErr: "TF_LOG"},
		{name: "not KEY=VALUE", opts: terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7"), Archives: archives, Env: []string{"AWS_REGION"}}, wantErr: "not KEY=VALUE"},
		{name: "medic's own variable", opts: terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7"), Archives: archives, Env: []string{"TF_CLI_CONFIG_FILE=/tmp/x"}}, wantErr: "set by medic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.WorkRoot = t.TempDir()
			_, err := terraform.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	// The oldest of each that medic runs: OpenTofu's first stable release is newer than
	// the oldest Terraform.
	for _, tt := range []struct {
		banner, version string
		cli             terraform.CLI
	}{
		{"Terraform v1.4.0", "1.4.0", terraform.CLITerraform},
		{"Terraform v1.5.7", "1.5.7", terraform.CLITerraform},
		{"OpenTofu v1.6.0", "1.6.0", terraform.CLIOpenTofu},
		{"OpenTofu v1.12.6", "1.12.6", terraform.CLIOpenTofu},
	} {
		r, err := terraform.New(terraform.Options{ExecPath: mustFakeCLI(t, tt.banner, tt.version), Archives: archives, WorkRoot: t.TempDir(), Env: []string{"AWS_REGION=eu-west-1"}})
		if err != nil || r.Version() != tt.version || r.CLI() != tt.cli {
			t.Errorf("New with %q: got %v, %v; want %s version %s", tt.banner, r, err, tt.cli, tt.version)
		}
	}
}

// TestWorkspaceRefuses checks what is refused before Terraform runs, and that a refused
// workspace leaves nothing behind in WorkRoot.
func TestWorkspaceRefuses(t *testing.T) {
	const top = "acme-sentiment-analyzer-1111111/"
	dirE := func(name string) terraform.TarEntry { return terraform.TarEntry{Name: name, Type: tar.TypeDir} }
	archives := mapArchives{
		sha1:      repoTarball(t, sha1, nil),
		"aaaaaaa": terraform.MustTarball(t, dirE(top), terraform.TarEntry{Name: "/etc/cron.d/evil", Body: "x"}),
		"bbbbbbb": terraform.MustTarball(t, dirE(top), terraform.TarEntry{Name: top + "../../evil", Body: "x"}),
		"ccccccc": terraform.MustTarball(t, dirE(top), terraform.TarEntry{Name: top + "infrastructure", Link: "../../../../etc", Type: tar.TypeSymlink}),
		"ddddddd": terraform.MustTarball(t, dirE(top), terraform.TarEntry{Name: top + "README.md", Body: "no terraform here"}),
	}
	state := tfstate.New(nil)
	defer state.Close()
	root := t.TempDir()
	r := mustRunner(t, terraform.Options{ExecPath: mustFakeTerraform(t, "1.5.7"), Archives: archives, WorkRoot: root})
	good := envConfig(state, "prod", 0)
	tests := []struct {
		name    string
		sha     string
		mutate  func(dir *string)
		wantErr string
	}{
		{name: "short sha", sha: "abc", wantErr: "not a commit SHA"},
		{name: "uppercase sha", sha: "ABCDEF1", wantErr: "not a commit SHA"},
		{name: "option-like sha", sha: "-destroy", wantErr: "not a commit SHA"},
		{name: "absolute dir", sha: sha1, mutate: func(d *string) { *d = "/etc" }, wantErr: "not a relative path"},
		{name: "dir with ..", sha: sha1, mutate: func(d *string) { *d = "../x" }, wantErr: "leaves its directory"},
		{name: "unknown sha", sha: "0000000", wantErr: "downloading the sources"},
		{name: "absolute path in the archive", sha: "aaaaaaa", wantErr: "absolute"},
		{name: "dot-dot in the archive", sha: "bbbbbbb", wantErr: "has a .. component"},
		{name: "symlink out of the archive", sha: "ccccccc", wantErr: "points outside"},
		{name: "no terraform directory", sha: "ddddddd", wantErr: "have no directory infrastructure/terraform"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := good
			if tt.mutate != nil {
				tt.mutate(&env.Terraform.Dir)
			}
			ws, err := r.Workspace(context.Background(), env, tt.sha)
			if err == nil {
				_ = ws.Close()
				t.Fatalf("got a workspace, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
			var tfErr *terraform.Error
			if errors.As(err, &tfErr) {
				t.Errorf("got a Terraform error %v, want a refusal before Terraform ran", err)
			}
			left, _ := filepath.Glob(filepath.Join(root, "prod-*"))
			if len(left) != 0 {
				t.Errorf("got leftovers %v in the work root, want none", left)
			}
		})
	}
}
