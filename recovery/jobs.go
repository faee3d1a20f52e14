package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// jobRegistry tracks the jobs this process runs, so they can be cancelled and waited
// for at shutdown.
type jobRegistry struct {
	mu      sync.Mutex
	cancels map[string]context.CancelCauseFunc
	wg      sync.WaitGroup
	// closing is set when DrainJobs begins: no job starts after it.
	closing bool
}

var (
	errJobCancelled = errors.New("cancelled by a person")
	errShutdown     = errors.New("medic is shutting down")
	// errLeaseLost stops a job whose lease could not be renewed before it ran out:
	// other replicas may take it for dead, free its environment and start another
	// job there, so it must not go on changing anything unseen.
	errLeaseLost = errors.New("its lease could not be renewed")
)

func newJobRegistry() *jobRegistry {
	return &jobRegistry{cancels: map[string]context.CancelCauseFunc{}}
}

// start runs a job in its own goroutine. The job keeps ctx's values but outlives the
// click that approved it: it ends by itself, by cancel, or when DrainJobs stops it.
// Once the drain began it starts nothing and returns false.
func (r *jobRegistry) start(ctx context.Context, id string, run func(ctx context.Context)) bool {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		cancel(errShutdown)
		return false
	}
	r.cancels[id] = cancel
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.cancels, id)
			r.mu.Unlock()
			cancel(nil)
		}()
		run(ctx)
	}()
	return true
}

// isClosing reports whether the drain began.
func (r *jobRegistry) isClosing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closing
}

func (r *jobRegistry) cancel(id string, cause error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cancels[id]
	if ok {
		c(cause)
	}
	return ok
}

