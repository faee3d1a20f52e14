package recovery

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ReadSources are the reads /status, an alert's diagnostics and a request's preview
// have in common: an environment's functions, its alarms in ALARM, its health endpoint
// and its last good deploy.
type ReadSources struct {
	Functions FunctionReader
	Alarms    AlarmReader
	Health    HealthChecker
	Deploys   DeployHistory
}

// SharedReads makes everyone who reads the same thing of an environment share one
// read of AWS, GitHub or the health endpoint: an ask while a read is in flight waits
// for it, and an ask within the freshness of a finished read gets it again. A failed
// read is shared with those who waited for it, never kept: the next ask reads again.
//
// It serves the reads that show people where things stand (/status, diagnostics,
// previews), so a crowd typing /status during an incident costs the rate limits the
// recovery needs almost nothing. Verification and the pollers read the sources
// themselves: they must see the world as it is now.
//
// A report built on shared reads can tell how old they are: StatusService records the
// time of the oldest read it was given (see withReadTimes).
type SharedReads struct {
	src       ReadSources
	freshness time.Duration
	timeout   time.Duration
	now       func() time.Time

	mu    sync.Mutex
	reads map[readKey]*sharedRead
}

// readKey names one read: what is read, of which environment.
type readKey struct{ what, env string }

// sharedRead is one read, in flight until done closes.
type sharedRead struct {
	done chan struct{}
	at   time.Time
	val  any
	err  error
}

// NewSharedReads shares src's reads for freshness (zero: only the reads in flight).
// timeout bounds each read, whoever asked first: one asker's short deadline never fails
// the read for those who joined it. now is the clock.
func NewSharedReads(src ReadSources, freshness, timeout time.Duration, now func() time.Time) (*SharedReads, error) {
	if src.Functions == nil || src.Alarms == nil || src.Health == nil || src.Deploys == nil || now == nil {
		return nil, errors.New("shared reads: every source and the clock are required")
	}
	if timeout <= 0 {
		return nil, errors.New("shared reads: the timeout must be positive")
	}
	return &SharedReads{src: src, freshness: max(freshness, 0), timeout: timeout, now: now, reads: map[readKey]*sharedRead{}}, nil
}

// Functions reads env's functions, shared.
func (s *SharedReads) Functions(ctx context.Context, env Environment) ([]FunctionStatus, error) {
	return share(ctx, s, false, "functions", env, s.src.Functions.Functions)
}

// AlarmsFiring reads env's alarms in ALARM, shared.
func (s *SharedReads) AlarmsFiring(ctx context.Context, env Environment) ([]Alarm, error) {
	return share(ctx, s, false, "alarms", env, s.src.Alarms.AlarmsFiring)
}

// CheckHealth calls env's health endpoint, shared.
func (s *SharedReads) CheckHealth(ctx context.Context, env Environment) (HealthResult, error) {
	return share(ctx, s, false, "health", env, s.src.Health.CheckHealth)
}

// LastSuccessfulDeploy reads env's last good deploy, shared.
func (s *SharedReads) LastSuccessfulDeploy(ctx context.Context, env Environment) (*Deploy, error) {
	return share(ctx, s, false, "last-deploy", env, s.src.Deploys.LastSuccessfulDeploy)
}

// share answers from the read of (what, env) in flight, or from a finished one younger
// than the freshness, or from a new read that later asks share. The new read runs on its
// own goroutine for all its askers, under the reads' own timeout: the first asker
// leaving, or its deadline passing, does not cut it short for the others. An asker
// whose ctx ends stops waiting, with ctx's error.
func share[T any](ctx context.Context, s *SharedReads, fresh bool, what string, env Environment, read func(context.Context, Environment) (T, error)) (T, error) {
	key := readKey{what, env.Name}
	s.mu.Lock()
	r := s.reads[key]
	if r != nil {
		select {
		case <-r.done:
			if r.err != nil || s.now().Sub(r.at) >= s.freshness {
				r = nil // failed or too old: read again
			}
		default: // in flight: wait for it
		}
	}
	if fresh {
		r = nil // a read in flight may have begun before what the asker must see
	}
	if r == nil {
		r = &sharedRead{done: make(chan struct{}), at: s.now()}
		s.reads[key] = r
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		go func() {
			defer cancel()
			defer close(r.done)
			r.val, r.err = read(rctx, env)
		}()
	}
	s.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	noteReadTime(ctx, r.at)
	v, _ := r.val.(T)
	return v, r.err
}

// Fresh returns the reads for those who must see the world as it is now, such as an
// alert's diagnostics: they always read anew (a read in flight may have begun before the
// failure they report).
// What they read is kept for the asks after them all the same (a /status right after an
// alert answers from the alert's reads).
func (s *SharedReads) Fresh() *FreshReads { return &FreshReads{s: s} }

// FreshReads are SharedReads that never answer from a finished read (see Fresh).
type FreshReads struct{ s *SharedReads }

// Functions reads env's functions anew.
func (f *FreshReads) Functions(ctx context.Context, env Environment) ([]FunctionStatus, error) {
	return share(ctx, f.s, true, "functions", env, f.s.src.Functions.Functions)
}

// AlarmsFiring reads env's alarms in ALARM anew.
func (f *FreshReads) AlarmsFiring(ctx context.Context, env Environment) ([]Alarm, error) {
	return share(ctx, f.s, true, "alarms", env, f.s.src.Alarms.AlarmsFiring)
}

// CheckHealth calls env's health endpoint anew.
func (f *FreshReads) CheckHealth(ctx context.Context, env Environment) (HealthResult, error) {
	return share(ctx, f.s, true, "health", env, f.s.src.Health.CheckHealth)
}

// readTimes collects, for one report, the time of the oldest read it was given.
type readTimes struct {
	mu     sync.Mutex
	oldest time.Time
}

type readTimesKey struct{}

// withReadTimes returns ctx carrying a collector of the times of the shared reads made
// under it.
func withReadTimes(ctx context.Context) (context.Context, *readTimes) {
	t := &readTimes{}
	return context.WithValue(ctx, readTimesKey{}, t), t
}

// noteReadTime tells ctx's collector, if any, that a read made at at was used.
func noteReadTime(ctx context.Context, at time.Time) {
	t, ok := ctx.Value(readTimesKey{}).(*readTimes)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.oldest.IsZero() || at.Before(t.oldest) {
		t.oldest = at
	}
}

// Oldest is the time of the oldest read noted, zero when none was.
func (t *readTimes) Oldest() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.oldest
}
