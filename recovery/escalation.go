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
)

// Level is a group of people paged together: Slack users and user groups mentioned in
// the alert's thread and sent a direct message, and PagerDuty when it is on.
type Level struct {
	Name string
	// Title is how the level reads in Slack ("senior engineer").
	Title string
	// Slack lists user IDs (U…) and user group IDs (S…).
	Slack []string
	// PagerDuty sends the page to PagerDuty too.
	PagerDuty bool
}

// MatrixRow is a row of the escalation matrix: which incidents it covers, how long they
// may wait for an acknowledgement, and whom to page, in order, when nobody acknowledges.
type MatrixRow struct {
	Name string
	// An incident matches when each non-empty list contains it: its environment, its
	// scenario. DataCorruption rows match only incidents flagged as such.
	Envs           []string
	Scenarios      []ScenarioID
	DataCorruption bool
	// Response is how long the incident may stay unacknowledged before the first page;
	// 0 pages at once.
	Response time.Duration
	// BestEffort rows never page.
	BestEffort bool
	// Path lists the steps of the escalation: each step's levels are paged together.
	// After the last step, the last one is paged again every interval.
	Path [][]string
}

func (r MatrixRow) matches(in Incident) bool {
	if r.DataCorruption != in.Escalation.DataCorruption {
		return false
	}
	if len(r.Envs) > 0 && !slices.Contains(r.Envs, in.Env) {
		return false
	}
	if len(r.Scenarios) > 0 && !slices.Contains(r.Scenarios, in.Scenario) {
		return false
	}
	return true
}

// ResponseText is the row's response time as the runbook writes it.
func (r MatrixRow) ResponseText() string {
	switch {
	case r.BestEffort:
		return "best effort"
	case r.Response == 0:
		return "IMMEDIATE"
	}
	return duration(r.Response)
}

// EscalationPolicy is the escalation matrix with its levels.
type EscalationPolicy struct {
	// Interval is how often an unacknowledged incident escalates after its first page.
	Interval time.Duration
	Levels   map[string]Level
	Matrix   []MatrixRow
	// OnCall is the level "Page on-call" and /page call; Senior the level "Page senior
	// engineer" calls.
	OnCall string
	Senior string
}

// Row returns the first row of the matrix covering in.
func (p *EscalationPolicy) Row(in Incident) (MatrixRow, bool) {
	if in.Untrusted != "" {
		return MatrixRow{}, false // a pull request's author never pages anyone
	}
	for _, r := range p.Matrix {
		if r.matches(in) {
			return r, true
		}
	}
	return MatrixRow{}, false
}

func (p *EscalationPolicy) rowNamed(name string) (MatrixRow, bool) {
	for _, r := range p.Matrix {
		if r.Name == name {
			return r, true
		}
	}
	return MatrixRow{}, false
}

// Validate checks that every level the matrix and the buttons name exists.
func (p *EscalationPolicy) Validate() error {
	if p.Interval <= 0 {
		return errors.New("escalation interval must be positive")
	}
	check := func(where, name string) error {
		if _, ok := p.Levels[name]; !ok {
			return fmt.Errorf("%s names level %q, which escalation.levels does not define", where, name)
		}
		return nil
	}
	for _, r := range p.Matrix {
		if !r.BestEffort && len(r.Path) == 0 {
			return fmt.Errorf("matrix row %q pages nobody: give it a path or make it best effort", r.Name)
		}
		for _, step := range r.Path {
			for _, l := range step {
				if err := check("matrix row "+r.Name, l); err != nil {
					return err
				}
			}
		}
	}
	for where, l := range map[string]string{"escalation.on_call": p.OnCall, "escalation.senior": p.Senior} {
		if err := check(where, l); err != nil {
			return err
		}
	}
	return nil
}

