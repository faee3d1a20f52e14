package recovery

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		in      string
		gone    string
		keeping string
	}{
		{"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "export AWS_ACCESS_KEY_ID="},
		{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "aws_secret_access_key"},
		{`{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`, "wJalrXUtnFEMI", "SecretAccessKey"},
		{"curl -H 'X-API-Key: sk_live_51HxExampleKey' https://x/health", "sk_live_51HxExampleKey", "https://x/health"},
		{"X-API-Key=abc123def456", "abc123def456", "X-API-Key="},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature123", "eyJhbGci", "Authorization: Bearer"},
		{"token ghp_abcdefghijklmnopqrstuvwxyz0123456789 used", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "used"},
		{"SLACK_BOT_TOKEN=xoxb-1234-5678-abcdefghij", "xoxb-1234-5678", "SLACK_BOT_TOKEN="},
		{"postgres://medic:hunter2@db:5432/medic", "hunter2", "postgres://medic:"},
		{"password: correct-horse-battery", "correct-horse-battery", "password:"},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow", "[REDACTED PRIVATE KEY]"},
		{"FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds - AssertionError", "", "FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds"},
		{"Lock Info:\n  ID: 3f2a6b1e-7a2c-4d55-9a0e-1b2c3d4e5f60", "", "3f2a6b1e-7a2c-4d55-9a0e-1b2c3d4e5f60"},
	}
	for _, tt := range tests {
		got := Redact(tt.in)
		if tt.gone != "" && strings.Contains(got, tt.gone) {
			t.Errorf("Redact(%q) = %q: still contains %q", tt.in, got, tt.gone)
		}
		if !strings.Contains(got, tt.keeping) {
			t.Errorf("Redact(%q) = %q: lost %q", tt.in, got, tt.keeping)
		}
	}
	if got := Redact("key is s3cr3t-value here", "s3cr3t-value"); strings.Contains(got, "s3cr3t") {
		t.Errorf("known value not redacted: %q", got)
	}
}
