package recovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// CursorStore keeps where each poller got to, so a restart neither misses nor
// repeats. Cursor returns the zero time for a cursor never set (not ErrNotFound); the
// only errors are the store's.
type CursorStore interface {
	Cursor(ctx context.Context, name string) (time.Time, error)
	SetCursor(ctx context.Context, name string, t time.Time) error
}

// PolledRuns is what the run poller reads of GitHub. Methods return errors that
// implement Summarizer.
type PolledRuns interface {
	// RecentRuns lists a workflow's runs created at or after since, newest first.
	RecentRuns(ctx context.Context, workflow string, since time.Time) ([]Run, error)
	// Run returns one run.
	Run(ctx context.Context, id int64) (Run, error)
	// RunJobs lists the jobs of a run's latest attempt.
	RunJobs(ctx context.Context, runID int64) ([]JobInfo, error)
}

// RunPoller reads the Actions API for the watched workflows, for installs without
// webhook ingress, and reports what it sees as signals. What a webhook already
// reported is reported again and ignored by the engine (same signal keys).
type RunPoller struct {
	Runs     PolledRuns
	Cursors  CursorStore
	Pipeline *Pipeline
	Submit   func(Signal) bool
	Now      func() time.Time
	Logger   *zap.Logger
	// Lookback is how far back a first poll (no cursor yet) looks; default 24h.
	Lookback time.Duration
	// Followed lists the runs open incidents wait on (Engine.FollowedRuns): a re-run
	// of a run older than the cursor is not listed as a new run, so each is read by ID
	// until it ends. Nil follows none.
	Followed func(ctx context.Context) ([]int64, error)

	mu sync.Mutex
	// quietUntil is when GitHub lets the poller call again after a rate limit.
	quietUntil time.Time
}

// RetryAfterError is implemented by errors of a service that asked medic to stay away
// for a while (GitHub's Retry-After, or the reset of its rate limit). RetryAfter
// returns 0 when the service said nothing.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// ErrPollPaused is returned (wrapped) by a poll round skipped because the service
// rate-limited medic and the wait it asked for is not over.
var ErrPollPaused = errors.New("polling paused by a rate limit")

// cursorMargin re-reads a little before the cursor: runs are listed by creation time
// and the clocks of GitHub and medic may differ.
const cursorMargin = 10 * time.Minute

// Poll reads every watched workflow once. When GitHub rate-limits medic, the round
// stops there and later rounds are skipped (ErrPollPaused) until the wait GitHub asked
// for is over: polling on would only prolong the limit (GitHub may ban the token for
// ignoring it). Nothing is missed: each workflow's cursor moves only after a complete
// read, so the first round after the pause reads everything since.
func (p *RunPoller) Poll(ctx context.Context) error {
	now := p.Now()
	p.mu.Lock()
	quiet := p.quietUntil
	p.mu.Unlock()
	if now.Before(quiet) {
		return fmt.Errorf("workflow runs: %w until %s", ErrPollPaused, quiet.UTC().Format(time.TimeOnly))
	}
	var firstErr error
	for wf := range p.Pipeline.Workflows {
		err := p.pollWorkflow(ctx, wf)
		if err == nil {
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
		var ra RetryAfterError
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			until := now.Add(ra.RetryAfter())
			p.mu.Lock()
			p.quietUntil = until
			p.mu.Unlock()
			p.Logger.Warn("rate limited: polling workflow runs paused", zap.String("workflow", wf),
				zap.Duration("retry_after", ra.RetryAfter()), zap.Time("until", until), zap.Error(err))
			return err
		}
		p.Logger.Warn("polling workflow runs", zap.String("workflow", wf), zap.Error(err))
	}
	if err := p.pollFollowed(ctx); err != nil {
		var ra RetryAfterError
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			p.mu.Lock()
			p.quietUntil = now.Add(ra.RetryAfter())
			p.mu.Unlock()
		}
		p.Logger.Warn("polling followed runs", zap.Error(err))
		if firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// pollFollowed reads each run an open incident follows and reports the ended ones
// (their signal keys name the attempt, so an end already reported is ignored).
func (p *RunPoller) pollFollowed(ctx context.Context) error {
	if p.Followed == nil {
		return nil
	}
	ids, err := p.Followed(ctx)
	if err != nil {
		return err
	}
	var firstErr error
	for _, id := range ids {
		r, err := p.Runs.Run(ctx, id)
		var ra RetryAfterError
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			return err // rate limited: the next round reads them again
		}
		if err != nil {
			// One run that cannot be read (deleted: 404) does not keep the others from
			// being read.
			p.Logger.Warn("reading a followed run", zap.Int64("run", id), zap.Error(err))
			if firstErr == nil {
				firstErr = fmt.Errorf("reading followed run %d: %w", id, err)
			}
			continue
		}
		if r.Status != "completed" {
			continue
		}
		run := r
		p.submit(Signal{Kind: SignalRunCompleted, Via: "poll", Run: &run, At: p.Now()})
	}
	return firstErr
}

