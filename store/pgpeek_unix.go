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
// server has said something on c while it sat idle in the pool. PostgreSQL says nothing
// to an idle client unless it is ending the session (the FATAL "terminating connection"
// of a restart, then end of file), so a connection with bytes or end of file waiting
// is checked before it is used again. It looks with a non-blocking MSG_PEEK under
// Control, never under the descriptor's read lock, which pgx's background reader may
// hold while it waits for data; when that reader took the error, the end of file is
// still there to see. Connections that are not plain sockets (TLS) report false.
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
	_ = raw.Control(func(fd uintptr) {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil: // a byte waiting, or end of file
			spoke = true
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		default: // reset, or otherwise broken
			spoke = true
		}
	})
	return spoke
}
