//go:build linux

package memtrim

import (
	"os"
	"strings"
	"testing"
)

// written lives in the executable's data segment; trimming must keep what was written
// to it.
var written = []byte("as built")

func TestExecutableGivesBackTextAndKeepsData(t *testing.T) {
	written[0], written[1] = 'i', 's'
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	before := exeRSS(t, exe)
	got, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t, exe)
	if pie, err := positionIndependent(); err != nil || pie {
		// A PIE (go test -buildmode=pie) is left alone.
		if err != nil || got != (Trimmed{}) || after != before {
			t.Errorf("a position-independent executable: Executable() = %+v, %v; %d kB resident before, %d after: want it left alone", got, err, before, after)
		}
		return
	}
	if got.Mappings < 2 || got.Bytes <= 0 {
		t.Errorf("Executable() = %+v, want the text and read-only data given back", got)
	}
	if after >= before {
		t.Errorf("the executable's clean read-only pages: %d kB resident before, %d kB after", before, after)
	}
	if string(written) != "is built" {
		t.Errorf("data written before the trim reads %q after it", written)
	}
}

// exeRSS is the resident kB of exe's clean read-only mappings in this process.
func exeRSS(t *testing.T, exe string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var kb int64
	for _, m := range parseSmaps(b) {
		if m.path == exe && m.readOnlyPrivate() && m.anonKB == 0 {
			kb += m.rssKB
		}
	}
	if kb == 0 && !strings.Contains(string(b), exe) {
		t.Fatalf("%s is not among this process's mappings", exe)
	}
	return kb
}
