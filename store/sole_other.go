//go:build !unix

package store

import "os"

// lockSole takes no lock where flock(2) is missing: Sole then reports false and jobs
// of a dead process wait for their lease, as on PostgreSQL.
func lockSole(string) (*os.File, error) { return nil, nil }