// levelTitles names levels for people: "senior engineer and CTO".
func (p *EscalationPolicy) levelTitles(names []string) string {
	var t []string
	for _, n := range names {
		t = append(t, p.Levels[n].Title)
	}
	return joinAnd(t)
}

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// Escalation is where an incident stands in the escalation matrix.
type Escalation struct {
	// Row is the matrix row the incident follows ("" before the first save).
	Row string `json:",omitempty"`
	// DueAt is when it escalates next if nobody acknowledges; zero when it will not.
	DueAt time.Time `json:",omitzero"`
	// Step counts the path steps paged so far; Pages the pages sent (the timer's and
	// people's), which numbers them.
	Step  int `json:",omitempty"`
	Pages int `json:",omitempty"`
	// LastPagedAt and LastLevels say who was paged last, and when.
	LastPagedAt time.Time `json:",omitzero"`
	LastLevels  []string  `json:",omitempty"`
	// PagerDuty is true once a PagerDuty trigger went out: acknowledging and resolving
	// the incident then tell PagerDuty too.
	PagerDuty bool `json:",omitempty"`
	// DataCorruption is set by "Data corruption risk", with who said so and why.
	DataCorruption       bool   `json:",omitempty"`
	DataCorruptionBy     string `json:",omitempty"`
	DataCorruptionReason string `json:",omitempty"`
}

// PageKind says what a page tells a pager.
type PageKind string

// Page kinds: PagerDuty's event actions.
const (
	PageTrigger     PageKind = "trigger"
	PageAcknowledge PageKind = "acknowledge"
	PageResolve     PageKind = "resolve"
)

// PageState is where a page's delivery stands.
type PageState string

// Page states.
const (
	PagePending PageState = "pending"
	PageSent    PageState = "sent"
	PageFailed  PageState = "failed"
)

// Page is one message to one pager, stored before it is sent and kept until delivered,
// so a restart neither loses nor repeats it.
type Page struct {
	// ID is unique per incident, page number and pager ("INC-…#3/pagerduty").
	ID         string
	IncidentID string
	Pager      string
	Kind       PageKind
	Levels     []string
	Reason     string
	// By is who asked: a Slack user, or "medic" for the escalation timer.
	By        string
	Seq       int
	State     PageState
	Attempts  int
	NextAt    time.Time
	LastError string
	CreatedAt time.Time
	SentAt    time.Time
	// Reached names what an earlier attempt of this page already reached (the
	// pager's own keys: a thread, a user), so a retry reaches only the rest.
	Reached []string `json:",omitempty"`
}

// Why is the page's reason in plain words: "paged by U0ALICE: <what they typed>" for
// a page someone asked for, the escalation's reason for medic's own.
func (p Page) Why() string {
	if p.By == "" || p.By == "medic" {
		return p.Reason
	}
	if p.Reason == "" {
		return "paged by " + p.By
	}
	return "paged by " + p.By + ": " + p.Reason
}

// PartialSend is what a pager's error may also report: the targets it did reach
// before failing. medic keeps them on the page for the retry.
type PartialSend interface {
	Reached() []string
}

// PageStore keeps pages.
type PageStore interface {
	// AddPage stores a new page; ErrDuplicate (wrapped) when its ID exists.
	AddPage(ctx context.Context, p Page) error
	// UpdatePage saves a page's delivery state (ErrNotFound).
	UpdatePage(ctx context.Context, p Page) error
	// DuePages lists pending pages whose NextAt is at or before t, oldest first.
	DuePages(ctx context.Context, t time.Time, limit int) ([]Page, error)
	// PagesOf lists an incident's pages, oldest first.
	PagesOf(ctx context.Context, incidentID string) ([]Page, error)
}

// EscalationQueue finds the incidents due to escalate.
type EscalationQueue interface {
	// DueEscalations lists the unresolved incidents whose escalation is due at t.
	DueEscalations(ctx context.Context, t time.Time) ([]Incident, error)
}

// Pager delivers pages to people: PagerDuty, or Slack mentions and direct messages.
type Pager interface {
	// Name is the pager's key in page IDs and what Slack shows ("pagerduty", "slack").
	Name() string
	// Wants reports whether the pager has anything to do for a page to levels.
	Wants(kind PageKind, levels []Level) bool
	// Send delivers p about in to levels. An error with Temporary() true (and
	// optionally RetryAfter()) is retried; any other error ends the page.
	Send(ctx context.Context, p Page, in Incident, levels []Level) error
}

