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
// around it readable. A rule runs only on text holding one of its hints (compared
// case-insensitively when fold is set), and, unless whole is set, line by line and
// only on the lines holding a hint: most text holds no credential, and a job log may
// be megabytes.
type redaction struct {
	name string
	re   *regexp.Regexp
	repl string
	// fn, when set, redacts instead of re.
	fn    func(string) string
	hints []string
	fold  bool
	whole bool
}

// Pieces of the rules.
const (
	// runnerTS is the timestamp GitHub's runner puts before every log line.
	runnerTS = `(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z[ \t]+)?`
	// secretNames are the endings of names that hold a credential.
	secretNames = `(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|account[_-]?key|encryption[_-]?key|signing[_-]?key|secret[_-]?key[_-]?base|credentials?)`
	// quotedValue is a value in quotes (also JSON-escaped quotes, as a request body
	// logged inside a JSON string has them): all of it goes, spaces included.
	quotedValue = `"(?:[^"\\\n]|\\.)*"|\\"(?:[^"\\\n]|\\[^"\n])*\\"|'[^'\n]*'`
	// bareValue runs to the next space or quote; one starting with "[" is already a
	// redaction marker.
	bareValue = `[^\s"'\\\[](?:[^\s"'\\]|\\[^"'\s])*`
	// anyValue is a quoted value, or a bare one (after a quote left open).
	anyValue = `(?:` + quotedValue + `|(?:\\?["'])?` + bareValue + `)`
	// nameEnd is what may stand between a name and its value: quotes (escaped in a
	// JSON string) and the separator.
	nameEnd = `(?:\\?["'])?[ \t]*`
)

// secretHints are the words a line holding a named credential holds.
var secretHints = []string{"password", "passwd", "passphrase", "secret", "token", "key", "credential"}

