package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/google/go-github/v66/github"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/recovery/recoverytest"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/githubfake"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// withPolling turns the Actions and alarm pollers on at a test's pace.
func withPolling(runs, alarms time.Duration) e2eOption {
	return func(_ *sandbox.World, cfg *config.Config) {
		cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &runs, &alarms
	}
}

// stage adds a failure case to the running sandbox.
func (e *e2e) stage(name string) sandbox.Staged {
	e.t.Helper()
	c, ok := sandbox.CaseByName(name)
	if !ok {
		e.t.Fatalf("no sandbox case %q", name)
	}
	st, err := c.Stage(e.sb, time.Now())
	if err != nil {
		e.t.Fatalf("staging %s: %v", name, err)
	}
	return st
}

// deliver sends the staged webhook deliveries to medic, as GitHub would.
func (e *e2e) deliver(st sandbox.Staged) []string {
	e.t.Helper()
	var ids []string
	for _, d := range st.Deliveries {
		id, status, err := e.sb.GitHub.Deliver(mustCtx(e.t), e.webhookURL(), sandboxWebhookSecret, d.Event, d.Payload)
		if err != nil {
			e.t.Fatalf("delivering %s: %v", d.Event, err)
		}
		if status >= 300 {
			e.t.Fatalf("delivery %s %s: got HTTP %d", d.Event, id, status)
		}
		ids = append(ids, id)
	}
	return ids
}

func (e *e2e) webhookURL() string { return "http://" + e.app.addr() + "/webhooks/github" }

// alerts returns the alert messages (top level, not ephemeral, with an incident header).
func (e *e2e) alerts() []slackfake.Message {
	var out []slackfake.Message
	for _, m := range e.sb.Slack.Messages(sandboxChannel) {
		if isAlert(m) {
			out = append(out, m)
		}
	}
	return out
}

// wantSettled waits until medic has been quiet in the channel for rounds rounds of
// each of pollers (quiet), then expects n live alerts, and no thread note posted twice:
// a fact handled again (a webhook redelivered, a poller reading the same run or alarm)
// would add an alert or repeat its notes. An alarm incident opened just before the
// pipeline incident that explains it is folded into it meanwhile.
func (e *e2e) wantSettled(n, rounds int, pollers ...string) {
	e.t.Helper()
	msgs := e.quiet(rounds, pollers...)
	alerts := 0
	for _, m := range msgs {
		if isAlert(m) {
			alerts++
		}
	}
	if alerts != n {
		e.t.Fatalf("got %d alert messages after %d quiet rounds of %v, want %d:\n%s", alerts, rounds, pollers, n, e.sb.Slack.Transcript(sandboxChannel))
	}
	for _, d := range repeatedNotes(msgs) {
		e.t.Error(d)
	}
}

// repeatedNotes describes each thread note posted more than once: the same text in
// one thread.
func repeatedNotes(msgs []slackfake.Message) []string {
	type note struct{ thread, text string }
	seen := map[note]int{}
	var order []note
	for _, m := range msgs {
		if m.Ephemeral || m.ThreadTS == "" || m.ThreadTS == m.TS {
			continue
		}
		k := note{m.ThreadTS, m.Text}
		if seen[k] == 0 {
			order = append(order, k)
		}
		seen[k]++
	}
	var out []string
	for _, k := range order {
		if n := seen[k]; n > 1 {
			out = append(out, fmt.Sprintf("thread %s: got a note %d times, want once: %.200q", k.thread, n, k.text))
		}
	}
	return out
}

// posted is what medic has written in the channel for everyone (ephemerals aside):
// its messages (alerts, notes, answers) and their edits.
type posted struct{ messages, edits int }

func channelPosts(s *slackfake.Server) posted {
	var p posted
	for _, m := range s.Messages(sandboxChannel) {
		if !m.Ephemeral {
			p.messages++
			p.edits += m.Updates
		}
	}
	return p
}

