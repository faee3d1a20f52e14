package recovery_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// resResolve resolves an incident as user and fails the test unless medic says so.
func resResolve(t *testing.T, h *recoverytest.Harness, id, user, note string) {
	t.Helper()
	reply, err := h.Resolve(t, id, user, note)
	if want := "You resolved " + id + ". The post-incident checklist and the report are in its thread."; err != nil || reply != want {
		t.Fatalf("resolving %s as %s: got %q, %v; want %q", id, user, reply, err, want)
	}
}

// resReport returns the report note of an incident's thread (the last one).
func resReport(t *testing.T, h *recoverytest.Harness, id string) recovery.Note {
	t.Helper()
	notes := escNotes(h, id, "Incident report of "+id)
	if len(notes) == 0 {
		t.Fatalf("thread of %s: no report; got %q", id, h.Publisher.Texts(id))
	}
	return notes[len(notes)-1]
}

// resRow returns the value of a row of the report's summary table ("" when absent).
func resRow(report, key string) string {
	for _, line := range strings.Split(report, "\n") {
		if v, ok := strings.CutPrefix(line, "| "+key+" | "); ok {
			return strings.TrimSuffix(v, " |")
		}
	}
	return ""
}

// resSection returns the lines of a report's section ("## Who did what") up to the
// next one, blank lines left out.
func resSection(report, title string) []string {
	_, rest, ok := strings.Cut(report, "\n## "+title+"\n")
	if !ok {
		return nil
	}
	rest, _, _ = strings.Cut(rest, "\n## ")
	var out []string
	for _, l := range strings.Split(rest, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Who may resolve: a responder (also through the on-call group); anyone else is
// refused, audited, and the incident stays open. An incident not on record is said so.
func TestResolveWhoMay(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	_, err := h.Resolve(t, in.ID, recoverytest.Outsider, "")
	if msg, want := recoverytest.UserMessage(err), "You need the *responder* role for prod to resolve an incident (config: access.roles). Nothing was done."; msg != want {
		t.Fatalf("resolving as %s: got %q (%v), want %q", recoverytest.Outsider, msg, err, want)
	}
	if got := h.Incident(t, in.ID).Status; got != recovery.IncidentOpen {
		t.Fatalf("incident after the refusal: got %s, want open", got)
	}
	if got := escCount(t, h, in.ID, "refused"); got != 1 {
		t.Fatalf("audit: got %d refused, want 1", got)
	}
	if _, ok := h.Publisher.Checklist(in.ID); ok {
		t.Fatal("a checklist was posted after the refusal")
	}
	_, err = h.Resolve(t, "INC-NOPE", recoverytest.Requester, "")
	if msg := recoverytest.UserMessage(err); msg != "Incident INC-NOPE is not on record." {
		t.Fatalf("resolving an unknown incident: got %q (%v)", msg, err)
	}
	resResolve(t, h, in.ID, recoverytest.GroupMember, "")
	if got := h.Incident(t, in.ID); got.Status != recovery.IncidentResolved || got.Resolution.By != recoverytest.GroupMember {
		t.Fatalf("incident: got %s by %q, want resolved by %s", got.Status, got.Resolution.By, recoverytest.GroupMember)
	}
}

// Resolving says so in the thread (with the note, redacted, and whether medic saw a
// verified fix), shows the alert resolved, posts the runbook's post-incident
// checklist (its message recorded) and the report with a button to file it; a
// second resolve changes nothing and says who resolved it and when.
func TestResolvePostsTheChecklistAndTheReport(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.Advance(5 * time.Minute)
	resResolve(t, h, in.ID, recoverytest.Requester, "  rolled back by hand, password=hunter2  ")

	if a, _ := h.Publisher.Alert(in.ID); a.Status != recovery.IncidentResolved {
		t.Fatalf("alert: got %s, want resolved", a.Status)
	}
	want := ":white_check_mark: Resolved by " + recoverytest.Requester + ". rolled back by hand, password=[REDACTED] (medic saw no verified fix.)"
	if got := escNote(h, in.ID, "Resolved by"); !slices.Equal(got, []string{want}) {
		t.Fatalf("thread: got %q, want %q", got, want)
	}
	shown, ok := h.Publisher.Checklist(in.ID)
	if !ok {
		t.Fatalf("no checklist posted; posts: %q", h.Publisher.Texts(in.ID))
	}
	var items []string
	for _, it := range shown.Resolution.Checklist {
		if it.Done {
			t.Fatalf("checklist item %q: done when posted", it.Text)
		}
		items = append(items, it.Text)
	}
	if !slices.Equal(items, recovery.DefaultChecklist()) || len(items) != 7 {
		t.Fatalf("checklist: got %q, want the runbook's %q", items, recovery.DefaultChecklist())
	}
	var ts string
	for _, p := range h.Publisher.Posts() {
		if p.Method == "PostChecklist" {
			ts = p.TS
		}
	}
	if got := h.Incident(t, in.ID).Resolution; got.ChecklistTS != ts || ts == "" || got.By != recoverytest.Requester || !got.At.Equal(recoverytest.Start.Add(5*time.Minute)) {
		t.Fatalf("resolution: got checklist %q, by %q at %v; want checklist %q, by %s at %v", got.ChecklistTS, got.By, got.At, ts, recoverytest.Requester, recoverytest.Start.Add(5*time.Minute))
	}
	report := resReport(t, h, in.ID)
	if report.Title != "report.md" || !report.Whole || !strings.HasPrefix(report.Detail, "# "+in.ID+": Production deployment failed (prod)\n") {
		t.Fatalf("report note: got title %q, whole %v, %q…", report.Title, report.Whole, firstLineOf(report.Detail))
	}
	wantButton := []recovery.Button{{Label: "Create GitHub issue", ID: recovery.ButtonID(recovery.ActCreateIssue), Value: in.ID}}
	if !slices.Equal(report.Buttons, wantButton) {
		t.Fatalf("report buttons: got %+v, want %+v", report.Buttons, wantButton)
	}
	var audited map[string]string
	for _, a := range h.Audit(t, in.ID) {
		if a.Action == "incident.resolved" {
			audited = a.Detail
		}
	}
	if audited["note"] != "rolled back by hand, password=[REDACTED]" || audited["fixed"] != "false" {
		t.Fatalf("audit of the resolution: got %v", audited)
	}

	notes := len(h.Publisher.Notes(in.ID))
	h.Advance(time.Minute)
	reply, err := h.Resolve(t, in.ID, recoverytest.Approver, "again")
	if want := "Incident " + in.ID + " was resolved by <@" + recoverytest.Requester + "> at 09:05 UTC."; err != nil || reply != want {
		t.Fatalf("resolving again: got %q, %v; want %q", reply, err, want)
	}
	if got := len(h.Publisher.Notes(in.ID)); got != notes {
		t.Fatalf("thread notes after resolving again: got %d, want still %d", got, notes)
	}
	if got := h.Incident(t, in.ID).Resolution.By; got != recoverytest.Requester {
		t.Fatalf("resolved by after resolving again: got %q, want %s", got, recoverytest.Requester)
	}
}

func firstLineOf(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// A fix medic saw (the pipeline's rollback succeeded) is said: no "no verified fix".
func TestResolveAfterAVerifiedFix(t *testing.T) {
	h := recoverytest.New(t)
	sig := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, sig)
	in := h.Publisher.Alerts()[0]
	h.Submit(t, h.JobOf(*sig.Run, recovery.JobRollback, "success"))
	resResolve(t, h, in.ID, recoverytest.Requester, "")
	want := ":white_check_mark: Resolved by " + recoverytest.Requester + "."
	if got := escNote(h, in.ID, "Resolved by"); !slices.Equal(got, []string{want}) {
		t.Fatalf("thread: got %q, want %q", got, want)
	}
}

// Config's checklist replaces the runbook's; without an issue tracker the report has
// no button and the follow-up issue is refused as not configured.
func TestResolveWithConfiguredChecklistAndNoIssues(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		d.Resolution.Checklist = []string{"Tell the customers", "Write the report"}
		d.Resolution.Issues = nil
	}))
	in := h.FailJob(t, recovery.JobDeployPreprod)
	resResolve(t, h, in.ID, recoverytest.Requester, "")
	shown, _ := h.Publisher.Checklist(in.ID)
	var items []string
	for _, it := range shown.Resolution.Checklist {
		items = append(items, it.Text)
	}
	if want := []string{"Tell the customers", "Write the report"}; !slices.Equal(items, want) {
		t.Fatalf("checklist: got %q, want %q", items, want)
	}
	if b := resReport(t, h, in.ID).Buttons; len(b) != 0 {
		t.Fatalf("report buttons: got %+v, want none", b)
	}
	_, err := h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester)
	if msg := recoverytest.UserMessage(err); msg != "Filing issues is not configured on this medic." {
		t.Fatalf("filing the issue: got %q (%v)", msg, err)
	}
}

