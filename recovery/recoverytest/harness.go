package recoverytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/store/memstore"
)

// Start is the harness clock's time when a test begins (a Monday, 09:00 UTC).
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Store is what the harness's store keeps: every store interface of package recovery.
type Store interface {
	recovery.WorkClaimer
	recovery.IncidentStore
	recovery.SourceIndex
	recovery.IncidentLister
	recovery.Auditor
	recovery.AuditReader
	recovery.RequestStore
	recovery.RequestExpiry
	recovery.JobStore
	recovery.EnvSlots
	recovery.JobReader
	recovery.PlanStore
	recovery.PageStore
	recovery.EscalationQueue
}

// Harness is a real recovery.Engine over this package's fakes and an in-memory store
// (store/memstore), with its signal workers running: the runbook's environments,
// pipeline, escalation matrix and roles (RunbookEnvironments …), GitHub's deploy history holding GoodSHA
// (after OlderSHA) for every environment, healthy environments and no alarm. Its
// helpers drive the engine as medic's webhook, pollers, buttons and rounds do, and
// wait (real time, WaitTimeout) for what happens in the engine's goroutines.
//
// Time moves only with Advance; escalation rounds, request expiry and job recovery
// run only when a test calls Escalate, ExpireRequests or RecoverJobs.
type Harness struct {
	Engine *recovery.Engine
	// Deps are the engine's dependencies as built (Deps.Actions.Access …).
	Deps      recovery.EngineDeps
	Clock     *Clock
	Store     Store
	Publisher *Publisher
	// PagerDuty and SlackPager are the engine's pagers, named "pagerduty" and "slack".
	PagerDuty  *Pager
	SlackPager *Pager
	GitHub     *GitHub
	AWS        *AWS
	Health     *Health
	Terraform  *Terraform
	// Slack answers group membership (GroupMember is in OnCallGroup) and names.
	Slack *Directory

	claims *claimWatch
	wakes  atomic.Int64
	runs   atomic.Int64
	jobs   atomic.Int64
	marks  atomic.Int64
}

type config struct {
	actions, escalation, resolution bool
	deps                            []func(*recovery.EngineDeps)
}

// Option changes how New builds the harness.
type Option func(*config)

// WithoutActions builds the engine without recovery actions (EngineDeps.Actions nil).
func WithoutActions() Option { return func(c *config) { c.actions = false } }

// WithoutEscalation builds the engine without escalation (EngineDeps.Escalation nil).
func WithoutEscalation() Option { return func(c *config) { c.escalation = false } }

// WithoutResolution builds the engine without resolution (EngineDeps.Resolution nil).
func WithoutResolution() Option { return func(c *config) { c.resolution = false } }

// WithDeps changes the engine's dependencies before it is built: a fake of the
// test's own, another policy or matrix, a verification watch. Several apply in order.
func WithDeps(change func(*recovery.EngineDeps)) Option {
	return func(c *config) { c.deps = append(c.deps, change) }
}

