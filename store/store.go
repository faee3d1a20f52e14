// Package store keeps medic's durable state: incidents, jobs, the append-only audit log
// and claimed keys. One implementation on database/sql serves SQLite (pure Go,
// modernc.org/sqlite, the embedded default) and PostgreSQL; the schema is migrated with
// goose from the SQL files in migrations/.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/medic-ops/medic/internal/secreturl"
	"github.com/medic-ops/medic/recovery"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is medic's durable state. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// q runs the queries outside transactions, prepared once on SQLite.
	q *stmtCache
	// claims gathers the claims made at once into one transaction (SQLite only).
	claims  *claimBatcher
	dialect database.Dialect
	now     func() time.Time
	// sqlitePath is the SQLite database's file, "" for PostgreSQL.
	sqlitePath string
	// sole, when set, holds the lock that makes this process the database's only user
	// (Options.Sole).
	sole *os.File
}

// Options tune Open.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Sole makes this process the only medic on a SQLite database: Open takes an
	// exclusive lock on PATH.lock (released when the store closes or the process
	// dies) and fails, naming the store, while another process holds it. Then a job
	// left running in the database belongs to a dead process (Store.Sole). Ignored on
	// PostgreSQL, which several replicas share.
	Sole bool
}

// Open connects to the store at rawURL and applies every pending migration. rawURL is
// sqlite:PATH (sqlite::memory: for an in-memory database), or a PostgreSQL URL,
// postgres://user[:password]@host[:port]/database[?param=value] (postgresql:// too),
// whose parameters are libpq's. Several replicas may share one PostgreSQL database and
// open it at the same time: the migrations run once.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	s := &Store{now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"):
		path := strings.TrimPrefix(rawURL, "sqlite:")
		if path == "" {
			return nil, errors.New("opening store: sqlite: needs a path, e.g. sqlite:medic.db")
		}
		if opts.Sole && path != ":memory:" {
			f, err := lockSole(path)
			if err != nil {
				return nil, err
			}
			s.sole = f
		}
		db, err := openSQLite(path)
		if err != nil {
			s.unlockSole()
			return nil, err
		}
		s.db, s.dialect = db, database.DialectSQLite3
		s.sqlitePath = path
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		db, err := openPostgres(rawURL)
		if err != nil {
			return nil, err
		}
		s.db, s.dialect = db, database.DialectPostgres
	default:
		return nil, fmt.Errorf("opening store: unsupported URL scheme in %q; use sqlite:PATH or postgres://user@host/database", secreturl.Redact(rawURL))
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		s.unlockSole()
		if s.dialect == database.DialectPostgres {
			return nil, fmt.Errorf("opening store %s: %w", secreturl.Redact(rawURL), err)
		}
		return nil, err
	}
	if err := s.private(); err != nil {
		s.db.Close()
		s.unlockSole()
		return nil, err
	}
	s.q = newStmtCache(s.db, s.dialect == database.DialectSQLite3)
	if s.dialect == database.DialectSQLite3 {
		s.claims = newClaimBatcher(s)
	}
	return s, nil
}

// Sole says this process is the only one using the database (a SQLite file opened with
// Options.Sole): a job the database shows running that this process did not start
// belongs to a process that is gone.
func (s *Store) Sole() bool { return s.sole != nil }

func (s *Store) unlockSole() {
	if s.sole != nil {
		s.sole.Close()
		s.sole = nil
	}
}

// private makes the SQLite database and its journal files readable by medic only
// (they hold incidents, the audit log and saved plans with their state).
func (s *Store) private() error {
	if s.sqlitePath == "" || s.sqlitePath == ":memory:" {
		return nil
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Chmod(s.sqlitePath+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("making the store %s private: %w", s.sqlitePath+suffix, err)
		}
	}
	return nil
}

