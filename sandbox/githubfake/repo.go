package githubfake

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"
)

// Issue is an issue created through the API.
type Issue struct {
	Number            int
	Title, Body       string
	Labels, Assignees []string
	// Author is the authenticated user's login.
	Author    string
	CreatedAt time.Time
	// ID is the issue's REST ID.
	ID int64
}

// PullRequest is a pull request created through the API.
type PullRequest struct {
	Number      int
	Title, Body string
	// Head and Base are branch names; HeadSHA and BaseSHA their heads at creation.
	Head, Base       string
	HeadSHA, BaseSHA string
	Draft            bool
	Author           string
	CreatedAt        time.Time

	id int64
}

// Issues returns the issues created so far, in order.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, len(s.w.issues))
	for i, is := range s.w.issues {
		is.Labels, is.Assignees = slices.Clone(is.Labels), slices.Clone(is.Assignees)
		out[i] = is
	}
	return out
}

// PullRequests returns the pull requests created so far, in order.
func (s *Server) PullRequests() []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.w.pulls)
}

func (s *Server) labelDocs(names []string) []*github.Label {
	out := []*github.Label{}
	for _, n := range names {
		id, ok := s.w.labels[n]
		if !ok {
			id = s.w.nextLabelID
			s.w.nextLabelID++
			s.w.labels[n] = id
		}
		out = append(out, &github.Label{
			ID: github.Int64(id), NodeID: github.String(nodeID("LA", id)), Name: github.String(n),
			URL:   github.String(s.apiURL("/labels/%s", n)),
			Color: github.String("ededed"), Default: github.Bool(false),
		})
	}
	return out
}