// New builds a Harness and starts the engine's workers; the test's cleanup stops them
// and drains the engine's jobs.
func New(tb testing.TB, opts ...Option) *Harness {
	tb.Helper()
	cfg := config{actions: true, escalation: true, resolution: true}
	for _, o := range opts {
		o(&cfg)
	}
	clock := NewClock(Start)
	h := &Harness{
		Clock: clock, Publisher: NewPublisher(), GitHub: NewGitHub(), AWS: NewAWS(), Health: NewHealth(),
		Terraform: &Terraform{}, Slack: NewDirectory(),
		PagerDuty: NewPager("pagerduty", clock.Now), SlackPager: NewPager("slack", clock.Now),
	}
	h.Slack.SetGroup(OnCallGroup, GroupMember)
	h.Slack.SetGroup(DevOpsGroup, "U0DEVOPS")
	for _, env := range RunbookEnvironments() {
		h.GitHub.AddDeploy(env.Name, recovery.Deploy{RunID: 1, SHA: OlderSHA, Branch: "main", Workflow: env.DeployWorkflow, At: Start.Add(-48 * time.Hour),
			URL: "https://github.test/" + Repo + "/actions/runs/1"})
		h.GitHub.AddDeploy(env.Name, recovery.Deploy{RunID: 2, SHA: GoodSHA, Branch: "main", Workflow: env.DeployWorkflow, At: Start.Add(-24 * time.Hour),
			URL: "https://github.test/" + Repo + "/actions/runs/2"})
		h.AWS.SetVersion(env.Name, GoodSHA)
	}
	h.runs.Store(1000)

	st := memstore.New(clock.Now)
	h.Store = st
	h.claims = &claimWatch{WorkClaimer: st, ended: map[string]int{}}

	envs, err := recovery.NewEnvironments(RunbookEnvironments())
	if err != nil {
		tb.Fatalf("recoverytest: environments: %v", err)
	}
	pipeline := RunbookPipeline()
	diag, err := recovery.NewDiagnoser(recovery.DiagSources{Runs: h.GitHub, History: h.GitHub, Env: h.AWS, Records: h.AWS, Functions: h.AWS, Alarms: h.AWS, Health: h.Health},
		5*time.Second, pipeline.RollbackJob, clock.Now)
	if err != nil {
		tb.Fatalf("recoverytest: diagnoser: %v", err)
	}
	d := recovery.EngineDeps{
		Envs: envs, Pipeline: pipeline, Claims: h.claims, Incidents: st, Sources: st, Audit: st, Publisher: h.Publisher,
		Diagnoser: diag, Runs: h.GitHub, History: h.GitHub, Alarms: h.AWS, Health: h.Health, Commits: h.GitHub,
		Logger: zaptest.NewLogger(tb), Now: clock.Now, Clock: clock,
	}
	if cfg.actions {
		d.Actions = &recovery.ActionDeps{
			Access:   recovery.NewAccess(RunbookRoles(), h.Slack, 5*time.Minute, time.Hour, clock.Now),
			Policy:   RunbookPolicy(),
			Requests: st, Expiry: st, Views: h.Publisher, Jobs: st, Slots: st, Plans: st,
			Workflows: h.GitHub, Reverter: h.GitHub, Deploys: h.GitHub, Deployed: h.GitHub,
			Terraform: h.Terraform,
			Lambda:    h.AWS, Alarms: h.AWS, Tables: h.AWS, Functions: h.AWS, StateLocks: h.AWS,
			Previews: recovery.PreviewConfig{Workers: 2, Queue: 32, Timeout: WaitTimeout},
			Branch:   "main", Instance: "medic-test", JobLease: 30 * time.Second,
		}
	}
	if cfg.escalation {
		d.Escalation = &recovery.EscalationDeps{Policy: RunbookEscalation(), Pages: st, Due: st, Pagers: []recovery.Pager{h.SlackPager, h.PagerDuty},
			Wake: func() { h.wakes.Add(1) }}
	}
	if cfg.resolution {
		d.Resolution = &recovery.ResolutionDeps{Checklists: h.Publisher, Issues: h.GitHub, Labels: []string{"incident", "medic"}, Names: h.Slack}
	}
	for _, change := range cfg.deps {
		change(&d)
	}
	engine, err := recovery.NewEngine(d)
	if err != nil {
		tb.Fatalf("recoverytest: engine: %v", err)
	}
	h.Engine, h.Deps = engine, d

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); engine.Run(ctx, context.WithoutCancel(ctx)) }()
	tb.Cleanup(func() {
		cancel()
		<-done
		engine.DrainJobs(Grace(5 * time.Second))
	})
	return h
}

// Grace is a shutdown grace of d for DrainJobs: a context that is done after d.
func Grace(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	time.AfterFunc(d, cancel) // the deadline ends it anyway; cancel is called, as vet asks
	return ctx
}

// claimWatch is the engine's WorkClaimer, counting per key the handlings that ended:
// a claim refused (done already) or failed, work completed or released. The harness
// waits on it for a submitted signal to be handled.
type claimWatch struct {
	recovery.WorkClaimer
	mu      sync.Mutex
	ended   map[string]int
	changed chan struct{}
}

func (c *claimWatch) end(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended[key]++
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

func (c *claimWatch) wake() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

func (c *claimWatch) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended[key]
}

