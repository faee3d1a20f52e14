package recovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Role is what someone may do in an environment.
type Role string

// Roles, each including the ones before it: an approver may also request, an admin
// may do both.
const (
	RoleResponder Role = "responder"
	RoleApprover  Role = "approver"
	RoleAdmin     Role = "admin"
)

// RoleMembers lists, per role, the Slack user IDs (U…, W…) and user group IDs (S…)
// holding it.
type RoleMembers struct {
	Responders []string
	Approvers  []string
	Admins     []string
}

// GroupResolver lists the members of a Slack user group.
type GroupResolver interface {
	GroupMembers(ctx context.Context, groupID string) ([]string, error)
}

// AllEnvironments is the key of the roles that hold in every environment.
const AllEnvironments = "*"

// Access answers who holds which role where. User groups are resolved through Slack
// and cached, so a click costs no Slack call most of the time.
type Access struct {
	roles    map[string]RoleMembers
	groups   GroupResolver
	ttl      time.Duration
	maxStale time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]groupEntry
}

type groupEntry struct {
	members []string
	at      time.Time
}

// DefaultGroupMaxStale is how long a group's remembered members still count while
// Slack cannot be asked again.
const DefaultGroupMaxStale = time.Hour

// NewAccess returns an Access over roles (keyed by environment, or AllEnvironments).
// A user group's members are asked of Slack every ttl; while Slack cannot answer, the
// members remembered still count for maxStale past ttl, then roles granted through the
// group fail closed.
func NewAccess(roles map[string]RoleMembers, groups GroupResolver, ttl, maxStale time.Duration, now func() time.Time) *Access {
	if maxStale <= 0 {
		maxStale = DefaultGroupMaxStale
	}
	return &Access{roles: roles, groups: groups, ttl: ttl, maxStale: maxStale, now: now, cache: map[string]groupEntry{}}
}

// Has reports whether user holds role (or a higher one) in env.
func (a *Access) Has(ctx context.Context, user, env string, role Role) (bool, error) {
	var lists [][]string
	for _, key := range []string{AllEnvironments, env} {
		m, ok := a.roles[key]
		if !ok {
			continue
		}
		switch role {
		case RoleResponder:
			lists = append(lists, m.Responders, m.Approvers, m.Admins)
		case RoleApprover:
			lists = append(lists, m.Approvers, m.Admins)
		case RoleAdmin:
			lists = append(lists, m.Admins)
		}
	}
	for _, list := range lists {
		for _, id := range list {
			if id == user {
				return true, nil
			}
			if !strings.HasPrefix(id, "S") || a.groups == nil {
				continue
			}
			members, err := a.members(ctx, id)
			var ue *UserError
			if errors.As(err, &ue) {
				return false, ue
			}
			if err != nil {
				return false, fmt.Errorf("resolving user group %s: %w", id, err)
			}
			if slices.Contains(members, user) {
				return true, nil
			}
		}
	}
	return false, nil
}

func (a *Access) members(ctx context.Context, group string) ([]string, error) {
	a.mu.Lock()
	e, ok := a.cache[group]
	a.mu.Unlock()
	if ok && a.now().Sub(e.at) < a.ttl {
		return e.members, nil
	}
	m, err := a.groups.GroupMembers(ctx, group)
	if err != nil {
		if ok && a.now().Sub(e.at) < a.ttl+a.maxStale {
			return e.members, nil // a little stale beats nothing while Slack is unreachable
		}
		if ok {
			return nil, &UserError{fmt.Sprintf("Slack could not be asked who is in user group %s for %s (%s): roles granted through it are refused until it answers (config: access.group_cache_max_stale).",
				group, duration(a.now().Sub(e.at)), oneLine(err))}
		}
		return nil, err
	}
	a.mu.Lock()
	a.cache[group] = groupEntry{members: m, at: a.now()}
	a.mu.Unlock()
	return m, nil
}

// Policy decides which actions need a second person.
type Policy struct {
	// RequestTTL is how long a request waits for approval.
	RequestTTL time.Duration
	// SelfService lists, per environment, the low-risk actions a responder runs on a
	// click, without approval. Never applies to a protected environment, one rated
	// HIGH or above, or an incident rated HIGH or CRITICAL.
	SelfService map[string][]ActionID
}

// NeedsApproval reports whether action on env, for an incident of severity sev (0 for
// none), needs a second person.
func (p Policy) NeedsApproval(action ActionID, env Environment, sev Severity) bool {
	if sev >= SeverityHigh || env.Severity >= SeverityHigh || env.Protected {
		return true
	}
	if a, ok := ActionByID(action); !ok || a.Restricted {
		return true // a restricted action is never self-service (config check refuses it)
	}
	return !slices.Contains(p.SelfService[env.Name], action)
}

// needRole refuses, with a message and an audit entry, a user without role in the
// incident's environment. Without access configuration everyone may.
func (e *Engine) needRole(ctx context.Context, in Incident, user string, role Role, what string) error {
	if e.deps.Actions == nil || e.deps.Actions.Access == nil {
		return nil
	}
	ok, err := e.deps.Actions.Access.Has(ctx, user, in.Env, role)
	if err != nil {
		return err
	}
	if !ok {
		e.audit(ctx, in, user, AuditRefused, map[string]string{"what": what, "why": "not a " + string(role)})
		return &UserError{fmt.Sprintf("You need the *%s* role for %s to %s (config: access.roles). Nothing was done.", role, in.Env, what)}
	}
	return nil
}
