-- Leases: a named role (the leader running the timers and pollers) that one replica
-- holds until expires_at unless it renews it.

-- +goose Up
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    -- Unix milliseconds; the lease is free from then on.
    expires_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE leases;
