package bot

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

func requestText(t *testing.T, r recovery.Request) string {
	t.Helper()
	blocks, _ := RequestMessage(r)
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(blocks); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestRequestMessageOffersApproveOnlyOnAReadyPreview: Approve shows on a pending
// request whose preview is in, with the plan's SHA-256 it approves; never on one still
// preparing, never on one whose preview failed.
func TestRequestMessageOffersApproveOnlyOnAReadyPreview(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	sum := strings.Repeat("ab", 32)
	base := recovery.Request{ID: "REQ-1", Env: "prod", Action: recovery.ActRollback, RequestedBy: "U0ALICE", RequestedAt: at, ExpiresAt: at.Add(15 * time.Minute),
		NeedsApproval: true, State: recovery.RequestPending, Params: recovery.RequestParams{SHA: strings.Repeat("1", 40)}}
	tests := []struct {
		name        string
		edit        func(*recovery.Request)
		approve     bool
		want, never []string
	}{
		{"preparing", func(r *recovery.Request) { r.Preview = recovery.Preview{Title: "Preparing the preview…"} }, false, []string{"Preparing the preview"}, nil},
		{"ready", func(r *recovery.Request) {
			r.PreviewReady, r.Preview = true, recovery.Preview{Title: "terraform plan", Lines: []string{"Plan: 3 to add"}, PlanSHA256: sum}
		}, true, []string{"Approving approves this plan (sha256 " + sum + ")", "Waiting for an approver other than"}, nil},
		{"failed", func(r *recovery.Request) {
			r.PreviewReady, r.State, r.Preview = true, recovery.RequestFailed, recovery.Preview{Title: "terraform plan", Problem: "Terraform init: no backend"}
		}, false, []string{"preview failed: Terraform init: no backend", "nobody can approve it"}, []string{"Approving approves"}},
		{"override", func(r *recovery.Request) {
			r.PreviewReady, r.Params.Override, r.Params.Reason, r.Preview = true, true, "hotfix never shipped", recovery.Preview{PlanSHA256: sum, Title: "plan"}
		}, true, []string{"Admin override by <@U0ALICE>", "was never deployed successfully to prod", "hotfix never shipped"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.edit(&r)
			text := requestText(t, r)
			if got := strings.Contains(text, recovery.ApproveID()); got != tt.approve {
				t.Errorf("Approve offered: got %v, want %v\n%s", got, tt.approve, text)
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("want %q in %s", w, text)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(text, n) {
					t.Errorf("%q should not show in %s", n, text)
				}
			}
		})
	}
}