// createIssue records the issue; unknown labels are created on the fly, as GitHub does
// for a user with push access.
func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	const doc = "https://docs.github.com/rest/issues/issues#create-an-issue"
	var body struct {
		Title     *string  `json:"title"`
		Body      string   `json:"body"`
		Labels    []string `json:"labels"`
		Assignee  string   `json:"assignee"`
		Assignees []string `json:"assignees"`
	}
	if !s.decodeBody(w, r, &body) {
		return
	}
	if body.Title == nil || *body.Title == "" {
		s.writeValidation(w, doc, fieldError{Resource: "Issue", Field: "title", Code: "missing_field"})
		return
	}
	if body.Assignee != "" && !slices.Contains(body.Assignees, body.Assignee) {
		body.Assignees = append([]string{body.Assignee}, body.Assignees...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	is := Issue{
		Number: s.w.nextNumber, Title: *body.Title, Body: body.Body,
		Labels: slices.Clone(body.Labels), Assignees: slices.Clone(body.Assignees),
		Author: s.login, CreatedAt: s.now(), ID: s.w.nextIssueID,
	}
	s.w.nextNumber++
	s.w.nextIssueID++
	s.w.issues = append(s.w.issues, is)
	issue := s.issueJSON(is)
	w.Header().Set("Location", s.apiURL("/issues/%d", is.Number))
	s.writeJSON(w, http.StatusCreated, issue)
}

// issueJSON is an issue as the REST API returns it.
func (s *Server) issueJSON(is Issue) any {
	assignees := []*github.User{}
	for _, a := range is.Assignees {
		assignees = append(assignees, s.userDoc(a))
	}
	issue := &github.Issue{
		ID: github.Int64(is.ID), NodeID: github.String(nodeID("I", is.ID)), Number: github.Int(is.Number),
		State: github.String("open"), Locked: github.Bool(false),
		Title: github.String(is.Title), Body: github.String(is.Body),
		User: s.userDoc(is.Author), Labels: s.labelDocs(is.Labels), Assignees: assignees,
		Comments:  github.Int(0),
		CreatedAt: ts(is.CreatedAt), UpdatedAt: ts(is.CreatedAt),
		URL:               github.String(s.apiURL("/issues/%d", is.Number)),
		HTMLURL:           github.String(s.htmlURL("/issues/%d", is.Number)),
		CommentsURL:       github.String(s.apiURL("/issues/%d/comments", is.Number)),
		EventsURL:         github.String(s.apiURL("/issues/%d/events", is.Number)),
		LabelsURL:         github.String(s.apiURL("/issues/%d/labels{/name}", is.Number)),
		RepositoryURL:     github.String(s.apiURL("")),
		AuthorAssociation: github.String("MEMBER"),
	}
	if len(assignees) > 0 {
		issue.Assignee = assignees[0]
	}
	return fillAbsent(issue, map[string]any{
		"assignee": nil, "closed_at": nil, "milestone": nil, "body": nil, "state_reason": nil,
	})
}

// listIssues answers GET /repos/{owner}/{repo}/issues: newest first, filtered by
// state (open by default; the fake's issues are all open) and labels (all of them),
// paginated.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var want []string
	if l := q.Get("labels"); l != "" {
		want = strings.Split(l, ",")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var issues []Issue
	for _, is := range slices.Backward(s.w.issues) {
		if state == "closed" {
			continue
		}
		if !slices.ContainsFunc(want, func(l string) bool { return !slices.Contains(is.Labels, l) }) {
			issues = append(issues, is)
		}
	}
	lo, hi := s.paginate(w, r, len(issues))
	out := make([]any, 0, hi-lo)
	for _, is := range issues[lo:hi] {
		out = append(out, s.issueJSON(is))
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	const doc = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
	var body struct {
		Title *string `json:"title"`
		Head  *string `json:"head"`
		Base  *string `json:"base"`
		Body  string  `json:"body"`
		Draft bool    `json:"draft"`
	}
	if !s.decodeBody(w, r, &body) {
		return
	}
	switch {
	case body.Head == nil:
		s.invalidRequest(w, "head", doc)
		return
	case body.Base == nil:
		s.invalidRequest(w, "base", doc)
		return
	case body.Title == nil || *body.Title == "":
		s.writeValidation(w, doc, fieldError{Resource: "PullRequest", Field: "title", Code: "missing_field"})
		return
	}
	// head may be "owner:branch" for a branch of the same repository.
	head := *body.Head
	if owner, branch, ok := strings.Cut(head, ":"); ok && strings.EqualFold(owner, s.owner) {
		head = branch
	}
	base := *body.Base
	s.mu.Lock()
	defer s.mu.Unlock()
	headSHA, okH := s.w.refs["refs/heads/"+head]
	baseSHA, okB := s.w.refs["refs/heads/"+base]
	switch {
	case !okH:
		s.writeValidation(w, doc, fieldError{Resource: "PullRequest", Field: "head", Code: "invalid"})
		return
	case !okB:
		s.writeValidation(w, doc, fieldError{Resource: "PullRequest", Field: "base", Code: "invalid"})
		return
	case s.isAncestor(headSHA, baseSHA):
		s.writeValidation(w, doc, fieldError{Resource: "PullRequest", Code: "custom", Message: fmt.Sprintf("No commits between %s and %s", base, head)})
		return
	}
	for _, p := range s.w.pulls {
		if p.Head == head && p.Base == base {
			s.writeValidation(w, doc, fieldError{Resource: "PullRequest", Code: "custom", Message: fmt.Sprintf("A pull request already exists for %s:%s.", s.owner, head)})
			return
		}
	}
	now := s.now()
	id := s.w.nextPullID
	s.w.nextPullID++
	pr := PullRequest{
		Number: s.w.nextNumber, Title: *body.Title, Body: body.Body, Head: head, Base: base,
		HeadSHA: headSHA, BaseSHA: baseSHA, Draft: body.Draft, Author: s.login, CreatedAt: now, id: id,
	}
	s.w.nextNumber++
	s.w.pulls = append(s.w.pulls, pr)
	w.Header().Set("Location", s.apiURL("/pulls/%d", pr.Number))
	s.writeJSON(w, http.StatusCreated, s.pullJSON(pr))
}

// pullJSON renders an open pull request as GitHub shows it, with the null fields it
// always sends. s.mu must be held.
func (s *Server) pullJSON(pr PullRequest) map[string]any {
	repo, owner := s.repoDoc(), s.userDoc(s.owner)
	branch := func(name, sha string) *github.PullRequestBranch {
		return &github.PullRequestBranch{
			Label: github.String(s.owner + ":" + name), Ref: github.String(name), SHA: github.String(sha),
			Repo: repo, User: owner,
		}
	}
	doc := &github.PullRequest{
		ID: github.Int64(pr.id), NodeID: github.String(nodeID("PR", pr.id)), Number: github.Int(pr.Number),
		State: github.String("open"), Locked: github.Bool(false),
		Title: github.String(pr.Title), Body: github.String(pr.Body), Draft: github.Bool(pr.Draft),
		User: s.userDoc(pr.Author), CreatedAt: ts(pr.CreatedAt), UpdatedAt: ts(pr.CreatedAt),
		URL:                 github.String(s.apiURL("/pulls/%d", pr.Number)),
		HTMLURL:             github.String(s.htmlURL("/pull/%d", pr.Number)),
		DiffURL:             github.String(s.htmlURL("/pull/%d.diff", pr.Number)),
		PatchURL:            github.String(s.htmlURL("/pull/%d.patch", pr.Number)),
		IssueURL:            github.String(s.apiURL("/issues/%d", pr.Number)),
		Head:                branch(pr.Head, pr.HeadSHA),
		Base:                branch(pr.Base, pr.BaseSHA),
		Merged:              github.Bool(false),
		MergeableState:      github.String("unknown"),
		MaintainerCanModify: github.Bool(false),
		AuthorAssociation:   github.String("MEMBER"),
	}
	return fillAbsent(doc, map[string]any{
		"closed_at": nil, "merged_at": nil, "merge_commit_sha": nil, "mergeable": nil,
		"assignee": nil, "milestone": nil, "body": nil,
	})
}

// listPulls answers GET /pulls with state, head, base and paging. Every pull request of
// the fake is open, so state=closed lists none. head filters only in GitHub's
// "owner:branch" form; a bare branch name is ignored, as GitHub ignores it (and then
// lists every pull request). Pull requests are listed newest first (sort=created,
// direction=desc, GitHub's default); other sort orders are not modelled.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	headOwner, headBranch, byHead := strings.Cut(q.Get("head"), ":")
	s.mu.Lock()
	defer s.mu.Unlock()
	var pulls []PullRequest
	for _, p := range slices.Backward(s.w.pulls) {
		switch {
		case state == "closed",
			byHead && (!strings.EqualFold(headOwner, s.owner) || p.Head != headBranch),
			q.Has("base") && p.Base != q.Get("base"):
			continue
		}
		pulls = append(pulls, p)
	}
	lo, hi := s.paginate(w, r, len(pulls))
	out := make([]any, 0, hi-lo)
	for _, p := range pulls[lo:hi] {
		out = append(out, s.pullJSON(p))
	}
	s.writeJSON(w, http.StatusOK, out)
}

// AddPullRequest seeds an open pull request from branch p.Head and returns its number
// (issues and pull requests share numbers). Base defaults to the default branch,
// HeadSHA and BaseSHA to the branches' heads, Author to the authenticated user and
// CreatedAt to the clock. Workflow runs of the head branch list it in pull_requests.
func (s *Server) AddPullRequest(p PullRequest) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Base == "" {
		p.Base = s.defaultBranch
	}
	if p.HeadSHA == "" {
		p.HeadSHA = s.w.refs["refs/heads/"+p.Head]
	}
	if p.BaseSHA == "" {
		p.BaseSHA = s.w.refs["refs/heads/"+p.Base]
	}
	if p.Author == "" {
		p.Author = s.login
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.now()
	}
	p.Number, p.id = s.w.nextNumber, s.w.nextPullID
	s.w.nextNumber++
	s.w.nextPullID++
	s.w.pulls = append(s.w.pulls, p)
	return p.Number
}

