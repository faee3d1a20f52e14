package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// leaderLease is the name of the lease the leader holds in the store.
const leaderLease = "leader"

// leadership tracks whether this replica leads: runs the pollers, the escalation
// timer and the request expiry, which must run on one replica at a time. Every replica
// answers Slack and runs the jobs it starts; the store keeps those exactly-once.
type leadership struct {
	id    string
	lease time.Duration
	store interface {
		AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
		ReleaseLease(ctx context.Context, name, holder string) error
	}
	log   *zap.Logger
	gauge prometheus.Gauge

	mu sync.Mutex
	// until is when this replica's lease runs out by its own monotonic clock: it stops
	// leading then even if the store cannot be reached to say so.
	until time.Time
}

// replicaID names this process: the configured ID, else hostname, process ID and a
// random suffix (a restarted process is a new holder).
func replicaID(configured string) string {
	if configured != "" {
		return configured
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "medic"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
}

// leads reports whether this replica holds the leader lease now.
func (l *leadership) leads() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Now().Before(l.until)
}

// run takes and renews the lease every third of its length until ctx ends, then
// releases it so another replica takes over at once.
func (l *leadership) run(ctx context.Context) error {
	t := time.NewTicker(l.lease / 3)
	defer t.Stop()
	was := false
	for {
		start := time.Now()
		ok, err := l.store.AcquireLease(ctx, leaderLease, l.id, l.lease)
		if ctx.Err() != nil {
			break
		}
		l.mu.Lock()
		switch {
		case err != nil:
			// Keep leading until the lease would run out: nobody else can take it
			// before then, and the pollers are idempotent anyway.
			l.log.Warn("renewing the leader lease", zap.Error(err))
		case ok:
			// Counted from before the call: the store's expiry is at least this late.
			l.until = start.Add(l.lease)
		default:
			l.until = time.Time{}
		}
		now := time.Now().Before(l.until)
		l.mu.Unlock()
		if now != was {
			if now {
				l.log.Info("this replica leads: pollers and escalation timer run here", zap.String("replica", l.id))
				l.gauge.Set(1)
			} else {
				l.log.Info("this replica no longer leads", zap.String("replica", l.id))
				l.gauge.Set(0)
			}
			was = now
		}
		select {
		case <-ctx.Done():
		case <-t.C:
			continue
		}
		break
	}
	l.mu.Lock()
	held := !l.until.IsZero()
	l.until = time.Time{}
	l.mu.Unlock()
	l.gauge.Set(0)
	if held {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := l.store.ReleaseLease(rctx, leaderLease, l.id); err != nil {
			l.log.Warn("releasing the leader lease", zap.Error(err))
		}
	}
	return nil
}
