package recoverytest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

func TestPagerReturnsScriptedErrorsAttemptByAttempt(t *testing.T) {
	ctx := t.Context()
	clock := NewClock(Start)
	p := NewPager("pagerduty", clock.Now)
	p.Script(TemporaryError(30*time.Second), PartialError("U0SENIOR"), PermanentError(), nil)
	sentinel := errors.New("from SendFunc")
	p.SendFunc = func(context.Context, recovery.Page, recovery.Incident, []recovery.Level) error { return sentinel }
	levels := []recovery.Level{{Name: "oncall"}, {Name: "senior"}}
	var errs []error
	for i := range 5 {
		errs = append(errs, p.Send(ctx, recovery.Page{ID: "INC-A#1/pagerduty"}, recovery.Incident{ID: "INC-A"}, levels))
		if i < 4 {
			clock.Advance(time.Minute)
		}
	}

	type temporary interface{ Temporary() bool }
	var tmp temporary
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(errs[0], &tmp) || !tmp.Temporary() || !errors.As(errs[0], &ra) || ra.RetryAfter() != 30*time.Second {
		t.Fatalf("attempt 1: got %v, want temporary with RetryAfter 30s", errs[0])
	}
	var partial recovery.PartialSend
	if !errors.As(errs[1], &partial) || !slices.Equal(partial.Reached(), []string{"U0SENIOR"}) || !errors.As(errs[1], &tmp) || !tmp.Temporary() {
		t.Fatalf("attempt 2: got %v, want temporary having reached [U0SENIOR]", errs[1])
	}
	if !errors.As(errs[2], &tmp) || tmp.Temporary() {
		t.Fatalf("attempt 3: got %v, want permanent", errs[2])
	}
	if errs[3] != nil || errs[4] != sentinel {
		t.Fatalf("attempts 4 and 5: got %v and %v, want nil (scripted) and SendFunc's", errs[3], errs[4])
	}

	sends := p.Sends()
	if len(sends) != 5 {
		t.Fatalf("sends: got %d, want 5", len(sends))
	}
	for i, s := range sends {
		if want := Start.Add(time.Duration(i) * time.Minute); !s.At.Equal(want) {
			t.Errorf("send %d at %v, want the clock's %v", i+1, s.At, want)
		}
		if !slices.Equal(s.Levels, []string{"oncall", "senior"}) || s.Incident.ID != "INC-A" || s.Err != errs[i] {
			t.Errorf("send %d: got levels %v about %s with %v, want [oncall senior] about INC-A with %v", i+1, s.Levels, s.Incident.ID, s.Err, errs[i])
		}
	}
	if got := len(p.Delivered()); got != 1 {
		t.Fatalf("delivered: got %d, want 1", got)
	}
}

func TestPagerWantsWhatTheRealPagerOfItsNameWants(t *testing.T) {
	pd := recovery.Level{Name: "oncall", PagerDuty: true}
	slackOnly := recovery.Level{Name: "developers", Slack: []string{"S0DEVELOPERS"}}
	nobody := recovery.Level{Name: "empty"}
	tests := []struct {
		pager  string
		kind   recovery.PageKind
		levels []recovery.Level
		want   bool
	}{
		{"pagerduty", recovery.PageTrigger, []recovery.Level{pd}, true},
		{"pagerduty", recovery.PageTrigger, []recovery.Level{slackOnly, nobody}, false},
		{"pagerduty", recovery.PageAcknowledge, nil, true},
		{"pagerduty", recovery.PageResolve, nil, true},
		{"slack", recovery.PageTrigger, []recovery.Level{nobody, slackOnly}, true},
		{"slack", recovery.PageTrigger, []recovery.Level{pd}, false},
		{"slack", recovery.PageAcknowledge, []recovery.Level{slackOnly}, false},
		{"other", recovery.PageResolve, nil, true},
	}
	for _, tt := range tests {
		p := NewPager(tt.pager, nil)
		if got := p.Wants(tt.kind, tt.levels); got != tt.want {
			t.Errorf("%s wants %s to %v: got %v, want %v", tt.pager, tt.kind, tt.levels, got, tt.want)
		}
		if p.Name() != tt.pager {
			t.Errorf("name: got %q, want %q", p.Name(), tt.pager)
		}
	}
}

func TestPagerWaitSendsFailsSayingWhatItGot(t *testing.T) {
	p := NewPager("slack", nil)
	p.timeout = 50 * time.Millisecond
	_ = p.Send(t.Context(), recovery.Page{}, recovery.Incident{}, nil)
	if got := failure(t, func(tb testing.TB) { p.WaitSends(tb, 1) }); got != "" {
		t.Fatalf("WaitSends(1) after one send failed: %s", got)
	}
	want := "slack pager: got 1 sends after 50ms, want at least 2"
	if got := failure(t, func(tb testing.TB) { p.WaitSends(tb, 2) }); got != want {
		t.Fatalf("WaitSends(2): got %q, want %q", got, want)
	}
}