// Resolving stops the escalation and tells PagerDuty, when it was paged; when only
// Slack was paged, PagerDuty hears nothing.
func TestResolveStopsTheEscalation(t *testing.T) {
	t.Run("PagerDuty paged", func(t *testing.T) {
		h := recoverytest.New(t)
		in := h.FailJob(t, recovery.JobDeployProd)
		h.Advance(15 * time.Minute)
		escRound(t, h)
		h.Advance(time.Minute)
		resResolve(t, h, in.ID, recoverytest.Approver, "")
		for _, d := range []time.Duration{15 * time.Minute, time.Hour} {
			h.Advance(d)
			escRound(t, h)
		}
		if got := escLevels(escKind(h.PagerDuty, recovery.PageTrigger)); !slices.Equal(got, []string{"oncall"}) {
			t.Fatalf("PagerDuty triggers: got %v, want only the first page", got)
		}
		res := escKind(h.PagerDuty, recovery.PageResolve)
		if len(res) != 1 || res[0].Page.ID != in.ID+"#resolve/pagerduty" || res[0].Page.By != recoverytest.Approver || !res[0].At.Equal(recoverytest.Start.Add(16*time.Minute)) {
			t.Fatalf("PagerDuty resolutions: got %+v, want one %s#resolve/pagerduty by %s at once", res, in.ID, recoverytest.Approver)
		}
		if line := escLine(t, h, in.ID); strings.Contains(line, "unless acknowledged") {
			t.Fatalf("alert's line: got %q, want nothing next", line)
		}
	})
	t.Run("only Slack paged", func(t *testing.T) {
		h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
			for i, r := range d.Escalation.Policy.Matrix {
				if r.Name == "Dev tests fail" {
					d.Escalation.Policy.Matrix[i] = recovery.MatrixRow{Name: "Dev", Envs: []string{"dev"}, Response: time.Minute, Path: [][]string{{"developers"}}}
				}
			}
		}))
		in := h.FailJob(t, recovery.JobTestsDev)
		h.Advance(time.Minute)
		escRound(t, h)
		if got := escKind(h.SlackPager, recovery.PageTrigger); len(got) != 1 {
			t.Fatalf("Slack pages: got %d, want 1", len(got))
		}
		resResolve(t, h, in.ID, recoverytest.Requester, "")
		h.Advance(time.Hour)
		escRound(t, h)
		if got := h.PagerDuty.Sends(); len(got) != 0 {
			t.Fatalf("PagerDuty sends: got %+v, want none (it was never paged)", got)
		}
		if got := escKind(h.SlackPager, recovery.PageTrigger); len(got) != 1 {
			t.Fatalf("Slack pages after resolving: got %d, want still 1", len(got))
		}
	})
}

