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
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !a.bot.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	debug.FreeOSMemory()
}
