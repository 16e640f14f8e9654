-- Shared login rate limit (paas_login_attempts).

-- name: APILockLoginKeys :exec
-- Serialises the attempts on the same keys until the transaction ends;
-- keys are locked in order, so two attempts never deadlock.
SELECT pg_advisory_xact_lock(hashtextextended(encode(k, 'hex'), 0))
FROM unnest(sqlc.arg(keys)::bytea[]) AS k ORDER BY k;

-- name: APIPruneLoginAttempts :exec
-- Only the locked keys: concurrent logins on other keys never wait on each
-- other (the leader sweeps the rest, PruneLoginAttempts).
DELETE FROM paas_login_attempts
WHERE key = ANY(sqlc.arg(keys)::bytea[]) AND attempted_at <= sqlc.arg(before)::timestamptz;

-- name: APILoginAttemptsSince :many
-- Attempts per key since a time, and the oldest (to say when one frees).
SELECT key, count(*)::bigint AS n, min(attempted_at)::timestamptz AS oldest
FROM paas_login_attempts
WHERE key = ANY(sqlc.arg(keys)::bytea[]) AND attempted_at > sqlc.arg(since)::timestamptz
GROUP BY key;

-- name: APIRecordLoginAttempt :exec
INSERT INTO paas_login_attempts (key, attempted_at)
SELECT k, sqlc.arg(attempted_at)::timestamptz FROM unnest(sqlc.arg(keys)::bytea[]) AS k;

-- name: APILoginFailures :one
-- The failure streak of one email from one address (paas_login_failures).
SELECT failures, last_at FROM paas_login_failures WHERE key = $1;

-- name: APIRecordLoginFailure :exec
-- Counts one more attempt in the key's streak, or starts a new streak when
-- the last attempt is at or before streak_start (the window has passed).
INSERT INTO paas_login_failures (key, failures, last_at)
VALUES (sqlc.arg(key), 1, sqlc.arg(at)::timestamptz)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN paas_login_failures.last_at <= sqlc.arg(streak_start)::timestamptz THEN 1
                    ELSE paas_login_failures.failures + 1 END,
    last_at = EXCLUDED.last_at;

-- name: APIClearLoginFailures :exec
-- A right password ends the streak.
DELETE FROM paas_login_failures WHERE key = $1;

-- name: APISweepLoginFailures :exec
-- Removes a few ended streaks per login, so the table holds about one
-- window of them without a sweeper of its own. last_at is checked again on
-- the row itself, so a streak that a concurrent attempt just extended stays.
DELETE FROM paas_login_failures
WHERE last_at <= sqlc.arg(before)::timestamptz
  AND key IN (SELECT f.key FROM paas_login_failures f
              WHERE f.last_at <= sqlc.arg(before)::timestamptz ORDER BY f.last_at LIMIT 100);
