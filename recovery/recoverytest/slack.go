package recoverytest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/medic-ops/medic/recovery"
)

// Directory fakes what medic asks Slack about people: the members of user groups
// (recovery.GroupResolver, for roles granted to a group) and users' names
// (recovery.UserNamer, for reports). The Func fields, when set, answer instead of the
// defaults: SetGroup's members (an unknown group is an error, as in Slack), and a
// user's name as SetName set it, else "name of <ID>". Every call is recorded.
type Directory struct {
	Recorder
	GroupMembersFunc func(ctx context.Context, groupID string) ([]string, error)
	UserNameFunc     func(ctx context.Context, userID string) (string, error)

	mu     sync.Mutex
	groups map[string][]string
	names  map[string]string
}

var (
	_ recovery.GroupResolver = (*Directory)(nil)
	_ recovery.UserNamer     = (*Directory)(nil)
)

// NewDirectory returns a Directory with no groups.
func NewDirectory() *Directory {
	return &Directory{groups: map[string][]string{}, names: map[string]string{}}
}

// SetGroup sets a user group's members.
func (d *Directory) SetGroup(groupID string, members ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.groups[groupID] = slices.Clone(members)
}

// SetName sets a user's name.
func (d *Directory) SetName(userID, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names[userID] = name
}

// GroupMembers returns a group's members.
func (d *Directory) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	d.record("GroupMembers", groupID)
	if d.GroupMembersFunc != nil {
		return d.GroupMembersFunc(ctx, groupID)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m, ok := d.groups[groupID]
	if !ok {
		return nil, fmt.Errorf("slack: usergroups.users.list %s: no_such_subteam", groupID)
	}
	return slices.Clone(m), nil
}

// UserName returns a user's name.
func (d *Directory) UserName(ctx context.Context, userID string) (string, error) {
	d.record("UserName", userID)
	if d.UserNameFunc != nil {
		return d.UserNameFunc(ctx, userID)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.names[userID]; ok {
		return n, nil
	}
	return "name of " + userID, nil
}