// redactions are the shapes of credentials that must never leave medic. Order
// matters: whole PEM blocks go before cut ones, specific shapes before the generic
// NAME=value rules, URL parameters before NAME=value.
var redactions = []redaction{
	// PEM blocks of every kind (RSA, EC, OpenSSH, PGP "… PRIVATE KEY BLOCK",
	// certificates), also cut (see redactPEM).
	{name: "pem", fn: redactPEM, hints: []string{"-----BEGIN ", "-----END "}, whole: true},
	// A PEM block encoded in base64 ("-----BEGIN" is "LS0tLS1CRUdJTi…").
	{name: "pem-base64", re: regexp.MustCompile(`LS0tLS1CRUdJT[A-Za-z0-9+/=]*`), repl: "[REDACTED BASE64 PEM]", hints: []string{"LS0tLS1CRUdJT"}},
	// Command-line flags that take a credential.
	{name: "cli-flag", re: regexp.MustCompile(`(?i)(--(?:aws-)?(?:secret-access-key|session-token|secret-key|password|passwd|token|api-key|access-token|client-secret)(?:=|[ \t]+))` + anyValue),
		repl: "${1}[REDACTED]", hints: []string{"--"}},
	{name: "curl-user", re: regexp.MustCompile(`(?i)((?:^|\s)(?:-u[ \t]*|--user[ \t]+)["']?[^\s:"'-][^\s:"']*:)[^\s"']+`), repl: "${1}[REDACTED]", hints: []string{"-u", "--user"}, fold: true},
	// A secret key or session token named as such, in env, INI, JSON or CLI form (also
	// "aws_secret_access_key VALUE", as `aws configure list` prints it).
	{name: "aws-secret", re: regexp.MustCompile(`(?i)((?:aws_?)?(?:secret_?access_?key|session_?token|secret_?key)` + nameEnd + `[:=][ \t]*(?:\\?["'])?)[A-Za-z0-9/+=]{16,}`),
		repl: "${1}[REDACTED]", hints: []string{"secret", "session"}, fold: true},
	// As `aws configure list` and credential files print them: the name, spaces, the
	// value (which has digits, + or /, unlike an exception's name).
	{name: "aws-secret-spaced", re: regexp.MustCompile(`(?i)(\baws_(?:secret_access_key|session_token)[ \t]+)[A-Za-z=]*[0-9/+][A-Za-z0-9/+=]*`),
		repl: "${1}[REDACTED]", hints: []string{"secret", "session"}, fold: true},
	// HTTP credentials: an Authorization header, a bare bearer token, cookies (X-API-Key
	// is a name: value below).
	{name: "authorization", re: regexp.MustCompile(`(?i)(authorization` + nameEnd + `[:=][ \t]*(?:\\?["'])?(?:bearer|token|basic)(?:[ \t]|\\+[nrt])+)[^\s"',;\\]+`),
		repl: "${1}[REDACTED]", hints: []string{"authorization"}, fold: true},
	// A bearer token may be on the next line: Terraform wraps its error messages
	// ("│ " starts the next line).
	{name: "bearer", re: regexp.MustCompile(`(?i)(\bbearer(?:\s|\\+[nrt]|│)+)[A-Za-z0-9._~+/-]{8,}=*`), repl: "${1}[REDACTED]", hints: []string{"bearer"}, fold: true, whole: true},
	{name: "cookie", re: regexp.MustCompile(`(?i)(\b(?:set-)?cookie` + nameEnd + `:[ \t]*)(?:` + quotedValue + `|(?:\\?["'])?[^\s"\\\[][^\n"\\]*)`), repl: "${1}[REDACTED]", hints: []string{"cookie"}, fold: true},
	// Tokens by their prefix (prefixes that never start an ordinary word, so no word
	// boundary is needed before them: GITHUB_TOKEN_ghp_… is caught too).
	{name: "github-token", re: regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{20,}`), repl: "[REDACTED GITHUB TOKEN]", hints: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}},
	{name: "github-pat", re: regexp.MustCompile(`github_pat_[A-Za-z0-9_]{20,}`), repl: "[REDACTED GITHUB TOKEN]", hints: []string{"github_pat_"}},
	{name: "gitlab-token", re: regexp.MustCompile(`glpat-[A-Za-z0-9_-]{20,}`), repl: "[REDACTED GITLAB TOKEN]", hints: []string{"glpat-"}},
	{name: "slack-token", re: regexp.MustCompile(`xox[abposer]-[A-Za-z0-9-]{8,}`), repl: "[REDACTED SLACK TOKEN]", hints: []string{"xox"}},
	{name: "slack-app-token", re: regexp.MustCompile(`xapp-[A-Za-z0-9-]{8,}`), repl: "[REDACTED SLACK TOKEN]", hints: []string{"xapp-"}},
	{name: "slack-webhook", re: regexp.MustCompile(`(?i)(https://hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9/_-]+`), repl: "${1}[REDACTED]", hints: []string{"hooks.slack.com"}, fold: true},
	{name: "npm-token", re: regexp.MustCompile(`npm_[A-Za-z0-9]{20,}`), repl: "[REDACTED NPM TOKEN]", hints: []string{"npm_"}},
	{name: "stripe-key", re: regexp.MustCompile(`\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}`), repl: "[REDACTED STRIPE KEY]", hints: []string{"k_live_", "k_test_"}},
	{name: "google-key", re: regexp.MustCompile(`AIza[0-9A-Za-z_-]{35}`), repl: "[REDACTED GOOGLE KEY]", hints: []string{"AIza"}},
	{name: "jwt", re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`), repl: "[REDACTED JWT]", hints: []string{"eyJ"}},
	// AWS access key IDs (long-term AKIA, temporary ASIA, and the other principal prefixes).
	{name: "aws-key-id", re: regexp.MustCompile(`\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b`),
		repl: "[REDACTED AWS KEY ID]", hints: []string{"AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA"}},
	// The signature and credential of a presigned URL (S3, CloudFront, an Azure blob
	// SAS as GitHub's log downloads use), and any URL parameter named like a
	// credential (?access_token=…): the URL stays, its power goes.
	{name: "presigned", re: regexp.MustCompile(`(?i)((?:[?&]|&amp;)(?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|AWSAccessKeyId|Signature|Policy|Key-Pair-Id|sig|skoid|sktid|skt|ske|sks|skv|code|[A-Za-z0-9_.-]*` + secretNames + `)=)[^&\s"'<>#\\]+`),
		repl: "${1}[REDACTED]", hints: []string{"="}},
	// URLs with a password (which may hold / and :), whatever the scheme's case.
	{name: "url-password", re: regexp.MustCompile(`(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@]+@`), repl: "${1}[REDACTED]@", hints: []string{"://"}},
	// NAME=value where the name ends in PASSWORD, PASSWD, SECRET, TOKEN, API_KEY,
	// ACCESS_KEY … (DB_PASSWORD, PGPASSWORD, NPM_TOKEN, AccountKey). A quoted value
	// goes whole; a bare one to the next space.
	{name: "named", re: regexp.MustCompile(`(?i)((?:\b|_)[A-Za-z0-9_.-]*?` + secretNames + nameEnd + `=[ \t]*)` + anyValue),
		repl: "${1}[REDACTED]", hints: secretHints, fold: true},
	// name: value (YAML, JSON, headers) when the name says what it holds: password,
	// client_secret, db.password, "SecretString" … but not a bare "secret:" or "token:",
	// which start the prose of error messages ("reading secret: ResourceNotFound…").
	{name: "named-colon", re: regexp.MustCompile(`(?i)(\b(?:[A-Za-z0-9_.-]*[_.-]` + secretNames + `|password|passwd|passphrase|api[_-]?key|apikey|access[_-]?key|private[_-]?key|secret[_-]?string)` + nameEnd + `:[ \t]*)` + anyValue),
		repl: "${1}[REDACTED]", hints: secretHints, fold: true},
	// camelCase names (accessToken, clientSecret, dbPassword) before : or =.
	{name: "named-camel", re: regexp.MustCompile(`(\b[a-z][a-zA-Z0-9]*(?:Token|Secret|Password|Passwd|Passphrase|ApiKey|AccessKey|PrivateKey|Credentials?)` + nameEnd + `[:=][ \t]*)` + anyValue),
		repl: "${1}[REDACTED]", hints: secretHints, fold: true},
}

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
	lower := "" // s in ASCII lower case (same length), made when a rule needs it
	for _, r := range rules {
		hay := s
		if r.fold {
			if lower == "" {
				lower = asciiLower(s)
			}
			hay = lower
		}
		if !containsAny(hay, r.hints) {
			continue
		}
		switch {
		case r.fn != nil:
			s = r.fn(s)
		case r.whole || !strings.Contains(s, "\n"):
			s = r.re.ReplaceAllString(s, r.repl)
		default:
			// Line by line, on the lines holding a hint.
			var b strings.Builder
			last := 0 // s[:last] is in b
			for start := 0; start < len(s); {
				end := strings.IndexByte(s[start:], '\n')
				if end < 0 {
					end = len(s)
				} else {
					end += start
				}
				if containsAny(hay[start:end], r.hints) {
					line := s[start:end]
					if red := r.re.ReplaceAllString(line, r.repl); red != line {
						b.WriteString(s[last:start])
						b.WriteString(red)
						last = end
					}
				}
				start = end + 1
			}
			if last == 0 {
				continue
			}
			b.WriteString(s[last:])
			s = b.String()
		}
		lower = ""
	}
	return s
}

// asciiLower lowers ASCII letters only, so offsets into it are offsets into s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Literal makes outside text (a job name, a branch, a title taken from a run) safe to
// put in a message's mrkdwn: Slack's control characters &, < and > are escaped, so it
// can neither mention anyone nor link anywhere.
func Literal(s string) string { return literal.Replace(s) }

// literal is Literal's replacer, made once: a replacer builds a table of 256 entries on
// its first use, and a /status answer escapes dozens of texts.
var literal = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// RedactValue redacts every string inside v (a value decoded from JSON, or built of
// maps, slices and strings): map keys stay, values go through Redact. It reports
// whether anything changed.
func RedactValue(v any) (any, bool) { return redactValue(v, nil) }

// redactValue is RedactValue leaving alone the values of the keys keep names (and
// everything under them).
func redactValue(v any, keep func(key string) bool) (any, bool) {
	switch t := v.(type) {
	case string:
		r := Redact(t)
		return r, r != t
	case []any:
		changed := false
		for i, e := range t {
			var c bool
			t[i], c = redactValue(e, keep)
			changed = changed || c
		}
		return t, changed
	case map[string]any:
		changed := false
		for k, e := range t {
			if keep != nil && keep(k) {
				continue
			}
			var c bool
			t[k], c = redactValue(e, keep)
			changed = changed || c
		}
		return t, changed
	}
	return v, false
}

// RedactJSON redacts every string value of a JSON document. When nothing needs
// redacting it returns data itself, byte for byte; otherwise the document re-encoded
// (keys sorted, HTML characters not escaped). Data that is not JSON is an error.
func RedactJSON(data []byte) ([]byte, bool, error) { return RedactJSONKeeping(data, nil) }

// RedactJSONKeeping is RedactJSON leaving alone the values of the keys keep names,
// at any depth: identifiers medic reads back and acts on (an alarm's name, a lock
// ID, a button's value), which redacting would corrupt.
func RedactJSONKeeping(data []byte, keep func(key string) bool) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return data, false, err
	}
	if dec.More() {
		return data, false, errors.New("more than one JSON value")
	}
	v, changed := redactValue(v, keep)
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

var (
	pemBegin   = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]{1,60})-----`)
	pemEnd     = regexp.MustCompile(`-----END ([A-Z0-9 ]{1,60})-----`)
	pemBase64  = regexp.MustCompile(`^[A-Za-z0-9+/=]+$`)
	pemHeader  = regexp.MustCompile(`^(?:Proc-Type|DEK-Info|Version|Comment|Hash|Charset|MessageID):`)
	runnerTSRe = regexp.MustCompile(`^` + runnerTS)
	ansiRe     = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
	// pemLead is base64 starting a line (after the runner's timestamp).
	pemLead = regexp.MustCompile(`^[ \t]*` + runnerTS + `([A-Za-z0-9+/=]{16,})`)
)

// pemLookahead is how far after a BEGIN its END is looked for: a block whose END is
// that close goes whole, whatever its lines look like (prefixed, quoted, coloured).
const pemLookahead = 200

// pemChars are the characters of a key's body written on one line.
const pemChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\\"

// A pemMark is a BEGIN or END found on a line.
type pemMark struct {
	begin      bool
	start, end int
	label      string
}

// redactPEM replaces PEM blocks:
//   - BEGIN … END on one line (newlines escaped, as in JSON) becomes one marker;
//   - a BEGIN whose END (same label) comes within pemLookahead lines goes with
//     everything up to that END;
//   - a BEGIN without one (a log cut short, a stray echo) takes only the key-shaped
//     lines after it (base64 of 16 characters or more, armour headers, blank lines;
//     each seen without the BEGIN line's prefix, a runner timestamp, colour codes,
//     quotes or a diff's +/-), so ordinary lines after it stay;
//   - an END without its BEGIN takes the key-shaped lines right before it.
//
// Each line is scanned once.
func redactPEM(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		marks := pemMarks(l)
		if len(marks) == 0 {
			out = append(out, l)
			continue
		}
		var b strings.Builder
		pos := 0
		merged := false
		for k := 0; k < len(marks); k++ {
			m := marks[k]
			switch {
			case m.begin && k+1 < len(marks) && !marks[k+1].begin:
				// BEGIN … END on this line.
				b.WriteString(l[pos:m.start] + "[REDACTED " + m.label + "]")
				pos = marks[k+1].end
				k++
			case m.begin && k+1 < len(marks):
				// Another BEGIN follows on the line: this one was cut.
				b.WriteString(l[pos:m.start] + "[REDACTED " + m.label + " (cut)]")
				pos = m.end + len(l[m.end:marks[k+1].start]) - len(strings.TrimLeft(l[m.end:marks[k+1].start], pemChars))
			case m.begin:
				// The line's last mark opens a block.
				prefix := l[:m.start]
				if j, e := findPEMEnd(lines, i+1, m.label); j >= 0 {
					b.WriteString(l[pos:m.start] + "[REDACTED " + m.label + "]")
					lines[j] = b.String() + lines[j][e:]
					i = j - 1 // the rest of the END's line may hold more
					merged = true
					break
				}
				j := i + 1
				for j < len(lines) && len(pemMarks(lines[j])) == 0 && pemKeyLine(lines[j], prefix, 16, true) {
					j++
				}
				// The key may run into the next line's text where it was cut.
				if j < len(lines) {
					if lm := pemLead.FindStringSubmatchIndex(lines[j]); lm != nil && keyish(lines[j][lm[2]:lm[3]]) {
						lines[j] = lines[j][:lm[2]] + lines[j][lm[3]:]
					}
				}
				b.WriteString(l[pos:m.start] + "[REDACTED " + m.label + " (cut)]" + strings.TrimLeft(l[m.end:], pemChars))
				pos = len(l)
				i = j - 1
			default:
				// An END without its BEGIN: what precedes it on the line and the key
				// lines before the line go.
				if k == 0 {
					prefix := l[:m.start]
					for len(out) > 0 && pemKeyLine(out[len(out)-1], prefix, 16, false) {
						out = out[:len(out)-1]
					}
				}
				b.WriteString("[REDACTED " + m.label + " (cut)]")
				pos = m.end
			}
			if merged {
				break
			}
		}
		if merged {
			continue
		}
		b.WriteString(l[pos:])
		out = append(out, b.String())
	}
	return strings.Join(out, "\n")
}

// pemMarks lists the BEGIN and END marks of a line, in order.
func pemMarks(l string) []pemMark {
	if !strings.Contains(l, "-----") {
		return nil
	}
	var marks []pemMark
	for _, m := range pemBegin.FindAllStringSubmatchIndex(l, -1) {
		marks = append(marks, pemMark{begin: true, start: m[0], end: m[1], label: l[m[2]:m[3]]})
	}
	for _, m := range pemEnd.FindAllStringSubmatchIndex(l, -1) {
		marks = append(marks, pemMark{start: m[0], end: m[1], label: l[m[2]:m[3]]})
	}
	slices.SortFunc(marks, func(a, b pemMark) int { return a.start - b.start })
	return marks
}

// findPEMEnd looks for an END of label in lines[from:] within pemLookahead lines,
// before any other BEGIN; it returns the line and the offset just after the END, or
// -1.
func findPEMEnd(lines []string, from int, label string) (int, int) {
	for j := from; j < len(lines) && j < from+pemLookahead; j++ {
		if !strings.Contains(lines[j], "-----") {
			continue
		}
		for _, m := range pemMarks(lines[j]) {
			if m.begin {
				return -1, 0
			}
			if m.label == label {
				return j, m.end
			}
		}
	}
	return -1, 0
}

// pemKeyLine reports whether l may be a line of a key's body once the prefix of the
// line its block began on (or a runner timestamp), colour codes, quotes, commas and a
// diff's +/- around it are set aside: base64 of at least min characters, an armour
// header, or (when blank is set) nothing.
func pemKeyLine(l, prefix string, min int, blank bool) bool {
	if prefix != "" && strings.HasPrefix(l, prefix) {
		l = l[len(prefix):]
	}
	l = ansiRe.ReplaceAllString(l, "")
	l = runnerTSRe.ReplaceAllString(strings.TrimSpace(l), "")
	l = strings.Trim(l, " \t\r\"',")
	if t := strings.TrimLeft(l, "-+ "); len(t) >= min && pemBase64.MatchString(t) && keyish(t) {
		return true
	}
	if l == "" {
		return blank
	}
	return pemHeader.MatchString(l) || (len(l) >= min && pemBase64.MatchString(l) && keyish(l))
}

// keyish tells base64 from a word: a key's body has digits, + or /; a long word
// such as AccessDeniedException has none.
func keyish(s string) bool { return strings.ContainsAny(s, "0123456789+/") }
