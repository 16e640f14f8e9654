-- Queries of the HTTP API (api/v1): plans, organizations, users, audit and
-- the admin overview.

-- name: APIListPlans :many
-- A page of plans, cheapest first, then by name, after (price, name).
SELECT * FROM paas_plans
WHERE (NOT sqlc.arg(active_only)::boolean OR active)
  AND (price_hourly_micros, name) > (sqlc.arg(after_price)::bigint, sqlc.arg(after_name)::text)
ORDER BY price_hourly_micros, name
LIMIT sqlc.arg(lim);

-- name: APIGetPlan :one
-- By id or by name.
SELECT * FROM paas_plans WHERE id = sqlc.arg(id) OR name = sqlc.arg(name)::text
ORDER BY (id = sqlc.arg(id)) DESC LIMIT 1;

-- name: APIDefaultPlan :one
-- The plan an app gets when its spec names none: the cheapest active one.
SELECT * FROM paas_plans WHERE active ORDER BY price_hourly_micros, name LIMIT 1;

-- name: APICreatePlan :one
INSERT INTO paas_plans (name, display_name, cpu_millis, memory_mb, max_replicas, price_hourly_micros, active)
VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *;

-- name: APIUpdatePlan :one
UPDATE paas_plans
SET display_name = $2, cpu_millis = $3, memory_mb = $4, max_replicas = $5,
    price_hourly_micros = $6, active = $7, updated_at = now()
WHERE id = $1 RETURNING *;

-- name: APICountPlanApps :one
SELECT count(*)::bigint FROM paas_apps WHERE plan_id = $1;

-- name: APIDeletePlanIfUnused :execrows
-- Refuses (no row) while any app, even one being deleted, runs on the plan.
DELETE FROM paas_plans p WHERE p.id = $1
  AND NOT EXISTS (SELECT 1 FROM paas_apps a WHERE a.plan_id = p.id);

-- name: APIListOrganizations :many
SELECT o.*,
       (SELECT count(*) FROM paas_apps a WHERE a.organization_id = o.id AND a.deleted_at IS NULL)::bigint AS app_count,
       (SELECT count(*) FROM paas_memberships m WHERE m.organization_id = o.id)::bigint AS member_count,
       COALESCE((SELECT w.balance_micros FROM paas_wallets w WHERE w.organization_id = o.id), 0)::bigint AS balance_micros
FROM paas_organizations o
WHERE o.slug > sqlc.arg(after_slug)::text
ORDER BY o.slug
LIMIT sqlc.arg(lim);

-- name: APIGetOrganization :one
-- By id or by slug.
SELECT o.*,
       (SELECT count(*) FROM paas_apps a WHERE a.organization_id = o.id AND a.deleted_at IS NULL)::bigint AS app_count,
       (SELECT count(*) FROM paas_memberships m WHERE m.organization_id = o.id)::bigint AS member_count,
       COALESCE((SELECT w.balance_micros FROM paas_wallets w WHERE w.organization_id = o.id), 0)::bigint AS balance_micros
FROM paas_organizations o
WHERE o.id = sqlc.arg(id) OR o.slug = sqlc.arg(slug)::text
ORDER BY (o.id = sqlc.arg(id)) DESC LIMIT 1;

-- name: APIGetMembership :one
SELECT m.*, u.email, u.name FROM paas_memberships m JOIN paas_users u ON u.id = m.user_id
WHERE m.organization_id = $1 AND m.user_id = $2;

-- name: APIRemoveMembership :execrows
DELETE FROM paas_memberships WHERE organization_id = $1 AND user_id = $2;

-- name: APICountOwners :one
SELECT count(*)::bigint FROM paas_memberships WHERE organization_id = $1 AND role = 'owner';

-- name: APIListUsers :many
SELECT id, email, name, is_admin, (disabled_at IS NOT NULL)::boolean AS disabled, created_at, updated_at FROM paas_users
WHERE email > sqlc.arg(after_email)::text
ORDER BY email
LIMIT sqlc.arg(lim);

-- name: APIListAudit :many
SELECT l.*, u.email AS actor_email FROM paas_audit_log l
LEFT JOIN paas_users u ON u.id = l.actor_user_id
WHERE (sqlc.arg(before_id)::bigint = 0 OR l.id < sqlc.arg(before_id)::bigint)
  AND (sqlc.narg(organization_id)::uuid IS NULL OR l.organization_id = sqlc.narg(organization_id)::uuid)
  AND (sqlc.narg(actor_user_id)::uuid IS NULL OR l.actor_user_id = sqlc.narg(actor_user_id)::uuid)
  AND (sqlc.arg(action)::text = '' OR l.action = sqlc.arg(action)::text)
