// Package tfstate is a local state server speaking Terraform's http backend protocol,
// the sandbox's stand-in for the remote state and state locks of medic's environments.
//
// One Server holds one state per environment at /state/{env}. Point Terraform at it
// with BackendConfig(env) as `terraform init -backend-config` values. The protocol, as
// Terraform's http backend (internal/backend/remote-state/http) speaks it:
//
//   - GET /state/{env} → 200 with the state document, or 204 when there is none.
//   - POST /state/{env}?ID={lock id} stores the state (Terraform sends Content-MD5, which
//     must match). While the state is locked, only the holder's ID may write; anything
//     else answers 423 with the holder's LockInfo. Unlocked writes are accepted, as
//     GitLab's and most state servers accept them.
//   - LOCK /state/{env} with a LockInfo JSON body → 200 grants the lock; 423 with the
//     holder's LockInfo refuses it. Terraform then reports "HTTP remote state already
//     locked: ID=<holder's ID>" followed by a Lock Info block describing its own attempt.
//   - UNLOCK /state/{env} with the holder's LockInfo → 200 releases it; another ID is
//     refused with 409 and the holder's LockInfo.
//   - UNLOCK with an EMPTY body is what `terraform force-unlock <id>` sends (it does not
//     transmit the ID): it releases whatever lock is held and is counted as forced.
//   - UNLOCK with a LockInfo holding only an ID is what `tofu force-unlock <id>` sends
//     (OpenTofu's internal/backend/remote-state/http/client.go sets the ID on an
//     otherwise empty LockInfo): the holder's ID releases the lock, counted as forced;
//     another is refused with 409 and the holder's LockInfo.
//   - DELETE /state/{env} removes the state (`terraform workspace delete`).
//
// Every request passes through the fault injector as "tfstate:<METHOD>" (tfstate:GET,
// tfstate:POST, tfstate:LOCK, tfstate:UNLOCK, tfstate:DELETE). A *fault.Error is answered
// with its status, a JSON body and, when set, Retry-After. Terraform's http client
// (go-retryablehttp, retry_max 2 by default) retries 429 and 5xx answers.
package tfstate

import (
	"bytes"
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/medic-ops/medic/sandbox/fault"
)

// LockInfo is Terraform's lock description (statemgr.LockInfo), sent as the body of
// LOCK and UNLOCK and answered to a refused contender.
type LockInfo struct {
	ID        string
	Operation string
	Info      string
	Who       string
	Version   string
	Created   time.Time
	Path      string
}

// Resource is one resource instance of a state.
type Resource struct {
	// Address is Terraform's address: `terraform_data.lambda["ingestion"]`.
	Address string
	// Type is the resource type ("terraform_data").
	Type string
	// ID is the instance's "id" attribute.
	ID string
	// Input is a terraform_data instance's input value (decoded JSON: map[string]any,
	// string …); nil for other types or when unset.
	Input any
	// Attributes are the instance's attributes as stored.
	Attributes map[string]json.RawMessage
}

// InputString returns Input[key] when Input is an object holding a string there.
func (r Resource) InputString(key string) string {
	m, _ := r.Input.(map[string]any)
	s, _ := m[key].(string)
	return s
}

// Server is a running state server. It is safe for concurrent use.
type Server struct {
	onWrite func(env string, state []byte)
	faults  *fault.Injector
	srv     *httptest.Server
	now     func() time.Time

	mu     sync.Mutex
	states map[string]*state
	// user and password, when set, are the only credentials taken (basic auth).
	user, password string
}

// state is one environment's state document and lock.
type state struct {
	data   []byte
	lock   *LockInfo
	forced int
}

// envName is what an environment may be called in a state path.
var envName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// handlers are the backend's operations by HTTP method; each is one small function.
var handlers = map[string]func(*Server, http.ResponseWriter, *http.Request, string){
	http.MethodGet:    (*Server).get,
	http.MethodPost:   (*Server).post,
	"LOCK":            (*Server).lock,
	"UNLOCK":          (*Server).unlock,
	http.MethodDelete: (*Server).delete,
}