func (c *claimWatch) ClaimWork(ctx context.Context, key string, lease time.Duration) (bool, error) {
	ok, err := c.WorkClaimer.ClaimWork(ctx, key, lease)
	if err != nil || !ok {
		c.end(key)
	}
	return ok, err
}

func (c *claimWatch) CompleteWork(ctx context.Context, key string) error {
	err := c.WorkClaimer.CompleteWork(ctx, key)
	c.end(key)
	return err
}

func (c *claimWatch) ReleaseWork(ctx context.Context, key string) error {
	err := c.WorkClaimer.ReleaseWork(ctx, key)
	c.end(key)
	return err
}

// Handled is how many times the engine finished handling the signal of key (a
// Signal's Key): done, found done already, or failed and released. It lets a test
// assert that nothing more happened after a worker provably ran.
func (h *Harness) Handled(key string) int { return h.claims.count(key) }

// FailedJob returns the signal of a trusted run of Repo's main branch (pushed, built
// from BadSHA) whose job named job failed at its step "Terraform Apply", as the
// webhook reports it, and records the run with GitHub. The run belongs to the workflow
// that runs job (Workflow); each call makes a new run. change, when given, edits the
// run and job first (another conclusion, SHA, branch, event …).
func (h *Harness) FailedJob(job string, change ...func(*recovery.Run, *recovery.JobInfo)) recovery.Signal {
	id := h.runs.Add(1)
	now := h.Clock.Now()
	wf := Workflow(job)
	run := recovery.Run{
		ID: id, Attempt: 1, Number: int(id - 1000), Workflow: wf, WorkflowName: strings.TrimSuffix(wf, ".yml"),
		Status: "completed", Conclusion: "failure", HeadSHA: BadSHA, HeadBranch: "main", HeadRepository: Repo,
		Event: "push", Actor: "dev", CommitMessage: "Change the model version", CommitAuthor: "dev",
		URL:       fmt.Sprintf("https://github.test/%s/actions/runs/%d", Repo, id),
		CreatedAt: now.Add(-10 * time.Minute), StartedAt: now.Add(-10 * time.Minute), UpdatedAt: now,
	}
	ji := recovery.JobInfo{
		ID: id*10 + 1, RunID: id, Attempt: 1, Name: job, Status: "completed", Conclusion: "failure",
		StartedAt: now.Add(-5 * time.Minute), CompletedAt: now, URL: fmt.Sprintf("%s/job/%d", run.URL, id*10+1),
		Steps: []recovery.StepInfo{
			{Number: 1, Name: "Set up job", Status: "completed", Conclusion: "success"},
			{Number: 2, Name: "Terraform Apply", Status: "completed", Conclusion: "failure"},
		},
	}
	for _, c := range change {
		c(&run, &ji)
	}
	h.GitHub.AddRun(run, ji)
	r, j := run, ji
	return recovery.Signal{Kind: recovery.SignalJobCompleted, Via: "webhook", Run: &r, Job: &j, At: now}
}

// JobOf returns the signal of another job of a run FailedJob made (the pipeline's
// rollback job after the deploy failed, a second failed job) and adds the job to the
// run's jobs on GitHub. conclusion "" is the job starting (SignalJobStarted, in
// progress); any other ("success", "failure") is the job completed with it.
func (h *Harness) JobOf(run recovery.Run, name, conclusion string) recovery.Signal {
	now := h.Clock.Now()
	id := 500000 + h.jobs.Add(1) // apart from FailedJob's run.ID*10+1
	ji := recovery.JobInfo{ID: id, RunID: run.ID, Attempt: run.Attempt, Name: name, Status: "completed", Conclusion: conclusion,
		StartedAt: now.Add(-time.Minute), CompletedAt: now, URL: fmt.Sprintf("%s/job/%d", run.URL, id),
		Steps: []recovery.StepInfo{{Number: 1, Name: "Set up job", Status: "completed", Conclusion: "success"}}}
	kind := recovery.SignalJobCompleted
	if conclusion == "" {
		kind = recovery.SignalJobStarted
		ji.Status, ji.CompletedAt = "in_progress", time.Time{}
		ji.Steps = append(ji.Steps, recovery.StepInfo{Number: 2, Name: "Terraform Apply", Status: "in_progress"})
	} else {
		ji.Steps = append(ji.Steps, recovery.StepInfo{Number: 2, Name: "Terraform Apply", Status: "completed", Conclusion: conclusion})
	}
	h.GitHub.AddJob(run.ID, ji)
	r := run
	return recovery.Signal{Kind: kind, Via: "webhook", Run: &r, Job: &ji, At: now}
}

