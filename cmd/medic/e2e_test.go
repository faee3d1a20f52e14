package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/medic-ops/medic"
	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// e2e is medic running against a fresh sandbox, driven through the real slack-go
// socketmode client, go-github and the AWS SDK.
type e2e struct {
	*sandboxed
	t *testing.T
	// ticks, when set, is the clock of medic's tickers (withTickers): its rounds run
	// when the test advances it.
	ticks *recoverytest.Clock
}

type e2eOption func(*sandbox.World, *config.Config)

// clock is medic's clock in tests that let deadlines pass; a test moves it forward.
type clock = offsetClock

// withClock, given to mustStartStaged, makes c medic's clock.
type withClock struct{ c *clock }

// withTickers, given to mustStartStaged, makes c the clock of medic's tickers: its
// rounds (escalation, job recovery, request expiry, pollers) and its jobs' lease
// renewals, which then fire only when the test advances c (each round also runs once at
// start). With now set, c also tells medic the time.
type withTickers struct {
	c   *recoverytest.Clock
	now bool
}

// withConfig, given to mustStartStaged, is the config file medic starts from instead
// of the shipped example, pointed at the sandbox as sandboxConfig points the example.
type withConfig []byte

// withLogs, given to mustStartStaged, also sends medic's log lines (debug and up) to
// an observer the test reads.
type withLogs struct{ core zapcore.Core }

// withSandbox, given to mustStartStaged, changes the world and the config knowing the
// sandbox (its endpoints), before the world is seeded and medic starts.
type withSandbox func(sb *sandbox.Sandbox, w *sandbox.World, cfg *config.Config)

func mustStart(t *testing.T, opts ...e2eOption) *e2e {
	t.Helper()
	var options []any
	for _, o := range opts {
		options = append(options, o)
	}
	e, _ := mustStartStaged(t, "", options...)
	return e
}

// mustStartStaged is mustStart with a sandbox failure case staged before medic starts,
// as a failure that happened while medic was away: pollers then never see the case
// half staged.
func mustStartStaged(t *testing.T, caseName string, options ...any) (*e2e, sandbox.Staged) {
	t.Helper()
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	src := medic.ExampleConfig
	for _, o := range options {
		if c, ok := o.(withConfig); ok {
			src = c
		}
	}
	cfg, err := sandboxConfigFrom(sb, t.TempDir(), src)
	if err != nil {
		t.Fatal(err)
	}
	// Pollers are off unless a test turns them on, so what a test sees is what it did.
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	world := worldFromConfig(cfg)
	var now func() time.Time
	var ticks recovery.Clock
	log := zaptest.NewLogger(t)
	for _, o := range options {
		switch o := o.(type) {
		case e2eOption:
			o(&world, cfg)
		case withClock:
			now = o.c.now
		case withTickers:
			ticks = o.c
			if o.now {
				now = o.c.Now
			}
		case withSandbox:
			o(sb, &world, cfg)
		case withConfig: // read above
		case withLogs:
			log = zaptest.NewLogger(t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
				return zapcore.NewTee(c, o.core)
			})))
		default:
			t.Fatalf("unknown option %T", o)
		}
	}
	if err := sb.Seed(world); err != nil {
		t.Fatal(err)
	}
	var st sandbox.Staged
	if caseName != "" {
		c, ok := sandbox.CaseByName(caseName)
		if !ok {
			t.Fatalf("no sandbox case %q", caseName)
		}
		if st, err = c.Stage(sb, time.Now()); err != nil {
			t.Fatalf("staging %s: %v", caseName, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ext := sandboxExternal(sb, now)
	ext.clock = ticks
	d, err := startSandboxed(ctx, sb, cfg, ext, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.close(); err != nil {
			t.Errorf("medic stopped with: %v", err)
		}
	})
	e := &e2e{sandboxed: d, t: t}
	if c, ok := ticks.(*recoverytest.Clock); ok {
		e.ticks = c
	}
	return e, st
}

func withEnv(name string, f func(*sandbox.Env)) e2eOption {
	return func(w *sandbox.World, _ *config.Config) {
		for i := range w.Envs {
			if w.Envs[i].Name == name {
				f(&w.Envs[i])
			}
		}
	}
}

func mustCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// command types a slash command as user in channel and returns its envelope ID once
// medic has acked it.
func (e *e2e) command(user, channel, command, text string) string {
	e.t.Helper()
	ctx := mustCtx(e.t)
	id, err := e.sb.Slack.SlashCommand(ctx, slackfake.Command{User: user, Channel: channel, Command: command, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.sb.Slack.WaitAck(ctx, id); err != nil {
		e.t.Fatalf("ack of %s %s: %v", command, text, err)
	}
	return id
}

// waitMessage waits for a message matching match and returns it rendered as people
// read it.
func (e *e2e) waitMessage(what string, match func(slackfake.Message) bool) (slackfake.Message, string) {
	e.t.Helper()
	m, err := e.sb.Slack.WaitForMessage(mustCtx(e.t), match)
	if err != nil {
		e.t.Fatalf("waiting for %s: %v\ntranscript:\n%s", what, err, e.sb.Slack.Transcript(sandboxChannel))
	}
	return m, slackfake.Render(m)
}

func statusOf(env string) func(slackfake.Message) bool {
	return func(m slackfake.Message) bool {
		return !m.Ephemeral && strings.HasPrefix(m.Text, env+" status:")
	}
}

func ephemeralTo(user string) func(slackfake.Message) bool {
	return func(m slackfake.Message) bool { return m.Ephemeral && m.User == user }
}

func wantContains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("want %q in:\n%s", w, got)
		}
	}
}

