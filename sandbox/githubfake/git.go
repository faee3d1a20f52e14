package githubfake

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-github/v66/github"
)

// Commit seeds the git graph. Objects are hashed exactly as git hashes them, so a SHA the
// fake computes is the SHA git would compute for the same content, author and date.
type Commit struct {
	// SHA, when set, must be 40 lowercase hex digits and is used instead of git's hash.
	SHA     string
	Message string
	// Author defaults to The Octocat; the committer is the author.
	Author Person
	// Parents are parent SHAs. When empty and Branch names an existing branch, the
	// parent is that branch's head; otherwise the commit is a root commit.
	Parents []string
	// Files are the contents this commit writes (path → content, slash-separated),
	// applied on top of the first parent's files; Delete lists paths it removes.
	Files  map[string]string
	Delete []string
	// Branch, when set, is moved to the new commit (created if absent).
	Branch string
	// When is the author and committer date; default the clock.
	When time.Time
}

type commitObject struct {
	sha, tree, message        string
	parents                   []string
	author, committer         Person
	authorDate, committerDate time.Time
	// files is the flattened snapshot: path → blob SHA.
	files map[string]string
}

type treeEntry struct {
	mode, typ, name, sha string
}

// AddCommit adds a commit to the git graph and returns its SHA. It panics on a
// malformed SHA or an unknown parent: seeding mistakes.
func (s *Server) AddCommit(c Commit) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.SHA != "" && !isSHA(c.SHA) {
		panic(fmt.Sprintf("githubfake: AddCommit: %q is not a 40-hex SHA", c.SHA))
	}
	parents := slices.Clone(c.Parents)
	if len(parents) == 0 && c.Branch != "" {
		if head, ok := s.w.refs["refs/heads/"+c.Branch]; ok {
			parents = []string{head}
		}
	}
	files := map[string]string{}
	for i, p := range parents {
		pc, ok := s.w.commits[p]
		if !ok {
			panic(fmt.Sprintf("githubfake: AddCommit: unknown parent %s", p))
		}
		if i == 0 {
			maps.Copy(files, pc.files)
		}
	}
	for _, path := range slices.Sorted(maps.Keys(c.Files)) {
		files[strings.Trim(path, "/")] = s.putBlob(c.Files[path])
	}
	for _, path := range c.Delete {
		delete(files, strings.Trim(path, "/"))
	}
	if c.Author.Name == "" {
		c.Author = Person{Name: "The Octocat", Email: "octocat@github.com", Login: "octocat"}
	}
	if c.When.IsZero() {
		c.When = s.now()
	}
	obj := &commitObject{
		tree: s.writeTree(files), message: c.Message, parents: parents,
		author: c.Author, committer: c.Author,
		authorDate: c.When.UTC().Truncate(time.Second), committerDate: c.When.UTC().Truncate(time.Second),
		files: files,
	}
	obj.sha = c.SHA
	if obj.sha == "" {
		obj.sha = commitHash(obj)
	}
	s.w.commits[obj.sha] = obj
	if c.Branch != "" {
		s.w.refs["refs/heads/"+c.Branch] = obj.sha
	}
	return obj.sha
}

// SetRef points ref ("heads/main" or "refs/heads/main") at sha. It panics when sha is
// not a known commit: a seeding mistake.
func (s *Server) SetRef(ref, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.w.commits[sha]; !ok {
		panic(fmt.Sprintf("githubfake: SetRef %s: unknown commit %s", ref, sha))
	}
	s.w.refs[fullRef(ref)] = sha
}

// Ref returns the SHA ref ("heads/main" or "refs/heads/main") points at.
func (s *Server) Ref(ref string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := s.w.refs[fullRef(ref)]
	return sha, ok
}

// CommitMessage returns the message and parents of commit sha, for assertions on
// commits medic created.
func (s *Server) CommitMessage(sha string) (message string, parents []string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.w.commits[sha]
	if !ok {
		return "", nil, false
	}
	return c.message, slices.Clone(c.parents), true
}

