//go:build linux

package memtrim

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Executable drops the resident pages of this process's read-only, private mappings
// of its own executable that hold nothing of the process's own (no anonymous page:
// nothing written or relocated). The writable ones (data, bss) are never touched.
func Executable() (Trimmed, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Trimmed{}, fmt.Errorf("memtrim: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return Trimmed{}, fmt.Errorf("memtrim: %w", err)
	}
	return trim(smaps, exe, dontNeed)
}

// dontNeed drops start..end from the resident set. Madvise's []byte form would need the
// address as a pointer; the raw call takes it as the number it is.
func dontNeed(start, end uintptr) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
