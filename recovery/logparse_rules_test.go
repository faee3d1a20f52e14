package recovery

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// numbered is a log of n numbered lines as GitHub's runner writes them.
func numbered(n int, eol string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "2025-11-20T10:01:%02d.1234567Z line %d%s", i%60, i, eol)
	}
	return b.String()
}

// TestCleanLog: the runner's timestamps, colour codes, a byte-order mark, CRs of CRLF
// line ends and trailing blank lines go; the tools' own text stays.
func TestCleanLog(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"blank lines only", "\n \n\t\n", nil},
		{"timestamps with and without fractions", "2025-11-20T10:01:02.1000000Z a\n2025-11-20T10:01:02Z b\n2025-11-20T10:01:02Zc", []string{"a", "b", "c"}},
		{"a timestamp inside a line stays", "x 2025-11-20T10:01:02Z y", []string{"x 2025-11-20T10:01:02Z y"}},
		{"CRLF", "a\r\nb\r\n\r\n", []string{"a", "b"}},
		{"a lone CR stays", "a\rb", []string{"a\rb"}},
		{"byte-order mark", "\ufeff2025-11-20T10:01:02Z first", []string{"first"}},
		{"colours", "\x1b[31mError:\x1b[0m \x1b[1;33mboom\x1b[m", []string{"Error: boom"}},
		{"leading blank lines and indentation stay", "\n  indented\n", []string{"", "  indented"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CleanLog(tt.in)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("CleanLog(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestExcerptBoundaries: an excerpt is at most max lines, the last ones up to and with
// the runner's final error marker (without the marker's prefix), without the runner's
// group markers; CRLF logs read the same; an empty log gives nothing.
func TestExcerptBoundaries(t *testing.T) {
	lines := func(from, to int) string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("line %d", i))
		}
		return strings.Join(out, "\n")
	}
	tests := []struct {
		name string
		log  string
		max  int
		want string
	}{
		{"empty log", "", 10, ""},
		{"blank log", "\n\n", 10, ""},
		{"max 0", numbered(3, "\n"), 0, ""},
		{"fewer lines than the limit", numbered(3, "\n"), 10, lines(1, 3)},
		{"limit − 1 lines", numbered(9, "\n"), 10, lines(1, 9)},
		{"exactly the limit", numbered(10, "\n"), 10, lines(1, 10)},
		{"limit + 1 lines: the first goes", numbered(11, "\n"), 10, lines(2, 11)},
		{"CRLF, limit + 1 lines", numbered(11, "\r\n"), 10, lines(2, 11)},
		{"ends at the final error marker", numbered(5, "\n") + "##[error]Process completed with exit code 1.\n##[group]Post job cleanup\ncleanup\n##[endgroup]\n", 3,
			"line 4\nline 5\nProcess completed with exit code 1."},
		{"a marker on the first line", "##[error]boom\npost-job cleanup\n", 10, "boom"},
		{"the final marker, not an earlier one", "a\n##[error]first\nb\n##[error]second\nafter\n", 10, "a\nfirst\nb\nsecond"},
		{"a block of markers stays whole", "a\n##[error]Terraform exited with code 1.\n##[error]Process completed with exit code 1.\n", 2,
			"Terraform exited with code 1.\nProcess completed with exit code 1."},
		{"group markers take a line of the limit but are not shown", "##[group]Run x\nx\n##[endgroup]\nfailed\n##[error]exit 1\n", 4, "x\nfailed\nexit 1"},
		{"an indented marker is text", "a\n  ##[error]not the runner's\nb\n", 10, "a\n  ##[error]not the runner's\nb"},
		{"surrounding blank lines trimmed", "\n\n  \nboom\n\n##[error]exit 1\n", 10, "boom\n\nexit 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Excerpt(tt.log, tt.max); got != tt.want {
				t.Errorf("Excerpt(…, %d): got %q, want %q", tt.max, got, tt.want)
			}
		})
	}
}

