package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/medic-ops/medic/internal/ghappkey"
	"github.com/medic-ops/medic/internal/secreturl"
	"github.com/medic-ops/medic/recovery"
)

// Secrets are the credentials and endpoint overrides medic reads from its process
// environment. They never appear in the config file, logs or Slack.
type Secrets struct {
	// SlackAppToken (SLACK_APP_TOKEN, xapp-…) opens the Socket Mode connection.
	SlackAppToken string
	// SlackBotToken (SLACK_BOT_TOKEN, xoxb-…) calls the Web API.
	SlackBotToken string
	// GitHubToken (GITHUB_TOKEN) reads workflow runs; optional for public repositories.
	GitHubToken string
	// GitHubApp, when GITHUB_APP_ID is set, makes medic act as a GitHub App
	// installation instead of with GitHubToken (the two are never both set).
	GitHubApp *GitHubApp
	// WebhookSecret (GITHUB_WEBHOOK_SECRET) verifies X-Hub-Signature-256 on webhooks.
	WebhookSecret string
	// SlackAPIURL (SLACK_API_URL) replaces https://slack.com/api/.
	SlackAPIURL string
	// GitHubAPIURL (GITHUB_API_URL) replaces https://api.github.com/.
	GitHubAPIURL string
	// PagerDutyRoutingKey (PAGERDUTY_ROUTING_KEY) is the integration key of the
	// PagerDuty service medic pages; without it PagerDuty is off.
	PagerDutyRoutingKey string
	// PagerDutyEventsURL (PAGERDUTY_EVENTS_URL) replaces https://events.pagerduty.com.
	PagerDutyEventsURL string
	// PagerDutyDrillRoutingKey (PAGERDUTY_DRILL_ROUTING_KEY) is the integration key of
	// a PagerDuty service for drills; without it a drill never pages through PagerDuty.
	PagerDutyDrillRoutingKey string
	// Others are credentials in medic's environment that its libraries use
	// (PGPASSWORD, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN): medic never shows them.
	Others []string
}

// GitHubApp is the GitHub App medic authenticates as: it signs a JWT with the private
// key and mints short-lived installation tokens (ghs_…) for the repository.
type GitHubApp struct {
	// ID (GITHUB_APP_ID) is the App ID on the app's settings page (a number, not the
	// Client ID "Iv…").
	ID int64
	// PrivateKey is the app's private key in PEM (GITHUB_APP_PRIVATE_KEY, or the file
	// GITHUB_APP_PRIVATE_KEY_FILE names).
	PrivateKey []byte
	// InstallationID (GITHUB_APP_INSTALLATION_ID) is the app's installation on the
	// repository's owner; 0 finds it from the repository at start-up.
	InstallationID int64
}

// otherSecretVars are the variables whose values fill Secrets.Others.
var otherSecretVars = []string{"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// Values are every secret value, for redaction wherever text leaves medic.
func (s Secrets) Values() []string {
	vs := append([]string{s.SlackAppToken, s.SlackBotToken, s.GitHubToken, s.WebhookSecret, s.PagerDutyRoutingKey, s.PagerDutyDrillRoutingKey}, s.Others...)
	if s.GitHubApp != nil {
		// The whole key, and each line of its body: a piece of it quoted alone (a
		// line of a cut error message) goes too.
		key := string(s.GitHubApp.PrivateKey)
		vs = append(vs, key)
		for line := range strings.Lines(key) {
			// A short last line is left to the whole key: alone it would only make
			// start-up warn of a secret too short to redact.
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") && len(line) >= recovery.MinKnownSecret {
				vs = append(vs, line)
			}
		}
	}
	return vs
}

