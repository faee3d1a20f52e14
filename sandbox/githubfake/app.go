package githubfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// App makes the fake the host of one GitHub App, installed on the repository: it
// answers GET /repos/{owner}/{repo}/installation and POST
// /app/installations/{id}/access_tokens to a request signed with the app's JWT, and
// issues installation tokens (ghs_…) that every other endpoint accepts until they
// expire, as GitHub does (docs.github.com/apps/creating-github-apps/authenticating-
// with-a-github-app):
//
//   - the JWT is RS256, signed by the key whose public half is PublicKey, its iss is
//     the App ID, its iat in the past and its exp in the future, at most ten minutes
//     out; anything else answers 401 with GitHub's message;
//   - an installation token expires TokenTTL after it was issued (an hour on GitHub)
//     and then answers 401 "Bad credentials" on every call.
//
// App times run on Now, which defaults to the wall clock: ghinstallation signs its
// JWTs and decides when to mint the next token by time.Now, so a test moves Now by an
// offset from the wall clock (a few seconds, well inside the JWT's ninety), not to a
// date of its own.
type App struct {
	// ID is the App ID, the JWT's iss.
	ID int64
	// PublicKey checks the JWT's signature.
	PublicKey *rsa.PublicKey
	// InstallationID is the installation on the repository's owner; default 51000001.
	InstallationID int64
	// NotInstalled leaves the repository out of the installation: GET
	// /repos/{owner}/{repo}/installation answers 404 and a token for the repository 422.
	NotInstalled bool
	// Permissions are what the installation was granted ("actions": "write" …);
	// default what medic's README asks for. A token asking for more answers 422.
	Permissions map[string]string
	// TokenTTL is an installation token's lifetime; default an hour, as on GitHub.
	TokenTTL time.Duration
	// Now is the app's clock (JWT times, token expiry); default time.Now.
	Now func() time.Time
}

// jwtMaxLife is how far in the future GitHub accepts a JWT's exp: "no more than 10
// minutes into the future" (docs.github.com/apps/creating-github-apps/
// authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app).
const jwtMaxLife = 10 * time.Minute

// The JWT messages GitHub answers with.
const (
	msgJWTUndecodable = "A JSON web token could not be decoded"
	msgJWTExpired     = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	msgJWTTooFar      = "'Expiration time' claim ('exp') is too far in the future"
	msgJWTIssuedAt    = "'Issued at' claim ('iat') must be an Integer representing a time in the past"
	msgJWTIssuer      = "'Issuer' claim ('iss') must be an Integer"
)

func (a *App) withDefaults() *App {
	if a == nil {
		return nil
	}
	c := *a
	if c.InstallationID == 0 {
		c.InstallationID = 51_000_001
	}
	if c.Permissions == nil {
		c.Permissions = appPermissions
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &c
}

// appRoute serves an endpoint that takes the app's JWT rather than a token.
func (s *Server) appRoute(op string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		if r.Method != http.MethodGet {
			defer func() {
				s.mu.Lock()
				s.w.mutations = append(s.w.mutations, Mutation{Op: op, Method: r.Method, Path: r.URL.Path, Status: rec.status})
				s.mu.Unlock()
			}()
		}
		if ferr := s.faults.Hit(r.Context(), "github:"+op); ferr != nil {
			s.writeFault(rec, ferr)
			return
		}
		if s.appConf() == nil {
			// GitHub reads a token where a JWT belongs as a JWT that does not decode.
			s.writeError(rec, http.StatusUnauthorized, msgJWTUndecodable, docsApps)
			return
		}
		if msg := s.checkJWT(r.Header.Get("Authorization")); msg != "" {
			s.writeError(rec, http.StatusUnauthorized, msg, docsApps)
			return
		}
		h(rec, r)
	})
}

const docsApps = "https://docs.github.com/rest/apps/apps"

// checkJWT returns why GitHub would refuse the Authorization header as the app's
// JWT, "" when it accepts it.
func (s *Server) checkJWT(header string) string {
	app := s.appConf()
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return msgJWTUndecodable
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return msgJWTUndecodable
	}
	var head struct {
		Alg string `json:"alg"`
	}
	if !decodeSegment(parts[0], &head) || head.Alg != "RS256" {
		return msgJWTUndecodable
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return msgJWTUndecodable
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(app.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return msgJWTUndecodable
	}
	var claims struct {
		Iat *json.Number    `json:"iat"`
		Exp *json.Number    `json:"exp"`
		Iss json.RawMessage `json:"iss"`
	}
	if !decodeSegment(parts[1], &claims) {
		return msgJWTUndecodable
	}
	var iss int64
	var issText string
	if json.Unmarshal(claims.Iss, &issText) == nil {
		iss, err = strconv.ParseInt(issText, 10, 64)
	} else {
		err = json.Unmarshal(claims.Iss, &iss)
	}
	if err != nil {
		return msgJWTIssuer
	}
	if iss != app.ID {
		return msgJWTUndecodable // the key and the app do not go together
	}
	now := app.Now()
	iat, okIat := unixClaim(claims.Iat)
	if !okIat || iat.After(now) {
		return msgJWTIssuedAt
	}
	exp, okExp := unixClaim(claims.Exp)
	switch {
	case !okExp || !exp.After(now):
		return msgJWTExpired
	case exp.After(now.Add(jwtMaxLife)):
		return msgJWTTooFar
	}
	return ""
}

