package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/store"
)

// A report's bounds: what people did and what failed are listed up to these many
// lines, at most reportNames people are named (users.info), and the whole is cut at
// reportMax bytes (it goes to Slack and into the audit log).
const (
	reportActions = 100
	reportFailed  = 50
	reportNames   = 20
	reportMax     = 32 << 10
)

// drillRecoverTarget is the runbook's target for recovering: its automatic rollback
// takes 5 to 10 minutes.
const drillRecoverTarget = 10 * time.Minute

// drillOutcome is how a drill went: the times people took against the runbook's
// targets, who did what, and which steps failed, from the drill's own store.
type drillOutcome struct {
	dr    *drill
	why   string
	ended time.Time
	// incident is the drill's first incident (merged ones left out); nil when the
	// drill ended before its alert.
	incident *recovery.Incident
	row      recovery.MatrixRow
	hasRow   bool
	interval time.Duration
	entries  []recovery.AuditEntry
	names    map[string]string
}

// report reads dr's store for its report.
func (d *drills) report(ctx context.Context, dr *drill, why string) drillOutcome {
	r := drillOutcome{dr: dr, why: why, ended: d.ext.now(), names: map[string]string{}}
	if dr.app == nil {
		return r
	}
	ins, err := dr.app.store.RecentIncidents(ctx, time.Time{}, 50)
	if err != nil {
		d.log.Warn("reading the drill's incidents for its report", zap.String("drill", dr.id), zap.Error(err))
	}
	for i := range ins {
		if ins[i].MergedInto == "" && (r.incident == nil || ins[i].OpenedAt.Before(r.incident.OpenedAt)) {
			r.incident = &ins[i]
		}
	}
	policy := dr.app.escalationPolicy()
	r.interval = policy.Interval
	if r.incident != nil {
		r.row, r.hasRow = policy.Row(*r.incident)
	}
	if r.entries, err = dr.app.store.Audit(ctx, store.AuditFilter{Limit: 5000}); err != nil {
		d.log.Warn("reading the drill's audit log for its report", zap.String("drill", dr.id), zap.Error(err))
	}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, e := range r.entries {
		if _, ok := r.names[e.Actor]; ok || !isPerson(e.Actor) || len(r.names) >= reportNames {
			continue
		}
		name, err := d.poster.UserName(nctx, e.Actor)
		if err != nil || name == "" {
			name = e.Actor
		}
		r.names[e.Actor] = name
	}
	return r
}

// isPerson tells a Slack user ID from medic and the pipeline.
func isPerson(actor string) bool {
	return len(actor) > 1 && (actor[0] == 'U' || actor[0] == 'W') && strings.ToUpper(actor) == actor
}

// name is how the report names a person.
func (r drillOutcome) name(id string) string {
	if n, ok := r.names[id]; ok && n != id {
		return n + " (" + id + ")"
	}
	return id
}

// text is the report as the thread shows it (preformatted).
func (r drillOutcome) text() string {
	var b strings.Builder
	dr := r.dr
	about := dr.scenario
	if c, ok := sandbox.CaseByName(dr.scenario); ok {
		about = c.About
	}
	fmt.Fprintf(&b, "Drill %s: %s\n", dr.id, about)
	var people []string
	for _, p := range dr.participants {
		people = append(people, r.name(p))
	}
	speed := "as configured"
	if dr.speed > 1 {
		speed = fmt.Sprintf("%d times faster than configured", dr.speed)
	}
	fmt.Fprintf(&b, "Started by %s; paged: %s only; escalation %s.\n", r.name(dr.starter), strings.Join(people, ", "), speed)
	fmt.Fprintf(&b, "Ran %s, from %s to %s; ended because %s.\n\n", r.ended.Sub(dr.started).Round(time.Second),
		dr.started.UTC().Format("15:04:05 MST"), r.ended.UTC().Format("15:04:05 MST"), r.why)
	r.times(&b)
	r.who(&b)
	r.failed(&b)
	if b.Len() > reportMax {
		return strings.ToValidUTF8(b.String()[:reportMax], "") + "\n… (cut)\n"
	}
	return b.String()
}

