package handlers

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
)

// incidentIDRE is what an incident ID looks like (INC- and eight Crockford base32
// characters; a drill's start with DRILL-); anything else typed is refused before it
// reaches the store.
var incidentIDRE = regexp.MustCompile(`^(DRILL-)?INC-[0-9A-Z]{8}$`)

func (r *Router) pageCommand(ctx context.Context, log *zap.Logger, cmd slack.SlashCommand, reply func(string)) {
	args := strings.Fields(cmd.Text)
	if len(args) != 1 {
		reply(fmt.Sprintf("Usage: `/page <env|incident>`: pages the on-call engineer for the incident, or for the environment's most severe open incident. Environments: %s.", strings.Join(r.envs, ", ")))
		return
	}
	target := args[0]
	var msg string
	var err error
	switch id := strings.ToUpper(target); {
	case incidentIDRE.MatchString(id):
		msg, err = r.svc.Paging.PageIncident(ctx, id, recovery.ActPageOnCall, cmd.UserID, "")
	case slices.Contains(r.envs, strings.ToLower(target)):
		msg, err = r.svc.Paging.PageEnv(ctx, strings.ToLower(target), cmd.UserID)
	default:
		reply(fmt.Sprintf("`%s` is neither an incident ID (INC-…) nor an environment (%s).", sanitize(target), strings.Join(r.envs, ", ")))
		return
	}
	r.answer(log, reply, msg, err)
}

func (r *Router) incidentCommand(ctx context.Context, log *zap.Logger, cmd slack.SlashCommand, reply func(string)) {
	args := strings.Fields(cmd.Text)
	usage := "Usage: `/incident list`, `/incident show <id>`, `/incident resolve <id> [note]`."
	if len(args) == 0 {
		reply(usage)
		return
	}
	sub := strings.ToLower(args[0])
	if sub == "list" {
		open, recent, err := r.svc.Incidents.IncidentList(ctx)
		if err != nil {
			r.internalError(log, err, reply)
			return
		}
		reply(incidentListText(open, recent))
		return
	}
	if (sub != "show" && sub != "resolve") || len(args) < 2 || (sub == "show" && len(args) != 2) {
		reply(usage)
		return
	}
	id := strings.ToUpper(args[1])
	if !incidentIDRE.MatchString(id) {
		reply(fmt.Sprintf("`%s` is not an incident ID (INC- and 8 characters). `/incident list` shows them.", sanitize(args[1])))
		return
	}
	if sub == "show" {
		in, err := r.svc.Incidents.Incident(ctx, id)
		if err != nil {
			r.answer(log, reply, "", err)
			return
		}
		reply(incidentText(in))
		return
	}
	note := ""
	if len(args) > 2 {
		// The note is free text kept in the audit log and the report, never a command.
		_, rest, _ := strings.Cut(strings.TrimSpace(cmd.Text), " ")
		_, note, _ = strings.Cut(strings.TrimSpace(rest), " ")
		note = sanitize(strings.TrimSpace(note))
	}
	msg, err := r.svc.Resolution.Resolve(ctx, id, cmd.UserID, note)
	r.answer(log.With(zap.String("incident", id)), reply, msg, err)
}

// incidentLine is one incident in a list.
func incidentLine(in recovery.Incident) string {
	sc, _ := recovery.ScenarioByID(in.Scenario)
	line := fmt.Sprintf("• `%s` %s %s · %s · %s · opened %s", in.ID, in.Severity, in.Env, sc.Title, in.Status, in.OpenedAt.UTC().Format("01-02 15:04 UTC"))
	if in.Channel != "" && in.MessageTS != "" {
		line += fmt.Sprintf(" · in <#%s>", in.Channel)
	}
	return line
}

func incidentListText(open, recent []recovery.Incident) string {
	var b strings.Builder
	if len(open) == 0 {
		b.WriteString("*No open incident.*\n")
	} else {
		fmt.Fprintf(&b, "*Open incidents (%d)*\n", len(open))
		for _, in := range open {
			b.WriteString(incidentLine(in) + "\n")
		}
	}
	if len(recent) > 0 {
		fmt.Fprintf(&b, "*Resolved in the last 7 days (%d)*\n", len(recent))
		for _, in := range recent[:min(len(recent), 20)] {
			b.WriteString(incidentLine(in) + "\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func incidentText(in recovery.Incident) string {
	lines := []string{incidentLine(in), "*" + recovery.Literal(in.Title) + "*"}
	if in.AckBy != "" {
		lines = append(lines, fmt.Sprintf("Acknowledged by <@%s> at %s", in.AckBy, in.AckAt.UTC().Format("15:04 UTC")))
	}
	if in.EscalationLine != "" {
		lines = append(lines, in.EscalationLine)
	}
	if in.RecoveryJob != "" {
		lines = append(lines, fmt.Sprintf("Recovery job `%s`: %s", in.RecoveryJob, in.RecoveryState))
	}
	if in.Resolution.By != "" {
		lines = append(lines, fmt.Sprintf("Resolved by <@%s> at %s", in.Resolution.By, in.Resolution.At.UTC().Format("2006-01-02 15:04 UTC")))
		done := 0
		for _, it := range in.Resolution.Checklist {
			if it.Done {
				done++
			}
		}
		lines = append(lines, fmt.Sprintf("Checklist: %d/%d done", done, len(in.Resolution.Checklist)))
	}
	if in.Resolution.IssueURL != "" {
		lines = append(lines, fmt.Sprintf("Follow-up issue: <%s|#%d>", in.Resolution.IssueURL, in.Resolution.IssueNumber))
	}
	return strings.Join(lines, "\n")
}
