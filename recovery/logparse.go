package recovery

import (
	"regexp"
	"strings"
	"time"
)

// runnerTimestamp is the prefix GitHub's runner puts on every log line
// ("2025-11-20T10:04:12.3456789Z ").
var runnerTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z ?`)

// ansi matches terminal colour codes, which pytest and Terraform print in CI.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// CleanLog strips the runner's timestamps, colour codes and a byte-order mark, leaving
// the lines as the tools printed them.
func CleanLog(text string) []string {
	text = strings.TrimPrefix(text, "\ufeff")
	text = ansi.ReplaceAllString(text, "")
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = runnerTimestamp.ReplaceAllString(l, "")
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// Excerpt returns the part of a job log that shows why it failed: the lines before the
// runner's final error marker (or the end), at most max lines, with credentials
// redacted (before it is cut). It never cuts inside a line.
func Excerpt(text string, max int) string {
	// Redacted whole, then cut: a key whose BEGIN line falls before the kept lines
	// is still a key.
	lines := strings.Split(Redact(strings.Join(CleanLog(text), "\n")), "\n")
	end := len(lines)
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "##[error]") {
			end = i + 1 // the excerpt ends with the last error marker
			break
		}
	}
	start := max0(end - max)
	var out []string
	for _, l := range lines[start:end] {
		if strings.HasPrefix(l, "##[group]") || l == "##[endgroup]" {
			continue
		}
		out = append(out, strings.TrimPrefix(l, "##[error]"))
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// TestFailure is one failing test pytest reported.
type TestFailure struct {
	ID     string
	Reason string
}

var (
	// pytest's short summary: "FAILED tests/x.py::test_y - AssertionError: …"
	pytestSummary = regexp.MustCompile(`^(?:FAILED|ERROR) (\S+::\S+|\S+\.py)(?: - (.*))?$`)
	// pytest -v progress lines: "tests/x.py::test_y FAILED  [ 50%]"
	pytestVerbose = regexp.MustCompile(`^(\S+::\S+) (?:FAILED|ERROR)\b`)
)

// PytestFailures lists the failing tests of a pytest run, in the order reported,
// preferring the short test summary (which carries the reason).
func PytestFailures(text string) []TestFailure {
	var out []TestFailure
	seen := map[string]int{}
	for _, l := range CleanLog(text) {
		l = strings.TrimSpace(l)
		if m := pytestSummary.FindStringSubmatch(l); m != nil {
			if i, ok := seen[m[1]]; ok {
				if out[i].Reason == "" {
					out[i].Reason = m[2]
				}
				continue
			}
			seen[m[1]] = len(out)
			out = append(out, TestFailure{ID: m[1], Reason: Redact(m[2])})
			continue
		}
		if m := pytestVerbose.FindStringSubmatch(l); m != nil {
			if _, ok := seen[m[1]]; !ok {
				seen[m[1]] = len(out)
				out = append(out, TestFailure{ID: m[1]})
			}
		}
	}
	return out
}

// TerraformErrors returns Terraform's error blocks ("Error: …" and what follows, in the
// plain and the boxed "│ Error:" styles), each trimmed to its text, redacted.
func TerraformErrors(text string) []string {
	var blocks []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, Redact(strings.TrimSpace(strings.Join(cur, "\n"))))
			cur = nil
		}
	}
	for _, raw := range CleanLog(text) {
		l := strings.TrimPrefix(raw, "##[error]")
		boxed := strings.HasPrefix(l, "│")
		body := strings.TrimSpace(strings.TrimPrefix(l, "│"))
		switch {
		case strings.HasPrefix(body, "Error: "):
			flush()
			cur = []string{body}
		case cur == nil:
		case strings.HasPrefix(l, "╵"), strings.HasPrefix(l, "##[") && !boxed:
			flush()
		case !boxed && body == "" && len(cur) > 1 && cur[len(cur)-1] == "":
			flush()
		default:
			if len(cur) < 40 {
				cur = append(cur, body)
			}
		}
	}
	flush()
	return blocks
}

// Cause is the likely cause of a Terraform failure.
type Cause string

// Likely causes, from the runbook's scenario 2.
const (
	CauseNone       Cause = ""
	CauseStateLock  Cause = "state lock held"
	CauseThrottling Cause = "AWS throttling or quota"
	CauseExists     Cause = "resource already exists"
	CauseConfig     Cause = "Terraform configuration error"
	// CauseConcurrent is another change of the same resource still under way (a
	// Lambda update in progress, a table being updated): wait for it, then retry.
	CauseConcurrent Cause = "a concurrent update of the resource is in progress"
)

var causePatterns = []struct {
	cause Cause
	re    *regexp.Regexp
}{
	{CauseStateLock, regexp.MustCompile(`Error acquiring the state lock|remote state already locked`)},
	{CauseThrottling, regexp.MustCompile(`(?i)ThrottlingException|\bThrottling\b|Rate exceeded|TooManyRequestsException|RequestLimitExceeded|LimitExceededException|ServiceQuotaExceeded|quota (?:has been )?exceeded`)},
	// AWS says "conflict" both for a resource that exists and for one busy with another
	// change (Lambda's ResourceConflictException, DynamoDB's ResourceInUseException):
	// the message tells which.
	{CauseConcurrent, regexp.MustCompile(`(?i)update is in progress|in the following state: Pending|operation cannot be performed at this time|is being (?:updated|created|deleted)|still in use|ConcurrentModification|conflicting conditional operation|OperationAborted|requests to modify the same resource were in conflict`)},
	{CauseExists, regexp.MustCompile(`(?i)already exists?\b|EntityAlreadyExists|BucketAlreadyOwnedByYou|BucketAlreadyExists|ResourceAlreadyExists|ResourceExistsException`)},
	{CauseConcurrent, regexp.MustCompile(`ResourceConflictException|ResourceInUseException`)},
	{CauseConfig, regexp.MustCompile(`Unsupported argument|Unsupported attribute|Reference to undeclared|Invalid reference|Missing required argument|Unsupported block type|Invalid value for|Error: Invalid|Argument or block definition required|Unsuitable value type|Error parsing|syntax error`)},
}

// LikelyCause reads a failed Terraform log and names the runbook's likely cause.
func LikelyCause(text string) Cause {
	for _, c := range causePatterns {
		if c.re.MatchString(text) {
			return c.cause
		}
	}
	return CauseNone
}

var (
	lockHolderID = regexp.MustCompile(`(?m)remote state already locked[^\n]*\n\s*(?:│\s*)?ID=(\S+)`)
	lockField    = regexp.MustCompile(`^\s*(ID|Path|Operation|Who|Version|Created):\s*(.*)$`)
)

// ParseStateLock reads the lock of an "Error acquiring the state lock" message. The
// holder's ID is the "ID=" value the HTTP backend prints; the S3 backend prints the
// holder's Lock Info block instead. With the HTTP backend the Lock Info block is the
// contender's own, so only its ID is replaced. ok is false when the log has no lock
// error.
func ParseStateLock(text string) (lock StateLock, ok bool) {
	if !causePatterns[0].re.MatchString(text) {
		return StateLock{}, false
	}
	lines := CleanLog(text)
	in := false
	for _, raw := range lines {
		l := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(raw, "##[error]"), "│"))
		if strings.HasPrefix(l, "Lock Info:") {
			in = true
			continue
		}
		if !in {
			continue
		}
		m := lockField.FindStringSubmatch(l)
		if m == nil {
			if l == "" || strings.HasPrefix(l, "Info:") {
				continue
			}
			if !strings.Contains(l, ":") {
				in = false
			}
			continue
		}
		switch m[1] {
		case "ID":
			if lock.ID == "" {
				lock.ID = m[2]
			}
		case "Path":
			lock.Path = m[2]
		case "Operation":
			lock.Operation = m[2]
		case "Who":
			lock.Who = m[2]
		case "Version":
			lock.Version = m[2]
		case "Created":
			lock.Created = parseLockTime(m[2])
		}
	}
	if m := lockHolderID.FindStringSubmatch(strings.Join(lines, "\n")); m != nil {
		// HTTP backend: the block above described the contender, not the holder.
		lock = StateLock{ID: m[1], Path: lock.Path}
	}
	return lock, true
}

// parseLockTime reads Terraform's lock timestamps ("2025-11-20 10:00:00.123456789 +0000 UTC").
func parseLockTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02 15:04:05.999999999 -0700 MST", "2006-01-02 15:04:05 -0700 MST", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// SecretError is a failure to read a secret found in a log.
type SecretError struct {
	// Code is AccessDeniedException, ResourceNotFoundException or SecretNotFoundException.
	Code string
	// Secret is the secret's name or ARN when the message names it.
	Secret string
	// Principal is who was refused, when the message names it.
	Principal string
}

var (
	secretErrRE    = regexp.MustCompile(`(AccessDenied(?:Exception)?|ResourceNotFoundException|SecretNotFoundException)\b[^\n]*`)
	secretNameRE   = regexp.MustCompile(`(?:on resource:|secret:|secret-id|SecretId[=:]?|--secret-id)\s*"?(?:arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?([A-Za-z0-9/_+=.@-]+)`)
	secretARNRE    = regexp.MustCompile(`arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:([A-Za-z0-9/_+=.@-]+)`)
	principalRE    = regexp.MustCompile(`User:\s*(arn:aws[a-z-]*:(?:iam|sts)::\d{12}:\S+?)\s+is not authorized`)
	secretsContext = regexp.MustCompile(`(?i)secretsmanager|secrets manager|GetSecretValue|secret`)
)

