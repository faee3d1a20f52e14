// Package testenv says what medic's tests may expect of the machine they run on: under
// CI every real part (Terraform, PostgreSQL) must be there, elsewhere a test without
// one skips and says what to install.
//
// It does not import testing: internal/tftest, which `medic demo` (a production
// binary) uses, calls it.
package testenv

import (
	"fmt"
	"os"
	"strconv"
)

// CI reports whether the tests run under CI: the CI variable parses as true with
// strconv.ParseBool (1, t, T, TRUE, true or True; the Makefile's unit target takes the
// same values). Anything else, unset included, is not CI.
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// TB is the part of testing.TB that Missing uses.
type TB interface {
	Helper()
	Name() string
	Fatal(args ...any)
	Skip(args ...any)
}

// Missing stops tb, which cannot run without a real part: why says what is missing and
// how to get it. Under CI it fails tb. Elsewhere it skips tb and also writes the reason
// to stderr, since `go test -bench` drops a skipped benchmark's message and `go test`
// without -v a skipped test's.
func Missing(tb TB, why string) {
	tb.Helper()
	if CI() {
		tb.Fatal(why + " (CI=" + os.Getenv("CI") + ": every test must run)")
		return
	}
	fmt.Fprintf(os.Stderr, "--- SKIP: %s: %s\n", tb.Name(), why)
	tb.Skip(why)
}
