package recovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// The previews' pool is tested in a synctest bubble: synctest.Wait returns once every
// goroutine of the pool is blocked, so "the third preview has not started" is said
// after a window that provably ran, and the pool's time limits pass on the bubble's
// clock without sleeping.

// pvRecorder hands the pool previews that say when they start and end, and end when
// the test releases them (or their context ends).
type pvRecorder struct {
	mu      sync.Mutex
	started []string
	ended   []string
	running int
	most    int
	errs    map[string]error // the context's error when the preview began
	release map[string]chan struct{}
}

func newPVRecorder() *pvRecorder {
	return &pvRecorder{errs: map[string]error{}, release: map[string]chan struct{}{}}
}

// preview returns a preview named name that holds its place until released.
func (r *pvRecorder) preview(name string) func(context.Context) {
	r.mu.Lock()
	rel := make(chan struct{})
	r.release[name] = rel
	r.mu.Unlock()
	return func(ctx context.Context) {
		r.mu.Lock()
		r.started = append(r.started, name)
		r.errs[name] = ctx.Err()
		r.running++
		r.most = max(r.most, r.running)
		r.mu.Unlock()
		select {
		case <-rel:
		case <-ctx.Done():
		}
		r.mu.Lock()
		r.running--
		r.ended = append(r.ended, name)
		r.mu.Unlock()
	}
}

// stubborn returns a preview that ignores its context: it ends only when released,
// as a Terraform plan may take a while to stop.
func (r *pvRecorder) stubborn(name string) func(context.Context) {
	run := r.preview(name)
	return func(ctx context.Context) { run(context.WithoutCancel(ctx)) }
}

func (r *pvRecorder) finish(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.release[name])
}

func (r *pvRecorder) startedNow() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.started)
}

func (r *pvRecorder) endedNow() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ended)
}

func mustSubmit(tb testing.TB, p *previewPool, env string, run func(context.Context)) {
	tb.Helper()
	if err := p.submit(context.Background(), env, run); err != nil {
		tb.Fatalf("submit on %s: got %v, want it queued", env, err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestPreviewConfigDefaults(t *testing.T) {
	tests := []struct {
		in, want PreviewConfig
	}{
		{PreviewConfig{}, PreviewConfig{Workers: 2, Queue: 32, Timeout: 5 * time.Minute}},
		{PreviewConfig{Workers: -1, Queue: -1, Timeout: -time.Second}, PreviewConfig{Workers: 2, Queue: 32, Timeout: 5 * time.Minute}},
		{PreviewConfig{Workers: 1, Queue: 1, Timeout: time.Nanosecond}, PreviewConfig{Workers: 1, Queue: 1, Timeout: time.Nanosecond}},
		{PreviewConfig{Workers: 7, Queue: 100, Timeout: time.Hour}, PreviewConfig{Workers: 7, Queue: 100, Timeout: time.Hour}},
	}
	for _, tt := range tests {
		if got := tt.in.withDefaults(); got != tt.want {
			t.Errorf("%+v with defaults: got %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// TestPreviewPoolRunsAtMostWorkersAtOnce: previews of three environments with two
// workers: two run, the third waits for one of them to end.
func TestPreviewPoolRunsAtMostWorkersAtOnce(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 3} { // 0: the default, 2
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				want := workers
				if want == 0 {
					want = DefaultPreviewWorkers
				}
				p := newPreviewPool(PreviewConfig{Workers: workers})
				defer p.close()
				r := newPVRecorder()
				envs := []string{"dev", "preprod", "prod", "sandbox"}
				for _, env := range envs {
					mustSubmit(t, p, env, r.preview(env))
				}
				synctest.Wait()
				first := r.startedNow()
				if len(first) != min(want, len(envs)) {
					t.Fatalf("previews running: got %q, want %d at once", first, want)
				}
				for done := 0; done < len(envs); done++ {
					r.finish(r.startedNow()[done])
					synctest.Wait()
					if got, wantN := len(r.startedNow()), min(want+done+1, len(envs)); got != wantN {
						t.Fatalf("after %d ended: got %d started (%q), want %d", done+1, got, r.startedNow(), wantN)
					}
				}
				if r.most != min(want, len(envs)) {
					t.Errorf("most previews at once: got %d, want %d", r.most, min(want, len(envs)))
				}
				if !sameSet(r.endedNow(), envs) {
					t.Errorf("ended: got %q, want %q", r.endedNow(), envs)
				}
			})
		})
	}
}

// TestPreviewPoolOneAtATimePerEnvironment: two plans of prod never run side by side;
// prod's previews run in the order asked, while another environment's runs beside.
func TestPreviewPoolOneAtATimePerEnvironment(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPreviewPool(PreviewConfig{Workers: 4})
		defer p.close()
		r := newPVRecorder()
		for _, name := range []string{"prod-1", "prod-2", "prod-3"} {
			mustSubmit(t, p, "prod", r.preview(name))
		}
		mustSubmit(t, p, "dev", r.preview("dev-1"))
		synctest.Wait()
		if got := r.startedNow(); !sameSet(got, []string{"prod-1", "dev-1"}) {
			t.Fatalf("running: got %q, want prod-1 and dev-1", got)
		}
		r.finish("prod-1")
		synctest.Wait()
		if got := r.startedNow(); !sameSet(got, []string{"prod-1", "dev-1", "prod-2"}) {
			t.Fatalf("after prod-1: got %q started, want prod-2 next (prod-3 waiting)", got)
		}
		r.finish("prod-2")
		r.finish("dev-1")
		synctest.Wait()
		r.finish("prod-3")
		synctest.Wait()
		var prod []string
		for _, s := range r.startedNow() {
			if s != "dev-1" {
				prod = append(prod, s)
			}
		}
		if !slices.Equal(prod, []string{"prod-1", "prod-2", "prod-3"}) {
			t.Errorf("prod's order: got %q, want prod-1, prod-2, prod-3", prod)
		}
		if r.most != 2 {
			t.Errorf("most at once: got %d, want 2 (one of prod, one of dev)", r.most)
		}
	})
}

