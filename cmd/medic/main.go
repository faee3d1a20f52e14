// Command medic is a ChatOps Slack bot that turns the team's failure recovery runbook
// into software. Run `medic help` for its subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/medic-ops/medic/deploy/terraform"
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "unknown"
)

const usage = `medic: the failure recovery runbook as a Slack bot.

Usage:
  medic serve    [--config FILE]          connect to Slack and serve (default config medic.yaml)
  medic demo     [--scenario NAME]        run the whole flow against the built-in sandbox
  medic sandbox  [--listen-host HOST] [--print-config FILE]
                                          serve the sandbox's GitHub, AWS and health
                                          endpoints alone; print the environment that
                                          points medic serve at them
  medic config check [--config FILE] [--no-env]
                                          validate a config and the environment's
                                          tokens as serve does; list every problem
  medic runbook  [--config FILE]          print the runbook this config carries out (Markdown)
  medic manifest                          print the Slack app manifest
  medic version                           print version and commit

Secrets come from the environment: SLACK_APP_TOKEN (xapp-…), SLACK_BOT_TOKEN (xoxb-…),
GITHUB_TOKEN, GITHUB_WEBHOOK_SECRET, PAGERDUTY_ROUTING_KEY (PagerDuty is off without it),
PGPASSWORD for a PostgreSQL store, and AWS's default credential chain.
A GitHub App instead of GITHUB_TOKEN (never both): GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY_FILE
(or GITHUB_APP_PRIVATE_KEY, the PEM itself), GITHUB_APP_INSTALLATION_ID (optional: found
from the repository); medic mints the app's hour-long installation tokens and renews them.
Endpoints: SLACK_API_URL, GITHUB_API_URL, PAGERDUTY_EVENTS_URL, AWS_ENDPOINT_URL[_<SERVICE>].
`

func main() {
	// medic's binary is also the shim each Terraform command starts as: it confines the
	// command and becomes terraform (deploy/terraform, Options.Shim).
	terraform.ShimMain()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one subcommand and returns the process exit code: 0 success, 1 failure
// at run time, 2 bad usage or configuration.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:], stderr, getenv)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "sandbox":
		return sandboxCmd(ctx, args[1:], stdout, stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			fmt.Fprintln(stderr, "usage: medic config check [--config FILE] [--no-env]")
			return 2
		}
		return configCheckCmd(args[2:], stdout, stderr, getenv)
	case "runbook":
		return runbookCmd(args[1:], stdout, stderr)
	case "manifest":
		return manifestCmd(stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "medic %s (commit %s)\n", version, commit)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "medic: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
