package recovery_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/medic-ops/medic/recovery"
	"github.com/medic-ops/medic/recovery/recoverytest"
)

// untrustedIn moves the pipeline's untrusted runs' environment to env.
func untrustedIn(env string) recoverytest.Option {
	return recoverytest.WithDeps(func(d *recovery.EngineDeps) {
		p := *d.Pipeline
		p.UntrustedEnv = env
		d.Pipeline = &p
	})
}

// A pull request's failed run is one LOW "Checks failed" alert in the untrusted runs'
// environment, offering GitHub's re-run and the logs only, whatever its jobs are
// named; it pages nobody, and nothing more of the run (more failed jobs, a "rollback"
// job, the run's completion, the run stuck) adds to it. prod takes the untrusted runs
// here, so that a page, were it sent, would be due after 15 minutes.
func TestEngineUntrustedPullRequestRunIsOneQuietAlert(t *testing.T) {
	h := recoverytest.New(t, untrustedIn("prod"))
	sig := h.FailedJob(recovery.JobDeployProd, recoverytest.FromPullRequest(42, "mallory"))
	h.GitHub.SetLog(sig.Job.ID, "Error: Error acquiring the state lock\nLock Info:\n  ID: 7d1c\n  Who: mallory@laptop\n")
	h.Submit(t, sig)
	in := mustOpen(t, h, sig)
	a := mustAlert(t, h, in.ID)
	if a.Scenario != recovery.UntrustedRunFailed || a.Severity != recovery.SeverityLow || a.Env != "prod" || a.Channel != recoverytest.Channel("prod") {
		t.Fatalf("alert: got %s %s in %s (%s), want %s LOW in prod", a.Scenario, a.Severity, a.Env, a.Channel, recovery.UntrustedRunFailed)
	}
	if want := "Checks failed on PR #42 by mallory"; a.Title != want {
		t.Fatalf("title: got %q, want %q", a.Title, want)
	}
	if want := "it was started by a pull_request event"; a.Untrusted != want {
		t.Fatalf("untrusted: got %q, want %q", a.Untrusted, want)
	}
	if a.Lock != nil || a.Cause != recovery.CauseNone || a.RollbackSHA != "" {
		t.Fatalf("alert of an untrusted run: got lock %v, cause %q, rollback to %q; want none taken from its log", a.Lock, a.Cause, a.RollbackSHA)
	}
	if got, want := labels(recovery.Buttons(a)), []string{"Re-run failed jobs", "View logs", "Refresh diagnostics"}; !slices.Equal(got, want) {
		t.Fatalf("buttons: got %v, want %v", got, want)
	}
	entries := h.Audit(t, in.ID)
	if len(entries) == 0 || entries[0].Action != "incident.opened" || entries[0].Detail["untrusted"] != a.Untrusted {
		t.Fatalf("audit: got %v, want incident.opened saying why the run is untrusted", entries)
	}

	notes, versions := len(h.Publisher.Notes(in.ID)), len(h.Publisher.AlertVersions(in.ID))
	more := []recovery.Signal{
		h.JobOf(*sig.Run, recovery.JobCanary, "failure"),
		h.JobOf(*sig.Run, recovery.JobRollback, ""),
		h.JobOf(*sig.Run, recovery.JobRollback, "success"),
		{Kind: recovery.SignalRunCompleted, Via: "poll", Run: sig.Run},
		{Kind: recovery.SignalRunStuck, Via: "poll", Run: sig.Run},
	}
	for _, s := range more {
		h.Submit(t, s)
	}
	if n, v := len(h.Publisher.Notes(in.ID)), len(h.Publisher.AlertVersions(in.ID)); n != notes || v != versions {
		t.Fatalf("after more of the run: got %d notes and %d alert versions, want still %d and %d; thread %q",
			n, v, notes, versions, h.Publisher.Texts(in.ID))
	}
	if got := len(h.Publisher.Alerts()); got != 1 {
		t.Fatalf("alerts: got %d, want 1", got)
	}
	if got := h.Incident(t, in.ID); got.Scenario != recovery.UntrustedRunFailed || got.Rollback != "" {
		t.Fatalf("incident after more of the run: got %s rollback %q, want still %s and no rollback", got.Scenario, got.Rollback, recovery.UntrustedRunFailed)
	}

	for range 8 {
		h.Advance(15 * time.Minute)
		if err := h.Escalate(t); err != nil {
			t.Fatal(err)
		}
	}
	if pd, sl := len(h.PagerDuty.Sends()), len(h.SlackPager.Sends()); pd != 0 || sl != 0 {
		t.Fatalf("pages after 2 h of escalation rounds: got %d PagerDuty and %d Slack, want none", pd, sl)
	}
}

