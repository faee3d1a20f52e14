package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// DefaultChecklist is the runbook's post-incident checklist.
func DefaultChecklist() []string {
	return []string{
		"Write incident report (what, when, why, how resolved)",
		"Root cause analysis (5 whys)",
		"Update the runbook with the new failure mode",
		"Create GitHub issue to prevent recurrence",
		"Test recovery procedure works",
		"Update monitoring/alerting if gaps found",
		"Share lessons learned with team",
	}
}

// ChecklistItem is one item of an incident's post-incident checklist.
type ChecklistItem struct {
	Text string
	Done bool      `json:",omitempty"`
	By   string    `json:",omitempty"`
	At   time.Time `json:",omitzero"`
}

// Resolution is how an incident ended and what followed.
type Resolution struct {
	By   string    `json:",omitempty"`
	At   time.Time `json:",omitzero"`
	Note string    `json:",omitempty"`
	// Checklist is the post-incident checklist; ChecklistTS its message in the thread.
	Checklist   []ChecklistItem `json:",omitempty"`
	ChecklistTS string          `json:",omitempty"`
	// Issue is the follow-up GitHub issue, once filed.
	IssueNumber int    `json:",omitempty"`
	IssueURL    string `json:",omitempty"`
}

// IssueTracker files the follow-up issue of an incident.
type IssueTracker interface {
	// FindIssue looks for an issue, open or closed, carrying labels whose body contains
	// marker; found is false when there is none.
	FindIssue(ctx context.Context, marker string, labels []string) (number int, url string, found bool, err error)
	// CreateIssue files an issue and returns its number and URL.
	CreateIssue(ctx context.Context, title, body string, labels []string) (int, string, error)
}

// UserNamer names Slack users for reports read outside Slack.
type UserNamer interface {
	UserName(ctx context.Context, userID string) (string, error)
}

// ResolutionDeps let incidents be resolved with a checklist, a report and an issue.
type ResolutionDeps struct {
	// Checklists shows the post-incident checklist in Slack.
	Checklists ChecklistPublisher
	// Issues files follow-up issues; nil leaves the button out.
	Issues IssueTracker
	// Labels are put on follow-up issues.
	Labels []string
	// Checklist replaces the runbook's post-incident checklist when set.
	Checklist []string
	// Names resolves user IDs in reports; nil keeps the IDs.
	Names UserNamer
}

// resolver is the resolution and reports service: it resolves incidents with their
// post-incident checklist, renders reports from the audit log and files follow-up
// issues. It works with its own dependencies (deps is nil when resolution is off) and
// reaches incidents through the engine's book.
type resolver struct {
	deps      *ResolutionDeps
	book      incidentBook
	roles     roleChecker
	esc       escalation
	claims    WorkClaimer
	incidents resolvedIncidents
	audit     Auditor
	now       func() time.Time
	log       *zap.Logger
}

// escalation is what the resolver asks of the escalator: the policy the report names
// levels by, the alert's escalation line, and PagerDuty told of an acknowledgement or
// resolution (its errors are logged, not returned).
type escalation interface {
	escalationPolicy() *EscalationPolicy
	EscalationLine(in Incident) string
	followPagerDuty(ctx context.Context, in Incident, kind PageKind, by string)
}

// resolvedIncidents is what the resolver reads of incidents.
type resolvedIncidents interface {
	// Incident returns one incident (ErrNotFound).
	Incident(ctx context.Context, id string) (Incident, error)
}

// Resolve, SetChecklist, CreateFollowUpIssue, Report, AuditOf, IncidentList and
// Incident are the engine's resolution and reports, served by its resolver.

// Resolve closes an incident (see resolver.Resolve).
func (e *Engine) Resolve(ctx context.Context, incidentID, user, note string) (string, error) {
	return e.res.Resolve(ctx, incidentID, user, note)
}

// SetChecklist records the ticked items of an incident's checklist.
func (e *Engine) SetChecklist(ctx context.Context, incidentID, user string, selected []string) (string, error) {
	return e.res.SetChecklist(ctx, incidentID, user, selected)
}

