package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestZeroTurnsPollingOff: `0`, as the README and the example write it, turns a poller
// off; so do "0" and 0s. Any other duration key given 0 decodes to 0 and is then judged
// by its own range.
func TestZeroTurnsPollingOff(t *testing.T) {
	for _, v := range []string{"0", `"0"`, "0s", "'0s'"} {
		t.Run(v, func(t *testing.T) {
			src := minimal + "pipeline:\n  poll_interval: " + v + "\n  alarm_poll_interval: " + v + " # off\n"
			c := mustParse(t, src)
			if c.Pipeline.PollInterval == nil || *c.Pipeline.PollInterval != 0 || c.Pipeline.AlarmPollInterval == nil || *c.Pipeline.AlarmPollInterval != 0 {
				t.Errorf("poll_interval / alarm_poll_interval: got %v / %v, want both 0 (off)", c.Pipeline.PollInterval, c.Pipeline.AlarmPollInterval)
			}
		})
	}
	// In a flow mapping, two zeros on one line.
	c := mustParse(t, minimal+"pipeline: {poll_interval: 0, alarm_poll_interval: 0}\n")
	if *c.Pipeline.PollInterval != 0 || *c.Pipeline.AlarmPollInterval != 0 {
		t.Errorf("flow mapping: got %v / %v, want 0 / 0", *c.Pipeline.PollInterval, *c.Pipeline.AlarmPollInterval)
	}
	// Left out, the pollers keep their default.
	if c := mustParse(t, minimal); *c.Pipeline.PollInterval != DefaultPollInterval {
		t.Errorf("default poll_interval: got %v, want %v", *c.Pipeline.PollInterval, DefaultPollInterval)
	}
	// Another duration key given 0 is as if left out: it takes its default.
	if c := mustParse(t, minimal+"pipeline:\n  stuck_after: 0\n"); c.Pipeline.StuckAfter != DefaultStuckAfter {
		t.Errorf("stuck_after: 0: got %v, want the default %v", c.Pipeline.StuckAfter, DefaultStuckAfter)
	}
	// A 0 that is not a duration stays a number.
	if c := mustParse(t, minimal+"slack:\n  workers: 0\n"); c.Slack.Workers != DefaultWorkers {
		t.Errorf("workers: 0: got %d, want the default %d", c.Slack.Workers, DefaultWorkers)
	}
}

// TestYAMLTypeErrorsNameTheKey: a value of the wrong form is reported under its key,
// with its line, the form the key takes and an example, not as an unknown key.
func TestYAMLTypeErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, add, key, msg, fix string
	}{
		{"a duration without a unit", "pipeline:\n  poll_interval: 60\n", "pipeline.poll_interval", `line 11: "60" is not a duration`, "60s for seconds or 60m for minutes"},
		{"a duration in words", "pipeline:\n  stuck_after: half an hour\n", "pipeline.stuck_after", `"half an hour" is not a duration`, "e.g. 30s, 15m or 1h"},
		{"a negative number for a duration", "access:\n  request_ttl: -5\n", "access.request_ttl", `"-5" is not a duration`, "with a unit"},
		{"a word for a number", "slack:\n  workers: many\n", "slack.workers", `"many" is not a whole number`, "e.g. 3"},
		{"one channel instead of a list", "slack:\n  command_channels: C0123\n", "slack.command_channels", `"C0123" is not a list`, "[a, b]"},
		{"a list for a text", "slack:\n  alert_channel: [C1, C2]\n", "slack.alert_channel", "a list is not a text", "one value"},
		{"a map entry's value", "pipeline:\n  workflows: {build: [a]}\n", "pipeline.workflows.build", "a list is not a text", "one value"},
		{"a long value", "pipeline:\n  stuck_after: thirty-five minutes or so\n", "pipeline.stuck_after", `"thirty-five minutes or so" is not a duration`, "with a unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(minimal + tt.add))
			p := wantProblem(t, err, tt.key, tt.msg)
			if !strings.Contains(p.Fix, tt.fix) {
				t.Errorf("fix: got %q, want it to contain %q", p.Fix, tt.fix)
			}
			if strings.Contains(p.Fix, "remove or rename") {
				t.Errorf("fix %q tells to remove a key that exists", p.Fix)
			}
		})
	}
	// Several at once are all reported, each under its key.
	_, err := Parse(strings.NewReader(minimal + "pipeline:\n  poll_interval: 60\nslack:\n  workers: many\n"))
	wantProblem(t, err, "pipeline.poll_interval", "not a duration")
	wantProblem(t, err, "slack.workers", "not a whole number")
	// An unknown key is still one to remove or rename.
	_, err = Parse(strings.NewReader(minimal + "pipeline:\n  pol_interval: 1m\n"))
	if p := wantProblem(t, err, "(yaml)", "pol_interval"); !strings.Contains(p.Fix, "remove or rename") {
		t.Errorf("unknown key: fix %q, want remove or rename", p.Fix)
	}
}

func TestZeroDurationsKeepsLines(t *testing.T) {
	// The rewrite must not move a later problem's line.
	_, err := Parse(strings.NewReader(minimal + "pipeline:\n  poll_interval: 0\n  alarm_poll_interval: 0\n  stuck_after: soon\n"))
	wantProblem(t, err, "pipeline.stuck_after", `line 13: "soon"`)
}

// wantProblem returns the problem err reports for key, failing unless its message
// contains msg.
func wantProblem(t *testing.T, err error, key, msg string) Problem {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got error %v, want Problems", err)
	}
	for _, p := range ps {
		if p.Key == key && strings.Contains(p.Msg, msg) {
			return p
		}
	}
	t.Fatalf("got problems %v, want one for %q saying %q", ps, key, msg)
	return Problem{}
}

// TestZeroDurationsEditsOnlyWhatItShould: a 0 is rewritten only after its own key on
// its line; an alias is not followed (its anchor is where its value is, and a 0
// anchored under another key stays a 0); a file with CR-only line breaks is left to the
// decoder.
func TestZeroDurationsEditsOnlyWhatItShould(t *testing.T) {
	src := minimal + "slack:\n  workers: &n 0\npipeline:\n  poll_interval: *n\n"
	if _, err := Parse(strings.NewReader(src)); err == nil {
		t.Error("a 0 anchored under workers and aliased as poll_interval: parsed, want the decoder's type error")
	}
	if c := mustParse(t, minimal+"slack:\n  workers: 3\n"); c.Slack.Workers != 3 {
		t.Errorf("workers: got %d", c.Slack.Workers)
	}
	// A billion laughs made of aliases is not expanded by the walk.
	var b strings.Builder
	b.WriteString(minimal + "x0: &a0 [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	if _, err := Parse(strings.NewReader(b.String())); err == nil {
		t.Error("alias bomb: parsed, want an error")
	}
	// The edit lands only after its own key: a 0 in the same column of another key's
	// line (as a line count gone wrong would find) is never touched.
	vs := []yamlValue{{key: "pipeline.poll_interval", typ: durationType, node: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0", Line: 1, Column: 14}}}
	if got := string(zeroDurations([]byte("  branch_x: r0\n"), vs)); got != "  branch_x: r0\n" {
		t.Errorf("a 0 after another key was rewritten: %q", got)
	}
	if got := string(zeroDurations([]byte("poll_interval: 0\n"), []yamlValue{{key: "pipeline.poll_interval", typ: durationType,
		node: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0", Line: 1, Column: 16}}})); got != "poll_interval: 0s\n" {
		t.Errorf("the 0 after its key: got %q, want it rewritten", got)
	}
}
