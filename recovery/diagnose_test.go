package recovery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// dgWorld is a hand-written fake of every source a Diagnoser reads. A method calls
// its function field when set and otherwise answers like a quiet, healthy
// environment; every call is counted by method name.
type dgWorld struct {
	run          func(ctx context.Context, id int64) (Run, error)
	runJobs      func(ctx context.Context, runID int64) ([]JobInfo, error)
	jobLog       func(ctx context.Context, jobID int64) (JobLog, error)
	artifacts    func(ctx context.Context, runID int64) ([]Artifact, error)
	deploys      func(ctx context.Context, env Environment, n int) ([]Deploy, error)
	table        func(ctx context.Context, env Environment, name string) (TableStatus, error)
	bucket       func(ctx context.Context, env Environment, name string) (bool, error)
	secrets      func(ctx context.Context, env Environment, prefix string) ([]SecretMeta, error)
	userPolicy   func(ctx context.Context, env Environment, user, policy string) ([]PolicyStatement, error)
	logEvents    func(ctx context.Context, env Environment, group, pattern string, since time.Time, limit int) ([]LogEvent, error)
	alarmHistory func(ctx context.Context, env Environment, alarm string, limit int) ([]AlarmHistoryItem, error)
	stateLocks   func(ctx context.Context, env Environment, table string) ([]StateLock, error)
	recentRuns   func(ctx context.Context, workflow string, since time.Time) ([]Run, error)
	functions    func(ctx context.Context, env Environment) ([]FunctionStatus, error)
	alarms       func(ctx context.Context, env Environment) ([]Alarm, error)
	health       func(ctx context.Context, env Environment) (HealthResult, error)

	mu    sync.Mutex
	calls map[string]int
}

var (
	_ RunReader      = (*dgWorld)(nil)
	_ EnvReader      = (*dgWorld)(nil)
	_ FunctionReader = (*dgWorld)(nil)
	_ AlarmReader    = (*dgWorld)(nil)
	_ HealthChecker  = (*dgWorld)(nil)
)

func (w *dgWorld) called(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.calls == nil {
		w.calls = map[string]int{}
	}
	w.calls[name]++
}

func (w *dgWorld) count(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[name]
}

func (w *dgWorld) Run(ctx context.Context, id int64) (Run, error) {
	w.called("Run")
	if w.run != nil {
		return w.run(ctx, id)
	}
	return Run{ID: id}, nil
}

func (w *dgWorld) RunJobs(ctx context.Context, runID int64) ([]JobInfo, error) {
	w.called("RunJobs")
	if w.runJobs != nil {
		return w.runJobs(ctx, runID)
	}
	return nil, nil
}

func (w *dgWorld) JobLog(ctx context.Context, jobID int64) (JobLog, error) {
	w.called("JobLog")
	if w.jobLog != nil {
		return w.jobLog(ctx, jobID)
	}
	return JobLog{}, nil
}

func (w *dgWorld) RunArtifacts(ctx context.Context, runID int64) ([]Artifact, error) {
	w.called("RunArtifacts")
	if w.artifacts != nil {
		return w.artifacts(ctx, runID)
	}
	return nil, nil
}

func (w *dgWorld) RecentRuns(ctx context.Context, workflow string, since time.Time) ([]Run, error) {
	w.called("RecentRuns")
	if w.recentRuns != nil {
		return w.recentRuns(ctx, workflow, since)
	}
	return nil, nil
}

func (w *dgWorld) SuccessfulDeploys(ctx context.Context, env Environment, n int) ([]Deploy, error) {
	w.called("SuccessfulDeploys")
	if w.deploys != nil {
		return w.deploys(ctx, env, n)
	}
	return nil, nil
}

func (w *dgWorld) Table(ctx context.Context, env Environment, name string) (TableStatus, error) {
	w.called("Table")
	if w.table != nil {
		return w.table(ctx, env, name)
	}
	return TableStatus{Name: name, Exists: true, Status: "ACTIVE"}, nil
}