// TestPreviewPoolQueueBound: Queue counts every preview not yet ended (running or
// waiting); one more is refused at once, and a place frees when a preview ends.
func TestPreviewPoolQueueBound(t *testing.T) {
	for _, queue := range []int{0, 1, 3} { // 0: the default, 32
		t.Run(fmt.Sprintf("queue=%d", queue), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				want := queue
				if want == 0 {
					want = DefaultPreviewQueue
				}
				p := newPreviewPool(PreviewConfig{Workers: 1, Queue: queue})
				defer p.close()
				r := newPVRecorder()
				var names []string
				for i := range want {
					names = append(names, fmt.Sprintf("p%d", i))
					mustSubmit(t, p, "prod", r.preview(names[i]))
				}
				err := p.submit(context.Background(), "dev", r.preview("refused"))
				if !errors.Is(err, errPreviewsFull) || err.Error() != "too many previews are waiting" {
					t.Fatalf("preview %d of a queue of %d: got %v, want errPreviewsFull", want+1, want, err)
				}
				synctest.Wait()
				r.finish(names[0])
				synctest.Wait()
				mustSubmit(t, p, "dev", r.preview("after"))
				if err := p.submit(context.Background(), "dev", r.preview("refused again")); !errors.Is(err, errPreviewsFull) {
					t.Fatalf("a second preview after one place freed: got %v, want errPreviewsFull", err)
				}
				for _, n := range append(names[1:], "after") {
					r.finish(n)
					synctest.Wait()
				}
				if got := len(r.endedNow()); got != want+1 {
					t.Errorf("previews run: got %d, want %d", got, want+1)
				}
			})
		})
	}
}

// TestPreviewPoolTimeLimit: each preview gets the configured time, counted from its
// own start (a preview that waited for its turn still gets all of it).
func TestPreviewPoolTimeLimit(t *testing.T) {
	for _, tt := range []struct {
		timeout, want time.Duration
	}{{0, DefaultPreviewTimeout}, {90 * time.Second, 90 * time.Second}} {
		t.Run(tt.want.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPreviewPool(PreviewConfig{Workers: 1, Timeout: tt.timeout})
				defer p.close()
				var mu sync.Mutex
				var took []time.Duration
				var errs []error
				run := func(ctx context.Context) {
					start := time.Now()
					<-ctx.Done() // a preview that never finishes on its own
					mu.Lock()
					defer mu.Unlock()
					took = append(took, time.Since(start))
					errs = append(errs, ctx.Err())
				}
				mustSubmit(t, p, "prod", run)
				mustSubmit(t, p, "dev", run)
				synctest.Wait()
				time.Sleep(3 * tt.want) // on the bubble's clock: both limits pass, one after the other
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				if len(took) != 2 {
					t.Fatalf("previews ended: got %d, want 2", len(took))
				}
				for i := range took {
					if took[i] != tt.want || !errors.Is(errs[i], context.DeadlineExceeded) {
						t.Errorf("preview %d: ended after %s with %v, want %s and a deadline", i, took[i], errs[i], tt.want)
					}
				}
			})
		})
	}
}

