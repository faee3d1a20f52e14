//go:build !linux

package memtrim

// Executable does nothing outside Linux.
func Executable() (Trimmed, error) { return Trimmed{}, nil }
