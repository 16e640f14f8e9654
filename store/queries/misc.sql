-- name: InsertAudit :exec
INSERT INTO paas_audit_log (actor_user_id, action, target_kind, target_id, organization_id, details)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: ListAudit :many
SELECT * FROM paas_audit_log ORDER BY id DESC LIMIT $1;

-- name: CreateNotification :one
INSERT INTO paas_notifications (organization_id, user_id, kind, title, body)
VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: UpsertWorkerNode :one
INSERT INTO paas_worker_nodes (swarm_node_id, hostname, role, availability, state, address, cpu_millis, memory_bytes, labels, last_seen_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (swarm_node_id) DO UPDATE SET hostname = EXCLUDED.hostname, role = EXCLUDED.role,
    availability = EXCLUDED.availability, state = EXCLUDED.state, address = EXCLUDED.address,
    cpu_millis = EXCLUDED.cpu_millis, memory_bytes = EXCLUDED.memory_bytes, labels = EXCLUDED.labels,
    last_seen_at = EXCLUDED.last_seen_at, updated_at = now()
RETURNING *;

-- name: ListWorkerNodes :many
SELECT * FROM paas_worker_nodes ORDER BY hostname;

-- name: PruneLoginAttempts :execrows
-- The leader's sweep of login attempts no longer counted anywhere.
DELETE FROM paas_login_attempts WHERE attempted_at <= sqlc.arg(before)::timestamptz;

-- name: PruneDeployRequests :execrows
-- The leader's sweep of deployment requests no longer counted anywhere.
DELETE FROM paas_deploy_requests WHERE requested_at <= sqlc.arg(before)::timestamptz;
