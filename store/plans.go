package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/medic-ops/medic/recovery"
)

var _ recovery.PlanStore = (*Store)(nil)

// SavePlan keeps the saved plan a request's preview made. Saving the same plan again
// is a no-op; another plan for the same request replaces it (a preview made again).
func (s *Store) SavePlan(ctx context.Context, requestID string, plan []byte) error {
	if len(plan) > recovery.MaxPlanBytes {
		return fmt.Errorf("saving the plan of %s: %d bytes is over the %d-byte limit", requestID, len(plan), recovery.MaxPlanBytes)
	}
	sum := sha256.Sum256(plan)
	_, err := s.exec(ctx, `INSERT INTO plans (request_id, sha256, created_at, data) VALUES ($1, $2, $3, $4)
		ON CONFLICT (request_id) DO UPDATE SET sha256 = excluded.sha256, created_at = excluded.created_at, data = excluded.data`,
		requestID, hex.EncodeToString(sum[:]), ms(s.now()), base64.StdEncoding.EncodeToString(plan))
	if err != nil {
		return fmt.Errorf("saving the plan of %s: %w", requestID, err)
	}
	return nil
}

// Plan returns the plan saved for a request and its hex SHA-256, or an error wrapping
// recovery.ErrNotFound. The SHA-256 is computed again from the bytes read, so a row
// altered in the database reads as what it holds, not as what was saved.
func (s *Store) Plan(ctx context.Context, requestID string) ([]byte, string, error) {
	var data string
	err := s.queryRow(ctx, []any{&data}, `SELECT data FROM plans WHERE request_id = $1`, requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("plan of %s: %w", requestID, recovery.ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading the plan of %s: %w", requestID, err)
	}
	plan, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, "", fmt.Errorf("decoding the plan of %s: %w", requestID, err)
	}
	sum := sha256.Sum256(plan)
	return plan, hex.EncodeToString(sum[:]), nil
}

// DeletePlan forgets a request's plan; deleting one that is not there is not an error.
func (s *Store) DeletePlan(ctx context.Context, requestID string) error {
	if _, err := s.exec(ctx, `DELETE FROM plans WHERE request_id = $1`, requestID); err != nil {
		return fmt.Errorf("deleting the plan of %s: %w", requestID, err)
	}
	return nil
}

// PurgePlans deletes plans saved before t (left behind by a replica that died between
// a preview and its request's end) and reports how many.
func (s *Store) PurgePlans(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM plans WHERE created_at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("purging plans: %w", err)
	}
	return res.RowsAffected()
}
