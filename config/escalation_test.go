package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic"
	"github.com/medic-ops/medic/recovery"
)

// runbookEnvs is minimal with the runbook's three environments.
var runbookEnvs = minimal + `
  preprod:
    aws: {region: us-east-1}
    lambda: {functions: [preprod-a], version: {tag: v}}
    alarm_prefix: preprod-
    health: {url: "https://preprod.example.com/health"}
    deploy: {workflow: build-and-promote.yml}
  dev:
    aws: {region: us-east-1}
    lambda: {functions: [dev-a], version: {tag: v}}
    alarm_prefix: dev-
    health: {url: "https://dev.example.com/health"}
    deploy: {workflow: build-and-promote.yml}
`

// runbookChecklist is the runbook's post-incident checklist, as medic words it.
var runbookChecklist = []string{
	"Write incident report (what, when, why, how resolved)",
	"Root cause analysis (5 whys)",
	"Update the runbook with the new failure mode",
	"Create GitHub issue to prevent recurrence",
	"Test recovery procedure works",
	"Update monitoring/alerting if gaps found",
	"Share lessons learned with team",
}

// routed is where an incident lands in an escalation policy, as people read it: the
// row, its response time and the titles of each step of its path.
type routed struct {
	row, response string
	path          []string
}

func route(tb testing.TB, p *recovery.EscalationPolicy, in recovery.Incident) routed {
	tb.Helper()
	r, ok := p.Row(in)
	if !ok {
		return routed{}
	}
	got := routed{row: r.Name, response: r.ResponseText()}
	for _, step := range r.Path {
		var titles []string
		for _, l := range step {
			lv, ok := p.Levels[l]
			if !ok {
				tb.Fatalf("row %q pages undefined level %q", r.Name, l)
			}
			titles = append(titles, lv.Title)
		}
		got.path = append(got.path, strings.Join(titles, " + "))
	}
	return got
}

func incident(env string, s recovery.ScenarioID, dataCorruption bool) recovery.Incident {
	in := recovery.Incident{ID: "INC-1", Env: env, Scenario: s}
	in.Escalation.DataCorruption = dataCorruption
	return in
}

// runbookRoutes are the runbook's escalation matrix, row by row.
var runbookRoutes = []struct {
	name string
	in   recovery.Incident
	want routed
}{
	{"dev tests fail: best effort, nobody paged", incident("dev", recovery.DevTestsFail, false),
		routed{row: "Dev tests fail", response: "best effort"}},
	{"preprod failure: DevOps within 1h", incident("preprod", recovery.PreprodDeployFail, false),
		routed{row: "Preprod fail", response: "1h00m", path: []string{"DevOps team", "on-call engineer"}}},
	{"prod failure, auto-rollback worked: on-call within 15m", incident("prod", recovery.CanaryFail, false),
		routed{row: "Prod fail (auto-rollback works)", response: "15m", path: []string{"on-call engineer", "senior engineer"}}},
	{"prod failure, auto-rollback failed: senior at once", incident("prod", recovery.RollbackFail, false),
		routed{row: "Prod fail (auto-rollback fails)", response: "IMMEDIATE", path: []string{"senior engineer", "CTO + senior engineer"}}},
	{"data corruption: CTO and senior at once", incident("prod", recovery.CanaryFail, true),
		routed{row: "Data corruption", response: "IMMEDIATE", path: []string{"CTO + senior engineer"}}},
	{"data corruption outranks a failed rollback", incident("prod", recovery.RollbackFail, true),
		routed{row: "Data corruption", response: "IMMEDIATE", path: []string{"CTO + senior engineer"}}},
}

