package recovery

import (
	"strings"
	"testing"
)

// The input patterns keep the lengths their {m,n} forms had: a SHA of 7 to 40 hex
// digits, a lock ID of 1 to 128 characters, an alarm name of 1 to 255.
func TestInputPatternLengths(t *testing.T) {
	for _, c := range []struct {
		name     string
		match    func(string) bool
		min, max int
	}{
		{"sha", shaRE.MatchString, 7, 40},
		{"lock ID", lockIDRE.MatchString, 1, 128},
		{"alarm", alarmRE.MatchString, 1, 255},
	} {
		of := func(n int) string { return strings.Repeat("a", n) }
		if !c.match(of(c.min)) || !c.match(of(c.max)) {
			t.Errorf("%s: %d and %d characters refused, want both taken", c.name, c.min, c.max)
		}
		if c.match(of(c.max+1)) || c.match(of(c.min-1)) {
			t.Errorf("%s: %d or %d characters taken, want both refused", c.name, c.max+1, c.min-1)
		}
	}
}
