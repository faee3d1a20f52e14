package bot

import (
	"sync/atomic"
	"time"
)

// burstGate lets a burst's acks go first. When many envelopes arrive at once (everyone
// typing /status during an incident), a worker that took one from the queue while
// others wait there holds its work while envelopes are still arriving (one came within
// burstQuiet), for at most burstMaxWait: slack-go's reading and medic's acking have
// the two CPUs to themselves until the burst is acked, instead of sharing them with 16
// handlers. A lone command or click (nothing else queued) never waits, and a burst
// holds the workers burstMaxWait from its first envelope at most: under a steady
// stream they work as they would without the gate.
type burstGate struct {
	start time.Time
	// last is when the reader last queued an envelope, and began when the burst it
	// belongs to began (its first envelope after a quiet spell), as times since start
	// (monotonic).
	last, began atomic.Int64
}

const (
	burstQuiet   = 500 * time.Microsecond
	burstMaxWait = 25 * time.Millisecond
)

func newBurstGate() *burstGate { return &burstGate{start: time.Now()} }

// arrived notes an envelope queued now. Only the reader calls it.
func (g *burstGate) arrived() {
	now := int64(time.Since(g.start))
	if time.Duration(now-g.last.Load()) >= burstQuiet {
		g.began.Store(now)
	}
	g.last.Store(now)
}

// wait returns once no envelope arrived for burstQuiet, or after burstMaxWait, when
// others are waiting behind this one (waiting > 0); at once otherwise.
func (g *burstGate) wait(waiting int) {
	if waiting == 0 {
		return
	}
	deadline := g.start.Add(time.Duration(g.began.Load()) + burstMaxWait)
	for {
		quiet := time.Since(g.start) - time.Duration(g.last.Load())
		if quiet >= burstQuiet || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(min(burstQuiet-quiet, time.Until(deadline)))
	}
}