// The environment variables medic reads.
const (
	EnvSlackAppToken = "SLACK_APP_TOKEN"
	EnvSlackBotToken = "SLACK_BOT_TOKEN"
	EnvGitHubToken   = "GITHUB_TOKEN"
	EnvWebhookSecret = "GITHUB_WEBHOOK_SECRET"
	EnvSlackAPIURL   = "SLACK_API_URL"
	EnvGitHubAPIURL  = "GITHUB_API_URL"
	EnvPagerDutyKey  = "PAGERDUTY_ROUTING_KEY"
	EnvPagerDutyURL  = "PAGERDUTY_EVENTS_URL"
	// EnvPagerDutyDrillKey is the routing key drills page through (none: drills never
	// page through PagerDuty).
	EnvPagerDutyDrillKey = "PAGERDUTY_DRILL_ROUTING_KEY"

	EnvGitHubAppID             = "GITHUB_APP_ID"
	EnvGitHubAppPrivateKey     = "GITHUB_APP_PRIVATE_KEY"
	EnvGitHubAppPrivateKeyFile = "GITHUB_APP_PRIVATE_KEY_FILE"
	EnvGitHubAppInstallationID = "GITHUB_APP_INSTALLATION_ID"
)

// SecretsFromEnv reads Secrets through getenv (os.Getenv in production) and checks
// every token's prefix, so a bot token pasted as the app token is caught at start-up
// with a message that says which variable to fix. The messages never echo a token.
func SecretsFromEnv(getenv func(string) string) (Secrets, Problems) {
	s := Secrets{
		SlackAppToken: strings.TrimSpace(getenv(EnvSlackAppToken)),
		SlackBotToken: strings.TrimSpace(getenv(EnvSlackBotToken)),
		GitHubToken:   strings.TrimSpace(getenv(EnvGitHubToken)),
		WebhookSecret: getenv(EnvWebhookSecret),
		SlackAPIURL:   strings.TrimSpace(getenv(EnvSlackAPIURL)),
		GitHubAPIURL:  strings.TrimSpace(getenv(EnvGitHubAPIURL)),

		PagerDutyRoutingKey: strings.TrimSpace(getenv(EnvPagerDutyKey)),
		PagerDutyEventsURL:  strings.TrimSpace(getenv(EnvPagerDutyURL)),

		PagerDutyDrillRoutingKey: strings.TrimSpace(getenv(EnvPagerDutyDrillKey)),
	}
	for _, name := range otherSecretVars {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			s.Others = append(s.Others, v)
		}
	}
	var ps Problems
	if strings.HasPrefix(s.SlackAppToken, "xoxb-") && strings.HasPrefix(s.SlackBotToken, "xapp-") {
		ps = append(ps, Problem{Key: EnvSlackAppToken + " and " + EnvSlackBotToken, Msg: "are swapped: " + EnvSlackAppToken + " holds the bot token (xoxb-…) and " + EnvSlackBotToken + " the app-level token (xapp-…)",
			Fix: "exchange the two values"})
	} else {
		checkToken := func(name, val, prefix, what string) {
			switch {
			case val == "":
				ps = append(ps, Problem{Key: name, Msg: "is not set", Fix: fmt.Sprintf("export %s with the %s (%s…) from the Slack app's settings", name, what, prefix)})
			case !strings.HasPrefix(val, prefix):
				msg := fmt.Sprintf("does not start with %q", prefix)
				if kind := slackTokenKind(val); kind != "" {
					msg += " (it holds " + kind + ")"
				}
				ps = append(ps, Problem{Key: name, Msg: msg, Fix: fmt.Sprintf("set it to the %s; it starts with %s", what, prefix)})
			}
		}
		checkToken(EnvSlackAppToken, s.SlackAppToken, "xapp-", "app-level token with connections:write")
		checkToken(EnvSlackBotToken, s.SlackBotToken, "xoxb-", "bot user OAuth token")
	}
	if s.GitHubToken != "" && strings.ContainsAny(s.GitHubToken, " \t\n") {
		ps = append(ps, Problem{Key: EnvGitHubToken, Msg: "contains whitespace", Fix: "set it to the token alone"})
	}
	var appProblems Problems
	s.GitHubApp, appProblems = gitHubAppFromEnv(getenv, s.GitHubToken != "")
	ps = append(ps, appProblems...)
	for _, k := range []struct{ name, val string }{{EnvPagerDutyKey, s.PagerDutyRoutingKey}, {EnvPagerDutyDrillKey, s.PagerDutyDrillRoutingKey}} {
		if strings.ContainsAny(k.val, " \t\n") {
			ps = append(ps, Problem{Key: k.name, Msg: "contains whitespace", Fix: "set it to the integration key alone"})
		}
	}
	if s.PagerDutyDrillRoutingKey != "" && s.PagerDutyDrillRoutingKey == s.PagerDutyRoutingKey {
		ps = append(ps, Problem{Key: EnvPagerDutyDrillKey, Msg: "is the same key as " + EnvPagerDutyKey + ": drills would page the real service",
			Fix: "give drills a PagerDuty service of their own, or leave it unset"})
	}
	for _, u := range []struct{ name, val string }{{EnvSlackAPIURL, s.SlackAPIURL}, {EnvGitHubAPIURL, s.GitHubAPIURL}, {EnvPagerDutyURL, s.PagerDutyEventsURL}} {
		if u.val == "" {
			continue
		}
		if p, err := url.Parse(u.val); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			ps = append(ps, Problem{Key: u.name, Msg: fmt.Sprintf("%q is not an http(s) URL", secreturl.Redact(u.val)), Fix: "use a full URL such as https://slack.com/api/, or unset it"})
		}
	}
	if s.SlackAPIURL != "" && !strings.HasSuffix(s.SlackAPIURL, "/") {
		s.SlackAPIURL += "/" // slack-go appends method names to it
	}
	if s.GitHubAPIURL != "" && !strings.HasSuffix(s.GitHubAPIURL, "/") {
		s.GitHubAPIURL += "/" // go-github requires the trailing slash
	}
	return s, ps
}

