package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
)

// HomeService keeps medic's Home tab (*Home).
type HomeService interface {
	// HomeOpened shows user their Home tab, as it stands now.
	HomeOpened(ctx context.Context, user string)
	// TellUser sends text to user in medic's direct messages. Errors are Slack's.
	TellUser(ctx context.Context, user, text string) error
}

// HomeOpened shows user their Home tab, when the Router has one (Services.Home).
func (r *Router) HomeOpened(ctx context.Context, user string) {
	if r.svc.Home != nil {
		r.svc.Home.HomeOpened(ctx, user)
	}
}

// TellUser sends text to user through the Home's publisher.
func (h *Home) TellUser(ctx context.Context, user, text string) error {
	return h.src.Publisher.TellUser(ctx, user, text)
}

// HomePublisher shows people their Home tab and tells them what a click on it did.
type HomePublisher interface {
	// PublishHome replaces report.User's Home tab with report (views.publish).
	// Errors are Slack's.
	PublishHome(ctx context.Context, report recovery.HomeReport) error
	// TellUser sends text to user in medic's direct messages (a click on the Home tab
	// has no channel and no response_url to answer in). Errors are Slack's.
	TellUser(ctx context.Context, user, text string) error
}

// RoleChecker says who holds which role where (*recovery.Access).
type RoleChecker interface {
	// Has reports whether user holds role (or a higher one) in env. Its errors are
	// Slack's, resolving a user group.
	Has(ctx context.Context, user, env string, role recovery.Role) (bool, error)
}

// PendingRequestLister lists the requests waiting for a decision.
type PendingRequestLister interface {
	// PendingRequests lists every pending request. Its only errors are the store's.
	PendingRequests(ctx context.Context) ([]recovery.Request, error)
}

// HomeSources are what the Home tab reads. Every field is required but Escalation
// (nil: no levels shown) and Logger.
type HomeSources struct {
	Roles     RoleChecker
	Requests  PendingRequestLister
	Incidents recovery.IncidentReader
	Jobs      recovery.JobReader
	// Deploys should be the reads /status shares (recovery.SharedReads), so that a
	// Home costs no GitHub call within status.freshness.
	Deploys    recovery.DeployHistory
	Envs       *recovery.Environments
	Escalation *recovery.EscalationPolicy
	Publisher  HomePublisher
	Now        func() time.Time
	Logger     *zap.Logger
}

// The Home tab's refresh limits. views.publish is rate-limited per workspace like
// every Web API method (docs.slack.dev/apis/web-api/rate-limits); Poster retries a
// 429 after its Retry-After, and these keep medic well below it.
const (
	// homeDebounce is the least time between two refreshes of one person's Home.
	homeDebounce = 3 * time.Second
	// homeRecent is how long after opening it a person's Home is kept up to date.
	homeRecent = 30 * time.Minute
	// homeMaxUsers bounds the people whose Home is kept up to date (the ones who
	// opened it last); the others see it fresh when they open it again.
	homeMaxUsers = 200
	// homeRoundMax is the most Homes one refresh round publishes (Slack rate-limits
	// views.publish); homePublishTimeout bounds one publish.
	homeRoundMax       = 20
	homePublishTimeout = 10 * time.Second
	// homeReadTimeout bounds each read of a Home.
	homeReadTimeout = 10 * time.Second
)

// Home keeps medic's Home tab: it publishes a person's Home when they open it, and
// again when what it shows changes (Changed), for the people who opened it recently,
// at most once per person every homeDebounce.
type Home struct {
	src  HomeSources
	log  *zap.Logger
	kick chan struct{}
	// sleep waits d or until ctx ends (tests replace it).
	sleep func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	users map[string]*homeUser
}

// homeUser is a person who opened the Home tab.
type homeUser struct {
	opened    time.Time
	published time.Time
	// dirty says something changed since their Home was published.
	dirty bool
	// gathered numbers the reports gathered for them, shown the number of the last
	// one published: a report gathered before another is never published after it
	// (an open and a refresh round may gather at once).
	gathered, shown int
	// send serializes their publishes.
	send sync.Mutex
	// noRole says their last Home was the no-role note: a change elsewhere never
	// changes it, so Changed does not refresh it (an open does).
	noRole bool
}

