package recovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/medic-ops/medic/internal/boundedre"
)

// RequestStore keeps requests for actions.
type RequestStore interface {
	// CreateRequest stores a new request; ErrDuplicate (wrapped) when a pending request
	// has its DedupeKey.
	CreateRequest(ctx context.Context, r Request) error
	// UpdateRequest saves r if its Version is current and returns it with the new
	// Version; ErrConflict (wrapped) otherwise, ErrNotFound when there is no such request.
	UpdateRequest(ctx context.Context, r Request) (Request, error)
	// Request returns one request (ErrNotFound).
	Request(ctx context.Context, id string) (Request, error)
	// PendingRequest returns the pending request with dedupeKey (ErrNotFound).
	PendingRequest(ctx context.Context, dedupeKey string) (Request, error)
}

// RequestExpiry finds the requests nobody decided in time.
type RequestExpiry interface {
	// ExpiredRequests lists the pending requests whose ExpiresAt is before t.
	ExpiredRequests(ctx context.Context, t time.Time) ([]Request, error)
}

// JobStore keeps recovery jobs.
type JobStore interface {
	// CreateJob stores a new job (ErrDuplicate when its ID or request has one).
	CreateJob(ctx context.Context, j Job) error
	// UpdateJob saves j if its Version is current and returns it with the new Version;
	// ErrConflict (wrapped) otherwise, ErrNotFound when there is no such job.
	UpdateJob(ctx context.Context, j Job) (Job, error)
	// Job returns one job (ErrNotFound).
	Job(ctx context.Context, id string) (Job, error)
	// StaleJobs lists the pending or running jobs whose lease ran out before t.
	StaleJobs(ctx context.Context, t time.Time) ([]Job, error)
}

// EnvSlots keeps each environment's one recovery job slot.
type EnvSlots interface {
	// LockEnv takes env's slot for jobID (ErrDuplicate naming the holder when taken).
	LockEnv(ctx context.Context, env, jobID string) error
	// UnlockEnv frees env's slot if jobID holds it.
	UnlockEnv(ctx context.Context, env, jobID string) error
	// EnvLock returns the job holding env's slot, "" when it is free.
	EnvLock(ctx context.Context, env string) (string, error)
}

// ActionDeps are what running recovery actions needs. Every field is required but
// Verify, whose zero value verifies once without watching.
type ActionDeps struct {
	Access   *Access
	Policy   Policy
	Requests RequestStore
	// Expiry finds the requests nobody decided in time (usually the same store).
	Expiry RequestExpiry
	// Views shows requests in Slack.
	Views RequestPublisher
	Jobs  JobStore
	// Slots keeps one recovery job per environment (usually the same store).
	Slots     EnvSlots
	Workflows WorkflowRunner
	Reverter  Reverter
	Terraform Terraform
	Lambda    LambdaUpdater
	Alarms    AlarmSetter
	Tables    TableCleaner
	Deploys   DeployHistory
	Functions FunctionReader
	// StateLocks reads an environment's Terraform lock table for force-unlock previews.
	StateLocks LockReader
	// Deployed tells whether a commit was deployed to an environment before.
	Deployed DeployChecker
	// Plans keeps the plans previews saved until their job applies them.
	Plans PlanStore
	// Previews tunes the pool previews run on (zero: the defaults).
	Previews PreviewConfig
	// Branch is the repository's default branch ("main").
	Branch string
	// Verify says how long verification keeps watching after the first check.
	Verify VerifyConfig
	// Instance names this medic process; JobLease is how long a job stays its own
	// without a renewal (a dead process's jobs are marked interrupted after it).
	Instance string
	JobLease time.Duration
	// SoleProcess says no other medic process uses the store (SQLite, locked by this
	// one): a job left running or pending by another Instance is dead, and RecoverJobs
	// marks it interrupted at once instead of waiting for its lease to lapse.
	SoleProcess bool
	// idPrefix is EngineDeps.IDPrefix, for the requests' and jobs' IDs.
	idPrefix string
}

// VerifyConfig tunes verification: Watch keeps checking for that long (the runbook:
// 10 minutes), every Interval.
type VerifyConfig struct {
	Watch    time.Duration
	Interval time.Duration
}

// The interactive element IDs of request and job controls.
const (
	approvePrefix   = "approve:"
	rejectPrefix    = "reject:"
	jobCancelPrefix = "job-cancel:"
	jobRetryPrefix  = "job-retry:"
)

// ApproveID, RejectID, JobCancelID and JobRetryID are the element IDs of a request's
// and a job's buttons; the button value carries the request or job ID.
func ApproveID() string   { return approvePrefix + "request" }
func RejectID() string    { return rejectPrefix + "request" }
func JobCancelID() string { return jobCancelPrefix + "job" }
func JobRetryID() string  { return jobRetryPrefix + "job" }

// Control is a click on a request or job control.
type Control string