// slackTokenKind names the kind of Slack token val is by its prefix, without echoing
// any of it, or "" when it is no Slack token medic knows.
func slackTokenKind(val string) string {
	for _, k := range []struct{ prefix, kind string }{
		{"xapp-", "an app-level token, xapp-…"},
		{"xoxb-", "a bot token, xoxb-…"},
		{"xoxp-", "a user token, xoxp-…"},
		{"xoxe", "a token rotation or configuration token, xoxe…"},
	} {
		if strings.HasPrefix(val, k.prefix) {
			return k.kind
		}
	}
	return ""
}

// terraformReadableDirs are the system directories medic's Terraform sandbox may read
// (deploy/terraform, shim_linux.go: systemDirs): the app's key must not be there.
var terraformReadableDirs = []string{"/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/nix/store",
	"/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/etc/alternatives", "/proc"}

// terraformReadable returns the directory of terraformReadableDirs that holds path
// (after symbolic links), "" for none.
func terraformReadable(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	for _, d := range terraformReadableDirs {
		if abs == d || strings.HasPrefix(abs, d+"/") {
			return d
		}
	}
	return ""
}

// String hides the key: a GitHubApp printed whole shows its IDs only.
func (a GitHubApp) String() string {
	return fmt.Sprintf("GitHubApp{ID: %d, InstallationID: %d, PrivateKey: [REDACTED]}", a.ID, a.InstallationID)
}

// GoString hides the key from %#v too.
func (a GitHubApp) GoString() string { return a.String() }

