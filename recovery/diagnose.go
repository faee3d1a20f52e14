package recovery

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// DiagnosticID names one diagnostic an alert can carry.
type DiagnosticID string

// The diagnostics of the runbook's scenarios.
const (
	DiagFailedStep       DiagnosticID = "failed-step"
	DiagTestFailures     DiagnosticID = "test-failures"
	DiagLogExcerpt       DiagnosticID = "log-excerpt"
	DiagCommit           DiagnosticID = "commit"
	DiagTerraformError   DiagnosticID = "terraform-error"
	DiagEnvResources     DiagnosticID = "env-resources"
	DiagTestArtifacts    DiagnosticID = "test-artifacts"
	DiagSecretsReadable  DiagnosticID = "secrets-readable"
	DiagRollbackProgress DiagnosticID = "rollback-progress"
	DiagLambdaStates     DiagnosticID = "lambda-states"
	DiagLastGood         DiagnosticID = "last-good"
	DiagKnownGood        DiagnosticID = "known-good"
	DiagHealth           DiagnosticID = "health"
	DiagAlarms           DiagnosticID = "alarms"
	DiagErrorLogs        DiagnosticID = "error-logs"
	DiagLockState        DiagnosticID = "lock-state"
	DiagLockHolder       DiagnosticID = "lock-holder"
	DiagStuck            DiagnosticID = "stuck"
	DiagSecretErrors     DiagnosticID = "secret-errors"
	DiagSecretsList      DiagnosticID = "secrets-list"
	DiagIAMPolicy        DiagnosticID = "iam-policy"
	DiagAlarmHistory     DiagnosticID = "alarm-history"
	DiagAlarmDetail      DiagnosticID = "alarm-detail"
)

// Finding is what one diagnostic found, ready to show.
type Finding struct {
	Diagnostic DiagnosticID
	Title      string
	// Lines are short plain-text lines for the alert itself.
	Lines []string `json:",omitempty"`
	// Bad marks a finding that shows trouble.
	Bad bool `json:",omitempty"`
	// Detail is long preformatted text (a log excerpt) for the alert's thread,
	// already redacted; DetailTitle heads it.
	Detail      string `json:",omitempty"`
	DetailTitle string `json:",omitempty"`
	// Link points to where the full picture is (a job's log, a run's artifacts).
	Link     string `json:",omitempty"`
	LinkText string `json:",omitempty"`
	// Problem is one line saying why the diagnostic could not run.
	Problem string `json:",omitempty"`

	// Facts the engine keeps on the incident.
	Cause    Cause      `json:",omitempty"`
	Lock     *StateLock `json:",omitempty"`
	GoodSHA  string     `json:",omitempty"`
	GoodSHAs []string   `json:",omitempty"`
}

// DiagSources are what diagnostics read from. Every field is required.
type DiagSources struct {
	Runs    RunReader
	History RunHistory
	Env     EnvReader
	// Records reads logs, alarm history and state locks.
	Records   EnvHistory
	Functions FunctionReader
	Alarms    AlarmReader
	Health    HealthChecker
}

// diagInput is what one gathering knows: the incident and lazily fetched data shared
// by the diagnostics that need it (the job's log is downloaded once).
type diagInput struct {
	env      Environment
	incident Incident
	run      *Run
	job      *JobInfo
	alarm    *Alarm
	now      time.Time
	rollback string

	log     func() (JobLog, error)
	jobs    func() ([]JobInfo, error)
	fullRun func() (Run, error)
	deploys func() ([]Deploy, error)
	// fetchedRun reports the run fullRun read from GitHub, if it did.
	fetchedRun func() (Run, error)
}

type diagnostic struct {
	title string
	run   func(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error)
}

// Diagnoser gathers a scenario's diagnostics in parallel, each under its own timeout.
type Diagnoser struct {
	src      DiagSources
	timeout  time.Duration
	now      func() time.Time
	rollback string
	registry map[DiagnosticID]diagnostic
}

// NewDiagnoser returns a Diagnoser. timeout bounds each diagnostic; rollbackJob names
// the pipeline's rollback job. It fails when a scenario names an unknown diagnostic
// or action.
func NewDiagnoser(src DiagSources, timeout time.Duration, rollbackJob string, now func() time.Time) (*Diagnoser, error) {
	if missing := missingFields(map[string]bool{"Runs": src.Runs == nil, "History": src.History == nil, "Env": src.Env == nil,
		"Records": src.Records == nil, "Functions": src.Functions == nil, "Alarms": src.Alarms == nil, "Health": src.Health == nil}); missing != "" {
		return nil, errors.New("diagnoser: every source is required; missing DiagSources." + missing)
	}
	if timeout <= 0 {
		return nil, errors.New("diagnoser: timeout must be positive")
	}
	if rollbackJob == "" {
		rollbackJob = DefaultRollbackJob
	}
	d := &Diagnoser{src: src, timeout: timeout, now: now, rollback: rollbackJob, registry: diagnostics()}
	if err := checkRegistries(d.registry); err != nil {
		return nil, err
	}
	return d, nil
}

