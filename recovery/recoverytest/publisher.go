package recoverytest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// ErrInjected is the error a fake returns for a failure injected without an error of
// its own (Publisher.FailNext with a nil error).
var ErrInjected = errors.New("recoverytest: injected failure")

// Post is one call the engine made on a Publisher that went through: what people see
// in Slack. A call failed by FailNext is not a Post (it is in Calls).
type Post struct {
	// Method is the Publisher method: PostAlert, UpdateAlert, PostNote, Reply,
	// PostRequest, UpdateRequest, PostChecklist or UpdateChecklist.
	Method  string
	Channel string
	// TS is the message posted or updated (alerts, requests, checklists); ThreadTS the
	// thread a note, reply, request or checklist went to.
	TS       string
	ThreadTS string
	// Incident is the alert or checklist shown, or the incident of a PostNote.
	Incident recovery.Incident
	Request  recovery.Request
	Note     recovery.Note
}

// Publisher is a recovery.Publisher that records what medic shows in Slack, so tests
// read the alert, its thread and the requests as people would. Its methods are safe
// for concurrent use; Wait helpers wait (real time) for what the engine's goroutines
// post. FailNext makes calls fail, as Slack does when it is down.
type Publisher struct {
	Recorder
	mu    sync.Mutex
	posts []Post
	fails map[string][]error
	seq   int
	// timeout replaces WaitTimeout (for the tests of the waits themselves).
	timeout time.Duration
}

var _ recovery.Publisher = (*Publisher)(nil)

// NewPublisher returns an empty Publisher.
func NewPublisher() *Publisher { return &Publisher{fails: map[string][]error{}} }

// FailNext makes the next n calls of method (PostAlert, PostNote, Reply …) fail with
// err (ErrInjected when nil). Calls already scripted to fail come first.
func (p *Publisher) FailNext(method string, n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.fails[method] = append(p.fails[method], err)
	}
}

// do records a call and either fails it (as scripted) or keeps post.
func (p *Publisher) do(method string, post Post, args ...any) (string, error) {
	p.mu.Lock()
	if errs := p.fails[method]; len(errs) > 0 {
		p.fails[method] = errs[1:]
		p.mu.Unlock()
		p.record(method, append(args, errs[0])...)
		return "", errs[0]
	}
	post.Method = method
	if post.TS == "" && (method == "PostAlert" || method == "PostRequest" || method == "PostChecklist") {
		p.seq++
		post.TS = fmt.Sprintf("1700000000.%06d", p.seq)
	}
	p.posts = append(p.posts, post)
	p.mu.Unlock()
	p.record(method, args...)
	return post.TS, nil
}

// PostAlert records in's alert and returns a new ts.
func (p *Publisher) PostAlert(_ context.Context, in recovery.Incident) (string, error) {
	return p.do("PostAlert", Post{Channel: in.Channel, Incident: in}, in.ID)
}

// UpdateAlert records the alert at in.Channel/in.MessageTS showing in.
func (p *Publisher) UpdateAlert(_ context.Context, in recovery.Incident) error {
	_, err := p.do("UpdateAlert", Post{Channel: in.Channel, TS: in.MessageTS, Incident: in}, in.ID)
	return err
}

// PostNote records a note in in's thread.
func (p *Publisher) PostNote(_ context.Context, in recovery.Incident, n recovery.Note) error {
	_, err := p.do("PostNote", Post{Channel: in.Channel, ThreadTS: in.MessageTS, Incident: in, Note: n}, in.ID, Plain(n))
	return err
}

// Reply records a note in the thread channel/threadTS.
func (p *Publisher) Reply(_ context.Context, channel, threadTS string, n recovery.Note) error {
	_, err := p.do("Reply", Post{Channel: channel, ThreadTS: threadTS, Note: n}, channel, threadTS, Plain(n))
	return err
}

// PostRequest records a request message and returns a new ts.
func (p *Publisher) PostRequest(_ context.Context, r recovery.Request) (string, error) {
	return p.do("PostRequest", Post{Channel: r.Channel, ThreadTS: r.ThreadTS, Request: r}, r.ID)
}

// UpdateRequest records a request's message showing r.
func (p *Publisher) UpdateRequest(_ context.Context, r recovery.Request) error {
	_, err := p.do("UpdateRequest", Post{Channel: r.Channel, TS: r.MessageTS, ThreadTS: r.ThreadTS, Request: r}, r.ID, string(r.State))
	return err
}

