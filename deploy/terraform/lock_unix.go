//go:build unix

package terraform

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockDir takes dir's lock file (dir/.lock) for as long as the returned file is open:
// a workspace in use is locked by the process using it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir+"/.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
