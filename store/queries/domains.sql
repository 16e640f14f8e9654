-- name: CreateDomain :one
INSERT INTO paas_domains (app_id, hostname) VALUES ($1, $2) RETURNING *;

-- name: ListDomains :many
SELECT * FROM paas_domains WHERE app_id = $1 ORDER BY hostname;

-- name: DeleteDomain :execrows
DELETE FROM paas_domains WHERE app_id = $1 AND id = $2;