// An incident whose alert never went out resolves without a checklist message (it
// would have no thread); an alarm incident folded into a pipeline one is resolved
// already, by nobody.
func TestResolveWithoutAThreadAndWhenMerged(t *testing.T) {
	h := recoverytest.New(t)
	h.Publisher.FailNext("PostAlert", 2, nil) // when opened, and again when resolved
	in := h.FailJob(t, recovery.JobDeployPreprod)
	if got := h.Incident(t, in.ID).MessageTS; got != "" {
		t.Fatalf("alert: posted as %q, want not posted", got)
	}
	resResolve(t, h, in.ID, recoverytest.Requester, "")
	if _, ok := h.Publisher.Checklist(in.ID); ok {
		t.Fatal("a checklist was posted for an incident without a thread")
	}

	alarm := h.FiringAlarm("prod", "prod-dashboard-errors")
	h.Submit(t, alarm)
	a, err := h.Store.OpenIncidentBySource(t.Context(), alarm.SourceKey())
	if err != nil {
		t.Fatal(err)
	}
	pipeline := h.FailJob(t, recovery.JobDeployProd)
	if got := h.Incident(t, a.ID); got.MergedInto != pipeline.ID {
		t.Fatalf("alarm incident: merged into %q, want %s", got.MergedInto, pipeline.ID)
	}
	reply, err := h.Resolve(t, a.ID, recoverytest.Requester, "")
	if want := "Incident " + a.ID + " is resolved already."; err != nil || reply != want {
		t.Fatalf("resolving the merged incident: got %q, %v; want %q", reply, err, want)
	}
}

// Ticking the checklist: each change is recorded with who and when, audited and
// shown; the reply counts what is left; unknown indexes are ignored; someone without
// the role is refused and the checklist shown as stored again (Slack ticked the box
// on their screen).
func TestResolveChecklist(t *testing.T) {
	h := recoverytest.New(t)
	h.Slack.SetName(recoverytest.Requester, "alice")
	in := h.FailJob(t, recovery.JobDeployProd)
	resResolve(t, h, in.ID, recoverytest.Requester, "")
	h.Advance(10 * time.Minute)
	items := recovery.DefaultChecklist()

	reply, err := h.Engine.SetChecklist(t.Context(), in.ID, recoverytest.Requester, []string{"0", "2", "x", "99"})
	if err != nil || reply != "Checklist saved: 5 item(s) left." {
		t.Fatalf("ticking 0 and 2: got %q, %v", reply, err)
	}
	shown, _ := h.Publisher.Checklist(in.ID)
	for i, it := range shown.Resolution.Checklist {
		done := i == 0 || i == 2
		if it.Done != done || (done && (it.By != recoverytest.Requester || !it.At.Equal(recoverytest.Start.Add(10*time.Minute)))) {
			t.Fatalf("item %d shown: got done %v by %q at %v, want done %v", i, it.Done, it.By, it.At, done)
		}
	}
	h.Advance(time.Minute)
	if reply, err = h.Engine.SetChecklist(t.Context(), in.ID, recoverytest.Approver, []string{"2"}); err != nil || reply != "Checklist saved: 6 item(s) left." {
		t.Fatalf("unticking 0: got %q, %v", reply, err)
	}
	var changes []string
	for _, a := range h.Audit(t, in.ID) {
		if strings.HasPrefix(a.Action, "checklist.") {
			changes = append(changes, a.Actor+" "+a.Action+" "+a.Detail["item"])
		}
	}
	want := []string{
		recoverytest.Requester + " checklist.checked " + items[0],
		recoverytest.Requester + " checklist.checked " + items[2],
		recoverytest.Approver + " checklist.unchecked " + items[0],
	}
	if !slices.Equal(changes, want) {
		t.Fatalf("audit: got %q, want %q", changes, want)
	}
	report, err := h.Engine.Report(t.Context(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	checklist := resSection(report, "Post-incident checklist")
	if len(checklist) != 7 || checklist[0] != "- [ ] "+items[0] || checklist[2] != "- [x] "+items[2]+" (alice, 2026-03-02 09:10 UTC)" {
		t.Fatalf("report's checklist: got %q", checklist)
	}

	updates := len(h.Publisher.CallsTo("UpdateChecklist"))
	_, err = h.Engine.SetChecklist(t.Context(), in.ID, recoverytest.Outsider, []string{"0", "1", "2", "3", "4", "5", "6"})
	if msg := recoverytest.UserMessage(err); !strings.Contains(msg, "to tick the checklist") {
		t.Fatalf("ticking as %s: got %q (%v), want refused", recoverytest.Outsider, msg, err)
	}
	if got := len(h.Publisher.CallsTo("UpdateChecklist")); got != updates+1 {
		t.Fatalf("checklist updates after the refusal: got %d, want %d (shown as stored again)", got, updates+1)
	}
	shown, _ = h.Publisher.Checklist(in.ID)
	if left := slices.IndexFunc(shown.Resolution.Checklist, func(it recovery.ChecklistItem) bool { return it.Done }); left != 2 {
		t.Fatalf("checklist shown after the refusal: first done item %d, want 2 (as stored)", left)
	}

	all := []string{"0", "1", "2", "3", "4", "5", "6"}
	if reply, err = h.Engine.SetChecklist(t.Context(), in.ID, recoverytest.Requester, all[1:]); err != nil || reply != "Checklist saved: 1 item(s) left." {
		t.Fatalf("ticking all but one: got %q, %v", reply, err)
	}
	if reply, err = h.Engine.SetChecklist(t.Context(), in.ID, recoverytest.Requester, all); err != nil || reply != "Checklist complete." {
		t.Fatalf("ticking all: got %q, %v", reply, err)
	}
	if _, err := h.Engine.SetChecklist(t.Context(), "INC-NOPE", recoverytest.Requester, all); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("ticking an unknown incident's checklist: got %v, want ErrNotFound", err)
	}
}

// The report's figures are measured from what happened: time to acknowledge from the
// first acknowledgement in the audit (a later one after the row changed does not
// reset it), time to recover to the fix medic saw, who did what from the audit, with
// people named, never @-mentioned.
func TestResolveReportFigures(t *testing.T) {
	h := recoverytest.New(t)
	h.Slack.SetName(recoverytest.Requester, "@alice")
	h.Slack.SetName(recoverytest.Approver, "bob")
	sig := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, sig)
	in := h.Publisher.Alerts()[0]

	h.Advance(3*time.Minute + 20*time.Second)
	if _, err := h.Acknowledge(t, in.ID, recoverytest.Requester); err != nil {
		t.Fatal(err)
	}
	h.Advance(2 * time.Minute)
	h.Submit(t, h.JobOf(*sig.Run, recovery.JobRollback, "failure")) // the row changes: acknowledge again
	h.Advance(time.Minute)
	if _, err := h.Acknowledge(t, in.ID, recoverytest.Approver); err != nil {
		t.Fatal(err)
	}
	job := h.Approved(t, in.ID, recovery.ActEmergencyRollback)
	if job = h.WaitJob(t, job.ID); job.State != recovery.JobSucceeded {
		t.Fatalf("job %s: got %s (%s), want succeeded", job.ID, job.State, job.Error)
	}
	fixed := h.Incident(t, in.ID).FixedAt
	if !fixed.Equal(recoverytest.Start.Add(6*time.Minute + 20*time.Second)) {
		t.Fatalf("fixed at %v, want when the job succeeded", fixed)
	}
	h.Advance(10 * time.Minute)
	resResolve(t, h, in.ID, recoverytest.Approver, "prod back on the last good version")

	report := resReport(t, h, in.ID).Detail
	rows := map[string]string{
		"Acknowledged":        "2026-03-02 09:06 UTC by bob",
		"Resolved":            "2026-03-02 09:16 UTC by bob",
		"Time to acknowledge": "3m",
		"Time to recover":     "6m",
		"Scenario":            "Production rollback failed (scenario 6)",
		"Escalation":          "Prod fail (auto-rollback fails)",
	}
	for k, want := range rows {
		if got := resRow(report, k); got != want {
			t.Errorf("report row %q: got %q, want %q", k, got, want)
		}
	}
	who := resSection(report, "Who did what")
	want := []string{
		"- @\u2060alice: acknowledged; requested Emergency Terraform rollback",
		"- bob: acknowledged; approved Emergency Terraform rollback; resolved",
	}
	if !slices.Equal(who, want) {
		t.Errorf("who did what: got %q, want %q", who, want)
	}
	if strings.Contains(report, "@alice") || strings.Contains(report, "<@") {
		t.Errorf("report @-mentions someone:\n%s", report)
	}
	if t.Failed() {
		t.Logf("report:\n%s", report)
	}
}

