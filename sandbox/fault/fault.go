// Package fault lets a test or demo slow down or break single operations of the sandbox's
// fake services, and counts the calls each operation received and those it broke.
//
// Operations are named "<service>:<Operation>", for example "lambda:GetFunction",
// "cloudwatch:DescribeAlarms", "github:ListWorkflowRuns" or "slack:chat.postMessage".
package fault

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Error is what a fake service answers instead of the real response. Each fake turns it
// into its own wire format (an AWS error document, a GitHub error body, a Slack
// {"ok":false} reply).
type Error struct {
	// Status is the HTTP status code, for example 403, 429 or 500.
	Status int
	// Code is the service's error code, for example "AccessDeniedException" or
	// "ratelimited".
	Code string
	// Message is the human-readable text.
	Message string
	// RetryAfter, when set, is sent as a Retry-After header in whole seconds.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Rule injects latency, an error or both into one operation.
type Rule struct {
	// Latency is waited before the call is answered (or until the caller gives up).
	Latency time.Duration
	// Err, when set, is answered instead of the real response.
	Err *Error
	// Times limits the rule to that many calls; 0 applies it to every call.
	Times int
	// Hang holds the call until the caller's request is cancelled.
	Hang bool
}

// Injector holds the rules and call counts of one sandbox. The zero value is not usable;
// call New.
type Injector struct {
	mu    sync.Mutex
	rules map[string]*Rule
	calls map[string]int
	// failed counts the calls answered with an injected error or held (Hang).
	failed map[string]int
}

// New returns an Injector without rules.
func New() *Injector {
	return &Injector{rules: map[string]*Rule{}, calls: map[string]int{}, failed: map[string]int{}}
}

// Set installs r for op, replacing any earlier rule.
func (in *Injector) Set(op string, r Rule) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules[op] = &r
}

// Clear removes the rule of op.
func (in *Injector) Clear(op string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.rules, op)
}

// Reset removes every rule and forgets every count.
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = map[string]*Rule{}
	in.calls = map[string]int{}
	in.failed = map[string]int{}
}

// Calls reports how many calls op has received.
func (in *Injector) Calls(op string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.calls[op]
}

// CallsByOp returns the calls received per op, for the ops starting with prefix
// ("github:" for every GitHub operation), keyed without the prefix.
func (in *Injector) CallsByOp(prefix string) map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]int{}
	for op, n := range in.calls {
		if name, ok := strings.CutPrefix(op, prefix); ok && n > 0 {
			out[name] = n
		}
	}
	return out
}

// Failed reports how many calls of op a rule broke: answered with its error, or held
// until the caller gave up (Hang). Latency alone breaks nothing.
func (in *Injector) Failed(op string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.failed[op]
}

// Hit records a call of op and applies its rule: it waits the rule's latency (returning
// early when ctx ends) and returns the error to answer, or nil to answer normally. A
// fake calls it once per request before doing the work.
func (in *Injector) Hit(ctx context.Context, op string) *Error {
	in.mu.Lock()
	in.calls[op]++
	r, ok := in.rules[op]
	var rule Rule
	if ok {
		rule = *r
		if rule.Err != nil || rule.Hang {
			in.failed[op]++
		}
		if r.Times > 0 {
			r.Times--
			if r.Times == 0 {
				delete(in.rules, op)
			}
		}
	}
	in.mu.Unlock()
	if !ok {
		return nil
	}
	if rule.Hang {
		<-ctx.Done()
		return &Error{Status: 503, Code: "Hang", Message: "the sandbox held this call until it was cancelled"}
	}
	if rule.Latency > 0 {
		t := time.NewTimer(rule.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return rule.Err
}