func TestStatusHealthyProd(t *testing.T) {
	e := mustStart(t)
	e.command(userAlice, sandboxChannel, "/status", "prod")
	m, text := e.waitMessage("prod status", statusOf("prod"))
	if m.Channel != sandboxChannel || m.ThreadTS != "" {
		t.Errorf("status posted in %s thread %q, want top level of %s", m.Channel, m.ThreadTS, sandboxChannel)
	}
	good := fakeSHA("prod", 3)
	wantContains(t, text,
		"prod looks healthy",
		"prod-sentiment-ingestion", "prod-sentiment-analysis", "prod-sentiment-dashboard",
		"Active · last update Successful · version `"+good[:12]+"`",
		"Alarms in ALARM", ":white_check_mark: none",
		"HTTP 200", `{"status":"healthy"}`,
		"Last known good deploy", good[:12], "deploy-prod.yml",
		"Requested by <@U0ALICE>",
	)
	// The API key was sent (the sandbox answers 401 without it) and never shown.
	if strings.Contains(e.sb.Slack.Transcript(sandboxChannel), "sbx-prod-api-key") {
		t.Error("the health endpoint's API key reached Slack")
	}
	// prod's role was assumed for its AWS calls.
	if roles := e.sb.AWS.AssumedRoles(); len(roles) == 0 || !strings.Contains(strings.Join(roles, ","), "role/medic-prod") {
		t.Errorf("assumed roles: got %v, want medic-prod's", roles)
	}
}

func TestStatusProdWithAlarmsAndAFailedFunction(t *testing.T) {
	e := mustStart(t, withEnv("prod", func(env *sandbox.Env) {
		env.Firing = []string{"prod-dashboard-errors", "prod-analysis-errors"}
		env.FailedFunctions = []string{"prod-sentiment-dashboard"}
		env.HealthStatus, env.HealthBody = 503, `{"status":"unhealthy","dynamodb":"unreachable"}`
	}))
	e.command(userAlice, sandboxChannel, "/status", "prod")
	_, text := e.waitMessage("prod status", statusOf("prod"))
	wantContains(t, text,
		"prod needs attention: 2 alarms in ALARM, health endpoint answered 503, 1 function not active/updated",
		"`prod-dashboard-errors` since", "`prod-analysis-errors` since", "Threshold Crossed",
		":x: `prod-sentiment-dashboard` Failed",
		"HTTP 503", "unreachable",
	)
	if strings.Contains(text, "prod-ingestion-throttles") {
		t.Error("an alarm in OK is listed as firing")
	}
}