func (w *dgWorld) BucketExists(ctx context.Context, env Environment, name string) (bool, error) {
	w.called("BucketExists")
	if w.bucket != nil {
		return w.bucket(ctx, env, name)
	}
	return true, nil
}

func (w *dgWorld) Secrets(ctx context.Context, env Environment, prefix string) ([]SecretMeta, error) {
	w.called("Secrets")
	if w.secrets != nil {
		return w.secrets(ctx, env, prefix)
	}
	return nil, nil
}

func (w *dgWorld) UserPolicy(ctx context.Context, env Environment, user, policy string) ([]PolicyStatement, error) {
	w.called("UserPolicy")
	if w.userPolicy != nil {
		return w.userPolicy(ctx, env, user, policy)
	}
	return nil, nil
}

func (w *dgWorld) LogEvents(ctx context.Context, env Environment, group, pattern string, since time.Time, limit int) ([]LogEvent, error) {
	w.called("LogEvents")
	if w.logEvents != nil {
		return w.logEvents(ctx, env, group, pattern, since, limit)
	}
	return nil, nil
}

func (w *dgWorld) AlarmHistory(ctx context.Context, env Environment, alarm string, limit int) ([]AlarmHistoryItem, error) {
	w.called("AlarmHistory")
	if w.alarmHistory != nil {
		return w.alarmHistory(ctx, env, alarm, limit)
	}
	return nil, nil
}

func (w *dgWorld) StateLocks(ctx context.Context, env Environment, table string) ([]StateLock, error) {
	w.called("StateLocks")
	if w.stateLocks != nil {
		return w.stateLocks(ctx, env, table)
	}
	return nil, nil
}

func (w *dgWorld) Functions(ctx context.Context, env Environment) ([]FunctionStatus, error) {
	w.called("Functions")
	if w.functions != nil {
		return w.functions(ctx, env)
	}
	return nil, nil
}

func (w *dgWorld) AlarmsFiring(ctx context.Context, env Environment) ([]Alarm, error) {
	w.called("AlarmsFiring")
	if w.alarms != nil {
		return w.alarms(ctx, env)
	}
	return nil, nil
}

func (w *dgWorld) CheckHealth(ctx context.Context, env Environment) (HealthResult, error) {
	w.called("CheckHealth")
	if w.health != nil {
		return w.health(ctx, env)
	}
	return HealthResult{StatusCode: 200, Latency: 40 * time.Millisecond}, nil
}

// dgNow is the time of every diagnostic test.
var dgNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// dgEnv is an environment with every resource a diagnostic looks at.
func dgEnv() Environment {
	return Environment{Name: "preprod", Functions: []string{"preprod-a", "preprod-b"}, AlarmPrefix: "preprod-",
		Table: "preprod-items", ArtifactsBucket: "preprod-artifacts", SecretsPrefix: "preprod/", LockTable: "tf-locks",
		DeployerUser: "deployer", DeployerPolicy: "deploy-policy"}
}

// dgFullRun is a run with everything the diagnostics need, so none fetches it again.
func dgFullRun() *Run {
	return &Run{ID: 900, Number: 42, Attempt: 2, Workflow: "dev.yml", WorkflowName: "Dev", Status: "completed", Conclusion: "failure",
		HeadSHA: "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6", HeadBranch: "main", Event: "push", Actor: "dana",
		CommitMessage: "fix: parse dates\n\nThe body.", CommitAuthor: "Dana Scully", URL: "https://github.test/runs/900",
		CreatedAt: dgNow.Add(-90 * time.Minute), StartedAt: dgNow.Add(-89 * time.Minute)}
}

