package recovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ruleGroups is a Slack user-group directory: members per group, how often each group
// was asked, and an error to answer with while Slack is down.
type ruleGroups struct {
	members map[string][]string
	calls   map[string]int
	err     error
}

func (g *ruleGroups) GroupMembers(_ context.Context, group string) ([]string, error) {
	if g.calls == nil {
		g.calls = map[string]int{}
	}
	g.calls[group]++
	if g.err != nil {
		return nil, g.err
	}
	return g.members[group], nil
}

// ruleRoles is a team: roles everywhere, a preprod-only team and a prod-only admin.
func ruleRoles() map[string]RoleMembers {
	return map[string]RoleMembers{
		AllEnvironments: {Responders: []string{"U0RESP"}, Approvers: []string{"U0APPR", "S0LEADS"}, Admins: []string{"U0ADMIN"}},
		"preprod":       {Responders: []string{"U0PPRESP", "S0QA"}, Approvers: []string{"U0PPAPPR"}},
		"prod":          {Admins: []string{"U0PRODADMIN"}},
	}
}

func ruleDirectory() *ruleGroups {
	return &ruleGroups{members: map[string][]string{"S0LEADS": {"U0LEAD"}, "S0QA": {"U0QA", "W0QAGUEST"}}}
}

// TestAccessRoles: who may request (responder), approve (approver) and override
// (admin) where. Each role includes the ones below it; a role held in one environment
// says nothing of another; members of a user group hold the group's role.
func TestAccessRoles(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	a := NewAccess(ruleRoles(), ruleDirectory(), 5*time.Minute, time.Hour, func() time.Time { return now })
	const (
		no  = false
		yes = true
	)
	tests := []struct {
		name                       string
		user, env                  string
		responder, approver, admin bool
	}{
		{"an admin requests, approves and overrides", "U0ADMIN", "prod", yes, yes, yes},
		{"an admin everywhere holds it in preprod too", "U0ADMIN", "preprod", yes, yes, yes},
		{"an approver requests and approves, never overrides", "U0APPR", "prod", yes, yes, no},
		{"a responder requests only", "U0RESP", "prod", yes, no, no},
		{"a responder everywhere requests in an environment with no roles of its own", "U0RESP", "dev", yes, no, no},
		{"a member of the approvers' group approves", "U0LEAD", "prod", yes, yes, no},
		{"a member of preprod's responders' group requests in preprod", "U0QA", "preprod", yes, no, no},
		{"a guest (W…) in the group counts as a member", "W0QAGUEST", "preprod", yes, no, no},
		{"preprod's group gives nothing in prod", "U0QA", "prod", no, no, no},
		{"preprod's approver approves in preprod", "U0PPAPPR", "preprod", yes, yes, no},
		{"preprod's approver is nobody in prod", "U0PPAPPR", "prod", no, no, no},
		{"preprod's responder is nobody in dev", "U0PPRESP", "dev", no, no, no},
		{"prod's admin is an admin of prod", "U0PRODADMIN", "prod", yes, yes, yes},
		{"prod's admin is nobody in preprod", "U0PRODADMIN", "preprod", no, no, no},
		{"a non-member holds nothing", "U0STRANGER", "prod", no, no, no},
		{"a non-member holds nothing in preprod either", "U0STRANGER", "preprod", no, no, no},
		{"an empty user holds nothing", "", "prod", no, no, no},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				role Role
				want bool
			}{{RoleResponder, tt.responder}, {RoleApprover, tt.approver}, {RoleAdmin, tt.admin}} {
				got, err := a.Has(ctx, tt.user, tt.env, c.role)
				if err != nil || got != c.want {
					t.Errorf("Has(%s, %s, %s): got %v, %v; want %v, nil", tt.user, tt.env, c.role, got, err, c.want)
				}
			}
		})
	}
	if got, err := a.Has(ctx, "U0ADMIN", "prod", Role("owner")); got || err != nil {
		t.Errorf("an unknown role: got %v, %v; want false, nil", got, err)
	}
}

