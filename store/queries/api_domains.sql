-- Queries of the HTTP API (api/v1) for an app's custom domains. The API
-- writes a domain's spec (its hostname, a request to check it) and never
-- its status, which the domain and route loops own.

-- name: APIListDomains :many
-- A page of an app's domains, by hostname.
SELECT * FROM paas_domains
WHERE app_id = sqlc.arg(app_id) AND hostname > sqlc.arg(after_hostname)::text
ORDER BY hostname
LIMIT sqlc.arg(lim);

-- name: APIGetDomain :one
-- One domain of an app, by id or by hostname; the id wins when both match.
SELECT * FROM paas_domains
WHERE app_id = sqlc.arg(app_id)
  AND (id = sqlc.arg(id) OR hostname = sqlc.arg(hostname)::text)
ORDER BY (id = sqlc.arg(id)) DESC
LIMIT 1;

-- name: APIDeleteDomainByHostname :execrows
DELETE FROM paas_domains WHERE app_id = $1 AND hostname = $2;

-- name: APIRoutedHostnames :many
-- The hostnames the route loop routes, of some apps (their status.urls).
SELECT app_id, hostname FROM paas_domains
WHERE app_id = ANY(sqlc.arg(app_ids)::uuid[]) AND status = 'routed'
ORDER BY app_id, hostname;

-- name: APITouchApp :exec
-- Moves an app's version (its ETag) when something it shows but does not
-- hold in its row changes: its domains. Only updated_at is written, so the
-- generation stays.
UPDATE paas_apps SET updated_at = now() WHERE id = $1;
