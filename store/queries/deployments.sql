-- name: CreateDeployment :one
-- Cuts the next release of an app for one generation. The unique
-- (app_id, generation) key makes a repeat after a crash return nothing
-- instead of a duplicate version.
INSERT INTO paas_deployments (app_id, version, generation, spec, image, image_resolved, status, rollback_of, started_at, deadline_at)
SELECT sqlc.arg(app_id), COALESCE(MAX(d.version), 0) + 1, sqlc.arg(generation), sqlc.arg(spec), sqlc.arg(image),
       sqlc.arg(image_resolved), 'deploying', sqlc.narg(rollback_of), sqlc.arg(started_at), sqlc.arg(deadline_at)
FROM paas_deployments d WHERE d.app_id = sqlc.arg(app_id)
ON CONFLICT (app_id, generation) DO NOTHING
RETURNING *;

-- name: GetDeployment :one
SELECT * FROM paas_deployments WHERE id = $1;

-- name: GetDeploymentByGeneration :one
SELECT * FROM paas_deployments WHERE app_id = $1 AND generation = $2;

-- name: GetDeploymentByVersion :one
SELECT * FROM paas_deployments WHERE app_id = $1 AND version = $2;

-- name: GetLatestDeployment :one
SELECT * FROM paas_deployments WHERE app_id = $1 ORDER BY version DESC LIMIT 1;

-- name: ListDeployments :many
SELECT * FROM paas_deployments WHERE app_id = $1 ORDER BY version DESC LIMIT $2;

-- name: FinishDeployment :one
UPDATE paas_deployments
SET status = $2, message = $3, finished_at = $4, log = log || sqlc.arg(log_line)::text
WHERE id = $1 AND status = 'deploying'
RETURNING *;

-- name: AppendDeploymentLog :exec
UPDATE paas_deployments SET log = log || sqlc.arg(log_line)::text WHERE id = $1;

-- name: SupersedeDeployments :exec
-- Older releases still rolling out stop counting once a newer one starts.
UPDATE paas_deployments
SET status = 'superseded', finished_at = sqlc.arg(finished_at), message = 'superseded by version ' || sqlc.arg(by_version)::int
WHERE app_id = $1 AND status = 'deploying' AND version < sqlc.arg(by_version)::int;

-- name: CountRecentDeployments :one
SELECT count(*) FROM paas_deployments d
JOIN paas_apps a ON a.id = d.app_id
WHERE a.organization_id = $1 AND d.created_at > $2;
