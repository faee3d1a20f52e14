package recovery_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// An alarm in ALARM with no pipeline failure open in its environment is an "Alarm
// firing" incident of its own, as serious as its environment; each later transition
// into ALARM is one "entered ALARM again" note, a repeat of one is nothing.
func TestEngineAlarmFiringOpensItsOwnIncident(t *testing.T) {
	h := recoverytest.New(t)
	first := h.FiringAlarm("preprod", "preprod-dashboard-errors")
	h.Submit(t, first)
	in := mustOpen(t, h, first)
	a := mustAlert(t, h, in.ID)
	if a.Scenario != recovery.AlarmFiring || a.Severity != recovery.SeverityMedium || a.Env != "preprod" || a.Channel != recoverytest.Channel("preprod") ||
		a.AlarmName != "preprod-dashboard-errors" || a.Title != "Alarm firing" || a.RunID != 0 {
		t.Fatalf("alert: got %s %s %q in %s (%s), alarm %q, run %d; want %s MEDIUM \"Alarm firing\" in preprod, alarm preprod-dashboard-errors, no run",
			a.Scenario, a.Severity, a.Title, a.Env, a.Channel, a.AlarmName, a.RunID, recovery.AlarmFiring)
	}
	if got, want := labels(recovery.Buttons(a)), []string{"Verify", "Acknowledge", "Refresh diagnostics"}; !slices.Equal(got, want) {
		t.Fatalf("buttons: got %v, want %v", got, want)
	}

	var agains []recovery.Signal
	for _, after := range []time.Duration{10 * time.Minute, 5 * time.Minute} {
		h.Advance(after)
		again := h.FiringAlarm("preprod", "preprod-dashboard-errors")
		agains = append(agains, again)
		h.Submit(t, again)
		h.Submit(t, again) // the poller seeing the same transition
	}
	h.Submit(t, first)
	want := []string{
		":rotating_light: preprod-dashboard-errors entered ALARM again (09:10 UTC)",
		":rotating_light: preprod-dashboard-errors entered ALARM again (09:15 UTC)",
	}
	var got []string
	for _, s := range h.Publisher.Texts(in.ID) {
		if strings.Contains(s, "entered ALARM") {
			got = append(got, s)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("alarm notes: got %q, want %q", got, want)
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts: got %d, want 1", got)
	}
	if got := h.Handled(agains[1].Key()); got != 2 {
		t.Fatalf("the last transition: handled %d times, want 2", got)
	}
}

// An alarm of an environment whose deploy is failing is that failure seen from
// CloudWatch: it joins the open pipeline incident (a note, the alert listing it), and
// its later transitions note there. An alarm of another environment, or a second
// alarm beside an alarm incident, is an incident of its own.
func TestEngineAlarmJoinsTheOpenDeployIncident(t *testing.T) {
	h := recoverytest.New(t)
	failed := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, failed)
	in := mustOpen(t, h, failed)

	finding := func(id recovery.DiagnosticID) recovery.Finding {
		for _, f := range mustAlert(t, h, in.ID).Findings {
			if f.Diagnostic == id {
				return f
			}
		}
		t.Fatalf("the deploy alert: no %s finding", id)
		return recovery.Finding{}
	}
	tfBefore := finding(recovery.DiagTerraformError)

	// Since the failure: the job's log is unreadable, the functions run another version.
	h.GitHub.JobLogFunc = func(context.Context, int64) (recovery.JobLog, error) {
		return recovery.JobLog{}, errors.New("github: 502")
	}
	h.AWS.SetVersion("prod", recoverytest.OlderSHA)
	h.Advance(3 * time.Minute)
	alarm := h.FiringAlarm("prod", "prod-dashboard-errors")
	h.Submit(t, alarm)
	// The diagnostics are gathered again: those it could refresh are, the others kept.
	if got := finding(recovery.DiagTerraformError); got.Problem != "" || !slices.Equal(got.Lines, tfBefore.Lines) {
		t.Fatalf("the Terraform error after the alarm joined: got %q (problem %q), want the run's kept %q", got.Lines, got.Problem, tfBefore.Lines)
	}
	if got := finding(recovery.DiagLambdaStates); !strings.Contains(strings.Join(got.Lines, "\n"), recoverytest.OlderSHA[:7]) {
		t.Fatalf("Lambda states after the alarm joined: got %q, want them refreshed (version %s)", got.Lines, recoverytest.OlderSHA[:7])
	}
	if got := mustAlert(t, h, in.ID).GatheredAt; !got.Equal(h.Clock.Now()) {
		t.Fatalf("the deploy alert's diagnostics gathered at: got %v, want %v", got, h.Clock.Now())
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts after prod's alarm fired: got %d, want 1", got)
	}
	want := ":rotating_light: prod-dashboard-errors entered ALARM at 09:03 UTC: " + alarm.Alarm.Reason
	if got := notesSaying(h, in.ID, want); got != 1 {
		t.Fatalf("notes saying %q: got %d, want 1; thread %q", want, got, h.Publisher.Texts(in.ID))
	}
	a := mustAlert(t, h, in.ID)
	if !slices.Equal(a.Alarms, []string{"prod-dashboard-errors"}) || a.Scenario != recovery.ProdDeployFail || a.AlarmName != "" {
		t.Fatalf("alert: got %s alarms %v (alarm %q), want %s listing prod-dashboard-errors", a.Scenario, a.Alarms, a.AlarmName, recovery.ProdDeployFail)
	}
	inPlace(t, h, in.ID)

	h.Advance(4 * time.Minute)
	h.Submit(t, h.FiringAlarm("prod", "prod-dashboard-errors"))
	if got := notesSaying(h, in.ID, "prod-dashboard-errors entered ALARM again (09:07 UTC)"); got != 1 {
		t.Fatalf("\"again\" notes on the deploy incident: got %d, want 1; thread %q", got, h.Publisher.Texts(in.ID))
	}

	other := h.FiringAlarm("preprod", "preprod-dashboard-errors")
	h.Submit(t, other)
	oin := mustOpen(t, h, other)
	if oin.ID == in.ID || oin.Scenario != recovery.AlarmFiring || oin.Env != "preprod" {
		t.Fatalf("preprod's alarm: got %s %s in %s, want an alarm incident of its own in preprod", oin.ID, oin.Scenario, oin.Env)
	}
	second := h.FiringAlarm("preprod", "preprod-latency")
	h.Submit(t, second)
	if sin := mustOpen(t, h, second); sin.ID == oin.ID || sin.Scenario != recovery.AlarmFiring {
		t.Fatalf("a second preprod alarm: got %s %s, want an incident of its own beside %s", sin.ID, sin.Scenario, oin.ID)
	}
	if got := len(h.Publisher.Alerts()); got != 3 {
		t.Fatalf("alerts: got %d, want 3", got)
	}
	if got := h.Incident(t, in.ID).Alarms; !slices.Equal(got, []string{"prod-dashboard-errors"}) {
		t.Fatalf("the deploy incident's alarms: got %v, want only prod's", got)
	}
}