func mustDiagnoser(tb testing.TB, w *dgWorld, timeout time.Duration, rollbackJob string) *Diagnoser {
	tb.Helper()
	d, err := NewDiagnoser(DiagSources{Runs: w, History: w, Env: w, Records: w, Functions: w, Alarms: w, Health: w}, timeout, rollbackJob, func() time.Time { return dgNow })
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// dgFind returns the finding of diagnostic id, failing the test when there is none.
func dgFind(tb testing.TB, fs []Finding, id DiagnosticID) Finding {
	tb.Helper()
	for _, f := range fs {
		if f.Diagnostic == id {
			return f
		}
	}
	tb.Fatalf("no finding %s among %+v", id, fs)
	return Finding{}
}

// dgSummarized is a source's error that says in one line what failed; its raw text
// holds what must never reach a channel.
type dgSummarized struct{ summary string }

func (e dgSummarized) Error() string   { return "raw answer with password=hunter2hunter2 " + e.summary }
func (e dgSummarized) Summary() string { return e.summary }

func TestNewDiagnoserRequiresEverySourceAndATimeout(t *testing.T) {
	w := &dgWorld{}
	full := DiagSources{Runs: w, History: w, Env: w, Records: w, Functions: w, Alarms: w, Health: w}
	now := func() time.Time { return dgNow }
	tests := []struct {
		name    string
		src     func(DiagSources) DiagSources
		timeout time.Duration
		wantErr string
	}{
		{"no runs", func(s DiagSources) DiagSources { s.Runs = nil; return s }, time.Second, "diagnoser: every source is required; missing DiagSources.Runs"},
		{"no env", func(s DiagSources) DiagSources { s.Env = nil; return s }, time.Second, "diagnoser: every source is required; missing DiagSources.Env"},
		{"no functions", func(s DiagSources) DiagSources { s.Functions = nil; return s }, time.Second, "diagnoser: every source is required; missing DiagSources.Functions"},
		{"no alarms", func(s DiagSources) DiagSources { s.Alarms = nil; return s }, time.Second, "diagnoser: every source is required; missing DiagSources.Alarms"},
		{"no health", func(s DiagSources) DiagSources { s.Health = nil; return s }, time.Second, "diagnoser: every source is required; missing DiagSources.Health"},
		{"no run history", func(s DiagSources) DiagSources { s.History = nil; return s }, time.Second, "diagnoser: every source is required; missing DiagSources.History"},
		{"no records, no health", func(s DiagSources) DiagSources { s.Records, s.Health = nil, nil; return s }, time.Second, "diagnoser: every source is required; missing DiagSources.Health, Records"},
		{"zero timeout", func(s DiagSources) DiagSources { return s }, 0, "diagnoser: timeout must be positive"},
		{"negative timeout", func(s DiagSources) DiagSources { return s }, -time.Second, "diagnoser: timeout must be positive"},
		{"smallest timeout", func(s DiagSources) DiagSources { return s }, time.Nanosecond, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDiagnoser(tt.src(full), tt.timeout, "", now)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("got error %q, want %q", got, tt.wantErr)
			}
		})
	}
}

// TestGatherRunsDiagnosticsInParallel: the health check and the alarm's history each
// wait until the other has started. Run one after another, the first would wait for
// a start that never comes: each gives up after 5 s and says so.
func TestGatherRunsDiagnosticsInParallel(t *testing.T) {
	var healthStarted, historyStarted = make(chan struct{}), make(chan struct{})
	await := func(ctx context.Context, mine, other chan struct{}, me, them string) error {
		close(mine)
		select {
		case <-other:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%s started but %s had not started 5s later: diagnostics run one after another", me, them)
		}
	}
	w := &dgWorld{
		health: func(ctx context.Context, _ Environment) (HealthResult, error) {
			if err := await(ctx, healthStarted, historyStarted, "the health check", "the alarm history"); err != nil {
				return HealthResult{}, err
			}
			return HealthResult{StatusCode: 200}, nil
		},
		alarmHistory: func(ctx context.Context, _ Environment, _ string, _ int) ([]AlarmHistoryItem, error) {
			if err := await(ctx, historyStarted, healthStarted, "the alarm history", "the health check"); err != nil {
				return nil, err
			}
			return nil, nil
		},
	}
	d := mustDiagnoser(t, w, 10*time.Second, "")
	in := Incident{ID: "INC-1", Scenario: AlarmWontClear, AlarmName: "preprod-errors"}
	fs := d.Gather(context.Background(), in, dgEnv(), nil, nil, nil, nil)
	for _, f := range fs {
		if f.Problem != "" {
			t.Errorf("%s: got problem %q, want none (both diagnostics running at once)", f.Diagnostic, f.Problem)
		}
	}
	if got := len(fs); got != 3 {
		t.Errorf("got %d findings, want 3", got)
	}
}

