package terraform

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/medic-ops/medic/recovery"
)

// lockStderr is what Terraform 1.5.7 and 1.11.4 print (with -no-color) when the http
// backend refuses the lock: the holder's ID after "ID=", then the contender's own
// Lock Info.
const lockStderr = `
Error: Error acquiring the state lock

Error message: HTTP remote state already locked:
ID=0e9a5c1b-2d3f-4a6b-8c7d-9e0f1a2b3c4d
Lock Info:
  ID:        8039926c-b373-d501-5b86-b9684c2f83a9
  Path:      
  Operation: OperationTypeApply
  Who:       root@vm
  Version:   1.5.7
  Created:   2026-11-26 07:57:47.182780348 +0000 UTC
  Info:      


Terraform acquires a state lock to protect the state from being written
by multiple users at the same time.
`

// tofuHTTPLockStderr is what OpenTofu 1.12.6 prints (with -no-color) when the http
// backend refuses the lock: the holder's ID after "ID=" (wrapped onto its own line), then
// the holder's Lock Info (OpenTofu's http client reports the lock it read, not its own
// attempt) and OpenTofu's own closing text.
const tofuHTTPLockStderr = `
Error: Error acquiring the state lock

Error message: HTTP remote state already locked:
ID=484a2c3c-b8d0-42e0-9977-075ccb9e9044
Lock Info:
  ID:        484a2c3c-b8d0-42e0-9977-075ccb9e9044
  Path:      
  Operation: OperationTypeApply
  Who:       runner@fv-az12-34
  Version:   1.5.7
  Created:   2026-12-07 20:22:25.393818514 +0000 UTC
  Info:      


OpenTofu acquires a state lock to protect the state from being written
by multiple users at the same time. Please resolve the issue above and try
again. For most commands, you can disable locking with the "-lock=false"
flag, but this is not recommended.
`

// tofuS3LockStderr is what OpenTofu 1.12.6 prints when the S3 backend's DynamoDB lock
// table refuses the lock: the conditional write's error, then the holder's Lock Info.
const tofuS3LockStderr = `Acquiring state lock. This may take a few moments...

Error: Error acquiring the state lock

Error message: operation error DynamoDB: PutItem, https response error
StatusCode: 400, RequestID: 00000013-0000-4000-8000-000000000013,
ConditionalCheckFailedException: The conditional request failed
Lock Info:
  ID:        4f1c2a9e-0d3b-4c55-9a77-holder000001
  Path:      medic-tfstate/prod/terraform.tfstate
  Operation: OperationTypeApply
  Who:       ci@runner-7
  Version:   1.12.6
  Created:   2026-01-02 03:04:05.123456789 +0000 UTC
  Info:      


OpenTofu acquires a state lock to protect the state from being written
by multiple users at the same time. Please resolve the issue above and try
again. For most commands, you can disable locking with the "-lock=false"
flag, but this is not recommended.
`

// tofuStaleStderr is OpenTofu's refusal of a saved plan made against an older state
// (internal/backend/local/backend_local.go).
const tofuStaleStderr = `
Error: Saved plan is stale

The given plan file can no longer be applied because the state was changed by
another operation after the plan was created.
`

func TestErrorSummary(t *testing.T) {
	exit1 := errors.New("exit status 1\n" + lockStderr)
	tests := []struct {
		name, op, stderr string
		err              error
		wantSummary      string
		wantError        string
		wantLockID       string
		wantStale        bool
	}{
		{name: "http lock", op: "apply", stderr: lockStderr, err: exit1,
			wantSummary: "Terraform apply: Error acquiring the state lock (held by ID 0e9a5c1b-2d3f-4a6b-8c7d-9e0f1a2b3c4d)",
			wantError:   "terraform apply in prod: Error acquiring the state lock (exit status 1)",
			wantLockID:  "0e9a5c1b-2d3f-4a6b-8c7d-9e0f1a2b3c4d"},
		{name: "OpenTofu http lock", op: "apply", stderr: tofuHTTPLockStderr, err: errors.New("exit status 1"),
			wantSummary: "Terraform apply: Error acquiring the state lock (held by ID 484a2c3c-b8d0-42e0-9977-075ccb9e9044)",
			wantError:   "terraform apply in prod: Error acquiring the state lock (exit status 1)",
			wantLockID:  "484a2c3c-b8d0-42e0-9977-075ccb9e9044"},
		{name: "OpenTofu S3 lock", op: "plan", stderr: tofuS3LockStderr, err: errors.New("exit status 1"),
			wantSummary: "Terraform plan: Error acquiring the state lock (held by ID 4f1c2a9e-0d3b-4c55-9a77-holder000001)",
			wantError:   "terraform plan in prod: Error acquiring the state lock (exit status 1)",
			wantLockID:  "4f1c2a9e-0d3b-4c55-9a77-holder000001"},
		{name: "OpenTofu stale plan", op: "apply", stderr: tofuStaleStderr, err: errors.New("exit status 1"), wantStale: true,
			wantSummary: "Terraform apply: Saved plan is stale",
			wantError:   "terraform apply in prod: " + recovery.ErrStalePlan.Error()},
		{name: "boxed diagnostics", op: "plan", stderr: "╷\n│ Error: Unsupported argument\n│ \n│   on main.tf line 3\n╵\n", err: errors.New("exit status 1"),
			wantSummary: "Terraform plan: Unsupported argument", wantError: "terraform plan in prod: Unsupported argument (exit status 1)"},
		{name: "cancelled", op: "apply", stderr: "\nError: execution halted\n", err: fmt.Errorf("signal: interrupt: %w", context.Canceled),
			wantSummary: "Terraform apply: cancelled (execution halted)", wantError: "terraform apply in prod: execution halted (cancelled)"},
		{name: "timed out, no stderr", op: "destroy", err: fmt.Errorf("killed: %w", context.DeadlineExceeded),
			wantSummary: "Terraform destroy: timed out", wantError: "terraform destroy in prod: timed out"},
		{name: "no Error line", op: "init", stderr: "something odd\nmore", err: errors.New("exit status 2"),
			wantSummary: "Terraform init: something odd", wantError: "terraform init in prod: something odd (exit status 2)"},
		{name: "no stderr", op: "show", err: errors.New("exec: not found\nmore"),
			wantSummary: "Terraform show: exec: not found", wantError: "terraform show in prod: exec: not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newError(tt.op, "prod", tt.err, tt.stderr)
			if got := e.Summary(); got != tt.wantSummary {
				t.Errorf("Summary: got %q, want %q", got, tt.wantSummary)
			}
			if got := e.Error(); got != tt.wantError {
				t.Errorf("Error: got %q, want %q", got, tt.wantError)
			}
			if got := e.LockID(); got != tt.wantLockID {
				t.Errorf("LockID: got %q, want %q", got, tt.wantLockID)
			}
			if got := e.Locked(); got != (tt.wantLockID != "") {
				t.Errorf("Locked: got %v, want %v", got, tt.wantLockID != "")
			}
			if got := errors.Is(e, recovery.ErrStalePlan); got != tt.wantStale || e.Stale() != tt.wantStale {
				t.Errorf("stale: got errors.Is %v, Stale %v; want %v", got, e.Stale(), tt.wantStale)
			}
			if !errors.Is(e, tt.err) {
				t.Errorf("errors.Is(e, cause) is false, want Unwrap to reach the cause")
			}
		})
	}
}
