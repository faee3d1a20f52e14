package terraform_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/deploy/terraform"
	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/tfstate"
)

// probeSecret stands for medic's tokens: in the environment medic started with, in a
// private file of medic's, and in the environment of the process that runs Terraform.
const probeSecret = "xoxb-medic-probe-secret-7f3a91"

// holderMain, when the test binary is started as a "medic" holding secrets (see
// startHolder), protects itself as medic does at start-up, writes its secret file and
// waits until its stdin closes.
func holderMain() {
	dir := os.Getenv("MEDIC_TEST_HOLDER")
	if dir == "" {
		return
	}
	if err := terraform.ProtectProcess(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(dir, "medic.db"), []byte("store "+probeSecret), 0o600); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

// startHolder starts a process standing for medic: the secret in the environment it
// started with (what /proc/<pid>/environ shows) and in a file of its own, protected the
// way medic protects itself. It returns its PID and the secret file's path.
func startHolder(t *testing.T) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "medic-holder-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Readable by anyone, as a careless install leaves it: only the confinement keeps
	// Terraform out.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "MEDIC_TEST_HOLDER="+dir, "SLACK_BOT_TOKEN="+probeSecret)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("the holder did not start: %q %v", line, err)
	}
	return cmd.Process.Pid, filepath.Join(dir, "medic.db")
}

// probeScript tries every way a provider or a command of the sources has to medic's
// secrets and writes what it found in probe-report, in its working directory (the
// only place it may write).
func probeScript(holderPID int, secretFile string) string {
	return `#!/bin/sh
out=probe-report
: > $out
if env | grep -q '` + probeSecret + `'; then echo "env LEAK" >> $out; else echo "env clean" >> $out; fi
for f in /proc/[0-9]*/environ; do
  if grep -q '` + probeSecret + `' "$f" 2>/dev/null; then echo "environ LEAK $f" >> $out; fi
done
if cat /proc/` + fmt.Sprint(holderPID) + `/environ > /dev/null 2>&1; then echo "holder environ READ" >> $out; else echo "holder environ denied" >> $out; fi
if cat '` + secretFile + `' > /dev/null 2>&1; then echo "store LEAK" >> $out; else echo "store denied" >> $out; fi
if ls / > /dev/null 2>&1 && ls /root > /dev/null 2>&1; then echo "root home READ" >> $out; else echo "root home denied" >> $out; fi
if echo x > /tmp/medic-probe-escape 2>/dev/null; then echo "tmp WRITE" >> $out; rm -f /tmp/medic-probe-escape; else echo "tmp denied" >> $out; fi
if echo '# mine' >> ../../../medic/terraformrc 2>/dev/null; then echo "medic config WRITE" >> $out; else echo "medic config denied" >> $out; fi
for p in ../../../medic/*.tfplan; do if [ -e "$p" ] && true >> "$p" 2>/dev/null; then echo "medic plan WRITE" >> $out; fi; done
if cat /etc/shadow /etc/machine-id > /dev/null 2>&1; then echo "etc READ" >> $out; else echo "etc denied" >> $out; fi
echo "user $(id -u)" >> $out
`
}

// TestTerraformCannotReachMedicsSecrets runs, through the Runner medic uses, an apply
// whose sources run a command (a local-exec provisioner, as a provider could) that
// looks for medic's secrets every way it can: its own environment, every process's
// /proc/<pid>/environ, a private file of medic's left readable, another user's home,
// and the rest of the filesystem. It finds nothing.
func TestTerraformCannotReachMedicsSecrets(t *testing.T) {
	forEachCLI(t, func(t *testing.T, _ tftest.CLI, bin string) { testCannotReachMedicsSecrets(t, bin) })
}