// CreateFollowUpIssue files an incident's report as a GitHub issue, once.
func (e *Engine) CreateFollowUpIssue(ctx context.Context, incidentID, user string) (string, error) {
	return e.res.CreateFollowUpIssue(ctx, incidentID, user)
}

// Report renders an incident's report.
func (e *Engine) Report(ctx context.Context, incidentID string) (string, error) {
	return e.res.Report(ctx, incidentID)
}

// AuditOf returns an incident's audit entries.
func (e *Engine) AuditOf(ctx context.Context, incidentID string) ([]AuditEntry, error) {
	return e.res.AuditOf(ctx, incidentID)
}

// IncidentList is what /incident list shows.
func (e *Engine) IncidentList(ctx context.Context) (open, recent []Incident, err error) {
	return e.res.IncidentList(ctx)
}

// Incident returns one incident for /incident show.
func (e *Engine) Incident(ctx context.Context, id string) (Incident, error) {
	return e.res.Incident(ctx, id)
}

// ChecklistID is the element ID of an incident's checklist checkboxes.
func ChecklistID(incidentID string) string { return checklistPrefix + incidentID }

const checklistPrefix = "checklist:"

// ParseChecklistID reads the incident of a checklist element ID.
func ParseChecklistID(s string) (string, bool) {
	id, ok := strings.CutPrefix(s, checklistPrefix)
	return id, ok && id != ""
}

// Resolve closes an incident: its escalation stops (PagerDuty is told), the thread
// gets the post-incident checklist and the incident report, and the report can be
// filed as a GitHub issue. It returns what to tell the user.
func (r *resolver) Resolve(ctx context.Context, incidentID, user, note string) (string, error) {
	in, err := r.incidents.Incident(ctx, incidentID)
	if errors.Is(err, ErrNotFound) {
		return "", &UserError{fmt.Sprintf("Incident %s is not on record.", incidentID)}
	}
	if err != nil {
		return "", err
	}
	if err := r.roles.needRole(ctx, in, user, RoleResponder, "resolve an incident"); err != nil {
		return "", err
	}
	if in.Status == IncidentResolved {
		return alreadyResolved(in), nil
	}
	items := DefaultChecklist()
	if r.deps != nil && len(r.deps.Checklist) > 0 {
		items = r.deps.Checklist
	}
	already := false
	saved, err := r.book.update(ctx, in.ID, func(cur *Incident) {
		if already = cur.Status == IncidentResolved; already {
			return
		}
		cur.Status = IncidentResolved
		cur.Resolution.By, cur.Resolution.At, cur.Resolution.Note = user, r.now(), Redact(strings.TrimSpace(note))
		cur.Resolution.Checklist = nil
		for _, t := range items {
			cur.Resolution.Checklist = append(cur.Resolution.Checklist, ChecklistItem{Text: t})
		}
	})
	if err != nil {
		return "", err
	}
	if already {
		return alreadyResolved(saved), nil
	}
	r.book.audit(ctx, saved, user, AuditIncidentResolved, map[string]string{"note": saved.Resolution.Note, "fixed": fmt.Sprint(!saved.FixedAt.IsZero())})
	if err := r.book.publish(ctx, &saved); err != nil {
		r.log.Warn("showing a resolved incident", zap.String("incident", saved.ID), zap.Error(err))
	}
	r.esc.followPagerDuty(ctx, saved, PageResolve, user)
	text := Say(":white_check_mark: Resolved by %s.", Mention(user))
	if saved.Resolution.Note != "" {
		text = append(text, Say(" %s", saved.Resolution.Note)...)
	}
	if saved.FixedAt.IsZero() {
		text = append(text, Say(" (medic saw no verified fix.)")...)
	}
	r.book.postNotes(ctx, saved, []Note{{Text: text}})
	if saved.MessageTS != "" {
		if ts, err := r.deps.Checklists.PostChecklist(ctx, saved); err != nil {
			r.log.Warn("posting the checklist", zap.String("incident", saved.ID), zap.Error(err))
		} else if _, err := r.book.update(ctx, saved.ID, func(cur *Incident) { cur.Resolution.ChecklistTS = ts }); err != nil {
			r.log.Warn("recording the checklist", zap.String("incident", saved.ID), zap.Error(err))
		}
	}
	report, err := r.Report(ctx, saved.ID)
	if err != nil {
		r.log.Warn("making the report", zap.String("incident", saved.ID), zap.Error(err))
	} else {
		n := Note{Text: Say(":page_facing_up: Incident report of %s (Markdown):", saved.ID), Title: "report.md", Detail: report, Whole: true}
		if r.deps != nil && r.deps.Issues != nil {
			n.Buttons = []Button{{Label: "Create GitHub issue", ID: ButtonID(ActCreateIssue), Value: saved.ID}}
		}
		r.book.postNotes(ctx, saved, []Note{n})
	}
	return fmt.Sprintf("You resolved %s. The post-incident checklist and the report are in its thread.", saved.ID), nil
}

