package main

import (
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"github.com/medic-ops/medic/handlers"
)

// botScopes are the OAuth scopes medic's bot token needs, each for a reason:
var botScopes = []string{
	"commands",          // receive slash commands
	"chat:write",        // post alerts, status and thread replies
	"chat:write.public", // post alerts in channels medic was not invited to
	"users:read",        // show who requested and approved
	"usergroups:read",   // resolve user groups in the role config
	"im:write",          // page people by direct message
}

type manifest struct {
	DisplayInformation struct {
		Name            string `yaml:"name"`
		Description     string `yaml:"description"`
		LongDescription string `yaml:"long_description"`
		BackgroundColor string `yaml:"background_color"`
	} `yaml:"display_information"`
	Features struct {
		BotUser struct {
			DisplayName  string `yaml:"display_name"`
			AlwaysOnline bool   `yaml:"always_online"`
		} `yaml:"bot_user"`
		SlashCommands []slashCommand `yaml:"slash_commands"`
		// AppHome turns the Home tab on and keeps the Messages tab as it was (medic's
		// direct messages: pages, and the answers to clicks on the Home tab).
		AppHome struct {
			HomeTabEnabled             bool `yaml:"home_tab_enabled"`
			MessagesTabEnabled         bool `yaml:"messages_tab_enabled"`
			MessagesTabReadOnlyEnabled bool `yaml:"messages_tab_read_only_enabled"`
		} `yaml:"app_home"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		// EventSubscriptions: over Socket Mode, so no request URL.
		EventSubscriptions struct {
			BotEvents []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			IsEnabled bool `yaml:"is_enabled"`
		} `yaml:"interactivity"`
		OrgDeployEnabled     bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled    bool `yaml:"socket_mode_enabled"`
		TokenRotationEnabled bool `yaml:"token_rotation_enabled"`
	} `yaml:"settings"`
}

type slashCommand struct {
	Command      string `yaml:"command"`
	Description  string `yaml:"description"`
	UsageHint    string `yaml:"usage_hint"`
	ShouldEscape bool   `yaml:"should_escape"`
}

// appManifest builds the Slack app manifest: Socket Mode on, interactivity on (no
// request URL: clicks arrive over the socket), the Home tab with its app_home_opened
// event, medic's slash commands and bot scopes.
func appManifest() manifest {
	var m manifest
	m.DisplayInformation.Name = "medic"
	m.DisplayInformation.Description = "Runs the failure recovery runbook from Slack"
	m.DisplayInformation.LongDescription = "medic watches the promotion pipeline (GitHub Actions, Terraform, AWS Lambda), posts an alert per failure with the runbook's diagnostics and recovery actions, runs approved actions through APIs, verifies recovery and pages people when nobody reacts in time. Install it with Socket Mode: no public URL is needed."
	m.DisplayInformation.BackgroundColor = "#7a1f1f"
	m.Features.BotUser.DisplayName = "medic"
	m.Features.BotUser.AlwaysOnline = true
	for _, c := range handlers.Commands() {
		m.Features.SlashCommands = append(m.Features.SlashCommands, slashCommand{
			Command: c.Name, Description: c.Description, UsageHint: c.Usage, ShouldEscape: c.Escape})
	}
	m.OAuthConfig.Scopes.Bot = botScopes
	m.Features.AppHome.HomeTabEnabled = true
	m.Features.AppHome.MessagesTabEnabled = true
	// app_home_opened needs no scope of its own; the Home tab is published with
	// views.publish, which needs none either (docs.slack.dev/reference/events/app_home_opened).
	m.Settings.EventSubscriptions.BotEvents = []string{"app_home_opened"}
	m.Settings.Interactivity.IsEnabled = true
	m.Settings.SocketModeEnabled = true
	return m
}

func manifestCmd(stdout, stderr io.Writer) int {
	out, err := yaml.Marshal(appManifest())
	if err != nil {
		fmt.Fprintf(stderr, "medic: rendering manifest: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, "# Slack app manifest for medic: paste it at https://api.slack.com/apps → Create New App → From a manifest.\n")
	fmt.Fprint(stdout, "# Then create an app-level token with the connections:write scope (SLACK_APP_TOKEN)\n# and install the app to get the bot token (SLACK_BOT_TOKEN).\n")
	fmt.Fprint(stdout, string(out))
	return 0
}
