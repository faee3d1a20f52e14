//go:build linux

package terraform

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// ProtectProcess hardens the calling process (medic) against what Terraform and its
// providers could try with the same user: it becomes non-dumpable, so another process
// of that user can read neither its environment (/proc/<pid>/environ) nor its memory,
// nor ptrace it; and files it creates from now on (its store, workspaces) are private
// (umask 077). Call it once at start-up, before secrets are read.
func ProtectProcess() error {
	syscall.Umask(0o077)
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("making medic non-dumpable: %w", err)
	}
	return nil
}