// The controls.
const (
	ControlApprove   Control = "approve"
	ControlReject    Control = "reject"
	ControlJobCancel Control = "job-cancel"
	ControlJobRetry  Control = "job-retry"
)

// ParseControlID reads the control of an element ID made by ApproveID and the others.
func ParseControlID(id string) (Control, bool) {
	for c, p := range map[Control]string{ControlApprove: approvePrefix, ControlReject: rejectPrefix, ControlJobCancel: jobCancelPrefix, ControlJobRetry: jobRetryPrefix} {
		if strings.HasPrefix(id, p) {
			return c, true
		}
	}
	return "", false
}

var (
	shaRE    = boundedre.MustCompile(`^[0-9a-f]+$`, 7, 40)
	lockIDRE = boundedre.MustCompile(`^[0-9A-Za-z-]+$`, 1, 128)
	alarmRE  = boundedre.MustCompile(`^[\w.\-/#:+=@ ]+$`, 1, 255)
)

// ValidSHA reports whether s is a commit SHA as people type it (7 to 40 hex digits).
func ValidSHA(s string) bool { return shaRE.MatchString(s) }

// ActionRequest is someone asking for an action, from a button, a modal or /rollback.
type ActionRequest struct {
	IncidentID string
	// Env is required when there is no incident (/rollback on a healthy environment).
	Env    string
	Action ActionID
	Params RequestParams
	User   string
	// Channel is where a request without an incident is posted.
	Channel string
}

// Asks say what a modal must ask before an action is requested.
type Asks struct {
	// Env is the environment the action is on: the incident's, or the one named.
	Env    string
	Reason bool
	// EnvName, when set, must be typed to confirm (the nuclear actions).
	EnvName string
	// Override, when set, is the short SHA an admin types to confirm overriding the
	// deploy-history rule (a rollback to a version never deployed before).
	Override string
	// SHA, when set, is the default of a commit to pick (an emergency rollback).
	SHA       string
	KnownSHAs []string
}

// AsksFor says what must be asked of user before action, on the incident (or, without
// one, on env): restricted actions ask a reason, the nuclear ones the environment's name
// too, an emergency rollback the SHA. ok is false when nothing needs asking. A form is
// only for someone who may send it: without the responder role for the environment the
// answer is a *UserError saying so (audited), before any form opens.
func (rq *requester) AsksFor(ctx context.Context, incidentID, env string, action ActionID, user string) (asks Asks, ok bool, err error) {
	a, known := specOf(action)
	paging := known && a.Kind == Paging && a.Restricted && rq.paging
	if !paging && (!known || a.Kind != Mutating || rq.deps == nil) {
		return Asks{}, false, nil
	}
	in := Incident{Env: env}
	if incidentID != "" {
		if in, err = rq.incidents.Incident(ctx, incidentID); err != nil {
			return Asks{}, false, err
		}
		env = in.Env
	}
	if paging {
		if err := rq.roles.needRole(ctx, in, user, RoleResponder, "page people"); err != nil {
			return Asks{}, false, err
		}
		return Asks{Env: env, Reason: true}, true, nil // a confirming reason, then the page
	}
	asks = Asks{Env: env, Reason: a.Restricted}
	if a.nuclear {
		asks.EnvName = env
	}
	if a.asksSHA {
		asks.SHA = in.RollbackSHA
		asks.KnownSHAs = in.GoodSHAs
	}
	ok = asks.Reason || a.asksSHA
	if !ok {
		return asks, false, nil // no form: RequestAction checks the role, as for /rollback
	}
	if rq.deps.Access != nil {
		allowed, err := rq.deps.Access.Has(ctx, user, env, RoleResponder)
		if err != nil {
			return Asks{}, false, err
		}
		if !allowed {
			rq.audits.auditEnv(ctx, env, in.ID, "", user, AuditRequestRefused, map[string]string{"action": string(action), "why": "not a responder", "at": "form"})
			return Asks{}, false, &UserError{fmt.Sprintf("You need the *responder* role for %s to request %s (config: access.roles). Nothing was done.", env, a.Label)}
		}
	}
	return asks, true, nil
}