func TestEscalationDefaultsAreTheRunbooks(t *testing.T) {
	c := mustParse(t, runbookEnvs)
	p := c.DomainEscalation()
	if err := p.Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	for _, tt := range runbookRoutes {
		t.Run(tt.name, func(t *testing.T) {
			if got := route(t, p, tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if p.Interval != 15*time.Minute || p.OnCall != "oncall" || p.Senior != "senior" {
		t.Errorf("interval/on_call/senior: got %s/%q/%q, want 15m/oncall/senior", p.Interval, p.OnCall, p.Senior)
	}
	if p.Levels["developers"].PagerDuty || !p.Levels["oncall"].PagerDuty || !p.Levels["cto"].PagerDuty {
		t.Errorf("PagerDuty by level: got %+v, want every level but developers", p.Levels)
	}
	if got := c.Incidents.IssueLabels; !slices.Equal(got, []string{"incident", "medic"}) {
		t.Errorf("issue labels: got %v, want [incident medic]", got)
	}
	// No checklist in the config: Resolve uses the runbook's.
	if c.Incidents.Checklist != nil {
		t.Errorf("checklist: got %q, want none (the runbook's)", c.Incidents.Checklist)
	}
	if got := recovery.DefaultChecklist(); !slices.Equal(got, runbookChecklist) {
		t.Errorf("default checklist: got %d items %q, want the runbook's 7 %q", len(got), got, runbookChecklist)
	}
}

func TestDefaultMatrixSkipsMissingEnvironments(t *testing.T) {
	p := mustParse(t, minimal).DomainEscalation() // prod only
	var rows []string
	for _, r := range p.Matrix {
		rows = append(rows, r.Name)
	}
	want := []string{"Data corruption", "Prod fail (auto-rollback fails)", "Prod fail (auto-rollback works)"}
	if !slices.Equal(rows, want) {
		t.Errorf("rows: got %q, want %q", rows, want)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("policy: %v", err)
	}
}

func TestExampleConfigSpellsOutTheRunbooksEscalation(t *testing.T) {
	c, err := Parse(bytes.NewReader(medic.ExampleConfig))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	p := c.DomainEscalation()
	if err := p.Validate(); err != nil {
		t.Fatalf("example policy: %v", err)
	}
	for _, tt := range runbookRoutes {
		if got := route(t, p, tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
	// The example's matrix is the default one written out.
	if def := mustParse(t, runbookEnvs).DomainEscalation(); !reflect.DeepEqual(p.Matrix, def.Matrix) || p.Interval != def.Interval {
		t.Errorf("example matrix:\n got %+v\nwant %+v", p.Matrix, def.Matrix)
	}
	for _, name := range []string{"developers", "devops", "oncall", "senior", "cto"} {
		if len(p.Levels[name].Slack) == 0 {
			t.Errorf("level %s: no Slack members in the example", name)
		}
	}
	if !slices.Equal(c.Incidents.Checklist, runbookChecklist) {
		t.Errorf("example checklist: got %q, want %q", c.Incidents.Checklist, runbookChecklist)
	}
	if !slices.Equal(c.Incidents.IssueLabels, []string{"incident", "medic"}) {
		t.Errorf("example labels: got %v", c.Incidents.IssueLabels)
	}
	if c.PagerDuty.EventsURL != "https://events.pagerduty.com" {
		t.Errorf("example events_url: got %q, want PagerDuty's default", c.PagerDuty.EventsURL)
	}
}

const customEscalation = `
escalation:
  interval: 10m
  on_call: sre
  senior: senior
  levels:
    sre: {title: SRE on call, slack: [S0SRE, W0ENTERPRISE]}
    senior: {title: staff engineer, slack: [U0DAVE], pagerduty: false}
    cto: {slack: [U0ERIN]}
  matrix:
    - {name: Corruption, data_corruption: true, response: immediate, path: [[cto, senior]]}
    - name: Canary
      envs: [prod]
      scenarios: [canary-fail, prod-deploy-fail]
      response: 30m
      path: [sre, senior, [cto, senior]]
    - {name: Preprod, envs: [preprod], response: 2h, path: [devops]}
    - {name: Rest, response: best effort}
pagerduty:
  events_url: https://events.eu.pagerduty.com
incidents:
  issue_labels: [postmortem]
  checklist: ["Write the report", "Tell the customers"]
`

func TestCustomEscalation(t *testing.T) {
	c := mustParse(t, runbookEnvs+customEscalation)
	p := c.DomainEscalation()
	if err := p.Validate(); err != nil {
		t.Fatalf("custom policy: %v", err)
	}
	want := []recovery.MatrixRow{
		{Name: "Corruption", DataCorruption: true, Path: [][]string{{"cto", "senior"}}},
		{Name: "Canary", Envs: []string{"prod"}, Scenarios: []recovery.ScenarioID{recovery.CanaryFail, recovery.ProdDeployFail},
			Response: 30 * time.Minute, Path: [][]string{{"sre"}, {"senior"}, {"cto", "senior"}}},
		{Name: "Preprod", Envs: []string{"preprod"}, Response: 2 * time.Hour, Path: [][]string{{"devops"}}},
		{Name: "Rest", BestEffort: true},
	}
	if !reflect.DeepEqual(p.Matrix, want) {
		t.Errorf("matrix:\n got %+v\nwant %+v", p.Matrix, want)
	}
	levels := []struct {
		name string
		want recovery.Level
	}{
		{"sre", recovery.Level{Name: "sre", Title: "SRE on call", Slack: []string{"S0SRE", "W0ENTERPRISE"}, PagerDuty: true}},
		{"senior", recovery.Level{Name: "senior", Title: "staff engineer", Slack: []string{"U0DAVE"}}},
		{"cto", recovery.Level{Name: "cto", Title: "CTO", Slack: []string{"U0ERIN"}, PagerDuty: true}},
		{"devops", recovery.Level{Name: "devops", Title: "DevOps team", PagerDuty: true}},
		{"developers", recovery.Level{Name: "developers", Title: "developers"}},
	}
	for _, l := range levels {
		if got := p.Levels[l.name]; !reflect.DeepEqual(got, l.want) {
			t.Errorf("level %s: got %+v, want %+v", l.name, got, l.want)
		}
	}
	if p.Interval != 10*time.Minute || p.OnCall != "sre" || p.Senior != "senior" {
		t.Errorf("interval/on_call/senior: got %s/%q/%q, want 10m/sre/senior", p.Interval, p.OnCall, p.Senior)
	}
	routes := []struct {
		name string
		in   recovery.Incident
		want routed
	}{
		{"prod canary", incident("prod", recovery.CanaryFail, false),
			routed{row: "Canary", response: "30m", path: []string{"SRE on call", "staff engineer", "CTO + staff engineer"}}},
		{"prod rollback falls through to the catch-all", incident("prod", recovery.RollbackFail, false),
			routed{row: "Rest", response: "best effort"}},
		{"dev", incident("dev", recovery.DevTestsFail, false), routed{row: "Rest", response: "best effort"}},
		{"corruption", incident("dev", recovery.DevTestsFail, true),
			routed{row: "Corruption", response: "IMMEDIATE", path: []string{"CTO + staff engineer"}}},
	}
	for _, tt := range routes {
		if got := route(t, p, tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if c.PagerDuty.EventsURL != "https://events.eu.pagerduty.com" {
		t.Errorf("events_url: got %q", c.PagerDuty.EventsURL)
	}
	if !slices.Equal(c.Incidents.IssueLabels, []string{"postmortem"}) || !slices.Equal(c.Incidents.Checklist, []string{"Write the report", "Tell the customers"}) {
		t.Errorf("incidents: got %+v", c.Incidents)
	}
}

// matrix is an escalation section whose matrix is rows followed by the runbook's data
// corruption row, so each case shows only its own problem.
func matrix(rows ...string) string {
	var b strings.Builder
	b.WriteString("escalation:\n  matrix:\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "    - %s\n", r)
	}
	b.WriteString("    - {name: Data corruption, data_corruption: true, response: immediate, path: [[cto, senior]]}\n")
	return b.String()
}

func TestEscalationProblems(t *testing.T) {
	long := strings.Repeat("x", 76)
	var eleven []string
	for i := range 11 {
		eleven = append(eleven, fmt.Sprintf("step %d", i))
	}
	tests := []struct {
		name     string
		section  string // appended to minimal (environment prod only)
		wantKeys []string
		wantFix  string // in the first wanted problem
	}{
		{"negative interval", "escalation: {interval: -5m}", []string{"escalation.interval"}, "1m to 24h"},
		{"interval too short", "escalation: {interval: 30s}", []string{"escalation.interval"}, "1m to 24h"},
		{"interval too long", "escalation: {interval: 48h}", []string{"escalation.interval"}, "1m to 24h"},
		{"misspelt key", "escalation: {oncall: senior}", []string{"(yaml)"}, "remove or rename"},
		{"on_call names no level", "escalation: {on_call: on-call}", []string{"escalation.on_call"}, "use one of: cto, developers, devops, oncall, senior"},
		{"senior names no level", "escalation: {senior: seniors}", []string{"escalation.senior"}, "define it under escalation.levels"},
		{"user name instead of ID", "escalation: {levels: {senior: {slack: [\"@dave\"]}}}", []string{"escalation.levels.senior.slack[0]"}, "U…/W…"},
		{"channel ID instead of a member", "escalation: {levels: {oncall: {slack: [S0ONCALL, C0OPS]}}}", []string{"escalation.levels.oncall.slack[1]"}, "user group's ID (S…)"},
		{"lowercase ID", "escalation: {levels: {cto: {slack: [u0erin]}}}", []string{"escalation.levels.cto.slack[0]"}, "not a name"},
		{"misspelt level", "escalation: {levels: {seniro: {slack: [U0DAVE]}}}", []string{"escalation.levels.seniro"}, "check the spelling (the runbook's levels: cto, developers, devops, oncall, senior)"},
		{"custom level nobody pages", "escalation: {levels: {sre: {slack: [S0SRE]}}}", []string{"escalation.levels.sre"}, "escalation.on_call"},
		{"unknown level in a path", matrix("{name: Prod, envs: [prod], response: 15m, path: [oncal]}"), []string{"escalation.matrix[0].path[0]"}, "use one of: cto, developers"},
		{"unknown level in a joint step", matrix("{name: Prod, response: 15m, path: [oncall, [cto, senoir]]}"), []string{"escalation.matrix[0].path[1]"}, "define it under escalation.levels"},
		{"empty step", matrix("{name: Prod, response: 15m, path: [oncall, []]}"), []string{"escalation.matrix[0].path[1]"}, "[cto, senior]"},
		{"response without a unit", matrix("{name: Prod, response: \"15\", path: [oncall]}"), []string{"escalation.matrix[0].response"}, "immediate, best-effort or a duration"},
		{"response in words", matrix("{name: Prod, response: asap, path: [oncall]}"), []string{"escalation.matrix[0].response"}, "15m or 1h"},
		{"negative response", matrix("{name: Prod, response: -1m, path: [oncall]}"), []string{"escalation.matrix[0].response"}, "a duration"},
		{"response over a week", matrix("{name: Prod, response: 200h, path: [oncall]}"), []string{"escalation.matrix[0].response"}, "a duration"},
		{"no response", matrix("{name: Prod, path: [oncall]}"), []string{"escalation.matrix[0].response"}, "immediate"},
		{"unknown environment", matrix("{name: Staging, envs: [prod, staging], response: 1h, path: [devops]}"), []string{"escalation.matrix[0].envs[1]"}, "use one of: prod"},
		{"unknown scenario", matrix("{name: Canary, scenarios: [canary], response: 1h, path: [oncall]}"), []string{"escalation.matrix[0].scenarios[0]"}, "scenario IDs listed in README.md"},
		{"unnamed row", matrix("{envs: [prod], response: 1h, path: [oncall]}"), []string{"escalation.matrix[0].name"}, "name the row"},
		{"duplicate row names", matrix("{name: Data corruption, envs: [prod], response: 15m, path: [oncall]}"), []string{"escalation.matrix[1].name"}, "its own name"},
		{"paging row without a path", matrix("{name: Prod, envs: [prod], response: 15m}"), []string{"escalation.matrix[0].path"}, "make the response best-effort"},
		{"best-effort row with a path", matrix("{name: Dev tests fail, envs: [prod], response: best-effort, path: [developers]}"), []string{"escalation.matrix[0].path"}, "remove the path"},
		{"no data corruption row", "escalation: {matrix: [{name: Prod, response: 15m, path: [oncall]}]}", []string{"escalation.matrix"}, "data_corruption: true"},
		{"best-effort data corruption row", "escalation: {matrix: [{name: Data corruption, data_corruption: true, response: best-effort}]}", []string{"escalation.matrix"}, "path: [[cto, senior]]"},
		{"events URL without scheme", "pagerduty: {events_url: events.pagerduty.com}", []string{"pagerduty.events_url"}, "leave it out for https://events.pagerduty.com"},
		{"events URL not http", "pagerduty: {events_url: \"ftp://events.pagerduty.com\"}", []string{"pagerduty.events_url"}, "base URL"},
		{"events URL with the endpoint", "pagerduty: {events_url: \"https://events.pagerduty.com/v2/enqueue\"}", []string{"pagerduty.events_url"}, "medic appends"},
		{"events URL with a query", "pagerduty: {events_url: \"https://events.pagerduty.com?routing_key=x\"}", []string{"pagerduty.events_url"}, "base URL alone"},
		{"events URL with credentials", "pagerduty: {events_url: \"https://medic:s3cret@pd-proxy.example.com\"}", []string{"pagerduty.events_url"}, "PAGERDUTY_ROUTING_KEY"},
		{"empty label", "incidents: {issue_labels: [incident, \" \"]}", []string{"incidents.issue_labels[1]"}, "name the label"},
		{"label too long", "incidents: {issue_labels: [" + strings.Repeat("l", 51) + "]}", []string{"incidents.issue_labels[0]"}, "shorten"},
		{"checklist too long for Slack", "incidents: {checklist: [" + strings.Join(eleven, ", ") + "]}", []string{"incidents.checklist"}, "at most 10"},
		{"empty checklist item", "incidents: {checklist: [Write the report, \"\"]}", []string{"incidents.checklist[1]"}, "write the step"},
		{"checklist item too long for Slack", "incidents: {checklist: [" + long + "]}", []string{"incidents.checklist[0]"}, "at most 75"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(minimal + tt.section + "\n"))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got error %v, want Problems", err)
			}
			var keys []string
			for _, p := range ps {
				keys = append(keys, p.Key)
				if p.Fix == "" {
					t.Errorf("problem %q has no fix", p)
				}
			}
			if !slices.Equal(keys, tt.wantKeys) {
				t.Fatalf("got problems %v, want exactly %v", ps, tt.wantKeys)
			}
			if s := ps[0].String(); !strings.Contains(s, tt.wantFix) {
				t.Errorf("got %q, want it to mention %q", s, tt.wantFix)
			}
			if strings.Contains(ps[0].String(), "s3cret") {
				t.Errorf("problem %q echoes a password", ps[0])
			}
		})
	}
}

func TestEscalationAccepts(t *testing.T) {
	tests := []struct{ name, section string }{
		{"zero interval is the default", "escalation: {interval: 0s}"},
		{"custom on-call level", "escalation: {on_call: sre, levels: {sre: {slack: [S0SRE]}}}"},
		{"custom level in a path", matrix("{name: Prod, response: 15m, path: [sre]}") + "  levels: {sre: {title: SRE}}"},
		{"immediate as 0", matrix("{name: Prod, response: \"0\", path: [oncall]}")},
		{"members of a runbook level nobody pages by default", "escalation: {levels: {developers: {slack: [S0DEVS]}}}"},
		{"events URL of a proxy", "pagerduty: {events_url: \"http://127.0.0.1:8089/\"}"},
		{"longest checklist item", "incidents: {checklist: [" + strings.Repeat("é", 75) + "]}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, minimal+tt.section+"\n")
			if err := c.DomainEscalation().Validate(); err != nil {
				t.Errorf("policy: %v", err)
			}
		})
	}
	if got := mustParse(t, minimal+"escalation: {interval: 0s}\n").Escalation.Interval; got != DefaultEscalationInterval {
		t.Errorf("zero interval: got %s, want %s", got, DefaultEscalationInterval)
	}
}

func TestPathStepMustBeNames(t *testing.T) {
	_, err := Parse(strings.NewReader(minimal + matrix("{name: Prod, response: 15m, path: [{oncall: senior}]}")))
	if err == nil || !strings.Contains(err.Error(), "a path step is a level name or a list of level names") {
		t.Errorf("got %v, want an error saying what a path step is", err)
	}
}
