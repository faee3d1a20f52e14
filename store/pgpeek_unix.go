//go:build unix

package store

import (
	"errors"
	"net"
	"syscall"
)

// canPeek says serverSpoke works here.
const canPeek = true

// serverSpoke reports, without waiting and without consuming anything, whether the
// server has sent something on c while it sat idle in the pool. PostgreSQL says nothing
// to an idle client unless it is ending the session (the FATAL "terminating connection"
// of a restart, then end of file), so a connection with bytes waiting is checked before
// it is used again. Connections that are not plain sockets (TLS) report false.
func serverSpoke(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	spoke := false
	_ = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil: // a byte waiting, or end of file (n == 0)
			spoke = true
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		default: // reset, or otherwise broken
			spoke = true
		}
		return true // never wait for data
	})
	return spoke
}