// FilesAt returns the files (path → content) of the commit ref resolves to.
func (s *Server) FilesAt(ref string) (map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := s.resolveLocked(ref)
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for path, blob := range s.w.commits[sha].files {
		out[path] = s.w.blobs[blob]
	}
	return out, true
}

func fullRef(ref string) string { return "refs/" + strings.TrimPrefix(ref, "refs/") }

func isSHA(v string) bool {
	if len(v) != 40 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil && strings.ToLower(v) == v
}

// Git object hashing: sha1("<type> <len>\x00<body>").

func hashObject(kind string, body []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s %d\x00", kind, len(body))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// putBlob stores content and returns its blob SHA. s.mu must be held.
func (s *Server) putBlob(content string) string {
	sha := hashObject("blob", []byte(content))
	s.w.blobs[sha] = content
	return sha
}

// writeTree stores the trees for files (path → blob SHA) and returns the root tree SHA.
// s.mu must be held.
func (s *Server) writeTree(files map[string]string) string {
	var entries []treeEntry
	sub := map[string]map[string]string{}
	for path, blob := range files {
		dir, rest, nested := strings.Cut(path, "/")
		if !nested {
			entries = append(entries, treeEntry{mode: "100644", typ: "blob", name: path, sha: blob})
			continue
		}
		if sub[dir] == nil {
			sub[dir] = map[string]string{}
		}
		sub[dir][rest] = blob
	}
	for dir, fs := range sub {
		entries = append(entries, treeEntry{mode: "40000", typ: "tree", name: dir, sha: s.writeTree(fs)})
	}
	// git orders entries by name, comparing a tree's name as if it ended in "/".
	key := func(e treeEntry) string {
		if e.typ == "tree" {
			return e.name + "/"
		}
		return e.name
	}
	slices.SortFunc(entries, func(a, b treeEntry) int { return strings.Compare(key(a), key(b)) })
	var body []byte
	for _, e := range entries {
		raw, _ := hex.DecodeString(e.sha)
		body = append(body, e.mode+" "+e.name+"\x00"...)
		body = append(body, raw...)
	}
	sha := hashObject("tree", body)
	s.w.trees[sha] = entries
	return sha
}

// flatten returns the files under tree sha as path → blob SHA. s.mu must be held.
func (s *Server) flatten(sha, prefix string, into map[string]string) {
	for _, e := range s.w.trees[sha] {
		if e.typ == "tree" {
			s.flatten(e.sha, prefix+e.name+"/", into)
			continue
		}
		into[prefix+e.name] = e.sha
	}
}

func commitHash(c *commitObject) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tree %s\n", c.tree)
	for _, p := range c.parents {
		fmt.Fprintf(&b, "parent %s\n", p)
	}
	fmt.Fprintf(&b, "author %s <%s> %d +0000\n", c.author.Name, c.author.Email, c.authorDate.Unix())
	fmt.Fprintf(&b, "committer %s <%s> %d +0000\n", c.committer.Name, c.committer.Email, c.committerDate.Unix())
	b.WriteString("\n" + c.message)
	return hashObject("commit", []byte(b.String()))
}

// resolveLocked turns a SHA, an abbreviated SHA (7+ hex digits, unique), a branch or a
// tag name ("main", "heads/main", "refs/heads/main", "v1.2") into a commit SHA.
// s.mu must be held.
func (s *Server) resolveLocked(ref string) (string, bool) {
	if _, ok := s.w.commits[ref]; ok {
		return ref, true
	}
	for _, name := range []string{fullRef(ref), "refs/heads/" + ref, "refs/tags/" + ref} {
		if sha, ok := s.w.refs[name]; ok {
			return sha, true
		}
	}
	if len(ref) >= 7 && len(ref) < 40 {
		if _, err := hex.DecodeString(ref + ref[:len(ref)%2]); err == nil {
			var found string
			for sha := range s.w.commits {
				if strings.HasPrefix(sha, ref) {
					if found != "" {
						return "", false
					}
					found = sha
				}
			}
			return found, found != ""
		}
	}
	return "", false
}