// DrainJobs stops the previews (their requests end as failed, saying so), waits until
// ctx is done (the shutdown grace) for this process's running jobs to finish, then
// interrupts the rest (Terraform gets an interrupt), which record where they stopped.
// It returns once every job has ended.
func (jr *jobRunner) DrainJobs(ctx context.Context) {
	jr.registry.mu.Lock()
	jr.registry.closing = true // from now on no job starts (see startJob)
	jr.registry.mu.Unlock()
	if jr.previews != nil {
		jr.previews.close()
	}
	done := make(chan struct{})
	go func() { jr.registry.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	jr.registry.mu.Lock()
	for _, c := range jr.registry.cancels {
		c(errShutdown)
	}
	jr.registry.mu.Unlock()
	<-done
}

// ButtonValue encodes what a follow-up button (Force Lambda update after a failed
// rollback, a rollback without an incident) carries.
func ButtonValue(incidentID, env string, p RequestParams) string {
	v := url.Values{}
	if incidentID != "" {
		v.Set("incident", incidentID)
	}
	if env != "" {
		v.Set("env", env)
	}
	if p.SHA != "" {
		v.Set("sha", p.SHA)
	}
	return v.Encode()
}

// ParseButtonValue reads a button's value: a bare incident ID (the alert's buttons) or
// what ButtonValue encoded.
func ParseButtonValue(s string) (incidentID, env string, p RequestParams) {
	if !strings.Contains(s, "=") {
		return s, "", RequestParams{}
	}
	v, err := url.ParseQuery(s)
	if err != nil {
		return "", "", RequestParams{}
	}
	return v.Get("incident"), v.Get("env"), RequestParams{SHA: v.Get("sha")}
}

// startJob turns an approved request into a job and runs it in the background. It
// starts at most once per request: a second call finds the job already there.
func (jr *jobRunner) startJob(ctx context.Context, r Request) (Job, error) {
	if jr.registry.isClosing() {
		return Job{}, &UserError{fmt.Sprintf("medic is shutting down, so %s's job did not start; nothing was done. Retry it once medic is back.", r.ID)}
	}
	now := jr.now()
	job := Job{
		ID: jr.deps.idPrefix + newID("JOB", now), Env: r.Env, Action: r.Action, IncidentID: r.IncidentID, RequestID: r.ID,
		State: JobPending, RequestedBy: r.RequestedBy, ApprovedBy: r.DecidedBy, CreatedAt: now, UpdatedAt: now,
		Params: r.Params, Owner: jr.deps.Instance, LeaseUntil: now.Add(jr.deps.JobLease),
		Channel: r.Channel, ThreadTS: orWord(r.ThreadTS, r.MessageTS), PlanSHA256: r.Preview.PlanSHA256,
	}
	for _, s := range jr.plan(job, nil) {
		job.Steps = append(job.Steps, StepRecord{Name: s.name, Mutating: s.mutating, State: StepPending})
	}
	if err := jr.deps.Jobs.CreateJob(ctx, job); errors.Is(err, ErrDuplicate) {
		return Job{}, &UserError{fmt.Sprintf("Request %s already has its job.", r.ID)}
	} else if err != nil {
		return Job{}, err
	}
	if err := jr.deps.Slots.LockEnv(ctx, job.Env, job.ID); err != nil {
		why := oneLine(err)
		job.State, job.Error = JobCancelled, why
		// Through updateJob: the stored job's version, not this copy's (0).
		if _, uerr := jr.updateJob(ctx, job.ID, func(j *Job) { j.State, j.Error = JobCancelled, why }); uerr != nil {
			jr.log.Warn("recording a job that could not start", zap.String("job", job.ID), zap.Error(uerr))
		}
		jr.jobNote(ctx, job, Note{Text: Say(":no_entry: Job %s did not start: %s.", job.ID, why)})
		if errors.Is(err, ErrDuplicate) {
			return Job{}, &UserError{fmt.Sprintf("Job %s did not start: %s. One recovery job per environment at a time.", job.ID, why)}
		}
		return Job{}, err
	}
	jr.audits.auditEnv(ctx, job.Env, job.IncidentID, job.ID, r.DecidedBy, AuditJobCreated, map[string]string{"request": r.ID, "action": string(r.Action), "sha": r.Params.SHA})
	if saved, err := jr.requests.updateRequest(ctx, r.ID, func(cur *Request) { cur.JobID = job.ID }); err != nil {
		jr.log.Warn("recording the job of a request", zap.String("request", r.ID), zap.Error(err))
	} else {
		jr.requests.showRequest(ctx, saved)
	}
	jr.showIncidentJob(ctx, job)
	if !jr.registry.start(ctx, job.ID, func(ctx context.Context) { jr.runJob(ctx, job) }) {
		// The drain began a moment ago: the job ends before its first step, as one the
		// drain interrupted does.
		jr.finishJob(context.WithoutCancel(ctx), job, jr.plan(job, nil), errShutdown, 0, errShutdown, nil)
		return Job{}, &UserError{fmt.Sprintf("medic is shutting down, so job %s did not start; nothing was done. Retry it once medic is back.", job.ID)}
	}
	return job, nil
}

// runJob carries out a job's steps in order, recording each before and after it runs,
// so a crash leaves the job at the step it reached.
func (jr *jobRunner) runJob(ctx context.Context, job Job) {
	log := jr.log.With(zap.String("job", job.ID), zap.String("action", string(job.Action)), zap.String("env", job.Env))
	jc := &jobCtx{}
	defer jc.close()
	steps := jr.plan(job, jc)
	stopLease := jr.keepLease(ctx, job.ID)
	defer stopLease()

	a, _ := ActionByID(job.Action)
	jr.jobNote(ctx, job, Note{Text: Say(":gear: Job %s started: %s on %s (%d steps), approved by %s.", job.ID, a.Label, job.Env, len(steps), whoSpan(job.ApprovedBy))})
	var failed error
	var failedStep int
	for i := job.Current; i < len(steps); i++ {
		st := steps[i]
		if err := context.Cause(ctx); err != nil {
			failed, failedStep = err, i
			break
		}
		// A step runs only once its start is on record: a step that cannot be recorded
		// does not run, and the job fails there.
		started, err := jr.recordJob(ctx, job.ID, func(j *Job) {
			j.State, j.Current = JobRunning, i
			j.Steps[i].State, j.Steps[i].Started = StepRunning, jr.now()
		})
		if err != nil {
			log.Error("recording a step start", zap.Error(err))
			failed, failedStep = err, i
			break
		}
		job, err = jr.runStep(ctx, started, len(steps), i, st, log)
		if err != nil {
			failed, failedStep = err, i
			break
		}
	}
	jr.finishJob(context.WithoutCancel(ctx), job, steps, failed, failedStep, context.Cause(ctx), jc.follow)
}

// runStep runs a job's step i (its start already recorded), records and audits how it
// ended, and tells it in the thread. It returns the job as recorded and the step's
// error.
func (jr *jobRunner) runStep(ctx context.Context, job Job, total, i int, st stepDef, log *zap.Logger) (Job, error) {
	jr.showIncidentJob(ctx, job)
	jr.jobNote(ctx, job, Note{Text: Say(":arrow_forward: Step %d/%d: %s", i+1, total, st.name)})
	start := jr.now()
	sctx, cancel := context.WithTimeout(ctx, st.timeout)
	out, err := st.run(sctx)
	cancel()
	out = Redact(out)
	took := jr.now().Sub(start).Round(time.Second)
	if err != nil && context.Cause(ctx) != nil {
		err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
	}
	state := StepSucceeded
	errText := ""
	if err != nil {
		state, errText = StepFailed, Redact(oneLine(err))
		if context.Cause(ctx) != nil {
			state = StepCancelled
		}
	}
	ended := func(j *Job) {
		j.Steps[i].State, j.Steps[i].Ended = state, jr.now()
		j.Steps[i].Output, j.Steps[i].Error = cutText(out, 2000), errText
	}
	if saved, err := jr.recordJob(context.WithoutCancel(ctx), job.ID, ended); err != nil {
		log.Error("recording a step's end", zap.Int("step", i+1), zap.Error(err))
		ended(&job) // the thread still tells it
	} else {
		job = saved
	}
	jr.audits.auditEnv(context.WithoutCancel(ctx), job.Env, job.IncidentID, job.ID, "medic", AuditJobStep, map[string]string{
		"step": st.name, "state": string(state), "output": cutText(out, 500), "error": errText, "mutating": fmt.Sprint(st.mutating)})
	n := Note{Text: Say(":white_check_mark: %s (%s)", st.name, took)}
	if err != nil {
		n.Text = Say(":x: %s failed after %s: %s", st.name, took, errText)
	}
	if strings.Contains(out, "\n") || len(out) > 200 {
		n.Title, n.Detail = st.name, out
	} else if out != "" {
		n.Text = append(n.Text, Say("\n%s", out)...)
	}
	if detail := errorDetail(err); detail != "" {
		n.Title, n.Detail = st.name+": error", Redact(detail)
	}
	jr.jobNote(context.WithoutCancel(ctx), job, n)
	return job, err
}

// errorDetail is the long form of an error (Terraform's output) when it has one.
func errorDetail(err error) string {
	var d interface{ Detail() string }
	if errors.As(err, &d) {
		return d.Detail()
	}
	return ""
}

func (jr *jobRunner) finishJob(ctx context.Context, job Job, steps []stepDef, failed error, at int, cause error, started *FollowUp) {
	state, verdict := JobSucceeded, ":white_check_mark: Job %s succeeded."
	switch {
	case errors.Is(cause, errJobCancelled):
		state, verdict = JobCancelled, ":stop_sign: Job %s was cancelled at step %d (%s)."
	case errors.Is(cause, errShutdown):
		state, verdict = JobInterrupted, ":warning: Job %s was interrupted at step %d (%s): medic shut down. Nothing will be re-run without a new approval."
	case errors.Is(cause, errLeaseLost):
		state, verdict = JobInterrupted, ":warning: Job %s was interrupted at step %d (%s): medic could not reach its store to keep the job, so it stopped it rather than go on unseen. Nothing will be re-run without a new approval."
	case failed != nil:
		state, verdict = JobFailed, ":x: Job %s failed at step %d (%s)."
	}
	told := false // the job's end is on record already: RecoverJobs took it for dead
	end := func(j *Job) {
		told = j.State != JobRunning && j.State != JobPending
		if told {
			return
		}
		j.State = state
		if failed != nil {
			j.Error = Redact(oneLine(failed))
			for k := at + 1; k < len(j.Steps); k++ {
				j.Steps[k].State = StepSkipped
			}
		}
	}
	if saved, err := jr.recordJob(ctx, job.ID, end); err != nil {
		jr.log.Error("recording a job's end", zap.String("job", job.ID), zap.Error(err))
		if errors.Is(cause, errLeaseLost) {
			// Its lease ran out: RecoverJobs marks it interrupted and says so once the
			// store answers again.
			return
		}
		// The job keeps its ID, environment and thread: the slot is freed and the end
		// told all the same.
		end(&job)
	} else {
		job = saved
	}
	if told {
		return
	}
	if err := jr.deps.Slots.UnlockEnv(ctx, job.Env, job.ID); err != nil {
		jr.log.Error("freeing the environment", zap.String("job", job.ID), zap.Error(err))
	}
	jr.requests.dropPlan(ctx, job.RequestID) // applied or not, a plan is applied once
	jr.audits.auditEnv(ctx, job.Env, job.IncidentID, job.ID, "medic", auditJobEnd(state), map[string]string{"action": string(job.Action), "error": job.Error})
	n := jr.jobEndNote(job, steps, state, verdict, failed, at)
	if spec, _ := specOf(job.Action); state == JobSucceeded && job.IncidentID != "" && spec.fixes {
		if _, err := jr.book.update(ctx, job.IncidentID, func(cur *Incident) { cur.FixedAt = jr.now() }); err != nil {
			jr.log.Warn("recording the fix", zap.Error(err))
		}
	}
	jr.jobNote(ctx, job, n)
	if state == JobSucceeded {
		jr.after.startFollow(ctx, job, started)
	}
	jr.showIncidentJob(ctx, job)
	if job.IncidentID != "" && state == JobSucceeded {
		// The alert shows the world after the recovery, not before it.
		if in, err := jr.incidents.Incident(ctx, job.IncidentID); err == nil {
			if env, err := jr.envs.Get(in.Env); err == nil {
				if _, err := jr.after.refresh(ctx, in, env, "medic"); err != nil {
					jr.log.Warn("refreshing diagnostics after a job", zap.String("job", job.ID), zap.Error(err))
				}
			}
		}
	}
}

// jobEndNote tells a job's end in its thread: the verdict, Retry when it may be tried
// again, and the runbook's next step when a rollback's Terraform failed.
func (jr *jobRunner) jobEndNote(job Job, steps []stepDef, state JobState, verdict string, failed error, at int) Note {
	a, _ := ActionByID(job.Action)
	label := Say("%s (%s on %s)", job.ID, a.Label, job.Env)
	text := Say(verdict, label)
	if state != JobSucceeded {
		name := ""
		if at < len(steps) {
			name = steps[at].name
		}
		text = Say(verdict, label, at+1, name)
	}
	n := Note{Text: text}
	if state != JobSucceeded && state != JobCancelled {
		n.Buttons = append(n.Buttons, Button{Label: "Retry", ID: JobRetryID(), Value: job.ID})
	}
	if errors.Is(failed, ErrStalePlan) {
		n.Text = append(n.Text, Say("\nNothing was applied: %s's state changed after the plan was approved. Retry makes a new preview, which needs a new approval.", job.Env)...)
	}
	spec, _ := specOf(job.Action)
	if state == JobFailed && spec.terraformFallback && at < len(steps) && strings.HasPrefix(steps[at].name, "terraform") && !errors.Is(failed, ErrStalePlan) {
		// The runbook's Step 3: when Terraform fails, update the functions directly.
		n.Text = append(n.Text, Say("\nTerraform failed: the runbook's next step is to update the Lambda functions directly to %s.", shortSHA(job.Params.SHA))...)
		n.Buttons = append(n.Buttons, Button{Label: "Force Lambda update to " + shortSHA(job.Params.SHA), ID: ButtonID(ActForceLambdaUpdate),
			Value: ButtonValue(job.IncidentID, job.Env, RequestParams{SHA: job.Params.SHA}), Style: "danger"})
	}
	return n
}

// keepLease renews the job's lease while it runs and stops the job when someone asked
// to cancel it (possibly on another replica). It keeps renewing after the job's context
// is cancelled, until stop is called: a cancelled step may take a while to wind down
// (Terraform releasing its lock), and the job must not look abandoned meanwhile.
//
// A job whose lease cannot be renewed before it runs out (the store unreachable, or
// slower than the lease) is stopped with errLeaseLost: by then other replicas may
// take it for dead, mark it interrupted and start another job on its environment.
// Each renewal is given a third of the lease, so a store that hangs cannot hold the
// job past it either.
func (jr *jobRunner) keepLease(ctx context.Context, id string) func() {
	ctx = context.WithoutCancel(ctx)
	lease := jr.deps.JobLease
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := jr.clock.NewTicker(lease / 3)
		defer t.Stop()
		renewed := jr.now() // the lease was set (or renewed) no earlier than this
		for {
			select {
			case <-stop:
				return
			case <-t.C():
				rctx, cancel := context.WithTimeout(ctx, lease/3)
				j, err := jr.updateJob(rctx, id, func(j *Job) { j.LeaseUntil = jr.now().Add(lease) })
				cancel()
				switch {
				case err == nil:
					renewed = jr.now()
					if j.CancelRequestedBy != "" {
						jr.registry.cancel(id, errJobCancelled)
					}
				case jr.now().Sub(renewed) >= lease:
					if jr.registry.cancel(id, errLeaseLost) {
						jr.log.Error("stopping a job whose lease could not be renewed", zap.String("job", id), zap.Error(err))
					}
				default:
					jr.log.Warn("renewing a job's lease", zap.String("job", id), zap.Error(err))
				}
			}
		}
	}()
	return func() { close(stop); <-done }
}

