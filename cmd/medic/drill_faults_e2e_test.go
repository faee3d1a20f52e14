package main

// Fault drills (issue 6, part 2): Slack, GitHub and AWS misbehave while people use
// medic. Each drill checks what people would see (every command and click answered
// once, alerts and notes posted once, failures said in Slack), counts the requests the
// sandbox received, and records its figures with drillReport.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// faultDrill is how a drill starts medic: the sandbox case staged before it starts,
// the Slack fake's options, medic's Socket Mode options and config changes.
type faultDrill struct {
	caseName string
	slack    slackfake.Options
	socket   []socketmode.Option
	config   func(*config.Config)
}

// mustStartFaultDrill is mustStartStaged with the knobs a drill needs.
func mustStartFaultDrill(t *testing.T, d faultDrill) (*e2e, sandbox.Staged) {
	t.Helper()
	sb := sandbox.Start(sandbox.Options{Slack: d.slack})
	t.Cleanup(sb.Close)
	cfg, err := sandboxConfig(sb, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	if d.config != nil {
		d.config(cfg)
	}
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	var st sandbox.Staged
	if d.caseName != "" {
		c, ok := sandbox.CaseByName(d.caseName)
		if !ok {
			t.Fatalf("no sandbox case %q", d.caseName)
		}
		if st, err = c.Stage(sb, time.Now()); err != nil {
			t.Fatalf("staging %s: %v", d.caseName, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ext := sandboxExternal(sb, nil)
	ext.socketOptions = d.socket
	s, err := startSandboxed(ctx, sb, cfg, ext, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.close(); err != nil {
			t.Errorf("medic stopped with: %v", err)
		}
	})
	return &e2e{sandboxed: s, t: t}, st
}

// metric sums the series of a metric on medic's /metrics now.
func (e *e2e) metric(name string) float64 {
	e.t.Helper()
	resp, err := http.Get("http://" + e.app.metricsAddr() + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			var v float64
			if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// waitReadyz polls /readyz until it answers code and returns when it did.
func (e *e2e) waitReadyz(code int, within time.Duration) time.Time {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if e.get(e.t, "/readyz") == code {
			return time.Now()
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("/readyz did not answer %d within %s", code, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// person is an envelope a drill sent for one person: the answer names them.
type person struct {
	user, kind, envelope string
}

// sendAsPerson sends an envelope with send; while Slack has no connection to medic
// (the storm broke it) it waits for one and sends again, as a person retries a
// command Slack could not deliver. It returns the envelope ID and how many tries
// found no connection.
func sendAsPerson(ctx context.Context, t *testing.T, s *slackfake.Server, send func() (string, error)) (string, int) {
	t.Helper()
	for tries := 0; ; tries++ {
		id, err := send()
		if err == nil {
			return id, tries
		}
		if !errors.Is(err, slackfake.ErrNoConnection) {
			t.Fatal(err)
		}
		if err := s.WaitConnected(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// statusAnswers counts the /status messages posted for user.
func statusAnswers(msgs []slackfake.Message, user string) int {
	n := 0
	for _, m := range msgs {
		if !m.Ephemeral && m.ThreadTS == "" && strings.Contains(m.Text, " status:") && strings.Contains(slackfake.Render(m), "Requested by <@"+user+">") {
			n++
		}
	}
	return n
}

// logAnswers counts the log excerpts posted in the alert's thread for user (View logs).
func logAnswers(msgs []slackfake.Message, alertTS, user string) int {
	n := 0
	for _, m := range msgs {
		if m.ThreadTS == alertTS && strings.Contains(m.Text, "requested by <@"+user+">") && strings.HasPrefix(m.Text, "Log of ") {
			n++
		}
	}
	return n
}

// answersOf counts the answers of one person's envelope.
func answersOf(msgs []slackfake.Message, alertTS string, p person) int {
	if p.kind == "command" {
		return statusAnswers(msgs, p.user)
	}
	return logAnswers(msgs, alertTS, p.user)
}

// failuresSaid counts the ephemeral messages telling someone medic could not do it.
func failuresSaid(msgs []slackfake.Message) int {
	n := 0
	for _, m := range msgs {
		if m.Ephemeral && (strings.Contains(m.Text, "overloaded") || strings.Contains(m.Text, "internal error")) {
			n++
		}
	}
	return n
}

// waitAnswered waits until every person's envelope was answered at least once.
func (e *e2e) waitAnswered(ctx context.Context, alertTS string, people []person) {
	e.t.Helper()
	_, err := e.sb.Slack.WaitForMessage(ctx, func(slackfake.Message) bool {
		msgs := e.sb.Slack.Messages(sandboxChannel)
		for _, p := range people {
			if answersOf(msgs, alertTS, p) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		msgs := e.sb.Slack.Messages(sandboxChannel)
		for _, p := range people {
			if answersOf(msgs, alertTS, p) == 0 {
				env, _ := e.sb.Slack.Envelope(p.envelope)
				e.t.Errorf("%s's %s (envelope %s, deliveries %+v, acked %v) was never answered", p.user, p.kind, p.envelope, env.Deliveries, env.Acked)
			}
		}
		e.t.Fatalf("waiting for every answer: %v", err)
	}
}

// checkAnsweredOnce waits until medic has classified every delivery of the people's
// envelopes Slack saw acknowledged (each one medic acks it then handles or skips as a
// duplicate: medic_slack_handle_seconds_count and
// medic_slack_duplicate_envelopes_total), then expects one envelope handled and one
// answer per person. It returns the answers and the people answered more than once.
func (e *e2e) checkAnsweredOnce(alertTS string, people []person, handledBefore, dupBefore float64) (answered, doubled int) {
	e.t.Helper()
	var ids []string
	for _, p := range people {
		ids = append(ids, p.envelope)
	}
	e.waitEnvelopesSettled(ids, handledBefore, dupBefore)
	if got := e.metric("medic_slack_handle_seconds_count") - handledBefore; got != float64(len(people)) {
		e.t.Errorf("medic handled %g envelopes, want %d (one per person)", got, len(people))
	}
	msgs := e.sb.Slack.Messages(sandboxChannel)
	for _, p := range people {
		n := answersOf(msgs, alertTS, p)
		answered += n
		if n != 1 {
			doubled++
			e.t.Errorf("%s's %s was answered %d times, want once", p.user, p.kind, n)
		}
	}
	return answered, doubled
}

// redelivered counts the envelopes Slack sent again because no ack came in time.
func redelivered(s *slackfake.Server, people []person) int {
	n := 0
	for _, p := range people {
		env, _ := s.Envelope(p.envelope)
		for _, d := range env.Deliveries {
			if d.RetryReason == "timeout" {
				n++
				break
			}
		}
	}
	return n
}

// TestDrillSlackReconnectStorm: Slack asks medic to reconnect, drops its socket and
// refuses new connections again and again while people type /status and click
// View logs. Envelopes lost with a connection are redelivered by Slack; every command and
// click must be answered exactly once, none lost and none doubled.
func TestDrillSlackReconnectStorm(t *testing.T) {
	e, st := mustStartFaultDrill(t, faultDrill{caseName: "dev-tests-fail-main"})
	e.deliver(st)
	alert, _ := e.waitAlert("Dev tests failed")
	incident := incidentOf(t, alert)
	s := e.sb.Slack
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	handledBefore := e.metric("medic_slack_handle_seconds_count")
	dupBefore := e.metric("medic_slack_duplicate_envelopes_total")
	openedBefore := s.ConnectionsOpened()
	opensBefore := e.sb.Faults.Calls("slack:apps.connections.open")

	// The storm: a fault every time medic is connected again, after a short, random
	// time on the new link (so some envelopes get through and some are lost): disconnect
	// frames of every reason, sockets dropped without a close frame, links that go
	// silent (envelopes sent into them are lost) before they drop, reconnects refused,
	// and envelopes medic already acknowledged sent again.
	const rounds = 28
	reasons := map[string]int{}
	drops, stalls, refused, duplicatesSent, played := 0, 0, 0, 0, 0
	sent := make(chan string, 64) // envelopes people sent, for the storm to send again
	stormDone := make(chan error, 1)
	var stormEnd time.Time
	go func() {
		pause := func(d time.Duration) bool {
			select {
			case <-time.After(d):
				return true
			case <-ctx.Done():
				stormDone <- ctx.Err()
				return false
			}
		}
		for i := range rounds {
			if err := s.WaitConnected(ctx, 1); err != nil {
				stormDone <- err
				return
			}
			if !pause(time.Duration(10+rand.IntN(60)) * time.Millisecond) {
				return
			}
			switch i % 7 {
			case 0:
				s.Disconnect("refresh_requested")
				reasons["refresh_requested"]++
			case 1:
				s.Drop()
				drops++
			case 2:
				s.Disconnect("warning")
				reasons["warning"]++
			case 3:
				s.Stall()
				stalls++
				if !pause(50 * time.Millisecond) { // people keep typing into the dead link
					return
				}
				s.Drop()
				drops++
			case 4:
				s.FailConnectionsOpen(2) // the next two reconnects are refused
				refused += 2
				s.Drop()
				drops++
			case 5:
				s.Disconnect("too_many_websockets")
				reasons["too_many_websockets"]++
			case 6:
				// Slack sends an envelope medic already acknowledged once more.
			again:
				for {
					select {
					case id := <-sent:
						if env, _ := s.Envelope(id); env.Acked && s.Redeliver(id) == nil {
							duplicatesSent++
							break again
						}
					default:
						break again
					}
				}
			}
			played++
		}
		stormEnd = time.Now()
		stormDone <- nil
	}()

	// Meanwhile people type /status (each as someone else, so each answer names its
	// asker) and click View logs on the alert.
	const sends = 27 // every third a click
	envs := []string{"dev", "preprod", "prod"}
	var people []person
	noConnection := 0
	tick := time.NewTicker(60 * time.Millisecond)
	defer tick.Stop()
	for i := range sends {
		<-tick.C
		var p person
		var send func() (string, error)
		if i%3 == 2 {
			p = person{user: fmt.Sprintf("U0CLICK%02d", i), kind: "click"}
			send = func() (string, error) {
				return s.Click(ctx, slackfake.Click{User: p.user, Channel: sandboxChannel, MessageTS: alert.TS,
					ActionID: "action:view-logs", BlockID: "incident:" + incident, Value: incident})
			}
		} else {
			p = person{user: fmt.Sprintf("U0TYPE%02d", i), kind: "command"}
			env := envs[i%len(envs)]
			send = func() (string, error) {
				return s.SlashCommand(ctx, slackfake.Command{User: p.user, Channel: sandboxChannel, Command: "/status", Text: env})
			}
		}
		var tries int
		p.envelope, tries = sendAsPerson(ctx, t, s, send)
		noConnection += tries
		people = append(people, p)
		select {
		case sent <- p.envelope:
		default:
		}
	}
	if err := <-stormDone; err != nil {
		t.Fatalf("storm: %v", err)
	}

	lost := 0
	for _, p := range people {
		if _, err := s.WaitAck(ctx, p.envelope); err != nil {
			lost++
			t.Errorf("%s's %s: %v", p.user, p.kind, err)
		}
	}
	e.waitAnswered(ctx, alert.TS, people)
	recovered := time.Since(stormEnd)
	commands, clicks := 0, 0
	for _, p := range people {
		if p.kind == "click" {
			clicks++
		} else {
			commands++
		}
	}
	answered, doubled := e.checkAnsweredOnce(alert.TS, people, handledBefore, dupBefore)
	failed := failuresSaid(s.Messages(sandboxChannel))
	if failed != 0 {
		t.Errorf("%d answers said medic could not do it, want none:\n%s", failed, s.Transcript(sandboxChannel))
	}
	// Duplicates medic skipped: those Slack sent again and redeliveries of envelopes
	// whose ack was lost with a link (a duplicate sent just before a fault may be lost
	// too, so this is a figure, not a check; doubled answers are the check).
	skipped := e.metric("medic_slack_duplicate_envelopes_total") - dupBefore
	// Refused opens as Slack answered them: the calls that opened no connection (the
	// storm asks for refused of them; a refusal asked for last may go unused).
	opened, opens := s.ConnectionsOpened()-openedBefore, e.sb.Faults.Calls("slack:apps.connections.open")-opensBefore
	refusedOpens := opens - opened
	faultsInjected := drops + stalls + refusedOpens + duplicatesSent
	for _, n := range reasons {
		faultsInjected += n
	}
	drillReport(t, "faults=%d over %d rounds (disconnect frames %v, drops without close frame %d of which %d after the link went silent, "+
		"refused apps.connections.open %d of %d asked, acked envelopes sent again %d); connections opened=%d (apps.connections.open calls %d); "+
		"requests=%d (%d /status, %d View logs clicks) answered=%d redelivered by Slack=%d re-sent by people while no connection=%d "+
		"duplicates skipped=%g failed-with-message=%d doubled=%d lost=%d; time to recover (storm end to last answer)=%s",
		faultsInjected, played, reasons, drops, stalls, refusedOpens, refused, duplicatesSent, opened, opens,
		len(people), commands, clicks, answered, redelivered(s, people), noConnection,
		skipped, failed, doubled, lost, recovered.Round(time.Millisecond))
}

// TestDrillSlackHalfOpenLink: the Socket Mode link goes silent without a close frame
// (a NAT forgot the flow). medic must notice from the missing PINGs, say it is not
// ready while it cannot reconnect, reconnect, and handle once each the envelopes Slack
// sent into the dead link (Slack redelivers them, unacknowledged, to the new one).
func TestDrillSlackHalfOpenLink(t *testing.T) {
	const pingTimeout = time.Second
	e, st := mustStartFaultDrill(t, faultDrill{
		caseName: "dev-tests-fail-main",
		slack:    slackfake.Options{PingInterval: 100 * time.Millisecond},
		socket:   []socketmode.Option{socketmode.OptionPingInterval(pingTimeout)},
	})
	e.deliver(st)
	alert, _ := e.waitAlert("Dev tests failed")
	incident := incidentOf(t, alert)
	s := e.sb.Slack
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if code := e.get(t, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before the fault: got %d, want 200", code)
	}
	handledBefore := e.metric("medic_slack_handle_seconds_count")
	dupBefore := e.metric("medic_slack_duplicate_envelopes_total")
	openedBefore := s.ConnectionsOpened()
	opensBefore := e.sb.Faults.Calls("slack:apps.connections.open")

	// The link dies silently, and the first reconnects are refused, so the outage lasts
	// long enough for /readyz to show it.
	s.FailConnectionsOpen(3)
	start := time.Now()
	stalled := s.Connections()
	s.Stall()
	pongsAtStall := s.Pings().Pongs
	var people []person
	for i := range 6 {
		p := person{user: fmt.Sprintf("U0SILENT%02d", i), kind: "command"}
		var err error
		if i%3 == 2 {
			p.kind = "click"
			p.envelope, err = s.Click(ctx, slackfake.Click{User: p.user, Channel: sandboxChannel, MessageTS: alert.TS,
				ActionID: "action:view-logs", BlockID: "incident:" + incident, Value: incident})
		} else {
			p.envelope, err = s.SlashCommand(ctx, slackfake.Command{User: p.user, Channel: sandboxChannel, Command: "/status", Text: "prod"})
		}
		if err != nil {
			t.Fatalf("sending into the stalled link: %v", err)
		}
		people = append(people, p)
	}
	noticed := e.waitReadyz(http.StatusServiceUnavailable, 30*time.Second)
	back := e.waitReadyz(http.StatusOK, 30*time.Second)
	if n := s.ConnectionsOpened() - openedBefore; n != 1 {
		t.Errorf("connections opened after the stall: got %d, want 1", n)
	}
	// The new link is alive: medic answers its PINGs.
	for deadline := time.Now().Add(10 * time.Second); s.Pings().Pongs <= pongsAtStall; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no PONG answered on the new link: %+v", s.Pings())
		}
	}

	lost := 0
	for _, p := range people {
		if _, err := s.WaitAck(ctx, p.envelope); err != nil {
			lost++
			t.Errorf("%s's %s: %v", p.user, p.kind, err)
		}
	}
	e.waitAnswered(ctx, alert.TS, people)
	answeredAt := time.Now()
	answered, doubled := e.checkAnsweredOnce(alert.TS, people, handledBefore, dupBefore)
	lostInLink := 0
	for _, p := range people {
		env, _ := s.Envelope(p.envelope)
		if len(env.Deliveries) < 2 || env.Deliveries[0].Conn == env.Deliveries[len(env.Deliveries)-1].Conn {
			t.Errorf("%s's envelope: deliveries %+v, want the first into the stalled link and a redelivery on the new one", p.user, env.Deliveries)
		} else {
			lostInLink++
		}
	}
	failed := failuresSaid(s.Messages(sandboxChannel))
	if failed != 0 {
		t.Errorf("%d answers said medic could not do it, want none", failed)
	}
	opened := s.ConnectionsOpened() - openedBefore
	refusedOpens := e.sb.Faults.Calls("slack:apps.connections.open") - opensBefore - opened
	drillReport(t, "faults=%d stalled link(s) (no close frame, no PING) + %d refused apps.connections.open; ping timeout %s; "+
		"requests=%d answered=%d lost in the dead link and redelivered=%d duplicates skipped=%g failed-with-message=%d doubled=%d lost=%d; "+
		"/readyz 503 after %s, 200 after %s; time to recover (stall to last answer)=%s",
		stalled, refusedOpens, pingTimeout, len(people), answered, lostInLink, e.metric("medic_slack_duplicate_envelopes_total")-dupBefore, failed, doubled, lost,
		noticed.Sub(start).Round(time.Millisecond), back.Sub(start).Round(time.Millisecond), answeredAt.Sub(start).Round(time.Millisecond))
}

// TestDrillSlackRateLimitedPosts: Slack answers chat.postMessage and chat.update with
// 429 and Retry-After, for longer than slack-go's own three retries. The alert, its
// thread notes and the acknowledgement must still arrive, after the Retry-After, and
// once each: a request Slack refused with 429 was not posted, so sending it again
// posts it once.
func TestDrillSlackRateLimitedPosts(t *testing.T) {
	e, st := mustStartFaultDrill(t, faultDrill{caseName: "dev-tests-fail-main"})
	const retryAfter = time.Second
	limited := &fault.Error{Status: http.StatusTooManyRequests, RetryAfter: retryAfter}
	// slack-go tries a message 4 times (slack.OptionRetry(3) in app.go): 5 refusals
	// outlast it.
	const postLimited, updateLimited = 5, 2
	e.sb.Faults.Set("slack:chat.postMessage", fault.Rule{Times: postLimited, Err: limited})
	start := time.Now()
	e.deliver(st)
	alert, _ := e.waitAlert("Dev tests failed")
	alertAfter := slackTime(t, alert.TS).Sub(start)
	if alertAfter < postLimited*retryAfter {
		t.Errorf("the alert was posted %s after the webhook, want at least %s (%d Retry-Afters of %s)", alertAfter, postLimited*retryAfter, postLimited, retryAfter)
	}
	// The thread details the alert promises.
	e.threadMessage(alert, "Log excerpt", "FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds")

	// chat.update is limited too: the acknowledgement still shows, once.
	e.sb.Faults.Set("slack:chat.update", fault.Rule{Times: updateLimited, Err: limited})
	updatesBefore := e.sb.Faults.Calls("slack:chat.update")
	ackStart := time.Now()
	wantContains(t, e.press(alert, userAlice, "action:ack"), "You acknowledged")
	acked, _ := e.waitAlert("Dev tests failed", "Acknowledged by <@U0ALICE>")
	ackedAfter := time.Since(ackStart)
	e.threadMessage(alert, "Acknowledged by <@U0ALICE>")
	if acked.TS != alert.TS {
		t.Errorf("the acknowledgement posted a new alert (ts %s), want the alert (ts %s) updated", acked.TS, alert.TS)
	}

	// Once each: every chat.postMessage that got through is one message, and no two
	// messages say the same thing.
	posted, seen, doubled := 0, map[string]int{}, 0
	for _, m := range e.sb.Slack.Messages(sandboxChannel) {
		if firstVia(m) == "chat.postMessage" {
			posted++
			seen[m.Text]++
			if seen[m.Text] == 2 {
				doubled++
				t.Errorf("posted twice: %q", m.Text)
			}
		}
	}
	calls := e.sb.Faults.Calls("slack:chat.postMessage")
	if calls != posted+postLimited {
		t.Errorf("chat.postMessage calls: got %d, want %d (%d messages + %d refused with 429)", calls, posted+postLimited, posted, postLimited)
	}
	updates := e.sb.Faults.Calls("slack:chat.update") - updatesBefore
	if updates < updateLimited+1 {
		t.Errorf("chat.update calls after the click: got %d, want at least %d (the 429s, then the update)", updates, updateLimited+1)
	}
	alerts := len(e.alerts())
	if alerts != 1 {
		t.Errorf("got %d alerts, want 1", alerts)
	}
	// What people were promised and what Slack shows: the alert, its log excerpt, the
	// acknowledgement note and the alert saying it was acknowledged.
	thread := e.sb.Slack.Thread(sandboxChannel, alert.TS)
	countThread := func(s string) int {
		n := 0
		for _, m := range thread {
			if m.TS != alert.TS && strings.Contains(slackfake.Render(m), s) {
				n++
			}
		}
		return n
	}
	excerpts, ackNotes := countThread("Log excerpt"), countThread("Acknowledged by <@U0ALICE>")
	ackShown := 0
	if cur, ok := e.sb.Slack.Message(sandboxChannel, alert.TS); ok && strings.Contains(slackfake.Render(cur), "Acknowledged by <@U0ALICE>") {
		ackShown = 1
	}
	lost := 0
	for _, n := range []int{alerts, excerpts, ackNotes, ackShown} {
		if n == 0 {
			lost++
		}
	}
	refusedPosts, refusedUpdates := e.sb.Faults.Failed("slack:chat.postMessage"), e.sb.Faults.Failed("slack:chat.update")
	drillReport(t, "faults=%d (429 Retry-After %s: %d on chat.postMessage, outlasting slack-go's own retries; %d on chat.update); "+
		"requests: chat.postMessage %d (messages %d, refused %d), chat.update %d after the click; "+
		"answered: alerts %d, thread notes %d (log excerpts %d, acknowledgement notes %d), alert shows the acknowledgement %d; doubled=%d lost=%d; "+
		"time to recover: alert posted %s after the webhook, acknowledgement shown %s after the click",
		refusedPosts+refusedUpdates, retryAfter, refusedPosts, refusedUpdates, calls, posted, calls-posted, updates,
		alerts, len(thread)-1, excerpts, ackNotes, ackShown, doubled, lost, alertAfter.Round(time.Millisecond), ackedAfter.Round(time.Millisecond))
}

// firstVia is how a message was first posted.
func firstVia(m slackfake.Message) string {
	if len(m.History) > 0 {
		return m.History[0].Via
	}
	return m.Via
}

// slackTime reads a Slack message timestamp ("1700000000.000100").
func slackTime(t *testing.T, ts string) time.Time {
	t.Helper()
	var sec, micro int64
	if _, err := fmt.Sscanf(ts, "%d.%d", &sec, &micro); err != nil {
		t.Fatalf("message ts %q: %v", ts, err)
	}
	return time.Unix(sec, micro*1000)
}

// waitCalls waits until op has received at least n calls in the sandbox.
func (e *e2e) waitCalls(op string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for e.sb.Faults.Calls(op) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s calls stayed at %d, want %d", op, e.sb.Faults.Calls(op), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// callsDuring counts the calls op receives during d from now.
func (e *e2e) callsDuring(op string, d time.Duration) int {
	before := e.sb.Faults.Calls(op)
	time.Sleep(d) // the length of the window GitHub keeps medic out, not a wait for medic
	return e.sb.Faults.Calls(op) - before
}

// TestDrillGitHubPollerBacksOffAndCatchesUp: with webhooks gone, the Actions poller is
// medic's only eye on the pipeline. GitHub answers its calls with 5xx, then its primary
// rate limit (403, x-ratelimit-remaining 0), then 429 with Retry-After, each while a
// run fails. The poller must stay away while GitHub asks it to, then catch up: one
// alert per failed run, none missed, none repeated. A diagnostic whose GitHub call
// fails (the job log) says so in the alert, and Refresh diagnostics fills it in later.
func TestDrillGitHubPollerBacksOffAndCatchesUp(t *testing.T) {
	const interval = 100 * time.Millisecond
	e, _ := mustStartFaultDrill(t, faultDrill{config: func(cfg *config.Config) {
		runs, off := interval, time.Duration(0)
		cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &runs, &off
	}})
	const list = "github:ListWorkflowRuns"
	workflows := len(e.cfg.DomainPipeline().Workflows)

	// 1. GitHub answers 502 to every listing and 503 to every log download.
	e.sb.Faults.Set(list, fault.Rule{Err: &fault.Error{Status: http.StatusBadGateway, Message: "Server Error"}})
	e.sb.Faults.Set("github:JobLogs", fault.Rule{Err: &fault.Error{Status: http.StatusServiceUnavailable, Message: "Service Unavailable"}})
	var staged []sandbox.Staged
	staged = append(staged, e.stage("dev-tests-fail-main"))
	c0, t0 := e.sb.Faults.Calls(list), time.Now()
	e.waitCalls(list, c0+3*workflows) // three failed rounds
	if n := len(e.alerts()); n != 0 {
		t.Fatalf("got %d alerts while GitHub answered 502, want 0", n)
	}
	serverErrors := e.sb.Faults.Calls(list) - c0
	// The pace of a poller GitHub answers at once (502s carry no Retry-After).
	unthrottled := float64(serverErrors) / time.Since(t0).Seconds()
	e.sb.Faults.Clear(list)
	cleared := time.Now()
	first, text := e.waitAlert("Dev tests failed")
	recovered5xx := time.Since(cleared)
	wantContains(t, text, ":warning: *Failing tests*", "GitHub: HTTP 503", "on JobLogs")
	e.sb.Faults.Clear("github:JobLogs")
	wantContains(t, e.press(first, userErin, "action:refresh"), "Diagnostics refreshed")
	e.waitAlert("Dev tests failed", "test_sentiment_score_bounds")

	// 2. The primary rate limit: one 403 with x-ratelimit-remaining 0 and a reset 3 s
	// ahead. go-github keeps every later call local until the reset.
	const primaryWait = 3 * time.Second
	failedBefore := e.sb.Faults.Failed(list)
	e.sb.Faults.Set(list, fault.Rule{Times: 1, Err: &fault.Error{Status: http.StatusForbidden, Code: "rate_limited",
		Message: "API rate limit exceeded for installation ID 1.", RetryAfter: primaryWait}})
	c1 := e.sb.Faults.Calls(list)
	staged = append(staged, e.stage("preprod-tests-fail"))
	e.waitCalls(list, c1+1)
	limitedAt := time.Now()
	duringPrimary := e.callsDuring(list, primaryWait/2)
	if duringPrimary != 0 {
		t.Errorf("ListWorkflowRuns calls reaching GitHub during its primary rate limit: got %d, want 0", duringPrimary)
	}
	e.waitAlert("Preprod integration tests failed")
	recoveredPrimary := time.Since(limitedAt)
	primaryRefused := e.sb.Faults.Failed(list) - failedBefore

	// 3. 429 with Retry-After 2 s, for 3 s: the poller must wait 2 s between tries, not
	// call every 100 ms.
	const retryAfter, window = 2 * time.Second, 3 * time.Second
	e.sb.Faults.Set(list, fault.Rule{Err: &fault.Error{Status: http.StatusTooManyRequests, Message: "Too Many Requests", RetryAfter: retryAfter}})
	c2 := e.sb.Faults.Calls(list)
	staged = append(staged, e.stage("prod-deploy-fail"))
	e.waitCalls(list, c2+1)
	during429 := 1 + e.callsDuring(list, window)
	if max429 := int(window/retryAfter) + 2; during429 > max429 {
		t.Errorf("ListWorkflowRuns calls during %s of 429 with Retry-After %s: got %d, want at most %d (without a pause: about %d)",
			window, retryAfter, during429, max429, int(window/interval)*workflows)
	}
	e.sb.Faults.Clear(list)
	refused429 := e.sb.Faults.Failed(list) - failedBefore - primaryRefused
	cleared = time.Now()
	e.waitAlert("Production deployment failed")
	recovered429 := time.Since(cleared)

	// One alert per failed run: none missed, none repeated (nor any note), however
	// often the poller read them again after each pause.
	e.wantSettled(len(staged), 5, "runs")
	headers := map[string]int{}
	for _, a := range e.alerts() {
		header, _, _ := strings.Cut(slackfake.Render(a), "\n")
		headers[header]++
	}
	repeated := 0
	for h, n := range headers {
		if n != 1 {
			repeated += n - 1
			t.Errorf("%d alerts for %q, want 1", n, h)
		}
	}
	if len(headers) != len(staged) {
		t.Errorf("got alerts %v, want one for each of the %d failed runs", headers, len(staged))
	}
	missed := 0
	for _, st := range staged {
		found := false
		for _, a := range e.alerts() {
			found = found || mentionsRun(a, st.RunID)
		}
		if !found {
			missed++
			t.Errorf("no alert names run %d", st.RunID)
		}
	}
	// Alerts that said their log diagnostic failed (in any version), and of those the
	// ones Refresh filled in.
	logFailed, filledIn := 0, 0
	for _, a := range e.alerts() {
		said := strings.Contains(slackfake.Render(a), "on JobLogs")
		for _, v := range a.History {
			said = said || strings.Contains(slackfake.Render(slackfake.Message{Text: v.Text, Blocks: v.Blocks}), "on JobLogs")
		}
		if said {
			logFailed++
			if strings.Contains(slackfake.Render(a), "test_sentiment_score_bounds") {
				filledIn++
			}
		}
	}
	drillReport(t, "faults: 502 on ListWorkflowRuns (%d calls answered 502) and 503 on JobLogs (%d calls); primary rate limit (%d calls answered 403, reset in %s); "+
		"429 Retry-After %s for %s (%d calls answered 429); runs failed=%d alerted=%d repeated=%d missed=%d; ListWorkflowRuns calls during the primary limit=%d, "+
		"during the 429 window=%d (at the %.1f calls/s measured under 502s, ~%.0f); log diagnostic failed-with-message=%d (filled in by Refresh %d); "+
		"time to recover: %s after the 5xx, %s after the 403, %s after the 429s",
		serverErrors, e.sb.Faults.Failed("github:JobLogs"), primaryRefused, primaryWait, retryAfter, window, refused429, len(staged), len(headers), repeated, missed, duringPrimary, during429,
		unthrottled, unthrottled*window.Seconds(), logFailed, filledIn,
		recovered5xx.Round(time.Millisecond), recoveredPrimary.Round(time.Millisecond), recovered429.Round(time.Millisecond))
}

// TestDrillGitHubActionFailsThenRetryWorks: a recovery action whose GitHub call keeps
// failing (502, then 429) must end with a clear failure in the thread, never read as
// done, call GitHub once per attempt (a re-run is not repeated behind people's
// backs), and work when retried once GitHub is back.
func TestDrillGitHubActionFailsThenRetryWorks(t *testing.T) {
	e, st := mustStartFaultDrill(t, faultDrill{caseName: "dev-tests-fail-main"})
	e.deliver(st)
	alert, _ := e.waitAlert("Dev tests failed")
	const op = "github:RerunFailed"
	// A self-service request runs once its preview is in: its job is named in the
	// thread, under the request the answer names.
	jobOf := func(answer string) string {
		t.Helper()
		i := strings.Index(answer, "REQ-")
		if i < 0 {
			t.Fatalf("no request in %q", answer)
		}
		req := strings.TrimRight(strings.Fields(answer[i:])[0], ".,)")
		m := e.threadMessage(alert, req, "job `JOB-")
		text := slackfake.Render(m)
		j := strings.Index(text, "job `JOB-")
		id, _, _ := strings.Cut(text[j+len("job `"):], "`")
		return id
	}

	e.sb.Faults.Set(op, fault.Rule{Err: &fault.Error{Status: http.StatusBadGateway, Message: "Server Error"}})
	job1 := jobOf(e.press(alert, userCarol, "action:rerun-failed"))
	e.threadMessage(alert, ":x: Re-run the failed jobs of run", "GitHub: HTTP 502 Server Error on RerunFailed")
	failed1 := e.threadMessage(alert, "Job "+job1, "failed at step 1", "[ Retry")

	const retryAfter = 30 * time.Second
	e.sb.Faults.Set(op, fault.Rule{Err: &fault.Error{Status: http.StatusTooManyRequests, Message: "Too Many Requests", RetryAfter: retryAfter}})
	job2 := jobOf(e.press(failed1, userCarol, "job-retry:job"))
	e.threadMessage(alert, ":x: Re-run the failed jobs of run", "GitHub: rate limited (429), retry after 30s on RerunFailed")
	failed2 := e.threadMessage(alert, "Job "+job2, "failed at step 1", "[ Retry")
	if got := e.sb.Faults.Calls(op); got != 2 {
		t.Errorf("re-run calls after two failed attempts: got %d, want 2 (one per attempt)", got)
	}
	for _, m := range e.sb.Slack.Thread(sandboxChannel, alert.TS) {
		if strings.Contains(m.Text, "GitHub queued") || strings.Contains(m.Text, "succeeded") {
			t.Errorf("a failed re-run reads as done: %q", m.Text)
		}
	}

	e.sb.Faults.Clear(op)
	retried := time.Now()
	job3 := jobOf(e.press(failed2, userCarol, "job-retry:job"))
	e.threadMessage(alert, ":white_check_mark: Re-run the failed jobs of run", "GitHub queued the failed jobs")
	e.threadMessage(alert, "Job "+job3, "succeeded")
	recovered := time.Since(retried)
	var statuses []int
	for _, m := range e.sb.GitHub.Mutations() {
		if m.Op == "RerunFailed" {
			statuses = append(statuses, m.Status)
		}
	}
	if fmt.Sprint(statuses) != "[502 429 201]" {
		t.Errorf("re-run requests GitHub answered: got %v, want [502 429 201]", statuses)
	}
	// Per attempt (job), what its thread says: a failure with GitHub's answer, or a
	// success; a success whose GitHub call failed is silent.
	thread := e.sb.Slack.Thread(sandboxChannel, alert.TS)
	says := func(job string, wants ...string) bool {
		for _, m := range thread {
			text := slackfake.Render(m)
			ok := strings.Contains(text, "Job "+job)
			for _, w := range wants {
				ok = ok && strings.Contains(text, w)
			}
			if ok {
				return true
			}
		}
		return false
	}
	jobs := []string{job1, job2, job3}
	failedSaid, silent, worked := 0, 0, 0
	for i, job := range jobs {
		switch {
		case says(job, "failed at step 1"):
			failedSaid++
		case says(job, "succeeded"):
			if i < len(statuses) && statuses[i] >= 300 {
				silent++
			} else {
				worked++
			}
		}
	}
	errorsShown := 0
	for _, m := range thread {
		if text := slackfake.Render(m); strings.Contains(text, ":x: Re-run the failed jobs of run") && strings.Contains(text, "on RerunFailed") {
			errorsShown++
		}
	}
	drillReport(t, "faults: %d answers refused (502, then 429 Retry-After %s) on the re-run; requests=%d (answers %v) attempts=%d failed-with-message=%d "+
		"(GitHub's error shown %d times) silent successes=%d retried by medic=%d; later retries that worked=%d; time to recover (retry click to success)=%s",
		e.sb.Faults.Failed(op), retryAfter, len(statuses), statuses, len(jobs), failedSaid, errorsShown, silent, len(statuses)-len(jobs), worked, recovered.Round(time.Millisecond))
}

// TestDrillAWSThrottlingAndHangs: Lambda and CloudWatch throttle every call
// (TooManyRequestsException, ThrottlingException) and Secrets Manager hangs or
// throttles. /status must still answer, each failing section saying why in one line;
// the SDK's retries must stay bounded (3 attempts a call, counted by the sandbox); a
// short throttling is absorbed by them; and an alert still posts, its diagnostics
// marked as failed.
func TestDrillAWSThrottlingAndHangs(t *testing.T) {
	const timeout = 5 * time.Second
	e, st := mustStartFaultDrill(t, faultDrill{caseName: "canary-fail", config: func(cfg *config.Config) {
		cfg.Status.SectionTimeout = timeout
		cfg.Pipeline.DiagnosticTimeout = timeout
	}})
	const sdkAttempts = 3 // deploy/aws: MaxAttempts of the SDK's standard retryer
	functions := 3
	throttled := func(status int, code string) fault.Rule {
		return fault.Rule{Err: &fault.Error{Status: status, Code: code, Message: "Rate exceeded"}}
	}
	calls := func(op string) int { return e.sb.Faults.Calls(op) }

	// 1. /status while Lambda and CloudWatch throttle and Secrets Manager hangs.
	e.sb.Faults.Set("lambda:GetFunction", throttled(http.StatusTooManyRequests, "TooManyRequestsException"))
	e.sb.Faults.Set("cloudwatch:DescribeAlarms", throttled(http.StatusBadRequest, "ThrottlingException"))
	e.sb.Faults.Set("secretsmanager:GetSecretValue", fault.Rule{Hang: true})
	asked := time.Now()
	requests := 1 // what people asked for: each /status and the alert
	e.command(userAlice, sandboxChannel, "/status", "prod")
	_, text := e.waitMessage("prod status", statusOf("prod"))
	statusAfter := time.Since(asked)
	failingSections := warnings(text)
	wantContains(t, text, "3 sections could not be read",
		"Lambda: TooManyRequestsException on GetFunction",
		"CloudWatch: ThrottlingException on DescribeAlarms",
		"Health: no answer within "+timeout.String(),
		"Last known good deploy", fakeSHA("prod", 3)[:12])
	longLines := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, ":warning:") && len(line) > 300 {
			longLines++
			t.Errorf("a failing section takes more than a line: %q", line)
		}
	}
	lambdaCalls, cwCalls, smCalls := calls("lambda:GetFunction"), calls("cloudwatch:DescribeAlarms"), calls("secretsmanager:GetSecretValue")
	if cwCalls != sdkAttempts {
		t.Errorf("DescribeAlarms attempts: got %d, want %d (the SDK's bound)", cwCalls, sdkAttempts)
	}
	if lambdaCalls < sdkAttempts || lambdaCalls > sdkAttempts*functions {
		t.Errorf("GetFunction attempts for %d functions: got %d, want %d to %d", functions, lambdaCalls, sdkAttempts, sdkAttempts*functions)
	}
	if smCalls != 1 {
		t.Errorf("GetSecretValue attempts on a hung call: got %d, want 1 (the section's deadline ends it)", smCalls)
	}

	// 2. An alert while CloudWatch and Secrets Manager throttle and CloudWatch Logs hangs.
	e.sb.Faults.Set("secretsmanager:GetSecretValue", throttled(http.StatusBadRequest, "ThrottlingException"))
	e.sb.Faults.Set("logs:FilterLogEvents", fault.Rule{Hang: true})
	cwBefore, smBefore, logsBefore := calls("cloudwatch:DescribeAlarms"), calls("secretsmanager:GetSecretValue"), calls("logs:FilterLogEvents")
	delivered := time.Now()
	requests++
	e.deliver(st)
	_, text = e.waitAlert("Production canary failed")
	alertAfter := time.Since(delivered)
	failedDiagnostics := warnings(text)
	wantContains(t, text,
		":warning: *Health endpoint*", "Secrets Manager: ThrottlingException on GetSecretValue",
		":warning: *Alarms in ALARM*", "CloudWatch: ThrottlingException on DescribeAlarms",
		":warning: *ERROR logs", "no answer within "+timeout.String(),
		"Auto-rollback", "[ Roll back to last good")
	cw, sm, logs := calls("cloudwatch:DescribeAlarms")-cwBefore, calls("secretsmanager:GetSecretValue")-smBefore, calls("logs:FilterLogEvents")-logsBefore
	if cw%sdkAttempts != 0 || cw == 0 || sm%sdkAttempts != 0 || sm == 0 {
		t.Errorf("attempts during the alert: DescribeAlarms %d, GetSecretValue %d, want multiples of %d (every call tried %d times, no more)", cw, sm, sdkAttempts, sdkAttempts)
	}
	if logs > functions {
		t.Errorf("FilterLogEvents attempts on hung calls: got %d, want at most %d (one per function's log group)", logs, functions)
	}

	// 3. A short throttling (two refusals) is absorbed by the SDK's retries.
	for _, op := range []string{"lambda:GetFunction", "secretsmanager:GetSecretValue", "logs:FilterLogEvents"} {
		e.sb.Faults.Clear(op)
	}
	e.sb.Faults.Set("cloudwatch:DescribeAlarms", fault.Rule{Times: sdkAttempts - 1, Err: throttled(http.StatusBadRequest, "ThrottlingException").Err})
	cwBefore = calls("cloudwatch:DescribeAlarms")
	requests++
	e.command(userBob, sandboxChannel, "/status", "prod")
	_, text = e.waitMessage("second prod status", func(m slackfake.Message) bool {
		return statusOf("prod")(m) && strings.Contains(slackfake.Render(m), "<@"+userBob+">")
	})
	absorbedShown := warnings(text)
	if strings.Contains(text, "ThrottlingException") || strings.Contains(text, "could not be read") {
		t.Errorf("a throttling the SDK's retries absorbed still shows:\n%s", text)
	}
	absorbedAttempts := calls("cloudwatch:DescribeAlarms") - cwBefore
	if absorbedAttempts != sdkAttempts {
		t.Errorf("DescribeAlarms attempts: got %d, want %d (two throttled, then the answer)", absorbedAttempts, sdkAttempts)
	}
	// Each /status answer and alert posted counts as answered.
	answered := len(e.alerts())
	for _, m := range e.sb.Slack.Messages(sandboxChannel) {
		if statusOf("prod")(m) {
			answered++
		}
	}
	drillReport(t, "faults: Lambda GetFunction 429 TooManyRequestsException, CloudWatch DescribeAlarms ThrottlingException, Secrets Manager hang, "+
		"then an alert under CloudWatch/Secrets Manager throttling and a CloudWatch Logs hang, then CloudWatch throttling twice (calls refused or held: %d); "+
		"/status answered with %d failing sections marked (%d lines over 300 characters) after %s; SDK attempts: GetFunction %d for %d functions (bound %d each), "+
		"DescribeAlarms %d (bound %d), GetSecretValue %d (hung until the %s section timeout); "+
		"alert posted after %s with %d diagnostics marked failed (attempts: DescribeAlarms %d, GetSecretValue %d, FilterLogEvents %d hung, one per log group); "+
		"short throttling absorbed by the SDK in %d attempts (sections still marked failed: %d); requests=%d answered=%d lost=%d",
		failedCalls(e, "lambda:GetFunction", "cloudwatch:DescribeAlarms", "secretsmanager:GetSecretValue", "logs:FilterLogEvents"),
		failingSections, longLines, statusAfter.Round(time.Millisecond), lambdaCalls, functions, sdkAttempts, cwCalls, sdkAttempts, smCalls, timeout,
		alertAfter.Round(time.Millisecond), failedDiagnostics, cw, sm, logs, absorbedAttempts, absorbedShown, requests, answered, max(0, requests-answered))
}

// warnings counts the lines of a rendered message marked as failed (:warning:).
func warnings(text string) int {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, ":warning:") {
			n++
		}
	}
	return n
}

// failedCalls sums the calls of ops that the sandbox's fault rules broke.
func failedCalls(e *e2e, ops ...string) int {
	n := 0
	for _, op := range ops {
		n += e.sb.Faults.Failed(op)
	}
	return n
}
