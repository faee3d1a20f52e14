//go:build !linux

package terraform

// ProtectProcess does nothing outside Linux: medic's process protections (non-dumpable,
// umask) are Linux's.
func ProtectProcess() error { return nil }
