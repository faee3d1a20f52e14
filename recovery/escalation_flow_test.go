package recovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// escRound runs one escalation round (pages due, then deliveries due), as medic's
// escalation loop does every 5 seconds.
func escRound(t *testing.T, h *recoverytest.Harness) {
	t.Helper()
	if err := h.Escalate(t); err != nil {
		t.Fatalf("escalation round at %v: %v", h.Clock.Now(), err)
	}
}

// escDeliver runs one delivery round (Engine.DeliverPages) alone: retries without
// the escalation timer paging anyone new.
func escDeliver(t *testing.T, h *recoverytest.Harness) {
	t.Helper()
	if err := h.Engine.DeliverPages(t.Context()); err != nil {
		t.Fatalf("delivering pages at %v: %v", h.Clock.Now(), err)
	}
}

// escKind returns the attempts of a pager's pages of one kind, in order.
func escKind(p *recoverytest.Pager, kind recovery.PageKind) []recoverytest.Send {
	var out []recoverytest.Send
	for _, s := range p.Sends() {
		if s.Page.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

// escLevels lists the levels of each send: "oncall", "cto+senior".
func escLevels(sends []recoverytest.Send) []string {
	var out []string
	for _, s := range sends {
		out = append(out, strings.Join(s.Levels, "+"))
	}
	return out
}

// escNoPages fails when either pager was asked for anything.
func escNoPages(t *testing.T, h *recoverytest.Harness, when string) {
	t.Helper()
	for _, p := range []*recoverytest.Pager{h.PagerDuty, h.SlackPager} {
		if got := p.Sends(); len(got) != 0 {
			t.Fatalf("%s: %s got %d sends (%v), want none", when, p.Name(), len(got), escLevels(got))
		}
	}
}

// escNote returns the thread notes of an incident containing text.
func escNote(h *recoverytest.Harness, incidentID, text string) []string {
	var out []string
	for _, s := range h.Publisher.Texts(incidentID) {
		if strings.Contains(s, text) {
			out = append(out, s)
		}
	}
	return out
}

// escNotes returns the thread notes of an incident whose text contains text.
func escNotes(h *recoverytest.Harness, incidentID, text string) []recovery.Note {
	var out []recovery.Note
	for _, n := range h.Publisher.Notes(incidentID) {
		if strings.Contains(recoverytest.Plain(n), text) {
			out = append(out, n)
		}
	}
	return out
}

// escLine is the escalation line of an incident's alert as it stands.
func escLine(t *testing.T, h *recoverytest.Harness, incidentID string) string {
	t.Helper()
	a, ok := h.Publisher.Alert(incidentID)
	if !ok {
		t.Fatalf("no alert posted for %s", incidentID)
	}
	return a.EscalationLine
}

// escCount counts the entries of an incident's audit log with action.
func escCount(t *testing.T, h *recoverytest.Harness, incidentID, action string) int {
	t.Helper()
	n := 0
	for _, a := range h.AuditActions(t, incidentID) {
		if a == action {
			n++
		}
	}
	return n
}

// escMembers records the Slack members of the levels each Slack page reached.
type escMembers struct {
	mu   sync.Mutex
	sent []string
}

func (m *escMembers) send(_ context.Context, _ recovery.Page, _ recovery.Incident, levels []recovery.Level) error {
	var who []string
	for _, l := range levels {
		who = append(who, l.Slack...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, strings.Join(who, "+"))
	return nil
}

func (m *escMembers) got() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sent)
}

// Each row of the runbook's escalation matrix: nothing is paged one second before its
// response deadline, its first level at the deadline (or at once for IMMEDIATE
// rows, which ask for a round through Wake), then each next level of its path one
// interval after the last page and never a moment before, the last level again
// every interval after that; each level pages its own people on both pagers.
func TestEscalationMatrixRowPagesEachLevelAtItsTime(t *testing.T) {
	members := map[string]string{"oncall": recoverytest.OnCallGroup, "devops": recoverytest.DevOpsGroup,
		"senior": recoverytest.Senior, "cto+senior": recoverytest.CTO + "+" + recoverytest.Senior}
	tests := []struct {
		row      string
		job      string
		response time.Duration
		first    string // the reason of the first page
		path     []string
	}{
		{"Prod fail (auto-rollback works)", recovery.JobDeployProd, 15 * time.Minute,
			"not acknowledged within 15m (Prod fail (auto-rollback works))", []string{"oncall", "senior"}},
		{"Preprod fail", recovery.JobDeployPreprod, time.Hour,
			"not acknowledged within 1h00m (Preprod fail)", []string{"devops", "oncall"}},
		{"Prod fail (auto-rollback fails)", recovery.JobRollback, 0,
			"Prod fail (auto-rollback fails): response IMMEDIATE", []string{"senior", "cto+senior"}},
	}
	for _, tt := range tests {
		t.Run(tt.row, func(t *testing.T) {
			h := recoverytest.New(t)
			slack := &escMembers{}
			h.SlackPager.SendFunc = slack.send
			in := h.FailJob(t, tt.job)
			if line, want := escLine(t, h, in.ID), "Escalation: "+tt.row+" (response "; !strings.HasPrefix(line, want) {
				t.Fatalf("alert's escalation line: got %q, want it to start %q", line, want)
			}
			first := recoverytest.Start
			if tt.response > 0 {
				if got := h.Wakes(); got != 0 {
					t.Fatalf("wakes after an alert due in %s: got %d, want 0", tt.response, got)
				}
				h.Advance(tt.response - time.Second)
				escRound(t, h)
				escNoPages(t, h, "1s before the response deadline")
				h.Advance(time.Second)
				first = recoverytest.Start.Add(tt.response)
			} else {
				if got := h.Wakes(); got < 1 {
					t.Fatalf("wakes after an IMMEDIATE alert: got %d, want at least 1", got)
				}
				escRound(t, h) // the round Wake asked for, the clock unmoved
			}
			// The first level, then the path's next steps, then its last step again.
			at := first
			for i := range 4 {
				if i > 0 {
					h.Advance(15*time.Minute - time.Second)
					escRound(t, h)
					if got := len(h.PagerDuty.Sends()); got != i {
						t.Fatalf("page %d: PagerDuty sends 1s before its time: got %d, want %d", i+1, got, i)
					}
					h.Advance(time.Second)
					at = at.Add(15 * time.Minute)
				}
				if i > 0 || tt.response > 0 {
					escRound(t, h)
				}
				level := tt.path[min(i, len(tt.path)-1)]
				reason := tt.first
				if i > 0 {
					reason = "still not acknowledged 15m after the last page (" + tt.row + ")"
				}
				for _, p := range []*recoverytest.Pager{h.PagerDuty, h.SlackPager} {
					sends := p.Sends()
					if len(sends) != i+1 {
						t.Fatalf("page %d: %s sends at %v: got %d (%v), want %d", i+1, p.Name(), h.Clock.Now(), len(sends), escLevels(sends), i+1)
					}
					s := sends[i]
					if got := strings.Join(s.Levels, "+"); got != level || !s.At.Equal(at) || s.Page.Reason != reason || s.Page.By != "medic" || s.Page.Seq != i+1 {
						t.Fatalf("page %d by %s: got %s at %v, %q by %s, #%d; want %s at %v, %q by medic, #%d",
							i+1, p.Name(), got, s.At, s.Page.Reason, s.Page.By, s.Page.Seq, level, at, reason, i+1)
					}
					if want := fmt.Sprintf("%s#%d/%s", in.ID, i+1, p.Name()); s.Page.ID != want || s.Incident.ID != in.ID {
						t.Fatalf("page %d by %s: got ID %s about %s, want %s about %s", i+1, p.Name(), s.Page.ID, s.Incident.ID, want, in.ID)
					}
				}
				if got := slack.got(); got[i] != members[level] {
					t.Fatalf("page %d: Slack paged %q, want %s's members %q", i+1, got[i], level, members[level])
				}
			}
			if got := escCount(t, h, in.ID, "incident.paged"); got != 4 {
				t.Fatalf("audit of %s: got %d incident.paged, want 4", in.ID, got)
			}
			if got := escCount(t, h, in.ID, "page.sent"); got != 8 {
				t.Fatalf("audit of %s: got %d page.sent, want 8 (4 pages on 2 pagers)", in.ID, got)
			}
		})
	}
}

// The alert says where the escalation stands: the row and its response time, who was
// paged last and when, and whom it pages next and when unless someone acknowledges.
func TestEscalationLineOnTheAlert(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	if got, want := escLine(t, h, in.ID), "Escalation: Prod fail (auto-rollback works) (response 15m) · pages on-call engineer at 09:15 UTC unless acknowledged"; got != want {
		t.Fatalf("line when opened: got %q, want %q", got, want)
	}
	h.Advance(15*time.Minute + time.Second)
	escRound(t, h)
	if got, want := escLine(t, h, in.ID), "Escalation: Prod fail (auto-rollback works) (response 15m) · paged on-call engineer at 09:15 UTC · pages senior engineer at 09:30 UTC unless acknowledged"; got != want {
		t.Fatalf("line after the first page: got %q, want %q", got, want)
	}
	if _, err := h.Acknowledge(t, in.ID, recoverytest.Requester); err != nil {
		t.Fatal(err)
	}
	if got, want := escLine(t, h, in.ID), "Escalation: Prod fail (auto-rollback works) (response 15m) · paged on-call engineer at 09:15 UTC"; got != want {
		t.Fatalf("line once acknowledged: got %q, want %q", got, want)
	}
	shown, err := h.Engine.Incident(t.Context(), in.ID) // /incident show
	if err != nil || shown.EscalationLine != escLine(t, h, in.ID) {
		t.Fatalf("/incident show: got %q (%v), want the alert's line %q", shown.EscalationLine, err, escLine(t, h, in.ID))
	}

	dev := h.FailJob(t, recovery.JobTestsDev)
	if got, want := escLine(t, h, dev.ID), "Escalation: Dev tests fail (response best effort)"; got != want {
		t.Fatalf("dev's line: got %q, want %q", got, want)
	}
}

// The dev row is best effort: nobody is ever paged, however long the failure waits.
func TestEscalationBestEffortRowNeverPages(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobTestsDev)
	for _, d := range []time.Duration{0, 15*time.Minute + time.Second, time.Hour, 24 * time.Hour} {
		h.Advance(d)
		escRound(t, h)
	}
	escNoPages(t, h, "a day after a dev failure")
	if got := h.Wakes(); got != 0 {
		t.Fatalf("wakes: got %d, want 0", got)
	}
	if got := escCount(t, h, in.ID, "incident.paged"); got != 0 {
		t.Fatalf("audit: got %d incident.paged, want 0", got)
	}
}

