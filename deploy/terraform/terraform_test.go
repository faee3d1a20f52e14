package terraform_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

const (
	sha1 = "1111111111111111111111111111111111111111"
	sha2 = "2222222222222222222222222222222222222222"
)

// TestRollbackLockAndForceUnlock walks the runbook's production rollback with the real
// terraform binary (confined by the shim, as another user when the tests run as root)
// against the sandbox's state server: deploy sha1 through a saved plan, plan sha2 (every
// function replaced), fail on a lock held by another runner, force-unlock it with the
// holder's ID, apply the same saved plan, then see a stale plan refused, a destroy
// plan applied and `destroy` run. Once per CLI: Terraform and OpenTofu.
func TestRollbackLockAndForceUnlock(t *testing.T) {
	forEachCLI(t, testRollbackLockAndForceUnlock)
}

func testRollbackLockAndForceUnlock(t *testing.T, cli tftest.CLI, bin string) {
	w := mustWorld(t, bin, sha1, sha2)
	if w.runner.CLI() != cli.Product {
		t.Fatalf("the runner on %s says it runs %s, want %s", bin, w.runner.CLI(), cli.Product)
	}
	ctx := context.Background()
	env := envConfig(w.state, "prod", 2*time.Second)

	ws1 := mustWorkspace(t, w.runner, env, sha1)
	if !strings.HasPrefix(dirOf(ws1), w.root) || !strings.HasSuffix(dirOf(ws1), filepath.FromSlash(sandbox.TerraformDir)) {
		t.Errorf("got workspace dir %s, want the repository's %s under %s", dirOf(ws1), sandbox.TerraformDir, w.root)
	}
	plan, err := ws1.Plan(ctx, recovery.PlanOptions{})
	if err != nil {
		t.Fatalf("first plan: %v", err)
	}
	wantCreates := []recovery.ResourceChange{
		{Address: `terraform_data.items_table`, Actions: []string{"create"}},
		{Address: `terraform_data.lambda["analysis"]`, Actions: []string{"create"}},
		{Address: `terraform_data.lambda["dashboard"]`, Actions: []string{"create"}},
		{Address: `terraform_data.lambda["ingestion"]`, Actions: []string{"create"}},
	}
	if got := sortedChanges(plan); !slices.EqualFunc(got, wantCreates, sameChange) || plan.Add != 4 || plan.Change != 0 || plan.Destroy != 0 {
		t.Errorf("first plan: got %+v (+%d ~%d -%d), want %+v (+4 ~0 -0)", got, plan.Add, plan.Change, plan.Destroy, wantCreates)
	}
	if h := sha256.Sum256(plan.File); len(plan.File) == 0 || plan.SHA256 != hex.EncodeToString(h[:]) {
		t.Errorf("first plan: got %d bytes with sha256 %q, want the plan file and its SHA-256", len(plan.File), plan.SHA256)
	}
	if err := ws1.ApplyPlan(ctx, plan.File); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if got, want := deployed(t, w.state, "prod"), wantDeployed("prod", sha1); !maps.Equal(got, want) {
		t.Fatalf("after applying sha1: got %v, want %v", got, want)
	}
	if _, held := w.state.Lock("prod"); held {
		t.Errorf("after apply: the state is still locked, want it released")
	}

	// A rollback to sha2 replaces every function and leaves the table alone. A preview
	// plans without the lock: another runner holding it does not stop it.
	held := w.state.Hold("prod", tfstate.LockInfo{Who: "runner@fv-az12-34", Operation: "OperationTypeApply"})
	ws2 := mustWorkspace(t, w.runner, env, sha2)
	plan2, err := ws2.Plan(ctx, recovery.PlanOptions{NoLock: true})
	if err != nil {
		t.Fatalf("plan at sha2 without the lock: %v", err)
	}
	replace := []string{"delete", "create"}
	wantReplaces := []recovery.ResourceChange{
		{Address: `terraform_data.lambda["analysis"]`, Actions: replace},
		{Address: `terraform_data.lambda["dashboard"]`, Actions: replace},
		{Address: `terraform_data.lambda["ingestion"]`, Actions: replace},
	}
	if got := sortedChanges(plan2); !slices.EqualFunc(got, wantReplaces, sameChange) || plan2.Add != 3 || plan2.Change != 0 || plan2.Destroy != 3 {
		t.Errorf("plan at sha2: got %+v (+%d ~%d -%d), want %+v (+3 ~0 -3)", got, plan2.Add, plan2.Change, plan2.Destroy, wantReplaces)
	}

	// Applying it waits for the lock, then fails, saying whose.
	err = ws2.ApplyPlan(ctx, plan2.File)
	var tfErr *terraform.Error
	if !errors.As(err, &tfErr) {
		t.Fatalf("apply under another's lock: got %v, want a *terraform.Error", err)
	}
	wantSummary := "Terraform apply: Error acquiring the state lock (held by ID " + held.ID + ")"
	if tfErr.Summary() != wantSummary {
		t.Errorf("got summary %q, want %q", tfErr.Summary(), wantSummary)
	}
	if tfErr.LockID() != held.ID || !tfErr.Locked() || errors.Is(err, recovery.ErrStalePlan) {
		t.Errorf("got LockID %q Locked %v stale %v, want the holder's %q, true and not stale", tfErr.LockID(), tfErr.Locked(), errors.Is(err, recovery.ErrStalePlan), held.ID)
	}
	t.Logf("%s said:\n%s", cli.Product, tfErr.Detail())
	// The diagnostics are the CLI's own: "OpenTofu acquires a state lock …".
	if !strings.Contains(tfErr.Detail(), "Error acquiring the state lock") || !strings.Contains(tfErr.Detail(), string(cli.Product)+" acquires a state lock") {
		t.Errorf("got detail %q, want %s's diagnostics", tfErr.Detail(), cli.Product)
	}
	if got := deployed(t, w.state, "prod"); !maps.Equal(got, wantDeployed("prod", sha1)) {
		t.Errorf("after the refused apply: got %v, want sha1 still deployed", got)
	}

	if err := ws2.ForceUnlock(ctx, held.ID); err != nil {
		t.Fatalf("force-unlock %s: %v", held.ID, err)
	}
	if n := w.state.ForcedUnlocks("prod"); n != 1 {
		t.Errorf("got %d forced unlocks, want 1", n)
	}
	if lock, ok := w.state.Lock("prod"); ok {
		t.Errorf("after force-unlock: got lock %+v, want none", lock)
	}
	// The state did not change: the same saved plan applies now.
	if err := ws2.ApplyPlan(ctx, plan2.File); err != nil {
		t.Fatalf("apply after force-unlock: %v", err)
	}
	if got, want := deployed(t, w.state, "prod"), wantDeployed("prod", sha2); !maps.Equal(got, want) {
		t.Errorf("after applying sha2: got %v, want %v", got, want)
	}

	// A plan made before another apply is stale: Terraform refuses it, nothing changes.
	back, err := ws1.Plan(ctx, recovery.PlanOptions{NoLock: true})
	if err != nil {
		t.Fatal(err)
	}
	again, err := ws2.Plan(ctx, recovery.PlanOptions{})
	if err != nil || !again.NoChanges() {
		t.Fatalf("plan after apply: got %+v, %v; want no changes", again, err)
	}
	destroy, err := ws2.Plan(ctx, recovery.PlanOptions{Destroy: true, NoLock: true})
	if err != nil || destroy.Destroy != 4 || destroy.Add != 0 {
		t.Fatalf("destroy plan: got %+v, %v; want 4 to destroy", destroy, err)
	}
	if err := ws2.ApplyPlan(ctx, destroy.File); err != nil {
		t.Fatalf("applying the destroy plan: %v", err)
	}
	if rs, err := w.state.Resources("prod"); err != nil || len(rs) != 0 {
		t.Errorf("after destroy: got resources %v, %v; want none", rs, err)
	}
	err = ws1.ApplyPlan(ctx, back.File)
	if !errors.Is(err, recovery.ErrStalePlan) || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("applying a plan made before the destroy: got %v, want it refused as stale", err)
	}
	if rs, _ := w.state.Resources("prod"); len(rs) != 0 {
		t.Errorf("the stale plan changed the state: %d resources", len(rs))
	}
	// `destroy` itself (recovery applies destroy plans instead; the command is there).
	redeploy, err := ws1.Plan(ctx, recovery.PlanOptions{})
	if err != nil {
		t.Fatalf("plan after the destroy: %v", err)
	}
	if err := ws1.ApplyPlan(ctx, redeploy.File); err != nil {
		t.Fatalf("apply after the destroy: %v", err)
	}
	if err := ws1.(*terraform.Workspace).Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if rs, err := w.state.Resources("prod"); err != nil || len(rs) != 0 {
		t.Errorf("after terraform destroy: got resources %v, %v; want none", rs, err)
	}
	if _, held := w.state.Lock("prod"); held {
		t.Errorf("after terraform destroy: the state is still locked, want it released")
	}

	dir := dirOf(ws2)
	if err := ws2.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Close: stat %s: got %v, want not exist", dir, err)
	}
}