// FiringAlarm puts an alarm of env in ALARM since now (AWS.AddAlarm) and returns the
// signal the alarm poller makes of it.
func (h *Harness) FiringAlarm(env, name string) recovery.Signal {
	a := recovery.Alarm{Name: name, State: "ALARM", Reason: "Threshold Crossed: 1 datapoint [5.0] was greater than the threshold (1.0).", Since: h.Clock.Now()}
	h.AWS.AddAlarm(env, a)
	return recovery.Signal{Kind: recovery.SignalAlarmFiring, Via: "alarm-poll", Env: env, Alarm: &a, At: a.Since}
}

// Submit queues sig as the webhook and pollers do (Engine.Submit) and waits until the
// worker that took it is done with it: a marker signal of the same source, queued
// behind it on the same worker and done already (its key is completed beforehand, so
// the engine only looks it up), was looked up. Signals are handled one at a time per
// source, so by then sig was handled in full. (A SignalAlarmStuck has no marker: its
// source is its key; Submit then waits for Handled(sig.Key()) to grow.) It fails tb
// when the queue refuses sig or it is not handled within WaitTimeout.
func (h *Harness) Submit(tb testing.TB, sig recovery.Signal) {
	tb.Helper()
	key := sig.Key()
	before := h.Handled(key)
	if !h.Engine.Submit(sig) {
		tb.Fatalf("submitting %s: the queue refused it", key)
	}
	mark, ok := h.marker(tb, sig)
	if ok && !h.Engine.Submit(mark) {
		tb.Fatalf("submitting the marker behind %s: the queue refused it", key)
	}
	done := func() bool { return h.Handled(key) > before && (!ok || h.Handled(mark.Key()) > 0) }
	if !waitFor(WaitTimeout, h.claims.wake, done) {
		tb.Fatalf("signal %s: not handled within %s (handled %d times before, %d now)", key, WaitTimeout, before, h.Handled(key))
	}
}

// marker returns a signal of sig's source (so the same worker takes it, after sig)
// whose work is recorded as done, so the engine only looks it up.
func (h *Harness) marker(tb testing.TB, sig recovery.Signal) (recovery.Signal, bool) {
	tb.Helper()
	n := h.marks.Add(1)
	var m recovery.Signal
	switch {
	case sig.Kind == recovery.SignalAlarmStuck || sig.SourceKey() == "":
		return m, false
	case sig.Alarm != nil:
		a := *sig.Alarm
		a.Since = time.Unix(-n, 0)
		m = recovery.Signal{Kind: recovery.SignalAlarmFiring, Via: "recoverytest", Env: sig.Env, Alarm: &a}
	default:
		var run *recovery.Run
		var runID int64
		if sig.Job != nil {
			runID = sig.Job.RunID
		}
		if sig.Run != nil {
			r := *sig.Run
			run, runID = &r, r.ID
		}
		m = recovery.Signal{Kind: recovery.SignalJobCompleted, Via: "recoverytest", Run: run,
			Job: &recovery.JobInfo{ID: -n, RunID: runID, Name: "recoverytest marker", Status: "completed", Conclusion: "marker"}}
	}
	if m.SourceKey() != sig.SourceKey() {
		tb.Fatalf("recoverytest: marker of %s has source %s, want %s", sig.Key(), m.SourceKey(), sig.SourceKey())
	}
	ctx := context.Background()
	if ok, err := h.claims.WorkClaimer.ClaimWork(ctx, m.Key(), time.Minute); err != nil || !ok {
		tb.Fatalf("recoverytest: claiming marker %s: %v, %v", m.Key(), ok, err)
	}
	if err := h.claims.WorkClaimer.CompleteWork(ctx, m.Key()); err != nil {
		tb.Fatalf("recoverytest: completing marker %s: %v", m.Key(), err)
	}
	return m, true
}