// Gather runs the diagnostics of in's scenario in parallel and returns their findings
// in the scenario's order. A diagnostic that fails or times out gives a finding with a
// one-line Problem; it never holds the others back. log, when the caller already has
// the job's log, saves downloading it again.
func (d *Diagnoser) Gather(ctx context.Context, in Incident, env Environment, run *Run, job *JobInfo, alarm *Alarm, log *JobLog) []Finding {
	f, _ := d.GatherRun(ctx, in, env, run, job, alarm, log)
	return f
}

// GatherRun is Gather that also returns the run as the diagnostics read it in full
// (a webhook's job event carries only part of it), or nil when none read it.
func (d *Diagnoser) GatherRun(ctx context.Context, in Incident, env Environment, run *Run, job *JobInfo, alarm *Alarm, log *JobLog) ([]Finding, *Run) {
	sc, ok := scenarios[in.Scenario]
	if !ok {
		return nil, nil
	}
	di := &diagInput{env: env, incident: in, run: run, job: job, alarm: alarm, now: d.now(), rollback: d.rollback}
	// Shared fetches run under a context of their own bounded by the same timeout, so
	// whichever diagnostic asks first does not bind them to its own deadline.
	sharedCtx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	di.log = once(func() (JobLog, error) {
		if log != nil {
			return *log, nil
		}
		if job == nil || job.ID == 0 {
			return JobLog{}, errors.New("no job to read the log of")
		}
		return readJobLog(sharedCtx, d.src.Runs, job.ID)
	})
	di.jobs = once(func() ([]JobInfo, error) {
		if run == nil || run.ID == 0 {
			return nil, errors.New("no run")
		}
		return d.src.Runs.RunJobs(sharedCtx, run.ID)
	})
	fetched := false
	di.fullRun = once(func() (Run, error) {
		if run == nil || run.ID == 0 {
			return Run{}, errors.New("no run")
		}
		if run.CommitMessage != "" && !run.CreatedAt.IsZero() && run.Number != 0 {
			return *run, nil
		}
		fetched = true
		return d.src.Runs.Run(sharedCtx, run.ID)
	})
	di.fetchedRun = func() (Run, error) {
		r, err := di.fullRun()
		if err == nil && !fetched {
			return Run{}, errors.New("not fetched")
		}
		return r, err
	}
	di.deploys = once(func() ([]Deploy, error) { return d.src.History.SuccessfulDeploys(sharedCtx, env, 10) })

	out := make([]Finding, len(sc.Diagnostics))
	var wg sync.WaitGroup
	for i, id := range sc.Diagnostics {
		diag := d.registry[id]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sec := gather(ctx, d.timeout, diag.title, func(ctx context.Context) (Finding, error) { return diag.run(ctx, d, di) })
			f := sec.Value
			if !sec.OK() {
				f = Finding{Problem: sec.Problem}
			}
			f.Diagnostic, f.Title = id, diag.title
			out[i] = f
		}()
	}
	wg.Wait()
	if di.fetchedRun != nil {
		if r, err := di.fetchedRun(); err == nil {
			return out, &r
		}
	}
	return out, nil
}

// once memoizes f: the first call runs it, later calls get the same result.
func once[T any](f func() (T, error)) func() (T, error) {
	var (
		o   sync.Once
		v   T
		err error
	)
	return func() (T, error) {
		o.Do(func() { v, err = f() })
		return v, err
	}
}

// maxLines caps the lines of one finding in the alert.
const maxLines = 10

func capLines(lines []string) []string {
	if len(lines) <= maxLines {
		return lines
	}
	return append(lines[:maxLines-1:maxLines-1], fmt.Sprintf("…and %d more", len(lines)-maxLines+1))
}

