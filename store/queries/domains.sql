-- name: CreateDomain :one
INSERT INTO paas_domains (app_id, hostname) VALUES ($1, $2) RETURNING *;

-- name: ListDomains :many
SELECT * FROM paas_domains WHERE app_id = $1 ORDER BY hostname;

-- name: GetAppDomain :one
SELECT * FROM paas_domains WHERE app_id = $1 AND id = $2;

-- name: DeleteDomain :execrows
DELETE FROM paas_domains WHERE app_id = $1 AND id = $2;

-- name: RequestDomainVerify :one
-- Asks the domain loop to check the proof now (spec: the notify trigger
-- wakes the loop).
UPDATE paas_domains SET verify_requested_at = $3, updated_at = now()
WHERE app_id = $1 AND id = $2 RETURNING *;

-- name: GetDomainForCheck :one
-- A domain as the domain loop checks it, with whether its app is going away.
SELECT sqlc.embed(d), a.deleted_at AS app_deleted_at
FROM paas_domains d JOIN paas_apps a ON a.id = d.app_id
WHERE d.id = $1;

-- name: ListDomainIDs :many
SELECT id FROM paas_domains ORDER BY id;

-- name: RecordDomainCheck :one
-- Records one check of a domain's proof. A proof found keeps a routed
-- domain routed and makes any other verified; a proof surely missing
-- (definitive: the DNS answered) fails a domain that was proven or whose
-- check was asked for, and keeps a domain never proven pending; a lookup
-- that failed changes no status. Either way the error (empty on success)
-- and the time are kept.
UPDATE paas_domains SET
    status = CASE
        WHEN sqlc.arg(found)::boolean THEN CASE WHEN status = 'routed' THEN 'routed' ELSE 'verified' END
        WHEN NOT sqlc.arg(definitive)::boolean THEN status
        WHEN status = 'pending' AND NOT sqlc.arg(fail_pending)::boolean THEN 'pending'
        ELSE 'failed' END,
    last_error = sqlc.arg(last_error),
    -- never before the request it answers, whoever's clock is ahead:
    -- a check dated before its request would be asked for again at once.
    checked_at = GREATEST(sqlc.arg(checked_at)::timestamptz, verify_requested_at),
    verified_at = CASE WHEN sqlc.arg(found)::boolean THEN GREATEST(sqlc.arg(checked_at)::timestamptz, verify_requested_at) ELSE verified_at END,
    updated_at = now()
WHERE id = sqlc.arg(id)
RETURNING *;

-- name: MarkDomainsRouted :execrows
-- The route loop's part of a domain's status: verified domains its labels
-- now route become routed, routed ones they no longer route go back to
-- verified. A domain the domain loop failed in between stays failed.
UPDATE paas_domains SET
    status = CASE WHEN id = ANY(sqlc.arg(routed)::uuid[]) THEN 'routed' ELSE 'verified' END,
    updated_at = now()
WHERE app_id = sqlc.arg(app_id)
  AND ((status = 'verified' AND id = ANY(sqlc.arg(routed)::uuid[]))
    OR (status = 'routed' AND NOT id = ANY(sqlc.arg(routed)::uuid[])));
