package github

import (
	"crypto/sha256"
	"testing"
)

// TestWebhookOtherRepositoryIgnored: a GitHub App's webhook carries every installed
// repository's events, signed alike; only the served repository's become signals.
func TestWebhookOtherRepositoryIgnored(t *testing.T) {
	tests := []struct {
		name, repository, payload, event string
		wantSignals                      int
	}{
		{"run of the served repository", "octo-org/octo-repo", "workflow_run.completed.json", "workflow_run", 1},
		{"names compared as GitHub does, case-insensitively", "Octo-Org/Octo-Repo", "workflow_run.completed.json", "workflow_run", 1},
		{"run of another repository", "octo-org/medic-target", "workflow_run.completed.json", "workflow_run", 0},
		{"job of another repository", "octo-org/medic-target", "workflow_job.completed.failure.json", "workflow_job", 0},
		{"job of the served repository", "Codertocat/Hello-World", "workflow_job.completed.failure.json", "workflow_job", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHook(t, func(o *WebhookOptions) { o.Repository = tt.repository })
			payload := mustPayload(t, tt.payload)
			status := post(t, "POST", h.url, payload, map[string]string{"Content-Type": "application/json", "X-GitHub-Event": tt.event,
				"X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": "sha256=" + mac(sha256.New, hookSecret, payload)})
			if status != 202 {
				t.Errorf("status: got %d, want 202", status)
			}
			if got := len(h.sink.all()); got != tt.wantSignals {
				t.Errorf("got %d signals, want %d", got, tt.wantSignals)
			}
			if tt.wantSignals == 0 && h.logs.FilterMessage("webhook delivery for another repository ignored").Len() != 1 {
				t.Errorf("want one log line saying the delivery was for another repository")
			}
		})
	}
	// An app's ping names no repository, and is still answered.
	h := mustHook(t, func(o *WebhookOptions) { o.Repository = "octo-org/octo-repo" })
	ping := []byte(`{"zen":"Keep it logically awesome.","hook_id":1,"hook":{"type":"App","id":1}}`)
	if got := post(t, "POST", h.url, ping, map[string]string{"Content-Type": "application/json", "X-GitHub-Event": "ping",
		"X-GitHub-Delivery": "d-2", "X-Hub-Signature-256": "sha256=" + mac(sha256.New, hookSecret, ping)}); got != 200 {
		t.Errorf("app ping: got %d, want 200", got)
	}
}
