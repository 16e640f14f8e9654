-- +goose Up
-- paas_login_attempts counts recent login attempts per client address and
-- per email, so every paasd replica enforces one shared limit. Keys are
-- SHA-256 hashes ("addr:<ip>", "email:<address>"): no address or email is
-- stored. Rows older than the one-minute window are deleted as attempts
-- come in, so the table holds about a minute of attempts.
CREATE TABLE paas_login_attempts (
    key           bytea NOT NULL,
    attempted_at  timestamptz NOT NULL
);
CREATE INDEX paas_login_attempts_key_idx ON paas_login_attempts (key, attempted_at);
CREATE INDEX paas_login_attempts_at_idx ON paas_login_attempts (attempted_at);

-- +goose Down
DROP TABLE paas_login_attempts;
