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
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/medic-ops/medic/recovery"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is medic's durable state. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect database.Dialect
	now     func() time.Time
}

// Options tune Open.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Open connects to the store at rawURL (sqlite:PATH, or sqlite::memory: for a private
// in-memory database) and applies every pending migration.
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
		db, err := openSQLite(path)
		if err != nil {
			return nil, err
		}
		s.db, s.dialect = db, database.DialectSQLite3
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		return nil, errors.New("opening store: PostgreSQL is not supported by this build yet; use sqlite:PATH")
	default:
		return nil, fmt.Errorf("opening store: unsupported URL scheme in %q; use sqlite:PATH", redact(rawURL))
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
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
	return db, nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("reading migrations: %w", err)
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
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Claim records key and reports whether this call was the first to claim it. Several
// replicas claiming the same key concurrently get exactly one true.
func (s *Store) Claim(ctx context.Context, key string) (bool, error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO claims (key, claimed_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
		key, ms(s.now()))
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claiming %s: %w", key, err)
	}
	return n == 1, nil
}

// PurgeClaims forgets claims made before t and reports how many were removed.
func (s *Store) PurgeClaims(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM claims WHERE claimed_at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("purging claims: %w", err)
	}
	return res.RowsAffected()
}

// CreateIncident stores a new incident. An open incident with the same SourceKey
// already present makes it fail with an error wrapping ErrDuplicate.
func (s *Store) CreateIncident(ctx context.Context, in recovery.Incident) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO incidents
		(id, env, scenario, severity, status, title, source_key, opened_at, updated_at, channel, message_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		in.ID, in.Env, in.Scenario, int(in.Severity), string(in.Status), in.Title, in.SourceKey,
		ms(in.OpenedAt), ms(in.UpdatedAt), in.Channel, in.MessageTS)
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("creating incident %s: %w", in.ID, ErrDuplicate)
		}
		return fmt.Errorf("creating incident %s: %w", in.ID, err)
	}
	return nil
}

// ErrDuplicate is returned when a row would break a uniqueness rule.
var ErrDuplicate = errors.New("already exists")

// OpenIncidents lists the environment's incidents that are not resolved, newest first.
func (s *Store) OpenIncidents(ctx context.Context, env string) ([]recovery.Incident, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, env, scenario, severity, status, title, source_key,
		opened_at, updated_at, channel, message_ts FROM incidents
		WHERE env = $1 AND status <> $2 ORDER BY opened_at DESC, id`, env, string(recovery.IncidentResolved))
	if err != nil {
		return nil, fmt.Errorf("listing open incidents of %s: %w", env, err)
	}
	defer rows.Close()
	var out []recovery.Incident
	for rows.Next() {
		var in recovery.Incident
		var sev int
		var status string
		var opened, updated int64
		if err := rows.Scan(&in.ID, &in.Env, &in.Scenario, &sev, &status, &in.Title, &in.SourceKey,
			&opened, &updated, &in.Channel, &in.MessageTS); err != nil {
			return nil, fmt.Errorf("reading incident: %w", err)
		}
		in.Severity, in.Status = recovery.Severity(sev), recovery.IncidentStatus(status)
		in.OpenedAt, in.UpdatedAt = fromMS(opened), fromMS(updated)
		out = append(out, in)
	}
	return out, rows.Err()
}

// CreateJob stores a new job.
func (s *Store) CreateJob(ctx context.Context, j recovery.Job) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO jobs
		(id, env, action, incident_id, state, requested_by, approved_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		j.ID, j.Env, j.Action, j.IncidentID, string(j.State), j.RequestedBy, j.ApprovedBy, ms(j.CreatedAt), ms(j.UpdatedAt))
	if err != nil {
		return fmt.Errorf("creating job %s: %w", j.ID, err)
	}
	return nil
}

// RunningJobs lists the environment's jobs that are pending or running, oldest first.
func (s *Store) RunningJobs(ctx context.Context, env string) ([]recovery.Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, env, action, incident_id, state, requested_by, approved_by,
		created_at, updated_at FROM jobs WHERE env = $1 AND state IN ($2, $3) ORDER BY created_at, id`,
		env, string(recovery.JobPending), string(recovery.JobRunning))
	if err != nil {
		return nil, fmt.Errorf("listing running jobs of %s: %w", env, err)
	}
	defer rows.Close()
	var out []recovery.Job
	for rows.Next() {
		var j recovery.Job
		var state string
		var created, updated int64
		if err := rows.Scan(&j.ID, &j.Env, &j.Action, &j.IncidentID, &state, &j.RequestedBy, &j.ApprovedBy, &created, &updated); err != nil {
			return nil, fmt.Errorf("reading job: %w", err)
		}
		j.State, j.CreatedAt, j.UpdatedAt = recovery.JobState(state), fromMS(created), fromMS(updated)
		out = append(out, j)
	}
	return out, rows.Err()
}

// AppendAudit adds an entry to the audit log. Entries are never changed or removed.
func (s *Store) AppendAudit(ctx context.Context, e recovery.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return fmt.Errorf("encoding audit detail: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("making audit id: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO audit (id, at, actor, action, env, incident_id, job_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id.String(), ms(e.At), e.Actor, e.Action, e.Env, e.IncidentID, e.JobID, string(detail))
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
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading audit: %w", err)
	}
	defer rows.Close()
	var out []recovery.AuditEntry
	for rows.Next() {
		var e recovery.AuditEntry
		var at int64
		var detail string
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Env, &e.IncidentID, &e.JobID, &detail); err != nil {
			return nil, fmt.Errorf("reading audit entry: %w", err)
		}
		e.At = fromMS(at)
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("decoding audit detail: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// isUniqueViolation reports whether err is a uniqueness violation: SQLite's extended
// codes SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555), or
// PostgreSQL's SQLSTATE 23505.
func isUniqueViolation(err error) bool {
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		c := sqliteErr.Code()
		return c == 2067 || c == 1555
	}
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		return pgErr.SQLState() == "23505"
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

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}
