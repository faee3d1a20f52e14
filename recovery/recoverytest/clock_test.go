package recoverytest

import (
	"testing"
	"time"
)

func TestClockFiresTicksInOrderAndDropsUntaken(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	fast, slow := c.NewTicker(time.Second), c.NewTicker(3*time.Second)
	if got := c.Tickers(); len(got) != 2 || got[0] != time.Second || got[1] != 3*time.Second {
		t.Fatalf("tickers: got %v, want [1s 3s]", got)
	}
	c.Advance(999 * time.Millisecond)
	select {
	case <-fast.C():
		t.Fatal("a tick before its interval passed")
	default:
	}
	c.Advance(time.Millisecond)
	if got := <-fast.C(); !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("tick at %v, want %v", got, t0.Add(time.Second))
	}
	c.Advance(5 * time.Second) // ticks at 2..6 s: one pending each
	if got := <-fast.C(); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("pending tick at %v, want the first untaken one (2s)", got)
	}
	select {
	case <-fast.C():
		t.Fatal("more than one pending tick")
	default:
	}
	if got := <-slow.C(); !got.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("slow tick at %v, want 3s", got)
	}
	if !c.Now().Equal(t0.Add(6 * time.Second)) {
		t.Fatalf("now %v, want 6s", c.Now())
	}
	fast.Stop()
	if got := c.Tickers(); len(got) != 1 {
		t.Fatalf("after Stop: %v tickers, want 1", got)
	}
	if c.WaitTickers(2, 10*time.Millisecond) {
		t.Fatal("WaitTickers(2) reported two tickers while one runs")
	}
	go c.NewTicker(time.Minute)
	if !c.WaitTickers(2, 5*time.Second) {
		t.Fatal("WaitTickers missed a ticker made meanwhile")
	}
}

func TestClockAfterFuncFiresOnceWhenPassed(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	fired := make(chan time.Time, 2)
	c.AfterFunc(2*time.Second, func() { fired <- c.Now() })
	stop := c.AfterFunc(time.Second, func() { t.Error("a stopped timer fired") })
	if got := c.Timers(); len(got) != 2 || !got[0].Equal(t0.Add(time.Second)) {
		t.Fatalf("timers: got %v, want 1s and 2s", got)
	}
	if !stop() || stop() {
		t.Fatal("stop: want true once, then false")
	}
	c.Advance(1999 * time.Millisecond)
	select {
	case <-fired:
		t.Fatal("fired before its time")
	default:
	}
	c.Advance(time.Millisecond)
	select {
	case at := <-fired:
		if !at.Equal(t0.Add(2 * time.Second)) {
			t.Fatalf("fired at %v, want 2s", at)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire when its time passed")
	}
	c.Advance(time.Hour)
	if len(c.Timers()) != 0 || len(fired) != 0 {
		t.Fatal("a timer fired twice or stayed pending")
	}
	go c.AfterFunc(time.Minute, func() {})
	if !c.WaitTimers(1, 5*time.Second) {
		t.Fatal("WaitTimers missed a timer made meanwhile")
	}
}