func openSQLite(path string) (*sql.DB, error) {
	dsn := "file:" + path
	q := url.Values{}
	if path == ":memory:" {
		// One connection, or each new connection would see its own empty database.
		dsn = "file:medic?mode=memory&cache=shared"
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	db, err := sql.Open("sqlite", dsn+sep+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	if path == ":memory:" {
		db.SetMaxOpenConns(1)
	}
	// Keep the connections a crowd of commands opened (database/sql keeps 2): opening
	// one runs the pragmas and prepares its statements again.
	db.SetMaxIdleConns(sqliteIdleConns)
	return db, nil
}

// sqliteIdleConns is how many SQLite connections stay open when idle: as many as the
// Slack workers (slack.workers' default) that read and claim at once.
const sqliteIdleConns = 16

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("reading migrations: %w", err)
	}
	if s.dialect == database.DialectPostgres {
		unlock, err := lockPostgresMigrations(ctx, s.db)
		if err != nil {
			return fmt.Errorf("migrating store: %w", err)
		}
		defer unlock()
	}
	p, err := goose.NewProvider(s.dialect, s.db, sub)
	if err != nil {
		return fmt.Errorf("preparing migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrating store: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.claims != nil {
		s.claims.close()
	}
	s.q.close()
	err := s.db.Close()
	s.unlockSole()
	return err
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// retry runs op and, when it failed because the connection to the database was lost
// (PostgreSQL restarting, failing over, or ending the session while the statement
// ran), runs it again, twice at most, on another connection. op must be safe to run
// again knowing that, from attempt 1 on, an earlier attempt may have been applied
// after all: reads are; so are idempotent writes; writes of a row keyed by an ID of
// the caller's (an insert, a versioned update) check whether the row already holds
// what they wrote.
func (s *Store) retry(ctx context.Context, op func(attempt int) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = op(attempt); err == nil || !connectionLost(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// exec runs a statement that is safe to repeat, with retry.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.retry(ctx, func(int) error {
		var err error
		res, err = s.q.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// queryRow reads one row into dest, with retry; sql.ErrNoRows when there is none.
func (s *Store) queryRow(ctx context.Context, dest []any, query string, args ...any) error {
	return s.retry(ctx, func(int) error { return s.q.QueryRowContext(ctx, query, args...).Scan(dest...) })
}

// query reads rows with retry: each attempt starts with start (which resets what an
// earlier attempt collected), then calls each for every row.
func (s *Store) query(ctx context.Context, start func(), each func(*sql.Rows) error, query string, args ...any) error {
	return s.retry(ctx, func(int) error {
		start()
		rows, err := s.q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// rowExists reports whether a row of table has the ID id (after a retried insert, to
// tell our own earlier attempt from someone else's row).
func (s *Store) rowExists(ctx context.Context, table, id string) bool {
	var one int
	return s.queryRow(ctx, []any{&one}, `SELECT 1 FROM `+table+` WHERE id = $1`, id) == nil
}

// Claim records key and reports whether this call was the first to claim it. Several
// replicas claiming the same key concurrently get exactly one true. It is not retried
// when the connection is lost: a retry could not tell its own earlier claim from
// another's and would answer false for a key nobody handles, where an error lets the
// caller decide (the bot handles the envelope anyway).
func (s *Store) Claim(ctx context.Context, key string) (bool, error) {
	if s.claims != nil {
		return s.claims.claim(ctx, key, ms(s.now()))
	}
	return s.claimOne(ctx, key, ms(s.now()))
}

// claimOne claims key at at in a statement of its own.
func (s *Store) claimOne(ctx context.Context, key string, at int64) (bool, error) {
	res, err := s.q.ExecContext(ctx, claimSQL, key, at)
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	return n == 1, nil
}

// Unclaim forgets a claim, so the key can be claimed again (work that was claimed but
// could not be taken on).
func (s *Store) Unclaim(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM claims WHERE key = $1`, key); err != nil {
		return fmt.Errorf("releasing %s: %w", key, err)
	}
	return nil
}

// PurgeClaims forgets claims made before t and reports how many were removed.
func (s *Store) PurgeClaims(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM claims WHERE claimed_at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("purging claims: %w", err)
	}
	return res.RowsAffected()
}

// PurgeWork forgets work finished before t and reports how many were removed. Keep it
// longer than the pollers look back, or old signals would be acted on again.
func (s *Store) PurgeWork(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM work WHERE state = 'done' AND updated_at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("purging finished work: %w", err)
	}
	return res.RowsAffected()
}

// CreateIncident stores a new incident owning its SourceKey. When an open incident
// already owns the source it fails with an error wrapping recovery.ErrDuplicate.
func (s *Store) CreateIncident(ctx context.Context, in recovery.Incident) error {
	if in.Version == 0 {
		in.Version = 1
	}
	data, err := encode(in)
	if err != nil {
		return fmt.Errorf("encoding incident %s: %w", in.ID, err)
	}
	err = s.retry(ctx, func(attempt int) error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO incident_sources (source_key, incident_id, open) VALUES ($1, $2, 1)`,
				in.SourceKey, in.ID); err != nil {
				if isUniqueViolation(err) {
					if attempt > 0 && s.rowExists(ctx, "incidents", in.ID) {
						return errAlreadyDone // our earlier attempt was committed after all
					}
					return fmt.Errorf("creating incident for %s: %w", in.SourceKey, recovery.ErrDuplicate)
				}
				return fmt.Errorf("creating incident %s: %w", in.ID, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO incidents
				(id, env, scenario, severity, status, title, source_key, opened_at, updated_at, channel, message_ts, version, data, escalate_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
				in.ID, in.Env, string(in.Scenario), int(in.Severity), string(in.Status), recovery.Redact(in.Title), in.SourceKey,
				ms(in.OpenedAt), ms(in.UpdatedAt), in.Channel, in.MessageTS, in.Version, string(data), escalateAt(in))
			if isUniqueViolation(err) {
				return fmt.Errorf("creating incident %s: %w", in.ID, recovery.ErrIDTaken)
			}
			if err != nil {
				return fmt.Errorf("creating incident %s: %w", in.ID, err)
			}
			return nil
		})
	})
	if errors.Is(err, errAlreadyDone) {
		return nil
	}
	return err
}

// errAlreadyDone is what a retried write returns when it finds that an earlier attempt
// of its own was applied: the write succeeded.
var errAlreadyDone = errors.New("applied by an earlier attempt")

// UpdateIncident saves in when its Version is the stored one and returns it with the
// next Version; otherwise it fails with recovery.ErrConflict (or ErrNotFound). A
// resolved incident gives up its sources, so the next failure of the same run or
// alarm opens a new incident.
func (s *Store) UpdateIncident(ctx context.Context, in recovery.Incident) (recovery.Incident, error) {
	prev := in.Version
	in.Version++
	data, err := encode(in)
	if err != nil {
		return recovery.Incident{}, fmt.Errorf("encoding incident %s: %w", in.ID, err)
	}
	err = s.retry(ctx, func(attempt int) error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE incidents SET env = $1, scenario = $2, severity = $3, status = $4, title = $5,
				updated_at = $6, channel = $7, message_ts = $8, version = $9, data = $10, escalate_at = $11 WHERE id = $12 AND version = $13`,
				in.Env, string(in.Scenario), int(in.Severity), string(in.Status), recovery.Redact(in.Title), ms(in.UpdatedAt),
				in.Channel, in.MessageTS, in.Version, string(data), escalateAt(in), in.ID, prev)
			if err != nil {
				return fmt.Errorf("updating incident %s: %w", in.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("updating incident %s: %w", in.ID, err)
			} else if n == 0 {
				var v int
				var stored string
				switch err := tx.QueryRowContext(ctx, `SELECT version, data FROM incidents WHERE id = $1`, in.ID).Scan(&v, &stored); {
				case errors.Is(err, sql.ErrNoRows):
					return fmt.Errorf("updating incident %s: %w", in.ID, recovery.ErrNotFound)
				case err != nil:
					return fmt.Errorf("updating incident %s: %w", in.ID, err)
				case attempt > 0 && v == in.Version && stored == string(data):
					return errAlreadyDone
				}
				return fmt.Errorf("updating incident %s (version %d, stored %d): %w", in.ID, prev, v, recovery.ErrConflict)
			}
			if in.Status == recovery.IncidentResolved {
				if _, err := tx.ExecContext(ctx, `UPDATE incident_sources SET open = 0 WHERE incident_id = $1`, in.ID); err != nil {
					return fmt.Errorf("closing the sources of %s: %w", in.ID, err)
				}
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errAlreadyDone) {
		return recovery.Incident{}, err
	}
	return in, nil
}

// escalateAt is the escalate_at column of in: when its escalation is due, 0 for never.
func escalateAt(in recovery.Incident) int64 {
	if in.Status == recovery.IncidentResolved {
		return 0
	}
	return ms(in.Escalation.DueAt)
}

// DueEscalations lists the unresolved incidents whose escalation is due at t.
func (s *Store) DueEscalations(ctx context.Context, t time.Time) ([]recovery.Incident, error) {
	return s.incidents(ctx, "due escalations", `SELECT `+incidentColumns+` FROM incidents i
		WHERE i.escalate_at > 0 AND i.escalate_at <= $1 AND i.status <> $2 ORDER BY i.escalate_at, i.id`, ms(t), string(recovery.IncidentResolved))
}

// RecentIncidents lists the incidents open now or opened since, most severe and
// newest first, at most limit.
func (s *Store) RecentIncidents(ctx context.Context, since time.Time, limit int) ([]recovery.Incident, error) {
	return s.incidents(ctx, "recent incidents", `SELECT `+incidentColumns+` FROM incidents i
		WHERE i.status <> $1 OR i.opened_at >= $2 ORDER BY i.status = $1, i.severity DESC, i.opened_at DESC, i.id LIMIT $3`,
		string(recovery.IncidentResolved), ms(since), limit)
}

func (s *Store) incidents(ctx context.Context, what, q string, args ...any) ([]recovery.Incident, error) {
	var out []recovery.Incident
	err := s.query(ctx, func() { out = nil }, func(rows *sql.Rows) error {
		in, err := scanIncident(rows)
		if err != nil {
			return fmt.Errorf("reading incident: %w", err)
		}
		out = append(out, in)
		return nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", what, err)
	}
	return out, nil
}

// AddPage stores a new page; recovery.ErrDuplicate (wrapped) when its ID exists.
func (s *Store) AddPage(ctx context.Context, p recovery.Page) error {
	data, err := encode(p)
	if err != nil {
		return fmt.Errorf("encoding page %s: %w", p.ID, err)
	}
	// Retried: a page ID already stored is a duplicate by contract, whoever stored it.
	_, err = s.exec(ctx, `INSERT INTO pages (id, incident_id, state, next_at, created_at, data) VALUES ($1, $2, $3, $4, $5, $6)`,
		p.ID, p.IncidentID, string(p.State), ms(p.NextAt), ms(p.CreatedAt), string(data))
	if isUniqueViolation(err) {
		return fmt.Errorf("page %s: %w", p.ID, recovery.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("storing page %s: %w", p.ID, err)
	}
	return nil
}

// UpdatePage saves a page's delivery state. Sent and failed are final: a page stored
// in either is left alone and UpdatePage fails with recovery.ErrConflict, so a
// replica finishing late cannot set a sent page pending again (which would page
// twice). recovery.ErrNotFound when there is no such page.
func (s *Store) UpdatePage(ctx context.Context, p recovery.Page) error {
	data, err := encode(p)
	if err != nil {
		return fmt.Errorf("encoding page %s: %w", p.ID, err)
	}
	var res sql.Result
	retried := false
	err = s.retry(ctx, func(attempt int) error {
		retried = attempt > 0
		var err error
		res, err = s.q.ExecContext(ctx, `UPDATE pages SET state = $1, next_at = $2, data = $3 WHERE id = $4 AND state = $5`,
			string(p.State), ms(p.NextAt), string(data), p.ID, string(recovery.PagePending))
		return err
	})
	if err != nil {
		return fmt.Errorf("saving page %s: %w", p.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("saving page %s: %w", p.ID, err)
	}
	if n == 1 {
		return nil
	}
	var state, stored string
	switch err := s.queryRow(ctx, []any{&state, &stored}, `SELECT state, data FROM pages WHERE id = $1`, p.ID); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("page %s: %w", p.ID, recovery.ErrNotFound)
	case err != nil:
		return fmt.Errorf("saving page %s: %w", p.ID, err)
	case retried && stored == string(data):
		return nil // our earlier attempt was applied after all
	}
	return fmt.Errorf("saving page %s as %s: it is %s already: %w", p.ID, p.State, state, recovery.ErrConflict)
}

// DuePages lists the pending pages due at t, oldest first, at most limit.
func (s *Store) DuePages(ctx context.Context, t time.Time, limit int) ([]recovery.Page, error) {
	return s.pages(ctx, `SELECT data FROM pages WHERE state = $1 AND next_at <= $2 ORDER BY next_at, id LIMIT $3`,
		string(recovery.PagePending), ms(t), limit)
}

// PagesOf lists an incident's pages, oldest first.
func (s *Store) PagesOf(ctx context.Context, incidentID string) ([]recovery.Page, error) {
	return s.pages(ctx, `SELECT data FROM pages WHERE incident_id = $1 ORDER BY created_at, id`, incidentID)
}

func (s *Store) pages(ctx context.Context, q string, args ...any) ([]recovery.Page, error) {
	var out []recovery.Page
	err := s.query(ctx, func() { out = nil }, func(rows *sql.Rows) error {
		var data string
		if err := rows.Scan(&data); err != nil {
			return fmt.Errorf("reading page: %w", err)
		}
		var p recovery.Page
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			return fmt.Errorf("decoding page: %w", err)
		}
		out = append(out, p)
		return nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing pages: %w", err)
	}
	return out, nil
}

// IncidentAudit returns an incident's audit entries, oldest first.
func (s *Store) IncidentAudit(ctx context.Context, incidentID string) ([]recovery.AuditEntry, error) {
	return s.Audit(ctx, AuditFilter{IncidentID: incidentID})
}

// AttachSource makes source belong to an open incident too; recovery.ErrDuplicate when
// an open incident already owns it.
func (s *Store) AttachSource(ctx context.Context, incidentID, source string) error {
	err := s.retry(ctx, func(attempt int) error {
		_, err := s.q.ExecContext(ctx, `INSERT INTO incident_sources (source_key, incident_id, open) VALUES ($1, $2, 1)`, source, incidentID)
		if isUniqueViolation(err) && attempt > 0 {
			var owner string
			if s.queryRow(ctx, []any{&owner}, `SELECT incident_id FROM incident_sources WHERE source_key = $1 AND open = 1`, source) == nil && owner == incidentID {
				return nil // our earlier attempt was applied after all
			}
		}
		return err
	})
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("attaching %s to %s: %w", source, incidentID, recovery.ErrDuplicate)
		}
		return fmt.Errorf("attaching %s to %s: %w", source, incidentID, err)
	}
	return nil
}

const incidentColumns = `i.id, i.env, i.scenario, i.severity, i.status, i.title, i.source_key, i.opened_at, i.updated_at,
	i.channel, i.message_ts, i.version, i.data`

func scanIncident(row interface{ Scan(...any) error }) (recovery.Incident, error) {
	var (
		in                       recovery.Incident
		id, env, scenario, title string
		status, source, channel  string
		ts, data                 string
		sev, version             int
		opened, updated          int64
	)
	if err := row.Scan(&id, &env, &scenario, &sev, &status, &title, &source, &opened, &updated, &channel, &ts, &version, &data); err != nil {
		return recovery.Incident{}, err
	}
	if err := json.Unmarshal([]byte(data), &in); err != nil {
		return recovery.Incident{}, fmt.Errorf("decoding incident %s: %w", id, err)
	}
	// The columns are authoritative.
	in.ID, in.Env, in.Scenario, in.Severity = id, env, recovery.ScenarioID(scenario), recovery.Severity(sev)
	in.Status, in.Title, in.SourceKey = recovery.IncidentStatus(status), title, source
	in.OpenedAt, in.UpdatedAt, in.Channel, in.MessageTS, in.Version = fromMS(opened), fromMS(updated), channel, ts, version
	return in, nil
}

// Incident returns one incident, or an error wrapping recovery.ErrNotFound.
func (s *Store) Incident(ctx context.Context, id string) (recovery.Incident, error) {
	var in recovery.Incident
	err := s.retry(ctx, func(int) error {
		var err error
		in, err = scanIncident(s.q.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents i WHERE i.id = $1`, id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return recovery.Incident{}, fmt.Errorf("incident %s: %w", id, recovery.ErrNotFound)
	}
	if err != nil {
		return recovery.Incident{}, fmt.Errorf("reading incident %s: %w", id, err)
	}
	return in, nil
}

// OpenIncidentBySource returns the open incident owning source, or an error wrapping
// recovery.ErrNotFound.
func (s *Store) OpenIncidentBySource(ctx context.Context, source string) (recovery.Incident, error) {
	var in recovery.Incident
	err := s.retry(ctx, func(int) error {
		var err error
		in, err = scanIncident(s.q.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incident_sources s
			JOIN incidents i ON i.id = s.incident_id WHERE s.source_key = $1 AND s.open = 1`, source))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return recovery.Incident{}, fmt.Errorf("incident for %s: %w", source, recovery.ErrNotFound)
	}
	if err != nil {
		return recovery.Incident{}, fmt.Errorf("reading the incident for %s: %w", source, err)
	}
	return in, nil
}

// OpenIncidents lists the environment's incidents that are not resolved, most severe
// first, then newest.
func (s *Store) OpenIncidents(ctx context.Context, env string) ([]recovery.Incident, error) {
	return s.incidents(ctx, "open incidents of "+env, `SELECT `+incidentColumns+` FROM incidents i
		WHERE i.env = $1 AND i.status <> $2 ORDER BY i.severity DESC, i.opened_at DESC, i.id`, env, string(recovery.IncidentResolved))
}

// ClaimWork claims key for lease: true when nobody finished it and nobody holds an
// unexpired lease. Several replicas claiming at once get one true.
func (s *Store) ClaimWork(ctx context.Context, key string, lease time.Duration) (bool, error) {
	now := s.now()
	// Retried when the connection is lost: had the lost attempt been applied, the retry
	// answers false and the work waits for the lease, as it would have without retry.
	res, err := s.exec(ctx, `INSERT INTO work (key, state, lease_until, updated_at) VALUES ($1, 'claimed', $2, $3)
		ON CONFLICT (key) DO UPDATE SET lease_until = excluded.lease_until, updated_at = excluded.updated_at
		WHERE work.state = 'claimed' AND work.lease_until < $3`, key, ms(now.Add(lease)), ms(now))
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	return n == 1, nil
}

// CompleteWork marks claimed work done for good.
func (s *Store) CompleteWork(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, `UPDATE work SET state = 'done', updated_at = $1 WHERE key = $2`, ms(s.now()), key); err != nil {
		return fmt.Errorf("completing %s: %w", key, err)
	}
	return nil
}

// ReleaseWork gives claimed (not done) work up so it can be claimed again.
func (s *Store) ReleaseWork(ctx context.Context, key string) error {
	if _, err := s.exec(ctx, `DELETE FROM work WHERE key = $1 AND state = 'claimed'`, key); err != nil {
		return fmt.Errorf("releasing %s: %w", key, err)
	}
	return nil
}

// Cursor returns a poller's cursor, the zero time when never set.
func (s *Store) Cursor(ctx context.Context, name string) (time.Time, error) {
	var v int64
	err := s.queryRow(ctx, []any{&v}, `SELECT value FROM cursors WHERE name = $1`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading cursor %s: %w", name, err)
	}
	return fromMS(v), nil
}

// SetCursor records a poller's cursor.
func (s *Store) SetCursor(ctx context.Context, name string, t time.Time) error {
	if _, err := s.exec(ctx, `INSERT INTO cursors (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, ms(t)); err != nil {
		return fmt.Errorf("saving cursor %s: %w", name, err)
	}
	return nil
}

// tx runs f in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("starting a transaction: %w", err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// CreateJob stores a new job; recovery.ErrDuplicate when its request already has one.
func (s *Store) CreateJob(ctx context.Context, j recovery.Job) error {
	if j.Version == 0 {
		j.Version = 1
	}
	data, err := encode(j)
	if err != nil {
		return fmt.Errorf("encoding job %s: %w", j.ID, err)
	}
	err = s.retry(ctx, func(attempt int) error {
		_, err := s.q.ExecContext(ctx, `INSERT INTO jobs (id, env, request_id, incident_id, state, owner, lease_until, created_at, updated_at, version, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			j.ID, j.Env, j.RequestID, j.IncidentID, string(j.State), j.Owner, ms(j.LeaseUntil), ms(j.CreatedAt), ms(j.UpdatedAt), j.Version, string(data))
		if isUniqueViolation(err) && attempt > 0 && s.rowExists(ctx, "jobs", j.ID) {
			return nil // our earlier attempt was applied after all
		}
		return err
	})
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("creating job for request %s: %w", j.RequestID, recovery.ErrDuplicate)
		}
		return fmt.Errorf("creating job %s: %w", j.ID, err)
	}
	return nil
}

// UpdateJob saves j when its Version is the stored one and returns it with the next
// Version; recovery.ErrConflict otherwise.
func (s *Store) UpdateJob(ctx context.Context, j recovery.Job) (recovery.Job, error) {
	prev := j.Version
	j.Version++
	data, err := encode(j)
	if err != nil {
		return recovery.Job{}, fmt.Errorf("encoding job %s: %w", j.ID, err)
	}
	var res sql.Result
	retried := false
	err = s.retry(ctx, func(attempt int) error {
		retried = attempt > 0
		var err error
		res, err = s.q.ExecContext(ctx, `UPDATE jobs SET state = $1, owner = $2, lease_until = $3, updated_at = $4, version = $5, data = $6
			WHERE id = $7 AND version = $8`,
			string(j.State), j.Owner, ms(j.LeaseUntil), ms(j.UpdatedAt), j.Version, string(data), j.ID, prev)
		return err
	})
	if err != nil {
		return recovery.Job{}, fmt.Errorf("updating job %s: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if retried && s.holds(ctx, "jobs", j.ID, j.Version, string(data)) {
			return j, nil // our earlier attempt was applied after all
		}
		return recovery.Job{}, fmt.Errorf("updating job %s (version %d): %w", j.ID, prev, recovery.ErrConflict)
	}
	return j, nil
}

// holds reports whether the row id of table is at version with data: what a versioned
// update wrote, when an attempt of it was lost on the way.
func (s *Store) holds(ctx context.Context, table, id string, version int, data string) bool {
	var v int
	var stored string
	err := s.queryRow(ctx, []any{&v, &stored}, `SELECT version, data FROM `+table+` WHERE id = $1`, id)
	return err == nil && v == version && stored == data
}

func (s *Store) scanJobs(ctx context.Context, where string, args ...any) ([]recovery.Job, error) {
	var out []recovery.Job
	err := s.query(ctx, func() { out = nil }, func(rows *sql.Rows) error {
		var v int
		var data string
		if err := rows.Scan(&v, &data); err != nil {
			return fmt.Errorf("reading job: %w", err)
		}
		var j recovery.Job
		if err := json.Unmarshal([]byte(data), &j); err != nil {
			return fmt.Errorf("decoding job: %w", err)
		}
		j.Version = v
		out = append(out, j)
		return nil
	}, `SELECT version, data FROM jobs WHERE `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	return out, nil
}

// Job returns one job, or an error wrapping recovery.ErrNotFound.
func (s *Store) Job(ctx context.Context, id string) (recovery.Job, error) {
	jobs, err := s.scanJobs(ctx, `id = $1`, id)
	if err != nil {
		return recovery.Job{}, err
	}
	if len(jobs) == 0 {
		return recovery.Job{}, fmt.Errorf("job %s: %w", id, recovery.ErrNotFound)
	}
	return jobs[0], nil
}

// RunningJobs lists the environment's jobs that are pending or running, oldest first.
func (s *Store) RunningJobs(ctx context.Context, env string) ([]recovery.Job, error) {
	return s.scanJobs(ctx, `env = $1 AND state IN ($2, $3)`, env, string(recovery.JobPending), string(recovery.JobRunning))
}

// StaleJobs lists running jobs whose owner's lease ran out before t: their process
// stopped without finishing them.
func (s *Store) StaleJobs(ctx context.Context, t time.Time) ([]recovery.Job, error) {
	return s.scanJobs(ctx, `state IN ($1, $2) AND lease_until < $3`, string(recovery.JobPending), string(recovery.JobRunning), ms(t))
}

// LockEnv gives env's job slot to jobID, or keeps it when jobID holds it already;
// recovery.ErrDuplicate (wrapped, naming the holder) when another job holds it. Of
// several replicas locking at once, one gets the slot: the row of env is the lock.
func (s *Store) LockEnv(ctx context.Context, env, jobID string) error {
	// A holder that unlocks between our insert and our look at it leaves the slot
	// free: try again, a few times, rather than report a busy slot with no holder.
	for range 3 {
		res, err := s.exec(ctx, `INSERT INTO env_locks (env, job_id, locked_at) VALUES ($1, $2, $3)
			ON CONFLICT (env) DO UPDATE SET job_id = excluded.job_id WHERE env_locks.job_id = excluded.job_id`,
			env, jobID, ms(s.now()))
		if err != nil {
			return fmt.Errorf("locking %s for %s: %w", env, jobID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("locking %s for %s: %w", env, jobID, err)
		}
		if n == 1 {
			return nil
		}
		holder, err := s.EnvLock(ctx, env)
		if err != nil {
			return fmt.Errorf("locking %s for %s: %w", env, jobID, err)
		}
		if holder != "" {
			return fmt.Errorf("%s is busy with job %s: %w", env, holder, recovery.ErrDuplicate)
		}
	}
	return fmt.Errorf("locking %s for %s: the slot kept changing hands, try again", env, jobID)
}

// UnlockEnv frees env's job slot if jobID holds it.
func (s *Store) UnlockEnv(ctx context.Context, env, jobID string) error {
	if _, err := s.exec(ctx, `DELETE FROM env_locks WHERE env = $1 AND job_id = $2`, env, jobID); err != nil {
		return fmt.Errorf("unlocking %s: %w", env, err)
	}
	return nil
}

// EnvLock returns the job holding env's slot, "" when free.
func (s *Store) EnvLock(ctx context.Context, env string) (string, error) {
	var id string
	err := s.queryRow(ctx, []any{&id}, `SELECT job_id FROM env_locks WHERE env = $1`, env)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the lock of %s: %w", env, err)
	}
	return id, nil
}

// CreateRequest stores a new request; recovery.ErrDuplicate when a pending request
// has the same DedupeKey.
func (s *Store) CreateRequest(ctx context.Context, r recovery.Request) error {
	if r.Version == 0 {
		r.Version = 1
	}
	data, err := encode(r)
	if err != nil {
		return fmt.Errorf("encoding request %s: %w", r.ID, err)
	}
	err = s.retry(ctx, func(attempt int) error {
		_, err := s.q.ExecContext(ctx, `INSERT INTO requests (id, env, incident_id, state, dedupe_key, expires_at, created_at, version, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.ID, r.Env, r.IncidentID, string(r.State), r.DedupeKey, ms(r.ExpiresAt), ms(r.RequestedAt), r.Version, string(data))
		if isUniqueViolation(err) && attempt > 0 && s.rowExists(ctx, "requests", r.ID) {
			return nil // our earlier attempt was applied after all
		}
		return err
	})
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("creating request %s: %w", r.ID, recovery.ErrDuplicate)
		}
		return fmt.Errorf("creating request %s: %w", r.ID, err)
	}
	return nil
}

// UpdateRequest saves r when its Version is the stored one; recovery.ErrConflict otherwise.
func (s *Store) UpdateRequest(ctx context.Context, r recovery.Request) (recovery.Request, error) {
	prev := r.Version
	r.Version++
	data, err := encode(r)
	if err != nil {
		return recovery.Request{}, fmt.Errorf("encoding request %s: %w", r.ID, err)
	}
	var res sql.Result
	retried := false
	err = s.retry(ctx, func(attempt int) error {
		retried = attempt > 0
		var err error
		res, err = s.q.ExecContext(ctx, `UPDATE requests SET state = $1, expires_at = $2, version = $3, data = $4 WHERE id = $5 AND version = $6`,
			string(r.State), ms(r.ExpiresAt), r.Version, string(data), r.ID, prev)
		return err
	})
	if err != nil {
		return recovery.Request{}, fmt.Errorf("updating request %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if retried && s.holds(ctx, "requests", r.ID, r.Version, string(data)) {
			return r, nil // our earlier attempt was applied after all
		}
		return recovery.Request{}, fmt.Errorf("updating request %s (version %d): %w", r.ID, prev, recovery.ErrConflict)
	}
	return r, nil
}

func (s *Store) scanRequests(ctx context.Context, where string, args ...any) ([]recovery.Request, error) {
	var out []recovery.Request
	err := s.query(ctx, func() { out = nil }, func(rows *sql.Rows) error {
		var v int
		var data string
		if err := rows.Scan(&v, &data); err != nil {
			return fmt.Errorf("reading request: %w", err)
		}
		var r recovery.Request
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			return fmt.Errorf("decoding request: %w", err)
		}
		r.Version = v
		out = append(out, r)
		return nil
	}, `SELECT version, data FROM requests WHERE `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing requests: %w", err)
	}
	return out, nil
}

// Request returns one request, or an error wrapping recovery.ErrNotFound.
func (s *Store) Request(ctx context.Context, id string) (recovery.Request, error) {
	rs, err := s.scanRequests(ctx, `id = $1`, id)
	if err != nil {
		return recovery.Request{}, err
	}
	if len(rs) == 0 {
		return recovery.Request{}, fmt.Errorf("request %s: %w", id, recovery.ErrNotFound)
	}
	return rs[0], nil
}

// PendingRequest returns the pending request with a dedupe key, or ErrNotFound.
func (s *Store) PendingRequest(ctx context.Context, key string) (recovery.Request, error) {
	rs, err := s.scanRequests(ctx, `dedupe_key = $1 AND state = $2`, key, string(recovery.RequestPending))
	if err != nil {
		return recovery.Request{}, err
	}
	if len(rs) == 0 {
		return recovery.Request{}, fmt.Errorf("pending request %s: %w", key, recovery.ErrNotFound)
	}
	return rs[0], nil
}

// ExpiredRequests lists pending requests that expired before t.
func (s *Store) ExpiredRequests(ctx context.Context, t time.Time) ([]recovery.Request, error) {
	return s.scanRequests(ctx, `state = $1 AND expires_at < $2`, string(recovery.RequestPending), ms(t))
}

// AppendAudit adds an entry to the audit log. Entries are never changed or removed.
func (s *Store) AppendAudit(ctx context.Context, e recovery.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	detail, err := encode(e.Detail)
	if err != nil {
		return fmt.Errorf("encoding audit detail: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("making audit id: %w", err)
	}
	// The entry's ID is made once: an attempt retried after a lost connection finds it
	// written if the lost one was, and the entry is in the log once either way.
	err = s.retry(ctx, func(attempt int) error {
		_, err := s.q.ExecContext(ctx, `INSERT INTO audit (id, at, actor, action, env, incident_id, job_id, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			id.String(), ms(e.At), e.Actor, e.Action, e.Env, e.IncidentID, e.JobID, string(detail))
		if isUniqueViolation(err) && attempt > 0 {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("appending audit %s by %s: %w", e.Action, e.Actor, err)
	}
	return nil
}

// AuditFilter selects audit entries; empty fields match everything.
type AuditFilter struct {
	IncidentID string
	JobID      string
	Env        string
	Limit      int
}

// Audit returns the entries matching f, oldest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]recovery.AuditEntry, error) {
	q := `SELECT at, actor, action, env, incident_id, job_id, detail FROM audit WHERE 1=1`
	var args []any
	for _, c := range []struct{ col, val string }{{"incident_id", f.IncidentID}, {"job_id", f.JobID}, {"env", f.Env}} {
		if c.val != "" {
			args = append(args, c.val)
			q += fmt.Sprintf(" AND %s = $%d", c.col, len(args))
		}
	}
	q += " ORDER BY at, id"
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	var out []recovery.AuditEntry
	err := s.query(ctx, func() { out = nil }, func(rows *sql.Rows) error {
		var e recovery.AuditEntry
		var at int64
		var detail string
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Env, &e.IncidentID, &e.JobID, &detail); err != nil {
			return fmt.Errorf("reading audit entry: %w", err)
		}
		e.At = fromMS(at)
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return fmt.Errorf("decoding audit detail: %w", err)
		}
		out = append(out, e)
		return nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading audit: %w", err)
	}
	return out, nil
}

// isUniqueViolation reports whether err is a uniqueness violation: PostgreSQL's
// SQLSTATE 23505 (unique_violation), or SQLite's extended codes
// SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		c := sqliteErr.Code()
		return c == 2067 || c == 1555
	}
	return false
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// encode is how everything medic stores is written: JSON with every string value
// redacted (a commit message, a log excerpt, an error, an audit reason), so the
// store and its backups hold no credential even where a caller forgot one.
func encode(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	data, _, err = recovery.RedactJSONKeeping(data, identifier)
	return data, err
}

// identifier reports whether a stored field is an identifier medic acts on (an
// incident's, job's or request's ID, a SHA, a lock ID, an alarm's name, a Slack
// channel or timestamp): redacting one would point medic at something else. They are
// never shown unescaped, and where they are shown (Slack) they are redacted there.
func identifier(key string) bool {
	switch key {
	case "LockID", "Alarm", "AlarmName", "Alarms", "SourceKey", "Env", "Channel", "Workflow", "Scenario", "Action", "Pager", "Levels", "Reached", "Owner":
		return true
	}
	return strings.HasSuffix(key, "ID") || strings.HasSuffix(key, "SHA") || strings.HasSuffix(key, "TS")
}
