package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/medic-ops/medic/deploy/pagerduty"
	"github.com/medic-ops/medic/recovery"
)

// pagerDutyPager pages through PagerDuty's Events API v2: one alert per incident (the
// dedup key is the incident's), triggered by each page, acknowledged and resolved as
// medic's incident is.
type pagerDutyPager struct {
	sender *pagerduty.Sender
	// drill marks every page a drill's: its summary starts with "DRILL: ".
	drill bool
}

func newPagerDuty(routingKey, eventsURL string, hc *http.Client) (*pagerDutyPager, error) {
	s, err := pagerduty.New(routingKey, eventsURL, hc)
	if err != nil {
		return nil, err
	}
	return &pagerDutyPager{sender: s}, nil
}

func (p *pagerDutyPager) Name() string { return "pagerduty" }

// Wants: acknowledgements and resolutions always (they follow a trigger), triggers
// when a level pages through PagerDuty.
func (p *pagerDutyPager) Wants(kind recovery.PageKind, levels []recovery.Level) bool {
	if kind != recovery.PageTrigger {
		return true
	}
	for _, l := range levels {
		if l.PagerDuty {
			return true
		}
	}
	return false
}

// dedupKey is the PagerDuty alert of an incident.
func dedupKey(incidentID string) string { return "medic-" + incidentID }

var pdSeverity = map[recovery.Severity]string{
	recovery.SeverityLow:      "info",
	recovery.SeverityMedium:   "warning",
	recovery.SeverityHigh:     "error",
	recovery.SeverityCritical: "critical",
}

func (p *pagerDutyPager) Send(ctx context.Context, pg recovery.Page, in recovery.Incident, levels []recovery.Level) error {
	ev := pagerduty.Event{Action: string(pg.Kind), DedupKey: dedupKey(in.ID)}
	if pg.Kind == recovery.PageTrigger {
		sc, _ := recovery.ScenarioByID(in.Scenario)
		var titles []string
		for _, l := range levels {
			titles = append(titles, l.Title)
		}
		sev := pdSeverity[in.Severity]
		if sev == "" {
			sev = "error"
		}
		ev.Summary = recovery.Redact(fmt.Sprintf("[%s] %s: %s (%s)", in.Severity, in.Env, sc.Title, in.ID))
		if p.drill {
			ev.Summary = "DRILL: " + ev.Summary
		}
		ev.Source = "medic/" + in.Env
		ev.Severity = sev
		ev.Details = map[string]any{
			"incident": in.ID, "environment": in.Env, "scenario": string(in.Scenario),
			"level": strings.Join(titles, " + "), "reason": recovery.Redact(pg.Why()), "page": pg.Seq,
		}
		if in.RunURL != "" {
			ev.Links = append(ev.Links, pagerduty.Link{Href: in.RunURL, Text: "workflow run"})
		}
	}
	if err := p.sender.Send(ctx, ev); err != nil {
		var pe *pagerduty.Error
		if errors.As(err, &pe) {
			return &pageRetry{err: err, temporary: pe.Temporary(), after: pe.RetryAfter}
		}
		return err
	}
	return nil
}

// pageRetry carries PagerDuty's verdict on a failure to medic's retry.
type pageRetry struct {
	err       error
	temporary bool
	after     time.Duration
}

func (e *pageRetry) Error() string             { return e.err.Error() }
func (e *pageRetry) Unwrap() error             { return e.err }
func (e *pageRetry) Temporary() bool           { return e.temporary }
func (e *pageRetry) RetryAfter() time.Duration { return e.after }