// TestGatherTimesOutEachDiagnosticAlone: a diagnostic whose source never answers (even
// one ignoring its context) ends as a one-line problem naming the limit; the others of
// the alert are all there.
func TestGatherTimesOutEachDiagnosticAlone(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // after the parallel subtests
	tests := []struct {
		name   string
		health func(ctx context.Context, _ Environment) (HealthResult, error)
	}{
		{"source ignores its context", func(context.Context, Environment) (HealthResult, error) {
			<-release
			return HealthResult{StatusCode: 200}, nil
		}},
		{"source gives up with its context", func(ctx context.Context, _ Environment) (HealthResult, error) {
			<-ctx.Done()
			return HealthResult{}, ctx.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := &dgWorld{health: tt.health, alarmHistory: func(context.Context, Environment, string, int) ([]AlarmHistoryItem, error) {
				return []AlarmHistoryItem{{At: dgNow.Add(-time.Hour), Type: "StateUpdate", Summary: "Alarm updated from OK to ALARM"}}, nil
			}}
			// Long enough for the other diagnostics, which answer at once, on a loaded machine.
			d := mustDiagnoser(t, w, 300*time.Millisecond, "")
			in := Incident{ID: "INC-1", Scenario: AlarmWontClear, AlarmName: "preprod-errors"}
			done := make(chan []Finding, 1)
			go func() { done <- d.Gather(context.Background(), in, dgEnv(), nil, nil, nil, nil) }()
			var fs []Finding
			select {
			case fs = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Gather did not return 10s after a 300ms diagnostic timeout")
			}
			if got, want := dgFind(t, fs, DiagHealth).Problem, "Health endpoint: no answer within 300ms"; got != want {
				t.Errorf("health: got problem %q, want %q", got, want)
			}
			if got, want := dgFind(t, fs, DiagAlarmHistory).Lines, []string{"11-25 09:00 StateUpdate: Alarm updated from OK to ALARM"}; !reflect.DeepEqual(got, want) {
				t.Errorf("alarm history: got %q, want %q", got, want)
			}
			if got, want := dgFind(t, fs, DiagAlarmDetail).Lines, []string{"preprod-errors"}; !reflect.DeepEqual(got, want) {
				t.Errorf("alarm detail: got %q, want %q", got, want)
			}
		})
	}
}