// NewHome returns a Home over src; it names the first required source missing.
func NewHome(src HomeSources) (*Home, error) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"Roles", src.Roles != nil}, {"Requests", src.Requests != nil}, {"Incidents", src.Incidents != nil},
		{"Jobs", src.Jobs != nil}, {"Deploys", src.Deploys != nil}, {"Envs", src.Envs != nil},
		{"Publisher", src.Publisher != nil}, {"Now", src.Now != nil},
	} {
		if !f.set {
			return nil, fmt.Errorf("handlers: NewHome needs HomeSources.%s", f.name)
		}
	}
	log := src.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Home{src: src, log: log.Named("home"), kick: make(chan struct{}, 1), sleep: sleepCtx, users: map[string]*homeUser{}}, nil
}

// HomeOpened publishes user's Home, and keeps it up to date for homeRecent. A Home
// published less than homeDebounce ago is left as it is; if something changed since,
// the next refresh round publishes it once the debounce has passed.
func (h *Home) HomeOpened(ctx context.Context, user string) {
	now := h.src.Now()
	h.mu.Lock()
	u := h.users[user]
	if u == nil {
		h.forgetOldestLocked(now)
		u = &homeUser{}
		h.users[user] = u
	}
	u.opened = now
	if now.Sub(u.published) < homeDebounce {
		dirty := u.dirty
		h.mu.Unlock()
		if dirty {
			h.kickRound()
		}
		return
	}
	u.published, u.dirty = now, false
	h.mu.Unlock()
	h.publish(ctx, user, &homeReads{})
}

// kickRound asks Run for a refresh round; it never blocks.
func (h *Home) kickRound() {
	select {
	case h.kick <- struct{}{}:
	default: // a round is due already
	}
}

// forgetOldestLocked makes room for one more person: it forgets those who opened
// their Home more than homeRecent ago, then, while too many remain, the one who
// opened it first.
func (h *Home) forgetOldestLocked(now time.Time) {
	for id, u := range h.users {
		if now.Sub(u.opened) > homeRecent {
			delete(h.users, id)
		}
	}
	for len(h.users) >= homeMaxUsers {
		oldest := ""
		for id, u := range h.users {
			if oldest == "" || u.opened.Before(h.users[oldest].opened) {
				oldest = id
			}
		}
		delete(h.users, oldest)
	}
}

// Changed says what the Home shows may have changed (a request, a job, an incident):
// Run refreshes the Homes of the people who opened it recently. It never blocks.
func (h *Home) Changed() {
	h.mu.Lock()
	for _, u := range h.users {
		u.dirty = u.dirty || !u.noRole
	}
	h.mu.Unlock()
	h.kickRound()
}

// Run refreshes the Homes Changed marked until ctx ends, one round at a time and at
// most one round every homeDebounce. It returns nil when ctx ends.
func (h *Home) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.kick:
		}
		if more := h.round(ctx); more {
			h.kickRound() // the next round, after the debounce
		}
		if h.sleep(ctx, homeDebounce) != nil {
			return nil
		}
	}
}

// sleepCtx waits d on the wall clock, or until ctx ends (returning its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	return recovery.Sleep(ctx, recovery.SystemClock{}, d)
}

// round publishes the Homes that changed, of the people who opened theirs within
// homeRecent, except those published less than homeDebounce ago: it reports whether
// any of those wait.
func (h *Home) round(ctx context.Context) (more bool) {
	now := h.src.Now()
	var due []string
	h.mu.Lock()
	for id, u := range h.users {
		switch {
		case now.Sub(u.opened) > homeRecent:
			delete(h.users, id)
		case !u.dirty:
		case now.Sub(u.published) < homeDebounce:
			more = true
		default:
			due = append(due, id)
		}
	}
	// Slack limits views.publish: a round publishes at most homeRoundMax Homes, those
	// waiting longest first; the rest wait for the next round.
	sort.Slice(due, func(i, j int) bool {
		a, b := h.users[due[i]], h.users[due[j]]
		return a.published.Before(b.published) || (a.published.Equal(b.published) && due[i] < due[j])
	})
	if len(due) > homeRoundMax {
		due, more = due[:homeRoundMax], true
	}
	for _, id := range due {
		h.users[id].dirty, h.users[id].published = false, now
	}
	h.mu.Unlock()
	reads := &homeReads{} // one read of each environment for the whole round
	for _, user := range due {
		h.publish(ctx, user, reads)
	}
	return more
}

