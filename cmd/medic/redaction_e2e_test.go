package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/internal/testenv"
	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/githubfake"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// TestPlantedSecretsLeaveNoExit plants a distinct credential of every common shape in
// every outside text medic reads: the failed jobs' logs (a Terraform error, and a test
// log with a long key whose BEGIN line is far above the error), the run's head commit,
// the health endpoint's body, the firing alarm's state reason, the Lambda function's
// state reason and ERROR log events, and an AWS error Terraform reports. It drives the
// incident as people would (the alerts, Refresh, Verify, View logs, /status, the
// automatic rollback failing, paging, an emergency Terraform rollback that fails,
// resolving, filing the follow-up issue, /incident show), stops medic, and searches
// every exit for every credential: each Slack request as it left medic and each
// message version, view and ack Slack kept, each GitHub write and issue, each
// PagerDuty event, each AWS write, every log line, and every row of every table of the
// store.
func TestPlantedSecretsLeaveNoExit(t *testing.T) {
	d := startRedactionDrill(t)
	e := d.e
	p := newPlantations()

	// The failure happened while medic was away; its traces carry credentials.
	d.plantCommit(p.commit.text)
	e.sb.SetHealth("prod", 503, p.health.text)
	d.plantAlarm("prod-dashboard-errors", p.alarm.text)
	now := time.Now().UTC()
	e.sb.AWS.PutLogEvent("/aws/lambda/prod-sentiment-dashboard", now.Format("2006/01/02")+"/[$LATEST]5f0c2a9e7d31b468", now.Add(-time.Minute),
		"[ERROR]\t"+now.Add(-time.Minute).Format("2006-01-02T15:04:05.000Z")+"\t3e1f9c52-8a7d-4b60-9e21-5d0c7a4f2b18\t"+p.lambdaLog.text)

	// The alarm poller sees the alarm first; then GitHub reports the canary failure,
	// whose incident takes the alarm's incident in.
	if err := e.app.alarmPoller.Poll(mustCtx(t)); err != nil {
		t.Fatalf("alarm poll: %v", err)
	}
	e.waitAlert("Alarm firing", "prod-dashboard-errors", "witness-alarm")
	e.deliver(d.st)
	alert, _ := e.waitAlert("Production canary failed", "witness-health", "witness-commit")
	incident := d.recorded(alert)
	e.threadMessage(alert, "witness-lambdalog")

	// People look closer.
	wantContains(t, e.press(alert, userCarol, "action:refresh"), "Diagnostics refreshed")
	wantContains(t, e.press(alert, userCarol, "action:verify"), "Verification posted")
	e.threadMessage(alert, "Verification requested by <@U0CAROL>")

	// The unit tests fail on main too; their log prints a long key whose BEGIN line is
	// far above the error, where a 40- or 60-line excerpt starts inside the key.
	tests := d.failTestsOnMain(p.testsLog.text)
	wantContains(t, e.press(tests, userCarol, "action:view-logs"), "The log excerpt is in the alert's thread")
	e.threadMessage(tests, "Log of Tests (Dev), requested by <@U0CAROL>", "witness-testslog")

	// The pipeline's own rollback fails on an AWS error and leaves the dashboard Failed.
	d.failRollback(p.rollbackLog.text, p.lambdaState.text)
	alert, _ = e.waitAlert("Production rollback failed", "witness-lambdastate")
	d.recorded(alert)
	e.threadMessage(alert, "*Terraform error*", "witness-rollbacklog")

	e.command(userCarol, sandboxChannel, "/status", "prod")
	e.waitMessage("prod status", statusOf("prod"))
	// medic paged the senior engineer itself when the rollback failed (Slack and
	// PagerDuty); the button is answered without paging again.
	e.press(alert, userCarol, "action:page-senior")
	e.settle()

	// An emergency Terraform rollback, approved, fails on an AWS error quoting
	// credentials.
	if e.cfg.Terraform.Bin != "" {
		e.openForm(alert, userAlice, "action:emergency-rollback")
		if ack := e.submitForm(userAlice, map[string]string{}); len(ack.Payload) != 0 {
			t.Fatalf("the emergency rollback's form was refused: %s", ack.Payload)
		}
		req := e.threadMessage(alert, "requests *Emergency Terraform rollback*", "[ Approve")
		e.sb.Faults.Set("s3:PutObject", fault.Rule{Err: &fault.Error{Status: http.StatusForbidden, Code: "AccessDenied", Message: p.terraform.text}})
		wantContains(t, e.press(req, userBob, "approve:request"), "You approved")
		e.threadMessage(alert, "failed at step 2 (terraform apply of the approved plan")
		e.threadMessage(alert, "Failed to save state", "witness-terraform")
		e.sb.Faults.Clear("s3:PutObject")
	} else if testenv.CI() {
		missingTerraform(t)
	} else {
		t.Log("no terraform >= 1.4: the Terraform error is not planted (run `make tools`)")
	}

	// Resolved, with its report filed as the follow-up issue.
	before := e.ephemeralCount(userAlice)
	e.command(userAlice, sandboxChannel, "/incident", "resolve "+incident+" rolled back by hand")
	wantContains(t, e.nextEphemeral(userAlice, before), "You resolved "+incident)
	report := e.threadMessage(alert, "Incident report of "+incident, "[ Create GitHub issue")
	e.press(report, userAlice, "action:create-issue")
	e.threadMessage(alert, "Follow-up issue #1 filed by <@U0ALICE>")
	before = e.ephemeralCount(userCarol)
	e.command(userCarol, sandboxChannel, "/incident", "show "+incident)
	wantContains(t, e.nextEphemeral(userCarol, before), incident)

	// Everything medic writes is written once the channel is quiet (nothing posted or
	// edited for rounds of its escalation and job timers) and medic stopped; then every
	// exit is read.
	e.quiet(2, "escalation", "jobs")
	if err := e.close(); err != nil {
		t.Fatalf("medic stopped with: %v", err)
	}
	exits := d.exits()
	sources := p.all(e.cfg.Terraform.Bin != "")

	// Not vacuous: the alerts and their threads were posted, the issue filed, every
	// kind of exit written, every source read and shown in Slack, and redaction at
	// work.
	if len(e.alerts()) < 2 || len(e.sb.Slack.Thread(sandboxChannel, alert.TS)) < 10 {
		t.Errorf("the alerts and their threads were not posted:\n%s", e.sb.Slack.Transcript(sandboxChannel))
	}
	if n := len(e.sb.GitHub.Issues()); n != 1 {
		t.Errorf("got %d follow-up issues, want 1", n)
	}
	counts := map[string]int{}
	for _, x := range exits {
		counts[x.kind]++
	}
	for _, k := range []string{"Slack request", "Slack message", "GitHub", "PagerDuty", "log", "store"} {
		if counts[k] == 0 {
			t.Errorf("no %s exit was recorded (exits: %v)", k, counts)
		}
	}
	redacted := false
	for _, x := range exits {
		redacted = redacted || strings.HasPrefix(x.kind, "Slack") && strings.Contains(x.text, "[REDACTED")
	}
	if !redacted {
		t.Error("no Slack write shows a redaction marker ([REDACTED…])")
	}
	for _, src := range sources {
		if !shownInSlack(exits, src.witness) {
			t.Errorf("source %s: no Slack write shows its text (%q): was it read?", src.name, src.witness)
		}
	}

	leaks := findLeaks(exits, sources)
	for _, l := range leaks {
		t.Error(l)
	}
	t.Logf("searched %d exits %v for %d credentials planted in %d sources: %d leaked",
		len(exits), counts, countSecrets(sources), len(sources), len(leaks))
}

