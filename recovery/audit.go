package recovery

import (
	"fmt"
	"strings"
)

// AuditAction names what an audit entry records. The writers, the report's timeline
// and "who did what", and the tests share these names; each event's meaning for the
// report is in auditEvents.
type AuditAction string

// The audit events medic writes.
const (
	AuditIncidentOpened        AuditAction = "incident.opened"
	AuditIncidentAlerted       AuditAction = "incident.alerted"
	AuditIncidentEscalated     AuditAction = "incident.escalated"
	AuditIncidentMerged        AuditAction = "incident.merged"
	AuditIncidentPaged         AuditAction = "incident.paged"
	AuditIncidentAcknowledged  AuditAction = "incident.acknowledged"
	AuditIncidentDataCorrupt   AuditAction = "incident.data_corruption"
	AuditIncidentResolved      AuditAction = "incident.resolved"
	AuditIncidentIssue         AuditAction = "incident.issue"
	AuditEscalationRow         AuditAction = "escalation.row"
	AuditPageSent              AuditAction = "page.sent"
	AuditPageFailed            AuditAction = "page.failed"
	AuditPageRefused           AuditAction = "page.refused"
	AuditRollbackSucceeded     AuditAction = "rollback.succeeded"
	AuditAlarmCleared          AuditAction = "alarm.cleared"
	AuditActionRefused         AuditAction = "action.refused"
	AuditRequestCreated        AuditAction = "request.created"
	AuditRequestRefused        AuditAction = "request.refused"
	AuditRequestOverride       AuditAction = "request.override"
	AuditRequestPreviewReady   AuditAction = "request.preview.ready"
	AuditRequestPreviewFailed  AuditAction = "request.preview.failed"
	AuditRequestApproved       AuditAction = "request.approved"
	AuditRequestRejected       AuditAction = "request.rejected"
	AuditRequestExpired        AuditAction = "request.expired"
	AuditRequestApproveRefused AuditAction = "request.approve.refused"
	AuditRequestRejectRefused  AuditAction = "request.reject.refused"
	AuditJobCreated            AuditAction = "job.created"
	AuditJobStep               AuditAction = "job.step"
	AuditJobSucceeded          AuditAction = "job.succeeded"
	AuditJobFailed             AuditAction = "job.failed"
	AuditJobCancelled          AuditAction = "job.cancelled"
	AuditJobInterrupted        AuditAction = "job.interrupted"
	AuditJobCancelRequested    AuditAction = "job.cancel.requested"
	AuditJobCancelRefused      AuditAction = "job.cancel.refused"
	AuditFollowStarted         AuditAction = "follow.started"
	AuditFollowPassed          AuditAction = "follow.passed"
	AuditFollowFailed          AuditAction = "follow.failed"
	AuditFollowCancelled       AuditAction = "follow.cancelled"
	AuditChecklistChecked      AuditAction = "checklist.checked"
	AuditChecklistUnchecked    AuditAction = "checklist.unchecked"
	// AuditRefused is a person refused for want of a role (acknowledge, page, resolve).
	AuditRefused AuditAction = "refused"
)

// auditClick is the event of a click on a read-only action's button ("action.verify").
func auditClick(id ActionID) AuditAction { return AuditAction("action." + string(id)) }

// auditJobEnd is the event of a job's end in state.
func auditJobEnd(state JobState) AuditAction { return AuditAction("job." + string(state)) }

// auditDecision is the event of a request decided (approved, rejected).
func auditDecision(state RequestState) AuditAction { return AuditAction("request." + string(state)) }

// auditDecisionRefused is the event of an approval ("approve") or rejection ("reject")
// refused.
func auditDecisionRefused(verb string) AuditAction {
	return AuditAction("request." + verb + ".refused")
}

// auditEvent is what one kind of audit entry means in an incident's report: its line
// in the timeline and what it says a person did; nil leaves it out (clicks that only
// read, refusals, retries).
type auditEvent struct {
	timeline func(a AuditEntry, p *EscalationPolicy) string
	deed     func(a AuditEntry) string
}

