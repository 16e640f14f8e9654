-- name: CreateApp :one
INSERT INTO paas_apps (organization_id, name, service_name, image, replicas, port, command, plan_id, health_check)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: GetApp :one
SELECT * FROM paas_apps WHERE id = $1;

-- name: GetAppByName :one
SELECT * FROM paas_apps WHERE organization_id = $1 AND name = $2;

-- name: ListApps :many
SELECT * FROM paas_apps WHERE organization_id = $1 ORDER BY name;

-- name: ListAppIDs :many
-- Every app, deleted or not: a resync enqueues them all.
SELECT id FROM paas_apps ORDER BY id;

-- name: GetAppDesired :one
-- Everything the app reconciler needs in one read: the app, its plan and
-- whether its organization is suspended.
SELECT sqlc.embed(a), sqlc.embed(p), o.suspended AS org_suspended, o.network_id AS org_network_id
FROM paas_apps a
JOIN paas_plans p ON p.id = a.plan_id
JOIN paas_organizations o ON o.id = a.organization_id
WHERE a.id = $1;

-- name: UpdateAppSpec :one
-- Optimistic concurrency: the write applies only when the caller read the
-- current version; no row back means someone else wrote first.
UPDATE paas_apps
SET image = $3, replicas = $4, port = $5, command = $6, plan_id = $7, health_check = $8, stopped = $9
WHERE id = $1 AND version = $2 AND deleted_at IS NULL
RETURNING *;

-- name: BumpAppRestart :one
UPDATE paas_apps SET restart_count = restart_count + 1
WHERE id = $1 AND deleted_at IS NULL RETURNING *;

-- name: MarkAppDeleted :one
UPDATE paas_apps SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL RETURNING *;

-- name: DeleteAppRow :execrows
-- The last step of a finalizer-style delete: only a row marked deleted goes.
DELETE FROM paas_apps WHERE id = $1 AND deleted_at IS NOT NULL;

-- name: UpdateAppStatus :exec
UPDATE paas_apps
SET observed_generation = $2, phase = $3, conditions = $4, status_message = $5,
    running_replicas = $6, desired_replicas = $7, current_deployment_id = $8, service_id = $9
WHERE id = $1;

-- name: CountOrganizationApps :one
SELECT count(*) FROM paas_apps WHERE organization_id = $1 AND deleted_at IS NULL;

-- name: PruneTombstones :one
-- Forgets the tombstones of apps deleted before a time and raises the watch
-- horizon past them, in one statement; answers how many were pruned.
WITH gone AS (
    DELETE FROM paas_app_tombstones WHERE deleted_at < sqlc.arg(before)::timestamptz RETURNING status_seq
), horizon AS (
    UPDATE paas_watch_horizon SET status_seq = GREATEST(status_seq, (SELECT max(status_seq) FROM gone))
    WHERE EXISTS (SELECT 1 FROM gone)
    RETURNING status_seq
)
SELECT count(*)::bigint AS pruned FROM gone;

-- name: RecordAppStatus :one
-- The app loop's status write: its own fields, and its condition types
-- merged per type into the others' (paas_set_conditions). Phase and status
-- message are derived from the merged list by the caller, in the same
-- transaction (SetAppPhase), which this statement's row lock serializes.
UPDATE paas_apps
SET observed_generation = sqlc.arg(observed_generation), running_replicas = sqlc.arg(running_replicas),
    desired_replicas = sqlc.arg(desired_replicas), current_deployment_id = sqlc.arg(current_deployment_id),
    service_id = sqlc.arg(service_id), updated_replicas = sqlc.arg(updated_replicas),
    conditions = paas_set_conditions(conditions, sqlc.arg(conditions)::jsonb, sqlc.arg(at)::timestamptz, sqlc.arg(condition_order)::text[])
WHERE id = sqlc.arg(id)
RETURNING conditions, phase, status_message, (deleted_at IS NOT NULL)::boolean AS deleting;

-- name: SetAppConditions :one
-- Any other loop's condition write: its types merged per type, see RecordAppStatus.
UPDATE paas_apps
SET conditions = paas_set_conditions(conditions, sqlc.arg(conditions)::jsonb, sqlc.arg(at)::timestamptz, sqlc.arg(condition_order)::text[])
WHERE id = sqlc.arg(id)
RETURNING conditions, phase, status_message, (deleted_at IS NOT NULL)::boolean AS deleting;

-- name: SetAppPhase :exec
UPDATE paas_apps SET phase = sqlc.arg(phase), status_message = sqlc.arg(status_message) WHERE id = sqlc.arg(id);
