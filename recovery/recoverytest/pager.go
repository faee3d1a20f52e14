package recoverytest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// Send is one attempt to deliver a page, as a Pager saw it.
type Send struct {
	// At is the clock's time of the attempt.
	At       time.Time
	Page     recovery.Page
	Incident recovery.Incident
	// Levels are the names of the levels paged.
	Levels []string
	// Err is what the attempt returned (nil: delivered).
	Err error
}

// Pager is a recovery.Pager that records every Send with the clock's time and
// returns scripted errors attempt by attempt. NewPager makes one that wants what the
// real pager of its name wants.
type Pager struct {
	// PagerName is what Name returns ("pagerduty", "slack").
	PagerName string
	// Now tells the time of each Send (time.Now when nil).
	Now func() time.Time
	// WantsFunc answers Wants; nil wants every page.
	WantsFunc func(kind recovery.PageKind, levels []recovery.Level) bool
	// SendFunc, when set, answers the attempts no script covers.
	SendFunc func(ctx context.Context, p recovery.Page, in recovery.Incident, levels []recovery.Level) error

	mu      sync.Mutex
	sends   []Send
	script  []error
	changed chan struct{}
	// timeout replaces WaitTimeout (for the tests of the waits themselves).
	timeout time.Duration
}

var _ recovery.Pager = (*Pager)(nil)

// NewPager returns a Pager named name whose Wants is the real one's: "pagerduty"
// wants acknowledgements, resolutions and triggers to a level with PagerDuty on;
// "slack" wants triggers to a level with Slack members; any other name wants all.
func NewPager(name string, now func() time.Time) *Pager {
	p := &Pager{PagerName: name, Now: now}
	switch name {
	case "pagerduty":
		p.WantsFunc = func(kind recovery.PageKind, levels []recovery.Level) bool {
			return kind != recovery.PageTrigger || slices.ContainsFunc(levels, func(l recovery.Level) bool { return l.PagerDuty })
		}
	case "slack":
		p.WantsFunc = func(kind recovery.PageKind, levels []recovery.Level) bool {
			return kind == recovery.PageTrigger && slices.ContainsFunc(levels, func(l recovery.Level) bool { return len(l.Slack) > 0 })
		}
	}
	return p
}

// Name returns PagerName.
func (p *Pager) Name() string { return p.PagerName }

// Wants asks WantsFunc.
func (p *Pager) Wants(kind recovery.PageKind, levels []recovery.Level) bool {
	if p.WantsFunc == nil {
		return true
	}
	return p.WantsFunc(kind, levels)
}

// Script sets what the next attempts return, in order (nil delivers); attempts past
// the script go to SendFunc, or succeed.
func (p *Pager) Script(errs ...error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = append(p.script, errs...)
}

// Send records the attempt and returns the next scripted error.
func (p *Pager) Send(ctx context.Context, pg recovery.Page, in recovery.Incident, levels []recovery.Level) error {
	var names []string
	for _, l := range levels {
		names = append(names, l.Name)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	p.mu.Lock()
	scripted, err := len(p.script) > 0, error(nil)
	if scripted {
		err, p.script = p.script[0], p.script[1:]
	}
	p.mu.Unlock()
	if !scripted && p.SendFunc != nil {
		err = p.SendFunc(ctx, pg, in, levels)
	}
	p.mu.Lock()
	p.sends = append(p.sends, Send{At: now(), Page: pg, Incident: in, Levels: names, Err: err})
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
	p.mu.Unlock()
	return err
}

// Sends returns every attempt so far, in order.
func (p *Pager) Sends() []Send {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Send(nil), p.sends...)
}

// Delivered returns the attempts that succeeded.
func (p *Pager) Delivered() []Send {
	var out []Send
	for _, s := range p.Sends() {
		if s.Err == nil {
			out = append(out, s)
		}
	}
	return out
}

// WaitSends waits (real time, WaitTimeout) until at least n attempts were made and
// returns them.
func (p *Pager) WaitSends(tb testing.TB, n int) []Send {
	tb.Helper()
	var got []Send
	timeout := orTimeout(p.timeout)
	if !waitFor(timeout, p.wake, func() bool { got = p.Sends(); return len(got) >= n }) {
		tb.Fatalf("%s pager: got %d sends after %s, want at least %d", p.PagerName, len(got), timeout, n)
	}
	return got
}

func (p *Pager) wake() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// PageError is an error a Pager can be scripted to return: Temporary ones are retried
// (after RetryAfter when it is longer than medic's backoff), others end the page;
// Reached names what the attempt reached before failing (recovery.PartialSend).
type PageError struct {
	Msg       string
	Temp      bool
	After     time.Duration
	ReachedTo []string
}

var _ recovery.PartialSend = (*PageError)(nil)

func (e *PageError) Error() string { return e.Msg }

// Temporary reports whether medic should try again.
func (e *PageError) Temporary() bool { return e.Temp }

// RetryAfter is how long the pager asked medic to wait (0: medic's backoff).
func (e *PageError) RetryAfter() time.Duration { return e.After }

// Reached names the targets reached before the error.
func (e *PageError) Reached() []string { return e.ReachedTo }

// TemporaryError is a PageError medic retries, after retryAfter when it is longer
// than its own backoff (0: its backoff).
func TemporaryError(retryAfter time.Duration) error {
	msg := "pager unavailable (503)"
	if retryAfter > 0 {
		msg = fmt.Sprintf("pager rate limited (429, retry after %s)", retryAfter)
	}
	return &PageError{Msg: msg, Temp: true, After: retryAfter}
}

// PermanentError is a PageError that ends the page.
func PermanentError() error {
	return &PageError{Msg: "pager refused the page (400 invalid routing key)"}
}

// PartialError is a temporary PageError after reaching some targets (Slack users, a
// thread): a retry must reach only the rest.
func PartialError(reached ...string) error {
	return &PageError{Msg: "pager reached some targets before failing", Temp: true, ReachedTo: reached}
}