// An IMMEDIATE row's alert asks for an escalation round at once (EscalationDeps.Wake),
// and medic's rounds (recovery.Rounds) run it: the page goes out with the clock
// unmoved, no tick needed. An alert whose deadline is ahead asks for nothing.
func TestEscalationImmediateRowPagesThroughWakeWithoutATick(t *testing.T) {
	wake := make(chan struct{}, 1)
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		count := d.Escalation.Wake
		d.Escalation.Wake = func() {
			count()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}))
	ran := make(chan time.Time, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		recovery.Rounds(ctx, h.Clock, 5*time.Second, wake, nil, func(ctx context.Context) {
			_ = h.Engine.Escalate(ctx)
			ran <- h.Clock.Now()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	next := func(what string) time.Time {
		t.Helper()
		select {
		case at := <-ran:
			return at
		case <-time.After(recoverytest.WaitTimeout):
			t.Fatalf("no escalation round ran %s within %s", what, recoverytest.WaitTimeout)
			return time.Time{}
		}
	}
	next("at start")

	prod := h.FailJob(t, recovery.JobDeployProd) // 15 minutes to respond
	if got := h.Wakes(); got != 0 {
		t.Fatalf("wakes after a deploy failure due in 15m: got %d, want 0", got)
	}
	in := h.FailJob(t, recovery.JobRollback) // IMMEDIATE
	if got := h.Wakes(); got < 1 {
		t.Fatalf("wakes after a rollback failure: got %d, want at least 1", got)
	}
	if at := next("after the wake"); !at.Equal(recoverytest.Start) {
		t.Fatalf("the woken round ran at %v, want %v (no tick)", at, recoverytest.Start)
	}
	sends := h.PagerDuty.Sends()
	if len(sends) != 1 || sends[0].Incident.ID != in.ID || !slices.Equal(sends[0].Levels, []string{"senior"}) || !sends[0].At.Equal(recoverytest.Start) {
		t.Fatalf("PagerDuty sends after the woken round: got %v, want one about %s to [senior] at %v", escLevels(sends), in.ID, recoverytest.Start)
	}
	if got := escCount(t, h, prod.ID, "incident.paged"); got != 0 {
		t.Fatalf("audit of the deploy failure: got %d incident.paged, want 0", got)
	}
}

// Acknowledging stops the escalation: a moment before the deadline nobody is paged
// after it; after the first page no further level is paged, and PagerDuty, which
// was paged, is told of the acknowledgement.
func TestEscalationAcknowledgementStopsIt(t *testing.T) {
	t.Run("before the deadline", func(t *testing.T) {
		h := recoverytest.New(t)
		in := h.FailJob(t, recovery.JobDeployProd)
		h.Advance(15*time.Minute - time.Second)
		if reply, err := h.Acknowledge(t, in.ID, recoverytest.Requester); err != nil || reply != "You acknowledged "+in.ID+"." {
			t.Fatalf("acknowledging: got %q, %v", reply, err)
		}
		for _, d := range []time.Duration{2 * time.Second, 15 * time.Minute, time.Hour} {
			h.Advance(d)
			escRound(t, h)
		}
		escNoPages(t, h, "an hour after an acknowledgement 1s before the deadline")
		if got := escNote(h, in.ID, "Acknowledged by "+recoverytest.Requester+": escalation stopped."); len(got) != 1 {
			t.Fatalf("thread: got %q, want one note saying the escalation stopped", h.Publisher.Texts(in.ID))
		}
	})
	t.Run("after the first page", func(t *testing.T) {
		h := recoverytest.New(t)
		in := h.FailJob(t, recovery.JobDeployProd)
		h.Advance(15*time.Minute + time.Second)
		escRound(t, h)
		h.Advance(time.Minute)
		if _, err := h.Acknowledge(t, in.ID, recoverytest.GroupMember); err != nil {
			t.Fatal(err)
		}
		for _, d := range []time.Duration{15 * time.Minute, 15 * time.Minute, time.Hour} {
			h.Advance(d)
			escRound(t, h)
		}
		for _, p := range []*recoverytest.Pager{h.PagerDuty, h.SlackPager} {
			if got := escKind(p, recovery.PageTrigger); len(got) != 1 {
				t.Fatalf("%s triggers after the acknowledgement: got %v, want only the first page", p.Name(), escLevels(got))
			}
		}
		acks := escKind(h.PagerDuty, recovery.PageAcknowledge)
		if len(acks) != 1 || acks[0].Page.ID != in.ID+"#ack1/pagerduty" || acks[0].Page.By != recoverytest.GroupMember || acks[0].Err != nil {
			t.Fatalf("PagerDuty acknowledgements: got %v, want one %s#ack1/pagerduty by %s", acks, in.ID, recoverytest.GroupMember)
		}
		if got := escKind(h.SlackPager, recovery.PageAcknowledge); len(got) != 0 {
			t.Fatalf("Slack pager acknowledgements: got %d, want 0 (it has nothing to do for them)", len(got))
		}
	})
}

// An acknowledgement holds for the situation it was given in. When the incident moves
// to another row of the matrix (the automatic rollback failed; data corruption was
// declared), the earlier acknowledgement no longer holds: the thread says so, the
// alert is open again, and the new row's first level is paged at once.
func TestEscalationRowChangeDropsTheEarlierAcknowledgement(t *testing.T) {
	t.Run("rollback failed", func(t *testing.T) {
		h := recoverytest.New(t)
		sig := h.FailedJob(recovery.JobDeployProd)
		h.Submit(t, sig)
		in := h.Publisher.Alerts()[0]
		h.Advance(2 * time.Minute)
		if _, err := h.Acknowledge(t, in.ID, recoverytest.Requester); err != nil {
			t.Fatal(err)
		}
		wakes := h.Wakes()
		h.Advance(3 * time.Minute)
		h.Submit(t, h.JobOf(*sig.Run, recovery.JobRollback, "failure"))

		want := ":rotating_light: Escalation now follows *Prod fail (auto-rollback fails)* (response IMMEDIATE). The acknowledgement by " +
			recoverytest.Requester + " was for the earlier situation: acknowledge again."
		if got := escNote(h, in.ID, "Escalation now follows"); !slices.Equal(got, []string{want}) {
			t.Fatalf("thread: got %q, want %q", got, want)
		}
		if a, _ := h.Publisher.Alert(in.ID); a.Status != recovery.IncidentOpen || a.AckBy != "" {
			t.Fatalf("alert: got %s (acknowledged by %q), want open again", a.Status, a.AckBy)
		}
		if got := h.Wakes(); got <= wakes {
			t.Fatalf("wakes: got %d, want more than %d (the new row is IMMEDIATE)", got, wakes)
		}
		escRound(t, h)
		sends := escKind(h.PagerDuty, recovery.PageTrigger)
		if got := escLevels(sends); !slices.Equal(got, []string{"senior"}) || !sends[0].At.Equal(recoverytest.Start.Add(5*time.Minute)) {
			t.Fatalf("PagerDuty triggers: got %v, want [senior] at once (%v)", got, recoverytest.Start.Add(5*time.Minute))
		}
		if got := escCount(t, h, in.ID, "escalation.row"); got != 1 {
			t.Fatalf("audit: got %d escalation.row, want 1", got)
		}
	})
	t.Run("data corruption declared", func(t *testing.T) {
		h := recoverytest.New(t)
		in := h.FailJob(t, recovery.JobDeployProd)
		if _, err := h.Acknowledge(t, in.ID, recoverytest.Requester); err != nil {
			t.Fatal(err)
		}
		reply, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActDataCorruption, recoverytest.Approver, "rows written twice")
		if err != nil {
			t.Fatal(err)
		}
		if want := "Data corruption risk declared on " + in.ID + ": paging the CTO and senior engineer now."; reply != want {
			t.Fatalf("reply: got %q, want %q", reply, want)
		}
		if got := escNote(h, in.ID, "The acknowledgement by "+recoverytest.Requester+" was for the earlier situation"); len(got) != 1 {
			t.Fatalf("thread: got %q, want a note saying the acknowledgement no longer holds", h.Publisher.Texts(in.ID))
		}
		sends := escKind(h.PagerDuty, recovery.PageTrigger)
		if got := escLevels(sends); !slices.Equal(got, []string{"cto+senior"}) || sends[0].Page.Reason != "Data corruption: response IMMEDIATE" {
			t.Fatalf("PagerDuty triggers: got %v, want [cto+senior] at once for the data corruption row", got)
		}
	})
}

// An incident that keeps its row keeps its acknowledgement: a second failed job of
// the same run changes nothing.
func TestEscalationSameRowKeepsTheAcknowledgement(t *testing.T) {
	h := recoverytest.New(t)
	sig := h.FailedJob(recovery.JobDeployProd)
	h.Submit(t, sig)
	in := h.Publisher.Alerts()[0]
	if _, err := h.Acknowledge(t, in.ID, recoverytest.Requester); err != nil {
		t.Fatal(err)
	}
	h.Submit(t, h.JobOf(*sig.Run, "Smoke Tests", "failure"))
	h.Advance(time.Hour)
	escRound(t, h)
	if got := h.Incident(t, in.ID); got.Status != recovery.IncidentAcknowledged || got.AckBy != recoverytest.Requester {
		t.Fatalf("incident: got %s by %q, want still acknowledged by %s", got.Status, got.AckBy, recoverytest.Requester)
	}
	escNoPages(t, h, "an hour after, same row")
	if got := escNote(h, in.ID, "Escalation now follows"); len(got) != 0 {
		t.Fatalf("thread: got %q, want no row change", got)
	}
}

// Untrusted runs never page: not by the timer, even on a row that pages at once, and
// not by hand.
func TestEscalationUntrustedIncidentNeverPages(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		// dev pages its developers at once, so only the run's trust keeps it quiet.
		for i, r := range d.Escalation.Policy.Matrix {
			if r.Name == "Dev tests fail" {
				d.Escalation.Policy.Matrix[i] = recovery.MatrixRow{Name: "Dev", Envs: []string{"dev"}, Path: [][]string{{"developers"}}}
			}
		}
	}))
	fork := func(r *recovery.Run, _ *recovery.JobInfo) { r.Event, r.HeadRepository = "pull_request", "mallory/fork" }
	untrusted := h.FailJob(t, recovery.JobTestsDev, fork)
	if untrusted.Untrusted == "" {
		t.Fatalf("incident %s: not untrusted", untrusted.ID)
	}
	if got := h.Wakes(); got != 0 {
		t.Fatalf("wakes after an untrusted failure: got %d, want 0", got)
	}
	h.Advance(time.Hour)
	escRound(t, h)
	escNoPages(t, h, "an hour after an untrusted failure")
	if line := escLine(t, h, untrusted.ID); line != "" {
		t.Fatalf("untrusted alert's escalation line: got %q, want none", line)
	}

	_, err := h.Act(t, untrusted.ID, recovery.ActPageOnCall, recoverytest.Requester)
	if msg := recoverytest.UserMessage(err); !strings.Contains(msg, "medic never pages for those. Nobody was paged.") {
		t.Fatalf("paging on-call by hand: got %q (%v), want a refusal", msg, err)
	}
	if got := escCount(t, h, untrusted.ID, "page.refused"); got != 1 {
		t.Fatalf("audit: got %d page.refused, want 1", got)
	}
	escNoPages(t, h, "after the refused page")

	// The same failure of a trusted run pages at once.
	trusted := h.FailJob(t, recovery.JobTestsDev)
	escRound(t, h)
	if got := escKind(h.SlackPager, recovery.PageTrigger); len(got) != 1 || got[0].Incident.ID != trusted.ID || !slices.Equal(got[0].Levels, []string{"developers"}) {
		t.Fatalf("Slack pages: got %v, want developers paged about %s", escLevels(got), trusted.ID)
	}
}

