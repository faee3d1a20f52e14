package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// demoScenario is one story `medic demo` can play.
type demoScenario struct {
	name  string
	about string
	// seed adjusts the healthy world before medic starts.
	seed func(w *sandbox.World)
	// play types and clicks as the people would; the transcript is printed after.
	play func(ctx context.Context, d *sandboxed) error
	// polls turns the Actions and alarm pollers on.
	polls bool
}

func demoScenarios() []demoScenario {
	out := []demoScenario{{
		name:  "status",
		about: "prod has an alarm firing; alice types /status prod",
		seed: func(w *sandbox.World) {
			for i := range w.Envs {
				if w.Envs[i].Name == "prod" {
					w.Envs[i].Firing = []string{"prod-dashboard-errors"}
					w.Envs[i].Alarms = []string{"prod-analysis-errors", "prod-ingestion-throttles"}
				}
			}
		},
		play: func(ctx context.Context, d *sandboxed) error {
			return typeAndWait(ctx, d, userAlice, "/status", "prod", func(m slackfake.Message) bool {
				return !m.Ephemeral && strings.Contains(m.Text, "prod status")
			})
		},
	}}
	for _, c := range sandbox.Cases() {
		sc := demoScenario{name: c.Name, about: c.About, polls: true, play: playCase(c, nil)}
		if c.Name == "canary-fail" {
			sc.about += "; alice requests the rollback, bob approves, Terraform applies, medic verifies"
			sc.play = playCase(c, rollBackAndApprove)
		}
		out = append(out, sc)
	}
	return out
}

// rollBackAndApprove is the rest of the canary-fail story: alice asks to roll back to
// the last known good version, bob approves, and the job runs to verification.
func rollBackAndApprove(ctx context.Context, d *sandboxed, alert slackfake.Message) error {
	if d.cfg.Terraform.Bin == "" {
		return fmt.Errorf("the rollback needs Terraform >= 1.4: run `make tools` (it installs Terraform 1.5.7) or set MEDIC_TERRAFORM")
	}
	d.narrate("@alice clicks [Roll back to last good] on the alert")
	if err := clickAndWait(ctx, d, userAlice, alert, recovery.ButtonID(recovery.ActRollback)); err != nil {
		return err
	}
	req, err := waitThread(ctx, d, alert.TS, func(text string) bool {
		return strings.Contains(text, "requests *Roll back to last good*") && strings.Contains(text, "[ Approve")
	})
	if err != nil {
		return fmt.Errorf("waiting for the request and its preview: %w", err)
	}
	d.narrate("@bob reads the Terraform plan in the thread and clicks [Approve]")
	if err := clickAndWait(ctx, d, userBob, req, recovery.ApproveID()); err != nil {
		return err
	}
	if _, err := waitThread(ctx, d, alert.TS, func(text string) bool {
		return strings.Contains(text, "Job JOB-") && (strings.Contains(text, "succeeded.") || strings.Contains(text, "failed at step"))
	}); err != nil {
		return fmt.Errorf("waiting for the job to end: %w", err)
	}
	return nil
}

// clickAndWait clicks a button of m as user and waits for medic's ack.
func clickAndWait(ctx context.Context, d *sandboxed, user string, m slackfake.Message, actionID string) error {
	id, err := d.sb.Slack.Click(ctx, slackfake.Click{User: user, Channel: m.Channel, MessageTS: m.TS, ActionID: actionID})
	if err != nil {
		return fmt.Errorf("clicking %s: %w", actionID, err)
	}
	_, err = d.sb.Slack.WaitAck(ctx, id)
	return err
}

// waitThread waits for a reply in the thread of ts whose rendered text satisfies ok.
func waitThread(ctx context.Context, d *sandboxed, ts string, ok func(string) bool) (slackfake.Message, error) {
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return d.sb.Slack.WaitForMessage(wctx, func(m slackfake.Message) bool {
		return m.ThreadTS == ts && ok(slackfake.Render(m))
	})
}

