//go:build !unix

package store

import "net"

// canPeek says serverSpoke works here.
const canPeek = false

// serverSpoke cannot look at a socket without reading it here: idle connections are
// checked after a second of rest, and after a loss, only.
func serverSpoke(net.Conn) bool { return false }
