package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/medic-ops/medic/recovery"
)

// Escalation is the escalation matrix: who is paged, when, if nobody acknowledges.
type Escalation struct {
	// Interval is how often an unacknowledged incident escalates again after its first
	// page (default 15m).
	Interval time.Duration `yaml:"interval"`
	// OnCall is the level "Page on-call" and /page call (default oncall); Senior the
	// level "Page senior engineer" calls (default senior).
	OnCall string `yaml:"on_call"`
	Senior string `yaml:"senior"`
	// Levels names who is in each level; they add to (or change) the runbook's levels
	// developers, devops, oncall, senior and cto.
	Levels map[string]EscalationLevel `yaml:"levels"`
	// Matrix replaces the runbook's escalation matrix when given; rows are tried in order.
	Matrix []MatrixRow `yaml:"matrix"`
}

// EscalationLevel is a group of people paged together.
type EscalationLevel struct {
	// Title is how Slack names the level ("senior engineer").
	Title string `yaml:"title"`
	// Slack lists user IDs (U…) and user group IDs (S…) mentioned and sent a DM.
	Slack []string `yaml:"slack"`
	// PagerDuty pages through PagerDuty too (when PAGERDUTY_ROUTING_KEY is set).
	PagerDuty *bool `yaml:"pagerduty"`
}

// MatrixRow is a row of the escalation matrix.
type MatrixRow struct {
	Name           string   `yaml:"name"`
	Envs           []string `yaml:"envs"`
	Scenarios      []string `yaml:"scenarios"`
	DataCorruption bool     `yaml:"data_corruption"`
	// Response is "immediate", "best-effort" or a duration ("15m", "1h").
	Response string `yaml:"response"`
	// Path is the levels paged, step by step: a step is a level name or a list of
	// level names paged together.
	Path []PathStep `yaml:"path"`
}

// PathStep is one step of an escalation path: one level, or several paged together.
type PathStep []string

// UnmarshalYAML reads a level name or a list of them.
func (p *PathStep) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*p = PathStep{n.Value}
		return nil
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		*p = names
		return nil
	}
	return fmt.Errorf("line %d: a path step is a level name or a list of level names", n.Line)
}

// MarshalYAML writes a one-level step as its name.
func (p PathStep) MarshalYAML() (any, error) {
	if len(p) == 1 {
		return p[0], nil
	}
	return []string(p), nil
}

// PagerDuty configures paging through PagerDuty's Events API v2. The routing key
// comes from PAGERDUTY_ROUTING_KEY; without it PagerDuty is off.
type PagerDuty struct {
	// EventsURL replaces https://events.pagerduty.com (PAGERDUTY_EVENTS_URL overrides it).
	EventsURL string `yaml:"events_url"`
}

// Incidents configures what follows a resolution.
type Incidents struct {
	// IssueLabels are put on follow-up GitHub issues (default: incident, medic).
	IssueLabels []string `yaml:"issue_labels"`
	// Checklist replaces the runbook's post-incident checklist.
	Checklist []string `yaml:"checklist"`
}

// DefaultEscalationInterval is how often an unacknowledged incident escalates again.
const DefaultEscalationInterval = 15 * time.Minute

func (c *Config) applyEscalationDefaults() {
	e := &c.Escalation
	if e.Interval == 0 {
		e.Interval = DefaultEscalationInterval
	}
	if e.OnCall == "" {
		e.OnCall = "oncall"
	}
	if e.Senior == "" {
		e.Senior = "senior"
	}
	if c.Incidents.IssueLabels == nil {
		c.Incidents.IssueLabels = []string{"incident", "medic"}
	}
}

func (c *Config) validateEscalation() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: key, Msg: msg, Fix: fix}) }
	e := c.Escalation
	if e.Interval < time.Minute || e.Interval > 24*time.Hour {
		add("escalation.interval", fmt.Sprintf("%s is out of range", e.Interval), "use 1m to 24h (default 15m)")
	}
	policy := c.DomainEscalation()
	for _, name := range sortedKeys(e.Levels) {
		for i, id := range e.Levels[name].Slack {
			if !memberRE.MatchString(id) {
				add(fmt.Sprintf("escalation.levels.%s.slack[%d]", name, i), fmt.Sprintf("%q is not a Slack user or user group ID", id), "use the member's ID (U…/W…) or the user group's ID (S…), not a name")
			}
		}
	}
	level := func(key, name string) {
		if _, ok := policy.Levels[name]; !ok {
			add(key, fmt.Sprintf("names level %q, which is not defined", name), "define it under escalation.levels or use one of: "+strings.Join(sortedKeys(policy.Levels), ", "))
		}
	}
	level("escalation.on_call", e.OnCall)
	level("escalation.senior", e.Senior)
	c.validateMatrix(level, add)
	c.validateUnusedLevels(policy, add)
	validatePagerDuty(c.PagerDuty, add)
	ps = append(ps, c.validateIncidents()...)
	return ps
}

