package recovery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// dgCase is one diagnostic of one alert: what the world answers and what the alert
// shows.
type dgCase struct {
	name     string
	scenario ScenarioID
	world    func(w *dgWorld)
	env      func(e *Environment)
	incident Incident
	noRun    bool
	run      func(r *Run)
	job      *JobInfo
	alarm    *Alarm
	log      *JobLog
	rollback string
	id       DiagnosticID
	want     Finding
	check    func(t *testing.T, w *dgWorld)
}

func dgLines(l ...string) []string { return l }

func dgReadTestdata(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// dgErr makes a source fail with a summarized error.
func dgErr(summary string) error { return dgSummarized{summary} }

func dgSHA(i int) string { return fmt.Sprintf("%07d", i) + strings.Repeat("e", 33) }

func runDiagnosticCases(t *testing.T, cases []dgCase) {
	t.Helper()
	titles := diagnostics()
	for _, tc := range cases {
		t.Run(string(tc.id)+"/"+tc.name, func(t *testing.T) {
			w := &dgWorld{}
			if tc.world != nil {
				tc.world(w)
			}
			env := dgEnv()
			if tc.env != nil {
				tc.env(&env)
			}
			var run *Run
			if !tc.noRun {
				run = dgFullRun()
				if tc.run != nil {
					tc.run(run)
				}
			}
			in := tc.incident
			in.Scenario = tc.scenario
			fs := mustDiagnoser(t, w, 5*time.Second, tc.rollback).Gather(context.Background(), in, env, run, tc.job, tc.alarm, tc.log)
			got := dgFind(t, fs, tc.id)
			want := tc.want
			want.Diagnostic, want.Title = tc.id, titles[tc.id].title
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
				if !reflect.DeepEqual(got.Lines, want.Lines) {
					t.Errorf("lines: got %q, want %q", got.Lines, want.Lines)
				}
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

func TestDiagnosticTitles(t *testing.T) {
	want := map[DiagnosticID]string{
		DiagFailedStep: "Failed step", DiagTestFailures: "Failing tests", DiagLogExcerpt: "Log excerpt", DiagCommit: "Commit",
		DiagTerraformError: "Terraform error", DiagEnvResources: "Environment resources", DiagTestArtifacts: "Test results",
		DiagSecretsReadable: "Secrets", DiagRollbackProgress: "Auto-rollback", DiagLambdaStates: "Lambda functions",
		DiagLastGood: "Last known good", DiagKnownGood: "Known good deploys", DiagHealth: "Health endpoint", DiagAlarms: "Alarms in ALARM",
		DiagErrorLogs: "ERROR logs (last 10 minutes)", DiagLockState: "Terraform lock table", DiagLockHolder: "State lock",
		DiagStuck: "Run progress", DiagSecretErrors: "Secret errors", DiagSecretsList: "Secrets under the prefix",
		DiagIAMPolicy: "Deployer's Secrets Manager permissions", DiagAlarmHistory: "Alarm history", DiagAlarmDetail: "Alarm",
	}
	got := diagnostics()
	if len(got) != len(want) {
		t.Errorf("got %d diagnostics, want %d", len(got), len(want))
	}
	for id, title := range want {
		if got[id].title != title || got[id].run == nil {
			t.Errorf("%s: got title %q, want %q with a function", id, got[id].title, title)
		}
	}
}

func TestDiagnosticsOfPipelineJobs(t *testing.T) {
	failedJob := func(steps ...StepInfo) *JobInfo {
		return &JobInfo{ID: 5, RunID: 900, Name: "unit tests", Status: "completed", Conclusion: "failure", URL: "https://github.test/jobs/5", Steps: steps}
	}
	pytest := func(n int) *JobLog {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "FAILED tests/test_x.py::test_%02d - assert False\n", i)
		}
		b.WriteString("##[error]Process completed with exit code 1.\n")
		return &JobLog{Text: b.String(), URL: "https://github.test/jobs/5/log"}
	}
	testLines := func(from, to int, more ...string) []string {
		var l []string
		for i := from; i <= to; i++ {
			l = append(l, fmt.Sprintf("tests/test_x.py::test_%02d — assert False", i))
		}
		return append(l, more...)
	}
	twoFailures := &JobLog{Text: "collected 43 items\nFAILED tests/a.py::test_one - assert 1 == 2\nFAILED tests/b.py::test_two\n##[error]Process completed with exit code 1.\n", URL: "https://github.test/jobs/5/log"}
	var long strings.Builder
	for i := 1; i <= 45; i++ {
		fmt.Fprintf(&long, "line %d\n", i)
	}
	excerptLog := &JobLog{Text: long.String() + "building\nError: first\nstill going\nerror: second one\ncleanup\n##[error]Process completed with exit code 1.\n", URL: "https://github.test/jobs/5/log"}
	var kept []string // the 40 lines up to the runner's error marker
	for i := 12; i <= 45; i++ {
		kept = append(kept, fmt.Sprintf("line %d", i))
	}
	excerptWant := strings.Join(append(kept, "building", "Error: first", "still going", "error: second one", "cleanup", "Process completed with exit code 1."), "\n")
	noErrorLog := &JobLog{Text: "step one\nstep two\n", URL: "u"}
	firstLineError := &JobLog{Text: "Error: at the top\nstep two\nstep three\n", URL: "u"}
	longErrorLog := &JobLog{Text: "Error: " + strings.Repeat("x", 300) + "\n", URL: "u"}

	cases := []dgCase{
		{name: "the failed step and the run", scenario: DevTestsFail, log: &JobLog{},
			job: failedJob(StepInfo{1, "Set up job", "completed", "success"}, StepInfo{2, "Run pytest", "completed", "failure"}, StepInfo{3, "Post", "completed", "failure"}),
			id:  DiagFailedStep, want: Finding{Bad: true, Link: "https://github.test/jobs/5", LinkText: "job log",
				Lines: dgLines("unit tests › step 2 “Run pytest” failed", "Dev run #42, attempt 2")}},
		{name: "a step that timed out failed", scenario: DevTestsFail, log: &JobLog{},
			job: failedJob(StepInfo{1, "Set up job", "completed", "success"}, StepInfo{2, "Run pytest", "completed", "timed_out"}),
			id:  DiagFailedStep, want: Finding{Bad: true, Link: "https://github.test/jobs/5", LinkText: "job log",
				Lines: dgLines("unit tests › step 2 “Run pytest” failed", "Dev run #42, attempt 2")}},
		{name: "the step running now", scenario: DevTestsFail, log: &JobLog{},
			job: &JobInfo{Name: "deploy", Status: "in_progress", Steps: []StepInfo{{1, "Set up job", "completed", "success"}, {2, "Deploy", "in_progress", ""}}},
			id:  DiagFailedStep, want: Finding{Bad: true, LinkText: "job log",
				Lines: dgLines("deploy › step 2 “Deploy” in_progress", "Dev run #42, attempt 2")}},
		{name: "a job without steps; first attempt; workflow by file", scenario: DevTestsFail, log: &JobLog{},
			job: &JobInfo{Name: "deploy", Status: "completed", Conclusion: "cancelled"},
			run: func(r *Run) { r.Attempt, r.WorkflowName = 0, "" },
			id:  DiagFailedStep, want: Finding{Bad: true, LinkText: "job log", Lines: dgLines("deploy cancelled", "dev.yml run #42, attempt 1")}},
		{name: "a job without a conclusion", scenario: DevTestsFail, log: &JobLog{}, noRun: true,
			job: &JobInfo{Name: "deploy", Status: "queued"},
			id:  DiagFailedStep, want: Finding{Bad: true, LinkText: "job log", Lines: dgLines("deploy queued")}},
		{name: "no job", scenario: DevTestsFail, log: &JobLog{},
			id: DiagFailedStep, want: Finding{Problem: "Failed step: no job"}},

		{name: "failing tests with their reasons", scenario: DevTestsFail, job: failedJob(), log: twoFailures,
			id: DiagTestFailures, want: Finding{Bad: true, Lines: dgLines("tests/a.py::test_one — assert 1 == 2", "tests/b.py::test_two"),
				Detail:      "collected 43 items\nFAILED tests/a.py::test_one - assert 1 == 2\nFAILED tests/b.py::test_two\nProcess completed with exit code 1.",
				DetailTitle: "Log excerpt", Link: "https://github.test/jobs/5/log", LinkText: "full log"}},
		{name: "no failing test named", scenario: DevTestsFail, job: failedJob(), log: &JobLog{Text: "Killed\n", URL: "u"},
			id: DiagTestFailures, want: Finding{Lines: dgLines("no failing test named in the log (see the excerpt)"), Detail: "Killed",
				DetailTitle: "Log excerpt", Link: "u", LinkText: "full log"}},
		{name: "ten failing tests all shown", scenario: DevTestsFail, job: failedJob(), log: pytest(10),
			id: DiagTestFailures, want: Finding{Bad: true, Lines: testLines(1, 10), Detail: Excerpt(pytest(10).Text, 40),
				DetailTitle: "Log excerpt", Link: "https://github.test/jobs/5/log", LinkText: "full log"}},
		{name: "eleven failing tests: nine and a count", scenario: DevTestsFail, job: failedJob(), log: pytest(11),
			id: DiagTestFailures, want: Finding{Bad: true, Lines: testLines(1, 9, "…and 2 more"), Detail: Excerpt(pytest(11).Text, 40),
				DetailTitle: "Log excerpt", Link: "https://github.test/jobs/5/log", LinkText: "full log"}},
		{name: "the log cannot be read", scenario: DevTestsFail, job: failedJob(),
			world: func(w *dgWorld) {
				w.jobLog = func(context.Context, int64) (JobLog, error) {
					return JobLog{}, dgErr("GitHub: 410 Gone on GET job log")
				}
			},
			id: DiagTestFailures, want: Finding{Problem: "GitHub: 410 Gone on GET job log"}},

		{name: "the last error line of the excerpt", scenario: OtherJobFailed, job: failedJob(), log: excerptLog,
			id: DiagLogExcerpt, want: Finding{Lines: dgLines("error: second one"),
				Detail:      excerptWant,
				DetailTitle: "Log excerpt", Link: "https://github.test/jobs/5/log", LinkText: "full log"}},
		{name: "no error line: the last line", scenario: OtherJobFailed, job: failedJob(), log: noErrorLog,
			id: DiagLogExcerpt, want: Finding{Lines: dgLines("step two"), Detail: "step one\nstep two", DetailTitle: "Log excerpt", Link: "u", LinkText: "full log"}},
		{name: "the error line is the first", scenario: OtherJobFailed, job: failedJob(), log: firstLineError,
			id: DiagLogExcerpt, want: Finding{Lines: dgLines("Error: at the top"), Detail: "Error: at the top\nstep two\nstep three", DetailTitle: "Log excerpt", Link: "u", LinkText: "full log"}},
		{name: "a long error line is cut", scenario: OtherJobFailed, job: failedJob(), log: longErrorLog,
			id: DiagLogExcerpt, want: Finding{Lines: dgLines("Error: " + strings.Repeat("x", 192) + "…"), Detail: strings.TrimSpace(longErrorLog.Text),
				DetailTitle: "Log excerpt", Link: "u", LinkText: "full log"}},

		{name: "subject, author, branch and pull requests", scenario: DevTestsFail, job: failedJob(), log: &JobLog{},
			run: func(r *Run) { r.PullRequests = []int{12, 13} },
			id:  DiagCommit, want: Finding{Link: "https://github.test/runs/900", LinkText: "run",
				Lines: dgLines("9f1c2d3 fix: parse dates — by Dana Scully", "branch main, triggered by dana", "pull request #12", "pull request #13")}},
		{name: "no author, no branch", scenario: DevTestsFail, job: failedJob(), log: &JobLog{},
			run: func(r *Run) { r.CommitAuthor, r.HeadBranch, r.CommitMessage, r.URL = "", "", "chore: bump", "" },
			id:  DiagCommit, want: Finding{LinkText: "run", Lines: dgLines("9f1c2d3 chore: bump")}},
		{name: "triggered by the event when no actor", scenario: DevTestsFail, job: failedJob(), log: &JobLog{},
			run: func(r *Run) { r.Actor, r.HeadSHA = "", "abc12" },
			id:  DiagCommit, want: Finding{Link: "https://github.test/runs/900", LinkText: "run",
				Lines: dgLines("abc12 fix: parse dates — by Dana Scully", "branch main, triggered by push")}},
		{name: "a key in the subject is redacted", scenario: DevTestsFail, job: failedJob(), log: &JobLog{},
			run: func(r *Run) { r.CommitMessage = "rotate AKIAABCDEFGHIJKLMNOP\n\nbody" },
			id:  DiagCommit, want: Finding{Link: "https://github.test/runs/900", LinkText: "run",
				Lines: dgLines("9f1c2d3 rotate [REDACTED AWS KEY ID] — by Dana Scully", "branch main, triggered by dana")}},
		{name: "a long subject is cut", scenario: DevTestsFail, job: failedJob(), log: &JobLog{},
			run: func(r *Run) { r.CommitMessage = strings.Repeat("é", 130) },
			id:  DiagCommit, want: Finding{Link: "https://github.test/runs/900", LinkText: "run",
				Lines: dgLines("9f1c2d3 "+strings.Repeat("é", 119)+"… — by Dana Scully", "branch main, triggered by dana")}},
		{name: "no run", scenario: DevTestsFail, job: failedJob(), log: &JobLog{}, noRun: true,
			id: DiagCommit, want: Finding{Problem: "Commit: no run"}},
	}
	runDiagnosticCases(t, cases)
}

func TestDiagnosticsOfTerraformAndTheEnvironment(t *testing.T) {
	s3Lock := &JobLog{Text: dgReadTestdata(t, "terraform_lock_s3.log"), URL: "https://github.test/jobs/5/log"}
	httpLock := &JobLog{Text: dgReadTestdata(t, "terraform_lock_http.log"), URL: "https://github.test/jobs/6/log"}
	// What the HTTP backend's error leaves to say: when the lock was seen held (the log's
	// timestamp), and which running jobs may hold it.
	httpSeen := "Seen held at 10:04 UTC (369d ago) by this job's terraform; the HTTP backend names only the holder's ID"
	noOtherRun := "No other run of dev.yml is running: the holder may have died (a cancelled or killed job); force-unlock once you are sure nobody applies"
	s3Holder := StateLock{ID: "6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b", Path: "sentiment-tfstate-preprod/preprod/terraform.tfstate",
		Operation: "OperationTypeApply", Who: "runner@fv-az512-331", Version: "1.5.7", Created: time.Date(2025, 11, 20, 9, 31, 7, 123456789, time.UTC)}
	httpHolderID := "0e9a5c1b-2d3f-4a6b-8c7d-9e0f1a2b3c4d"
	tableHolder := StateLock{ID: httpHolderID, Path: "state/preprod.tfstate", Operation: "OperationTypeApply", Who: "alice@laptop", Created: dgNow.Add(-2 * time.Hour)}
	fourErrors := &JobLog{Text: "Error: one\n\nError: two\n\nError: three\n\nError: four\n", URL: "u"}
	throttled := &JobLog{Text: "Error: creating Lambda Function (preprod-a): ThrottlingException: Rate exceeded\n", URL: "u"}
	var long strings.Builder
	for i := 1; i <= 35; i++ {
		fmt.Fprintf(&long, "init line %d\n", i)
	}
	noBlock := &JobLog{Text: long.String(), URL: "u"}
	var last30 []string
	for i := 6; i <= 35; i++ {
		last30 = append(last30, fmt.Sprintf("init line %d", i))
	}
	longError := &JobLog{Text: "Error: " + strings.Repeat("y", 250) + "\n", URL: "u"}
	fns := func(f ...FunctionStatus) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.functions = func(context.Context, Environment) ([]FunctionStatus, error) { return f, nil }
		}
	}
	active := []FunctionStatus{{Name: "preprod-a", State: "Active"}, {Name: "preprod-b", State: "Active", LastUpdateStatus: "Successful", Version: "1a2b3c4d5e"}}
	locks := func(l ...StateLock) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.stateLocks = func(_ context.Context, _ Environment, table string) ([]StateLock, error) {
				if table != "tf-locks" {
					return nil, fmt.Errorf("lock table %q read, want tf-locks", table)
				}
				return l, nil
			}
		}
	}
	calls := func(method string, want int) func(t *testing.T, w *dgWorld) {
		return func(t *testing.T, w *dgWorld) {
			t.Helper()
			if got := w.count(method); got != want {
				t.Errorf("%s called %d times, want %d", method, got, want)
			}
		}
	}
	var manyFns []FunctionStatus
	var manyLines []string
	for i := 1; i <= 12; i++ {
		manyFns = append(manyFns, FunctionStatus{Name: fmt.Sprintf("fn-%02d", i), State: "Active"})
		if i <= 8 {
			manyLines = append(manyLines, fmt.Sprintf("Lambda fn-%02d: Active", i))
		}
	}

	cases := []dgCase{
		{name: "state lock held", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: s3Lock, world: fns(active...),
			id: DiagTerraformError, want: Finding{Bad: true, Cause: CauseStateLock, Lock: &s3Holder, Link: s3Lock.URL, LinkText: "full log",
				DetailTitle: "Terraform error", Detail: TerraformErrors(s3Lock.Text)[0],
				Lines: dgLines("Error: Error acquiring the state lock", "Likely cause: state lock held",
					"Lock 6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b held by runner@fv-az512-331 for OperationTypeApply since 09:31 UTC (370d ago)")}},
		{name: "the first three error blocks", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: fourErrors,
			id: DiagTerraformError, want: Finding{Bad: true, Link: "u", LinkText: "full log", DetailTitle: "Terraform error",
				Detail: "Error: one\n\nError: two\n\nError: three", Lines: dgLines("Error: one")}},
		{name: "throttling", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: throttled,
			id: DiagTerraformError, want: Finding{Bad: true, Cause: CauseThrottling, Link: "u", LinkText: "full log", DetailTitle: "Terraform error",
				Detail: "Error: creating Lambda Function (preprod-a): ThrottlingException: Rate exceeded",
				Lines:  dgLines("Error: creating Lambda Function (preprod-a): ThrottlingException: Rate exceeded", "Likely cause: AWS throttling or quota")}},
		{name: "no error block: the log's last 30 lines", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: noBlock,
			id: DiagTerraformError, want: Finding{Link: "u", LinkText: "full log", DetailTitle: "Log excerpt", Detail: strings.Join(last30, "\n"),
				Lines: dgLines("no Terraform error block in the log")}},
		{name: "a long error line is cut", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: longError,
			id: DiagTerraformError, want: Finding{Bad: true, Link: "u", LinkText: "full log", DetailTitle: "Terraform error",
				Detail: strings.TrimSpace(longError.Text), Lines: dgLines("Error: " + strings.Repeat("y", 192) + "…")}},
		{name: "the log cannot be read", scenario: PreprodDeployFail, job: &JobInfo{ID: 5},
			world: func(w *dgWorld) {
				w.jobLog = func(context.Context, int64) (JobLog, error) { return JobLog{}, dgErr("GitHub: 404 on GET job log") }
			},
			id: DiagTerraformError, want: Finding{Problem: "GitHub: 404 on GET job log"}},

		{name: "everything there", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{}, world: fns(active...),
			id: DiagEnvResources, want: Finding{Lines: dgLines("DynamoDB preprod-items: ACTIVE", "Lambda preprod-a: Active",
				"Lambda preprod-b: Active, version 1a2b3c4", "S3 preprod-artifacts: exists")}},
		{name: "a missing table", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				fns(active[0])(w)
				w.table = func(context.Context, Environment, string) (TableStatus, error) { return TableStatus{}, nil }
			},
			id: DiagEnvResources, want: Finding{Bad: true, Lines: dgLines("DynamoDB preprod-items: does not exist", "Lambda preprod-a: Active", "S3 preprod-artifacts: exists")}},
		{name: "a table not ACTIVE", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				fns(active[0])(w)
				w.table = func(context.Context, Environment, string) (TableStatus, error) {
					return TableStatus{Exists: true, Status: "CREATING"}, nil
				}
			},
			id: DiagEnvResources, want: Finding{Bad: true, Lines: dgLines("DynamoDB preprod-items: CREATING", "Lambda preprod-a: Active", "S3 preprod-artifacts: exists")}},
		{name: "a function not Active", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: fns(FunctionStatus{Name: "preprod-a", State: "Failed", StateReason: "bad zip", LastUpdateStatus: "Failed"}, FunctionStatus{Name: "preprod-b"}),
			id:    DiagEnvResources, want: Finding{Bad: true, Lines: dgLines("DynamoDB preprod-items: ACTIVE", "Lambda preprod-a: Failed (bad zip), last update Failed",
				"Lambda preprod-b: unknown", "S3 preprod-artifacts: exists")}},
		{name: "a missing bucket", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				fns(active[0])(w)
				w.bucket = func(context.Context, Environment, string) (bool, error) { return false, nil }
			},
			id: DiagEnvResources, want: Finding{Bad: true, Lines: dgLines("DynamoDB preprod-items: ACTIVE", "Lambda preprod-a: Active", "S3 preprod-artifacts: does not exist")}},
		{name: "each source failing says so in its place", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				w.table = func(context.Context, Environment, string) (TableStatus, error) {
					return TableStatus{}, dgErr("DynamoDB: AccessDenied on DescribeTable")
				}
				w.functions = func(context.Context, Environment) ([]FunctionStatus, error) {
					return nil, fmt.Errorf("dial tcp: i/o timeout\nsecond line")
				}
				w.bucket = func(context.Context, Environment, string) (bool, error) { return false, dgErr("S3: 403 on HeadBucket") }
			},
			id: DiagEnvResources, want: Finding{Bad: true, Lines: dgLines("DynamoDB preprod-items: DynamoDB: AccessDenied on DescribeTable",
				"Lambda: dial tcp: i/o timeout", "S3 preprod-artifacts: S3: 403 on HeadBucket")}},
		{name: "no table, no bucket configured", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{}, world: fns(active[0]),
			env: func(e *Environment) { e.Table, e.ArtifactsBucket = "", "" },
			id:  DiagEnvResources, want: Finding{Lines: dgLines("Lambda preprod-a: Active")},
			check: func(t *testing.T, w *dgWorld) {
				calls("Table", 0)(t, w)
				calls("BucketExists", 0)(t, w)
			}},
		{name: "ten lines all shown", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{}, world: fns(manyFns[:8]...),
			id: DiagEnvResources, want: Finding{Lines: append(append(dgLines("DynamoDB preprod-items: ACTIVE"), manyLines...), "S3 preprod-artifacts: exists")}},
		{name: "more lines: nine and a count", scenario: PreprodDeployFail, job: &JobInfo{ID: 5}, log: &JobLog{}, world: fns(manyFns...),
			id: DiagEnvResources, want: Finding{Lines: append(dgLines("DynamoDB preprod-items: ACTIVE"), append(manyLines, "…and 5 more")...)}},

		{name: "readable and not", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				w.secrets = func(_ context.Context, _ Environment, prefix string) ([]SecretMeta, error) {
					if prefix != "preprod/" {
						return nil, fmt.Errorf("prefix %q listed, want preprod/", prefix)
					}
					return []SecretMeta{{Name: "preprod/db", Readable: true, LastChanged: dgNow.Add(-2 * time.Hour)},
						{Name: "preprod/api", Problem: "AccessDeniedException"}, {Name: "preprod/x"}}, nil
				}
			},
			id: DiagSecretsReadable, want: Finding{Bad: true, Lines: dgLines("preprod/db: readable, changed 2h00m ago",
				"preprod/api: NOT readable (AccessDeniedException)", "preprod/x: NOT readable (refused)")}},
		{name: "all readable", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				w.secrets = func(context.Context, Environment, string) ([]SecretMeta, error) {
					return []SecretMeta{{Name: "preprod/db", Readable: true}}, nil
				}
			},
			id: DiagSecretsReadable, want: Finding{Lines: dgLines("preprod/db: readable")}},
		{name: "none under the prefix", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			id: DiagSecretsReadable, want: Finding{Bad: true, Lines: dgLines("no secret found under preprod/")}},
		{name: "no prefix configured", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{}, env: func(e *Environment) { e.SecretsPrefix = "" },
			id: DiagSecretsReadable, want: Finding{Lines: dgLines("no secrets prefix configured for preprod")}, check: calls("Secrets", 0)},
		{name: "listing fails", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				w.secrets = func(context.Context, Environment, string) ([]SecretMeta, error) {
					return nil, dgErr("Secrets Manager: AccessDenied on ListSecrets")
				}
			},
			id: DiagSecretsReadable, want: Finding{Problem: "Secrets Manager: AccessDenied on ListSecrets"}},

		{name: "artifacts with sizes", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				w.artifacts = func(_ context.Context, id int64) ([]Artifact, error) {
					if id != 900 {
						return nil, fmt.Errorf("artifacts of run %d, want 900", id)
					}
					return []Artifact{{Name: "junit", Size: 2048}, {Name: "coverage", Size: 3 << 20, Expired: true}, {Name: "tiny", Size: 12}}, nil
				}
			},
			id: DiagTestArtifacts, want: Finding{Link: "https://github.test/runs/900#artifacts", LinkText: "artifacts",
				Lines: dgLines("junit (2.0 KiB)", "coverage (3.0 MiB), expired", "tiny (12 B)")}},
		{name: "none uploaded, run without a URL", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{}, run: func(r *Run) { r.URL = "" },
			id: DiagTestArtifacts, want: Finding{Lines: dgLines("the run uploaded no artifacts")}},
		{name: "no run", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{}, noRun: true,
			id: DiagTestArtifacts, want: Finding{Problem: "Test results: no run"}, check: calls("RunArtifacts", 0)},
		{name: "a run without an ID", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{}, run: func(r *Run) { r.ID = 0 },
			id: DiagTestArtifacts, want: Finding{Problem: "Test results: no run"}, check: calls("RunArtifacts", 0)},
		{name: "listing fails", scenario: PreprodTestsFail, job: &JobInfo{ID: 5}, log: &JobLog{},
			world: func(w *dgWorld) {
				w.artifacts = func(context.Context, int64) ([]Artifact, error) { return nil, dgErr("GitHub: 500 on GET artifacts") }
			},
			id: DiagTestArtifacts, want: Finding{Problem: "GitHub: 500 on GET artifacts"}},

		{name: "one lock held", scenario: RollbackFail, world: locks(tableHolder),
			id: DiagLockState, want: Finding{Bad: true, Lock: &tableHolder,
				Lines: dgLines("Lock " + httpHolderID + " held by alice@laptop for OperationTypeApply since 08:00 UTC (2h00m ago)")}},
		{name: "two locks held", scenario: RollbackFail, world: locks(tableHolder, StateLock{ID: "L2"}),
			id: DiagLockState, want: Finding{Bad: true, Lines: dgLines("Lock "+httpHolderID+" held by alice@laptop for OperationTypeApply since 08:00 UTC (2h00m ago)", "Lock L2")}},
		{name: "no lock held", scenario: RollbackFail, world: locks(),
			id: DiagLockState, want: Finding{Lines: dgLines("no lock held in tf-locks")}},
		{name: "no lock table configured", scenario: RollbackFail, env: func(e *Environment) { e.LockTable = "" },
			id: DiagLockState, want: Finding{Lines: dgLines("no lock table configured for preprod")}, check: calls("StateLocks", 0)},
		{name: "the table cannot be read", scenario: RollbackFail,
			world: func(w *dgWorld) {
				w.stateLocks = func(context.Context, Environment, string) ([]StateLock, error) {
					return nil, dgErr("DynamoDB: AccessDenied on Scan")
				}
			},
			id: DiagLockState, want: Finding{Problem: "DynamoDB: AccessDenied on Scan"}},

		{name: "the S3 backend names the holder", scenario: StateLockHeld, job: &JobInfo{ID: 5}, log: s3Lock,
			world: locks(StateLock{ID: s3Holder.ID, Who: "someone@else"}), // the log's holder is the one shown
			id:    DiagLockHolder, want: Finding{Bad: true, Lock: &s3Holder, Link: s3Lock.URL, LinkText: "job log",
				Lines: dgLines("Lock ID (holder): 6f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b", "Held by runner@fv-az512-331", "Operation OperationTypeApply",
					"Held since 2025-11-20 09:31 UTC (370d ago)", "State sentiment-tfstate-preprod/preprod/terraform.tfstate")}},
		{name: "the HTTP backend's holder from the lock table", scenario: StateLockHeld, job: &JobInfo{ID: 6}, log: httpLock,
			world: locks(StateLock{ID: "other", Who: "bob"}, tableHolder),
			id:    DiagLockHolder, want: Finding{Bad: true, Lock: &tableHolder, Link: httpLock.URL, LinkText: "job log",
				Lines: dgLines("Lock ID (holder): "+httpHolderID, "Held by alice@laptop", "Operation OperationTypeApply",
					"Held since 2026-11-25 08:00 UTC (2h00m ago)", "State state/preprod.tfstate")}},
		{name: "the HTTP backend's holder unknown to the table", scenario: StateLockHeld, job: &JobInfo{ID: 6}, log: httpLock,
			world: locks(StateLock{ID: "other", Who: "bob"}),
			id:    DiagLockHolder, want: Finding{Bad: true, Lock: &StateLock{ID: httpHolderID}, Link: httpLock.URL, LinkText: "job log",
				Lines: dgLines("Lock ID (holder): "+httpHolderID, httpSeen, noOtherRun)}},
		{name: "the HTTP backend's holder: a job running now", scenario: StateLockHeld, job: &JobInfo{ID: 6}, log: httpLock, env: func(e *Environment) { e.LockTable = "" },
			world: func(w *dgWorld) {
				w.recentRuns = func(_ context.Context, wf string, since time.Time) ([]Run, error) {
					if wf != "dev.yml" || !since.Equal(dgNow.Add(-24*time.Hour)) {
						return nil, nil
					}
					return []Run{{ID: 7, Status: "completed"}, {ID: 8, Status: "in_progress"}, {ID: 1, Status: "in_progress"}}, nil // 1 is the failed run itself
				}
				w.runJobs = func(_ context.Context, id int64) ([]JobInfo, error) {
					if id != 8 {
						return nil, dgErr("GitHub: asked for the jobs of run " + fmt.Sprint(id))
					}
					return []JobInfo{{Name: "Build", Status: "completed"}, {Name: "Deploy to Preprod", Status: "in_progress", StartedAt: dgNow.Add(-3 * time.Minute),
						Steps: []StepInfo{{Name: "Terraform Apply", Status: "in_progress"}}}}, nil
				}
			},
			id: DiagLockHolder, want: Finding{Bad: true, Lock: &StateLock{ID: httpHolderID}, Link: httpLock.URL, LinkText: "job log",
				Lines: dgLines("Lock ID (holder): "+httpHolderID, httpSeen, "Possibly held by run 8 (dev.yml): job Deploy to Preprod at step Terraform Apply, running since 09:57 UTC (3m ago)")}},
		{name: "the lock table cannot be read", scenario: StateLockHeld, job: &JobInfo{ID: 6}, log: httpLock,
			world: func(w *dgWorld) {
				w.stateLocks = func(context.Context, Environment, string) ([]StateLock, error) {
					return nil, dgErr("DynamoDB: throttled")
				}
			},
			id: DiagLockHolder, want: Finding{Bad: true, Lock: &StateLock{ID: httpHolderID}, Link: httpLock.URL, LinkText: "job log",
				Lines: dgLines("Lock ID (holder): "+httpHolderID, httpSeen, noOtherRun)}},
		{name: "the log cannot be read", scenario: StateLockHeld, job: &JobInfo{ID: 5},
			world: func(w *dgWorld) {
				w.jobLog = func(context.Context, int64) (JobLog, error) {
					return JobLog{}, dgErr("GitHub: 410 Gone on GET job log")
				}
			},
			id: DiagLockHolder, want: Finding{Problem: "GitHub: 410 Gone on GET job log"}},
		{name: "no lock error in the log", scenario: StateLockHeld, job: &JobInfo{ID: 5}, log: &JobLog{Text: "Error: something else\n", URL: "u"},
			id: DiagLockHolder, want: Finding{Lines: dgLines("no state lock error in the log")}},

		{name: "stuck with its current jobs", scenario: WorkflowStuck, run: func(r *Run) { r.Status = "in_progress" },
			world: func(w *dgWorld) {
				w.runJobs = func(_ context.Context, id int64) ([]JobInfo, error) {
					if id != 900 {
						return nil, fmt.Errorf("jobs of run %d, want 900", id)
					}
					return []JobInfo{{Name: "build", Status: "completed", Conclusion: "success"},
						{Name: "deploy", Status: "in_progress", StartedAt: dgNow.Add(-80 * time.Minute), Steps: []StepInfo{{3, "Apply", "in_progress", ""}}},
						{Name: "verify", Status: "queued"}, {Name: "approve", Status: "waiting", StartedAt: dgNow.Add(-time.Minute)}}, nil
				}
			},
			id: DiagStuck, want: Finding{Bad: true, Link: "https://github.test/runs/900", LinkText: "run",
				Lines: dgLines("in progress for 1h29m (since 08:31 UTC)", "Current job: deploy (in progress for 1h20m) › step 3 “Apply”",
					"Current job: verify (queued)", "Current job: approve (waiting for 1m)")}},
		{name: "not started: since its creation; no status", scenario: WorkflowStuck, run: func(r *Run) { r.StartedAt, r.Status = time.Time{}, "" },
			id: DiagStuck, want: Finding{Bad: true, Link: "https://github.test/runs/900", LinkText: "run", Lines: dgLines("running for 1h30m (since 08:30 UTC)")}},
		{name: "jobs cannot be listed", scenario: WorkflowStuck, run: func(r *Run) { r.Status = "queued" },
			world: func(w *dgWorld) {
				w.runJobs = func(context.Context, int64) ([]JobInfo, error) { return nil, dgErr("GitHub: 502 on GET jobs") }
			},
			id: DiagStuck, want: Finding{Bad: true, Link: "https://github.test/runs/900", LinkText: "run",
				Lines: dgLines("queued for 1h29m (since 08:31 UTC)", "jobs: GitHub: 502 on GET jobs")}},
		{name: "no run", scenario: WorkflowStuck, noRun: true,
			id: DiagStuck, want: Finding{Problem: "Run progress: no run"}},
	}
	runDiagnosticCases(t, cases)
}