// PostChecklist records a resolved incident's checklist and returns a new ts.
func (p *Publisher) PostChecklist(_ context.Context, in recovery.Incident) (string, error) {
	return p.do("PostChecklist", Post{Channel: in.Channel, ThreadTS: in.MessageTS, Incident: in}, in.ID)
}

// UpdateChecklist records the checklist showing in's items.
func (p *Publisher) UpdateChecklist(_ context.Context, in recovery.Incident) error {
	_, err := p.do("UpdateChecklist", Post{Channel: in.Channel, TS: in.Resolution.ChecklistTS, ThreadTS: in.MessageTS, Incident: in}, in.ID)
	return err
}

// Posts returns every call that went through, in order.
func (p *Publisher) Posts() []Post {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Post(nil), p.posts...)
}

// Alerts returns each alert message as it stands now (its latest post or update), in
// the order they were first posted.
func (p *Publisher) Alerts() []recovery.Incident {
	var out []recovery.Incident
	index := map[string]int{} // channel/ts → position in out
	for _, x := range p.Posts() {
		key := x.Channel + "/" + x.TS
		switch x.Method {
		case "PostAlert":
			index[key] = len(out)
			out = append(out, x.Incident)
		case "UpdateAlert":
			if i, ok := index[key]; ok {
				out[i] = x.Incident
			}
		}
	}
	return out
}

// Alert returns the alert of an incident as it stands now; ok is false when none
// was posted.
func (p *Publisher) Alert(incidentID string) (in recovery.Incident, ok bool) {
	for _, a := range p.Alerts() {
		if a.ID == incidentID {
			in, ok = a, true
		}
	}
	return in, ok
}

// AlertVersions returns every state an incident's alert showed: its post, then each
// update.
func (p *Publisher) AlertVersions(incidentID string) []recovery.Incident {
	var out []recovery.Incident
	for _, x := range p.Posts() {
		if (x.Method == "PostAlert" || x.Method == "UpdateAlert") && x.Incident.ID == incidentID {
			out = append(out, x.Incident)
		}
	}
	return out
}

// Notes returns the notes in an incident's thread, in order: those posted about the
// incident (PostNote) and the replies in its alert's thread (a job's notes), the
// thread being known from the alert's post or update or a note about the incident.
func (p *Publisher) Notes(incidentID string) []recovery.Note {
	posts := p.Posts()
	threads := map[string]bool{}
	for _, x := range posts {
		switch {
		case x.Incident.ID != incidentID:
		case x.Method == "PostAlert", x.Method == "UpdateAlert":
			threads[x.Channel+"/"+x.TS] = true
		case x.Method == "PostNote" && x.ThreadTS != "":
			threads[x.Channel+"/"+x.ThreadTS] = true
		}
	}
	var out []recovery.Note
	for _, x := range posts {
		switch {
		case x.Method == "PostNote" && x.Incident.ID == incidentID,
			x.Method == "Reply" && threads[x.Channel+"/"+x.ThreadTS]:
			out = append(out, x.Note)
		}
	}
	return out
}

// Texts returns Plain of each note of an incident's thread.
func (p *Publisher) Texts(incidentID string) []string {
	var out []string
	for _, n := range p.Notes(incidentID) {
		out = append(out, Plain(n))
	}
	return out
}

// Thread returns the notes posted in the thread channel/ts (an alert's or a
// request's), in order.
func (p *Publisher) Thread(channel, ts string) []recovery.Note {
	var out []recovery.Note
	for _, x := range p.Posts() {
		if (x.Method == "PostNote" || x.Method == "Reply") && x.Channel == channel && x.ThreadTS == ts {
			out = append(out, x.Note)
		}
	}
	return out
}

// Requests returns each request message as it stands now (its latest post or
// update), in the order posted.
func (p *Publisher) Requests() []recovery.Request {
	var out []recovery.Request
	index := map[string]int{}
	for _, x := range p.Posts() {
		switch x.Method {
		case "PostRequest":
			index[x.Request.ID] = len(out)
			r := x.Request
			r.MessageTS = x.TS
			out = append(out, r)
		case "UpdateRequest":
			if i, ok := index[x.Request.ID]; ok {
				out[i] = x.Request
			}
		}
	}
	return out
}

