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

type fakeSources struct {
	functions func(ctx context.Context, env Environment) ([]FunctionStatus, error)
	alarms    func(ctx context.Context, env Environment) ([]Alarm, error)
	health    func(ctx context.Context, env Environment) (HealthResult, error)
	deploys   func(ctx context.Context, env Environment) (*Deploy, error)
	incidents func(ctx context.Context, env string) ([]Incident, error)
	jobs      func(ctx context.Context, env string) ([]Job, error)
}

func (f fakeSources) Functions(ctx context.Context, env Environment) ([]FunctionStatus, error) {
	if f.functions != nil {
		return f.functions(ctx, env)
	}
	return []FunctionStatus{{Name: env.Functions[0], State: "Active"}}, nil
}
func (f fakeSources) AlarmsFiring(ctx context.Context, env Environment) ([]Alarm, error) {
	if f.alarms != nil {
		return f.alarms(ctx, env)
	}
	return nil, nil
}
func (f fakeSources) CheckHealth(ctx context.Context, env Environment) (HealthResult, error) {
	if f.health != nil {
		return f.health(ctx, env)
	}
	return HealthResult{StatusCode: 200}, nil
}
func (f fakeSources) LastSuccessfulDeploy(ctx context.Context, env Environment) (*Deploy, error) {
	if f.deploys != nil {
		return f.deploys(ctx, env)
	}
	return &Deploy{SHA: "abc123"}, nil
}
func (f fakeSources) OpenIncidents(ctx context.Context, env string) ([]Incident, error) {
	if f.incidents != nil {
		return f.incidents(ctx, env)
	}
	return nil, nil
}
func (f fakeSources) RunningJobs(ctx context.Context, env string) ([]Job, error) {
	if f.jobs != nil {
		return f.jobs(ctx, env)
	}
	return nil, nil
}

var (
	_ FunctionReader = fakeSources{}
	_ AlarmReader    = fakeSources{}
	_ HealthChecker  = fakeSources{}
	_ DeployHistory  = fakeSources{}
	_ IncidentReader = fakeSources{}
	_ JobReader      = fakeSources{}
)

type summarized struct{ s string }

func (e summarized) Error() string   { return "raw: " + e.s + " secret-token-xyz" }
func (e summarized) Summary() string { return e.s }