// "Page on-call", "Page senior engineer" and /page INC-…: the level is paged at
// once, named by who asked and why; the same level is not paged again by hand
// within a minute (59 s: refused; 60 s: paged); the timer keeps its own course.
func TestEscalationPageByHand(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.Advance(time.Minute)
	reply, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageOnCall, recoverytest.Requester, "  checkout is down  ")
	if want := "Paging the on-call engineer for " + in.ID + "."; err != nil || reply != want {
		t.Fatalf("paging on-call: got %q, %v; want %q", reply, err, want)
	}
	for _, p := range []*recoverytest.Pager{h.PagerDuty, h.SlackPager} {
		s := p.Sends()
		if len(s) != 1 || !slices.Equal(s[0].Levels, []string{"oncall"}) || s[0].Page.By != recoverytest.Requester ||
			s[0].Page.Reason != "checkout is down" || s[0].Page.Seq != 1 || !s[0].At.Equal(recoverytest.Start.Add(time.Minute)) {
			t.Fatalf("%s sends: got %+v, want one page #1 to oncall by %s saying %q at once", p.Name(), s, recoverytest.Requester, "checkout is down")
		}
	}
	paged := h.Audit(t, in.ID)
	var reasons []string
	for _, a := range paged {
		if a.Action == "incident.paged" {
			reasons = append(reasons, a.Actor+": "+a.Detail["levels"]+": "+a.Detail["reason"])
		}
	}
	if want := []string{recoverytest.Requester + ": oncall: paged by " + recoverytest.Requester + ": checkout is down"}; !slices.Equal(reasons, want) {
		t.Fatalf("audit of the page: got %q, want %q", reasons, want)
	}

	h.Advance(59 * time.Second)
	reply, err = h.Act(t, in.ID, recovery.ActPageOnCall, recoverytest.GroupMember) // the button
	if want := "The on-call engineer was paged for " + in.ID + " 59s ago; not paging again so soon."; err != nil || reply != want {
		t.Fatalf("paging on-call again 59s later: got %q, %v; want %q", reply, err, want)
	}
	if got := len(h.PagerDuty.Sends()); got != 1 {
		t.Fatalf("PagerDuty sends after the refused repage: got %d, want 1", got)
	}
	reply, err = h.Act(t, in.ID, recovery.ActPageSenior, recoverytest.GroupMember)
	if want := "Paging the senior engineer for " + in.ID + "."; err != nil || reply != want {
		t.Fatalf("paging the senior engineer 59s later: got %q, %v; want %q", reply, err, want)
	}
	h.Advance(time.Second)
	reply, err = h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageSenior, recoverytest.Requester, "")
	if want := "The senior engineer was paged for " + in.ID + " 1s ago; not paging again so soon."; err != nil || reply != want {
		t.Fatalf("paging the senior engineer again 1s later: got %q, %v; want %q", reply, err, want)
	}
	h.Advance(59 * time.Second)
	if reply, err = h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageSenior, recoverytest.Requester, ""); err != nil || !strings.HasPrefix(reply, "Paging the senior engineer") {
		t.Fatalf("paging the senior engineer again 60s later: got %q, %v; want paged", reply, err)
	}
	sends := h.PagerDuty.Sends()
	if got := escLevels(sends); !slices.Equal(got, []string{"oncall", "senior", "senior"}) {
		t.Fatalf("PagerDuty pages: got %v, want [oncall senior senior]", got)
	}
	if s := sends[2]; s.Page.Seq != 3 || s.Page.By != recoverytest.Requester || s.Page.Reason != "" || s.Page.Why() != "paged by "+recoverytest.Requester {
		t.Fatalf("third page: got #%d by %s, %q (%q); want #3 by %s, no reason", s.Page.Seq, s.Page.By, s.Page.Reason, s.Page.Why(), recoverytest.Requester)
	}

	// The timer's own course: on-call at the response deadline, as page #4.
	h.Advance(15*time.Minute - 3*time.Minute)
	escRound(t, h)
	if got := len(h.PagerDuty.Sends()); got != 3 {
		t.Fatalf("PagerDuty sends 1s before the deadline: got %d, want 3", got)
	}
	h.Advance(2 * time.Second)
	escRound(t, h)
	sends = h.PagerDuty.Sends()
	if len(sends) != 4 || sends[3].Page.Seq != 4 || sends[3].Page.By != "medic" || !slices.Equal(sends[3].Levels, []string{"oncall"}) {
		t.Fatalf("PagerDuty pages after the deadline: got %v, want the timer's #4 to oncall", escLevels(sends))
	}
}

