package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	gh "github.com/google/go-github/v66/github"

	"github.com/medic-ops/medic/recovery"
)

// The recovery actions medic runs on GitHub: re-runs, cancels and dispatches of
// workflow runs, reverts through the Git Data API (GitHub has no revert endpoint) and
// source archives.

var (
	_ recovery.WorkflowRunner = (*Client)(nil)
	_ recovery.Reverter       = (*Client)(nil)
	_ recovery.ArchiveFetcher = (*Client)(nil)
)

const (
	// maxTarballBytes caps a source archive download: medic's repository is a few MiB,
	// and an archive that grows past this is a mistake, not sources to unpack.
	maxTarballBytes = 200 << 20
	// maxRefNameBytes bounds branch names medic accepts. Git itself sets no limit, but
	// each path component of a ref is a file name on GitHub's servers (255 bytes).
	maxRefNameBytes = 255
	// revertBranchPrefix starts the branches of medic's revert pull requests,
	// "medic/revert-<7-digit sha>".
	revertBranchPrefix = "medic/revert-"
	// maxListedFiles is how many conflicting files a refused revert names.
	maxListedFiles = 10
)

var (
	refNamePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)
	workflowPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*\.ya?ml$`)
)

// RefusedError is an action medic declined, before any call to GitHub (an invalid SHA,
// branch or workflow name) or part-way, when going on would need a person (a revert
// whose files changed since).
type RefusedError struct {
	Operation string
	Reason    string
}

func (e *RefusedError) Error() string { return e.Summary() }

// Summary says what was refused and why, e.g. "GitHub: Revert refused: … ".
func (e *RefusedError) Summary() string { return "GitHub: " + e.Operation + " refused: " + e.Reason }

func refuse(op, format string, args ...any) error {
	return &RefusedError{Operation: op, Reason: fmt.Sprintf(format, args...)}
}

func checkSHA(op, sha string) error {
	if !recovery.ValidSHA(sha) {
		return refuse(op, "%q is not a commit SHA (7 to 40 lowercase hex digits)", sha)
	}
	return nil
}

// checkRefName accepts branch and tag names made of letters, digits, ".", "_", "-" and
// "/", following git check-ref-format's rules on top ("..", "//", a component starting
// with ".", a trailing "/", "." or ".lock" are refused). Anything else is refused
// rather than escaped: these names come from Slack.
func checkRefName(op, what, name string) error {
	bad := len(name) > maxRefNameBytes || !refNamePattern.MatchString(name) ||
		strings.Contains(name, "..") || strings.Contains(name, "//") || strings.Contains(name, "/.") ||
		strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") || strings.HasSuffix(name, ".lock")
	if bad {
		return refuse(op, "%q is not a valid %s name", name, what)
	}
	return nil
}

func checkRunID(op string, id int64) error {
	if id <= 0 {
		return refuse(op, "%d is not a workflow run ID", id)
	}
	return nil
}

// RerunFailedJobs re-runs the failed jobs of run runID, and the jobs that depend on
// them, as a new attempt of the run (`gh run rerun --failed`). GitHub refuses (403) a
// run that is not completed, is older than 30 days or was re-run 50 times.
func (c *Client) RerunFailedJobs(ctx context.Context, runID int64) error {
	const op = "RerunFailed"
	if err := checkRunID(op, runID); err != nil {
		return err
	}
	resp, err := c.gh.Actions.RerunFailedJobsByID(ctx, c.owner, c.repo, runID)
	return wrap(op, resp, err)
}

// RerunRun re-runs every job of run runID as a new attempt.
func (c *Client) RerunRun(ctx context.Context, runID int64) error {
	const op = "Rerun"
	if err := checkRunID(op, runID); err != nil {
		return err
	}
	resp, err := c.gh.Actions.RerunWorkflowByID(ctx, c.owner, c.repo, runID)
	return wrap(op, resp, err)
}

// CancelRun cancels run runID. GitHub answers 202 Accepted (go-github's AcceptedError,
// success here) and finishes cancelling shortly after; a run that had already finished
// answers 409, returned as an *APIError whose Summary says so.
func (c *Client) CancelRun(ctx context.Context, runID int64) error {
	const op = "CancelRun"
	if err := checkRunID(op, runID); err != nil {
		return err
	}
	resp, err := c.gh.Actions.CancelWorkflowRunByID(ctx, c.owner, c.repo, runID)
	var accepted *gh.AcceptedError
	if errors.As(err, &accepted) {
		return nil
	}
	if err != nil && resp != nil && resp.StatusCode == http.StatusConflict {
		return &APIError{Operation: op, Status: http.StatusConflict,
			Detail: fmt.Sprintf("run %d had already finished (HTTP 409)", runID), Err: err}
	}
	return wrap(op, resp, err)
}

// DispatchWorkflow starts workflow (a file name, "deploy-preprod.yml") on ref, a branch
// or tag, with inputs (`gh workflow run`). GitHub answers 204 without the run it
// starts; the run shows up in the workflow's runs moments later.
func (c *Client) DispatchWorkflow(ctx context.Context, workflow, ref string, inputs map[string]string) error {
	const op = "DispatchWorkflow"
	if !workflowPattern.MatchString(workflow) {
		return refuse(op, "%q is not a workflow file name", workflow)
	}
	if err := checkRefName(op, "branch or tag", ref); err != nil {
		return err
	}
	ev := gh.CreateWorkflowDispatchEventRequest{Ref: ref}
	if len(inputs) > 0 {
		ev.Inputs = make(map[string]any, len(inputs))
		for k, v := range inputs {
			if k == "" {
				return refuse(op, "an input has no name")
			}
			ev.Inputs[k] = v
		}
	}
	resp, err := c.gh.Actions.CreateWorkflowDispatchEventByFileName(ctx, c.owner, c.repo, workflow, ev)
	return wrap(op, resp, err)
}

// Commit describes commit sha (7 to 40 hex digits) with the files it changed (GitHub
// lists at most 300 in one answer) and whether it is branch's head.
func (c *Client) Commit(ctx context.Context, sha, branch string) (recovery.CommitInfo, error) {
	const op = "Commit"
	if err := checkSHA(op, sha); err != nil {
		return recovery.CommitInfo{}, err
	}
	if err := checkRefName(op, "branch", branch); err != nil {
		return recovery.CommitInfo{}, err
	}
	rc, resp, err := c.gh.Repositories.GetCommit(ctx, c.owner, c.repo, sha, nil)
	if err != nil {
		return recovery.CommitInfo{}, wrap("GetCommit", resp, err)
	}
	head, err := c.branchHead(ctx, branch)
	if err != nil {
		return recovery.CommitInfo{}, err
	}
	info := recovery.CommitInfo{
		SHA:     rc.GetSHA(),
		Message: rc.GetCommit().GetMessage(),
		Author:  commitAuthor(rc.GetCommit().GetAuthor()),
		URL:     rc.GetHTMLURL(),
		IsTip:   head == rc.GetSHA(),
	}
	if info.Author == "" {
		info.Author = rc.GetAuthor().GetLogin()
	}
	for _, p := range rc.Parents {
		info.Parents = append(info.Parents, p.GetSHA())
	}
	for _, f := range rc.Files {
		info.Files = append(info.Files, f.GetFilename())
	}
	return info, nil
}

// branchHead returns the SHA branch points at.
func (c *Client) branchHead(ctx context.Context, branch string) (string, error) {
	ref, resp, err := c.gh.Git.GetRef(ctx, c.owner, c.repo, "refs/heads/"+branch)
	if err != nil {
		return "", wrap("GetRef", resp, err)
	}
	return ref.GetObject().GetSHA(), nil
}

// revertTarget is the commit being reverted.
type revertTarget struct {
	sha, subject, tree string
	parents            []string
}

// Revert reverts commit sha on branch without ever force-pushing.
//
// When sha is branch's head and has one parent (PROTOCOLS.md 2.4), medic commits the
// parent's tree on top of it, with git's revert message, and moves the branch
// fast-forward only. If the branch moved meanwhile (GitHub answers 422), medic reads it
// again and, sha being no longer the head, falls back to a pull request.
//
// Otherwise (an older commit, a merge commit, reverted against its first parent) the
// Git Data API cannot do the 3-way merge a revert needs, so medic builds the tree
// itself: the branch head's tree with every file sha changed set back to its content
// before sha (files sha added are deleted, files it deleted restored). This is exact
// only when none of those files changed after sha; when one did, medic refuses with a
// *RefusedError naming them, for a person to resolve. The revert commit goes on a new
// branch "medic/revert-<7-digit sha>" and a pull request against branch.
//
// Revert is idempotent: when the branch's head already is medic's revert of sha, or the
// revert branch or its open pull request exist, it returns what is there.
func (c *Client) Revert(ctx context.Context, sha, branch string) (recovery.RevertResult, error) {
	const op = "Revert"
	if err := checkSHA(op, sha); err != nil {
		return recovery.RevertResult{}, err
	}
	if err := checkRefName(op, "branch", branch); err != nil {
		return recovery.RevertResult{}, err
	}
	rc, resp, err := c.gh.Repositories.GetCommit(ctx, c.owner, c.repo, sha, nil)
	if err != nil {
		return recovery.RevertResult{}, wrap("GetCommit", resp, err)
	}
	t := revertTarget{sha: rc.GetSHA(), subject: subject(rc.GetCommit().GetMessage()), tree: rc.GetCommit().GetTree().GetSHA()}
	for _, p := range rc.Parents {
		t.parents = append(t.parents, p.GetSHA())
	}
	if len(t.parents) == 0 {
		return recovery.RevertResult{}, refuse(op, "%s is a root commit: there is nothing to revert to", short(t.sha))
	}
	head, err := c.branchHead(ctx, branch)
	if err != nil {
		return recovery.RevertResult{}, err
	}
	if head == t.sha && len(t.parents) == 1 {
		res, moved, err := c.revertTip(ctx, t, branch)
		if err != nil || !moved {
			return res, err
		}
		// The branch moved under us: sha is no longer its head (or is again, after a
		// force-push by someone else, which medic does not chase).
		if head, err = c.branchHead(ctx, branch); err != nil {
			return recovery.RevertResult{}, err
		}
		if head == t.sha {
			return recovery.RevertResult{}, refuse(op, "%s could not be moved fast-forward; it may be protected", branch)
		}
	}
	return c.revertByPull(ctx, t, branch, head)
}

// revertTip commits the parent's tree on top of t, the head of branch, and moves the
// branch without force. moved reports a 422 from UpdateRef: the branch is no longer at
// t (someone pushed), and nothing was changed.
func (c *Client) revertTip(ctx context.Context, t revertTarget, branch string) (res recovery.RevertResult, moved bool, err error) {
	parent, resp, err := c.gh.Git.GetCommit(ctx, c.owner, c.repo, t.parents[0])
	if err != nil {
		return res, false, wrap("GetGitCommit", resp, err)
	}
	n, err := c.createCommit(ctx, t, parent.GetTree().GetSHA(), t.sha)
	if err != nil {
		return res, false, err
	}
	ref := &gh.Reference{Ref: gh.String("refs/heads/" + branch), Object: &gh.GitObject{SHA: gh.String(n.GetSHA())}}
	_, resp, err = c.gh.Git.UpdateRef(ctx, c.owner, c.repo, ref, false)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnprocessableEntity {
			return res, true, nil
		}
		return res, false, wrap("UpdateRef", resp, err)
	}
	return recovery.RevertResult{Method: "commit", SHA: n.GetSHA(), URL: n.GetHTMLURL()}, false, nil
}

// createCommit creates the revert commit of t with tree on parent.
func (c *Client) createCommit(ctx context.Context, t revertTarget, tree, parent string) (*gh.Commit, error) {
	n, resp, err := c.gh.Git.CreateCommit(ctx, c.owner, c.repo, &gh.Commit{
		Message: gh.String(revertMessage(t)),
		Tree:    &gh.Tree{SHA: gh.String(tree)},
		Parents: []*gh.Commit{{SHA: gh.String(parent)}},
	}, nil)
	if err != nil {
		return nil, wrap("CreateGitCommit", resp, err)
	}
	return n, nil
}

// revertMessage is git's own: `Revert "<subject>"`, a blank line, "This reverts commit
// <sha>.".
func revertMessage(t revertTarget) string {
	return fmt.Sprintf("Revert \"%s\"\n\nThis reverts commit %s.", t.subject, t.sha)
}

// isRevertOf reports whether a commit message is a revert of sha.
func isRevertOf(message, sha string) bool {
	return strings.Contains(message, "This reverts commit "+sha+".")
}

// revertByPull reverts t on branch (at head) through a pull request.
func (c *Client) revertByPull(ctx context.Context, t revertTarget, branch, head string) (recovery.RevertResult, error) {
	revBranch := revertBranchPrefix + short(t.sha)
	if res, ok, err := c.findRevertPull(ctx, revBranch, branch); err != nil || ok {
		return res, err
	}
	headCommit, resp, err := c.gh.Git.GetCommit(ctx, c.owner, c.repo, head)
	if err != nil {
		return recovery.RevertResult{}, wrap("GetGitCommit", resp, err)
	}
	if isRevertOf(headCommit.GetMessage(), t.sha) {
		return recovery.RevertResult{Method: "commit", SHA: head, URL: headCommit.GetHTMLURL()}, nil
	}
	revSHA, err := c.existingRevertBranch(ctx, t, revBranch)
	if err != nil {
		return recovery.RevertResult{}, err
	}
	var files int
	if revSHA == "" {
		tree, n, err := c.revertTree(ctx, t, branch, headCommit.GetTree().GetSHA())
		if err != nil {
			return recovery.RevertResult{}, err
		}
		files = n
		commit, err := c.createCommit(ctx, t, tree, head)
		if err != nil {
			return recovery.RevertResult{}, err
		}
		revSHA = commit.GetSHA()
		ref := &gh.Reference{Ref: gh.String("refs/heads/" + revBranch), Object: &gh.GitObject{SHA: gh.String(revSHA)}}
		if _, resp, err := c.gh.Git.CreateRef(ctx, c.owner, c.repo, ref); err != nil {
			if resp == nil || resp.StatusCode != http.StatusUnprocessableEntity {
				return recovery.RevertResult{}, wrap("CreateRef", resp, err)
			}
			// Another medic created the branch in the meantime: use theirs.
			if revSHA, err = c.existingRevertBranch(ctx, t, revBranch); err != nil {
				return recovery.RevertResult{}, err
			}
			if revSHA == "" {
				return recovery.RevertResult{}, wrap("CreateRef", resp, err)
			}
		}
	}
	body := fmt.Sprintf("medic opened this pull request to revert %s (\"%s\") on `%s`.\n\n"+
		"The commit is not the head of `%s`, so it cannot be reverted by a fast-forward push, "+
		"and medic never force-pushes. This revert sets the files the commit changed back to "+
		"their content before it; none of them changed on `%s` since.", t.sha, t.subject, branch, branch, branch)
	if files > 0 {
		body += fmt.Sprintf(" (%d files.)", files)
	}
	body += "\n\nReview and merge it to complete the revert."
	pr, resp, err := c.gh.PullRequests.Create(ctx, c.owner, c.repo, &gh.NewPullRequest{
		Title: gh.String(fmt.Sprintf("Revert \"%s\"", t.subject)),
		Head:  gh.String(revBranch),
		Base:  gh.String(branch),
		Body:  gh.String(body),
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnprocessableEntity {
			// "A pull request already exists": another medic opened it in the meantime.
			if res, ok, ferr := c.findRevertPull(ctx, revBranch, branch); ferr == nil && ok {
				return res, nil
			}
		}
		return recovery.RevertResult{}, wrap("CreatePull", resp, err)
	}
	return pullResult(pr), nil
}

// findRevertPull finds the open pull request from revBranch into branch. The head
// filter needs GitHub's "owner:branch" form: a bare branch name is ignored and every
// pull request listed.
func (c *Client) findRevertPull(ctx context.Context, revBranch, branch string) (recovery.RevertResult, bool, error) {
	prs, resp, err := c.gh.PullRequests.List(ctx, c.owner, c.repo, &gh.PullRequestListOptions{
		State: "open", Head: c.owner + ":" + revBranch, Base: branch,
	})
	if err != nil {
		return recovery.RevertResult{}, false, wrap("ListPulls", resp, err)
	}
	for _, pr := range prs {
		if pr.GetHead().GetRef() == revBranch && pr.GetBase().GetRef() == branch {
			return pullResult(pr), true, nil
		}
	}
	return recovery.RevertResult{}, false, nil
}

func pullResult(pr *gh.PullRequest) recovery.RevertResult {
	return recovery.RevertResult{Method: "pull-request", SHA: pr.GetHead().GetSHA(), PullRequest: pr.GetNumber(), URL: pr.GetHTMLURL()}
}

// existingRevertBranch returns the head of revBranch when it exists and holds medic's
// revert of t, "" when it does not exist, and a *RefusedError when it holds anything
// else.
func (c *Client) existingRevertBranch(ctx context.Context, t revertTarget, revBranch string) (string, error) {
	ref, resp, err := c.gh.Git.GetRef(ctx, c.owner, c.repo, "refs/heads/"+revBranch)
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", wrap("GetRef", resp, err)
	}
	sha := ref.GetObject().GetSHA()
	commit, resp, err := c.gh.Git.GetCommit(ctx, c.owner, c.repo, sha)
	if err != nil {
		return "", wrap("GetGitCommit", resp, err)
	}
	if !isRevertOf(commit.GetMessage(), t.sha) {
		return "", refuse("Revert", "branch %s exists and its head %s is not a revert of %s", revBranch, short(sha), short(t.sha))
	}
	return sha, nil
}

// treeFiles lists the files (blobs, symlinks and submodules) under tree sha, path →
// entry.
func (c *Client) treeFiles(ctx context.Context, sha string) (map[string]*gh.TreeEntry, error) {
	tree, resp, err := c.gh.Git.GetTree(ctx, c.owner, c.repo, sha, true)
	if err != nil {
		return nil, wrap("GetTree", resp, err)
	}
	// GitHub cuts recursive trees at 100,000 entries or 7 MB and sets truncated
	// (docs.github.com/rest/git/trees#get-a-tree).
	if tree.GetTruncated() {
		return nil, refuse("Revert", "tree %s is too large for GitHub's tree API", short(sha))
	}
	out := map[string]*gh.TreeEntry{}
	for _, e := range tree.Entries {
		if e.GetType() != "tree" {
			out[e.GetPath()] = e
		}
	}
	return out, nil
}

// revertTree creates the tree of the revert of t on top of headTree and returns it with
// the number of files it sets back.
func (c *Client) revertTree(ctx context.Context, t revertTarget, branch, headTree string) (string, int, error) {
	before, err := c.parentFiles(ctx, t)
	if err != nil {
		return "", 0, err
	}
	at, err := c.treeFiles(ctx, t.tree)
	if err != nil {
		return "", 0, err
	}
	now, err := c.treeFiles(ctx, headTree)
	if err != nil {
		return "", 0, err
	}
	paths := map[string]bool{}
	for p := range maps.Keys(before) {
		paths[p] = true
	}
	for p := range maps.Keys(at) {
		paths[p] = true
	}
	var entries []*gh.TreeEntry
	var changedSince []string
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		b, a := before[p], at[p]
		if sameEntry(b, a) {
			continue
		}
		if !sameEntry(now[p], a) {
			changedSince = append(changedSince, p)
			continue
		}
		if b == nil {
			// Added by t: delete it (go-github sends "sha": null for an entry without
			// SHA and content).
			entries = append(entries, &gh.TreeEntry{Path: gh.String(p), Mode: a.Mode, Type: a.Type})
			continue
		}
		entries = append(entries, &gh.TreeEntry{Path: gh.String(p), Mode: b.Mode, Type: b.Type, SHA: b.SHA})
	}
	if len(changedSince) > 0 {
		listed := changedSince[:min(len(changedSince), maxListedFiles)]
		more := ""
		if n := len(changedSince) - len(listed); n > 0 {
			more = fmt.Sprintf(" and %d more", n)
		}
		return "", 0, refuse("Revert", "%s changed on %s after %s: %s%s; a person must resolve this revert",
			plural(len(changedSince), "a file it touches", "files it touches"), branch, short(t.sha), strings.Join(listed, ", "), more)
	}
	if len(entries) == 0 {
		return "", 0, refuse("Revert", "%s changes no file", short(t.sha))
	}
	tree, resp, err := c.gh.Git.CreateTree(ctx, c.owner, c.repo, headTree, entries)
	if err != nil {
		return "", 0, wrap("CreateTree", resp, err)
	}
	return tree.GetSHA(), len(entries), nil
}

// parentFiles lists the files of t's first parent: for a merge commit, the branch it
// was merged into (git revert -m 1).
func (c *Client) parentFiles(ctx context.Context, t revertTarget) (map[string]*gh.TreeEntry, error) {
	parent, resp, err := c.gh.Git.GetCommit(ctx, c.owner, c.repo, t.parents[0])
	if err != nil {
		return nil, wrap("GetGitCommit", resp, err)
	}
	return c.treeFiles(ctx, parent.GetTree().GetSHA())
}

// sameEntry reports whether two tree entries (nil: absent) hold the same content.
func sameEntry(a, b *gh.TreeEntry) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.GetSHA() == b.GetSHA() && a.GetMode() == b.GetMode()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// subject is a commit message's first line.
func subject(message string) string {
	s, _, _ := strings.Cut(message, "\n")
	return strings.TrimSpace(s)
}

func short(sha string) string { return sha[:min(len(sha), 7)] }

// Tarball downloads the repository's sources at sha as GitHub serves them: a gzip'd tar
// with one top directory "<owner>-<repo>-<7-digit sha>/". GitHub answers with a 302 to
// codeload, fetched without the GitHub token, like job logs. The body stops with an
// error past 200 MiB. The caller closes it.
func (c *Client) Tarball(ctx context.Context, sha string) (io.ReadCloser, error) {
	if err := checkSHA("Tarball", sha); err != nil {
		return nil, err
	}
	// maxRedirects 1: follow a 301 once (repository renamed), then expect the 302.
	u, resp, err := c.gh.Repositories.GetArchiveLink(ctx, c.owner, c.repo, gh.Tarball, &gh.RepositoryContentGetOptions{Ref: sha}, 1)
	if err != nil {
		return nil, wrap("Tarball", resp, err)
	}
	const op = "DownloadTarball"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &APIError{Operation: op, Detail: "bad archive URL", Err: withoutQuery(err)}
	}
	dresp, err := c.dl.Do(req)
	if err != nil {
		return nil, wrap(op, nil, err)
	}
	if dresp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(dresp.Body, 64<<10))
		dresp.Body.Close()
		return nil, &APIError{Operation: op, Status: dresp.StatusCode,
			Detail: fmt.Sprintf("HTTP %d from archive storage", dresp.StatusCode),
			Err:    fmt.Errorf("downloading the archive of %s: %s", sha, dresp.Status)}
	}
	return &cappedBody{rc: dresp.Body, left: maxTarballBytes, limit: maxTarballBytes}, nil
}

// cappedBody reads rc up to limit bytes and fails if there are more.
type cappedBody struct {
	rc          io.ReadCloser
	left, limit int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, &APIError{Operation: "DownloadTarball", Detail: fmt.Sprintf("archive larger than %d MiB", b.limit>>20),
				Err: fmt.Errorf("reading the archive: more than %d bytes", b.limit)}
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

var _ recovery.CommitChecker = (*Client)(nil)

// CommitOnBranch tells whether sha is on branch: it reads the branch's head
// (refs/heads/<branch>, never a tag of the same name) and compares it with the commit
// (GET /compare/{head}...{sha}): the commit is on the branch when GitHub says "identical"
// or "behind" (every commit of it is in the branch). For those, the merge base is the
// commit itself, which gives its full SHA. A commit the repository does not have (a
// fork's, a mistyped one) is an error wrapping recovery.ErrNotFound. Commits found on a
// branch are remembered (a branch is only ever expected to move forward).
func (c *Client) CommitOnBranch(ctx context.Context, sha, branch string) (recovery.CommitPlace, error) {
	const op = "Compare"
	if err := checkSHA(op, sha); err != nil {
		return recovery.CommitPlace{}, err
	}
	if err := checkRefName(op, "branch", branch); err != nil {
		return recovery.CommitPlace{}, err
	}
	key := sha + "|" + branch
	c.mu.Lock()
	place, ok := c.onBranch[key]
	c.mu.Unlock()
	if ok {
		return place, nil
	}
	head, err := c.branchHead(ctx, branch)
	if err != nil {
		return recovery.CommitPlace{}, err
	}
	cmp, resp, err := c.gh.Repositories.CompareCommits(ctx, c.owner, c.repo, head, sha, &gh.ListOptions{PerPage: 1})
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnprocessableEntity) {
			return recovery.CommitPlace{}, fmt.Errorf("commit %s: %w", sha, errors.Join(recovery.ErrNotFound, wrap("Compare", resp, err)))
		}
		return recovery.CommitPlace{}, wrap("Compare", resp, err)
	}
	place = recovery.CommitPlace{Status: cmp.GetStatus()}
	switch place.Status {
	case "identical", "behind":
		place.SHA = cmp.GetMergeBaseCommit().GetSHA()
		place.Reachable = strings.HasPrefix(place.SHA, sha)
	}
	if place.Reachable {
		c.mu.Lock()
		if len(c.onBranch) >= maxCachedRuns {
			clear(c.onBranch)
		}
		c.onBranch[key] = place
		c.mu.Unlock()
	}
	return place, nil
}