// homeReads are the reads Homes gathered together share: each environment's
// incidents, jobs and last good deploy, and the pending requests, are read once for
// all of them (a refresh round), not once per person. Not safe for concurrent use.
type homeReads struct {
	envs    map[string]recovery.HomeEnv
	pending *pendingRead
}

type pendingRead struct {
	requests []recovery.Request
	problem  string
}

// publish gathers and publishes user's Home, unless a report gathered later was
// published meanwhile; a failure is logged.
func (h *Home) publish(ctx context.Context, user string, reads *homeReads) {
	h.mu.Lock()
	u := h.users[user]
	if u == nil { // forgotten meanwhile: they see it fresh when they open it again
		h.mu.Unlock()
		return
	}
	u.gathered++
	n := u.gathered
	h.mu.Unlock()
	report := h.report(ctx, user, reads)
	u.send.Lock()
	defer u.send.Unlock()
	h.mu.Lock()
	stale := u.shown > n
	h.mu.Unlock()
	if stale {
		return
	}
	// Bounded: a Slack that rate-limits or stalls holds neither a Slack worker nor the
	// refresh rounds for long.
	pctx, cancel := context.WithTimeout(ctx, homePublishTimeout)
	defer cancel()
	if err := h.src.Publisher.PublishHome(pctx, report); err != nil {
		h.log.Warn("publishing a home tab", zap.String("user", user), zap.Error(err))
		// Not shown: a later round tries again (the debounce spaces the tries).
		h.mu.Lock()
		u.dirty = true
		h.mu.Unlock()
		h.kickRound()
		return
	}
	h.mu.Lock()
	u.shown, u.noRole = n, report.NoRole
	h.mu.Unlock()
}

// Report gathers what user's Home shows: the environments where they hold a role
// (responder or above), the requests there with Approve only where they may
// approve, and the escalation levels; nothing but a hint when they hold no role.
func (h *Home) Report(ctx context.Context, user string) recovery.HomeReport {
	return h.report(ctx, user, &homeReads{})
}

// report is Report on reads shared with other Homes.
func (h *Home) report(ctx context.Context, user string, reads *homeReads) recovery.HomeReport {
	r := recovery.HomeReport{User: user, At: h.src.Now()}
	var envs []recovery.Environment
	approver := map[string]bool{}
	for _, name := range h.src.Envs.Names() {
		env, _ := h.src.Envs.Get(name)
		ok, err := h.src.Roles.Has(ctx, user, name, recovery.RoleResponder)
		if err == nil && ok {
			approver[name], err = h.src.Roles.Has(ctx, user, name, recovery.RoleApprover)
		}
		if err != nil {
			h.log.Warn("checking roles for a home tab", zap.String("user", user), zap.String("env", name), zap.Error(err))
			r.Problems = append(r.Problems, "Roles in "+name+": "+userOrInternal(err))
			continue
		}
		if ok {
			envs = append(envs, env)
		}
	}
	if len(envs) == 0 {
		// Roles that could not be checked name no environment to someone who may
		// hold none: the note asks them to look again.
		if len(r.Problems) > 0 {
			r.Problems = []string{"Your roles could not be checked just now; open this tab again in a minute."}
		}
		r.NoRole = len(r.Problems) == 0
		return r
	}
	for _, env := range envs {
		if reads.envs == nil {
			reads.envs = map[string]recovery.HomeEnv{}
		}
		e, ok := reads.envs[env.Name]
		if !ok {
			e = h.envReport(ctx, env)
			reads.envs[env.Name] = e
		}
		r.Envs = append(r.Envs, e)
	}
	h.requests(ctx, &r, approver, reads)
	if p := h.src.Escalation; p != nil {
		names := make([]string, 0, len(p.Levels))
		for n := range p.Levels {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			r.Levels = append(r.Levels, p.Levels[n])
		}
	}
	return r
}

// userOrInternal is what a person may read of err: a *recovery.UserError's message,
// or only that something failed (the caller logs the rest).
func userOrInternal(err error) string {
	var ue *recovery.UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	return "could not be read"
}

