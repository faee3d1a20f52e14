package recovery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// plRuns is the Actions API as the runs poller reads it: each workflow's runs, each
// run's jobs, and the failures to answer with. Every call is noted.
type plRuns struct {
	RunReader
	mu        sync.Mutex
	runs      map[string][]Run
	jobs      map[int64][]JobInfo
	runsErr   map[string]error
	jobsErr   map[int64]error
	asked     []string // "workflow since"
	jobsAsked []int64
}

func (f *plRuns) RecentRuns(_ context.Context, wf string, since time.Time) ([]Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, wf+" "+since.UTC().Format(time.DateTime))
	if err := f.runsErr[wf]; err != nil {
		return nil, err
	}
	return f.runs[wf], nil
}

func (f *plRuns) RunJobs(_ context.Context, id int64) ([]JobInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobsAsked = append(f.jobsAsked, id)
	if err := f.jobsErr[id]; err != nil {
		return nil, err
	}
	return f.jobs[id], nil
}

func (f *plRuns) takeAsked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.asked
	f.asked = nil
	sort.Strings(a)
	return a
}

// plSignals collects what a poller submits; refuse makes Submit say the queue is full.
type plSignals struct {
	mu     sync.Mutex
	got    []Signal
	refuse bool
}

func (s *plSignals) submit(sig Signal) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return false
	}
	s.got = append(s.got, sig)
	return true
}

// take returns the signals submitted since the last take, each as a line.
func (s *plSignals) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sig := range s.got {
		out = append(out, plSignalLine(sig))
	}
	s.got = nil
	sort.Strings(out)
	return out
}

// plSignalLine is a signal as a line: its kind, source and what it carries.
func plSignalLine(s Signal) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s via %s at %s", s.Kind, s.Via, s.At.UTC().Format(time.TimeOnly))
	if s.Run != nil {
		fmt.Fprintf(&b, " run %d of %s", s.Run.ID, s.Run.Workflow)
	}
	if s.Job != nil {
		fmt.Fprintf(&b, " job %q %s", s.Job.Name, orWord(s.Job.Conclusion, s.Job.Status))
	}
	if s.Env != "" {
		fmt.Fprintf(&b, " env %s", s.Env)
	}
	if s.Alarm != nil {
		fmt.Fprintf(&b, " alarm %s", s.Alarm.Name)
		if s.Alarm.State != "" {
			fmt.Fprintf(&b, " %s", s.Alarm.State)
		}
	}
	if s.IncidentID != "" {
		fmt.Fprintf(&b, " incident %s", s.IncidentID)
	}
	return b.String()
}

var plT0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

type plRunPoller struct {
	p       *RunPoller
	runs    *plRuns
	cursors *memCursors
	signals *plSignals
	now     *time.Time
}

func newPLRunPoller(t *testing.T, lookback, stuckAfter time.Duration, workflows ...string) *plRunPoller {
	t.Helper()
	now := plT0
	wfs := map[string]string{}
	for _, wf := range workflows {
		wfs[wf] = "prod"
	}
	r := &plRunPoller{runs: &plRuns{runs: map[string][]Run{}, jobs: map[int64][]JobInfo{}, runsErr: map[string]error{}, jobsErr: map[int64]error{}},
		cursors: &memCursors{m: map[string]time.Time{}}, signals: &plSignals{}, now: &now}
	r.p = &RunPoller{Runs: r.runs, Cursors: r.cursors, Submit: r.signals.submit, Now: func() time.Time { return *r.now },
		Logger: zaptest.NewLogger(t), Lookback: lookback,
		Pipeline: &Pipeline{Workflows: wfs, StuckAfter: stuckAfter, RollbackJob: "Rollback on Failure"}}
	return r
}

func (r *plRunPoller) cursor(wf string) time.Time {
	r.cursors.mu.Lock()
	defer r.cursors.mu.Unlock()
	return r.cursors.m["runs:"+wf]
}

func plAt(d time.Duration) time.Time { return plT0.Add(d) }

