-- medic's first schema. Portable SQL: the same migrations run on SQLite and PostgreSQL.
-- Times are Unix milliseconds (BIGINT); structured details are JSON text.

-- +goose Up
CREATE TABLE incidents (
    id          TEXT PRIMARY KEY,
    env         TEXT NOT NULL,
    scenario    TEXT NOT NULL,
    severity    INTEGER NOT NULL,
    status      TEXT NOT NULL,
    title       TEXT NOT NULL,
    source_key  TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    channel     TEXT NOT NULL DEFAULT '',
    message_ts  TEXT NOT NULL DEFAULT '',
    -- Optimistic concurrency: every update must carry the version it read.
    version     INTEGER NOT NULL DEFAULT 1,
    data        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX incidents_env_status ON incidents (env, status);

-- The signal sources (runs, alarms) each open incident owns: one source, one open
-- incident.
CREATE TABLE incident_sources (
    source_key   TEXT NOT NULL,
    incident_id  TEXT NOT NULL,
    open         INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX incident_sources_open ON incident_sources (source_key) WHERE open = 1;
CREATE INDEX incident_sources_incident ON incident_sources (incident_id);

-- Requests for recovery actions, waiting for approval or decided.
CREATE TABLE requests (
    id           TEXT PRIMARY KEY,
    env          TEXT NOT NULL,
    incident_id  TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    data         TEXT NOT NULL DEFAULT '{}'
);
-- A second identical request while one is pending returns the pending one.
CREATE UNIQUE INDEX requests_pending_key ON requests (dedupe_key) WHERE state = 'pending';
CREATE INDEX requests_state ON requests (state, expires_at);

-- Approved requests carried out as durable steps; one job per request.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    env          TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    incident_id  TEXT NOT NULL DEFAULT '',
    state        TEXT NOT NULL,
    owner        TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    data         TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX jobs_request ON jobs (request_id);
CREATE INDEX jobs_env_state ON jobs (env, state);

-- One mutating job per environment at a time.
CREATE TABLE env_locks (
    env        TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL,
    locked_at  BIGINT NOT NULL
);

-- Append-only: medic only ever inserts here.
CREATE TABLE audit (
    id           TEXT PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    env          TEXT NOT NULL DEFAULT '',
    incident_id  TEXT NOT NULL DEFAULT '',
    job_id       TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_incident ON audit (incident_id, at);
CREATE INDEX audit_at ON audit (at);

-- Keys claimed once (Slack envelope IDs, webhook deliveries): the first claimer wins.
CREATE TABLE claims (
    key         TEXT PRIMARY KEY,
    claimed_at  BIGINT NOT NULL
);
CREATE INDEX claims_claimed_at ON claims (claimed_at);

-- Work done once (signals): claimed with a lease, then done. A lease that runs out
-- (its worker died) lets the work be claimed again.
CREATE TABLE work (
    key          TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    lease_until  BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX work_updated_at ON work (updated_at);

-- Where each poller got to.
CREATE TABLE cursors (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE cursors;
DROP TABLE work;
DROP TABLE claims;
DROP TABLE audit;
DROP TABLE env_locks;
DROP TABLE jobs;
DROP TABLE requests;
DROP TABLE incident_sources;
DROP TABLE incidents;
