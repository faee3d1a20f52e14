package bot

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

// Slack's Block Kit limits, enforced where messages are built
// (https://api.slack.com/reference/block-kit/blocks):
const (
	// maxBlocks is the most blocks one message may carry.
	maxBlocks = 50
	// maxSectionText is the most characters of a section's text.
	maxSectionText = 3000
	// maxHeaderText is the most characters of a header's plain text.
	maxHeaderText = 150
	// maxListItems caps the lines of one list in a section, so a storm of alarms
	// still fits the section limit and stays readable.
	maxListItems = 15
)

// StatusMessage renders a status report as Block Kit blocks plus the notification
// text Slack shows where blocks cannot be displayed. It is pure: the same report
// always gives the same message.
func StatusMessage(r recovery.StatusReport, requestedBy string) (blocks []slack.Block, fallback string) {
	verdict, healthy := statusVerdict(r)
	icon := ":large_green_circle:"
	if !healthy {
		icon = ":red_circle:"
	}
	blocks = append(blocks,
		slack.NewHeaderBlock(plain(fmt.Sprintf("%s status", r.Env))),
		section(fmt.Sprintf("%s *%s*", icon, esc(verdict))),
	)
	gathered := r.At
	if !r.GatheredAt.IsZero() {
		gathered = r.GatheredAt // a read shared with the asks before this one
	}
	ctxLine := "Gathered " + gathered.UTC().Format("2006-01-02 15:04:05 UTC")
	if age := r.At.Sub(gathered).Round(time.Second); age >= time.Second {
		ctxLine += fmt.Sprintf(" (gathered %s ago)", age)
	}
	if requestedBy != "" {
		ctxLine = fmt.Sprintf("Requested by <@%s> · %s", requestedBy, ctxLine)
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(ctxLine)), slack.NewDividerBlock())
	if r.Credentials != "" {
		blocks = append(blocks, section(fmt.Sprintf(":no_entry: *AWS role*\n%s\nNo AWS call was made for %s: check the role's trust policy and medic's own AWS credentials (config: environments.%s.aws.role_arn).",
			esc(r.Credentials), esc(r.Env), esc(r.Env))))
	}
	blocks = append(blocks,
		section("*Lambda functions*\n"+functionsText(r.Functions)),
		section("*Alarms in ALARM*\n"+alarmsText(r.Alarms, r.At)),
		section("*Health endpoint*\n"+healthText(r.Health)),
		section("*Last known good deploy*\n"+deployText(r.LastGood, r.At)),
		section("*Open incidents*\n"+incidentsText(r.Incidents)),
		section("*Running jobs*\n"+jobsText(r.Jobs)),
	)
	return capBlocks(blocks), fmt.Sprintf("%s status: %s", r.Env, verdict)
}

// statusVerdict sums a report up in one line and says whether all looks well.
func statusVerdict(r recovery.StatusReport) (string, bool) {
	var bad []string
	if r.Credentials != "" {
		bad = append(bad, "its AWS role could not be assumed")
	}
	if n := len(r.Alarms.Value); r.Alarms.OK() && n > 0 {
		bad = append(bad, plural(n, "alarm")+" in ALARM")
	}
	if r.Health.OK() && !r.Health.Value.Healthy() {
		bad = append(bad, fmt.Sprintf("health endpoint answered %d", r.Health.Value.StatusCode))
	}
	if r.Functions.OK() {
		n := 0
		for _, f := range r.Functions.Value {
			if !functionHealthy(f) {
				n++
			}
		}
		if n > 0 {
			bad = append(bad, plural(n, "function")+" not active/updated")
		}
	}
	if n := len(r.Incidents.Value); r.Incidents.OK() && n > 0 {
		bad = append(bad, plural(n, "open incident"))
	}
	unknown := 0
	for _, ok := range []bool{r.Functions.OK(), r.Alarms.OK(), r.Health.OK(), r.LastGood.OK(), r.Incidents.OK(), r.Jobs.OK()} {
		if !ok {
			unknown++
		}
	}
	if unknown > 0 {
		bad = append(bad, plural(unknown, "section")+" could not be read")
	}
	if len(bad) == 0 {
		return r.Env + " looks healthy", true
	}
	return r.Env + " needs attention: " + strings.Join(bad, ", "), false
}

