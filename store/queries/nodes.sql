-- name: GetWorkerNode :one
SELECT * FROM paas_worker_nodes WHERE swarm_node_id = $1;

-- name: GetWorkerNodeByIdent :one
-- An admin names a node by its Swarm id, its row id or its hostname.
SELECT * FROM paas_worker_nodes
WHERE swarm_node_id = sqlc.arg(ident) OR hostname = sqlc.arg(ident) OR id::text = sqlc.arg(ident)
ORDER BY (swarm_node_id = sqlc.arg(ident)) DESC, (id::text = sqlc.arg(ident)) DESC, created_at
LIMIT 1;

-- name: ListWorkerNodeIDs :many
SELECT swarm_node_id FROM paas_worker_nodes ORDER BY swarm_node_id;

-- name: RegisterWorkerNode :one
-- A node seen for the first time; a concurrent registration keeps the first.
INSERT INTO paas_worker_nodes (swarm_node_id, hostname, role, availability, state, address, approved, desired_availability, last_seen_at)
VALUES (sqlc.arg(swarm_node_id), sqlc.arg(hostname), sqlc.arg(role), sqlc.arg(availability), sqlc.arg(state), sqlc.arg(address),
        sqlc.arg(approved), sqlc.arg(desired_availability), sqlc.arg(at))
ON CONFLICT (swarm_node_id) DO NOTHING
RETURNING *;

-- name: ObserveWorkerNode :one
-- The node loop's observation of Swarm.
UPDATE paas_worker_nodes
SET hostname = sqlc.arg(hostname), role = sqlc.arg(role), availability = sqlc.arg(availability), state = sqlc.arg(state),
    address = sqlc.arg(address), engine_version = sqlc.arg(engine_version), cpu_millis = sqlc.arg(cpu_millis),
    memory_bytes = sqlc.arg(memory_bytes), labels = sqlc.arg(labels), manager_reachability = sqlc.arg(manager_reachability),
    is_leader = sqlc.arg(is_leader), message = sqlc.arg(message), health_checked_at = sqlc.arg(at),
    last_seen_at = CASE WHEN sqlc.arg(state)::text = 'ready' THEN sqlc.arg(at)::timestamptz ELSE last_seen_at END,
    updated_at = sqlc.arg(at)
WHERE swarm_node_id = sqlc.arg(swarm_node_id)
RETURNING *;

-- name: RecordWorkerNodeResources :exec
UPDATE paas_worker_nodes
SET cpu_reserved_millis = sqlc.arg(cpu_reserved_millis), memory_reserved_bytes = sqlc.arg(memory_reserved_bytes),
    tasks_running = sqlc.arg(tasks_running), resources_checked_at = sqlc.arg(at)
WHERE swarm_node_id = sqlc.arg(swarm_node_id);

-- name: DeleteWorkerNode :execrows
DELETE FROM paas_worker_nodes WHERE swarm_node_id = $1;

-- name: SetWorkerNodeDesired :one
-- An admin's decision; the trigger wakes the node loop.
UPDATE paas_worker_nodes
SET approved = sqlc.arg(approved), desired_availability = sqlc.arg(desired_availability), updated_at = now()
WHERE id = sqlc.arg(id) AND remove_requested_at IS NULL
RETURNING *;

-- name: RequestWorkerNodeRemoval :one
UPDATE paas_worker_nodes
SET remove_requested_at = COALESCE(remove_requested_at, now()), desired_availability = 'drain', updated_at = now()
WHERE id = sqlc.arg(id)
RETURNING *;

-- name: ListWorkerNodesPage :many
SELECT * FROM paas_worker_nodes
WHERE sqlc.arg(after_hostname)::text = '' OR (hostname, swarm_node_id) > (sqlc.arg(after_hostname)::text, sqlc.arg(after_id)::text)
ORDER BY hostname, swarm_node_id
LIMIT sqlc.arg(lim);

-- name: GetNodeAlert :one
SELECT * FROM paas_node_alerts WHERE swarm_node_id = $1 AND kind = $2;

-- name: ListNodeAlerts :many
SELECT * FROM paas_node_alerts WHERE swarm_node_id = $1 ORDER BY kind;

-- name: ListNodeAlertsOf :many
-- The alerts of several nodes (a page of them) in one query.
SELECT * FROM paas_node_alerts WHERE swarm_node_id = ANY(sqlc.arg(ids)::text[]) ORDER BY swarm_node_id, kind;

-- name: PutNodeAlert :exec
INSERT INTO paas_node_alerts (swarm_node_id, kind, firing, notified, since, last_sent_at, updated_at)
VALUES (sqlc.arg(swarm_node_id), sqlc.arg(kind), sqlc.arg(firing), sqlc.arg(notified), sqlc.arg(since), sqlc.arg(last_sent_at), sqlc.arg(at))
ON CONFLICT (swarm_node_id, kind) DO UPDATE SET firing = EXCLUDED.firing, notified = EXCLUDED.notified,
    since = EXCLUDED.since, last_sent_at = EXCLUDED.last_sent_at, updated_at = EXCLUDED.updated_at;

-- name: LockNodeAlerts :exec
-- Serializes alert decisions for one node across replicas and restarts.
SELECT pg_advisory_xact_lock(hashtext('paas_node_alerts/' || sqlc.arg(swarm_node_id)::text));


-- name: CreateAlertDelivery :one
-- Queues a node alert webhook (in the alert decision's transaction).
INSERT INTO paas_alert_deliveries (payload, created_at, next_attempt_at)
VALUES (sqlc.arg(payload), sqlc.arg(at), sqlc.arg(at))
RETURNING id;

-- name: ClaimAlertDeliveries :many
-- Due deliveries, locked for the transaction; rows another replica or
-- worker holds are skipped.
SELECT * FROM paas_alert_deliveries
WHERE delivered_at IS NULL AND next_attempt_at <= sqlc.arg(now)::timestamptz AND attempts < sqlc.arg(max_attempts)::int
ORDER BY next_attempt_at, created_at
LIMIT sqlc.arg(batch)::int
FOR UPDATE SKIP LOCKED;

-- name: MarkAlertDelivered :exec
UPDATE paas_alert_deliveries SET delivered_at = sqlc.arg(at), attempts = attempts + 1
WHERE id = sqlc.arg(id);

-- name: MarkAlertDeliveryFailed :exec
UPDATE paas_alert_deliveries SET attempts = sqlc.arg(attempts), last_error = sqlc.arg(last_error),
    next_attempt_at = sqlc.arg(next_attempt_at)
WHERE id = sqlc.arg(id);

-- name: NextAlertDelivery :one
-- When the earliest pending delivery is due (no row when none is pending).
SELECT next_attempt_at FROM paas_alert_deliveries
WHERE delivered_at IS NULL AND attempts < sqlc.arg(max_attempts)::int
ORDER BY next_attempt_at LIMIT 1;

-- name: ListAlertDeliveries :many
SELECT * FROM paas_alert_deliveries ORDER BY created_at, id;
