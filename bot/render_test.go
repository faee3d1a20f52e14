package bot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name.golden.json, rewriting it under -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./bot -update to create it): %v", err)
	}
	if string(want) != string(data) {
		t.Errorf("%s changed; got:\n%s\nwant:\n%s\n(run go test ./bot -update if the change is intended)", path, data, want)
	}
}

var at = time.Date(2026, 11, 26, 3, 12, 4, 0, time.UTC)

func healthyReport() recovery.StatusReport {
	fns := []recovery.FunctionStatus{}
	for _, n := range []string{"ingestion", "analysis", "dashboard"} {
		fns = append(fns, recovery.FunctionStatus{Name: "prod-sentiment-" + n, State: "Active", LastUpdateStatus: "Successful", Version: "abc1234"})
	}
	return recovery.StatusReport{
		Env:       "prod",
		At:        at,
		Functions: recovery.Section[[]recovery.FunctionStatus]{Value: fns},
		Alarms:    recovery.Section[[]recovery.Alarm]{},
		Health:    recovery.Section[recovery.HealthResult]{Value: recovery.HealthResult{StatusCode: 200, Body: `{"status":"healthy"}`, Latency: 42 * time.Millisecond}},
		LastGood: recovery.Section[*recovery.Deploy]{Value: &recovery.Deploy{RunID: 9001, SHA: "abc1234def5678abc1234def5678abc1234def56", Workflow: "deploy-prod.yml",
			At: at.Add(-2 * time.Hour), URL: "https://github.com/traylorre/sentiment-analyzer-gsk/actions/runs/9001"}},
	}
}

func TestStatusMessageGolden(t *testing.T) {
	firing := healthyReport()
	firing.Alarms.Value = []recovery.Alarm{{Name: "prod-dashboard-errors", State: "ALARM", Reason: "Threshold Crossed: 1 datapoint [12.0] was >= 5.0 <script>", Since: at.Add(-11 * time.Minute)}}
	firing.Health.Value = recovery.HealthResult{StatusCode: 503, Body: `{"status":"unhealthy","dynamodb":"timeout"}`, Latency: 1500 * time.Millisecond}
	firing.Functions.Value[2].State = "Failed"
	firing.Functions.Value[2].StateReason = "InvalidRuntime"

	broken := healthyReport()
	broken.Alarms = recovery.Section[[]recovery.Alarm]{Problem: "CloudWatch: AccessDenied on DescribeAlarms"}
	broken.Health = recovery.Section[recovery.HealthResult]{Problem: "Health: no answer within 5s"}

	role := healthyReport()
	role.Credentials = "assuming role arn:aws:iam::111111111111:role/medic-prod for prod failed: STS AccessDenied: User: arn:aws:iam::222222222222:user/medic is not authorized to perform: sts:AssumeRole"
	notRead := "not read: the environment's AWS role could not be assumed (see above)"
	role.Functions = recovery.Section[[]recovery.FunctionStatus]{Problem: notRead}
	role.Alarms = recovery.Section[[]recovery.Alarm]{Problem: notRead}
	role.Health = recovery.Section[recovery.HealthResult]{Problem: notRead}

	shared := healthyReport() // from a read 3 s older, shared with the asks before it
	shared.GatheredAt = shared.At.Add(-3 * time.Second)

	for name, r := range map[string]recovery.StatusReport{"status_healthy": healthyReport(), "status_firing": firing, "status_broken_sections": broken, "status_role_refused": role, "status_shared_read": shared} {
		t.Run(name, func(t *testing.T) {
			blocks, fallback := StatusMessage(r, "U0ALICE")
			golden(t, name, map[string]any{"text": fallback, "blocks": slack.Blocks{BlockSet: blocks}})
		})
	}
}

func TestStatusVerdict(t *testing.T) {
	r := healthyReport()
	if v, ok := statusVerdict(r); !ok || v != "prod looks healthy" {
		t.Errorf("healthy: got %q, %v", v, ok)
	}
	r.Alarms.Value = []recovery.Alarm{{Name: "a"}, {Name: "b"}}
	r.Jobs.Problem = "Jobs: store down"
	v, ok := statusVerdict(r)
	if ok || !strings.Contains(v, "2 alarms in ALARM") || !strings.Contains(v, "1 section could not be read") {
		t.Errorf("firing: got %q, %v", v, ok)
	}
}

