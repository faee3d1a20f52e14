package sandbox

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var runnerLine = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z) (.*)$`)

func TestLogsAreRunnerLogs(t *testing.T) {
	names := LogNames()
	if len(names) < 13 || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "_") }) {
		t.Fatalf("LogNames: got %v, want every job log and no partials", names)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			text := Log(name)
			if text != Log(name) {
				t.Error("two renderings differ, want the same text")
			}
			if !strings.HasSuffix(text, "\n") {
				t.Error("log does not end with a newline")
			}
			var prev time.Time
			depth := 0
			for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
				m := runnerLine.FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("line %d: got %q, want a runner timestamp and a space first", i+1, line)
				}
				ts, err := time.Parse(logTimeLayout, m[1])
				if err != nil || ts.Before(prev) {
					t.Fatalf("line %d: got time %s after %s (%v), want non-decreasing times", i+1, m[1], prev, err)
				}
				prev = ts
				switch {
				case strings.HasPrefix(m[2], "##[group]"):
					depth++
				case m[2] == "##[endgroup]":
					depth--
				}
				if depth < 0 || depth > 1 {
					t.Fatalf("line %d: got group depth %d, want groups that open and close in turn", i+1, depth)
				}
				if strings.Contains(m[2], "{{") || strings.HasPrefix(m[2], "#! ") {
					t.Errorf("line %d: got template text %q", i+1, m[2])
				}
			}
			if depth != 0 {
				t.Errorf("got %d unclosed groups", depth)
			}
			failed := strings.Contains(name, "fail") || name == "state-lock" || name == "secrets-inaccessible"
			if got := strings.Contains(text, "##[error]Process completed with exit code "); got != failed {
				t.Errorf("exit code error line: got %v, want %v", got, failed)
			}
		})
	}
}

// TestLogContent pins the lines the classifier and the lock parser read.
func TestLogContent(t *testing.T) {
	tests := []struct {
		log   string
		has   []string
		lacks []string
	}{
		{"dev-tests-fail", []string{
			"FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds - AssertionError: score 1.0347 out of bounds",
			"FAILED tests/unit/test_analysis.py::test_batch_scores_are_clamped - AssertionError",
			"tests/unit/test_analysis.py:48: in test_sentiment_score_bounds\n    assert -1.0 <= score <= 1.0",
			"=========================== short test summary info ============================\n",
			"========================= 2 failed, 41 passed in 3.21s =========================\n",
		}, nil},
		{"preprod-deploy-fail", []string{
			"Error: Error acquiring the state lock\n\nError message: ConditionalCheckFailedException: The conditional request\nfailed\n\tstatus code: 400, request id:\n",
			"Lock Info:\n  ID:        7d9e4c21-5b8a-f3e0-1c6d-2a4b8e0f9c37\n  Path:      sentiment-analyzer-terraform-state-123456789012/preprod/terraform.tfstate\n  Operation: OperationTypeApply\n  Who:       runner@fv-az512-38\n  Version:   1.5.7\n  Created:   2025-11-20 09:33:46.517087 +0000 UTC\n  Info:      \n",
		}, []string{"ID="}},
		{"preprod-deploy-fail-throttling", []string{"ThrottlingException: Rate exceeded", "api error Throttling: Rate exceeded"}, []string{"state lock\n\n"}},
		{"preprod-deploy-fail-exists", []string{"ResourceConflictException: Function already exist", "Table already exists"}, nil},
		{"preprod-deploy-fail-config", []string{"Error: Unsupported argument", "Error: Reference to undeclared input variable"}, []string{"Acquiring state lock"}},
		{"preprod-tests-fail", []string{
			"FAILED tests/integration/test_analysis_preprod.py::test_analysis_writes_scores_to_dynamodb",
			"DynamoDB", "DYNAMODB_TABLE=preprod-sentiment-items-v2",
			"Artifact preprod-test-results-3f6c1e2d9a8b7c6d5e4f30211a0b9c8d7e6f5a4b has been successfully uploaded!",
		}, nil},
		{"prod-deploy-fail", []string{"ResourceConflictException: The operation cannot be performed at this time. An update is in progress"}, nil},
		{"rollback-in-progress", []string{"Rolling back to 9b2e4d6f8a0c1e3f5a7b9c1d3e5f7a9b1c3d5e7f", "Still modifying..."}, []string{"##[error]", "Apply complete!"}},
		{"canary-fail", []string{"HTTP/2 503\n", "content-type: application/json", `{"status":"unhealthy"`, "API_KEY: ***"}, nil},
		{"rollback-fail", []string{"Error: Error releasing the state lock", "force-unlock", "unexpected state 'Failed'"}, nil},
		{"state-lock", []string{
			"Error message: HTTP remote state already locked:\nID=7d9e4c21-5b8a-f3e0-1c6d-2a4b8e0f9c37\nLock Info:\n  ID:        e41b07c9-3a2d-58f6-9b1e-c07d4a62f8e5\n  Path:      \n  Operation: OperationTypePlan\n",
		}, nil},
		{"secrets-inaccessible", []string{
			"An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:iam::123456789012:user/sentiment-analyzer-preprod-deployer is not authorized to perform: secretsmanager:GetSecretValue on resource: preprod/sentiment-analyzer/newsapi",
			"##[error]Process completed with exit code 254.",
		}, nil},
		{"workflow-stuck", []string{"collecting ... collected 14 items"}, []string{"passed in", "##[error]"}},
	}
	for _, tt := range tests {
		t.Run(tt.log, func(t *testing.T) {
			text := stripTimestamps(Log(tt.log))
			for _, s := range tt.has {
				if !strings.Contains(text, s) {
					t.Errorf("got no %q", s)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(text, s) {
					t.Errorf("got %q, want none", s)
				}
			}
		})
	}
}

func TestLogScriptLinesAreCyan(t *testing.T) {
	text := Log("dev-tests-fail")
	if !strings.Contains(text, "Z ##[group]Run pytest tests/unit/ -v --tb=short\n") ||
		!strings.Contains(text, "Z \x1b[36;1mpytest tests/unit/ -v --tb=short\x1b[0m\n") {
		t.Error("got no run step header followed by its script line in cyan, as the runner echoes it")
	}
}

// TestLogsHoldNoRealCredentials: the only credential-shaped values are AWS's
// documented examples and masked values.
func TestLogsHoldNoRealCredentials(t *testing.T) {
	keys := regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b|\bgh[pousr]_[A-Za-z0-9]{20,}|\bxox[abposer]-`)
	for _, name := range LogNames() {
		if m := keys.FindAllString(Log(name), -1); len(m) > 0 {
			t.Errorf("log %s: got credential-shaped %v, want none", name, m)
		}
	}
}