func diagnostics() map[DiagnosticID]diagnostic {
	return map[DiagnosticID]diagnostic{
		DiagFailedStep:       {"Failed step", diagFailedStep},
		DiagTestFailures:     {"Failing tests", diagTestFailures},
		DiagLogExcerpt:       {"Log excerpt", diagLogExcerpt},
		DiagCommit:           {"Commit", diagCommit},
		DiagTerraformError:   {"Terraform error", diagTerraformError},
		DiagEnvResources:     {"Environment resources", diagEnvResources},
		DiagTestArtifacts:    {"Test results", diagTestArtifacts},
		DiagSecretsReadable:  {"Secrets", diagSecretsReadable},
		DiagRollbackProgress: {"Auto-rollback", diagRollbackProgress},
		DiagLambdaStates:     {"Lambda functions", diagLambdaStates},
		DiagLastGood:         {"Last known good", diagLastGood},
		DiagKnownGood:        {"Known good deploys", diagKnownGood},
		DiagHealth:           {"Health endpoint", diagHealth},
		DiagAlarms:           {"Alarms in ALARM", diagAlarms},
		DiagErrorLogs:        {"ERROR logs (last 10 minutes)", diagErrorLogs},
		DiagLockState:        {"Terraform lock table", diagLockState},
		DiagLockHolder:       {"State lock", diagLockHolder},
		DiagStuck:            {"Run progress", diagStuck},
		DiagSecretErrors:     {"Secret errors", diagSecretErrors},
		DiagSecretsList:      {"Secrets under the prefix", diagSecretsList},
		DiagIAMPolicy:        {"Deployer's Secrets Manager permissions", diagIAMPolicy},
		DiagAlarmHistory:     {"Alarm history", diagAlarmHistory},
		DiagAlarmDetail:      {"Alarm", diagAlarmDetail},
	}
}

func diagFailedStep(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	if in.job == nil {
		return Finding{}, errors.New("no job")
	}
	j := in.job
	f := Finding{Link: j.URL, LinkText: "job log", Bad: true}
	if s, ok := j.FailedStep(); ok {
		f.Lines = append(f.Lines, fmt.Sprintf("%s › step %d “%s” %s", j.Name, s.Number, s.Name, stepVerb(s)))
	} else {
		f.Lines = append(f.Lines, fmt.Sprintf("%s %s", j.Name, orWord(j.Conclusion, j.Status)))
	}
	if r, err := in.fullRun(); err == nil {
		f.Lines = append(f.Lines, fmt.Sprintf("%s run #%d, attempt %d", orWord(r.WorkflowName, r.Workflow), r.Number, max(r.Attempt, 1)))
	}
	return f, nil
}

func stepVerb(s StepInfo) string {
	if s.Failed() {
		return "failed"
	}
	return orWord(s.Conclusion, s.Status)
}

