-- name: CreateUser :one
INSERT INTO paas_users (email, name, password_hash, is_admin) VALUES ($1, $2, $3, $4) RETURNING *;

-- name: GetUser :one
SELECT * FROM paas_users WHERE id = $1;

-- name: GetUserByEmail :one
SELECT * FROM paas_users WHERE email = $1;

-- name: CreateAPIToken :one
INSERT INTO paas_api_tokens (user_id, name, token_hash, prefix, expires_at)
VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: GetAPITokenByHash :one
SELECT * FROM paas_api_tokens WHERE token_hash = $1;

-- name: ListAPITokens :many
SELECT * FROM paas_api_tokens WHERE user_id = $1 ORDER BY created_at;

-- name: DeleteAPIToken :execrows
DELETE FROM paas_api_tokens WHERE id = $1 AND user_id = $2;

-- name: TouchAPIToken :exec
UPDATE paas_api_tokens SET last_used_at = now() WHERE id = $1;