// redactionDrill is medic on a sandbox with the canary failure staged (not yet
// delivered) and prod's Terraform state in S3, so that Terraform talks to AWS, with
// everything medic logs and every Slack Web API request it sends recorded. medic's
// tickers are the drill's (withTickers): its timers' rounds run when the drill asks.
type redactionDrill struct {
	e     *e2e
	st    sandbox.Staged
	log   *logCapture
	slack *slackRecorder
	// store is the path of medic's SQLite store.
	store string
	// commit is the planted head commit message.
	commit string
}

// startRedactionDrill is mustStartStaged("canary-fail", withS3Backend) with medic's
// log and its Slack requests recorded, which mustStartStaged has no option for.
func startRedactionDrill(t *testing.T) *redactionDrill {
	t.Helper()
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	cfg, err := sandboxConfig(sb, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	world := worldFromConfig(cfg)
	withS3Backend(t)(sb, &world, cfg)
	if err := sb.Seed(world); err != nil {
		t.Fatal(err)
	}
	c, _ := sandbox.CaseByName("canary-fail")
	st, err := c.Stage(sb, time.Now())
	if err != nil {
		t.Fatalf("staging canary-fail: %v", err)
	}
	path, ok := strings.CutPrefix(cfg.Store, "sqlite:")
	if !ok {
		t.Fatalf("the store is not SQLite: %s", cfg.Store)
	}
	d := &redactionDrill{st: st, log: &logCapture{}, store: path}
	ext := sandboxExternal(sb, nil)
	ticks := recoverytest.NewClock(time.Now())
	ext.clock = ticks
	d.slack, ext.secrets.SlackAPIURL = recordSlack(t, sb.Slack.URL())
	// Every line, as a log shipper would receive it, besides the test's log.
	capture := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(d.log), zap.DebugLevel)
	logger := zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), capture))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := startSandboxed(ctx, sb, cfg, ext, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.close(); err != nil {
			t.Errorf("medic stopped with: %v", err)
		}
	})
	d.e = &e2e{sandboxed: s, t: t, ticks: ticks}
	return d
}