func TestStatusSurvivesAFailingAndATimingOutAWSCall(t *testing.T) {
	e := mustStart(t, func(_ *sandbox.World, cfg *config.Config) { cfg.Status.SectionTimeout = 500 * time.Millisecond })
	e.sb.Faults.Set("cloudwatch:DescribeAlarms", fault.Rule{Err: &fault.Error{Status: 400, Code: "AccessDenied", Message: "User is not authorized to perform cloudwatch:DescribeAlarms"}})
	e.sb.Faults.Set("lambda:GetFunction", fault.Rule{Hang: true})
	e.command(userAlice, sandboxChannel, "/status", "prod")
	_, text := e.waitMessage("prod status", statusOf("prod"))
	wantContains(t, text,
		"CloudWatch: AccessDenied on DescribeAlarms",
		"Lambda: no answer within 500ms",
		"2 sections could not be read",
		"HTTP 200", fakeSHA("prod", 3)[:12],
	)
}

func TestStatusBadInput(t *testing.T) {
	e := mustStart(t)
	tests := []struct {
		name, user, channel, text string
		wants                     []string
	}{
		{"unknown environment", "U0CAROL", sandboxChannel, "qa", []string{"Unknown environment `qa`", "dev, preprod, prod"}},
		{"missing argument", "U0DAVE", sandboxChannel, "", []string{"Usage: `/status <env>`", "dev, preprod, prod"}},
		{"channel not allowed", "U0ERIN", "C0RANDOM", "prod", []string{"does not take commands in this channel", "<#C0MEDICOPS>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.command(tt.user, tt.channel, "/status", tt.text)
			m, text := e.waitMessage("ephemeral answer", ephemeralTo(tt.user))
			if m.Channel != tt.channel {
				t.Errorf("answered in %s, want %s", m.Channel, tt.channel)
			}
			wantContains(t, text, tt.wants...)
		})
	}
	for _, m := range e.sb.Slack.Messages(sandboxChannel) {
		if !m.Ephemeral {
			t.Errorf("bad input produced a message for everyone: %s", slackfake.Render(m))
		}
	}
}

func TestReconnectsAfterRefreshAndDrop(t *testing.T) {
	e := mustStart(t)
	e.sb.Slack.Disconnect("refresh_requested")
	ctx := mustCtx(t)
	if err := e.sb.Slack.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.command(userAlice, sandboxChannel, "/status", "dev")
	e.waitMessage("dev status after refresh", statusOf("dev"))

	e.sb.Slack.Drop() // the socket dies without a close frame
	if err := e.sb.Slack.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.command(userAlice, sandboxChannel, "/status", "preprod")
	e.waitMessage("preprod status after drop", statusOf("preprod"))
	if got := e.sb.Slack.ConnectionsOpened(); got < 3 {
		t.Errorf("connections opened: got %d, want at least 3 (start, refresh, drop)", got)
	}
}

