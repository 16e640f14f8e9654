-- name: UpsertGitCredential :one
INSERT INTO paas_git_credentials (organization_id, host, username, token_encrypted)
VALUES ($1, $2, $3, $4)
ON CONFLICT (organization_id, host) DO UPDATE SET username = EXCLUDED.username,
    token_encrypted = EXCLUDED.token_encrypted, updated_at = now()
RETURNING organization_id, host, username, created_at, updated_at;

-- name: ListGitCredentials :many
-- A page of hosts and usernames, by host: tokens never leave through the API.
SELECT host, username, created_at, updated_at FROM paas_git_credentials
WHERE organization_id = sqlc.arg(organization_id) AND host > sqlc.arg(after_host)::text
ORDER BY host LIMIT sqlc.arg(lim);

-- name: DeleteGitCredential :execrows
DELETE FROM paas_git_credentials WHERE organization_id = $1 AND host = $2;

-- name: GetAppGitCredential :one
-- The credential of the app's organization for host (the build runner's).
SELECT c.organization_id, c.host, c.username, c.token_encrypted
FROM paas_git_credentials c JOIN paas_apps a ON a.organization_id = c.organization_id
WHERE a.id = sqlc.arg(app_id) AND c.host = sqlc.arg(host);

-- name: LockSealedGitCredentials :many
SELECT organization_id, host, token_encrypted FROM paas_git_credentials
ORDER BY organization_id, host
FOR UPDATE;

-- name: ResealGitCredential :exec
UPDATE paas_git_credentials SET token_encrypted = $3 WHERE organization_id = $1 AND host = $2;
