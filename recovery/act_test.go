package recovery

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// acStore keeps incidents in memory; read, when set, changes an incident as the
// n-th read of it returns it (someone else acted meanwhile).
type acStore struct {
	IncidentStore
	mu    sync.Mutex
	in    map[string]Incident
	err   error
	reads int
	read  func(n int, in *Incident)
	// updateErr fails every update.
	updateErr error
}

func (s *acStore) Incident(_ context.Context, id string) (Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return Incident{}, s.err
	}
	in, ok := s.in[id]
	if !ok {
		return Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	s.reads++
	if s.read != nil {
		s.read(s.reads, &in)
		s.in[id] = in
	}
	return in, nil
}

func (s *acStore) UpdateIncident(_ context.Context, in Incident) (Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.updateErr != nil {
		return Incident{}, s.updateErr
	}
	if s.in[in.ID].Version != in.Version {
		return Incident{}, ErrConflict
	}
	in.Version++
	s.in[in.ID] = in
	return in, nil
}

func (s *acStore) get(id string) Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.in[id]
}

// acSlack records the audit log and what medic shows in Slack.
type acSlack struct {
	Publisher
	mu      sync.Mutex
	audit   []string
	notes   []Note
	updated []Incident
}

func (s *acSlack) AppendAudit(_ context.Context, e AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := e.Actor + " " + e.Action + " " + e.IncidentID
	if len(e.Detail) > 0 {
		line += fmt.Sprint(" ", e.Detail)
	}
	s.audit = append(s.audit, line)
	return nil
}

func (s *acSlack) PostNote(_ context.Context, _ Incident, n Note) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notes = append(s.notes, n)
	return nil
}

func (s *acSlack) UpdateAlert(_ context.Context, in Incident) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updated = append(s.updated, in)
	return nil
}

var (
	_ Auditor   = (*acSlack)(nil)
	_ Publisher = (*acSlack)(nil)
)

type acWorld struct {
	e     *Engine
	store *acStore
	slack *acSlack
	gh    *dgWorld
}

func newACWorld(t *testing.T, in Incident) *acWorld {
	t.Helper()
	envs, err := NewEnvironments([]Environment{dgEnv()})
	if err != nil {
		t.Fatal(err)
	}
	w := &acWorld{store: &acStore{in: map[string]Incident{in.ID: in}}, slack: &acSlack{}, gh: &dgWorld{}}
	now := func() time.Time { return dgNow }
	d, err := NewDiagnoser(DiagSources{Runs: w.gh, History: w.gh, Env: w.gh, Records: w.gh, Functions: w.gh, Alarms: w.gh, Health: w.gh}, 5*time.Second, "", now)
	if err != nil {
		t.Fatal(err)
	}
	w.e = &Engine{deps: EngineDeps{Envs: envs, Incidents: w.store, Audit: w.slack, Publisher: w.slack, Diagnoser: d,
		Runs: w.gh, Alarms: w.gh, Health: w.gh, Now: now}, log: zaptest.NewLogger(t)}
	w.e.esc = w.e.newEscalator()
	w.e.res = w.e.newResolver(w.e.esc)
	return w
}

func acIncident() Incident {
	return Incident{ID: "INC-1", Env: "preprod", Scenario: DevTestsFail, Status: IncidentOpen, Channel: "C1", MessageTS: "1.2",
		RunID: 900, RunURL: "https://github.test/runs/900", JobID: 5, JobName: "unit tests", JobURL: "https://github.test/jobs/5", SHA: pvSHA}
}