// gitHubAppFromEnv reads the GITHUB_APP_* variables: nil when none is set. tokenSet
// reports whether GITHUB_TOKEN is set too, which is refused: medic acts as one
// identity, and which one must not depend on an order of precedence nobody reads.
// Messages never quote the key.
func gitHubAppFromEnv(getenv func(string) string, tokenSet bool) (*GitHubApp, Problems) {
	id := strings.TrimSpace(getenv(EnvGitHubAppID))
	key := strings.TrimSpace(getenv(EnvGitHubAppPrivateKey))
	keyFile := strings.TrimSpace(getenv(EnvGitHubAppPrivateKeyFile))
	inst := strings.TrimSpace(getenv(EnvGitHubAppInstallationID))
	if id == "" && key == "" && keyFile == "" && inst == "" {
		return nil, nil
	}
	var ps Problems
	app := &GitHubApp{}
	if tokenSet {
		ps = append(ps, Problem{Key: EnvGitHubToken + " and " + EnvGitHubAppID, Msg: "are both set: medic acts either with the token or as the GitHub App, not both",
			Fix: "unset " + EnvGitHubToken + " to act as the app (its installation tokens expire within the hour), or unset the GITHUB_APP_* variables to use the token"})
	}
	switch n, err := strconv.ParseInt(id, 10, 64); {
	case id == "":
		ps = append(ps, Problem{Key: EnvGitHubAppID, Msg: "is not set, but other GITHUB_APP_* variables are",
			Fix: "set it to the App ID on the app's settings page (General → About → App ID), or unset the GITHUB_APP_* variables"})
	case err != nil || n <= 0:
		msg := "is not a number"
		if strings.HasPrefix(id, "Iv") {
			msg += " (it holds the Client ID, Iv…)"
		}
		ps = append(ps, Problem{Key: EnvGitHubAppID, Msg: msg, Fix: "set it to the numeric App ID on the app's settings page (General → About → App ID)"})
	default:
		app.ID = n
	}
	keyName := EnvGitHubAppPrivateKey
	switch {
	case key != "" && keyFile != "":
		ps = append(ps, Problem{Key: EnvGitHubAppPrivateKey + " and " + EnvGitHubAppPrivateKeyFile, Msg: "are both set", Fix: "keep one: the file (" + EnvGitHubAppPrivateKeyFile + ") is preferred"})
	case key == "" && keyFile == "":
		ps = append(ps, Problem{Key: EnvGitHubAppPrivateKeyFile, Msg: "is not set (nor " + EnvGitHubAppPrivateKey + ")",
			Fix: "set it to the path of the .pem file generated on the app's settings page (Private keys → Generate a private key)"})
	case keyFile != "":
		keyName = EnvGitHubAppPrivateKeyFile
		if strings.Contains(keyFile, "-----") || strings.Contains(keyFile, "\n") {
			ps = append(ps, Problem{Key: EnvGitHubAppPrivateKeyFile, Msg: "holds a key, not a file's path", Fix: "put the key in " + EnvGitHubAppPrivateKey + ", or a path in " + EnvGitHubAppPrivateKeyFile})
			break
		}
		if dir := terraformReadable(keyFile); dir != "" {
			ps = append(ps, Problem{Key: EnvGitHubAppPrivateKeyFile, Msg: "names a file under " + dir + ", which Terraform's sandbox may read",
				Fix: "keep the key where only medic reads it, such as /etc/medic/github-app.pem or a mounted secret, readable by medic's user alone"})
			break
		}
		b, err := os.ReadFile(keyFile)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is the variable's value: say it once, below
			}
			ps = append(ps, Problem{Key: EnvGitHubAppPrivateKeyFile, Msg: fmt.Sprintf("names %s, which cannot be read: %v", keyFile, err), Fix: "point it at the app's .pem file, readable by medic's user"})
			break
		}
		app.PrivateKey = ghappkey.Normalize(b)
	default:
		app.PrivateKey = ghappkey.Normalize([]byte(key))
	}
	if app.PrivateKey != nil {
		if _, err := ghappkey.Parse(app.PrivateKey); err != nil {
			ps = append(ps, Problem{Key: keyName, Msg: err.Error(), Fix: "set it to the app's private key in PEM, as GitHub generated it"})
		}
	}
	if inst != "" {
		n, err := strconv.ParseInt(inst, 10, 64)
		if err != nil || n <= 0 {
			ps = append(ps, Problem{Key: EnvGitHubAppInstallationID, Msg: "is not a number",
				Fix: "set it to the number at the end of the installation's settings URL (…/settings/installations/NUMBER), or unset it and medic finds the installation from the repository"})
		}
		app.InstallationID = n
	}
	return app, ps
}
