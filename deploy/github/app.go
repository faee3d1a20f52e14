package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v66/github"
	gh88 "github.com/google/go-github/v88/github"

	"github.com/medic-ops/medic/internal/ghappkey"
)

// App is a GitHub App medic acts as (Options.App): it signs a JWT (RS256, ten minutes
// at most, as GitHub requires) with the private key, mints an installation token
// (ghs_…, valid an hour) for the repository, and mints the next one before it
// expires. ghinstallation does the signing, minting and refreshing: it replaces a
// token that expires within a minute before its next use.
type App struct {
	// ID is the App ID (GITHUB_APP_ID).
	ID int64
	// PrivateKey is the app's private key in PEM.
	PrivateKey []byte
	// InstallationID is the app's installation on the repository's owner; 0 finds it
	// with GET /repos/{owner}/{repo}/installation, signed with the app's JWT.
	InstallationID int64
}

// String hides the key: an App printed whole shows its IDs only.
func (a App) String() string {
	return fmt.Sprintf("App{ID: %d, InstallationID: %d, PrivateKey: [REDACTED]}", a.ID, a.InstallationID)
}

// GoString hides the key from %#v too.
func (a App) GoString() string { return a.String() }

// AuthError is GitHub refusing medic's credentials (a 401, or an app that cannot get
// an installation token): Msg says which credential and what to fix, and never holds
// the credential.
type AuthError struct {
	// Status is GitHub's answer (401, 404, 422 …), 0 when there was none.
	Status int
	// Msg is for people: what was refused, and the fix.
	Msg string
	// Err is the underlying error, if any.
	Err error
}