// pollRounds returns how many rounds of poller ("runs", "alarms", "jobs", "escalation",
// "requests") medic has finished, whatever their outcome (medic_poll_rounds_total).
func (e *e2e) pollRounds(poller string) float64 {
	e.t.Helper()
	v, err := metricSum(e.app.metricsAddr(), "medic_poll_rounds_total", `poller="`+poller+`"`)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// jobsRound and requestsRound are how often medic looks for dead jobs and expired
// requests (app.run); escalationTick is the escalation's.
const (
	jobsRound     = 5 * time.Second
	requestsRound = 15 * time.Second
)

// roundInterval is how often medic runs poller's rounds.
func (e *e2e) roundInterval(poller string) time.Duration {
	e.t.Helper()
	switch poller {
	case "runs":
		return *e.cfg.Pipeline.PollInterval
	case "alarms":
		return *e.cfg.Pipeline.AlarmPollInterval
	case "jobs":
		return jobsRound
	case "escalation":
		return escalationTick
	case "requests":
		return requestsRound
	}
	e.t.Fatalf("no poller %q", poller)
	return 0
}

// quiet waits until medic posts and edits nothing in the channel (ephemerals aside)
// for rounds whole rounds of each of pollers begun after its last post, and returns
// the channel's messages then. When e's tickers are the test's (withTickers) it makes
// the rounds happen by advancing them; otherwise medic's own tickers do.
func (e *e2e) quiet(rounds int, pollers ...string) []slackfake.Message {
	e.t.Helper()
	var counters []func() float64
	for _, p := range pollers {
		counters = append(counters, func() float64 { return e.pollRounds(p) })
	}
	var tick func()
	if e.ticks != nil {
		tick = func() { e.tick(pollers...) }
	}
	return quietFor(e.t, e.sb.Slack, rounds, pollers, counters, tick, 30*time.Second+time.Duration(rounds+2)*e.step(pollers))
}

// step is the longest round interval of pollers.
func (e *e2e) step(pollers []string) time.Duration {
	e.t.Helper()
	var step time.Duration
	for _, p := range pollers {
		step = max(step, e.roundInterval(p))
	}
	return step
}

// tick makes a round of each of pollers happen: it advances medic's ticker clock (e
// needs withTickers) by the longest of their intervals and waits until each has
// finished a round since. A leader's poller skips a tick while its replica does not
// lead yet: the clock is advanced again after a second without a round.
func (e *e2e) tick(pollers ...string) {
	e.t.Helper()
	before := make([]float64, len(pollers))
	for i, p := range pollers {
		before[i] = e.pollRounds(p)
	}
	e.ticks.Advance(e.step(pollers))
	deadline, again := time.Now().Add(20*time.Second), time.Now().Add(time.Second)
	for i, p := range pollers {
		for e.pollRounds(p) <= before[i] {
			if time.Now().After(deadline) {
				e.t.Fatalf("no %s round within 20s of its tick", p)
			}
			if time.Now().After(again) {
				e.ticks.Advance(e.step(pollers))
				again = time.Now().Add(time.Second)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// quietFor is quiet over counters, one per poller named in pollers (each counts the
// poller's finished rounds): it waits until the channel of s shows no new post or edit
// while every counter moves rounds+1 past its value at the last post (a round under
// way then may have begun before it). tick, when set, makes the next rounds happen.
// It fails t when medic is not quiet so long within the given time.
func quietFor(t *testing.T, s *slackfake.Server, rounds int, pollers []string, counters []func() float64, tick func(), within time.Duration) []slackfake.Message {
	t.Helper()
	if len(counters) == 0 {
		t.Fatal("quiet needs a poller whose rounds measure it")
	}
	read := func() []float64 {
		out := make([]float64, len(counters))
		for i, c := range counters {
			out[i] = c()
		}
		return out
	}
	deadline := time.Now().Add(within)
	last, from, changes := channelPosts(s), read(), 0
	for {
		done := true
		for i, v := range read() {
			done = done && v >= from[i]+float64(rounds+1)
		}
		if now := channelPosts(s); now != last {
			last, from = now, read()
			changes++
		} else if done {
			return s.Messages(sandboxChannel)
		}
		if time.Now().After(deadline) {
			t.Fatalf("medic never stayed quiet for %d rounds of %v within %s: %d posts or edits meanwhile (now %d messages, %d edits); the transcript's end:\n%s",
				rounds, pollers, within, changes, last.messages, last.edits, lastBytes(s.Transcript(sandboxChannel), 6000))
		}
		if tick != nil {
			tick()
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func isAlert(m slackfake.Message) bool {
	return !m.Ephemeral && m.ThreadTS == "" && strings.Contains(string(m.Blocks), "Runbook: ") && !strings.Contains(string(m.Blocks), "Merged into")
}

// waitAlert waits until an alert whose rendered text contains every want is posted or
// updated to say so, and returns its text.
func (e *e2e) waitAlert(wants ...string) (slackfake.Message, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := e.sb.Slack.WaitForMessage(ctx, func(m slackfake.Message) bool {
		if !isAlert(m) {
			return false
		}
		// Case-insensitive: the transcript renders headers in capitals.
		text := strings.ToLower(slackfake.Render(m))
		for _, w := range wants {
			if !strings.Contains(text, strings.ToLower(w)) {
				return false
			}
		}
		return true
	})
	if err != nil {
		e.t.Fatalf("no alert saying %q: %v\ntranscript:\n%s", wants, err, e.sb.Slack.Transcript(sandboxChannel))
	}
	return m, slackfake.Render(m)
}

// unexpectedNotes matches each note to the first of notes, then of mayNotes, whose
// text it shows, and describes the notes matching none, and the expected ones shown by
// no note, or by more than one.
func unexpectedNotes(thread []slackfake.Message, notes, mayNotes []string) []string {
	want := append(slices.Clone(notes), mayNotes...)
	got := make([]int, len(want))
	var out []string
	for _, m := range thread {
		text := slackfake.Render(m)
		i := slices.IndexFunc(want, func(w string) bool { return strings.Contains(text, w) })
		if i < 0 {
			out = append(out, fmt.Sprintf("a thread note shows none of %q: %.200q", want, text))
			continue
		}
		got[i]++
	}
	for i, w := range want {
		if n := got[i]; n > 1 || n == 0 && i < len(notes) {
			out = append(out, fmt.Sprintf("thread notes showing %q: got %d, want 1", w, n))
		}
	}
	return out
}

// plantedSecrets are credentials the sandbox plants where medic reads: the health
// endpoints' API keys and the secret values of Secrets Manager ("sbx-…"), and an AWS
// key pair in the prod dashboard's debug dump.
var plantedSecrets = []string{"sbx-", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}

// plantedSecretsIn searches every version of every message for plantedSecrets and
// describes each find.
func plantedSecretsIn(msgs []slackfake.Message) []string {
	var out []string
	for _, m := range msgs {
		versions := append([]slackfake.Version{{Text: m.Text, Blocks: m.Blocks}}, m.History...)
		for i, v := range versions {
			text := v.Text + "\n" + string(v.Blocks)
			for _, s := range plantedSecrets {
				if strings.Contains(text, s) {
					out = append(out, fmt.Sprintf("message %s (version %d of %d) shows the planted secret %q:\n%s", m.TS, len(versions)-i, len(versions), s,
						slackfake.Render(slackfake.Message{Text: v.Text, Blocks: v.Blocks})))
				}
			}
		}
	}
	return out
}

// alertCase is what the alert of one sandbox case must show.
type alertCase struct {
	name    string
	webhook bool // the case has webhook deliveries; stuck runs and alarms are seen by pollers only
	header  string
	shows   []string
	buttons []string
	// notes are the thread notes the alert promises, one string each note must show;
	// mayNotes notes that may come too, once at most: the rollback starting, which a
	// poller reading the finished run never sees, and the firing alarm's note. medic
	// drops either when its signal is handled after the incident opened but before
	// its alert was posted (recovery's postNotes: "the alert has not been posted").
	notes, mayNotes []string
	// dump: a note shows the dashboard's debug dump (the sandbox plants an API key and
	// an AWS key pair in it), redacted.
	dump bool
}

var alertCases = []alertCase{
	{name: "dev-tests-fail-main", webhook: true, header: "LOW · dev · Dev tests failed",
		shows:   []string{"Scenario 1", "Failing tests", "test_sentiment_score_bounds", "Failed step", "Tests (Dev)", "Commit"},
		buttons: []string{"Re-run failed jobs", "View logs", "Acknowledge"},
		notes:   []string{"*Log excerpt*"}},
	{name: "dev-tests-fail", webhook: true, header: "LOW · dev · Checks failed on PR #1 by praman",
		shows:   []string{"Not a trusted run: it was started by a pull_request event", "Failing tests", "test_sentiment_score_bounds", "Failed step", "Tests (Dev)", "Commit"},
		buttons: []string{"Re-run failed jobs", "View logs"},
		notes:   []string{"*Log excerpt*"}},
	{name: "preprod-deploy-fail", webhook: true, header: "MEDIUM · preprod · Preprod deployment failed",
		shows:   []string{"Scenario 2", "Terraform error", "Error acquiring the state lock", "Likely cause: state lock held", "Environment resources", "preprod-sentiment-items", "preprod-sentiment-analysis"},
		buttons: []string{"Revert commit", "Terraform plan (preprod)", "Force-unlock", "Re-run", "Destroy & recreate"},
		notes:   []string{"*Terraform error*"}},
	{name: "preprod-tests-fail", webhook: true, header: "MEDIUM · preprod · Preprod integration tests failed",
		shows:   []string{"Scenario 3", "Failing tests", "Test results", "preprod-test-results-", "Environment resources", "Secrets", "preprod/sentiment-analyzer/newsapi: readable"},
		buttons: []string{"Revert commit", "Re-run", "Clean test data", "View artifacts"},
		notes:   []string{"*Log excerpt*"}},
	{name: "prod-deploy-fail", webhook: true, header: "HIGH · prod · Production deployment failed",
		shows:   []string{"Scenario 4", "Auto-rollback", "Rollback on Failure in progress", "Lambda functions", "prod-sentiment-dashboard", "Terraform error", "Last known good", "Likely cause: a concurrent update of the resource is in progress"},
		buttons: []string{"Roll back to last good", "Verify", "Page on-call"},
		notes:   []string{"*Terraform error*", "Automatic rollback started"}},
	{name: "canary-fail", webhook: true, header: "CRITICAL · prod · Production canary failed",
		shows:    []string{"Scenario 5", "Health endpoint", "HTTP 503", "Alarms in ALARM", "prod-dashboard-errors", "ERROR logs", "prod-sentiment-dashboard: ", "Auto-rollback"},
		buttons:  []string{"Roll back to last good", "Verify", "Page on-call"},
		notes:    []string{"*ERROR events, last 10 minutes*", "Automatic rollback started"},
		mayNotes: []string{":rotating_light: prod-dashboard-errors"}, dump: true},
	{name: "rollback-fail", webhook: true, header: "CRITICAL · prod · Production rollback failed",
		shows:   []string{"Scenario 6", "Lambda functions", "Failed", "Known good deploys", "Terraform lock table", "held by", "Alarms in ALARM"},
		buttons: []string{"Emergency Terraform rollback", "Force Lambda update", "Page senior engineer", "Data corruption risk"},
		notes: []string{"*ERROR events, last 10 minutes*", "*Terraform error*",
			"Escalation now follows *Prod fail (auto-rollback fails)*", "Escalated: Production canary failed", "*Paging senior engineer* (page 1)"},
		mayNotes: []string{"Automatic rollback started", ":rotating_light: prod-dashboard-errors"}, dump: true},
	{name: "workflow-stuck", header: "MEDIUM · preprod · Workflow stuck",
		shows:   []string{"Run progress", "in progress for 4", "Current job: Preprod Integration Tests"},
		buttons: []string{"Cancel run", "Re-run"}},
	{name: "state-lock", webhook: true, header: "preprod · Terraform state lock held",
		shows:   []string{"State lock", "Lock ID (holder): ", "Terraform lock table"},
		buttons: []string{"Force-unlock"}},
	{name: "secrets-inaccessible", webhook: true, header: "preprod · Secrets not accessible",
		shows:   []string{"Secret errors", "AccessDeniedException on preprod/sentiment-analyzer/newsapi", "Secrets under the prefix", "Deployer's Secrets Manager permissions", "secretsmanager:", "No statement lets sentiment-analyzer-preprod-deployer read secrets under preprod/"},
		buttons: []string{"Acknowledge"}},
	{name: "alarm-wont-clear", header: "HIGH · prod · Alarm won't clear",
		shows:   []string{"prod-analysis-errors", "Alarm history", "Health endpoint"},
		buttons: []string{"Set alarm OK", "Verify"}},
}

func TestAlertsFromEveryCase(t *testing.T) {
	for _, ac := range alertCases {
		for _, via := range []string{"webhook", "poll"} {
			if via == "webhook" && !ac.webhook {
				continue
			}
			t.Run(ac.name+"/"+via, func(t *testing.T) {
				opts := []any{withPolling(50*time.Millisecond, 50*time.Millisecond)}
				var e *e2e
				if via == "webhook" {
					// The pollers' rounds run when the test moves their clock (and
					// once at start, before the failure): the alert comes from the
					// webhook, and the rounds after it read the same run again.
					opts = append(opts, withTickers{c: recoverytest.NewClock(time.Now())})
					e, _ = mustStartStaged(t, "", opts...)
					st := e.stage(ac.name)
					if len(st.Deliveries) == 0 {
						t.Fatal("the case has no webhook deliveries")
					}
					e.deliver(st)
				} else {
					e, _ = mustStartStaged(t, ac.name, opts...)
				}
				m, text := e.waitAlert(ac.header)
				wantContains(t, text, ac.shows...)
				for _, b := range ac.buttons {
					wantContains(t, text, "[ "+b)
				}
				wantContains(t, text, "[ Refresh diagnostics")
				// The thread is complete (every note the alert promises, after a round
				// of both pollers) and quiet (nothing posted for rounds of both
				// pollers) before it is searched.
				if e.ticks != nil {
					e.tick("runs", "alarms")
				}
				for _, n := range ac.notes {
					e.threadMessage(m, n)
				}
				e.wantSettled(1, 2, "runs", "alarms")
				thread := e.sb.Slack.Thread(sandboxChannel, m.TS)
				for _, p := range unexpectedNotes(thread[1:], ac.notes, ac.mayNotes) {
					t.Errorf("%s\n%s", p, e.sb.Slack.Transcript(sandboxChannel))
				}
				for _, l := range plantedSecretsIn(thread) {
					t.Error(l)
				}
				if ac.dump {
					shown := false
					for _, n := range thread {
						r := slackfake.Render(n)
						shown = shown || strings.Contains(r, "context for debugging") && strings.Contains(r, "X-API-Key: [REDACTED")
					}
					if !shown {
						t.Errorf("no note shows the debug dump redacted (X-API-Key: [REDACTED…]): the search for its secrets proves nothing:\n%s", e.sb.Slack.Transcript(sandboxChannel))
					}
				}
			})
		}
	}
}

// TestOneAlertPerIncident delivers every webhook twice, lets the poller see the same
// run, restarts medic on the same store, and expects one alert message, updated in
// place when the rollback result arrives after the restart.
func TestOneAlertPerIncident(t *testing.T) {
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	dir := t.TempDir()
	cfg, err := sandboxConfig(sb, dir)
	if err != nil {
		t.Fatal(err)
	}
	fast := 50 * time.Millisecond
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &fast, &fast
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, nil), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	e := &e2e{sandboxed: d, t: t}
	c, _ := sandbox.CaseByName("canary-fail")
	st, err := c.Stage(sb, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range e.deliver(st) {
		if status, err := sb.GitHub.Redeliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, id); err != nil || status != http.StatusOK && status != http.StatusAccepted {
			t.Fatalf("redelivery %s: %d %v", id, status, err)
		}
	}
	first, _ := e.waitAlert("Production canary failed", "Auto-rollback running")
	// The pollers read the same run and alarms again, round after round: nothing is
	// posted again, alert or note.
	e.wantSettled(1, 3, "runs", "alarms")
	if err := d.close(); err != nil {
		t.Fatal(err)
	}

	// The rollback finishes while medic is down; the restarted medic's poller finds it.
	if err := sandbox.FinishRollback(sb, st, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	d2, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, nil), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d2.close() })
	e2 := &e2e{sandboxed: d2, t: t}
	m, text := e2.waitAlert("Production canary failed", "Auto-rollback succeeded")
	if m.TS != first.TS {
		t.Errorf("after restart the alert was posted again (ts %s), want the first message (ts %s) updated", m.TS, first.TS)
	}
	wantContains(t, text, "prod back on")
	note, err := sb.Slack.WaitForMessage(mustCtx(t), func(m slackfake.Message) bool {
		return m.ThreadTS == first.TS && strings.Contains(m.Text, "Automatic rollback succeeded")
	})
	if err != nil {
		t.Fatalf("the thread does not tell of the rollback: %v\n%s", err, sb.Slack.Transcript(sandboxChannel))
	}
	wantContains(t, slackfake.Render(note), "Verification re-run: :white_check_mark: health endpoint 200; no alarm in ALARM")
	e2.wantSettled(1, 3, "runs", "alarms")
}

func TestWebhookRefusals(t *testing.T) {
	e := mustStart(t)
	st := e.stage("canary-fail")
	post := func(body, sig, event string) int {
		req, _ := http.NewRequest(http.MethodPost, e.webhookURL(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("d-%d", time.Now().UnixNano()))
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(`{"action":"completed"}`, "sha256=00", "workflow_run"); code != http.StatusUnauthorized {
		t.Errorf("bad signature: got %d, want 401", code)
	}
	if code := post(`{"action":"completed"}`, "", "workflow_run"); code != http.StatusUnauthorized {
		t.Errorf("no signature: got %d, want 401", code)
	}
	bad := `{"action":"completed","workflow_run":`
	if code := post(bad, sign(bad), "workflow_run"); code != http.StatusBadRequest {
		t.Errorf("malformed JSON: got %d, want 400", code)
	}
	// A workflow medic does not watch is acknowledged and ignored.
	other, err := sandbox.UnwatchedRunEvent(e.sb, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, status, err := e.sb.GitHub.Deliver(mustCtx(t), e.webhookURL(), sandboxWebhookSecret, "workflow_run", other); err != nil || status != http.StatusAccepted {
		t.Errorf("unwatched workflow: got %d %v, want 202", status, err)
	}
	// medic keeps working: the real deliveries still make an alert.
	e.deliver(st)
	e.waitAlert("Production canary failed")
}

func TestAlertSurvivesATimingOutDiagnostic(t *testing.T) {
	e := mustStart(t, func(_ *sandbox.World, cfg *config.Config) { cfg.Pipeline.DiagnosticTimeout = 300 * time.Millisecond })
	e.sb.Faults.Set("logs:FilterLogEvents", fault.Rule{Hang: true})
	e.sb.Faults.Set("health:prod", fault.Rule{Err: &fault.Error{Status: 500, Code: "InternalError", Message: "boom"}})
	e.deliver(e.stage("canary-fail"))
	_, text := e.waitAlert("Production canary failed")
	wantContains(t, text, "ERROR logs (last 10 minutes)", "no answer within 300ms", "HTTP 500", "Alarms in ALARM", "prod-dashboard-errors")
}

// sign computes GitHub's X-Hub-Signature-256 for body with the sandbox's secret.
func sign(body string) string {
	m := hmac.New(sha256.New, []byte(sandboxWebhookSecret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func incidentOf(t *testing.T, m slackfake.Message) string {
	t.Helper()
	id := incidentIDOf(m)
	if id == "" {
		t.Fatalf("no incident ID in %s", m.Blocks)
	}
	return id
}

func TestAlertButtons(t *testing.T) {
	e := mustStart(t)
	e.deliver(e.stage("canary-fail"))
	alert, _ := e.waitAlert("Production canary failed")

	// A button that changes prod becomes a request that waits for a second person.
	got := e.press(alert, userAlice, "action:rollback")
	wantContains(t, got, "Requested Roll back to last good on prod", "an approver other than you must approve it")

	got = e.press(alert, "U0CAROL", "action:verify")
	wantContains(t, got, "Verification posted")
	e.threadMessage(alert, "Verification requested by <@U0CAROL>", "health endpoint answered 503", "in ALARM: prod-dashboard-errors")

	// Only responders acknowledge: it stops the escalation.
	got = e.press(alert, userMallory, "action:ack")
	wantContains(t, got, "You need the *responder* role for prod to acknowledge an incident")
	got = e.press(alert, userCarol, "action:ack")
	wantContains(t, got, "You acknowledged")
	_, text := e.waitAlert("Production canary failed", "Acknowledged by <@U0CAROL>")
	if strings.Contains(text, "[ Acknowledge") {
		t.Errorf("Acknowledge still offered after acknowledgement:\n%s", text)
	}
	e.threadMessage(alert, "Acknowledged by <@U0CAROL>")
	got = e.press(alert, "U0ERIN", "action:refresh")
	wantContains(t, got, "Diagnostics refreshed")

	wantContains(t, e.audit(incidentOf(t, alert)), "medic:incident.opened", "medic:incident.alerted", "U0ALICE:request.created", "U0CAROL:action.verify", "U0MALLORY:refused", "U0CAROL:action.ack", "U0CAROL:incident.acknowledged", "U0ERIN:action.refresh")
}

// TestAlertFirstPostedLaterKeepsItsThread: Slack fails every post for a while (a
// 500, not retried by slack-go); with the pollers off (a webhook-only install) medic
// tries the signals again with backoff, and the alert then posted carries the thread
// details it promises.
func TestAlertFirstPostedLaterKeepsItsThread(t *testing.T) {
	e, st := mustStartStaged(t, "dev-tests-fail-main")
	e.sb.Faults.Set("slack:chat.postMessage", fault.Rule{Err: &fault.Error{Status: 500, Code: "internal_error", Message: "internal error"}})
	e.deliver(st)
	// Wait until the deliveries' first attempts are over: the calls stop for a second
	// (the first retry comes 2s after a failure).
	deadline := time.Now().Add(10 * time.Second)
	last, since := 0, time.Now()
	for {
		n := e.sb.Faults.Calls("slack:chat.postMessage")
		if n != last {
			last, since = n, time.Now()
		}
		if n > 0 && time.Since(since) > time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("medic's attempts to post the alert did not settle (%d calls)", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if alerts := e.alerts(); len(alerts) != 0 {
		t.Fatalf("an alert was posted while Slack refused every post: %d", len(alerts))
	}
	e.sb.Faults.Clear("slack:chat.postMessage")
	alert, _ := e.waitAlert("Dev tests failed")
	e.threadMessage(alert, "Log excerpt", "FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds")
}

// TestOutsideNamesRenderAsText: a commit subject written to ping the channel and to
// fake an Approve link shows as text in the alert (bot's TestOutsideTextCannotSpeakForMedic
// covers thread notes).
func TestOutsideNamesRenderAsText(t *testing.T) {
	const hostile = "<!channel> <https://evil.example|Approve REQ-1>"
	e, st := mustStartStaged(t, "canary-fail")
	if err := e.sb.GitHub.UpdateRun(st.RunID, func(r *githubfake.Run) { r.HeadCommit.Message, r.DisplayTitle = hostile, hostile }); err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Deliveries {
		if ev, ok := d.Payload.(*github.WorkflowRunEvent); ok && ev.WorkflowRun != nil && ev.WorkflowRun.HeadCommit != nil {
			ev.WorkflowRun.HeadCommit.Message, ev.WorkflowRun.DisplayTitle = github.String(hostile), github.String(hostile)
		}
	}
	e.deliver(st)
	alert, _ := e.waitAlert("Production canary failed", "Approve REQ-1")
	for what, m := range map[string]slackfake.Message{"alert": alert} {
		raw := m.Text + "\n" + strings.Join(blockStrings(t, m), "\n")
		if strings.Contains(raw, "<!channel>") || strings.Contains(raw, "<https://evil") {
			t.Errorf("the %s renders outside text as markup:\n%s", what, raw)
		}
		if !strings.Contains(raw, "&lt;!channel&gt;") {
			t.Errorf("the %s does not show the name as text:\n%s", what, raw)
		}
	}
}

// blockStrings returns every string of a message's blocks as Slack received it
// (mrkdwn unrendered).
func blockStrings(t *testing.T, m slackfake.Message) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(m.Blocks, &v); err != nil {
		t.Fatalf("blocks of %s: %v", m.TS, err)
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