func (jr *jobRunner) updateJob(ctx context.Context, id string, change func(*Job)) (Job, error) {
	return updateStored(ctx, jobRetries, func(ctx context.Context) (Job, error) { return jr.deps.Jobs.Job(ctx, id) },
		func(cur *Job) {
			change(cur)
			cur.UpdatedAt = jr.now()
		}, jr.deps.Jobs.UpdateJob)
}

// recordJob is updateJob for what a job must not lose (a step's start and end, the
// job's end): a failing store is tried again for about ten seconds, as a database
// restart or failover takes. The changes are idempotent: each attempt re-reads the job
// and applies them again.
func (jr *jobRunner) recordJob(ctx context.Context, id string, change func(*Job)) (Job, error) {
	const patience = 10 * time.Second
	start, wait := jr.now(), 100*time.Millisecond
	for {
		saved, err := jr.updateJob(ctx, id, change)
		if err == nil || errors.Is(err, ErrNotFound) || jr.now().Sub(start)+wait > patience {
			return saved, err
		}
		if Sleep(ctx, jr.clock, wait) != nil {
			return saved, err
		}
		wait = min(2*wait, time.Second)
	}
}

func (jr *jobRunner) jobNote(ctx context.Context, job Job, n Note) {
	if job.Channel == "" || job.ThreadTS == "" {
		return
	}
	if err := jr.replies.Reply(ctx, job.Channel, job.ThreadTS, n); err != nil {
		jr.log.Warn("posting a job note", zap.String("job", job.ID), zap.Error(err))
	}
}