// TestActRuleRefusals: the answers of a click medic cannot carry out, for the
// person who clicked, and the audit entry of each refused action.
func TestActRuleRefusals(t *testing.T) {
	tests := []struct {
		name      string
		incident  string
		action    ActionID
		storeErr  error
		env       string
		wantReply string
		wantUser  string // the error meant for the user
		wantErr   string // any other error
		wantAudit []string
	}{
		{name: "an action medic does not know", action: "<!channel>", wantUser: `medic does not know the action "&lt;!channel&gt;".`},
		{name: "an incident not on record", incident: "INC-404", action: ActViewLogs, wantUser: "Incident INC-404 is not on record."},
		{name: "the store failing", action: ActViewLogs, storeErr: errors.New("store: locked"), wantErr: "store: locked"},
		{name: "an environment no longer configured", action: ActViewLogs, env: "qa", wantErr: `unknown environment "qa"; valid environments: preprod`},
		{name: "a change without recovery actions configured", action: ActRerunFailed,
			wantReply: "*Re-run failed jobs* changes preprod and needs approval by a second person; medic's recovery actions are not configured here, so nothing was done. The runbook's way: `gh run rerun <RUN_ID> --failed`.",
			wantAudit: []string{"U1 action.refused INC-1 map[action:rerun-failed why:not available]"}},
		{name: "a page without paging configured", action: ActPageOnCall,
			wantReply: "*Page on-call* pages people; paging is not configured in this version of medic, so nothing was done.",
			wantAudit: []string{"U1 action.refused INC-1 map[action:page-oncall why:not available]"}},
		{name: "declaring data corruption without paging", action: ActDataCorruption,
			wantReply: "*Data corruption risk* pages people; paging is not configured in this version of medic, so nothing was done.",
			wantAudit: []string{"U1 action.refused INC-1 map[action:data-corruption why:not available]"}},
		{name: "a misspelled action", action: ActRefresh + "x", wantUser: `medic does not know the action "refreshx".`},
		{name: "an action only offered elsewhere", action: ActPageSenior,
			wantReply: "*Page senior engineer* pages people; paging is not configured in this version of medic, so nothing was done.",
			wantAudit: []string{"U1 action.refused INC-1 map[action:page-senior why:not available]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := acIncident()
			if tt.env != "" {
				in.Env = tt.env
			}
			w := newACWorld(t, in)
			w.store.err = tt.storeErr
			id := tt.incident
			if id == "" {
				id = "INC-1"
			}
			reply, err := w.e.Act(context.Background(), id, tt.action, "U1")
			var ue *UserError
			switch {
			case tt.wantUser != "":
				if !errors.As(err, &ue) || ue.Msg != tt.wantUser {
					t.Errorf("got %q, %v; want the user told %q", reply, err, tt.wantUser)
				}
			case tt.wantErr != "":
				if err == nil || errors.As(err, &ue) || err.Error() != tt.wantErr {
					t.Errorf("got %q, %v; want the internal error %q", reply, err, tt.wantErr)
				}
			default:
				if err != nil || reply != tt.wantReply {
					t.Errorf("got %q, %v; want %q", reply, err, tt.wantReply)
				}
			}
			if !reflect.DeepEqual(w.slack.audit, tt.wantAudit) {
				t.Errorf("audit: got %q, want %q", w.slack.audit, tt.wantAudit)
			}
			if len(w.slack.notes) != 0 || len(w.slack.updated) != 0 {
				t.Errorf("Slack: got notes %+v and alerts %+v, want nothing", w.slack.notes, w.slack.updated)
			}
		})
	}
}