// RequestAction asks for an action: a paging action pages, a mutating one becomes a
// request (checked against roles, the action's rules and the environment's job slot)
// whose preview is prepared in the background. It returns what to tell the requester;
// a *UserError says why nothing was requested.
func (rq *requester) RequestAction(ctx context.Context, ar ActionRequest) (string, error) {
	if a, ok := ActionByID(ar.Action); ok && a.Kind == Paging && ar.IncidentID != "" {
		return rq.pager.PageIncident(ctx, ar.IncidentID, ar.Action, ar.User, ar.Params.Reason)
	}
	if rq.deps == nil {
		return "", &UserError{"medic's recovery actions are not configured here; nothing was done."}
	}
	a, ok := ActionByID(ar.Action)
	if !ok || a.Kind != Mutating {
		return "", &UserError{fmt.Sprintf("%s is not an action medic runs.", Literal(strconv.Quote(string(ar.Action))))}
	}
	in, env, err := rq.requestTarget(ctx, &ar)
	if err != nil {
		return "", err
	}
	audit := func(action AuditAction, detail map[string]string) {
		if detail == nil {
			detail = map[string]string{}
		}
		detail["action"] = string(ar.Action)
		rq.audits.auditEnv(ctx, env.Name, incidentIDOf(in), "", ar.User, action, detail)
	}
	params, err := rq.admitRequest(ctx, env, in, ar, a, audit)
	if err != nil {
		return "", err
	}
	r := rq.newRequest(env, in, ar, params)
	if err := rq.deps.Requests.CreateRequest(ctx, r); errors.Is(err, ErrDuplicate) {
		pending, perr := rq.deps.Requests.PendingRequest(ctx, r.DedupeKey)
		if perr != nil {
			return "", perr
		}
		return fmt.Sprintf("%s was already requested by <@%s> at %s (%s); it is waiting for approval in the thread.",
			a.Label, pending.RequestedBy, pending.RequestedAt.UTC().Format("15:04 UTC"), pending.ID), nil
	} else if err != nil {
		return "", err
	}
	audit(AuditRequestCreated, map[string]string{"request": r.ID, "sha": params.SHA, "lock": params.LockID, "alarm": params.Alarm,
		"reason": Redact(params.Reason), "needs_approval": fmt.Sprint(r.NeedsApproval)})
	if params.Override {
		audit(AuditRequestOverride, map[string]string{"request": r.ID, "sha": params.SHA, "rule": "deployed before", "reason": Redact(params.Reason)})
	}
	if r, err = rq.postRequest(ctx, r); err != nil {
		return "", err
	}
	if err := rq.startPreview(ctx, env, in, r, a); err != nil {
		return "", err
	}
	if !r.NeedsApproval {
		return fmt.Sprintf("%s on %s runs without approval (self-service) once its preview is ready; it reports in the thread (%s).", a.Label, env.Name, r.ID), nil
	}
	return fmt.Sprintf("Requested %s on %s (%s). Its preview is being prepared; an approver other than you must approve it in the thread before %s.",
		a.Label, env.Name, r.ID, r.ExpiresAt.UTC().Format("15:04 UTC")), nil
}

// requestTarget finds what a request is about: its incident (for /rollback, the
// environment's open one), and its environment. An untrusted run's incident refuses
// every action but its scenario's own.
func (rq *requester) requestTarget(ctx context.Context, ar *ActionRequest) (*Incident, Environment, error) {
	envName := ar.Env
	if s, _ := specOf(ar.Action); ar.IncidentID == "" && ar.Env != "" && s.rollsBack {
		// /rollback while the environment has an open incident belongs to that incident:
		// its thread, its failing SHA to avoid. The environment as configured, whatever
		// its spelling in the request.
		env, err := rq.envs.Get(ar.Env)
		if err != nil {
			return nil, Environment{}, &UserError{err.Error()}
		}
		envName = env.Name
		if open, err := rq.incidents.OpenIncidents(ctx, env.Name); err == nil {
			for _, o := range open {
				if o.Status != IncidentResolved && o.Untrusted == "" {
					ar.IncidentID = o.ID
					break
				}
			}
		}
	}
	var in *Incident
	if ar.IncidentID != "" {
		got, err := rq.incidents.Incident(ctx, ar.IncidentID)
		if errors.Is(err, ErrNotFound) {
			return nil, Environment{}, &UserError{fmt.Sprintf("Incident %s is not on record.", ar.IncidentID)}
		}
		if err != nil {
			return nil, Environment{}, err
		}
		got = rq.awaitAlertTS(ctx, got)
		in, envName = &got, got.Env
		if in.Untrusted != "" && !slices.Contains(scenarios[in.Scenario].Actions, ar.Action) {
			rq.book.audit(ctx, *in, ar.User, AuditRequestRefused, map[string]string{"action": string(ar.Action), "why": "untrusted run"})
			return nil, Environment{}, &UserError{fmt.Sprintf("%s is about a run medic does not trust (%s): medic runs nothing of it but GitHub's own re-run.", in.ID, Literal(in.Untrusted))}
		}
	}
	env, err := rq.envs.Get(envName)
	if err != nil {
		return nil, Environment{}, &UserError{err.Error()}
	}
	return in, env, nil
}

