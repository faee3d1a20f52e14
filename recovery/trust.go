package recovery

import (
	"fmt"
	"slices"
	"strings"
)

// RunTrust says which workflow runs may drive the runbook. A run is trusted only when
// its code comes from the repository itself (not a fork), from one of the configured
// branches, and it was started by a trusted event. Anything else (a pull request, a
// fork, a push to another branch) was written by someone medic does not trust: its job
// names and log text must not pick a scenario, an environment, a lock or a SHA.
type RunTrust struct {
	// Repository is the repository medic serves, "owner/name".
	Repository string
	// Branches are the branches whose runs are trusted (github.branch and the deploy
	// branches).
	Branches []string
	// Events are the events whose runs are trusted (DefaultTrustedEvents).
	Events []string
}

// DefaultTrustedEvents are the events whose runs run code already on a branch: a push,
// a manual dispatch, a schedule and a workflow started by another workflow's run.
func DefaultTrustedEvents() []string {
	return []string{"push", "workflow_dispatch", "schedule", "workflow_run"}
}

// UntrustedEvents are events whose runs carry someone else's code or choices; they are
// never trusted, whatever the configuration says.
var UntrustedEvents = []string{"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment", "issue_comment", "fork"}

// Untrusted says why run is not trusted, or "" when it is. The reason is outside text
// (it may quote a branch name): render it as text.
func (t RunTrust) Untrusted(run Run) string {
	switch {
	case t.Repository == "":
		return "medic trusts no repository (config: github.owner, github.repo)"
	case run.HeadRepository == "":
		return "GitHub did not say which repository its code came from"
	case !strings.EqualFold(run.HeadRepository, t.Repository):
		return fmt.Sprintf("its code comes from %s, not %s", run.HeadRepository, t.Repository)
	case slices.Contains(UntrustedEvents, run.Event) || !slices.Contains(t.Events, run.Event):
		return fmt.Sprintf("it was started by a %s event", orWord(run.Event, "unknown"))
	case !slices.Contains(t.Branches, run.HeadBranch):
		return fmt.Sprintf("it ran on branch %s, not %s", orWord(run.HeadBranch, "(none)"), strings.Join(t.Branches, " or "))
	}
	return ""
}

// untrustedTitle names an untrusted run's failure for the people who can fix it: its
// pull request and author when GitHub says them.
func untrustedTitle(run Run) string {
	where := "branch " + orWord(run.HeadBranch, "(unknown)")
	switch {
	case len(run.PullRequests) > 0:
		where = fmt.Sprintf("PR #%d", run.PullRequests[0])
	case run.HeadRepository != "" && run.Event == "pull_request":
		where = fmt.Sprintf("a pull request from %s:%s", run.HeadRepository, orWord(run.HeadBranch, "?"))
	}
	title := "Checks failed on " + where
	if run.Actor != "" {
		title += " by " + run.Actor
	}
	return cutText(title, 120)
}
