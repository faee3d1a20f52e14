package recovery

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTrustBoundaries: a run is trusted only when its code comes from the repository
// (any case), started by a configured event that is never one of the untrusted ones,
// on a configured branch (exactly); the first rule broken is the reason given.
func TestTrustBoundaries(t *testing.T) {
	own := "traylorre/sentiment-analyzer-gsk"
	trust := RunTrust{Repository: own, Branches: []string{"main"}, Events: append(DefaultTrustedEvents(), UntrustedEvents...)}
	ok := Run{HeadRepository: own, Event: "push", HeadBranch: "main"}
	with := func(change func(*Run)) Run { r := ok; change(&r); return r }
	tests := []struct {
		name string
		run  Run
		want string // "" trusted, else the whole reason
	}{
		{"push to main", ok, ""},
		{"upper-case repository", with(func(r *Run) { r.HeadRepository = strings.ToUpper(own) }), ""},
		{"a repository named like a prefix of ours", with(func(r *Run) { r.HeadRepository = own + "-fork" }), "its code comes from " + own + "-fork, not " + own},
		{"a fork with the same name", with(func(r *Run) { r.HeadRepository = "mallory/sentiment-analyzer-gsk" }), "its code comes from mallory/sentiment-analyzer-gsk, not " + own},
		{"no head repository", with(func(r *Run) { r.HeadRepository = "" }), "GitHub did not say which repository its code came from"},
		{"a fork and a pull request: the fork is the reason", with(func(r *Run) { r.HeadRepository = "m/x"; r.Event = "pull_request" }), "its code comes from m/x, not " + own},
		{"no event", with(func(r *Run) { r.Event = "" }), "it was started by a unknown event"},
		{"an event in another case", with(func(r *Run) { r.Event = "Push" }), "it was started by a Push event"},
		{"another branch", with(func(r *Run) { r.HeadBranch = "dev" }), "it ran on branch dev, not main"},
		{"no branch", with(func(r *Run) { r.HeadBranch = "" }), "it ran on branch (none), not main"},
		{"a branch in another case", with(func(r *Run) { r.HeadBranch = "Main" }), "it ran on branch Main, not main"},
		{"an untrusted event on another branch: the event is the reason", with(func(r *Run) { r.Event = "fork"; r.HeadBranch = "x" }), "it was started by a fork event"},
	}
	for _, ev := range UntrustedEvents {
		tests = append(tests, struct {
			name string
			run  Run
			want string
		}{"configured yet untrusted: " + ev, with(func(r *Run) { r.Event = ev }), "it was started by a " + ev + " event"})
	}
	for _, ev := range DefaultTrustedEvents() {
		tests = append(tests, struct {
			name string
			run  Run
			want string
		}{"trusted event: " + ev, with(func(r *Run) { r.Event = ev }), ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trust.Untrusted(tt.run); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	two := RunTrust{Repository: own, Branches: []string{"main", "release"}, Events: []string{"push"}}
	if got, want := two.Untrusted(with(func(r *Run) { r.HeadBranch = "x" })), "it ran on branch x, not main or release"; got != want {
		t.Errorf("two branches: got %q, want %q", got, want)
	}
	if got, want := (RunTrust{Branches: []string{"main"}, Events: []string{"push"}}).Untrusted(ok), "medic trusts no repository (config: github.owner, github.repo)"; got != want {
		t.Errorf("no repository configured: got %q, want %q", got, want)
	}
	if got := (RunTrust{Repository: own, Branches: []string{"main"}}).Untrusted(ok); got == "" {
		t.Error("no events configured: got trusted, want untrusted")
	}
}

// TestTrustOfARealDelivery: a real workflow_run delivery (repository_dispatch on
// master, with a pull request) is trusted only when its event and branch are
// configured; its title names its pull request.
func TestTrustOfARealDelivery(t *testing.T) {
	var p struct {
		WorkflowRun struct {
			ID             int64  `json:"id"`
			Event          string `json:"event"`
			HeadBranch     string `json:"head_branch"`
			HeadSHA        string `json:"head_sha"`
			HeadRepository struct {
				FullName string `json:"full_name"`
			} `json:"head_repository"`
			PullRequests []struct {
				Number int `json:"number"`
			} `json:"pull_requests"`
			Actor struct {
				Login string `json:"login"`
			} `json:"actor"`
		} `json:"workflow_run"`
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	mustPayload(t, "workflow_run.completed.with-pull-requests.payload.json", &p)
	w := p.WorkflowRun
	run := Run{ID: w.ID, Event: w.Event, HeadBranch: w.HeadBranch, HeadSHA: w.HeadSHA, HeadRepository: w.HeadRepository.FullName, Actor: w.Actor.Login}
	for _, pr := range w.PullRequests {
		run.PullRequests = append(run.PullRequests, pr.Number)
	}
	if !ValidSHA(run.HeadSHA) {
		t.Errorf("head SHA %q: got invalid, want a SHA", run.HeadSHA)
	}
	trust := RunTrust{Repository: p.Repository.FullName, Branches: []string{"main"}, Events: DefaultTrustedEvents()}
	if got, want := trust.Untrusted(run), "it was started by a repository_dispatch event"; got != want {
		t.Errorf("default events: got %q, want %q", got, want)
	}
	trust.Events = append(trust.Events, "repository_dispatch")
	if got, want := trust.Untrusted(run), "it ran on branch master, not main"; got != want {
		t.Errorf("repository_dispatch configured: got %q, want %q", got, want)
	}
	trust.Branches = append(trust.Branches, "master")
	if got := trust.Untrusted(run); got != "" {
		t.Errorf("event and branch configured: got %q, want trusted", got)
	}
	if got, want := untrustedTitle(run), "Checks failed on PR #2"; !strings.HasPrefix(got, want) {
		t.Errorf("title: got %q, want it to start %q", got, want)
	}
}

// TestUntrustedTitleEdges: the title names the pull request, else a fork's pull
// request by repository and branch, else the branch, and who, in at most 120 runes.
func TestUntrustedTitleEdges(t *testing.T) {
	tests := []struct {
		run  Run
		want string
	}{
		{Run{}, "Checks failed on branch (unknown)"},
		{Run{Event: "pull_request"}, "Checks failed on branch (unknown)"},
		{Run{Event: "pull_request", HeadRepository: "m/x"}, "Checks failed on a pull request from m/x:?"},
		{Run{Event: "push", HeadRepository: "m/x", HeadBranch: "b"}, "Checks failed on branch b"},
		{Run{Event: "push", HeadBranch: "b", PullRequests: []int{7}}, "Checks failed on PR #7"},
		{Run{HeadBranch: "b", Actor: "ann"}, "Checks failed on branch b by ann"},
	}
	for _, tt := range tests {
		if got := untrustedTitle(tt.run); got != tt.want {
			t.Errorf("untrustedTitle(%+v): got %q, want %q", tt.run, got, tt.want)
		}
	}
	long := untrustedTitle(Run{HeadBranch: strings.Repeat("é", 200), Actor: "ann"})
	if n := utf8.RuneCountInString(long); n != 120 || !strings.HasSuffix(long, "…") || !utf8.ValidString(long) {
		t.Errorf("a long branch: got %d runes (%q), want 120 ending in …", n, long)
	}
	if got := untrustedTitle(Run{HeadBranch: strings.Repeat("b", 120-len("Checks failed on branch "))}); strings.HasSuffix(got, "…") || utf8.RuneCountInString(got) != 120 {
		t.Errorf("a title of exactly 120 runes: got %q (%d), want it whole", got, utf8.RuneCountInString(got))
	}
}

// TestJobAndStepFailed: failure and timed_out are failures; cancelled, skipped and the
// rest are not.
func TestJobAndStepFailed(t *testing.T) {
	for _, tt := range []struct {
		conclusion string
		want       bool
	}{{"failure", true}, {"timed_out", true}, {"success", false}, {"cancelled", false}, {"skipped", false},
		{"neutral", false}, {"action_required", false}, {"startup_failure", false}, {"", false}, {"Failure", false}} {
		if got := (JobInfo{Conclusion: tt.conclusion}).Failed(); got != tt.want {
			t.Errorf("job %q: got failed %v, want %v", tt.conclusion, got, tt.want)
		}
		if got := (StepInfo{Conclusion: tt.conclusion}).Failed(); got != tt.want {
			t.Errorf("step %q: got failed %v, want %v", tt.conclusion, got, tt.want)
		}
	}
}

// TestFailedStep: the first step that failed, else the step running now; a job of a
// real delivery points at its failed step.
func TestFailedStep(t *testing.T) {
	job := mustFailedJob(t)
	if s, ok := job.FailedStep(); !ok || s.Number != 8 || s.Name != "Run yarn run format-check" {
		t.Errorf("real job: got step %d %q (%v), want step 8 Run yarn run format-check", s.Number, s.Name, ok)
	}
	steps := []StepInfo{
		{Number: 1, Name: "Set up", Status: "completed", Conclusion: "success"},
		{Number: 2, Name: "Apply", Status: "in_progress"},
		{Number: 3, Name: "Test", Status: "completed", Conclusion: "timed_out"},
		{Number: 4, Name: "Canary", Status: "completed", Conclusion: "failure"},
	}
	tests := []struct {
		name   string
		steps  []StepInfo
		want   int
		wantOK bool
	}{
		{"the first failed, even after a running one", steps, 3, true},
		{"the running one when none failed", steps[:2], 2, true},
		{"none failed, none running", steps[:1], 0, false},
		{"no steps", nil, 0, false},
	}
	for _, tt := range tests {
		s, ok := (JobInfo{Steps: tt.steps}).FailedStep()
		if ok != tt.wantOK || s.Number != tt.want {
			t.Errorf("%s: got step %d (%v), want %d (%v)", tt.name, s.Number, ok, tt.want, tt.wantOK)
		}
	}
}

// ruleLogReader serves one job log.
type ruleLogReader struct {
	RunReader
	log JobLog
	err error
}

func (r ruleLogReader) JobLog(context.Context, int64) (JobLog, error) { return r.log, r.err }

// TestJobLogsAreRedactedOnRead: a job's log is redacted before anything reads it, and
// a failure to read it says so.
func TestJobLogsAreRedactedOnRead(t *testing.T) {
	key := "AKIAIOSFODNN7EXAMPLE"
	l, err := readJobLog(context.Background(), ruleLogReader{log: JobLog{Text: "aws configure set aws_access_key_id " + key, URL: "https://github.com/x/y/actions/runs/1/job/2"}}, 2)
	if err != nil || strings.Contains(l.Text, key) || !strings.Contains(l.Text, "aws configure set") || l.URL != "https://github.com/x/y/actions/runs/1/job/2" {
		t.Errorf("got %+v, %v; want the key redacted, the rest and the URL kept", l, err)
	}
	boom := errors.New("github: 404")
	if _, err := readJobLog(context.Background(), ruleLogReader{err: boom}, 2); !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
}
