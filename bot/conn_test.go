package bot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// A burst of 2,000 frames reaches the peer whole and in order, in far fewer write calls
// than frames, while the peer reads as it comes.
func TestGatheringConnKeepsOrderAndGathersABurst(t *testing.T) {
	client, server := tcpPair(t)
	g := newGatheringConn(client)
	var want bytes.Buffer
	const frames = 2000
	for i := range frames {
		fmt.Fprintf(&want, `{"envelope_id":"%08d","payload":%q}`, i, bytes.Repeat([]byte("x"), i%97))
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(server, int64(want.Len())))
		got <- b
	}()
	rest := want.Bytes()
	for i := range frames {
		n := bytes.Index(rest[1:], []byte(`{"envelope_id"`)) + 1
		if i == frames-1 {
			n = len(rest)
		}
		if _, err := g.Write(rest[:n]); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		rest = rest[n:]
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("the peer read %d bytes, not the %d written in order", len(b), want.Len())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the peer did not get every frame within 10s")
	}
	if n := g.flushCount(); n >= frames/4 {
		t.Fatalf("%d write calls for %d frames: the burst was not gathered", n, frames)
	}
}

// A lone frame leaves without waiting for others.
func TestGatheringConnSendsALoneFrameAtOnce(t *testing.T) {
	client, server := tcpPair(t)
	g := newGatheringConn(client)
	if _, err := g.Write([]byte("ack")); err != nil {
		t.Fatal(err)
	}
	if err := server.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	if _, err := io.ReadFull(server, b); err != nil || string(b) != "ack" {
		t.Fatalf("read %q, %v; want the lone frame", b, err)
	}
}

// failingConn fails every write, as a connection reset does.
type failingConn struct {
	net.Conn
	mu     sync.Mutex
	closed bool
}

var errReset = errors.New("connection reset by peer")

func (f *failingConn) Write([]byte) (int, error)        { return 0, errReset }
func (f *failingConn) SetWriteDeadline(time.Time) error { return nil }
func (f *failingConn) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
func (f *failingConn) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// A failed flush closes the connection (so slack-go reconnects) and later writes fail
// with its error; after Close, writes fail too.
func TestGatheringConnFailsLaterWritesAndClosesOnAFailedFlush(t *testing.T) {
	f := &failingConn{}
	g := newGatheringConn(f)
	if _, err := g.Write([]byte("first ack")); err != nil {
		t.Fatalf("the first write only copies: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !f.isClosed() {
		if time.Now().After(deadline) {
			t.Fatal("the connection was not closed after its flush failed")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := g.Write([]byte("second ack")); !errors.Is(err, errReset) {
		t.Fatalf("a write after the failed flush: got %v, want the reset", err)
	}

	client, _ := tcpPair(t)
	g2 := newGatheringConn(client)
	if err := g2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g2.Write([]byte("late")); !errors.Is(err, errConnClosed) {
		t.Fatalf("a write after Close: got %v, want errConnClosed", err)
	}
}

// A peer that stops reading makes writers wait once maxPending bytes are pending, and
// the flush's own deadline ends the wait with an error instead of memory growing.
func TestGatheringConnBoundsWhatWaitsForASlowPeer(t *testing.T) {
	client, _ := tcpPair(t) // the server end never reads
	g := newGatheringConn(client)
	g.mu.Lock()
	g.writeTimeout, g.maxPending = 200*time.Millisecond, 64<<10
	g.mu.Unlock()
	frame := bytes.Repeat([]byte("y"), 16<<10)
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := g.Write(frame); err != nil {
				done <- err
				return
			}
			g.mu.Lock()
			over := len(g.pending) > g.maxPending
			g.mu.Unlock()
			if over {
				done <- errors.New("more than maxPending bytes were pending")
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errConnClosed) && !isTimeout(err) {
			t.Fatalf("writing to a peer that never reads: got %v, want the flush's timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writes to a peer that never reads neither failed nor stopped within 30s")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// heldConn holds its first write until release is closed.
type heldConn struct {
	net.Conn
	release chan struct{}
	once    sync.Once
	held    chan struct{}
}

func (h *heldConn) Write(p []byte) (int, error) {
	h.once.Do(func() { close(h.held); <-h.release })
	return h.Conn.Write(p)
}

// Close writes what is still pending before closing: the acks and the close frame
// written just before a reconnect or a shutdown reach the peer.
func TestGatheringConnWritesWhatIsPendingOnClose(t *testing.T) {
	client, server := tcpPair(t)
	h := &heldConn{Conn: client, release: make(chan struct{}), held: make(chan struct{})}
	g := newGatheringConn(h)
	if _, err := g.Write([]byte("first ")); err != nil {
		t.Fatal(err)
	}
	<-h.held // the flusher is writing "first "
	for _, f := range []string{"second ", "close-frame"} {
		if _, err := g.Write([]byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		close(h.release)
	}()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := server.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "first second close-frame" {
		t.Fatalf("the peer read %q, %v; want every frame written before Close, then EOF", got, err)
	}
	if _, err := g.Write([]byte("late")); !errors.Is(err, errConnClosed) {
		t.Fatalf("a write after Close: got %v, want errConnClosed", err)
	}
}
