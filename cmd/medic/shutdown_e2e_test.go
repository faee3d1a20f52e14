package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/config"
)

// TestShutdownGraceInterruptsARunningJob stops medic while a rollback's Terraform
// applies (the apply sleeps a minute), with shutdown_grace far shorter than the
// default: the drain gives the job no more than that grace, so the job ends
// interrupted at the apply, saying medic shut down, and medic stops well before the
// default grace would have let it go on.
func TestShutdownGraceInterruptsARunningJob(t *testing.T) {
	// Stopped inside the apply's minute.
	e, alert := rollbackApplying(t, func(cfg *config.Config) { cfg.ShutdownGrace = 100 * time.Millisecond })

	stopped := make(chan error, 1)
	go func() { stopped <- e.close() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("medic stopped with: %v", err)
		}
	case <-time.After(config.DefaultShutdownGrace):
		t.Fatalf("medic was still stopping after the default shutdown grace (%s): the configured one (%s) was not what the drain used",
			config.DefaultShutdownGrace, e.cfg.ShutdownGrace)
	}
	e.threadMessage(alert, "was interrupted at step 2 (terraform apply of the approved plan", "medic shut down")
	if jobs := runningJobs(t, e.cfg.Store, "prod"); len(jobs) != 0 {
		t.Errorf("running jobs of prod after the shutdown: %+v, want none", jobs)
	}
}

// The shutdown grace starts when serving ends, not before, and its end names the
// config key.
func TestShutdownGraceStartsWhenServingEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	grace, stop := graceAfter(ctx, time.Nanosecond)
	defer stop()
	time.Sleep(10 * time.Millisecond) // far past the grace, had it started
	if err := grace.Err(); err != nil {
		t.Fatalf("the grace ended while serving: %v", err)
	}
	cancel()
	select {
	case <-grace.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the grace never ended after serving did")
	}
	if cause := context.Cause(grace); cause == nil || !strings.Contains(cause.Error(), "shutdown_grace") {
		t.Errorf("cause: got %v, want it to name shutdown_grace", cause)
	}

	// Released before serving ends, it ends with no grace to wait.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	grace2, stop2 := graceAfter(ctx2, time.Hour)
	stop2()
	if grace2.Err() == nil {
		t.Error("a released grace is still running")
	}
}
