//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockSole takes an exclusive lock on PATH.lock beside the SQLite database, held for as
// long as the returned file is open: while it is held no other medic process uses the
// database, and the kernel releases it when the process dies, however it dies. (A
// database reached through two hard links, or on a network file system whose flock is
// local, defeats it: keep SQLite on a local disk, under one name.)
func lockSole(path string) (*os.File, error) {
	// One lock file per database file, however it is named: the path made absolute and
	// its symbolic links resolved (the database may not exist yet: then its directory's).
	real, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("locking the store sqlite:%s: %w", path, err)
	}
	if r, err := filepath.EvalSymlinks(real); err == nil {
		real = r
	} else if dir, err := filepath.EvalSymlinks(filepath.Dir(real)); err == nil {
		real = filepath.Join(dir, filepath.Base(real))
	}
	f, err := os.OpenFile(real+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the store's lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another medic process uses the store sqlite:%s (SQLite serves one medic at a time: stop the other, or run several replicas on PostgreSQL)", path)
		}
		return nil, fmt.Errorf("locking the store sqlite:%s: %w", path, err)
	}
	return f, nil
}