func TestRedeliveredEnvelopeIsAnsweredOnce(t *testing.T) {
	e := mustStart(t)
	id := e.command(userAlice, sandboxChannel, "/status", "prod")
	e.waitMessage("prod status", statusOf("prod"))
	if err := e.sb.Slack.Redeliver(id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sb.Slack.WaitAcks(mustCtx(t), id, 2); err != nil {
		t.Fatalf("the redelivery was not acked: %v", err)
	}
	// Wait until medic has looked at the redelivery and skipped it.
	e.waitMetric(t, "medic_slack_duplicate_envelopes_total 1")
	n := 0
	for _, m := range e.sb.Slack.Messages(sandboxChannel) {
		if statusOf("prod")(m) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d status messages, want 1", n)
	}
}

func TestReadyzFollowsTheSocketModeLink(t *testing.T) {
	e := mustStart(t)
	if code := e.get(t, "/readyz"); code != 200 {
		t.Fatalf("readyz while connected: got %d, want 200", code)
	}
	if code := e.get(t, "/healthz"); code != 200 {
		t.Fatalf("healthz: got %d, want 200", code)
	}
	e.sb.Slack.FailConnectionsOpen(1000)
	e.sb.Slack.Drop()
	deadline := time.Now().Add(10 * time.Second)
	for e.get(t, "/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("readyz still 200 after the link dropped and could not be reopened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.sb.Slack.FailConnectionsOpen(0)
}

func (e *e2e) get(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Get("http://" + e.app.metricsAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// envelopeCounts are medic's counts of Slack envelopes handled and of those skipped as
// duplicates, to give waitEnvelopesSettled.
func (e *e2e) envelopeCounts() (handled, duplicates float64) {
	return e.metric("medic_slack_handle_seconds_count"), e.metric("medic_slack_duplicate_envelopes_total")
}

// waitEnvelopesSettled waits until medic has handled or skipped as a duplicate every
// delivery of the envelopes ids that Slack saw acknowledged (medic acks a delivery,
// then handles it or skips it), counted from handledBefore and dupBefore
// (envelopeCounts before the envelopes were sent; no other envelope may be sent
// meanwhile). A delivery handled twice shows after it, not later.
func (e *e2e) waitEnvelopesSettled(ids []string, handledBefore, dupBefore float64) {
	e.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	acked := 0
	for _, a := range e.sb.Slack.Acks() {
		if want[a.EnvelopeID] {
			acked++
		}
	}
	settled := func() float64 {
		h, d := e.envelopeCounts()
		return h - handledBefore + d - dupBefore
	}
	deadline := time.Now().Add(20 * time.Second)
	for settled() < float64(acked) {
		if time.Now().After(deadline) {
			e.t.Fatalf("medic handled or skipped %g deliveries of %d envelopes within 20s, want the %d Slack saw acknowledged", settled(), len(ids), acked)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitMetric polls /metrics until a line equals want.
func (e *e2e) waitMetric(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + e.app.metricsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if line == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric line %q never appeared", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStatusSharesTheAlertsReads: a /status prod asked 2 s after a canary failure's
// alert read prod's alarms and health answers from those reads (no new CloudWatch or
// health call; the functions, which the alert did not read, are read) and says how old
// its oldest read is.
func TestStatusSharesTheAlertsReads(t *testing.T) {
	c := &clock{}
	e, st := mustStartStaged(t, "canary-fail", withClock{c})
	e.deliver(st)
	e.waitAlert("Production canary failed")
	before := map[string]int{}
	ops := []string{"cloudwatch:DescribeAlarms", "health:prod"}
	for _, op := range ops {
		if before[op] = e.sb.Faults.Calls(op); before[op] == 0 {
			t.Fatalf("the alert made no %s call: nothing to share", op)
		}
	}
	c.advance(2 * time.Second)
	e.command(userAlice, sandboxChannel, "/status", "prod")
	_, text := e.waitMessage("prod status", statusOf("prod"))
	for _, op := range ops {
		if got := e.sb.Faults.Calls(op); got != before[op] {
			t.Errorf("%s calls: %d after the alert, %d after /status; want none more", op, before[op], got)
		}
	}
	wantContains(t, text, "(gathered 2s ago)", "Last known good deploy", "prod-sentiment-dashboard")
	if e.sb.Faults.Calls("lambda:GetFunction") == 0 {
		t.Error("/status did not read the functions the alert had not read")
	}
}

// TestFirstRoundsWaitForTheSlackLink: while Slack takes 2 s to hand out the link, the
// pollers' first rounds (GitHub's runs, CloudWatch's alarms) wait, so the start's CPU
// goes to connecting; once the link is up they run.
// TestStartPagesGivenBack: once the Slack link is up and the Terraform check is over,
// medic gives back the pages of its executable that only the start used (memtrim).
func TestStartPagesGivenBack(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	mustStartStaged(t, "", withLogs{core})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got := logs.FilterMessage("gave the start's pages of medic's executable back").All(); len(got) == 1 {
			f := got[0].ContextMap()
			if m, _ := f["mappings"].(int64); m < 2 {
				t.Errorf("gave back %v mappings, want the text and the read-only data: %v", f["mappings"], f)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("medic did not give its start's pages back within 20s of starting")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFirstRoundsWaitForTheSlackLink(t *testing.T) {
	during := make(chan int, 1)
	rounds := func(sb *sandbox.Sandbox) int {
		return sb.Faults.Calls("github:ListWorkflowRuns") + sb.Faults.Calls("cloudwatch:DescribeAlarms")
	}
	hour := time.Hour
	e, _ := mustStartStaged(t, "", withSandbox(func(sb *sandbox.Sandbox, _ *sandbox.World, cfg *config.Config) {
		cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &hour, &hour
		sb.Faults.Set("slack:apps.connections.open", fault.Rule{Latency: 2 * time.Second, Times: 1})
		go func() {
			time.Sleep(time.Second) // medic has started, its link is not up yet
			during <- rounds(sb)
		}()
	}))
	if n := <-during; n != 0 {
		t.Fatalf("%d poll calls before the Slack link was up: want none", n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rounds(e.sb) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no poll round within 20s of the link coming up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