func (p *RunPoller) pollWorkflow(ctx context.Context, wf string) error {
	name := "runs:" + wf
	now := p.Now()
	since, err := p.Cursors.Cursor(ctx, name)
	if err != nil {
		return err
	}
	if since.IsZero() {
		lookback := p.Lookback
		if lookback == 0 {
			lookback = 24 * time.Hour
		}
		since = now.Add(-lookback)
	}
	runs, err := p.Runs.RecentRuns(ctx, wf, since.Add(-cursorMargin))
	if err != nil {
		return err
	}
	// The next poll starts from the oldest run still going (it may yet fail), or
	// from the newest run seen when all are done.
	next := since
	var oldestOpen time.Time
	for _, r := range runs {
		if r.Workflow == "" {
			r.Workflow = wf
		}
		run := r
		if r.CreatedAt.After(next) {
			next = r.CreatedAt
		}
		if r.Status == "completed" {
			p.submit(Signal{Kind: SignalRunCompleted, Via: "poll", Run: &run, At: now})
			continue
		}
		if oldestOpen.IsZero() || r.CreatedAt.Before(oldestOpen) {
			oldestOpen = r.CreatedAt
		}
		started := r.StartedAt
		if started.IsZero() {
			started = r.CreatedAt
		}
		if p.Pipeline.StuckAfter > 0 && now.Sub(started) > p.Pipeline.StuckAfter {
			p.submit(Signal{Kind: SignalRunStuck, Via: "poll", Run: &run, At: now})
		}
		jobs, err := p.Runs.RunJobs(ctx, r.ID)
		var ra RetryAfterError
		if errors.As(err, &ra) && ra.RetryAfter() > 0 {
			return err // rate limited: the cursor stays, the next round reads this again
		}
		if err != nil {
			p.Logger.Warn("listing jobs of a running run", zap.Int64("run", r.ID), zap.Error(err))
			continue
		}
		for _, j := range jobs {
			job := j
			switch {
			case j.Status == "completed" && (j.Failed() || (j.Name == p.Pipeline.RollbackJob && j.Conclusion == "success")):
				p.submit(Signal{Kind: SignalJobCompleted, Via: "poll", Run: &run, Job: &job, At: now})
			case j.Status == "in_progress" && j.Name == p.Pipeline.RollbackJob:
				p.submit(Signal{Kind: SignalJobStarted, Via: "poll", Run: &run, Job: &job, At: now})
			}
		}
	}
	if !oldestOpen.IsZero() && oldestOpen.Before(next) {
		next = oldestOpen
	}
	return p.Cursors.SetCursor(ctx, name, next)
}

func (p *RunPoller) submit(s Signal) {
	if !p.Submit(s) {
		p.Logger.Warn("signal not queued; the next poll will report it again", zap.String("signal", s.Key()))
	}
}

// AlarmPoller reads each environment's alarms in ALARM and reports those entering
// ALARM, those leaving it, and those still in ALARM long after a fix.
type AlarmPoller struct {
	Envs      *Environments
	Alarms    AlarmReader
	Deploys   DeployHistory
	Incidents IncidentReader
	Pipeline  *Pipeline
	Submit    func(Signal) bool
	Now       func() time.Time
	Logger    *zap.Logger
}

// Poll reads every environment once.
func (p *AlarmPoller) Poll(ctx context.Context) error {
	var firstErr error
	for _, name := range p.Envs.Names() {
		env, _ := p.Envs.Get(name)
		if err := p.pollEnv(ctx, env); err != nil {
			p.Logger.Warn("polling alarms", zap.String("env", name), zap.Error(err))
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}

func (p *AlarmPoller) pollEnv(ctx context.Context, env Environment) error {
	now := p.Now()
	firing, err := p.Alarms.AlarmsFiring(ctx, env)
	if err != nil {
		return err
	}
	var fix *Deploy
	if len(firing) > 0 && p.Pipeline.AlarmClearGrace > 0 {
		if fix, err = p.Deploys.LastSuccessfulDeploy(ctx, env); err != nil {
			p.Logger.Warn("reading the last deploy for alarm checks", zap.String("env", env.Name), zap.Error(err))
		}
	}
	inAlarm := map[string]bool{}
	for _, a := range firing {
		alarm := a
		inAlarm[a.Name] = true
		if fix != nil && a.Since.Before(fix.At) && now.Sub(fix.At) >= p.Pipeline.AlarmClearGrace {
			// In ALARM since before the last successful deploy, and still: the fix did
			// not clear it.
			p.submit(Signal{Kind: SignalAlarmStuck, Via: "alarm-poll", Env: env.Name, Alarm: &alarm, IncidentID: fmt.Sprintf("deploy-%d", fix.RunID), At: now})
			continue
		}
		p.submit(Signal{Kind: SignalAlarmFiring, Via: "alarm-poll", Env: env.Name, Alarm: &alarm, At: now})
	}
	open, err := p.Incidents.OpenIncidents(ctx, env.Name)
	if err != nil {
		return err
	}
	for _, in := range open {
		names := in.Alarms
		if in.AlarmName != "" && in.Scenario == AlarmFiring {
			names = appendUnique(names, in.AlarmName)
		}
		for _, n := range names {
			if !inAlarm[n] {
				p.submit(Signal{Kind: SignalAlarmCleared, Via: "alarm-poll", Env: env.Name, Alarm: &Alarm{Name: n, State: "OK"}, IncidentID: in.ID, At: now})
			}
		}
	}
	return nil
}

func (p *AlarmPoller) submit(s Signal) {
	if !p.Submit(s) {
		p.Logger.Warn("signal not queued; the next poll will report it again", zap.String("signal", s.Key()))
	}
}