// validateMatrix checks escalation.matrix row by row, and that some row pages a
// declared data corruption. level checks a level a path names; it and add report into
// the caller's problems, in order.
func (c *Config) validateMatrix(level func(key, name string), add func(key, msg, fix string)) {
	rowNames := map[string]int{}
	pagesDataCorruption := false
	for i, r := range c.Escalation.Matrix {
		k := fmt.Sprintf("escalation.matrix[%d]", i)
		if r.Name == "" {
			add(k+".name", "is empty", "name the row as the runbook does, e.g. \"Prod fail (auto-rollback works)\"")
		} else if first, dup := rowNames[r.Name]; dup {
			// An incident records its row by name: the second row would escalate as the first.
			add(k+".name", fmt.Sprintf("%q is also the name of escalation.matrix[%d]", r.Name, first), "give each row its own name")
		} else {
			rowNames[r.Name] = i
		}
		c.validateMatrixRow(k, r, level, add)
		_, bestEffort, _ := parseResponse(r.Response)
		if r.DataCorruption && !bestEffort && len(r.Path) > 0 {
			pagesDataCorruption = true
		}
	}
	if len(c.Escalation.Matrix) > 0 && !pagesDataCorruption {
		// Only a data_corruption row matches an incident declared "Data corruption risk".
		add("escalation.matrix", "no data_corruption row pages anyone, so \"Data corruption risk\" would page nobody",
			"add the runbook's row: {name: Data corruption, data_corruption: true, response: immediate, path: [[cto, senior]]}")
	}
}

// validateMatrixRow checks a matrix row's response, envs, scenarios and path; k is
// the row's key.
func (c *Config) validateMatrixRow(k string, r MatrixRow, level func(key, name string), add func(key, msg, fix string)) {
	if _, _, err := parseResponse(r.Response); err != nil {
		add(k+".response", err.Error(), "use immediate, best-effort or a duration such as 15m or 1h")
	}
	for j, env := range r.Envs {
		if _, ok := c.Environments[env]; !ok {
			add(fmt.Sprintf("%s.envs[%d]", k, j), fmt.Sprintf("%q is not a configured environment", env), "use one of: "+strings.Join(sortedKeys(c.Environments), ", "))
		}
	}
	scenarios := recovery.ScenarioIDs()
	for j, s := range r.Scenarios {
		if !slices.Contains(scenarios, recovery.ScenarioID(s)) {
			add(fmt.Sprintf("%s.scenarios[%d]", k, j), fmt.Sprintf("%q is not a scenario", s), "use one of the scenario IDs listed in README.md")
		}
	}
	_, bestEffort, _ := parseResponse(r.Response)
	if len(r.Path) == 0 && !bestEffort {
		add(k+".path", "pages nobody", "list the levels to page, e.g. [oncall, senior], or make the response best-effort")
	}
	if len(r.Path) > 0 && bestEffort {
		add(k+".path", "is never paged: a best-effort row pages nobody", "remove the path, or give the row a response time such as 1h")
	}
	for j, step := range r.Path {
		if len(step) == 0 {
			add(fmt.Sprintf("%s.path[%d]", k, j), "is empty", "name the level(s) this step pages, e.g. oncall or [cto, senior]")
		}
		for _, l := range step {
			level(fmt.Sprintf("%s.path[%d]", k, j), l)
		}
	}
}

// validateUnusedLevels refuses a level that is not the runbook's and that nothing
// pages: defined under a misspelt name, it would be silently unused while the level
// meant keeps no members.
func (c *Config) validateUnusedLevels(policy *recovery.EscalationPolicy, add func(key, msg, fix string)) {
	e := c.Escalation
	used := map[string]bool{e.OnCall: true, e.Senior: true}
	for _, r := range policy.Matrix {
		for _, step := range r.Path {
			for _, l := range step {
				used[l] = true
			}
		}
	}
	defaults := recovery.DefaultLevels()
	for _, name := range sortedKeys(e.Levels) {
		if _, ok := defaults[name]; !ok && !used[name] {
			add("escalation.levels."+name, fmt.Sprintf("%q is not one of the runbook's levels and nothing pages it", name),
				"check the spelling (the runbook's levels: "+strings.Join(sortedKeys(defaults), ", ")+"), or page it from escalation.on_call, escalation.senior or a matrix row's path")
		}
	}
}

