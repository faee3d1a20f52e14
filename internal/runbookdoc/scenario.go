package runbookdoc

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// scenario writes one scenario's section under heading.
func (g *gen) scenario(s recovery.Scenario, heading string) {
	g.p("%s", heading)
	g.p("Runbook section: %s. medic's ID: `%s`.", text(s.Runbook), s.ID)
	g.p("**Severity:** %s", g.severityText(s))
	g.b.WriteString("**Detected when:**\n\n")
	for _, line := range g.detection(s) {
		g.b.WriteString("- " + line + "\n")
	}
	g.b.WriteString("\n**Diagnostics gathered on the alert:**\n\n")
	for i, d := range s.Diagnostics {
		fmt.Fprintf(&g.b, "%d. %s (`%s`)\n", i+1, diagnosticTitles[d], d)
	}
	g.b.WriteString("\n**Buttons:**\n\n")
	header(&g.b, "Button", "Kind", "What it runs", "Runbook command")
	for _, id := range s.Actions {
		a, _ := recovery.ActionByID(id)
		row(&g.b, text(a.Label)+" (`"+string(id)+"`)", kindText(a, actionDocs[id]), actionDocs[id].runs, code(a.Runbook))
	}
	g.b.WriteString("\n")
	g.p("Every alert also offers Refresh diagnostics; once the environment is verified fixed, Resolve.")
	g.access(s)
}

func kindText(a recovery.Action, d actionDoc) string {
	switch a.Kind {
	case recovery.Mutating:
		if d.destructive {
			return "recovery job, destructive"
		}
		return "recovery job"
	case recovery.Paging:
		return "page"
	}
	return "read-only"
}

// code is s as a code span inside a table cell; "" is a dash.
func code(s string) string {
	if s == "" {
		return "–"
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	s = strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", `\|`)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// scenarioEnvs are the environments an incident of s can be filed under: those its
// rules name, every environment for a rule that leaves it to the job, and every one
// for the cases medic's pollers detect.
func (g *gen) scenarioEnvs(s recovery.Scenario) []recovery.Environment {
	names := map[string]bool{}
	all := pollerDetected(s.ID)
	if s.ID == recovery.UntrustedRunFailed && g.pipeline.UntrustedEnv != "" {
		names[g.pipeline.UntrustedEnv] = true
	}
	for _, r := range g.pipeline.Rules {
		if r.Scenario == s.ID {
			all = all || r.Env == ""
			names[r.Env] = true
		}
	}
	if s.ID == recovery.OtherJobFailed {
		all = true // what no rule matches
	}
	var out []recovery.Environment
	for _, e := range g.envs {
		if all || names[e.Name] {
			out = append(out, e)
		}
	}
	return out
}

// pollerDetected says whether medic's pollers, rather than the rules, open s.
func pollerDetected(id recovery.ScenarioID) bool {
	return id == recovery.WorkflowStuck || id == recovery.AlarmWontClear || id == recovery.AlarmFiring
}

func (g *gen) envsText(s recovery.Scenario) string {
	var names []string
	for _, e := range g.scenarioEnvs(s) {
		names = append(names, e.Name)
	}
	return list(names, "none in this configuration")
}

// severityText is the scenario's severity, or per environment for the cases the
// runbook rates by environment (recovery.SeverityOf).
func (g *gen) severityText(s recovery.Scenario) string {
	if s.Severity != 0 {
		return s.Severity.String()
	}
	var parts []string
	for _, e := range g.scenarioEnvs(s) {
		parts = append(parts, text(e.Name)+" "+recovery.SeverityOf(s.ID, e).String())
	}
	if len(parts) == 0 {
		return "by environment (none in this configuration)"
	}
	return "by environment: " + strings.Join(parts, ", ")
}

// detection lists how s is detected: the classification rules into it, in the order
// they are tried, and the pollers' signals.
func (g *gen) detection(s recovery.Scenario) []string {
	var out []string
	for i, r := range g.pipeline.Rules {
		if r.Scenario == s.ID {
			out = append(out, fmt.Sprintf("rule %d of %d (pipeline.rules, first match wins): %s", i+1, len(g.pipeline.Rules), ruleText(r)))
		}
	}
	out = append(out, g.signalDetection(s.ID)...)
	if len(out) == 0 {
		out = append(out, "never in this configuration: no rule of pipeline.rules classifies a failure into it")
	}
	return out
}

// ruleText says what a failed job must be for r to match, and where it is filed.
func ruleText(r recovery.Rule) string {
	var conds []string
	if r.Workflow != "" {
		conds = append(conds, "in workflow "+text(r.Workflow))
	}
	if r.Job != "" {
		conds = append(conds, "named “"+text(r.Job)+"”")
	}
	if r.Log != nil {
		conds = append(conds, "whose log matches the regular expression "+text(r.Log.String()))
	}
	what := "any failed job of a watched workflow"
	if len(conds) > 0 {
		what = "a failed job " + strings.Join(conds, ", ")
	}
	where := "filed under the job's environment (its stage in pipeline.jobs, else an environment its name or log names, else its workflow's)"
	if r.Env != "" {
		where = "filed under " + text(r.Env)
	}
	return what + "; " + where
}

// signalDetection is how the pollers and trust rules open s (recovery/poll.go, recovery/trust.go).
func (g *gen) signalDetection(id recovery.ScenarioID) []string {
	pl := g.cfg.Pipeline
	switch id {
	case recovery.WorkflowStuck:
		if every(pl.PollInterval) == 0 {
			return []string{"never: the runs poller is off (pipeline.poll_interval is 0)"}
		}
		return []string{fmt.Sprintf("the runs poller (every %s, pipeline.poll_interval) finds a run of a watched workflow (%s) in progress for longer than %s (pipeline.stuck_after)",
			dur(every(pl.PollInterval)), list(sortedKeys(g.pipeline.Workflows), "none"), dur(pl.StuckAfter))}
	case recovery.AlarmWontClear:
		if every(pl.AlarmPollInterval) == 0 {
			return []string{"never: the alarm poller is off (pipeline.alarm_poll_interval is 0)"}
		}
		return []string{fmt.Sprintf("the alarm poller (every %s, pipeline.alarm_poll_interval) finds an alarm under the environment's alarm_prefix in ALARM since before the last successful deploy and still in ALARM %s after it (pipeline.alarm_clear_grace)",
			dur(every(pl.AlarmPollInterval)), dur(pl.AlarmClearGrace))}
	case recovery.AlarmFiring:
		if every(pl.AlarmPollInterval) == 0 {
			return []string{"never: the alarm poller is off (pipeline.alarm_poll_interval is 0)"}
		}
		return []string{fmt.Sprintf("the alarm poller (every %s) finds an alarm under the environment's alarm_prefix in ALARM with no pipeline failure behind it", dur(every(pl.AlarmPollInterval)))}
	case recovery.OtherJobFailed:
		return []string{"any failed job of a watched workflow that no rule matches"}
	case recovery.UntrustedRunFailed:
		if g.pipeline.UntrustedEnv == "" {
			return []string{"never: untrusted runs are ignored (pipeline.untrusted_env: none)"}
		}
		return []string{fmt.Sprintf("any failure of a run medic does not trust: a fork's, or not on pipeline.trusted_branches (%s), or not started by pipeline.trusted_events (%s); filed under %s, never paged",
			list(pl.TrustedBranches, "none"), list(pl.TrustedEvents, "none"), text(g.pipeline.UntrustedEnv))}
	}
	return nil
}

func every(d *time.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return *d
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
