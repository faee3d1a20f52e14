//go:build linux

package memtrim

import (
	"fmt"
	"io"
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
	if pie, err := positionIndependent(); err != nil || pie {
		// A position-independent executable has pages relocated at start in its
		// read-only mappings: it is left alone rather than told apart page by page.
		return Trimmed{}, err
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return Trimmed{}, fmt.Errorf("memtrim: %w", err)
	}
	return trim(smaps, exe, dontNeed)
}

// positionIndependent tells whether this process's executable is an ELF shared object
// (ET_DYN: a PIE), from its header.
func positionIndependent() (bool, error) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return false, fmt.Errorf("memtrim: %w", err)
	}
	defer f.Close()
	var h [18]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return false, fmt.Errorf("memtrim: reading the executable's header: %w", err)
	}
	return isPIE(h[:]), nil
}

// dontNeed drops start..end from the resident set. Madvise's []byte form would need the
// address as a pointer; the raw call takes it as the number it is.
func dontNeed(start, end uintptr) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
