package recovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// A redaction rule: the shape of a credential and what replaces it, keeping the text
// around it readable.
type redaction struct {
	name string
	re   *regexp.Regexp
	repl string
}

// redactions are the shapes of credentials that must never leave medic. Order
// matters: whole PEM blocks go before cut ones, specific token formats before the
// generic NAME=value rule.
var redactions = []redaction{
	// PEM blocks of every kind (RSA, EC, OpenSSH, PGP "… PRIVATE KEY BLOCK",
	// certificates), whole.
	{"pem", regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]{1,60})-----[\s\S]*?-----END [A-Z0-9 ]{1,60}-----`), "[REDACTED ${1}]"},
	// A block whose END was cut off (a truncated log): everything after its BEGIN.
	{"pem-begin", regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]{1,60})-----[\s\S]*`), "[REDACTED ${1} (cut)]"},
	// A block whose BEGIN was cut off: the base64 lines before its END.
	{"pem-end", regexp.MustCompile(`(?m)(?:^[^\n]*?[A-Za-z0-9+/=]{16,}[ \t\r]*\n)*[^\n]*?-----END ([A-Z0-9 ]{1,60})-----`), "[REDACTED ${1} (cut)]"},
	// AWS access key IDs (long-term AKIA, temporary ASIA, and the other principal prefixes).
	{"aws-key-id", regexp.MustCompile(`\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b`), "[REDACTED AWS KEY ID]"},
	// The AWS CLI's flags.
	{"aws-cli", regexp.MustCompile(`(?i)(--(?:aws-)?(?:secret-access-key|session-token|secret-key)(?:=|\s+)["']?)[^\s"']+`), "${1}[REDACTED]"},
	// A secret key or session token named as such, in env, INI, JSON or CLI form.
	{"aws-secret", regexp.MustCompile(`(?i)((?:aws_?)?(?:secret_?access_?key|session_?token|secret_?key)["']?[ \t]*[:=][ \t]*["']?)[A-Za-z0-9/+=]{16,}`), "${1}[REDACTED]"},
	// HTTP credentials: an Authorization header, and a bare bearer token (X-API-Key is
	// a name: value below).
	{"authorization", regexp.MustCompile(`(?i)(authorization["']?[ \t]*[:=][ \t]*["']?(?:bearer|token|basic)[ \t]+)[^\s"',;]+`), "${1}[REDACTED]"},
	{"bearer", regexp.MustCompile(`(?i)(\bbearer\s+)[A-Za-z0-9._~+/-]{8,}=*`), "${1}[REDACTED]"},
	// GitHub, Slack and npm tokens (prefixes that never start an ordinary word, so no
	// word boundary is needed before them: GITHUB_TOKEN_ghp_… is caught too).
	{"github-token", regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{20,}`), "[REDACTED GITHUB TOKEN]"},
	{"github-pat", regexp.MustCompile(`github_pat_[A-Za-z0-9_]{20,}`), "[REDACTED GITHUB TOKEN]"},
	{"slack-token", regexp.MustCompile(`xox[abposer]-[A-Za-z0-9-]{8,}`), "[REDACTED SLACK TOKEN]"},
	{"slack-app-token", regexp.MustCompile(`xapp-[A-Za-z0-9-]{8,}`), "[REDACTED SLACK TOKEN]"},
	{"slack-webhook", regexp.MustCompile(`(?i)(https://hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9/_-]+`), "${1}[REDACTED]"},
	{"npm-token", regexp.MustCompile(`npm_[A-Za-z0-9]{20,}`), "[REDACTED NPM TOKEN]"},
	{"jwt", regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`), "[REDACTED JWT]"},
	// The signature and credential of a presigned URL (S3, CloudFront, an Azure blob
	// SAS as GitHub's log downloads use): the URL stays, its power goes.
	{"presigned", regexp.MustCompile(`(?i)((?:[?&]|&amp;)(?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|AWSAccessKeyId|Signature|Policy|Key-Pair-Id|sig|skoid|sktid|skt|ske|sks|skv|code)=)[^&\s"'<>#]+`), "${1}[REDACTED]"},
	// URLs with a password (which may hold / and :), whatever the scheme's case.
	{"url-password", regexp.MustCompile(`(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@]+@`), "${1}[REDACTED]@"},
	// NAME=value where the name ends in PASSWORD, PASSWD, SECRET, TOKEN, API_KEY,
	// ACCESS_KEY … (DB_PASSWORD, PGPASSWORD, NPM_TOKEN, access_token, STRIPE_API_KEY).
	{"named", regexp.MustCompile(`(?i)((?:\b|_)[A-Za-z0-9_.-]*?` + secretNames + `["']?[ \t]*=[ \t]*["']?)` + secretValue), "${1}[REDACTED]"},
	// name: value (YAML, JSON, headers) when the name says what it holds: password,
	// client_secret, db.password, "SecretString" … but not a bare "secret:" or "token:",
	// which start the prose of error messages ("reading secret: ResourceNotFound…").
	{"named-colon", regexp.MustCompile(`(?i)(\b(?:[A-Za-z0-9_.-]*[_.-]` + secretNames + `|password|passwd|passphrase|api[_-]?key|apikey|access[_-]?key|private[_-]?key|secret[_-]?string)["']?[ \t]*:[ \t]*["']?)` + secretValue), "${1}[REDACTED]"},
}

const (
	// secretNames are the endings of names that hold a credential.
	secretNames = `(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)`
	// secretValue is a value up to the next space, quote or separator; one starting
	// with "[" is already a redaction marker.
	secretValue = `[^\s"',;&\[][^\s"',;&]*`
)

// knownSecrets are the literal values medic holds (its tokens, the webhook secret,
// health endpoint keys it read): they are redacted wherever they appear, whatever
// their shape. The set only grows, and is shared by every part of the process.
var knownSecrets struct {
	mu     sync.Mutex
	values atomic.Pointer[[]string]
}

// MinKnownSecret is the shortest value KnownSecret accepts: a shorter one would
// replace ordinary words (an environment's name) all over medic's output.
const MinKnownSecret = 8

// KnownSecret adds values medic holds to what Redact removes. Values shorter than
// MinKnownSecret are ignored (and reported back, so the caller can say so).
func KnownSecret(values ...string) (ignored int) {
	knownSecrets.mu.Lock()
	defer knownSecrets.mu.Unlock()
	cur := knownSecrets.values.Load()
	var next []string
	if cur != nil {
		next = slices.Clone(*cur)
	}
	for _, v := range values {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
		case len(v) < MinKnownSecret:
			ignored++
		case !slices.Contains(next, v):
			next = append(next, v)
		}
	}
	// Longest first, so a secret that contains another goes whole.
	slices.SortFunc(next, func(a, b string) int { return len(b) - len(a) })
	knownSecrets.values.Store(&next)
	return ignored
}

// Redact removes from s every known secret (KnownSecret), every literal in extra, and
// anything shaped like a credential. Every exit of medic applies it (Slack writes,
// GitHub issues, log lines, the store), and text that will be cut (a job log's
// excerpt) is redacted whole before it is cut. Redact(Redact(s)) == Redact(s).
func Redact(s string, extra ...string) string {
	if cur := knownSecrets.values.Load(); cur != nil {
		for _, k := range *cur {
			s = strings.ReplaceAll(s, k, "[REDACTED]")
		}
	}
	for _, k := range extra {
		if len(k) >= 4 {
			s = strings.ReplaceAll(s, k, "[REDACTED]")
		}
	}
	return applyRules(redactions, s)
}

func applyRules(rules []redaction, s string) string {
	for _, r := range rules {
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

// RedactValue redacts every string inside v (a value decoded from JSON, or built of
// maps, slices and strings): map keys stay, values go through Redact. It reports
// whether anything changed.
func RedactValue(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		r := Redact(t)
		return r, r != t
	case []any:
		changed := false
		for i, e := range t {
			var c bool
			t[i], c = RedactValue(e)
			changed = changed || c
		}
		return t, changed
	case map[string]any:
		changed := false
		for k, e := range t {
			var c bool
			t[k], c = RedactValue(e)
			changed = changed || c
		}
		return t, changed
	}
	return v, false
}

// RedactJSON redacts every string value of a JSON document. When nothing needs
// redacting it returns data itself, byte for byte; otherwise the document re-encoded
// (keys sorted, HTML characters not escaped). Data that is not JSON is an error.
func RedactJSON(data []byte) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return data, false, err
	}
	if dec.More() {
		return data, false, errors.New("more than one JSON value")
	}
	v, changed := RedactValue(v)
	if !changed {
		return data, false, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return data, false, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true, nil
}