func alreadyResolved(in Incident) string {
	if in.Resolution.By == "" {
		return fmt.Sprintf("Incident %s is resolved already.", in.ID)
	}
	return fmt.Sprintf("Incident %s was resolved by <@%s> at %s.", in.ID, in.Resolution.By, in.Resolution.At.UTC().Format("15:04 UTC"))
}

// SetChecklist records which checklist items are done (selected holds their indexes,
// as the checkboxes send them) and updates the checklist message.
func (r *resolver) SetChecklist(ctx context.Context, incidentID, user string, selected []string) (string, error) {
	in, err := r.incidents.Incident(ctx, incidentID)
	if err != nil {
		return "", err
	}
	if err := r.roles.needRole(ctx, in, user, RoleResponder, "tick the checklist"); err != nil {
		if cur, gerr := r.incidents.Incident(ctx, incidentID); gerr == nil && cur.Resolution.ChecklistTS != "" {
			// Slack already ticked the box on their screen: show the stored state again.
			_ = r.deps.Checklists.UpdateChecklist(ctx, cur)
		}
		return "", err
	}
	done := map[int]bool{}
	for _, s := range selected {
		if i, err := strconv.Atoi(s); err == nil {
			done[i] = true
		}
	}
	var changed []string
	saved, err := r.book.update(ctx, in.ID, func(cur *Incident) {
		changed = nil
		for i := range cur.Resolution.Checklist {
			it := &cur.Resolution.Checklist[i]
			if it.Done == done[i] {
				continue
			}
			it.Done, it.By, it.At = done[i], user, r.now()
			verb := "unchecked"
			if it.Done {
				verb = "checked"
			}
			changed = append(changed, verb+": "+it.Text)
		}
	})
	if err != nil {
		return "", err
	}
	for _, c := range changed {
		verb, text, _ := strings.Cut(c, ": ")
		r.book.audit(ctx, saved, user, AuditAction("checklist."+verb), map[string]string{"item": text})
	}
	if err := r.deps.Checklists.UpdateChecklist(ctx, saved); err != nil {
		return "", err
	}
	left := 0
	for _, it := range saved.Resolution.Checklist {
		if !it.Done {
			left++
		}
	}
	if left == 0 {
		return "Checklist complete.", nil
	}
	return fmt.Sprintf("Checklist saved: %d item(s) left.", left), nil
}

