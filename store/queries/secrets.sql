-- Queries of paasd rotate-key and of the installation's fingerprint key.

-- name: MarkResealing :exec
-- Within the current transaction, env value updates are re-seals that
-- change no plaintext: they bump no generation (see migration 00012).
SELECT set_config('paas.resealing', 'on', true);

-- name: LockEnvVarsAfter :many
-- The next batch of env values by (app_id, key), locked until the end of
-- the transaction.
SELECT app_id, key, value_encrypted FROM paas_env_vars
WHERE (app_id, key) > (sqlc.arg(after_app)::uuid, sqlc.arg(after_key)::text)
ORDER BY app_id, key
LIMIT sqlc.arg(lim)
FOR UPDATE;

-- name: ResealEnvVar :exec
UPDATE paas_env_vars SET value_encrypted = $3 WHERE app_id = $1 AND key = $2;

-- name: LockDeploymentsAfter :many
-- The next batch of releases by id, locked until the end of the transaction.
SELECT id, app_id, version, spec FROM paas_deployments
WHERE id > sqlc.arg(after_id)::uuid
ORDER BY id
LIMIT sqlc.arg(lim)
FOR UPDATE;

-- name: ResealDeployment :exec
UPDATE paas_deployments SET spec = $2 WHERE id = $1;

-- name: LockSealedSettings :many
SELECT key, value_encrypted FROM paas_settings
WHERE sensitive AND value_encrypted IS NOT NULL
ORDER BY key
FOR UPDATE;

-- name: ResealSetting :exec
UPDATE paas_settings SET value_encrypted = $2 WHERE key = $1 AND sensitive;

-- name: InsertSealedSettingIfAbsent :one
-- Returns the stored sealed value, inserting the given one first when the
-- key is new.
WITH ins AS (
    INSERT INTO paas_settings (key, value_encrypted, sensitive) VALUES ($1, $2, true)
    ON CONFLICT (key) DO NOTHING RETURNING value_encrypted
)
SELECT value_encrypted FROM ins UNION ALL SELECT value_encrypted FROM paas_settings WHERE key = $1 LIMIT 1;

-- name: SampleEnvVar :many
-- One env value, if any: FingerprintBox learns from it which key sealed the
-- installation's values.
SELECT app_id, key, value_encrypted FROM paas_env_vars ORDER BY updated_at LIMIT 1;

-- name: LockSealedWebhookSecrets :many
SELECT app_id, webhook_secret_encrypted FROM paas_app_sources
WHERE webhook_secret_encrypted IS NOT NULL
ORDER BY app_id
FOR UPDATE;

-- name: ResealWebhookSecret :exec
UPDATE paas_app_sources SET webhook_secret_encrypted = $2 WHERE app_id = $1;
