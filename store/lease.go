package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AcquireLease takes the lease name for holder until ttl from now, when it is free,
// expired, or held by holder already (then it is renewed). It reports whether holder
// holds the lease now. Of several replicas acquiring at once, one gets true: taking,
// renewing and refusing are one statement on the lease's row. Expiry is read on the
// store's clock, so replicas sharing a lease need clocks that agree to well within ttl.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if holder == "" || ttl <= 0 {
		return false, fmt.Errorf("acquiring lease %s: need a holder and a positive ttl (got %q, %s)", name, holder, ttl)
	}
	now := s.now()
	// Retried when the connection is lost: for the same holder, taking again is renewing.
	res, err := s.exec(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= $4`,
		name, holder, ms(now.Add(ttl)), ms(now))
	if err != nil {
		return false, fmt.Errorf("acquiring lease %s for %s: %w", name, holder, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquiring lease %s for %s: %w", name, holder, err)
	}
	return n == 1, nil
}

// ReleaseLease gives the lease name up if holder holds it, so another may take it
// without waiting for it to expire. Releasing a lease held by another does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("releasing lease %s of %s: %w", name, holder, err)
	}
	return nil
}

// LeaseHolder returns who holds the lease name and until when; "" and the zero time
// when nobody does (never taken, released, or expired by the store's clock).
func (s *Store) LeaseHolder(ctx context.Context, name string) (holder string, expires time.Time, err error) {
	var until int64
	err = s.queryRow(ctx, []any{&holder, &until}, `SELECT holder, expires_at FROM leases WHERE name = $1`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("reading lease %s: %w", name, err)
	}
	if until <= ms(s.now()) {
		return "", time.Time{}, nil
	}
	return holder, fromMS(until), nil
}
