-- Escalation: when each incident escalates next, and the pages medic sends.

-- +goose Up
-- Unix milliseconds of the incident's next escalation; 0 when none is due.
ALTER TABLE incidents ADD COLUMN escalate_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX incidents_escalate_at ON incidents (escalate_at);

-- Pages to PagerDuty and Slack: stored before they are sent, kept until delivered, so a
-- restart neither loses nor repeats one. The ID is the incident, the page's number and
-- the pager, so a page is added once however many replicas escalate.
CREATE TABLE pages (
    id           TEXT PRIMARY KEY,
    incident_id  TEXT NOT NULL,
    state        TEXT NOT NULL,
    next_at      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    data         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX pages_due ON pages (state, next_at);
CREATE INDEX pages_incident ON pages (incident_id, created_at);

-- +goose Down
DROP TABLE pages;
DROP INDEX incidents_escalate_at;
ALTER TABLE incidents DROP COLUMN escalate_at;
