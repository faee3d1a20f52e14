package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/medic-ops/medic/recovery"
)

// maxCodeText is what fits in a section's 3,000 characters once wrapped in ``` and a
// title line.
const maxCodeText = maxSectionText - 200

var severityIcon = map[recovery.Severity]string{
	recovery.SeverityLow:      ":large_blue_circle:",
	recovery.SeverityMedium:   ":large_yellow_circle:",
	recovery.SeverityHigh:     ":large_orange_circle:",
	recovery.SeverityCritical: ":red_circle:",
}

// AlertMessage renders an incident's alert: severity and scenario, what failed, the
// findings, and the scenario's actions as buttons. It is pure.
func AlertMessage(in recovery.Incident) (blocks []slack.Block, fallback string) {
	sc, _ := recovery.ScenarioByID(in.Scenario)
	icon := severityIcon[in.Severity]
	if in.Status == recovery.IncidentResolved {
		icon = ":white_check_mark:"
	}
	title := sc.Title
	if in.Scenario == recovery.UntrustedRunFailed && in.Title != "" {
		title = in.Title // names the pull request and its author
	}
	blocks = append(blocks, slack.NewHeaderBlock(plain(fmt.Sprintf("%s %s · %s · %s", icon, in.Severity, in.Env, title))))

	var what []string
	if sc.Number > 0 {
		what = append(what, fmt.Sprintf("*Scenario %d*", sc.Number))
	}
	what = append(what, fmt.Sprintf("`%s`", in.ID))
	if in.RunID != 0 {
		run := fmt.Sprintf("%s run %d", orText(in.WorkflowName, in.Workflow), in.RunID)
		if in.RunURL != "" {
			run = link(in.RunURL, run)
		} else {
			run = esc(run)
		}
		what = append(what, run)
	}
	if in.JobName != "" {
		job := esc(in.JobName)
		if in.Step != "" {
			job += " › " + esc(in.Step)
		}
		what = append(what, job)
	}
	if in.SHA != "" {
		c := fmt.Sprintf("`%s`", esc(shortSHA(in.SHA)))
		if subject, _, _ := strings.Cut(in.CommitMessage, "\n"); subject != "" {
			c += " " + esc(cut(recovery.Redact(subject), 80))
		}
		if in.CommitAuthor != "" {
			c += " by " + esc(in.CommitAuthor)
		}
		what = append(what, c)
	}
	if in.AlarmName != "" {
		what = append(what, fmt.Sprintf("alarm `%s`", esc(in.AlarmName)))
	}
	blocks = append(blocks, section(strings.Join(what, " · ")))
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(statusLine(in))))
	if in.Untrusted != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(":lock: Not a trusted run: "+esc(cut(in.Untrusted, 200))+
			". medic takes nothing from it (no scenario, environment, lock or version), runs none of its code and pages nobody; its author fixes it and pushes again.")))
	}
	if in.EscalationLine != "" && in.Status != recovery.IncidentResolved {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(":rotating_light: "+esc(in.EscalationLine))))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	for _, f := range in.Findings {
		blocks = append(blocks, section(findingText(f)))
	}
	if buttons := alertButtons(in); len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock("incident:"+in.ID, buttons...))
	}
	ctxLine := "Runbook: " + esc(sc.Runbook)
	if in.Signals > 1 {
		ctxLine += fmt.Sprintf(" · %d signals", in.Signals)
	}
	ctxLine += " · details in the thread"
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(ctxLine)))
	fallback = fmt.Sprintf("%s %s: %s (%s)", in.Severity, in.Env, sc.Title, in.ID)
	return capBlocks(blocks), fallback
}

