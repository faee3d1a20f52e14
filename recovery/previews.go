package recovery

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Preview defaults: previews (a Terraform init and plan take seconds to minutes) run off
// the click workers, a few at a time, one at a time per environment, each under its
// own time limit.
const (
	DefaultPreviewWorkers = 2
	DefaultPreviewQueue   = 32
	DefaultPreviewTimeout = 5 * time.Minute
)

// PreviewConfig tunes the previews' pool; zero values take the defaults.
type PreviewConfig struct {
	// Workers is how many previews run at once (across environments).
	Workers int
	// Queue is how many previews may wait; a request beyond it is refused at once.
	Queue int
	// Timeout bounds each preview.
	Timeout time.Duration
}

func (c PreviewConfig) withDefaults() PreviewConfig {
	if c.Workers <= 0 {
		c.Workers = DefaultPreviewWorkers
	}
	if c.Queue <= 0 {
		c.Queue = DefaultPreviewQueue
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultPreviewTimeout
	}
	return c
}

// errPreviewsFull refuses a preview when the queue is full.
var errPreviewsFull = errors.New("too many previews are waiting")

// previewPool runs previews in the background: at most Workers at once, one at a time
// per environment (two plans of prod never run side by side), in the order asked. It
// owns its goroutines: one per environment with work, ending when its queue is empty.
type previewPool struct {
	cfg PreviewConfig
	// stopped is closed by close: running previews are cancelled, new ones refused.
	stopped  chan struct{}
	stopOnce sync.Once
	sem      chan struct{}

	mu      sync.Mutex
	queues  map[string][]func(context.Context)
	waiting int
	wg      sync.WaitGroup
}

func newPreviewPool(cfg PreviewConfig) *previewPool {
	cfg = cfg.withDefaults()
	return &previewPool{cfg: cfg, stopped: make(chan struct{}), sem: make(chan struct{}, cfg.Workers), queues: map[string][]func(context.Context){}}
}

// submit queues run for env. It returns errPreviewsFull when Queue previews already
// wait, errShutdown once the pool is closed. run gets a context bounded by the preview
// timeout and cancelled at shutdown.
func (p *previewPool) submit(ctx context.Context, env string, run func(ctx context.Context)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stopped:
		return errShutdown
	default:
	}
	if p.waiting >= p.cfg.Queue {
		return errPreviewsFull
	}
	p.waiting++
	q, busy := p.queues[env]
	p.queues[env] = append(q, run)
	if !busy {
		// The queue's goroutine keeps the asker's values; previews outlive the click,
		// so not its cancellation.
		p.wg.Add(1)
		go p.drain(context.WithoutCancel(ctx), env)
	}
	return nil
}

// drain runs env's queue in order until it is empty.
func (p *previewPool) drain(base context.Context, env string) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		q := p.queues[env]
		if len(q) == 0 {
			delete(p.queues, env)
			p.mu.Unlock()
			return
		}
		run := q[0]
		p.queues[env] = q[1:]
		p.mu.Unlock()

		acquired := false
		select {
		case p.sem <- struct{}{}:
			acquired = true
		case <-p.stopped:
		}
		ctx, cancel := context.WithTimeout(base, p.cfg.Timeout)
		select {
		case <-p.stopped:
			cancel() // it begins after close: it says the preview could not be made
		default:
		}
		stopWatch := p.cancelOnStop(ctx, cancel)
		run(ctx) // a stopped pool still runs it: it says the preview could not be made
		stopWatch()
		cancel()
		if acquired {
			<-p.sem
		}
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
	}
}

// close cancels running previews (they end as failed, saying medic stopped) and waits
// for every queued one to say so.
func (p *previewPool) close() {
	// Under mu, as submit checks stopped: a preview is either refused or counted in wg
	// before Wait, never added while Wait runs.
	p.mu.Lock()
	p.stopOnce.Do(func() { close(p.stopped) })
	p.mu.Unlock()
	p.wg.Wait()
}

// cancelOnStop cancels ctx when the pool closes; the returned func stops watching.
func (p *previewPool) cancelOnStop(ctx context.Context, cancel context.CancelFunc) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-p.stopped:
			cancel()
		case <-ctx.Done():
		case <-done:
		}
	}()
	return func() { close(done) }
}