// Without a verified fix, the time to recover runs to the resolution and says so;
// never acknowledged says never.
func TestResolveReportWithoutAFix(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployPreprod)
	h.Advance(42 * time.Minute)
	resResolve(t, h, in.ID, recoverytest.Requester, "")
	report := resReport(t, h, in.ID).Detail
	for k, want := range map[string]string{
		"Acknowledged":        "never",
		"Time to acknowledge": "",
		"Time to recover":     "42m (to resolution; no verified fix recorded)",
	} {
		if got := resRow(report, k); got != want {
			t.Errorf("report row %q: got %q, want %q", k, got, want)
		}
	}
}

// The follow-up issue is filed once: the report (people named, the note redacted)
// with the incident's marker, titled and labelled, said in the thread and audited; a
// second click gives its link and files nothing.
func TestResolveFollowUpIssueFiledOnce(t *testing.T) {
	h := recoverytest.New(t)
	h.Slack.SetName(recoverytest.Requester, "@alice <b>")
	in := h.FailJob(t, recovery.JobDeployProd)
	resResolve(t, h, in.ID, recoverytest.Requester, "restarted it; token password=hunter2")

	report, err := h.Engine.Report(t.Context(), in.ID) // the report as it stands when filed
	if err != nil {
		t.Fatal(err)
	}
	reply, err := h.Act(t, in.ID, recovery.ActCreateIssue, recoverytest.Requester) // the report's button
	if err != nil || reply != "Filed #1: https://github.test/issues/1" {
		t.Fatalf("filing: got %q, %v", reply, err)
	}
	issues := h.GitHub.Issues()
	if len(issues) != 1 {
		t.Fatalf("issues: got %d, want 1", len(issues))
	}
	is := issues[0]
	if want := "Follow-up of " + in.ID + ": Production deployment failed (prod)"; is.Title != want || !slices.Equal(is.Labels, []string{"incident", "medic"}) {
		t.Fatalf("issue: got %q labelled %v, want %q labelled [incident medic]", is.Title, is.Labels, want)
	}
	if want := report + "\n\n<!-- medic-incident: " + in.ID + " -->\n"; is.Body != want {
		t.Fatalf("issue body: got\n%s\nwant the report and the marker:\n%s", is.Body, want)
	}
	if strings.Contains(is.Body, "hunter2") || !strings.Contains(is.Body, "password=\\[REDACTED\\]") {
		t.Fatalf("issue body: the note is not redacted:\n%s", is.Body)
	}
	if !strings.Contains(is.Body, "@\u2060alice &lt;b&gt;") || strings.Contains(is.Body, "@alice") || strings.Contains(is.Body, recoverytest.Requester) {
		t.Fatalf("issue body: want alice named, not mentioned nor by her ID:\n%s", is.Body)
	}
	filed := escNotes(h, in.ID, "Follow-up issue #1 filed by")
	if len(filed) != 1 || recoverytest.Plain(filed[0]) != ":memo: Follow-up issue #1 filed by "+recoverytest.Requester+".\nhttps://github.test/issues/1" || filed[0].LinkText != "#1" {
		t.Fatalf("thread: got %q, want one note linking #1", h.Publisher.Texts(in.ID))
	}
	var audited []string
	for _, a := range h.Audit(t, in.ID) {
		if a.Action == "incident.issue" {
			audited = append(audited, a.Detail["issue"]+" "+a.Detail["url"]+" existing="+a.Detail["existing"])
		}
	}
	if want := []string{"1 https://github.test/issues/1 existing=false"}; !slices.Equal(audited, want) {
		t.Fatalf("audit: got %q, want %q", audited, want)
	}

	reply, err = h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Approver)
	if want := "The follow-up issue of " + in.ID + " is #1: https://github.test/issues/1"; err != nil || reply != want {
		t.Fatalf("second click: got %q, %v; want %q", reply, err, want)
	}
	if got := len(h.GitHub.CallsTo("CreateIssue")); got != 1 {
		t.Fatalf("CreateIssue calls: got %d, want 1", got)
	}
}

