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