// TestRunPollerLooksBack: a first poll reads Lookback (default 24h) back; later polls
// read from the cursor; each re-reads 10 minutes before, for clocks that differ.
func TestRunPollerLooksBack(t *testing.T) {
	tests := []struct {
		name     string
		lookback time.Duration
		cursor   time.Time
		want     string
	}{
		{"first poll, default lookback", 0, time.Time{}, "deploy-prod.yml 2026-11-24 09:50:00"},
		{"first poll, 2h lookback", 2 * time.Hour, time.Time{}, "deploy-prod.yml 2026-11-25 07:50:00"},
		{"from the cursor", 2 * time.Hour, plAt(-30 * time.Minute), "deploy-prod.yml 2026-11-25 09:20:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPLRunPoller(t, tt.lookback, 0, "deploy-prod.yml")
			if !tt.cursor.IsZero() {
				r.cursors.m["runs:deploy-prod.yml"] = tt.cursor
			}
			if err := r.p.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := r.runs.takeAsked(); !reflect.DeepEqual(got, []string{tt.want}) {
				t.Errorf("asked: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRunPollerCursor: the cursor moves to the newest run seen once all are done, and
// stays at the oldest run still going (it may yet fail), even one read in the margin.
func TestRunPollerCursor(t *testing.T) {
	const wf = "deploy-prod.yml"
	done := func(id int64, created time.Duration) Run {
		return Run{ID: id, Status: "completed", Conclusion: "success", CreatedAt: plAt(created)}
	}
	open := func(id int64, created time.Duration) Run {
		return Run{ID: id, Status: "in_progress", CreatedAt: plAt(created), StartedAt: plAt(created)}
	}
	tests := []struct {
		name   string
		cursor time.Time
		runs   []Run
		want   time.Time
	}{
		{"no run: the first poll keeps its lookback", time.Time{}, nil, plAt(-24 * time.Hour)},
		{"no run: the cursor stays", plAt(-time.Hour), nil, plAt(-time.Hour)},
		{"all done: the newest", plAt(-time.Hour), []Run{done(3, -5*time.Minute), done(2, -20*time.Minute), done(1, -50*time.Minute)}, plAt(-5 * time.Minute)},
		{"one still going: the oldest going", plAt(-time.Hour), []Run{done(3, -5*time.Minute), open(2, -20*time.Minute), open(1, -30*time.Minute), done(0, -50*time.Minute)}, plAt(-30 * time.Minute)},
		{"runs in the margin do not move it back", plAt(-time.Hour), []Run{done(1, -65*time.Minute)}, plAt(-time.Hour)},
		{"an open run in the margin holds it back to that run", plAt(-time.Hour), []Run{open(1, -65*time.Minute)}, plAt(-65 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPLRunPoller(t, 0, 0, wf)
			if !tt.cursor.IsZero() {
				r.cursors.m["runs:"+wf] = tt.cursor
			}
			r.runs.runs[wf] = tt.runs
			if err := r.p.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := r.cursor(wf); !got.Equal(tt.want) {
				t.Errorf("cursor: got %s, want %s", got.Format(time.DateTime), tt.want.Format(time.DateTime))
			}
		})
	}
}

// TestRunPollerSignals: what each run and job the poller sees reports.
func TestRunPollerSignals(t *testing.T) {
	const wf = "deploy-prod.yml"
	running := func(id int64, started time.Duration) Run {
		return Run{ID: id, Status: "in_progress", CreatedAt: plAt(started - time.Minute), StartedAt: plAt(started)}
	}
	job := func(name, status, conclusion string) JobInfo {
		return JobInfo{Name: name, Status: status, Conclusion: conclusion}
	}
	const stuckAfter = time.Hour
	tests := []struct {
		name       string
		runs       []Run
		jobs       map[int64][]JobInfo
		stuckAfter time.Duration
		want       []string
		wantJobsOf []int64
	}{
		{name: "a completed run, whatever its conclusion", runs: []Run{{ID: 1, Status: "completed", Conclusion: "failure", CreatedAt: plAt(-time.Minute)}, {ID: 2, Workflow: "other.yml", Status: "completed", Conclusion: "success", CreatedAt: plAt(-time.Minute)}},
			want: []string{"run_completed via poll at 10:00:00 run 1 of deploy-prod.yml", "run_completed via poll at 10:00:00 run 2 of other.yml"}},
		{name: "running exactly StuckAfter: not stuck", runs: []Run{running(1, -stuckAfter)}, stuckAfter: stuckAfter, wantJobsOf: []int64{1}},
		{name: "running a second longer: stuck", runs: []Run{running(1, -stuckAfter-time.Second)}, stuckAfter: stuckAfter, wantJobsOf: []int64{1},
			want: []string{"run_stuck via poll at 10:00:00 run 1 of deploy-prod.yml"}},
		{name: "not started: counted from its creation", runs: []Run{{ID: 1, Status: "queued", CreatedAt: plAt(-stuckAfter - time.Second)}}, stuckAfter: stuckAfter, wantJobsOf: []int64{1},
			want: []string{"run_stuck via poll at 10:00:00 run 1 of deploy-prod.yml"}},
		{name: "queued a minute: not stuck", runs: []Run{{ID: 1, Status: "queued", CreatedAt: plAt(-time.Minute)}}, stuckAfter: stuckAfter, wantJobsOf: []int64{1}},
		{name: "no StuckAfter: never stuck", runs: []Run{running(1, -48*time.Hour)}, wantJobsOf: []int64{1}},
		{name: "the jobs of a running run", runs: []Run{running(1, -time.Minute)}, wantJobsOf: []int64{1},
			jobs: map[int64][]JobInfo{1: {job("build", "completed", "success"), job("test", "completed", "failure"), job("lint", "completed", "timed_out"),
				job("deploy", "in_progress", ""), job("docs", "completed", "cancelled"),
				job("Rollback on Failure", "in_progress", "")}},
			want: []string{`job_completed via poll at 10:00:00 run 1 of deploy-prod.yml job "lint" timed_out`,
				`job_completed via poll at 10:00:00 run 1 of deploy-prod.yml job "test" failure`,
				`job_started via poll at 10:00:00 run 1 of deploy-prod.yml job "Rollback on Failure" in_progress`}},
		{name: "the rollback job's end", runs: []Run{running(1, -time.Minute), running(2, -time.Minute)}, wantJobsOf: []int64{1, 2},
			jobs: map[int64][]JobInfo{1: {job("Rollback on Failure", "completed", "success")}, 2: {job("Rollback on Failure", "completed", "failure")}},
			want: []string{`job_completed via poll at 10:00:00 run 1 of deploy-prod.yml job "Rollback on Failure" success`,
				`job_completed via poll at 10:00:00 run 2 of deploy-prod.yml job "Rollback on Failure" failure`}},
		{name: "a queued rollback job starts nothing", runs: []Run{running(1, -time.Minute)}, wantJobsOf: []int64{1},
			jobs: map[int64][]JobInfo{1: {job("Rollback on Failure", "queued", "")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newPLRunPoller(t, 0, tt.stuckAfter, wf)
			r.runs.runs[wf] = tt.runs
			if tt.jobs != nil {
				r.runs.jobs = tt.jobs
			}
			if err := r.p.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := r.signals.take(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("signals:\ngot  %q\nwant %q", got, tt.want)
			}
			if got := r.runs.jobsAsked; !reflect.DeepEqual(got, tt.wantJobsOf) {
				t.Errorf("jobs listed of runs %v, want %v (only runs still going)", got, tt.wantJobsOf)
			}
		})
	}
}

// TestRunPollerFailures: a workflow that cannot be read does not stop the others; a
// running run whose jobs cannot be listed does not stop the cursor; a rate limit on
// jobs stops the round where it is and keeps the cursor for the next.
func TestRunPollerFailures(t *testing.T) {
	t.Run("a workflow that cannot be read", func(t *testing.T) {
		r := newPLRunPoller(t, 0, 0, "a.yml", "b.yml", "c.yml")
		r.runs.runsErr["b.yml"] = errors.New("GitHub: 502")
		r.runs.runsErr["c.yml"] = rateLimitedError{0} // said nothing about a wait: not a pause
		r.runs.runs["a.yml"] = []Run{{ID: 1, Status: "completed", CreatedAt: plAt(-time.Minute)}}
		err := r.p.Poll(context.Background())
		if err == nil || (err.Error() != "GitHub: 502" && err.Error() != "rate limited, retry after 0s") {
			t.Errorf("got %v, want the first failure", err)
		}
		if got := len(r.runs.takeAsked()); got != 3 {
			t.Errorf("workflows read: got %d, want 3", got)
		}
		if got := r.signals.take(); len(got) != 1 {
			t.Errorf("signals: got %q, want a.yml's run", got)
		}
		if !r.cursor("b.yml").IsZero() || !r.cursor("c.yml").IsZero() || !r.cursor("a.yml").Equal(plAt(-time.Minute)) {
			t.Errorf("cursors: got a %s, b %s, c %s; want a at its run, b and c unset", r.cursor("a.yml"), r.cursor("b.yml"), r.cursor("c.yml"))
		}
		*r.now = plAt(time.Second)
		if err := r.p.Poll(context.Background()); errors.Is(err, ErrPollPaused) {
			t.Errorf("next round: got %v, want it to poll (no rate limit asked for a wait)", err)
		}
		if got := len(r.runs.takeAsked()); got != 3 {
			t.Errorf("workflows read the next round: got %d, want 3", got)
		}
	})
	t.Run("jobs that cannot be listed", func(t *testing.T) {
		r := newPLRunPoller(t, 0, 0, "a.yml")
		r.runs.runs["a.yml"] = []Run{{ID: 1, Status: "in_progress", CreatedAt: plAt(-time.Minute)}, {ID: 2, Status: "in_progress", CreatedAt: plAt(-2 * time.Minute)}}
		r.runs.jobsErr[1] = errors.New("GitHub: 500")
		r.runs.jobs[2] = []JobInfo{{Name: "test", Status: "completed", Conclusion: "failure"}}
		if err := r.p.Poll(context.Background()); err != nil {
			t.Errorf("got %v, want nil (the run is read again next round)", err)
		}
		if got := r.signals.take(); len(got) != 1 || !strings.Contains(got[0], "run 2") {
			t.Errorf("signals: got %q, want run 2's failed job", got)
		}
		if got := r.cursor("a.yml"); !got.Equal(plAt(-2 * time.Minute)) {
			t.Errorf("cursor: got %s, want the oldest run still going", got)
		}
	})
	t.Run("jobs rate-limited", func(t *testing.T) {
		r := newPLRunPoller(t, 0, 0, "a.yml", "b.yml")
		r.cursors.m["runs:a.yml"], r.cursors.m["runs:b.yml"] = plAt(-time.Hour), plAt(-time.Hour)
		run := Run{ID: 1, Status: "in_progress", CreatedAt: plAt(-time.Minute)}
		r.runs.runs["a.yml"], r.runs.runs["b.yml"] = []Run{run}, []Run{run}
		r.runs.jobsErr[1] = rateLimitedError{time.Minute}
		var ra RetryAfterError
		if err := r.p.Poll(context.Background()); !errors.As(err, &ra) {
			t.Fatalf("got %v, want the rate limit", err)
		}
		if got := len(r.runs.takeAsked()); got != 1 {
			t.Errorf("workflows read: got %d, want 1 (the round stops at the limit)", got)
		}
		if got := r.cursor("a.yml"); !got.Equal(plAt(-time.Hour)) {
			t.Errorf("cursor: got %s, want it kept at %s", got, plAt(-time.Hour))
		}
	})
	t.Run("the cursor cannot be read", func(t *testing.T) {
		r := newPLRunPoller(t, 0, 0, "a.yml")
		r.p.Cursors = plBrokenCursors{}
		if err := r.p.Poll(context.Background()); err == nil || err.Error() != "store: locked" {
			t.Errorf("got %v, want the store's error", err)
		}
		if got := r.runs.takeAsked(); len(got) != 0 {
			t.Errorf("read %q without a cursor, want nothing", got)
		}
	})
}

type plBrokenCursors struct{}

func (plBrokenCursors) Cursor(context.Context, string) (time.Time, error) {
	return time.Time{}, errors.New("store: locked")
}
func (plBrokenCursors) SetCursor(context.Context, string, time.Time) error {
	return errors.New("store: locked")
}

// TestRunPollerPauseBoundaries: after GitHub asks for a 2-minute wait, a round one
// second before its end is skipped (saying until when); the round at its end polls.
func TestRunPollerPauseBoundaries(t *testing.T) {
	r := newPLRunPoller(t, 0, 0, "a.yml")
	r.runs.runsErr["a.yml"] = rateLimitedError{2 * time.Minute}
	if err := r.p.Poll(context.Background()); err == nil {
		t.Fatal("got nil, want the rate limit")
	}
	r.runs.runsErr["a.yml"] = nil
	r.runs.takeAsked()
	*r.now = plAt(2*time.Minute - time.Second)
	err := r.p.Poll(context.Background())
	if !errors.Is(err, ErrPollPaused) || err.Error() != "workflow runs: polling paused by a rate limit until 10:02:00" {
		t.Errorf("a second before the end: got %v, want the pause until 10:02:00", err)
	}
	if got := r.runs.takeAsked(); len(got) != 0 {
		t.Errorf("a second before the end: GitHub asked %q, want nothing", got)
	}
	*r.now = plAt(2 * time.Minute)
	if err := r.p.Poll(context.Background()); err != nil {
		t.Errorf("at the end: got %v, want a round", err)
	}
	if got := r.runs.takeAsked(); len(got) != 1 {
		t.Errorf("at the end: got %q asked, want a.yml", got)
	}
}

// TestRunPollerQueueFull: a signal the engine cannot queue is logged as such.
func TestRunPollerQueueFull(t *testing.T) {
	r := newPLRunPoller(t, 0, 0, "a.yml")
	core, logs := observer.New(zap.WarnLevel)
	r.p.Logger = zap.New(core)
	r.signals.refuse = true
	r.runs.runs["a.yml"] = []Run{{ID: 7, Attempt: 1, Status: "completed", Conclusion: "failure", CreatedAt: plAt(-time.Minute)}}
	if err := r.p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := logs.FilterMessage("signal not queued; the next poll will report it again").All()
	if len(got) != 1 || got[0].ContextMap()["signal"] != "signal:run:7:1:completed:failure" {
		t.Errorf("warnings: got %+v, want one naming signal:run:7:1:completed:failure", logs.All())
	}
}

type plAlarmWorld struct {
	mu        sync.Mutex
	firing    map[string][]Alarm
	firingErr map[string]error
	deploy    map[string]*Deploy
	deployErr error
	open      map[string][]Incident
	openErr   map[string]error
	asked     []string
}

func (w *plAlarmWorld) note(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.asked = append(w.asked, s)
}

func (w *plAlarmWorld) AlarmsFiring(_ context.Context, env Environment) ([]Alarm, error) {
	w.note("alarms " + env.Name)
	return w.firing[env.Name], w.firingErr[env.Name]
}

func (w *plAlarmWorld) LastSuccessfulDeploy(_ context.Context, env Environment) (*Deploy, error) {
	w.note("deploy " + env.Name)
	if w.deployErr != nil {
		return nil, w.deployErr
	}
	return w.deploy[env.Name], nil
}

func (w *plAlarmWorld) OpenIncidents(_ context.Context, env string) ([]Incident, error) {
	w.note("incidents " + env)
	return w.open[env], w.openErr[env]
}

func newPLAlarmPoller(t *testing.T, w *plAlarmWorld, grace time.Duration, now time.Time) (*AlarmPoller, *plSignals) {
	t.Helper()
	envs, err := NewEnvironments([]Environment{{Name: "prod"}, {Name: "dev"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &plSignals{}
	return &AlarmPoller{Envs: envs, Alarms: w, Deploys: w, Incidents: w, Pipeline: &Pipeline{AlarmClearGrace: grace},
		Submit: s.submit, Now: func() time.Time { return now }, Logger: zaptest.NewLogger(t)}, s
}

// TestAlarmPollerSignals: an alarm in ALARM fires; one in ALARM since before the last
// successful deploy, AlarmClearGrace after it, is stuck (the fix did not clear it);
// an open incident's alarm no longer in ALARM is cleared.
func TestAlarmPollerSignals(t *testing.T) {
	const grace = 10 * time.Minute
	fix := &Deploy{RunID: 41, At: plAt(-grace)}
	alarm := func(name string, since time.Duration) Alarm {
		return Alarm{Name: name, State: "ALARM", Since: plAt(since)}
	}
	tests := []struct {
		name  string
		w     *plAlarmWorld
		grace time.Duration
		want  []string
		asked []string
	}{
		{name: "firing, no deploy read without a grace",
			w:     &plAlarmWorld{firing: map[string][]Alarm{"prod": {alarm("prod-errors", -time.Hour)}}, deploy: map[string]*Deploy{"prod": fix}},
			want:  []string{"alarm_firing via alarm-poll at 10:00:00 env prod alarm prod-errors ALARM"},
			asked: []string{"alarms dev", "incidents dev", "alarms prod", "incidents prod"}},
		{name: "nothing firing: no deploy read", grace: grace, w: &plAlarmWorld{deploy: map[string]*Deploy{"prod": fix}},
			asked: []string{"alarms dev", "incidents dev", "alarms prod", "incidents prod"}},
		{name: "in ALARM since before the fix, the grace over: stuck", grace: grace,
			w:     &plAlarmWorld{firing: map[string][]Alarm{"prod": {alarm("prod-errors", -time.Hour), alarm("prod-latency", -grace+time.Second)}}, deploy: map[string]*Deploy{"prod": fix}},
			want:  []string{"alarm_firing via alarm-poll at 10:00:00 env prod alarm prod-latency ALARM", "alarm_stuck via alarm-poll at 10:00:00 env prod alarm prod-errors ALARM incident deploy-41"},
			asked: []string{"alarms dev", "incidents dev", "alarms prod", "deploy prod", "incidents prod"}},
		{name: "in ALARM since the fix itself: firing", grace: grace,
			w:    &plAlarmWorld{firing: map[string][]Alarm{"prod": {alarm("prod-errors", -grace)}}, deploy: map[string]*Deploy{"prod": fix}},
			want: []string{"alarm_firing via alarm-poll at 10:00:00 env prod alarm prod-errors ALARM"}},
		{name: "a second before the grace is over: firing", grace: grace + time.Second,
			w:    &plAlarmWorld{firing: map[string][]Alarm{"prod": {alarm("prod-errors", -time.Hour)}}, deploy: map[string]*Deploy{"prod": fix}},
			want: []string{"alarm_firing via alarm-poll at 10:00:00 env prod alarm prod-errors ALARM"}},
		{name: "never deployed: firing", grace: grace,
			w:    &plAlarmWorld{firing: map[string][]Alarm{"prod": {alarm("prod-errors", -time.Hour)}}},
			want: []string{"alarm_firing via alarm-poll at 10:00:00 env prod alarm prod-errors ALARM"}},
		{name: "deploys cannot be read: firing", grace: grace,
			w:    &plAlarmWorld{firing: map[string][]Alarm{"prod": {alarm("prod-errors", -time.Hour)}}, deploy: map[string]*Deploy{"prod": fix}, deployErr: errors.New("GitHub: 502")},
			want: []string{"alarm_firing via alarm-poll at 10:00:00 env prod alarm prod-errors ALARM"}},
		{name: "an open incident's alarms no longer in ALARM: cleared",
			w: &plAlarmWorld{firing: map[string][]Alarm{"prod": {alarm("prod-errors", -time.Hour)}}, open: map[string][]Incident{
				"prod": {{ID: "INC-1", Scenario: CanaryFail, Alarms: []string{"prod-errors", "prod-latency"}, AlarmName: "prod-ignored"},
					{ID: "INC-2", Scenario: AlarmFiring, AlarmName: "prod-5xx"}},
				"dev": {{ID: "INC-3", Scenario: AlarmFiring, AlarmName: "dev-errors", Alarms: []string{"dev-errors"}}}}},
			want: []string{"alarm_cleared via alarm-poll at 10:00:00 env dev alarm dev-errors OK incident INC-3",
				"alarm_cleared via alarm-poll at 10:00:00 env prod alarm prod-5xx OK incident INC-2",
				"alarm_cleared via alarm-poll at 10:00:00 env prod alarm prod-latency OK incident INC-1",
				"alarm_firing via alarm-poll at 10:00:00 env prod alarm prod-errors ALARM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, s := newPLAlarmPoller(t, tt.w, tt.grace, plT0)
			if err := p.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := s.take(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("signals:\ngot  %q\nwant %q", got, tt.want)
			}
			if tt.asked != nil && !reflect.DeepEqual(tt.w.asked, tt.asked) {
				t.Errorf("asked: got %q, want %q", tt.w.asked, tt.asked)
			}
		})
	}
}

// TestAlarmPollerFailures: an environment whose alarms cannot be read does not stop the
// others; the first failure is returned.
func TestAlarmPollerFailures(t *testing.T) {
	w := &plAlarmWorld{
		firingErr: map[string]error{"dev": errors.New("CloudWatch: AccessDenied")},
		firing:    map[string][]Alarm{"prod": {{Name: "prod-errors", State: "ALARM"}}},
		openErr:   map[string]error{"prod": errors.New("store: locked")},
	}
	p, s := newPLAlarmPoller(t, w, 0, plT0)
	err := p.Poll(context.Background())
	if err == nil || err.Error() != "CloudWatch: AccessDenied" {
		t.Errorf("got %v, want dev's failure, the first", err)
	}
	if want := []string{"alarms dev", "alarms prod", "incidents prod"}; !reflect.DeepEqual(w.asked, want) {
		t.Errorf("asked: got %q, want %q", w.asked, want)
	}
	if got := s.take(); len(got) != 1 || !strings.HasPrefix(got[0], "alarm_firing") {
		t.Errorf("signals: got %q, want prod's alarm firing", got)
	}
}

// TestRunPollerFailureWithoutAWait: a failure that asks for no wait (RetryAfter 0) is
// not a rate limit: it is logged as a failed read, and no pause begins.
func TestRunPollerFailureWithoutAWait(t *testing.T) {
	r := newPLRunPoller(t, 0, 0, "a.yml")
	core, logs := observer.New(zap.WarnLevel)
	r.p.Logger = zap.New(core)
	r.runs.runsErr["a.yml"] = rateLimitedError{0}
	if err := r.p.Poll(context.Background()); err == nil {
		t.Fatal("got nil, want the failure")
	}
	if n := logs.FilterMessage("rate limited: polling workflow runs paused").Len(); n != 0 {
		t.Errorf("got %d pause warnings, want 0", n)
	}
	if n := logs.FilterMessage("polling workflow runs").Len(); n != 1 {
		t.Errorf("got %d read-failure warnings, want 1: %+v", n, logs.All())
	}
}

// TestAlarmPollerQueueFull: a signal the engine cannot queue is logged as such.
func TestAlarmPollerQueueFull(t *testing.T) {
	w := &plAlarmWorld{firing: map[string][]Alarm{"prod": {{Name: "prod-errors", State: "ALARM", Since: plT0}}}}
	p, s := newPLAlarmPoller(t, w, 0, plT0)
	core, logs := observer.New(zap.WarnLevel)
	p.Logger = zap.New(core)
	s.refuse = true
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := logs.FilterMessage("signal not queued; the next poll will report it again").All()
	if want := fmt.Sprintf("signal:alarm:prod-errors:firing:%d", plT0.Unix()); len(got) != 1 || got[0].ContextMap()["signal"] != want {
		t.Errorf("warnings: got %+v, want one naming %s", logs.All(), want)
	}
}