// A double click files one issue: the second click, while the first is filing, is
// told the link comes in the thread.
func TestResolveFollowUpIssueDoubleClick(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	resResolve(t, h, in.ID, recoverytest.Requester, "")
	filing, release := make(chan struct{}), make(chan struct{})
	letGo := sync.OnceFunc(func() { close(release) })
	t.Cleanup(letGo) // a failing test does not leave the first click waiting
	var calls atomic.Int32
	h.GitHub.CreateIssueFunc = func(context.Context, string, string, []string) (int, string, error) {
		if calls.Add(1) == 1 { // the first click's call waits
			close(filing)
			<-release
		}
		return 7, "https://github.test/issues/7", nil
	}
	type result struct {
		reply string
		err   error
	}
	firstClick := make(chan result, 1)
	go func() {
		r, err := h.Engine.CreateFollowUpIssue(context.Background(), in.ID, recoverytest.Requester)
		firstClick <- result{r, err}
	}()
	select {
	case <-filing:
	case <-time.After(recoverytest.WaitTimeout):
		t.Fatal("the first click did not file within the wait")
	}
	reply, err := h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester)
	if want := "The follow-up issue of " + in.ID + " is being filed; its link comes in the thread."; err != nil || reply != want {
		t.Fatalf("second click: got %q, %v; want %q", reply, err, want)
	}
	letGo()
	var r result
	select {
	case r = <-firstClick:
	case <-time.After(recoverytest.WaitTimeout):
		t.Fatal("the first click did not return")
	}
	if r.err != nil || r.reply != "Filed #7: https://github.test/issues/7" {
		t.Fatalf("first click: got %q, %v", r.reply, r.err)
	}
	if got := len(h.GitHub.CallsTo("CreateIssue")); got != 1 {
		t.Fatalf("CreateIssue calls: got %d, want 1", got)
	}
	if reply, _ := h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester); !strings.HasSuffix(reply, "is #7: https://github.test/issues/7") {
		t.Fatalf("third click: got %q, want #7's link", reply)
	}
}

// An issue already on GitHub with the incident's marker (filed by another replica
// whose record was lost) is found and recorded, not filed twice.
func TestResolveFollowUpIssueFoundAgain(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	resResolve(t, h, in.ID, recoverytest.Requester, "")
	if _, _, err := h.GitHub.CreateIssue(t.Context(), "earlier", "report\n\n<!-- medic-incident: "+in.ID+" -->\n", []string{"incident", "medic"}); err != nil {
		t.Fatal(err)
	}
	reply, err := h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester)
	if err != nil || reply != "Filed #1: https://github.test/issues/1" {
		t.Fatalf("filing: got %q, %v", reply, err)
	}
	if got := len(h.GitHub.Issues()); got != 1 {
		t.Fatalf("issues: got %d, want the one found", got)
	}
	if got := h.Incident(t, in.ID).Resolution; got.IssueNumber != 1 || got.IssueURL != "https://github.test/issues/1" {
		t.Fatalf("resolution: got #%d %q, want #1 recorded", got.IssueNumber, got.IssueURL)
	}
	for _, a := range h.Audit(t, in.ID) {
		if a.Action == "incident.issue" && a.Detail["existing"] != "true" {
			t.Fatalf("audit: got %v, want existing=true", a.Detail)
		}
	}
}