// SecretErrors finds failures to read secrets in a log: AccessDenied, SecretNotFound or
// ResourceNotFound in a line about Secrets Manager.
func SecretErrors(text string) []SecretError {
	if !strings.Contains(text, "AccessDenied") && !strings.Contains(text, "NotFoundException") {
		return nil // the common case, without running the regular expressions
	}
	var out []SecretError
	seen := map[string]bool{}
	for _, l := range CleanLog(text) {
		if !strings.Contains(l, "AccessDenied") && !strings.Contains(l, "NotFoundException") {
			continue
		}
		m := secretErrRE.FindStringSubmatch(l)
		if m == nil || !secretsContext.MatchString(l) {
			continue
		}
		e := SecretError{Code: normalizeSecretCode(m[1])}
		if n := secretARNRE.FindStringSubmatch(l); n != nil {
			e.Secret = trimARNSuffix(n[1])
		} else if n := secretNameRE.FindStringSubmatch(l); n != nil {
			e.Secret = strings.TrimRight(n[1], ".,")
		}
		if p := principalRE.FindStringSubmatch(l); p != nil {
			e.Principal = p[1]
		}
		k := e.Code + "|" + e.Secret
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

func normalizeSecretCode(c string) string {
	if c == "AccessDenied" {
		return "AccessDeniedException"
	}
	return c
}

// trimARNSuffix removes the 6-character random suffix Secrets Manager adds to ARNs
// ("prod/x-AbCdEf" → "prod/x").
func trimARNSuffix(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 && len(name)-i == 7 {
		return name[:i]
	}
	return name
}