// isAncestor reports whether a is b or one of b's ancestors. s.mu must be held.
func (s *Server) isAncestor(a, b string) bool {
	_, ok := s.ancestors(b)[a]
	return ok
}

// ancestors returns sha and every commit reachable from it. s.mu must be held.
func (s *Server) ancestors(sha string) map[string]bool {
	seen := map[string]bool{}
	stack := []string{sha}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[c] {
			continue
		}
		seen[c] = true
		if obj, ok := s.w.commits[c]; ok {
			stack = append(stack, obj.parents...)
		}
	}
	return seen
}

// JSON documents.

func (s *Server) refDoc(name, sha string) *github.Reference {
	return &github.Reference{
		Ref:    github.String(name),
		NodeID: github.String(nodeID("REF", stableID("ref", name))),
		URL:    github.String(s.apiURL("/git/%s", name)),
		Object: &github.GitObject{
			Type: github.String("commit"),
			SHA:  github.String(sha),
			URL:  github.String(s.apiURL("/git/commits/%s", sha)),
		},
	}
}

func (s *Server) parentDocs(c *commitObject) []*github.Commit {
	out := []*github.Commit{}
	for _, p := range c.parents {
		out = append(out, &github.Commit{
			SHA:     github.String(p),
			URL:     github.String(s.apiURL("/git/commits/%s", p)),
			HTMLURL: github.String(s.htmlURL("/commit/%s", p)),
		})
	}
	return out
}

// gitCommitDoc renders a commit as the Git Data API shows it.
func (s *Server) gitCommitDoc(c *commitObject) *github.Commit {
	return &github.Commit{
		SHA:       github.String(c.sha),
		NodeID:    github.String(nodeID("C", stableID("commit", c.sha))),
		URL:       github.String(s.apiURL("/git/commits/%s", c.sha)),
		HTMLURL:   github.String(s.htmlURL("/commit/%s", c.sha)),
		Author:    authorDoc(c.author, c.authorDate),
		Committer: authorDoc(c.committer, c.committerDate),
		Message:   github.String(c.message),
		Tree: &github.Tree{
			SHA: github.String(c.tree),
		},
		Parents: s.parentDocs(c),
		Verification: &github.SignatureVerification{
			Verified: github.Bool(false), Reason: github.String("unsigned"),
		},
	}
}

// gitCommitJSON adds the tree URL and the null signature fields GitHub sends.
func (s *Server) gitCommitJSON(c *commitObject) map[string]any {
	m := fillAbsent(s.gitCommitDoc(c), nil)
	m["tree"] = map[string]any{"sha": c.tree, "url": s.apiURL("/git/trees/%s", c.tree)}
	m["verification"] = map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil}
	return m
}

func authorDoc(p Person, t time.Time) *github.CommitAuthor {
	return &github.CommitAuthor{Name: github.String(p.Name), Email: github.String(p.Email), Date: ts(t)}
}

// repoCommitDoc renders a commit as GET /commits/{ref} shows it, with its files and stats
// against the first parent.
func (s *Server) repoCommitDoc(c *commitObject) *github.RepositoryCommit {
	inner := s.gitCommitDoc(c)
	inner.SHA, inner.HTMLURL, inner.Parents, inner.NodeID = nil, nil, nil, nil
	inner.CommentCount = github.Int(0)
	doc := &github.RepositoryCommit{
		SHA:         github.String(c.sha),
		NodeID:      github.String(nodeID("C", stableID("commit", c.sha))),
		Commit:      inner,
		Parents:     s.parentDocs(c),
		HTMLURL:     github.String(s.htmlURL("/commit/%s", c.sha)),
		URL:         github.String(s.apiURL("/commits/%s", c.sha)),
		CommentsURL: github.String(s.apiURL("/commits/%s/comments", c.sha)),
	}
	if c.author.Login != "" {
		doc.Author = s.userDoc(c.author.Login)
	}
	if c.committer.Login != "" {
		doc.Committer = s.userDoc(c.committer.Login)
	}
	base := map[string]string{}
	if len(c.parents) > 0 {
		base = s.w.commits[c.parents[0]].files
	}
	doc.Files, doc.Stats = s.fileDiffs(base, c.files)
	return doc
}