// What the pages by hand refuse, and that a refusal pages nobody.
func TestEscalationPageByHandRefusals(t *testing.T) {
	tests := []struct {
		name   string
		opts   []recoverytest.Option
		setup  func(t *testing.T, h *recoverytest.Harness, id string) string // returns the incident to page
		action recovery.ActionID
		user   string
		reason string
		want   string
		audit  string
	}{
		{name: "outsider", action: recovery.ActPageOnCall, user: recoverytest.Outsider,
			want: "You need the *responder* role for prod to page people (config: access.roles). Nothing was done.", audit: "refused"},
		{name: "resolved", action: recovery.ActPageSenior, user: recoverytest.Requester,
			setup: func(t *testing.T, h *recoverytest.Harness, id string) string {
				if _, err := h.Resolve(t, id, recoverytest.Requester, ""); err != nil {
					t.Fatal(err)
				}
				return id
			},
			want: "is resolved; nobody was paged."},
		{name: "unknown incident", action: recovery.ActPageOnCall, user: recoverytest.Requester,
			setup: func(*testing.T, *recoverytest.Harness, string) string { return "INC-NOPE" },
			want:  "Incident INC-NOPE is not on record."},
		{name: "data corruption without a reason", action: recovery.ActDataCorruption, user: recoverytest.Requester, reason: " \n ",
			want: "Say why data may be corrupted: it goes to the audit log and the page."},
		{name: "not configured", opts: []recoverytest.Option{recoverytest.WithoutEscalation()}, action: recovery.ActPageOnCall, user: recoverytest.Requester,
			want: "Paging is not configured on this medic (config: escalation); nothing was done."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t, tt.opts...)
			in := h.FailJob(t, recovery.JobDeployProd)
			id := in.ID
			if tt.setup != nil {
				id = tt.setup(t, h, in.ID)
			}
			before := escCount(t, h, in.ID, tt.audit)
			reply, err := h.Engine.PageIncident(t.Context(), id, tt.action, tt.user, tt.reason)
			if msg := recoverytest.UserMessage(err); !strings.Contains(msg, tt.want) || reply != "" {
				t.Fatalf("paging: got %q, %q (%v); want a refusal saying %q", reply, msg, err, tt.want)
			}
			if tt.audit != "" {
				if got := escCount(t, h, in.ID, tt.audit); got != before+1 {
					t.Fatalf("audit: got %d %s, want %d", got, tt.audit, before+1)
				}
			}
			escNoPages(t, h, "after the refusal")
			if got := h.Incident(t, in.ID).Escalation; got.Pages != 0 || got.DataCorruption {
				t.Fatalf("escalation: got %d pages, data corruption %v; want untouched", got.Pages, got.DataCorruption)
			}
		})
	}
}

