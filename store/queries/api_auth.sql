-- Queries of the HTTP API (api/v1): authentication and organization scoping.
-- Each authenticated request costs one of these round trips. Each reads
-- whether the user is disabled and its session epoch, so neither change
-- can be missed by a credential already in use.

-- name: APIAuthUser :one
SELECT id, email, name, is_admin, (disabled_at IS NOT NULL)::boolean AS disabled, session_epoch
FROM paas_users WHERE id = $1;

-- name: APIAuthToken :one
-- A personal API token is looked up by the SHA-256 of its text.
SELECT t.id AS token_id, t.expires_at, t.last_used_at,
       u.id, u.email, u.name, u.is_admin, (u.disabled_at IS NOT NULL)::boolean AS disabled, u.session_epoch
FROM paas_api_tokens t
JOIN paas_users u ON u.id = t.user_id
WHERE t.token_hash = $1;

-- name: APIAuthUserOrg :many
-- The user and the organizations it belongs to that match the selector
-- (slug or id; every organization when the selector is empty). A user with
-- no matching membership still answers one row, with NULL organization.
SELECT u.id, u.email, u.name, u.is_admin, (u.disabled_at IS NOT NULL)::boolean AS disabled, u.session_epoch,
       COALESCE(mo.organization_id, '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS organization_id,
       COALESCE(mo.slug, '')::text AS slug, COALESCE(mo.org_name, '')::text AS org_name,
       COALESCE(mo.suspended, false)::boolean AS suspended, COALESCE(mo.role, '')::text AS role
FROM paas_users u
LEFT JOIN LATERAL (
    SELECT m.organization_id, o.slug, o.name AS org_name, o.suspended, m.role
    FROM paas_memberships m JOIN paas_organizations o ON o.id = m.organization_id
    WHERE m.user_id = u.id
      AND (sqlc.arg(selector)::text = '' OR o.slug = sqlc.arg(selector)::text OR o.id::text = sqlc.arg(selector)::text)
    ORDER BY o.slug LIMIT 20
) mo ON true
WHERE u.id = sqlc.arg(user_id);

-- name: APIAuthTokenOrg :many
-- As APIAuthUserOrg, for a personal API token.
SELECT t.id AS token_id, t.expires_at, t.last_used_at,
       u.id, u.email, u.name, u.is_admin, (u.disabled_at IS NOT NULL)::boolean AS disabled, u.session_epoch,
       COALESCE(mo.organization_id, '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS organization_id,
       COALESCE(mo.slug, '')::text AS slug, COALESCE(mo.org_name, '')::text AS org_name,
       COALESCE(mo.suspended, false)::boolean AS suspended, COALESCE(mo.role, '')::text AS role
FROM paas_api_tokens t
JOIN paas_users u ON u.id = t.user_id
LEFT JOIN LATERAL (
    SELECT m.organization_id, o.slug, o.name AS org_name, o.suspended, m.role
    FROM paas_memberships m JOIN paas_organizations o ON o.id = m.organization_id
    WHERE m.user_id = u.id
      AND (sqlc.arg(selector)::text = '' OR o.slug = sqlc.arg(selector)::text OR o.id::text = sqlc.arg(selector)::text)
    ORDER BY o.slug LIMIT 20
) mo ON true
WHERE t.token_hash = sqlc.arg(token_hash);

-- name: APITouchToken :exec
-- last_used_at is refreshed at most once a minute, so token use costs no write per request.
-- The time is the API's clock, the one it compares last_used_at with.
UPDATE paas_api_tokens SET last_used_at = sqlc.arg(used_at)::timestamptz
WHERE id = sqlc.arg(id) AND (last_used_at IS NULL OR last_used_at < sqlc.arg(used_at)::timestamptz - interval '1 minute');

-- name: APIAuthUserOrgApps :many
-- As APIAuthUserOrg, plus the fingerprint of the organization's apps
-- (see APIAppsFingerprint), so GET /api/paas/apps can authenticate,
-- authorize and check its cached page in one round trip.
SELECT u.id, u.email, u.name, u.is_admin, (u.disabled_at IS NOT NULL)::boolean AS disabled, u.session_epoch,
       COALESCE(mo.organization_id, '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS organization_id,
       COALESCE(mo.slug, '')::text AS slug, COALESCE(mo.org_name, '')::text AS org_name,
       COALESCE(mo.suspended, false)::boolean AS suspended, COALESCE(mo.role, '')::text AS role,
       COALESCE(fp.apps, 0)::bigint AS fp_apps, COALESCE(fp.versions, 0)::bigint AS fp_versions,
       COALESCE(fp.rows_hash, 0)::bigint AS fp_rows_hash, COALESCE(fp.releases_hash, 0)::bigint AS fp_releases_hash,
       COALESCE(fp.domains_hash, 0)::bigint AS fp_domains_hash,
       COALESCE(fp.plans_hash, 0)::bigint AS fp_plans_hash
FROM paas_users u
LEFT JOIN LATERAL (
    SELECT m.organization_id, o.slug, o.name AS org_name, o.suspended, m.role
    FROM paas_memberships m JOIN paas_organizations o ON o.id = m.organization_id
    WHERE m.user_id = u.id
      AND (sqlc.arg(selector)::text = '' OR o.slug = sqlc.arg(selector)::text OR o.id::text = sqlc.arg(selector)::text)
    ORDER BY o.slug LIMIT 20
) mo ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS apps, COALESCE(sum(a.version), 0) AS versions,
           COALESCE(bit_xor(uuid_hash_extended(a.id, a.version)), 0) AS rows_hash,
           COALESCE(bit_xor(uuid_hash_extended(cd.id, hashtext(cd.status))), 0) AS releases_hash,
           (SELECT COALESCE(bit_xor(uuid_hash_extended(d.id, hashtext(d.hostname || ' ' || d.status))), 0)
                 # (SELECT COALESCE(hashtextextended(max(s.value), 0), 0) FROM paas_settings s WHERE s.key = 'default_domain')
              FROM paas_domains d JOIN paas_apps da ON da.id = d.app_id
             WHERE da.organization_id = mo.organization_id) AS domains_hash,
           (SELECT COALESCE(bit_xor(uuid_hash_extended(p.id, hashtext(p.name))), 0) FROM paas_plans p) AS plans_hash
    FROM paas_apps a
    LEFT JOIN paas_deployments cd ON cd.id = a.current_deployment_id
    WHERE a.organization_id = mo.organization_id
) fp ON mo.organization_id IS NOT NULL
WHERE u.id = sqlc.arg(user_id);

-- name: APIAuthTokenOrgApps :many
-- As APIAuthUserOrgApps, for a personal API token.
SELECT t.id AS token_id, t.expires_at, t.last_used_at,
       u.id, u.email, u.name, u.is_admin, (u.disabled_at IS NOT NULL)::boolean AS disabled, u.session_epoch,
       COALESCE(mo.organization_id, '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS organization_id,
       COALESCE(mo.slug, '')::text AS slug, COALESCE(mo.org_name, '')::text AS org_name,
       COALESCE(mo.suspended, false)::boolean AS suspended, COALESCE(mo.role, '')::text AS role,
       COALESCE(fp.apps, 0)::bigint AS fp_apps, COALESCE(fp.versions, 0)::bigint AS fp_versions,
       COALESCE(fp.rows_hash, 0)::bigint AS fp_rows_hash, COALESCE(fp.releases_hash, 0)::bigint AS fp_releases_hash,
       COALESCE(fp.domains_hash, 0)::bigint AS fp_domains_hash,
       COALESCE(fp.plans_hash, 0)::bigint AS fp_plans_hash
FROM paas_api_tokens t
JOIN paas_users u ON u.id = t.user_id
LEFT JOIN LATERAL (
    SELECT m.organization_id, o.slug, o.name AS org_name, o.suspended, m.role
    FROM paas_memberships m JOIN paas_organizations o ON o.id = m.organization_id
    WHERE m.user_id = u.id
      AND (sqlc.arg(selector)::text = '' OR o.slug = sqlc.arg(selector)::text OR o.id::text = sqlc.arg(selector)::text)
    ORDER BY o.slug LIMIT 20
) mo ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS apps, COALESCE(sum(a.version), 0) AS versions,
           COALESCE(bit_xor(uuid_hash_extended(a.id, a.version)), 0) AS rows_hash,
           COALESCE(bit_xor(uuid_hash_extended(cd.id, hashtext(cd.status))), 0) AS releases_hash,
           (SELECT COALESCE(bit_xor(uuid_hash_extended(d.id, hashtext(d.hostname || ' ' || d.status))), 0)
                 # (SELECT COALESCE(hashtextextended(max(s.value), 0), 0) FROM paas_settings s WHERE s.key = 'default_domain')
              FROM paas_domains d JOIN paas_apps da ON da.id = d.app_id
             WHERE da.organization_id = mo.organization_id) AS domains_hash,
           (SELECT COALESCE(bit_xor(uuid_hash_extended(p.id, hashtext(p.name))), 0) FROM paas_plans p) AS plans_hash
    FROM paas_apps a
    LEFT JOIN paas_deployments cd ON cd.id = a.current_deployment_id
    WHERE a.organization_id = mo.organization_id
) fp ON mo.organization_id IS NOT NULL
WHERE t.token_hash = sqlc.arg(token_hash);
