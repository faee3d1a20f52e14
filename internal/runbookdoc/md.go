package runbookdoc

import (
	"strings"
	"unicode"
)

// text escapes s, which comes from the configuration (a job name, a level's title, a
// Slack ID, a checklist item), so that it reads as itself wherever the document puts
// it: on one line, inside a table cell or a list item. Line breaks become spaces;
// Markdown's and HTML's punctuation is backslash-escaped (CommonMark allows it before
// any ASCII punctuation), so a pipe never ends a cell, a backtick never opens a code
// span, "<" never opens a tag and a leading "-", "+" or "1." never starts a list.
func text(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' || r == '\v' || r == '\f' }), " ")
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune("\\`*_[]<>|~#!&{}", r):
			b.WriteByte('\\')
		case i == 0 && (r == '-' || r == '+' || r == '='):
			b.WriteByte('\\')
		case (r == '.' || r == ')') && i > 0 && allDigits(s[:i]):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return s != ""
}

// list escapes each of items and joins them with ", "; empty items read as none.
func list(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = text(it)
	}
	return strings.Join(out, ", ")
}

// row writes one table row of cells that are already Markdown.
func row(b *strings.Builder, cells ...string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

// header writes a table's header row and its delimiter row.
func header(b *strings.Builder, cells ...string) {
	row(b, cells...)
	delims := make([]string, len(cells))
	for i := range delims {
		delims[i] = "---"
	}
	row(b, delims...)
}