func TestActRuleViewLogs(t *testing.T) {
	t.Run("the excerpt in the thread", func(t *testing.T) {
		w := newACWorld(t, acIncident())
		text := "setup\nDB_PASSWORD=hunter2hunter2 pytest\nFAILED tests/a.py::test_one\n##[error]Process completed with exit code 1.\n"
		w.gh.jobLog = func(_ context.Context, id int64) (JobLog, error) {
			if id != 5 {
				return JobLog{}, fmt.Errorf("log of job %d, want 5", id)
			}
			return JobLog{Text: text, URL: "https://github.test/jobs/5/log"}, nil
		}
		reply, err := w.e.Act(context.Background(), "INC-1", ActViewLogs, "U1")
		if err != nil || reply != "The log excerpt is in the alert's thread." {
			t.Fatalf("got %q, %v", reply, err)
		}
		want := Note{Text: Say("Log of %s, requested by %s:", "unit tests", Mention("U1")), Title: "Log excerpt (last 60 lines up to the error)",
			Detail: "setup\nDB_PASSWORD=[REDACTED] pytest\nFAILED tests/a.py::test_one\nProcess completed with exit code 1.", Link: "https://github.test/jobs/5/log", LinkText: "full log"}
		if len(w.slack.notes) != 1 || !reflect.DeepEqual(w.slack.notes[0], want) {
			t.Errorf("notes: got %+v, want %+v", w.slack.notes, want)
		}
		if want := []string{"U1 action.view-logs INC-1"}; !reflect.DeepEqual(w.slack.audit, want) {
			t.Errorf("audit: got %q, want %q", w.slack.audit, want)
		}
	})
	t.Run("sixty lines", func(t *testing.T) {
		w := newACWorld(t, acIncident())
		var b strings.Builder
		for i := 1; i <= 70; i++ {
			fmt.Fprintf(&b, "line %d\n", i)
		}
		w.gh.jobLog = func(context.Context, int64) (JobLog, error) { return JobLog{Text: b.String()}, nil }
		if _, err := w.e.Act(context.Background(), "INC-1", ActViewLogs, "U1"); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(w.slack.notes[0].Detail, "\n")
		if len(lines) != 60 || lines[0] != "line 11" {
			t.Errorf("excerpt: got %d lines from %q, want 60 from line 11", len(lines), lines[0])
		}
	})
	t.Run("no job", func(t *testing.T) {
		in := acIncident()
		in.JobID = 0
		w := newACWorld(t, in)
		if reply, err := w.e.Act(context.Background(), "INC-1", ActViewLogs, "U1"); err != nil || reply != "This incident has no job log." {
			t.Errorf("got %q, %v", reply, err)
		}
		if len(w.slack.notes) != 0 || w.gh.count("JobLog") != 0 {
			t.Errorf("got notes %+v and %d downloads, want none", w.slack.notes, w.gh.count("JobLog"))
		}
	})
	t.Run("the log cannot be read", func(t *testing.T) {
		w := newACWorld(t, acIncident())
		w.gh.jobLog = func(context.Context, int64) (JobLog, error) { return JobLog{}, dgErr("GitHub: 410 <gone>") }
		_, err := w.e.Act(context.Background(), "INC-1", ActViewLogs, "U1")
		var ue *UserError
		if !errors.As(err, &ue) || ue.Msg != "Could not read the job's log: GitHub: 410 &lt;gone&gt;" {
			t.Errorf("got %v, want the user told why, escaped", err)
		}
	})
}