func TestDiagnosticsOfProduction(t *testing.T) {
	failing := "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6"
	good := "a27f88b2c0b9abf610708c4fb3bb92797125ff9a"
	deploys := func(d ...Deploy) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.deploys = func(_ context.Context, env Environment, n int) ([]Deploy, error) {
				if env.Name != "preprod" || n != 10 {
					return nil, fmt.Errorf("deploys of %s, %d asked, want preprod, 10", env.Name, n)
				}
				return d, nil
			}
		}
	}
	var seven []Deploy
	var fiveLines, fiveSHAs []string
	for i := 1; i <= 7; i++ {
		seven = append(seven, Deploy{SHA: dgSHA(i), At: dgNow.Add(-time.Duration(i) * time.Hour)})
		if i >= 2 && i <= 6 {
			fiveSHAs = append(fiveSHAs, dgSHA(i))
			fiveLines = append(fiveLines, fmt.Sprintf("%07d 2026-11-25 %02d:00 UTC (%dh00m ago)", i, 10-i, i))
		}
	}
	jobs := func(j ...JobInfo) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.runJobs = func(_ context.Context, id int64) ([]JobInfo, error) {
				if id != 900 {
					return nil, fmt.Errorf("jobs of run %d, want 900", id)
				}
				return j, nil
			}
		}
	}
	deployJob := JobInfo{Name: "Deploy to prod", Status: "completed", Conclusion: "failure"}
	rb := func(status, conclusion string, steps ...StepInfo) JobInfo {
		return JobInfo{Name: "Rollback on Failure", Status: status, Conclusion: conclusion, URL: "https://github.test/jobs/77", Steps: steps}
	}
	fns := func(f ...FunctionStatus) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.functions = func(context.Context, Environment) ([]FunctionStatus, error) { return f, nil }
		}
	}
	var elevenFns []FunctionStatus
	var elevenLines []string
	for i := 1; i <= 11; i++ {
		elevenFns = append(elevenFns, FunctionStatus{Name: fmt.Sprintf("fn-%02d", i), State: "Active"})
		if i <= 9 {
			elevenLines = append(elevenLines, fmt.Sprintf("fn-%02d: Active", i))
		}
	}
	health := func(h HealthResult, err error) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.health = func(context.Context, Environment) (HealthResult, error) { return h, err }
		}
	}
	alarms := func(a ...Alarm) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.alarms = func(context.Context, Environment) ([]Alarm, error) { return a, nil }
		}
	}
	var elevenAlarms []Alarm
	var alarmLines []string
	for i := 1; i <= 11; i++ {
		elevenAlarms = append(elevenAlarms, Alarm{Name: fmt.Sprintf("preprod-%02d", i), Since: dgNow.Add(-5 * time.Minute)})
		if i <= 9 {
			alarmLines = append(alarmLines, fmt.Sprintf("preprod-%02d since 09:55 UTC (5m ago)", i))
		}
	}
	inc := Incident{SHA: failing}

	cases := []dgCase{
		{name: "the automatic rollback succeeded", scenario: ProdDeployFail, incident: inc, world: jobs(deployJob, rb("completed", "success")),
			id: DiagRollbackProgress, want: Finding{Link: "https://github.test/jobs/77", LinkText: "rollback job", Lines: dgLines("Rollback on Failure succeeded")}},
		{name: "skipped", scenario: ProdDeployFail, incident: inc, world: jobs(deployJob, rb("completed", "skipped")),
			id: DiagRollbackProgress, want: Finding{Link: "https://github.test/jobs/77", LinkText: "rollback job", Lines: dgLines("Rollback on Failure was skipped")}},
		{name: "failed at a step", scenario: ProdDeployFail, incident: inc,
			world: jobs(deployJob, rb("completed", "failure", StepInfo{1, "Checkout", "completed", "success"}, StepInfo{3, "Terraform apply previous version", "completed", "failure"})),
			id:    DiagRollbackProgress, want: Finding{Bad: true, Link: "https://github.test/jobs/77", LinkText: "rollback job",
				Lines: dgLines("Rollback on Failure failure", "failed at step 3 “Terraform apply previous version”")}},
		{name: "cancelled", scenario: ProdDeployFail, incident: inc, world: jobs(rb("completed", "cancelled")),
			id: DiagRollbackProgress, want: Finding{Bad: true, Link: "https://github.test/jobs/77", LinkText: "rollback job", Lines: dgLines("Rollback on Failure cancelled")}},
		{name: "running a step", scenario: ProdDeployFail, incident: inc,
			world: jobs(rb("in_progress", "", StepInfo{1, "Checkout", "completed", "success"}, StepInfo{2, "Terraform plan", "in_progress", ""})),
			id:    DiagRollbackProgress, want: Finding{Link: "https://github.test/jobs/77", LinkText: "rollback job",
				Lines: dgLines("Rollback on Failure in progress (step 2 “Terraform plan”)")}},
		{name: "queued", scenario: ProdDeployFail, incident: inc, world: jobs(rb("queued", "")),
			id: DiagRollbackProgress, want: Finding{Link: "https://github.test/jobs/77", LinkText: "rollback job", Lines: dgLines("Rollback on Failure queued")}},
		{name: "not started", scenario: ProdDeployFail, incident: inc, world: jobs(deployJob),
			id: DiagRollbackProgress, want: Finding{Lines: dgLines("Rollback on Failure has not started")}},
		{name: "the configured rollback job", scenario: ProdDeployFail, incident: inc, rollback: "Emergency Rollback",
			world: jobs(rb("completed", "failure"), JobInfo{Name: "Emergency Rollback", Status: "completed", Conclusion: "success", URL: "https://github.test/jobs/78"}),
			id:    DiagRollbackProgress, want: Finding{Link: "https://github.test/jobs/78", LinkText: "rollback job", Lines: dgLines("Emergency Rollback succeeded")}},
		{name: "jobs cannot be listed", scenario: ProdDeployFail, incident: inc,
			world: func(w *dgWorld) {
				w.runJobs = func(context.Context, int64) ([]JobInfo, error) { return nil, dgErr("GitHub: 502 on GET jobs") }
			},
			id: DiagRollbackProgress, want: Finding{Problem: "GitHub: 502 on GET jobs"}},
		{name: "no run", scenario: ProdDeployFail, incident: inc, noRun: true,
			id: DiagRollbackProgress, want: Finding{Problem: "Auto-rollback: no run"}, check: func(t *testing.T, w *dgWorld) {
				if n := w.count("RunJobs"); n != 0 {
					t.Errorf("jobs listed %d times without a run, want 0", n)
				}
			}},

		{name: "active functions", scenario: ProdDeployFail, incident: inc,
			world: fns(FunctionStatus{Name: "preprod-a", State: "Active", LastUpdateStatus: "Successful", Version: "1a2b3c4d5e"}, FunctionStatus{Name: "preprod-b", State: "Active", StateReason: "ignored"}),
			id:    DiagLambdaStates, want: Finding{Lines: dgLines("preprod-a: Active, version 1a2b3c4", "preprod-b: Active")}},
		{name: "a failed function", scenario: ProdDeployFail, incident: inc,
			world: fns(FunctionStatus{Name: "preprod-a", State: "Failed", StateReason: "bad zip"}),
			id:    DiagLambdaStates, want: Finding{Bad: true, Lines: dgLines("preprod-a: Failed (bad zip)")}},
		{name: "an update in progress", scenario: ProdDeployFail, incident: inc,
			world: fns(FunctionStatus{Name: "preprod-a", State: "Active", LastUpdateStatus: "InProgress", Version: "v7"}),
			id:    DiagLambdaStates, want: Finding{Bad: true, Lines: dgLines("preprod-a: Active, last update InProgress, version v7")}},
		{name: "nine and a count", scenario: ProdDeployFail, incident: inc, world: fns(elevenFns...),
			id: DiagLambdaStates, want: Finding{Lines: append(elevenLines, "…and 2 more")}},
		{name: "functions cannot be read", scenario: ProdDeployFail, incident: inc,
			world: func(w *dgWorld) {
				w.functions = func(context.Context, Environment) ([]FunctionStatus, error) {
					return nil, dgErr("Lambda: AccessDenied on GetFunction")
				}
			},
			id: DiagLambdaStates, want: Finding{Problem: "Lambda: AccessDenied on GetFunction"}},

		{name: "the deploy before the failing one", scenario: ProdDeployFail, incident: inc,
			world: deploys(Deploy{SHA: failing, At: dgNow.Add(-time.Hour)}, Deploy{SHA: good, At: dgNow.Add(-25 * time.Hour), URL: "https://github.test/runs/800"}, Deploy{SHA: dgSHA(1)}),
			id:    DiagLastGood, want: Finding{GoodSHA: good, Link: "https://github.test/runs/800", LinkText: "run", Lines: dgLines("a27f88b deployed 2026-11-24 09:00 UTC (25h00m ago)")}},
		{name: "only the failing one", scenario: ProdDeployFail, incident: inc, world: deploys(Deploy{SHA: failing, At: dgNow.Add(-time.Hour)}),
			id: DiagLastGood, want: Finding{Bad: true, Lines: dgLines("no earlier successful deploy of preprod found")}},
		{name: "none", scenario: ProdDeployFail, incident: inc, world: deploys(),
			id: DiagLastGood, want: Finding{Bad: true, Lines: dgLines("no earlier successful deploy of preprod found")}},
		{name: "deploys cannot be read", scenario: ProdDeployFail, incident: inc,
			world: func(w *dgWorld) {
				w.deploys = func(context.Context, Environment, int) ([]Deploy, error) {
					return nil, dgErr("GitHub: 403 rate limited")
				}
			},
			id: DiagLastGood, want: Finding{Problem: "GitHub: 403 rate limited"}},

		{name: "five known good, newest first", scenario: RollbackFail, incident: Incident{SHA: dgSHA(1)}, world: deploys(seven...),
			id: DiagKnownGood, want: Finding{GoodSHA: dgSHA(2), GoodSHAs: fiveSHAs, Lines: fiveLines}},
		{name: "none on record", scenario: RollbackFail, incident: Incident{SHA: dgSHA(1)}, world: deploys(seven[0]),
			id: DiagKnownGood, want: Finding{Bad: true, Lines: dgLines("no successful deploy of preprod on record")}},
		{name: "deploys cannot be read", scenario: RollbackFail,
			world: func(w *dgWorld) {
				w.deploys = func(context.Context, Environment, int) ([]Deploy, error) {
					return nil, dgErr("GitHub: 403 rate limited")
				}
			},
			id: DiagKnownGood, want: Finding{Problem: "GitHub: 403 rate limited"}},

		{name: "healthy, with its answer", scenario: CanaryFail, incident: inc, world: health(HealthResult{StatusCode: 200, Body: `{"status":"ok"}`, Latency: 123600 * time.Microsecond}, nil),
			id: DiagHealth, want: Finding{Lines: dgLines("HTTP 200 in 124ms", `{"status":"ok"}`)}},
		{name: "503", scenario: CanaryFail, incident: inc, world: health(HealthResult{StatusCode: 503, Latency: 2 * time.Second}, nil),
			id: DiagHealth, want: Finding{Bad: true, Lines: dgLines("HTTP 503 in 2s")}},
		{name: "only 200 is healthy", scenario: CanaryFail, incident: inc, world: health(HealthResult{StatusCode: 204, Latency: time.Millisecond}, nil),
			id: DiagHealth, want: Finding{Bad: true, Lines: dgLines("HTTP 204 in 1ms")}},
		{name: "an instant answer shows 1ms", scenario: CanaryFail, incident: inc, world: health(HealthResult{StatusCode: 200}, nil),
			id: DiagHealth, want: Finding{Lines: dgLines("HTTP 200 in 1ms")}},
		{name: "a long answer is cut", scenario: CanaryFail, incident: inc, world: health(HealthResult{StatusCode: 500, Body: strings.Repeat("z", 400), Latency: time.Millisecond}, nil),
			id: DiagHealth, want: Finding{Bad: true, Lines: dgLines("HTTP 500 in 1ms", strings.Repeat("z", 299)+"…")}},
		{name: "no answer", scenario: CanaryFail, incident: inc, world: health(HealthResult{}, dgErr("Health: connection refused")),
			id: DiagHealth, want: Finding{Problem: "Health: connection refused"}},

		{name: "in ALARM", scenario: CanaryFail, incident: inc, world: alarms(Alarm{Name: "preprod-errors", State: "ALARM", Since: dgNow.Add(-5 * time.Minute)}),
			id: DiagAlarms, want: Finding{Bad: true, Lines: dgLines("preprod-errors since 09:55 UTC (5m ago)")}},
		{name: "none", scenario: CanaryFail, incident: inc,
			id: DiagAlarms, want: Finding{Lines: dgLines("none in ALARM with prefix preprod-")}},
		{name: "nine and a count", scenario: CanaryFail, incident: inc, world: alarms(elevenAlarms...),
			id: DiagAlarms, want: Finding{Bad: true, Lines: append(alarmLines, "…and 2 more")}},
	}
	runDiagnosticCases(t, cases)
}