// times writes how long each stage took from the alert, against the runbook's
// targets.
func (r drillOutcome) times(b *strings.Builder) {
	in := r.incident
	if in == nil {
		b.WriteString("No alert was raised: nothing to time.\n\n")
		return
	}
	fmt.Fprintf(b, "Times from the alert (%s, %s %s, opened %s):\n", in.ID, in.Severity, in.Env, in.OpenedAt.UTC().Format("15:04:05"))
	requested, approved := r.first(recovery.AuditRequestCreated), r.first(recovery.AuditRequestApproved)
	rows := []struct {
		what   string
		at     time.Time
		target string
	}{
		{"acknowledged", in.AckAt, r.ackTarget(in.AckAt)},
		{"first request", requested, "-"},
		{"first approval", approved, approvalNote(requested, approved)},
		{"recovered", in.FixedAt, verdict(in.OpenedAt, in.FixedAt, drillRecoverTarget, "runbook: the automatic rollback takes 5-10 minutes")},
		{"resolved", in.Resolution.At, "-"},
	}
	for _, row := range rows {
		took := "not reached"
		if !row.at.IsZero() {
			took = row.at.Sub(in.OpenedAt).Round(time.Second).String()
		}
		fmt.Fprintf(b, "  %-15s %-12s %s\n", row.what, took, row.target)
	}
	b.WriteString("\n")
}

// ackTarget is the matrix's response time for the incident's row, and whether the
// acknowledgement at met it.
func (r drillOutcome) ackTarget(at time.Time) string {
	switch {
	case !r.hasRow:
		return "no row of the escalation matrix covers it"
	case r.row.BestEffort:
		return fmt.Sprintf("best effort (matrix row %s)", r.row.Name)
	case r.row.Response == 0:
		return verdict(r.incident.OpenedAt, at, r.interval, fmt.Sprintf("matrix row %s: IMMEDIATE, before the first escalation", r.row.Name))
	}
	return verdict(r.incident.OpenedAt, at, r.row.Response, "matrix row "+r.row.Name)
}

// verdict says whether from..at stayed within target.
func verdict(from, at time.Time, target time.Duration, why string) string {
	t := fmt.Sprintf("target %s (%s)", target, why)
	switch {
	case at.IsZero():
		return t + ": missed"
	case at.Sub(from) <= target:
		return t + ": met"
	}
	return t + ": missed"
}

// approvalNote says how long the first request waited for its approval.
func approvalNote(requested, approved time.Time) string {
	if requested.IsZero() || approved.IsZero() || approved.Before(requested) {
		return "-"
	}
	return fmt.Sprintf("%s after the request", approved.Sub(requested).Round(time.Second))
}

// first is when action was first recorded, zero when never.
func (r drillOutcome) first(action recovery.AuditAction) time.Time {
	for _, e := range r.entries {
		if e.Action == string(action) {
			return e.At
		}
	}
	return time.Time{}
}

// who writes what the people did, in order.
func (r drillOutcome) who(b *strings.Builder) {
	b.WriteString("Who did what:\n")
	n := 0
	for _, e := range r.entries {
		if !isPerson(e.Actor) {
			continue
		}
		if n++; n <= reportActions {
			fmt.Fprintf(b, "  +%-8s %s: %s%s\n", e.At.Sub(r.dr.started).Round(time.Second), r.name(e.Actor), e.Action, details(e))
		}
	}
	if n == 0 {
		b.WriteString("  nobody acted\n")
	}
	if n > reportActions {
		fmt.Fprintf(b, "  … and %d more\n", n-reportActions)
	}
	b.WriteString("\n")
}

// drillFailures are the audit actions a report lists as failed steps.
var drillFailures = []recovery.AuditAction{recovery.AuditJobFailed, recovery.AuditJobInterrupted, recovery.AuditRequestPreviewFailed,
	recovery.AuditPageFailed, recovery.AuditRequestExpired, recovery.AuditFollowFailed, recovery.AuditActionRefused,
	recovery.AuditRequestRefused, recovery.AuditRequestApproveRefused}

// failed writes the steps that failed or were refused.
func (r drillOutcome) failed(b *strings.Builder) {
	b.WriteString("Steps that failed or were refused:\n")
	n := 0
	for _, e := range r.entries {
		if !slices.Contains(drillFailures, recovery.AuditAction(e.Action)) {
			continue
		}
		if n++; n > reportFailed {
			continue
		}
		who := e.Actor
		if isPerson(who) {
			who = r.name(who)
		}
		fmt.Fprintf(b, "  +%-8s %s (%s)%s\n", e.At.Sub(r.dr.started).Round(time.Second), e.Action, who, details(e))
	}
	if n == 0 {
		b.WriteString("  none\n")
	}
	if n > reportFailed {
		fmt.Fprintf(b, "  … and %d more\n", n-reportFailed)
	}
}

// details is an entry's job or request and detail, short.
func details(e recovery.AuditEntry) string {
	var parts []string
	if e.JobID != "" {
		parts = append(parts, e.JobID)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
		parts = append(parts, k+"="+cut(strings.Join(strings.Fields(e.Detail[k]), " "), 100))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + cut(strings.Join(parts, " "), 300)
}