// FailJob submits FailedJob(job, change...) and returns the incident it opened or
// updated, as stored.
func (h *Harness) FailJob(tb testing.TB, job string, change ...func(*recovery.Run, *recovery.JobInfo)) recovery.Incident {
	tb.Helper()
	sig := h.FailedJob(job, change...)
	h.Submit(tb, sig)
	in, err := h.Store.OpenIncidentBySource(tb.Context(), sig.SourceKey())
	if err != nil {
		tb.Fatalf("the failure of %s (%s) opened no incident: %v", job, sig.SourceKey(), err)
	}
	return in
}

// Incident returns an incident as stored.
func (h *Harness) Incident(tb testing.TB, id string) recovery.Incident {
	tb.Helper()
	in, err := h.Store.Incident(tb.Context(), id)
	if err != nil {
		tb.Fatalf("incident %s: %v", id, err)
	}
	return in
}

// Act clicks the button of action on an incident's alert as user (Engine.Act, as the
// handlers do) and returns what user is told.
func (h *Harness) Act(tb testing.TB, incidentID string, action recovery.ActionID, user string) (string, error) {
	return h.Engine.Act(tb.Context(), incidentID, action, user)
}

// Acknowledge clicks Acknowledge on an incident's alert as user.
func (h *Harness) Acknowledge(tb testing.TB, incidentID, user string) (string, error) {
	return h.Act(tb, incidentID, recovery.ActAcknowledge, user)
}

// Resolve resolves an incident as user with a note (/incident resolve).
func (h *Harness) Resolve(tb testing.TB, incidentID, user, note string) (string, error) {
	return h.Engine.Resolve(tb.Context(), incidentID, user, note)
}

// Request asks for an action as the request form or /rollback does
// (Engine.RequestAction) and returns the request it posted (zero when it posted
// none: refused, or already pending) and what the requester is told.
func (h *Harness) Request(tb testing.TB, ar recovery.ActionRequest) (recovery.Request, string, error) {
	before := len(h.Publisher.Requests())
	reply, err := h.Engine.RequestAction(tb.Context(), ar)
	var r recovery.Request
	if rs := h.Publisher.Requests(); len(rs) > before {
		r = rs[before]
	}
	return r, reply, err
}

// Approve clicks Approve on a request as user (Engine.Decide).
func (h *Harness) Approve(tb testing.TB, requestID, user string) (string, error) {
	return h.Engine.Decide(tb.Context(), requestID, user, true)
}

// Reject clicks Reject on a request as user (Engine.Decide).
func (h *Harness) Reject(tb testing.TB, requestID, user string) (string, error) {
	return h.Engine.Decide(tb.Context(), requestID, user, false)
}

// CancelJob clicks Cancel on a job as user.
func (h *Harness) CancelJob(tb testing.TB, jobID, user string) (string, error) {
	return h.Engine.CancelJob(tb.Context(), jobID, user)
}

// RetryJob clicks Retry on a job as user.
func (h *Harness) RetryJob(tb testing.TB, jobID, user string) (string, error) {
	return h.Engine.RetryJob(tb.Context(), jobID, user)
}

// WaitPreview waits until a request's preview is made (or the request left pending)
// and returns the request as stored.
func (h *Harness) WaitPreview(tb testing.TB, requestID string) recovery.Request {
	tb.Helper()
	var r recovery.Request
	var err error
	if !waitFor(WaitTimeout, nil, func() bool {
		r, err = h.Store.Request(context.Background(), requestID)
		return err == nil && (r.PreviewReady || r.State != recovery.RequestPending)
	}) {
		tb.Fatalf("request %s: no preview within %s (state %s, err %v)", requestID, WaitTimeout, r.State, err)
	}
	return r
}

