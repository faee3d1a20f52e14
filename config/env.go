package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/medic-ops/medic/internal/secreturl"
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
	// Others are credentials in medic's environment that its libraries use
	// (PGPASSWORD, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN): medic never shows them.
	Others []string
}

// otherSecretVars are the variables whose values fill Secrets.Others.
var otherSecretVars = []string{"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// Values are every secret value, for redaction wherever text leaves medic.
func (s Secrets) Values() []string {
	return append([]string{s.SlackAppToken, s.SlackBotToken, s.GitHubToken, s.WebhookSecret, s.PagerDutyRoutingKey}, s.Others...)
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
	if s.PagerDutyRoutingKey != "" && strings.ContainsAny(s.PagerDutyRoutingKey, " \t\n") {
		ps = append(ps, Problem{Key: EnvPagerDutyKey, Msg: "contains whitespace", Fix: "set it to the integration key alone"})
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
