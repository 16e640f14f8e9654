-- name: UpsertEnvVar :exec
INSERT INTO paas_env_vars (app_id, key, value_encrypted) VALUES ($1, $2, $3)
ON CONFLICT (app_id, key) DO UPDATE SET value_encrypted = EXCLUDED.value_encrypted, updated_at = now();

-- name: DeleteEnvVar :execrows
DELETE FROM paas_env_vars WHERE app_id = $1 AND key = $2;

-- name: ListEnvVars :many
SELECT * FROM paas_env_vars WHERE app_id = $1 ORDER BY key;
