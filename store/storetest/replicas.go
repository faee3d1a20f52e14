package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
)

// Exactly once across replicas: for the SQL store each replica is opened on its own
// (its own pool of connections, as separate replicas of medic), so only the database
// can make one of them win.

const (
	replicaCount = 8
	raceRounds   = 10
)

// wonUnless turns the error of a call that either wins or loses with lost into a race
// result: nil wins, lost loses, anything else is an error.
func wonUnless(err, lost error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, lost):
		return false, nil
	}
	return false, err
}

// testExactlyOnceAcrossReplicas: each case races the same call on several replicas and
// wants one winner per round. Nothing in the test serialises them: only the store can.
func testExactlyOnceAcrossReplicas(t *testing.T, open Open) {
	ctx := context.Background()
	type raceCase struct {
		name string
		// prepare runs before round r, on the first replica.
		prepare func(t *testing.T, s Backend, clk *clock, r int)
		try     func(s Backend, i, r int) (bool, error)
		// check runs after round r with the winner.
		check func(t *testing.T, s Backend, winner, r int)
	}
	cases := []raceCase{{
		name: "Claim",
		try:  func(s Backend, _, r int) (bool, error) { return s.Claim(ctx, fmt.Sprintf("envelope:E%d", r)) },
	}, {
		name: "ClaimWork",
		try: func(s Backend, _, r int) (bool, error) {
			return s.ClaimWork(ctx, fmt.Sprintf("signal:run:%d", r), time.Minute)
		},
	}, {
		name: "ClaimWork of an expired lease",
		prepare: func(t *testing.T, s Backend, clk *clock, r int) {
			if ok, err := s.ClaimWork(ctx, fmt.Sprintf("signal:alarm:%d", r), time.Minute); err != nil || !ok {
				t.Fatalf("first claim: got %v, %v", ok, err)
			}
			clk.Add(2 * time.Minute) // its worker died
		},
		try: func(s Backend, _, r int) (bool, error) {
			return s.ClaimWork(ctx, fmt.Sprintf("signal:alarm:%d", r), time.Minute)
		},
	}, {
		name: "CreateJob",
		try: func(s Backend, i, r int) (bool, error) {
			return wonUnless(s.CreateJob(ctx, recovery.Job{ID: fmt.Sprintf("JOB-%d-%d", r, i), RequestID: fmt.Sprintf("REQ-%d", r),
				Env: "prod", Action: recovery.ActRollback, State: recovery.JobPending, CreatedAt: t0, UpdatedAt: t0}), recovery.ErrDuplicate)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			jobs, err := s.RunningJobs(ctx, "prod")
			if err != nil {
				t.Fatal(err)
			}
			var ofRequest []string
			for _, j := range jobs {
				if j.RequestID == fmt.Sprintf("REQ-%d", r) {
					ofRequest = append(ofRequest, j.ID)
				}
			}
			if want := fmt.Sprintf("JOB-%d-%d", r, winner); len(ofRequest) != 1 || ofRequest[0] != want {
				t.Fatalf("jobs of REQ-%d: got %v, want [%s]", r, ofRequest, want)
			}
		},
	}, {
		name: "LockEnv",
		try: func(s Backend, i, r int) (bool, error) {
			err := s.LockEnv(ctx, fmt.Sprintf("env-%d", r), fmt.Sprintf("JOB-%d", i))
			if err != nil && errors.Is(err, recovery.ErrDuplicate) && !strings.Contains(err.Error(), "busy with job JOB-") {
				return false, fmt.Errorf("refused without naming the holder: %w", err)
			}
			return wonUnless(err, recovery.ErrDuplicate)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			if holder, err := s.EnvLock(ctx, fmt.Sprintf("env-%d", r)); err != nil || holder != fmt.Sprintf("JOB-%d", winner) {
				t.Fatalf("holder of env-%d: got %q, %v; want JOB-%d", r, holder, err, winner)
			}
		},
	}, {
		name: "LockEnv after the holder unlocks",
		prepare: func(t *testing.T, s Backend, _ *clock, r int) {
			if err := s.LockEnv(ctx, "shared", "JOB-previous"); err != nil {
				t.Fatal(err)
			}
			if err := s.UnlockEnv(ctx, "shared", "JOB-previous"); err != nil {
				t.Fatal(err)
			}
		},
		try: func(s Backend, i, r int) (bool, error) {
			return wonUnless(s.LockEnv(ctx, "shared", fmt.Sprintf("JOB-%d-%d", r, i)), recovery.ErrDuplicate)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			if err := s.UnlockEnv(ctx, "shared", fmt.Sprintf("JOB-%d-%d", r, winner)); err != nil {
				t.Fatal(err)
			}
			if holder, err := s.EnvLock(ctx, "shared"); err != nil || holder != "" {
				t.Fatalf("after the winner unlocked: holder %q, %v; want none", holder, err)
			}
		},
	}, {
		name: "AcquireLease",
		try: func(s Backend, i, r int) (bool, error) {
			return s.AcquireLease(ctx, fmt.Sprintf("leader-%d", r), fmt.Sprintf("replica-%d", i), time.Minute)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			if h, _, err := s.LeaseHolder(ctx, fmt.Sprintf("leader-%d", r)); err != nil || h != fmt.Sprintf("replica-%d", winner) {
				t.Fatalf("holder of leader-%d: got %q, %v; want replica-%d", r, h, err, winner)
			}
		},
	}, {
		name: "AcquireLease of an expired lease",
		prepare: func(t *testing.T, s Backend, clk *clock, r int) {
			if ok, err := s.AcquireLease(ctx, "leader", "replica-gone", time.Minute); err != nil || !ok {
				t.Fatalf("first acquire: got %v, %v", ok, err)
			}
			clk.Add(time.Minute) // replica-gone stopped renewing
		},
		try: func(s Backend, i, r int) (bool, error) {
			return s.AcquireLease(ctx, "leader", fmt.Sprintf("replica-%d", i), time.Minute)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			if err := s.ReleaseLease(ctx, "leader", fmt.Sprintf("replica-%d", winner)); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name: "CreateRequest with one dedupe key",
		try: func(s Backend, i, r int) (bool, error) {
			return wonUnless(s.CreateRequest(ctx, recovery.Request{ID: fmt.Sprintf("REQ-%d-%d", r, i), Env: "prod", Action: recovery.ActRollback,
				State: recovery.RequestPending, DedupeKey: fmt.Sprintf("rollback:prod:%d", r), RequestedAt: t0, ExpiresAt: t0.Add(time.Hour)}),
				recovery.ErrDuplicate)
		},
	}, {
		name: "UpdateRequest of one version",
		prepare: func(t *testing.T, s Backend, _ *clock, r int) {
			if err := s.CreateRequest(ctx, recovery.Request{ID: fmt.Sprintf("APPROVE-%d", r), Env: "prod", Action: recovery.ActRollback,
				State: recovery.RequestPending, DedupeKey: fmt.Sprintf("approve:%d", r), RequestedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		},
		try: func(s Backend, i, r int) (bool, error) {
			req, err := s.Request(ctx, fmt.Sprintf("APPROVE-%d", r))
			if err != nil {
				return false, err
			}
			if req.Version != 1 {
				return false, nil // read after the winner saved: a person would see it decided
			}
			req.State, req.DecidedBy, req.DecidedAt = recovery.RequestApproved, fmt.Sprintf("U%d", i), t0
			_, err = s.UpdateRequest(ctx, req)
			return wonUnless(err, recovery.ErrConflict)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			req, err := s.Request(ctx, fmt.Sprintf("APPROVE-%d", r))
			if err != nil || req.Version != 2 || req.State != recovery.RequestApproved || req.DecidedBy != fmt.Sprintf("U%d", winner) {
				t.Fatalf("APPROVE-%d: got version %d, %s by %q, %v; want version 2 approved by U%d", r, req.Version, req.State, req.DecidedBy, err, winner)
			}
		},
	}, {
		name: "CreateIncident for one source",
		try: func(s Backend, i, r int) (bool, error) {
			return wonUnless(s.CreateIncident(ctx, recovery.Incident{ID: fmt.Sprintf("INC-%d-%d", r, i), Env: "prod", Scenario: recovery.CanaryFail,
				Severity: recovery.SeverityHigh, Status: recovery.IncidentOpen, Title: "Canary failed", SourceKey: fmt.Sprintf("run:%d", r),
				OpenedAt: t0, UpdatedAt: t0}), recovery.ErrDuplicate)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			in, err := s.OpenIncidentBySource(ctx, fmt.Sprintf("run:%d", r))
			if err != nil || in.ID != fmt.Sprintf("INC-%d-%d", r, winner) {
				t.Fatalf("incident of run:%d: got %q, %v; want INC-%d-%d", r, in.ID, err, r, winner)
			}
		},
	}, {
		name: "UpdateIncident of one version",
		prepare: func(t *testing.T, s Backend, _ *clock, r int) {
			mustCreateIncident(t, s, recovery.Incident{ID: fmt.Sprintf("ACK-%d", r), Scenario: recovery.CanaryFail,
				Severity: recovery.SeverityHigh, Status: recovery.IncidentOpen, Title: "Canary failed", OpenedAt: t0})
		},
		try: func(s Backend, i, r int) (bool, error) {
			in, err := s.Incident(ctx, fmt.Sprintf("ACK-%d", r))
			if err != nil {
				return false, err
			}
			if in.Version != 1 {
				return false, nil
			}
			in.Status, in.AckBy = recovery.IncidentAcknowledged, fmt.Sprintf("U%d", i)
			_, err = s.UpdateIncident(ctx, in)
			return wonUnless(err, recovery.ErrConflict)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			in, err := s.Incident(ctx, fmt.Sprintf("ACK-%d", r))
			if err != nil || in.Version != 2 || in.AckBy != fmt.Sprintf("U%d", winner) {
				t.Fatalf("ACK-%d: got version %d acknowledged by %q, %v; want version 2 by U%d", r, in.Version, in.AckBy, err, winner)
			}
		},
	}, {
		name: "AddPage",
		try: func(s Backend, i, r int) (bool, error) {
			return wonUnless(s.AddPage(ctx, recovery.Page{ID: fmt.Sprintf("INC-1#%d/pagerduty", r), IncidentID: "INC-1", Pager: "pagerduty",
				By: fmt.Sprintf("replica-%d", i), State: recovery.PagePending, CreatedAt: t0, NextAt: t0}), recovery.ErrDuplicate)
		},
	}, {
		name: "UpdatePage to sent",
		prepare: func(t *testing.T, s Backend, _ *clock, r int) {
			if err := s.AddPage(ctx, recovery.Page{ID: fmt.Sprintf("INC-2#%d/slack", r), IncidentID: "INC-2", Pager: "slack",
				State: recovery.PagePending, CreatedAt: t0, NextAt: t0}); err != nil {
				t.Fatal(err)
			}
		},
		try: func(s Backend, i, r int) (bool, error) {
			return wonUnless(s.UpdatePage(ctx, recovery.Page{ID: fmt.Sprintf("INC-2#%d/slack", r), IncidentID: "INC-2", Pager: "slack",
				By: fmt.Sprintf("replica-%d", i), State: recovery.PageSent, Attempts: 1, CreatedAt: t0, SentAt: t0}), recovery.ErrConflict)
		},
		check: func(t *testing.T, s Backend, winner, r int) {
			ps, err := s.PagesOf(ctx, "INC-2")
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if p.ID == fmt.Sprintf("INC-2#%d/slack", r) && (p.State != recovery.PageSent || p.By != fmt.Sprintf("replica-%d", winner)) {
					t.Fatalf("page %s: got %s by %s, want sent by replica-%d", p.ID, p.State, p.By, winner)
				}
			}
		},
	}}

	clk := newClock(t0)
	stores := open(t, replicaCount, clk.Now)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for r := range raceRounds {
				if c.prepare != nil {
					c.prepare(t, stores[0], clk, r)
				}
				won := race(t, stores, func(i int, s Backend) (bool, error) { return c.try(s, i, r) })
				if t.Failed() {
					t.FailNow()
				}
				if len(won) != 1 {
					t.Fatalf("round %d: replicas %v won, want exactly one", r, won)
				}
				if c.check != nil {
					c.check(t, stores[(won[0]+1)%len(stores)], won[0], r)
				}
			}
		})
	}
}