// New starts a state server on 127.0.0.1. faults may be nil (the server makes its own).
// Call Close when done.
func New(faults *fault.Injector) *Server {
	if faults == nil {
		faults = fault.New()
	}
	s := &Server{faults: faults, now: time.Now, states: map[string]*state{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Faults is the server's fault injector.
func (s *Server) Faults() *fault.Injector { return s.faults }

// Address is the state (and lock) URL of env.
func (s *Server) Address(env string) string { return s.srv.URL + "/state/" + env }

// BackendConfig is the `-backend-config` key=value list that points Terraform's http
// backend at env's state and lock, with the credentials when the server takes only
// those.
func (s *Server) BackendConfig(env string) []string {
	a := s.Address(env)
	c := []string{
		"address=" + a,
		"lock_address=" + a,
		"unlock_address=" + a,
		"lock_method=LOCK",
		"unlock_method=UNLOCK",
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user != "" {
		c = append(c, "username="+s.user, "password="+s.password)
	}
	return c
}

// RequireCredentials makes the server take only requests with this basic auth (a
// drill's sandbox draws a password).
func (s *Server) RequireCredentials(user, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.password = user, password
}

func (s *Server) authorized(r *http.Request) bool {
	s.mu.Lock()
	user, password := s.user, s.password
	s.mu.Unlock()
	if user == "" {
		return true
	}
	u, p, ok := r.BasicAuth()
	return ok && subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1 && subtle.ConstantTimeCompare([]byte(p), []byte(password)) == 1
}

// Hold seeds a lock on env's state as if another runner held it. Empty fields get
// defaults: a new UUID, Operation "OperationTypeApply", Who "runner@ci", Version
// "1.5.7", Created now. It returns the lock as held.
func (s *Server) Hold(env string, info LockInfo) LockInfo {
	if info.ID == "" {
		info.ID = uuid.NewString()
	}
	if info.Operation == "" {
		info.Operation = "OperationTypeApply"
	}
	if info.Who == "" {
		info.Who = "runner@ci"
	}
	if info.Version == "" {
		info.Version = "1.5.7"
	}
	if info.Created.IsZero() {
		info.Created = s.now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stateLocked(env).lock = &info
	return info
}

// Lock returns the lock held on env's state, if any.
func (s *Server) Lock(env string) (LockInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[env]
	if !ok || st.lock == nil {
		return LockInfo{}, false
	}
	return *st.lock, true
}

// ForcedUnlocks counts the locks on env's state released by an UNLOCK without a body
// (`terraform force-unlock`).
func (s *Server) ForcedUnlocks(env string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.states[env]; ok {
		return st.forced
	}
	return 0
}

// State returns a copy of env's state document, nil when there is none.
func (s *Server) State(env string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.states[env]; ok && st.data != nil {
		return bytes.Clone(st.data)
	}
	return nil
}

// PutState replaces env's state document, for seeding.
func (s *Server) PutState(env string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stateLocked(env).data = bytes.Clone(data)
}

// Resources lists the resource instances of env's state, in the state's order.
func (s *Server) Resources(env string) ([]Resource, error) {
	data := s.State(env)
	if data == nil {
		return nil, nil
	}
	rs, err := ParseResources(data)
	if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", env, err)
	}
	return rs, nil
}

// stateDoc is the part of Terraform's state format (version 4) Resources reads.
type stateDoc struct {
	Version   int `json:"version"`
	Resources []struct {
		Module    string `json:"module"`
		Mode      string `json:"mode"`
		Type      string `json:"type"`
		Name      string `json:"name"`
		Instances []struct {
			IndexKey   json.RawMessage            `json:"index_key"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"instances"`
	} `json:"resources"`
}

// ParseResources lists the resource instances of a Terraform state document (format
// version 4).
func ParseResources(data []byte) ([]Resource, error) {
	var doc stateDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing the state: %w", err)
	}
	if doc.Version != 4 {
		return nil, fmt.Errorf("state format version %d, want 4", doc.Version)
	}
	var out []Resource
	for _, r := range doc.Resources {
		base := r.Type + "." + r.Name
		if r.Mode == "data" {
			base = "data." + base
		}
		if r.Module != "" {
			base = r.Module + "." + base
		}
		for _, in := range r.Instances {
			res := Resource{Address: base + indexSuffix(in.IndexKey), Type: r.Type, Attributes: in.Attributes}
			_ = json.Unmarshal(in.Attributes["id"], &res.ID)
			if r.Type == "terraform_data" {
				res.Input = dynamicValue(in.Attributes["input"])
			}
			out = append(out, res)
		}
	}
	return out, nil
}

// indexSuffix formats an instance key the way Terraform writes addresses: ["key"] for
// for_each, [0] for count, nothing without either.
func indexSuffix(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return "[" + strconv.Quote(s) + "]"
	}
	return "[" + string(raw) + "]"
}

// dynamicValue decodes a terraform_data attribute: the state stores dynamically typed
// values as {"value": …, "type": …}.
func dynamicValue(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	var dyn struct {
		Value any             `json:"value"`
		Type  json.RawMessage `json:"type"`
	}
	if json.Unmarshal(raw, &dyn) == nil && dyn.Type != nil {
		return dyn.Value
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	return v
}

// Envs lists the environments the server has a state or lock for.
func (s *Server) Envs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.states))
}

func (s *Server) stateLocked(env string) *state {
	st, ok := s.states[env]
	if !ok {
		st = &state{}
		s.states[env] = st
	}
	return st
}

// serve routes /state/{env} by method.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="medic sandbox state"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bad credentials"})
		return
	}
	env, ok := strings.CutPrefix(r.URL.Path, "/state/")
	if !ok || !envName.MatchString(env) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no state at " + r.URL.Path})
		return
	}
	h, ok := handlers[r.Method]
	if !ok {
		w.Header().Set("Allow", "GET, POST, LOCK, UNLOCK, DELETE")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method " + r.Method + " not allowed"})
		return
	}
	if fe := s.faults.Hit(r.Context(), "tfstate:"+r.Method); fe != nil {
		if fe.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((fe.RetryAfter+time.Second-1)/time.Second)))
		}
		writeJSON(w, fe.Status, map[string]string{"error": fe.Code, "message": fe.Message})
		return
	}
	h(s, w, r, env)
}

