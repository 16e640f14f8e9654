-- Queries of the HTTP API (api/v1): password changes and disabling users.
-- Both end credentials: paas_api_users_changed and paas_api_tokens_changed
-- announce it ('auth'), so every replica's credential cache sees it.

-- name: APISetPassword :one
-- A new password ends every login token issued before (their epoch is
-- older) and answers the epoch the caller's new one carries. It applies
-- only over the hash the current password was checked against (no row:
-- the password changed meanwhile), so bcrypt runs outside any lock.
UPDATE paas_users SET password_hash = sqlc.arg(new_hash), session_epoch = session_epoch + 1, updated_at = now()
WHERE id = sqlc.arg(id) AND password_hash = sqlc.arg(old_hash)
RETURNING session_epoch;

-- name: APIRevokeOtherTokens :execrows
-- Every API token of the user but keep (uuid.Nil keeps none).
DELETE FROM paas_api_tokens WHERE user_id = sqlc.arg(user_id) AND id <> sqlc.arg(keep);

-- name: APIFindUser :one
-- By id or by email.
SELECT id, email, name, is_admin, (disabled_at IS NOT NULL)::boolean AS disabled, created_at
FROM paas_users WHERE id = sqlc.arg(id) OR email = sqlc.arg(email)::text
ORDER BY (id = sqlc.arg(id)) DESC LIMIT 1;

-- name: APISetUserDisabled :one
-- Disabling keeps the first time it was disabled and ends every login
-- session (the epoch moves); enabling clears it. API tokens stay, refused
-- while the user is disabled.
UPDATE paas_users
SET disabled_at = CASE WHEN sqlc.arg(disabled)::boolean THEN COALESCE(disabled_at, now()) END,
    session_epoch = session_epoch + CASE WHEN sqlc.arg(disabled)::boolean AND disabled_at IS NULL THEN 1 ELSE 0 END,
    updated_at = now()
WHERE id = sqlc.arg(id)
RETURNING id, email, name, is_admin, (disabled_at IS NOT NULL)::boolean AS disabled, created_at;

-- name: APIListAPITokens :many
-- A page of a user's API tokens, oldest first, after (created_at, id).
SELECT * FROM paas_api_tokens
WHERE user_id = sqlc.arg(user_id)
  AND (created_at, id) > (sqlc.arg(after_created)::timestamptz, sqlc.arg(after_id)::uuid)
ORDER BY created_at, id
LIMIT sqlc.arg(lim);
