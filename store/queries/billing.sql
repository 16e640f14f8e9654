-- name: InsertLedgerEntry :one
INSERT INTO paas_ledger (organization_id, amount_micros, kind, description, reference)
VALUES ($1, $2, $3, $4, $5) RETURNING *;

-- name: GetWallet :one
SELECT * FROM paas_wallets WHERE organization_id = $1;

-- name: ListLedger :many
SELECT * FROM paas_ledger WHERE organization_id = $1 ORDER BY id DESC LIMIT $2;

-- name: MeterApp :exec
-- MeterApp records one observation of an app's running replicas (paas_meter).
SELECT paas_meter(sqlc.arg(app_id)::uuid, sqlc.arg(app_name)::text, sqlc.arg(organization_id)::uuid,
    sqlc.narg(plan_id)::uuid, sqlc.arg(price_hourly_micros)::bigint, sqlc.arg(replicas)::integer,
    sqlc.arg(now)::timestamptz, make_interval(secs => sqlc.arg(max_gap_seconds)::double precision));

-- name: SweepHours :one
SELECT hours::integer AS hours, charges::integer AS charges, total_micros::bigint AS total_micros
  FROM paas_billing_sweep(sqlc.arg(since)::timestamptz, sqlc.arg(until)::timestamptz, sqlc.arg(now)::timestamptz);

-- name: FirstUnsweptHour :one
-- FirstUnsweptHour is the hour after the last swept one, or the hour of
-- the earliest metered interval when none was swept (NULL: nothing metered).
SELECT COALESCE((SELECT max(hour) + interval '1 hour' FROM paas_billing_hours),
                (SELECT date_trunc('hour', min(started_at), 'UTC') FROM paas_usage_intervals))::timestamptz AS hour;

-- name: OrganizationBilling :one
-- OrganizationBilling is what the billing loop and the API's checks need:
-- balance, suspension state, the burn of what runs now and the burn the
-- owner asked for.
SELECT o.id, o.slug, o.name, o.suspended, o.admin_suspended, o.admin_suspended_reason, o.funds_suspended, o.billing_state,
       COALESCE(w.balance_micros, 0)::bigint AS balance_micros,
       COALESCE((SELECT sum(i.replicas::bigint * i.price_hourly_micros) FROM paas_usage_intervals i
                  WHERE i.organization_id = o.id AND i.open
                    AND i.last_seen_at >= sqlc.arg(seen_since)::timestamptz), 0)::bigint AS burn_micros_per_hour,
       COALESCE((SELECT sum(a.replicas::bigint * p.price_hourly_micros) FROM paas_apps a JOIN paas_plans p ON p.id = a.plan_id
                  WHERE a.organization_id = o.id AND a.deleted_at IS NULL AND NOT a.stopped
                    AND a.id <> sqlc.arg(except_app)::uuid), 0)::bigint AS desired_micros_per_hour
  FROM paas_organizations o LEFT JOIN paas_wallets w ON w.organization_id = o.id
 WHERE o.id = sqlc.arg(id);

-- name: SetFundsSuspended :one
UPDATE paas_organizations SET funds_suspended = sqlc.arg(suspended), billing_state = sqlc.arg(state), updated_at = now()
 WHERE id = sqlc.arg(id) AND (funds_suspended <> sqlc.arg(suspended) OR billing_state <> sqlc.arg(state))
RETURNING id;

-- name: SetAdminSuspended :one
UPDATE paas_organizations SET admin_suspended = sqlc.arg(suspended), admin_suspended_reason = sqlc.arg(reason), updated_at = now()
 WHERE id = sqlc.arg(id) RETURNING *;

-- name: InsertNotification :execrows
INSERT INTO paas_notifications (organization_id, kind, title, body, dedup_key, created_at)
VALUES (sqlc.arg(organization_id), sqlc.arg(kind), sqlc.arg(title), sqlc.arg(body), sqlc.narg(dedup_key), sqlc.arg(created_at))
ON CONFLICT (organization_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING;

-- name: ListNotifications :many
SELECT * FROM paas_notifications WHERE organization_id = $1 ORDER BY id DESC LIMIT $2;

-- name: ListLedgerPage :many
SELECT * FROM paas_ledger WHERE organization_id = sqlc.arg(organization_id) AND id < sqlc.arg(before)
 ORDER BY id DESC LIMIT sqlc.arg(lim);

-- name: LedgerSum :one
SELECT COALESCE(sum(amount_micros), 0)::bigint FROM paas_ledger WHERE organization_id = $1;

-- name: InsertLedgerOnce :many
-- InsertLedgerOnce writes a ledger row unless its reference exists.
INSERT INTO paas_ledger (organization_id, amount_micros, kind, description, reference)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reference) DO NOTHING RETURNING *;