func mustService(tb testing.TB, f fakeSources, timeout time.Duration) *StatusService {
	tb.Helper()
	envs, err := NewEnvironments([]Environment{{Name: "prod", Functions: []string{"prod-sentiment-dashboard"}}, {Name: "dev", Functions: []string{"dev-a"}}})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewStatusService(envs, StatusSources{f, f, f, f, f, f}, timeout, func() time.Time { return time.Unix(0, 0) })
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestStatusGathersEverySection(t *testing.T) {
	r, err := mustService(t, fakeSources{}, time.Second).Status(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Functions.OK() || r.Functions.Value[0].Name != "prod-sentiment-dashboard" || r.LastGood.Value.SHA != "abc123" || r.Health.Value.StatusCode != 200 {
		t.Errorf("got %+v", r)
	}
}

func TestStatusUnknownEnvironmentListsValidOnes(t *testing.T) {
	_, err := mustService(t, fakeSources{}, time.Second).Status(context.Background(), "qa")
	var unknown *UnknownEnvironmentError
	if !errors.As(err, &unknown) || strings.Join(unknown.Valid, ",") != "dev,prod" {
		t.Fatalf("got %v, want UnknownEnvironmentError listing dev,prod", err)
	}
}

func TestStatusOneFailingSectionDoesNotHideTheOthers(t *testing.T) {
	f := fakeSources{alarms: func(context.Context, Environment) ([]Alarm, error) {
		return nil, summarized{"CloudWatch: AccessDenied on DescribeAlarms"}
	}}
	r, _ := mustService(t, f, time.Second).Status(context.Background(), "prod")
	if r.Alarms.Problem != "CloudWatch: AccessDenied on DescribeAlarms" {
		t.Errorf("alarms problem: got %q", r.Alarms.Problem)
	}
	if !r.Functions.OK() || !r.Health.OK() || !r.LastGood.OK() {
		t.Errorf("other sections failed too: %+v", r)
	}
}

func TestStatusSectionTimeoutEvenWhenSourceIgnoresContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := fakeSources{functions: func(ctx context.Context, env Environment) ([]FunctionStatus, error) {
		<-release // ignores ctx on purpose
		return nil, nil
	}}
	r, _ := mustService(t, f, 20*time.Millisecond).Status(context.Background(), "prod")
	if r.Functions.Problem != "Lambda: no answer within 20ms" {
		t.Errorf("got %q, want the timeout named", r.Functions.Problem)
	}
	if !r.Alarms.OK() {
		t.Errorf("alarms: got %q, want OK", r.Alarms.Problem)
	}
}

func TestProblemNeverShowsRawTextOfSummarizers(t *testing.T) {
	got := Problem("X", summarized{"X: Throttling on Op"}, time.Second)
	if strings.Contains(got, "secret-token") || got != "X: Throttling on Op" {
		t.Errorf("got %q", got)
	}
	if got := Problem("GitHub", errors.New("line one\nline two"), time.Second); got != "GitHub: line one" {
		t.Errorf("plain error: got %q", got)
	}
}

func TestEnvironmentsRejectDuplicates(t *testing.T) {
	if _, err := NewEnvironments([]Environment{{Name: "prod"}, {Name: "prod"}}); err == nil {
		t.Error("got nil, want an error for a duplicate environment")
	}
}

// TestStatusGathersSectionsInParallel: every source waits until all six have been
// asked. Asked one after another, a source would wait for calls that never come: each
// gives up after 5 s and says so in its section.
func TestStatusGathersSectionsInParallel(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]bool{}
	all := make(chan struct{})
	await := func(ctx context.Context, me string) error {
		mu.Lock()
		asked[me] = true
		if len(asked) == 6 {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
			mu.Lock()
			defer mu.Unlock()
			return fmt.Errorf("%s asked, but only %d of 6 sources had been 5s later: sections gathered one after another", me, len(asked))
		}
	}
	f := fakeSources{
		functions: func(ctx context.Context, _ Environment) ([]FunctionStatus, error) { return nil, await(ctx, "Lambda") },
		alarms:    func(ctx context.Context, _ Environment) ([]Alarm, error) { return nil, await(ctx, "CloudWatch") },
		health: func(ctx context.Context, _ Environment) (HealthResult, error) {
			return HealthResult{}, await(ctx, "Health")
		},
		deploys:   func(ctx context.Context, _ Environment) (*Deploy, error) { return nil, await(ctx, "GitHub") },
		incidents: func(ctx context.Context, _ string) ([]Incident, error) { return nil, await(ctx, "Incidents") },
		jobs:      func(ctx context.Context, _ string) ([]Job, error) { return nil, await(ctx, "Jobs") },
	}
	r, err := mustService(t, f, 10*time.Second).Status(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{r.Functions.Problem, r.Alarms.Problem, r.Health.Problem, r.LastGood.Problem, r.Incidents.Problem, r.Jobs.Problem} {
		if p != "" {
			t.Errorf("got problem %q, want none (all six sources asked at once)", p)
		}
	}
}

// TestStatusSectionsNameTheirSource: each section of /status shows what it found, or
// the one line saying which source failed, and only that section.
func TestStatusSectionsNameTheirSource(t *testing.T) {
	boom := errors.New("boom\nstack trace")
	tests := []struct {
		name    string
		f       fakeSources
		problem func(r StatusReport) string
		want    string
	}{
		{"lambda", fakeSources{functions: func(context.Context, Environment) ([]FunctionStatus, error) { return nil, boom }},
			func(r StatusReport) string { return r.Functions.Problem }, "Lambda: boom"},
		{"alarms", fakeSources{alarms: func(context.Context, Environment) ([]Alarm, error) { return nil, boom }},
			func(r StatusReport) string { return r.Alarms.Problem }, "CloudWatch: boom"},
		{"health", fakeSources{health: func(context.Context, Environment) (HealthResult, error) { return HealthResult{}, boom }},
			func(r StatusReport) string { return r.Health.Problem }, "Health: boom"},
		{"last deploy", fakeSources{deploys: func(context.Context, Environment) (*Deploy, error) { return nil, boom }},
			func(r StatusReport) string { return r.LastGood.Problem }, "GitHub: boom"},
		{"incidents", fakeSources{incidents: func(context.Context, string) ([]Incident, error) { return nil, boom }},
			func(r StatusReport) string { return r.Incidents.Problem }, "Incidents: boom"},
		{"jobs", fakeSources{jobs: func(context.Context, string) ([]Job, error) { return nil, boom }},
			func(r StatusReport) string { return r.Jobs.Problem }, "Jobs: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := mustService(t, tt.f, time.Second).Status(context.Background(), "prod")
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.problem(r); got != tt.want {
				t.Errorf("got problem %q, want %q", got, tt.want)
			}
			failed := 0
			for _, ok := range []bool{r.Functions.OK(), r.Alarms.OK(), r.Health.OK(), r.LastGood.OK(), r.Incidents.OK(), r.Jobs.OK()} {
				if !ok {
					failed++
				}
			}
			if failed != 1 {
				t.Errorf("got %d failed sections, want 1: %+v", failed, r)
			}
		})
	}
}

