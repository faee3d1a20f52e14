package main

import (
	"context"
	"runtime/debug"
	"time"
)

// settleMemory hands the start's garbage back to the OS once Slack is connected:
// reading the config, opening the store and building the AWS, GitHub and Slack clients
// leave a few MiB of freed heap that Go's scavenger would otherwise return only
// slowly, and an idle medic should be small. It runs once.
func (a *app) settleMemory(ctx context.Context) {
	if a.linkUp(ctx, 0) {
		debug.FreeOSMemory()
	}
}

// linkUp waits until the Slack link is up and reports true; false when ctx ended, or
// when max (if positive) passed first.
func (a *app) linkUp(ctx context.Context, max time.Duration) bool {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var deadline <-chan time.Time
	if max > 0 {
		d := time.NewTimer(max)
		defer d.Stop()
		deadline = d.C
	}
	for !a.bot.Ready() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline:
			return false
		case <-t.C:
		}
	}
	return true
}

// firstRoundsWait is how long the periodic rounds wait for the Slack link before their
// first round: the start's CPU goes to connecting first (a round's alert needs Slack
// anyway), and a Slack that does not answer delays them no more than this.
const firstRoundsWait = 5 * time.Second
