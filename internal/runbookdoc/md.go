package runbookdoc

import (
	"strings"
	"time"
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
	// Direction controls could make a line read other than it is: they are dropped.
	s = strings.Map(func(r rune) rune {
		if r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' || r == '\u200e' || r == '\u200f' {
			return -1
		}
		return r
	}, s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune("\\`*[]<>|~#!{}", r):
			b.WriteByte('\\')
		case r == '_' && !between(s, i):
			// Inside a word, "_" opens no emphasis.
			b.WriteByte('\\')
		case r == '&' && i+1 < len(s) && (isWord(s[i+1]) || s[i+1] == '#'):
			// "&amp;", "&#60;": only "&" before a name or "#" can start an entity.
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

// between reports whether the byte at i has a letter or digit on both sides.
func between(s string, i int) bool {
	if i == 0 || i+1 >= len(s) {
		return false
	}
	return isWord(s[i-1]) && isWord(s[i+1])
}

func isWord(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// dur writes a duration as people do: 15m, 1h, 1h30m, 45s.
func dur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
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
