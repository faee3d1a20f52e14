package bot

import (
	"errors"
	"net"
	"sync"
	"time"
)

// gatheringConn is the Socket Mode connection with its writes gathered. slack-go writes
// each ack as a frame of its own; under a burst of envelopes (everyone typing /status
// at once) one write call and one TCP segment per ack cost medic, and Slack, more than
// the acks themselves. Write copies the frame and returns; one flusher goroutine writes
// whatever has gathered in one call. A lone ack leaves at once; the acks of a burst
// leave together, in order.
//
// Writes are acknowledged before they reach the socket, so a write error shows on a
// later Write, and the flusher closes the connection on it (Close writes what is
// pending first): slack-go then reconnects
// and Slack sends the envelopes whose acks were lost again, which medic's claims make
// harmless. Each flush has its own deadline (writeTimeout); the deadlines gorilla sets
// per frame would bound only the copy.
type gatheringConn struct {
	net.Conn
	writeTimeout time.Duration
	// maxPending bounds what may wait for the socket: past it, Write waits for room.
	maxPending int

	mu      sync.Mutex
	ready   *sync.Cond // the flusher waits for data or close
	room    *sync.Cond // writers wait for the pending bytes to drop
	pending []byte
	spare   []byte
	err     error
	flushes int // write calls made to the socket (for tests)
	// closing says Close was called: the flusher writes what is pending (within
	// closeFlushTimeout), then stops and closes done.
	closing bool
	done    chan struct{}
}

// errConnClosed is what Write answers once the connection was closed.
var errConnClosed = errors.New("socket mode connection closed")

const (
	gatherWriteTimeout = 10 * time.Second
	gatherMaxPending   = 1 << 20
	// closeFlushTimeout bounds writing, at Close, what was still pending (the last acks,
	// the close frame): a peer that stopped reading does not hold a reconnect or a
	// shutdown longer.
	closeFlushTimeout = time.Second
)

func newGatheringConn(c net.Conn) *gatheringConn {
	g := &gatheringConn{Conn: c, writeTimeout: gatherWriteTimeout, maxPending: gatherMaxPending, done: make(chan struct{})}
	g.ready = sync.NewCond(&g.mu)
	g.room = sync.NewCond(&g.mu)
	go g.flush()
	return g
}

// Write queues p for the socket (copying it) and returns, unless maxPending bytes
// already wait: then it waits for room. It fails once a flush failed or the connection
// was closed.
func (g *gatheringConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.err == nil && !g.closing && len(g.pending) > 0 && len(g.pending)+len(p) > g.maxPending {
		g.room.Wait()
	}
	if g.err != nil {
		return 0, g.err
	}
	if g.closing {
		return 0, errConnClosed
	}
	g.pending = append(g.pending, p...)
	g.ready.Signal()
	return len(p), nil
}

// flush writes what has gathered, one call at a time, until the connection closes or
// a write fails (then it closes the connection).
func (g *gatheringConn) flush() {
	defer close(g.done)
	for {
		g.mu.Lock()
		for len(g.pending) == 0 && g.err == nil && !g.closing {
			g.ready.Wait()
		}
		if g.err != nil || (g.closing && len(g.pending) == 0) {
			g.mu.Unlock()
			return
		}
		out := g.pending
		g.pending = g.spare[:0]
		g.flushes++
		timeout := g.writeTimeout
		if g.closing {
			timeout = closeFlushTimeout
		}
		// Set under the lock: Close's shorter deadline, set under it too, is never
		// overwritten by this one.
		err := g.Conn.SetWriteDeadline(time.Now().Add(timeout))
		g.mu.Unlock()

		if err == nil {
			_, err = g.Conn.Write(out)
		}

		g.mu.Lock()
		g.spare = out[:0]
		if err != nil && g.err == nil {
			g.err = err
		}
		failed := g.err != nil
		g.room.Broadcast()
		g.mu.Unlock()
		if failed {
			g.Conn.Close()
			return
		}
	}
}

// Close writes what is still pending (the last acks, gorilla's close frame) within
// closeFlushTimeout, then closes the connection. Later writes fail.
func (g *gatheringConn) Close() error {
	g.mu.Lock()
	again := g.closing
	g.closing = true
	if !again {
		_ = g.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout)) // a write in progress too
	}
	g.ready.Signal()
	g.room.Broadcast()
	g.mu.Unlock()
	if again {
		<-g.done
		return nil
	}
	<-g.done
	g.mu.Lock()
	if g.err == nil {
		g.err = errConnClosed
	}
	g.mu.Unlock()
	return g.Conn.Close()
}

// SetDeadline sets the read deadline only: writes are bounded per flush.
func (g *gatheringConn) SetDeadline(t time.Time) error { return g.Conn.SetReadDeadline(t) }

// SetWriteDeadline is a no-op: a Write only copies, and each flush has its own deadline.
func (g *gatheringConn) SetWriteDeadline(time.Time) error { return nil }

// flushCount reports how many write calls reached the socket.
func (g *gatheringConn) flushCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.flushes
}
