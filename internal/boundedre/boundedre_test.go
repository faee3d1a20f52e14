package boundedre

import (
	"regexp"
	"strings"
	"testing"
)

// Each bounded pattern medic used answers as its {m,n} form did, at and around the
// bounds, for allowed and refused characters.
func TestSameAnswersAsTheBoundedForm(t *testing.T) {
	cases := []struct {
		old      string
		now      string
		min, max int
		alphabet string
	}{
		{`^[A-Za-z0-9_.-]{3,255}$`, `^[A-Za-z0-9_.-]+$`, 3, 255, "aZ9_.-"},
		{`^[a-z][a-z0-9-]{0,31}$`, `^[a-z][a-z0-9-]*$`, 1, 32, "a9-"},
		{`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`, `^[a-z0-9][a-z0-9.-]*[a-z0-9]$`, 3, 63, "a9.-"},
		{`^[\w.\-/#:+=@ ]{1,255}$`, `^[\w.\-/#:+=@ ]+$`, 1, 255, "w_./#: "},
		{`^[0-9a-f]{7,40}$`, `^[0-9a-f]+$`, 7, 40, "0af"},
	}
	for _, c := range cases {
		old, now := regexp.MustCompile(c.old), MustCompile(c.now, c.min, c.max)
		for n := 0; n <= c.max+2; n++ {
			for _, extra := range []string{"", "!", "é", "\n", "A"} {
				for i := range len(c.alphabet) {
					s := strings.Repeat(c.alphabet[i:i+1], n)
					if n > 0 && extra != "" {
						s = s[:n-1] + extra
					}
					if old.MatchString(s) != now.MatchString(s) {
						t.Fatalf("%s and %s disagree on %q", c.old, c.now, s)
					}
				}
			}
		}
	}
}