// TestGatherOneFailureDoesNotHideTheOthers: findings come in the scenario's order,
// titled; a failing source gives its finding a one-line problem (its summary, never
// its raw text) and nothing else, and the other findings are whole.
func TestGatherOneFailureDoesNotHideTheOthers(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantProblem string
	}{
		{"summarized", dgSummarized{"CloudWatch: AccessDenied on DescribeAlarms"}, "CloudWatch: AccessDenied on DescribeAlarms"},
		{"plain, several lines", errors.New("connection reset\nby peer"), "Alarms in ALARM: connection reset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &dgWorld{
				alarms: func(context.Context, Environment) ([]Alarm, error) { return []Alarm{{Name: "ignored"}}, tt.err },
				deploys: func(context.Context, Environment, int) ([]Deploy, error) {
					return []Deploy{{SHA: "a27f88b2c0b9abf610708c4fb3bb92797125ff9a", At: dgNow.Add(-25 * time.Hour), URL: "https://github.test/runs/800"}}, nil
				},
			}
			env := dgEnv()
			env.Functions = []string{"preprod-a"}
			in := Incident{ID: "INC-1", Scenario: CanaryFail, SHA: "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6"}
			fs := mustDiagnoser(t, w, 5*time.Second, "").Gather(context.Background(), in, env, dgFullRun(), nil, nil, nil)
			var ids, titles []string
			for _, f := range fs {
				ids, titles = append(ids, string(f.Diagnostic)), append(titles, f.Title)
			}
			if got, want := strings.Join(ids, ","), "health,alarms,error-logs,rollback-progress,last-good,commit"; got != want {
				t.Errorf("diagnostics: got %s, want %s", got, want)
			}
			if got, want := strings.Join(titles, "|"), "Health endpoint|Alarms in ALARM|ERROR logs (last 10 minutes)|Auto-rollback|Last known good|Commit"; got != want {
				t.Errorf("titles: got %s, want %s", got, want)
			}
			want := Finding{Diagnostic: DiagAlarms, Title: "Alarms in ALARM", Problem: tt.wantProblem}
			if got := dgFind(t, fs, DiagAlarms); !reflect.DeepEqual(got, want) {
				t.Errorf("alarms: got %+v, want %+v", got, want)
			}
			for _, f := range fs {
				if f.Diagnostic != DiagAlarms && (f.Problem != "" || len(f.Lines) == 0) {
					t.Errorf("%s: got problem %q and lines %q, want its lines", f.Diagnostic, f.Problem, f.Lines)
				}
			}
			if got, want := dgFind(t, fs, DiagLastGood).Lines, []string{"a27f88b deployed 2026-11-24 09:00 UTC (25h00m ago)"}; !reflect.DeepEqual(got, want) {
				t.Errorf("last good: got %q, want %q", got, want)
			}
		})
	}
}

func TestGatherUnknownScenarioGathersNothing(t *testing.T) {
	w := &dgWorld{}
	fs, run := mustDiagnoser(t, w, time.Second, "").GatherRun(context.Background(), Incident{Scenario: "no-such-scenario"}, dgEnv(), dgFullRun(), nil, nil, nil)
	if fs != nil || run != nil {
		t.Errorf("got %+v and run %+v, want nothing", fs, run)
	}
}

// TestGatherReadsTheRunOnce: a webhook's run lacks the commit: the diagnostics that
// need it share one read of the run, and GatherRun hands the run read back. A run
// that is complete already is not read again.
func TestGatherReadsTheRunOnce(t *testing.T) {
	full := dgFullRun()
	tests := []struct {
		name      string
		run       *Run
		wantReads int
		wantRun   *Run
	}{
		{"run from a job event", &Run{ID: 900}, 1, full},
		{"without a commit message", func() *Run { r := *full; r.CommitMessage = ""; return &r }(), 1, full},
		{"without a creation time", func() *Run { r := *full; r.CreatedAt = time.Time{}; return &r }(), 1, full},
		{"without a number", func() *Run { r := *full; r.Number = 0; return &r }(), 1, full},
		{"complete run", full, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &dgWorld{run: func(_ context.Context, id int64) (Run, error) {
				if id != 900 {
					return Run{}, fmt.Errorf("run %d read, want 900", id)
				}
				return *full, nil
			}}
			job := &JobInfo{ID: 5, RunID: 900, Name: "test", Conclusion: "failure"}
			fs, got := mustDiagnoser(t, w, 5*time.Second, "").GatherRun(context.Background(), Incident{Scenario: DevTestsFail}, dgEnv(), tt.run, job, nil, &JobLog{})
			if n := w.count("Run"); n != tt.wantReads {
				t.Errorf("run read %d times, want %d", n, tt.wantReads)
			}
			if !reflect.DeepEqual(got, tt.wantRun) {
				t.Errorf("run handed back: got %+v, want %+v", got, tt.wantRun)
			}
			want := []string{"9f1c2d3 fix: parse dates — by Dana Scully", "branch main, triggered by dana"}
			if c := dgFind(t, fs, DiagCommit); !reflect.DeepEqual(c.Lines, want) {
				t.Errorf("commit: got %q (problem %q), want %q", c.Lines, c.Problem, want)
			}
			if got, want := dgFind(t, fs, DiagFailedStep).Lines, []string{"test failure", "Dev run #42, attempt 2"}; !reflect.DeepEqual(got, want) {
				t.Errorf("failed step: got %q, want %q", got, want)
			}
		})
	}
}

