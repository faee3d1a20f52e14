package terraform_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/deploy/terraform"
	"github.com/medic-ops/medic/recovery"
)

// recordingTerraform is a stand-in terraform that records each command line in
// $MEDIC_FAKE_DIR/calls and its environment at init in $MEDIC_FAKE_DIR/env; plan writes
// its -out file and exits 2 (changes), show prints $MEDIC_FAKE_DIR/plan.json.
const recordingTerraform = `#!/bin/sh
printf '%s\n' "$*" >> "$MEDIC_FAKE_DIR/calls"
case "$1" in
version) if [ "$2" = -json ]; then echo '{"terraform_version":"1.5.7","platform":"linux_amd64","provider_selections":{},"terraform_outdated":false}'; else echo 'Terraform v1.5.7'; fi ;;
init) env > "$MEDIC_FAKE_DIR/env" ;;
plan) for a in "$@"; do case "$a" in -out=*) cp "$MEDIC_FAKE_DIR/plan.zip" "${a#-out=}" ;; esac; done; exit 2 ;;
apply) for a in "$@"; do last="$a"; done; cat "$last" > "$MEDIC_FAKE_DIR/applied" ;;
show) cat "$MEDIC_FAKE_DIR/plan.json" ;;
esac
exit 0
`

// fakePlan is `terraform show -json` of a plan with every kind of change.
const fakePlan = `{"format_version":"1.2","terraform_version":"1.5.7","resource_changes":[
 {"address":"terraform_data.a","mode":"managed","type":"terraform_data","name":"a","change":{"actions":["create"]}},
 {"address":"terraform_data.b","mode":"managed","type":"terraform_data","name":"b","change":{"actions":["update"]}},
 {"address":"terraform_data.c","mode":"managed","type":"terraform_data","name":"c","change":{"actions":["delete"]}},
 {"address":"terraform_data.d","mode":"managed","type":"terraform_data","name":"d","change":{"actions":["delete","create"]}},
 {"address":"terraform_data.e","mode":"managed","type":"terraform_data","name":"e","change":{"actions":["create","delete"]}},
 {"address":"terraform_data.f","mode":"managed","type":"terraform_data","name":"f","change":{"actions":["no-op"]}},
 {"address":"data.terraform_remote_state.g","mode":"data","type":"terraform_remote_state","name":"g","change":{"actions":["read"]}}
]}`

