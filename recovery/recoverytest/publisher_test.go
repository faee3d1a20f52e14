package recoverytest

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// fatalTB is a testing.TB whose Fatalf records the message and ends the goroutine
// that called it (as t.Fatalf does), so a test can check how a helper fails.
type fatalTB struct {
	testing.TB
	msg chan string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg <- fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure runs helper on a goroutine with a fatalTB and returns its Fatalf message,
// "" when it returned without failing.
func failure(t *testing.T, helper func(testing.TB)) string {
	t.Helper()
	tb := &fatalTB{TB: t, msg: make(chan string, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		helper(tb)
	}()
	select {
	case <-done:
	case <-time.After(WaitTimeout):
		t.Fatalf("the helper neither returned nor failed within %s", WaitTimeout)
	}
	select {
	case m := <-tb.msg:
		return m
	default:
		return ""
	}
}

func note(text string) recovery.Note { return recovery.Note{Text: recovery.Say(text)} }

func TestPublisherShowsAlertsAsTheyStandAndEachThread(t *testing.T) {
	ctx := t.Context()
	p := NewPublisher()
	a := recovery.Incident{ID: "INC-A", Channel: "C0PROD", Status: recovery.IncidentOpen}
	b := recovery.Incident{ID: "INC-B", Channel: "C0PROD", Status: recovery.IncidentOpen}
	tsA, err := p.PostAlert(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	tsB, _ := p.PostAlert(ctx, b)
	if tsA == "" || tsA == tsB {
		t.Fatalf("alert ts: got %q and %q, want two different ones", tsA, tsB)
	}
	a.MessageTS, b.MessageTS = tsA, tsB
	a.Status = recovery.IncidentAcknowledged
	if err := p.UpdateAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	_ = p.PostNote(ctx, a, note("first"))
	_ = p.Reply(ctx, "C0PROD", tsA, note("a job's note"))
	_ = p.PostNote(ctx, b, note("about B"))
	_ = p.Reply(ctx, "C0PROD", "1699999999.000001", note("another thread"))

	alerts := p.Alerts()
	if len(alerts) != 2 || alerts[0].ID != "INC-A" || alerts[1].ID != "INC-B" {
		t.Fatalf("alerts: got %v, want INC-A then INC-B", alerts)
	}
	if alerts[0].Status != recovery.IncidentAcknowledged {
		t.Fatalf("alert of INC-A: got status %s, want its update's %s", alerts[0].Status, recovery.IncidentAcknowledged)
	}
	if got := len(p.AlertVersions("INC-A")); got != 2 {
		t.Fatalf("versions of INC-A's alert: got %d, want 2 (post and update)", got)
	}
	if got, want := p.Texts("INC-A"), []string{"first", "a job's note"}; !slices.Equal(got, want) {
		t.Fatalf("thread of INC-A: got %q, want %q", got, want)
	}
	if got := len(p.Thread("C0PROD", tsA)); got != 2 {
		t.Fatalf("thread C0PROD/%s: got %d notes, want 2", tsA, got)
	}
	if got, want := p.Texts("INC-B"), []string{"about B"}; !slices.Equal(got, want) {
		t.Fatalf("thread of INC-B: got %q, want %q", got, want)
	}
}

func TestPublisherShowsRequestsAsTheyStand(t *testing.T) {
	ctx := t.Context()
	p := NewPublisher()
	r := recovery.Request{ID: "REQ-1", Channel: "C0PROD", ThreadTS: "1.1", State: recovery.RequestPending}
	ts, _ := p.PostRequest(ctx, r)
	r.MessageTS, r.State = ts, recovery.RequestApproved
	_ = p.UpdateRequest(ctx, r)
	got, ok := p.Request("REQ-1")
	if !ok || got.State != recovery.RequestApproved || got.MessageTS != ts {
		t.Fatalf("request REQ-1: got %v %s at %q, want approved at %q", ok, got.State, got.MessageTS, ts)
	}
}

func TestPublisherFailNextFailsThatManyCallsOfThatMethod(t *testing.T) {
	ctx := t.Context()
	p := NewPublisher()
	in := recovery.Incident{ID: "INC-A", Channel: "C0PROD", MessageTS: "1.1"}
	slack := errors.New("slack: ratelimited")
	p.FailNext("PostNote", 1, nil)
	p.FailNext("PostNote", 1, slack)
	errs := []error{p.PostNote(ctx, in, note("1")), p.PostNote(ctx, in, note("2")), p.PostNote(ctx, in, note("3"))}
	if !errors.Is(errs[0], ErrInjected) || !errors.Is(errs[1], slack) || errs[2] != nil {
		t.Fatalf("PostNote errors: got %v, want [%v %v <nil>]", errs, ErrInjected, slack)
	}
	if _, err := p.PostAlert(ctx, in); err != nil {
		t.Fatalf("PostAlert: got %v, want no failure (only PostNote was failed)", err)
	}
	if got, want := p.Texts("INC-A"), []string{"3"}; !slices.Equal(got, want) {
		t.Fatalf("thread: got %q, want %q (failed notes are not shown)", got, want)
	}
	if got := p.Count("PostNote"); got != 3 {
		t.Fatalf("PostNote calls: got %d, want 3 (failed ones too)", got)
	}
}

func TestPublisherWaitNotesWaitsForNotesPostedLater(t *testing.T) {
	ctx := t.Context()
	p := NewPublisher()
	in := recovery.Incident{ID: "INC-A", Channel: "C0PROD", MessageTS: "1.1"}
	_ = p.PostNote(ctx, in, note("1"))
	got := make(chan []recovery.Note, 1)
	tb := &fatalTB{TB: t, msg: make(chan string, 1)}
	go func() { got <- p.WaitNotes(tb, "INC-A", 3) }()
	// Once it waits for a wake-up, it has looked (or is looking) and seen fewer than 3.
	if !waitFor(WaitTimeout, nil, func() bool {
		p.Recorder.mu.Lock()
		defer p.Recorder.mu.Unlock()
		return p.Recorder.changed != nil
	}) {
		t.Fatalf("WaitNotes did not start waiting within %s", WaitTimeout)
	}
	select {
	case n := <-got:
		t.Fatalf("WaitNotes returned %d notes before the 3 it waits for were posted", len(n))
	case m := <-tb.msg:
		t.Fatalf("WaitNotes failed: %s", m)
	default:
	}
	_ = p.PostNote(ctx, in, note("2"))
	_ = p.Reply(ctx, "C0PROD", "1.1", note("3"))
	select {
	case n := <-got:
		if len(n) != 3 {
			t.Fatalf("WaitNotes: got %d notes, want 3", len(n))
		}
	case m := <-tb.msg:
		t.Fatalf("WaitNotes failed: %s", m)
	case <-time.After(WaitTimeout):
		t.Fatalf("WaitNotes did not return within %s of the third note", WaitTimeout)
	}
}

func TestPublisherWaitsFailSayingWhatTheyGot(t *testing.T) {
	ctx := t.Context()
	p := NewPublisher()
	p.timeout = 50 * time.Millisecond
	in := recovery.Incident{ID: "INC-A", Channel: "C0PROD", MessageTS: "1.1"}
	_ = p.PostNote(ctx, in, note("only one"))
	tests := []struct {
		name string
		wait func(testing.TB)
		want []string
	}{
		{"notes", func(tb testing.TB) { p.WaitNotes(tb, "INC-A", 2) }, []string{"got 1", "want at least 2", "only one"}},
		{"alerts", func(tb testing.TB) { p.WaitAlerts(tb, 1) }, []string{"alerts: got 0", "want at least 1"}},
		{"note", func(tb testing.TB) { p.WaitNote(tb, "INC-A", "two") }, []string{`got no note saying "two"`, "only one"}},
		{"request", func(tb testing.TB) {
			p.WaitRequest(tb, "approved", func(r recovery.Request) bool { return r.State == recovery.RequestApproved })
		}, []string{"got no request approved"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := failure(t, tt.wait)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("failure: got %q, want it to say %q", msg, w)
				}
			}
		})
	}
}