// EscalationDeps turn escalation on in an Engine.
type EscalationDeps struct {
	Policy *EscalationPolicy
	Pages  PageStore
	// Due finds the incidents due to escalate (usually the same store).
	Due    EscalationQueue
	Pagers []Pager
	// Wake, when set, asks for an escalation round now instead of at the next tick:
	// medic calls it when an alert goes out whose deadline has already passed (the
	// matrix says IMMEDIATE). It must not block.
	Wake func()
}

// escalator is the escalation and paging service: it gives incidents their
// acknowledgement deadlines, escalates the unacknowledged ones through the matrix,
// stores and delivers pages, and pages on request. It works with its own dependencies
// (deps is nil when escalation is off) and reaches incidents only through book.
type escalator struct {
	deps      *EscalationDeps
	book      incidentBook
	roles     roleChecker
	claims    WorkClaimer
	incidents pageIncidents
	now       func() time.Time
	log       *zap.Logger
}

// incidentBook is how the services change incidents and say so: each change stored
// (retried on a conflict), shown in Slack, noted in the thread and audited. The engine
// keeps the book.
type incidentBook interface {
	// update applies change to the stored incident, read again on each conflict, and
	// returns it as saved; the store's errors (ErrNotFound, ErrConflict after the
	// retries) pass through.
	update(ctx context.Context, id string, change func(*Incident)) (Incident, error)
	// publish posts or updates the incident's alert (Slack's errors, wrapped).
	publish(ctx context.Context, in *Incident) error
	// postNotes replies in the alert's thread; failures are logged, not returned.
	postNotes(ctx context.Context, in Incident, notes []Note)
	// audit appends to the audit log; failures are logged, not returned.
	audit(ctx context.Context, in Incident, actor string, action AuditAction, detail map[string]string)
}

// roleChecker refuses a person without a role in the incident's environment, with a
// *UserError saying so (audited); the store's or Slack's errors pass through.
type roleChecker interface {
	needRole(ctx context.Context, in Incident, user string, role Role, what string) error
}

// pageIncidents is what the escalator reads of incidents.
type pageIncidents interface {
	// Incident returns one incident (ErrNotFound).
	Incident(ctx context.Context, id string) (Incident, error)
	// OpenIncidents lists an environment's unresolved incidents.
	OpenIncidents(ctx context.Context, env string) ([]Incident, error)
}

// Escalate, DeliverPages, PageIncident, PageEnv and EscalationLine are the engine's
// escalation and paging, served by its escalator.

// Escalate pages every incident whose acknowledgement deadline passed, then delivers
// the pages waiting to go out (see escalator.Escalate).
func (e *Engine) Escalate(ctx context.Context) error { return e.esc.Escalate(ctx) }

// DeliverPages sends the pages due now (see escalator.DeliverPages).
func (e *Engine) DeliverPages(ctx context.Context) error { return e.esc.DeliverPages(ctx) }

// PageIncident pages people about an incident at once (see escalator.PageIncident).
func (e *Engine) PageIncident(ctx context.Context, incidentID string, action ActionID, user, reason string) (string, error) {
	return e.esc.PageIncident(ctx, incidentID, action, user, reason)
}

// PageEnv pages the on-call engineer for env's most severe open incident.
func (e *Engine) PageEnv(ctx context.Context, env, user string) (string, error) {
	return e.esc.PageEnv(ctx, env, user)
}

// EscalationLine is what the alert shows of the escalation.
func (e *Engine) EscalationLine(in Incident) string { return e.esc.EscalationLine(in) }

// Paging limits.
const (
	// maxPageAttempts bounds the retries of one page (about 20 minutes with backoff).
	maxPageAttempts = 8
	// pageRetryBase and pageRetryMax shape the retry backoff.
	pageRetryBase = 15 * time.Second
	pageRetryMax  = 5 * time.Minute
	// repagePause is how soon the same level may be paged again by hand.
	repagePause = time.Minute
	// pageLease bounds how long one replica may hold a page while sending it.
	pageLease = 2 * time.Minute
)

