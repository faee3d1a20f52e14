//go:build unix

package store

import (
	"net"
	"testing"
	"time"
)

// TestServerSpokeNeverWaits: looking at an idle connection neither blocks behind a
// reader waiting on it (pgx's background reader) nor misses the end of the session.
func TestServerSpokeNeverWaits(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, ok := <-accepted
	if !ok {
		t.Fatal("no connection accepted")
	}
	if serverSpoke(client) {
		t.Error("a quiet connection was reported as spoken on")
	}

	// A reader waits on the connection, as pgx's background reader may while the
	// connection sits in the pool.
	read := make(chan struct{})
	go func() {
		defer close(read)
		b := make([]byte, 16)
		_, _ = client.Read(b)
	}()
	time.Sleep(20 * time.Millisecond) // let it block in Read
	done := make(chan bool, 1)
	go func() { done <- serverSpoke(client) }()
	select {
	case spoke := <-done:
		if spoke {
			t.Error("a quiet connection was reported as spoken on")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serverSpoke waited behind the connection's reader")
	}

	// The server says goodbye and closes: the reader takes the message, the end of
	// file stays to be seen.
	if _, err := server.Write([]byte("E")); err != nil {
		t.Fatal(err)
	}
	server.Close()
	<-read
	deadline := time.Now().Add(5 * time.Second)
	for !serverSpoke(client) {
		if time.Now().After(deadline) {
			t.Fatal("the end of the session was not seen")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
