package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/medic-ops/medic/internal/tftest"
)

func TestSeedRepositoryFiles(t *testing.T) {
	sb := Start(Options{})
	defer sb.Close()
	deployed := []string{strings.Repeat("a", 40), strings.Repeat("b", 40)}
	if err := sb.Seed(World{Envs: []Env{{Name: "prod", Functions: []string{"prod-sentiment-ingestion"}, DeployWorkflow: "deploy-prod.yml", GoodDeploys: deployed}}}); err != nil {
		t.Fatal(err)
	}
	fresh := strings.Repeat("c", 40)
	SeedRepository(sb, deployed[0], fresh)

	for _, sha := range append(deployed, fresh) {
		files, ok := sb.GitHub.FilesAt(sha)
		if !ok {
			t.Fatalf("commit %s: not found", sha)
		}
		for path, want := range RepositoryFiles() {
			if files[path] != want {
				t.Errorf("commit %s: %s: got %q, want the repository file", sha[:7], path, files[path])
			}
		}
	}
	if head, _ := sb.GitHub.Ref("heads/main"); head != fresh {
		t.Errorf("main: got %s, want the newly seeded %s", head, fresh)
	}
	if msg, _, _ := sb.GitHub.CommitMessage(deployed[0]); msg != "Deploy aaaaaaa" {
		t.Errorf("an already deployed commit: got message %q, want Seed's %q left alone", msg, "Deploy aaaaaaa")
	}
	for _, env := range []string{"dev", "preprod", "prod"} {
		if got, want := RepositoryFiles()[TerraformDir+"/"+env+".tfvars"], "environment = \""+env+"\"\n"; got != want {
			t.Errorf("%s.tfvars: got %q, want %q", env, got, want)
		}
	}
}

// TestRepositoryFilesValidate runs `init -backend=false` and `validate` on the files
// with the real binaries, Terraform's and OpenTofu's: the configuration needs no
// provider download and is valid.
func TestRepositoryFilesValidate(t *testing.T) {
	for _, cli := range tftest.CLIs() {
		t.Run(cli.Name, func(t *testing.T) { testRepositoryFilesValidate(t, cli.Binary(t)) })
	}
}

func testRepositoryFilesValidate(t *testing.T, bin string) {
	root := t.TempDir()
	for path, body := range RepositoryFiles() {
		p := filepath.Join(root, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rc := filepath.Join(root, "terraformrc")
	if err := os.WriteFile(rc, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := tfexec.NewTerraform(filepath.Join(root, TerraformDir), bin)
	if err != nil {
		t.Fatal(err)
	}
	// No PATH or HOME: init must not need to find or download anything.
	if err := tf.SetEnv(map[string]string{"CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": rc}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tf.Init(ctx, tfexec.Backend(false)); err != nil {
		t.Fatalf("init: %v", err)
	}
	v, err := tf.Validate(ctx)
	if err != nil || !v.Valid || v.ErrorCount+v.WarningCount != 0 {
		t.Fatalf("validate: got %+v, %v; want valid without warnings", v, err)
	}
}