// Request returns a request's message as it stands now; ok is false when it was not
// posted.
func (p *Publisher) Request(id string) (r recovery.Request, ok bool) {
	for _, x := range p.Requests() {
		if x.ID == id {
			return x, true
		}
	}
	return r, false
}

// Checklist returns the incident as its checklist message shows it now; ok is false
// when no checklist was posted.
func (p *Publisher) Checklist(incidentID string) (in recovery.Incident, ok bool) {
	for _, x := range p.Posts() {
		if (x.Method == "PostChecklist" || x.Method == "UpdateChecklist") && x.Incident.ID == incidentID {
			in, ok = x.Incident, true
		}
	}
	return in, ok
}

// Wait waits (real time, WaitTimeout) until cond holds, checking it at every call
// made on the publisher; when it does not, it fails tb saying it got no what, with
// the posts made.
func (p *Publisher) Wait(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if timeout, ok := p.wait(cond); !ok {
		tb.Fatalf("got no %s within %s; posts: %s", what, timeout, p.describe())
	}
}

// wait is Wait without failing: it reports whether cond held, and how long it waited.
func (p *Publisher) wait(cond func() bool) (time.Duration, bool) {
	timeout := orTimeout(p.timeout)
	return timeout, waitFor(timeout, p.wake, cond)
}

// WaitAlerts waits until at least n alerts were posted and returns them as they stand.
func (p *Publisher) WaitAlerts(tb testing.TB, n int) []recovery.Incident {
	tb.Helper()
	var got []recovery.Incident
	if timeout, ok := p.wait(func() bool { got = p.Alerts(); return len(got) >= n }); !ok {
		tb.Fatalf("alerts: got %d after %s, want at least %d; posts: %s", len(got), timeout, n, p.describe())
	}
	return got
}

// WaitNotes waits until an incident's thread holds at least n notes and returns them.
func (p *Publisher) WaitNotes(tb testing.TB, incidentID string, n int) []recovery.Note {
	tb.Helper()
	var got []recovery.Note
	if timeout, ok := p.wait(func() bool { got = p.Notes(incidentID); return len(got) >= n }); !ok {
		tb.Fatalf("notes in the thread of %s: got %d after %s, want at least %d; posts: %s", incidentID, len(got), timeout, n, p.describe())
	}
	return got
}

// WaitNote waits until a note of an incident's thread contains text (in Plain) and
// returns the first such note.
func (p *Publisher) WaitNote(tb testing.TB, incidentID, text string) recovery.Note {
	tb.Helper()
	var got recovery.Note
	p.Wait(tb, fmt.Sprintf("note saying %q in the thread of %s", text, incidentID), func() bool {
		for _, n := range p.Notes(incidentID) {
			if strings.Contains(Plain(n), text) {
				got = n
				return true
			}
		}
		return false
	})
	return got
}

// WaitRequest waits until a request message as it stands satisfies cond (what says
// which: "approved") and returns it.
func (p *Publisher) WaitRequest(tb testing.TB, what string, cond func(recovery.Request) bool) recovery.Request {
	tb.Helper()
	var got recovery.Request
	p.Wait(tb, "request "+what, func() bool {
		for _, r := range p.Requests() {
			if cond(r) {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

// describe lists the posts for a failure message.
func (p *Publisher) describe() string {
	var b strings.Builder
	for _, x := range p.Posts() {
		b.WriteString("\n  " + x.Method)
		switch x.Method {
		case "PostAlert", "UpdateAlert", "PostChecklist", "UpdateChecklist":
			fmt.Fprintf(&b, " %s %s %s", x.Incident.ID, x.Incident.Scenario, x.Incident.Status)
		case "PostRequest", "UpdateRequest":
			fmt.Fprintf(&b, " %s %s %s", x.Request.ID, x.Request.Action, x.Request.State)
		default:
			fmt.Fprintf(&b, " %s %q", x.Incident.ID, Plain(x.Note))
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// Plain is a note as plain text: its Text (mentions as user IDs, links with their
// URL), then its Title, Detail and Link on lines of their own when set.
func Plain(n recovery.Note) string {
	parts := []string{n.Text.Plain()}
	for _, s := range []string{n.Title, n.Detail, n.Link} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "\n")
}