// playCase stages a failure case and lets medic see it the way it would in
// production: GitHub's webhook deliveries when the case has them, the pollers
// otherwise; then it waits for the alert and its thread to settle, and plays what
// the people do next, if anything.
func playCase(c sandbox.Case, then func(context.Context, *sandboxed, slackfake.Message) error) func(ctx context.Context, d *sandboxed) error {
	return func(ctx context.Context, d *sandboxed) error {
		st, err := c.Stage(d.sb, time.Now())
		if err != nil {
			return fmt.Errorf("staging %s: %w", c.Name, err)
		}
		if len(st.Deliveries) > 0 {
			d.narrate("GitHub delivers %d webhook events for run %d (workflow_run, workflow_job)", len(st.Deliveries), st.RunID)
			for _, del := range st.Deliveries {
				if _, _, err := d.sb.GitHub.Deliver(ctx, "http://"+d.app.addr()+"/webhooks/github", sandboxWebhookSecret, del.Event, del.Payload); err != nil {
					return fmt.Errorf("delivering %s: %w", del.Event, err)
				}
			}
		} else {
			d.narrate("medic's pollers read the Actions API and CloudWatch")
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		m, err := d.sb.Slack.WaitForMessage(wctx, func(m slackfake.Message) bool {
			return !m.Ephemeral && m.ThreadTS == "" && strings.Contains(string(m.Blocks), "Runbook: ")
		})
		if err != nil {
			return fmt.Errorf("waiting for the alert: %w", err)
		}
		// Let the thread notes that follow the alert arrive.
		quiet(wctx, d, m.TS)
		if then == nil {
			return nil
		}
		if err := then(ctx, d, m); err != nil {
			return err
		}
		quiet(wctx, d, m.TS)
		return nil
	}
}

// quiet waits until the alert's thread has had no new message for half a second.
func quiet(ctx context.Context, d *sandboxed, ts string) {
	last := -1
	for {
		n := len(d.sb.Slack.Thread(sandboxChannel, ts))
		if n == last {
			return
		}
		last = n
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("scenario", "status", "story to play (see --list)")
	list := fs.Bool("list", false, "list the scenarios")
	verbose := fs.Bool("v", false, "show medic's logs on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	scenarios := demoScenarios()
	if *list {
		for _, s := range scenarios {
			fmt.Fprintf(stdout, "%-22s %s\n", s.name, s.about)
		}
		return 0
	}
	var sc *demoScenario
	for i := range scenarios {
		if scenarios[i].name == *name {
			sc = &scenarios[i]
		}
	}
	if sc == nil {
		fmt.Fprintf(stderr, "medic demo: unknown scenario %q (medic demo --list names them)\n", *name)
		return 2
	}
	log := zap.NewNop()
	if *verbose {
		log, _ = newLogger("debug")
	}
	if err := playDemo(ctx, *sc, stdout, log); err != nil {
		fmt.Fprintf(stderr, "medic demo: %v\n", err)
		return 1
	}
	return 0
}

// playDemo runs one scenario: sandbox up, world seeded, medic started, the story
// played, the transcript printed, everything stopped.
func playDemo(ctx context.Context, sc demoScenario, out io.Writer, log *zap.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "medic-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	sb := sandbox.Start(sandbox.Options{})
	defer sb.Close()
	sb.Slack.SetChannel(sandboxChannel, "ops")
	sb.Slack.SetUser(slackfake.User{ID: userAlice, Name: "alice", RealName: "Alice (on call)"})
	sb.Slack.SetUser(slackfake.User{ID: userBob, Name: "bob", RealName: "Bob (approver)"})
	cfg, err := sandboxConfig(sb, dir)
	if err != nil {
		return err
	}
	interval := time.Duration(0)
	if sc.polls {
		interval = 200 * time.Millisecond
	}
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &interval, &interval
	world := worldFromConfig(cfg)
	if sc.seed != nil {
		sc.seed(&world)
	}
	if err := sb.Seed(world); err != nil {
		return err
	}
	d, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, nil), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "medic demo: %s\n", sc.about)
	fmt.Fprintf(out, "sandbox: Slack %s · GitHub %s · AWS %s\n\n", sb.Slack.URL(), sb.GitHub.URL(), sb.AWS.URL())
	d.narrate = func(format string, args ...any) { fmt.Fprintf(out, "▸ "+format+"\n", args...) }
	playErr := sc.play(ctx, d)
	fmt.Fprintf(out, "\n── #ops transcript ──────────────────────────────────────────────\n%s\n", sb.Slack.Transcript(sandboxChannel))
	if err := d.close(); err != nil {
		return fmt.Errorf("medic stopped with an error: %w", err)
	}
	return playErr
}

// typeAndWait types a slash command as user in the ops channel and waits for the
// message that answers it.
func typeAndWait(ctx context.Context, d *sandboxed, user, command, text string, answered func(slackfake.Message) bool) error {
	d.narrate("%s types in #ops: %s %s", userName(user), command, text)
	id, err := d.sb.Slack.SlashCommand(ctx, slackfake.Command{User: user, Channel: sandboxChannel, Command: command, Text: text})
	if err != nil {
		return fmt.Errorf("typing %s %s: %w", command, text, err)
	}
	if _, err := d.sb.Slack.WaitAck(ctx, id); err != nil {
		return fmt.Errorf("waiting for medic to ack %s: %w", command, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := d.sb.Slack.WaitForMessage(wctx, answered); err != nil {
		return fmt.Errorf("waiting for medic's answer to %s %s: %w", command, text, err)
	}
	return nil
}

func userName(id string) string {
	switch id {
	case userAlice:
		return "@alice"
	case userBob:
		return "@bob"
	}
	return id
}