// showIncidentJob shows the job's state on its incident's alert.
func (jr *jobRunner) showIncidentJob(ctx context.Context, job Job) {
	if job.IncidentID == "" {
		return
	}
	step := ""
	if job.Current < len(job.Steps) {
		step = fmt.Sprintf("step %d/%d %s", job.Current+1, len(job.Steps), job.Steps[job.Current].Name)
	}
	in, err := jr.book.update(ctx, job.IncidentID, func(cur *Incident) {
		cur.RecoveryJob, cur.RecoveryAction, cur.RecoveryState, cur.RecoveryStep = job.ID, job.Action, job.State, step
	})
	if err != nil {
		jr.log.Warn("showing a job on its incident", zap.String("job", job.ID), zap.Error(err))
		return
	}
	if in.MessageTS != "" {
		// Through publish, like every alert update: the latest state, with its
		// escalation line, one update at a time.
		if err := jr.book.publish(ctx, &in); err != nil {
			jr.log.Warn("updating an alert", zap.String("incident", in.ID), zap.Error(err))
		}
	}
}

// RecoverJobs finds jobs whose process stopped (their lease ran out) and marks them
// interrupted at the step they reached, without re-running anything: the thread says
// so and offers Retry, which asks for approval again. It runs at start-up and
// periodically.
func (jr *jobRunner) RecoverJobs(ctx context.Context) error {
	if jr.deps == nil {
		return nil
	}
	// A job is dead when its lease lapsed without a renewal; with the store to itself,
	// in the first round after start, also when another process left it behind, lease
	// or not. (Later rounds keep to the lease: a job another process started since is
	// alive, whatever this one believes about the store.)
	sole := jr.deps.SoleProcess && !jr.soleRoundDone.Load()
	dead := func(j Job) bool {
		return !j.LeaseUntil.After(jr.now()) || (sole && j.Owner != jr.deps.Instance)
	}
	before := jr.now()
	if sole {
		before = time.Unix(1<<40, 0) // every running and pending job, to look at its owner
	}
	stale, err := jr.deps.Jobs.StaleJobs(ctx, before)
	if err != nil {
		return err
	}
	if sole {
		jr.soleRoundDone.Store(true)
	}
	for _, j := range stale {
		if !dead(j) {
			continue
		}
		step, changed := "", false
		job, err := jr.updateJob(ctx, j.ID, func(cur *Job) {
			changed = false
			if cur.State != JobRunning && cur.State != JobPending {
				return
			}
			if !dead(*cur) {
				return // renewed meanwhile: its process is alive
			}
			cur.State = JobInterrupted
			if cur.Current < len(cur.Steps) {
				if cur.Steps[cur.Current].State == StepRunning {
					cur.Steps[cur.Current].State = StepInterrupted
				}
				step = cur.Steps[cur.Current].Name
			}
			cur.Error = "medic stopped while the job ran"
			changed = true
		})
		if err != nil || !changed {
			continue
		}
		if err := jr.deps.Slots.UnlockEnv(ctx, job.Env, job.ID); err != nil {
			jr.log.Warn("freeing the environment of an interrupted job", zap.String("job", job.ID), zap.Error(err))
		}
		jr.audits.auditEnv(ctx, job.Env, job.IncidentID, job.ID, "medic", AuditJobInterrupted, map[string]string{"step": step, "owner": j.Owner})
		text := Say(":warning: medic stopped while job %s was at step %d/%d (%s). The job is marked interrupted; nothing was re-run.", job.ID, job.Current+1, len(job.Steps), step)
		if job.Current < len(job.Steps) && job.Steps[job.Current].Mutating {
			text = append(text, Say(" It was changing %s: check its state before retrying.", job.Env)...)
		}
		jr.jobNote(ctx, job, Note{
			Text:    text,
			Buttons: []Button{{Label: "Retry", ID: JobRetryID(), Value: job.ID}},
		})
		jr.showIncidentJob(ctx, job)
	}
	return nil
}

