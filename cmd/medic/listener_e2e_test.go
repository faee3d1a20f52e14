package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/sandbox"
)

// TestListenerKeepsItsBoundsUnderSlowAndLargeBodies: the public port serves the webhook
// only; a body declared over 1 MiB is refused before it is read; 200 connections that
// declare a body just under the limit, send part of it and stall cost medic no more
// than the deliveries it reads at once, are all closed within 30 s, and neither /status
// nor a graceful shutdown waits for them.
func TestListenerKeepsItsBoundsUnderSlowAndLargeBodies(t *testing.T) {
	e := mustStart(t)
	public := "http://" + e.app.addr()
	for path, want := range map[string]int{"/metrics": 404, "/healthz": 404, "/readyz": 404} {
		if code := getCode(t, public+path); code != want {
			t.Errorf("public %s: got %d, want %d", path, code, want)
		}
	}
	if code := getCode(t, "http://"+e.app.metricsAddr()+"/metrics"); code != 200 {
		t.Errorf("operators' /metrics: got %d, want 200", code)
	}

	// Declared too large: 413 without sending a byte of the body.
	conn := mustDial(t, e.app.addr())
	fmt.Fprintf(conn, "POST /webhooks/github HTTP/1.1\r\nHost: medic\r\nContent-Type: application/json\r\nX-GitHub-Event: workflow_run\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: %d\r\n\r\n", 2<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 2 MiB body: got %v, %v; want 413 before the body", resp, err)
	}
	conn.Close()

	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 200
	conns := make([]net.Conn, n)
	chunk := strings.Repeat("x", 512<<10)
	for i := range conns {
		c := mustDial(t, e.app.addr())
		fmt.Fprintf(c, "POST /webhooks/github HTTP/1.1\r\nHost: medic\r\nContent-Type: application/json\r\nX-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: slow-%d\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: %d\r\n\r\n", i, (1<<20)-1)
		_, _ = io.WriteString(c, chunk) // half the body, then nothing
		conns[i] = c
	}
	// Every connection is read or refused by now; what medic holds is bounded.
	e.command(userAlice, sandboxChannel, "/status", "prod")
	e.waitMessage("prod status while 200 connections stall", statusOf("prod"))
	runtime.GC()
	runtime.ReadMemStats(&during)
	grew := int64(during.HeapInuse) - int64(before.HeapInuse)
	t.Logf("200 stalled bodies: heap in use %d → %d KiB", before.HeapInuse>>10, during.HeapInuse>>10)
	if grew > 64<<20 {
		t.Errorf("200 stalled bodies grew medic's heap by %d MiB, want at most 64 (32 deliveries read at once × 1 MiB)", grew>>20)
	}
	// Each connection ends: refused at once, or closed by the read timeout.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
			c.Close()
		}()
	}
	wg.Wait()
	if open != 0 {
		t.Errorf("%d of %d stalled connections were still open after 30 s", open, n)
	}

	// A graceful shutdown does not wait for clients that stall.
	for i := range 20 {
		c := mustDial(t, e.app.addr())
		fmt.Fprintf(c, "POST /webhooks/github HTTP/1.1\r\nHost: medic\r\nX-GitHub-Delivery: stall-%d\r\nX-Hub-Signature-256: sha256=00\r\nContent-Length: 1000\r\n\r\nx", i)
		t.Cleanup(func() { c.Close() })
	}
	if err := e.close(); err != nil {
		t.Errorf("shutdown with stalled clients: %v", err)
	}
}

func mustDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getCode(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPprofOnlyWhenAsked: Go's profiles are served on the operators' port only when
// the config key pprof says so, never on the public port, and without the command line.
func TestPprofOnlyWhenAsked(t *testing.T) {
	off := mustStart(t)
	if code := getCode(t, "http://"+off.app.metricsAddr()+"/debug/pprof/heap"); code != 404 {
		t.Errorf("operators' /debug/pprof/heap without pprof: got %d, want 404", code)
	}
	on := mustStart(t, func(_ *sandbox.World, cfg *config.Config) { cfg.Pprof = true })
	ops, public := "http://"+on.app.metricsAddr(), "http://"+on.app.addr()
	for path, want := range map[string]int{"/debug/pprof/heap?gc=1": 200, "/debug/pprof/goroutine": 200, "/debug/pprof/cmdline": 404} {
		if code := getCode(t, ops+path); code != want {
			t.Errorf("operators' %s with pprof: got %d, want %d", path, code, want)
		}
	}
	if code := getCode(t, public+"/debug/pprof/heap"); code != 404 {
		t.Errorf("public /debug/pprof/heap with pprof: got %d, want 404", code)
	}
}
