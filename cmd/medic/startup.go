package main

import (
	"context"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/medic-ops/medic/internal/memtrim"
)

// settleMemory gives the start's memory back to the OS once Slack is connected and
// the Terraform check is over (or settleWait passed): reading the config, opening the
// store and building the AWS, GitHub and Slack clients leave a few MiB of freed heap
// that Go's scavenger would otherwise return only slowly, and they touch pages all over
// medic's executable that an idle medic does not use (memtrim). It runs once.
func (a *app) settleMemory(ctx context.Context) {
	if !a.linkUp(ctx, 0) {
		return
	}
	if a.terraform != nil {
		t := time.NewTimer(settleWait)
		select {
		case <-a.terraform.done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	debug.FreeOSMemory()
	t, err := memtrim.Executable()
	if err != nil {
		a.log.Warn("could not give the start's pages of medic's executable back", zap.Error(err))
		return
	}
	a.log.Debug("gave the start's pages of medic's executable back", zap.Int("mappings", t.Mappings),
		zap.Int64("bytes", t.Bytes), zap.Int("kept", t.Skipped))
}

// settleWait bounds how long settleMemory waits for the Terraform check.
const settleWait = 2 * time.Second

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
	ready := a.bot.Ready
	if a.drill != nil {
		ready = a.drill.linkUp // the link of the app that took /drill
	}
	for !ready() {
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
