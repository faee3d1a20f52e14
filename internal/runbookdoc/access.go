package runbookdoc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/medic-ops/medic/recovery"
)

// environments writes each environment's policy and roles (config: environments,
// access.roles, access.self_service).
func (g *gen) environments() {
	g.p("## Environments and who may act")
	g.p("Watched workflows (pipeline.workflows): %s. A role includes the ones before it: "+
		"approvers may also request, admins may do both (access.roles; \"*\" holds in every environment). "+
		"A request waits %s for approval (access.request_ttl).",
		list(sortedKeys(g.pipeline.Workflows), "none"), dur(g.cfg.Access.RequestTTL))
	header(&g.b, "Environment", "Severity", "Protected", "Destructive actions", "Alert channel", "Responders", "Approvers", "Admins", "Self-service")
	for _, e := range g.envs {
		m := g.membersOf(e.Name)
		row(&g.b, text(e.Name), e.Severity.String(), yesNo(e.Protected), allowed(e.AllowDestructive),
			orDash(text(e.AlertChannel)), list(m.Responders, "nobody"), list(m.Approvers, "nobody"), list(m.Admins, "nobody"),
			list(actionStrings(g.policy.SelfService[e.Name]), "none"))
	}
	g.b.WriteString("\n")
	g.p("The approval rule (recovery/access.go): a recovery job needs a second person's approval — an approver who is not the requester — " +
		"in a protected environment, in one rated HIGH or above, on a HIGH or CRITICAL incident, for a destructive or restricted action, " +
		"and for any action not listed as self-service for the environment. Self-service actions run on the responder's click once their preview is ready.")
}

// membersOf lists who holds each role in env: the "*" roles and env's own, each role
// holding the ones after it (an admin approves, an approver requests).
func (g *gen) membersOf(env string) recovery.RoleMembers {
	var m recovery.RoleMembers
	for _, key := range []string{recovery.AllEnvironments, env} {
		r := g.roles[key]
		m.Admins = appendNew(m.Admins, r.Admins...)
		m.Approvers = appendNew(m.Approvers, r.Approvers...)
		m.Responders = appendNew(m.Responders, r.Responders...)
	}
	m.Approvers = appendNew(m.Approvers, m.Admins...)
	m.Responders = appendNew(m.Responders, m.Approvers...)
	return m
}

func appendNew(list []string, ids ...string) []string {
	for _, id := range ids {
		if !slices.Contains(list, id) {
			list = append(list, id)
		}
	}
	return list
}

func actionStrings(ids []recovery.ActionID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// orDash is s, or a dash for nothing.
func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func allowed(b bool) string {
	if b {
		return "allowed"
	}
	return "refused"
}

// access writes, per button and environment, who may request it and who must approve
// it (recovery/requests.go: admitRequest, mayDecide; recovery/access.go: NeedsApproval).
func (g *gen) access(s recovery.Scenario) {
	envs := g.scenarioEnvs(s)
	if len(envs) == 0 {
		return
	}
	g.b.WriteString("**Who may press them:**\n\n")
	header(&g.b, "Button", "Environment", "Who may request", "Who must approve")
	for _, id := range s.Actions {
		a, _ := recovery.ActionByID(id)
		for _, e := range envs {
			req, appr := g.accessCells(s, a, actionDocs[id], e)
			row(&g.b, text(a.Label), text(e.Name), req, appr)
		}
	}
	g.b.WriteString("\n")
}

// accessCells says who may request a in env and who must approve it.
func (g *gen) accessCells(s recovery.Scenario, a recovery.Action, d actionDoc, env recovery.Environment) (request, approve string) {
	m := g.membersOf(env.Name)
	responders := "responders: " + list(m.Responders, "nobody")
	switch a.Kind {
	case recovery.ReadOnly:
		if d.responder {
			return responders, "none"
		}
		return "anyone in the channel (no role is checked)", "none"
	case recovery.Paging:
		if a.Restricted {
			return responders + "; asks a reason", "none: pages at once"
		}
		return responders, "none: pages at once"
	}
	if d.destructive && (!env.AllowDestructive || env.Protected) {
		return fmt.Sprintf("nobody: refused in %s (environments.%s.allow_destructive is off)", text(env.Name), text(env.Name)), "–"
	}
	var asks []string
	if a.Restricted {
		asks = append(asks, "asks a reason")
	}
	if d.nuclear {
		asks = append(asks, "the environment's name typed")
	}
	if len(asks) > 0 {
		responders += "; " + strings.Join(asks, " and ")
	}
	sev := recovery.SeverityOf(s.ID, env)
	if !g.policy.NeedsApproval(a.ID, env, sev) {
		return responders, "none: self-service (access.self_service." + text(env.Name) + ")"
	}
	return responders, "a second person, never the requester: approvers " + list(m.Approvers, "nobody") + " (" + approvalWhy(a, env, sev) + ")"
}

// approvalWhy names the first reason NeedsApproval gives for a second person.
func approvalWhy(a recovery.Action, env recovery.Environment, sev recovery.Severity) string {
	switch {
	case env.Protected:
		return "protected environment"
	case env.Severity >= recovery.SeverityHigh:
		return "environment rated " + env.Severity.String()
	case sev >= recovery.SeverityHigh:
		return sev.String() + " incident"
	case a.Restricted:
		return "restricted action"
	}
	return "not self-service in " + text(env.Name)
}