func (e *AuthError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the underlying error.
func (e *AuthError) Unwrap() error { return e.Err }

// credentials are what authTransport puts on API requests.
type credentials interface {
	// authorization returns the Authorization header for the next API request, or
	// an *AuthError when there is none to be had.
	authorization(ctx context.Context) (string, error)
	// refused explains GitHub's 401 to a request that carried the credential; msg is
	// GitHub's message ("401 Bad credentials").
	refused(msg string) *AuthError
}

// authTransport adds medic's GitHub credential to requests for the API (the base
// URL's scheme, host and path) and to nothing else: a redirect or a link to another
// host (log storage, codeload, anywhere a response points) goes without it. A 401
// becomes an *AuthError that says which credential to fix.
type authTransport struct {
	base  http.RoundTripper
	api   *url.URL
	creds credentials
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !underAPI(req.URL, t.api) {
		return t.base.RoundTrip(req)
	}
	auth, err := t.creds.authorization(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip closes the body, even on errors
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", auth)
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	return nil, t.creds.refused(githubMessage(resp))
}

// underAPI reports whether u is a URL of the API at api: same scheme, same host
// (GitHub's hosts are case-insensitive) and a path under api's.
func underAPI(u, api *url.URL) bool {
	return strings.EqualFold(u.Scheme, api.Scheme) && strings.EqualFold(u.Host, api.Host) &&
		strings.HasPrefix(u.Path, api.Path)
}

// githubMessage reads GitHub's error document from resp (and closes its body): the
// status and the document's message, e.g. "401 Bad credentials".
func githubMessage(resp *http.Response) string {
	defer resp.Body.Close()
	var doc struct {
		Message string `json:"message"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&doc)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	s := fmt.Sprint(resp.StatusCode)
	if m := firstLine(doc.Message); m != "" {
		s += " " + m
	}
	return s
}

// tokenCredentials are a fixed token (GITHUB_TOKEN).
type tokenCredentials struct{ token string }

func (c tokenCredentials) authorization(context.Context) (string, error) {
	return "Bearer " + c.token, nil
}

func (c tokenCredentials) refused(msg string) *AuthError {
	if strings.HasPrefix(c.token, "ghs_") {
		return &AuthError{Status: http.StatusUnauthorized, Msg: "GITHUB_TOKEN refused (" + msg + "): it is a GitHub App installation token (ghs_…), " +
			"and GitHub expires those an hour after they are minted; set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE instead of GITHUB_TOKEN, and medic mints and refreshes its own"}
	}
	return &AuthError{Status: http.StatusUnauthorized, Msg: "GITHUB_TOKEN refused (" + msg + "): the token is expired, revoked or mistyped; set GITHUB_TOKEN to a valid token"}
}

// appCredentials are a GitHub App's installation tokens for one repository.
type appCredentials struct {
	app         App
	owner, repo string
	api         *url.URL
	// apps signs requests with the app's JWT.
	apps *ghinstallation.AppsTransport

	mu sync.Mutex
	// inst mints, caches and refreshes the installation tokens; nil until the
	// installation is known, and again after GitHub refused a token.
	inst *ghinstallation.Transport
}

// newAppCredentials parses app's key: ghinstallation's JWTs and token requests go
// through base to the API at api, and only there.
func newAppCredentials(base http.RoundTripper, api *url.URL, app App, owner, repo string) (*appCredentials, error) {
	if app.ID <= 0 {
		return nil, errors.New("github: the GitHub App's ID (GITHUB_APP_ID) must be a positive number")
	}
	key, err := ghappkey.Parse(app.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("github: the GitHub App's private key %s", err.Error())
	}
	apps := ghinstallation.NewAppsTransportFromPrivateKey(base, app.ID, key)
	apps.BaseURL = strings.TrimSuffix(api.String(), "/")
	return &appCredentials{app: app, owner: owner, repo: repo, api: api, apps: apps}, nil
}

func (a *appCredentials) authorization(ctx context.Context) (string, error) {
	inst, err := a.installation(ctx)
	if err != nil {
		return "", err
	}
	tok, err := inst.Token(ctx)
	if err != nil {
		return "", a.mintError(inst.InstallationID(), err)
	}
	return "token " + tok, nil
}

// refused forgets the installation's token, so that the next call mints a new one
// (ghinstallation would keep a revoked token until an hour after it was minted).
func (a *appCredentials) refused(msg string) *AuthError {
	a.mu.Lock()
	a.inst = nil
	a.mu.Unlock()
	return &AuthError{Status: http.StatusUnauthorized, Msg: fmt.Sprintf("GitHub App %d's installation token refused (%s): the installation may be suspended, or the token revoked; medic mints a new one on the next call", a.app.ID, msg)}
}

// installation returns the installation's token source, finding the installation
// from the repository first when none was configured.
func (a *appCredentials) installation(ctx context.Context) (*ghinstallation.Transport, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inst != nil {
		return a.inst, nil
	}
	id := a.app.InstallationID
	if id == 0 {
		var err error
		if id, err = a.findInstallation(ctx); err != nil {
			return nil, err
		}
		a.app.InstallationID = id
	}
	// Each token source gets its own copy of the JWT signer: ghinstallation sets its
	// BaseURL and Client as it mints, and one replaced after a 401 may still be minting.
	apps := *a.apps
	inst := ghinstallation.NewFromAppsTransport(&apps, id)
	inst.BaseURL = a.apps.BaseURL
	// The token reaches this repository alone, whatever else the app is installed on,
	// with medic's permissions alone, whatever else the app was granted.
	inst.InstallationTokenOptions = &gh88.InstallationTokenOptions{Repositories: []string{a.repo}, Permissions: tokenPermissions()}
	a.inst = inst
	return inst, nil
}

// findInstallation asks GitHub which installation of the app covers the repository.
func (a *appCredentials) findInstallation(ctx context.Context) (int64, error) {
	// No redirects: the JWT goes to the API and nowhere else.
	hc := &http.Client{Transport: a.apps, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c := gh.NewClient(hc)
	c.BaseURL = a.api
	inst, resp, err := c.Apps.FindRepositoryInstallation(ctx, a.owner, a.repo)
	if err != nil {
		var er *gh.ErrorResponse
		if errors.As(err, &er) && er.Response != nil {
			msg := fmt.Sprintf("%d %s", er.Response.StatusCode, firstLine(er.Message))
			switch er.Response.StatusCode {
			case http.StatusNotFound:
				return 0, &AuthError{Status: http.StatusNotFound, Msg: fmt.Sprintf("GitHub App %d is not installed on %s/%s (%s from GET /repos/%s/%s/installation): "+
					"install the app on that repository (the app's page → Install App, or Configure → Repository access), or set GITHUB_APP_INSTALLATION_ID", a.app.ID, a.owner, a.repo, msg, a.owner, a.repo)}
			case http.StatusUnauthorized:
				return 0, a.jwtRefused(msg)
			}
		}
		return 0, fmt.Errorf("finding GitHub App %d's installation on %s/%s: %w", a.app.ID, a.owner, a.repo, wrap("FindRepositoryInstallation", resp, err))
	}
	if inst.GetID() == 0 {
		return 0, fmt.Errorf("finding GitHub App %d's installation on %s/%s: GitHub answered without an installation ID", a.app.ID, a.owner, a.repo)
	}
	return inst.GetID(), nil
}

// tokenPermissions are what medic asks of an installation token: re-run, cancel and
// dispatch workflows and read their logs (actions); read commits and tarballs, push
// revert commits and branches (contents); open the revert's pull request and the
// follow-up issue; metadata, which every app has.
func tokenPermissions() *gh88.InstallationPermissions {
	w, r := "write", "read"
	return &gh88.InstallationPermissions{Actions: &w, Contents: &w, PullRequests: &w, Issues: &w, Metadata: &r}
}

// permissionsText names tokenPermissions for people, as GitHub's settings page does.
const permissionsText = "Actions, Contents, Pull requests and Issues: Read and write; Metadata: Read-only"

func (a *appCredentials) jwtRefused(msg string) *AuthError {
	return &AuthError{Status: http.StatusUnauthorized, Msg: fmt.Sprintf("GitHub refused GitHub App %d's JWT (%s): check GITHUB_APP_ID and that the private key is one of that app's "+
		"(its settings page → Private keys); a clock more than a minute off makes GitHub refuse it too", a.app.ID, msg)}
}

// mintError explains why no installation token could be minted.
func (a *appCredentials) mintError(id int64, err error) error {
	var he *ghinstallation.HTTPError
	if !errors.As(err, &he) || he.Response == nil {
		// GitHub unreachable, or the call cancelled: no credential problem.
		return fmt.Errorf("minting GitHub App %d's installation token: %w", a.app.ID, err)
	}
	msg := githubMessage(he.Response)
	switch he.Response.StatusCode {
	case http.StatusUnauthorized:
		return a.jwtRefused(msg)
	case http.StatusNotFound:
		return &AuthError{Status: http.StatusNotFound, Msg: fmt.Sprintf("GitHub App %d has no installation %d (%s): GITHUB_APP_INSTALLATION_ID is wrong, or the app was uninstalled; "+
			"unset it and medic finds the installation on %s/%s", a.app.ID, id, msg, a.owner, a.repo)}
	case http.StatusForbidden, http.StatusUnprocessableEntity:
		return &AuthError{Status: he.Response.StatusCode, Msg: fmt.Sprintf("GitHub App %d's installation %d cannot have a token for %s/%s with medic's permissions (%s): "+
			"give the installation that repository (the app's page → Configure → Repository access), and give the app "+permissionsText+
			" (its settings page → Permissions & events; the organization then accepts the new permissions)", a.app.ID, id, a.owner, a.repo, msg)}
	}
	return fmt.Errorf("minting GitHub App %d's installation token (%s): %w", a.app.ID, msg, err)
}
