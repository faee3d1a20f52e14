package recovery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// WorkClaimer records that a piece of work (a signal) is being done, so it is done
// once: by one worker, once, even when webhook and poller report the same fact or a
// replica dies half way (its lease runs out and the work can be claimed again).
type WorkClaimer interface {
	// ClaimWork returns true when the caller may do the work: nobody finished it and
	// nobody holds an unexpired lease on it.
	ClaimWork(ctx context.Context, key string, lease time.Duration) (bool, error)
	// CompleteWork marks claimed work done for good.
	CompleteWork(ctx context.Context, key string) error
	// ReleaseWork gives claimed work up, so a later attempt can take it.
	ReleaseWork(ctx context.Context, key string) error
}

// IncidentStore keeps incidents. Methods return ErrNotFound, ErrDuplicate or
// ErrConflict (wrapped) as documented.
type IncidentStore interface {
	// CreateIncident stores a new incident owning its SourceKey (ErrDuplicate when an
	// open incident already owns it, ErrIDTaken when another incident has its ID).
	CreateIncident(ctx context.Context, in Incident) error
	// UpdateIncident saves in if its Version is current and returns it with the new
	// Version (ErrConflict otherwise).
	UpdateIncident(ctx context.Context, in Incident) (Incident, error)
	// Incident returns one incident (ErrNotFound).
	Incident(ctx context.Context, id string) (Incident, error)
	// OpenIncidents lists an environment's unresolved incidents ("" for all).
	OpenIncidents(ctx context.Context, env string) ([]Incident, error)
}

// SourceIndex finds an open incident by the sources (runs, alarms) that belong to it.
type SourceIndex interface {
	// OpenIncidentBySource returns the open incident a source belongs to (ErrNotFound).
	OpenIncidentBySource(ctx context.Context, source string) (Incident, error)
	// AttachSource makes source belong to an open incident too (ErrDuplicate when
	// another open incident owns it).
	AttachSource(ctx context.Context, incidentID, source string) error
}

// Auditor appends to the audit log. Its only errors are the store's (unreachable,
// context ended): the entry was not written.
type Auditor interface {
	AppendAudit(ctx context.Context, e AuditEntry) error
}

// Note is a reply in an incident's thread.
type Note struct {
	// Text is what the note says: medic's words, quoted values, mentions, links.
	Text Text
	// Title and Detail carry preformatted text (a log excerpt) shown as a code block.
	Title    string
	Detail   string
	Link     string
	LinkText string
	// Buttons offer follow-ups (Retry, Force Lambda update).
	Buttons []Button `json:",omitempty"`
	// Whole shows all of Detail (over several messages' worth of blocks if need be)
	// rather than its end: for reports, not logs.
	Whole bool `json:",omitempty"`
}

// Button is a button on a note or request: ID is its interactive element ID (made by
// ButtonID, ApproveID …), Value what it carries.
type Button struct {
	Label string
	ID    string
	Value string
	Style string
}

// Publisher shows incidents in Slack: one alert message per incident, updated in
// place, and notes in its thread. Errors are Slack's (wrapped), for the logs.
type Publisher interface {
	// PostAlert posts in's alert in in.Channel and returns the message's ts.
	PostAlert(ctx context.Context, in Incident) (string, error)
	// UpdateAlert rewrites the alert message at in.Channel/in.MessageTS.
	UpdateAlert(ctx context.Context, in Incident) error
	// PostNote replies in the alert's thread.
	PostNote(ctx context.Context, in Incident, n Note) error
	// Reply posts a note in any thread (a request's, when there is no incident).
	Reply(ctx context.Context, channel, threadTS string, n Note) error
}

// RequestPublisher shows requests for actions in Slack. Errors are Slack's (wrapped).
type RequestPublisher interface {
	// PostRequest posts a request for an action (in r.Channel, in the thread r.ThreadTS
	// when set) and returns its ts.
	PostRequest(ctx context.Context, r Request) (string, error)
	// UpdateRequest rewrites a request's message as its state changes.
	UpdateRequest(ctx context.Context, r Request) error
}

// ChecklistPublisher shows a resolved incident's post-incident checklist. Errors are
// Slack's (wrapped).
type ChecklistPublisher interface {
	// PostChecklist posts the checklist in the incident's thread and returns the
	// message's ts.
	PostChecklist(ctx context.Context, in Incident) (string, error)
	// UpdateChecklist shows its items' new state.
	UpdateChecklist(ctx context.Context, in Incident) error
}

// EngineDeps are what an Engine works with. Every field is required.
type EngineDeps struct {
	Envs      *Environments
	Pipeline  *Pipeline
	Claims    WorkClaimer
	Incidents IncidentStore
	// Sources finds incidents by their runs and alarms (usually the same store).
	Sources   SourceIndex
	Audit     Auditor
	Publisher Publisher
	Diagnoser *Diagnoser
	Runs      RunReader
	// History lists a workflow's runs and an environment's deploys.
	History RunHistory
	Alarms  AlarmReader
	Health  HealthChecker
	// Commits tells whether a commit is on a branch: a run is trusted only when its
	// commit is on the branch it names, and no code of a commit off the protected
	// branch runs.
	Commits CommitChecker
	Logger  *zap.Logger
	// Now tells the time; Clock makes the tickers (the job lease renewal, a
	// verification's watch). Either may be left out: Now defaults to Clock.Now and
	// Clock to the wall clock.
	Now   func() time.Time
	Clock Clock
	// Actions, when set, lets people request, approve and run recovery actions; without
	// it the mutating buttons answer that actions are not configured.
	Actions *ActionDeps
	// Escalation, when set, escalates unacknowledged incidents and pages people.
	Escalation *EscalationDeps
	// Resolution, when set, lets incidents be resolved with a checklist, a report and a
	// follow-up issue.
	Resolution *ResolutionDeps
	// IDPrefix starts every incident, request and job ID this engine makes (a drill's
	// engine: "DRILL-", so its IDs never look like, or reach, real ones). Empty for
	// the real engine.
	IDPrefix string
}

// newEscalator is the engine's escalation and paging service, keeping its incidents
// through the engine's book.
func (e *Engine) newEscalator() *escalator {
	return &escalator{deps: e.deps.Escalation, book: e, roles: e, claims: e.deps.Claims, incidents: e.deps.Incidents, now: e.deps.Now, log: e.log}
}

// newResolver is the engine's resolution and reports service.
func (e *Engine) newResolver(esc escalation) *resolver {
	return &resolver{deps: e.deps.Resolution, book: e, roles: e, esc: esc, claims: e.deps.Claims, incidents: e.deps.Incidents,
		audit: e.deps.Audit, now: e.deps.Now, log: e.log}
}

