package main

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/sandbox"
)

// startReplica starts another medic on e's sandbox and store, as a second replica,
// with e's clocks.
func (e *e2e) startReplica() *sandboxed {
	e.t.Helper()
	cfg := *e.cfg
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	ext := sandboxExternal(e.sb, e.app.now)
	ext.clock = e.app.clock
	ext.sharedStore = true // the first replica holds the SQLite file's lock
	d, err := startSandboxed(ctx, e.sb, &cfg, ext, zaptest.NewLogger(e.t).Named("replica"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = d.close() })
	return d
}

// TestOneLeaderAtATime: of two replicas on one store exactly one leads; when it stops,
// the other takes over.
func TestOneLeaderAtATime(t *testing.T) {
	e, _ := mustStartStaged(t, "", e2eOption(func(_ *sandbox.World, cfg *config.Config) {
		cfg.Replicas.LeaderLease = 3 * time.Second
	}))
	b := e.startReplica()
	a := e.sandboxed
	leaders := func() (n int, who *sandboxed) {
		for _, r := range []*sandboxed{a, b} {
			if r.app.leader.leads() {
				n++
				who = r
			}
		}
		return n, who
	}
	deadline := time.Now().Add(10 * time.Second)
	var leader *sandboxed
	for {
		n, who := leaders()
		if n > 1 {
			t.Fatal("both replicas lead")
		}
		if n == 1 {
			leader = who
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no replica took the lead within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Through a few renewals, still one.
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n, who := leaders(); n != 1 || who != leader {
			t.Fatalf("leadership moved or doubled without a failure: %d leaders", n)
		}
	}
	other := a
	if leader == a {
		other = b
	}
	if err := leader.close(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second) // the lease's renewal period, with room
	for !other.app.leader.leads() {
		if time.Now().After(deadline) {
			t.Fatal("the remaining replica did not take over after the leader stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