func functionHealthy(f recovery.FunctionStatus) bool {
	return f.State == "Active" && (f.LastUpdateStatus == "" || f.LastUpdateStatus == "Successful")
}

func functionsText(s recovery.Section[[]recovery.FunctionStatus]) string {
	if !s.OK() {
		return problemLine(s.Problem)
	}
	if len(s.Value) == 0 {
		return "_none configured_"
	}
	return list(len(s.Value), func(i int) string {
		f := s.Value[i]
		mark := ":white_check_mark:"
		if !functionHealthy(f) {
			mark = ":x:"
		}
		line := fmt.Sprintf("%s `%s` %s", mark, esc(f.Name), esc(orDash(f.State)))
		if f.StateReason != "" && f.State != "Active" {
			line += " (" + esc(f.StateReason) + ")"
		}
		line += " · last update " + esc(orDash(f.LastUpdateStatus))
		if f.Version != "" {
			line += " · version `" + esc(shortSHA(f.Version)) + "`"
		} else if f.VersionNote != "" {
			line += " · version unknown (" + esc(f.VersionNote) + ")"
		}
		return line
	})
}

func alarmsText(s recovery.Section[[]recovery.Alarm], now time.Time) string {
	if !s.OK() {
		return problemLine(s.Problem)
	}
	if len(s.Value) == 0 {
		return ":white_check_mark: none"
	}
	return list(len(s.Value), func(i int) string {
		a := s.Value[i]
		line := fmt.Sprintf(":rotating_light: `%s`", esc(a.Name))
		if !a.Since.IsZero() {
			line += " since " + a.Since.UTC().Format("15:04 UTC") + " (" + ago(now, a.Since) + ")"
		}
		if a.Reason != "" {
			line += " — " + esc(cut(a.Reason, 200))
		}
		return line
	})
}

func healthText(s recovery.Section[recovery.HealthResult]) string {
	if !s.OK() {
		return problemLine(s.Problem)
	}
	h := s.Value
	mark := ":white_check_mark:"
	if !h.Healthy() {
		mark = ":x:"
	}
	line := fmt.Sprintf("%s HTTP %d in %s", mark, h.StatusCode, max(h.Latency.Round(time.Millisecond), time.Millisecond))
	if h.Body != "" {
		line += "\n```" + escCode(cut(h.Body, 500)) + "```"
	}
	return line
}

func deployText(s recovery.Section[*recovery.Deploy], now time.Time) string {
	if !s.OK() {
		return problemLine(s.Problem)
	}
	d := s.Value
	if d == nil {
		return "_no successful deploy found_"
	}
	line := fmt.Sprintf("`%s`", esc(shortSHA(d.SHA)))
	if !d.At.IsZero() {
		line += " at " + d.At.UTC().Format("2006-01-02 15:04 UTC") + " (" + ago(now, d.At) + ")"
	}
	if d.Workflow != "" {
		line += " · " + esc(d.Workflow)
	}
	if d.URL != "" {
		line += " · " + link(d.URL, fmt.Sprintf("run %d", d.RunID))
	}
	return line
}

func incidentsText(s recovery.Section[[]recovery.Incident]) string {
	if !s.OK() {
		return problemLine(s.Problem)
	}
	if len(s.Value) == 0 {
		return "_none_"
	}
	return list(len(s.Value), func(i int) string {
		in := s.Value[i]
		return fmt.Sprintf("`%s` %s %s — %s", esc(in.ID), in.Severity, esc(string(in.Scenario)), esc(in.Title))
	})
}

