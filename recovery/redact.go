package recovery

import (
	"regexp"
	"strings"
)

// redactions are the shapes of credentials that must never reach Slack, each
// replaced with a marker that keeps the surrounding text readable.
var redactions = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`), "[REDACTED PRIVATE KEY]"},
	// AWS access key IDs (long-term AKIA, temporary ASIA, and the other principal prefixes).
	{regexp.MustCompile(`\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b`), "[REDACTED AWS KEY ID]"},
	// A secret key or session token named as such, in env, INI, JSON or CLI form.
	{regexp.MustCompile(`(?i)((?:aws_?)?(?:secret_?access_?key|session_?token|secret_?key)["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{16,}`), "${1}[REDACTED]"},
	// HTTP credentials: X-API-Key and Authorization headers.
	{regexp.MustCompile(`(?i)(x-api-key["']?\s*[:=]\s*["']?)[^\s"',;]+`), "${1}[REDACTED]"},
	{regexp.MustCompile(`(?i)(authorization["']?\s*[:=]\s*["']?(?:bearer|token|basic)\s+)[^\s"',;]+`), "${1}[REDACTED]"},
	// GitHub, Slack and other well-known token formats.
	{regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{20,}\b`), "[REDACTED GITHUB TOKEN]"},
	{regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{20,}\b`), "[REDACTED GITHUB TOKEN]"},
	{regexp.MustCompile(`\bxox[abposer]-[A-Za-z0-9-]{8,}`), "[REDACTED SLACK TOKEN]"},
	{regexp.MustCompile(`\bxapp-[A-Za-z0-9-]{8,}`), "[REDACTED SLACK TOKEN]"},
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b`), "[REDACTED JWT]"},
	// URLs with a password.
	{regexp.MustCompile(`(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@`), "${1}[REDACTED]@"},
	// Generic "password=…", "api_key: …", "token=…" assignments.
	{regexp.MustCompile(`(?i)(\b(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|client[_-]?secret)["']?\s*[:=]\s*["']?)[^\s"',;&]{4,}`), "${1}[REDACTED]"},
}

// Redact removes anything that looks like a credential from s, and every literal in
// known (values medic itself read, such as a health endpoint's API key). It is applied
// to all text from logs before it is posted.
func Redact(s string, known ...string) string {
	for _, k := range known {
		if len(k) >= 4 {
			s = strings.ReplaceAll(s, k, "[REDACTED]")
		}
	}
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

// Literal makes outside text (a job name, a branch, a title taken from a run) safe to
// put in a message's mrkdwn: Slack's control characters &, < and > are escaped, so it
// can neither mention anyone nor link anywhere.
func Literal(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
