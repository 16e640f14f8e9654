-- name: CreateOrganization :one
INSERT INTO paas_organizations (name, slug) VALUES ($1, $2) RETURNING *;

-- name: GetOrganization :one
SELECT * FROM paas_organizations WHERE id = $1;

-- name: GetOrganizationBySlug :one
SELECT * FROM paas_organizations WHERE slug = $1;

-- name: ListOrganizations :many
SELECT * FROM paas_organizations ORDER BY slug;

-- name: SetOrganizationSuspended :one
-- SetOrganizationSuspended is an admin suspension (suspended is derived from
-- admin_suspended and funds_suspended by a trigger).
UPDATE paas_organizations SET admin_suspended = sqlc.arg(suspended), updated_at = now() WHERE id = sqlc.arg(id) RETURNING *;

-- name: AddMembership :exec
INSERT INTO paas_memberships (organization_id, user_id, role) VALUES ($1, $2, $3)
ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role;

-- name: ListUserOrganizations :many
SELECT o.*, m.role FROM paas_organizations o
JOIN paas_memberships m ON m.organization_id = o.id
WHERE m.user_id = $1 ORDER BY o.slug;

-- name: ListOrganizationMembers :many
SELECT u.id, u.email, u.name, m.role, m.created_at FROM paas_memberships m
JOIN paas_users u ON u.id = m.user_id
WHERE m.organization_id = $1 ORDER BY u.email;

-- name: ListOrganizationIDs :many
SELECT id FROM paas_organizations ORDER BY id;

-- name: SetOrganizationNetwork :exec
-- Status written by the network loop; a change wakes the organization's apps.
UPDATE paas_organizations SET network_id = sqlc.narg(network_id) WHERE id = sqlc.arg(id) AND network_id IS DISTINCT FROM sqlc.narg(network_id);