func testCannotReachMedicsSecrets(t *testing.T, bin string) {
	t.Setenv("SLACK_APP_TOKEN", probeSecret) // in medic's environment now, too
	holder, secretFile := startHolder(t)
	state := tfstate.New(nil)
	t.Cleanup(state.Close)
	const sha = "3333333333333333333333333333333333333333"
	archives := mapArchives{sha: repoTarball(t, sha, map[string]string{
		sandbox.TerraformDir + "/probe.sh": probeScript(holder, secretFile),
		sandbox.TerraformDir + "/probe.tf": `resource "terraform_data" "probe" {
  provisioner "local-exec" {
    command = "sh ./probe.sh"
  }
}
`,
	})}
	r := mustRunner(t, isolated(t, terraform.Options{ExecPath: bin, Archives: archives, Logger: zaptest.NewLogger(t)}))
	ws := mustWorkspace(t, r, envConfig(state, "prod", time.Second), sha)
	plan, err := ws.Plan(context.Background(), recovery.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.ApplyPlan(context.Background(), plan.File); err != nil {
		var tfErr *terraform.Error
		if errors.As(err, &tfErr) {
			t.Fatalf("%v\n%s", err, tfErr.Detail())
		}
		t.Fatal(err)
	}
	report, err := os.ReadFile(filepath.Join(dirOf(ws), "probe-report"))
	if err != nil {
		t.Fatalf("the probe left no report: %v", err)
	}
	t.Logf("probe report:\n%s", report)
	for _, want := range []string{"env clean", "holder environ denied", "store denied", "root home denied", "tmp denied", "medic config denied", "etc denied"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("probe: want %q in its report", want)
		}
	}
	if strings.Contains(string(report), "LEAK") || strings.Contains(string(report), "READ") || strings.Contains(string(report), "WRITE") {
		t.Errorf("the probe reached something of medic's:\n%s", report)
	}
	if os.Geteuid() == 0 && !strings.Contains(string(report), "user 65534") {
		t.Errorf("medic runs as root but Terraform did not run as nobody:\n%s", report)
	}
}

// TestProvidersNeverComeFromTheSources: a commit that carries a provider binary in
// terraform.d/plugins (and a pre-installed .terraform) and requires it cannot make
// Terraform run it: medic leaves those directories out, and the CLI configuration it
// writes installs providers only from the configured directory.
func TestProvidersNeverComeFromTheSources(t *testing.T) {
	forEachCLI(t, func(t *testing.T, _ tftest.CLI, bin string) { testProvidersNeverFromSources(t, bin) })
}

func testProvidersNeverFromSources(t *testing.T, bin string) {
	state := tfstate.New(nil)
	t.Cleanup(state.Close)
	const sha = "4444444444444444444444444444444444444444"
	marker := "/tmp/medic-provider-ran-" + fmt.Sprint(time.Now().UnixNano())
	t.Cleanup(func() { os.Remove(marker) })
	provider := "#!/bin/sh\ntouch " + marker + "\nenv > " + marker + "\nexit 1\n"
	files := map[string]string{
		sandbox.TerraformDir + "/probe.tf": `terraform {
  required_providers {
    probe = { source = "evil/probe", version = "1.0.0" }
  }
}
resource "probe_thing" "x" {}
`,
	}
	// "evil/probe" is registry.terraform.io/evil/probe to Terraform and
	// registry.opentofu.org/evil/probe to OpenTofu: the sources carry both.
	for _, host := range []string{"registry.terraform.io", "registry.opentofu.org"} {
		plugin := host + "/evil/probe/1.0.0/linux_amd64/terraform-provider-probe_v1.0.0"
		files[sandbox.TerraformDir+"/terraform.d/plugins/"+plugin] = provider
		files[sandbox.TerraformDir+"/.terraform/providers/"+plugin] = provider
		files["terraform.d/plugins/"+plugin] = provider
	}
	archives := mapArchives{sha: repoTarball(t, sha, files)}
	r := mustRunner(t, isolated(t, terraform.Options{ExecPath: bin, Archives: archives, Logger: zaptest.NewLogger(t)}))
	_, err := r.Workspace(context.Background(), envConfig(state, "prod", time.Second), sha)
	var tfErr *terraform.Error
	if !errors.As(err, &tfErr) || tfErr.Op != "init" {
		t.Fatalf("init with a provider only the sources carry: got %v, want init to fail", err)
	}
	if !strings.Contains(tfErr.Detail(), "evil/probe") {
		t.Errorf("init's error does not name the provider it could not install:\n%s", tfErr.Detail())
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the sources' provider ran (%s exists)", marker)
	}
}