// admitRequest checks who asks and what: the responder role, the action's inputs and
// rules, a free environment. Each refusal is audited.
func (rq *requester) admitRequest(ctx context.Context, env Environment, in *Incident, ar ActionRequest, a Action, audit func(AuditAction, map[string]string)) (RequestParams, error) {
	ok, err := rq.deps.Access.Has(ctx, ar.User, env.Name, RoleResponder)
	if err != nil {
		return RequestParams{}, err
	}
	if !ok {
		audit(AuditRequestRefused, map[string]string{"why": "not a responder"})
		return RequestParams{}, &UserError{fmt.Sprintf("You need the *responder* role for %s to request %s (config: access.roles). Nothing was done.", env.Name, a.Label)}
	}
	params, err := rq.resolveParams(ctx, env, in, ar)
	if err != nil {
		audit(AuditRequestRefused, map[string]string{"why": err.Error()})
		return RequestParams{}, err
	}
	if holder, err := rq.deps.Slots.EnvLock(ctx, env.Name); err != nil {
		return RequestParams{}, err
	} else if holder != "" {
		audit(AuditRequestRefused, map[string]string{"why": "environment busy", "job": holder})
		return RequestParams{}, &UserError{fmt.Sprintf("%s is busy with job %s; one recovery job per environment at a time. Cancel it or wait for it to end.", env.Name, holder)}
	}
	return params, nil
}

// newRequest is a pending request for ar with its checked inputs: who must approve it,
// until when, and where it is shown.
func (rq *requester) newRequest(env Environment, in *Incident, ar ActionRequest, params RequestParams) Request {
	sev := Severity(0)
	if in != nil {
		sev = in.Severity
	}
	now := rq.now()
	r := Request{
		ID: rq.deps.idPrefix + newID("REQ", now), Env: env.Name, IncidentID: incidentIDOf(in), Action: ar.Action, Params: params,
		RequestedBy: ar.User, RequestedAt: now, ExpiresAt: now.Add(rq.deps.Policy.RequestTTL),
		NeedsApproval: rq.deps.Policy.NeedsApproval(ar.Action, env, sev), State: RequestPending,
		DedupeKey: strings.Join([]string{env.Name, incidentIDOf(in), string(ar.Action), params.SHA, params.LockID, params.Alarm, fmt.Sprint(params.RunID)}, "|"),
	}
	if in != nil {
		r.Channel, r.ThreadTS = in.Channel, in.MessageTS
	} else {
		r.Channel = orWord(ar.Channel, env.AlertChannel)
	}
	return r
}

// postRequest shows a new request, its preview still coming, and records its message.
func (rq *requester) postRequest(ctx context.Context, r Request) (Request, error) {
	r.Preview = Preview{Title: "Preparing the preview…"}
	ts, err := rq.deps.Views.PostRequest(ctx, r)
	if err != nil {
		rq.log.Warn("posting a request", zap.String("request", r.ID), zap.Error(err))
		return r, nil
	}
	return rq.updateRequest(ctx, r.ID, func(cur *Request) { cur.MessageTS = ts })
}

// startPreview queues the request's preview (a terraform init and plan may take
// minutes) on the previews' pool, off the click workers, under its own time limit.
// A preview that cannot be queued fails the request, saying why.
func (rq *requester) startPreview(ctx context.Context, env Environment, in *Incident, r Request, a Action) error {
	err := rq.previews.submit(ctx, env.Name, func(pctx context.Context) { rq.finishPreview(pctx, env, in, r.ID) })
	if err == nil {
		return nil
	}
	why := "medic is busy preparing other previews"
	if errors.Is(err, errShutdown) {
		why = "medic is shutting down"
	}
	rq.failRequest(ctx, r.ID, why+"; request it again in a minute")
	return &UserError{fmt.Sprintf("%s could not be prepared: %s. Nothing was done; request it again in a minute.", a.Label, why)}
}

// awaitAlertTS gives the alert's poster a little time (up to 2 s of the engine's
// clock, and never more than alertTSPatience of real waiting, for a click must not wait
// on a clock nobody moves) when in's alert is on screen before its ts is stored, so a
// request lands in the alert's thread.
func (rq *requester) awaitAlertTS(ctx context.Context, in Incident) Incident {
	if in.MessageTS != "" {
		return in
	}
	wctx, cancel := context.WithTimeout(ctx, alertTSPatience)
	defer cancel()
	for i := 0; in.MessageTS == "" && i < 20; i++ {
		if Sleep(wctx, rq.clock, 100*time.Millisecond) != nil && ctx.Err() != nil {
			break // the asker left
		}
		if again, err := rq.incidents.Incident(ctx, in.ID); err == nil {
			in = again
		}
		if wctx.Err() != nil {
			break
		}
	}
	return in
}

// alertTSPatience bounds the real time a request waits for its alert's ts.
const alertTSPatience = 2 * time.Second

