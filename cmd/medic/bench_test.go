package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"go.uber.org/zap"

	"github.com/medic-ops/medic/sandbox"
	"github.com/medic-ops/medic/sandbox/fault"
	"github.com/medic-ops/medic/sandbox/slackfake"
)

// BenchmarkAckLatency measures, per envelope, the time from the sandbox sending a
// /status slash command over the Socket Mode link to medic's ack arriving back. medic
// acks before doing any work, so the ack never waits on AWS or GitHub, whose calls the
// handlers then make for every /status in the background.
//
// With concurrent=500 the commands go out back to back without waiting for acks, so
// all 500 are in flight at once; the acks are collected afterwards (the sandbox
// timestamps sending and arrival itself). Percentiles are reported as p50-ms/p99-ms.
func BenchmarkAckLatency(b *testing.B) {
	for _, concurrent := range []int{1, 500} {
		b.Run(fmt.Sprintf("concurrent=%d", concurrent), func(b *testing.B) {
			benchAcks(b, concurrent)
		})
	}
}

func benchAcks(b *testing.B, concurrent int) {
	sb := sandbox.Start(sandbox.Options{})
	defer sb.Close()
	cfg, err := sandboxConfig(sb, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	d, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, nil), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer d.close()

	var all []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ids := make([]string, concurrent)
		for j := range ids {
			id, err := sb.Slack.SlashCommand(ctx, slackfake.Command{User: fmt.Sprintf("U%05d", j), Channel: sandboxChannel, Command: "/status", Text: "prod"})
			if err != nil {
				b.Fatal(err)
			}
			ids[j] = id
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		for _, id := range ids {
			ack, err := sb.Slack.WaitAck(wctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if len(ack.Payload) > 0 {
				b.Fatalf("command refused as overloaded (%s): the benchmark would measure the refusal path", ack.Payload)
			}
			all = append(all, ack.Latency)
		}
		// Let the handlers finish before the next burst, so bursts do not pile up in
		// the work queue (where, once full, medic refuses new requests at once).
		b.StopTimer()
		target := (i + 1) * concurrent
		if _, err := sb.Slack.WaitForMessage(wctx, func(slackfake.Message) bool {
			return len(sb.Slack.Messages(sandboxChannel)) >= target
		}); err != nil {
			b.Fatalf("waiting for %d answers: %v", target, err)
		}
		cancel()
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// diagnosticOps are the calls a canary-fail alert makes to GitHub and AWS.
var diagnosticOps = []string{
	"github:GetWorkflowRun", "github:ListJobs", "github:GetJob", "github:JobLogs", "github:DownloadJobLogs", "github:ListWorkflowRuns",
	"health:prod", "secretsmanager:GetSecretValue", "cloudwatch:DescribeAlarms", "logs:FilterLogEvents",
	"lambda:GetFunction", "sts:AssumeRole", "dynamodb:Scan", "dynamodb:DescribeTable", "s3:HeadBucket",
}

// BenchmarkSignalToAlert gives every diagnostic call 200 ms of latency in the sandbox
// and measures the time from GitHub delivering the canary job's failure to the alert
// being in Slack. It reports the sum of the diagnostic calls' latencies (what the
// alert would take if they ran one after another) as sequential-ms.
func BenchmarkSignalToAlert(b *testing.B) {
	const latency = 200 * time.Millisecond
	sb := sandbox.Start(sandbox.Options{})
	defer sb.Close()
	cfg, err := sandboxConfig(sb, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	d, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, nil), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer d.close()
	c, _ := sandbox.CaseByName("canary-fail")
	url := "http://" + d.app.addr() + "/webhooks/github"

	play := func() (time.Duration, int) {
		b.StopTimer()
		st, err := c.Stage(sb, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		// Everything up to the canary job's failure, untimed (it opens nothing).
		last := len(st.Deliveries) - 1
		for i, del := range st.Deliveries {
			if isCanaryFailure(del) {
				last = i
				break
			}
		}
		for _, del := range st.Deliveries[:last] {
			if _, _, err := sb.GitHub.Deliver(ctx, url, sandboxWebhookSecret, del.Event, del.Payload); err != nil {
				b.Fatal(err)
			}
		}
		before := callCount(sb)
		b.StartTimer()
		start := time.Now()
		if _, _, err := sb.GitHub.Deliver(ctx, url, sandboxWebhookSecret, st.Deliveries[last].Event, st.Deliveries[last].Payload); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := sb.Slack.WaitForMessage(wctx, func(m slackfake.Message) bool {
			return isAlert(m) && strings.Contains(string(m.Blocks), fmt.Sprint(st.RunID))
		}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start), callCount(sb) - before
	}
	// Warm up: credentials assumed, API key read (both are cached in production too).
	play()
	for _, op := range diagnosticOps {
		sb.Faults.Set(op, fault.Rule{Latency: latency})
	}
	b.ResetTimer()
	var calls int
	var slowest time.Duration
	for i := 0; i < b.N; i++ {
		took, n := play()
		calls += n
		slowest = max(slowest, took)
	}
	b.StopTimer()
	b.ReportMetric(float64(calls)/float64(b.N)*float64(latency.Milliseconds()), "sequential-ms")
	b.ReportMetric(float64(slowest.Milliseconds()), "max-ms")
	b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
}

func isCanaryFailure(d sandbox.Delivery) bool {
	ev, ok := d.Payload.(*github.WorkflowJobEvent)
	return ok && ev.GetAction() == "completed" && ev.GetWorkflowJob().GetName() == "Production Canary Test"
}

func callCount(sb *sandbox.Sandbox) int {
	n := 0
	for _, op := range diagnosticOps {
		n += sb.Faults.Calls(op)
	}
	return n
}

// BenchmarkApprovalToFirstCall measures the time from an approver's click on Approve
// (the sandbox sending the envelope) to the job's first recovery API call (the
// download of the Terraform sources at the rollback SHA), for a prod rollback.
func BenchmarkApprovalToFirstCall(b *testing.B) {
	sb := sandbox.Start(sandbox.Options{})
	defer sb.Close()
	cfg, err := sandboxConfig(sb, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if cfg.Terraform.Bin == "" {
		missingTerraform(b)
	}
	off := time.Duration(0)
	cfg.Pipeline.PollInterval, cfg.Pipeline.AlarmPollInterval = &off, &off
	if err := sb.Seed(worldFromConfig(cfg)); err != nil {
		b.Fatal(err)
	}
	c, _ := sandbox.CaseByName("canary-fail")
	st, err := c.Stage(sb, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	d, err := startSandboxed(ctx, sb, cfg, sandboxExternal(sb, nil), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer d.close()
	if err := st.Deliver(ctx, sb, "http://"+d.app.addr()+"/webhooks/github", sandboxWebhookSecret); err != nil {
		b.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	alert, err := sb.Slack.WaitForMessage(wctx, isAlert)
	if err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Each rollback gets a minute, however many the benchmark plays.
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		if err := clickAndWait(wctx, d, userAlice, alert, "action:rollback"); err != nil {
			b.Fatal(err)
		}
		req, err := waitThread(wctx, d, alert.TS, func(text string) bool {
			return strings.Contains(text, "[ Approve") && strings.Contains(text, "Waiting for an approver")
		})
		if err != nil {
			b.Fatal(err)
		}
		before := sb.Faults.Calls("github:Tarball")
		b.StartTimer()
		start := time.Now()
		if _, err := sb.Slack.Click(wctx, slackfake.Click{User: userBob, Channel: req.Channel, MessageTS: req.TS, ActionID: "approve:request"}); err != nil {
			b.Fatal(err)
		}
		for sb.Faults.Calls("github:Tarball") == before {
			if wctx.Err() != nil {
				b.Fatalf("no download of the Terraform sources after the approval: %v", wctx.Err())
			}
			time.Sleep(200 * time.Microsecond)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		if _, err := sb.Slack.WaitForMessage(wctx, func(slackfake.Message) bool {
			done := 0
			for _, m := range sb.Slack.Thread(sandboxChannel, alert.TS) {
				if strings.Contains(m.Text, "Job JOB-") && strings.Contains(m.Text, "succeeded.") {
					done++
				}
			}
			return done > i
		}); err != nil {
			b.Fatal(err)
		}
		// The next request needs prod's job slot free and the last request decided.
		for {
			holder, _ := d.app.store.EnvLock(wctx, "prod")
			if holder == "" {
				break
			}
			if wctx.Err() != nil {
				b.Fatalf("prod still held by %s after the job succeeded: %v", holder, wctx.Err())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
}
