package bot

import (
	"testing"
	"testing/synctest"
	"time"
)

// The burst gate (on a fake clock): a worker with nothing queued behind it starts at
// once; behind a burst it waits until envelopes stop arriving for burstQuiet, and never
// longer than burstMaxWait.
func TestBurstGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newBurstGate()
		g.arrived()
		start := time.Now()
		g.wait(0)
		if d := time.Since(start); d != 0 {
			t.Fatalf("a lone envelope's worker waited %s", d)
		}

		arrive := func(n int, every time.Duration) {
			for range n {
				g.arrived()
				time.Sleep(every)
			}
		}
		go arrive(20, 200*time.Microsecond) // a 4 ms burst
		synctest.Wait()                     // its first envelope has arrived
		start = time.Now()
		g.wait(5)
		if d := time.Since(start); d < 4*time.Millisecond-200*time.Microsecond || d > 4*time.Millisecond+burstQuiet {
			t.Fatalf("behind a 4 ms burst the worker waited %s, want until %s after it", d, burstQuiet)
		}
		synctest.Wait()

		go arrive(1000, 100*time.Microsecond) // a 100 ms stream
		synctest.Wait()
		start = time.Now()
		g.wait(5)
		if d := time.Since(start); d != burstMaxWait {
			t.Fatalf("behind an endless stream the worker waited %s, want burstMaxWait %s", d, burstMaxWait)
		}
		// Later in the same stream, workers are not held again: the burst had its time.
		time.Sleep(10 * time.Millisecond)
		start = time.Now()
		g.wait(5)
		if d := time.Since(start); d != 0 {
			t.Fatalf("35 ms into a stream a worker waited %s, want no wait", d)
		}
		time.Sleep(100 * time.Millisecond) // the stream ends
	})
}