// maxCommitFiles is the number of files GitHub lists for one commit or comparison
// ("up to 300 files", docs.github.com/rest/commits/commits#get-a-commit).
const maxCommitFiles = 300

// fileDiffs compares two snapshots (path → blob SHA) as GitHub's files and stats.
// s.mu must be held.
func (s *Server) fileDiffs(from, to map[string]string) ([]*github.CommitFile, *github.CommitStats) {
	paths := map[string]bool{}
	for p := range from {
		paths[p] = true
	}
	for p := range to {
		paths[p] = true
	}
	files := []*github.CommitFile{}
	var adds, dels int
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		a, inA := from[p]
		b, inB := to[p]
		if a == b {
			continue
		}
		status, blob := "modified", b
		switch {
		case !inA:
			status = "added"
		case !inB:
			status, blob = "removed", a
		}
		ops := lineDiff(splitLines(s.w.blobs[a]), splitLines(s.w.blobs[b]))
		var add, del int
		for _, op := range ops {
			switch op.kind {
			case '+':
				add++
			case '-':
				del++
			}
		}
		adds, dels = adds+add, dels+del
		if len(files) < maxCommitFiles {
			files = append(files, &github.CommitFile{
				SHA: github.String(blob), Filename: github.String(p), Status: github.String(status),
				Additions: github.Int(add), Deletions: github.Int(del), Changes: github.Int(add + del),
				BlobURL:     github.String(s.htmlURL("/blob/%s/%s", blob, p)),
				RawURL:      github.String(s.htmlURL("/raw/%s/%s", blob, p)),
				ContentsURL: github.String(s.apiURL("/contents/%s", p)),
				Patch:       github.String(unifiedPatch(ops)),
			})
		}
	}
	return files, &github.CommitStats{Additions: github.Int(adds), Deletions: github.Int(dels), Total: github.Int(adds + dels)}
}

// Handlers.

func (s *Server) getRef(w http.ResponseWriter, r *http.Request) {
	name := fullRef(r.PathValue("ref"))
	s.mu.Lock()
	sha, ok := s.w.refs[name]
	s.mu.Unlock()
	if !ok {
		s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/git/refs#get-a-reference")
		return
	}
	s.writeJSON(w, http.StatusOK, s.refDoc(name, sha))
}

func (s *Server) matchingRefs(w http.ResponseWriter, r *http.Request) {
	prefix := fullRef(r.PathValue("ref"))
	s.mu.Lock()
	var names []string
	for name := range s.w.refs {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	lo, hi := s.paginate(w, r, len(names))
	out := make([]*github.Reference, 0, hi-lo)
	for _, name := range names[lo:hi] {
		out = append(out, s.refDoc(name, s.w.refs[name]))
	}
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, out)
}

// invalidRequest answers GitHub's schema-validation 422 for a missing field.
func (s *Server) invalidRequest(w http.ResponseWriter, field, doc string) {
	s.writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("Invalid request.\n\n%q wasn't supplied.", field), doc)
}

func (s *Server) updateRef(w http.ResponseWriter, r *http.Request) {
	const doc = "https://docs.github.com/rest/git/refs#update-a-reference"
	var body struct {
		SHA   *string `json:"sha"`
		Force *bool   `json:"force"`
	}
	if !s.decodeBody(w, r, &body) {
		return
	}
	if body.SHA == nil {
		s.invalidRequest(w, "sha", doc)
		return
	}
	name := fullRef(r.PathValue("ref"))
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.w.refs[name]
	switch {
	case !ok:
		s.writeError(w, http.StatusUnprocessableEntity, "Reference does not exist", doc)
		return
	case s.w.commits[*body.SHA] == nil:
		s.writeError(w, http.StatusUnprocessableEntity, "Object does not exist", doc)
		return
	case (body.Force == nil || !*body.Force) && !s.isAncestor(cur, *body.SHA):
		s.writeError(w, http.StatusUnprocessableEntity, "Update is not a fast forward", doc)
		return
	}
	s.w.refs[name] = *body.SHA
	s.writeJSON(w, http.StatusOK, s.refDoc(name, *body.SHA))
}

