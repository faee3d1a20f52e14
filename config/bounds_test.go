package config

import (
	"strings"
	"testing"

	"github.com/medic-ops/medic/internal/boundedre"
)

// The name patterns keep the lengths their {m,n} forms had: a name of the longest
// length passes, one character more or fewer than allowed is refused.
func TestNamePatternLengths(t *testing.T) {
	for _, c := range []struct {
		name     string
		re       boundedre.RE
		min, max int
		pad      string // a character the pattern takes anywhere but first and last
		edge     string // a character it takes first and last
	}{
		{"environment", envNameRE, 1, 32, "a", "a"},
		{"lambda", lambdaRE, 1, 64, "a", "a"},
		{"github name", ghNameRE, 1, 100, "a", "a"},
		{"tag key", tagKeyRE, 1, 128, "a", "a"},
		{"bucket", bucketRE, 3, 63, "a", "a"},
		{"table", tableRE, 3, 255, "a", "a"},
		{"secret ID", secretIDRE, 1, 512, "a", "a"},
		{"branch", branchRE, 1, 255, "a", "a"},
		{"event", eventRE, 1, 64, "a", "a"},
	} {
		of := func(n int) string {
			if n < 2 {
				return strings.Repeat(c.edge, n)
			}
			return c.edge + strings.Repeat(c.pad, n-2) + c.edge
		}
		if !c.re.MatchString(of(c.max)) || !c.re.MatchString(of(c.min)) {
			t.Errorf("%s: %d and %d characters refused, want both taken", c.name, c.min, c.max)
		}
		if c.re.MatchString(of(c.max+1)) || (c.min > 0 && c.re.MatchString(of(c.min-1))) {
			t.Errorf("%s: %d or %d characters taken, want both refused", c.name, c.max+1, c.min-1)
		}
	}
}