// Approved has Requester request action on an incident, waits for its preview and
// has Approver approve it, failing tb at any refusal; it returns the job started.
func (h *Harness) Approved(tb testing.TB, incidentID string, action recovery.ActionID) recovery.Job {
	tb.Helper()
	r, reply, err := h.Request(tb, recovery.ActionRequest{IncidentID: incidentID, Action: action, User: Requester})
	if err != nil || r.ID == "" {
		tb.Fatalf("requesting %s on %s: %q, %v", action, incidentID, reply, err)
	}
	if r = h.WaitPreview(tb, r.ID); r.State != recovery.RequestPending || r.Preview.Problem != "" {
		tb.Fatalf("request %s: state %s, preview problem %q; want pending with a preview", r.ID, r.State, r.Preview.Problem)
	}
	if reply, err := h.Approve(tb, r.ID, Approver); err != nil {
		tb.Fatalf("approving %s: %q, %v", r.ID, reply, err)
	}
	r, err = h.Store.Request(tb.Context(), r.ID)
	if err != nil || r.JobID == "" {
		tb.Fatalf("request %s: no job after approval (%v)", r.ID, err)
	}
	return h.Job(tb, r.JobID)
}

// Job returns a job as stored.
func (h *Harness) Job(tb testing.TB, id string) recovery.Job {
	tb.Helper()
	j, err := h.Store.Job(tb.Context(), id)
	if err != nil {
		tb.Fatalf("job %s: %v", id, err)
	}
	return j
}

// WaitJob waits until a job ended (succeeded, failed, cancelled or interrupted), its
// end was told in its thread and shown on its incident's alert, and returns it as
// stored. (After a success the engine then refreshes the alert's diagnostics: wait for
// that with Publisher.Wait.)
func (h *Harness) WaitJob(tb testing.TB, id string) recovery.Job {
	tb.Helper()
	var j recovery.Job
	var err error
	ended := func() bool {
		j, err = h.Store.Job(context.Background(), id)
		if err != nil {
			return false
		}
		switch j.State {
		case recovery.JobPending, recovery.JobRunning:
			return false
		}
		// Its end is told in the thread, then shown on its incident's alert.
		told := j.Channel == "" || j.ThreadTS == ""
		for _, n := range h.Publisher.Thread(j.Channel, j.ThreadTS) {
			told = told || strings.Contains(n.Text.Plain(), "Job "+id+" (")
		}
		if !told || j.IncidentID == "" {
			return told
		}
		a, ok := h.Publisher.Alert(j.IncidentID)
		return !ok || (a.RecoveryJob == id && a.RecoveryState == j.State)
	}
	if !waitFor(WaitTimeout, h.Publisher.wake, ended) {
		tb.Fatalf("job %s: not ended within %s (state %s, err %v)", id, WaitTimeout, j.State, err)
	}
	return j
}

// Advance moves the clock by d, firing the engine's tickers on the way (a job's lease
// renewal, a verification's watch).
func (h *Harness) Advance(d time.Duration) { h.Clock.Advance(d) }

// Escalate runs one escalation round (Engine.Escalate), as medic's escalation loop
// does every 5 seconds and whenever an alert asks for one (Wakes).
func (h *Harness) Escalate(tb testing.TB) error { return h.Engine.Escalate(tb.Context()) }

// ExpireRequests runs one round of request expiry (every 15 s in medic).
func (h *Harness) ExpireRequests(tb testing.TB) error { return h.Engine.ExpireRequests(tb.Context()) }

// RecoverJobs runs one round of job recovery (every 5 s in medic).
func (h *Harness) RecoverJobs(tb testing.TB) error { return h.Engine.RecoverJobs(tb.Context()) }

// Wakes is how many times the engine asked for an escalation round at once
// (EscalationDeps.Wake: an alert went out whose deadline had passed).
func (h *Harness) Wakes() int { return int(h.wakes.Load()) }

// Audit returns an incident's audit log, oldest first.
func (h *Harness) Audit(tb testing.TB, incidentID string) []recovery.AuditEntry {
	tb.Helper()
	entries, err := h.Engine.AuditOf(tb.Context(), incidentID)
	if err != nil {
		tb.Fatalf("audit of %s: %v", incidentID, err)
	}
	return entries
}

// AuditActions returns the Action of each entry of an incident's audit log, oldest
// first ("incident.opened", "request.created" …).
func (h *Harness) AuditActions(tb testing.TB, incidentID string) []string {
	tb.Helper()
	var out []string
	for _, e := range h.Audit(tb, incidentID) {
		out = append(out, e.Action)
	}
	return out
}

// UserMessage is the message of a *recovery.UserError in err's chain, "" when there
// is none: what a person is told when medic refuses.
func UserMessage(err error) string {
	var ue *recovery.UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	return ""
}