// TestAccessWithoutGroupResolver: with no way to ask Slack, a user group in the roles
// grants nothing (and asks nothing); people listed by ID keep their roles.
func TestAccessWithoutGroupResolver(t *testing.T) {
	a := NewAccess(ruleRoles(), nil, time.Minute, time.Hour, time.Now)
	ctx := context.Background()
	for _, tt := range []struct {
		user string
		want bool
	}{{"U0LEAD", false}, {"U0APPR", true}, {"U0ADMIN", true}} {
		if got, err := a.Has(ctx, tt.user, "prod", RoleApprover); got != tt.want || err != nil {
			t.Errorf("Has(%s, prod, approver) without a resolver: got %v, %v; want %v, nil", tt.user, got, err, tt.want)
		}
	}
}

// TestAccessOnlyGroupIDsAreResolved: Slack user IDs (U…, W…) in the roles are compared,
// never asked of Slack as groups; only S… IDs are.
func TestAccessOnlyGroupIDsAreResolved(t *testing.T) {
	dir := ruleDirectory()
	a := NewAccess(ruleRoles(), dir, time.Minute, time.Hour, time.Now)
	if got, err := a.Has(context.Background(), "U0STRANGER", "preprod", RoleResponder); got || err != nil {
		t.Fatalf("got %v, %v; want false, nil", got, err)
	}
	want := map[string]int{"S0LEADS": 1, "S0QA": 1}
	if fmt.Sprint(dir.calls) != fmt.Sprint(want) {
		t.Errorf("groups asked: got %v, want %v", dir.calls, want)
	}
}

// TestGroupCacheTTL: a group's members are asked of Slack again once the cache TTL
// has passed: at TTL − 1 s the remembered members count (no call), from TTL on Slack
// is asked and its answer counts (a member removed from the group loses the role).
func TestGroupCacheTTL(t *testing.T) {
	const ttl = 5 * time.Minute
	tests := []struct {
		name      string
		after     time.Duration
		wantCalls int
		want      bool
	}{
		{"TTL − 1 s: still cached", ttl - time.Second, 1, true},
		{"TTL: asked again", ttl, 2, false},
		{"TTL + 1 s: asked again", ttl + time.Second, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			dir := ruleDirectory()
			a := NewAccess(ruleRoles(), dir, ttl, time.Hour, func() time.Time { return now })
			ctx := context.Background()
			if ok, err := a.Has(ctx, "U0LEAD", "prod", RoleApprover); !ok || err != nil {
				t.Fatalf("first ask: got %v, %v; want true, nil", ok, err)
			}
			dir.members["S0LEADS"] = []string{"U0OTHER"} // U0LEAD leaves the group
			now = now.Add(tt.after)
			ok, err := a.Has(ctx, "U0LEAD", "prod", RoleApprover)
			if ok != tt.want || err != nil {
				t.Errorf("approver after %s: got %v, %v; want %v, nil", tt.after, ok, err, tt.want)
			}
			if dir.calls["S0LEADS"] != tt.wantCalls {
				t.Errorf("Slack asked %d times, want %d", dir.calls["S0LEADS"], tt.wantCalls)
			}
		})
	}
}

// TestGroupCacheRefreshRestartsTheTTL: the TTL runs from the latest answer, not the
// first one.
func TestGroupCacheRefreshRestartsTheTTL(t *testing.T) {
	const ttl = 5 * time.Minute
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	dir := ruleDirectory()
	a := NewAccess(ruleRoles(), dir, ttl, time.Hour, func() time.Time { return now })
	ctx := context.Background()
	for i, step := range []struct {
		after     time.Duration
		wantCalls int
	}{{0, 1}, {ttl + time.Second, 2}, {ttl - time.Second, 2}, {2 * time.Second, 3}} {
		now = now.Add(step.after)
		if ok, err := a.Has(ctx, "U0LEAD", "prod", RoleApprover); !ok || err != nil {
			t.Fatalf("step %d: got %v, %v; want true, nil", i, ok, err)
		}
		if dir.calls["S0LEADS"] != step.wantCalls {
			t.Fatalf("step %d (+%s): Slack asked %d times, want %d", i, step.after, dir.calls["S0LEADS"], step.wantCalls)
		}
	}
}

