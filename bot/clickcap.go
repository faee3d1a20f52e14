package bot

import (
	"context"
	"sync/atomic"
)

// clickCap bounds the clicks and form submissions waiting in the work queue apart from
// the queue's own bound (slack.queue). A queued slash command keeps its few short fields; a
// queued click keeps Slack's whole callback, the clicked message's blocks included (up
// to some 160 KiB): 8,192 of them could take over a gigabyte.
type clickCap struct {
	max    int64
	queued atomic.Int64
}

// defaultClickQueue is the most clicks waiting at once (what the whole queue held
// before slack.queue grew for crowds of commands).
const defaultClickQueue = 1024

// take reserves a place for one click; false when max are waiting already.
func (c *clickCap) take() bool {
	if c.queued.Add(1) > c.max {
		c.queued.Add(-1)
		return false
	}
	return true
}

// release frees a place taken.
func (c *clickCap) release() { c.queued.Add(-1) }

// enqueueClick queues a click's work within the cap; false when the cap or the queue
// is full. The place is released when a worker takes the work.
func (b *Bot) enqueueClick(queue chan<- work, envelopeID string, run func(ctx context.Context)) bool {
	if !b.clicks.take() {
		b.metric(func(m *Metrics) { m.rejected.Inc() })
		return false
	}
	if !b.tryEnqueue(queue, work{kind: "interactive", envelopeID: envelopeID, run: run, taken: b.clicks.release}) {
		b.clicks.release()
		return false
	}
	return true
}
