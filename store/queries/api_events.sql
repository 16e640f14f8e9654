-- Queries of the HTTP API's event streams (api/v1/events.go).

-- name: APIEventHeads :many
-- The newest event position (last_timestamp, id) of each of the given
-- apps, in one round trip for every event stream of a process: a stream
-- reads its app's events only when this head moved.
SELECT DISTINCT ON (object_id) object_id, last_timestamp, id
FROM paas_events
WHERE object_kind = 'app' AND object_id = ANY(sqlc.arg(app_ids)::uuid[])
ORDER BY object_id, last_timestamp DESC, id DESC;