// validatePagerDuty checks pagerduty.events_url. deploy/pagerduty refuses the same
// URLs when serve starts; config check says so first.
func validatePagerDuty(pd PagerDuty, add func(key, msg, fix string)) {
	u := pd.EventsURL
	if u == "" {
		return
	}
	pu, err := url.Parse(u)
	switch {
	case err != nil:
		add("pagerduty.events_url", "is not a URL", "leave it out for https://events.pagerduty.com, or set the base URL of an Events API v2 endpoint")
	case (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "":
		add("pagerduty.events_url", fmt.Sprintf("%q is not an http(s) URL", pu.Redacted()), "leave it out for https://events.pagerduty.com, or set the base URL of an Events API v2 endpoint")
	case pu.User != nil:
		add("pagerduty.events_url", fmt.Sprintf("%q carries credentials", pu.Redacted()), "remove user:password from the URL; medic authenticates to PagerDuty with PAGERDUTY_ROUTING_KEY")
	case pu.RawQuery != "" || pu.Fragment != "":
		add("pagerduty.events_url", fmt.Sprintf("%q has a query or fragment", pu.Redacted()), "set the base URL alone, e.g. https://events.pagerduty.com")
	case strings.HasSuffix(strings.TrimSuffix(pu.Path, "/"), "/v2/enqueue"):
		add("pagerduty.events_url", fmt.Sprintf("%q includes /v2/enqueue, which medic appends", pu.Redacted()), "set the base URL, e.g. https://events.pagerduty.com")
	}
}

// Limits of what follows a resolution, checked so they fail at start-up rather than
// when an incident is resolved.
const (
	// maxChecklistItems: a Slack checkboxes element holds at most 10 options
	// (docs.slack.dev, reference/block-kit/block-elements/checkboxes-element).
	maxChecklistItems = 10
	// maxChecklistText: an option's text is at most 75 characters (docs.slack.dev,
	// reference/block-kit/composition-objects/option-object).
	maxChecklistText = 75
	// maxLabel: a GitHub label name is at most 50 characters (the REST API answers
	// "name is too long (maximum is 50 characters)").
	maxLabel = 50
)

func (c *Config) validateIncidents() Problems {
	var ps Problems
	add := func(key, msg, fix string) { ps = append(ps, Problem{Key: key, Msg: msg, Fix: fix}) }
	for i, l := range c.Incidents.IssueLabels {
		k := fmt.Sprintf("incidents.issue_labels[%d]", i)
		switch {
		case strings.TrimSpace(l) == "":
			add(k, "is empty", "remove it, or name the label, e.g. incident")
		case utf8.RuneCountInString(l) > maxLabel:
			add(k, fmt.Sprintf("%q is longer than GitHub's %d characters", l, maxLabel), "shorten the label")
		}
	}
	items := c.Incidents.Checklist
	if len(items) > maxChecklistItems {
		add("incidents.checklist", fmt.Sprintf("has %d items; a Slack checklist holds at most %d", len(items), maxChecklistItems), "merge or remove items")
	}
	for i, it := range items {
		k := fmt.Sprintf("incidents.checklist[%d]", i)
		switch {
		case strings.TrimSpace(it) == "":
			add(k, "is empty", "remove it, or write the step, e.g. \"Root cause analysis (5 whys)\"")
		case utf8.RuneCountInString(it) > maxChecklistText:
			add(k, fmt.Sprintf("is %d characters; Slack shows at most %d per checkbox", utf8.RuneCountInString(it), maxChecklistText), "shorten it, and put details in the runbook")
		}
	}
	return ps
}

// parseResponse reads a matrix row's response time.
func parseResponse(s string) (d time.Duration, bestEffort bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "immediate", "0":
		return 0, false, nil
	case "best-effort", "best effort":
		return 0, true, nil
	case "":
		return 0, false, fmt.Errorf("is empty")
	}
	d, err = time.ParseDuration(s)
	if err != nil || d < 0 || d > 7*24*time.Hour {
		return 0, false, fmt.Errorf("%q is not a response time", s)
	}
	return d, false, nil
}

// DomainEscalation converts the escalation section into recovery's policy: the
// runbook's levels and matrix, changed by the config.
func (c *Config) DomainEscalation() *recovery.EscalationPolicy {
	p := &recovery.EscalationPolicy{Interval: c.Escalation.Interval, Levels: recovery.DefaultLevels(), OnCall: c.Escalation.OnCall, Senior: c.Escalation.Senior}
	for name, l := range c.Escalation.Levels {
		lv, ok := p.Levels[name]
		if !ok {
			lv = recovery.Level{Name: name, Title: name, PagerDuty: true}
		}
		if l.Title != "" {
			lv.Title = l.Title
		}
		if l.Slack != nil {
			lv.Slack = l.Slack
		}
		if l.PagerDuty != nil {
			lv.PagerDuty = *l.PagerDuty
		}
		p.Levels[name] = lv
	}
	if len(c.Escalation.Matrix) == 0 {
		for _, r := range recovery.DefaultMatrix() {
			var envs []string
			for _, env := range r.Envs {
				if _, ok := c.Environments[env]; ok {
					envs = append(envs, env)
				}
			}
			if len(r.Envs) > 0 && len(envs) == 0 {
				continue // e.g. no dev environment configured
			}
			r.Envs = envs
			p.Matrix = append(p.Matrix, r)
		}
		return p
	}
	for _, rc := range c.Escalation.Matrix {
		d, bestEffort, _ := parseResponse(rc.Response)
		r := recovery.MatrixRow{Name: rc.Name, Envs: rc.Envs, DataCorruption: rc.DataCorruption, Response: d, BestEffort: bestEffort}
		for _, s := range rc.Scenarios {
			r.Scenarios = append(r.Scenarios, recovery.ScenarioID(s))
		}
		for _, step := range rc.Path {
			r.Path = append(r.Path, []string(step))
		}
		p.Matrix = append(p.Matrix, r)
	}
	return p
}
