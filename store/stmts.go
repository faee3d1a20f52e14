package store

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache runs medic's queries through statements prepared once. SQLite (the
// modernc driver) parses a statement's SQL at every prepare, and database/sql prepares
// at every call: under a crowd of /status commands, parsing the same few queries was a
// third of the work. PostgreSQL's driver (pgx) keeps its own statement cache, and
// replicas there may migrate the schema under one another, so only SQLite, where one
// process owns the file, uses this one.
type stmtCache struct {
	db *sql.DB
	on bool

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache: medic's queries are a few dozen constant strings; a
// query past the bound runs unprepared.
const maxCachedStmts = 256

func newStmtCache(db *sql.DB, on bool) *stmtCache {
	return &stmtCache{db: db, on: on, stmts: map[string]*sql.Stmt{}}
}

// stmt returns query prepared, or nil when the cache is off or full or the prepare
// failed (the caller then runs the query directly, and meets the error there).
func (c *stmtCache) stmt(ctx context.Context, query string) *sql.Stmt {
	if !c.on {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.stmts[query] = st
	return st
}

// ExecContext is sql.DB's, through the cache.
func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

// QueryContext is sql.DB's, through the cache.
func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

// QueryRowContext is sql.DB's, through the cache.
func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

// close closes the prepared statements (before the database).
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}