// finishPreview makes a request's preview on the previews' pool and shows it. A preview
// that failed (or ran out of time) closes the request as failed: nobody approves what
// nobody could see. A self-service request whose preview is in starts its job.
func (rq *requester) finishPreview(ctx context.Context, env Environment, in *Incident, requestID string) {
	store := context.WithoutCancel(ctx)
	log := rq.log.With(zap.String("request", requestID), zap.String("env", env.Name))
	r, err := rq.deps.Requests.Request(store, requestID)
	if err != nil {
		log.Error("reading a request to preview", zap.Error(err))
		return
	}
	if r.State != RequestPending {
		return // decided or expired while it waited
	}
	pv := rq.preview(ctx, env, in, r)
	// A preview quotes the world (Terraform's errors and plans, a commit's subject):
	// redacted before anyone sees it.
	pv.Problem, pv.Detail = Redact(pv.Problem), Redact(pv.Detail)
	for i, l := range pv.Lines {
		pv.Lines[i] = Redact(l)
	}
	switch {
	case ctx.Err() == nil:
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
		pv.Problem = fmt.Sprintf("no preview within %s (%s)", rq.previews.cfg.Timeout, orWord(pv.Problem, "still working"))
	default:
		pv.Problem = "medic stopped before the preview was ready; request it again"
	}
	failed := pv.Problem != ""
	r, err = rq.updateRequest(store, requestID, func(cur *Request) {
		if cur.State != RequestPending {
			return
		}
		cur.Preview, cur.PreviewReady = pv, true
		if failed {
			cur.State, cur.DecidedBy, cur.DecidedAt = RequestFailed, "medic", rq.now()
		}
	})
	if err != nil {
		log.Error("recording a preview", zap.Error(err))
		return
	}
	detail := map[string]string{"request": r.ID, "action": string(r.Action), "plan_sha256": pv.PlanSHA256}
	if failed {
		detail["problem"] = Redact(pv.Problem)
		rq.audits.auditEnv(store, r.Env, r.IncidentID, "", "medic", AuditRequestPreviewFailed, detail)
		rq.dropPlan(store, r.ID)
		rq.showRequest(store, r)
		return
	}
	rq.audits.auditEnv(store, r.Env, r.IncidentID, "", "medic", AuditRequestPreviewReady, detail)
	if r.State != RequestPending || r.NeedsApproval {
		rq.showRequest(store, r)
		return
	}
	r, err = rq.updateRequest(store, r.ID, func(cur *Request) {
		cur.State, cur.DecidedBy, cur.DecidedAt = RequestApproved, "policy", rq.now()
	})
	if err != nil {
		log.Error("approving a self-service request", zap.Error(err))
		return
	}
	rq.audits.auditEnv(store, r.Env, r.IncidentID, "", r.RequestedBy, AuditRequestApproved, map[string]string{"request": r.ID, "action": string(r.Action), "by": "policy (self-service)"})
	rq.showRequest(store, r)
	if _, err := rq.jobs.startJob(store, r); err != nil {
		log.Warn("starting a self-service job", zap.Error(err))
		rq.jobs.jobNote(store, Job{Channel: r.Channel, ThreadTS: orWord(r.ThreadTS, r.MessageTS)}, Note{Text: Say(":no_entry: %s", userText(err))})
	}
}

// failRequest closes a pending request as failed, saying why on its message.
func (rq *requester) failRequest(ctx context.Context, id, why string) {
	r, err := rq.updateRequest(ctx, id, func(cur *Request) {
		if cur.State == RequestPending {
			cur.State, cur.DecidedBy, cur.DecidedAt = RequestFailed, "medic", rq.now()
			cur.Preview = Preview{Title: cur.Preview.Title, Problem: why}
		}
	})
	if err != nil {
		rq.log.Warn("failing a request", zap.String("request", id), zap.Error(err))
		return
	}
	rq.audits.auditEnv(ctx, r.Env, r.IncidentID, "", "medic", AuditRequestPreviewFailed, map[string]string{"request": r.ID, "action": string(r.Action), "problem": why})
	rq.showRequest(ctx, r)
}

// dropPlan forgets a request's saved plan once nothing can apply it.
func (rq *requester) dropPlan(ctx context.Context, requestID string) {
	if err := rq.deps.Plans.DeletePlan(ctx, requestID); err != nil {
		rq.log.Warn("deleting a saved plan", zap.String("request", requestID), zap.Error(err))
	}
}

// userText is what to tell a person of err: its message when it is meant for them.
func userText(err error) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	return "internal error: " + oneLine(err)
}

func incidentIDOf(in *Incident) string {
	if in == nil {
		return ""
	}
	return in.ID
}

