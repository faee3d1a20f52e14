package main

// Drills proving that nothing is lost or done twice when several replicas of medic share
// one PostgreSQL store: exactly-once under double clicks, redeliveries and duplicated
// webhooks; a replica killed mid-job, mid-escalation and mid-poll; PostgreSQL
// restarted under load. Each drill records its figures with drillReport.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/internal/testenv"
	"github.com/medic-ops/medic/recovery/recoverytest"
	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// drillPostgresAdmin returns the URL of the PostgreSQL server the drills use
// (MEDIC_TEST_POSTGRES_URL). Without it the drill is skipped, or fails under CI.
func drillPostgresAdmin(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("MEDIC_TEST_POSTGRES_URL")
	if admin == "" {
		testenv.Missing(t, "MEDIC_TEST_POSTGRES_URL is not set: the PostgreSQL drills need a server. "+
			"`make unit` (and `make test`) start a throwaway one with scripts/pg.sh and set it (PostgreSQL's server binaries, "+
			"the postgresql package, must be installed; as root pg.sh installs them); "+
			"by hand: eval \"$(bash scripts/pg.sh start)\", run the tests, then bash scripts/pg.sh stop \"$MEDIC_PG_DIR\"")
	}
	return admin
}

// freshDatabase creates a database of its own for t on the server at admin and returns
// its URL; the database is dropped when t ends (after whatever t started later, such as
// replicas, has stopped).
func freshDatabase(t *testing.T, admin string) string {
	t.Helper()
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("MEDIC_TEST_POSTGRES_URL must be a postgres:// URL")
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("medic_drill_%016x", rand.Uint64())
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		// FORCE ends the sessions of killed replicas the server has not noticed yet.
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// openDrillDB opens the drill's database for reading rows directly, closed when t ends.
func openDrillDB(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

// drillSeed is the seed of a drill's random choices: MEDIC_DRILL_SEED replays a run.
func drillSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("MEDIC_DRILL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MEDIC_DRILL_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("random seed %d (MEDIC_DRILL_SEED=%d replays this run's choices)", seed, seed)
	return seed
}

// drillCluster is several in-process replicas of medic on one sandbox and one
// PostgreSQL database.
type drillCluster struct {
	*e2e // the first replica, and the sandbox
	reps []*sandboxed
	db   *sql.DB
}

// startDrillCluster starts n replicas on a fresh database of the server at admin, with
// a 3s leader lease and every action waiting for an approver (no self-service), so
// that each recovery goes through a request and an approval.
func startDrillCluster(t *testing.T, admin string, n int, opts ...any) *drillCluster {
	t.Helper()
	dbURL := freshDatabase(t, admin)
	options := []any{e2eOption(func(_ *sandbox.World, cfg *config.Config) {
		cfg.Store = dbURL
		cfg.Replicas.LeaderLease = 3 * time.Second
		cfg.Access.SelfService = map[string][]string{}
	})}
	e, _ := mustStartStaged(t, "", append(options, opts...)...)
	c := &drillCluster{e2e: e, reps: []*sandboxed{e.sandboxed}, db: openDrillDB(t, dbURL)}
	for len(c.reps) < n {
		c.reps = append(c.reps, e.startReplica())
	}
	if err := e.sb.Slack.WaitConnected(mustCtx(t), n); err != nil {
		t.Fatal(err)
	}
	return c
}

// webhookURLOf is the GitHub webhook receiver of replica r.
func webhookURLOf(r *sandboxed) string { return "http://" + r.app.addr() + "/webhooks/github" }

// deliverSpread sends a staged case's webhooks as a flaky GitHub and a load balancer
// would: each to a random replica, some redelivered (same delivery ID) to another one,
// some sent twice at once to two replicas (as a webhook and a poll reporting one fact).
// It returns how many deliveries were made.
func (c *drillCluster) deliverSpread(rng *rand.Rand, st sandbox.Staged) int {
	c.t.Helper()
	sent := 0
	post := func(r *sandboxed, d sandbox.Delivery) string {
		id, status, err := c.sb.GitHub.Deliver(mustCtx(c.t), webhookURLOf(r), sandboxWebhookSecret, d.Event, d.Payload)
		if err != nil || status >= 300 {
			c.t.Errorf("delivering %s to %s: HTTP %d, %v", d.Event, r.app.addr(), status, err)
		}
		return id
	}
	for _, d := range st.Deliveries {
		i := rng.IntN(len(c.reps))
		r, other := c.reps[i], c.reps[(i+1+rng.IntN(len(c.reps)-1))%len(c.reps)]
		switch rng.IntN(3) {
		case 0:
			post(r, d)
			sent++
		case 1: // GitHub's Redeliver, landing on another replica
			id := post(r, d)
			if status, err := c.sb.GitHub.Redeliver(mustCtx(c.t), webhookURLOf(other), sandboxWebhookSecret, id); err != nil || status >= 300 {
				c.t.Errorf("redelivering %s: HTTP %d, %v", id, status, err)
			}
			sent += 2
		case 2: // the same fact reported to two replicas at once
			var wg sync.WaitGroup
			wg.Go(func() { post(r, d) })
			wg.Go(func() { post(other, d) })
			wg.Wait()
			sent += 2
		}
	}
	return sent
}

// waitNewAlert waits for an alert message whose ts is not in seen.
func (c *drillCluster) waitNewAlert(seen map[string]bool) slackfake.Message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := c.sb.Slack.WaitForMessage(ctx, func(m slackfake.Message) bool { return isAlert(m) && !seen[m.TS] })
	if err != nil {
		c.t.Fatalf("no new alert: %v\n%s", err, c.sb.Slack.Transcript(sandboxChannel))
	}
	return m
}

// clickSpread clicks an element n times from one view of the message (concurrent
// envelopes, spread over the replicas' connections), then redelivers a random subset
// of those envelopes. It waits for every envelope's ack and returns the envelope IDs
// and how many redeliveries were sent.
func (c *drillCluster) clickSpread(rng *rand.Rand, click slackfake.Click, n int) (ids []string, redelivered int) {
	c.t.Helper()
	ids, err := c.sb.Slack.ClickRepeatedly(mustCtx(c.t), click, n)
	if err != nil {
		c.t.Fatalf("clicking %s %d times: %v", click.ActionID, n, err)
	}
	for _, id := range ids {
		if rng.IntN(2) == 0 {
			if err := c.sb.Slack.Redeliver(id); err != nil {
				c.t.Fatal(err)
			}
			redelivered++
		}
	}
	for _, id := range ids {
		if _, err := c.sb.Slack.WaitAck(mustCtx(c.t), id); err != nil {
			c.t.Fatalf("ack of %s: %v", id, err)
		}
	}
	return ids, redelivered
}

// waitEphemerals waits until user has received n ephemeral answers in all.
func (c *drillCluster) waitEphemerals(user string, n int) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for c.ephemeralCount(user) < n {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s got %d answers, want %d:\n%s", user, c.ephemeralCount(user), n, c.sb.Slack.Transcript(sandboxChannel))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricSum reads the counter or gauge name from the /metrics of the medic listening at
// addr: the sum of its series whose labels include every one of labels (`poller="runs"`).
func metricSum(addr, name string, labels ...string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
next:
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum, nil
}

// waitDuplicatesSkipped waits until the replicas together have skipped at least n
// redelivered envelopes, so a redelivery handled twice would have shown by now.
func (c *drillCluster) waitDuplicatesSkipped(n int) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var sum float64
		for _, r := range c.reps {
			v, err := metricSum(r.app.metricsAddr(), "medic_slack_duplicate_envelopes_total")
			if err != nil {
				c.t.Fatal(err)
			}
			sum += v
		}
		if sum >= float64(n) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the replicas skipped %g redelivered envelopes, want %d", sum, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rowCount runs a SELECT count(*) on the drill's database.
func rowCount(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(mustCtx(t), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// integrity is what the store's rows say about exactly-once: rows missing their
// companions (lost) and rows or audit entries written twice (duplicates).
type integrity struct {
	lost, duplicates []string
}

// checkIntegrity reads the whole database for half-applied or repeated work: jobs
// without their approved request or their job.created audit, requests without their
// request.created audit, approvals without their audit or their job, incidents
// without an alert, and anything audited or opened twice.
func checkIntegrity(t *testing.T, db *sql.DB) integrity {
	t.Helper()
	var in integrity
	list := func(into *[]string, what, query string) {
		t.Helper()
		rows, err := db.QueryContext(mustCtx(t), query)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			*into = append(*into, what+": "+id)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	auditOf := func(action, key string) string {
		return `SELECT 1 FROM audit a WHERE a.action = '` + action + `' AND a.detail LIKE '%"request":"' || ` + key + ` || '"%'`
	}
	list(&in.lost, "job without its request", `SELECT j.id FROM jobs j LEFT JOIN requests r ON r.id = j.request_id WHERE r.id IS NULL`)
	list(&in.lost, "job of a request not approved", `SELECT j.id FROM jobs j JOIN requests r ON r.id = j.request_id WHERE r.state <> 'approved'`)
	list(&in.lost, "job without job.created", `SELECT j.id FROM jobs j WHERE j.state <> 'cancelled'
		AND NOT EXISTS (SELECT 1 FROM audit a WHERE a.job_id = j.id AND a.action = 'job.created')`)
	list(&in.lost, "request without request.created", `SELECT r.id FROM requests r WHERE NOT EXISTS (`+auditOf("request.created", "r.id")+`)`)
	list(&in.lost, "approval without request.approved", `SELECT r.id FROM requests r WHERE r.state = 'approved' AND NOT EXISTS (`+auditOf("request.approved", "r.id")+`)`)
	list(&in.lost, "approved request without a job", `SELECT r.id FROM requests r WHERE r.state = 'approved'
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.request_id = r.id)`)
	list(&in.lost, "incident never alerted", `SELECT id FROM incidents WHERE message_ts = ''`)
	list(&in.lost, "incident without incident.opened", `SELECT i.id FROM incidents i
		WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.incident_id = i.id AND a.action = 'incident.opened')`)
	list(&in.duplicates, "request.created twice", `SELECT r.id FROM requests r WHERE (SELECT count(*) FROM audit a
		WHERE a.action = 'request.created' AND a.detail LIKE '%"request":"' || r.id || '"%') > 1`)
	list(&in.duplicates, "request.approved twice", `SELECT r.id FROM requests r WHERE (SELECT count(*) FROM audit a
		WHERE a.action = 'request.approved' AND a.detail LIKE '%"request":"' || r.id || '"%') > 1`)
	list(&in.duplicates, "job.created twice", `SELECT job_id FROM audit WHERE action = 'job.created' GROUP BY job_id HAVING count(*) > 1`)
	list(&in.duplicates, "incident audited as opened twice", `SELECT incident_id FROM audit WHERE action = 'incident.opened' GROUP BY incident_id HAVING count(*) > 1`)
	list(&in.duplicates, "incident alerted twice", `SELECT incident_id FROM audit WHERE action = 'incident.alerted' GROUP BY incident_id HAVING count(*) > 1`)
	list(&in.duplicates, "two incidents for one source", `SELECT source_key FROM incidents GROUP BY source_key HAVING count(*) > 1`)
	list(&in.duplicates, "two jobs for one incident", `SELECT incident_id FROM jobs WHERE incident_id <> '' GROUP BY incident_id HAVING count(*) > 1`)
	return in
}

// TestDrillExactlyOnceAcrossReplicas: with 2 and then 3 replicas on one PostgreSQL
// store, trial after trial a failure is reported by webhooks spread over the replicas
// (some redelivered, some doubled), its Re-run failed jobs button is clicked several
// times at once, and the request's Approve button too, with Slack redelivering some of
// those envelopes to other replicas. Every trial must end with one alert, one request,
// one job, one re-run call on GitHub and each decision audited once.
func TestDrillExactlyOnceAcrossReplicas(t *testing.T) {
	admin := drillPostgresAdmin(t)
	seed := drillSeed(t)
	const trials = 8
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(n)))
			c := startDrillCluster(t, admin, n)
			var deliveries, clicks, redeliveries, duplicates, lost, played int
			seen := map[string]bool{}
			for trial := 1; trial <= trials; trial++ {
				played++
				st := c.stage("dev-tests-fail-main")
				deliveries += c.deliverSpread(rng, st)
				alert := c.waitNewAlert(seen)
				seen[alert.TS] = true
				incident := incidentOf(t, alert)

				// The responder's button, clicked several times from one screen.
				n1 := 1 + rng.IntN(3)
				beforeAlice := c.ephemeralCount(userAlice)
				_, r1 := c.clickSpread(rng, slackfake.Click{User: userAlice, Channel: alert.Channel, MessageTS: alert.TS, ActionID: "action:rerun-failed"}, n1)
				c.waitEphemerals(userAlice, beforeAlice+n1)
				req := c.threadMessage(alert, "requests *", "[ Approve")

				// The approver's button, the same.
				n2 := 1 + rng.IntN(4)
				beforeBob := c.ephemeralCount(userBob)
				_, r2 := c.clickSpread(rng, slackfake.Click{User: userBob, Channel: req.Channel, MessageTS: req.TS, ActionID: "approve:request"}, n2)
				c.waitEphemerals(userBob, beforeBob+n2)
				c.threadMessage(alert, "Job JOB-", "succeeded.")
				clicks += n1 + n2
				redeliveries += r1 + r2
				c.waitDuplicatesSkipped(redeliveries)

				// What people saw.
				dup := func(what string, got int) {
					t.Helper()
					switch {
					case got > 1:
						duplicates += got - 1
						t.Errorf("trial %d (%s): %s %d times, want once", trial, incident, what, got)
					case got < 1:
						lost++
						t.Errorf("trial %d (%s): %s missing", trial, incident, what)
					}
				}
				alerts := 0
				for _, m := range c.alerts() {
					if strings.Contains(string(m.Blocks), incident) {
						alerts++
					}
				}
				dup("alert message", alerts)
				thread := c.sb.Slack.Thread(sandboxChannel, alert.TS)
				countThread := func(s string) int {
					k := 0
					for _, m := range thread {
						if strings.Contains(slackfake.Render(m), s) {
							k++
						}
					}
					return k
				}
				dup("request message", countThread("requests *"))
				dup("job start note", countThread(":gear: Job JOB-"))
				dup("job success note", countThread("succeeded."))
				// One answer per click: a redelivered envelope is answered by nobody.
				if got := c.ephemeralCount(userAlice); got != beforeAlice+n1 {
					duplicates += got - beforeAlice - n1
					t.Errorf("trial %d: %d answers to %d request clicks", trial, got-beforeAlice, n1)
				}
				if got := c.ephemeralCount(userBob); got != beforeBob+n2 {
					duplicates += got - beforeBob - n2
					t.Errorf("trial %d: %d answers to %d approval clicks", trial, got-beforeBob, n2)
				}
				// What GitHub saw: the mutating call, once.
				reruns := 0
				for _, m := range c.sb.GitHub.Mutations() {
					if m.Op == "RerunFailed" && strings.Contains(m.Path, fmt.Sprintf("/runs/%d/", st.RunID)) {
						reruns++
					}
				}
				dup("GitHub re-run of the failed jobs", reruns)
				// What the store kept.
				dup("incident row", rowCount(t, c.db, `SELECT count(*) FROM incidents WHERE id = $1`, incident))
				dup("request row", rowCount(t, c.db, `SELECT count(*) FROM requests WHERE incident_id = $1`, incident))
				dup("job row", rowCount(t, c.db, `SELECT count(*) FROM jobs WHERE incident_id = $1`, incident))
				for _, action := range []string{"incident.opened", "incident.alerted", "request.created", "request.approved", "job.created", "job.step", "job.succeeded"} {
					dup(action+" audit row", rowCount(t, c.db, `SELECT count(*) FROM audit WHERE incident_id = $1 AND action = $2`, incident, action))
				}
			}
			incidents := played
			applies := "n/a (played with 2 replicas)"
			if n == 2 {
				// One Terraform rollback of prod, approved by a flurry of clicks.
				if ok, starts := c.rollbackTrial(rng, seen, &clicks, &redeliveries, &duplicates, &lost); ok {
					incidents++
					applies = fmt.Sprint(starts)
				}
			}
			if got := rowCount(t, c.db, `SELECT count(*) FROM incidents`); got != incidents {
				t.Errorf("incidents: got %d, want %d (one per trial)", got, incidents)
			}
			in := checkIntegrity(t, c.db)
			for _, s := range append(in.lost, in.duplicates...) {
				t.Error(s)
			}
			duplicates += len(in.duplicates)
			lost += len(in.lost)
			drillReport(t, "replicas=%d re-run trials=%d terraform rollback applies=%s webhook_deliveries=%d clicks=%d slack_redeliveries=%d duplicates=%d lost=%d seed=%d",
				n, played, applies, deliveries, clicks, redeliveries, duplicates, lost, seed)
		})
	}
}

// rollbackTrial plays one Terraform rollback of prod across the replicas: the canary
// failure reported by spread webhooks, Roll back clicked several times, the approval
// clicked several times with redeliveries. It checks the apply ran once and prod runs
// the last good version, adds its figures, and returns whether it ran (it needs the
// real Terraform) and how many applies started.
func (c *drillCluster) rollbackTrial(rng *rand.Rand, seen map[string]bool, clicks, redeliveries, duplicates, lost *int) (bool, int) {
	t := c.t
	t.Helper()
	if c.cfg.Terraform.Bin == "" {
		if testenv.CI() {
			missingTerraform(t)
		}
		t.Log("the Terraform rollback trial is skipped: no terraform >= 1.4 (run `make tools`)")
		return false, 0
	}
	st := c.stage("canary-fail")
	c.deliverSpread(rng, st)
	alert := c.waitNewAlert(seen)
	seen[alert.TS] = true
	incident := incidentOf(t, alert)
	n1, n2 := 1+rng.IntN(3), 2+rng.IntN(4)
	beforeAlice, beforeBob := c.ephemeralCount(userAlice), c.ephemeralCount(userBob)
	_, r1 := c.clickSpread(rng, slackfake.Click{User: userAlice, Channel: alert.Channel, MessageTS: alert.TS, ActionID: "action:rollback"}, n1)
	c.waitEphemerals(userAlice, beforeAlice+n1)
	req := c.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	_, r2 := c.clickSpread(rng, slackfake.Click{User: userBob, Channel: req.Channel, MessageTS: req.TS, ActionID: "approve:request"}, n2)
	c.waitEphemerals(userBob, beforeBob+n2)
	c.threadMessage(alert, "Job JOB-", "succeeded.")
	*clicks += n1 + n2
	*redeliveries += r1 + r2
	c.waitDuplicatesSkipped(*redeliveries)
	starts := 0
	for _, m := range c.sb.Slack.Thread(sandboxChannel, alert.TS) {
		if strings.Contains(m.Text, "Step 2/3: terraform apply of the approved plan") {
			starts++
		}
	}
	if starts != 1 {
		*duplicates += max(starts-1, 0)
		t.Errorf("rollback: terraform apply started %d times, want 1", starts)
	}
	if v := deployedVersion(t, c.e2e, "prod"); v != st.PreviousSHA {
		*lost++
		t.Errorf("rollback: prod runs %q, want the last good %q", v, st.PreviousSHA)
	}
	for action, want := range map[string]int{"request.created": 1, "request.approved": 1, "job.created": 1, "job.succeeded": 1} {
		if got := rowCount(t, c.db, `SELECT count(*) FROM audit WHERE incident_id = $1 AND action = $2`, incident, action); got != want {
			*duplicates += max(got-want, 0)
			*lost += max(want-got, 0)
			t.Errorf("rollback: %s audit rows: got %d, want %d", action, got, want)
		}
	}
	if got := rowCount(t, c.db, `SELECT count(*) FROM jobs WHERE incident_id = $1`, incident); got != 1 {
		*duplicates += max(got-1, 0)
		t.Errorf("rollback: %d jobs, want 1", got)
	}
	return true, starts
}

// TestDrillJobRecordsSurviveAFailingStore makes every other update of a job's row fail
// in PostgreSQL (a trigger raising an error, as a restart ending sessions would): the
// job must still run its step once, record its start, its end and its outcome, free
// the environment, and tell the thread.
func TestDrillJobRecordsSurviveAFailingStore(t *testing.T) {
	admin := drillPostgresAdmin(t)
	c := startDrillCluster(t, admin, 2)
	if _, err := c.db.ExecContext(mustCtx(t), `
		CREATE SEQUENCE drill_job_updates;
		CREATE FUNCTION drill_fail_every_other_job_update() RETURNS trigger AS $$
		BEGIN
			IF nextval('drill_job_updates') % 2 = 1 THEN
				RAISE EXCEPTION 'drill: the store failed this update';
			END IF;
			RETURN NEW;
		END $$ LANGUAGE plpgsql;
		CREATE TRIGGER drill_fail_job_updates BEFORE UPDATE ON jobs
			FOR EACH ROW EXECUTE FUNCTION drill_fail_every_other_job_update();`); err != nil {
		t.Fatal(err)
	}
	c.deliver(c.stage("dev-tests-fail-main"))
	alert, _ := c.waitAlert("Dev tests failed")
	incident := incidentOf(t, alert)
	c.press(alert, userAlice, "action:rerun-failed")
	req := c.threadMessage(alert, "requests *", "[ Approve")
	wantContains(t, c.press(req, userBob, "approve:request"), "You approved")
	c.threadMessage(alert, ":white_check_mark: Re-run the failed jobs of run")
	c.threadMessage(alert, "Job JOB-", "succeeded.")

	failures := rowCount(t, c.db, `SELECT last_value FROM drill_job_updates`) / 2
	if failures == 0 {
		t.Fatal("no update of the job failed: the drill tested nothing")
	}
	var state, data string
	if err := c.db.QueryRowContext(mustCtx(t), `SELECT state, data FROM jobs WHERE incident_id = $1`, incident).Scan(&state, &data); err != nil {
		t.Fatal(err)
	}
	if state != "succeeded" || !strings.Contains(data, `"State":"succeeded"`) {
		t.Errorf("the job's row: state %s, data %s; want it and its step succeeded", state, data)
	}
	locked := rowCount(t, c.db, `SELECT count(*) FROM env_locks`)
	if locked != 0 {
		t.Errorf("%d environment still locked after the job ended", locked)
	}
	told := 0
	for _, m := range c.sb.Slack.Thread(sandboxChannel, alert.TS) {
		if strings.Contains(m.Text, "Job JOB-") && strings.Contains(m.Text, "succeeded.") {
			told++
		}
	}
	if told != 1 {
		t.Errorf("the job's success was told %d times, want once", told)
	}
	if n := c.sb.GitHub.Calls("RerunFailed"); n != 1 {
		t.Errorf("GitHub re-run calls: got %d, want 1", n)
	}
	for action, want := range map[string]int{"job.created": 1, "job.step": 1, "job.succeeded": 1} {
		if got := rowCount(t, c.db, `SELECT count(*) FROM audit WHERE incident_id = $1 AND action = $2`, incident, action); got != want {
			t.Errorf("%s audit rows: got %d, want %d", action, got, want)
		}
	}
	drillReport(t, "job row updates failed by the store=%d; job state=%s, success told %d time(s), re-run calls=%d, environments left locked=%d",
		failures, state, told, c.sb.GitHub.Calls("RerunFailed"), locked)
}

// TestDrillStoreUnreachableLongerThanTheJobLease cuts two replicas off their PostgreSQL
// database (no new sessions, the open ones ended) while one of them runs a Terraform
// apply, for longer than jobs.lease. Once that lease has lapsed the other replica, and
// the next job, may take the job for dead: the replica running it must stop it
// (Terraform interrupted, its state lock released) rather than go on changing prod
// unseen, and once the store is back the job must read interrupted at the apply,
// once, with Retry, and prod be free for the next job.
//
// The replicas' time and tickers are the drill's (a recoverytest.Clock): the lease
// runs out when the drill moves the clock past it, while the store is cut off, so no
// CPU stall decides when, and no renewal can succeed on the way.
func TestDrillStoreUnreachableLongerThanTheJobLease(t *testing.T) {
	admin := drillPostgresAdmin(t)
	clock := recoverytest.NewClock(time.Now())
	c := startDrillCluster(t, admin, 2, e2eOption(func(_ *sandbox.World, cfg *config.Config) {
		prod := cfg.Environments["prod"]
		prod.Terraform.VarFile = "prod-slow.tfvars" // the apply sleeps a minute
		cfg.Environments["prod"] = prod
	}), withTickers{c: clock, now: true})
	needTerraform(t, c.e2e)
	st := c.stage("canary-fail")
	c.deliver(st)
	alert, _ := c.waitAlert("Production canary failed")
	incident := incidentOf(t, alert)
	c.press(alert, userAlice, "action:rollback")
	req := c.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
	c.press(req, userBob, "approve:request")
	c.threadMessage(alert, "Step 2/3: terraform apply of the approved plan")
	waitApplyLock(t, c.sb, "prod")

	// Cut the replicas off their database.
	adminDB, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adminDB.Close()
	var name string
	if err := c.db.QueryRowContext(mustCtx(t), `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	ctx := mustCtx(t)
	if _, err := adminDB.ExecContext(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if _, err := adminDB.ExecContext(context.Background(), `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
				t.Errorf("letting the replicas back in: %v", err)
			}
		}
	}
	defer restore()
	if _, err := adminDB.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	// The job's lease runs out while the store is unreachable: the renewals tried on
	// the way fail, and the last one finds a whole lease gone since the job was
	// created (medic's clock has not moved before).
	lease := c.cfg.Jobs.Lease
	clock.Advance(lease)
	lapsed := time.Now()

	// The replica running the job gives it up: Terraform is interrupted and frees the
	// state lock, well before the minute-long apply would have ended.
	for {
		if _, held := c.sb.TFState.Lock("prod"); !held {
			break
		}
		if time.Since(lapsed) > 30*time.Second {
			t.Fatalf("the apply still holds the prod state lock %s after its job's lease (jobs.lease %s) ran out with the store unreachable: the job runs on unseen",
				time.Since(lapsed).Round(time.Millisecond), lease)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := time.Since(lapsed)
	restore()

	// Told by the job itself, or by a replica that found its lease lapsed first.
	interrupted := func(text string) bool {
		return strings.Contains(text, "interrupted at step 2 (terraform apply of the approved plan") || strings.Contains(text, "was at step 2/3 (terraform apply of the approved plan")
	}
	if _, err := c.sb.Slack.WaitForMessage(mustCtx(t), func(m slackfake.Message) bool {
		text := slackfake.Render(m)
		return m.ThreadTS == alert.TS && interrupted(text) && strings.Contains(text, "[ Retry") && strings.Contains(strings.ToLower(text), "re-run")
	}); err != nil {
		t.Fatalf("the thread never said the job was interrupted at the apply: %v\n%s", err, c.sb.Slack.Transcript(sandboxChannel))
	}
	deadline := time.Now().Add(20 * time.Second)
	for rowCount(t, c.db, `SELECT count(*) FROM env_locks`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("prod is still locked by the stopped job")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Both replicas look for dead jobs every few seconds: let each look at this one
	// twice, with the store back.
	for range 2 {
		c.advanceRounds(clock, "jobs", jobsRound)
	}
	notes, starts := 0, 0
	for _, m := range c.sb.Slack.Thread(sandboxChannel, alert.TS) {
		text := slackfake.Render(m)
		if interrupted(text) {
			notes++
		}
		if strings.Contains(m.Text, "Step 2/3: terraform apply of the approved plan") {
			starts++
		}
		if strings.Contains(m.Text, "Step 4/4") {
			t.Errorf("the job went on: %s", m.Text)
		}
	}
	if notes != 1 || starts != 1 {
		t.Errorf("interruption notes: %d, apply starts: %d; want 1 and 1", notes, starts)
	}
	var state string
	if err := c.db.QueryRowContext(mustCtx(t), `SELECT state FROM jobs WHERE incident_id = $1`, incident).Scan(&state); err != nil || state != "interrupted" {
		t.Errorf("the job's row: state %q (%v), want interrupted", state, err)
	}
	if got := rowCount(t, c.db, `SELECT count(*) FROM audit WHERE incident_id = $1 AND action = 'job.interrupted'`, incident); got != 1 {
		t.Errorf("job.interrupted audit rows: got %d, want 1", got)
	}
	drillReport(t, "database cut off during a terraform apply, medic's clock moved past jobs.lease (%s): the apply was stopped %s later, the store let back in then; "+
		"interruption told %d time(s), apply starts=%d, environment locks left=%d",
		lease, stopped.Round(time.Millisecond), notes, starts, rowCount(t, c.db, `SELECT count(*) FROM env_locks`))
}

// advanceRounds moves clock, the replicas' tickers, by interval and waits until every
// replica has finished a round of poller since (a round whose tick was taken: the
// medic_poll_rounds_total series of poller counts it, ok or error).
func (c *drillCluster) advanceRounds(clock *recoverytest.Clock, poller string, interval time.Duration) {
	c.t.Helper()
	rounds := func(r *sandboxed) float64 {
		v, err := metricSum(r.app.metricsAddr(), "medic_poll_rounds_total", `poller="`+poller+`"`)
		if err != nil {
			c.t.Fatal(err)
		}
		return v
	}
	before := make([]float64, len(c.reps))
	for i, r := range c.reps {
		before[i] = rounds(r)
	}
	clock.Advance(interval)
	deadline := time.Now().Add(20 * time.Second)
	for i, r := range c.reps {
		for rounds(r) <= before[i] {
			if time.Now().After(deadline) {
				c.t.Fatalf("replica %d ran no %s round within 20s of its tick: %s rounds stayed at %g", i, poller, poller, before[i])
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// medicProc is one replica of medic running as a separate process (`medic serve`).
type medicProc struct {
	id      string // replicas.id
	addr    string // its public listener (the webhook)
	opsAddr string // its operators' listener (probes, metrics)
	cmd     *exec.Cmd
	log     string // where its logs go
	dead    bool
}

// procCluster is several medic processes on one sandbox and one PostgreSQL database.
type procCluster struct {
	*e2e  // the sandbox, and the helpers that read Slack
	procs []*medicProc
	db    *sql.DB
	dbURL string
}

// buildMedic builds the medic binary into dir (without -race: the drills kill it).
func buildMedic(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "medic")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building medic: %v\n%s", err, out)
	}
	return bin
}

// startProcCluster starts n `medic serve` processes of bin on a fresh sandbox (with
// caseName staged when not empty) and a fresh database of the server at admin. Pollers
// are off unless change turns them on; the leader lease is 3s and jobs.lease 30s.
func startProcCluster(t *testing.T, bin, admin string, n int, caseName string, change func(*config.Config)) (*procCluster, sandbox.Staged) {
	t.Helper()
	sb := sandbox.Start(sandbox.Options{})
	t.Cleanup(sb.Close)
	dir := t.TempDir()
	cfg, err := sandboxConfig(sb, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = freshDatabase(t, admin)
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	cfg.Replicas.LeaderLease = 3 * time.Second
	if change != nil {
		change(cfg)
	}
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		t.Fatal(err)
	}
	var st sandbox.Staged
	if caseName != "" {
		cs, _ := sandbox.CaseByName(caseName)
		if st, err = cs.Stage(sb, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ext := sandboxExternal(sb, nil)
	env := append(os.Environ(),
		"SLACK_APP_TOKEN="+ext.secrets.SlackAppToken, "SLACK_BOT_TOKEN="+ext.secrets.SlackBotToken,
		"SLACK_API_URL="+ext.secrets.SlackAPIURL, "GITHUB_API_URL="+ext.secrets.GitHubAPIURL,
		"GITHUB_TOKEN=ghs_sandbox", "GITHUB_WEBHOOK_SECRET="+sandboxWebhookSecret,
		"PAGERDUTY_ROUTING_KEY="+sandboxRoutingKey, "PAGERDUTY_EVENTS_URL="+sb.PagerDuty.URL(),
		"AWS_ENDPOINT_URL="+sb.AWS.URL(), "AWS_ACCESS_KEY_ID=AKIASANDBOX0000000", "AWS_SECRET_ACCESS_KEY=sandbox-secret-key",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PROFILE=", "AWS_CA_BUNDLE=")
	c := &procCluster{e2e: &e2e{t: t, sandboxed: &sandboxed{sb: sb, cfg: cfg}}, db: openDrillDB(t, cfg.Store), dbURL: cfg.Store}
	for i := range n {
		rc := *cfg
		rc.Listen, rc.MetricsListen = freeAddr(t), freeAddr(t)
		rc.Replicas.ID = fmt.Sprintf("drill-%c", 'a'+i)
		path := filepath.Join(dir, rc.Replicas.ID+".yaml")
		data, err := yaml.Marshal(&rc)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := config.Load(path); err != nil {
			t.Fatalf("the written config does not load: %v", err)
		}
		p := &medicProc{id: rc.Replicas.ID, addr: rc.Listen, opsAddr: rc.MetricsListen, log: filepath.Join(dir, rc.Replicas.ID+".log")}
		logFile, err := os.Create(p.log)
		if err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command(bin, "serve", "--config", path)
		p.cmd.Env, p.cmd.Dir = env, dir
		p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, with Terraform
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		logFile.Close()
		t.Cleanup(func() {
			if !p.dead {
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				_, _ = p.cmd.Process.Wait()
			}
			if t.Failed() {
				if b, err := os.ReadFile(p.log); err == nil {
					t.Logf("log of %s (last 4000 bytes):\n%s", p.id, lastBytes(string(b), 4000))
				}
			}
		})
		c.procs = append(c.procs, p)
	}
	for _, p := range c.procs {
		waitReady(t, "http://"+p.opsAddr+"/readyz")
	}
	if err := sb.Slack.WaitConnected(mustCtx(t), n); err != nil {
		t.Fatal(err)
	}
	return c, st
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// kill ends p and everything it started (Terraform) with SIGKILL, and returns when.
func (p *medicProc) kill(t *testing.T) time.Time {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	_, _ = p.cmd.Process.Wait()
	p.dead = true
	return at
}

// leads reports whether p's medic_leader gauge says it holds the leader lease.
func (p *medicProc) leads() bool {
	v, err := metricSum(p.opsAddr, "medic_leader")
	return err == nil && v == 1
}

// waitLeader waits until exactly one live process leads and returns it.
func (c *procCluster) waitLeader() *medicProc {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var leaders []*medicProc
		for _, p := range c.procs {
			if !p.dead && p.leads() {
				leaders = append(leaders, p)
			}
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d replicas lead, want 1", len(leaders))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failover waits until survivor leads after the leader was killed at killed, and
// returns how long that took. It fails the drill past 3 leases: a bound that detects
// a replica that never takes over, not a timing the drill relies on.
func (c *procCluster) failover(survivor *medicProc, killed time.Time) time.Duration {
	c.t.Helper()
	lease := c.cfg.Replicas.LeaderLease
	for !survivor.leads() {
		if time.Since(killed) > 3*lease {
			c.t.Fatalf("%s did not take the lead within %s (3 leader leases) of the leader's death", survivor.id, 3*lease)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(killed)
	// The lease row agrees.
	var holder string
	if err := c.db.QueryRowContext(mustCtx(c.t), `SELECT holder FROM leases WHERE name = 'leader'`).Scan(&holder); err != nil || holder != survivor.id {
		c.t.Errorf("leader lease row: holder %q (%v), want %s", holder, err, survivor.id)
	}
	return took
}

// other returns the live process that is not p.
func (c *procCluster) other(p *medicProc) *medicProc {
	for _, q := range c.procs {
		if q != p && !q.dead {
			return q
		}
	}
	c.t.Fatal("no other live replica")
	return nil
}

// runsTerraform reports whether p runs terraform: a child process of p named
// terraform (terraform-exec puts it in a process group of its own, and has the kernel
// kill it with its parent).
func (p *medicProc) runsTerraform() bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(s[closing+1:])
		if len(fields) < 2 {
			continue
		}
		// Terraform's name is its argv[0] (run as another user through an open file,
		// its comm is the descriptor's number).
		argv0, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if ppid, _ := strconv.Atoi(fields[1]); ppid == p.cmd.Process.Pid && (strings.Contains(s[open+1:closing], "terraform") || strings.Contains(string(argv0), "terraform")) {
			return true
		}
	}
	return false
}

// rowIDs lists the primary keys of every incident, request, job, page and audit row,
// as "table/id".
func rowIDs(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, table := range []string{"incidents", "requests", "jobs", "pages", "audit"} {
		rows, err := db.QueryContext(mustCtx(t), `SELECT id FROM `+table)
		if err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out[table+"/"+id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// missingRows lists the rows of before that are gone now.
func missingRows(before, now map[string]bool) []string {
	var out []string
	for id := range before {
		if !now[id] {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// TestDrillReplicaKilled runs two `medic serve` processes on one PostgreSQL store and
// kills one with SIGKILL: while it applies Terraform, while the incident it alerted is
// about to escalate, and while it polls GitHub as the leader. The survivor must take
// over what the dead one left: the job marked interrupted (not re-run), the page sent
// once, the failure staged after the kill alerted once; nothing written before the kill
// may be lost.
func TestDrillReplicaKilled(t *testing.T) {
	admin := drillPostgresAdmin(t)
	bin := buildMedic(t, t.TempDir())

	t.Run("mid-job", func(t *testing.T) {
		c, st := startProcCluster(t, bin, admin, 2, "canary-fail", func(cfg *config.Config) {
			prod := cfg.Environments["prod"]
			prod.Terraform.VarFile = "prod-slow.tfvars" // the apply sleeps a minute
			cfg.Environments["prod"] = prod
		})
		if c.cfg.Terraform.Bin == "" {
			missingTerraform(t)
		}
		if err := st.Deliver(mustCtx(t), c.sb, "http://"+c.procs[0].addr+"/webhooks/github", sandboxWebhookSecret); err != nil {
			t.Fatal(err)
		}
		alert, _ := c.waitAlert("Production canary failed")
		incident := incidentOf(t, alert)
		c.press(alert, userAlice, "action:rollback")
		req := c.threadMessage(alert, "requests *Roll back to last good*", "[ Approve")
		c.press(req, userBob, "approve:request")
		c.threadMessage(alert, "Step 2/3: terraform apply of the approved plan")
		waitApplyLock(t, c.sb, "prod") // kill it inside the apply's minute
		var runner *medicProc
		for _, p := range c.procs {
			if p.runsTerraform() {
				runner = p
			}
		}
		if runner == nil {
			t.Fatal("no replica runs terraform while the prod state is locked for an apply")
		}
		wasLeader := runner.leads()
		before := rowIDs(t, c.db)
		killed := runner.kill(t)
		survivor := c.other(runner)
		// The dead replica's lease lapses now rather than jobs.lease later.
		if n := lapseJobLeases(t, c.dbURL, "prod"); n != 1 {
			t.Fatalf("running jobs of prod after the kill: got %d, want 1", n)
		}

		note := c.threadMessage(alert, "medic stopped while job JOB-", "at step 2/3 (terraform apply of the approved plan", "nothing was re-run", "[ Retry")
		interrupted := time.Since(killed)
		wantContains(t, slackfake.Render(note), "It was changing prod: check its state before retrying.")
		failover := "n/a (the job ran on the follower)"
		if wasLeader {
			failover = c.failover(survivor, killed).Round(time.Millisecond).String()
		}

		starts, notes := 0, 0
		for _, m := range c.sb.Slack.Thread(sandboxChannel, alert.TS) {
			if strings.Contains(m.Text, "Step 2/3: terraform apply of the approved plan") {
				starts++
			}
			if strings.Contains(m.Text, "medic stopped while job") {
				notes++
			}
			if strings.Contains(m.Text, "Step 4/4") {
				t.Errorf("the job went on after the kill: %s", m.Text)
			}
		}
		if starts != 1 {
			t.Errorf("terraform apply started %d times, want 1", starts)
		}
		if notes != 1 {
			t.Errorf("the interruption was told %d times, want 1", notes)
		}
		lost := missingRows(before, rowIDs(t, c.db))
		for _, id := range lost {
			t.Errorf("row written before the kill is gone: %s", id)
		}
		var state string
		if err := c.db.QueryRowContext(mustCtx(t), `SELECT state FROM jobs WHERE incident_id = $1`, incident).Scan(&state); err != nil || state != "interrupted" {
			t.Errorf("the job's row: state %q (%v), want interrupted", state, err)
		}
		for action, want := range map[string]int{"request.created": 1, "request.approved": 1, "job.created": 1, "job.interrupted": 1, "job.step": 1} {
			if got := rowCount(t, c.db, `SELECT count(*) FROM audit WHERE incident_id = $1 AND action = $2`, incident, action); got != want {
				t.Errorf("%s audit rows: got %d, want %d", action, got, want)
			}
		}
		in := checkIntegrity(t, c.db)
		for _, s := range append(in.lost, in.duplicates...) {
			t.Error(s)
		}
		drillReport(t, "killed=%s (leader=%v) at step 2/3 terraform apply of the approved plan; its job's lease moved past at the kill; interrupted noted by %s after %s; apply starts=%d; rows before kill=%d lost=%d; duplicates=%d; failover=%s",
			runner.id, wasLeader, survivor.id, interrupted.Round(time.Millisecond), starts, len(before), len(lost)+len(in.lost), len(in.duplicates), failover)
	})

	t.Run("mid-escalation", func(t *testing.T) {
		const response = 8 * time.Second
		c, st := startProcCluster(t, bin, admin, 2, "canary-fail", func(cfg *config.Config) {
			// prod pages on-call 8s after the alert unless acknowledged.
			cfg.Escalation.Matrix = []config.MatrixRow{
				{Name: "Data corruption", DataCorruption: true, Response: "immediate", Path: []config.PathStep{{"cto", "senior"}}},
				{Name: "Drill prod", Envs: []string{"prod"}, Response: response.String(), Path: []config.PathStep{{"oncall"}}},
				{Name: "Rest", Response: "best-effort"},
			}
		})
		leader := c.waitLeader()
		survivor := c.other(leader)
		if err := st.Deliver(mustCtx(t), c.sb, "http://"+leader.addr+"/webhooks/github", sandboxWebhookSecret); err != nil {
			t.Fatal(err)
		}
		alert, _ := c.waitAlert("Production canary failed", "pages on-call engineer at")
		incident := incidentOf(t, alert)
		var due int64
		if err := c.db.QueryRowContext(mustCtx(t), `SELECT escalate_at FROM incidents WHERE id = $1`, incident).Scan(&due); err != nil {
			t.Fatal(err)
		}
		if pages := rowCount(t, c.db, `SELECT count(*) FROM pages WHERE incident_id = $1`, incident); pages != 0 || time.UnixMilli(due).Before(time.Now()) {
			t.Fatalf("the incident escalated before the leader could be killed (%d pages, due %s): the drill needs a longer response", pages, time.UnixMilli(due))
		}
		before := rowIDs(t, c.db)
		killed := leader.kill(t)
		took := c.failover(survivor, killed)

		c.threadMessage(alert, "*Paging on-call engineer* (page 1)")
		c.waitPD(incident, "trigger")
		// Wait until both pages (Slack, PagerDuty) are stored as sent: then nothing is
		// left that could page again.
		deadline := time.Now().Add(20 * time.Second)
		for rowCount(t, c.db, `SELECT count(*) FROM pages WHERE incident_id = $1 AND state = 'sent'`, incident) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("the pages of %s were not all sent", incident)
			}
			time.Sleep(20 * time.Millisecond)
		}
		paged := time.Since(killed)
		duplicates := 0
		if got := len(c.pagesIn(alert)); got != 1 {
			duplicates += got - 1
			t.Errorf("pages in the thread: got %d, want 1", got)
		}
		if got := pdEvents(c.sb, incident); len(got) != 1 {
			duplicates += len(got) - 1
			t.Errorf("PagerDuty events: got %v, want one trigger", got)
		}
		for _, u := range []string{userAlice, userCarol} {
			if got := c.dms(u, incident); got != 1 {
				duplicates += got - 1
				t.Errorf("%s got %d DMs, want 1", u, got)
			}
		}
		if got := rowCount(t, c.db, `SELECT count(*) FROM audit WHERE incident_id = $1 AND action = 'incident.paged'`, incident); got != 1 {
			duplicates += got - 1
			t.Errorf("incident.paged audit rows: got %d, want 1", got)
		}
		if got := rowCount(t, c.db, `SELECT count(*) FROM pages WHERE incident_id = $1`, incident); got != 2 {
			t.Errorf("page rows: got %d, want 2 (Slack and PagerDuty)", got)
		}
		lost := missingRows(before, rowIDs(t, c.db))
		for _, id := range lost {
			t.Errorf("row written before the kill is gone: %s", id)
		}
		drillReport(t, "killed leader %s %s before the escalation was due; %s led after %s (leader_lease %s); page sent %s after the kill; duplicates=%d lost=%d",
			leader.id, time.UnixMilli(due).Sub(killed).Round(time.Millisecond), survivor.id, took.Round(time.Millisecond), c.cfg.Replicas.LeaderLease,
			paged.Round(time.Millisecond), duplicates, len(lost))
	})

	t.Run("mid-poll", func(t *testing.T) {
		interval := 10 * time.Second // the shortest the config takes
		c, _ := startProcCluster(t, bin, admin, 2, "", func(cfg *config.Config) {
			cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &interval, &interval
		})
		leader := c.waitLeader()
		survivor := c.other(leader)
		// GitHub answers the run listing slowly: kill the leader while its poll waits
		// for the answer.
		listed := c.sb.GitHub.Calls("ListWorkflowRuns")
		const slowList = 2 * time.Second
		c.sb.Faults.Set("github:ListWorkflowRuns", fault.Rule{Latency: slowList})
		deadline := time.Now().Add(3 * interval)
		for c.sb.GitHub.Calls("ListWorkflowRuns") == listed {
			if time.Now().After(deadline) {
				t.Fatalf("the leader %s did not poll GitHub within %s", leader.id, 3*interval)
			}
			time.Sleep(10 * time.Millisecond)
		}
		killed := leader.kill(t)
		c.sb.Faults.Clear("github:ListWorkflowRuns")
		for _, poller := range []string{`poller="runs"`, `poller="alarms"`} {
			if v, _ := metricSum(survivor.opsAddr, "medic_poll_rounds_total", poller); v != 0 {
				t.Errorf("the follower %s ran %g %s rounds while %s led", survivor.id, v, poller, leader.id)
			}
		}
		// A failure while nobody leads.
		cs, _ := sandbox.CaseByName("dev-tests-fail-main")
		st, err := cs.Stage(c.sb, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		took := c.failover(survivor, killed)
		alert, _ := c.waitAlert("Dev tests failed")
		detected := time.Since(killed)
		incident := incidentOf(t, alert)
		// Let the survivor poll the same run again, a whole round after its last post:
		// it must not alert again, nor repeat a note.
		runs := func() float64 {
			v, err := metricSum(survivor.opsAddr, "medic_poll_rounds_total", `poller="runs"`)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		msgs := quietFor(t, c.sb.Slack, 1, []string{"runs"}, []func() float64{runs}, nil, 30*time.Second+3*interval)
		duplicates := 0
		for _, d := range repeatedNotes(msgs) {
			duplicates++
			t.Error(d)
		}
		alerts := len(c.alerts())
		if alerts != 1 {
			duplicates += alerts - 1
			t.Errorf("alerts: got %d, want 1:\n%s", alerts, c.sb.Slack.Transcript(sandboxChannel))
		}
		if got := rowCount(t, c.db, `SELECT count(*) FROM incidents`); got != 1 {
			duplicates += got - 1
			t.Errorf("incidents: got %d, want 1", got)
		}
		var opened string
		if err := c.db.QueryRowContext(mustCtx(t), `SELECT detail FROM audit WHERE incident_id = $1 AND action = 'incident.opened'`, incident).Scan(&opened); err != nil {
			t.Fatal(err)
		}
		wantContains(t, opened, `"via":"poll"`, fmt.Sprint(st.RunID))
		drillReport(t, "killed leader %s mid-poll (poll_interval %s, GitHub answering in %s); %s led after %s (leader_lease %s); failure staged after the kill alerted %s after it; alerts=%d duplicates=%d",
			leader.id, interval, slowList, survivor.id, took.Round(time.Millisecond), c.cfg.Replicas.LeaderLease, detected.Round(time.Millisecond), alerts, duplicates)
	})
}

// privatePostgres is a PostgreSQL server of one drill's own (scripts/pg.sh), which the
// drill may restart without disturbing the other tests.
type privatePostgres struct {
	url, dir string
}

// startPrivatePostgres starts a throwaway PostgreSQL with scripts/pg.sh, stopped when t
// ends.
func startPrivatePostgres(t *testing.T) privatePostgres {
	t.Helper()
	cmd := exec.Command("bash", "../../scripts/pg.sh", "start")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/pg.sh start: %v\n%s", err, stderr.String())
	}
	var p privatePostgres
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, "'")
		switch k {
		case "MEDIC_TEST_POSTGRES_URL":
			p.url = v
		case "MEDIC_PG_DIR":
			p.dir = v
		}
	}
	if p.url == "" || p.dir == "" {
		t.Fatalf("scripts/pg.sh start printed no URL or directory:\n%s", out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("bash", "../../scripts/pg.sh", "stop", p.dir).CombinedOutput(); err != nil {
			t.Errorf("scripts/pg.sh stop %s: %v\n%s", p.dir, err, out)
		}
	})
	return p
}

// restart restarts the server as its owner does (pg_ctl restart -m fast: sessions are
// ended at once) and waits until it accepts connections again.
func (p privatePostgres) restart(t *testing.T) {
	t.Helper()
	bindir, err := os.ReadFile(filepath.Join(p.dir, "bindir"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(strings.TrimSpace(string(bindir)), "pg_ctl"), "-D", filepath.Join(p.dir, "data"),
		"-l", filepath.Join(p.dir, "server.log"), "-m", "fast", "-w", "-t", "30", "restart"}
	if os.Geteuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...) // the cluster's owner
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("restarting PostgreSQL: %v\n%s", err, out)
	}
}

// mentionsRun reports whether an alert names workflow run id ("… run 1234").
func mentionsRun(m slackfake.Message, id int64) bool {
	s, key := string(m.Blocks), fmt.Sprintf("run %d", id)
	for i := strings.Index(s, key); i >= 0; {
		if end := i + len(key); end == len(s) || s[end] < '0' || s[end] > '9' {
			return true
		}
		j := strings.Index(s[i+1:], key)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// loadOutcome is how one piece of load ended.
type loadOutcome int

const (
	outcomeSucceeded     loadOutcome = iota
	outcomeFailedCleanly             // an error people could read: "internal error (ref …)", a failed job
	outcomeLost                      // no answer, no alert, or a state half applied
)

// isReady reports whether the medic at addr answers /readyz with 200.
func isReady(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}

// TestDrillPostgresRestartedUnderLoad restarts PostgreSQL (pg_ctl restart -m fast) under
// two replicas busy with slash commands, failures reported by webhooks, requests and
// approvals. Every command must be answered once, with its result or a clear error;
// medic must be ready again soon after, with new requests succeeding; and the store
// must hold nothing half applied: no request without its audit, no job without its
// approved request, no approved request without its job, nothing twice.
func TestDrillPostgresRestartedUnderLoad(t *testing.T) {
	drillPostgresAdmin(t) // the PostgreSQL drills run only where PostgreSQL is available
	pg := startPrivatePostgres(t)
	c := startDrillCluster(t, pg.url, 2)
	seed := drillSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	waitFor := func(d time.Duration, match func(slackfake.Message) bool) (slackfake.Message, bool) {
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		m, err := c.sb.Slack.WaitForMessage(wctx, match)
		return m, err == nil
	}
	// answerTo waits for the ephemeral answer number n+1 to user.
	answerTo := func(user string, n int) (string, bool) {
		var text string
		_, ok := waitFor(20*time.Second, func(slackfake.Message) bool {
			i := 0
			for _, m := range c.sb.Slack.Messages(sandboxChannel) {
				if m.Ephemeral && m.User == user {
					if i == n {
						text = m.Text
						return true
					}
					i++
				}
			}
			return false
		})
		return text, ok
	}

	// Slash commands, one every 100ms, each typed by a user of its own so that its
	// answer can be told apart.
	type command struct {
		user, kind, id string
		err            error
	}
	var (
		mu       sync.Mutex
		commands []command
		stop     = make(chan struct{})
		cmdsDone = make(chan struct{})
	)
	go func() {
		defer close(cmdsDone)
		for i := 0; ; i++ {
			kind, text := "/status", "dev"
			if i%2 == 1 {
				kind, text = "/incident", "list"
			}
			cmd := command{user: fmt.Sprintf("U0LOAD%04d", i), kind: kind + " " + text}
			cmd.id, cmd.err = c.sb.Slack.SlashCommand(ctx, slackfake.Command{User: cmd.user, Channel: sandboxChannel, Command: kind, Text: text})
			mu.Lock()
			commands = append(commands, cmd)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	// Failures reported by webhooks, requested and approved, one recovery after another
	// (dev runs one job at a time), until two trials have begun after the restart.
	trial := func() (loadOutcome, string) {
		cs, _ := sandbox.CaseByName("dev-tests-fail-main")
		st, err := cs.Stage(c.sb, time.Now())
		if err != nil {
			return outcomeLost, "staging: " + err.Error()
		}
		for _, d := range st.Deliveries {
			r := c.reps[rng.IntN(len(c.reps))]
			if _, status, err := c.sb.GitHub.Deliver(ctx, webhookURLOf(r), sandboxWebhookSecret, d.Event, d.Payload); err != nil || status >= 300 {
				return outcomeFailedCleanly, fmt.Sprintf("webhook answered %d (%v)", status, err)
			}
		}
		alert, ok := waitFor(20*time.Second, func(m slackfake.Message) bool { return isAlert(m) && mentionsRun(m, st.RunID) })
		if !ok {
			return outcomeLost, fmt.Sprintf("no alert for run %d", st.RunID)
		}
		n := c.ephemeralCount(userAlice)
		if _, err := c.sb.Slack.Click(ctx, slackfake.Click{User: userAlice, Channel: alert.Channel, MessageTS: alert.TS, ActionID: "action:rerun-failed"}); err != nil {
			return outcomeLost, "request click: " + err.Error()
		}
		text, ok := answerTo(userAlice, n)
		switch {
		case !ok:
			return outcomeLost, "no answer to the request click"
		case strings.Contains(text, "internal error (ref"):
			return outcomeFailedCleanly, "request: " + text
		case !strings.Contains(text, "Requested"):
			return outcomeLost, "request answered: " + text
		}
		req, ok := waitFor(20*time.Second, func(m slackfake.Message) bool {
			return m.ThreadTS == alert.TS && strings.Contains(slackfake.Render(m), "[ Approve")
		})
		if !ok {
			return outcomeLost, "the request never offered Approve"
		}
		n = c.ephemeralCount(userBob)
		if _, err := c.sb.Slack.Click(ctx, slackfake.Click{User: userBob, Channel: req.Channel, MessageTS: req.TS, ActionID: "approve:request"}); err != nil {
			return outcomeLost, "approve click: " + err.Error()
		}
		text, ok = answerTo(userBob, n)
		switch {
		case !ok:
			return outcomeLost, "no answer to the approval"
		case strings.Contains(text, "internal error (ref"):
			return outcomeFailedCleanly, "approval: " + text
		case !strings.Contains(text, "You approved"):
			return outcomeLost, "approval answered: " + text
		}
		end, ok := waitFor(30*time.Second, func(m slackfake.Message) bool {
			return m.ThreadTS == alert.TS && strings.Contains(m.Text, "Job JOB-") &&
				(strings.Contains(m.Text, "succeeded.") || strings.Contains(m.Text, "failed at step") || strings.Contains(m.Text, "did not start"))
		})
		switch {
		case !ok:
			return outcomeLost, "the job never ended"
		case !strings.Contains(end.Text, "succeeded."):
			return outcomeFailedCleanly, "job: " + end.Text
		}
		return outcomeSucceeded, ""
	}
	var (
		trials   = map[loadOutcome]int{}
		last     loadOutcome // of the last recovery, begun after the restart
		why      []string
		restart  = make(chan struct{}) // closed once PostgreSQL has been restarted
		flowDone = make(chan struct{})
	)
	go func() {
		defer close(flowDone)
		after := 0
		for k := 1; after < 2 && ctx.Err() == nil; k++ {
			select {
			case <-restart:
				after++
			default:
			}
			o, w := trial()
			mu.Lock()
			trials[o]++
			last = o
			if w != "" {
				why = append(why, fmt.Sprintf("trial %d: %s", k, w))
			}
			mu.Unlock()
		}
	}()

	// Restart PostgreSQL in the middle of it all.
	time.Sleep(2 * time.Second) // the load runs a while first
	restartAt := time.Now()
	pg.restart(t)
	restarted := time.Since(restartAt)
	close(restart)

	// Recovered: both replicas ready again, and a command that needs the store succeeds.
	var recovered time.Duration
	for i := 0; recovered == 0; i++ {
		if time.Since(restartAt) > time.Minute {
			t.Fatal("medic did not recover within a minute of the restart")
		}
		ready := true
		for _, r := range c.reps {
			ready = ready && isReady(r.app.metricsAddr())
		}
		if ready {
			user := fmt.Sprintf("U0PROBE%03d", i)
			if _, err := c.sb.Slack.SlashCommand(ctx, slackfake.Command{User: user, Channel: sandboxChannel, Command: "/incident", Text: "list"}); err == nil {
				if text, ok := answerTo(user, 0); ok && !strings.Contains(text, "internal error") {
					recovered = time.Since(restartAt)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-flowDone:
	case <-time.After(2 * time.Minute):
		t.Fatal("the recovery flow did not finish")
	}
	close(stop)
	<-cmdsDone

	// Every command answered once: its result, or a clear error.
	var succeeded, failedCleanly, lost, duplicates int
	var problems []string
	answers := func(user string) []slackfake.Message {
		var out []slackfake.Message
		for _, m := range c.sb.Slack.Messages(sandboxChannel) {
			if (m.Ephemeral && m.User == user) || (statusOf("dev")(m) && strings.Contains(slackfake.Render(m), "<@"+user+">")) {
				out = append(out, m)
			}
		}
		return out
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, cmd := range commands {
		if cmd.err != nil {
			failedCleanly++ // Slack itself refused it; medic never saw it
			continue
		}
		got := answers(cmd.user)
		for len(got) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			got = answers(cmd.user)
		}
		switch {
		case len(got) == 0:
			lost++
			problems = append(problems, fmt.Sprintf("%s by %s: never answered", cmd.kind, cmd.user))
		case len(got) > 1:
			duplicates += len(got) - 1
			problems = append(problems, fmt.Sprintf("%s by %s: answered %d times", cmd.kind, cmd.user, len(got)))
		case strings.Contains(got[0].Text, "internal error (ref"):
			failedCleanly++
		default:
			succeeded++
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
	for _, w := range why {
		t.Log(w)
	}
	if trials[outcomeLost] > 0 {
		t.Errorf("%d recoveries lost on the way (see the log)", trials[outcomeLost])
	}
	if last != outcomeSucceeded {
		t.Error("the last recovery, begun after the restart, did not succeed")
	}
	in := checkIntegrity(t, c.db)
	for _, s := range append(in.lost, in.duplicates...) {
		t.Error(s)
	}
	// New requests succeed after the restart: the last trial did.
	drillReport(t, "commands=%d succeeded=%d failed_cleanly=%d unanswered=%d answered_twice=%d; recoveries=%d succeeded=%d failed_cleanly=%d lost=%d; "+
		"store: lost=%d duplicates=%d; pg_ctl restart took %s; ready and answering %s after the restart began",
		len(commands), succeeded, failedCleanly, lost, duplicates,
		trials[outcomeSucceeded]+trials[outcomeFailedCleanly]+trials[outcomeLost], trials[outcomeSucceeded], trials[outcomeFailedCleanly], trials[outcomeLost],
		len(in.lost), len(in.duplicates), restarted.Round(time.Millisecond), recovered.Round(time.Millisecond))
}