func orWord(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func diagTestFailures(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	log, err := in.log()
	if err != nil {
		return Finding{}, err
	}
	fails := PytestFailures(log.Text)
	f := Finding{Detail: Excerpt(log.Text, 40), DetailTitle: "Log excerpt", Link: log.URL, LinkText: "full log", Bad: len(fails) > 0}
	for _, tf := range fails {
		line := tf.ID
		if tf.Reason != "" {
			line += " — " + tf.Reason
		}
		f.Lines = append(f.Lines, line)
	}
	if len(fails) == 0 {
		f.Lines = []string{"no failing test named in the log (see the excerpt)"}
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func diagLogExcerpt(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	log, err := in.log()
	if err != nil {
		return Finding{}, err
	}
	ex := Excerpt(log.Text, 40)
	f := Finding{Detail: ex, DetailTitle: "Log excerpt", Link: log.URL, LinkText: "full log"}
	lines := strings.Split(ex, "\n") // never empty
	last := lines[len(lines)-1]
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "rror") {
			last = lines[i]
			break
		}
	}
	f.Lines = []string{cutText(last, 200)}
	return f, nil
}

func diagCommit(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	r, err := in.fullRun()
	if err != nil {
		return Finding{}, err
	}
	subject, _, _ := strings.Cut(r.CommitMessage, "\n")
	line := fmt.Sprintf("%s %s", shortSHA(r.HeadSHA), cutText(Redact(subject), 120))
	if r.CommitAuthor != "" {
		line += " — by " + r.CommitAuthor
	}
	f := Finding{Lines: []string{line}, Link: r.URL, LinkText: "run"}
	if r.HeadBranch != "" {
		f.Lines = append(f.Lines, "branch "+r.HeadBranch+", triggered by "+orWord(r.Actor, r.Event))
	}
	for _, pr := range r.PullRequests {
		f.Lines = append(f.Lines, fmt.Sprintf("pull request #%d", pr))
	}
	return f, nil
}

func diagTerraformError(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	log, err := in.log()
	if err != nil {
		return Finding{}, err
	}
	errs := TerraformErrors(log.Text)
	cause := LikelyCause(log.Text)
	f := Finding{Cause: cause, Link: log.URL, LinkText: "full log", DetailTitle: "Terraform error", Bad: true}
	if len(errs) == 0 {
		f.Lines = []string{"no Terraform error block in the log"}
		f.Detail = Excerpt(log.Text, 30)
		f.DetailTitle = "Log excerpt"
		f.Bad = false
		return f, nil
	}
	first, _, _ := strings.Cut(errs[0], "\n")
	f.Lines = append(f.Lines, cutText(first, 200))
	if cause != CauseNone {
		f.Lines = append(f.Lines, "Likely cause: "+string(cause))
	}
	if lock, ok := ParseStateLock(log.Text); ok {
		f.Lock = &lock
		f.Lines = append(f.Lines, lockLine(lock, in.now))
	}
	f.Detail = strings.Join(errs[:min(len(errs), 3)], "\n\n")
	return f, nil
}

func lockLine(l StateLock, now time.Time) string {
	s := "Lock " + l.ID
	if l.Who != "" {
		s += " held by " + l.Who
	}
	if l.Operation != "" {
		s += " for " + l.Operation
	}
	if !l.Created.IsZero() {
		s += fmt.Sprintf(" since %s (%s)", l.Created.UTC().Format("15:04 UTC"), age(now, l.Created))
	}
	return s
}

func diagEnvResources(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	env := in.env
	var (
		mu    sync.Mutex
		lines [3][]string // the table's, the functions', the bucket's: in that order
		bad   bool
	)
	add := func(order int, l string, isBad bool) {
		mu.Lock()
		defer mu.Unlock()
		lines[order] = append(lines[order], l)
		bad = bad || isBad
	}
	var wg sync.WaitGroup
	if env.Table != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t, err := d.src.Env.Table(ctx, env, env.Table)
			switch {
			case err != nil:
				add(0, "DynamoDB "+env.Table+": "+oneLine(err), true)
			case !t.Exists:
				add(0, "DynamoDB "+env.Table+": does not exist", true)
			default:
				add(0, fmt.Sprintf("DynamoDB %s: %s", env.Table, t.Status), t.Status != "ACTIVE")
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		fns, err := d.src.Functions.Functions(ctx, env)
		if err != nil {
			add(1, "Lambda: "+oneLine(err), true)
			return
		}
		for _, fn := range fns {
			add(1, fmt.Sprintf("Lambda %s: %s", fn.Name, functionLine(fn)), fn.State != "Active")
		}
	}()
	if env.ArtifactsBucket != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := d.src.Env.BucketExists(ctx, env, env.ArtifactsBucket)
			switch {
			case err != nil:
				add(2, "S3 "+env.ArtifactsBucket+": "+oneLine(err), true)
			case ok:
				add(2, "S3 "+env.ArtifactsBucket+": exists", false)
			default:
				add(2, "S3 "+env.ArtifactsBucket+": does not exist", true)
			}
		}()
	}
	wg.Wait()
	f := Finding{Bad: bad}
	// A lookup that failed is a line saying so: the others still show.
	for _, l := range lines {
		f.Lines = append(f.Lines, l...)
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func functionLine(fn FunctionStatus) string {
	s := orWord(fn.State, "unknown")
	if fn.StateReason != "" && fn.State != "Active" {
		s += " (" + fn.StateReason + ")"
	}
	if fn.LastUpdateStatus != "" && fn.LastUpdateStatus != "Successful" {
		s += ", last update " + fn.LastUpdateStatus
	}
	if fn.Version != "" {
		s += ", version " + shortSHA(fn.Version)
	}
	return s
}

func diagTestArtifacts(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	if in.run == nil || in.run.ID == 0 {
		return Finding{}, errors.New("no run")
	}
	arts, err := d.src.Runs.RunArtifacts(ctx, in.run.ID)
	if err != nil {
		return Finding{}, err
	}
	f := Finding{}
	if in.run.URL != "" {
		f.Link, f.LinkText = in.run.URL+"#artifacts", "artifacts"
	}
	for _, a := range arts {
		l := fmt.Sprintf("%s (%s)", a.Name, sizeText(a.Size))
		if a.Expired {
			l += ", expired"
		}
		f.Lines = append(f.Lines, l)
	}
	if len(arts) == 0 {
		f.Lines = []string{"the run uploaded no artifacts"}
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func diagSecretsReadable(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	if in.env.SecretsPrefix == "" {
		return Finding{Lines: []string{"no secrets prefix configured for " + in.env.Name}}, nil
	}
	secrets, err := d.src.Env.Secrets(ctx, in.env, in.env.SecretsPrefix)
	if err != nil {
		return Finding{}, err
	}
	f := Finding{}
	for _, s := range secrets {
		if s.Readable {
			l := s.Name + ": readable"
			if !s.LastChanged.IsZero() {
				l += ", changed " + age(in.now, s.LastChanged)
			}
			f.Lines = append(f.Lines, l)
		} else {
			f.Bad = true
			f.Lines = append(f.Lines, s.Name+": NOT readable ("+orWord(s.Problem, "refused")+")")
		}
	}
	if len(secrets) == 0 {
		f.Bad = true
		f.Lines = []string{"no secret found under " + in.env.SecretsPrefix}
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func diagRollbackProgress(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	jobs, err := in.jobs()
	if err != nil {
		return Finding{}, err
	}
	for _, j := range jobs {
		if j.Name != in.rollback {
			continue
		}
		f := Finding{Link: j.URL, LinkText: "rollback job"}
		switch {
		case j.Status == "completed" && j.Conclusion == "success":
			f.Lines = []string{in.rollback + " succeeded"}
		case j.Status == "completed" && j.Conclusion == "skipped":
			f.Lines = []string{in.rollback + " was skipped"}
		case j.Status == "completed":
			f.Bad = true
			f.Lines = []string{in.rollback + " " + j.Conclusion}
		default:
			l := in.rollback + " " + strings.ReplaceAll(j.Status, "_", " ")
			if s, ok := j.FailedStep(); ok {
				l += fmt.Sprintf(" (step %d “%s”)", s.Number, s.Name)
			}
			f.Lines = []string{l}
		}
		if s, ok := j.FailedStep(); ok && s.Failed() {
			f.Lines = append(f.Lines, fmt.Sprintf("failed at step %d “%s”", s.Number, s.Name))
		}
		return f, nil
	}
	return Finding{Lines: []string{in.rollback + " has not started"}}, nil
}

func diagLambdaStates(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	fns, err := d.src.Functions.Functions(ctx, in.env)
	if err != nil {
		return Finding{}, err
	}
	f := Finding{}
	for _, fn := range fns {
		f.Lines = append(f.Lines, fn.Name+": "+functionLine(fn))
		if fn.State != "Active" || (fn.LastUpdateStatus != "" && fn.LastUpdateStatus != "Successful") {
			f.Bad = true
		}
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func diagLastGood(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	deploys, err := in.deploys()
	if err != nil {
		return Finding{}, err
	}
	for _, dep := range deploys {
		if dep.SHA == in.incident.SHA {
			continue
		}
		return Finding{GoodSHA: dep.SHA, Link: dep.URL, LinkText: "run",
			Lines: []string{fmt.Sprintf("%s deployed %s (%s)", shortSHA(dep.SHA), dep.At.UTC().Format("2006-01-02 15:04 UTC"), age(in.now, dep.At))}}, nil
	}
	return Finding{Bad: true, Lines: []string{"no earlier successful deploy of " + in.env.Name + " found"}}, nil
}

func diagKnownGood(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	deploys, err := in.deploys()
	if err != nil {
		return Finding{}, err
	}
	f := Finding{}
	for _, dep := range deploys {
		if dep.SHA == in.incident.SHA {
			continue
		}
		if f.GoodSHA == "" {
			f.GoodSHA = dep.SHA
		}
		f.GoodSHAs = append(f.GoodSHAs, dep.SHA)
		f.Lines = append(f.Lines, fmt.Sprintf("%s %s (%s)", shortSHA(dep.SHA), dep.At.UTC().Format("2006-01-02 15:04 UTC"), age(in.now, dep.At)))
		if len(f.Lines) == 5 {
			break
		}
	}
	if len(f.Lines) == 0 {
		f.Bad = true
		f.Lines = []string{"no successful deploy of " + in.env.Name + " on record"}
	}
	return f, nil
}

func diagHealth(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	h, err := d.src.Health.CheckHealth(ctx, in.env)
	if err != nil {
		return Finding{}, err
	}
	f := Finding{Bad: !h.Healthy(), Lines: []string{fmt.Sprintf("HTTP %d in %s", h.StatusCode, max(h.Latency.Round(time.Millisecond), time.Millisecond))}}
	if h.Body != "" {
		f.Lines = append(f.Lines, cutText(h.Body, 300))
	}
	return f, nil
}

func diagAlarms(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	alarms, err := d.src.Alarms.AlarmsFiring(ctx, in.env)
	if err != nil {
		return Finding{}, err
	}
	f := Finding{Bad: len(alarms) > 0}
	for _, a := range alarms {
		f.Lines = append(f.Lines, fmt.Sprintf("%s since %s (%s)", a.Name, a.Since.UTC().Format("15:04 UTC"), age(in.now, a.Since)))
	}
	if len(alarms) == 0 {
		f.Lines = []string{"none in ALARM with prefix " + in.env.AlarmPrefix}
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func diagErrorLogs(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	since := in.now.Add(-10 * time.Minute)
	type res struct {
		fn     string
		events []LogEvent
		err    error
	}
	results := make([]res, len(in.env.Functions))
	var wg sync.WaitGroup
	for i, fn := range in.env.Functions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := d.src.Records.LogEvents(ctx, in.env, "/aws/lambda/"+fn, "ERROR", since, 20)
			results[i] = res{fn, ev, err}
		}()
	}
	wg.Wait()
	f := Finding{DetailTitle: "ERROR events, last 10 minutes"}
	type line struct {
		at   time.Time
		text string
	}
	var all []line
	failed := 0
	for _, r := range results {
		switch {
		case r.err != nil:
			failed++
			f.Lines = append(f.Lines, r.fn+": "+oneLine(r.err))
		case len(r.events) > 0:
			f.Bad = true
			f.Lines = append(f.Lines, fmt.Sprintf("%s: %s", r.fn, plural(len(r.events), "ERROR event")))
			for _, e := range r.events {
				msg, _, _ := strings.Cut(strings.TrimSpace(e.Message), "\n")
				all = append(all, line{e.At, fmt.Sprintf("%s %s %s", e.At.UTC().Format("15:04:05"), r.fn, cutText(msg, 300))})
			}
		}
	}
	if failed == len(results) && failed > 0 {
		return Finding{}, results[0].err
	}
	if len(all) == 0 && failed == 0 {
		f.Lines = []string{"no ERROR events in the last 10 minutes"}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	if len(all) > 15 {
		all = all[len(all)-15:]
	}
	var detail []string
	for _, l := range all {
		detail = append(detail, l.text)
	}
	f.Detail = Redact(strings.Join(detail, "\n"))
	return f, nil
}

func diagLockState(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	if in.env.LockTable == "" {
		return Finding{Lines: []string{"no lock table configured for " + in.env.Name}}, nil
	}
	locks, err := d.src.Records.StateLocks(ctx, in.env, in.env.LockTable)
	if err != nil {
		return Finding{}, err
	}
	if len(locks) == 0 {
		return Finding{Lines: []string{"no lock held in " + in.env.LockTable}}, nil
	}
	f := Finding{Bad: true}
	for _, l := range locks {
		f.Lines = append(f.Lines, lockLine(l, in.now))
	}
	if len(locks) == 1 {
		l := locks[0]
		f.Lock = &l
	}
	return f, nil
}

func diagLockHolder(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	log, err := in.log()
	if err != nil {
		return Finding{}, err
	}
	lock, ok := ParseStateLock(log.Text)
	if !ok {
		return Finding{Lines: []string{"no state lock error in the log"}}, nil
	}
	if lock.Who == "" && in.env.LockTable != "" {
		// The HTTP backend names only the holder's ID; the lock table has the rest.
		if locks, err := d.src.Records.StateLocks(ctx, in.env, in.env.LockTable); err == nil {
			for _, l := range locks {
				if l.ID == lock.ID {
					lock = l
				}
			}
		}
	}
	f := Finding{Bad: true, Lock: &lock, Link: log.URL, LinkText: "job log",
		Lines: []string{"Lock ID (holder): " + lock.ID}}
	if lock.Who != "" {
		f.Lines = append(f.Lines, "Held by "+lock.Who)
	}
	if lock.Operation != "" {
		f.Lines = append(f.Lines, "Operation "+lock.Operation)
	}
	if !lock.Created.IsZero() {
		f.Lines = append(f.Lines, fmt.Sprintf("Held since %s (%s)", lock.Created.UTC().Format("2006-01-02 15:04 UTC"), age(in.now, lock.Created)))
	}
	if lock.Path != "" {
		f.Lines = append(f.Lines, "State "+lock.Path)
	}
	if lock.Who == "" {
		// The HTTP backend names only the holder's ID, and its protocol has no way to
		// read a lock without taking it: say when the lock was seen held, and which
		// running jobs may hold it.
		if at, ok := lockErrorTime(log.Text); ok {
			f.Lines = append(f.Lines, fmt.Sprintf("Seen held at %s (%s) by this job's terraform; the HTTP backend names only the holder's ID",
				at.UTC().Format("15:04 UTC"), age(in.now, at)))
		}
		f.Lines = append(f.Lines, d.possibleHolders(ctx, in)...)
	}
	return f, nil
}

// lockErrorTime reads when Terraform reported the state lock held: the GitHub Actions
// timestamp of the log's "Error acquiring the state lock" line.
func lockErrorTime(text string) (time.Time, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.Contains(line, "Error acquiring the state lock") {
			continue
		}
		stamp, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
			return t, true
		}
		return time.Time{}, false
	}
	return time.Time{}, false
}

// possibleHolders lists the jobs of other runs of the environment's deploy workflow
// (and of the failed run's workflow) running now: one of them may hold the state lock.
// With none, the holder may have died.
func (d *Diagnoser) possibleHolders(ctx context.Context, in *diagInput) []string {
	var workflows []string
	for _, wf := range []string{in.env.DeployWorkflow, orWord(in.incident.Workflow, runWorkflow(in.run))} {
		if wf != "" && !slices.Contains(workflows, wf) {
			workflows = append(workflows, wf)
		}
	}
	var lines []string
	for _, wf := range workflows {
		runs, err := d.src.History.RecentRuns(ctx, wf, in.now.Add(-24*time.Hour))
		if err != nil {
			lines = append(lines, "Running jobs of "+wf+" not read: "+oneLine(err))
			continue
		}
		for _, r := range runs {
			if r.Status == "completed" || (in.run != nil && r.ID == in.run.ID) {
				continue
			}
			jobs, err := d.src.Runs.RunJobs(ctx, r.ID)
			if err != nil {
				continue
			}
			for _, j := range jobs {
				if j.Status != "in_progress" {
					continue
				}
				l := fmt.Sprintf("Possibly held by run %d (%s): job %s", r.ID, wf, j.Name)
				if st, ok := j.FailedStep(); ok {
					l += " at step " + st.Name
				}
				if !j.StartedAt.IsZero() {
					l += fmt.Sprintf(", running since %s (%s)", j.StartedAt.UTC().Format("15:04 UTC"), age(in.now, j.StartedAt))
				}
				lines = append(lines, l)
			}
		}
	}
	if len(lines) == 0 {
		lines = append(lines, fmt.Sprintf("No other run of %s is running: the holder may have died (a cancelled or killed job); force-unlock once you are sure nobody applies",
			strings.Join(workflows, " or ")))
	}
	return lines
}

func runWorkflow(r *Run) string {
	if r == nil {
		return ""
	}
	return r.Workflow
}

func diagStuck(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	r, err := in.fullRun()
	if err != nil {
		return Finding{}, err
	}
	started := r.StartedAt
	if started.IsZero() {
		started = r.CreatedAt
	}
	f := Finding{Bad: true, Link: r.URL, LinkText: "run",
		Lines: []string{fmt.Sprintf("%s for %s (since %s)", strings.ReplaceAll(orWord(r.Status, "running"), "_", " "), duration(in.now.Sub(started)), started.UTC().Format("15:04 UTC"))}}
	jobs, err := in.jobs()
	if err != nil {
		f.Lines = append(f.Lines, "jobs: "+oneLine(err))
		return f, nil
	}
	for _, j := range jobs {
		if j.Status != "in_progress" && j.Status != "queued" && j.Status != "waiting" {
			continue
		}
		l := "Current job: " + j.Name + " (" + strings.ReplaceAll(j.Status, "_", " ")
		if !j.StartedAt.IsZero() {
			l += " for " + duration(in.now.Sub(j.StartedAt))
		}
		l += ")"
		if s, ok := j.FailedStep(); ok {
			l += fmt.Sprintf(" › step %d “%s”", s.Number, s.Name)
		}
		f.Lines = append(f.Lines, l)
	}
	return f, nil
}

func diagSecretErrors(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	log, err := in.log()
	if err != nil {
		return Finding{}, err
	}
	errs := SecretErrors(log.Text)
	f := Finding{Link: log.URL, LinkText: "job log", Bad: len(errs) > 0}
	for _, e := range errs {
		l := e.Code
		if e.Secret != "" {
			l += " on " + e.Secret
		}
		if e.Principal != "" {
			l += " for " + e.Principal
		}
		f.Lines = append(f.Lines, l)
	}
	if len(errs) == 0 {
		f.Lines = []string{"no Secrets Manager error in the log"}
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func diagSecretsList(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	if in.env.SecretsPrefix == "" {
		return Finding{Lines: []string{"no secrets prefix configured for " + in.env.Name}}, nil
	}
	secrets, err := d.src.Env.Secrets(ctx, in.env, in.env.SecretsPrefix)
	if err != nil {
		return Finding{}, err
	}
	f := Finding{}
	for _, s := range secrets {
		f.Lines = append(f.Lines, s.Name)
	}
	if len(secrets) == 0 {
		f.Bad = true
		f.Lines = []string{"no secret under " + in.env.SecretsPrefix}
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func diagIAMPolicy(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	if in.env.DeployerUser == "" || in.env.DeployerPolicy == "" {
		return Finding{Lines: []string{"no deployer user/policy configured for " + in.env.Name}}, nil
	}
	stmts, err := d.src.Env.UserPolicy(ctx, in.env, in.env.DeployerUser, in.env.DeployerPolicy)
	if err != nil {
		return Finding{}, err
	}
	f := Finding{}
	covered := false
	for _, s := range stmts {
		var sm []string
		for _, a := range s.Actions {
			if a == "*" || strings.HasPrefix(strings.ToLower(a), "secretsmanager:") {
				sm = append(sm, a)
			}
		}
		if len(sm) == 0 {
			continue
		}
		f.Lines = append(f.Lines, fmt.Sprintf("%s %s on %s", s.Effect, strings.Join(sm, ", "), strings.Join(s.Resources, ", ")))
		if s.Effect == "Allow" && allowsRead(sm) && coversPrefix(s.Resources, in.env.SecretsPrefix) {
			covered = true
		}
	}
	if len(f.Lines) == 0 {
		f.Bad = true
		f.Lines = []string{in.env.DeployerPolicy + " of " + in.env.DeployerUser + " has no Secrets Manager statement"}
		return f, nil
	}
	if !covered && in.env.SecretsPrefix != "" {
		f.Bad = true
		f.Lines = append(f.Lines, fmt.Sprintf("No statement lets %s read secrets under %s", in.env.DeployerUser, in.env.SecretsPrefix))
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

// allowsRead reports whether actions include reading a secret's value.
func allowsRead(actions []string) bool {
	for _, a := range actions {
		switch strings.ToLower(a) {
		case "*", "secretsmanager:*", "secretsmanager:getsecretvalue", "secretsmanager:get*":
			return true
		}
	}
	return false
}

// coversPrefix reports whether one of an IAM statement's resource patterns matches a
// secret under prefix. Patterns use IAM's * and ? wildcards.
func coversPrefix(resources []string, prefix string) bool {
	for _, r := range resources {
		if r == "*" {
			return true
		}
		_, name, ok := strings.Cut(r, ":secret:")
		if !ok {
			continue
		}
		pat := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(name)) + "$"
		if re, err := regexp.Compile(pat); err == nil && re.MatchString(prefix+"x") {
			return true
		}
	}
	return false
}

func diagAlarmHistory(ctx context.Context, d *Diagnoser, in *diagInput) (Finding, error) {
	name := in.incident.AlarmName
	if in.alarm != nil {
		name = in.alarm.Name
	}
	if name == "" {
		return Finding{}, errors.New("no alarm")
	}
	items, err := d.src.Records.AlarmHistory(ctx, in.env, name, 10)
	if err != nil {
		return Finding{}, err
	}
	f := Finding{}
	for _, it := range items {
		f.Lines = append(f.Lines, fmt.Sprintf("%s %s: %s", it.At.UTC().Format("01-02 15:04"), it.Type, cutText(it.Summary, 160)))
	}
	if len(items) == 0 {
		f.Lines = []string{"no history"}
	}
	f.Lines = capLines(f.Lines)
	return f, nil
}

func diagAlarmDetail(_ context.Context, _ *Diagnoser, in *diagInput) (Finding, error) {
	if in.alarm == nil {
		if in.incident.AlarmName == "" {
			return Finding{}, errors.New("no alarm")
		}
		return Finding{Lines: []string{in.incident.AlarmName}}, nil
	}
	a := in.alarm
	f := Finding{Bad: a.State == "ALARM", Lines: []string{fmt.Sprintf("%s is %s since %s (%s)", a.Name, a.State, a.Since.UTC().Format("15:04 UTC"), age(in.now, a.Since))}}
	if a.Reason != "" {
		f.Lines = append(f.Lines, cutText(a.Reason, 300))
	}
	return f, nil
}

// oneLine is the one-line form of a diagnostic's error.
func oneLine(err error) string {
	var sum Summarizer
	if errors.As(err, &sum) {
		return sum.Summary()
	}
	return firstLine(err.Error(), 160)
}

func cutText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// age says how long ago t was, coarsely.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return duration(now.Sub(t)) + " ago"
}

func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