// CancelJob stops a running job: its current step's context is cancelled (Terraform
// gets an interrupt) and the job ends cancelled.
func (jr *jobRunner) CancelJob(ctx context.Context, jobID, user string) (string, error) {
	if jr.deps == nil {
		return "", &UserError{"medic's recovery actions are not configured here."}
	}
	job, err := jr.deps.Jobs.Job(ctx, jobID)
	if errors.Is(err, ErrNotFound) {
		return "", &UserError{fmt.Sprintf("Job %s is not on record.", jobID)}
	}
	if err != nil {
		return "", err
	}
	if ok, err := jr.deps.Access.Has(ctx, user, job.Env, RoleResponder); err != nil {
		return "", err
	} else if !ok {
		jr.audits.auditEnv(ctx, job.Env, job.IncidentID, job.ID, user, AuditJobCancelRefused, map[string]string{"why": "not a responder"})
		return "", &UserError{fmt.Sprintf("You need the *responder* role for %s to cancel a job.", job.Env)}
	}
	if job.State != JobRunning && job.State != JobPending {
		return fmt.Sprintf("Job %s is %s already.", job.ID, job.State), nil
	}
	if _, err := jr.updateJob(ctx, job.ID, func(j *Job) { j.CancelRequestedBy = user }); err != nil {
		return "", err
	}
	jr.audits.auditEnv(ctx, job.Env, job.IncidentID, job.ID, user, AuditJobCancelRequested, nil)
	jr.registry.cancel(job.ID, errJobCancelled)
	jr.jobNote(ctx, job, Note{Text: Say(":stop_sign: %s asked to cancel job %s.", Mention(user), job.ID)})
	return fmt.Sprintf("Cancelling job %s.", job.ID), nil
}

// RetryJob requests a failed or interrupted job's action again, with the same inputs;
// it goes through approval like any request.
func (jr *jobRunner) RetryJob(ctx context.Context, jobID, user string) (string, error) {
	if jr.deps == nil {
		return "", &UserError{"medic's recovery actions are not configured here."}
	}
	job, err := jr.deps.Jobs.Job(ctx, jobID)
	if errors.Is(err, ErrNotFound) {
		return "", &UserError{fmt.Sprintf("Job %s is not on record.", jobID)}
	}
	if err != nil {
		return "", err
	}
	if job.State == JobRunning || job.State == JobPending {
		return "", &UserError{fmt.Sprintf("Job %s is still running.", job.ID)}
	}
	p := job.Params
	p.Reason = strings.TrimSpace("retry of " + job.ID + ". " + p.Reason)
	return jr.requests.RequestAction(ctx, ActionRequest{IncidentID: job.IncidentID, Env: job.Env, Action: job.Action, Params: p, User: user, Channel: job.Channel})
}