// schedule keeps an incident's escalation in step with the matrix: when the incident
// is new or now falls under another row (its severity rose, data corruption was
// declared), the clock restarts from the new row's response time and any earlier
// acknowledgement no longer holds. Resolved incidents stop their clock.
func (x *escalator) schedule(cur *Incident) {
	if x.deps == nil {
		return
	}
	if cur.Status == IncidentResolved {
		cur.Escalation.DueAt = time.Time{}
		return
	}
	row, ok := x.deps.Policy.Row(*cur)
	if !ok || row.Name == cur.Escalation.Row {
		return
	}
	first := cur.Escalation.Row == ""
	cur.Escalation.Row, cur.Escalation.Step = row.Name, 0
	cur.Escalation.DueAt = time.Time{}
	if row.BestEffort {
		return
	}
	cur.Escalation.DueAt = x.now().Add(row.Response)
	if !first && cur.Status == IncidentAcknowledged {
		cur.Status, cur.AckBy, cur.AckAt = IncidentOpen, "", time.Time{}
	}
}

// wakeIfDue asks for an escalation round now when in's deadline has passed.
func (x *escalator) wakeIfDue(in Incident) {
	if x.deps == nil || x.deps.Wake == nil || in.MessageTS == "" || in.Status != IncidentOpen {
		return
	}
	if due := in.Escalation.DueAt; !due.IsZero() && !due.After(x.now()) {
		x.deps.Wake()
	}
}