func TestActRuleViewArtifacts(t *testing.T) {
	tests := []struct {
		name     string
		runURL   string
		arts     []Artifact
		err      error
		wantText string
		wantLink string
		wantUser string
	}{
		{name: "listed with sizes and the download link", runURL: "https://github.test/runs/900",
			arts:     []Artifact{{Name: "junit", Size: 2048}, {Name: "<b>coverage</b>", Size: 5}},
			wantText: "Artifacts of run 900, requested by U1:\n• junit (2.0 KiB)\n• <b>coverage</b> (5 B)", wantLink: "https://github.test/runs/900#artifacts"},
		{name: "none, no run link", wantText: "Artifacts of run 900, requested by U1:\nThe run uploaded no artifacts."},
		{name: "cannot be listed", err: dgErr("GitHub: 403"), wantUser: "Could not list the run's artifacts: GitHub: 403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := acIncident()
			in.RunURL = tt.runURL
			w := newACWorld(t, in)
			w.gh.artifacts = func(_ context.Context, id int64) ([]Artifact, error) {
				if id != 900 {
					return nil, fmt.Errorf("artifacts of %d, want 900", id)
				}
				return tt.arts, tt.err
			}
			reply, err := w.e.Act(context.Background(), "INC-1", ActViewArtifacts, "U1")
			if tt.wantUser != "" {
				var ue *UserError
				if !errors.As(err, &ue) || ue.Msg != tt.wantUser {
					t.Errorf("got %q, %v; want the user told %q", reply, err, tt.wantUser)
				}
				return
			}
			if err != nil || reply != "The artifacts are listed in the alert's thread." {
				t.Fatalf("got %q, %v", reply, err)
			}
			if len(w.slack.notes) != 1 {
				t.Fatalf("notes: got %+v, want one", w.slack.notes)
			}
			n := w.slack.notes[0]
			if n.Text.Plain() != tt.wantText || n.Link != tt.wantLink || n.LinkText != "download" {
				t.Errorf("note: got %q linking %q (%q), want %q linking %q", n.Text.Plain(), n.Link, n.LinkText, tt.wantText, tt.wantLink)
			}
			for _, s := range n.Text {
				if strings.Contains(s.Text, "coverage") && s.Kind != SpanQuote {
					t.Errorf("an artifact's name is %v, want quoted (outside text)", s.Kind)
				}
			}
		})
	}
}

// TestActRuleVerify: what the runbook's Verify checks, posted in the thread.
func TestActRuleVerify(t *testing.T) {
	tests := []struct {
		name   string
		health func(context.Context, Environment) (HealthResult, error)
		alarms func(context.Context, Environment) ([]Alarm, error)
		want   string
	}{
		{name: "healthy, quiet", want: "Verification requested by U1: :white_check_mark: health endpoint 200; no alarm in ALARM"},
		{name: "unhealthy", health: func(context.Context, Environment) (HealthResult, error) { return HealthResult{StatusCode: 503}, nil },
			want: "Verification requested by U1: :x: health endpoint answered 503; no alarm in ALARM"},
		{name: "no answer", health: func(context.Context, Environment) (HealthResult, error) {
			return HealthResult{}, dgErr("Health: connection refused")
		},
			want: "Verification requested by U1: :x: health endpoint: Health: connection refused; no alarm in ALARM"},
		{name: "alarms in ALARM", alarms: func(context.Context, Environment) ([]Alarm, error) {
			return []Alarm{{Name: "preprod-errors"}, {Name: "preprod-latency"}}, nil
		}, want: "Verification requested by U1: :x: health endpoint 200; in ALARM: preprod-errors, preprod-latency"},
		{name: "alarms unreadable", alarms: func(context.Context, Environment) ([]Alarm, error) { return nil, dgErr("CloudWatch: denied") },
			want: "Verification requested by U1: :x: health endpoint 200; alarms: CloudWatch: denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newACWorld(t, acIncident())
			w.gh.health, w.gh.alarms = tt.health, tt.alarms
			reply, err := w.e.Act(context.Background(), "INC-1", ActVerify, "U1")
			if err != nil || reply != "Verification posted in the alert's thread." {
				t.Fatalf("got %q, %v", reply, err)
			}
			if len(w.slack.notes) != 1 || w.slack.notes[0].Text.Plain() != tt.want {
				t.Errorf("notes: got %+v, want %q", w.slack.notes, tt.want)
			}
		})
	}
}