ORDER BY l.id DESC
LIMIT sqlc.arg(lim);

-- name: APIOverview :one
SELECT
    (SELECT count(*) FROM paas_organizations)::bigint AS organizations,
    (SELECT count(*) FROM paas_organizations WHERE suspended)::bigint AS suspended_organizations,
    (SELECT count(*) FROM paas_users)::bigint AS users,
    (SELECT count(*) FROM paas_apps)::bigint AS apps,
    (SELECT COALESCE(sum(running_replicas), 0) FROM paas_apps)::bigint AS running_replicas,
    (SELECT COALESCE(sum(CASE WHEN a.stopped THEN 0 ELSE a.replicas END), 0)
       FROM paas_apps a WHERE a.deleted_at IS NULL)::bigint AS desired_replicas,
    (SELECT COALESCE(sum(CASE WHEN a.stopped THEN 0 ELSE a.replicas * p.cpu_millis END), 0)
       FROM paas_apps a JOIN paas_plans p ON p.id = a.plan_id WHERE a.deleted_at IS NULL)::bigint AS allocated_cpu_millis,
    (SELECT COALESCE(sum(CASE WHEN a.stopped THEN 0 ELSE a.replicas::bigint * p.memory_mb END), 0)
       FROM paas_apps a JOIN paas_plans p ON p.id = a.plan_id WHERE a.deleted_at IS NULL)::bigint AS allocated_memory_mb,
    (SELECT count(*) FROM paas_worker_nodes)::bigint AS nodes,
    (SELECT count(*) FROM paas_worker_nodes WHERE state = 'ready')::bigint AS nodes_ready,
    (SELECT COALESCE(sum(cpu_millis), 0) FROM paas_worker_nodes WHERE state = 'ready' AND availability = 'active')::bigint AS capacity_cpu_millis,
    (SELECT COALESCE(sum(memory_bytes), 0) FROM paas_worker_nodes WHERE state = 'ready' AND availability = 'active')::bigint AS capacity_memory_bytes,
    (SELECT count(*) FROM paas_deployments d WHERE d.created_at > sqlc.arg(day_ago)::timestamptz)::bigint AS deployments_24h,
    (SELECT COALESCE(-sum(amount_micros), 0) FROM paas_ledger
       WHERE kind IN ('charge', 'refund') AND created_at > sqlc.arg(day_ago)::timestamptz)::bigint AS revenue_24h_micros,
    (SELECT COALESCE(-sum(amount_micros), 0) FROM paas_ledger
       WHERE kind IN ('charge', 'refund') AND created_at > sqlc.arg(month_ago)::timestamptz)::bigint AS revenue_30d_micros,
    (SELECT COALESCE(-sum(amount_micros), 0) FROM paas_ledger WHERE kind IN ('charge', 'refund'))::bigint AS revenue_total_micros,
    (SELECT COALESCE(sum(balance_micros), 0) FROM paas_wallets)::bigint AS wallet_balance_micros;

-- name: APIAppPhaseCounts :many
SELECT (CASE WHEN deleted_at IS NOT NULL THEN 'Deleting' ELSE phase END)::text AS phase, count(*)::bigint AS n
FROM paas_apps GROUP BY 1 ORDER BY 1;

-- name: APIListMembers :many
-- A page of an organization's members, by email.
SELECT u.id, u.email, u.name, m.role, m.created_at FROM paas_memberships m
JOIN paas_users u ON u.id = m.user_id
WHERE m.organization_id = sqlc.arg(organization_id) AND u.email > sqlc.arg(after_email)::text
ORDER BY u.email
LIMIT sqlc.arg(lim);

-- name: APIListSettings :many
-- A page of settings, by key.
SELECT * FROM paas_settings WHERE key > sqlc.arg(after_key)::text ORDER BY key LIMIT sqlc.arg(lim);

-- name: APIGetSettings :many
-- The settings of these keys, by key.
SELECT * FROM paas_settings WHERE key = ANY(sqlc.arg(keys)::text[]) ORDER BY key;