func statusLine(in recovery.Incident) string {
	parts := []string{fmt.Sprintf("Opened %s", in.OpenedAt.UTC().Format("2006-01-02 15:04 UTC"))}
	switch in.Status {
	case recovery.IncidentAcknowledged:
		parts = append(parts, fmt.Sprintf(":eyes: Acknowledged by <@%s> at %s", in.AckBy, in.AckAt.UTC().Format("15:04 UTC")))
	case recovery.IncidentResolved:
		if in.MergedInto != "" {
			parts = append(parts, fmt.Sprintf(":link: Merged into `%s`", in.MergedInto))
		} else if in.Resolution.By != "" {
			parts = append(parts, fmt.Sprintf(":white_check_mark: Resolved by <@%s> at %s", in.Resolution.By, in.Resolution.At.UTC().Format("15:04 UTC")))
		} else {
			parts = append(parts, ":white_check_mark: Resolved")
		}
	default:
		parts = append(parts, "*Not acknowledged*")
	}
	switch in.Rollback {
	case recovery.RollbackRunning:
		parts = append(parts, ":arrows_counterclockwise: Auto-rollback running")
	case recovery.RollbackSucceeded:
		s := ":white_check_mark: Auto-rollback succeeded"
		if in.RollbackSHA != "" {
			s += fmt.Sprintf(": %s back on `%s`", in.Env, shortSHA(in.RollbackSHA))
		}
		parts = append(parts, s)
	case recovery.RollbackFailed:
		parts = append(parts, ":x: *Auto-rollback failed*")
	}
	if in.Cause != recovery.CauseNone {
		parts = append(parts, "Likely cause: "+esc(string(in.Cause)))
	}
	if f := in.Follow; f != nil {
		switch f.Outcome {
		case "":
			a, _ := recovery.ActionByID(f.Action)
			what := fmt.Sprintf("run %d", f.RunID)
			switch {
			case f.SHA != "":
				what = fmt.Sprintf("the pipeline run of `%s`", esc(shortSHA(f.SHA)))
			case f.Workflow != "" && f.AnyEvent:
				what = "the next run of " + esc(f.Workflow)
			case f.Workflow != "":
				what = "the dispatched run of " + esc(f.Workflow)
			}
			parts = append(parts, fmt.Sprintf(":hourglass_flowing_sand: Following %s after %s (`%s`) until it ends", what, esc(a.Label), esc(f.Job)))
		case recovery.FollowPassed:
			parts = append(parts, ":white_check_mark: *"+esc(f.Text)+"*")
		case recovery.FollowFailed:
			parts = append(parts, ":x: "+esc(f.Text))
		case recovery.FollowCancelled:
			parts = append(parts, ":stop_sign: "+esc(f.Text))
		}
	}
	if in.RecoveryJob != "" {
		a, _ := recovery.ActionByID(in.RecoveryAction)
		job := fmt.Sprintf("%s job `%s` (%s) %s", jobIcon[in.RecoveryState], esc(in.RecoveryJob), esc(a.Label), in.RecoveryState)
		if in.RecoveryState == recovery.JobRunning && in.RecoveryStep != "" {
			job += ": " + esc(in.RecoveryStep)
		}
		parts = append(parts, job)
	}
	return strings.Join(parts, " · ")
}

