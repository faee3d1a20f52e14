package recovery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// FunctionStatus is what /status shows of one Lambda function.
type FunctionStatus struct {
	Name             string
	State            string
	StateReason      string
	LastUpdateStatus string
	// Version is the deployed version read from the configured VersionSource; empty
	// when it could not be found, with VersionNote saying why.
	Version      string
	VersionNote  string
	LastModified time.Time
}

// Alarm is a CloudWatch alarm and its state.
type Alarm struct {
	Name   string
	State  string
	Reason string
	Since  time.Time
}

// HealthResult is the answer of an environment's health endpoint.
type HealthResult struct {
	StatusCode int
	// Body is an excerpt of the answer, with credentials redacted.
	Body    string
	Latency time.Duration
}

// Healthy reports whether the endpoint answered 200.
func (h HealthResult) Healthy() bool { return h.StatusCode == 200 }

// Deploy is a successful run of an environment's deploy workflow.
type Deploy struct {
	RunID    int64
	SHA      string
	Branch   string
	Workflow string
	At       time.Time
	URL      string
}

// Section is one independently gathered part of a status report: either a value or
// the one-line reason it is missing.
type Section[T any] struct {
	Value T
	// Problem is empty when Value is good, otherwise one line such as
	// "CloudWatch: AccessDenied on DescribeAlarms".
	Problem string
}

// OK reports whether the section was gathered.
func (s Section[T]) OK() bool { return s.Problem == "" }

// StatusReport is the answer to /status <env>.
type StatusReport struct {
	Env string
	// At is when the report was made; GatheredAt, when set, when its AWS, GitHub and
	// health sections were read: a coalesced read's time, earlier than At when the read
	// is shared (zero: read for this report).
	At         time.Time
	GatheredAt time.Time
	// Credentials, when set, is why the environment's AWS identity could not be had
	// (a *CredentialsError's summary), said once: the sections it stopped say only
	// that they were not read for it.
	Credentials string
	Functions   Section[[]FunctionStatus]
	Alarms      Section[[]Alarm]
	Health      Section[HealthResult]
	LastGood    Section[*Deploy]
	Incidents   Section[[]Incident]
	Jobs        Section[[]Job]
}

// FunctionReader reads the state of an environment's Lambda functions.
//
// Functions returns errors that implement Summarizer where it can.
type FunctionReader interface {
	Functions(ctx context.Context, env Environment) ([]FunctionStatus, error)
}

// AlarmReader lists the alarms of an environment that are in ALARM.
type AlarmReader interface {
	AlarmsFiring(ctx context.Context, env Environment) ([]Alarm, error)
}

// HealthChecker calls an environment's health endpoint.
type HealthChecker interface {
	CheckHealth(ctx context.Context, env Environment) (HealthResult, error)
}

// DeployHistory finds an environment's deploys. LastSuccessfulDeploy returns nil and
// no error when the environment has never been deployed.
type DeployHistory interface {
	LastSuccessfulDeploy(ctx context.Context, env Environment) (*Deploy, error)
}

// IncidentReader lists an environment's open incidents, most severe and newest first
// (none for an unknown environment). Its only errors are the store's.
type IncidentReader interface {
	OpenIncidents(ctx context.Context, env string) ([]Incident, error)
}

// JobReader lists an environment's pending and running jobs (none for an unknown
// environment). Its only errors are the store's.
type JobReader interface {
	RunningJobs(ctx context.Context, env string) ([]Job, error)
}

// Summarizer is implemented by errors that can say in one line what failed, for
// example "CloudWatch: AccessDenied on DescribeAlarms".
type Summarizer interface {
	Summary() string
}

// CredentialsError is an environment's AWS identity that could not be had: assuming
// its role (aws.role_arn) failed, so no call of that environment was made. Adapters
// return it in place of the error of the call that needed the credentials, so that
// people are told about the role once, not about each call it stopped.
type CredentialsError struct {
	Env  string
	Role string
	// Cause is STS's answer in one line ("AccessDenied: User … is not authorized to
	// perform: sts:AssumeRole on resource …").
	Cause string
	Err   error
}

func (e *CredentialsError) Error() string { return e.Summary() }

// Unwrap returns the SDK's error.
func (e *CredentialsError) Unwrap() error { return e.Err }

// Summary says which role could not be assumed for which environment, and why.
func (e *CredentialsError) Summary() string {
	return fmt.Sprintf("assuming role %s for %s failed: %s", e.Role, e.Env, Redact(firstLine(e.Cause, 300)))
}

// UnknownEnvironmentError is returned for an environment the config does not have.
type UnknownEnvironmentError struct {
	Name  string
	Valid []string
}

func (e *UnknownEnvironmentError) Error() string {
	return fmt.Sprintf("unknown environment %q; valid environments: %s", e.Name, strings.Join(e.Valid, ", "))
}

