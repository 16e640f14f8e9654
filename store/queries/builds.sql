-- name: UpsertAppSource :one
INSERT INTO paas_app_sources (app_id, git_url, git_ref, git_path, dockerfile, builder, webhook_secret_encrypted)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (app_id) DO UPDATE SET git_url = EXCLUDED.git_url, git_ref = EXCLUDED.git_ref,
    git_path = EXCLUDED.git_path, dockerfile = EXCLUDED.dockerfile, builder = EXCLUDED.builder,
    webhook_secret_encrypted = COALESCE(EXCLUDED.webhook_secret_encrypted, paas_app_sources.webhook_secret_encrypted),
    updated_at = now()
RETURNING *;

-- name: GetAppSource :one
SELECT * FROM paas_app_sources WHERE app_id = $1;

-- name: EnqueueBuild :one
-- Queues the next build of an app; queued older builds are superseded by
-- the statement that follows in the same transaction (SupersedeQueuedBuilds).
INSERT INTO paas_builds (app_id, number, ref, trigger)
SELECT sqlc.arg(app_id), COALESCE(MAX(b.number), 0) + 1, sqlc.arg(ref), sqlc.arg(trigger)
FROM paas_builds b WHERE b.app_id = sqlc.arg(app_id)
RETURNING *;

-- name: SupersedeQueuedBuilds :exec
UPDATE paas_builds SET status = 'superseded', finished_at = now(), message = 'superseded by build ' || sqlc.arg(by_number)::int
WHERE app_id = $1 AND status = 'queued' AND number < sqlc.arg(by_number)::int;

-- name: ClaimBuild :one
-- Takes the oldest queued build of an app that has none running. Two
-- runners never take the same row (SKIP LOCKED); the partial unique index
-- paas_builds_one_running refuses a second running build of one app.
UPDATE paas_builds b
SET status = 'building', attempts = b.attempts + 1, started_at = now(),
    lease_until = now() + make_interval(secs => sqlc.arg(lease_seconds)::float8), step = 0, steps = 0
WHERE b.id = (
    SELECT q.id FROM paas_builds q
    WHERE q.status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM paas_builds r WHERE r.app_id = q.app_id AND r.status = 'building')
    ORDER BY q.created_at
    FOR UPDATE SKIP LOCKED
    LIMIT 1)
RETURNING b.*;

-- name: RenewBuildLease :one
-- Extends a running build's lease and says whether it was asked to stop.
UPDATE paas_builds SET lease_until = now() + make_interval(secs => sqlc.arg(lease_seconds)::float8)
WHERE id = $1 AND status = 'building'
RETURNING cancel_requested;

-- name: RecoverExpiredBuilds :many
-- Builds whose runner died (lease expired) are queued again, or failed once
-- they used up their attempts.
UPDATE paas_builds
SET status = CASE WHEN attempts < sqlc.arg(max_attempts)::int THEN 'queued' ELSE 'build_failed' END,
    finished_at = CASE WHEN attempts < sqlc.arg(max_attempts)::int THEN NULL ELSE now() END,
    message = CASE WHEN attempts < sqlc.arg(max_attempts)::int THEN 'runner lost; retrying' ELSE 'runner lost; giving up after ' || attempts || ' attempts' END,
    log = log || CASE WHEN attempts < sqlc.arg(max_attempts)::int THEN E'--- runner lost: build requeued\n' ELSE E'--- runner lost: build failed\n' END,
    lease_until = NULL
WHERE status = 'building' AND lease_until < now()
RETURNING *;

-- name: SetBuildProgress :exec
UPDATE paas_builds SET step = $2, steps = $3, commit_sha = COALESCE(sqlc.narg(commit_sha), commit_sha)
WHERE id = $1;

-- name: AppendBuildLog :exec
-- Appends to a build's log, keeping at most max_bytes (its tail);
-- log_dropped counts the bytes cut from its head (every expression reads
-- the row as it was).
UPDATE paas_builds
SET log = CASE WHEN octet_length(log) + octet_length(sqlc.arg(chunk)::text) > sqlc.arg(max_bytes)::int
               THEN right(log || sqlc.arg(chunk)::text, sqlc.arg(max_bytes)::int) ELSE log || sqlc.arg(chunk)::text END,
    log_dropped = log_dropped + CASE WHEN octet_length(log) + octet_length(sqlc.arg(chunk)::text) > sqlc.arg(max_bytes)::int
               THEN octet_length(log) + octet_length(sqlc.arg(chunk)::text) - octet_length(right(log || sqlc.arg(chunk)::text, sqlc.arg(max_bytes)::int))
               ELSE 0 END,
    log_truncated = log_truncated OR octet_length(log) + octet_length(sqlc.arg(chunk)::text) > sqlc.arg(max_bytes)::int
WHERE id = $1;

-- name: FinishBuild :one
UPDATE paas_builds
SET status = $2, message = $3, image = sqlc.narg(image), image_digest = sqlc.narg(image_digest),
    generation = sqlc.narg(generation), finished_at = now(), lease_until = NULL,
    duration_ms = (EXTRACT(EPOCH FROM now() - started_at) * 1000)::bigint
WHERE id = $1 AND status = 'building'
RETURNING *;

-- name: RequestBuildCancel :one
-- A queued build is cancelled at once; a running one is asked to stop.
UPDATE paas_builds
SET cancel_requested = true,
    status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
    finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END
WHERE app_id = $1 AND number = $2
RETURNING *;

-- name: GetBuild :one
SELECT * FROM paas_builds WHERE id = $1;

-- name: GetBuildByNumber :one
SELECT * FROM paas_builds WHERE app_id = $1 AND number = $2;

-- name: ListBuilds :many
SELECT * FROM paas_builds WHERE app_id = $1 ORDER BY number DESC LIMIT $2;

-- name: SetAppBuiltImage :one
-- Writes a built image into the app's spec; the trigger bumps the
-- generation, and the app loop cuts the release for it.
UPDATE paas_apps SET image = $2 WHERE id = $1 AND deleted_at IS NULL
RETURNING generation;

-- name: GetBuildTarget :one
SELECT a.name AS app_name, o.slug AS org_slug FROM paas_apps a JOIN paas_organizations o ON o.id = a.organization_id WHERE a.id = $1;

-- name: GetBuildOfApp :one
SELECT * FROM paas_builds WHERE app_id = $1 AND id = $2;

-- name: DeleteAppSource :execrows
DELETE FROM paas_app_sources WHERE app_id = $1;

-- name: CancelPendingBuilds :many
-- The app no longer has a source: its queued builds are cancelled at once,
-- a running one is asked to stop.
UPDATE paas_builds
SET cancel_requested = true,
    status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
    finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
    message = CASE WHEN status = 'queued' THEN 'cancelled: the app''s source was removed' ELSE message END
WHERE app_id = $1 AND status IN ('queued', 'building')
RETURNING *;

-- name: SetWebhookSecret :execrows
-- A new push-webhook secret for an app that has a source.
UPDATE paas_app_sources SET webhook_secret_encrypted = sqlc.arg(sealed), updated_at = now()
WHERE app_id = sqlc.arg(app_id);