// auditEvents is the report's reading of each event.
var auditEvents = map[AuditAction]auditEvent{
	AuditIncidentOpened: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		return fmt.Sprintf("Detected: %s (%s), via %s", scenarioTitle(ScenarioID(a.Detail["scenario"])), a.Detail["severity"], a.Detail["via"])
	}},
	AuditIncidentAlerted: {timeline: fixed("Alert posted in Slack")},
	AuditIncidentEscalated: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		return fmt.Sprintf("Scenario raised: %s → %s", scenarioTitle(ScenarioID(a.Detail["from"])), scenarioTitle(ScenarioID(a.Detail["to"])))
	}},
	AuditEscalationRow: {timeline: func(a AuditEntry, _ *EscalationPolicy) string { return "Escalation now follows " + a.Detail["to"] }},
	AuditIncidentPaged: {timeline: timelinePaged, deed: func(a AuditEntry) string {
		return "paged " + strings.ReplaceAll(a.Detail["levels"], ",", " + ")
	}},
	AuditPageFailed:           {timeline: timelinePageFailed},
	AuditIncidentAcknowledged: {timeline: fixed("Acknowledged"), deed: didThis("acknowledged")},
	AuditIncidentDataCorrupt: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		return "Data corruption risk declared: " + a.Detail["reason"]
	}, deed: didThis("declared a data corruption risk")},
	AuditRollbackSucceeded: {timeline: fixed("The pipeline's automatic rollback succeeded")},
	AuditRequestCreated: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		t := fmt.Sprintf("Requested %s (%s)", actionLabel(a.Detail["action"]), a.Detail["request"])
		if a.Detail["reason"] != "" {
			t += ": " + a.Detail["reason"]
		}
		return t
	}, deed: func(a AuditEntry) string { return "requested " + actionLabel(a.Detail["action"]) }},
	AuditRequestApproved: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		if a.Detail["by"] != "" {
			return fmt.Sprintf("%s approved by %s", a.Detail["request"], a.Detail["by"])
		}
		return fmt.Sprintf("Approved %s (%s)", a.Detail["request"], actionLabel(a.Detail["action"]))
	}, deed: func(a AuditEntry) string { return "approved " + actionLabel(a.Detail["action"]) }},
	AuditRequestRejected: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		return fmt.Sprintf("Rejected %s (%s)", a.Detail["request"], actionLabel(a.Detail["action"]))
	}, deed: func(a AuditEntry) string { return "rejected " + actionLabel(a.Detail["action"]) }},
	AuditRequestExpired: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		return fmt.Sprintf("%s (%s) expired without approval", a.Detail["request"], actionLabel(a.Detail["action"]))
	}},
	AuditJobCreated: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		return fmt.Sprintf("Job %s started: %s", a.JobID, actionLabel(a.Detail["action"]))
	}},
	AuditJobStep: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		t := fmt.Sprintf("%s: %s", a.Detail["step"], a.Detail["state"])
		if a.Detail["error"] != "" {
			t += " (" + a.Detail["error"] + ")"
		}
		return t
	}},
	AuditJobSucceeded:   {timeline: timelineJobEnd},
	AuditJobFailed:      {timeline: timelineJobEnd},
	AuditJobCancelled:   {timeline: timelineJobEnd},
	AuditJobInterrupted: {timeline: timelineJobEnd},
	AuditJobCancelRequested: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		return fmt.Sprintf("Cancel of job %s requested", a.JobID)
	}, deed: didThis("cancelled a job")},
	AuditFollowStarted: {timeline: func(a AuditEntry, _ *EscalationPolicy) string {
		return fmt.Sprintf("Following %s until it ends (%s, job %s)", a.Detail["what"], actionLabel(a.Detail["action"]), a.Detail["job"])
	}},
	AuditFollowPassed:            {timeline: timelineFollowEnd},
	AuditFollowFailed:            {timeline: timelineFollowEnd},
	AuditFollowCancelled:         {timeline: timelineFollowEnd},
	auditClick(ActVerify):        {timeline: fixed("Verification requested")},
	AuditAlarmCleared:            {timeline: func(a AuditEntry, _ *EscalationPolicy) string { return a.Detail["alarm"] + " back to OK" }},
	AuditIncidentResolved:        {timeline: timelineResolved, deed: didThis("resolved")},
	AuditIncidentIssue:           {timeline: func(a AuditEntry, _ *EscalationPolicy) string { return "Follow-up issue #" + a.Detail["issue"] }, deed: didThis("filed the follow-up issue")},
	AuditIncidentMerged:          {},
	AuditPageSent:                {},
	AuditPageRefused:             {},
	AuditActionRefused:           {},
	AuditRequestRefused:          {},
	AuditRequestOverride:         {},
	AuditRequestPreviewReady:     {},
	AuditRequestPreviewFailed:    {},
	AuditRequestApproveRefused:   {},
	AuditRequestRejectRefused:    {},
	AuditJobCancelRefused:        {},
	AuditChecklistChecked:        {},
	AuditChecklistUnchecked:      {},
	AuditRefused:                 {},
	auditClick(ActAcknowledge):   {},
	auditClick(ActResolve):       {},
	auditClick(ActCreateIssue):   {},
	auditClick(ActRefresh):       {},
	auditClick(ActViewLogs):      {},
	auditClick(ActViewArtifacts): {},
}