// An alarm's reason is cut to 300 characters in the thread.
func TestEngineAlarmReasonIsCut(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	alarm := h.FiringAlarm("prod", "prod-errors")
	alarm.Alarm.Reason = strings.Repeat("r", 299) + "XY"
	h.Submit(t, alarm)
	want := ": " + strings.Repeat("r", 299) + "…"
	if got := notesSaying(h, in.ID, want); got != 1 || notesSaying(h, in.ID, "X") != 0 {
		t.Fatalf("alarm note: got %q, want its reason cut to 300 characters", h.Publisher.Texts(in.ID))
	}
}

// An untrusted run's incident never takes an alarm (an alarm is never a pull
// request's), and its opening absorbs none.
func TestEngineAlarmAndUntrustedIncidentsStayApart(t *testing.T) {
	h := recoverytest.New(t)
	early := h.FiringAlarm("dev", "dev-errors")
	h.Submit(t, early)
	alarmIn := mustOpen(t, h, early)
	pr := h.FailJob(t, recovery.JobTestsDev, recoverytest.FromPullRequest(5, "someone"))
	late := h.FiringAlarm("dev", "dev-latency")
	h.Submit(t, late)
	lateIn := mustOpen(t, h, late)
	if lateIn.ID == pr.ID || lateIn.Scenario != recovery.AlarmFiring {
		t.Fatalf("an alarm while a pull request's incident is open: got %s %s, want an alarm incident of its own", lateIn.ID, lateIn.Scenario)
	}
	if got := h.Incident(t, alarmIn.ID); got.Status != recovery.IncidentOpen || got.MergedInto != "" {
		t.Fatalf("the alarm incident after a pull request failed: got %s merged into %q, want open", got.Status, got.MergedInto)
	}
	if got := h.Incident(t, pr.ID).Alarms; len(got) != 0 {
		t.Fatalf("the pull request's incident's alarms: got %v, want none", got)
	}
	if got := len(h.Publisher.Alerts()); got != 3 {
		t.Fatalf("alerts: got %d, want 3", got)
	}
}

