-- name: RecordEvent :one
-- Repeats of an event (same object, reason and message) bump its count.
INSERT INTO paas_events (object_kind, object_id, type, reason, message, reporting_controller, first_timestamp, last_timestamp)
VALUES ($1, $2, $3, $4, $5, $6, sqlc.arg(at), sqlc.arg(at))
ON CONFLICT (object_kind, object_id, reason, message)
DO UPDATE SET count = paas_events.count + 1, last_timestamp = EXCLUDED.last_timestamp, type = EXCLUDED.type
RETURNING *;

-- name: ListEvents :many
SELECT * FROM paas_events WHERE object_kind = $1 AND object_id = $2
ORDER BY last_timestamp DESC, id DESC LIMIT $3;