func TestDiagnosticErrorLogs(t *testing.T) {
	type answer struct {
		events []LogEvent
		err    error
	}
	logs := func(by map[string]answer) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.logEvents = func(_ context.Context, _ Environment, group, pattern string, since time.Time, limit int) ([]LogEvent, error) {
				fn, ok := strings.CutPrefix(group, "/aws/lambda/")
				if !ok || pattern != "ERROR" || !since.Equal(dgNow.Add(-10*time.Minute)) || limit != 20 {
					return nil, fmt.Errorf("got group %q, pattern %q, since %s, limit %d; want /aws/lambda/<fn>, ERROR, 09:50, 20", group, pattern, since, limit)
				}
				a := by[fn]
				return a.events, a.err
			}
		}
	}
	at := func(d time.Duration, msg string) LogEvent { return LogEvent{At: dgNow.Add(-d), Message: msg} }
	var many []LogEvent
	var last15 []string
	for i := 0; i < 20; i++ {
		many = append(many, at(time.Duration(600-i*30)*time.Second, fmt.Sprintf("ERROR n%02d", i)))
		if i >= 5 {
			last15 = append(last15, dgNow.Add(-time.Duration(600-i*30)*time.Second).Format("15:04:05")+fmt.Sprintf(" preprod-a ERROR n%02d", i))
		}
	}
	const title = "ERROR events, last 10 minutes"
	cases := []dgCase{
		{name: "events of each function, oldest first, first lines, redacted", scenario: CanaryFail,
			world: logs(map[string]answer{
				"preprod-a": {events: []LogEvent{at(2*time.Minute, "ERROR boom\n  at handler.py:12"), at(9*time.Minute, "  ERROR first password=hunter2hunter2")}},
				"preprod-b": {events: []LogEvent{at(5*time.Minute, "ERROR "+strings.Repeat("w", 400))}},
			}),
			id: DiagErrorLogs, want: Finding{Bad: true, DetailTitle: title,
				Lines:  dgLines("preprod-a: 2 ERROR events", "preprod-b: 1 ERROR event"),
				Detail: "09:51:00 preprod-a ERROR first password=[REDACTED]\n09:55:00 preprod-b ERROR " + strings.Repeat("w", 293) + "…\n09:58:00 preprod-a ERROR boom"}},
		{name: "none", scenario: CanaryFail, world: logs(nil),
			id: DiagErrorLogs, want: Finding{DetailTitle: title, Lines: dgLines("no ERROR events in the last 10 minutes")}},
		{name: "one function's logs cannot be read", scenario: CanaryFail,
			world: logs(map[string]answer{"preprod-a": {err: dgErr("CloudWatch Logs: AccessDenied on FilterLogEvents")}}),
			id:    DiagErrorLogs, want: Finding{DetailTitle: title, Lines: dgLines("preprod-a: CloudWatch Logs: AccessDenied on FilterLogEvents")}},
		{name: "one unreadable, one with events", scenario: CanaryFail,
			world: logs(map[string]answer{"preprod-a": {err: dgErr("CloudWatch Logs: throttled")}, "preprod-b": {events: []LogEvent{at(time.Minute, "ERROR x")}}}),
			id:    DiagErrorLogs, want: Finding{Bad: true, DetailTitle: title, Lines: dgLines("preprod-a: CloudWatch Logs: throttled", "preprod-b: 1 ERROR event"),
				Detail: "09:59:00 preprod-b ERROR x"}},
		{name: "none readable", scenario: CanaryFail,
			world: logs(map[string]answer{"preprod-a": {err: dgErr("CloudWatch Logs: denied a")}, "preprod-b": {err: dgErr("CloudWatch Logs: denied b")}}),
			id:    DiagErrorLogs, want: Finding{Problem: "CloudWatch Logs: denied a"}},
		{name: "the newest fifteen events", scenario: CanaryFail, env: func(e *Environment) { e.Functions = []string{"preprod-a"} },
			world: logs(map[string]answer{"preprod-a": {events: many}}),
			id:    DiagErrorLogs, want: Finding{Bad: true, DetailTitle: title, Lines: dgLines("preprod-a: 20 ERROR events"), Detail: strings.Join(last15, "\n")}},
		{name: "no functions", scenario: CanaryFail, env: func(e *Environment) { e.Functions = nil },
			id: DiagErrorLogs, want: Finding{DetailTitle: title, Lines: dgLines("no ERROR events in the last 10 minutes")}},
	}
	runDiagnosticCases(t, cases)
}

