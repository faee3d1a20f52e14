package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/medic-ops/medic/sandbox"
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