// missing names the required dependencies left out.
func (d EngineDeps) missing() string {
	return missingFields(map[string]bool{"Envs": d.Envs == nil, "Pipeline": d.Pipeline == nil, "Claims": d.Claims == nil,
		"Incidents": d.Incidents == nil, "Sources": d.Sources == nil, "Audit": d.Audit == nil, "Publisher": d.Publisher == nil,
		"Diagnoser": d.Diagnoser == nil, "Runs": d.Runs == nil, "History": d.History == nil, "Alarms": d.Alarms == nil,
		"Health": d.Health == nil, "Commits": d.Commits == nil})
}

// missing names the required action dependencies left out.
func (a *ActionDeps) missing() string {
	return missingFields(map[string]bool{"Access": a.Access == nil, "Requests": a.Requests == nil, "Expiry": a.Expiry == nil,
		"Views": a.Views == nil, "Jobs": a.Jobs == nil, "Slots": a.Slots == nil, "Workflows": a.Workflows == nil,
		"Reverter": a.Reverter == nil, "Terraform": a.Terraform == nil, "Lambda": a.Lambda == nil, "Alarms": a.Alarms == nil,
		"Tables": a.Tables == nil, "Deploys": a.Deploys == nil, "Functions": a.Functions == nil, "StateLocks": a.StateLocks == nil,
		"Deployed": a.Deployed == nil, "Plans": a.Plans == nil})
}

// Engine turns signals into incidents: it classifies, gathers diagnostics, keeps one
// alert per incident up to date and threads what happens. Signals of one source are
// handled in order, by one worker; different sources in parallel.
type Engine struct {
	// deps are what it works with, set once by NewEngine.
	deps   EngineDeps
	lease  time.Duration
	shards []chan Signal
	// untrustedQ takes the signals of runs medic does not trust (a pull request's):
	// their own small queue, so a flood of them never crowds out a real failure.
	untrustedQ chan Signal
	log        *zap.Logger
	// alertLocks holds a *sync.Mutex per incident whose alert is being updated.
	alertLocks sync.Map
	// The services along the core's seams: requests and approvals, jobs, escalation
	// and paging, resolution and reports. All four are always built (NewEngine); a
	// part left out of the deps is off inside its service, which says so.
	req *requester
	run *jobRunner
	esc *escalator
	res *resolver
}

// Workers is how many signals an Engine handles at once; QueueSize how many may wait
// per worker.
const (
	Workers   = 4
	QueueSize = 256
	// workLease bounds how long a claimed signal stays claimed if its worker dies.
	workLease = 5 * time.Minute
	// signalLimit bounds the handling of one signal.
	signalLimit = 2 * time.Minute
)

// NewEngine returns an Engine; call Run to start its workers.
func NewEngine(d EngineDeps) (*Engine, error) {
	if missing := d.missing(); missing != "" {
		return nil, errors.New("engine: every dependency is required; missing EngineDeps." + missing)
	}
	for wf, env := range d.Pipeline.Workflows {
		if _, err := d.Envs.Get(env); err != nil {
			return nil, fmt.Errorf("engine: workflow %s: %w", wf, err)
		}
	}
	if d.Pipeline.Trust.Repository == "" || len(d.Pipeline.Trust.Branches) == 0 || len(d.Pipeline.Trust.Events) == 0 {
		return nil, errors.New("engine: the pipeline's trust (repository, branches, events) is required")
	}
	if u := d.Pipeline.UntrustedEnv; u != "" {
		if _, err := d.Envs.Get(u); err != nil {
			return nil, fmt.Errorf("engine: untrusted runs' environment: %w", err)
		}
	}
	if d.Clock == nil {
		d.Clock = SystemClock{}
	}
	if d.Now == nil {
		d.Now = d.Clock.Now
	}
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	e := &Engine{deps: d, lease: workLease, log: d.Logger.Named("recovery")}
	var previews *previewPool
	if a := d.Actions; a != nil {
		if missing := a.missing(); missing != "" {
			return nil, errors.New("engine: every action dependency is required; missing ActionDeps." + missing)
		}
		if a.Policy.RequestTTL <= 0 {
			return nil, errors.New("engine: the request TTL must be positive")
		}
		if a.JobLease <= 0 {
			a.JobLease = 30 * time.Second
		}
		if a.Instance == "" {
			a.Instance = newID("MEDIC", d.Now())
		}
		if a.Branch == "" {
			a.Branch = "main"
		}
		a.idPrefix = d.IDPrefix
		previews = newPreviewPool(a.Previews)
	}
	if x := d.Escalation; x != nil {
		if missing := missingFields(map[string]bool{"Policy": x.Policy == nil, "Pages": x.Pages == nil, "Due": x.Due == nil}); missing != "" {
			return nil, errors.New("engine: escalation needs its policy and page store; missing EscalationDeps." + missing)
		}
		if err := x.Policy.Validate(); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	e.req, e.run = e.newActions(previews) // without ActionDeps, they say actions are not configured
	e.esc = e.newEscalator()
	e.res = e.newResolver(e.esc)
	if r := d.Resolution; r != nil && r.Checklists == nil {
		return nil, errors.New("engine: resolution needs its checklist publisher; missing ResolutionDeps.Checklists")
	}
	for i := 0; i < Workers; i++ {
		e.shards = append(e.shards, make(chan Signal, QueueSize))
	}
	e.untrustedQ = make(chan Signal, UntrustedQueueSize)
	return e, nil
}

// UntrustedQueueSize is how many signals of untrusted runs may wait; more are dropped
// (one per run is all an untrusted run ever gets: its LOW alert).
const UntrustedQueueSize = 64

// Submit queues a signal without waiting. It returns false when a trusted signal's
// queue is full; the pollers will report the same fact again later. An untrusted run's
// signal that finds its own queue full is dropped and Submit returns true: such a run
// only ever gets its LOW alert, and a flood of them must not make the webhook ask
// GitHub to redeliver.
func (e *Engine) Submit(sig Signal) bool {
	if r := sig.Run; r != nil && r.Event != "" && r.HeadRepository != "" && e.deps.Pipeline.Trust.Untrusted(*r) != "" {
		select {
		case e.untrustedQ <- sig:
		default:
			e.log.Debug("untrusted run's signal dropped: its queue is full", zap.String("signal", sig.Key()))
		}
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(sig.SourceKey()))
	select {
	case e.shards[int(h.Sum32()%uint32(len(e.shards)))] <- sig:
		return true
	default:
		e.log.Error("signal queue full; dropped (a poller will report it again)", zap.String("signal", sig.Key()))
		return false
	}
}

// Retries of a signal whose handling failed (the store or Slack unreachable for a
// while): after 2s, 4s, 8s, 16s and 32s, then it is dropped with an error in the log.
// The pollers report a run or alarm again on their own; a webhook-only install
// depends on these retries.
const (
	signalRetries   = 5
	signalRetryBase = 2 * time.Second
)

// retryLater queues sig again after a backoff, unless it failed too often or medic is
// stopping. The signal was released by Handle, so any replica may take it meanwhile.
func (e *Engine) retryLater(ctx context.Context, sig Signal, err error) {
	log := e.log.With(zap.String("signal", sig.Key()), zap.Error(err))
	if sig.Retries >= signalRetries || ctx.Err() != nil {
		log.Error("handling signal failed; giving up on it", zap.Int("retries", sig.Retries))
		return
	}
	wait := signalRetryBase << sig.Retries
	sig.Retries++
	log.Warn("handling signal failed; trying again", zap.Duration("in", wait), zap.Int("retry", sig.Retries))
	stop := e.deps.Clock.AfterFunc(wait, func() {
		if ctx.Err() == nil {
			e.Submit(sig)
		}
	})
	context.AfterFunc(ctx, func() { stop() })
}

// Run handles queued signals until ctx ends, then finishes the signals in hand, each
// within signalLimit and until drain (the shutdown's grace) ends.
func (e *Engine) Run(ctx, drain context.Context) {
	var wg sync.WaitGroup
	for _, q := range append(e.shards, e.untrustedQ) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case sig := <-q:
					// A signal in hand is finished even during shutdown, within bounds: its
					// own limit and the shutdown's grace (drain).
					hctx, cancel := context.WithTimeout(drain, signalLimit)
					if err := e.Handle(hctx, sig); err != nil {
						e.retryLater(ctx, sig, err)
					}
					cancel()
				}
			}
		}()
	}
	wg.Wait()
}