// runPullsLocked lists a run's pull requests as runs and their webhooks do: the open
// pull requests from the run's head branch, with only the URL, ID, number, and head and
// base (ref, SHA, and the repository's ID, URL and name). s.mu must be held.
func (s *Server) runPullsLocked(r Run) []*github.PullRequest {
	out := []*github.PullRequest{}
	if r.HeadRepository != "" && r.HeadRepository != s.owner+"/"+s.repo {
		return out // GitHub lists no pull requests on a fork's runs
	}
	repo := s.repoDoc()
	short := &github.Repository{ID: repo.ID, URL: repo.URL, Name: repo.Name}
	branch := func(name, sha string) *github.PullRequestBranch {
		if head, ok := s.w.refs["refs/heads/"+name]; ok {
			sha = head
		}
		return &github.PullRequestBranch{Ref: github.String(name), SHA: github.String(sha), Repo: short}
	}
	for _, p := range s.w.pulls {
		if p.Head != r.HeadBranch {
			continue
		}
		out = append(out, &github.PullRequest{
			URL: github.String(s.apiURL("/pulls/%d", p.Number)), ID: github.Int64(p.id), Number: github.Int(p.Number),
			Head: branch(p.Head, p.HeadSHA), Base: branch(p.Base, p.BaseSHA),
		})
	}
	return out
}

