package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/medic-ops/medic/config"
)

// configCheckCmd checks a config file and, unless --no-env, the secrets and endpoints
// in the environment the way serve does, so that what it calls OK starts. It connects
// nowhere: whether Slack, GitHub and AWS accept the credentials is found at serve. A
// valid config's warnings (config.Config.Warnings) go to stderr and leave the exit
// code alone.
func configCheckCmd(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "medic.yaml", "config file to check")
	noEnv := fs.Bool("no-env", false, "check the file only, not the Slack tokens and endpoints in the environment")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var ps config.Problems
	cfg, err := config.Load(*path)
	if err != nil && !errors.As(err, &ps) {
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		return 1
	}
	if cfg != nil {
		printWarnings(stderr, *path, cfg)
	}
	if !*noEnv {
		_, envProblems := config.SecretsFromEnv(getenv)
		ps = append(ps, envProblems...)
	}
	if len(ps) > 0 {
		fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(ps))
		for _, p := range ps {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d environments: %v)\n", *path, len(cfg.Environments), envNames(cfg))
	if *noEnv {
		fmt.Fprintln(stdout, "The environment was not checked (--no-env): serve also needs SLACK_APP_TOKEN (xapp-…) and SLACK_BOT_TOKEN (xoxb-…).")
	} else {
		fmt.Fprintln(stdout, "Environment: the Slack tokens and endpoint overrides are well formed.")
	}
	fmt.Fprintln(stdout, "Not checked here (serve checks them as it starts): that the store opens, terraform.bin runs, the listen ports are free, and Slack, GitHub and AWS accept the credentials.")
	return 0
}

// printWarnings prints each of cfg's warnings, one a line: what a config may say but
// likely should not. They never fail the check.
func printWarnings(w io.Writer, path string, cfg *config.Config) {
	for _, p := range cfg.Warnings() {
		fmt.Fprintf(w, "%s: warning: %s\n", path, p)
	}
}

func envNames(cfg *config.Config) []string {
	var names []string
	for _, e := range cfg.DomainEnvironments() {
		names = append(names, e.Name)
	}
	return names
}
