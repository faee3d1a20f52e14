package slackfake

import (
	"fmt"
	"regexp"
	"strings"
)

// dividerLine is how a divider block renders.
var dividerLine = strings.Repeat("─", 40)

// replyIndent prefixes every line of a thread reply in a transcript.
const replyIndent = "    │ "

// Render turns a message into readable plain text for a terminal: a first line with
// its timestamp and markers ("(only visible to U…)", "(edited)", "(deleted)"), then
// its blocks (or its text when it has none). It is a pure function of m.
//
// Blocks render as: header "■ TITLE IN CAPS"; section text, fields indented by two
// spaces, an accessory on a "  ↳ " line; context elements joined by " | " after "· ";
// divider as a line of "─"; actions as "[ Label ]" buttons (" (primary)" and
// " (danger)" marked) and "[ Choice ▾ ]" menus; input as "Label: [ … ]"; rich text
// as its text with lists, quotes and code; other blocks as "[<type> block]".
func Render(m Message) string {
	var b strings.Builder
	b.WriteString("[" + m.TS + "]")
	if m.Ephemeral {
		b.WriteString(" (only visible to " + m.User + ")")
	}
	if m.Broadcast {
		b.WriteString(" (also sent to the channel)")
	}
	if m.Updates > 0 {
		b.WriteString(" (edited)")
	}
	if m.Deleted {
		b.WriteString(" (deleted)")
	}
	b.WriteString("\n")
	for _, line := range renderBody(m) {
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}

// RenderTranscript renders messages as a channel shows them: top-level messages in
// order, each followed by its thread replies indented with "    │ ", a blank line
// between top-level messages. It is a pure function of msgs.
func RenderTranscript(msgs []Message) string {
	replies := map[string][]Message{}
	tops := map[string]bool{}
	for _, m := range msgs {
		if m.ThreadTS == "" {
			tops[m.TS] = true
		}
	}
	var order []Message
	for _, m := range msgs {
		if m.ThreadTS != "" && tops[m.ThreadTS] {
			replies[m.ThreadTS] = append(replies[m.ThreadTS], m)
			continue
		}
		order = append(order, m)
	}
	var b strings.Builder
	for i, m := range order {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(Render(m))
		for _, r := range replies[m.TS] {
			for _, line := range strings.Split(strings.TrimSuffix(Render(r), "\n"), "\n") {
				b.WriteString(replyIndent + line + "\n")
			}
		}
	}
	return b.String()
}

// renderBody returns the lines of a message's content.
func renderBody(m Message) []string {
	blocks, err := parseBlocks(m.Blocks)
	if err != nil {
		return append(splitLines(m.Text), "[unreadable blocks: "+err.Error()+"]")
	}
	if len(blocks) == 0 {
		return splitLines(m.Text)
	}
	var lines []string
	for _, blk := range blocks {
		lines = append(lines, renderBlock(blk)...)
	}
	return lines
}

// emojiCode matches an emoji shortcode such as :white_check_mark:.
var emojiCode = regexp.MustCompile(`:[a-z0-9_+-]+:`)

// upperText upper-cases a header as it stands out in a transcript, leaving emoji
// shortcodes as Slack reads them.
func upperText(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range emojiCode.FindAllStringIndex(s, -1) {
		b.WriteString(strings.ToUpper(s[last:m[0]]))
		b.WriteString(s[m[0]:m[1]])
		last = m[1]
	}
	b.WriteString(strings.ToUpper(s[last:]))
	return b.String()
}

// renderBlock returns the lines of one layout block.
func renderBlock(blk kitBlock) []string {
	if blk.bad != nil {
		return []string{"[" + blk.Type + " block]"}
	}
	switch blk.Type {
	case "header":
		if blk.Text.kitText == nil {
			return []string{"■"}
		}
		return []string{"■ " + upperText(blk.Text.Text)}
	case "section":
		var lines []string
		if blk.Text.kitText != nil {
			lines = append(lines, splitLines(blk.Text.Text)...)
		}
		for _, f := range blk.Fields {
			for _, l := range splitLines(f.Text) {
				lines = append(lines, "  "+l)
			}
		}
		if blk.Accessory != nil {
			lines = append(lines, "  ↳ "+renderElement(*blk.Accessory))
		}
		return lines
	case "context":
		parts := make([]string, 0, len(blk.Elements))
		for _, e := range blk.Elements {
			if e.Type == "image" {
				parts = append(parts, "[image: "+e.AltText+"]")
				continue
			}
			parts = append(parts, strings.ReplaceAll(e.text(), "\n", " "))
		}
		return []string{"· " + strings.Join(parts, " | ")}
	case "divider":
		return []string{dividerLine}
	case "actions":
		parts := make([]string, 0, len(blk.Elements))
		for _, e := range blk.Elements {
			parts = append(parts, renderElement(e))
		}
		return []string{strings.Join(parts, "  ")}
	case "input":
		label := ""
		if blk.Label != nil {
			label = blk.Label.Text
		}
		if blk.Optional {
			label += " (optional)"
		}
		field := "[ ]"
		if blk.Element != nil {
			field = renderElement(*blk.Element)
		}
		lines := []string{label + ": " + field}
		if blk.Hint != nil {
			lines = append(lines, "  "+blk.Hint.Text)
		}
		return lines
	case "rich_text":
		var lines []string
		for _, e := range blk.Elements {
			lines = append(lines, renderRichText(e)...)
		}
		return lines
	case "image":
		return []string{"[image: " + blk.AltText + "]"}
	case "markdown":
		if blk.Text.kitText == nil {
			return nil
		}
		return splitLines(blk.Text.Text)
	default:
		return []string{"[" + blk.Type + " block]"}
	}
}

// renderElement renders an interactive element on one line.
func renderElement(e kitElement) string {
	switch e.Type {
	case "button":
		s := "[ " + e.text() + " ]"
		if st := e.style(); st == "primary" || st == "danger" {
			s += " (" + st + ")"
		}
		return s
	case "static_select", "external_select", "users_select", "conversations_select",
		"channels_select", "multi_static_select", "multi_users_select":
		label := ""
		switch {
		case e.InitialOption != nil:
			label = e.InitialOption.Text.Text
		case e.Placeholder != nil:
			label = e.Placeholder.Text
		}
		return "[ " + label + " ▾ ]"
	case "checkboxes":
		var lines []string
		for _, o := range e.Options {
			box := "[ ]"
			for _, io := range e.InitialOptions {
				if io.Value == o.Value {
					box = "[x]"
				}
			}
			line := box + " " + o.Text.Text
			if o.Description != nil && o.Description.Text != "" {
				line += " (" + o.Description.Text + ")"
			}
			lines = append(lines, line)
		}
		return strings.Join(lines, "\n")
	case "overflow":
		return "[ ⋯ ]"
	case "plain_text_input", "number_input", "email_text_input", "url_text_input":
		switch {
		case e.InitialValue != "":
			return "[ " + e.InitialValue + " ]"
		case e.Placeholder != nil:
			return "[ " + e.Placeholder.Text + "… ]"
		}
		return "[ ]"
	case "datepicker":
		if e.InitialDate != "" {
			return "[ " + e.InitialDate + " ]"
		}
		return "[ date ]"
	case "image":
		return "[image: " + e.AltText + "]"
	default:
		return "[" + e.Type + "]"
	}
}

// renderRichText renders a rich_text section, list, quote or preformatted element.
func renderRichText(e kitElement) []string {
	switch e.Type {
	case "rich_text_section":
		return splitLines(inlineRichText(e.Elements))
	case "rich_text_list":
		var lines []string
		indent := strings.Repeat("  ", e.Indent)
		for i, item := range e.Elements {
			bullet := "• "
			if e.style() == "ordered" {
				bullet = fmt.Sprintf("%d. ", i+1)
			}
			for j, l := range splitLines(inlineRichText(item.Elements)) {
				if j == 0 {
					lines = append(lines, indent+bullet+l)
				} else {
					lines = append(lines, indent+strings.Repeat(" ", len([]rune(bullet)))+l)
				}
			}
		}
		return lines
	case "rich_text_quote":
		var lines []string
		for _, l := range splitLines(inlineRichText(e.Elements)) {
			lines = append(lines, "> "+l)
		}
		return lines
	case "rich_text_preformatted":
		lines := []string{"```"}
		lines = append(lines, splitLines(inlineRichText(e.Elements))...)
		return append(lines, "```")
	default:
		return []string{"[" + e.Type + "]"}
	}
}

// inlineRichText joins the inline elements of a rich text section.
func inlineRichText(elements []kitElement) string {
	var b strings.Builder
	for _, e := range elements {
		switch e.Type {
		case "text":
			b.WriteString(e.text())
		case "link":
			if t := e.text(); t != "" {
				b.WriteString(t + " (" + e.URL + ")")
			} else {
				b.WriteString(e.URL)
			}
		case "user":
			b.WriteString("@" + e.UserID)
		case "usergroup":
			b.WriteString("@" + e.UsergroupID)
		case "channel":
			b.WriteString("#" + e.ChannelID)
		case "emoji":
			b.WriteString(":" + e.Name + ":")
		case "broadcast":
			b.WriteString("@" + e.Range)
		default:
			b.WriteString("[" + e.Type + "]")
		}
	}
	return b.String()
}

// unescape shows Slack's three escaped characters as people see them
// (https://api.slack.com/reference/surfaces/formatting#escaping).
var unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// splitLines splits text into lines, none for empty text, unescaped for display.
func splitLines(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(unescape.Replace(text), "\n")
}
