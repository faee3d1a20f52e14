-- Saved Terraform plans: the plan a request's preview made, which the approver read
-- and the job applies, byte for byte. Kept from the preview until the request's job
-- ends (or the request expires, is rejected or fails); data is the plan file in
-- base64, sha256 its hex SHA-256.

-- +goose Up
CREATE TABLE plans (
    request_id  TEXT PRIMARY KEY,
    sha256      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX plans_created_at ON plans (created_at);

-- +goose Down
DROP TABLE plans;