// When GitHub fails, the user is told to try again, the thread says why (redacted),
// and the next click files it.
func TestResolveFollowUpIssueFailuresLetTheNextClickTry(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	resResolve(t, h, in.ID, recoverytest.Requester, "")

	h.GitHub.FindIssueFunc = func(context.Context, string, []string) (int, string, bool, error) {
		return 0, "", false, errors.New("github: 502 bad gateway")
	}
	_, err := h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester)
	if err == nil || err.Error() != "looking for an earlier issue of "+in.ID+": github: 502 bad gateway" {
		t.Fatalf("filing while search fails: got %v", err)
	}
	h.GitHub.FindIssueFunc = nil

	h.GitHub.CreateIssueFunc = func(context.Context, string, string, []string) (int, string, error) {
		return 0, "", errors.New("422 validation failed password=hunter2")
	}
	_, err = h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester)
	if msg := recoverytest.UserMessage(err); !strings.HasPrefix(msg, "GitHub did not take the issue: ") || !strings.HasSuffix(msg, ". Try again.") {
		t.Fatalf("filing while GitHub refuses: got %q (%v)", msg, err)
	}
	if got := escNote(h, in.ID, "Could not file the follow-up issue"); !slices.Equal(got, []string{":x: Could not file the follow-up issue: 422 validation failed password=[REDACTED]"}) {
		t.Fatalf("thread: got %q", got)
	}
	h.GitHub.CreateIssueFunc = nil

	reply, err := h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester)
	if err != nil || reply != "Filed #1: https://github.test/issues/1" {
		t.Fatalf("the next click: got %q, %v; want filed", reply, err)
	}

	_, err = h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Outsider)
	if msg := recoverytest.UserMessage(err); !strings.Contains(msg, "to file the follow-up issue") {
		t.Fatalf("filing as %s: got %q (%v), want refused", recoverytest.Outsider, msg, err)
	}
	if _, err := h.Engine.CreateFollowUpIssue(t.Context(), "INC-NOPE", recoverytest.Requester); !errors.Is(err, recovery.ErrNotFound) {
		t.Fatalf("filing for an unknown incident: got %v, want ErrNotFound", err)
	}
}

// The audit log of an incident, oldest first; an audit log that cannot be read says
// so, and resolving then posts no report.
func TestResolveAuditOf(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.Advance(time.Minute)
	if _, err := h.Acknowledge(t, in.ID, recoverytest.Requester); err != nil {
		t.Fatal(err)
	}
	entries, err := h.Engine.AuditOf(t.Context(), in.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.At.Format("15:04")+" "+e.Actor+" "+e.Action+" "+e.IncidentID+" "+e.Env)
	}
	want := []string{
		"09:00 medic incident.opened " + in.ID + " prod",
		"09:00 medic incident.alerted " + in.ID + " prod",
		"09:01 " + recoverytest.Requester + " action.ack " + in.ID + " prod",
		"09:01 " + recoverytest.Requester + " incident.acknowledged " + in.ID + " prod",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit of %s: got %q, want %q", in.ID, got, want)
	}

	w := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Audit = resWriteOnlyAudit{d.Audit} }))
	in = w.FailJob(t, recovery.JobDeployProd)
	if _, err := w.Engine.AuditOf(t.Context(), in.ID); err == nil || err.Error() != "the audit log cannot be read here" {
		t.Fatalf("reading a write-only audit log: got %v", err)
	}
	resResolve(t, w, in.ID, recoverytest.Requester, "")
	if got := escNote(w, in.ID, "Incident report of"); len(got) != 0 {
		t.Fatalf("thread: got a report %q without an audit log to draw it from", got)
	}
	if _, err := w.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester); err == nil {
		t.Fatal("filing the follow-up issue without a report: got no error")
	}
	if got := len(w.GitHub.Issues()); got != 0 {
		t.Fatalf("issues: got %d, want 0", got)
	}
}

// resWriteOnlyAudit is an audit log medic can append to but not read.
type resWriteOnlyAudit struct{ a recovery.Auditor }

func (r resWriteOnlyAudit) AppendAudit(ctx context.Context, e recovery.AuditEntry) error {
	return r.a.AppendAudit(ctx, e)
}

// resUnlistable is an incident store that cannot list across environments.
type resUnlistable struct{ recovery.IncidentStore }

// /incident list: the open incidents, and those resolved that opened within the last
// 7 days (at 7 days still listed, a second later not), without those merged into
// another; an open incident is listed however old.
func TestResolveIncidentList(t *testing.T) {
	h := recoverytest.New(t)
	old := h.FailJob(t, recovery.JobDeployPreprod)
	done := h.FailJob(t, recovery.JobDeployProd)
	resResolve(t, h, done.ID, recoverytest.Requester, "")
	alarm := h.FiringAlarm("dev", "dev-errors")
	h.Submit(t, alarm)
	merged, _ := h.Store.OpenIncidentBySource(t.Context(), alarm.SourceKey())
	dev := h.FailJob(t, recovery.JobTestsDev) // folds the alarm incident in
	if got := h.Incident(t, merged.ID); got.MergedInto != dev.ID {
		t.Fatalf("alarm incident merged into %q, want %s", got.MergedInto, dev.ID)
	}

	ids := func(ins []recovery.Incident) []string {
		var out []string
		for _, in := range ins {
			out = append(out, in.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }

	h.Advance(7 * 24 * time.Hour)
	open, recent, err := h.Engine.IncidentList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(open), sorted(old.ID, dev.ID); !slices.Equal(got, want) {
		t.Fatalf("open at 7 days: got %v, want %v", got, want)
	}
	if got, want := ids(recent), []string{done.ID}; !slices.Equal(got, want) {
		t.Fatalf("recently resolved at 7 days: got %v, want %v (not the merged %s)", got, want, merged.ID)
	}
	h.Advance(time.Second)
	open, recent, err = h.Engine.IncidentList(t.Context())
	if err != nil || len(recent) != 0 || len(open) != 2 {
		t.Fatalf("7 days and 1 s later: got %v open and %v resolved (%v), want the 2 open only", ids(open), ids(recent), err)
	}

	u := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) { d.Incidents = resUnlistable{d.Incidents} }))
	if _, _, err := u.Engine.IncidentList(t.Context()); err == nil || err.Error() != "incidents cannot be listed here" {
		t.Fatalf("listing without a lister: got %v", err)
	}
}