func decodeSegment(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	return d.Decode(v) == nil
}

// unixClaim reads a NumericDate claim: GitHub wants an integer.
func unixClaim(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	v, err := n.Int64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(v, 0), true
}

// repoInstallation answers GET /repos/{owner}/{repo}/installation.
func (s *Server) repoInstallation(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.PathValue("owner"), s.owner) || !strings.EqualFold(r.PathValue("repo"), s.repo) || s.appConf().NotInstalled {
		s.writeError(w, http.StatusNotFound, "Not Found", docsApps)
		return
	}
	s.writeJSON(w, http.StatusOK, s.installationDoc())
}

func (s *Server) installationDoc() map[string]any {
	app := s.appConf()
	id := app.InstallationID
	return map[string]any{
		"id":                   id,
		"app_id":               app.ID,
		"target_type":          "Organization",
		"account":              map[string]any{"login": s.owner, "id": stableID("user", s.owner), "type": "Organization"},
		"repository_selection": "selected",
		"access_tokens_url":    s.URL() + "/app/installations/" + strconv.FormatInt(id, 10) + "/access_tokens",
		"permissions":          app.Permissions,
		"events":               []string{"workflow_run", "workflow_job"},
	}
}

// appPermissions are the permissions the fake's installation grants: those the
// README asks an app for medic to have.
var appPermissions = map[string]string{"actions": "write", "contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"}

// createInstallationToken answers POST /app/installations/{id}/access_tokens.
func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request) {
	app := s.appConf()
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id != app.InstallationID {
		s.writeError(w, http.StatusNotFound, "Not Found", docsApps)
		return
	}
	var body struct {
		Repositories  []string          `json:"repositories"`
		RepositoryIDs []int64           `json:"repository_ids"`
		Permissions   map[string]string `json:"permissions"`
	}
	if r.ContentLength != 0 && !s.decodeBody(w, r, &body) {
		return
	}
	for _, name := range body.Repositories {
		if !strings.EqualFold(name, s.repo) || app.NotInstalled {
			s.writeError(w, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.", docsApps)
			return
		}
	}
	perms := app.Permissions
	if body.Permissions != nil {
		for name, level := range body.Permissions {
			if granted := app.Permissions[name]; granted == "" || (level == "write" && granted != "write") {
				s.writeError(w, http.StatusUnprocessableEntity, "The permissions requested are not granted to this installation.", docsApps)
				return
			}
		}
		perms = body.Permissions
	}
	tok, exp := s.IssueInstallationToken()
	s.writeJSON(w, http.StatusCreated, map[string]any{
		"token":                tok,
		"expires_at":           ts(exp),
		"permissions":          perms,
		"repository_selection": "selected",
	})
}

// IssueInstallationToken issues an installation token as POST
// /app/installations/{id}/access_tokens does, and returns it with its expiry: for a
// test that holds one the way a person would paste it into GITHUB_TOKEN.
func (s *Server) IssueInstallationToken() (string, time.Time) {
	app := s.appConf()
	exp := app.Now().Add(app.TokenTTL).UTC().Truncate(time.Second)
	tok := "ghs_" + randomAlnum(36)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.appTokens == nil {
		s.appTokens = map[string]time.Time{}
	}
	s.appTokens[tok] = exp
	return tok, exp
}

// installationTokenLive reports whether tok is an installation token the fake issued
// that has not expired.
func (s *Server) installationTokenLive(tok string) bool {
	s.mu.Lock()
	exp, ok := s.appTokens[tok]
	s.mu.Unlock()
	return ok && s.appConf().Now().Before(exp)
}

// EnableApp makes the running fake host app, as Options.App does: for a fake that
// another package started (the sandbox's). Tokens already accepted stay accepted.
func (s *Server) EnableApp(app App) { s.app.Store(app.withDefaults()) }

// appConf is the app the fake hosts, nil for none.
func (s *Server) appConf() *App { return s.app.Load() }

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(n int) string {
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		if err != nil {
			panic(err)
		}
		b[i] = alnum[k.Int64()]
	}
	return string(b)
}