// resolveParams checks and completes an action's inputs: the SHA to roll back to, the
// lock to remove, the alarm to set, the run to re-run (each action's params). It
// refuses what the action may not touch (a destructive action where the environment
// does not allow it, a table not the environment's own).
func (rq *requester) resolveParams(ctx context.Context, env Environment, in *Incident, ar ActionRequest) (RequestParams, error) {
	p := ar.Params
	p.Reason = strings.TrimSpace(p.Reason)
	if len(p.Reason) > 500 {
		p.Reason = p.Reason[:500]
	}
	s, ok := specOf(ar.Action)
	if !ok || s.params == nil {
		return p, &UserError{fmt.Sprintf("%s is not an action medic runs.", Literal(strconv.Quote(string(ar.Action))))}
	}
	if s.Restricted && p.Reason == "" {
		return p, &UserError{s.Label + " needs a reason."}
	}
	p, err := s.params(rq, ctx, env, in, p)
	if err != nil {
		return p, err
	}
	if s.destructive && (!env.AllowDestructive || env.Protected) {
		// Each destructive action's params refuse first, saying why; this is the
		// registry's own guard behind them.
		return p, &UserError{fmt.Sprintf("%s only runs where allow_destructive is set (config: environments.%s.allow_destructive), never %s.", s.Label, env.Name, env.Name)}
	}
	if p.SHA != "" && !ValidSHA(p.SHA) {
		return p, &UserError{fmt.Sprintf("%s is not a commit SHA (7 to 40 hex digits).", Literal(strconv.Quote(p.SHA)))}
	}
	return rq.checkTarget(ctx, env, ar.Action, ar.User, p)
}

// The actions' params (see actionTable): each fills in what the request left out from
// the incident, and refuses what the action may not touch.

func (rq *requester) runParams(_ context.Context, _ Environment, in *Incident, p RequestParams) (RequestParams, error) {
	if p.RunID == 0 && in != nil {
		p.RunID = in.RunID
	}
	if p.RunID == 0 {
		return p, &UserError{"This incident has no workflow run to act on."}
	}
	return p, nil
}

func (rq *requester) revertParams(_ context.Context, _ Environment, in *Incident, p RequestParams) (RequestParams, error) {
	if p.SHA == "" && in != nil {
		p.SHA = in.SHA
	}
	return p, nil
}

func (rq *requester) rollbackParams(ctx context.Context, env Environment, in *Incident, p RequestParams) (RequestParams, error) {
	if p.SHA == "" && in != nil {
		p.SHA = in.RollbackSHA
	}
	if p.SHA != "" {
		if in == nil {
			p.Planned = true
		}
		return p, nil
	}
	sha, planned, err := rq.lastKnownGood(ctx, env, in)
	if err != nil {
		return p, err
	}
	p.SHA, p.Planned = sha, planned
	return p, nil
}

func (rq *requester) lambdaParams(ctx context.Context, env Environment, in *Incident, p RequestParams) (RequestParams, error) {
	// The last known good version only, never the incident's own (failing) commit.
	if p.SHA == "" && in != nil {
		p.SHA = in.RollbackSHA
	}
	return rq.orLastKnownGood(ctx, env, in, p)
}

func (rq *requester) planParams(ctx context.Context, env Environment, in *Incident, p RequestParams) (RequestParams, error) {
	if p.SHA == "" && in != nil {
		p.SHA = orWord(in.RollbackSHA, in.SHA)
	}
	return rq.orLastKnownGood(ctx, env, in, p)
}

func (rq *requester) unlockParams(ctx context.Context, env Environment, in *Incident, p RequestParams) (RequestParams, error) {
	if p.LockID == "" && in != nil && in.Lock != nil {
		p.LockID = in.Lock.ID
	}
	if p.LockID == "" {
		return p, &UserError{"No state lock is known for this incident; nothing to unlock."}
	}
	if !lockIDRE.MatchString(p.LockID) {
		return p, &UserError{fmt.Sprintf("%s is not a Terraform lock ID.", Literal(strconv.Quote(p.LockID)))}
	}
	return rq.planParams(ctx, env, in, p)
}

func (rq *requester) alarmParams(_ context.Context, env Environment, in *Incident, p RequestParams) (RequestParams, error) {
	if p.Alarm == "" && in != nil {
		p.Alarm = in.AlarmName
	}
	if p.Alarm == "" || !alarmRE.MatchString(p.Alarm) || !strings.HasPrefix(p.Alarm, env.AlarmPrefix) {
		return p, &UserError{fmt.Sprintf("No alarm of %s to set (alarm %s).", env.Name, Literal(strconv.Quote(p.Alarm)))}
	}
	return p, nil
}

// cleanParams: test data is cleaned only where destructive actions are allowed, and
// only in the environment's own table (named after it: "preprod-…").
func (rq *requester) cleanParams(_ context.Context, env Environment, _ *Incident, p RequestParams) (RequestParams, error) {
	if !env.AllowDestructive || !strings.HasPrefix(env.Table, env.Name+"-") {
		return p, &UserError{fmt.Sprintf("Clean test data only touches the table of an environment with allow_destructive (config: environments.%s.allow_destructive), named after it (%s-…); %s's table %s is refused.",
			env.Name, env.Name, env.Name, Literal(strconv.Quote(env.Table)))}
	}
	return p, nil
}