// CreateFollowUpIssue files the incident report as a GitHub issue, once: a second
// click, a redelivery or another replica finds the issue already filed (its body
// carries the incident's marker).
func (r *resolver) CreateFollowUpIssue(ctx context.Context, incidentID, user string) (string, error) {
	if r.deps == nil || r.deps.Issues == nil {
		return "", &UserError{"Filing issues is not configured on this medic."}
	}
	in, err := r.incidents.Incident(ctx, incidentID)
	if err != nil {
		return "", err
	}
	if err := r.roles.needRole(ctx, in, user, RoleResponder, "file the follow-up issue"); err != nil {
		return "", err
	}
	if in.Resolution.IssueURL != "" {
		return fmt.Sprintf("The follow-up issue of %s is #%d: %s", in.ID, in.Resolution.IssueNumber, in.Resolution.IssueURL), nil
	}
	key := "issue:" + in.ID
	ok, err := r.claims.ClaimWork(ctx, key, 2*time.Minute)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("The follow-up issue of %s is being filed; its link comes in the thread.", in.ID), nil
	}
	marker := issueMarker(in.ID)
	labels := r.deps.Labels
	num, url, found, err := r.deps.Issues.FindIssue(ctx, marker, labels)
	if err != nil {
		_ = r.claims.ReleaseWork(ctx, key)
		return "", fmt.Errorf("looking for an earlier issue of %s: %w", in.ID, err)
	}
	if !found {
		report, err := r.Report(ctx, in.ID)
		if err != nil {
			_ = r.claims.ReleaseWork(ctx, key)
			return "", err
		}
		title := fmt.Sprintf("Follow-up of %s: %s (%s)", in.ID, in.Title, in.Env)
		num, url, err = r.deps.Issues.CreateIssue(ctx, title, report+"\n\n"+marker+"\n", labels)
		if err != nil {
			_ = r.claims.ReleaseWork(ctx, key)
			r.book.postNotes(ctx, in, []Note{{Text: Say(":x: Could not file the follow-up issue: %s", Redact(oneLine(err)))}})
			return "", &UserError{"GitHub did not take the issue: " + Literal(oneLine(err)) + ". Try again."}
		}
	}
	saved, err := r.book.update(ctx, in.ID, func(cur *Incident) { cur.Resolution.IssueNumber, cur.Resolution.IssueURL = num, url })
	if err != nil {
		return "", err
	}
	_ = r.claims.CompleteWork(ctx, key)
	r.book.audit(ctx, saved, user, AuditIncidentIssue, map[string]string{"issue": strconv.Itoa(num), "url": url, "existing": fmt.Sprint(found)})
	r.book.postNotes(ctx, saved, []Note{{Text: Say(":memo: Follow-up issue #%d filed by %s.", num, Mention(user)), Link: url, LinkText: fmt.Sprintf("#%d", num)}})
	return fmt.Sprintf("Filed #%d: %s", num, url), nil
}

// issueMarker is the line a follow-up issue's body carries, so it is found again.
func issueMarker(incidentID string) string {
	return "<!-- medic-incident: " + incidentID + " -->"
}

// Report is the incident report, in Markdown, drawn from the incident and its audit.
func (r *resolver) Report(ctx context.Context, incidentID string) (string, error) {
	in, err := r.incidents.Incident(ctx, incidentID)
	if err != nil {
		return "", err
	}
	entries, err := r.AuditOf(ctx, incidentID)
	if err != nil {
		return "", err
	}
	names := map[string]string{}
	if r.deps != nil && r.deps.Names != nil {
		for _, a := range entries {
			if _, ok := names[a.Actor]; ok || a.Actor == "medic" {
				continue
			}
			if n, err := r.deps.Names.UserName(ctx, a.Actor); err == nil && n != "" {
				names[a.Actor] = n
			}
		}
	}
	return Report(in, entries, r.esc.escalationPolicy(), names), nil
}

// AuditOf returns an incident's audit entries, oldest first.
func (r *resolver) AuditOf(ctx context.Context, incidentID string) ([]AuditEntry, error) {
	reader, ok := r.audit.(AuditReader)
	if !ok {
		return nil, errors.New("the audit log cannot be read here")
	}
	return reader.IncidentAudit(ctx, incidentID)
}

// AuditReader reads the audit log: an incident's entries, oldest first (none for an
// unknown incident, not ErrNotFound). Its only errors are the store's.
type AuditReader interface {
	IncidentAudit(ctx context.Context, incidentID string) ([]AuditEntry, error)
}

// Report writes the incident report: summary, times to acknowledge and recover, the
// timeline from the audit log, who did what, and the checklist. names maps Slack user
// IDs to the names to show.
func Report(in Incident, entries []AuditEntry, p *EscalationPolicy, names map[string]string) string {
	w := &reportWriter{names: names}
	fmt.Fprintf(&w.b, "# %s: %s (%s)\n\n", in.ID, mdText(in.Title), in.Env)
	w.summary(in, entries)
	w.whatHappened(in)
	w.timeline(entries, p)
	w.b.WriteString("\n## Root cause (5 whys)\n\nTo fill in: ask why the failure happened, then why that happened, five times.\n\n1. Why?\n2. Why?\n3. Why?\n4. Why?\n5. Why?\n")
	w.checklist(in)
	return w.b.String()
}