func (s *Server) createRef(w http.ResponseWriter, r *http.Request) {
	const doc = "https://docs.github.com/rest/git/refs#create-a-reference"
	var body struct {
		Ref *string `json:"ref"`
		SHA *string `json:"sha"`
	}
	if !s.decodeBody(w, r, &body) {
		return
	}
	switch {
	case body.Ref == nil:
		s.invalidRequest(w, "ref", doc)
		return
	case body.SHA == nil:
		s.invalidRequest(w, "sha", doc)
		return
	case !strings.HasPrefix(*body.Ref, "refs/") || strings.Count(*body.Ref, "/") < 2:
		s.writeError(w, http.StatusUnprocessableEntity, "Reference name must start with 'refs/' and have at least two slashes.", doc)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.w.refs[*body.Ref]; exists {
		s.writeError(w, http.StatusUnprocessableEntity, "Reference already exists", doc)
		return
	}
	if s.w.commits[*body.SHA] == nil {
		s.writeError(w, http.StatusUnprocessableEntity, "Object does not exist", doc)
		return
	}
	s.w.refs[*body.Ref] = *body.SHA
	w.Header().Set("Location", s.apiURL("/git/%s", *body.Ref))
	s.writeJSON(w, http.StatusCreated, s.refDoc(*body.Ref, *body.SHA))
}

func (s *Server) getGitCommit(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.w.commits[r.PathValue("sha")]
	if !ok {
		s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/git/commits#get-a-commit-object")
		return
	}
	s.writeJSON(w, http.StatusOK, s.gitCommitJSON(c))
}

type authorBody struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	Date  time.Time `json:"date"`
}