// TestApplyCancelled cancels an apply while its local-exec provisioner sleeps:
// terraform-exec interrupts Terraform, which stops the provisioner, records what it
// finished and releases the state lock.
func TestApplyCancelled(t *testing.T) {
	forEachCLI(t, func(t *testing.T, _ tftest.CLI, bin string) { testApplyCancelled(t, bin) })
}

func testApplyCancelled(t *testing.T, bin string) {
	state := tfstate.New(nil)
	t.Cleanup(state.Close)
	archives := mapArchives{sha1: repoTarball(t, sha1, map[string]string{
		sandbox.TerraformDir + "/slow.tfvars": "environment = \"prod\"\napply_delay = 30\n",
	})}
	r := mustRunner(t, isolated(t, terraform.Options{ExecPath: bin, Archives: archives, Logger: zaptest.NewLogger(t)}))
	env := envConfig(state, "prod", time.Second)
	env.Terraform.VarFile = "slow.tfvars"
	ws := mustWorkspace(t, r, env, sha1)
	plan, err := ws.Plan(context.Background(), recovery.PlanOptions{})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	wsDir, err := filepath.EvalSymlinks(dirOf(ws))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ws.ApplyPlan(ctx, plan.File) }()
	// Wait until the provisioner's sleep runs (it holds the apply, and the lock, open).
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	// Terraform kills the provisioner's shell but not the shell's child (dash forks
	// `sleep`): end the sleep this test started.
	t.Cleanup(func() { killSleeps(t, wsDir) })
	for len(sleeps(wsDir)) == 0 {
		select {
		case err := <-done:
			t.Fatalf("apply ended before its provisioner ran: %v", err)
		case <-tick.C:
		}
	}
	if lock, ok := state.Lock("prod"); !ok || lock.Operation != "OperationTypeApply" {
		t.Errorf("while applying: got lock %+v (held %v), want an apply lock", lock, ok)
	}
	cancel()
	err = <-done

	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled apply: got %v, want an error wrapping context.Canceled", err)
	}
	var tfErr *terraform.Error
	if !errors.As(err, &tfErr) || !strings.HasPrefix(tfErr.Summary(), "Terraform apply: cancelled") {
		t.Errorf("cancelled apply: got %v, want a *terraform.Error summarized as a cancelled apply", err)
	}
	if lock, ok := state.Lock("prod"); ok {
		t.Errorf("after the interrupt: got lock %+v, want it released", lock)
	}
	if got := deployed(t, state, "prod"); len(got) != 0 {
		t.Errorf("after the interrupt: got deployed functions %v, want none (the apply stopped before them)", got)
	}
}

func sortedChanges(p recovery.TerraformPlan) []recovery.ResourceChange {
	out := slices.Clone(p.Changes)
	slices.SortFunc(out, func(a, b recovery.ResourceChange) int { return strings.Compare(a.Address, b.Address) })
	return out
}

func sameChange(a, b recovery.ResourceChange) bool {
	return a.Address == b.Address && slices.Equal(a.Actions, b.Actions)
}

// dirOf is a workspace's directory (recovery's TerraformWorkspace does not show it).
func dirOf(ws recovery.TerraformWorkspace) string { return ws.(*terraform.Workspace).Dir() }
