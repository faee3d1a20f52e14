package recovery

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// requester is the requests and approvals service: it asks what an action needs,
// checks who asks and what, stores and shows requests, makes their previews, and takes
// the decisions. It works with the ActionDeps and reaches the rest through small
// interfaces.
type requester struct {
	deps      *ActionDeps
	book      incidentBook
	audits    envAuditor
	roles     roleChecker
	pager     incidentPager
	jobs      jobStarter
	incidents requestIncidents
	envs      *Environments
	runs      RunReader
	history   RunHistory
	commits   CommitChecker
	// paging says whether escalation (and so the data corruption page) is on.
	paging   bool
	previews *previewPool
	now      func() time.Time
	clock    Clock
	log      *zap.Logger
}

// jobRunner is the jobs service: it turns approved requests into jobs, runs their
// steps with a lease, reports each in the thread, and cancels, retries, recovers and
// drains them.
type jobRunner struct {
	deps      *ActionDeps
	book      incidentBook
	audits    envAuditor
	roles     roleChecker
	requests  requestKeeper
	after     jobFollowUp
	replies   Replier
	incidents jobIncidents
	envs      *Environments
	commits   CommitChecker
	registry  *jobRegistry
	// previews is the requester's pool, closed first when the jobs drain.
	previews *previewPool
	now      func() time.Time
	clock    Clock
	log      *zap.Logger
	// soleRoundDone is set once RecoverJobs looked at the jobs another process left
	// behind (ActionDeps.SoleProcess): that is done once, at start.
	soleRoundDone atomic.Bool
}

// envAuditor appends an audit entry about an environment (and its incident and job
// when there are); a failure is logged, not returned.
type envAuditor interface {
	auditEnv(ctx context.Context, env, incident, job, actor string, action AuditAction, detail map[string]string)
}

// incidentPager pages people about an incident; a *UserError says why nobody was.
type incidentPager interface {
	PageIncident(ctx context.Context, incidentID string, action ActionID, user, reason string) (string, error)
}

// jobStarter is what the requester asks of the jobs: start an approved request's job
// (a *UserError when it cannot, the store's errors otherwise), note in a job's thread,
// and whether the drain began (then nothing starts).
type jobStarter interface {
	startJob(ctx context.Context, r Request) (Job, error)
	jobNote(ctx context.Context, job Job, n Note)
	isClosing() bool
}

// requestKeeper is what the jobs ask of the requests: record a request's change (the
// store's errors), show it, forget its saved plan (a failure is logged), and request
// an action again (a Retry; a *UserError says why not).
type requestKeeper interface {
	updateRequest(ctx context.Context, id string, change func(*Request)) (Request, error)
	showRequest(ctx context.Context, r Request)
	dropPlan(ctx context.Context, requestID string)
	RequestAction(ctx context.Context, ar ActionRequest) (string, error)
}

// jobFollowUp is what happens after a job, on the incident: its diagnostics gathered
// again (the store's and Slack's errors), medic following what the job set going
// (failures logged), and the environment verified (a verdict, and whether healthy).
type jobFollowUp interface {
	refresh(ctx context.Context, in Incident, env Environment, user string) (string, error)
	startFollow(ctx context.Context, job Job, started *FollowUp)
	verify(ctx context.Context, env Environment) (string, bool)
}

// Replier replies in a thread (a job's, a request's). Errors are Slack's.
type Replier interface {
	Reply(ctx context.Context, channel, threadTS string, n Note) error
}

// requestIncidents is what the requester reads of incidents.
type requestIncidents interface {
	// Incident returns one incident (ErrNotFound).
	Incident(ctx context.Context, id string) (Incident, error)
	// OpenIncidents lists an environment's unresolved incidents.
	OpenIncidents(ctx context.Context, env string) ([]Incident, error)
}

// jobIncidents is what the jobs read of incidents.
type jobIncidents interface {
	// Incident returns one incident (ErrNotFound).
	Incident(ctx context.Context, id string) (Incident, error)
}

// newActions builds the requests and the jobs services over the engine, sharing the
// previews' pool.
func (e *Engine) newActions(previews *previewPool) (*requester, *jobRunner) {
	d, a := e.deps, e.deps.Actions
	rq := &requester{deps: a, book: e, audits: e, roles: e, pager: e, incidents: d.Incidents, envs: d.Envs, runs: d.Runs,
		history: d.History, commits: d.Commits, paging: d.Escalation != nil, previews: previews, now: d.Now, clock: d.Clock, log: e.log}
	jr := &jobRunner{deps: a, book: e, audits: e, roles: e, requests: rq, after: e, replies: d.Publisher, incidents: d.Incidents,
		envs: d.Envs, commits: d.Commits, registry: newJobRegistry(), previews: previews, now: d.Now, clock: d.Clock, log: e.log}
	rq.jobs = jr
	return rq, jr
}

// isClosing reports whether the jobs' drain began.
func (jr *jobRunner) isClosing() bool { return jr.registry.isClosing() }

// onBranch checks that sha is on the protected branch (see commitOnBranch).
func (jr *jobRunner) onBranch(ctx context.Context, sha string) (string, error) {
	return commitOnBranch(ctx, jr.commits, jr.deps.Branch, sha)
}

// The engine's requests, approvals and jobs, served by its requester and jobRunner.

// AsksFor says what must be asked of user before action (see requester.AsksFor).
func (e *Engine) AsksFor(ctx context.Context, incidentID, env string, action ActionID, user string) (Asks, bool, error) {
	return e.req.AsksFor(ctx, incidentID, env, action, user)
}

// RequestAction asks for an action (see requester.RequestAction).
func (e *Engine) RequestAction(ctx context.Context, ar ActionRequest) (string, error) {
	return e.req.RequestAction(ctx, ar)
}

// Decide approves or rejects a pending request (see requester.Decide).
func (e *Engine) Decide(ctx context.Context, requestID, user string, approve bool) (string, error) {
	return e.req.Decide(ctx, requestID, user, approve)
}

// ExpireRequests marks pending requests past their time expired.
func (e *Engine) ExpireRequests(ctx context.Context) error { return e.req.ExpireRequests(ctx) }

// DrainJobs stops the previews and drains this process's jobs within ctx (see
// jobRunner.DrainJobs).
func (e *Engine) DrainJobs(ctx context.Context) { e.run.DrainJobs(ctx) }

// RecoverJobs marks the jobs of dead processes interrupted (see jobRunner.RecoverJobs).
func (e *Engine) RecoverJobs(ctx context.Context) error { return e.run.RecoverJobs(ctx) }

// CancelJob asks a running job to stop (see jobRunner.CancelJob).
func (e *Engine) CancelJob(ctx context.Context, jobID, user string) (string, error) {
	return e.run.CancelJob(ctx, jobID, user)
}

// RetryJob requests a failed job's action again (see jobRunner.RetryJob).
func (e *Engine) RetryJob(ctx context.Context, jobID, user string) (string, error) {
	return e.run.RetryJob(ctx, jobID, user)
}
