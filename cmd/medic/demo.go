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
		switch c.Name {
		case "canary-fail":
			sc.about += "; alice requests the rollback, bob approves, Terraform applies, medic verifies"
			sc.play = playCase(c, rollBackAndApprove)
		case "dev-tests-fail", "dev-tests-fail-main":
			sc.about += "; alice re-runs the failed jobs, GitHub runs attempt 2 and it passes: the alert says so and offers Resolve"
			sc.play = playCase(c, rerunPasses)
		case "rollback-fail":
			sc.about += "; the senior engineer is paged at once, nobody acknowledges for 15 minutes so the CTO is paged too; " +
				"alice acknowledges, bob approves her emergency rollback, alice resolves: checklist, report, follow-up issue"
			sc.play = playCase(c, escalateRecoverResolve)
		}
		out = append(out, sc)
	}
	return out
}

// rerunPasses is the rest of the dev-tests-fail story: alice re-runs the failed jobs
// (self-service in dev), GitHub runs attempt 2 and it passes, and medic, following the
// run, says so on the alert.
func rerunPasses(ctx context.Context, d *sandboxed, alert slackfake.Message) error {
	d.narrate("@alice clicks [Re-run failed jobs] on the alert (self-service in dev: no approval)")
	if err := clickAndWait(ctx, d, userAlice, alert, recovery.ButtonID(recovery.ActRerunFailed)); err != nil {
		return err
	}
	if _, err := waitThread(ctx, d, alert.TS, func(text string) bool {
		return strings.Contains(text, "Job JOB-") && (strings.Contains(text, "succeeded.") || strings.Contains(text, "failed at step"))
	}); err != nil {
		return fmt.Errorf("waiting for the re-run's job: %w", err)
	}
	in, err := d.app.store.Incident(ctx, incidentIDOf(alert))
	if err != nil {
		return fmt.Errorf("reading the incident: %w", err)
	}
	d.narrate("GitHub runs attempt 2 of run %d: the tests pass this time", in.RunID)
	if _, err := d.sb.GitHub.FinishAttempt(in.RunID, "success"); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := d.sb.Slack.WaitForMessage(wctx, func(m slackfake.Message) bool {
		text := slackfake.Render(m)
		return m.TS == alert.TS && strings.Contains(text, "Attempt 2 of run") && strings.Contains(text, "passed")
	}); err != nil {
		return fmt.Errorf("waiting for the alert to say attempt 2 passed: %w", err)
	}
	return nil
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

// escalateRecoverResolve is the rest of the rollback-fail story: the immediate page,
// the escalation when nobody answers, then acknowledgement, an emergency rollback
// approved by a second person, and the incident's resolution.
func escalateRecoverResolve(ctx context.Context, d *sandboxed, alert slackfake.Message) error {
	if d.cfg.Terraform.Bin == "" {
		return fmt.Errorf("the emergency rollback needs Terraform >= 1.4: run `make tools` (it installs Terraform 1.5.7) or set MEDIC_TERRAFORM")
	}
	for _, part := range []func(context.Context, *sandboxed, slackfake.Message) error{
		escalateUnanswered, emergencyRollback, resolveAndFileIssue,
	} {
		if err := part(ctx, d, alert); err != nil {
			return err
		}
	}
	return nil
}

// escalateUnanswered: the senior engineer is paged at once, nobody acknowledges for
// 15 minutes so the CTO is paged too, then alice acknowledges.
func escalateUnanswered(ctx context.Context, d *sandboxed, alert slackfake.Message) error {
	if _, err := inThread(ctx, d, alert, "the immediate page", hasAll("*Paging senior engineer* (page 1)")); err != nil {
		return err
	}
	d.narrate("dave (senior engineer) gets a DM; PagerDuty gets a trigger. Nobody acknowledges.")
	d.narrate("15 minutes pass (the demo moves medic's clock); medic's escalation timer runs")
	d.clock.advance(15 * time.Minute)
	if err := d.app.engine.Escalate(ctx); err != nil {
		return fmt.Errorf("escalation round: %w", err)
	}
	if _, err := inThread(ctx, d, alert, "the escalation", hasAll("*Paging CTO + senior engineer* (page 2)")); err != nil {
		return err
	}
	d.narrate("@alice clicks [Acknowledge] on the alert")
	if err := clickAndWait(ctx, d, userAlice, alert, recovery.ButtonID(recovery.ActAcknowledge)); err != nil {
		return err
	}
	_, err := inThread(ctx, d, alert, "the acknowledgement", hasAll("escalation stopped"))
	return err
}

// emergencyRollback: alice requests the emergency rollback with the SHA the form
// offers, bob approves it, and the job runs to its end.
func emergencyRollback(ctx context.Context, d *sandboxed, alert slackfake.Message) error {
	d.narrate("@alice clicks [Emergency Terraform rollback] and keeps the last known good SHA the form offers")
	if err := clickAndWait(ctx, d, userAlice, alert, recovery.ButtonID(recovery.ActEmergencyRollback)); err != nil {
		return err
	}
	if err := submitOpenForm(ctx, d, userAlice); err != nil {
		return err
	}
	req, err := inThread(ctx, d, alert, "the request", hasAll("requests *Emergency Terraform rollback*", "[ Approve"))
	if err != nil {
		return err
	}
	d.narrate("@bob reads the Terraform plan and clicks [Approve]")
	if err := clickAndWait(ctx, d, userBob, req, recovery.ApproveID()); err != nil {
		return err
	}
	_, err = inThread(ctx, d, alert, "the job", func(text string) bool {
		return strings.Contains(text, "Job JOB-") && (strings.Contains(text, "succeeded.") || strings.Contains(text, "failed at step"))
	})
	return err
}

// resolveAndFileIssue: alice resolves the incident, ticks an item of the checklist
// and files the report as a GitHub issue.
func resolveAndFileIssue(ctx context.Context, d *sandboxed, alert slackfake.Message) error {
	quiet(ctx, d, alert.TS)
	d.narrate("@alice clicks [Resolve] on the alert")
	cur, ok := d.sb.Slack.Message(sandboxChannel, alert.TS)
	if !ok {
		return fmt.Errorf("the alert %s is gone", alert.TS)
	}
	if err := clickAndWait(ctx, d, userAlice, cur, recovery.ButtonID(recovery.ActResolve)); err != nil {
		return err
	}
	checklist, err := inThread(ctx, d, alert, "the checklist", hasAll("Post-incident checklist"))
	if err != nil {
		return err
	}
	report, err := inThread(ctx, d, alert, "the report", hasAll("Incident report of", "[ Create GitHub issue"))
	if err != nil {
		return err
	}
	d.narrate("@alice ticks \"Write incident report\" on the checklist and clicks [Create GitHub issue]")
	id, err := d.sb.Slack.Click(ctx, slackfake.Click{User: userAlice, Channel: checklist.Channel, MessageTS: checklist.TS,
		ActionID: recovery.ChecklistID(incidentIDOf(checklist)), Value: "0"})
	if err != nil {
		return fmt.Errorf("ticking the checklist: %w", err)
	}
	if _, err := d.sb.Slack.WaitAck(ctx, id); err != nil {
		return err
	}
	if _, err := inThread(ctx, d, alert, "the ticked checklist", hasAll("(1/")); err != nil {
		return err
	}
	if err := clickAndWait(ctx, d, userAlice, report, recovery.ButtonID(recovery.ActCreateIssue)); err != nil {
		return err
	}
	_, err = inThread(ctx, d, alert, "the follow-up issue", hasAll("Follow-up issue #"))
	return err
}

// inThread waits for a reply in alert's thread whose rendered text ok accepts; what
// names it in the error.
func inThread(ctx context.Context, d *sandboxed, alert slackfake.Message, what string, ok func(string) bool) (slackfake.Message, error) {
	m, err := waitThread(ctx, d, alert.TS, ok)
	if err != nil {
		return m, fmt.Errorf("waiting for %s: %w", what, err)
	}
	return m, nil
}

// hasAll accepts a text that contains every one of wants.
func hasAll(wants ...string) func(string) bool {
	return func(text string) bool {
		for _, w := range wants {
			if !strings.Contains(text, w) {
				return false
			}
		}
		return true
	}
}

// incidentIDOf finds the incident ID ("INC-…") a message names.
func incidentIDOf(m slackfake.Message) string {
	text := slackfake.Render(m)
	i := strings.Index(text, "INC-")
	if i < 0 {
		return ""
	}
	end := i + 4
	for end < len(text) && (text[end] >= 'A' && text[end] <= 'Z' || text[end] >= '0' && text[end] <= '9') {
		end++
	}
	return text[i:end]
}

// submitOpenForm submits user's open form as it is (its prefilled answers) and waits
// for medic to take it.
func submitOpenForm(ctx context.Context, d *sandboxed, user string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, v := range d.sb.Slack.Views() {
			if v.User != user || v.Closed {
				continue
			}
			id, err := d.sb.Slack.SubmitView(ctx, slackfake.Submission{User: user, ViewID: v.ID})
			if err != nil {
				return fmt.Errorf("submitting the form: %w", err)
			}
			ack, err := d.sb.Slack.WaitAck(ctx, id)
			if err != nil {
				return err
			}
			if len(ack.Payload) != 0 {
				return fmt.Errorf("the form was refused: %s", ack.Payload)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no form opened for %s within 10s", user)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
		// A signal seen first (an alarm) may open an incident that the failure's own
		// incident then absorbs: the story goes on on the surviving alert.
		m = survivingAlert(d, m)
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

// survivingAlert returns the alert m was merged into, or m.
func survivingAlert(d *sandboxed, m slackfake.Message) slackfake.Message {
	for range 5 {
		cur, ok := d.sb.Slack.Message(m.Channel, m.TS)
		if !ok {
			return m
		}
		_, rest, merged := strings.Cut(slackfake.Render(cur), "Merged into `")
		if !merged {
			return cur
		}
		id, _, _ := strings.Cut(rest, "`")
		next := m
		for _, c := range d.sb.Slack.Messages(m.Channel) {
			if c.ThreadTS == "" && !c.Ephemeral && c.TS != m.TS && strings.Contains(string(c.Blocks), "`"+id+"`") {
				next = c
			}
		}
		if next.TS == m.TS {
			return cur
		}
		m = next
	}
	return m
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
	clock := &offsetClock{}
	d, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, clock.now), log)
	if err != nil {
		return err
	}
	d.clock = clock
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
