-- name: UpsertGitCredential :one
-- kind 'token' leaves public_key and known_hosts empty; 'ssh' sets both.
INSERT INTO paas_git_credentials (organization_id, host, username, token_encrypted, kind, public_key, known_hosts)
VALUES ($1, $2, $3, $4, sqlc.arg(kind), sqlc.arg(public_key), sqlc.arg(known_hosts))
ON CONFLICT (organization_id, host) DO UPDATE SET username = EXCLUDED.username,
    token_encrypted = EXCLUDED.token_encrypted, kind = EXCLUDED.kind, public_key = EXCLUDED.public_key,
    known_hosts = EXCLUDED.known_hosts, updated_at = now()
RETURNING organization_id, host, username, kind, public_key, known_hosts, created_at, updated_at;

-- name: ListGitCredentials :many
-- A page of hosts and usernames, by host: tokens and private keys never
-- leave through the API (an SSH key's public half and pinned host keys do).
SELECT host, username, kind, public_key, known_hosts, created_at, updated_at FROM paas_git_credentials
WHERE organization_id = sqlc.arg(organization_id) AND host > sqlc.arg(after_host)::text
ORDER BY host LIMIT sqlc.arg(lim);

-- name: DeleteGitCredential :execrows
DELETE FROM paas_git_credentials WHERE organization_id = $1 AND host = $2;

-- name: GetAppGitCredential :one
-- The credential of the app's organization for host (the build runner's).
SELECT c.organization_id, c.host, c.username, c.token_encrypted, c.kind, c.known_hosts
FROM paas_git_credentials c JOIN paas_apps a ON a.organization_id = c.organization_id
WHERE a.id = sqlc.arg(app_id) AND c.host = sqlc.arg(host);

-- name: LockSealedGitCredentials :many
SELECT organization_id, host, token_encrypted FROM paas_git_credentials
ORDER BY organization_id, host
FOR UPDATE;

-- name: ResealGitCredential :exec
UPDATE paas_git_credentials SET token_encrypted = $3 WHERE organization_id = $1 AND host = $2;