// Environments is the configured set of environments, looked up by name.
type Environments struct {
	byName map[string]Environment
	names  []string
}

// NewEnvironments indexes envs by name. Names must be unique and non-empty.
func NewEnvironments(envs []Environment) (*Environments, error) {
	e := &Environments{byName: map[string]Environment{}}
	for _, env := range envs {
		if env.Name == "" {
			return nil, errors.New("environment without a name")
		}
		if _, dup := e.byName[env.Name]; dup {
			return nil, fmt.Errorf("environment %q defined twice", env.Name)
		}
		e.byName[env.Name] = env
		e.names = append(e.names, env.Name)
	}
	sort.Strings(e.names)
	return e, nil
}

// Get returns the named environment or an *UnknownEnvironmentError.
func (e *Environments) Get(name string) (Environment, error) {
	env, ok := e.byName[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Environment{}, &UnknownEnvironmentError{Name: name, Valid: e.Names()}
	}
	return env, nil
}

// Names lists the environment names in order.
func (e *Environments) Names() []string { return append([]string(nil), e.names...) }

// StatusSources are what a StatusService reads from. Every field is required.
type StatusSources struct {
	Functions FunctionReader
	Alarms    AlarmReader
	Health    HealthChecker
	Deploys   DeployHistory
	Incidents IncidentReader
	Jobs      JobReader
}

// StatusService answers /status: it gathers each section in parallel, each under its
// own timeout, so one slow or failing source never hides the others. Coalescing (see
// WithFreshness), identical asks share one read of AWS, GitHub and the health endpoint.
type StatusService struct {
	envs    *Environments
	src     StatusSources
	timeout time.Duration
	now     func() time.Time
	// coalesce makes asks of one environment share reads: the one in flight, and a
	// finished one for freshness.
	coalesce  bool
	freshness time.Duration
	mu        sync.Mutex
	reads     map[string]*externalRead
}

// externalRead is one read of an environment's AWS, GitHub and health sections, in
// flight until done is closed.
type externalRead struct {
	done chan struct{}
	at   time.Time
	r    StatusReport // its Functions, Alarms, Health, LastGood and Credentials
}

// StatusOption tunes a StatusService.
type StatusOption func(*StatusService)

// WithFreshness makes asks of one environment share their reads of AWS, GitHub and the
// health endpoint: asks while a read is in flight wait for it, and asks within
// freshness of a finished read get it again (the report's GatheredAt says how old).
// Zero shares only the reads in flight. The incidents and jobs are read at every ask.
func WithFreshness(freshness time.Duration) StatusOption {
	return func(s *StatusService) { s.coalesce, s.freshness = true, max(freshness, 0) }
}