func fixed(s string) func(AuditEntry, *EscalationPolicy) string {
	return func(AuditEntry, *EscalationPolicy) string { return s }
}

func didThis(s string) func(AuditEntry) string { return func(AuditEntry) string { return s } }

// actionLabel is an action's label, or its ID when medic does not know it.
func actionLabel(id string) string {
	if act, ok := ActionByID(ActionID(id)); ok {
		return act.Label
	}
	return id
}

func timelinePaged(a AuditEntry, p *EscalationPolicy) string {
	levels := strings.Split(a.Detail["levels"], ",")
	t := strings.Join(levels, " + ")
	if p != nil {
		t = p.levelTitles(levels)
	}
	return fmt.Sprintf("Paged %s: %s", t, a.Detail["reason"])
}

func timelinePageFailed(a AuditEntry, _ *EscalationPolicy) string {
	d := a.Detail
	if d["retry"] == "true" && d["attempt"] != "1" {
		return ""
	}
	return fmt.Sprintf("%s page failed (attempt %s): %s", pagerTitle(d["pager"]), d["attempt"], d["error"])
}

func timelineJobEnd(a AuditEntry, _ *EscalationPolicy) string {
	t := fmt.Sprintf("Job %s %s", a.JobID, strings.TrimPrefix(a.Action, "job."))
	if a.Detail["error"] != "" {
		t += ": " + a.Detail["error"]
	}
	return t
}

func timelineFollowEnd(a AuditEntry, _ *EscalationPolicy) string {
	return fmt.Sprintf("%s (%s)", a.Detail["text"], a.Detail["by"])
}

func timelineResolved(a AuditEntry, _ *EscalationPolicy) string {
	t := "Resolved"
	if a.Detail["note"] != "" {
		t += ": " + a.Detail["note"]
	}
	return t
}

// timelineEvent says what an audit entry means for the timeline; "" leaves it out.
func timelineEvent(a AuditEntry, p *EscalationPolicy) string {
	if ev := auditEvents[AuditAction(a.Action)]; ev.timeline != nil {
		return ev.timeline(a, p)
	}
	return ""
}

// deed is what a person's audit entry says they did, for "who did what".
func deed(a AuditEntry) string {
	if ev := auditEvents[AuditAction(a.Action)]; ev.deed != nil {
		return ev.deed(a)
	}
	return ""
}

// auditFollowEnd is the event of what medic followed ending (passed, failed, cancelled).
func auditFollowEnd(outcome FollowOutcome) AuditAction {
	return AuditAction("follow." + string(outcome))
}