func TestGatherRunThatCannotBeReadIsNotHandedBack(t *testing.T) {
	w := &dgWorld{run: func(context.Context, int64) (Run, error) { return Run{}, dgSummarized{"GitHub: 502 on GET run"} }}
	job := &JobInfo{ID: 5, RunID: 900, Name: "test", Conclusion: "failure"}
	fs, got := mustDiagnoser(t, w, 5*time.Second, "").GatherRun(context.Background(), Incident{Scenario: DevTestsFail}, dgEnv(), &Run{ID: 900}, job, nil, &JobLog{})
	if got != nil {
		t.Errorf("run handed back: got %+v, want nil", got)
	}
	if p := dgFind(t, fs, DiagCommit).Problem; p != "GitHub: 502 on GET run" {
		t.Errorf("commit: got problem %q, want the run's read error", p)
	}
	if got, want := dgFind(t, fs, DiagFailedStep).Lines, []string{"test failure"}; !reflect.DeepEqual(got, want) {
		t.Errorf("failed step: got %q, want %q", got, want)
	}
}

// TestGatherReadsTheLogItIsNotGiven: the job's log is downloaded (and redacted) only
// when the caller does not have it.
func TestGatherReadsTheLogItIsNotGiven(t *testing.T) {
	logText := "FAILED tests/test_a.py::test_one - assert token=ghp_0123456789abcdefghijABCDEFGHIJ == 1\n"
	w := &dgWorld{jobLog: func(_ context.Context, id int64) (JobLog, error) {
		if id != 5 {
			return JobLog{}, fmt.Errorf("log of job %d read, want 5", id)
		}
		return JobLog{Text: logText, URL: "https://github.test/jobs/5/log"}, nil
	}}
	d := mustDiagnoser(t, w, 5*time.Second, "")
	job := &JobInfo{ID: 5, Name: "test", Conclusion: "failure"}

	fs := d.Gather(context.Background(), Incident{Scenario: DevTestsFail}, dgEnv(), dgFullRun(), job, nil, nil)
	f := dgFind(t, fs, DiagTestFailures)
	if want := []string{"tests/test_a.py::test_one — assert token=[REDACTED GITHUB TOKEN] == 1"}; !reflect.DeepEqual(f.Lines, want) {
		t.Errorf("downloaded log: got %q, want %q", f.Lines, want)
	}
	if strings.Contains(f.Detail, "ghp_") || f.Link != "https://github.test/jobs/5/log" {
		t.Errorf("downloaded log: got detail %q and link %q, want it redacted and linked", f.Detail, f.Link)
	}
	if n := w.count("JobLog"); n != 1 {
		t.Errorf("log downloaded %d times, want 1", n)
	}

	given := &JobLog{Text: "FAILED tests/test_b.py::test_two\n", URL: "u"}
	fs = d.Gather(context.Background(), Incident{Scenario: DevTestsFail}, dgEnv(), dgFullRun(), job, nil, given)
	if got, want := dgFind(t, fs, DiagTestFailures).Lines, []string{"tests/test_b.py::test_two"}; !reflect.DeepEqual(got, want) {
		t.Errorf("given log: got %q, want %q", got, want)
	}
	if n := w.count("JobLog"); n != 1 {
		t.Errorf("log downloaded %d times in all, want 1 (the given log is used)", n)
	}

	for _, job := range []*JobInfo{nil, {Name: "test"}} {
		fs = d.Gather(context.Background(), Incident{Scenario: DevTestsFail}, dgEnv(), dgFullRun(), job, nil, nil)
		if got, want := dgFind(t, fs, DiagTestFailures).Problem, "Failing tests: no job to read the log of"; got != want {
			t.Errorf("job %+v: got problem %q, want %q", job, got, want)
		}
	}
	if n := w.count("JobLog"); n != 1 {
		t.Errorf("log downloaded %d times in all, want 1 (no job, no download)", n)
	}
}