func TestDiagnosticsOfSecretsAndAlarms(t *testing.T) {
	denied := &JobLog{Text: dgReadTestdata(t, "secrets_denied.log"), URL: "https://github.test/jobs/5/log"}
	policy := func(s ...PolicyStatement) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.userPolicy = func(_ context.Context, _ Environment, user, policy string) ([]PolicyStatement, error) {
				if user != "deployer" || policy != "deploy-policy" {
					return nil, fmt.Errorf("policy %s of %s read, want deploy-policy of deployer", policy, user)
				}
				return s, nil
			}
		}
	}
	const arn = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:"
	history := func(items ...AlarmHistoryItem) func(w *dgWorld) {
		return func(w *dgWorld) {
			w.alarmHistory = func(_ context.Context, _ Environment, alarm string, limit int) ([]AlarmHistoryItem, error) {
				if alarm != "preprod-errors" || limit != 10 {
					return nil, fmt.Errorf("history of %s (%d) read, want preprod-errors (10)", alarm, limit)
				}
				return items, nil
			}
		}
	}
	firing := &Alarm{Name: "preprod-errors", State: "ALARM", Reason: "Threshold Crossed: 1 datapoint [5.0] was greater than the threshold (1.0).", Since: dgNow.Add(-30 * time.Minute)}
	job := &JobInfo{ID: 5}

	cases := []dgCase{
		{name: "access denied on a secret", scenario: SecretsInaccessible, job: job, log: denied,
			id: DiagSecretErrors, want: Finding{Bad: true, Link: denied.URL, LinkText: "job log",
				Lines: dgLines("AccessDeniedException on preprod/sentiment-analyzer/newsapi for arn:aws:iam::222222222222:user/sentiment-analyzer-preprod-deployer")}},
		{name: "a code alone", scenario: SecretsInaccessible, job: job, log: &JobLog{Text: "secretsmanager: ResourceNotFoundException\n", URL: "u"},
			id: DiagSecretErrors, want: Finding{Bad: true, Link: "u", LinkText: "job log", Lines: dgLines("ResourceNotFoundException")}},
		{name: "none in the log", scenario: SecretsInaccessible, job: job, log: &JobLog{Text: "all fine\n", URL: "u"},
			id: DiagSecretErrors, want: Finding{Link: "u", LinkText: "job log", Lines: dgLines("no Secrets Manager error in the log")}},
		{name: "the log cannot be read", scenario: SecretsInaccessible, job: job,
			world: func(w *dgWorld) {
				w.jobLog = func(context.Context, int64) (JobLog, error) {
					return JobLog{}, dgErr("GitHub: 410 Gone on GET job log")
				}
			},
			id: DiagSecretErrors, want: Finding{Problem: "GitHub: 410 Gone on GET job log"}},

		{name: "the secrets under the prefix", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: func(w *dgWorld) {
				w.secrets = func(_ context.Context, _ Environment, prefix string) ([]SecretMeta, error) {
					if prefix != "preprod/" {
						return nil, fmt.Errorf("prefix %q, want preprod/", prefix)
					}
					return []SecretMeta{{Name: "preprod/db"}, {Name: "preprod/api", Readable: true}}, nil
				}
			},
			id: DiagSecretsList, want: Finding{Lines: dgLines("preprod/db", "preprod/api")}},
		{name: "none", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			id: DiagSecretsList, want: Finding{Bad: true, Lines: dgLines("no secret under preprod/")}},
		{name: "no prefix configured", scenario: SecretsInaccessible, job: job, log: &JobLog{}, env: func(e *Environment) { e.SecretsPrefix = "" },
			id: DiagSecretsList, want: Finding{Lines: dgLines("no secrets prefix configured for preprod")}},
		{name: "listing fails", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: func(w *dgWorld) {
				w.secrets = func(context.Context, Environment, string) ([]SecretMeta, error) {
					return nil, dgErr("Secrets Manager: denied")
				}
			},
			id: DiagSecretsList, want: Finding{Problem: "Secrets Manager: denied"}},

		{name: "a statement lets the deployer read", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: policy(PolicyStatement{Effect: "Allow", Actions: []string{"s3:GetObject"}, Resources: []string{"*"}},
				PolicyStatement{Effect: "Allow", Actions: []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "kms:Decrypt"}, Resources: []string{arn + "preprod/*"}}),
			id: DiagIAMPolicy, want: Finding{Lines: dgLines("Allow secretsmanager:GetSecretValue, secretsmanager:DescribeSecret on " + arn + "preprod/*")}},
		{name: "actions in any case, a wildcard action", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: policy(PolicyStatement{Effect: "Allow", Actions: []string{"SecretsManager:Get*"}, Resources: []string{arn + "preprod/?*"}}),
			id:    DiagIAMPolicy, want: Finding{Lines: dgLines("Allow SecretsManager:Get* on " + arn + "preprod/?*")}},
		{name: "every action on every resource", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: policy(PolicyStatement{Effect: "Allow", Actions: []string{"*"}, Resources: []string{"*"}}),
			id:    DiagIAMPolicy, want: Finding{Lines: dgLines("Allow * on *")}},
		{name: "describe only", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: policy(PolicyStatement{Effect: "Allow", Actions: []string{"secretsmanager:DescribeSecret"}, Resources: []string{arn + "preprod/*"}}),
			id:    DiagIAMPolicy, want: Finding{Bad: true, Lines: dgLines("Allow secretsmanager:DescribeSecret on "+arn+"preprod/*", "No statement lets deployer read secrets under preprod/")}},
		{name: "a Deny", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: policy(PolicyStatement{Effect: "Deny", Actions: []string{"secretsmanager:*"}, Resources: []string{arn + "preprod/*"}}),
			id:    DiagIAMPolicy, want: Finding{Bad: true, Lines: dgLines("Deny secretsmanager:* on "+arn+"preprod/*", "No statement lets deployer read secrets under preprod/")}},
		{name: "another prefix", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: policy(PolicyStatement{Effect: "Allow", Actions: []string{"secretsmanager:GetSecretValue"}, Resources: []string{arn + "prod/*"}}),
			id:    DiagIAMPolicy, want: Finding{Bad: true, Lines: dgLines("Allow secretsmanager:GetSecretValue on "+arn+"prod/*", "No statement lets deployer read secrets under preprod/")}},
		{name: "uncovered, but no prefix to cover", scenario: SecretsInaccessible, job: job, log: &JobLog{}, env: func(e *Environment) { e.SecretsPrefix = "" },
			world: policy(PolicyStatement{Effect: "Allow", Actions: []string{"secretsmanager:DescribeSecret"}, Resources: []string{arn + "prod/*"}}),
			id:    DiagIAMPolicy, want: Finding{Lines: dgLines("Allow secretsmanager:DescribeSecret on " + arn + "prod/*")}},
		{name: "no Secrets Manager statement", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: policy(PolicyStatement{Effect: "Allow", Actions: []string{"s3:*"}, Resources: []string{"*"}}),
			id:    DiagIAMPolicy, want: Finding{Bad: true, Lines: dgLines("deploy-policy of deployer has no Secrets Manager statement")}},
		{name: "no deployer user", scenario: SecretsInaccessible, job: job, log: &JobLog{}, env: func(e *Environment) { e.DeployerUser = "" },
			id: DiagIAMPolicy, want: Finding{Lines: dgLines("no deployer user/policy configured for preprod")}},
		{name: "no deployer policy", scenario: SecretsInaccessible, job: job, log: &JobLog{}, env: func(e *Environment) { e.DeployerPolicy = "" },
			id: DiagIAMPolicy, want: Finding{Lines: dgLines("no deployer user/policy configured for preprod")}, check: func(t *testing.T, w *dgWorld) {
				if n := w.count("UserPolicy"); n != 0 {
					t.Errorf("policy read %d times, want 0", n)
				}
			}},
		{name: "the policy cannot be read", scenario: SecretsInaccessible, job: job, log: &JobLog{},
			world: func(w *dgWorld) {
				w.userPolicy = func(context.Context, Environment, string, string) ([]PolicyStatement, error) {
					return nil, dgErr("IAM: AccessDenied on GetUserPolicy")
				}
			},
			id: DiagIAMPolicy, want: Finding{Problem: "IAM: AccessDenied on GetUserPolicy"}},

		{name: "the alarm's history", scenario: AlarmWontClear, incident: Incident{AlarmName: "preprod-older-name"}, alarm: firing,
			world: history(AlarmHistoryItem{At: dgNow.Add(-10 * time.Minute), Type: "StateUpdate", Summary: "Alarm updated from OK to ALARM"},
				AlarmHistoryItem{At: dgNow.Add(-27 * time.Hour), Type: "ConfigurationUpdate", Summary: strings.Repeat("c", 200)}),
			id: DiagAlarmHistory, want: Finding{Lines: dgLines("11-25 09:50 StateUpdate: Alarm updated from OK to ALARM", "11-24 07:00 ConfigurationUpdate: "+strings.Repeat("c", 159)+"…")}},
		{name: "the incident's alarm", scenario: AlarmWontClear, incident: Incident{AlarmName: "preprod-errors"}, world: history(),
			id: DiagAlarmHistory, want: Finding{Lines: dgLines("no history")}},
		{name: "no alarm", scenario: AlarmWontClear,
			id: DiagAlarmHistory, want: Finding{Problem: "Alarm history: no alarm"}},
		{name: "history cannot be read", scenario: AlarmWontClear, alarm: firing,
			world: func(w *dgWorld) {
				w.alarmHistory = func(context.Context, Environment, string, int) ([]AlarmHistoryItem, error) {
					return nil, dgErr("CloudWatch: throttled")
				}
			},
			id: DiagAlarmHistory, want: Finding{Problem: "CloudWatch: throttled"}},

		{name: "in ALARM with its reason", scenario: AlarmWontClear, alarm: firing,
			id: DiagAlarmDetail, want: Finding{Bad: true, Lines: dgLines("preprod-errors is ALARM since 09:30 UTC (30m ago)", firing.Reason)}},
		{name: "OK, no reason", scenario: AlarmWontClear, alarm: &Alarm{Name: "preprod-errors", State: "OK", Since: dgNow.Add(-30 * time.Second)},
			id: DiagAlarmDetail, want: Finding{Lines: dgLines("preprod-errors is OK since 09:59 UTC (30s ago)")}},
		{name: "a long reason is cut", scenario: AlarmWontClear, alarm: &Alarm{Name: "preprod-errors", State: "ALARM", Reason: strings.Repeat("r", 301), Since: dgNow.Add(-time.Minute)},
			id: DiagAlarmDetail, want: Finding{Bad: true, Lines: dgLines("preprod-errors is ALARM since 09:59 UTC (1m ago)", strings.Repeat("r", 299)+"…")}},
		{name: "only the incident's name", scenario: AlarmWontClear, incident: Incident{AlarmName: "preprod-errors"},
			id: DiagAlarmDetail, want: Finding{Lines: dgLines("preprod-errors")}},
		{name: "no alarm", scenario: AlarmWontClear,
			id: DiagAlarmDetail, want: Finding{Problem: "Alarm: no alarm"}},
	}
	runDiagnosticCases(t, cases)
}

// capLines leaves the caller's lines as they were: its "…and N more" goes into a new
// array, not over the caller's tenth line.
func TestCapLinesLeavesItsInputAlone(t *testing.T) {
	var lines []string
	for i := range 12 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	before := slices.Clone(lines)
	got := capLines(lines)
	if !slices.Equal(lines, before) {
		t.Errorf("the input changed: got %q, want %q", lines, before)
	}
	if len(got) != maxLines || got[maxLines-1] != "…and 3 more" || got[maxLines-2] != "line 8" {
		t.Errorf("capped: got %q, want 9 lines and …and 3 more", got)
	}
	if got := capLines(lines[:maxLines]); len(got) != maxLines || got[maxLines-1] != "line 9" {
		t.Errorf("exactly %d lines: got %q, want them all", maxLines, got)
	}
}
