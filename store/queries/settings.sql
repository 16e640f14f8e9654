-- name: GetSetting :one
SELECT * FROM paas_settings WHERE key = $1;

-- name: ListSettings :many
SELECT * FROM paas_settings ORDER BY key;

-- name: PutSetting :exec
INSERT INTO paas_settings (key, value, value_encrypted, sensitive) VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, value_encrypted = EXCLUDED.value_encrypted,
    sensitive = EXCLUDED.sensitive, updated_at = now();

-- name: InsertSettingIfAbsent :one
-- Returns the stored value, inserting the given one first when the key is new.
WITH ins AS (
    INSERT INTO paas_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value
)
SELECT value FROM ins UNION ALL SELECT value FROM paas_settings WHERE key = $1 LIMIT 1;