// A deploy failing while an alarm of its environment has an incident of its own folds
// that incident into the new one: the alarm's alert shows it resolved, its thread
// points to the deploy's, the deploy's thread and alert name the alarm, and the
// alarm's next transition notes on the deploy's incident.
func TestEngineDeployFailureAbsorbsOpenAlarmIncidents(t *testing.T) {
	h := recoverytest.New(t)
	alarm := h.FiringAlarm("prod", "prod-dashboard-errors")
	h.Submit(t, alarm)
	alarmIn := mustOpen(t, h, alarm)
	elsewhere := h.FiringAlarm("preprod", "preprod-dashboard-errors")
	h.Submit(t, elsewhere)
	elsewhereIn := mustOpen(t, h, elsewhere)

	in := h.FailJob(t, recovery.JobDeployProd)
	merged := h.Incident(t, alarmIn.ID)
	if merged.Status != recovery.IncidentResolved || merged.MergedInto != in.ID {
		t.Fatalf("the alarm incident: got %s merged into %q, want resolved into %s", merged.Status, merged.MergedInto, in.ID)
	}
	if a := mustAlert(t, h, alarmIn.ID); a.Status != recovery.IncidentResolved || a.MergedInto != in.ID || len(recovery.Buttons(a)) != 0 {
		t.Fatalf("the alarm's alert: got %s merged into %q with %d buttons, want resolved into %s without buttons", a.Status, a.MergedInto, len(recovery.Buttons(a)), in.ID)
	}
	pointer := ":link: Part of " + in.ID + " (Production deployment failed (scenario 4)): follow that alert."
	if got := notesSaying(h, alarmIn.ID, pointer); got != 1 {
		t.Fatalf("notes saying %q: got %d, want 1; thread %q", pointer, got, h.Publisher.Texts(alarmIn.ID))
	}
	already := ":rotating_light: prod-dashboard-errors was already in ALARM (" + alarmIn.ID + ", now merged here)."
	if got := notesSaying(h, in.ID, already); got != 1 {
		t.Fatalf("notes saying %q: got %d, want 1; thread %q", already, got, h.Publisher.Texts(in.ID))
	}
	if got := h.Incident(t, in.ID).Alarms; !slices.Equal(got, []string{"prod-dashboard-errors"}) {
		t.Fatalf("the deploy incident's alarms: got %v, want prod-dashboard-errors", got)
	}
	if got := h.AuditActions(t, alarmIn.ID); !slices.Contains(got, "incident.merged") {
		t.Fatalf("the alarm incident's audit: got %v, want incident.merged", got)
	}
	if got := h.Incident(t, elsewhereIn.ID); got.Status != recovery.IncidentOpen {
		t.Fatalf("preprod's alarm incident: got %s, want still open", got.Status)
	}

	h.Advance(5 * time.Minute)
	h.Submit(t, h.FiringAlarm("prod", "prod-dashboard-errors"))
	if got := notesSaying(h, in.ID, "prod-dashboard-errors entered ALARM again (09:05 UTC)"); got != 1 {
		t.Fatalf("\"again\" notes on the deploy incident: got %d, want 1; thread %q", got, h.Publisher.Texts(in.ID))
	}
	if got := len(h.Publisher.Alerts()); got != 3 {
		t.Fatalf("alerts: got %d, want 3 (prod's alarm, preprod's, the deploy)", got)
	}
}

// stuckAlarm is the signal of an alarm still in ALARM after the fix of incident fix.
func stuckAlarm(h *recoverytest.Harness, env, name, fix string, since time.Time) recovery.Signal {
	a := recovery.Alarm{Name: name, State: "ALARM", Since: since}
	return recovery.Signal{Kind: recovery.SignalAlarmStuck, Via: "alarm-poll", Env: env, Alarm: &a, IncidentID: fix, At: h.Clock.Now()}
}