// tarball answers 302 to a codeload-like URL, as GitHub does; the archive itself is
// served without authentication.
func (s *Server) tarball(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	s.mu.Lock()
	if ref == "" {
		ref = "refs/heads/" + s.defaultBranch
	} else if _, isBranch := s.w.refs["refs/heads/"+ref]; isBranch && !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	} else if _, isTag := s.w.refs["refs/tags/"+ref]; isTag && !strings.HasPrefix(ref, "refs/") {
		ref = "refs/tags/" + ref
	}
	_, ok := s.resolveLocked(ref)
	s.mu.Unlock()
	if !ok {
		s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/repos/contents#download-a-repository-archive-tar")
		return
	}
	w.Header().Set("Location", fmt.Sprintf("%s/_codeload/%s/%s/legacy.tar.gz/%s", s.URL(), s.owner, s.repo, ref))
	w.WriteHeader(http.StatusFound)
}

// codeload serves the gzip'd tar GitHub's codeload serves: a pax global header whose
// comment is the commit SHA (as git archive writes), then everything under
// "{owner}-{repo}-{7-digit sha}/", dated at the commit.
func (s *Server) codeload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	sha, ok := s.resolveLocked(r.PathValue("ref"))
	var files map[string]string
	var when time.Time
	if ok {
		c := s.w.commits[sha]
		when = c.committerDate
		files = map[string]string{}
		for p, blob := range c.files {
			files[p] = s.w.blobs[blob]
		}
	}
	s.mu.Unlock()
	if !ok || r.PathValue("owner") != s.owner || r.PathValue("repo") != s.repo {
		http.Error(w, "404: Not Found", http.StatusNotFound)
		return
	}
	top := fmt.Sprintf("%s-%s-%s", s.owner, s.repo, sha[:7])
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Header().Set("Content-Disposition", "attachment; filename="+top+".tar.gz")
	w.WriteHeader(http.StatusOK)
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	_ = tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header",
		PAXRecords: map[string]string{"comment": sha}, Format: tar.FormatPAX,
	})
	dirHeader := func(name string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o775, ModTime: when, Uname: "root", Gname: "root"}
	}
	_ = tw.WriteHeader(dirHeader(top))
	// Each directory precedes its contents, as in git archive.
	dirs := map[string]bool{}
	for p := range files {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			dirs[dir] = true
		}
	}
	names := slices.Collect(maps.Keys(files))
	for dir := range dirs {
		names = append(names, dir)
	}
	slices.Sort(names)
	for _, p := range names {
		if dirs[p] {
			_ = tw.WriteHeader(dirHeader(top + "/" + p))
			continue
		}
		content := files[p]
		_ = tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: top + "/" + p, Mode: 0o664, Size: int64(len(content)),
			ModTime: when, Uname: "root", Gname: "root",
		})
		_, _ = tw.Write([]byte(content))
	}
	_ = tw.Close()
	_ = gz.Close()
}