// escalationChanged says in the thread that the incident now follows another row.
func (x *escalator) escalationChanged(ctx context.Context, before, after Incident) {
	if x.deps == nil || before.Escalation.Row == "" || before.Escalation.Row == after.Escalation.Row {
		return
	}
	row, _ := x.deps.Policy.rowNamed(after.Escalation.Row)
	text := Say(":rotating_light: Escalation now follows *%s* (response %s).", row.Name, row.ResponseText())
	if before.AckBy != "" && after.AckBy == "" {
		text = append(text, Say(" The acknowledgement by %s was for the earlier situation: acknowledge again.", Mention(before.AckBy))...)
	}
	x.book.audit(ctx, after, "medic", AuditEscalationRow, map[string]string{"from": before.Escalation.Row, "to": row.Name, "due": timeText(after.Escalation.DueAt)})
	x.book.postNotes(ctx, after, []Note{{Text: text}})
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Escalate pages every incident whose acknowledgement deadline passed, then delivers
// the pages waiting to go out. Run it every few seconds; several replicas may run it
// at once: each page is stored under an ID made from the incident and its number, so
// a page is added once, and sending is claimed.
func (x *escalator) Escalate(ctx context.Context) error {
	if x.deps == nil {
		return nil
	}
	due, err := x.deps.Due.DueEscalations(ctx, x.now())
	if err != nil {
		return fmt.Errorf("listing due escalations: %w", err)
	}
	var errs []error
	for _, in := range due {
		if err := x.escalate(ctx, in); err != nil {
			x.log.Error("escalating", zap.String("incident", in.ID), zap.Error(err))
			errs = append(errs, err)
		}
	}
	if err := x.DeliverPages(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// escalate pages the next step of in's path, because nobody acknowledged in time.
func (x *escalator) escalate(ctx context.Context, in Incident) error {
	p := x.deps.Policy
	row, ok := p.rowNamed(in.Escalation.Row)
	if !ok || row.BestEffort || len(row.Path) == 0 || in.Status != IncidentOpen {
		_, err := x.book.update(ctx, in.ID, func(cur *Incident) { cur.Escalation.DueAt = time.Time{} })
		return err
	}
	step := min(in.Escalation.Step, len(row.Path)-1)
	levels := row.Path[step]
	var reason string
	switch {
	case in.Escalation.Step == 0 && row.Response == 0:
		reason = fmt.Sprintf("%s: response IMMEDIATE", row.Name)
	case in.Escalation.Step == 0:
		reason = fmt.Sprintf("not acknowledged within %s (%s)", duration(row.Response), row.Name)
	default:
		reason = fmt.Sprintf("still not acknowledged %s after the last page (%s)", duration(p.Interval), row.Name)
	}
	seq := in.Escalation.Pages + 1
	return x.page(ctx, in, seq, levels, reason, "medic", func(cur *Incident) {
		cur.Escalation.Step = step + 1
		cur.Escalation.DueAt = x.now().Add(p.Interval)
	})
}

// page stores the pages of page number seq of in to levels, one per pager, then
// records them on the incident (with more, for the timer) unless someone else already
// did. It is safe to call twice with the same seq.
func (x *escalator) page(ctx context.Context, in Incident, seq int, levels []string, reason, by string, more func(*Incident)) error {
	p := x.deps.Policy
	var lv []Level
	for _, n := range levels {
		lv = append(lv, p.Levels[n])
	}
	pd := false
	for _, pager := range x.deps.Pagers {
		if !pager.Wants(PageTrigger, lv) {
			continue
		}
		if pager.Name() == "pagerduty" {
			pd = true
		}
		if err := x.addPage(ctx, Page{ID: fmt.Sprintf("%s#%d/%s", in.ID, seq, pager.Name()), IncidentID: in.ID, Pager: pager.Name(),
			Kind: PageTrigger, Levels: levels, Reason: reason, By: by, Seq: seq}); err != nil {
			return err
		}
	}
	recorded := false
	saved, err := x.book.update(ctx, in.ID, func(cur *Incident) {
		recorded = false
		if cur.Escalation.Pages >= seq {
			return // another replica got there first
		}
		recorded = true
		cur.Escalation.Pages = seq
		cur.Escalation.LastPagedAt, cur.Escalation.LastLevels = x.now(), levels
		if pd {
			cur.Escalation.PagerDuty = true
		}
		if more != nil {
			more(cur)
		}
	})
	if err != nil {
		return err
	}
	if !recorded {
		return nil
	}
	x.book.audit(ctx, saved, by, AuditIncidentPaged, map[string]string{"levels": strings.Join(levels, ","), "reason": Page{Reason: reason, By: by}.Why(), "page": fmt.Sprint(seq)})
	if err := x.book.publish(ctx, &saved); err != nil {
		x.log.Warn("showing a page on the alert", zap.String("incident", in.ID), zap.Error(err))
	}
	if !slices.ContainsFunc(x.deps.Pagers, func(pg Pager) bool { return pg.Wants(PageTrigger, lv) }) {
		x.book.postNotes(ctx, saved, []Note{{Text: Say(":warning: Nobody to page for %s: the level has no Slack members and PagerDuty is off (config: escalation.levels).", p.levelTitles(levels))}})
	}
	return nil
}

// addPage stores a page to send now; one already stored under the same ID is left as
// it is.
func (x *escalator) addPage(ctx context.Context, pg Page) error {
	pg.State, pg.CreatedAt, pg.NextAt = PagePending, x.now(), x.now()
	if err := x.deps.Pages.AddPage(ctx, pg); err != nil && !errors.Is(err, ErrDuplicate) {
		return fmt.Errorf("storing page %s: %w", pg.ID, err)
	}
	return nil
}

// followPagerDuty tells PagerDuty that medic's incident was acknowledged or resolved,
// when PagerDuty was paged for it.
func (x *escalator) followPagerDuty(ctx context.Context, in Incident, kind PageKind, by string) {
	if x.deps == nil || !in.Escalation.PagerDuty {
		return
	}
	id := fmt.Sprintf("%s#%s", in.ID, kind)
	if kind == PageAcknowledge {
		id = fmt.Sprintf("%s#ack%d", in.ID, in.Escalation.Pages)
	}
	for _, pager := range x.deps.Pagers {
		if !pager.Wants(kind, nil) {
			continue
		}
		if err := x.addPage(ctx, Page{ID: id + "/" + pager.Name(), IncidentID: in.ID, Pager: pager.Name(), Kind: kind, By: by, Seq: in.Escalation.Pages}); err != nil {
			x.log.Error("storing a page", zap.String("incident", in.ID), zap.Error(err))
		}
	}
	if err := x.DeliverPages(ctx); err != nil {
		x.log.Warn("delivering pages", zap.Error(err))
	}
}

// DeliverPages sends the pages due now. A page that fails for a temporary reason
// (PagerDuty 429 or 5xx, Slack unreachable) is retried with backoff, and the thread
// says so; one that fails for good says that too.
func (x *escalator) DeliverPages(ctx context.Context) error {
	if x.deps == nil {
		return nil
	}
	pages, err := x.deps.Pages.DuePages(ctx, x.now(), 50)
	if err != nil {
		return fmt.Errorf("listing pages to send: %w", err)
	}
	for _, pg := range pages {
		x.deliver(ctx, pg)
	}
	return nil
}

func (x *escalator) deliver(ctx context.Context, pg Page) {
	log := x.log.With(zap.String("page", pg.ID))
	key := "page:" + pg.ID + fmt.Sprintf("@%d", pg.Attempts)
	ok, err := x.claims.ClaimWork(ctx, key, pageLease)
	if err != nil || !ok {
		return
	}
	if !x.stillDue(ctx, pg) {
		_ = x.claims.CompleteWork(ctx, key)
		return
	}
	var pager Pager
	for _, p := range x.deps.Pagers {
		if p.Name() == pg.Pager {
			pager = p
		}
	}
	in, err := x.incidents.Incident(ctx, pg.IncidentID)
	if err != nil || pager == nil {
		pg.State, pg.LastError = PageFailed, fmt.Sprintf("cannot send: pager %q configured: %v; incident: %v", pg.Pager, pager != nil, err)
		x.savePage(ctx, log, pg)
		_ = x.claims.CompleteWork(ctx, key)
		return
	}
	var levels []Level
	for _, n := range pg.Levels {
		levels = append(levels, x.deps.Policy.Levels[n])
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err = pager.Send(sctx, pg, in, levels)
	cancel()
	pg.Attempts++
	if err == nil {
		if pg.Attempts > 1 {
			x.book.postNotes(ctx, in, []Note{{Text: Say(":white_check_mark: %s page %s delivered after %d attempts.", pagerTitle(pg.Pager), pageWhat(pg), pg.Attempts)}})
		}
		pg.State, pg.SentAt, pg.LastError = PageSent, x.now(), ""
		x.savePage(ctx, log, pg)
		x.book.audit(ctx, in, "medic", AuditPageSent, map[string]string{"page": pg.ID, "pager": pg.Pager, "kind": string(pg.Kind), "levels": strings.Join(pg.Levels, ",")})
		_ = x.claims.CompleteWork(ctx, key)
		return
	}
	why := Redact(oneLine(err))
	pg.LastError = why
	var partial PartialSend
	if errors.As(err, &partial) {
		for _, r := range partial.Reached() {
			if !slices.Contains(pg.Reached, r) {
				pg.Reached = append(pg.Reached, r)
			}
		}
	}
	var temp interface{ Temporary() bool }
	retry := errors.As(err, &temp) && temp.Temporary() && pg.Attempts < maxPageAttempts
	if retry {
		wait := min(pageRetryBase<<(pg.Attempts-1), pageRetryMax)
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) && ra.RetryAfter() > wait {
			wait = ra.RetryAfter()
		}
		pg.NextAt = x.now().Add(wait)
		if pg.Attempts == 1 {
			x.book.postNotes(ctx, in, []Note{{Text: Say(":warning: %s page %s failed: %s. medic retries (next in %s, up to %d attempts).", pagerTitle(pg.Pager), pageWhat(pg), why, duration(wait), maxPageAttempts)}})
		}
	} else {
		pg.State = PageFailed
		x.book.postNotes(ctx, in, []Note{{Text: Say(":x: %s page %s failed after %d attempt(s): %s. Page by hand.", pagerTitle(pg.Pager), pageWhat(pg), pg.Attempts, why)}})
	}
	log.Warn("page failed", zap.Int("attempts", pg.Attempts), zap.Bool("retry", retry), zap.String("error", why))
	x.savePage(ctx, log, pg)
	x.book.audit(ctx, in, "medic", AuditPageFailed, map[string]string{"page": pg.ID, "pager": pg.Pager, "error": why, "attempt": fmt.Sprint(pg.Attempts), "retry": fmt.Sprint(retry)})
	_ = x.claims.CompleteWork(ctx, key)
}

// stillDue re-reads a page after claiming it: another replica may have sent it
// between the listing and the claim.
func (x *escalator) stillDue(ctx context.Context, pg Page) bool {
	pages, err := x.deps.Pages.PagesOf(ctx, pg.IncidentID)
	if err != nil {
		return true // send rather than lose it
	}
	for _, cur := range pages {
		if cur.ID == pg.ID {
			return cur.State == PagePending && cur.Attempts == pg.Attempts
		}
	}
	return false
}

func (x *escalator) savePage(ctx context.Context, log *zap.Logger, pg Page) {
	if err := x.deps.Pages.UpdatePage(context.WithoutCancel(ctx), pg); err != nil {
		log.Error("saving a page", zap.Error(err))
	}
}

func pagerTitle(name string) string {
	switch name {
	case "pagerduty":
		return "PagerDuty"
	case "slack":
		return "Slack"
	}
	return name
}

// pageWhat names a page in a thread note: "to senior (#2)", "acknowledge".
func pageWhat(pg Page) string {
	if pg.Kind != PageTrigger {
		return "(" + string(pg.Kind) + ")"
	}
	return fmt.Sprintf("#%d to %s", pg.Seq, strings.Join(pg.Levels, " + "))
}

// PageIncident pages people about an incident at once: the on-call engineer ("Page
// on-call", /page), the senior engineer ("Page senior engineer"), or, for "Data
// corruption risk" (with a reason), the matrix's data corruption row, which pages at
// once. It returns what to tell the user.
func (x *escalator) PageIncident(ctx context.Context, incidentID string, action ActionID, user, reason string) (string, error) {
	if x.deps == nil {
		return "", &UserError{"Paging is not configured on this medic (config: escalation); nothing was done."}
	}
	in, err := x.incidents.Incident(ctx, incidentID)
	if errors.Is(err, ErrNotFound) {
		return "", &UserError{fmt.Sprintf("Incident %s is not on record.", incidentID)}
	}
	if err != nil {
		return "", err
	}
	if err := x.roles.needRole(ctx, in, user, RoleResponder, "page people"); err != nil {
		return "", err
	}
	if in.Status == IncidentResolved {
		return "", &UserError{fmt.Sprintf("Incident %s is resolved; nobody was paged.", in.ID)}
	}
	if in.Untrusted != "" {
		x.book.audit(ctx, in, user, AuditPageRefused, map[string]string{"action": string(action), "why": "untrusted run"})
		return "", &UserError{fmt.Sprintf("Incident %s is about a run medic does not trust (%s); medic never pages for those. Nobody was paged.", in.ID, Literal(in.Untrusted))}
	}
	s, ok := specOf(action)
	if !ok || s.page == nil {
		x.book.audit(ctx, in, user, AuditPageRefused, map[string]string{"action": string(action), "why": "not a paging action"})
		return "", &UserError{fmt.Sprintf("%s is not a way to page people.", Literal(strconv.Quote(string(action))))}
	}
	return s.page(x, ctx, in, user, reason)
}

// declareDataCorruption records a data corruption risk on the incident (its row then
// pages at once) and pages the people of that row.
func (x *escalator) declareDataCorruption(ctx context.Context, in Incident, user, reason string) (string, error) {
	if strings.TrimSpace(reason) == "" {
		return "", &UserError{"Say why data may be corrupted: it goes to the audit log and the page."}
	}
	if in.Escalation.DataCorruption {
		return fmt.Sprintf("Data corruption risk was already declared on %s by <@%s>; the %s are being paged.", in.ID, in.Escalation.DataCorruptionBy, x.dataCorruptionTitles()), nil
	}
	saved, err := x.book.update(ctx, in.ID, func(cur *Incident) {
		cur.Escalation.DataCorruption, cur.Escalation.DataCorruptionBy, cur.Escalation.DataCorruptionReason = true, user, Redact(reason)
	})
	if err != nil {
		return "", err
	}
	x.book.audit(ctx, saved, user, AuditIncidentDataCorrupt, map[string]string{"reason": Redact(reason)})
	x.book.postNotes(ctx, saved, []Note{{Text: Say(":biohazard_sign: %s declared a *data corruption risk*: %s", Mention(user), reason)}})
	// The row changed to an IMMEDIATE one: page this incident now (not a whole round
	// over every incident), then send what is due.
	if err := x.escalate(ctx, saved); err != nil {
		return "", err
	}
	if err := x.DeliverPages(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("Data corruption risk declared on %s: paging the %s now.", in.ID, x.dataCorruptionTitles()), nil
}

func (x *escalator) pageOnCall(ctx context.Context, in Incident, user, reason string) (string, error) {
	return x.pageLevel(ctx, in, x.deps.Policy.OnCall, user, reason)
}

func (x *escalator) pageSenior(ctx context.Context, in Incident, user, reason string) (string, error) {
	return x.pageLevel(ctx, in, x.deps.Policy.Senior, user, reason)
}

// pageLevel pages one escalation level about in, unless it was paged moments ago.
func (x *escalator) pageLevel(ctx context.Context, in Incident, level, user, reason string) (string, error) {
	p := x.deps.Policy
	if slices.Equal(in.Escalation.LastLevels, []string{level}) && x.now().Sub(in.Escalation.LastPagedAt) < repagePause {
		return fmt.Sprintf("The %s was paged for %s %s ago; not paging again so soon.", p.Levels[level].Title, in.ID, duration(x.now().Sub(in.Escalation.LastPagedAt))), nil
	}
	// The page names who asked (By) apart from what they typed (Reason): Slack
	// shows a mention, PagerDuty and the report a name.
	if err := x.page(ctx, in, in.Escalation.Pages+1, []string{level}, strings.TrimSpace(reason), user, nil); err != nil {
		return "", err
	}
	if err := x.DeliverPages(ctx); err != nil {
		x.log.Warn("delivering pages", zap.Error(err))
	}
	return fmt.Sprintf("Paging the %s for %s.", p.Levels[level].Title, in.ID), nil
}

func (x *escalator) dataCorruptionTitles() string {
	for _, r := range x.deps.Policy.Matrix {
		if r.DataCorruption && len(r.Path) > 0 {
			return x.deps.Policy.levelTitles(r.Path[0])
		}
	}
	return "people of the data corruption row"
}

// PageEnv pages the on-call engineer for env's most severe open incident (/page prod).
func (x *escalator) PageEnv(ctx context.Context, env, user string) (string, error) {
	open, err := x.incidents.OpenIncidents(ctx, env)
	if err != nil {
		return "", err
	}
	for _, in := range open {
		if in.Untrusted == "" {
			return x.PageIncident(ctx, in.ID, ActPageOnCall, user, "")
		}
	}
	return "", &UserError{fmt.Sprintf("%s has no open incident, so there is nothing to page about. Name one with `/page INC-…`.", env)}
}

// EscalationLine is what the alert shows of the escalation: who was paged, what is
// next. Empty when there is nothing to say.
func (x *escalator) EscalationLine(in Incident) string {
	return EscalationText(x.escalationPolicy(), in, x.now())
}

func (x *escalator) escalationPolicy() *EscalationPolicy {
	if x.deps == nil {
		return nil
	}
	return x.deps.Policy
}

// EscalationText describes in's escalation for its alert.
func EscalationText(p *EscalationPolicy, in Incident, now time.Time) string {
	if p == nil || in.Escalation.Row == "" {
		return ""
	}
	row, _ := p.rowNamed(in.Escalation.Row)
	parts := []string{fmt.Sprintf("Escalation: %s (response %s)", row.Name, row.ResponseText())}
	if in.Escalation.Pages > 0 {
		parts = append(parts, fmt.Sprintf("paged %s at %s", p.levelTitles(in.Escalation.LastLevels), in.Escalation.LastPagedAt.UTC().Format("15:04 UTC")))
	}
	if !in.Escalation.DueAt.IsZero() && in.Status == IncidentOpen && !row.BestEffort && len(row.Path) > 0 {
		next := row.Path[min(in.Escalation.Step, len(row.Path)-1)]
		parts = append(parts, fmt.Sprintf("pages %s at %s unless acknowledged", p.levelTitles(next), in.Escalation.DueAt.UTC().Format("15:04 UTC")))
	}
	return strings.Join(parts, " · ")
}