// /incident show: an incident with its escalation line; one not on record says how
// to find them.
func TestResolveIncidentShow(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	got, err := h.Engine.Incident(t.Context(), in.ID)
	if err != nil || got.ID != in.ID || !strings.HasPrefix(got.EscalationLine, "Escalation: Prod fail (auto-rollback works)") {
		t.Fatalf("showing %s: got %s with line %q, %v", in.ID, got.ID, got.EscalationLine, err)
	}
	_, err = h.Engine.Incident(t.Context(), "INC-NOPE")
	if msg, want := recoverytest.UserMessage(err), "Incident INC-NOPE is not on record. `/incident list` shows the open and recent ones."; msg != want {
		t.Fatalf("showing an unknown incident: got %q (%v), want %q", msg, err, want)
	}
}

// The checklist's element IDs carry the incident and read back.
func TestResolveChecklistID(t *testing.T) {
	if got := recovery.ChecklistID("INC-1"); got != "checklist:INC-1" {
		t.Fatalf("ChecklistID: got %q", got)
	}
	tests := []struct {
		in, id string
		ok     bool
	}{
		{"checklist:INC-1", "INC-1", true},
		{recovery.ChecklistID("INC-ABC"), "INC-ABC", true},
		{"checklist:", "", false},
		{"approve:INC-1", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if id, ok := recovery.ParseChecklistID(tt.in); ok != tt.ok || (ok && id != tt.id) {
			t.Errorf("ParseChecklistID(%q): got %q, %v; want %q, %v", tt.in, id, ok, tt.id, tt.ok)
		}
	}
}

// The report's timeline and "who did what" say what each audited event meant: pages
// (levels by title, by their names without a policy), a page's first failure and its
// last (not the retries between), requests created, rejected, expired and approved,
// a job's failed step and its end with their errors, a cancel, a verification; an
// event the report does not know, and refusals, are left out; people's deeds once
// each, in the order they first acted, medic and people with no deed left out.
func TestResolveReportTimelineAndDeeds(t *testing.T) {
	t0 := recoverytest.Start
	in := recovery.Incident{ID: "INC-T", Title: "Production deployment failed", Env: "prod", Scenario: recovery.ProdDeployFail,
		Severity: recovery.SeverityHigh, OpenedAt: t0, Status: recovery.IncidentResolved}
	e := func(s int, actor, action, job string, d map[string]string) recovery.AuditEntry {
		return recovery.AuditEntry{At: t0.Add(time.Duration(s) * time.Second), Actor: actor, Action: action, JobID: job, IncidentID: in.ID, Env: "prod", Detail: d}
	}
	entries := []recovery.AuditEntry{
		e(1, "U0A", "incident.paged", "", map[string]string{"levels": "oncall,senior", "reason": "paged by U0A: db down"}),
		e(2, "medic", "page.failed", "", map[string]string{"pager": "pagerduty", "attempt": "1", "retry": "true", "error": "503"}),
		e(3, "medic", "page.failed", "", map[string]string{"pager": "pagerduty", "attempt": "2", "retry": "true", "error": "503"}),
		e(4, "medic", "page.failed", "", map[string]string{"pager": "slack", "attempt": "8", "retry": "false", "error": "timeout"}),
		e(5, "U0B", "incident.data_corruption", "", map[string]string{"reason": "dup rows"}),
		e(6, "U0A", "request.created", "", map[string]string{"action": "rollback", "request": "REQ-1", "reason": "bad deploy"}),
		e(7, "U0C", "request.rejected", "", map[string]string{"action": "rollback", "request": "REQ-1"}),
		e(8, "U0A", "request.created", "", map[string]string{"action": "made-up", "request": "REQ-2"}),
		e(9, "medic", "request.expired", "", map[string]string{"action": "rollback", "request": "REQ-2"}),
		e(10, "U0C", "request.approved", "", map[string]string{"action": "rollback", "request": "REQ-3"}),
		e(11, "U0C", "request.approved", "", map[string]string{"action": "rollback", "request": "REQ-4", "by": "U0C and U0E"}),
		e(12, "medic", "job.step", "JOB-1", map[string]string{"step": "terraform plan", "state": "succeeded"}),
		e(13, "medic", "job.step", "JOB-1", map[string]string{"step": "terraform apply", "state": "failed", "error": "exit 1"}),
		e(14, "medic", "job.failed", "JOB-1", map[string]string{"error": "apply failed"}),
		e(15, "medic", "job.cancelled", "JOB-2", nil),
		e(16, "U0B", "job.cancel.requested", "JOB-2", nil),
		e(17, "U0D", "action.verify", "", nil),
		e(18, "U0D", "refused", "", map[string]string{"what": "resolve"}),
		e(19, "medic", "alarm.cleared", "", map[string]string{"alarm": "prod-errors"}),
		e(20, "medic", "something.new", "", nil),
		e(21, "U0B", "incident.resolved", "", nil),
	}
	rollback, _ := recovery.ActionByID(recovery.ActRollback)
	p := recoverytest.RunbookEscalation()
	report := recovery.Report(in, entries, p, map[string]string{"U0A": "alice"})
	wantTimeline := []string{
		"| time | event | by |", "|---|---|---|",
		"| 09:00:01 | Paged on-call engineer and senior engineer: paged by U0A: db down | alice |",
		"| 09:00:02 | PagerDuty page failed (attempt 1): 503 | medic |",
		"| 09:00:04 | Slack page failed (attempt 8): timeout | medic |",
		"| 09:00:05 | Data corruption risk declared: dup rows | U0B |",
		"| 09:00:06 | Requested " + rollback.Label + " (REQ-1): bad deploy | alice |",
		"| 09:00:07 | Rejected REQ-1 (" + rollback.Label + ") | U0C |",
		"| 09:00:08 | Requested made-up (REQ-2) | alice |",
		"| 09:00:09 | REQ-2 (" + rollback.Label + ") expired without approval | medic |",
		"| 09:00:10 | Approved REQ-3 (" + rollback.Label + ") | U0C |",
		"| 09:00:11 | REQ-4 approved by U0C and U0E | U0C |",
		"| 09:00:12 | terraform plan: succeeded | medic |",
		"| 09:00:13 | terraform apply: failed (exit 1) | medic |",
		"| 09:00:14 | Job JOB-1 failed: apply failed | medic |",
		"| 09:00:15 | Job JOB-2 cancelled | medic |",
		"| 09:00:16 | Cancel of job JOB-2 requested | U0B |",
		"| 09:00:17 | Verification requested | U0D |",
		"| 09:00:19 | prod-errors back to OK | medic |",
		"| 09:00:21 | Resolved | U0B |",
	}
	if got := resSection(report, "Timeline (UTC)"); !slices.Equal(got, wantTimeline) {
		t.Errorf("timeline:\n got %q\nwant %q", got, wantTimeline)
	}
	wantWho := []string{
		"- alice: paged oncall + senior; requested " + rollback.Label + "; requested made-up",
		"- U0B: declared a data corruption risk; cancelled a job; resolved",
		"- U0C: rejected " + rollback.Label + "; approved " + rollback.Label,
	}
	if got := resSection(report, "Who did what"); !slices.Equal(got, wantWho) {
		t.Errorf("who did what:\n got %q\nwant %q", got, wantWho)
	}
	if strings.Contains(report, "## Post-incident checklist") {
		t.Errorf("report of an incident without a checklist has a checklist section:\n%s", report)
	}
	// Without a policy, levels go by their names.
	if got := resSection(recovery.Report(in, entries[:1], nil, nil), "Timeline (UTC)"); len(got) != 3 || got[2] != "| 09:00:01 | Paged oncall + senior: paged by U0A: db down | U0A |" {
		t.Errorf("timeline without a policy: got %q", got)
	}
	// Nobody acted: no "who did what".
	if got := recovery.Report(in, entries[1:4], p, nil); strings.Contains(got, "## Who did what") {
		t.Errorf("report without people's deeds has a who did what:\n%s", got)
	}
}

// Outside text in the report is inert Markdown: no HTML, entities kept as text, no
// emphasis, links or table cells of its own, no @-mention, no #123 reference.
func TestResolveReportOutsideTextIsInert(t *testing.T) {
	in := recovery.Incident{ID: "INC-T", Title: "a & b <!-- x --> *bold* [l](u) | c @here #12 _i_ `c` ~s~ !i \\",
		Env: "prod", OpenedAt: recoverytest.Start}
	got := firstLineOf(recovery.Report(in, nil, nil, nil))
	want := "# INC-T: a &amp; b &lt;\\!-- x --&gt; \\*bold\\* \\[l\\](u) \\| c @\u2060here #\u206012 \\_i\\_ \\`c\\` \\~s\\~ \\!i \\\\ (prod)"
	if got != want {
		t.Fatalf("title line:\n got %q\nwant %q", got, want)
	}
}

// resNoLetGo is a replica that cannot let go of its claim on filing an issue (its
// store went away after the claim): the claim neither completes nor is released.
type resNoLetGo struct{ recovery.WorkClaimer }

func (c resNoLetGo) CompleteWork(ctx context.Context, key string) error {
	if strings.HasPrefix(key, "issue:") {
		return nil
	}
	return c.WorkClaimer.CompleteWork(ctx, key)
}

func (c resNoLetGo) ReleaseWork(ctx context.Context, key string) error {
	if strings.HasPrefix(key, "issue:") {
		return nil
	}
	return c.WorkClaimer.ReleaseWork(ctx, key)
}

// A filing whose replica could not let go of its claim holds the button for 2
// minutes (a click then is told the issue is being filed), and no longer: a click a
// second later files it.
func TestResolveFollowUpIssueClaimLapsesAfterTwoMinutes(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	resResolve(t, h, in.ID, recoverytest.Requester, "")
	deps := h.Deps
	deps.Claims = resNoLetGo{deps.Claims}
	stuck, err := recovery.NewEngine(deps)
	if err != nil {
		t.Fatal(err)
	}
	h.GitHub.CreateIssueFunc = func(context.Context, string, string, []string) (int, string, error) {
		return 0, "", errors.New("github: 502 bad gateway")
	}
	if _, err := stuck.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Requester); recoverytest.UserMessage(err) == "" {
		t.Fatalf("filing while GitHub fails: got %v, want told to try again", err)
	}
	h.GitHub.CreateIssueFunc = nil

	h.Advance(2 * time.Minute)
	reply, err := h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Approver)
	if want := "The follow-up issue of " + in.ID + " is being filed; its link comes in the thread."; err != nil || reply != want {
		t.Fatalf("a click 2m after the stuck filing: got %q, %v; want %q", reply, err, want)
	}
	h.Advance(time.Second)
	reply, err = h.Engine.CreateFollowUpIssue(t.Context(), in.ID, recoverytest.Approver)
	if err != nil || reply != "Filed #1: https://github.test/issues/1" {
		t.Fatalf("a click 2m1s after the stuck filing: got %q, %v; want filed", reply, err)
	}
}