// "Data corruption risk" moves the incident to the matrix's data corruption row and
// pages its people at once, with who declared it and why in the thread and the
// audit; declaring it again pages nobody more.
func TestEscalationDataCorruptionPagesItsRowAtOnce(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployPreprod) // an hour to respond
	h.Advance(time.Minute)
	reason := "orders table has duplicate rows password=hunter2"
	reply, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActDataCorruption, recoverytest.Requester, reason)
	if want := "Data corruption risk declared on " + in.ID + ": paging the CTO and senior engineer now."; err != nil || reply != want {
		t.Fatalf("declaring: got %q, %v; want %q", reply, err, want)
	}
	for _, p := range []*recoverytest.Pager{h.PagerDuty, h.SlackPager} {
		s := p.Sends()
		if len(s) != 1 || !slices.Equal(s[0].Levels, []string{"cto", "senior"}) || !s[0].At.Equal(recoverytest.Start.Add(time.Minute)) || s[0].Page.By != "medic" {
			t.Fatalf("%s: got %v, want cto and senior paged at once by medic", p.Name(), escLevels(s))
		}
	}
	// The reason is outside text in the note: the bot escapes and redacts it there.
	declared := escNotes(h, in.ID, "declared a *data corruption risk*")
	if len(declared) != 1 {
		t.Fatalf("thread: got %q, want one note declaring the risk", h.Publisher.Texts(in.ID))
	}
	if got, want := declared[0].Text, (recovery.Text{{Kind: recovery.SpanWords, Text: ":biohazard_sign: "}, recovery.Mention(recoverytest.Requester),
		{Kind: recovery.SpanWords, Text: " declared a *data corruption risk*: "}, recovery.Quote(reason)}); !slices.Equal(got, want) {
		t.Fatalf("note: got %+v, want %+v", got, want)
	}
	var audited string
	for _, a := range h.Audit(t, in.ID) {
		if a.Action == "incident.data_corruption" {
			audited = a.Actor + ": " + a.Detail["reason"]
		}
	}
	if want := recoverytest.Requester + ": orders table has duplicate rows password=[REDACTED]"; audited != want {
		t.Fatalf("audit: got %q, want %q", audited, want)
	}
	if line := escLine(t, h, in.ID); !strings.HasPrefix(line, "Escalation: Data corruption (response IMMEDIATE) · paged CTO and senior engineer at 09:01 UTC") {
		t.Fatalf("alert's line: got %q", line)
	}

	h.Advance(time.Minute)
	reply, err = h.Engine.PageIncident(t.Context(), in.ID, recovery.ActDataCorruption, recoverytest.Approver, "again")
	if want := "Data corruption risk was already declared on " + in.ID + " by <@" + recoverytest.Requester + ">; the CTO and senior engineer are being paged."; err != nil || reply != want {
		t.Fatalf("declaring again: got %q, %v; want %q", reply, err, want)
	}
	if got := len(h.PagerDuty.Sends()); got != 1 {
		t.Fatalf("PagerDuty sends after declaring again: got %d, want 1", got)
	}
	// The row's path has one step: it pages it again every interval.
	h.Advance(15*time.Minute - time.Minute - time.Second)
	escRound(t, h)
	if got := len(h.PagerDuty.Sends()); got != 1 {
		t.Fatalf("PagerDuty sends 1s before the interval: got %d, want 1", got)
	}
	h.Advance(time.Second)
	escRound(t, h)
	if got := escLevels(h.PagerDuty.Sends()); !slices.Equal(got, []string{"cto+senior", "cto+senior"}) {
		t.Fatalf("PagerDuty pages after the interval: got %v, want cto+senior twice", got)
	}
}

// A level with neither Slack members nor PagerDuty pages nobody, and the thread says
// so with what to fix.
func TestEscalationNobodyToPageIsSaid(t *testing.T) {
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		l := d.Escalation.Policy.Levels["developers"]
		l.Slack = nil
		d.Escalation.Policy.Levels["developers"] = l
		d.Escalation.Policy.OnCall = "developers"
	}))
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageOnCall, recoverytest.Requester, ""); err != nil {
		t.Fatal(err)
	}
	escNoPages(t, h, "paging a level of nobody")
	want := ":warning: Nobody to page for developers: the level has no Slack members and PagerDuty is off (config: escalation.levels)."
	if got := escNote(h, in.ID, "Nobody to page"); !slices.Equal(got, []string{want}) {
		t.Fatalf("thread: got %q, want %q", got, want)
	}
	// A level someone is on says nothing of the kind.
	if _, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageSenior, recoverytest.Requester, ""); err != nil {
		t.Fatal(err)
	}
	if got := escNote(h, in.ID, "Nobody to page"); len(got) != 1 {
		t.Fatalf("thread after paging the senior engineer: got %q, want still one such note", got)
	}
}

// /page ENV pages the on-call engineer about the environment's most severe open
// incident medic trusts; with none there is nothing to page about.
func TestEscalationPageEnv(t *testing.T) {
	h := recoverytest.New(t)
	fork := func(r *recovery.Run, _ *recovery.JobInfo) { r.Event, r.HeadRepository = "pull_request", "mallory/fork" }
	h.FailJob(t, recovery.JobTestsDev, fork)
	_, err := h.Engine.PageEnv(t.Context(), "dev", recoverytest.Requester)
	if msg, want := recoverytest.UserMessage(err), "dev has no open incident, so there is nothing to page about. Name one with `/page INC-…`."; msg != want {
		t.Fatalf("/page dev with only an untrusted incident: got %q (%v), want %q", msg, err, want)
	}
	_, err = h.Engine.PageEnv(t.Context(), "prod", recoverytest.Requester)
	if msg := recoverytest.UserMessage(err); !strings.HasPrefix(msg, "prod has no open incident") {
		t.Fatalf("/page prod with none open: got %q (%v)", msg, err)
	}
	escNoPages(t, h, "/page without an incident to page about")

	dev := h.FailJob(t, recovery.JobTestsDev)
	reply, err := h.Engine.PageEnv(t.Context(), "dev", recoverytest.Requester)
	if want := "Paging the on-call engineer for " + dev.ID + "."; err != nil || reply != want {
		t.Fatalf("/page dev: got %q, %v; want %q", reply, err, want)
	}
	prod := h.FailJob(t, recovery.JobDeployProd)
	h.Advance(time.Minute)
	if reply, err := h.Engine.PageEnv(t.Context(), "prod", recoverytest.Requester); err != nil || reply != "Paging the on-call engineer for "+prod.ID+"." {
		t.Fatalf("/page prod: got %q, %v", reply, err)
	}
	var about []string
	for _, s := range h.PagerDuty.Sends() {
		about = append(about, s.Incident.ID+":"+strings.Join(s.Levels, "+"))
	}
	if want := []string{dev.ID + ":oncall", prod.ID + ":oncall"}; !slices.Equal(about, want) {
		t.Fatalf("PagerDuty pages: got %v, want %v", about, want)
	}
}