// An alarm still in ALARM after its fix: its own "Alarm firing" incident becomes the
// "Alarm won't clear" case in place; without one (or when the alarm belongs to a
// pipeline incident) the case opens as an incident of its own.
func TestEngineAlarmStuckAfterTheFix(t *testing.T) {
	t.Run("its own incident becomes the case", func(t *testing.T) {
		h := recoverytest.New(t)
		alarm := h.FiringAlarm("preprod", "preprod-dashboard-errors")
		h.Submit(t, alarm)
		in := mustOpen(t, h, alarm)
		h.Advance(25 * time.Minute)
		stuck := stuckAlarm(h, "preprod", "preprod-dashboard-errors", "INC-FIX", alarm.Alarm.Since)
		h.Submit(t, stuck)
		h.Submit(t, stuck)
		h.Settle(t)
		inPlace(t, h, in.ID)
		a := mustAlert(t, h, in.ID)
		if a.Scenario != recovery.AlarmWontClear || a.Title != "Alarm won't clear" || a.Severity != recovery.SeverityMedium || a.AlarmName != "preprod-dashboard-errors" {
			t.Fatalf("alert: got %s %q %s alarm %q, want %s \"Alarm won't clear\" MEDIUM alarm preprod-dashboard-errors", a.Scenario, a.Title, a.Severity, a.AlarmName, recovery.AlarmWontClear)
		}
		want := ":hourglass: preprod-dashboard-errors is still in ALARM 25m after the last successful deploy: the fix did not clear it."
		if got := notesSaying(h, in.ID, want); got != 1 {
			t.Fatalf("notes saying %q: got %d, want 1; thread %q", want, got, h.Publisher.Texts(in.ID))
		}
		var detail map[string]string
		for _, e := range h.Audit(t, in.ID) {
			if e.Action == "incident.escalated" {
				detail = e.Detail
			}
		}
		if detail["from"] != string(recovery.AlarmFiring) || detail["to"] != string(recovery.AlarmWontClear) || detail["signal"] != stuck.Key() {
			t.Fatalf("incident.escalated: got %v, want from %s to %s by %s", detail, recovery.AlarmFiring, recovery.AlarmWontClear, stuck.Key())
		}
		if got := len(h.Publisher.Alerts()); got != 1 {
			t.Fatalf("alerts: got %d, want 1", got)
		}
	})
	t.Run("no incident of its own", func(t *testing.T) {
		h := recoverytest.New(t)
		stuck := stuckAlarm(h, "prod", "prod-errors", "INC-FIX", h.Clock.Now().Add(-20*time.Minute))
		h.Submit(t, stuck)
		in := mustOpen(t, h, stuck)
		if a := mustAlert(t, h, in.ID); a.Scenario != recovery.AlarmWontClear || a.Env != "prod" || a.AlarmName != "prod-errors" || a.SourceKey != "alarm-stuck:prod-errors:INC-FIX" {
			t.Fatalf("alert: got %s in %s alarm %q source %q, want %s in prod alarm prod-errors source alarm-stuck:prod-errors:INC-FIX", a.Scenario, a.Env, a.AlarmName, a.SourceKey, recovery.AlarmWontClear)
		}
	})
	t.Run("the alarm belongs to a deploy incident", func(t *testing.T) {
		h := recoverytest.New(t)
		deploy := h.FailJob(t, recovery.JobDeployProd)
		alarm := h.FiringAlarm("prod", "prod-errors")
		h.Submit(t, alarm)
		stuck := stuckAlarm(h, "prod", "prod-errors", deploy.ID, alarm.Alarm.Since)
		h.Submit(t, stuck)
		in := mustOpen(t, h, stuck)
		if in.ID == deploy.ID || in.Scenario != recovery.AlarmWontClear {
			t.Fatalf("the stuck alarm: got %s %s, want an incident of its own (not %s)", in.ID, in.Scenario, deploy.ID)
		}
		if got := h.Incident(t, deploy.ID).Scenario; got != recovery.ProdDeployFail {
			t.Fatalf("the deploy incident: got %s, want still %s", got, recovery.ProdDeployFail)
		}
	})
}

// An alarm of an incident back to OK is said in its thread (and the audit log), once;
// an incident resolved meanwhile hears nothing.
func TestEngineAlarmClearedIsNoted(t *testing.T) {
	h := recoverytest.New(t)
	alarm := h.FiringAlarm("prod", "prod-errors")
	h.Submit(t, alarm)
	in := mustOpen(t, h, alarm)
	a := *alarm.Alarm
	cleared := recovery.Signal{Kind: recovery.SignalAlarmCleared, Via: "alarm-poll", Env: "prod", Alarm: &a, IncidentID: in.ID}
	h.Submit(t, cleared)
	h.Submit(t, cleared)
	if got := notesSaying(h, in.ID, ":white_check_mark: prod-errors is no longer in ALARM."); got != 1 {
		t.Fatalf("cleared notes: got %d, want 1; thread %q", got, h.Publisher.Texts(in.ID))
	}
	if got := h.AuditActions(t, in.ID); !slices.Contains(got, "alarm.cleared") {
		t.Fatalf("audit: got %v, want alarm.cleared", got)
	}

	// Merged into a deploy's incident, the alarm incident is resolved.
	h.FailJob(t, recovery.JobDeployProd)
	if got := h.Incident(t, in.ID).Status; got != recovery.IncidentResolved {
		t.Fatalf("alarm incident: got %s, want resolved", got)
	}
	notes := len(h.Publisher.Notes(in.ID))
	b := *alarm.Alarm
	b.Name = "prod-latency"
	h.Submit(t, recovery.Signal{Kind: recovery.SignalAlarmCleared, Via: "alarm-poll", Env: "prod", Alarm: &b, IncidentID: in.ID})
	if got := len(h.Publisher.Notes(in.ID)); got != notes {
		t.Fatalf("notes of the resolved incident: got %d, want still %d; thread %q", got, notes, h.Publisher.Texts(in.ID))
	}
}
