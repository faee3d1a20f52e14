package main

import (
	"github.com/medic-ops/medic/config"
	deploygithub "github.com/medic-ops/medic/deploy/github"
)

// githubApp is the GitHub App the environment configures (GITHUB_APP_*), nil when
// medic uses GITHUB_TOKEN.
func githubApp(s config.Secrets) *deploygithub.App {
	if s.GitHubApp == nil {
		return nil
	}
	return &deploygithub.App{ID: s.GitHubApp.ID, PrivateKey: s.GitHubApp.PrivateKey, InstallationID: s.GitHubApp.InstallationID}
}
