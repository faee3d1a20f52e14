package terraform

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/medic-ops/medic/recovery"
)

// Error is a Terraform command that failed. Summary is the line people read in Slack;
// Detail is Terraform's stderr for the thread. Neither holds environment values: medic
// passes secrets only through the environment, never as arguments.
type Error struct {
	// Op is the command: "init", "plan", "show", "apply", "force-unlock" or "destroy".
	Op string
	// Env is the environment the workspace belongs to.
	Env string
	// Err is terraform-exec's error; errors.Is(err, context.Canceled) holds when the
	// command was interrupted because its context was cancelled.
	Err error

	stderr   string
	headline string
	lockID   string
}

var _ recovery.Summarizer = (*Error)(nil)

func newError(op, env string, err error, stderr string) *Error {
	e := &Error{Op: op, Env: env, Err: err, stderr: strings.TrimSpace(stderr)}
	e.headline = firstErrorLine(e.stderr)
	if e.headline == "" {
		e.headline = firstLine(e.stderr)
	}
	if lock, ok := recovery.ParseStateLock(e.stderr); ok && lockIDPattern.MatchString(lock.ID) {
		e.lockID = lock.ID
	}
	return e
}

func (e *Error) Error() string {
	if e.Stale() {
		return fmt.Sprintf("terraform %s in %s: %s", e.Op, e.Env, recovery.ErrStalePlan)
	}
	cause := firstLine(e.Err.Error())
	switch {
	case errors.Is(e.Err, context.Canceled):
		cause = "cancelled"
	case errors.Is(e.Err, context.DeadlineExceeded):
		cause = "timed out"
	}
	if e.headline != "" {
		return fmt.Sprintf("terraform %s in %s: %s (%s)", e.Op, e.Env, e.headline, cause)
	}
	return fmt.Sprintf("terraform %s in %s: %s", e.Op, e.Env, cause)
}

// Unwrap returns terraform-exec's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports a saved plan Terraform refused because the state changed since it was
// made ("Saved plan is stale") as recovery.ErrStalePlan.
func (e *Error) Is(target error) bool {
	return target == recovery.ErrStalePlan && e.Stale()
}

// Stale reports whether Terraform refused a saved plan made against an older state.
func (e *Error) Stale() bool { return strings.Contains(e.stderr, "Saved plan is stale") }

// Summary says in one line what failed: "Terraform apply: Error acquiring the state
// lock (held by ID 0e9a…)", "Terraform apply: cancelled (execution halted)".
func (e *Error) Summary() string {
	s := "Terraform " + e.Op + ": "
	stopped := ""
	switch {
	case errors.Is(e.Err, context.Canceled):
		stopped = "cancelled"
	case errors.Is(e.Err, context.DeadlineExceeded):
		stopped = "timed out"
	}
	switch {
	case stopped != "" && e.headline != "":
		s += stopped + " (" + e.headline + ")"
	case stopped != "":
		s += stopped
	case e.headline != "":
		s += e.headline
	default:
		s += firstLine(e.Err.Error())
	}
	if e.lockID != "" {
		s += " (held by ID " + e.lockID + ")"
	}
	return s
}

// Detail is Terraform's stderr (its diagnostics), for the thread.
func (e *Error) Detail() string { return e.stderr }

// LockID is the ID of the lock that blocked the command, as the holder's ID when the
// backend reports it (the http backend's "already locked: ID=…"); empty when the
// command did not fail on a state lock.
func (e *Error) LockID() string { return e.lockID }

// Locked reports whether the command failed because another process holds the state
// lock.
func (e *Error) Locked() bool { return strings.Contains(e.stderr, "Error acquiring the state lock") }

// firstErrorLine is the text of Terraform's first "Error: …" diagnostic.
func firstErrorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(strings.TrimLeft(l, "│╷╵ "))
		if rest, ok := strings.CutPrefix(l, "Error: "); ok && strings.TrimSpace(rest) != "" {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}
