package terraform_test

import (
	"context"
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
// terraform binary against the sandbox's state server: deploy sha1, plan sha2 (every
// function replaced), fail on a lock held by another runner, force-unlock it with the
// holder's ID, apply sha2, destroy.
func TestRollbackLockAndForceUnlock(t *testing.T) {
	w := mustWorld(t, sha1, sha2)
	ctx := context.Background()
	env := envConfig(w.state, "prod", 2*time.Second)

	ws1 := mustWorkspace(t, w.runner, env, sha1)
	if !strings.HasPrefix(ws1.Dir(), w.root) || !strings.HasSuffix(ws1.Dir(), filepath.FromSlash(sandbox.TerraformDir)) {
		t.Errorf("got workspace dir %s, want the repository's %s under %s", ws1.Dir(), sandbox.TerraformDir, w.root)
	}
	plan, err := ws1.Plan(ctx)
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
	if err := ws1.Apply(ctx); err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if got, want := deployed(t, w.state, "prod"), wantDeployed("prod", sha1); !maps.Equal(got, want) {
		t.Fatalf("after applying sha1: got %v, want %v", got, want)
	}
	if _, held := w.state.Lock("prod"); held {
		t.Errorf("after apply: the state is still locked, want it released")
	}

	// A rollback to sha2 replaces every function and leaves the table alone.
	ws2 := mustWorkspace(t, w.runner, env, sha2)
	plan, err = ws2.Plan(ctx)
	if err != nil {
		t.Fatalf("plan at sha2: %v", err)
	}
	replace := []string{"delete", "create"}
	wantReplaces := []recovery.ResourceChange{
		{Address: `terraform_data.lambda["analysis"]`, Actions: replace},
		{Address: `terraform_data.lambda["dashboard"]`, Actions: replace},
		{Address: `terraform_data.lambda["ingestion"]`, Actions: replace},
	}
	if got := sortedChanges(plan); !slices.EqualFunc(got, wantReplaces, sameChange) || plan.Add != 3 || plan.Change != 0 || plan.Destroy != 3 {
		t.Errorf("plan at sha2: got %+v (+%d ~%d -%d), want %+v (+3 ~0 -3)", got, plan.Add, plan.Change, plan.Destroy, wantReplaces)
	}

	// Another runner takes the lock between plan and apply.
	held := w.state.Hold("prod", tfstate.LockInfo{Who: "runner@fv-az12-34", Operation: "OperationTypeApply"})
	err = ws2.Apply(ctx)
	var tfErr *terraform.Error
	if !errors.As(err, &tfErr) {
		t.Fatalf("apply under another's lock: got %v, want a *terraform.Error", err)
	}
	wantSummary := "Terraform apply: Error acquiring the state lock (held by ID " + held.ID + ")"
	if tfErr.Summary() != wantSummary {
		t.Errorf("got summary %q, want %q", tfErr.Summary(), wantSummary)
	}
	if tfErr.LockID() != held.ID || !tfErr.Locked() {
		t.Errorf("got LockID %q Locked %v, want the holder's %q and true", tfErr.LockID(), tfErr.Locked(), held.ID)
	}
	if !strings.Contains(tfErr.Detail(), "Error acquiring the state lock") {
		t.Errorf("got detail %q, want Terraform's diagnostics", tfErr.Detail())
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
	// The failed apply consumed the saved plan; Apply plans again.
	if err := ws2.Apply(ctx); err != nil {
		t.Fatalf("apply after force-unlock: %v", err)
	}
	if got, want := deployed(t, w.state, "prod"), wantDeployed("prod", sha2); !maps.Equal(got, want) {
		t.Errorf("after applying sha2: got %v, want %v", got, want)
	}

	plan, err = ws2.Plan(ctx)
	if err != nil || !plan.NoChanges() {
		t.Errorf("plan after apply: got %+v, %v; want no changes", plan, err)
	}
	if err := ws2.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if rs, err := w.state.Resources("prod"); err != nil || len(rs) != 0 {
		t.Errorf("after destroy: got resources %v, %v; want none", rs, err)
	}

	dir := ws2.Dir()
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
	bin := tftest.Binary(t)
	state := tfstate.New(nil)
	t.Cleanup(state.Close)
	archives := mapArchives{sha1: repoTarball(t, sha1, map[string]string{
		sandbox.TerraformDir + "/slow.tfvars": "environment = \"prod\"\napply_delay = 30\n",
	})}
	r := mustRunner(t, terraform.Options{ExecPath: bin, WorkRoot: t.TempDir(), Archives: archives, Logger: zaptest.NewLogger(t)})
	env := envConfig(state, "prod", time.Second)
	env.Terraform.VarFile = "slow.tfvars"
	ws := mustWorkspace(t, r, env, sha1)
	if _, err := ws.Plan(context.Background()); err != nil {
		t.Fatalf("plan: %v", err)
	}
	wsDir, err := filepath.EvalSymlinks(ws.Dir())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ws.Apply(ctx) }()
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
