package runbookdoc

import (
	"fmt"
	"strings"

	"github.com/medic-ops/medic/recovery"
)

// escalation writes the escalation matrix and its levels (config: escalation).
func (g *gen) escalation() {
	p := g.esc
	g.p("## Escalation matrix")
	g.p("The first row matching an incident applies. If nobody acknowledges the alert within the row's response time, medic pages "+
		"the first step of its path, then the next step every %s (escalation.interval); the last step repeats. Acknowledging stops it.", dur(p.Interval))
	header(&g.b, "Row", "Matches", "Response time", "Escalation path")
	for _, r := range p.Matrix {
		row(&g.b, text(r.Name), matchText(r), r.ResponseText(), g.pathText(r))
	}
	g.b.WriteString("\n")
	g.p("### Levels")
	header(&g.b, "Level", "Title", "Slack members", "PagerDuty")
	for _, name := range sortedKeys(p.Levels) {
		l := p.Levels[name]
		row(&g.b, text(name), text(l.Title), list(l.Slack, "nobody"), yesNo(l.PagerDuty))
	}
	g.b.WriteString("\n")
	g.p("The Page on-call button and `/page` page %s (escalation.on_call); Page senior engineer pages %s (escalation.senior). "+
		"PagerDuty is paged only when PAGERDUTY_ROUTING_KEY is set.", g.levelText(p.OnCall), g.levelText(p.Senior))
}

// matchText says which incidents a matrix row covers.
func matchText(r recovery.MatrixRow) string {
	var conds []string
	if r.DataCorruption {
		conds = append(conds, "declared a data corruption risk")
	}
	if len(r.Envs) > 0 {
		conds = append(conds, "environment "+list(r.Envs, ""))
	}
	if len(r.Scenarios) > 0 {
		var ids []string
		for _, s := range r.Scenarios {
			ids = append(ids, string(s))
		}
		conds = append(conds, "scenario "+list(ids, ""))
	}
	if len(conds) == 0 {
		return "any incident"
	}
	return strings.Join(conds, "; ")
}

// pathText lists a row's steps, each naming its levels and their members.
func (g *gen) pathText(r recovery.MatrixRow) string {
	if r.BestEffort || len(r.Path) == 0 {
		return "nobody is paged"
	}
	var steps []string
	for i, step := range r.Path {
		var levels []string
		for _, name := range step {
			levels = append(levels, g.levelText(name))
		}
		steps = append(steps, fmt.Sprintf("%d. %s", i+1, strings.Join(levels, " + ")))
	}
	return strings.Join(steps, "; ")
}

// levelText is a level's title and members.
func (g *gen) levelText(name string) string {
	l, ok := g.esc.Levels[name]
	if !ok {
		return text(name) + " (not a level)"
	}
	return text(l.Title) + " (" + list(l.Slack, "nobody") + ")"
}

// checklist writes the post-incident checklist medic posts on /incident resolve.
func (g *gen) checklist() {
	items := g.cfg.Incidents.Checklist
	source := "incidents.checklist"
	if len(items) == 0 {
		items, source = recovery.DefaultChecklist(), "the runbook's, incidents.checklist is not set"
	}
	g.p("## Post-incident checklist")
	g.p("Posted in the alert's thread as checkboxes when the incident is resolved (`/incident resolve` or Resolve); %s.", source)
	for _, it := range items {
		g.b.WriteString("- [ ] " + text(it) + "\n")
	}
	g.b.WriteString("\n")
}

// drills says where the scenarios can be practised (config: slack.drill_channel).
func (g *gen) drills() {
	g.p("## Drills")
	if ch := g.cfg.Slack.DrillChannel; ch != "" {
		g.p("Practise with `/drill <scenario>` (`/drill list`, `/drill stop <id>`) in channel %s.", text(ch))
		return
	}
	g.p("Drills are off: set `slack.drill_channel` to a channel ID to practise the scenarios with `/drill`.")
}