// A page that fails for a temporary reason is retried with a doubling backoff: 15 s,
// 30 s, 1 m, 2 m, 4 m, then 5 m (its cap), each retry sent at its time and not a
// second before. The 8th attempt is the last: no 9th, and the thread says to page by
// hand. Each pager has its own page: Slack's went out at the first attempt.
func TestEscalationPageRetryBackoffAndLastAttempt(t *testing.T) {
	h := recoverytest.New(t)
	for range 9 {
		h.PagerDuty.Script(recoverytest.TemporaryError(0))
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageOnCall, recoverytest.Requester, ""); err != nil {
		t.Fatal(err)
	}
	slack := h.SlackPager.Sends()
	if len(slack) != 1 || slack[0].Err != nil || slack[0].Page.ID != in.ID+"#1/slack" {
		t.Fatalf("Slack pager: got %+v, want its page %s#1/slack delivered at once", slack, in.ID)
	}
	if got := escNote(h, in.ID, "Slack page"); len(got) != 0 {
		t.Fatalf("thread: got %q, want nothing said of a page delivered at its first attempt", got)
	}
	at := recoverytest.Start
	for i, wait := range []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		attempt := i + 2
		h.Advance(wait - time.Second)
		escDeliver(t, h)
		if got := len(h.PagerDuty.Sends()); got != attempt-1 {
			t.Fatalf("attempt %d: PagerDuty sends %s after attempt %d: got %d, want %d (its retry is due after %s)",
				attempt, wait-time.Second, attempt-1, got, attempt-1, wait)
		}
		h.Advance(time.Second)
		at = at.Add(wait)
		escDeliver(t, h)
		sends := h.PagerDuty.Sends()
		if len(sends) != attempt || !sends[attempt-1].At.Equal(at) || sends[attempt-1].Page.ID != in.ID+"#1/pagerduty" {
			t.Fatalf("attempt %d: got %d sends, want %d, the last at %v (%s after the one before)", attempt, len(sends), attempt, at, wait)
		}
	}
	h.Advance(time.Hour)
	escDeliver(t, h)
	escRound(t, h) // the timer pages on-call anew (#2): a page of its own
	var first []recoverytest.Send
	for _, s := range h.PagerDuty.Sends() {
		if s.Page.Seq == 1 {
			first = append(first, s)
		}
	}
	if len(first) != 8 {
		t.Fatalf("attempts of page #1 an hour after the 8th: got %d, want 8", len(first))
	}
	retrying := ":warning: PagerDuty page #1 to oncall failed: pager unavailable (503). medic retries (next in 15s, up to 8 attempts)."
	gaveUp := ":x: PagerDuty page #1 to oncall failed after 8 attempt(s): pager unavailable (503). Page by hand."
	if got := escNote(h, in.ID, "PagerDuty page #1"); !slices.Equal(got, []string{retrying, gaveUp}) {
		t.Fatalf("thread: got %q, want %q then %q", got, retrying, gaveUp)
	}
	var retries []string
	for _, a := range h.Audit(t, in.ID) {
		if a.Action == "page.failed" && a.Detail["page"] == in.ID+"#1/pagerduty" {
			retries = append(retries, a.Detail["attempt"]+":"+a.Detail["retry"])
		}
	}
	if want := []string{"1:true", "2:true", "3:true", "4:true", "5:true", "6:true", "7:true", "8:false"}; !slices.Equal(retries, want) {
		t.Fatalf("audit of page #1's failures: got %v, want %v", retries, want)
	}
}

// A page delivered after failing says how many attempts it took; the pager's
// RetryAfter is honoured when longer than medic's backoff, and the backoff when
// shorter.
func TestEscalationPageRetryAfterAndLateDelivery(t *testing.T) {
	tests := []struct {
		retryAfter, next time.Duration
		nextText         string
	}{
		{2 * time.Minute, 2 * time.Minute, "2m"},
		{5 * time.Second, 15 * time.Second, "15s"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("retry after ", tt.retryAfter), func(t *testing.T) {
			h := recoverytest.New(t)
			h.PagerDuty.Script(recoverytest.TemporaryError(tt.retryAfter), nil)
			in := h.FailJob(t, recovery.JobDeployProd)
			if _, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageSenior, recoverytest.Requester, ""); err != nil {
				t.Fatal(err)
			}
			h.Advance(tt.next - time.Second)
			escDeliver(t, h)
			if got := len(h.PagerDuty.Sends()); got != 1 {
				t.Fatalf("sends 1s before the retry: got %d, want 1", got)
			}
			h.Advance(time.Second)
			escDeliver(t, h)
			if got := h.PagerDuty.Delivered(); len(got) != 1 || !got[0].At.Equal(recoverytest.Start.Add(tt.next)) {
				t.Fatalf("delivered: got %+v, want the retry %s after the first attempt", got, tt.next)
			}
			want := []string{
				":warning: PagerDuty page #1 to senior failed: pager rate limited (429, retry after " + tt.retryAfter.String() + "). medic retries (next in " + tt.nextText + ", up to 8 attempts).",
				":white_check_mark: PagerDuty page #1 to senior delivered after 2 attempts.",
			}
			if got := escNote(h, in.ID, "PagerDuty page"); !slices.Equal(got, want) {
				t.Fatalf("thread: got %q, want %q", got, want)
			}
			if got := escCount(t, h, in.ID, "page.sent"); got != 2 {
				t.Fatalf("audit: got %d page.sent, want 2 (Slack's and PagerDuty's)", got)
			}
		})
	}
}

// A permanent error ends the page at its first attempt; the thread says to page by
// hand, with the pager's error redacted.
func TestEscalationPagePermanentErrorEndsIt(t *testing.T) {
	h := recoverytest.New(t)
	h.PagerDuty.Script(&recoverytest.PageError{Msg: "400 invalid routing key password=hunter2"})
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageOnCall, recoverytest.Requester, ""); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{15 * time.Second, 5 * time.Minute, time.Hour} {
		h.Advance(d)
		escDeliver(t, h)
	}
	if got := len(h.PagerDuty.Sends()); got != 1 {
		t.Fatalf("PagerDuty attempts: got %d, want 1", got)
	}
	notes := escNote(h, in.ID, "PagerDuty page")
	want := ":x: PagerDuty page #1 to oncall failed after 1 attempt(s): 400 invalid routing key password=[REDACTED]. Page by hand."
	if !slices.Equal(notes, []string{want}) {
		t.Fatalf("thread: got %q, want %q", notes, want)
	}
	for _, a := range h.Audit(t, in.ID) {
		if a.Action == "page.failed" && (strings.Contains(a.Detail["error"], "hunter2") || a.Detail["retry"] != "false") {
			t.Fatalf("audit: got %v, want the error redacted and no retry", a.Detail)
		}
	}
	if got := len(h.SlackPager.Delivered()); got != 1 {
		t.Fatalf("Slack pages delivered: got %d, want 1 (its own page)", got)
	}
}

// What a page reached before failing is kept for its retry, each target once, so the
// retry reaches only the rest.
func TestEscalationPagePartialSendKeepsWhatWasReached(t *testing.T) {
	h := recoverytest.New(t)
	h.SlackPager.Script(recoverytest.PartialError("C0PROD/thread"), recoverytest.PartialError("C0PROD/thread", recoverytest.Senior), nil)
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageSenior, recoverytest.Requester, ""); err != nil {
		t.Fatal(err)
	}
	h.Advance(15 * time.Second)
	escDeliver(t, h)
	h.Advance(30 * time.Second)
	escDeliver(t, h)
	sends := h.SlackPager.Sends()
	if len(sends) != 3 {
		t.Fatalf("Slack attempts: got %d, want 3", len(sends))
	}
	want := [][]string{nil, {"C0PROD/thread"}, {"C0PROD/thread", recoverytest.Senior}}
	for i, s := range sends {
		if !slices.Equal(s.Page.Reached, want[i]) {
			t.Fatalf("attempt %d: reached before it %v, want %v", i+1, s.Page.Reached, want[i])
		}
	}
	if sends[2].Err != nil {
		t.Fatalf("third attempt: got %v, want delivered", sends[2].Err)
	}
}