// reportWriter writes an incident's report in Markdown.
type reportWriter struct {
	b     strings.Builder
	names map[string]string
}

// who names a person: a name, never an @-mention (GitHub would notify whoever owns
// that login).
func (w *reportWriter) who(id string) string {
	if id == "" || id == "medic" {
		return "medic"
	}
	if n, ok := w.names[id]; ok {
		return mdText(n)
	}
	return mdText(id)
}

// row writes a summary row; v is Markdown: outside text in it went through mdText.
func (w *reportWriter) row(k, v string) {
	if v != "" {
		fmt.Fprintf(&w.b, "| %s | %s |\n", k, mdCell(v))
	}
}

// summary is the table of the incident's facts and times.
func (w *reportWriter) summary(in Incident, entries []AuditEntry) {
	w.b.WriteString("| | |\n|---|---|\n")
	w.row("Scenario", scenarioTitle(in.Scenario))
	w.row("Severity", in.Severity.String())
	w.row("Environment", in.Env)
	w.row("Opened", reportTime(in.OpenedAt))
	if in.AckAt.IsZero() {
		w.row("Acknowledged", "never")
	} else {
		w.row("Acknowledged", fmt.Sprintf("%s by %s", reportTime(in.AckAt), w.who(in.AckBy)))
	}
	if !in.Resolution.At.IsZero() {
		w.row("Resolved", fmt.Sprintf("%s by %s", reportTime(in.Resolution.At), w.who(in.Resolution.By)))
	}
	if ack := firstAck(in, entries); !ack.IsZero() {
		w.row("Time to acknowledge", duration(ack.Sub(in.OpenedAt)))
	}
	switch {
	case !in.FixedAt.IsZero():
		w.row("Time to recover", duration(in.FixedAt.Sub(in.OpenedAt)))
	case !in.Resolution.At.IsZero():
		w.row("Time to recover", duration(in.Resolution.At.Sub(in.OpenedAt))+" (to resolution; no verified fix recorded)")
	}
	w.sources(in)
}

// sources are the summary's rows on the commit, the run and the escalation.
func (w *reportWriter) sources(in Incident) {
	if in.SHA != "" {
		commit := shortSHA(in.SHA)
		if subject, _, _ := strings.Cut(in.CommitMessage, "\n"); subject != "" {
			commit += " " + mdText(subject)
		}
		if in.CommitAuthor != "" {
			commit += " (" + mdText(in.CommitAuthor) + ")"
		}
		w.row("Commit", commit)
	}
	if u, err := url.Parse(in.RunURL); err == nil && u.Scheme == "https" {
		w.row("Run", mdText(in.RunURL))
	}
	if in.RollbackSHA != "" {
		w.row("Rolled back to", shortSHA(in.RollbackSHA))
	}
	if in.Escalation.Row != "" {
		w.row("Escalation", mdText(in.Escalation.Row))
	}
	if in.Escalation.DataCorruption {
		w.row("Data corruption risk", fmt.Sprintf("declared by %s: %s", w.who(in.Escalation.DataCorruptionBy), mdText(in.Escalation.DataCorruptionReason)))
	}
}

// whatHappened says in a few sentences what failed and how it ended.
func (w *reportWriter) whatHappened(in Incident) {
	b := &w.b
	b.WriteString("\n## What happened\n\n")
	fmt.Fprintf(b, "%s", mdText(in.Title))
	if in.JobName != "" {
		fmt.Fprintf(b, ": job \"%s\"", mdText(in.JobName))
		if in.Step != "" {
			fmt.Fprintf(b, " failed at step \"%s\"", mdText(in.Step))
		}
	}
	b.WriteString(".")
	if in.Cause != CauseNone {
		fmt.Fprintf(b, " Likely cause: %s.", in.Cause)
	}
	switch {
	case in.Rollback == RollbackSucceeded:
		b.WriteString(" The pipeline's automatic rollback succeeded.")
	case in.Rollback == RollbackFailed && in.Scenario != RollbackFail:
		b.WriteString(" The pipeline's automatic rollback failed.")
	}
	if in.Resolution.Note != "" {
		fmt.Fprintf(b, "\n\nHow it was resolved: %s", mdText(in.Resolution.Note))
	}
}

