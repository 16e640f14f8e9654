-- +goose Up
-- paas_login_failures holds a streak of failed logins per email and client
-- address together, so a wrong password from one address slows down only
-- that address's tries at that email: keyed by the email alone, anyone could
-- lock its owner out. key is HMAC-SHA-256 of "pair:<email> <address>" under
-- the server's secret (neither can be read back); failures counts the
-- attempts of the streak not yet proven right (an attempt counts before its
-- password is checked, so concurrent guesses cannot overtake the count, and
-- a success deletes the row); the streak ends when last_at is older than the
-- window the API uses. The API sweeps ended streaks as it goes.
CREATE TABLE paas_login_failures (
    key       bytea PRIMARY KEY,
    failures  integer NOT NULL CHECK (failures > 0),
    last_at   timestamptz NOT NULL
);
CREATE INDEX paas_login_failures_last_at_idx ON paas_login_failures (last_at);

-- +goose Down
DROP TABLE paas_login_failures;
