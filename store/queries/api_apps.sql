-- Queries of the HTTP API (api/v1): apps as the API shows them. The view
-- queries read paas_app_view (schema/00007_app_view.sql): the app row with
-- what its answer needs (plan name, domain hostnames, sealed env, current
-- release) in one round trip.

-- name: APIListApps :many
SELECT * FROM paas_app_view
WHERE organization_id = sqlc.arg(organization_id) AND name > sqlc.arg(after_name)::text
ORDER BY name
LIMIT sqlc.arg(lim);

-- name: APIGetApp :one
-- By id or by name inside one organization; the id wins when both match.
SELECT * FROM paas_app_view
WHERE organization_id = sqlc.arg(organization_id)
  AND (id = sqlc.arg(id) OR name = sqlc.arg(name)::text)
ORDER BY (id = sqlc.arg(id)) DESC
LIMIT 1;

-- name: APIGetAppsByIDs :many
SELECT * FROM paas_app_view
WHERE organization_id = sqlc.arg(organization_id) AND id = ANY(sqlc.arg(ids)::uuid[])
ORDER BY status_seq;

-- name: APIAdminListApps :many
-- Every app of the installation, oldest first, for platform admins.
SELECT * FROM paas_app_view
WHERE (sqlc.narg(organization_id)::uuid IS NULL OR organization_id = sqlc.narg(organization_id)::uuid)
  AND (created_at, id) > (sqlc.arg(after_created)::timestamptz, sqlc.arg(after_id)::uuid)
ORDER BY created_at, id
LIMIT sqlc.arg(lim);

-- name: APIAppSeqs :many
-- The status sequence of every app of an organization (or of one app): a
-- watcher compares it with what it has sent.
SELECT id, status_seq FROM paas_apps
WHERE organization_id = sqlc.arg(organization_id)
  AND (sqlc.narg(app_id)::uuid IS NULL OR id = sqlc.narg(app_id)::uuid);

-- name: APITombstonesSince :many
SELECT * FROM paas_app_tombstones
WHERE organization_id = sqlc.arg(organization_id) AND status_seq > sqlc.arg(after_seq)
  AND (sqlc.narg(app_id)::uuid IS NULL OR app_id = sqlc.narg(app_id)::uuid)
ORDER BY status_seq;

-- name: APIWatchHorizon :one
-- The highest status_seq of a pruned tombstone (see paas_watch_horizon).
SELECT status_seq FROM paas_watch_horizon;

-- name: APIAppOrganization :one
-- The organization of an app, alive or deleted.
SELECT organization_id FROM paas_apps WHERE id = sqlc.arg(id)
UNION ALL
SELECT organization_id FROM paas_app_tombstones WHERE app_id = sqlc.arg(id)
LIMIT 1;

-- name: APILockOrganization :one
-- Serialises app creation inside one organization so the app limit holds
-- under concurrent requests.
SELECT id, suspended FROM paas_organizations WHERE id = $1 FOR UPDATE;

-- name: APIDeleteEnvVars :execrows
DELETE FROM paas_env_vars WHERE app_id = $1;

-- name: APILockDeployBudget :exec
-- Serialises the writes of one organization that take a deployment slot,
-- until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('paas_deploy_budget:' || sqlc.arg(organization_id)::uuid::text, 0));

-- name: APIPruneDeployRequests :exec
DELETE FROM paas_deploy_requests
WHERE organization_id = sqlc.arg(organization_id) AND requested_at <= sqlc.arg(before)::timestamptz;

-- name: APIDeployRequestsSince :one
-- Deployment requests of an organization since a time, and the oldest of
-- them (to say when the hourly limit frees a slot).
SELECT count(*)::bigint AS n, COALESCE(min(requested_at), sqlc.arg(since)::timestamptz)::timestamptz AS oldest
FROM paas_deploy_requests
WHERE organization_id = sqlc.arg(organization_id) AND requested_at > sqlc.arg(since)::timestamptz;

-- name: APIRecordDeployRequest :exec
INSERT INTO paas_deploy_requests (organization_id, requested_at) VALUES (sqlc.arg(organization_id), sqlc.arg(requested_at));

-- name: APIListDeployments :many
SELECT d.*, p.name AS plan_name, coalesce(b.number, 0)::int AS build_number, coalesce(b.ref, '')::text AS build_ref,
    b.commit_sha AS build_commit_sha, b.duration_ms AS build_duration_ms, coalesce(b.trigger, '')::text AS build_trigger
FROM paas_deployments d
LEFT JOIN paas_plans p ON p.id::text = d.spec->>'plan_id'
LEFT JOIN LATERAL (
    -- The build that produced the release's image, when it was built from
    -- source: the first succeeded build whose digest the image pins (a
    -- rollback to a built release finds the same build). build_number 0:
    -- none.
    SELECT b.number, b.ref, b.commit_sha, b.duration_ms, b.trigger FROM paas_builds b
    WHERE b.app_id = d.app_id AND b.status = 'succeeded' AND b.image_digest IS NOT NULL
      AND right(d.image, length(b.image_digest) + 1) = '@' || b.image_digest
    ORDER BY b.number LIMIT 1
) b ON true
WHERE d.app_id = sqlc.arg(app_id) AND d.version < sqlc.arg(before_version)
ORDER BY d.version DESC
LIMIT sqlc.arg(lim);

