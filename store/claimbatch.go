package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// claimBatcher makes the claims asked for at once on SQLite one transaction. Every
// Slack envelope and webhook delivery is claimed before it is handled; on SQLite each
// claim alone is a commit (a WAL append and its locks, about 150 µs here), and a crowd
// typing /status at once queued its claims one commit after another. A claim arriving
// while a batch commits joins the next one; a lone claim commits at once, as before.
type claimBatcher struct {
	s    *Store
	reqs chan *claimReq
	stop chan struct{}
	done chan struct{}
	// batches counts the transactions made (for tests).
	batches atomic.Int64
	// failTx, when set, fails a batch's transaction (for tests).
	failTx func() error
}

// claimReq is one claim waiting for its batch.
type claimReq struct {
	key  string
	at   int64
	ok   bool
	err  error
	done chan struct{}
}

const (
	// maxClaimBatch bounds one transaction's claims.
	maxClaimBatch = 256
	// claimBatchTimeout bounds one batch: a claim handed over is always answered.
	claimBatchTimeout = 10 * time.Second
)

// errStoreClosed is what a claim made after Close gets.
var errStoreClosed = errors.New("the store is closed")

const claimSQL = `INSERT INTO claims (key, claimed_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`

func newClaimBatcher(s *Store) *claimBatcher {
	b := &claimBatcher{s: s, reqs: make(chan *claimReq), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// claim claims key, in the next batch. A claim handed over is answered even if ctx
// ends meanwhile, so its caller never mistakes a claim made for one refused.
func (b *claimBatcher) claim(ctx context.Context, key string, at int64) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err // before the select, which could still hand the claim over
	}
	r := &claimReq{key: key, at: at, done: make(chan struct{})}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-b.stop:
		return false, errStoreClosed
	}
	<-r.done
	return r.ok, r.err
}

func (b *claimBatcher) run() {
	defer close(b.done)
	for {
		var batch []*claimReq
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-b.stop:
			return
		}
	gather:
		for len(batch) < maxClaimBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		b.apply(batch)
		b.batches.Add(1)
	}
}

// apply makes batch's claims in one transaction; a key asked twice in it is claimed by
// the first only. When the transaction fails, every claim of the batch fails with it.
func (b *claimBatcher) apply(batch []*claimReq) {
	ctx, cancel := context.WithTimeout(context.Background(), claimBatchTimeout)
	defer cancel()
	err := b.s.tx(ctx, func(tx *sql.Tx) error {
		if b.failTx != nil {
			if err := b.failTx(); err != nil {
				return err
			}
		}
		st, err := tx.PrepareContext(ctx, claimSQL)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range batch {
			res, err := st.ExecContext(ctx, r.key, r.at)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			r.ok = n == 1
		}
		return nil
	})
	// One failed transaction must not cost every claim of the batch its protection
	// against duplicates: each is tried again on its own, all of them within one more
	// claimBatchTimeout (a store that stays stuck fails the rest at once).
	retry, cancelRetry := context.WithTimeout(context.Background(), claimBatchTimeout)
	defer cancelRetry()
	for _, r := range batch {
		if err != nil {
			r.ok, r.err = b.alone(retry, r)
		}
		close(r.done)
	}
}

// alone makes one claim in a statement of its own, after its batch failed.
func (b *claimBatcher) alone(ctx context.Context, r *claimReq) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("claiming %s: %w", r.key, err)
	}
	return b.s.claimOne(ctx, r.key, r.at)
}

// close stops the batcher once the batch in hand is answered.
func (b *claimBatcher) close() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
}