// recorded waits until medic has recorded alert as its incident's message, so that a
// click on it does not race the first post, and returns the incident's ID.
func (d *redactionDrill) recorded(alert slackfake.Message) string {
	e := d.e
	e.t.Helper()
	incident := incidentOf(e.t, alert)
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := e.app.store.Incident(mustCtx(e.t), incident)
		if err == nil && in.MessageTS == alert.TS {
			return incident
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("medic never recorded the alert of %s: %v", incident, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// plantCommit makes msg the head commit message of the staged run, in the API and in
// its staged webhooks.
func (d *redactionDrill) plantCommit(msg string) {
	d.e.t.Helper()
	d.commit = msg
	subject, _, _ := strings.Cut(msg, "\n")
	if err := d.e.sb.GitHub.UpdateRun(d.st.RunID, func(r *githubfake.Run) {
		r.HeadCommit.Message, r.DisplayTitle = msg, subject
	}); err != nil {
		d.e.t.Fatal(err)
	}
	n := 0
	for _, dl := range d.st.Deliveries {
		if ev, ok := dl.Payload.(*github.WorkflowRunEvent); ok && ev.WorkflowRun != nil {
			if ev.WorkflowRun.HeadCommit == nil {
				ev.WorkflowRun.HeadCommit = &github.HeadCommit{}
			}
			ev.WorkflowRun.HeadCommit.Message = github.String(msg)
			ev.WorkflowRun.DisplayTitle = github.String(subject)
			n++
		}
	}
	if n == 0 {
		d.e.t.Fatal("the staged case has no workflow_run delivery to carry the commit")
	}
}

// plantAlarm makes reason the state reason of a firing alarm.
func (d *redactionDrill) plantAlarm(name, reason string) {
	d.e.t.Helper()
	a, ok := d.e.sb.AWS.Alarm(name)
	if !ok || a.State != "ALARM" {
		d.e.t.Fatalf("alarm %s is not in ALARM: %+v", name, a)
	}
	a.Reason = reason
	d.e.sb.AWS.SetAlarm(a)
}

// failTestsOnMain reports a failed "Tests (Dev)" run on main, of the planted commit,
// whose job log is log, and returns its alert.
func (d *redactionDrill) failTestsOnMain(log string) slackfake.Message {
	e := d.e
	e.t.Helper()
	run := e.sb.GitHub.AddRun(githubfake.Run{WorkflowFile: "build-and-promote.yml", HeadBranch: "main", HeadSHA: d.st.HeadSHA,
		Event: "push", Actor: "praman", Conclusion: "failure",
		HeadCommit: githubfake.HeadCommit{Message: d.commit, Author: githubfake.Person{Name: "Priya Raman", Login: "praman"}}})
	job := e.sb.GitHub.AddJob(run.ID, githubfake.Job{Name: recovery.JobTestsDev, Conclusion: "failure", Log: log,
		Steps: []githubfake.Step{{Name: "Set up job", Conclusion: "success"}, {Name: "Run unit tests", Conclusion: "failure"}}})
	d.deliverCompleted(job.ID, run.ID)
	alert, _ := e.waitAlert("Dev tests failed", "witness-testslog")
	d.recorded(alert)
	return alert
}

// failRollback ends the staged run's rollback job in failure with log, and leaves the
// dashboard function Failed for reason.
func (d *redactionDrill) failRollback(log, reason string) {
	e := d.e
	e.t.Helper()
	if err := sandbox.FinishRollback(e.sb, d.st, false, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	var rollback int64
	for _, j := range e.sb.GitHub.Jobs(d.st.RunID) {
		if j.Name == recovery.JobRollback {
			rollback = j.ID
		}
	}
	if err := e.sb.GitHub.UpdateJob(rollback, func(j *githubfake.Job) { j.Log = log }); err != nil {
		e.t.Fatal(err)
	}
	fn, ok := e.sb.AWS.Function("prod-sentiment-dashboard")
	if !ok {
		e.t.Fatal("no prod-sentiment-dashboard function")
	}
	fn.State, fn.StateReason = "Failed", reason
	e.sb.AWS.PutFunction(fn)
	d.deliverCompleted(rollback, d.st.RunID)
}

// deliverCompleted sends the completed webhooks of a job and then of its run.
func (d *redactionDrill) deliverCompleted(jobID, runID int64) {
	e := d.e
	e.t.Helper()
	job, err := e.sb.GitHub.JobEvent(jobID, "completed")
	if err != nil {
		e.t.Fatal(err)
	}
	run, err := e.sb.GitHub.RunEvent(runID, "completed")
	if err != nil {
		e.t.Fatal(err)
	}
	e.deliver(sandbox.Staged{Deliveries: []sandbox.Delivery{{Event: "workflow_job", Payload: job}, {Event: "workflow_run", Payload: run}}})
}

// A leakExit is one thing medic wrote out, as the text a person or a system reads
// from it.
type leakExit struct {
	kind, name, text string
}

// exits collects everything medic wrote. Call it once medic stopped.
func (d *redactionDrill) exits() []leakExit {
	e := d.e
	e.t.Helper()
	var out []leakExit
	add := func(kind, name, text string) { out = append(out, leakExit{kind, name, text}) }
	for i, c := range d.slack.calls() {
		add("Slack request", fmt.Sprintf("Slack request %d (%s)", i+1, c.method), decodedText(c.body, c.form))
	}
	for _, m := range allMessages(e.sb.Slack) {
		where := fmt.Sprintf("Slack message %s/%s %q (%s)", m.Channel, m.TS, exitHeadline(m.Text), m.Via)
		add("Slack message", where, m.Text+"\n"+decodedText(string(m.Blocks), false))
		for i, v := range m.History {
			add("Slack message", fmt.Sprintf("%s, version %d", where, i+1), v.Text+"\n"+decodedText(string(v.Blocks), false))
		}
	}
	for _, v := range e.sb.Slack.Views() {
		add("Slack view", fmt.Sprintf("Slack view %s %q", v.ID, v.Title), v.Title+"\n"+v.PrivateMetadata+"\n"+decodedText(string(v.Blocks), false))
	}
	for _, a := range e.sb.Slack.Acks() {
		if len(a.Payload) > 0 {
			add("Slack ack", "Slack ack of "+a.EnvelopeID, decodedText(string(a.Payload), false))
		}
	}
	for i, m := range e.sb.GitHub.Mutations() {
		add("GitHub", fmt.Sprintf("GitHub write %d (%s %s)", i+1, m.Op, m.Path), decodedText(string(m.Body), false))
	}
	for _, is := range e.sb.GitHub.Issues() {
		add("GitHub", fmt.Sprintf("GitHub issue #%d", is.Number), is.Title+"\n"+is.Body)
	}
	for i, ev := range e.sb.PagerDuty.Events() {
		b, err := json.Marshal(ev)
		if err != nil {
			e.t.Fatal(err)
		}
		add("PagerDuty", fmt.Sprintf("PagerDuty event %d (%s)", i+1, ev.Action), decodedText(string(b), false))
	}
	for i, m := range e.sb.AWS.Mutations() {
		add("AWS", fmt.Sprintf("AWS write %d (%s)", i+1, m.Op), decodedText(m.Input, false))
	}
	for i, line := range strings.Split(d.log.String(), "\n") {
		if line != "" {
			add("log", fmt.Sprintf("log line %d %q", i+1, exitHeadline(line)), decodedText(line, false))
		}
	}
	return append(out, storeRows(e.t, d.store)...)
}

// storeRows reads every row of every table of the SQLite store at path, as text.
func storeRows(t *testing.T, path string) []leakExit {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatalf("listing the store's tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	var out []leakExit
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatalf("reading table %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; rows.Next(); n++ {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, v := range vals {
				if raw, ok := v.([]byte); ok {
					v = string(raw)
				}
				fmt.Fprintf(&b, "%s=%v\n", cols[i], v)
				if s, ok := v.(string); ok {
					b.WriteString(decodedText(s, false) + "\n")
				}
			}
			out = append(out, leakExit{"store", fmt.Sprintf("store table %s row %d", table, n), b.String()})
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("reading table %s: %v", table, err)
		}
		rows.Close()
	}
	return out
}

// allMessages returns every message Slack kept, of every channel and DM.
func allMessages(s *slackfake.Server) []slackfake.Message {
	var out []slackfake.Message
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one pass over what is there, no waiting
	_, _ = s.WaitForMessage(ctx, func(m slackfake.Message) bool {
		out = append(out, m)
		return false
	})
	return out
}

// decodedText is text as written followed by every string in it, decoded: JSON strings
// unescaped (and decoded again when they hold JSON, as blocks in a form do), and the
// values of a form body.
func decodedText(raw string, form bool) string {
	var b strings.Builder
	b.WriteString(raw)
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		switch t := v.(type) {
		case string:
			b.WriteString("\n" + t)
			var inner any
			if depth < 4 && json.Unmarshal([]byte(t), &inner) == nil {
				walk(inner, depth+1)
			}
		case map[string]any:
			for k, x := range t {
				b.WriteString("\n" + k)
				walk(x, depth)
			}
		case []any:
			for _, x := range t {
				walk(x, depth)
			}
		}
	}
	if form {
		if vals, err := url.ParseQuery(raw); err == nil {
			for _, vs := range vals {
				for _, v := range vs {
					walk(v, 0)
				}
			}
		}
	} else {
		var v any
		if json.Unmarshal([]byte(raw), &v) == nil {
			walk(v, 0)
		}
	}
	return b.String()
}

// exitHeadline is the start of the first line of s, to name an exit.
func exitHeadline(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return s
}

// shownInSlack reports whether a Slack write shows witness.
func shownInSlack(exits []leakExit, witness string) bool {
	for _, x := range exits {
		if strings.HasPrefix(x.kind, "Slack") && strings.Contains(x.text, witness) {
			return true
		}
	}
	return false
}

// findLeaks returns, per planted credential found in an exit (whole, or a part of 23
// characters or more of it), one line naming it, its source and where it was found.
func findLeaks(exits []leakExit, sources []plantedSource) []string {
	type key struct{ source, kind string }
	found := map[key][]string{}
	for _, src := range sources {
		for _, s := range src.secrets {
			windows := s.windows()
			for _, x := range exits {
				for _, w := range windows {
					if i := strings.Index(x.text, w); i >= 0 {
						k := key{s.source, s.kind}
						found[k] = append(found[k], fmt.Sprintf("%s: …%s…", x.name, leakContext(x.text, i, len(w))))
						break
					}
				}
			}
		}
	}
	var out []string
	for k, where := range found {
		msg := fmt.Sprintf("LEAK: the %s planted in the %s reached %d exit(s):", k.kind, k.source, len(where))
		for i, w := range where {
			if i == 3 {
				msg += fmt.Sprintf("\n\t… and %d more", len(where)-3)
				break
			}
			msg += "\n\t" + w
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

func leakContext(s string, i, n int) string {
	from, to := max(0, i-50), min(len(s), i+n+30)
	return strings.ReplaceAll(s[from:to], "\n", "⏎")
}

// A plantedSecret is one credential planted in one source: text is how it is written
// there, sensitive the parts of it that must never leave medic.
type plantedSecret struct {
	source, kind string
	text         string
	sensitive    []string
}

// windows are what a leak of p is searched for: every 16-character window of its
// sensitive parts starting at a multiple of 8, and the last one, so that a part of 23
// characters or more of it is found even where a cut or a line break shortened it.
func (p plantedSecret) windows() []string {
	var out []string
	for _, s := range p.sensitive {
		if len(s) <= 16 {
			out = append(out, s)
			continue
		}
		for i := 0; i+16 <= len(s); i += 8 {
			out = append(out, s[i:i+16])
		}
		out = append(out, s[len(s)-16:])
	}
	return out
}

// A plantedSource is an outside text medic reads, planted with one credential of each
// kind, its own.
type plantedSource struct {
	name string
	// witness is a harmless word in the text, to see where the text went.
	witness string
	secrets []plantedSecret
	// text is the source's text as planted.
	text string
}

// plantations are the drill's sources.
type plantations struct {
	commit, health, alarm, lambdaLog, lambdaState, testsLog, rollbackLog, terraform plantedSource
}

func newPlantations() plantations {
	var p plantations
	// The run's head commit: a token in the subject, which alerts and reports show,
	// the others in the body, which the store keeps.
	p.commit = newPlantedSource("commit")
	var body []string
	for _, s := range p.commit.secrets[1:] {
		body = append(body, s.text)
	}
	p.commit.text = "fix(dashboard): witness-commit rotate " + p.commit.secrets[0].sensitive[0] +
		"\n\nThe deploy failed with this environment:\n" + strings.Join(body, "\n")
	// The health endpoint answers with a dump of its configuration.
	p.health = newPlantedSource("health")
	var config []string
	for _, s := range p.health.secrets {
		config = append(config, s.text)
	}
	b, err := json.Marshal(struct {
		Status string   `json:"status"`
		Probe  string   `json:"probe"`
		Config []string `json:"config"`
	}{"unhealthy", "witness-health", config})
	if err != nil {
		panic(err)
	}
	p.health.text = string(b)
	p.alarm = newPlantedSource("alarm")
	p.alarm.text = "witness-alarm Threshold Crossed: 1 out of the last 1 datapoints [12.0] was greater than or equal to the threshold (1.0). Sample error: " + p.alarm.joined(" | ")
	p.lambdaLog = newPlantedSource("lambdalog")
	p.lambdaLog.text = "witness-lambdalog Request failed; context for debugging: " + p.lambdaLog.joined(" ")
	p.lambdaState = newPlantedSource("lambdastate")
	p.lambdaState.text = "witness-lambdastate Lambda was unable to decrypt the environment variables: " + p.lambdaState.joined(" ")
	p.testsLog = newPlantedSource("testslog")
	p.testsLog.text = plantedTestsLog(&p.testsLog)
	p.rollbackLog = newPlantedSource("rollbacklog")
	p.rollbackLog.text = plantedRollbackLog(p.rollbackLog)
	p.terraform = newPlantedSource("terraform")
	p.terraform.text = "witness-terraform Access Denied: the request was signed with " + p.terraform.joined(" ")
	return p
}

// all returns the sources planted (the Terraform error only when Terraform ran).
func (p plantations) all(terraform bool) []plantedSource {
	out := []plantedSource{p.commit, p.health, p.alarm, p.lambdaLog, p.lambdaState, p.testsLog, p.rollbackLog}
	if terraform {
		out = append(out, p.terraform)
	}
	return out
}

func countSecrets(sources []plantedSource) int {
	n := 0
	for _, s := range sources {
		n += len(s.secrets)
	}
	return n
}

func (s plantedSource) joined(sep string) string {
	var parts []string
	for _, p := range s.secrets {
		parts = append(parts, p.text)
	}
	return strings.Join(parts, sep)
}

// newPlantedSource makes one credential of each kind for source name, each in the context
// it is usually found in, none like another source's.
func newPlantedSource(name string) plantedSource {
	g := func(kind string, n int) string { return deriveSecret(name+"/"+kind, n) }
	s := plantedSource{name: name, witness: "witness-" + name}
	add := func(kind, text string, sensitive ...string) {
		s.secrets = append(s.secrets, plantedSecret{source: name, kind: kind, text: text, sensitive: sensitive})
	}
	ghp := "ghp_" + secretAlnum(g("ghp", 36))
	add("GitHub token", "using token "+ghp+" for the checkout", ghp)
	xoxb := "xoxb-" + secretDigits(g("xoxb1", 10)) + "-" + secretDigits(g("xoxb2", 13)) + "-" + secretAlnum(g("xoxb3", 24))
	add("Slack token", "notifying Slack as "+xoxb, xoxb)
	db := "Db" + secretAlnum(g("db", 22))
	add("DB_PASSWORD", "DB_PASSWORD="+db, db)
	pg := "Pg" + secretAlnum(g("pg", 22))
	add("PGPASSWORD", "PGPASSWORD="+pg+" psql -h db.internal -U app", pg)
	akia := "AKIA" + strings.ToUpper(hex.EncodeToString([]byte(g("akia", 8))))
	add("AWS access key ID", "aws_access_key_id = "+akia, akia)
	secret := g("aws-secret", 40)
	add("AWS secret access key", "aws_secret_access_key = "+secret, secret)
	key, lines := pemBlock(name+"/pem", 6)
	add("RSA private key", key, lines...)
	bearer := strings.NewReplacer("+", "-", "/", "_").Replace(g("bearer", 43))
	add("bearer token", "Authorization: Bearer "+bearer, bearer)
	sig := hex.EncodeToString([]byte(g("sig", 32)))
	add("presigned URL signature", "downloading https://prod-sentiment-lambda-deployments.s3.amazonaws.com/dashboard/lambda.zip"+
		"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261207T085900Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature="+sig, sig)
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"sid":"` + secretAlnum(g("jwt-sid", 24)) + `","sub":"` + name + `","exp":1796634127}`))
	jsig := base64.RawURLEncoding.EncodeToString([]byte(g("jwt-sig", 32)))
	// Only the claims' session ID is the source's own: the rest starts or ends alike.
	add("JWT", "session cookie eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."+claims+"."+jsig, claims[12:40], jsig)
	s.text = s.witness + " " + s.joined("\n")
	return s
}

// deriveSecret returns n base64 characters derived from seed.
func deriveSecret(seed string, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s#%d", seed, i)))
		b.WriteString(base64.StdEncoding.EncodeToString(sum[:])[:43])
	}
	return b.String()[:n]
}

func secretAlnum(s string) string {
	return strings.NewReplacer("+", "x", "/", "y").Replace(s)
}

func secretDigits(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteByte('0' + c%10)
	}
	return b.String()
}

// pemBlock returns an RSA private key block of n body lines, and its body lines.
func pemBlock(seed string, n int) (string, []string) {
	var lines []string
	for i := 0; i < n; i++ {
		lines = append(lines, deriveSecret(fmt.Sprintf("%s/%d", seed, i), 64))
	}
	return "-----BEGIN RSA PRIVATE KEY-----\n" + strings.Join(lines, "\n") + "\n-----END RSA PRIVATE KEY-----", lines
}

// runnerLog is lines as the Actions runner writes a job log: each line timestamped.
func runnerLog(lines []string) string {
	at := time.Now().Add(-3 * time.Minute).UTC()
	var b strings.Builder
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			at = at.Add(3 * time.Millisecond)
			fmt.Fprintf(&b, "%s %s\n", at.Format("2006-01-02T15:04:05.0000000Z"), part)
		}
	}
	return b.String()
}

// plantedTestsLog is a failed pytest run: a fixture printed a long key (its BEGIN line some
// 95 lines above the error, its END 25 lines above), and the failing test's captured
// output holds the source's other credentials. The long key is added to s.
func plantedTestsLog(s *plantedSource) string {
	l := []string{"##[group]Run pytest tests/unit -v", "pytest tests/unit -v", "##[endgroup]",
		"============================= test session starts ==============================",
		"platform linux -- Python 3.11.14, pytest-8.3.3, pluggy-1.5.0", "collected 43 items", ""}
	for i := 0; i < 30; i++ {
		l = append(l, fmt.Sprintf("tests/unit/test_models.py::test_case_%02d PASSED                        [%3d%%]", i, 2*i))
	}
	key, lines := pemBlock(s.name+"/far", 70)
	l = append(l, "----------------------------- Captured stdout setup ----------------------------", "loaded signing key:")
	l = append(l, strings.Split(key, "\n")...)
	l = append(l, "=================================== FAILURES ===================================",
		"_________________________ test_sentiment_score_bounds __________________________",
		"E   AssertionError: witness-testslog score 1.0347 out of bounds",
		"----------------------------- Captured stderr call -----------------------------")
	for _, p := range s.secrets {
		l = append(l, strings.Split(p.text, "\n")...)
	}
	l = append(l, "=========================== short test summary info ============================",
		"FAILED tests/unit/test_analysis.py::test_sentiment_score_bounds - AssertionError: witness-testslog score 1.0347 out of bounds",
		"========================= 1 failed, 42 passed in 3.21s =========================",
		"##[error]Process completed with exit code 1.")
	s.secrets = append(s.secrets, plantedSecret{source: s.name, kind: "RSA private key far above the error", text: key, sensitive: lines})
	return runnerLog(l)
}

// plantedRollbackLog is the rollback job's Terraform failing on an AWS error that quotes the
// source's credentials.
func plantedRollbackLog(s plantedSource) string {
	l := []string{"##[group]Run terraform apply -auto-approve -var=\"model_version=${PREVIOUS_SHA}\"", "##[endgroup]",
		"terraform_data.lambda[\"dashboard\"]: Modifying... [id=2b7f9c1e]",
		"╷",
		"│ Error: updating Lambda Function (prod-sentiment-dashboard) configuration: operation error Lambda: UpdateFunctionConfiguration, " +
			"https response error StatusCode: 400, RequestID: 7d1c0b52, InvalidParameterValueException: witness-rollbacklog the environment is invalid:",
		"│ "}
	for _, p := range s.secrets {
		for _, part := range strings.Split(p.text, "\n") {
			l = append(l, "│ "+part)
		}
	}
	l = append(l, "│ ", "│   with aws_lambda_function.dashboard,", "│   on lambda.tf line 88, in resource \"aws_lambda_function\" \"dashboard\":",
		"│   88: resource \"aws_lambda_function\" \"dashboard\" {", "│ ", "╵",
		"##[error]Process completed with exit code 1.")
	return runnerLog(l)
}

// slackRecorder keeps every Web API request medic sends Slack, as it left medic.
type slackRecorder struct {
	mu   sync.Mutex
	list []slackCall
}

type slackCall struct {
	method, body string
	form         bool
}

func (r *slackRecorder) calls() []slackCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slackCall(nil), r.list...)
}

// recordSlack starts a proxy in front of the sandbox's Slack at target that records
// every request, and returns the recorder and the Web API URL to give medic.
func recordSlack(t *testing.T, target string) (*slackRecorder, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	rec := &slackRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		text := string(body)
		if r.URL.RawQuery != "" {
			text = r.URL.RawQuery + "\n" + text
		}
		rec.mu.Lock()
		rec.list = append(rec.list, slackCall{method: strings.TrimPrefix(r.URL.Path, "/api/"), body: text,
			form: strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL + "/api/"
}

// logCapture is a log sink safe for concurrent writes.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logCapture) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logCapture) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
