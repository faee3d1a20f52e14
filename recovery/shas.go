package recovery

import (
	"context"
	"errors"
	"fmt"
)

// The rules for the commits medic acts on. Every SHA medic would fetch sources for
// (Terraform runs code from them), deploy, revert or roll back to must be on the
// protected branch (GitHub's compare: identical to its head or behind it); a rollback or
// forced Lambda update target must also have been deployed successfully to the
// environment before. Nothing of a commit runs before its SHA passes.

// onBranch checks that sha is on the protected branch and returns its full SHA. Its
// errors are *UserError saying which rule failed and what to do.
func (rq *requester) onBranch(ctx context.Context, sha string) (string, error) {
	return commitOnBranch(ctx, rq.commits, rq.deps.Branch, sha)
}

// commitOnBranch is onBranch for any service: sha checked against branch by commits.
func commitOnBranch(ctx context.Context, commits CommitChecker, branch, sha string) (string, error) {
	place, err := commits.CommitOnBranch(ctx, sha, branch)
	switch {
	case errors.Is(err, ErrNotFound):
		return "", &UserError{fmt.Sprintf("The repository has no commit %s (a fork's or a mistyped SHA?). medic only runs commits that are on %s; nothing was done.", shortSHA(sha), branch)}
	case err != nil:
		return "", &UserError{fmt.Sprintf("Could not check that %s is on %s (%s); nothing was done. Try again in a minute.", shortSHA(sha), branch, Literal(oneLine(err)))}
	case !place.Reachable:
		return "", &UserError{fmt.Sprintf("%s is not on %s (GitHub compares it as %s): medic only runs code that is on %s. Merge it first, or pick a commit of %s; nothing was done.",
			shortSHA(sha), branch, orWord(place.Status, "unrelated"), branch, branch)}
	}
	return place.SHA, nil
}

// deployedBefore reports whether sha (a full SHA) was deployed successfully to env: a
// successful, trusted run of its deploy workflow built it.
func (rq *requester) deployedBefore(ctx context.Context, env Environment, sha string) (bool, error) {
	ok, err := rq.deps.Deployed.DeployedBefore(ctx, env, sha)
	if err != nil {
		return false, &UserError{fmt.Sprintf("Could not read %s's deploy history to check %s (%s); nothing was done. Try again in a minute.", env.Name, shortSHA(sha), Literal(oneLine(err)))}
	}
	return ok, nil
}

// checkTarget applies the commit rules to a request's SHA and returns the params with
// the full SHA. user is the requester: an admin may override the deploy-history rule
// (p.Override, with a reason); nothing overrides the branch rule.
func (rq *requester) checkTarget(ctx context.Context, env Environment, action ActionID, user string, p RequestParams) (RequestParams, error) {
	if p.SHA == "" {
		p.Override = false
		return p, nil
	}
	full, err := rq.onBranch(ctx, p.SHA)
	if err != nil {
		return p, err
	}
	p.SHA = full
	if s, _ := specOf(action); !s.needsDeployed {
		p.Override = false
		return p, nil
	}
	ok, err := rq.deployedBefore(ctx, env, full)
	if err != nil {
		return p, err
	}
	if ok {
		p.Override = false // nothing to override
		return p, nil
	}
	a, _ := ActionByID(action)
	never := fmt.Sprintf("%s is on %s but was never deployed successfully to %s (no successful run of %s built it)",
		shortSHA(full), rq.deps.Branch, env.Name, env.DeployWorkflow)
	if !p.Override {
		return p, &UserError{fmt.Sprintf("%s: %s only goes to a version that ran there before. Pick a known good one (`/status %s` shows the last), or an admin may override with `/rollback %s %s override`; nothing was done.",
			never, a.Label, env.Name, env.Name, shortSHA(full))}
	}
	admin, err := rq.deps.Access.Has(ctx, user, env.Name, RoleAdmin)
	if err != nil {
		return p, err
	}
	if !admin {
		return p, &UserError{fmt.Sprintf("%s. Only an admin of %s may override that (config: access.roles); nothing was done.", never, env.Name)}
	}
	if p.Reason == "" {
		return p, &UserError{"An override needs a reason: it goes to the audit log and to the approver."}
	}
	return p, nil
}