func (rq *requester) destroyParams(ctx context.Context, env Environment, _ *Incident, p RequestParams) (RequestParams, error) {
	if !env.AllowDestructive {
		return p, &UserError{fmt.Sprintf("Destroy & recreate only runs where allow_destructive is set (config: environments.%s.allow_destructive), never %s.", env.Name, env.Name)}
	}
	return rq.orLastKnownGood(ctx, env, nil, p)
}

// orLastKnownGood fills an empty SHA with the last known good one.
func (rq *requester) orLastKnownGood(ctx context.Context, env Environment, in *Incident, p RequestParams) (RequestParams, error) {
	if p.SHA != "" {
		return p, nil
	}
	sha, _, err := rq.lastKnownGood(ctx, env, in)
	if err != nil {
		return p, err
	}
	p.SHA = sha
	return p, nil
}

// lastKnownGood is the newest successful deploy's SHA that is neither the failing one
// nor (for a rollback on a healthy environment) the one running now. planned reports
// the healthy case.
func (rq *requester) lastKnownGood(ctx context.Context, env Environment, in *Incident) (string, bool, error) {
	deploys, err := rq.history.SuccessfulDeploys(ctx, env, 10)
	if err != nil {
		return "", false, &UserError{"Could not read the deploy history: " + Literal(oneLine(err))}
	}
	skip := map[string]bool{}
	planned := in == nil
	if in != nil && in.SHA != "" {
		skip[in.SHA] = true
	}
	if planned {
		if running := rq.runningVersion(ctx, env); running != "" {
			skip[running] = true
		} else if len(deploys) > 0 {
			skip[deploys[0].SHA] = true
		}
	}
	for _, d := range deploys {
		if !skip[d.SHA] {
			return d.SHA, planned, nil
		}
	}
	return "", planned, &UserError{fmt.Sprintf("No earlier successful deploy of %s is on record to roll back to; give a SHA.", env.Name)}
}

// runningVersion is the version most of env's functions run, "" when unknown.
func (rq *requester) runningVersion(ctx context.Context, env Environment) string {
	fns, err := rq.deps.Functions.Functions(ctx, env)
	if err != nil {
		return ""
	}
	count := map[string]int{}
	best := ""
	for _, f := range fns {
		if f.Version == "" {
			continue
		}
		count[f.Version]++
		if count[f.Version] > count[best] {
			best = f.Version
		}
	}
	return best
}

// Decide approves or rejects a pending request. The approval of a request that needs
// one must come from an approver who is not the requester; a request is decided once,
// however many times the click arrives.
func (rq *requester) Decide(ctx context.Context, requestID, user string, approve bool) (string, error) {
	if rq.deps == nil {
		return "", &UserError{"medic's recovery actions are not configured here."}
	}
	r, err := rq.deps.Requests.Request(ctx, requestID)
	if errors.Is(err, ErrNotFound) {
		return "", &UserError{fmt.Sprintf("Request %s is not on record.", requestID)}
	}
	if err != nil {
		return "", err
	}
	a, _ := ActionByID(r.Action)
	verb := "approve"
	if !approve {
		verb = "reject"
	}
	auditRefusal := func(why string) {
		rq.audits.auditEnv(ctx, r.Env, r.IncidentID, "", user, auditDecisionRefused(verb), map[string]string{"request": r.ID, "action": string(r.Action), "why": why})
	}
	if r.State == RequestFailed {
		return "", &UserError{fmt.Sprintf("The preview of %s failed (%s), so nobody can approve it. Request it again once that is fixed.", r.ID, Literal(r.Preview.Problem))}
	}
	if r.State != RequestPending {
		return fmt.Sprintf("%s was already %s by %s.", r.ID, r.State, who(r.DecidedBy)), nil
	}
	if rq.now().After(r.ExpiresAt) {
		rq.expire(ctx, r)
		auditRefusal("expired")
		return "", &UserError{fmt.Sprintf("%s expired at %s without an approval. Request it again if it is still needed.", r.ID, r.ExpiresAt.UTC().Format("15:04 UTC"))}
	}
	if approve && !r.PreviewReady {
		return "", &UserError{fmt.Sprintf("The preview of %s is still being made; approve once it shows what will happen.", r.ID)}
	}
	if err := rq.mayDecide(ctx, r, user, approve, auditRefusal); err != nil {
		return "", err
	}
	if approve && rq.jobs.isClosing() {
		// Approved now, its job could not start: the request stays pending instead.
		return "", &UserError{fmt.Sprintf("medic is shutting down, so nothing starts now; %s stays pending: approve it again in a minute.", r.ID)}
	}
	state := RequestApproved
	if !approve {
		state = RequestRejected
	}
	decided, err := rq.deps.Requests.UpdateRequest(ctx, withDecision(r, state, user, rq.now()))
	if errors.Is(err, ErrConflict) {
		cur, gerr := rq.deps.Requests.Request(ctx, requestID)
		if gerr != nil {
			return "", gerr
		}
		return fmt.Sprintf("%s was already %s by %s.", cur.ID, cur.State, who(cur.DecidedBy)), nil
	}
	if err != nil {
		return "", err
	}
	rq.audits.auditEnv(ctx, r.Env, r.IncidentID, "", user, auditDecision(state), map[string]string{"request": r.ID, "action": string(r.Action), "requested_by": r.RequestedBy, "plan_sha256": r.Preview.PlanSHA256})
	rq.showRequest(ctx, decided)
	if !approve {
		rq.dropPlan(ctx, r.ID)
		return fmt.Sprintf("You rejected %s; nothing was done.", r.ID), nil
	}
	job, err := rq.jobs.startJob(ctx, decided)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("You approved %s: %s runs as job %s; it reports in the thread.", r.ID, a.Label, job.ID), nil
}