// Handle acts on a signal once: a signal whose fact was already handled (a webhook
// redelivery, the poller seeing what a webhook reported) does nothing. A failure
// releases the signal so it can be retried.
func (e *Engine) Handle(ctx context.Context, sig Signal) error {
	key := sig.Key()
	if key == "" {
		return fmt.Errorf("signal %s without its subject", sig.Kind)
	}
	ok, err := e.deps.Claims.ClaimWork(ctx, key, e.lease)
	if err != nil {
		return fmt.Errorf("claiming %s: %w", key, err)
	}
	if !ok {
		e.log.Debug("signal already handled", zap.String("signal", key), zap.String("via", sig.Via))
		return nil
	}
	if err := e.apply(ctx, sig); err != nil {
		if rerr := e.deps.Claims.ReleaseWork(context.WithoutCancel(ctx), key); rerr != nil {
			e.log.Warn("releasing signal", zap.String("signal", key), zap.Error(rerr))
		}
		return fmt.Errorf("handling %s: %w", key, err)
	}
	return e.deps.Claims.CompleteWork(ctx, key)
}

func (e *Engine) apply(ctx context.Context, sig Signal) error {
	if sig.Run != nil {
		if old := e.signalAge(sig); e.deps.Pipeline.MaxSignalAge > 0 && old > e.deps.Pipeline.MaxSignalAge {
			e.log.Warn("signal about an old run ignored (a replayed delivery?)", zap.String("signal", sig.Key()), zap.String("via", sig.Via),
				zap.Duration("age", old), zap.Duration("max_signal_age", e.deps.Pipeline.MaxSignalAge))
			return nil
		}
		run, err := e.runFacts(ctx, *sig.Run)
		if err != nil {
			return err
		}
		sig.Run = &run
		why, err := e.untrusted(ctx, run)
		if err != nil {
			return err
		}
		if why != "" {
			sig.Untrusted = why
			return e.untrustedRun(ctx, sig)
		}
	}
	switch sig.Kind {
	case SignalRunCompleted:
		return e.runCompleted(ctx, sig)
	case SignalJobCompleted:
		switch {
		case sig.Job.Failed():
			return e.jobFailed(ctx, sig)
		case sig.Job.Name == e.deps.Pipeline.RollbackJob && sig.Job.Conclusion == "success":
			return e.rollbackSucceeded(ctx, sig)
		}
		return nil
	case SignalJobStarted:
		if sig.Job.Name == e.deps.Pipeline.RollbackJob {
			return e.rollbackStarted(ctx, sig)
		}
		return nil
	case SignalRunStuck:
		env := e.deps.Pipeline.Workflows[sig.Run.Workflow]
		if jobs, err := e.deps.Runs.RunJobs(ctx, sig.Run.ID); err == nil {
			for _, j := range jobs {
				if j.Status == "in_progress" {
					if je, ok := e.deps.Pipeline.JobEnvs[j.Name]; ok {
						env = je
					}
				}
			}
		}
		return e.open(ctx, sig, WorkflowStuck, env, nil)
	case SignalAlarmFiring:
		return e.alarmFiring(ctx, sig)
	case SignalAlarmCleared:
		return e.alarmCleared(ctx, sig)
	case SignalAlarmStuck:
		return e.alarmStuck(ctx, sig)
	}
	return fmt.Errorf("unknown signal kind %q", sig.Kind)
}

// signalAge is how long ago the run or job a signal reports last changed (0 when the
// signal says no time).
func (e *Engine) signalAge(sig Signal) time.Duration {
	var at time.Time
	for _, t := range []time.Time{sig.Run.UpdatedAt, sig.Run.CreatedAt} {
		if !t.IsZero() {
			at = t
			break
		}
	}
	if j := sig.Job; j != nil {
		for _, t := range []time.Time{j.CompletedAt, j.StartedAt} {
			if !t.IsZero() && t.After(at) {
				at = t
			}
		}
	}
	if at.IsZero() {
		return 0
	}
	return e.deps.Now().Sub(at)
}

// runFacts makes sure medic knows what started a run and where its code came from
// before it trusts it: a workflow_job delivery names neither, so the run is read from
// GitHub. Nothing about trust is taken from a job's payload.
func (e *Engine) runFacts(ctx context.Context, run Run) (Run, error) {
	if run.Event != "" && run.HeadRepository != "" {
		return run, nil
	}
	full, err := e.deps.Runs.Run(ctx, run.ID)
	if err != nil {
		return run, fmt.Errorf("reading run %d to know whether to trust it: %w", run.ID, err)
	}
	full.Workflow = orWord(full.Workflow, run.Workflow)
	full.WorkflowName = orWord(full.WorkflowName, run.WorkflowName)
	full.URL = orWord(full.URL, run.URL)
	return full, nil
}

