package recoverytest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/medic-ops/medic/recovery"
)

// Terraform is a recovery.Terraform whose workspaces plan, apply and force-unlock
// without Terraform. Every call of it and of its workspaces is recorded on it
// ("Workspace", "Plan", "ApplyPlan", "ForceUnlock", "Close", with the environment and
// SHA first). The Func fields, when set, answer instead of the defaults: a plan
// changing one resource (its File names the environment, SHA and plan number, its
// SHA256 is the file's), an apply and a force-unlock that succeed.
type Terraform struct {
	Recorder

	WorkspaceFunc   func(ctx context.Context, env recovery.Environment, sha string) error
	PlanFunc        func(ctx context.Context, env recovery.Environment, sha string, o recovery.PlanOptions) (recovery.TerraformPlan, error)
	ApplyPlanFunc   func(ctx context.Context, env recovery.Environment, sha string, plan []byte) error
	ForceUnlockFunc func(ctx context.Context, env recovery.Environment, sha, lockID string) error

	mu    sync.Mutex
	plans int
}

var _ recovery.Terraform = (*Terraform)(nil)

// Workspace opens a workspace of env at sha (WorkspaceFunc may refuse it).
func (t *Terraform) Workspace(ctx context.Context, env recovery.Environment, sha string) (recovery.TerraformWorkspace, error) {
	t.record("Workspace", env.Name, sha)
	if t.WorkspaceFunc != nil {
		if err := t.WorkspaceFunc(ctx, env, sha); err != nil {
			return nil, err
		}
	}
	return &Workspace{tf: t, env: env, sha: sha}, nil
}

// Applied returns the plans applied, in order.
func (t *Terraform) Applied() [][]byte {
	var out [][]byte
	for _, c := range t.CallsTo("ApplyPlan") {
		out = append(out, c.Args[2].([]byte))
	}
	return out
}

// Workspace is a workspace Terraform opened.
type Workspace struct {
	tf  *Terraform
	env recovery.Environment
	sha string
}

var _ recovery.TerraformWorkspace = (*Workspace)(nil)

// Plan returns PlanFunc's plan, or one changing one resource.
func (w *Workspace) Plan(ctx context.Context, o recovery.PlanOptions) (recovery.TerraformPlan, error) {
	w.tf.record("Plan", w.env.Name, w.sha, o)
	if w.tf.PlanFunc != nil {
		return w.tf.PlanFunc(ctx, w.env, w.sha, o)
	}
	w.tf.mu.Lock()
	w.tf.plans++
	n := w.tf.plans
	w.tf.mu.Unlock()
	return NewPlan(fmt.Sprintf("plan #%d of %s at %s (destroy %v)", n, w.env.Name, w.sha, o.Destroy)), nil
}

// NewPlan returns a plan changing one resource whose saved file is file.
func NewPlan(file string) recovery.TerraformPlan {
	sum := sha256.Sum256([]byte(file))
	return recovery.TerraformPlan{
		Changes: []recovery.ResourceChange{{Address: "aws_lambda_function.analysis", Actions: []string{"update"}}},
		Change:  1, File: []byte(file), SHA256: hex.EncodeToString(sum[:]),
	}
}

// ApplyPlan records the plan applied.
func (w *Workspace) ApplyPlan(ctx context.Context, plan []byte) error {
	w.tf.record("ApplyPlan", w.env.Name, w.sha, append([]byte(nil), plan...))
	if w.tf.ApplyPlanFunc != nil {
		return w.tf.ApplyPlanFunc(ctx, w.env, w.sha, plan)
	}
	return nil
}

// ForceUnlock records the lock removed.
func (w *Workspace) ForceUnlock(ctx context.Context, lockID string) error {
	w.tf.record("ForceUnlock", w.env.Name, w.sha, lockID)
	if w.tf.ForceUnlockFunc != nil {
		return w.tf.ForceUnlockFunc(ctx, w.env, w.sha, lockID)
	}
	return nil
}

// Dir names the workspace.
func (w *Workspace) Dir() string { return "/fake/terraform/" + w.env.Name + "/" + w.sha }

// Close records the workspace's removal.
func (w *Workspace) Close() error {
	w.tf.record("Close", w.env.Name, w.sha)
	return nil
}