// envReport reads env's incidents, jobs and last good deploy, each under its own
// deadline.
func (h *Home) envReport(ctx context.Context, env recovery.Environment) recovery.HomeEnv {
	e := recovery.HomeEnv{Name: env.Name, Escalation: map[string]string{}}
	read := func(what string, f func(context.Context) error) string {
		ctx, cancel := context.WithTimeout(ctx, homeReadTimeout)
		defer cancel()
		if err := f(ctx); err != nil {
			h.log.Warn("reading for a home tab", zap.String("what", what), zap.String("env", env.Name), zap.Error(err))
			return recovery.Problem(what, err, homeReadTimeout)
		}
		return ""
	}
	e.Incidents.Problem = read("Incidents", func(ctx context.Context) (err error) {
		e.Incidents.Value, err = h.src.Incidents.OpenIncidents(ctx, env.Name)
		return err
	})
	for _, in := range e.Incidents.Value {
		if line := recovery.EscalationText(h.src.Escalation, in, h.src.Now()); line != "" {
			e.Escalation[in.ID] = line
		}
	}
	e.Jobs.Problem = read("Jobs", func(ctx context.Context) (err error) {
		e.Jobs.Value, err = h.src.Jobs.RunningJobs(ctx, env.Name)
		return err
	})
	e.LastGood.Problem = read("GitHub", func(ctx context.Context) (err error) {
		e.LastGood.Value, err = h.src.Deploys.LastSuccessfulDeploy(ctx, env)
		return err
	})
	return e
}

// requests sorts the pending requests of the person's environments into those they
// may approve now and the others. approver holds the environments they see, with
// whether they hold the approver role there.
func (h *Home) requests(ctx context.Context, r *recovery.HomeReport, approver map[string]bool, reads *homeReads) {
	if reads.pending == nil {
		ctx, cancel := context.WithTimeout(ctx, homeReadTimeout)
		pending, err := h.src.Requests.PendingRequests(ctx)
		cancel()
		reads.pending = &pendingRead{requests: pending}
		if err != nil {
			h.log.Warn("reading pending requests for a home tab", zap.Error(err))
			reads.pending.problem = recovery.Problem("Requests", err, homeReadTimeout)
		}
	}
	if reads.pending.problem != "" {
		r.Problems = append(r.Problems, reads.pending.problem)
		return
	}
	pending := reads.pending.requests
	seen := map[string]bool{}
	for _, e := range r.Envs {
		seen[e.Name] = true
	}
	for _, q := range pending {
		if !seen[q.Env] || !r.At.Before(q.ExpiresAt) {
			continue // not theirs to see, or expired (the expiry round closes it)
		}
		if MayApprove(q, r.User, approver[q.Env], r.At) {
			r.Approvals = append(r.Approvals, q)
		} else {
			r.Waiting = append(r.Waiting, q)
		}
	}
	byTime := func(a, b recovery.Request) int { return a.RequestedAt.Compare(b.RequestedAt) }
	slices.SortStableFunc(r.Approvals, byTime)
	slices.SortStableFunc(r.Waiting, byTime)
}

// MayApprove says whether the Home offers user Approve on q: q is pending, needs an
// approval, its preview is in and it has not expired at now, user holds the approver
// role in its environment (isApprover) and did not request it. Approve's click is
// checked again by JobController.Decide, as from the request's message.
func MayApprove(q recovery.Request, user string, isApprover bool, now time.Time) bool {
	return q.State == recovery.RequestPending && q.NeedsApproval && q.PreviewReady &&
		now.Before(q.ExpiresAt) && isApprover && user != q.RequestedBy
}

// homeClicks answers the clicks on a Home tab: only Approve and Reject are there.
// They go to JobController.Decide like the request message's, which checks the role
// and the requester again; the answer goes to the person's direct messages.
func (r *Router) homeClicks(ctx context.Context, log *zap.Logger, cb slack.InteractionCallback) {
	if r.svc.Home == nil {
		// Nobody could be told the outcome: nothing is decided.
		log.Warn("a click on a Home tab this router does not keep")
		return
	}
	user := cb.User.ID
	for _, a := range cb.ActionCallback.BlockActions {
		control, ok := recovery.ParseControlID(a.ActionID)
		if !ok || (control != recovery.ControlApprove && control != recovery.ControlReject) {
			log.Warn("unknown button on the home tab", zap.String("action_id", a.ActionID))
			continue
		}
		log := log.With(zap.String("control", string(control)), zap.String("id", a.Value), zap.String("from", "home"))
		msg, err := r.svc.Jobs.Decide(ctx, a.Value, user, control == recovery.ControlApprove)
		r.answer(log, func(text string) {
			if err := r.svc.Home.TellUser(ctx, user, text); err != nil {
				log.Error("could not answer the user", zap.Error(err))
			}
		}, msg, err)
	}
}