// TestPytestFailuresEdges: the short summary's FAILED and ERROR lines with their
// reasons, a whole file that failed to import, verbose progress lines without a
// reason, each test once, in the order reported.
func TestPytestFailuresEdges(t *testing.T) {
	tests := []struct {
		name string
		log  string
		want []TestFailure
	}{
		{"empty", "", nil},
		{"a passing run", "tests/a.py::test_x PASSED [100%]\n===== 1 passed in 0.1s =====\n", nil},
		{"summary with reasons", "FAILED tests/a.py::test_x - assert 1 == 2\nERROR tests/b.py::test_y - fixture 'db' not found\n",
			[]TestFailure{{"tests/a.py::test_x", "assert 1 == 2"}, {"tests/b.py::test_y", "fixture 'db' not found"}}},
		{"summary without a reason", "FAILED tests/a.py::test_x\n", []TestFailure{{"tests/a.py::test_x", ""}}},
		{"a file that failed to import", "ERROR tests/test_import.py - ModuleNotFoundError: No module named 'boto3'\n",
			[]TestFailure{{"tests/test_import.py", "ModuleNotFoundError: No module named 'boto3'"}}},
		{"parametrized tests", "FAILED tests/a.py::test_x[1-2] - assert 3 == 4\n", []TestFailure{{"tests/a.py::test_x[1-2]", "assert 3 == 4"}}},
		{"verbose lines only", "tests/a.py::test_x FAILED [ 50%]\ntests/a.py::test_y ERROR [100%]\n",
			[]TestFailure{{"tests/a.py::test_x", ""}, {"tests/a.py::test_y", ""}}},
		{"verbose then summary: once, with the reason", "tests/a.py::test_x FAILED [ 50%]\nFAILED tests/a.py::test_x - KeyError: 'k'\n",
			[]TestFailure{{"tests/a.py::test_x", "KeyError: 'k'"}}},
		{"summary twice: the first reason stays", "FAILED tests/a.py::test_x - first\nFAILED tests/a.py::test_x - second\n",
			[]TestFailure{{"tests/a.py::test_x", "first"}}},
		{"CRLF, timestamps and indentation", "2025-11-20T10:01:06.1Z   FAILED tests/a.py::test_x - boom\r\n",
			[]TestFailure{{"tests/a.py::test_x", "boom"}}},
		{"FAILED in prose is no failure", "the FAILED tests/a.py::test_x line\nPASSED tests/a.py::test_y\n", nil},
		{"a failure's reason is redacted", "FAILED tests/a.py::test_x - AssertionError: AKIAIOSFODNN7EXAMPLE\n",
			[]TestFailure{{"tests/a.py::test_x", "AssertionError: " + Redact("AKIAIOSFODNN7EXAMPLE")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PytestFailures(tt.log)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if r := Redact("AKIAIOSFODNN7EXAMPLE"); strings.Contains(r, "AKIAIOSFODNN7EXAMPLE") {
		t.Fatalf("the key of the redaction case is not redacted (%q): the case cannot fail", r)
	}
}

// TestTerraformErrorEdges: an error block starts at "Error: " (boxed or plain) and
// ends at the box's end, at the runner's next marker, or at two blank lines; blocks
// stop growing at 40 lines.
func TestTerraformErrorEdges(t *testing.T) {
	long := "Error: huge\n" + strings.Repeat("detail\n", 60)
	tests := []struct {
		name string
		log  string
		want []string
	}{
		{"empty", "", nil},
		{"no error", "Apply complete! Resources: 1 added.\n", nil},
		{"Error without a space is not a block", "Error:nothing\n", nil},
		{"plain block ends at two blank lines", "Error: boom\n\nwhat went wrong\n\n\nafter\n", []string{"Error: boom\n\nwhat went wrong"}},
		{"one blank line does not end a plain block", "Error: boom\n\nmore\n", []string{"Error: boom\n\nmore"}},
		{"nor does one between details", "Error: boom\nwhy\n\nmore\n", []string{"Error: boom\nwhy\n\nmore"}},
		{"plain block ends at the runner's next group", "Error: boom\nwhy\n##[group]Post job cleanup\n", []string{"Error: boom\nwhy"}},
		{"error markers continue a plain block", "##[error]Error: boom\n##[error]why\n", []string{"Error: boom\nwhy"}},
		{"a marker on a boxed error starts it", "##[error]│ Error: boxed\n│ why\n╵\n", []string{"Error: boxed\nwhy"}},
		{"boxed block ends at the box", "╷\n│ Error: one\n│ \n│ why\n╵\nafter\n│ Error: two\n╵\n", []string{"Error: one\n\nwhy", "Error: two"}},
		{"two errors in a row", "Error: one\nError: two\n", []string{"Error: one", "Error: two"}},
		{"CRLF", "╷\r\n│ Error: crlf\r\n│ why\r\n╵\r\n", []string{"Error: crlf\nwhy"}},
		{"40 lines at most", long, []string{"Error: huge\n" + strings.TrimSuffix(strings.Repeat("detail\n", 39), "\n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TerraformErrors(tt.log)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLikelyCauseEach: each of the runbook's likely causes by the words AWS and
// Terraform print, the lock first.
func TestLikelyCauseEach(t *testing.T) {
	tests := []struct {
		log  string
		want Cause
	}{
		{"", CauseNone},
		{"Error: Error acquiring the state lock", CauseStateLock},
		{"HTTP remote state already locked: ID=x", CauseStateLock},
		{"Error acquiring the state lock\nThrottlingException: Rate exceeded", CauseStateLock},
		{"api error TooManyRequestsException", CauseThrottling},
		{"LimitExceededException: too many", CauseThrottling},
		{"Your quota has been exceeded", CauseThrottling},
		{"throttling: slow down", CauseThrottling},
		{"EntityAlreadyExists: Role with name x already exists", CauseExists},
		{"BucketAlreadyOwnedByYou", CauseExists},
		// AWS's own texts: a conflict is an existing resource or a busy one, by its message.
		{"api error ResourceConflictException: Function already exist: prod-sentiment-analysis", CauseExists},
		{"api error ResourceConflictException: The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:111111111111:function:prod-sentiment-analysis", CauseConcurrent},
		{"api error ResourceConflictException: The operation cannot be performed at this time. The function is currently in the following state: Pending", CauseConcurrent},
		{"api error ResourceInUseException: Table already exists: preprod-sentiment-items", CauseExists},
		{"api error ResourceInUseException: Attempt to change a resource which is still in use: Table is being updated: preprod-sentiment-items", CauseConcurrent},
		{"api error ConcurrentModification: Cannot perform the operation on the role medic-prod because a concurrent modification is in progress", CauseConcurrent},
		{"api error OperationAborted: A conflicting conditional operation is currently in progress against this resource. Please try again.", CauseConcurrent},
		{"api error BucketAlreadyExists: The requested bucket name is not available.", CauseExists},
		{"api error ResourceAlreadyExistsException: The specified log group already exists", CauseExists},
		{"api error ResourceExistsException: The operation failed because the secret prod/x already exists.", CauseExists},
		{"api error ResourceConflictException: conflict", CauseConcurrent},
		{"api error ResourceInUseException: in use", CauseConcurrent},
		{"api error ThrottlingException: Rate exceeded (an update is in progress)", CauseThrottling},
		{"Error: Reference to undeclared resource", CauseConfig},
		{"Error: Missing required argument", CauseConfig},
		{"Error: Invalid function argument", CauseConfig},
		{"Error: timeout while waiting for state", CauseNone},
	}
	for _, tt := range tests {
		if got := LikelyCause(tt.log); got != tt.want {
			t.Errorf("LikelyCause(%q): got %q, want %q", tt.log, got, tt.want)
		}
	}
}

// TestParseStateLockEdges: the lock's fields from the Lock Info block, the HTTP
// backend's holder ID, Terraform's timestamps, CRLF logs; no lock error, no lock.
func TestParseStateLockEdges(t *testing.T) {
	s3 := mustLog(t, "terraform_lock_s3.log")
	want := StateLock{ID: "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b", Path: "sentiment-tfstate-preprod/preprod/terraform.tfstate",
		Operation: "OperationTypeApply", Who: "runner@fv-az512-331", Version: "1.5.7", Created: time.Date(2025, 11, 20, 9, 31, 7, 123456789, time.UTC)}
	tests := []struct {
		name   string
		log    string
		want   StateLock
		wantOK bool
	}{
		{"empty", "", StateLock{}, false},
		{"a lock acquired and released", "Acquiring state lock. This may take a few moments...\nReleasing state lock. This may take a few moments...\n", StateLock{}, false},
		{"Lock Info without the error", "Lock Info:\n  ID: x\n", StateLock{}, false},
		{"s3 backend", s3, want, true},
		{"s3 backend, CRLF", strings.ReplaceAll(s3, "\n", "\r\n"), want, true},
		{"http backend: the holder's ID only, the path kept", "Error: Error acquiring the state lock\nError message: HTTP remote state already locked:\nID=holder-1\nLock Info:\n  ID: contender\n  Path: tfstate/prod\n  Who: me\n",
			StateLock{ID: "holder-1", Path: "tfstate/prod"}, true},
		{"the error without Lock Info", "Error: Error acquiring the state lock\n", StateLock{}, true},
		{"the block ends at a line without a colon", "Error: Error acquiring the state lock\nLock Info:\n  ID: a\nTerraform acquires a state lock\n  Who: not-the-lock\n",
			StateLock{ID: "a"}, true},
		{"the first ID counts", "Error: Error acquiring the state lock\nLock Info:\n  ID: a\n  ID: b\n", StateLock{ID: "a"}, true},
		{"seconds without fraction", "Error: Error acquiring the state lock\nLock Info:\n  Created: 2025-11-20 10:00:00 +0000 UTC\n",
			StateLock{Created: time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC)}, true},
		{"RFC 3339, in UTC", "Error: Error acquiring the state lock\nLock Info:\n  Created: 2025-11-20T12:00:00+02:00\n",
			StateLock{Created: time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC)}, true},
		{"a time that is none", "Error: Error acquiring the state lock\nLock Info:\n  Created: yesterday\n", StateLock{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseStateLock(tt.log)
			if ok != tt.wantOK || got != tt.want || got.Created.Location() != tt.want.Created.Location() {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestSecretErrorsEdges: each code on a line about Secrets Manager, with the secret's
// name (an ARN's random suffix removed) and who was refused; the same code elsewhere
// is no secrets error; each code and secret once.
func TestSecretErrorsEdges(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:111111111111:secret:"
	user := "arn:aws:iam::222222222222:user/deployer"
	tests := []struct {
		name string
		log  string
		want []SecretError
	}{
		{"empty", "", nil},
		{"no code", "GetSecretValue: ok\n", nil},
		{"AccessDenied is AccessDeniedException", "AccessDenied on GetSecretValue SecretId=prod/x\n", []SecretError{{Code: "AccessDeniedException", Secret: "prod/x"}}},
		{"AccessDeniedException with who and what", "An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: " + user + " is not authorized to perform: secretsmanager:GetSecretValue on resource: preprod/a/b because no identity-based policy allows it\n",
			[]SecretError{{Code: "AccessDeniedException", Secret: "preprod/a/b", Principal: user}}},
		{"ResourceNotFoundException by ARN, suffix removed", "ResourceNotFoundException: Secrets Manager can't find " + arn + "prod/x-AbCdEf\n",
			[]SecretError{{Code: "ResourceNotFoundException", Secret: "prod/x"}}},
		{"SecretNotFoundException with --secret-id", "SecretNotFoundException: aws secretsmanager get-secret-value --secret-id dev/y.\n",
			[]SecretError{{Code: "SecretNotFoundException", Secret: "dev/y"}}},
		{"SecretId=", "ResourceNotFoundException: GetSecretValue SecretId=prod/z, retry\n", []SecretError{{Code: "ResourceNotFoundException", Secret: "prod/z"}}},
		{"an ARN's 5-character tail is the name's", "ResourceNotFoundException " + arn + "prod/x-AbCdE\n", []SecretError{{Code: "ResourceNotFoundException", Secret: "prod/x-AbCdE"}}},
		{"an ARN's 7-character tail is the name's", "ResourceNotFoundException " + arn + "prod/x-AbCdEfG\n", []SecretError{{Code: "ResourceNotFoundException", Secret: "prod/x-AbCdEfG"}}},
		{"a name that is only a suffix", "ResourceNotFoundException " + arn + "-AbCdEf\n", []SecretError{{Code: "ResourceNotFoundException", Secret: "-AbCdEf"}}},
		{"the same code elsewhere", "AccessDeniedException: dynamodb:GetItem on table prod-items\nResourceNotFoundException: Table prod-items\n", nil},
		{"the secret on another line", "AccessDeniedException: not authorized\nsecretsmanager is fine\n", nil},
		{"twice, once", "AccessDeniedException secret: prod/x\nAccessDeniedException secret: prod/x\nAccessDeniedException secret: prod/y\n",
			[]SecretError{{Code: "AccessDeniedException", Secret: "prod/x"}, {Code: "AccessDeniedException", Secret: "prod/y"}}},
		{"CRLF", "2025-11-20T10:02:01Z SecretNotFoundException secret: prod/x\r\n", []SecretError{{Code: "SecretNotFoundException", Secret: "prod/x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SecretErrors(tt.log)
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestLikelyCauseOfTheSandboxLogs: the likely cause of each failed Terraform log the
// sandbox serves (GitHub Actions logs of the runbook's pipeline with AWS's own error
// texts), one of each kind.
func TestLikelyCauseOfTheSandboxLogs(t *testing.T) {
	for _, tt := range []struct {
		file string
		want Cause
	}{
		{"state-lock.log", CauseStateLock},
		{"preprod-deploy-fail-throttling.log", CauseThrottling},
		{"preprod-deploy-fail-exists.log", CauseExists},
		{"prod-deploy-fail.log", CauseConcurrent},
		{"preprod-deploy-fail-config.log", CauseConfig},
		{"rollback-fail.log", CauseNone}, // a KMS key pending deletion: none of the runbook's
	} {
		data, err := os.ReadFile(filepath.Join("..", "sandbox", "logs", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := LikelyCause(string(data)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.file, got, tt.want)
		}
	}
}