// untrusted says why run is not trusted, "" when it is: the pipeline's rules (its
// repository, event and branch), then its commit must be on the branch it names (a tag
// named like a trusted branch reports the tag as the run's branch).
func (e *Engine) untrusted(ctx context.Context, run Run) (string, error) {
	if why := e.deps.Pipeline.Trust.Untrusted(run); why != "" {
		return why, nil
	}
	if !ValidSHA(run.HeadSHA) {
		return "GitHub did not say which commit it ran", nil
	}
	place, err := e.deps.Commits.CommitOnBranch(ctx, run.HeadSHA, run.HeadBranch)
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Sprintf("its commit %s is not in the repository", shortSHA(run.HeadSHA)), nil
	case err != nil:
		return "", fmt.Errorf("checking that run %d's commit is on %s: %w", run.ID, run.HeadBranch, err)
	case !place.Reachable:
		return fmt.Sprintf("its commit %s is not on branch %s (a tag of that name?)", shortSHA(run.HeadSHA), run.HeadBranch), nil
	}
	return "", nil
}

// untrustedRun acts on a signal about a run medic does not trust (a pull request, a
// fork, another branch): a failed job opens at most a LOW "checks failed" incident in
// Pipeline.UntrustedEnv, whose only actions are GitHub's re-run and the logs, and which
// never pages. Nothing else of such a run (its "rollback" job, a stuck run) is acted on.
func (e *Engine) untrustedRun(ctx context.Context, sig Signal) error {
	log := e.log.With(zap.Int64("run", sig.Run.ID), zap.String("event", sig.Run.Event),
		zap.String("head_repository", sig.Run.HeadRepository), zap.String("branch", sig.Run.HeadBranch), zap.String("why", sig.Untrusted))
	switch {
	case sig.Kind == SignalRunCompleted:
		return e.runCompleted(ctx, sig) // each failed job comes back here as a job signal
	case sig.Kind == SignalJobCompleted && sig.Job != nil && sig.Job.Failed():
		if e.deps.Pipeline.UntrustedEnv == "" {
			log.Info("failed job of an untrusted run ignored: no environment takes such runs (config: pipeline.untrusted_env)")
			return nil
		}
		if in, err := e.deps.Sources.OpenIncidentBySource(ctx, sig.SourceKey()); err == nil {
			if sig.Run.Attempt > in.RunAttempt {
				return e.open(ctx, sig, UntrustedRunFailed, e.deps.Pipeline.UntrustedEnv, nil) // a re-run failed too
			}
			return nil // its alert is out: more failed jobs of it add nothing
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		log.Info("failed job of an untrusted run", zap.String("job", sig.Job.Name))
		return e.open(ctx, sig, UntrustedRunFailed, e.deps.Pipeline.UntrustedEnv, nil)
	}
	log.Debug("signal of an untrusted run ignored", zap.String("kind", string(sig.Kind)))
	return nil
}

// runCompleted looks at a finished run's jobs in order: each failed job, and the
// rollback job's success, become job signals of their own. A run of an open incident
// that passed in a later attempt, or was cancelled as medic was asked, ends what the
// incident follows (runEnded).
func (e *Engine) runCompleted(ctx context.Context, sig Signal) error {
	if sig.Run.Conclusion == "skipped" {
		return nil
	}
	if err := e.runEnded(ctx, sig); err != nil || sig.Run.Conclusion == "success" {
		return err
	}
	jobs, err := e.deps.Runs.RunJobs(ctx, sig.Run.ID)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range jobs {
		if j.Status != "completed" {
			continue
		}
		if !j.Failed() && !(j.Name == e.deps.Pipeline.RollbackJob && j.Conclusion == "success") {
			continue
		}
		job := j
		if err := e.Handle(ctx, Signal{Kind: SignalJobCompleted, Via: sig.Via, Run: sig.Run, Job: &job, At: sig.At}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) jobFailed(ctx context.Context, sig Signal) error {
	c, needLog := e.deps.Pipeline.Classify(*sig.Run, *sig.Job, nil, e.deps.Envs)
	var log *JobLog
	if needLog {
		l, err := readJobLog(ctx, e.deps.Runs, sig.Job.ID)
		if err != nil {
			// Classify without it (the catch-all) rather than stay silent.
			e.log.Warn("could not read job log for classification", zap.Int64("job", sig.Job.ID), zap.Error(err))
			empty := ""
			c, _ = e.deps.Pipeline.Classify(*sig.Run, *sig.Job, &empty, e.deps.Envs)
		} else {
			log = &l
			c, _ = e.deps.Pipeline.Classify(*sig.Run, *sig.Job, &l.Text, e.deps.Envs)
		}
	}
	e.log.Info("failed job classified", zap.String("job", sig.Job.Name), zap.Int64("run", sig.Run.ID),
		zap.String("scenario", string(c.Scenario)), zap.String("env", c.Env), zap.String("rule", c.Rule))
	return e.open(ctx, sig, c.Scenario, c.Env, log)
}

// open creates the signal's incident or updates the one its source already has,
// gathers the scenario's diagnostics and publishes.
func (e *Engine) open(ctx context.Context, sig Signal, scenario ScenarioID, envName string, log *JobLog) error {
	env, err := e.deps.Envs.Get(envName)
	if err != nil {
		return fmt.Errorf("signal %s: %w", sig.Key(), err)
	}
	in, findings, created, err := e.findOrCreate(ctx, &sig, scenario, env, log)
	if err != nil {
		return err
	}
	var notes []Note
	escalated, newAttempt := false, false
	if !created {
		var c change
		c, findings = e.changeOf(ctx, in, sig, scenario, env, log)
		notes, escalated, newAttempt = c.notes, c.escalated, c.newAttempt
	}
	in, err = e.update(ctx, in.ID, func(cur *Incident) {
		if newAttempt {
			e.failedFollow(cur, sig)
		}
		if escalated || created || newAttempt {
			applySignal(cur, sig, scenario, env)
		}
		if escalated && scenario == RollbackFail {
			cur.Rollback = RollbackFailed
		}
		cur.Signals++
		setFindings(cur, findings, e.deps.Now())
	})
	if err != nil {
		return err
	}
	unposted := in.MessageTS == ""
	if err := e.publish(ctx, &in); err != nil {
		return err
	}
	// The thread gets the diagnostics' details with the alert: when the incident
	// opens or escalates, and when this is the alert's first post (an earlier post
	// failed, and its notes with it).
	if created || escalated || newAttempt || (unposted && in.MessageTS != "") {
		notes = append(notes, findingNotes(in.Findings)...)
	}
	e.postNotes(ctx, in, notes)
	if created && in.RunID != 0 && in.Untrusted == "" {
		e.absorbAlarmIncidents(ctx, in)
	}
	return nil
}

// findOrCreate returns the open incident of the signal's source, or creates it with
// its diagnostics gathered first, so nobody ever sees (or posts) an incident without
// them. created reports a new incident; findings are set only then. The run the
// diagnostics read in full replaces sig's.
func (e *Engine) findOrCreate(ctx context.Context, sig *Signal, scenario ScenarioID, env Environment, log *JobLog) (in Incident, findings []Finding, created bool, err error) {
	source := sig.SourceKey()
	in, err = e.deps.Sources.OpenIncidentBySource(ctx, source)
	if !errors.Is(err, ErrNotFound) {
		return in, nil, false, err
	}
	in = e.newIncident(*sig, scenario, env)
	var full *Run
	findings, full = e.deps.Diagnoser.GatherRun(ctx, in, env, sig.Run, sig.Job, sig.Alarm, log)
	if full != nil {
		sig.Run = full
		applySignal(&in, *sig, scenario, env)
	}
	setFindings(&in, findings, e.deps.Now())
	err = e.deps.Incidents.CreateIncident(ctx, in)
	for tries := 1; errors.Is(err, ErrIDTaken) && tries < maxIDDraws; tries++ {
		in.ID = e.deps.IDPrefix + newIncidentID(e.deps.Now()) // a random ID drawn twice: draw again
		err = e.deps.Incidents.CreateIncident(ctx, in)
	}
	if errors.Is(err, ErrDuplicate) {
		// Another worker or replica opened it a moment ago: update that one.
		in, err = e.deps.Sources.OpenIncidentBySource(ctx, source)
		return in, nil, false, err
	}
	if err != nil {
		return in, nil, false, err
	}
	detail := map[string]string{"scenario": string(scenario), "severity": in.Severity.String(), "source": source, "via": sig.Via, "signal": sig.Key()}
	if sig.Untrusted != "" {
		detail["untrusted"] = sig.Untrusted
	}
	e.audit(ctx, in, "medic", AuditIncidentOpened, detail)
	return in, findings, true, nil
}

// change is what a signal changes on an incident it already has: a later attempt of
// its run failed, the scenario rose, or only another job failed; notes tell it.
type change struct {
	notes                 []Note
	escalated, newAttempt bool
}

// changeOf works out what sig changes on in, and gathers the diagnostics again.
func (e *Engine) changeOf(ctx context.Context, in Incident, sig Signal, scenario ScenarioID, env Environment, log *JobLog) (change, []Finding) {
	var c change
	from := in.Scenario
	// A later attempt of the run failed (a re-run): it is this incident's failure
	// now, with fresh diagnostics, whether or not it also raises the scenario.
	c.newAttempt = sig.Job != nil && sig.Run != nil && sig.Run.ID == in.RunID && sig.Run.Attempt > in.RunAttempt
	if c.newAttempt {
		c.notes = append(c.notes, e.newAttemptFailed(ctx, in, sig))
	}
	if escalates(from, scenario, env) {
		c.escalated = true
		c.notes = append(c.notes, Note{Text: Say(":arrow_double_up: Escalated: %s (%s) → %s (%s)%s",
			scenarioTitle(from), in.Severity, scenarioTitle(scenario), SeverityOf(scenario, env), escalationWhy(from, scenario))})
		e.audit(ctx, in, "medic", AuditIncidentEscalated, map[string]string{"from": string(from), "to": string(scenario), "signal": sig.Key()})
	} else if sig.Job != nil && sig.Job.ID != in.JobID && !c.newAttempt {
		if in.Untrusted == "" { // an untrusted run is one alert, however many jobs fail
			c.notes = append(c.notes, Note{Text: Say("Another job of this run failed: %s", sig.Job.Name), Link: sig.Job.URL, LinkText: "job"})
		}
	}
	diagIn := in
	if c.escalated || c.newAttempt {
		applySignal(&diagIn, sig, scenario, env)
	}
	return c, e.deps.Diagnoser.Gather(ctx, diagIn, env, sig.Run, sig.Job, sig.Alarm, log)
}

// absorbAlarmIncidents folds the environment's open alarm incidents into a pipeline
// incident that just opened: an alarm firing while a deploy fails is the same
// failure seen from CloudWatch, and on-call should follow one alert, not two.
func (e *Engine) absorbAlarmIncidents(ctx context.Context, into Incident) {
	open, err := e.deps.Incidents.OpenIncidents(ctx, into.Env)
	if err != nil {
		e.log.Warn("listing alarm incidents to merge", zap.String("incident", into.ID), zap.Error(err))
		return
	}
	for _, old := range open {
		if old.Scenario != AlarmFiring || old.ID == into.ID {
			continue
		}
		merged, err := e.update(ctx, old.ID, func(cur *Incident) {
			cur.Status, cur.MergedInto = IncidentResolved, into.ID
		})
		if err != nil {
			e.log.Warn("merging an alarm incident", zap.String("incident", old.ID), zap.Error(err))
			continue
		}
		e.audit(ctx, merged, "medic", AuditIncidentMerged, map[string]string{"into": into.ID})
		if err := e.publish(ctx, &merged); err != nil {
			e.log.Warn("updating a merged alert", zap.String("incident", old.ID), zap.Error(err))
		}
		e.postNotes(ctx, merged, []Note{{Text: Say(":link: Part of %s (%s): follow that alert.", into.ID, scenarioTitle(into.Scenario))}})
		if err := e.deps.Sources.AttachSource(ctx, into.ID, "alarm:"+old.AlarmName); err != nil && !errors.Is(err, ErrDuplicate) {
			e.log.Warn("attaching a merged alarm", zap.String("incident", into.ID), zap.Error(err))
		}
		into, err = e.update(ctx, into.ID, func(cur *Incident) { cur.Alarms = appendUnique(cur.Alarms, old.AlarmName) })
		if err != nil {
			e.log.Warn("recording a merged alarm", zap.String("incident", into.ID), zap.Error(err))
			continue
		}
		e.postNotes(ctx, into, []Note{{Text: Say(":rotating_light: %s was already in ALARM (%s, now merged here).", old.AlarmName, old.ID)}})
	}
}

// escalates reports whether a signal of scenario to makes an incident of scenario
// from more serious: a higher severity, or the automatic rollback failing.
func escalates(from, to ScenarioID, env Environment) bool {
	if from == to {
		return false
	}
	if to == RollbackFail {
		return true
	}
	return SeverityOf(to, env) > SeverityOf(from, env)
}

func escalationWhy(from, to ScenarioID) string {
	if to == RollbackFail {
		return ". The automatic rollback failed: production may be broken. IMMEDIATE ACTION REQUIRED."
	}
	return ""
}

func scenarioTitle(id ScenarioID) string {
	if s, ok := scenarios[id]; ok {
		if s.Number > 0 {
			return fmt.Sprintf("%s (scenario %d)", s.Title, s.Number)
		}
		return s.Title
	}
	return string(id)
}

func (e *Engine) newIncident(sig Signal, scenario ScenarioID, env Environment) Incident {
	now := e.deps.Now()
	in := Incident{
		ID:        e.deps.IDPrefix + newIncidentID(now),
		Env:       env.Name,
		Status:    IncidentOpen,
		SourceKey: sig.SourceKey(),
		OpenedAt:  now,
		UpdatedAt: now,
		Channel:   env.AlertChannel,
	}
	applySignal(&in, sig, scenario, env)
	return in
}

// applySignal records what a signal says about the incident's subject.
func applySignal(in *Incident, sig Signal, scenario ScenarioID, env Environment) {
	in.Scenario = scenario
	in.Severity = SeverityOf(scenario, env)
	in.Title = scenarios[scenario].Title
	in.Untrusted = sig.Untrusted
	if scenario == UntrustedRunFailed && sig.Run != nil {
		in.Title = untrustedTitle(*sig.Run)
	}
	if r := sig.Run; r != nil {
		in.RunID, in.RunAttempt = r.ID, r.Attempt
		in.RunURL = orWord(r.URL, in.RunURL)
		in.Workflow = orWord(r.Workflow, in.Workflow)
		in.WorkflowName = orWord(r.WorkflowName, in.WorkflowName)
		in.SHA = orWord(r.HeadSHA, in.SHA)
		in.Branch = orWord(r.HeadBranch, in.Branch)
		in.CommitMessage = orWord(r.CommitMessage, in.CommitMessage)
		in.CommitAuthor = orWord(r.CommitAuthor, in.CommitAuthor)
		if len(r.PullRequests) > 0 {
			in.PullRequests = r.PullRequests
		}
	}
	if j := sig.Job; j != nil {
		in.JobID, in.JobName, in.JobURL = j.ID, j.Name, j.URL
		if s, ok := j.FailedStep(); ok {
			in.Step = s.Name
		}
	}
	if a := sig.Alarm; a != nil && (scenario == AlarmFiring || scenario == AlarmWontClear) {
		in.AlarmName = a.Name
	}
}

// setFindings stores gathered findings and the facts they carry.
func setFindings(in *Incident, findings []Finding, now time.Time) {
	in.Findings = findings
	in.GatheredAt = now
	if in.Scenario == UntrustedRunFailed {
		return // an untrusted log names no lock, cause or version medic would act on
	}
	for _, f := range findings {
		if f.Cause != CauseNone {
			in.Cause = f.Cause
		}
		if f.Lock != nil && (in.Lock == nil || f.Diagnostic == DiagLockHolder || f.Diagnostic == DiagTerraformError) {
			in.Lock = f.Lock
		}
		if f.GoodSHA != "" && in.RollbackSHA == "" {
			in.RollbackSHA = f.GoodSHA
		}
		if len(f.GoodSHAs) > 0 {
			in.GoodSHAs = f.GoodSHAs
		}
	}
}

// findingNotes turns the long parts of findings (log excerpts) into thread notes.
func findingNotes(findings []Finding) []Note {
	var notes []Note
	for _, f := range findings {
		if f.Detail == "" {
			continue
		}
		notes = append(notes, Note{Title: orWord(f.DetailTitle, f.Title), Detail: f.Detail, Link: f.Link, LinkText: f.LinkText})
	}
	return notes
}

// update applies change to the stored incident, retrying on a concurrent change.
func (e *Engine) update(ctx context.Context, id string, change func(*Incident)) (Incident, error) {
	var before Incident
	saved, err := updateStored(ctx, incidentRetries, func(ctx context.Context) (Incident, error) { return e.deps.Incidents.Incident(ctx, id) },
		func(cur *Incident) {
			before = *cur
			change(cur)
			e.esc.schedule(cur)
			cur.UpdatedAt = e.deps.Now()
		}, e.deps.Incidents.UpdateIncident)
	if err == nil {
		e.esc.escalationChanged(ctx, before, saved)
	}
	return saved, err
}

// How many times an optimistic update is tried again when someone else saved the
// value first: a job's renewals and steps race with cancels and other replicas'
// rounds more than an incident or a request does.
const (
	incidentRetries = 5
	requestRetries  = 5
	jobRetries      = 10
)

// updateStored reads a stored value, changes it and saves it; when someone else saved
// it first (ErrConflict) it reads and changes it again, up to retries more times.
// change must be safe to apply to each fresh copy.
func updateStored[T any](ctx context.Context, retries int, read func(context.Context) (T, error), change func(*T), save func(context.Context, T) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		cur, err := read(ctx)
		if err != nil {
			var zero T
			return zero, err
		}
		change(&cur)
		saved, err := save(ctx, cur)
		if errors.Is(err, ErrConflict) && attempt < retries {
			continue
		}
		return saved, err
	}
}

// publish posts the incident's alert the first time and updates it afterwards; the
// message's ts is stored so a restart updates the same message. Posting is claimed
// per incident, so two workers (or replicas) racing on a new incident post one
// message; the loser leaves the message to the winner, who shows the latest state.
func (e *Engine) publish(ctx context.Context, in *Incident) error {
	in.EscalationLine = e.EscalationLine(*in)
	if in.Channel == "" {
		return fmt.Errorf("incident %s: environment %s has no alert channel (config: slack.alert_channel)", in.ID, in.Env)
	}
	if in.MessageTS != "" {
		// Updates of one alert go one at a time, each showing the latest stored state,
		// so a slow worker holding an older copy never overwrites a newer message.
		mu := e.alertLock(in.ID)
		mu.Lock()
		defer mu.Unlock()
		if cur, err := e.deps.Incidents.Incident(ctx, in.ID); err == nil && cur.Version >= in.Version {
			cur.EscalationLine = e.EscalationLine(cur)
			*in = cur
		}
		if err := e.deps.Publisher.UpdateAlert(ctx, *in); err != nil {
			return fmt.Errorf("updating the alert of %s: %w", in.ID, err)
		}
		e.esc.wakeIfDue(*in)
		return nil
	}
	if in.GatheredAt.IsZero() {
		// Not gathered yet: whoever is gathering will post it.
		return nil
	}
	if cur, err := e.deps.Incidents.Incident(ctx, in.ID); err == nil && cur.MessageTS != "" {
		// Posted meanwhile by another worker: show this state in that message.
		cur.EscalationLine = e.EscalationLine(cur)
		*in = cur
		return e.deps.Publisher.UpdateAlert(ctx, cur)
	}
	key := "post-alert:" + in.ID
	ok, err := e.deps.Claims.ClaimWork(ctx, key, time.Minute)
	if err != nil {
		return fmt.Errorf("claiming the alert of %s: %w", in.ID, err)
	}
	if !ok {
		return nil
	}
	ts, err := e.deps.Publisher.PostAlert(ctx, *in)
	if err != nil {
		_ = e.deps.Claims.ReleaseWork(context.WithoutCancel(ctx), key)
		return fmt.Errorf("posting the alert of %s: %w", in.ID, err)
	}
	saved, err := e.update(ctx, in.ID, func(cur *Incident) { cur.MessageTS = ts })
	if err != nil {
		return fmt.Errorf("recording the alert of %s (posted as %s): %w", in.ID, ts, err)
	}
	if err := e.deps.Claims.CompleteWork(ctx, key); err != nil {
		e.log.Warn("completing the alert claim", zap.String("incident", in.ID), zap.Error(err))
	}
	e.audit(ctx, saved, "medic", AuditIncidentAlerted, map[string]string{"channel": saved.Channel, "ts": ts})
	if saved.Version != in.Version+1 {
		// Changed while the first post was in flight: show the latest.
		saved.EscalationLine = e.EscalationLine(saved)
		if err := e.deps.Publisher.UpdateAlert(ctx, saved); err != nil {
			e.log.Warn("refreshing a just-posted alert", zap.String("incident", saved.ID), zap.Error(err))
		}
	}
	*in = saved
	e.esc.wakeIfDue(saved)
	return nil
}

// alertLock is the lock serialising the updates of one incident's alert message.
func (e *Engine) alertLock(id string) *sync.Mutex {
	mu, _ := e.alertLocks.LoadOrStore(id, &sync.Mutex{})
	return mu.(*sync.Mutex)
}

func (e *Engine) postNotes(ctx context.Context, in Incident, notes []Note) {
	for _, n := range notes {
		if err := e.deps.Publisher.PostNote(ctx, in, n); err != nil {
			e.log.Warn("posting a thread note", zap.String("incident", in.ID), zap.Error(err))
		}
	}
}

// auditEnv appends to the audit log an entry about an environment, and its incident
// and job when there are; a failure is logged.
func (e *Engine) auditEnv(ctx context.Context, env, incident, job, actor string, action AuditAction, detail map[string]string) {
	if err := e.deps.Audit.AppendAudit(ctx, AuditEntry{At: e.deps.Now(), Actor: actor, Action: string(action), Env: env, IncidentID: incident, JobID: job, Detail: detail}); err != nil {
		e.log.Error("audit append failed", zap.String("action", string(action)), zap.Error(err))
	}
}

func (e *Engine) audit(ctx context.Context, in Incident, actor string, action AuditAction, detail map[string]string) {
	if err := e.deps.Audit.AppendAudit(ctx, AuditEntry{At: e.deps.Now(), Actor: actor, Action: string(action), Env: in.Env, IncidentID: in.ID, Detail: detail}); err != nil {
		e.log.Error("audit append failed", zap.String("incident", in.ID), zap.String("action", string(action)), zap.Error(err))
	}
}

// rollbackStarted notes the pipeline's automatic rollback beginning.
func (e *Engine) rollbackStarted(ctx context.Context, sig Signal) error {
	in, err := e.deps.Sources.OpenIncidentBySource(ctx, sig.SourceKey())
	if errors.Is(err, ErrNotFound) {
		return nil // a rollback with no failure on record: its failure signal will open the incident
	}
	if err != nil {
		return err
	}
	late := false
	in, err = e.update(ctx, in.ID, func(cur *Incident) {
		// Deliveries come in any order: the news that the rollback started may arrive
		// after the news of how it ended, which it must not overwrite.
		late = cur.Rollback == RollbackFailed || cur.Rollback == RollbackSucceeded
		if !late {
			cur.Rollback = RollbackRunning
		}
		cur.Signals++
	})
	if err != nil || late {
		return err
	}
	if err := e.publish(ctx, &in); err != nil {
		return err
	}
	e.postNotes(ctx, in, []Note{{Text: Say(":arrows_counterclockwise: Automatic rollback started (%s).", sig.Job.Name), Link: sig.Job.URL, LinkText: "rollback job"}})
	return nil
}

// rollbackSucceeded records the automatic rollback's success, re-runs verification
// and says both in the thread.
func (e *Engine) rollbackSucceeded(ctx context.Context, sig Signal) error {
	in, err := e.deps.Sources.OpenIncidentBySource(ctx, sig.SourceKey())
	if errors.Is(err, ErrNotFound) {
		// The failure this rollback answers has not been handled yet (signals can
		// arrive out of order): handle the run's failed jobs first.
		if err := e.runCompletedFailures(ctx, sig); err != nil {
			return err
		}
		if in, err = e.deps.Sources.OpenIncidentBySource(ctx, sig.SourceKey()); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	env, err := e.deps.Envs.Get(in.Env)
	if err != nil {
		return err
	}
	verdict, healthy := e.verify(ctx, env)
	in, err = e.update(ctx, in.ID, func(cur *Incident) {
		cur.Rollback = RollbackSucceeded
		cur.FixedAt = e.deps.Now()
		cur.Signals++
	})
	if err != nil {
		return err
	}
	e.audit(ctx, in, "medic", AuditRollbackSucceeded, map[string]string{"sha": in.RollbackSHA, "verified": fmt.Sprint(healthy)})
	if err := e.publish(ctx, &in); err != nil {
		return err
	}
	back := Say("%s is back on the last known good version", in.Env)
	if in.RollbackSHA != "" {
		back = Say("%s is back on %s", in.Env, shortSHA(in.RollbackSHA))
	}
	e.postNotes(ctx, in, []Note{{Text: Say(":white_check_mark: Automatic rollback succeeded: %s.\nVerification re-run: %s", back, verdict), Link: sig.Job.URL, LinkText: "rollback job"}})
	return nil
}

func (e *Engine) runCompletedFailures(ctx context.Context, sig Signal) error {
	jobs, err := e.deps.Runs.RunJobs(ctx, sig.Run.ID)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.Status == "completed" && j.Failed() {
			job := j
			if err := e.Handle(ctx, Signal{Kind: SignalJobCompleted, Via: sig.Via, Run: sig.Run, Job: &job, At: sig.At}); err != nil {
				return err
			}
		}
	}
	return nil
}

// verify checks what the runbook's "Verify" sections check: the health endpoint
// answers 200 and no alarm of the environment is in ALARM.
func (e *Engine) verify(ctx context.Context, env Environment) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var parts []string
	ok := true
	if h, err := e.deps.Health.CheckHealth(ctx, env); err != nil {
		ok = false
		parts = append(parts, "health endpoint: "+oneLine(err))
	} else if !h.Healthy() {
		ok = false
		parts = append(parts, fmt.Sprintf("health endpoint answered %d", h.StatusCode))
	} else {
		parts = append(parts, "health endpoint 200")
	}
	if alarms, err := e.deps.Alarms.AlarmsFiring(ctx, env); err != nil {
		ok = false
		parts = append(parts, "alarms: "+oneLine(err))
	} else if len(alarms) > 0 {
		ok = false
		var names []string
		for _, a := range alarms {
			names = append(names, a.Name)
		}
		parts = append(parts, "in ALARM: "+strings.Join(names, ", "))
	} else {
		parts = append(parts, "no alarm in ALARM")
	}
	mark := ":white_check_mark:"
	if !ok {
		mark = ":x:"
	}
	return mark + " " + strings.Join(parts, "; "), ok
}

// alarmFiring attaches an alarm to the environment's open pipeline incident when there
// is one (the same failure, seen from CloudWatch), or opens an incident for it.
func (e *Engine) alarmFiring(ctx context.Context, sig Signal) error {
	source := sig.SourceKey()
	if in, err := e.deps.Sources.OpenIncidentBySource(ctx, source); err == nil {
		in, err = e.update(ctx, in.ID, func(cur *Incident) { cur.Signals++ })
		if err != nil {
			return err
		}
		e.postNotes(ctx, in, []Note{{Text: Say(":rotating_light: %s entered ALARM again (%s)", sig.Alarm.Name, sig.Alarm.Since.UTC().Format("15:04 UTC"))}})
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	open, err := e.deps.Incidents.OpenIncidents(ctx, sig.Env)
	if err != nil {
		return err
	}
	for _, in := range open {
		if in.RunID == 0 || in.Untrusted != "" { // an alarm is never a pull request's
			continue
		}
		if err := e.deps.Sources.AttachSource(ctx, in.ID, source); errors.Is(err, ErrDuplicate) {
			return nil
		} else if err != nil {
			return err
		}
		env, err := e.deps.Envs.Get(in.Env)
		if err != nil {
			return err
		}
		findings := e.deps.Diagnoser.Gather(ctx, in, env, nil, nil, sig.Alarm, nil)
		in, err = e.update(ctx, in.ID, func(cur *Incident) {
			cur.Alarms = appendUnique(cur.Alarms, sig.Alarm.Name)
			cur.Signals++
			mergeFindings(cur, findings, e.deps.Now())
		})
		if err != nil {
			return err
		}
		if err := e.publish(ctx, &in); err != nil {
			return err
		}
		e.postNotes(ctx, in, []Note{{Text: Say(":rotating_light: %s entered ALARM at %s: %s", sig.Alarm.Name, sig.Alarm.Since.UTC().Format("15:04 UTC"), cutText(sig.Alarm.Reason, 300))}})
		return nil
	}
	return e.open(ctx, sig, AlarmFiring, sig.Env, nil)
}

// mergeFindings keeps a pipeline incident's findings but refreshes those a later
// gathering has too (a re-gather without the run keeps the run's diagnostics).
func mergeFindings(in *Incident, fresh []Finding, now time.Time) {
	byID := map[DiagnosticID]Finding{}
	for _, f := range fresh {
		if f.Problem == "" {
			byID[f.Diagnostic] = f
		}
	}
	for i, f := range in.Findings {
		if nf, ok := byID[f.Diagnostic]; ok {
			in.Findings[i] = nf
		}
	}
	in.GatheredAt = now
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// alarmStuck opens the "alarm won't clear" case; an alarm that already has its own
// incident (it fired before the fix) has that incident become the case, so the alarm
// stays one alert.
func (e *Engine) alarmStuck(ctx context.Context, sig Signal) error {
	in, err := e.deps.Sources.OpenIncidentBySource(ctx, "alarm:"+sig.Alarm.Name)
	if errors.Is(err, ErrNotFound) || (err == nil && in.Scenario != AlarmFiring) {
		return e.open(ctx, sig, AlarmWontClear, sig.Env, nil)
	}
	if err != nil {
		return err
	}
	if err := e.deps.Sources.AttachSource(ctx, in.ID, sig.SourceKey()); err != nil && !errors.Is(err, ErrDuplicate) {
		return err
	}
	env, err := e.deps.Envs.Get(in.Env)
	if err != nil {
		return err
	}
	from := in.Scenario
	next := in
	applySignal(&next, sig, AlarmWontClear, env)
	findings := e.deps.Diagnoser.Gather(ctx, next, env, nil, nil, sig.Alarm, nil)
	in, err = e.update(ctx, in.ID, func(cur *Incident) {
		applySignal(cur, sig, AlarmWontClear, env)
		cur.Signals++
		setFindings(cur, findings, e.deps.Now())
	})
	if err != nil {
		return err
	}
	e.audit(ctx, in, "medic", AuditIncidentEscalated, map[string]string{"from": string(from), "to": string(AlarmWontClear), "signal": sig.Key()})
	if err := e.publish(ctx, &in); err != nil {
		return err
	}
	e.postNotes(ctx, in, []Note{{Text: Say(":hourglass: %s is still in ALARM %s after the last successful deploy: the fix did not clear it.", sig.Alarm.Name, duration(e.deps.Now().Sub(sig.Alarm.Since)))}})
	return nil
}

// alarmCleared notes an alarm of an incident being back to OK.
func (e *Engine) alarmCleared(ctx context.Context, sig Signal) error {
	in, err := e.deps.Incidents.Incident(ctx, sig.IncidentID)
	if err != nil {
		return err
	}
	if in.Status == IncidentResolved {
		return nil
	}
	e.audit(ctx, in, "medic", AuditAlarmCleared, map[string]string{"alarm": sig.Alarm.Name})
	e.postNotes(ctx, in, []Note{{Text: Say(":white_check_mark: %s is no longer in ALARM.", sig.Alarm.Name)}})
	return nil
}

// maxIDDraws bounds the new IDs an incident draws when its ID is taken: 20 random
// bits per minute make a second collision in a row all but impossible.
const maxIDDraws = 3

// newIncidentID makes a short ID people can type: "INC-" and eight characters, the
// first four from the time so IDs sort roughly by age.
func newIncidentID(now time.Time) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // Crockford base32
	b := make([]byte, 8)
	t := uint64(now.Unix() / 60)
	for i := 3; i >= 0; i-- {
		b[i] = alphabet[t%32]
		t /= 32
	}
	r := make([]byte, 4)
	_, _ = rand.Read(r)
	for i := 0; i < 4; i++ {
		b[4+i] = alphabet[r[i]%32]
	}
	return "INC-" + string(b)
}

// missingFields names, sorted and joined with ", ", the fields whose value is missing:
// construction says what to wire, not only that something is.
func missingFields(missing map[string]bool) string {
	var names []string
	for name, m := range missing {
		if m {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
