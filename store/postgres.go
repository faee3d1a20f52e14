package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// The pool of connections to PostgreSQL. Several replicas share one server (whose
// max_connections is 100 by default), so each keeps a modest pool. Connections are
// closed after 5 idle minutes and replaced every 30, so none outlives a failover for
// long or meets a server-side idle timeout.
const (
	pgMaxOpenConns    = 10
	pgMaxIdleConns    = 5
	pgConnMaxLifetime = 30 * time.Minute
	pgConnMaxIdleTime = 5 * time.Minute
)

// openPostgres opens a pool of connections to the PostgreSQL database at rawURL
// through pgx's database/sql driver. It does not connect: the migration does.
func openPostgres(rawURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's message quotes the URL and only tries to hide its password: leave it out.
		return nil, fmt.Errorf("opening store %s: not a valid PostgreSQL URL (postgres://user[:password]@host[:port]/database[?param=value])", redact(rawURL))
	}
	w := newLossWatch()
	next := cfg.OnPgError
	cfg.OnPgError = func(c *pgconn.PgConn, e *pgconn.PgError) bool {
		if strings.EqualFold(e.Severity, "FATAL") || strings.EqualFold(e.Severity, "PANIC") {
			w.lost()
		}
		if next == nil {
			return !strings.EqualFold(e.Severity, "FATAL")
		}
		return next(c, e)
	}
	db := stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(w.shouldPing))
	db.SetMaxOpenConns(pgMaxOpenConns)
	db.SetMaxIdleConns(pgMaxIdleConns)
	db.SetConnMaxLifetime(pgConnMaxLifetime)
	db.SetConnMaxIdleTime(pgConnMaxIdleTime)
	return db, nil
}

// lossWatch decides when an idle connection is checked before it is reused. pgx checks
// one idle for more than a second. When the server ends connections (a restart, an
// administrator's pg_terminate_backend) each one tells its client with a FATAL error
// only when it is next used, so the first connection to hear it has the other idle
// ones checked too: the call after the one that failed gets a live connection.
type lossWatch struct {
	start time.Time
	// at is when a connection was last lost, as time since start; 0 for never.
	at atomic.Int64
}

func newLossWatch() *lossWatch { return &lossWatch{start: time.Now()} }

func (w *lossWatch) lost() { w.at.Store(int64(time.Since(w.start))) }

func (w *lossWatch) shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	if p.IdleDuration > time.Second {
		return true
	}
	at := time.Duration(w.at.Load())
	lastUsed := time.Since(w.start) - p.IdleDuration
	return at != 0 && at >= lastUsed
}

// lockPostgresMigrations holds a session-level advisory lock until unlock is called,
// so that of several replicas starting together the first migrates and the others
// wait for it, then find nothing to do. (goose's own SessionLocker is not enough: it
// creates its version table before taking the lock, and a replica losing that race
// retries a second later.) The lock is keyed by the schema, so stores in other schemas
// of the same database do not wait.
func lockPostgresMigrations(ctx context.Context, db *sql.DB) (unlock func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	const key = `$1, hashtext(coalesce(current_schema(), ''))`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`, pgLockClass); err != nil {
		conn.Close()
		return nil, fmt.Errorf("waiting for the migration lock: %w", err)
	}
	return func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`, pgLockClass); err != nil {
			// Ending the session frees the lock: never pool a connection that may hold it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

// pgLockClass is the first key of medic's advisory locks ("medi").
const pgLockClass = 0x6d656469