// NewStatusService returns a StatusService. timeout bounds each section; now is the clock.
func NewStatusService(envs *Environments, src StatusSources, timeout time.Duration, now func() time.Time, opts ...StatusOption) (*StatusService, error) {
	if src.Functions == nil || src.Alarms == nil || src.Health == nil || src.Deploys == nil || src.Incidents == nil || src.Jobs == nil {
		return nil, errors.New("status service: every source is required")
	}
	if timeout <= 0 {
		return nil, errors.New("status service: timeout must be positive")
	}
	s := &StatusService{envs: envs, src: src, timeout: timeout, now: now, reads: map[string]*externalRead{}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Status gathers the report of the named environment. It fails only for an unknown
// environment (*UnknownEnvironmentError); a failing source shows as that section's Problem.
func (s *StatusService) Status(ctx context.Context, name string) (StatusReport, error) {
	env, err := s.envs.Get(name)
	if err != nil {
		return StatusReport{}, err
	}
	at := s.now()
	var incidents Section[[]Incident]
	var jobs Section[[]Job]
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		incidents = gather(ctx, s.timeout, "Incidents", func(ctx context.Context) ([]Incident, error) {
			return s.src.Incidents.OpenIncidents(ctx, env.Name)
		})
	}()
	go func() {
		defer wg.Done()
		jobs = gather(ctx, s.timeout, "Jobs", func(ctx context.Context) ([]Job, error) {
			return s.src.Jobs.RunningJobs(ctx, env.Name)
		})
	}()
	var r StatusReport
	if s.coalesce {
		r = s.shared(ctx, env)
	} else {
		r = s.external(ctx, env)
	}
	wg.Wait()
	r.Env, r.At, r.Incidents, r.Jobs = env.Name, at, incidents, jobs
	return r, nil
}

// shared returns env's external sections from the read in flight, or from a finished
// one younger than the freshness, or from a new read that later asks share. The read
// runs for all its askers: one asker leaving does not cut it short.
func (s *StatusService) shared(ctx context.Context, env Environment) StatusReport {
	s.mu.Lock()
	read := s.reads[env.Name]
	if read != nil {
		select {
		case <-read.done:
			// Its age is that of its oldest data (a report built on shared reads may
			// hold some older than the report), never more than the freshness.
			if s.now().Sub(read.r.GatheredAt) >= s.freshness {
				read = nil // too old: read again
			}
		default: // in flight: wait for it
		}
	}
	if read == nil {
		read = &externalRead{done: make(chan struct{}), at: s.now()}
		s.reads[env.Name] = read
		s.mu.Unlock()
		read.r = s.external(context.WithoutCancel(ctx), env)
		if read.r.GatheredAt.IsZero() || read.at.Before(read.r.GatheredAt) {
			read.r.GatheredAt = read.at
		}
		close(read.done)
		return read.r
	}
	s.mu.Unlock()
	select {
	case <-read.done:
		return read.r
	case <-ctx.Done():
		p := Problem("Status", ctx.Err(), s.timeout)
		return StatusReport{Functions: Section[[]FunctionStatus]{Problem: p}, Alarms: Section[[]Alarm]{Problem: p},
			Health: Section[HealthResult]{Problem: p}, LastGood: Section[*Deploy]{Problem: p}}
	}
}

// external reads env's AWS, GitHub and health sections, in parallel.
func (s *StatusService) external(ctx context.Context, env Environment) StatusReport {
	var r StatusReport
	// Sources shared with diagnostics and previews (SharedReads) may answer from an
	// earlier read: the report says when its oldest was made.
	ctx, times := withReadTimes(ctx)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		r.Functions = gather(ctx, s.timeout, "Lambda", func(ctx context.Context) ([]FunctionStatus, error) {
			return s.src.Functions.Functions(ctx, env)
		})
	}()
	go func() {
		defer wg.Done()
		r.Alarms = gather(ctx, s.timeout, "CloudWatch", func(ctx context.Context) ([]Alarm, error) {
			return s.src.Alarms.AlarmsFiring(ctx, env)
		})
	}()
	go func() {
		defer wg.Done()
		r.Health = gather(ctx, s.timeout, "Health", func(ctx context.Context) (HealthResult, error) {
			return s.src.Health.CheckHealth(ctx, env)
		})
	}()
	go func() {
		defer wg.Done()
		r.LastGood = gather(ctx, s.timeout, "GitHub", func(ctx context.Context) (*Deploy, error) {
			return s.src.Deploys.LastSuccessfulDeploy(ctx, env)
		})
	}()
	wg.Wait()
	r.Credentials = credentialProblems(&r.Functions.Problem, &r.Alarms.Problem, &r.Health.Problem)
	r.GatheredAt = times.Oldest()
	return r
}

// credentialProblems finds the sections a *CredentialsError stopped (gather gives them
// its summary, marked), replaces each by a short line that points up, and returns the
// summary to say once; "" when none.
func credentialProblems(problems ...*string) string {
	first := ""
	for _, p := range problems {
		rest, ok := strings.CutPrefix(*p, credentialsMark)
		if !ok {
			continue
		}
		if first == "" {
			first = rest
		}
		*p = "not read: the environment's AWS role could not be assumed (see above)"
	}
	return first
}

// credentialsMark prefixes, inside Status only, the Problem of a section a
// *CredentialsError stopped.
const credentialsMark = "\x00credentials\x00"

// gather runs f under its own timeout and turns a failure into a one-line Problem. It
// returns when the timeout passes even if f does not honour its context.
func gather[T any](ctx context.Context, timeout time.Duration, source string, f func(context.Context) (T, error)) Section[T] {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	select {
	case res := <-done:
		var cred *CredentialsError
		switch {
		case errors.As(res.err, &cred):
			return Section[T]{Problem: credentialsMark + cred.Summary()}
		case res.err != nil:
			return Section[T]{Problem: Problem(source, res.err, timeout)}
		}
		return Section[T]{Value: res.v}
	case <-ctx.Done():
		return Section[T]{Problem: Problem(source, ctx.Err(), timeout)}
	}
}

// Problem turns err from source into the one line people see in Slack. It never
// includes more than the error's summary, so a credential inside a raw error message
// cannot reach a channel through it when the source implements Summarizer.
func Problem(source string, err error, timeout time.Duration) string {
	var sum Summarizer
	switch {
	case errors.As(err, &sum):
		s := sum.Summary()
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Sprintf("%s: no answer within %s (%s)", source, timeout, s)
		}
		return s
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s: no answer within %s", source, timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Sprintf("%s: cancelled", source)
	default:
		return fmt.Sprintf("%s: %s", source, firstLine(err.Error(), 200))
	}
}

func firstLine(s string, max int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
