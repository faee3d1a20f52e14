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
	cfg  PreviewConfig
	base context.Context
	stop context.CancelFunc
	sem  chan struct{}

	mu      sync.Mutex
	queues  map[string][]func(context.Context)
	waiting int
	wg      sync.WaitGroup
}

func newPreviewPool(cfg PreviewConfig) *previewPool {
	cfg = cfg.withDefaults()
	// Previews outlive the click that asked for them; they end with the process (stop).
	base, stop := context.WithCancel(context.Background())
	return &previewPool{cfg: cfg, base: base, stop: stop, sem: make(chan struct{}, cfg.Workers), queues: map[string][]func(context.Context){}}
}

// submit queues run for env. It returns errPreviewsFull when Queue previews already
// wait. run gets a context bounded by the preview timeout and cancelled at shutdown.
func (p *previewPool) submit(env string, run func(ctx context.Context)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.base.Err() != nil {
		return errShutdown
	}
	if p.waiting >= p.cfg.Queue {
		return errPreviewsFull
	}
	p.waiting++
	q, busy := p.queues[env]
	p.queues[env] = append(q, run)
	if !busy {
		p.wg.Add(1)
		go p.drain(env)
	}
	return nil
}

// drain runs env's queue in order until it is empty.
func (p *previewPool) drain(env string) {
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
		case <-p.base.Done():
		}
		ctx, cancel := context.WithTimeout(p.base, p.cfg.Timeout)
		run(ctx) // a stopped pool still runs it: it says the preview could not be made
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
	p.stop()
	p.wg.Wait()
}