func TestLogPanicsOnUnknownName(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "canary-fail") {
			t.Errorf("Log(no-such-log): got panic %v, want one naming the known logs", r)
		}
	}()
	Log("no-such-log")
}

func TestRenderLogNeedsEveryValue(t *testing.T) {
	_, err := renderLog("canary-fail", sampleLogStart, logVars{"sha": "x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "no value for {{") {
		t.Errorf("rendering without values: got %v, want an error naming the missing placeholders", err)
	}
}

func TestRenderLogSteps(t *testing.T) {
	tests := []struct {
		log, status, conclusion string
		steps                   map[string]string
	}{
		{"dev-tests-fail", "completed", "failure", map[string]string{"Set up job": "completed/success", "Run unit tests": "completed/failure", "Run dev integration tests": "completed/skipped", "Complete job": "completed/success"}},
		{"rollback-in-progress", "in_progress", "", map[string]string{"Find previous successful deployment": "completed/success", "Terraform apply previous version": "in_progress/", "Notify on-call": "queued/"}},
		{"canary-ok", "completed", "success", map[string]string{"Run canary health check": "completed/success"}},
	}
	for _, tt := range tests {
		t.Run(tt.log, func(t *testing.T) {
			l, err := renderLog(tt.log, sampleLogStart, sampleLogVars(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if l.status != tt.status || l.conclusion != tt.conclusion {
				t.Errorf("job: got %s/%s, want %s/%s", l.status, l.conclusion, tt.status, tt.conclusion)
			}
			got := map[string]string{}
			for i, s := range l.steps {
				got[s.Name] = s.Status + "/" + s.Conclusion
				if s.Number != int64(i+1) || (s.Status == "completed" && s.CompletedAt.Before(s.StartedAt)) {
					t.Errorf("step %q: got number %d, %s to %s", s.Name, s.Number, s.StartedAt, s.CompletedAt)
				}
			}
			for name, want := range tt.steps {
				if got[name] != want {
					t.Errorf("step %q: got %q, want %q", name, got[name], want)
				}
			}
		})
	}
}