func TestOutsideTextCannotForgeMentionsOrLinks(t *testing.T) {
	r := healthyReport()
	r.Alarms.Value = []recovery.Alarm{{Name: "prod-x", Reason: "<!channel> <https://evil.example|click>"}}
	blocks, _ := StatusMessage(r, "")
	data, _ := json.Marshal(blocks)
	if strings.Contains(string(data), "<!channel>") || strings.Contains(string(data), "<https://evil") {
		t.Errorf("alarm reason reached Slack unescaped: %s", data)
	}
}

func TestLimits(t *testing.T) {
	r := healthyReport()
	for i := 0; i < 200; i++ {
		r.Alarms.Value = append(r.Alarms.Value, recovery.Alarm{Name: strings.Repeat("prod-alarm-", 20), Reason: strings.Repeat("x", 300)})
	}
	blocks, _ := StatusMessage(r, "U1")
	if len(blocks) > maxBlocks {
		t.Errorf("got %d blocks, want at most %d", len(blocks), maxBlocks)
	}
	for _, b := range blocks {
		if s, ok := b.(*slack.SectionBlock); ok && len([]rune(s.Text.Text)) > maxSectionText {
			t.Errorf("section text has %d characters, want at most %d", len([]rune(s.Text.Text)), maxSectionText)
		}
	}
	alarms := alarmsText(r.Alarms, at)
	shown := strings.Count(alarms, ":rotating_light:")
	var more int
	if _, err := fmt.Sscanf(alarms[strings.LastIndex(alarms, "…and "):], "…and %d more", &more); err != nil {
		t.Fatalf("a long alarm list does not say how many were left out: %v", err)
	}
	if shown == 0 || shown+more != 200 {
		t.Errorf("got %d shown + %d more, want 200 in all with some shown", shown, more)
	}
	big := make([]slack.Block, 80)
	for i := range big {
		big[i] = slack.NewDividerBlock()
	}
	if got := capBlocks(big); len(got) != maxBlocks {
		t.Errorf("capBlocks: got %d, want %d", len(got), maxBlocks)
	}
}

func TestAgo(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{{30 * time.Second, "30s ago"}, {5 * time.Minute, "5m ago"}, {3 * time.Hour, "3h ago"}, {72 * time.Hour, "3d ago"}, {-time.Minute, "just now"}}
	for _, tt := range tests {
		if got := ago(at, at.Add(-tt.d)); got != tt.want {
			t.Errorf("ago(%s): got %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestOutsideTextCannotSpeakForMedic: a job named to ping the channel and to fake a
// button renders as text; medic's own mention and link render as markup.
func TestOutsideTextCannotSpeakForMedic(t *testing.T) {
	const hostile = "<!channel> <https://evil.example|Approve REQ-1> & <@U0EVE>"
	n := recovery.Note{Text: recovery.Say("Another job failed: %s, requested by %s, see %s or %s and %s",
		hostile, recovery.Mention("U0ALICE"), recovery.LinkTo("https://github.com/acme/app/actions/runs/1", "the run|<!here>"),
		recovery.LinkTo("javascript:alert(1)", "this"), recovery.Mention("<!channel>"))}
	blocks, fallback := NoteMessage(n)
	text := blocks[0].(*slack.SectionBlock).Text.Text
	for _, s := range []string{text, fallback} {
		for _, bad := range []string{"<!channel>", "<https://evil", "<@U0EVE>", "<!here>", "javascript:", "& <"} {
			if strings.Contains(s, bad) {
				t.Errorf("rendered %q as markup: %s", bad, s)
			}
		}
		for _, good := range []string{"&lt;!channel&gt;", "<@U0ALICE>", "<https://github.com/acme/app/actions/runs/1|the run¦&lt;!here&gt;>", "&amp;"} {
			if !strings.Contains(s, good) {
				t.Errorf("missing %q: %s", good, s)
			}
		}
	}
}
