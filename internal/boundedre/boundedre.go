// Package boundedre matches a string against a pattern and a length range. Go's regexp
// compiles a bounded repetition such as [a-z]{1,255} into 255 copies of the class:
// each such pattern cost medic up to a millisecond and a third of a megabyte at every
// start, kept for good. A pattern with + and a length check matches the same strings.
package boundedre

import "regexp"

// RE is a pattern with the length range a match must have.
type RE struct {
	re       *regexp.Regexp
	min, max int
}

// MustCompile compiles pattern (which must match ASCII only: the range counts bytes)
// with the length range [min, max].
func MustCompile(pattern string, min, max int) RE {
	return RE{re: regexp.MustCompile(pattern), min: min, max: max}
}

// MatchString reports whether s has a length in the range and matches the pattern.
func (r RE) MatchString(s string) bool {
	return len(s) >= r.min && len(s) <= r.max && r.re.MatchString(s)
}
