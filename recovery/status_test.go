package recovery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type fakeSources struct {
	functions func(ctx context.Context, env Environment) ([]FunctionStatus, error)
	alarms    func(ctx context.Context, env Environment) ([]Alarm, error)
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
func (fakeSources) CheckHealth(context.Context, Environment) (HealthResult, error) {
	return HealthResult{StatusCode: 200}, nil
}
func (fakeSources) LastSuccessfulDeploy(context.Context, Environment) (*Deploy, error) {
	return &Deploy{SHA: "abc123"}, nil
}
func (fakeSources) OpenIncidents(context.Context, string) ([]Incident, error) { return nil, nil }
func (fakeSources) RunningJobs(context.Context, string) ([]Job, error)        { return nil, nil }

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