// The harness's own configuration: untrusted runs' failures go to dev.
func TestEngineUntrustedRunFailsInTheUntrustedEnvironment(t *testing.T) {
	h := recoverytest.New(t)
	in := h.FailJob(t, recovery.JobCanary, recoverytest.FromPullRequest(7, "dev2"))
	a := mustAlert(t, h, in.ID)
	if a.Scenario != recovery.UntrustedRunFailed || a.Env != "dev" || a.Channel != recoverytest.Channel("dev") || a.Severity != recovery.SeverityLow {
		t.Fatalf("alert: got %s in %s (%s) %s, want %s in dev LOW", a.Scenario, a.Env, a.Channel, a.Severity, recovery.UntrustedRunFailed)
	}
}

// Why a run is not trusted, as its alert says: its code, its event, its branch, its
// commit. A trusted run's failure is its own scenario.
func TestEngineUntrustedReasons(t *testing.T) {
	tests := []struct {
		name   string
		change func(*recovery.Run, *recovery.JobInfo)
		world  func(*recoverytest.Harness)
		why    string
	}{
		{"trusted", nil, nil, ""},
		{"a fork's code", func(r *recovery.Run, _ *recovery.JobInfo) { r.HeadRepository = "mallory/sentiment-analyzer" }, nil,
			"its code comes from mallory/sentiment-analyzer, not " + recoverytest.Repo},
		{"a pull request", func(r *recovery.Run, _ *recovery.JobInfo) { r.Event = "pull_request_target" }, nil,
			"it was started by a pull_request_target event"},
		{"another branch", func(r *recovery.Run, _ *recovery.JobInfo) { r.HeadBranch = "release" }, nil,
			"it ran on branch release, not main"},
		{"no commit said", func(r *recovery.Run, _ *recovery.JobInfo) { r.HeadSHA = "" }, nil,
			"GitHub did not say which commit it ran"},
		{"a commit off the branch", nil, func(h *recoverytest.Harness) { h.GitHub.OffBranch(recoverytest.BadSHA) },
			"its commit badc0ff is not on branch main (a tag of that name?)"},
		{"a commit unknown", nil, func(h *recoverytest.Harness) { h.GitHub.Unknown(recoverytest.BadSHA) },
			"its commit badc0ff is not in the repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t)
			if tt.world != nil {
				tt.world(h)
			}
			var change []func(*recovery.Run, *recovery.JobInfo)
			if tt.change != nil {
				change = append(change, tt.change)
			}
			in := h.FailJob(t, recovery.JobDeployProd, change...)
			a := mustAlert(t, h, in.ID)
			wantScenario, wantEnv := recovery.UntrustedRunFailed, "dev"
			if tt.why == "" {
				wantScenario, wantEnv = recovery.ProdDeployFail, "prod"
			}
			if a.Untrusted != tt.why || a.Scenario != wantScenario || a.Env != wantEnv {
				t.Fatalf("alert: got %s in %s, untrusted %q; want %s in %s, untrusted %q", a.Scenario, a.Env, a.Untrusted, wantScenario, wantEnv, tt.why)
			}
		})
	}
}

// A job's delivery does not say what started its run or where its code came from:
// medic reads the run from GitHub and trusts what GitHub says, not the payload; the
// payload's workflow and link fill in what GitHub's run leaves out.
func TestEngineTrustIsReadFromGitHubNotThePayload(t *testing.T) {
	tests := []struct {
		name     string
		github   func(*recovery.Run)
		scenario recovery.ScenarioID
		env      string
	}{
		{"GitHub says a pull request", func(r *recovery.Run) { r.Event, r.HeadBranch = "pull_request", "feature" }, recovery.UntrustedRunFailed, "dev"},
		{"GitHub says a push to main", func(*recovery.Run) {}, recovery.OtherJobFailed, "prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t)
			sig := h.FailedJob("Smoke Test", func(r *recovery.Run, _ *recovery.JobInfo) { r.Workflow = "deploy-prod.yml" })
			onGitHub := *sig.Run
			tt.github(&onGitHub)
			onGitHub.Workflow, onGitHub.URL = "", ""
			h.GitHub.AddRun(onGitHub, *sig.Job)
			payload := *sig.Run
			payload.Event, payload.HeadRepository, payload.HeadBranch = "", "", "main"
			sig.Run = &payload
			h.Submit(t, sig)

			if calls := h.GitHub.CallsTo("Run"); len(calls) == 0 || calls[0].Args[0] != sig.Run.ID {
				t.Fatalf("GitHub Run calls: got %v, want run %d read", calls, sig.Run.ID)
			}
			in := mustOpen(t, h, sig)
			a := mustAlert(t, h, in.ID)
			if a.Scenario != tt.scenario || a.Env != tt.env || a.Workflow != "deploy-prod.yml" || a.RunURL != payload.URL {
				t.Fatalf("alert: got %s in %s, workflow %q, run %q; want %s in %s, deploy-prod.yml, %q", a.Scenario, a.Env, a.Workflow, a.RunURL, tt.scenario, tt.env, payload.URL)
			}
		})
	}
}