// TestGroupCacheMaxStale: while Slack cannot answer, the members remembered count until
// TTL + max stale after their answer (TTL + max stale − 1 s: allowed), and from then on
// the role granted through the group is refused, saying why and for how long; a max
// stale of 0 means DefaultGroupMaxStale.
func TestGroupCacheMaxStale(t *testing.T) {
	const ttl = 5 * time.Minute
	tests := []struct {
		name      string
		maxStale  time.Duration
		after     time.Duration
		want      bool
		wantInMsg string // "" when allowed
	}{
		{"just past TTL", 30 * time.Minute, ttl + time.Second, true, ""},
		{"TTL + max stale − 1 s", 30 * time.Minute, ttl + 30*time.Minute - time.Second, true, ""},
		{"TTL + max stale", 30 * time.Minute, ttl + 30*time.Minute, false, "for 35m"},
		{"TTL + max stale + 1 s", 30 * time.Minute, ttl + 30*time.Minute + time.Second, false, "for 35m"},
		{"default max stale − 1 s", 0, ttl + DefaultGroupMaxStale - time.Second, true, ""},
		{"default max stale + 1 s", 0, ttl + DefaultGroupMaxStale + time.Second, false, "for 1h05m"},
		{"negative max stale is the default", -time.Minute, ttl + DefaultGroupMaxStale - time.Second, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			dir := ruleDirectory()
			a := NewAccess(ruleRoles(), dir, ttl, tt.maxStale, func() time.Time { return now })
			ctx := context.Background()
			if ok, err := a.Has(ctx, "U0LEAD", "prod", RoleApprover); !ok || err != nil {
				t.Fatalf("first ask: got %v, %v; want true, nil", ok, err)
			}
			dir.err = errors.New("slack: ratelimited")
			now = now.Add(tt.after)
			ok, err := a.Has(ctx, "U0LEAD", "prod", RoleApprover)
			if ok != tt.want {
				t.Errorf("approver %s after the answer with Slack down: got %v (%v), want %v", tt.after, ok, err, tt.want)
			}
			if dir.calls["S0LEADS"] != 2 {
				t.Errorf("Slack asked %d times, want 2 (once more past the TTL)", dir.calls["S0LEADS"])
			}
			if tt.wantInMsg == "" {
				if err != nil {
					t.Errorf("got error %v, want none", err)
				}
				return
			}
			var ue *UserError
			if !errors.As(err, &ue) {
				t.Fatalf("got error %v, want a *UserError saying why", err)
			}
			for _, want := range []string{"S0LEADS", tt.wantInMsg, "ratelimited", "access.group_cache_max_stale"} {
				if !strings.Contains(ue.Msg, want) {
					t.Errorf("got %q, want it to say %q", ue.Msg, want)
				}
			}
		})
	}
}

// TestGroupStaleUseKeepsTheAnswersTime: using stale members does not make them
// fresh: max stale counts from Slack's last answer, however often they were used.
func TestGroupStaleUseKeepsTheAnswersTime(t *testing.T) {
	const ttl, maxStale = 5 * time.Minute, 30 * time.Minute
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	dir := ruleDirectory()
	a := NewAccess(ruleRoles(), dir, ttl, maxStale, func() time.Time { return now })
	ctx := context.Background()
	if ok, err := a.Has(ctx, "U0LEAD", "prod", RoleApprover); !ok || err != nil {
		t.Fatalf("first ask: got %v, %v; want true, nil", ok, err)
	}
	dir.err = errors.New("slack: down")
	now = now.Add(ttl + maxStale - time.Second)
	if ok, err := a.Has(ctx, "U0LEAD", "prod", RoleApprover); !ok || err != nil {
		t.Fatalf("stale use: got %v, %v; want true, nil", ok, err)
	}
	now = now.Add(2 * time.Second)
	if ok, err := a.Has(ctx, "U0LEAD", "prod", RoleApprover); ok || err == nil {
		t.Errorf("past max stale after a stale use: got %v, %v; want refused", ok, err)
	}
}

// TestGroupNeverAnsweredFails: a group Slack never answered for fails with the
// resolver's error, naming the group; its members hold nothing meanwhile.
func TestGroupNeverAnsweredFails(t *testing.T) {
	dir := ruleDirectory()
	dir.err = errors.New("slack: invalid_auth")
	a := NewAccess(ruleRoles(), dir, time.Minute, time.Hour, time.Now)
	ok, err := a.Has(context.Background(), "U0LEAD", "prod", RoleApprover)
	var ue *UserError
	if ok || err == nil || errors.As(err, &ue) || !errors.Is(err, dir.err) || !strings.Contains(err.Error(), "resolving user group S0LEADS") {
		t.Errorf("got %v, %v; want false and an error wrapping %v naming S0LEADS", ok, err, dir.err)
	}
}