func jobsText(s recovery.Section[[]recovery.Job]) string {
	if !s.OK() {
		return problemLine(s.Problem)
	}
	if len(s.Value) == 0 {
		return "_none_"
	}
	return list(len(s.Value), func(i int) string {
		j := s.Value[i]
		return fmt.Sprintf("`%s` %s — %s", esc(j.ID), esc(string(j.Action)), j.State)
	})
}

func problemLine(p string) string { return ":warning: " + esc(p) }

// list renders n items one per line: at most maxListItems, and no more than fit a
// section with its title, then "…and N more".
func list(n int, item func(int) string) string {
	const budget = maxSectionText - 100 // room for the section title and the tail line
	var b strings.Builder
	shown := 0
	for ; shown < n && shown < maxListItems; shown++ {
		line := item(shown)
		if b.Len()+len(line)+1 > budget {
			break
		}
		if shown > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	if shown < n {
		fmt.Fprintf(&b, "\n…and %d more", n-shown)
	}
	return b.String()
}

func section(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(cut(text, maxSectionText)), nil, nil)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, cut(s, maxHeaderText), true, false)
}

// capBlocks keeps a message within Slack's 50-block limit, saying what was left out.
func capBlocks(blocks []slack.Block) []slack.Block {
	if len(blocks) <= maxBlocks {
		return blocks
	}
	kept := append([]slack.Block(nil), blocks[:maxBlocks-1]...)
	return append(kept, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("…%d more blocks left out (Slack allows %d per message)", len(blocks)-maxBlocks+1, maxBlocks))))
}

// esc makes outside text (alarm reasons, commit messages, job names) fit for mrkdwn:
// redacted, then with the three characters Slack treats as control characters escaped,
// so it can forge neither links nor mentions. Redacting first keeps a credential's
// shape intact for the redactor (an escaped & would hide a presigned URL's signature).
func esc(s string) string { return recovery.Literal(recovery.Redact(s)) }

// escCode escapes text for a code block, where backticks would end the block early.
func escCode(s string) string { return strings.ReplaceAll(esc(s), "```", "ˋˋˋ") }

// cut shortens s to at most max characters (not bytes), marking the cut.
func cut(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// ago says how long before now t was, coarsely ("3m ago", "2h ago", "5d ago").
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// slackUserID is the shape of a Slack user ID (U… or W… for Enterprise Grid).
var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// textMrkdwn renders what medic says as mrkdwn: its own words as written, quoted
// text escaped and redacted, mentions and links as Slack's markup, and only when
// they are what they claim (a user ID, an http(s) URL); otherwise as text.
func textMrkdwn(t recovery.Text) string {
	var b strings.Builder
	for _, s := range t {
		switch s.Kind {
		case recovery.SpanWords:
			b.WriteString(s.Text)
		case recovery.SpanMention:
			if slackUserID.MatchString(s.Text) {
				b.WriteString("<@" + s.Text + ">")
			} else {
				b.WriteString(esc(s.Text))
			}
		case recovery.SpanLink:
			b.WriteString(link(s.URL, orText(s.Text, s.URL)))
		case recovery.SpanCode:
			b.WriteString("`" + strings.ReplaceAll(esc(s.Text), "`", "ˋ") + "`")
		default:
			b.WriteString(esc(s.Text))
		}
	}
	return b.String()
}

// link is a Slack link to u labelled label (escaped), or the label alone when u is
// not an http(s) URL.
func link(u, label string) string {
	if su := safeURL(u); su != "" {
		return "<" + su + "|" + strings.ReplaceAll(esc(label), "|", "¦") + ">"
	}
	return esc(label)
}

// safeURL is u as it may stand in a Slack link: http or https, with the characters
// that would end Slack's <url|label> markup escaped; "" when it is no such URL.
func safeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return urlMarkup.Replace(recovery.Redact(p.String()))
}

// urlMarkup escapes what would end Slack's <url|label> markup; made once.
var urlMarkup = strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C", " ", "%20")