-- name: APIGetDeployment :one
-- By id or by version inside one app.
SELECT d.*, p.name AS plan_name, coalesce(b.number, 0)::int AS build_number, coalesce(b.ref, '')::text AS build_ref,
    b.commit_sha AS build_commit_sha, b.duration_ms AS build_duration_ms, coalesce(b.trigger, '')::text AS build_trigger
FROM paas_deployments d
LEFT JOIN paas_plans p ON p.id::text = d.spec->>'plan_id'
LEFT JOIN LATERAL (
    -- The build that produced the release's image, when it was built from
    -- source: the first succeeded build whose digest the image pins (a
    -- rollback to a built release finds the same build). build_number 0:
    -- none.
    SELECT b.number, b.ref, b.commit_sha, b.duration_ms, b.trigger FROM paas_builds b
    WHERE b.app_id = d.app_id AND b.status = 'succeeded' AND b.image_digest IS NOT NULL
      AND right(d.image, length(b.image_digest) + 1) = '@' || b.image_digest
    ORDER BY b.number LIMIT 1
) b ON true
WHERE d.app_id = sqlc.arg(app_id) AND (d.id = sqlc.arg(id) OR d.version = sqlc.arg(version))
LIMIT 1;

-- name: APIListAppEvents :many
-- Newest first, for listings.
SELECT * FROM paas_events
WHERE object_kind = 'app' AND object_id = sqlc.arg(object_id)
  AND (sqlc.arg(before_id)::bigint = 0 OR (last_timestamp, id) < (sqlc.arg(before_ts)::timestamptz, sqlc.arg(before_id)::bigint))
ORDER BY last_timestamp DESC, id DESC
LIMIT sqlc.arg(lim);

-- name: APIAppEventsSince :many
-- Oldest first, for streams: everything recorded or repeated after a point.
SELECT * FROM paas_events
WHERE object_kind = 'app' AND object_id = sqlc.arg(object_id)
  AND (last_timestamp, id) > (sqlc.arg(after_ts)::timestamptz, sqlc.arg(after_id)::bigint)
ORDER BY last_timestamp, id
LIMIT 500;

-- name: APILockApp :one
-- Locks an app (by id or name inside one organization) for the rest of the
-- transaction, so a read-validate-write of its spec sees no other writer.
SELECT * FROM paas_apps
WHERE organization_id = sqlc.arg(organization_id)
  AND (id = sqlc.arg(id) OR name = sqlc.arg(name)::text)
ORDER BY (id = sqlc.arg(id)) DESC
LIMIT 1
FOR UPDATE;

-- name: APICreateApp :one
INSERT INTO paas_apps (organization_id, name, service_name, image, replicas, port, command, plan_id, health_check, stopped)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;

-- name: APIFindApp :one
-- An app by id or name inside one organization, without the view's extras.
SELECT * FROM paas_apps
WHERE organization_id = sqlc.arg(organization_id)
  AND (id = sqlc.arg(id) OR name = sqlc.arg(name)::text)
ORDER BY (id = sqlc.arg(id)) DESC
LIMIT 1;

-- name: APIAppsFingerprint :one
-- A cheap fingerprint of everything GET /api/paas/apps shows of an
-- organization: app rows (version moves on every update, env changes
-- included), their current releases' status, their domains and each one's
-- status with the default_domain setting (status.urls), and the plans'
-- names (apps show their plan by name). Equal
-- fingerprints mean an equal answer, so a rendered page can be reused.
SELECT count(*)::bigint AS apps,
       COALESCE(sum(a.version), 0)::bigint AS versions,
       COALESCE(bit_xor(uuid_hash_extended(a.id, a.version)), 0)::bigint AS rows_hash,
       COALESCE(bit_xor(uuid_hash_extended(cd.id, hashtext(cd.status))), 0)::bigint AS releases_hash,
       (SELECT COALESCE(bit_xor(uuid_hash_extended(d.id, hashtext(d.hostname || ' ' || d.status))), 0)
                 # (SELECT COALESCE(hashtextextended(max(s.value), 0), 0) FROM paas_settings s WHERE s.key = 'default_domain')
          FROM paas_domains d JOIN paas_apps da ON da.id = d.app_id
         WHERE da.organization_id = sqlc.arg(organization_id))::bigint AS domains_hash,
       (SELECT COALESCE(bit_xor(uuid_hash_extended(p.id, hashtext(p.name))), 0) FROM paas_plans p)::bigint AS plans_hash
FROM paas_apps a
LEFT JOIN paas_deployments cd ON cd.id = a.current_deployment_id
WHERE a.organization_id = sqlc.arg(organization_id);