// A page for a pager medic no longer has (its config changed between storing the page
// and sending it) fails for good instead of waiting forever.
func TestEscalationPageToAnUnknownPagerFails(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	pg := recovery.Page{ID: in.ID + "#1/sms", IncidentID: in.ID, Pager: "sms", Kind: recovery.PageTrigger, Levels: []string{"oncall"},
		Seq: 1, State: recovery.PagePending, NextAt: h.Clock.Now(), CreatedAt: h.Clock.Now()}
	if err := h.Store.AddPage(t.Context(), pg); err != nil {
		t.Fatal(err)
	}
	escDeliver(t, h)
	pages, err := h.Store.PagesOf(t.Context(), in.ID)
	if err != nil || len(pages) != 1 {
		t.Fatalf("pages of %s: got %v, %v", in.ID, pages, err)
	}
	if got := pages[0]; got.State != recovery.PageFailed || !strings.HasPrefix(got.LastError, `cannot send: pager "sms" configured: false`) {
		t.Fatalf("page: got %s (%q), want failed saying the pager is not configured", got.State, got.LastError)
	}
	escNoPages(t, h, "a page to an unknown pager")
}

// Page.Why: medic's own pages give the escalation's reason; a person's name who asked.
func TestEscalationPageWhy(t *testing.T) {
	tests := []struct {
		by, reason, want string
	}{
		{"medic", "not acknowledged within 15m (Prod)", "not acknowledged within 15m (Prod)"},
		{"", "Data corruption: response IMMEDIATE", "Data corruption: response IMMEDIATE"},
		{"U0ALICE", "", "paged by U0ALICE"},
		{"U0ALICE", "db down", "paged by U0ALICE: db down"},
	}
	for _, tt := range tests {
		if got := (recovery.Page{By: tt.by, Reason: tt.reason}).Why(); got != tt.want {
			t.Errorf("Why of a page by %q for %q: got %q, want %q", tt.by, tt.reason, got, tt.want)
		}
	}
}

// An escalation policy is checked at start-up: every level the matrix and the
// buttons name exists, every row pages somebody or is best effort, the interval is
// positive.
func TestEscalationPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*recovery.EscalationPolicy)
		want   string
	}{
		{"the runbook's", func(*recovery.EscalationPolicy) {}, ""},
		{"no interval", func(p *recovery.EscalationPolicy) { p.Interval = 0 }, "escalation interval must be positive"},
		{"negative interval", func(p *recovery.EscalationPolicy) { p.Interval = -time.Second }, "escalation interval must be positive"},
		{"a row paging nobody", func(p *recovery.EscalationPolicy) { p.Matrix[2].Path = nil },
			`matrix row "Prod fail (auto-rollback works)" pages nobody: give it a path or make it best effort`},
		{"a row naming an unknown level", func(p *recovery.EscalationPolicy) { p.Matrix[3].Path = [][]string{{"devops"}, {"nope"}} },
			`matrix row Preprod fail names level "nope", which escalation.levels does not define`},
		{"on-call unknown", func(p *recovery.EscalationPolicy) { p.OnCall = "nope" },
			`escalation.on_call names level "nope", which escalation.levels does not define`},
		{"senior unknown", func(p *recovery.EscalationPolicy) { p.Senior = "" },
			`escalation.senior names level "", which escalation.levels does not define`},
	}
	for _, tt := range tests {
		p := recoverytest.RunbookEscalation()
		tt.change(p)
		err := p.Validate()
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	// NewEngine refuses to start with an invalid policy.
	deps := recoverytest.New(t).Deps
	esc := *deps.Escalation
	esc.Policy = recoverytest.RunbookEscalation()
	esc.Policy.OnCall = "nope"
	deps.Escalation = &esc
	if _, err := recovery.NewEngine(deps); err == nil || !strings.Contains(err.Error(), `escalation.on_call names level "nope"`) {
		t.Fatalf("engine with an unknown on-call level: got %v, want refused naming it", err)
	}
}

// escStaleDue is a replica's page store that listed the due escalations a moment
// before another replica paged them: DueEscalations answers that listing.
type escStaleDue struct {
	escPageStore
	due []recovery.Incident
}

func (s escStaleDue) DueEscalations(context.Context, time.Time) ([]recovery.Incident, error) {
	return s.due, nil
}

// escPageStore is the store of pages and of due escalations, changed together.
type escPageStore interface {
	recovery.PageStore
	recovery.EscalationQueue
}

type escPages struct {
	recovery.PageStore
	recovery.EscalationQueue
}

// escReplica is another medic over the same store, pagers and Slack, with its page
// store changed by pages.
func escReplica(t *testing.T, h *recoverytest.Harness, pages func(escPageStore) escPageStore) *recovery.Engine {
	t.Helper()
	deps := h.Deps
	esc := *deps.Escalation
	changed := pages(escPages{esc.Pages, esc.Due})
	esc.Pages, esc.Due = changed, changed
	deps.Escalation = &esc
	e, err := recovery.NewEngine(deps)
	if err != nil {
		t.Fatalf("another replica: %v", err)
	}
	return e
}

// Two replicas escalating the same incident at once page it once: the second, which
// listed it before the first paged, finds the page numbered and recorded already.
func TestEscalationReplicasPageOnce(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.Advance(15 * time.Minute)
	due, err := h.Store.DueEscalations(t.Context(), h.Clock.Now())
	if err != nil || len(due) != 1 {
		t.Fatalf("due escalations: got %d, %v; want 1", len(due), err)
	}
	other := escReplica(t, h, func(p escPageStore) escPageStore { return escStaleDue{p, due} })
	escRound(t, h)
	if err := other.Escalate(t.Context()); err != nil {
		t.Fatalf("the other replica's round: %v", err)
	}
	for _, p := range []*recoverytest.Pager{h.PagerDuty, h.SlackPager} {
		if got := p.Sends(); len(got) != 1 {
			t.Fatalf("%s sends: got %d (%v), want 1", p.Name(), len(got), escLevels(got))
		}
	}
	if got := escCount(t, h, in.ID, "incident.paged"); got != 1 {
		t.Fatalf("audit: got %d incident.paged, want 1", got)
	}
	if got := h.Incident(t, in.ID).Escalation; got.Pages != 1 || got.Step != 1 || !got.DueAt.Equal(recoverytest.Start.Add(30*time.Minute)) {
		t.Fatalf("escalation: got %d pages, step %d, due %v; want 1, 1, %v", got.Pages, got.Step, got.DueAt, recoverytest.Start.Add(30*time.Minute))
	}
}

// escBrokenPages is a page store that fails: listing due escalations, listing due
// pages, or storing a page.
type escBrokenPages struct {
	escPageStore
	due, pages, add bool
}

var errEscStore = errors.New("store: database is locked")

func (s escBrokenPages) DueEscalations(ctx context.Context, t time.Time) ([]recovery.Incident, error) {
	if s.due {
		return nil, errEscStore
	}
	return s.escPageStore.DueEscalations(ctx, t)
}