// TestStatusShowsWhatEachSourceSaid: the report is the environment's, at the clock's
// time, and carries each source's answer as it is.
func TestStatusShowsWhatEachSourceSaid(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f := fakeSources{
		functions: func(_ context.Context, env Environment) ([]FunctionStatus, error) {
			return []FunctionStatus{{Name: env.Functions[0], State: "Failed"}}, nil
		},
		alarms: func(context.Context, Environment) ([]Alarm, error) {
			return []Alarm{{Name: "dev-errors", State: "ALARM"}}, nil
		},
		health: func(context.Context, Environment) (HealthResult, error) {
			return HealthResult{StatusCode: 503, Body: "down"}, nil
		},
		deploys: func(context.Context, Environment) (*Deploy, error) { return nil, nil },
		incidents: func(_ context.Context, env string) ([]Incident, error) {
			return []Incident{{ID: "INC-1", Env: env}}, nil
		},
		jobs: func(_ context.Context, env string) ([]Job, error) { return []Job{{ID: "JOB-1", Env: env}}, nil },
	}
	envs, err := NewEnvironments([]Environment{{Name: "dev", Functions: []string{"dev-a"}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewStatusService(envs, StatusSources{f, f, f, f, f, f}, time.Second, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Status(context.Background(), " DEV ")
	if err != nil {
		t.Fatal(err)
	}
	want := StatusReport{Env: "dev", At: at,
		Functions: Section[[]FunctionStatus]{Value: []FunctionStatus{{Name: "dev-a", State: "Failed"}}},
		Alarms:    Section[[]Alarm]{Value: []Alarm{{Name: "dev-errors", State: "ALARM"}}},
		Health:    Section[HealthResult]{Value: HealthResult{StatusCode: 503, Body: "down"}},
		Incidents: Section[[]Incident]{Value: []Incident{{ID: "INC-1", Env: "dev"}}},
		Jobs:      Section[[]Job]{Value: []Job{{ID: "JOB-1", Env: "dev"}}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
	if !r.LastGood.OK() || r.LastGood.Value != nil {
		t.Errorf("never deployed: got %+v, want an OK section without a deploy", r.LastGood)
	}
}

func TestNewStatusServiceRequiresEverySourceAndATimeout(t *testing.T) {
	f := fakeSources{}
	envs, err := NewEnvironments([]Environment{{Name: "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		src     StatusSources
		timeout time.Duration
		wantErr string
	}{
		{"no functions", StatusSources{nil, f, f, f, f, f}, time.Second, "status service: every source is required"},
		{"no alarms", StatusSources{f, nil, f, f, f, f}, time.Second, "status service: every source is required"},
		{"no health", StatusSources{f, f, nil, f, f, f}, time.Second, "status service: every source is required"},
		{"no deploys", StatusSources{f, f, f, nil, f, f}, time.Second, "status service: every source is required"},
		{"no incidents", StatusSources{f, f, f, f, nil, f}, time.Second, "status service: every source is required"},
		{"no jobs", StatusSources{f, f, f, f, f, nil}, time.Second, "status service: every source is required"},
		{"zero timeout", StatusSources{f, f, f, f, f, f}, 0, "status service: timeout must be positive"},
		{"negative timeout", StatusSources{f, f, f, f, f, f}, -time.Second, "status service: timeout must be positive"},
		{"smallest timeout", StatusSources{f, f, f, f, f, f}, time.Nanosecond, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewStatusService(envs, tt.src, tt.timeout, time.Now)
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

// TestProblemLines: the one line people see for each kind of failure.
func TestProblemLines(t *testing.T) {
	sum := summarized{"CloudWatch: Throttling on DescribeAlarms"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"summary", sum, "CloudWatch: Throttling on DescribeAlarms"},
		{"wrapped summary", fmt.Errorf("listing: %w", sum), "CloudWatch: Throttling on DescribeAlarms"},
		{"timeout", context.DeadlineExceeded, "CloudWatch: no answer within 3s"},
		{"wrapped timeout", fmt.Errorf("describe: %w", context.DeadlineExceeded), "CloudWatch: no answer within 3s"},
		{"timeout with a summary", dgTimeoutSummary{}, "CloudWatch: no answer within 3s (CloudWatch: DescribeAlarms timed out)"},
		{"cancelled", fmt.Errorf("describe: %w", context.Canceled), "CloudWatch: cancelled"},
		{"first line only", errors.New("dial tcp 10.0.0.1:443\ngoroutine 1 [running]"), "CloudWatch: dial tcp 10.0.0.1:443"},
		{"200 characters kept", errors.New(strings.Repeat("a", 200)), "CloudWatch: " + strings.Repeat("a", 200)},
		{"201 characters cut", errors.New(strings.Repeat("a", 201)), "CloudWatch: " + strings.Repeat("a", 200) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Problem("CloudWatch", tt.err, 3*time.Second); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// dgTimeoutSummary is a source's summarized error for a call that ran out of time.
type dgTimeoutSummary struct{}

func (dgTimeoutSummary) Error() string {
	return "operation error CloudWatch: DescribeAlarms, context deadline exceeded"
}
func (dgTimeoutSummary) Summary() string { return "CloudWatch: DescribeAlarms timed out" }
func (dgTimeoutSummary) Unwrap() error   { return context.DeadlineExceeded }

func TestStatusCancelledByTheCaller(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	release := make(chan struct{})
	defer close(release)
	f := fakeSources{functions: func(context.Context, Environment) ([]FunctionStatus, error) {
		<-release // ignores ctx on purpose
		return nil, nil
	}}
	r, err := mustService(t, f, time.Minute).Status(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Functions.Problem, "Lambda: cancelled"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestHealthyIsTwoHundredOnly(t *testing.T) {
	for code, want := range map[int]bool{0: false, 199: false, 200: true, 201: false, 204: false, 301: false, 500: false} {
		if got := (HealthResult{StatusCode: code}).Healthy(); got != want {
			t.Errorf("HTTP %d: got healthy %v, want %v", code, got, want)
		}
	}
}

func TestEnvironmentsByName(t *testing.T) {
	envs, err := NewEnvironments([]Environment{{Name: "prod"}, {Name: "dev"}, {Name: "preprod"}})
	if err != nil {
		t.Fatal(err)
	}
	names := envs.Names()
	if got, want := strings.Join(names, ","), "dev,preprod,prod"; got != want {
		t.Errorf("names: got %s, want %s", got, want)
	}
	names[0] = "changed"
	if got := envs.Names()[0]; got != "dev" {
		t.Errorf("names after changing a copy: got %s first, want dev", got)
	}
	for _, typed := range []string{"prod", " prod ", "PROD", "Prod\n"} {
		if env, err := envs.Get(typed); err != nil || env.Name != "prod" {
			t.Errorf("Get(%q): got %q, %v, want prod", typed, env.Name, err)
		}
	}
	_, err = envs.Get("qa")
	if got, want := fmt.Sprint(err), `unknown environment "qa"; valid environments: dev, preprod, prod`; got != want {
		t.Errorf("unknown: got %q, want %q", got, want)
	}
	for _, bad := range []struct {
		envs []Environment
		want string
	}{
		{[]Environment{{Name: "prod"}, {Name: "prod"}}, `environment "prod" defined twice`},
		{[]Environment{{Name: "prod"}, {}}, "environment without a name"},
	} {
		if _, err := NewEnvironments(bad.envs); fmt.Sprint(err) != bad.want {
			t.Errorf("NewEnvironments(%+v): got %v, want %q", bad.envs, err, bad.want)
		}
	}
}

// TestStatusSaysOnceThatTheRoleFailed: when the environment's role cannot be assumed,
// the report says so once, with STS's answer, and each section it stopped says only
// that it was not read for it; sections that do not need AWS are still gathered.
func TestStatusSaysOnceThatTheRoleFailed(t *testing.T) {
	cred := &CredentialsError{Env: "prod", Role: "arn:aws:iam::111111111111:role/medic-prod", Cause: "STS AccessDenied: not authorized to perform: sts:AssumeRole"}
	f := fakeSources{
		functions: func(context.Context, Environment) ([]FunctionStatus, error) { return nil, cred },
		alarms: func(context.Context, Environment) ([]Alarm, error) {
			return nil, fmt.Errorf("listing alarms: %w", cred)
		},
		health: func(context.Context, Environment) (HealthResult, error) {
			return HealthResult{}, summarizedWrap{"Health: reading the API key", cred}
		},
	}
	r, err := mustService(t, f, time.Second).Status(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	want := "assuming role arn:aws:iam::111111111111:role/medic-prod for prod failed: STS AccessDenied: not authorized to perform: sts:AssumeRole"
	if r.Credentials != want {
		t.Errorf("credentials: got %q, want %q", r.Credentials, want)
	}
	for name, p := range map[string]string{"functions": r.Functions.Problem, "alarms": r.Alarms.Problem, "health": r.Health.Problem} {
		if p != "not read: the environment's AWS role could not be assumed (see above)" {
			t.Errorf("%s: got %q, want it to point at the role", name, p)
		}
	}
	if !r.LastGood.OK() || !r.Incidents.OK() || !r.Jobs.OK() {
		t.Errorf("sections without AWS: got %+v", r)
	}
	// Without a role failure, nothing is said about one.
	r, _ = mustService(t, fakeSources{}, time.Second).Status(context.Background(), "prod")
	if r.Credentials != "" {
		t.Errorf("credentials of a healthy report: %q", r.Credentials)
	}
}

// summarizedWrap is an error with a summary of its own wrapping another.
type summarizedWrap struct {
	s   string
	err error
}

func (e summarizedWrap) Error() string   { return e.s + ": " + e.err.Error() }
func (e summarizedWrap) Summary() string { return e.s }
func (e summarizedWrap) Unwrap() error   { return e.err }