// timeline lists the audit log's events that matter, then who did what.
func (w *reportWriter) timeline(entries []AuditEntry, p *EscalationPolicy) {
	w.b.WriteString("\n\n## Timeline (UTC)\n\n| time | event | by |\n|---|---|---|\n")
	actors := map[string][]string{}
	var order []string
	for _, a := range entries {
		what := timelineEvent(a, p)
		if what == "" {
			continue
		}
		fmt.Fprintf(&w.b, "| %s | %s | %s |\n", a.At.UTC().Format("15:04:05"), mdText(what), w.who(a.Actor))
		if a.Actor != "medic" && a.Actor != "" {
			if _, ok := actors[a.Actor]; !ok {
				order = append(order, a.Actor)
			}
			if d := deed(a); d != "" && !slices.Contains(actors[a.Actor], d) {
				actors[a.Actor] = append(actors[a.Actor], d)
			}
		}
	}
	if len(order) > 0 {
		w.b.WriteString("\n## Who did what\n\n")
		for _, id := range order {
			if len(actors[id]) == 0 {
				continue
			}
			fmt.Fprintf(&w.b, "- %s: %s\n", w.who(id), mdText(strings.Join(actors[id], "; ")))
		}
	}
}

// checklist is the post-incident checklist as it was ticked.
func (w *reportWriter) checklist(in Incident) {
	if len(in.Resolution.Checklist) == 0 {
		return
	}
	w.b.WriteString("\n## Post-incident checklist\n\n")
	for _, it := range in.Resolution.Checklist {
		mark := " "
		if it.Done {
			mark = "x"
		}
		done := ""
		if it.Done && it.By != "" {
			done = fmt.Sprintf(" (%s, %s)", w.who(it.By), reportTime(it.At))
		}
		fmt.Fprintf(&w.b, "- [%s] %s%s\n", mark, mdCell(it.Text), done)
	}
}

func firstAck(in Incident, entries []AuditEntry) time.Time {
	for _, a := range entries {
		if AuditAction(a.Action) == AuditIncidentAcknowledged {
			return a.At
		}
	}
	return in.AckAt
}

func reportTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// mdCell keeps text inside one Markdown table cell.
// mdText makes outside text (a commit subject, an author, a job name, a reason
// someone typed) inert in GitHub Markdown: no HTML (an HTML comment would hide the
// rest of the report), no emphasis, links, images or table cells of its own, no
// @-mention (a word joiner after @ keeps it from notifying anyone), one line.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range strings.Join(strings.Fields(s), " ") {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '@':
			b.WriteString("@\u2060")
		case '#':
			b.WriteString("#\u2060") // no #123 reference either
		case '\\', '`', '*', '_', '[', ']', '!', '|', '~':
			b.WriteRune('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", "\\|")
}

// IncidentList is what /incident list shows: open incidents and the recently resolved.
func (r *resolver) IncidentList(ctx context.Context) (open, recent []Incident, err error) {
	lister, ok := r.incidents.(IncidentLister)
	if !ok {
		return nil, nil, errors.New("incidents cannot be listed here")
	}
	all, err := lister.RecentIncidents(ctx, r.now().Add(-7*24*time.Hour), 50)
	if err != nil {
		return nil, nil, err
	}
	for _, in := range all {
		if in.Status == IncidentResolved {
			if in.MergedInto == "" {
				recent = append(recent, in)
			}
			continue
		}
		open = append(open, in)
	}
	return open, recent, nil
}

// IncidentLister lists incidents across environments.
type IncidentLister interface {
	// RecentIncidents lists incidents open now or opened since, most severe and newest first.
	RecentIncidents(ctx context.Context, since time.Time, limit int) ([]Incident, error)
}

// Incident returns one incident for /incident show.
func (r *resolver) Incident(ctx context.Context, id string) (Incident, error) {
	in, err := r.incidents.Incident(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Incident{}, &UserError{fmt.Sprintf("Incident %s is not on record. `/incident list` shows the open and recent ones.", id)}
	}
	in.EscalationLine = r.esc.EscalationLine(in)
	return in, err
}