// TestPreviewPoolClose: closing cancels the running previews, still runs the waiting
// ones (with a cancelled context, so each says it could not be made), waits for all
// of them, and refuses new ones.
func TestPreviewPoolClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPreviewPool(PreviewConfig{Workers: 1})
		r := newPVRecorder()
		mustSubmit(t, p, "prod", r.preview("running"))
		mustSubmit(t, p, "prod", r.preview("queued behind it"))
		mustSubmit(t, p, "dev", r.preview("waiting for a worker"))
		synctest.Wait()
		if got := r.startedNow(); !slices.Equal(got, []string{"running"}) && !slices.Equal(got, []string{"waiting for a worker"}) {
			t.Fatalf("before close: got %q started, want one", got)
		}
		first := r.startedNow()[0]
		p.close()
		if got := r.endedNow(); len(got) != 3 {
			t.Fatalf("close returned with %q ended, want all 3", got)
		}
		r.mu.Lock()
		for name, err := range r.errs {
			want := context.Canceled
			if name == first {
				want = nil // it began before close
			}
			if err != want {
				t.Errorf("%s began with context error %v, want %v", name, err, want)
			}
		}
		r.mu.Unlock()
		err := p.submit(context.Background(), "prod", r.preview("late"))
		if !errors.Is(err, errShutdown) || err.Error() != "medic is shutting down" {
			t.Errorf("submit after close: got %v, want errShutdown", err)
		}
	})
}

// TestPreviewPoolFreesTheWorkerAfterEachPreview: one worker runs many previews in turn.
func TestPreviewPoolFreesTheWorkerAfterEachPreview(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPreviewPool(PreviewConfig{Workers: 1})
		defer p.close()
		var mu sync.Mutex
		ran := 0
		for i := range 5 {
			env := []string{"prod", "dev"}[i%2]
			mustSubmit(t, p, env, func(context.Context) { mu.Lock(); ran++; mu.Unlock() })
			synctest.Wait()
		}
		mu.Lock()
		defer mu.Unlock()
		if ran != 5 {
			t.Errorf("previews run: got %d, want 5", ran)
		}
	})
}

// TestPreviewPoolCloseDoesNotWaitForAWorker: at close, the previews waiting for a
// worker say at once that they could not be made, even while a preview that does not
// stop promptly still holds the only worker; close returns once that one ends too.
func TestPreviewPoolCloseDoesNotWaitForAWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPreviewPool(PreviewConfig{Workers: 1})
		r := newPVRecorder()
		mustSubmit(t, p, "prod", r.stubborn("slow to stop"))
		synctest.Wait()
		mustSubmit(t, p, "dev", r.preview("dev"))
		mustSubmit(t, p, "preprod", r.preview("preprod"))
		synctest.Wait()
		closed := make(chan struct{})
		go func() { p.close(); close(closed) }()
		synctest.Wait()
		if got := r.endedNow(); !sameSet(got, []string{"dev", "preprod"}) {
			t.Errorf("ended while the worker is held: got %q, want dev and preprod", got)
		}
		select {
		case <-closed:
			t.Error("close returned while a preview still runs")
		default:
		}
		r.finish("slow to stop")
		<-closed
		if got := r.endedNow(); len(got) != 3 {
			t.Errorf("ended: got %q, want all 3", got)
		}
	})
}

// A preview submitted while the pool closes is either refused (errShutdown) or counted
// before close waits: never added to the pool's count while close waits on it (the race
// detector saw that in a shutdown during a /rollback; run this test with -race).
func TestPreviewPoolSubmitRacingClose(t *testing.T) {
	for range 200 {
		p := newPreviewPool(PreviewConfig{Workers: 1, Queue: 4})
		var wg sync.WaitGroup
		var err error
		wg.Go(func() { err = p.submit(context.Background(), "prod", func(context.Context) {}) })
		p.close()
		wg.Wait()
		if err != nil && !errors.Is(err, errShutdown) {
			t.Fatalf("submit while closing: got %v, want nil or errShutdown", err)
		}
	}
}