// mayDecide refuses (audited) a decision user may not make: an approval needs the
// approver role and, when the request needs a second person, someone other than its
// requester; rejecting another person's request needs the approver role.
func (rq *requester) mayDecide(ctx context.Context, r Request, user string, approve bool, auditRefusal func(string)) error {
	if approve {
		ok, err := rq.deps.Access.Has(ctx, user, r.Env, RoleApprover)
		if err != nil {
			return err
		}
		if !ok {
			auditRefusal("not an approver")
			return &UserError{fmt.Sprintf("You need the *approver* role for %s to approve (config: access.roles). Nothing was done.", r.Env)}
		}
		if r.NeedsApproval && user == r.RequestedBy {
			auditRefusal("requester approving their own request")
			return &UserError{"You requested this: a second person must approve it."}
		}
	} else if user != r.RequestedBy {
		ok, err := rq.deps.Access.Has(ctx, user, r.Env, RoleApprover)
		if err != nil {
			return err
		}
		if !ok {
			auditRefusal("not an approver")
			return &UserError{fmt.Sprintf("You need the *approver* role for %s to reject another person's request.", r.Env)}
		}
	}
	return nil
}

func withDecision(r Request, s RequestState, user string, at time.Time) Request {
	r.State, r.DecidedBy, r.DecidedAt = s, user, at
	return r
}

// whoSpan names who decided: a mention of a person, or medic or its policy.
func whoSpan(id string) Span {
	switch id {
	case "", "medic":
		return Span{Kind: SpanWords, Text: "medic"}
	case "policy":
		return Span{Kind: SpanWords, Text: "policy (self-service)"}
	}
	return Mention(id)
}

// who is whoSpan in an answer's mrkdwn.
func who(id string) string {
	if sp := whoSpan(id); sp.Kind != SpanMention {
		return sp.Text
	}
	return "<@" + id + ">"
}

// ExpireRequests marks pending requests past their time expired, so their messages
// stop offering Approve. It runs periodically.
func (rq *requester) ExpireRequests(ctx context.Context) error {
	if rq.deps == nil {
		return nil
	}
	rs, err := rq.deps.Expiry.ExpiredRequests(ctx, rq.now())
	if err != nil {
		return err
	}
	for _, r := range rs {
		rq.expire(ctx, r)
	}
	return nil
}

func (rq *requester) expire(ctx context.Context, r Request) {
	saved, err := rq.deps.Requests.UpdateRequest(ctx, withDecision(r, RequestExpired, "medic", rq.now()))
	if err != nil {
		return // decided or expired by someone else meanwhile
	}
	rq.audits.auditEnv(ctx, r.Env, r.IncidentID, "", "medic", AuditRequestExpired, map[string]string{"request": r.ID, "action": string(r.Action)})
	rq.dropPlan(ctx, r.ID)
	rq.showRequest(ctx, saved)
}

func (rq *requester) showRequest(ctx context.Context, r Request) {
	if r.MessageTS == "" {
		return
	}
	if err := rq.deps.Views.UpdateRequest(ctx, r); err != nil {
		rq.log.Warn("updating a request message", zap.String("request", r.ID), zap.Error(err))
	}
}

func (rq *requester) updateRequest(ctx context.Context, id string, change func(*Request)) (Request, error) {
	return updateStored(ctx, requestRetries, func(ctx context.Context) (Request, error) { return rq.deps.Requests.Request(ctx, id) },
		change, rq.deps.Requests.UpdateRequest)
}

// newID makes a short ID such as "REQ-HAH7K2QX" (see newIncidentID).
func newID(prefix string, now time.Time) string {
	return prefix + strings.TrimPrefix(newIncidentID(now), "INC")
}

// The request form (a modal): its callback ID and the IDs of its fields, shared by
// the code that shows it and the code that reads it.
const (
	FormCallback   = "request"
	FormReason     = "reason"
	FormConfirmEnv = "confirm_env"
	FormSHA        = "sha"
	FormInput      = "input"
	// FormOverride is the field where an admin types the SHA to confirm an override.
	FormOverride = "confirm_override"
)
