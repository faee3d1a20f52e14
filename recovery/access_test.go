package recovery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type flakyGroups struct {
	members []string
	err     error
	calls   int
}

func (f *flakyGroups) GroupMembers(context.Context, string) ([]string, error) {
	f.calls++
	return f.members, f.err
}

// TestGroupCacheFailsClosed: a user group's members are asked again every TTL; while
// Slack cannot answer, the remembered members count until TTL + max stale, and then a
// role granted through the group is refused, saying why.
func TestGroupCacheFailsClosed(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	groups := &flakyGroups{members: []string{"U0BOB"}}
	a := NewAccess(map[string]RoleMembers{"*": {Approvers: []string{"S0LEADS"}}}, groups, 5*time.Minute, time.Hour, clock)
	ctx := context.Background()
	has := func() (bool, error) { return a.Has(ctx, "U0BOB", "prod", RoleApprover) }
	if ok, err := has(); !ok || err != nil {
		t.Fatalf("first ask: got %v, %v", ok, err)
	}
	now = now.Add(4*time.Minute + 59*time.Second) // within the TTL: no call
	if ok, _ := has(); !ok || groups.calls != 1 {
		t.Fatalf("within the TTL: got %v after %d calls, want the cache", ok, groups.calls)
	}
	groups.err = errors.New("slack: service unavailable")
	now = now.Add(time.Hour) // TTL + 59m59s since the answer: stale but allowed
	if ok, err := has(); !ok || err != nil || groups.calls != 2 {
		t.Fatalf("Slack down, just within max stale: got %v, %v (%d calls)", ok, err, groups.calls)
	}
	now = now.Add(2 * time.Second) // past TTL + max stale
	ok, err := has()
	var ue *UserError
	if ok || !errors.As(err, &ue) || !strings.Contains(ue.Msg, "S0LEADS") || !strings.Contains(ue.Msg, "group_cache_max_stale") {
		t.Fatalf("Slack down past max stale: got %v, %v; want refused, saying Slack could not be asked", ok, err)
	}
	groups.err = nil
	if ok, err := has(); !ok || err != nil {
		t.Errorf("Slack back: got %v, %v", ok, err)
	}
}