-- name: GetLedgerByReference :one
SELECT * FROM paas_ledger WHERE reference = $1;

-- name: UsageByApp :many
-- UsageByApp sums metered replica-seconds per app over [from, to); cost
-- at each interval's price, rounded half up per app.
SELECT i.app_id, max(i.app_name)::text AS app_name,
       sum(i.replicas * extract(epoch FROM least(i.last_seen_at, sqlc.arg(until)::timestamptz) - greatest(i.started_at, sqlc.arg(since)::timestamptz)))::float8 AS replica_seconds,
       round(sum(i.replicas * i.price_hourly_micros * extract(epoch FROM least(i.last_seen_at, sqlc.arg(until)::timestamptz) - greatest(i.started_at, sqlc.arg(since)::timestamptz))) / 3600)::bigint AS cost_micros
  FROM paas_usage_intervals i
 WHERE i.organization_id = sqlc.arg(organization_id) AND i.last_seen_at > sqlc.arg(since) AND i.started_at < sqlc.arg(until)
 GROUP BY i.app_id ORDER BY app_name, i.app_id;

-- name: UsageByDay :many
SELECT d.day::timestamptz AS day,
       sum(i.replicas * extract(epoch FROM least(i.last_seen_at, d.day + interval '1 day', sqlc.arg(until)::timestamptz) - greatest(i.started_at, d.day, sqlc.arg(since)::timestamptz)))::float8 AS replica_seconds,
       round(sum(i.replicas * i.price_hourly_micros * extract(epoch FROM least(i.last_seen_at, d.day + interval '1 day', sqlc.arg(until)::timestamptz) - greatest(i.started_at, d.day, sqlc.arg(since)::timestamptz))) / 3600)::bigint AS cost_micros
  FROM paas_usage_intervals i
  CROSS JOIN LATERAL generate_series(date_trunc('day', greatest(i.started_at, sqlc.arg(since)::timestamptz), 'UTC'),
                                     least(i.last_seen_at, sqlc.arg(until)::timestamptz), interval '1 day') AS d(day)
 WHERE i.organization_id = sqlc.arg(organization_id) AND i.last_seen_at > sqlc.arg(since) AND i.started_at < sqlc.arg(until)
   AND least(i.last_seen_at, d.day + interval '1 day', sqlc.arg(until)::timestamptz) > greatest(i.started_at, d.day, sqlc.arg(since)::timestamptz)
 GROUP BY d.day ORDER BY d.day;

-- name: AdminListWallets :many
SELECT o.id, o.slug, o.name, o.suspended, o.admin_suspended, o.admin_suspended_reason, o.funds_suspended,
       COALESCE(w.balance_micros, 0)::bigint AS balance_micros,
       COALESCE((SELECT sum(i.replicas::bigint * i.price_hourly_micros) FROM paas_usage_intervals i
                  WHERE i.organization_id = o.id AND i.open AND i.last_seen_at >= sqlc.arg(seen_since)::timestamptz), 0)::bigint AS burn_micros_per_hour
  FROM paas_organizations o LEFT JOIN paas_wallets w ON w.organization_id = o.id
 WHERE o.slug > sqlc.arg(after) AND COALESCE(w.balance_micros, 0) <= sqlc.arg(max_balance)::bigint
 ORDER BY o.slug LIMIT sqlc.arg(lim);

-- name: AdminUsageByOrganization :many
SELECT i.organization_id, max(o.slug)::text AS slug,
       sum(i.replicas * extract(epoch FROM least(i.last_seen_at, sqlc.arg(until)::timestamptz) - greatest(i.started_at, sqlc.arg(since)::timestamptz)))::float8 AS replica_seconds,
       round(sum(i.replicas * i.price_hourly_micros * extract(epoch FROM least(i.last_seen_at, sqlc.arg(until)::timestamptz) - greatest(i.started_at, sqlc.arg(since)::timestamptz))) / 3600)::bigint AS cost_micros
  FROM paas_usage_intervals i JOIN paas_organizations o ON o.id = i.organization_id
 WHERE i.last_seen_at > sqlc.arg(since) AND i.started_at < sqlc.arg(until)
 GROUP BY i.organization_id ORDER BY slug;

