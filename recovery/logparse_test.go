package recovery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustLog(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestPytestFailures(t *testing.T) {
	got := PytestFailures(mustLog(t, "pytest_dev.log"))
	want := []TestFailure{
		{ID: "tests/unit/test_analysis.py::test_sentiment_score_bounds", Reason: "assert -1.0 <= -1.7"},
		{ID: "tests/unit/test_ingestion.py::test_parse_newsapi_article", Reason: "KeyError: 'publishedAt'"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("failure %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestExcerptEndsAtTheError(t *testing.T) {
	got := Excerpt(mustLog(t, "pytest_dev.log"), 5)
	lines := strings.Split(got, "\n")
	if len(lines) != 5 || lines[len(lines)-1] != "Process completed with exit code 1." || !strings.Contains(got, "2 failed, 41 passed") {
		t.Errorf("got %q", got)
	}
	if strings.Contains(got, "2025-11-20T") {
		t.Errorf("timestamps left in: %q", got)
	}
}

func TestTerraformErrorsAndCause(t *testing.T) {
	tests := []struct {
		name      string
		log       string
		wantCause Cause
		wantFirst string
	}{
		{"s3 lock", mustLog(t, "terraform_lock_s3.log"), CauseStateLock, "Error: Error acquiring the state lock"},
		{"http lock", mustLog(t, "terraform_lock_http.log"), CauseStateLock, "Error: Error acquiring the state lock"},
		{"throttling", "Error: creating Lambda Function (preprod-sentiment-analysis): operation error Lambda: CreateFunction, https response error StatusCode: 429, RequestID: x, api error ThrottlingException: Rate exceeded\n", CauseThrottling, "Error: creating Lambda Function"},
		{"exists", "│ Error: creating DynamoDB Table (preprod-sentiment-items): ResourceInUseException: Table already exists: preprod-sentiment-items\n│ \n│   with aws_dynamodb_table.items,\n╵\n", CauseExists, "Error: creating DynamoDB Table"},
		{"config", "╷\n│ Error: Unsupported argument\n│ \n│   on main.tf line 12, in resource \"aws_lambda_function\" \"x\":\n│   12:   runtim = \"python3.11\"\n│ \n│ An argument named \"runtim\" is not expected here.\n╵\n", CauseConfig, "Error: Unsupported argument"},
		{"unknown", "Error: something odd happened\n", CauseNone, "Error: something odd happened"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LikelyCause(tt.log); got != tt.wantCause {
				t.Errorf("cause: got %q, want %q", got, tt.wantCause)
			}
			errs := TerraformErrors(tt.log)
			if len(errs) == 0 || !strings.HasPrefix(errs[0], tt.wantFirst) {
				t.Errorf("errors: got %q, want first to start with %q", errs, tt.wantFirst)
			}
		})
	}
	errs := TerraformErrors(mustLog(t, "terraform_lock_s3.log"))
	if !strings.Contains(errs[0], "OperationTypeApply") || strings.Contains(errs[0], "##[error]") {
		t.Errorf("lock error block: got %q", errs[0])
	}
}

func TestParseStateLock(t *testing.T) {
	lock, ok := ParseStateLock(mustLog(t, "terraform_lock_s3.log"))
	if !ok || lock.ID != "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b" || lock.Who != "runner@fv-az512-331" ||
		lock.Operation != "OperationTypeApply" || !lock.Created.Equal(time.Date(2025, 11, 20, 9, 31, 7, 123456789, time.UTC)) {
		t.Errorf("s3 backend: got %+v, %v", lock, ok)
	}
	lock, ok = ParseStateLock(mustLog(t, "terraform_lock_http.log"))
	if !ok || lock.ID != "0e9a5c1b-2d3f-4a6b-8c7d-9e0f1a2b3c4d" || lock.Who != "" {
		t.Errorf("http backend: got %+v, want the holder's ID= value and not the contender's Lock Info", lock)
	}
	if _, ok := ParseStateLock(mustLog(t, "pytest_dev.log")); ok {
		t.Error("a log without a lock error parsed as a lock")
	}
}

func TestSecretErrors(t *testing.T) {
	got := SecretErrors(mustLog(t, "secrets_denied.log"))
	want := SecretError{Code: "AccessDeniedException", Secret: "preprod/sentiment-analyzer/newsapi", Principal: "arn:aws:iam::222222222222:user/sentiment-analyzer-preprod-deployer"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %+v, want [%+v]", got, want)
	}
	arn := "botocore.errorfactory.ResourceNotFoundException: An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret. secret: arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/sentiment-analyzer/newsapi-AbCdEf"
	got = SecretErrors(arn)
	if len(got) != 1 || got[0].Code != "ResourceNotFoundException" || got[0].Secret != "prod/sentiment-analyzer/newsapi" {
		t.Errorf("ARN form: got %+v", got)
	}
	if got := SecretErrors("AccessDenied: s3:GetObject on bucket x"); len(got) != 0 {
		t.Errorf("an S3 AccessDenied was taken for a secrets error: %+v", got)
	}
}