// TestActRuleAcknowledge: acknowledging stops the escalation clock once, says so in the
// thread and on the alert; a second acknowledgement names the first.
func TestActRuleAcknowledge(t *testing.T) {
	t.Run("an open incident", func(t *testing.T) {
		in := acIncident()
		in.Escalation.DueAt = dgNow.Add(5 * time.Minute)
		w := newACWorld(t, in)
		reply, err := w.e.Act(context.Background(), "INC-1", ActAcknowledge, "U1")
		if err != nil || reply != "You acknowledged INC-1." {
			t.Fatalf("got %q, %v", reply, err)
		}
		got := w.store.get("INC-1")
		if got.Status != IncidentAcknowledged || got.AckBy != "U1" || !got.AckAt.Equal(dgNow) || !got.Escalation.DueAt.IsZero() {
			t.Errorf("incident: got %s by %q at %s due %s, want acknowledged by U1 at %s, no deadline", got.Status, got.AckBy, got.AckAt, got.Escalation.DueAt, dgNow)
		}
		if len(w.slack.updated) != 1 || w.slack.updated[0].Status != IncidentAcknowledged {
			t.Errorf("alert updates: got %+v, want one showing it acknowledged", w.slack.updated)
		}
		if len(w.slack.notes) != 1 || !reflect.DeepEqual(w.slack.notes[0].Text, Say(":eyes: Acknowledged by %s.", Mention("U1"))) {
			t.Errorf("notes: got %+v, want the acknowledgement with a mention", w.slack.notes)
		}
		if want := []string{"U1 action.ack INC-1", "U1 incident.acknowledged INC-1"}; !reflect.DeepEqual(w.slack.audit, want) {
			t.Errorf("audit: got %q, want %q", w.slack.audit, want)
		}
	})
	for _, tt := range []struct {
		name  string
		in    func(in *Incident)
		read  func(n int, in *Incident)
		want  string
		saves int
	}{
		{name: "already acknowledged", in: func(in *Incident) { in.Status, in.AckBy = IncidentAcknowledged, "U2" },
			want: "Incident INC-1 was already acknowledged by <@U2>."},
		{name: "resolved", in: func(in *Incident) { in.Status = IncidentResolved }, want: "Incident INC-1 is resolved."},
		{name: "acknowledged by someone else meanwhile", read: func(n int, in *Incident) {
			if n == 2 {
				in.Status, in.AckBy = IncidentAcknowledged, "U2"
			}
		}, want: "Incident INC-1 was already acknowledged by <@U2>.", saves: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := acIncident()
			if tt.in != nil {
				tt.in(&in)
			}
			w := newACWorld(t, in)
			w.store.read = tt.read
			reply, err := w.e.Act(context.Background(), "INC-1", ActAcknowledge, "U1")
			if err != nil || reply != tt.want {
				t.Errorf("got %q, %v; want %q", reply, err, tt.want)
			}
			if got := w.store.get("INC-1"); got.AckBy == "U1" || got.Version != tt.saves {
				t.Errorf("incident: got %s by %s saved %d times, want it left as it was, saved %d times", got.Status, got.AckBy, got.Version, tt.saves)
			}
			if len(w.slack.notes) != 0 || len(w.slack.updated) != 0 {
				t.Errorf("Slack: got notes %+v and alert updates %d, want nothing", w.slack.notes, len(w.slack.updated))
			}
		})
	}
}