// findingText renders one finding: its title, its lines as bullets, its link.
func findingText(f recovery.Finding) string {
	mark := ""
	switch {
	case f.Problem != "":
		mark = ":warning: "
	case f.Bad:
		mark = ":x: "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s*%s*", mark, esc(f.Title))
	if f.Link != "" {
		fmt.Fprintf(&b, " · %s", link(f.Link, orText(f.LinkText, "link")))
	}
	if f.Problem != "" {
		b.WriteString("\n" + esc(f.Problem))
		return b.String()
	}
	b.WriteString("\n")
	b.WriteString(list(len(f.Lines), func(i int) string { return "• " + esc(f.Lines[i]) }))
	return b.String()
}

var jobIcon = map[recovery.JobState]string{
	recovery.JobPending:     ":hourglass:",
	recovery.JobRunning:     ":gear:",
	recovery.JobSucceeded:   ":white_check_mark:",
	recovery.JobFailed:      ":x:",
	recovery.JobCancelled:   ":stop_sign:",
	recovery.JobInterrupted: ":warning:",
}

func alertButtons(in recovery.Incident) []slack.BlockElement {
	var out []slack.BlockElement
	if in.RecoveryJob != "" && (in.RecoveryState == recovery.JobRunning || in.RecoveryState == recovery.JobPending) {
		cancel := slack.NewButtonBlockElement(recovery.JobCancelID(), in.RecoveryJob, plain("Cancel job"))
		cancel.Style = slack.StyleDanger
		out = append(out, cancel)
	}
	for _, a := range recovery.Buttons(in) {
		label := a.Label
		if a.ID == recovery.ActTerraformPlan {
			label += " (" + in.Env + ")"
		}
		// action_id is recovery's button ID (under Slack's 255-character limit,
		// https://api.slack.com/reference/block-kit/block-elements#button); the value is
		// the incident.
		btn := slack.NewButtonBlockElement(recovery.ButtonID(a.ID), in.ID, plain(label))
		switch a.Style {
		case "primary":
			btn.Style = slack.StylePrimary
		case "danger":
			btn.Style = slack.StyleDanger
		}
		out = append(out, btn)
	}
	// Slack allows at most 25 elements in an actions block.
	if len(out) > 25 {
		out = out[:25]
	}
	return out
}

// NoteMessage renders a thread note: its text, then its detail as a code block cut to
// Slack's section limit (keeping the end, where failures are), with a link to all of it.
func NoteMessage(n recovery.Note) (blocks []slack.Block, fallback string) {
	if len(n.Text) > 0 {
		text := textMrkdwn(n.Text)
		blocks = append(blocks, section(text))
		fallback = text
	}
	if n.Detail != "" && n.Whole {
		// All of it, over as many sections as it takes (a report, not a log).
		title := "*" + esc(orText(n.Title, "Detail")) + "*"
		for i, part := range splitLines(recovery.Redact(n.Detail), maxCodeText) {
			text := "```" + escCode(part) + "```"
			if i == 0 {
				text = title + "\n" + text
			}
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, nil))
		}
		if fallback == "" {
			fallback = orText(n.Title, "Detail")
		}
	} else if n.Detail != "" {
		detail := recovery.Redact(n.Detail)
		cutNote := ""
		if r := []rune(detail); len(r) > maxCodeText {
			detail = string(r[len(r)-maxCodeText:])
			if i := strings.IndexByte(detail, '\n'); i >= 0 && i < 200 {
				detail = detail[i+1:]
			}
			cutNote = " (cut to the last lines"
			if n.Link != "" {
				cutNote += fmt.Sprintf("; %s has everything", link(n.Link, orText(n.LinkText, "the full log")))
			}
			cutNote += ")"
		}
		title := "*" + esc(orText(n.Title, "Detail")) + "*" + cutNote
		if cutNote == "" && n.Link != "" {
			title += " · " + link(n.Link, orText(n.LinkText, "link"))
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(title+"\n```"+escCode(detail)+"```"), nil, nil))
		if fallback == "" {
			fallback = orText(n.Title, "Detail")
		}
	} else if n.Link != "" {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(link(n.Link, orText(n.LinkText, "link")))))
	}
	if len(n.Buttons) > 0 {
		var els []slack.BlockElement
		for _, b := range n.Buttons {
			btn := slack.NewButtonBlockElement(b.ID, b.Value, plain(b.Label))
			switch b.Style {
			case "primary":
				btn.Style = slack.StylePrimary
			case "danger":
				btn.Style = slack.StyleDanger
			}
			els = append(els, btn)
		}
		blocks = append(blocks, slack.NewActionBlock("", els...))
	}
	return blocks, fallback
}

func orText(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// PostAlert posts an incident's alert in its channel and returns the message ts.
func (p *Poster) PostAlert(ctx context.Context, in recovery.Incident) (string, error) {
	blocks, fallback := AlertMessage(in)
	ts, err := p.postMessage(ctx, in.Channel, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false))
	if err != nil {
		return "", fmt.Errorf("posting alert %s to %s: %w", in.ID, in.Channel, err)
	}
	return ts, nil
}

// UpdateAlert rewrites an incident's alert message in place.
func (p *Poster) UpdateAlert(ctx context.Context, in recovery.Incident) error {
	blocks, fallback := AlertMessage(in)
	if err := p.updateMessage(ctx, in.Channel, in.MessageTS, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false)); err != nil {
		return fmt.Errorf("updating alert %s: %w", in.ID, err)
	}
	return nil
}

// PostNote replies in an incident's alert thread.
func (p *Poster) PostNote(ctx context.Context, in recovery.Incident, n recovery.Note) error {
	if in.MessageTS == "" {
		return fmt.Errorf("note on %s: the alert has not been posted", in.ID)
	}
	blocks, fallback := NoteMessage(n)
	if _, err := p.postMessage(ctx, in.Channel, slack.MsgOptionTS(in.MessageTS),
		slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(cut(fallback, 300), false)); err != nil {
		return fmt.Errorf("posting a note on %s: %w", in.ID, err)
	}
	return nil
}

// splitLines cuts text into parts of at most max runes, between lines where it can.
func splitLines(text string, max int) []string {
	var parts []string
	var cur strings.Builder
	n := 0
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, strings.TrimSuffix(cur.String(), "\n"))
			cur.Reset()
			n = 0
		}
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		r := []rune(line)
		for len(r) > max {
			flush()
			parts = append(parts, string(r[:max]))
			r = r[max:]
		}
		if n+len(r) > max {
			flush()
		}
		cur.WriteString(string(r))
		n += len(r)
	}
	flush()
	return parts
}