func (s *Server) createGitCommit(w http.ResponseWriter, r *http.Request) {
	const doc = "https://docs.github.com/rest/git/commits#create-a-commit"
	var body struct {
		Message   *string     `json:"message"`
		Tree      *string     `json:"tree"`
		Parents   []string    `json:"parents"`
		Author    *authorBody `json:"author"`
		Committer *authorBody `json:"committer"`
	}
	if !s.decodeBody(w, r, &body) {
		return
	}
	if body.Message == nil {
		s.invalidRequest(w, "message", doc)
		return
	}
	if body.Tree == nil {
		s.invalidRequest(w, "tree", doc)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.w.trees[*body.Tree]; !ok {
		s.writeError(w, http.StatusUnprocessableEntity, "Tree SHA does not exist", doc)
		return
	}
	for _, p := range body.Parents {
		if s.w.commits[p] == nil {
			s.writeError(w, http.StatusUnprocessableEntity, "Parent SHA does not exist or is not a commit object", doc)
			return
		}
	}
	now := s.now().UTC().Truncate(time.Second)
	who := func(b *authorBody, def Person, defDate time.Time) (Person, time.Time) {
		if b == nil || b.Name == "" {
			return def, defDate
		}
		d := defDate
		if !b.Date.IsZero() {
			d = b.Date.UTC().Truncate(time.Second)
		}
		return Person{Name: b.Name, Email: b.Email}, d
	}
	me := Person{Name: s.login, Email: s.login + "@users.noreply.github.com", Login: s.login}
	c := &commitObject{tree: *body.Tree, message: *body.Message, parents: slices.Clone(body.Parents), files: map[string]string{}}
	// The author defaults to the authenticated user, the committer to the author.
	c.author, c.authorDate = who(body.Author, me, now)
	c.committer, c.committerDate = who(body.Committer, c.author, c.authorDate)
	s.flatten(c.tree, "", c.files)
	c.sha = commitHash(c)
	s.w.commits[c.sha] = c
	w.Header().Set("Location", s.apiURL("/git/commits/%s", c.sha))
	s.writeJSON(w, http.StatusCreated, s.gitCommitJSON(c))
}

func (s *Server) treeJSON(sha string, recursive bool) map[string]any {
	entries := []any{}
	var walk func(sha, prefix string)
	walk = func(sha, prefix string) {
		for _, e := range s.w.trees[sha] {
			m := map[string]any{"path": prefix + e.name, "mode": e.mode, "type": e.typ, "sha": e.sha}
			if e.typ == "blob" {
				m["size"] = len(s.w.blobs[e.sha])
				m["url"] = s.apiURL("/git/blobs/%s", e.sha)
			} else {
				m["url"] = s.apiURL("/git/trees/%s", e.sha)
			}
			entries = append(entries, m)
			if recursive && e.typ == "tree" {
				walk(e.sha, prefix+e.name+"/")
			}
		}
	}
	walk(sha, "")
	return map[string]any{"sha": sha, "url": s.apiURL("/git/trees/%s", sha), "tree": entries, "truncated": false}
}

// getTree accepts a tree SHA, or (as GitHub does) a commit SHA or ref name, whose tree it
// shows. Any non-empty recursive parameter lists the whole tree.
func (s *Server) getTree(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha := r.PathValue("sha")
	if _, ok := s.w.trees[sha]; !ok {
		c, ok := s.resolveLocked(sha)
		if !ok {
			s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/git/trees#get-a-tree")
			return
		}
		sha = s.w.commits[c].tree
	}
	s.writeJSON(w, http.StatusOK, s.treeJSON(sha, r.URL.Query().Get("recursive") != ""))
}

// createTree builds a tree from base_tree plus entries with content or sha (sha null
// deletes the path). Every file gets mode 100644: the fake keeps no executable bit.
func (s *Server) createTree(w http.ResponseWriter, r *http.Request) {
	const doc = "https://docs.github.com/rest/git/trees#create-a-tree"
	var body struct {
		BaseTree *string `json:"base_tree"`
		Tree     []struct {
			Path    string          `json:"path"`
			Mode    string          `json:"mode"`
			Type    string          `json:"type"`
			SHA     json.RawMessage `json:"sha"`
			Content *string         `json:"content"`
		} `json:"tree"`
	}
	if !s.decodeBody(w, r, &body) {
		return
	}
	if body.Tree == nil {
		s.invalidRequest(w, "tree", doc)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	files := map[string]string{}
	if body.BaseTree != nil {
		if _, ok := s.w.trees[*body.BaseTree]; !ok {
			s.writeError(w, http.StatusUnprocessableEntity, "base_tree is not a valid tree oid", doc)
			return
		}
		s.flatten(*body.BaseTree, "", files)
	}
	for _, e := range body.Tree {
		path := strings.Trim(e.Path, "/")
		switch {
		case string(e.SHA) == "null":
			for p := range files {
				if p == path || strings.HasPrefix(p, path+"/") {
					delete(files, p)
				}
			}
		case e.Content != nil:
			files[path] = s.putBlob(*e.Content)
		case len(e.SHA) > 0:
			var sha string
			_ = json.Unmarshal(e.SHA, &sha)
			if _, ok := s.w.blobs[sha]; ok && e.Type != "tree" {
				files[path] = sha
			} else if _, ok := s.w.trees[sha]; ok {
				s.flatten(sha, path+"/", files)
			} else {
				s.writeError(w, http.StatusUnprocessableEntity, "tree.sha "+sha+" is not a valid blob", doc)
				return
			}
		default:
			s.writeError(w, http.StatusUnprocessableEntity, "Must supply either tree.sha or tree.content", doc)
			return
		}
	}
	sha := s.writeTree(files)
	w.Header().Set("Location", s.apiURL("/git/trees/%s", sha))
	s.writeJSON(w, http.StatusCreated, s.treeJSON(sha, false))
}

func (s *Server) getCommit(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("ref")
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := s.resolveLocked(ref)
	if !ok {
		s.writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref, "https://docs.github.com/rest/commits/commits#get-a-commit")
		return
	}
	s.writeJSON(w, http.StatusOK, s.repoCommitDoc(s.w.commits[sha]))
}

// maxCompareCommits is the number of commits a comparison lists ("up to 250 commits",
// docs.github.com/rest/commits/commits#compare-two-commits).
const maxCompareCommits = 250

// compare answers GET /compare/{base}...{head}; go-github v66 query-escapes both names,
// which ServeMux unescapes into the path value.
func (s *Server) compare(w http.ResponseWriter, r *http.Request) {
	basehead := r.PathValue("basehead")
	base, head, ok := strings.Cut(basehead, "...")
	s.mu.Lock()
	defer s.mu.Unlock()
	b, okB := s.resolveLocked(base)
	h, okH := s.resolveLocked(head)
	if !ok || !okB || !okH {
		s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/commits/commits#compare-two-commits")
		return
	}
	ancB, ancH := s.ancestors(b), s.ancestors(h)
	var ahead, behind int
	for c := range ancH {
		if !ancB[c] {
			ahead++
		}
	}
	for c := range ancB {
		if !ancH[c] {
			behind++
		}
	}
	status := "diverged"
	switch {
	case ahead == 0 && behind == 0:
		status = "identical"
	case behind == 0:
		status = "ahead"
	case ahead == 0:
		status = "behind"
	}
	mergeBase := s.mergeBase(h, ancB)
	// Commits in head and not in base, parents before children.
	var order []string
	done := map[string]bool{}
	var visit func(c string)
	visit = func(c string) {
		if done[c] || ancB[c] {
			return
		}
		done[c] = true
		for _, p := range s.w.commits[c].parents {
			visit(p)
		}
		order = append(order, c)
	}
	visit(h)
	commits := []*github.RepositoryCommit{}
	for _, c := range order[:min(len(order), maxCompareCommits)] {
		rc := s.repoCommitDoc(s.w.commits[c])
		rc.Files, rc.Stats = nil, nil
		commits = append(commits, rc)
	}
	baseFiles := map[string]string{}
	if mergeBase != "" {
		baseFiles = s.w.commits[mergeBase].files
	}
	files, _ := s.fileDiffs(baseFiles, s.w.commits[h].files)
	baseDoc := s.repoCommitDoc(s.w.commits[b])
	baseDoc.Files, baseDoc.Stats = nil, nil
	doc := &github.CommitsComparison{
		BaseCommit:   baseDoc,
		Status:       github.String(status),
		AheadBy:      github.Int(ahead),
		BehindBy:     github.Int(behind),
		TotalCommits: github.Int(ahead),
		Commits:      commits,
		Files:        files,
		HTMLURL:      github.String(s.htmlURL("/compare/%s", basehead)),
		PermalinkURL: github.String(s.htmlURL("/compare/%s...%s", b, h)),
		DiffURL:      github.String(s.htmlURL("/compare/%s.diff", basehead)),
		PatchURL:     github.String(s.htmlURL("/compare/%s.patch", basehead)),
		URL:          github.String(s.apiURL("/compare/%s", basehead)),
	}
	if mergeBase != "" {
		mb := s.repoCommitDoc(s.w.commits[mergeBase])
		mb.Files, mb.Stats = nil, nil
		doc.MergeBaseCommit = mb
	}
	s.writeJSON(w, http.StatusOK, fillAbsent(doc, map[string]any{"commits": []any{}, "files": []any{}}))
}

// mergeBase returns the first commit reachable from head, breadth first, that base also
// reaches; "" when the histories are unrelated. s.mu must be held.
func (s *Server) mergeBase(head string, ancBase map[string]bool) string {
	queue := []string{head}
	seen := map[string]bool{}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if seen[c] {
			continue
		}
		seen[c] = true
		if ancBase[c] {
			return c
		}
		if obj, ok := s.w.commits[c]; ok {
			queue = append(queue, obj.parents...)
		}
	}
	return ""
}
