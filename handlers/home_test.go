package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

var homeAt = time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)

// TestMayApprove pins when the Home offers Approve, at its boundaries.
func TestMayApprove(t *testing.T) {
	base := recovery.Request{State: recovery.RequestPending, NeedsApproval: true, PreviewReady: true, RequestedBy: "U0ALICE", ExpiresAt: homeAt.Add(time.Second)}
	tests := []struct {
		name     string
		change   func(*recovery.Request)
		user     string
		approver bool
		want     bool
	}{
		{"an approver, another's request", func(*recovery.Request) {}, "U0BOB", true, true},
		{"the requester", func(*recovery.Request) {}, "U0ALICE", true, false},
		{"not an approver", func(*recovery.Request) {}, "U0CAROL", false, false},
		{"preview not ready", func(r *recovery.Request) { r.PreviewReady = false }, "U0BOB", true, false},
		{"self-service", func(r *recovery.Request) { r.NeedsApproval = false }, "U0BOB", true, false},
		{"decided", func(r *recovery.Request) { r.State = recovery.RequestApproved }, "U0BOB", true, false},
		{"expires now", func(r *recovery.Request) { r.ExpiresAt = homeAt }, "U0BOB", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.change(&r)
			if got := MayApprove(r, tt.user, tt.approver, homeAt); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

type fakeRoles map[string]recovery.Role // user@env → role

func (f fakeRoles) Has(_ context.Context, user, env string, role recovery.Role) (bool, error) {
	got, ok := f[user+"@"+env]
	if !ok {
		return false, nil
	}
	rank := map[recovery.Role]int{recovery.RoleResponder: 1, recovery.RoleApprover: 2, recovery.RoleAdmin: 3}
	return rank[got] >= rank[role], nil
}

type fakeHomeStore struct{ requests []recovery.Request }

func (f fakeHomeStore) PendingRequests(context.Context) ([]recovery.Request, error) {
	return f.requests, nil
}
func (f fakeHomeStore) OpenIncidents(_ context.Context, env string) ([]recovery.Incident, error) {
	return []recovery.Incident{{ID: "INC-" + env, Env: env}}, nil
}
func (f fakeHomeStore) RunningJobs(context.Context, string) ([]recovery.Job, error) { return nil, nil }
func (f fakeHomeStore) LastSuccessfulDeploy(context.Context, recovery.Environment) (*recovery.Deploy, error) {
	return nil, nil
}

type nopHomePublisher struct{}

func (nopHomePublisher) PublishHome(context.Context, recovery.HomeReport) error { return nil }
func (nopHomePublisher) TellUser(context.Context, string, string) error         { return nil }

// TestHomeReportShowsOnlyTheirEnvironments: a person sees the environments where
// they hold a role, with their requests; Approve only where they approve; someone
// without a role, nothing.
func TestHomeReportShowsOnlyTheirEnvironments(t *testing.T) {
	envs, err := recovery.NewEnvironments([]recovery.Environment{{Name: "dev"}, {Name: "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	pending := func(id, env, by string) recovery.Request {
		return recovery.Request{ID: id, Env: env, RequestedBy: by, State: recovery.RequestPending, NeedsApproval: true, PreviewReady: true, ExpiresAt: homeAt.Add(time.Hour)}
	}
	st := fakeHomeStore{requests: []recovery.Request{pending("REQ-DEV", "dev", "U0ALICE"), pending("REQ-PROD", "prod", "U0ALICE")}}
	roles := fakeRoles{"U0DEVONLY@dev": recovery.RoleApprover, "U0BOB@dev": recovery.RoleApprover, "U0BOB@prod": recovery.RoleApprover, "U0ALICE@prod": recovery.RoleApprover}
	h, err := NewHome(HomeSources{Roles: roles, Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs,
		Publisher: nopHomePublisher{}, Now: func() time.Time { return homeAt }})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(rs []recovery.Request) (out []string) {
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		user                     string
		envs, approvals, waiting []string
		noRole                   bool
	}{
		{user: "U0DEVONLY", envs: []string{"dev"}, approvals: []string{"REQ-DEV"}},
		{user: "U0BOB", envs: []string{"dev", "prod"}, approvals: []string{"REQ-DEV", "REQ-PROD"}},
		{user: "U0ALICE", envs: []string{"prod"}, waiting: []string{"REQ-PROD"}},
		{user: "U0MALLORY", noRole: true},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			r := h.Report(context.Background(), tt.user)
			var envNames []string
			for _, e := range r.Envs {
				envNames = append(envNames, e.Name)
			}
			if r.NoRole != tt.noRole || !equal(envNames, tt.envs) || !equal(ids(r.Approvals), tt.approvals) || !equal(ids(r.Waiting), tt.waiting) {
				t.Errorf("got no role %v, envs %v, approvals %v, waiting %v; want %v, %v, %v, %v",
					r.NoRole, envNames, ids(r.Approvals), ids(r.Waiting), tt.noRole, tt.envs, tt.approvals, tt.waiting)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// countingPublisher counts the Homes published per user.
type countingPublisher struct {
	mu    sync.Mutex
	count map[string]int
	ch    chan string
}

func (p *countingPublisher) PublishHome(_ context.Context, r recovery.HomeReport) error {
	p.mu.Lock()
	p.count[r.User]++
	p.mu.Unlock()
	p.ch <- r.User
	return nil
}
func (p *countingPublisher) TellUser(context.Context, string, string) error { return nil }

func (p *countingPublisher) n(user string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[user]
}

// TestHomeRefresh: an open publishes, a second open without a change within the
// debounce does not; a change refreshes the people who opened it recently, not
// those who opened it longer ago than homeRecent.
func TestHomeRefresh(t *testing.T) {
	envs, _ := recovery.NewEnvironments([]recovery.Environment{{Name: "prod"}})
	st := fakeHomeStore{}
	now := homeAt
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	pub := &countingPublisher{count: map[string]int{}, ch: make(chan string, 100)}
	// U0AAOLD holds a role, so only homeRecent keeps its Home from being refreshed (a
	// Home without a role is a note that is never refreshed).
	h, err := NewHome(HomeSources{Roles: fakeRoles{"U0BOB@prod": recovery.RoleApprover, "U0AAOLD@prod": recovery.RoleResponder},
		Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs, Publisher: pub, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	h.HomeOpened(ctx, "U0AAOLD")
	h.HomeOpened(ctx, "U0BOB")
	advance(homeRecent + time.Second)
	h.HomeOpened(ctx, "U0BOB")
	h.HomeOpened(ctx, "U0BOB")
	if got := pub.n("U0BOB"); got != 2 {
		t.Fatalf("three opens, the last two within the debounce, published %d times, want 2", got)
	}
	advance(homeDebounce)
	for len(pub.ch) > 0 {
		<-pub.ch // the opens'
	}
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	h.Changed()
	select {
	case <-pub.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("a change refreshed nobody")
	}
	// The round ran (Bob's second publish came from it); it would have published
	// U0AAOLD first (rounds go in order of ID), and did not.
	if got := pub.n("U0BOB"); got != 3 {
		t.Errorf("Bob's home was published %d times, want 3", got)
	}
	if got := pub.n("U0AAOLD"); got != 1 {
		t.Errorf("a home opened %s ago was refreshed: published %d times, want 1", homeRecent+time.Second, got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}

// TestHomeForgetsBeyondItsBound: at most homeMaxUsers people are kept up to date.
func TestHomeForgetsBeyondItsBound(t *testing.T) {
	envs, _ := recovery.NewEnvironments([]recovery.Environment{{Name: "prod"}})
	st := fakeHomeStore{}
	now := homeAt
	h, err := NewHome(HomeSources{Roles: fakeRoles{}, Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs,
		Publisher: nopHomePublisher{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < homeMaxUsers+50; i++ {
		now = now.Add(time.Millisecond)
		h.HomeOpened(context.Background(), fmt.Sprintf("U%05d", i))
	}
	h.mu.Lock()
	n, first := len(h.users), h.users["U00000"]
	h.mu.Unlock()
	if n != homeMaxUsers || first != nil {
		t.Errorf("kept %d people (the first among them: %v), want the last %d", n, first != nil, homeMaxUsers)
	}
}

// TestHomeOpenWithinTheDebounce: an open soon after a publish publishes nothing, even
// after a change; the refresh round publishes it once the debounce has passed.
func TestHomeOpenWithinTheDebounce(t *testing.T) {
	envs, _ := recovery.NewEnvironments([]recovery.Environment{{Name: "prod"}})
	st := fakeHomeStore{}
	now := homeAt
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pub := &countingPublisher{count: map[string]int{}, ch: make(chan string, 100)}
	h, err := NewHome(HomeSources{Roles: fakeRoles{"U0BOB@prod": recovery.RoleApprover}, Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs,
		Publisher: pub, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	h.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		now = now.Add(d)
		slept = append(slept, d)
		mu.Unlock()
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.HomeOpened(ctx, "U0BOB")
	<-pub.ch
	h.Changed()
	h.HomeOpened(ctx, "U0BOB")
	if got := pub.n("U0BOB"); got != 1 {
		t.Fatalf("an open within the debounce published: %d publishes, want 1", got)
	}
	go func() { _ = h.Run(ctx) }()
	select {
	case <-pub.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("the change was never shown")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) == 0 || slept[0] != homeDebounce {
		t.Errorf("published after sleeping %v, want after one debounce (%s)", slept, homeDebounce)
	}
}

// tellingHome is a HomeService that records what it tells people.
type tellingHome struct {
	mu   sync.Mutex
	told []string
}

func (h *tellingHome) HomeOpened(context.Context, string) {}
func (h *tellingHome) TellUser(_ context.Context, user, text string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.told = append(h.told, user+": "+text)
	return nil
}

// TestHomeClicks: Approve and Reject on the Home go to Decide like the request
// message's, and the answer (a refusal too) goes to the clicker's direct messages;
// any other button on the Home does nothing.
func TestHomeClicks(t *testing.T) {
	fa := &fakeActions{err: &recovery.UserError{Msg: "You requested this: a second person must approve it."}}
	home := &tellingHome{}
	r, err := NewRouter(&fakePoster{}, Services{Status: fakeStatus{}, Requests: fa, Jobs: fa, Paging: fa, Resolution: fa, Incidents: fa, Home: home}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	onHome := func(actionID, value string) slack.InteractionCallback {
		cb := slack.InteractionCallback{Type: slack.InteractionTypeBlockActions, User: slack.User{ID: "U0ALICE"}}
		cb.View.Type = slack.VTHomeTab
		cb.ActionCallback.BlockActions = []*slack.BlockAction{{ActionID: actionID, Value: value}}
		return cb
	}
	r.HandleInteraction(context.Background(), onHome(recovery.ApproveID(), "REQ-1"))
	r.HandleInteraction(context.Background(), onHome(recovery.RejectID(), "REQ-2"))
	r.HandleInteraction(context.Background(), onHome(recovery.ButtonID(recovery.ActRollback), "INC-1"))
	r.HandleInteraction(context.Background(), onHome(recovery.JobCancelID(), "JOB-1"))
	want := []string{"decide/REQ-1/U0ALICE/true", "decide/REQ-2/U0ALICE/false"}
	if strings.Join(fa.calls, ",") != strings.Join(want, ",") || len(fa.asked) != 0 {
		t.Errorf("calls: got %v (asked %v), want %v", fa.calls, fa.asked, want)
	}
	if len(home.told) != 2 || home.told[0] != "U0ALICE: You requested this: a second person must approve it." {
		t.Errorf("told: got %q, want the refusal twice, to U0ALICE", home.told)
	}
	// A router without a Home (a drill's) decides nothing from a Home click.
	fa2 := &fakeActions{}
	r2, err := NewRouter(&fakePoster{}, Services{Status: fakeStatus{}, Requests: fa2, Jobs: fa2, Paging: fa2, Resolution: fa2, Incidents: fa2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r2.HandleInteraction(context.Background(), onHome(recovery.ApproveID(), "REQ-3"))
	if len(fa2.calls) != 0 {
		t.Errorf("without a Home tab, a Home click was carried out: %v", fa2.calls)
	}
}

// countingStore counts the reads of the Home's sources.
type countingStore struct {
	fakeHomeStore
	mu                                sync.Mutex
	incidents, jobs, deploys, pending int
}

func (c *countingStore) add(n *int) { c.mu.Lock(); *n++; c.mu.Unlock() }
func (c *countingStore) PendingRequests(ctx context.Context) ([]recovery.Request, error) {
	c.add(&c.pending)
	return c.fakeHomeStore.PendingRequests(ctx)
}
func (c *countingStore) OpenIncidents(ctx context.Context, env string) ([]recovery.Incident, error) {
	c.add(&c.incidents)
	return c.fakeHomeStore.OpenIncidents(ctx, env)
}
func (c *countingStore) RunningJobs(ctx context.Context, env string) ([]recovery.Job, error) {
	c.add(&c.jobs)
	return c.fakeHomeStore.RunningJobs(ctx, env)
}
func (c *countingStore) LastSuccessfulDeploy(ctx context.Context, env recovery.Environment) (*recovery.Deploy, error) {
	c.add(&c.deploys)
	return c.fakeHomeStore.LastSuccessfulDeploy(ctx, env)
}

// TestHomeRoundReadsOnce: a refresh round reads each environment and the pending
// requests once, however many Homes it shows.
func TestHomeRoundReadsOnce(t *testing.T) {
	envs, _ := recovery.NewEnvironments([]recovery.Environment{{Name: "dev"}, {Name: "prod"}})
	st := &countingStore{}
	now := homeAt
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pub := &countingPublisher{count: map[string]int{}, ch: make(chan string, 100)}
	roles := fakeRoles{}
	users := []string{"U0A", "U0B", "U0C"}
	for _, u := range users {
		roles[u+"@dev"], roles[u+"@prod"] = recovery.RoleResponder, recovery.RoleApprover
	}
	h, err := NewHome(HomeSources{Roles: roles, Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs, Publisher: pub, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		h.HomeOpened(context.Background(), u)
	}
	mu.Lock()
	now = now.Add(homeDebounce)
	mu.Unlock()
	st.mu.Lock()
	st.incidents, st.jobs, st.deploys, st.pending = 0, 0, 0, 0
	st.mu.Unlock()
	h.Changed()
	if more := h.round(context.Background()); more {
		t.Error("the round left Homes for later")
	}
	for _, u := range users {
		if got := pub.n(u); got != 2 {
			t.Errorf("%s's home published %d times, want 2", u, got)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.incidents != 2 || st.jobs != 2 || st.deploys != 2 || st.pending != 1 {
		t.Errorf("a round of %d Homes read incidents %d, jobs %d, deploys %d, requests %d times; want 2, 2, 2, 1",
			len(users), st.incidents, st.jobs, st.deploys, st.pending)
	}
}

// failingRoles fails every role check, as when a user group cannot be resolved.
type failingRoles struct{}

func (failingRoles) Has(context.Context, string, string, recovery.Role) (bool, error) {
	return false, errors.New("usergroups.users.list: ratelimited")
}

// TestHomeRoundsAreBoundedAndSkipPeopleWithoutARole: a change refreshes at most
// homeRoundMax Homes a round, those waiting longest first, the rest in the next round;
// the Home of someone without a role (its note never changes) is not refreshed by a
// change; and when roles cannot be checked, the note names no environment.
func TestHomeRoundsAreBoundedAndSkipPeopleWithoutARole(t *testing.T) {
	envs, _ := recovery.NewEnvironments([]recovery.Environment{{Name: "prod"}})
	st := fakeHomeStore{}
	now := homeAt
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pub := &countingPublisher{count: map[string]int{}, ch: make(chan string, 1000)}
	roles := fakeRoles{}
	var users []string
	for i := range homeRoundMax + 5 {
		u := fmt.Sprintf("U0R%03d", i)
		roles[u+"@prod"] = recovery.RoleResponder
		users = append(users, u)
	}
	h, err := NewHome(HomeSources{Roles: roles, Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs, Publisher: pub, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range append(users, "U0NOROLE") {
		h.HomeOpened(ctx, u)
	}
	mu.Lock()
	now = now.Add(homeDebounce)
	mu.Unlock()
	h.Changed()
	if more := h.round(ctx); !more {
		t.Error("the first round left nobody for the next")
	}
	refreshed := 0
	for _, u := range users {
		refreshed += pub.n(u) - 1
	}
	if refreshed != homeRoundMax {
		t.Fatalf("the first round refreshed %d Homes, want homeRoundMax (%d)", refreshed, homeRoundMax)
	}
	mu.Lock()
	now = now.Add(homeDebounce)
	mu.Unlock()
	h.round(ctx)
	for _, u := range users {
		if got := pub.n(u); got != 2 {
			t.Errorf("%s's Home published %d times after two rounds, want 2", u, got)
		}
	}
	if got := pub.n("U0NOROLE"); got != 1 {
		t.Errorf("the Home of someone without a role was refreshed by a change: %d publishes, want 1", got)
	}

	failing, err := NewHome(HomeSources{Roles: failingRoles{}, Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs, Publisher: pub, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	r := failing.Report(ctx, "U0ANYONE")
	if len(r.Problems) != 1 || strings.Contains(strings.Join(r.Problems, " "), "prod") || len(r.Envs) != 0 {
		t.Fatalf("roles not checked: problems %q, environments %d; want one note naming no environment", r.Problems, len(r.Envs))
	}
}

// failOncePublisher fails its first publish, as a 429 from Slack does.
type failOncePublisher struct {
	countingPublisher
	failed bool
}

func (p *failOncePublisher) PublishHome(ctx context.Context, r recovery.HomeReport) error {
	p.mu.Lock()
	first := !p.failed
	p.failed = true
	p.mu.Unlock()
	if first {
		return errors.New("ratelimited")
	}
	return p.countingPublisher.PublishHome(ctx, r)
}

// A Home whose publish failed is published again in a later round, without a change.
func TestHomePublishFailedIsTriedAgain(t *testing.T) {
	envs, _ := recovery.NewEnvironments([]recovery.Environment{{Name: "prod"}})
	st := fakeHomeStore{}
	now := homeAt
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pub := &failOncePublisher{countingPublisher: countingPublisher{count: map[string]int{}, ch: make(chan string, 10)}}
	h, err := NewHome(HomeSources{Roles: fakeRoles{"U0BOB@prod": recovery.RoleResponder}, Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs, Publisher: pub, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	h.HomeOpened(context.Background(), "U0BOB") // refused by Slack
	if got := pub.n("U0BOB"); got != 0 {
		t.Fatalf("published %d times, want 0 (the publish failed)", got)
	}
	mu.Lock()
	now = now.Add(homeDebounce)
	mu.Unlock()
	h.round(context.Background())
	if got := pub.n("U0BOB"); got != 1 {
		t.Fatalf("after the next round: published %d times, want 1", got)
	}
}

// TestHomeRoundOrder: a round publishes at most homeRoundMax Homes, those published
// longest ago first (not in order of ID), and says the rest wait.
func TestHomeRoundOrder(t *testing.T) {
	envs, _ := recovery.NewEnvironments([]recovery.Environment{{Name: "prod"}})
	st := fakeHomeStore{}
	now := homeAt
	roles := fakeRoles{}
	var users []string
	// Opened (and published) one after the other, IDs falling: the last opened has the
	// smallest ID.
	for i := homeRoundMax; i >= 0; i-- {
		u := fmt.Sprintf("U%03d", i)
		roles[u+"@prod"] = recovery.RoleResponder
		users = append(users, u)
	}
	pub := &countingPublisher{count: map[string]int{}, ch: make(chan string, 100)}
	h, err := NewHome(HomeSources{Roles: roles, Requests: st, Incidents: st, Jobs: st, Deploys: st, Envs: envs,
		Publisher: pub, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		now = now.Add(time.Second)
		h.HomeOpened(context.Background(), u)
	}
	now = now.Add(homeDebounce)
	h.mu.Lock()
	for _, u := range h.users {
		u.dirty = true // as Changed does, without starting a round of its own
	}
	h.mu.Unlock()
	if more := h.round(context.Background()); !more {
		t.Error("a round with one Home over its bound says none waits")
	}
	last := users[len(users)-1]
	for _, u := range users {
		want := 2
		if u == last {
			want = 1 // published last: it waits for the next round
		}
		if got := pub.n(u); got != want {
			t.Errorf("%s published %d times, want %d", u, got, want)
		}
	}
}

// blockingHomeStore holds its first OpenIncidents until release is closed.
type blockingHomeStore struct {
	fakeHomeStore
	calls   *atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (b blockingHomeStore) OpenIncidents(ctx context.Context, env string) ([]recovery.Incident, error) {
	if b.calls.Add(1) == 1 {
		close(b.entered)
		<-b.release
	}
	return b.fakeHomeStore.OpenIncidents(ctx, env)
}

// TestHomeStaleReportNotPublished: a Home gathered before another that was published
// meanwhile is dropped, never shown over the newer one.
func TestHomeStaleReportNotPublished(t *testing.T) {
	envs, _ := recovery.NewEnvironments([]recovery.Environment{{Name: "prod"}})
	st := blockingHomeStore{calls: &atomic.Int32{}, entered: make(chan struct{}), release: make(chan struct{})}
	pub := &countingPublisher{count: map[string]int{}, ch: make(chan string, 10)}
	h, err := NewHome(HomeSources{Roles: fakeRoles{"U0BOB@prod": recovery.RoleResponder}, Requests: st, Incidents: st, Jobs: st, Deploys: st,
		Envs: envs, Publisher: pub, Now: func() time.Time { return homeAt }})
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.users["U0BOB"] = &homeUser{}
	h.mu.Unlock()
	older := make(chan struct{})
	go func() {
		defer close(older)
		h.publish(context.Background(), "U0BOB", &homeReads{}) // gathered first, held
	}()
	<-st.entered
	h.publish(context.Background(), "U0BOB", &homeReads{}) // gathered second, shown
	close(st.release)
	<-older
	if got := pub.n("U0BOB"); got != 1 {
		t.Errorf("published %d times, want 1: the older report must be dropped", got)
	}
}