// TestCommandLines pins the command lines and the environment medic gives terraform.
func TestCommandLines(t *testing.T) {
	fake := t.TempDir()
	bin := filepath.Join(fake, "terraform")
	if err := os.WriteFile(bin, []byte(recordingTerraform), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake, "plan.json"), []byte(fakePlan), 0o600); err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	if w, err := zw.Create("tfplan"); err != nil {
		t.Fatal(err)
	} else if _, err := w.Write([]byte("a saved plan")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	savedPlan := zbuf.Bytes()
	if err := os.WriteFile(filepath.Join(fake, "plan.zip"), savedPlan, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MEDIC_TEST_SECRET", "must-not-reach-terraform")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAMEDICOWNKEY00000") // medic's own identity: never Terraform's
	root := t.TempDir()
	var asked []string
	r := mustRunner(t, terraform.Options{
		ExecPath: bin, WorkRoot: root, Archives: mapArchives{sha1: repoTarball(t, sha1, nil)},
		Env:        []string{"MEDIC_FAKE_DIR=" + fake},
		PluginDirs: []string{"/opt/medic/providers"},
		Credentials: func(_ context.Context, env recovery.Environment, minValid time.Duration) ([]string, error) {
			asked = append(asked, fmt.Sprintf("%s/%s", env.Name, minValid.Round(time.Minute)))
			return []string{"AWS_ACCESS_KEY_ID=ASIAPRODROLE0000000", "AWS_SECRET_ACCESS_KEY=prod-secret", "AWS_SESSION_TOKEN=prod-token", "AWS_REGION=eu-west-1"}, nil
		},
	})
	env := recovery.Environment{Name: "prod", Terraform: recovery.TerraformConfig{
		Dir: "infrastructure/terraform", VarFile: "prod.tfvars",
		BackendConfig: []string{"backend-prod.hcl", "address=http://127.0.0.1:1/state/prod"},
	}}
	ctx := context.Background()
	ws, err := r.Workspace(ctx, env, sha1)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	plan, err := ws.Plan(ctx, recovery.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Add != 3 || plan.Change != 1 || plan.Destroy != 3 || len(plan.Changes) != 5 {
		t.Errorf("plan: got %+v, want +3 ~1 -3 over 5 changes (replacements count twice, no-op and read left out)", plan)
	}
	if string(plan.File) != string(savedPlan) || plan.SHA256 != sha256hex(string(savedPlan)) {
		t.Errorf("plan file: got %q sha256 %s, want the saved plan and its SHA-256", plan.File, plan.SHA256)
	}
	if _, err := ws.Plan(ctx, recovery.PlanOptions{NoLock: true, Destroy: true}); err != nil {
		t.Fatal(err)
	}
	if err := ws.ApplyPlan(ctx, plan.File); err != nil {
		t.Fatal(err)
	}
	if err := ws.ForceUnlock(ctx, "0e9a5c1b-2d3f-4a6b-8c7d-9e0f1a2b3c4d"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "-force", "-", "a b", "x;rm -rf /", strings.Repeat("a", 129)} {
		if err := ws.ForceUnlock(ctx, bad); err == nil {
			t.Errorf("ForceUnlock(%q): got no error, want it refused", bad)
		}
	}

	raw, err := os.ReadFile(filepath.Join(fake, "calls"))
	if err != nil {
		t.Fatal(err)
	}
	wsRoot := filepath.Dir(filepath.Dir(filepath.Dir(dirOf(ws))))
	var got []string
	kept := regexp.MustCompile(`medic/(planned|approved)-\d+\.tfplan`)
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if l != "version -json" && l != "version" { // New's check, terraform-exec's compatibility checks
			got = append(got, kept.ReplaceAllString(strings.ReplaceAll(l, wsRoot, "WS"), "medic/$1.tfplan"))
		}
	}
	want := []string{
		"init -no-color -input=false -backend=true -get=true -upgrade=false -reconfigure -backend-config=backend-prod.hcl -backend-config=address=http://127.0.0.1:1/state/prod",
		"plan -no-color -input=false -detailed-exitcode -lock-timeout=10m0s -out=WS/out/medic.tfplan -var-file=prod.tfvars -lock=true -parallelism=10 -refresh=true -var model_version=" + sha1,
		"show -json -no-color WS/medic/planned.tfplan",
		"plan -no-color -input=false -detailed-exitcode -lock-timeout=0s -out=WS/out/medic.tfplan -var-file=prod.tfvars -lock=false -parallelism=10 -refresh=true -destroy -var model_version=" + sha1,
		"show -json -no-color WS/medic/planned.tfplan",
		"apply -no-color -auto-approve -input=false -lock-timeout=10m0s -lock=true -parallelism=10 -refresh=true WS/medic/approved.tfplan",
		"force-unlock -no-color -force 0e9a5c1b-2d3f-4a6b-8c7d-9e0f1a2b3c4d",
	}
	if !slices.Equal(got, want) {
		t.Errorf("command lines:\ngot  %q\nwant %q", got, want)
	}
	if applied, err := os.ReadFile(filepath.Join(fake, "applied")); err != nil || string(applied) != string(plan.File) {
		t.Errorf("apply got the plan %q (%v), want the saved one byte for byte", applied, err)
	}
	if len(asked) != 7 || asked[0] != "prod/15m0s" {
		t.Errorf("credentials asked %v, want once per command (7), for prod, valid 15m at least", asked)
	}

	envRaw, err := os.ReadFile(filepath.Join(fake, "env"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, l := range strings.Split(string(envRaw), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	for k, want := range map[string]string{
		"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "PATH": os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID": "ASIAPRODROLE0000000", "AWS_SESSION_TOKEN": "prod-token", "AWS_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true",
		"HOME": filepath.Join(wsRoot, "home"), "TMPDIR": filepath.Join(wsRoot, "tmp"), "TF_DATA_DIR": filepath.Join(wsRoot, "data"),
	} {
		if vars[k] != want {
			t.Errorf("terraform's environment: %s=%q, want %q", k, vars[k], want)
		}
	}
	for k, v := range vars {
		if strings.Contains(v, "must-not-reach-terraform") || strings.Contains(v, "AKIAMEDICOWNKEY") {
			t.Errorf("terraform's environment has medic's own %s", k)
		}
	}
	rc, err := os.ReadFile(vars["TF_CLI_CONFIG_FILE"])
	if err != nil || !strings.HasPrefix(vars["TF_CLI_CONFIG_FILE"], wsRoot) {
		t.Fatalf("TF_CLI_CONFIG_FILE=%q: %v; want a file in the workspace", vars["TF_CLI_CONFIG_FILE"], err)
	}
	for _, w := range []string{"provider_installation {", `filesystem_mirror {`, `path = "/opt/medic/providers"`} {
		if !strings.Contains(string(rc), w) {
			t.Errorf("CLI config lacks %q:\n%s", w, rc)
		}
	}
	if strings.Contains(string(rc), "direct") {
		t.Errorf("CLI config lets providers come from their registries although a directory is configured:\n%s", rc)
	}
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
