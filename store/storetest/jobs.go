package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// testJobsAndEnvLocks: one job per request; an environment's pending and running
// jobs, oldest first; versioned updates; one job holds an environment's slot.
func testJobsAndEnvLocks(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	for i, st := range []recovery.JobState{recovery.JobRunning, recovery.JobSucceeded, recovery.JobPending} {
		j := recovery.Job{ID: string(rune('a' + i)), RequestID: "r" + string(rune('a'+i)), Env: "prod", Action: recovery.ActRollback, State: st,
			CreatedAt: t0.Add(time.Duration(i) * time.Minute), UpdatedAt: t0, LeaseUntil: t0.Add(time.Duration(i) * time.Minute)}
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	// In preprod, and made before a: listed for preprod only.
	if err := s.CreateJob(ctx, recovery.Job{ID: "p", RequestID: "rp", Env: "preprod", State: recovery.JobRunning, CreatedAt: t0.Add(-time.Hour),
		LeaseUntil: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJob(ctx, recovery.Job{ID: "z", RequestID: "ra", Env: "prod"}); !errors.Is(err, recovery.ErrDuplicate) {
		t.Fatalf("a second job for one request: got %v, want ErrDuplicate", err)
	}
	if err := s.CreateJob(ctx, recovery.Job{ID: "a", RequestID: "r-other", Env: "prod"}); !errors.Is(err, recovery.ErrDuplicate) {
		t.Fatalf("a second job with one ID: got %v, want ErrDuplicate", err)
	}
	got, err := s.RunningJobs(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "c"}; !slices.Equal(jobIDs(got), want) {
		t.Fatalf("running jobs: got %v, want %v (pending and running, oldest first, prod's only)", jobIDs(got), want)
	}
	if got[0].Version != 1 || got[0].RequestID != "ra" || got[0].Action != recovery.ActRollback || !got[0].CreatedAt.Equal(t0) {
		t.Fatalf("job a: got %+v, want version 1 of request ra's rollback made at t0", got[0])
	}
	if pre, err := s.RunningJobs(ctx, "preprod"); err != nil || !slices.Equal(jobIDs(pre), []string{"p"}) {
		t.Fatalf("running jobs of preprod: got %v, %v; want [p]", jobIDs(pre), err)
	}
	stale, err := s.StaleJobs(ctx, t0.Add(90*time.Second))
	if err != nil || !slices.Equal(jobIDs(stale), []string{"a"}) {
		t.Fatalf("stale jobs at t0+90s: got %v, %v; want [a]", jobIDs(stale), err)
	}
	j := got[0]
	j.State, j.Current = recovery.JobSucceeded, 3
	saved, err := s.UpdateJob(ctx, j)
	if err != nil || saved.Version != 2 {
		t.Fatalf("update: got version %d, %v; want 2", saved.Version, err)
	}
	if _, err := s.UpdateJob(ctx, j); !errors.Is(err, recovery.ErrConflict) {
		t.Fatalf("stale job update: got %v, want ErrConflict", err)
	}
	if read, err := s.Job(ctx, "a"); err != nil || read.Version != 2 || read.State != recovery.JobSucceeded || read.Current != 3 {
		t.Fatalf("job a after the update: got version %d, %s at step %d, %v; want version 2, succeeded at step 3", read.Version, read.State, read.Current, err)
	}
	if running, _ := s.RunningJobs(ctx, "prod"); !slices.Equal(jobIDs(running), []string{"c"}) {
		t.Fatalf("running jobs once a succeeded: got %v, want [c]", jobIDs(running))
	}
	if stale, _ := s.StaleJobs(ctx, t0.Add(time.Hour)); !slices.Equal(jobIDs(stale), []string{"c"}) {
		t.Fatalf("stale jobs once a succeeded: got %v, want [c] (a finished job is never stale)", jobIDs(stale))
	}

	if err := s.LockEnv(ctx, "prod", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.LockEnv(ctx, "prod", "a"); err != nil {
		t.Fatalf("locking again by its holder: got %v, want nil", err)
	}
	if err := s.LockEnv(ctx, "prod", "c"); !errors.Is(err, recovery.ErrDuplicate) || !strings.Contains(err.Error(), "job a") {
		t.Fatalf("second lock: got %v, want ErrDuplicate naming job a", err)
	}
	if err := s.LockEnv(ctx, "preprod", "c"); err != nil {
		t.Fatalf("another environment's slot: got %v, want nil (slots are per environment)", err)
	}
	if err := s.UnlockEnv(ctx, "prod", "c"); err != nil {
		t.Fatal(err)
	}
	if holder, _ := s.EnvLock(ctx, "prod"); holder != "a" {
		t.Fatalf("a non-holder unlocked prod: holder %q, want a", holder)
	}
	if err := s.UnlockEnv(ctx, "prod", "a"); err != nil {
		t.Fatal(err)
	}
	if holder, err := s.EnvLock(ctx, "prod"); err != nil || holder != "" {
		t.Fatalf("prod after its holder unlocked: got %q, %v; want free", holder, err)
	}
	if err := s.LockEnv(ctx, "prod", "c"); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	if holder, _ := s.EnvLock(ctx, "preprod"); holder != "c" {
		t.Fatalf("holder of preprod: got %q, want c", holder)
	}
}

// testStaleJobsAtTheLeaseBoundary: a pending or running job is stale once its owner's
// lease ran out before t, not at its end; a renewed lease makes it fresh again.
func testStaleJobsAtTheLeaseBoundary(t *testing.T, open Open) {
	s := one(t, open, nil)
	ctx := context.Background()
	lease := t0.Add(10 * time.Minute)
	for _, j := range []recovery.Job{
		{ID: "JOB-RUNNING", RequestID: "REQ-1", Env: "prod", State: recovery.JobRunning, Owner: "replica-a", CreatedAt: t0, LeaseUntil: lease},
		{ID: "JOB-PENDING", RequestID: "REQ-2", Env: "prod", State: recovery.JobPending, CreatedAt: t0.Add(time.Second), LeaseUntil: lease},
		{ID: "JOB-FAILED", RequestID: "REQ-3", Env: "prod", State: recovery.JobFailed, CreatedAt: t0, LeaseUntil: lease},
	} {
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	stale := func(at time.Time) []string {
		t.Helper()
		js, err := s.StaleJobs(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		return jobIDs(js)
	}
	if got := stale(lease.Add(-time.Second)); len(got) != 0 {
		t.Fatalf("stale 1s before the lease ends: got %v, want none", got)
	}
	if got := stale(lease); len(got) != 0 {
		t.Fatalf("stale as the lease ends: got %v, want none (it runs to its end)", got)
	}
	if got, want := stale(lease.Add(time.Second)), []string{"JOB-RUNNING", "JOB-PENDING"}; !slices.Equal(got, want) {
		t.Fatalf("stale 1s after the lease ended: got %v, want %v (oldest first, the failed job never)", got, want)
	}
	j, err := s.Job(ctx, "JOB-RUNNING")
	if err != nil {
		t.Fatal(err)
	}
	j.LeaseUntil = lease.Add(time.Minute) // its owner renewed
	if _, err := s.UpdateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if got, want := stale(lease.Add(time.Second)), []string{"JOB-PENDING"}; !slices.Equal(got, want) {
		t.Fatalf("stale after JOB-RUNNING's lease was renewed: got %v, want %v", got, want)
	}
}