// GitHub failing to say what medic needs to trust a run: the signal fails (nothing
// shown) and is released; its next report, GitHub answering, opens the incident.
func TestEngineTrustUnknownIsRetried(t *testing.T) {
	tests := []struct {
		name  string
		fail  func(*recoverytest.GitHub)
		mend  func(*recoverytest.GitHub)
		strip bool
	}{
		{"the run unreadable", func(g *recoverytest.GitHub) {
			g.RunFunc = func(context.Context, int64) (recovery.Run, error) { return recovery.Run{}, errors.New("github: 502") }
		}, func(g *recoverytest.GitHub) { g.RunFunc = nil }, true},
		{"the commit's branch unknown", func(g *recoverytest.GitHub) {
			g.CommitOnBranchFunc = func(context.Context, string, string) (recovery.CommitPlace, error) {
				return recovery.CommitPlace{}, errors.New("github: 502")
			}
		}, func(g *recoverytest.GitHub) { g.CommitOnBranchFunc = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := recoverytest.New(t)
			sig := h.FailedJob(recovery.JobDeployProd)
			if tt.strip {
				r := *sig.Run
				r.Event, r.HeadRepository = "", ""
				sig.Run = &r
			}
			tt.fail(h.GitHub)
			h.Submit(t, sig)
			if got := len(h.Publisher.Posts()); got != 0 {
				t.Fatalf("posts while GitHub fails: got %d, want 0", got)
			}
			if _, err := h.Store.OpenIncidentBySource(t.Context(), sig.SourceKey()); !errors.Is(err, recovery.ErrNotFound) {
				t.Fatalf("incident while GitHub fails: got %v, want none", err)
			}
			tt.mend(h.GitHub)
			h.Submit(t, sig)
			in := mustOpen(t, h, sig)
			if a := mustAlert(t, h, in.ID); a.Scenario != recovery.ProdDeployFail {
				t.Fatalf("alert: got %s, want %s", a.Scenario, recovery.ProdDeployFail)
			}
		})
	}
}

// Without an environment for untrusted runs, their failures open nothing.
func TestEngineUntrustedRunWithoutItsEnvironmentIsIgnored(t *testing.T) {
	h := recoverytest.New(t, untrustedIn(""))
	sig := h.FailedJob(recovery.JobDeployProd, recoverytest.FromPullRequest(9, "someone"))
	h.Submit(t, sig)
	h.Submit(t, recovery.Signal{Kind: recovery.SignalRunCompleted, Via: "poll", Run: sig.Run})
	if got := len(h.Publisher.Posts()); got != 0 {
		t.Fatalf("posts: got %d, want 0", got)
	}
	if open, _ := h.Store.OpenIncidents(t.Context(), "dev"); len(open) != 0 {
		t.Fatalf("open incidents in dev: got %d, want 0", len(open))
	}
	if got := h.Clock.Timers(); len(got) != 0 {
		t.Fatalf("retries pending: got %v, want none (ignored, not failed)", got)
	}
}

// A delivery that lacks the run's facts gets them from GitHub, and the incident keeps
// them: the pull request and its author name the alert.
func TestEngineUntrustedTitleFromTheRunGitHubReads(t *testing.T) {
	h := recoverytest.New(t)
	sig := h.FailedJob(recovery.JobTestsDev, recoverytest.FromPullRequest(42, "mallory"))
	h.GitHub.AddRun(*sig.Run, *sig.Job)
	payload := *sig.Run // a workflow_job delivery: no commit message, number or PRs
	payload.PullRequests, payload.Actor, payload.CommitMessage, payload.Number = nil, "", "", 0
	sig.Run = &payload
	h.Submit(t, sig)
	in := mustOpen(t, h, sig)
	if want := "Checks failed on PR #42 by mallory"; in.Title != want {
		t.Fatalf("title: got %q, want %q", in.Title, want)
	}
}
