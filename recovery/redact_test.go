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
	{"pem", "step 3\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkq", "MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkq", "step 3"},
	{"pem", "+Q2x8dW1hY2hpbmVrZXlib2R5bGluZTE2\nZm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4\n-----END PRIVATE KEY-----\nError: bad key", "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4", "Error: bad key"},
	{"pem", "2026-12-07T03:12:09.1Z -----BEGIN RSA PRIVATE KEY-----\n2026-12-07T03:12:09.1Z MIIEowIBAAKCAQEA1timestamped\n2026-12-07T03:12:09.1Z -----END RSA PRIVATE KEY-----\n2026-12-07T03:12:09.2Z done", "MIIEowIBAAKCAQEA1timestamped", "done"},
	{"pem", `{"key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n","next":1}`, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", `"next":1}`},
	{"pem", `{"key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC`, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", `{"key":"`},
	{"pem-base64", "KEY_B64 LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlF in env", "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlF", "in env"},
	{"aws-key-id", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "export AWS_ACCESS_KEY_ID="},
	{"aws-key-id", "assumed ASIAY34FZKBOKMUTVV7A for deploy", "ASIAY34FZKBOKMUTVV7A", "for deploy"},
	{"cli-flag", "aws configure set --secret-access-key wJalrXUtnFEMIK7MDENGbPxRfiCY --profile ci", "wJalrXUtnFEMIK7MDENGbPxRfiCY", "--profile ci"},
	{"cli-flag", "aws s3 ls --session-token=FwoGZXIvYXdzEBYaDH", "FwoGZXIvYXdzEBYaDH", "aws s3 ls"},
	{"cli-flag", "mysqladmin --password=hunter2-hunter2 status", "hunter2-hunter2", "status"},
	{"cli-flag", "gh auth login --token ghx-not-a-prefix-1234 --hostname x", "ghx-not-a-prefix-1234", "--hostname x"},
	{"curl-user", "curl -sf -u admin:s3cret-pass https://x/api", "s3cret-pass", "https://x/api"},
	{"aws-secret-spaced", "aws_secret_access_key     wJalrXUtnFEMIK7MDENGbPxRfiCYzzzz  shared-credentials-file", "wJalrXUtnFEMIK7MDENGbPxRfiCYzzzz", "shared-credentials-file"},
	{"cookie", "> Cookie: session=9f8e7d6c5b4a; csrftoken=abc123", "9f8e7d6c5b4a", "> Cookie:"},
	{"gitlab-token", "CI_JOB glpat-abcdefghijklmnopqrst12 ok", "glpat-abcdefghijklmnopqrst12", "ok"},
	{"stripe-key", "charging with sk_live_4eC39HqLyjWDarjtT1zdp7dc now", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "now"},
	{"google-key", "maps key AIzaSyA1234567890abcdefghijklmnopqrstuv set", "AIzaSyA1234567890abcdefghijklmnopqrstuv", "set"},
	{"aws-secret", `{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`, "wJalrXUtnFEMI", "SecretAccessKey"},
	{"aws-secret", `aws_session_token: "IQoJb3JpZ2luX2VjEHAaCXVzLWVhc3QtMSJH"`, "IQoJb3JpZ2luX2VjEHAaCXVzLWVhc3QtMSJH", "aws_session_token"},
	{"x-api-key", "curl -H 'X-API-Key: sk_live_51HxExampleKey' https://x/health", "sk_live_51HxExampleKey", "https://x/health"},
	{"authorization", "Authorization: Basic bWVkaWM6aHVudGVyMg", "bWVkaWM6aHVudGVyMg", "Authorization: Basic"},
	{"bearer", "retrying with Bearer 9f8e7d6c5b4a3f2e1d0c (attempt 2)", "9f8e7d6c5b4a3f2e1d0c", "(attempt 2)"},
	{"bearer", `error: "Authorization: Bearer\nS4IkLoY8CdoT-G-kFw30ARCg" done`, "S4IkLoY8CdoT-G-kFw30ARCg", "done"},
	{"bearer", "│ api error AccessDenied: Authorization: Bearer\n│ S4IkLoY8CdoT-G-kFw30ARCg do not", "S4IkLoY8CdoT-G-kFw30ARCg", "do not"},
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
	{"named", `DB_PASSWORD="correct horse battery staple" next`, "horse battery staple", "next"},
	{"named", "DB_PASSWORD=Tr0ub4dor&3xyz;more,end next", "3xyz;more,end", "next"},
	{"named", `{\"client_secret\":\"cs_live_abcdef\",\"id\":1}`, "cs_live_abcdef", `\"id\":1`},
	{"named", "AccountName=x;AccountKey=Zm9vYmFyYmF6cXV4==;EndpointSuffix=core.windows.net", "Zm9vYmFyYmF6cXV4", "AccountName=x"},
	{"named-colon", `{"password": "two words here", "user": "x"}`, "two words", `"user": "x"`},
	{"named-colon", `{"password":"hunter\"2-escaped"}`, `2-escaped`, `{"password":`},
	{"named-camel", `{"accessToken": "ya29.a0AfH6SMBexample", "scope": "x"}`, "ya29.a0AfH6SMBexample", `"scope": "x"`},
	{"named-camel", "clientSecret=f00b4rb4zq ok", "f00b4rb4zq", "ok"},
	{"named", `DB_PASSWORD="hunter2-unclosed`, "hunter2-unclosed", "DB_PASSWORD="},
	{"named", `DB_PASSWORD=abc\hunter2rest next`, `hunter2rest`, "next"},
	{"named", "SECRET_KEY_BASE=9f8e7d6c5b4a3f2e ENCRYPTION_KEY=Zm9vYmFyYmF6cXV4", "9f8e7d6c5b4a3f2e", "SECRET_KEY_BASE="},
	{"cli-flag", `deploy --password "correct horse battery" --yes`, "horse battery", "--yes"},
	{"cli-flag", `run --token=\"abcdef123456\" ok`, "abcdef123456", " ok"},
	{"curl-user", "curl -uadmin:pass-word-1 https://x", "pass-word-1", "https://x"},
	{"cookie", `{"Cookie": "sid=abcdef123456", "x": 1}`, "abcdef123456", `"x": 1`},
	{"url-password", "redis://:p4ssword@cache:6379/0", "p4ssword", "@cache:6379/0"},
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
		"commit 9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6\nAccessDeniedException: not authorized to perform: secretsmanager:GetSecretValue",
		"IAM access keys older than 90 days",
		"Error fetching aws_secret_access_key ResourceNotFoundException: Secrets Manager can't find the specified secret.",
		"session_token ExpiredTokenException: the token expired",
	} {
		if got := Redact(s); got != s {
			t.Errorf("Redact(%q) = %q: ordinary text changed", s, got)
		}
	}
}

// TestStrayPEMMarkersKeepTheLog: a BEGIN or END line alone (an echo, a public key's
// END) takes nothing but key-shaped lines with it, so what classifies a failure stays.
func TestStrayPEMMarkersKeepTheLog(t *testing.T) {
	for _, log := range []string{
		"Run ./deploy.sh\necho \"-----BEGIN CERTIFICATE-----\"\nError acquiring the state lock\nResourceNotFoundException: Secrets Manager can't find the specified secret.",
		"9f1c2d3e4b5a69788796a5b4c3d2e1f0\nError acquiring the state lock\nResourceNotFoundException: Secrets Manager can't find the specified secret.\n-----END PUBLIC KEY-----",
	} {
		got := Redact(log)
		for _, kept := range []string{"Error acquiring the state lock", "ResourceNotFoundException: Secrets Manager can't find the specified secret."} {
			if !strings.Contains(got, kept) {
				t.Errorf("Redact(%q) = %q: lost %q", log, got, kept)
			}
		}
	}
	if got := Redact(`echo "-----BEGIN CERTIFICATE-----"`); got != `echo "[REDACTED CERTIFICATE (cut)]"` {
		t.Errorf("a stray BEGIN: %q", got)
	}
}

// TestPEMWithPrefixedLines: a key printed with a prefix on every line (docker compose,
// kubectl --prefix, a Terraform diff, Ansible's quoted list, colours) still goes
// whole, and a block cut short takes only key-shaped lines.
func TestPEMWithPrefixedLines(t *testing.T) {
	const body = "MIIEowIBAAKCAQEA1secretbodyline1"
	for _, in := range []string{
		"web_1  | -----BEGIN RSA PRIVATE KEY-----\nweb_1  | " + body + "\nweb_1  | -----END RSA PRIVATE KEY-----\nweb_1  | up",
		"          - -----BEGIN RSA PRIVATE KEY-----\n          - " + body + "\n          - -----END RSA PRIVATE KEY-----",
		"  \"-----BEGIN RSA PRIVATE KEY-----\",\n  \"" + body + "\",\n  \"-----END RSA PRIVATE KEY-----\",",
		"\x1b[32m-----BEGIN RSA PRIVATE KEY-----\x1b[0m\n\x1b[32m" + body + "\x1b[0m\n\x1b[32m-----END RSA PRIVATE KEY-----\x1b[0m",
		"[pod/x/c] -----BEGIN RSA PRIVATE KEY-----\n[pod/x/c] " + body + "\n[pod/x/c] " + body,
		"[pod/x/c] " + body + "\n[pod/x/c] " + body + "\n[pod/x/c] -----END RSA PRIVATE KEY-----\nafter",
	} {
		if got := Redact(in); strings.Contains(got, "secretbodyline") {
			t.Errorf("Redact(%q) = %q keeps the key", in, got)
		}
	}
	in := "-----BEGIN CERTIFICATE-----\nFAILED\nTerminated\nAccessDeniedExceptionAccessDenied"
	if got := Redact(in); !strings.Contains(got, "FAILED\nTerminated\nAccessDeniedExceptionAccessDenied") {
		t.Errorf("a stray BEGIN took ordinary lines: %q", got)
	}
}

// BenchmarkRedactMarkerLine redacts one 256 KiB line full of PEM marks: each line is
// scanned once, so this stays linear.
func BenchmarkRedactMarkerLine(b *testing.B) {
	for _, mark := range []string{"-----BEGIN A----- ", "-----END A----- ", "-----BEGIN A----------END A-----"} {
		line := strings.Repeat(mark, (256<<10)/len(mark))
		b.Run(strings.TrimSpace(mark), func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for i := 0; i < b.N; i++ {
				Redact(line)
			}
		})
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
	KnownSecret("zq9known-zq9inner", "zq9known")
	if got := Redact("v=zq9known-zq9inner"); strings.Contains(got, "zq9inner") {
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
	if !strings.Contains(ex, "[REDACTED RSA PRIVATE KEY") {
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

// TestRedactKeepsInvalidUTF8Aligned: bytes that are not UTF-8 before a credential do
// not shift where it is found.
func TestRedactKeepsInvalidUTF8Aligned(t *testing.T) {
	in := strings.Repeat("\xff", 40) + " log line\nok\nDB_PASSWORD=hunter2-hunter2\n\xc3 end"
	if got := Redact(in); strings.Contains(got, "hunter2") || !strings.Contains(got, "\xc3 end") {
		t.Errorf("Redact(%q) = %q", in, got)
	}
}

// A known secret that contains another goes whole, whichever was made known first:
// the longest are replaced first.
func TestKnownSecretsLongestFirst(t *testing.T) {
	short, long := "s3cr3t-short-9f2a", "s3cr3t-short-9f2a-and-its-tail-77c1"
	KnownSecret(short)
	KnownSecret(long)
	if got := Redact("token=" + long + " end"); strings.Contains(got, "tail-77c1") || strings.Contains(got, "s3cr3t") {
		t.Errorf("Redact: got %q, want the longer secret gone whole", got)
	}
}

// Extra values given to Redact are replaced from 4 characters on.
func TestRedactExtraValues(t *testing.T) {
	if got := Redact("key abcd and abc", "abcd", "abc"); got != "key [REDACTED] and abc" {
		t.Errorf("got %q, want the 4-character value redacted and the 3-character one kept", got)
	}
}

// BenchmarkLiteral: escaping outside text, called many times per message (a /status
// answer escapes every function's name, version and state).
func BenchmarkLiteral(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Literal("prod-sentiment-<dashboard> & co")
	}
}