// get answers the state document, or 204 when there is none.
func (s *Server) get(w http.ResponseWriter, _ *http.Request, env string) {
	data := s.State(env)
	if data == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	sum := md5.Sum(data)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// maxStateBytes bounds a stored state; the sandbox's states are a few kilobytes.
const maxStateBytes = 16 << 20

// post stores the state; while locked only the holder's ID (?ID=) may write.
func (s *Server) post(w http.ResponseWriter, r *http.Request, env string) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxStateBytes+1))
	if err != nil || len(data) > maxStateBytes {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable or oversized state"})
		return
	}
	// Terraform sends Content-MD5 with every upload.
	if want := r.Header.Get("Content-MD5"); want != "" {
		sum := md5.Sum(data)
		if base64.StdEncoding.EncodeToString(sum[:]) != want {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Content-MD5 does not match the body"})
			return
		}
	}
	if !json.Valid(data) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the state is not JSON"})
		return
	}
	id := r.URL.Query().Get("ID")
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked(env)
	if st.lock != nil && st.lock.ID != id {
		writeJSON(w, http.StatusLocked, st.lock)
		return
	}
	st.data = data
	hook := s.onWrite
	w.WriteHeader(http.StatusOK)
	if hook != nil {
		// After the answer's status is set but with the lock still held, so hooks see
		// writes in order; hooks must not call back into the server.
		hook(env, append([]byte(nil), data...))
	}
}

// OnWrite registers f to be told of every state written, after it is stored: the
// sandbox world reacts to a deploy as the real infrastructure would.
func (s *Server) OnWrite(f func(env string, state []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onWrite = f
}

// lock grants the lock or answers 423 with the holder's LockInfo.
func (s *Server) lock(w http.ResponseWriter, r *http.Request, env string) {
	var info LockInfo
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&info); err != nil || info.ID == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "LOCK needs a LockInfo body with an ID"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked(env)
	if st.lock != nil {
		// Terraform reads the holder's ID from this body ("already locked: ID=…").
		writeJSON(w, http.StatusLocked, st.lock)
		return
	}
	st.lock = &info
	w.WriteHeader(http.StatusOK)
}

// unlock releases the lock for its holder; an empty body (Terraform's force-unlock)
// releases any, a LockInfo with only the holder's ID (OpenTofu's) releases it.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request, env string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable body"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked(env)
	if len(bytes.TrimSpace(body)) == 0 {
		// `terraform force-unlock` does not send the ID it was given.
		if st.lock != nil {
			st.lock = nil
			st.forced++
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	var info LockInfo
	if err := json.Unmarshal(body, &info); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "UNLOCK body is not a LockInfo"})
		return
	}
	switch {
	case st.lock == nil:
		// Already released (forced away meanwhile): nothing to do, and Terraform would
		// report any other answer as "Error releasing the state lock".
		w.WriteHeader(http.StatusOK)
	case st.lock.ID != info.ID:
		writeJSON(w, http.StatusConflict, st.lock)
	default:
		st.lock = nil
		if info == (LockInfo{ID: info.ID}) {
			st.forced++ // `tofu force-unlock <id>`: no holder sends a bare ID
		}
		w.WriteHeader(http.StatusOK)
	}
}

// delete removes the state unless another ID holds the lock.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, env string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked(env)
	if st.lock != nil && st.lock.ID != r.URL.Query().Get("ID") {
		writeJSON(w, http.StatusLocked, st.lock)
		return
	}
	st.data = nil
	w.WriteHeader(http.StatusOK)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
