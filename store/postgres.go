package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/medic-ops/medic/internal/secreturl"
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
	// pgConnectPatience is how long opening a connection keeps trying while the server
	// cannot take one (restarting, failing over, briefly unreachable): a restart takes
	// about a second, and every call made meanwhile waits for it instead of failing.
	pgConnectPatience = 10 * time.Second
)

// openPostgres opens a pool of connections to the PostgreSQL database at rawURL
// through pgx's database/sql driver. It does not connect: the migration does.
func openPostgres(rawURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's message quotes the URL and only tries to hide its password: leave it out.
		return nil, fmt.Errorf("opening store %s: not a valid PostgreSQL URL (postgres://user[:password]@host[:port]/database[?param=value])", secreturl.Redact(rawURL))
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
	db := sql.OpenDB(patientConnector{Connector: stdlib.GetConnector(*cfg, stdlib.OptionShouldPing(w.shouldPing)), patience: pgConnectPatience})
	db.SetMaxOpenConns(pgMaxOpenConns)
	db.SetMaxIdleConns(pgMaxIdleConns)
	db.SetConnMaxLifetime(pgConnMaxLifetime)
	db.SetConnMaxIdleTime(pgConnMaxIdleTime)
	return db, nil
}

// patientConnector opens connections like the Connector it wraps, but when the server
// cannot take one for a reason that passes (refused, reset, "the database system is
// starting up" or "shutting down", too many connections) it tries again with backoff
// for up to patience, within the caller's context. Nothing was sent to the server
// before a connection opened, so trying again never runs a statement twice.
type patientConnector struct {
	driver.Connector
	patience time.Duration
}

func (c patientConnector) Connect(ctx context.Context) (driver.Conn, error) {
	deadline := time.Now().Add(c.patience)
	wait := 50 * time.Millisecond
	for {
		conn, err := c.Connector.Connect(ctx)
		if err == nil || !transientConnectError(err) || time.Now().Add(wait).After(deadline) {
			return conn, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// transientConnectError reports whether opening a connection failed for a reason that
// may pass by itself: not bad credentials, a missing database or an unknown host.
func transientConnectError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// cannot_connect_now (starting up, shutting down, in recovery), too_many_connections.
		return pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTemporary || dnsErr.IsTimeout
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// connectionLost reports whether a call failed because its connection was lost: the
// server ended the session (57P01 admin_shutdown, as a restart does; 57P02
// crash_shutdown; 57P03 cannot_connect_now) or could not be reached, so that a new
// connection may well succeed. SQLite's errors are never such.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return errors.Is(err, driver.ErrBadConn) || transientConnectError(err)
}

// lossWatch decides when an idle connection is checked before it is reused. pgx checks
// one idle for more than a second. When the server ends connections (a restart, an
// administrator's pg_terminate_backend) each one tells its client with a FATAL error
// that waits, unread, until the connection is next used: a connection with something
// waiting is checked (serverSpoke), and the first connection to hear such an error
// has the other idle ones checked too (where sockets cannot be peeked at). Only a
// statement the server was running when it ended the session fails.
type lossWatch struct {
	start time.Time
	// at is when a connection was last lost, as time since start; 0 for never.
	at atomic.Int64
}

func newLossWatch() *lossWatch { return &lossWatch{start: time.Now()} }

func (w *lossWatch) lost() { w.at.Store(int64(time.Since(w.start))) }

func (w *lossWatch) shouldPing(_ context.Context, p stdlib.ShouldPingParams) bool {
	if p.IdleDuration > time.Second || serverSpoke(p.Conn.PgConn().Conn()) {
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
