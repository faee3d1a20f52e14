package recovery

import (
	"slices"
	"strings"
	"testing"
)

// redactCases plant one credential each: gone must not survive, keep must (the text
// around a secret stays readable). rule names the rule that catches it, so a test
// can prove every rule is needed.
var redactCases = []struct {
	rule string
	in   string
	gone string
	keep string
}{
	{"pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1\n-----END RSA PRIVATE KEY-----\nnext", "MIIEowIBAAKCAQEA1", "next"},
	{"pem", "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAA", "key:"},
	{"pem", "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGR0b2tlbkV4YW1wbGU\n=Ab12\n-----END PGP PRIVATE KEY BLOCK-----", "lQOYBGR0b2tlbkV4YW1wbGU", "[REDACTED PGP PRIVATE KEY BLOCK]"},
	{"pem", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBexampleEC\n-----END EC PRIVATE KEY-----", "MHcCAQEEIBexampleEC", "[REDACTED EC PRIVATE KEY]"},
	{"pem-begin", "step 3\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkq", "MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkq", "step 3"},
	{"pem-end", "+Q2x8dW1hY2hpbmVrZXlib2R5bGluZTE2\nZm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4\n-----END PRIVATE KEY-----\nError: bad key", "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4", "Error: bad key"},
	{"aws-key-id", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "export AWS_ACCESS_KEY_ID="},
	{"aws-key-id", "assumed ASIAY34FZKBOKMUTVV7A for deploy", "ASIAY34FZKBOKMUTVV7A", "for deploy"},
	{"aws-cli", "aws configure set --secret-access-key wJalrXUtnFEMIK7MDENGbPxRfiCY --profile ci", "wJalrXUtnFEMIK7MDENGbPxRfiCY", "--profile ci"},
	{"aws-cli", "aws s3 ls --session-token=FwoGZXIvYXdzEBYaDH", "FwoGZXIvYXdzEBYaDH", "aws s3 ls"},
	{"aws-secret", `{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`, "wJalrXUtnFEMI", "SecretAccessKey"},
	{"aws-secret", `aws_session_token: "IQoJb3JpZ2luX2VjEHAaCXVzLWVhc3QtMSJH"`, "IQoJb3JpZ2luX2VjEHAaCXVzLWVhc3QtMSJH", "aws_session_token"},
	{"x-api-key", "curl -H 'X-API-Key: sk_live_51HxExampleKey' https://x/health", "sk_live_51HxExampleKey", "https://x/health"},
	{"authorization", "Authorization: Basic bWVkaWM6aHVudGVyMg", "bWVkaWM6aHVudGVyMg", "Authorization: Basic"},
	{"bearer", "retrying with Bearer 9f8e7d6c5b4a3f2e1d0c (attempt 2)", "9f8e7d6c5b4a3f2e1d0c", "(attempt 2)"},
	{"github-token", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 used", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "used"},
	{"github-token", "GH_TOKEN_ghs_16C7e42F292c6912E7710c838347Ae178B4a", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", ""},
	{"github-pat", "pushed with github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG0123456789", "pushed with"},
	{"slack-token", "SLACK_BOT_TOKEN_xoxb-1234-5678-abcdefghij in env", "xoxb-1234-5678-abcdefghij", "in env"},
	{"slack-app-token", "app token xapp-1-A0123456-7890-abcdef0123 set", "xapp-1-A0123456-7890-abcdef0123", "set"},
	{"slack-webhook", "posting to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX failed", "T000/B000/XXXXXXXXXXXXXXXX", "https://hooks.slack.com/"},
	{"npm-token", "//registry.npmjs.org/:_authToken npm_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8", "npm_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8", "registry.npmjs.org"},
	{"jwt", "id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok", "eyJzdWIiOiIxMjM0NTY3ODkwIn0", " ok"},
	{"presigned", "GET https://bucket.s3.amazonaws.com/log.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261207&X-Amz-Signature=9a8b7c6d5e4f3a2b1c0d9e8f returned 403", "9a8b7c6d5e4f3a2b1c0d9e8f", "returned 403"},
	{"presigned", "https://productionresultssa0.blob.core.windows.net/actions-results/x/logs.txt?sv=2021-08-06&se=2026-12-07&sig=AbCdEf%2BgHiJkLmNoPq%3D", "AbCdEf%2BgHiJkLmNoPq%3D", "sv=2021-08-06"},
	{"presigned", "state reason: https://b.s3.amazonaws.com/x?X-Amz-Date=1&amp;X-Amz-Signature=4e53585637432f55 (escaped)", "4e53585637432f55", "(escaped)"},
	{"url-password", "POSTGRES://medic:hunter2@db:5432/medic", "hunter2", "POSTGRES://medic:"},
	{"url-password", "redis://default:p4ss/w0rd:x@cache:6379", "p4ss/w0rd:x", "@cache:6379"},
	{"named", "env: DB_PASSWORD=correct-horse PGPASSWORD=battery-staple", "correct-horse", "env:"},
	{"named", "PGPASSWORD=battery-staple", "battery-staple", "PGPASSWORD="},
	{"named", "export STRIPE_API_KEY=sk_live_abcdef", "sk_live_abcdef", "export STRIPE_API_KEY="},
	{"named", "APP_CLIENT_SECRET=s3cr3t-value", "s3cr3t-value", "APP_CLIENT_SECRET="},
	{"named", "NPM_TOKEN=abcd1234efgh", "abcd1234efgh", "NPM_TOKEN="},
	{"named", "callback?access_token=ya29.a0AfH6SMB&state=1", "ya29.a0AfH6SMB", "state=1"},
	{"named", "AWS_ACCESS_KEY=Zm9vYmFy123", "Zm9vYmFy123", "AWS_ACCESS_KEY="},
	{"named-colon", "password: correct-horse-battery", "correct-horse-battery", "password:"},
	{"named-colon", `{"client_secret": "f00b4rb4z"}`, "f00b4rb4z", "client_secret"},
	{"named-colon", `{"SecretString":"health-key-value"}`, "health-key-value", "SecretString"},
}

func TestRedactRules(t *testing.T) {
	for _, c := range redactCases {
		got := Redact(c.in)
		if strings.Contains(got, c.gone) {
			t.Errorf("%s: Redact(%q) = %q: still contains %q", c.rule, c.in, got, c.gone)
		}
		if !strings.Contains(got, c.keep) {
			t.Errorf("%s: Redact(%q) = %q: lost %q", c.rule, c.in, got, c.keep)
		}
		if again := Redact(got); again != got {
			t.Errorf("%s: redacting twice changes %q to %q", c.rule, got, again)
		}
	}
}

// TestEveryRuleIsNeeded: without any one rule, one of its cases leaks (or loses the
// text around its secret). A rule no case
// needs is either dead or untested.
func TestEveryRuleIsNeeded(t *testing.T) {
	for i, r := range redactions {
		without := slices.Delete(slices.Clone(redactions), i, i+1)
		leaked := false
		for _, c := range redactCases {
			if got := applyRules(without, c.in); c.rule == r.name && (strings.Contains(got, c.gone) || !strings.Contains(got, c.keep)) {
				leaked = true
			}
		}
		if !leaked {
			t.Errorf("rule %s: no case leaks without it", r.name)
		}
	}
}

// TestOrdinaryTextStays: what medic needs to show is not mistaken for a secret.
func TestOrdinaryTextStays(t *testing.T) {
	for _, s := range []string{
		"FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds - AssertionError",
		"Lock Info:\n  ID: 3f2a6b1e-7a2c-4d55-9a0e-1b2c3d4e5f60",
		"Error: reading Secrets Manager secret: ResourceNotFoundException: can't find the specified secret.",
		"token: ${{ secrets.GITHUB_TOKEN }}",
		"commit 9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6 on main",
		"https://github.com/acme/app/actions/runs/123?check_suite_focus=true",
		"PWD=/home/runner/work/app",
		"max_tokens=100",
	} {
		if got := Redact(s); got != s {
			t.Errorf("Redact(%q) = %q: ordinary text changed", s, got)
		}
	}
}

func TestKnownSecrets(t *testing.T) {
	if n := KnownSecret("s3cr3t-health-key", "short", ""); n != 1 {
		t.Errorf("KnownSecret ignored %d values, want 1 (the short one)", n)
	}
	if got := Redact("key is s3cr3t-health-key here"); strings.Contains(got, "s3cr3t") {
		t.Errorf("known value not redacted: %q", got)
	}
	if got := Redact("env short"); got != "env short" {
		t.Errorf("a value under %d characters was redacted: %q", MinKnownSecret, got)
	}
	KnownSecret("abcdefgh-12345678", "abcdefgh")
	if got := Redact("v=abcdefgh-12345678"); strings.Contains(got, "12345678") {
		t.Errorf("a secret holding another was cut in part: %q", got)
	}
	if got := Redact("extra: one-off-value", "one-off-value"); strings.Contains(got, "one-off") {
		t.Errorf("extra literal not redacted: %q", got)
	}
}

// TestExcerptRedactsBeforeCutting: a key whose BEGIN line falls outside the excerpt is
// still redacted.
func TestExcerptRedactsBeforeCutting(t *testing.T) {
	body := strings.Repeat("2026-12-07T03:12:09.1234567Z MIIEowIBAAKCAQEAwhole0123456789ab\n", 30)
	log := "setup\n-----BEGIN RSA PRIVATE KEY-----\n" + body + "##[error]Process completed with exit code 1.\n" + body + "-----END RSA PRIVATE KEY-----\n"
	ex := Excerpt(log, 5)
	if strings.Contains(ex, "MIIEow") {
		t.Errorf("excerpt shows the key's body:\n%s", ex)
	}
	if !strings.Contains(ex, "[REDACTED RSA PRIVATE KEY]") {
		t.Errorf("excerpt does not say a key was there:\n%s", ex)
	}
}

// BenchmarkRedactJobLog redacts a 1 MiB job log of ordinary lines with a few
// credentials in it, as medic does to every log it reads.
func BenchmarkRedactJobLog(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		sb.WriteString("2026-12-07T03:12:09.1234567Z tests/unit/test_analysis.py::test_sentiment_score_bounds PASSED [ 50%]\n")
		if i%500 == 0 {
			sb.WriteString("2026-12-07T03:12:09.1234567Z env: DB_PASSWORD=hunter2-hunter2 token ghp_abcdefghijklmnopqrstuvwxyz0123456789\n")
		}
	}
	log := sb.String()
	b.SetBytes(int64(len(log)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Redact(log)
	}
}