// TestActRuleRefresh: Refresh diagnostics gathers again with the job and the alarm as they
// are now, keeps the findings on the incident and shows them on its alert.
func TestActRuleRefresh(t *testing.T) {
	step := func(name, conclusion string) []StepInfo {
		return []StepInfo{{1, "Set up job", "completed", "success"}, {2, name, "completed", conclusion}}
	}
	tests := []struct {
		name     string
		jobs     []JobInfo
		jobsErr  error
		wantStep string
	}{
		{name: "the job by its ID", jobs: []JobInfo{{ID: 4, Name: "unit tests", Conclusion: "failure", Steps: step("Earlier attempt", "failure")},
			{ID: 5, Name: "unit tests", Conclusion: "failure", Steps: step("Run pytest", "failure")}, {ID: 6, Name: "lint", Steps: step("Lint", "failure")}},
			wantStep: "unit tests › step 2 “Run pytest” failed"},
		{name: "the job by its name when its ID is gone (a re-run)", jobs: []JobInfo{{ID: 7, Name: "unit tests", Conclusion: "failure", Steps: step("Run pytest again", "failure")},
			{ID: 8, Name: "unit tests", Steps: step("Later", "failure")}},
			wantStep: "unit tests › step 2 “Run pytest again” failed"},
		{name: "the job as recorded when jobs cannot be listed", jobsErr: dgErr("GitHub: 502"), wantStep: "unit tests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newACWorld(t, acIncident())
			w.gh.runJobs = func(_ context.Context, id int64) ([]JobInfo, error) {
				if id != 900 {
					return nil, fmt.Errorf("jobs of %d, want 900", id)
				}
				return tt.jobs, tt.jobsErr
			}
			reply, err := w.e.Act(context.Background(), "INC-1", ActRefresh, "U1")
			if err != nil || reply != "Diagnostics refreshed." {
				t.Fatalf("got %q, %v", reply, err)
			}
			got := w.store.get("INC-1")
			if !got.GatheredAt.Equal(dgNow) || len(got.Findings) != 3 {
				t.Fatalf("incident: gathered at %s with %d findings, want %s and 3", got.GatheredAt, len(got.Findings), dgNow)
			}
			f := dgFind(t, got.Findings, DiagFailedStep)
			if len(f.Lines) == 0 || strings.TrimSpace(f.Lines[0]) != tt.wantStep || f.Link != "https://github.test/jobs/5" && tt.jobsErr != nil {
				t.Errorf("failed step: got %q linking %q, want %q first", f.Lines, f.Link, tt.wantStep)
			}
			if len(w.slack.updated) != 1 || len(w.slack.updated[0].Findings) != 3 {
				t.Errorf("alert updates: got %d, want one showing the findings", len(w.slack.updated))
			}
		})
	}
	t.Run("the alarm as it is now", func(t *testing.T) {
		in := acIncident()
		in.Scenario, in.RunID, in.JobID, in.AlarmName = AlarmWontClear, 0, 0, "preprod-errors"
		w := newACWorld(t, in)
		w.gh.alarms = func(context.Context, Environment) ([]Alarm, error) {
			return []Alarm{{Name: "preprod-errors", State: "ALARM", Since: dgNow.Add(-time.Hour)}, {Name: "preprod-other", State: "ALARM"}}, nil
		}
		if _, err := w.e.Act(context.Background(), "INC-1", ActRefresh, "U1"); err != nil {
			t.Fatal(err)
		}
		if got, want := dgFind(t, w.store.get("INC-1").Findings, DiagAlarmDetail).Lines, []string{"preprod-errors is ALARM since 09:00 UTC (1h00m ago)"}; !reflect.DeepEqual(got, want) {
			t.Errorf("alarm: got %q, want %q", got, want)
		}
		if n := w.gh.count("RunJobs"); n != 0 {
			t.Errorf("jobs listed %d times for an alarm, want 0", n)
		}
	})
}

// TestActRuleStoreFailures: a click whose change cannot be stored says nothing in Slack
// and returns the store's error (the user sees "internal error").
func TestActRuleStoreFailures(t *testing.T) {
	for _, action := range []ActionID{ActAcknowledge, ActRefresh} {
		t.Run(string(action), func(t *testing.T) {
			w := newACWorld(t, acIncident())
			w.store.updateErr = errors.New("store: disk full")
			reply, err := w.e.Act(context.Background(), "INC-1", action, "U1")
			var ue *UserError
			if err == nil || errors.As(err, &ue) || err.Error() != "store: disk full" || reply != "" {
				t.Errorf("got %q, %v; want the store's error", reply, err)
			}
			if len(w.slack.notes) != 0 || len(w.slack.updated) != 0 {
				t.Errorf("Slack: got notes %+v and alert updates %d, want nothing", w.slack.notes, len(w.slack.updated))
			}
		})
	}
}