func (s escBrokenPages) DuePages(ctx context.Context, t time.Time, limit int) ([]recovery.Page, error) {
	if s.pages {
		return nil, errEscStore
	}
	return s.escPageStore.DuePages(ctx, t, limit)
}

func (s escBrokenPages) AddPage(ctx context.Context, p recovery.Page) error {
	if s.add {
		return errEscStore
	}
	return s.escPageStore.AddPage(ctx, p)
}

// When the store fails, the round says what it was doing, nobody is paged, and the
// incident's escalation is left as it was, to be tried again at the next round.
func TestEscalationStoreFailures(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	h.Advance(15 * time.Minute)
	tests := []struct {
		name  string
		store escBrokenPages
		want  string
	}{
		{"listing due escalations", escBrokenPages{due: true}, "listing due escalations: store: database is locked"},
		{"storing a page", escBrokenPages{add: true}, "storing page " + in.ID + "#1/slack: store: database is locked"},
		// Last: the incident is paged and recorded, its pages left to the next round.
		{"listing due pages", escBrokenPages{pages: true}, "listing pages to send: store: database is locked"},
	}
	broken := escReplica(t, h, func(p escPageStore) escPageStore { return escBrokenPages{escPageStore: p, add: true} })
	if _, err := broken.PageIncident(t.Context(), in.ID, recovery.ActPageOnCall, recoverytest.Requester, ""); !errors.Is(err, errEscStore) {
		t.Fatalf("paging by hand while storing fails: got %v, want the store's error", err)
	}
	for i, tt := range tests {
		if i == len(tests)-1 {
			if got := h.Incident(t, in.ID).Escalation; got.Pages != 0 || got.Step != 0 {
				t.Fatalf("escalation after failing to store: got %d pages, step %d; want untouched", got.Pages, got.Step)
			}
		}
		other := escReplica(t, h, func(p escPageStore) escPageStore { tt.store.escPageStore = p; return tt.store })
		err := other.Escalate(t.Context())
		if err == nil || !errors.Is(err, errEscStore) || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("%s: got %v, want an error saying %q", tt.name, err, tt.want)
		}
		escNoPages(t, h, tt.name)
	}
	escRound(t, h) // the store is back
	if got := escLevels(h.PagerDuty.Sends()); !slices.Equal(got, []string{"oncall"}) {
		t.Fatalf("PagerDuty pages once the store is back: got %v, want [oncall]", got)
	}

	off := recoverytest.New(t, recoverytest.WithoutEscalation())
	if err := off.Escalate(t); err != nil {
		t.Fatalf("a round without escalation: got %v", err)
	}
	if err := off.Engine.DeliverPages(t.Context()); err != nil {
		t.Fatalf("delivering without escalation: got %v", err)
	}
}

// A pager of another name is named by its name in the thread; a failed
// acknowledgement or resolution to PagerDuty is named by its kind.
func TestEscalationPageNotesNameThePagerAndTheKind(t *testing.T) {
	ops := recoverytest.NewPager("opsgenie", nil)
	h := recoverytest.New(t, recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		ops.Now = d.Now
		d.Escalation.Pagers = append(d.Escalation.Pagers, ops)
	}))
	ops.Script(recoverytest.PermanentError())
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageOnCall, recoverytest.Requester, ""); err != nil {
		t.Fatal(err)
	}
	h.PagerDuty.Script(recoverytest.PermanentError())
	if _, err := h.Acknowledge(t, in.ID, recoverytest.Requester); err != nil {
		t.Fatal(err)
	}
	want := []string{
		":x: opsgenie page #1 to oncall failed after 1 attempt(s): pager refused the page (400 invalid routing key). Page by hand.",
		":x: PagerDuty page (acknowledge) failed after 1 attempt(s): pager refused the page (400 invalid routing key). Page by hand.",
	}
	if got := escNote(h, in.ID, "failed after"); !slices.Equal(got, want) {
		t.Fatalf("thread: got %q, want %q", got, want)
	}
}

// Each attempt to send a page gets its own 20-second deadline: a pager that hangs
// cannot hold the escalation round.
func TestEscalationPageAttemptHasItsOwnDeadline(t *testing.T) {
	h := recoverytest.New(t)
	var mu sync.Mutex
	var left []time.Duration
	h.PagerDuty.SendFunc = func(ctx context.Context, _ recovery.Page, _ recovery.Incident, _ []recovery.Level) error {
		dl, ok := ctx.Deadline()
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			left = append(left, -1)
			return nil
		}
		left = append(left, time.Until(dl))
		return ctx.Err()
	}
	in := h.FailJob(t, recovery.JobDeployProd)
	if _, err := h.Engine.PageIncident(t.Context(), in.ID, recovery.ActPageOnCall, recoverytest.Requester, ""); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Real time passes between the deadline being set and the pager reading it; a
	// few seconds of it on a loaded machine still tell 20 s from anything else.
	if len(left) != 1 || left[0] <= 15*time.Second || left[0] > 20*time.Second {
		t.Fatalf("the attempt's deadline: got %v left, want a deadline 20s after it started", left)
	}
}

// escNoCompletion is a replica that sends a page and dies before it can mark the
// send claimed done: its claims on pages are never completed.
type escNoCompletion struct{ recovery.WorkClaimer }

func (c escNoCompletion) CompleteWork(ctx context.Context, key string) error {
	if strings.HasPrefix(key, "page:") {
		return nil
	}
	return c.WorkClaimer.CompleteWork(ctx, key)
}

// escStalePages is a replica's page store that listed the pages due before another
// replica sent them.
type escStalePages struct {
	escPageStore
	due []recovery.Page
}

func (s escStalePages) DuePages(context.Context, time.Time, int) ([]recovery.Page, error) {
	return s.due, nil
}

// A page sent by a replica that died before completing its claim is not sent again
// by another replica that listed it earlier, neither while the dead replica's claim
// holds (2 minutes) nor after it lapsed: the page is read again after the claim.
func TestEscalationPageSentByADeadReplicaIsNotSentAgain(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobDeployProd)
	deps := h.Deps
	deps.Claims = escNoCompletion{deps.Claims}
	dead, err := recovery.NewEngine(deps)
	if err != nil {
		t.Fatal(err)
	}
	h.Advance(15 * time.Minute)
	if err := dead.Escalate(t.Context()); err != nil {
		t.Fatal(err)
	}
	pages, err := h.Store.PagesOf(t.Context(), in.ID)
	if err != nil || len(pages) != 2 {
		t.Fatalf("pages of %s: got %d, %v; want 2", in.ID, len(pages), err)
	}
	var stale []recovery.Page // as listed before they were sent
	for _, p := range pages {
		if p.State != recovery.PageSent {
			t.Fatalf("page %s: got %s, want sent", p.ID, p.State)
		}
		p.State, p.Attempts, p.SentAt = recovery.PagePending, 0, time.Time{}
		stale = append(stale, p)
	}
	other := escReplica(t, h, func(p escPageStore) escPageStore { return escStalePages{p, stale} })
	for _, d := range []time.Duration{time.Minute, time.Minute + time.Second} { // within the claim, then after it
		h.Advance(d)
		if err := other.DeliverPages(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*recoverytest.Pager{h.PagerDuty, h.SlackPager} {
			if got := p.Sends(); len(got) != 1 {
				t.Fatalf("%s sends %s after the page went out: got %d, want 1", p.Name(), h.Clock.Now().Sub(recoverytest.Start.Add(15*time.Minute)), len(got))
			}
		}
	}
}
