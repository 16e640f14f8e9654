-- +goose Up
-- paas_login_attempts counts recent login attempts per client address and
-- per email, so every paasd replica enforces one shared limit. Keys are
-- HMAC-SHA-256 of "addr:<ip>" or "email:<address>" under the server's
-- secret: no address or email can be read back. Each attempt deletes its
-- keys' rows older than the one-minute window, and the leader sweeps the
-- rest, so the table holds about a minute of attempts.
CREATE TABLE paas_login_attempts (
    key           bytea NOT NULL,
    attempted_at  timestamptz NOT NULL
);
CREATE INDEX paas_login_attempts_key_idx ON paas_login_attempts (key, attempted_at);
CREATE INDEX paas_login_attempts_at_idx ON paas_login_attempts (attempted_at);

-- +goose Down
DROP TABLE paas_login_attempts;
