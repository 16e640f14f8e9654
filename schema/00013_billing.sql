-- Billing: metered replica intervals, hourly charges, suspension for
-- insufficient funds beside admin suspension, deduplicated notifications.
--
-- Money is integer micro-units. The rounding rule, applied once per (app,
-- hour): charge = round_half_up(sum over the app's intervals in the hour of
-- replicas * seconds * price_hourly_micros / 3600), seconds exact to the
-- microsecond; an hour that rounds to 0 writes no ledger row.

-- +goose Up

-- Two reasons to hold an organization at zero; suspended (which the scale
-- loop acts on) is derived from them by a trigger.
ALTER TABLE paas_organizations
    ADD COLUMN admin_suspended boolean NOT NULL DEFAULT false,
    ADD COLUMN admin_suspended_reason text NOT NULL DEFAULT '',
    ADD COLUMN funds_suspended boolean NOT NULL DEFAULT false,
    -- billing_state: ok, low (runway under a day, notified), suspended.
    ADD COLUMN billing_state text NOT NULL DEFAULT 'ok' CHECK (billing_state IN ('ok', 'low', 'suspended'));
UPDATE paas_organizations SET admin_suspended = true, admin_suspended_reason = 'suspended before billing' WHERE suspended;

-- +goose StatementBegin
CREATE FUNCTION paas_organizations_derive_suspended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.suspended := NEW.admin_suspended OR NEW.funds_suspended;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_organizations_derive_suspended BEFORE INSERT OR UPDATE ON paas_organizations
    FOR EACH ROW EXECUTE FUNCTION paas_organizations_derive_suspended();

-- The ledger moves the wallet once per statement: a sweep inserting
-- 100,000 charges updates each wallet once, locking wallets in id order
-- (no deadlock between concurrent writers), and wakes the billing loop of
-- each organization (paas_billing, org/<uuid>).
DROP TRIGGER paas_ledger_apply ON paas_ledger;
-- +goose StatementBegin
CREATE FUNCTION paas_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM paas_organizations WHERE id = OLD.organization_id) THEN
        RETURN OLD; -- the organization's deletion cascades to its ledger
    END IF;
    RAISE EXCEPTION 'paas_ledger is append-only' USING ERRCODE = 'restrict_violation';
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_ledger_append_only BEFORE UPDATE OR DELETE ON paas_ledger
    FOR EACH ROW EXECUTE FUNCTION paas_ledger_append_only();
-- +goose StatementBegin
CREATE FUNCTION paas_ledger_apply_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Rows are upserted in organization order, so concurrent statements
    -- lock wallets in the same order and never deadlock.
    INSERT INTO paas_wallets (organization_id, balance_micros, updated_at)
    SELECT organization_id, sum(amount_micros), now() FROM new_rows
     GROUP BY organization_id ORDER BY organization_id
    ON CONFLICT (organization_id) DO UPDATE
       SET balance_micros = paas_wallets.balance_micros + EXCLUDED.balance_micros, updated_at = now();
    PERFORM pg_notify('paas_billing', 'org/' || d.organization_id)
       FROM (SELECT DISTINCT organization_id FROM new_rows) d;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_ledger_apply_rows AFTER INSERT ON paas_ledger
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION paas_ledger_apply_rows();

INSERT INTO paas_settings (key, value) VALUES
    ('billing_currency', 'USD'),
    ('billing_suspend_threshold_micros', '0'),
    ('billing_initial_credit_micros', '5000000'),
    ('billing_sweep_schedule', '0 * * * *'),
    ('billing_meter_max_gap_seconds', '90')
ON CONFLICT (key) DO NOTHING;

-- Every organization has a wallet, and a new one the initial credit.
-- +goose StatementBegin
CREATE FUNCTION paas_organizations_wallet() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    credit bigint;
BEGIN
    INSERT INTO paas_wallets (organization_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    SELECT CASE WHEN value ~ '^[0-9]{1,15}$' THEN value::bigint ELSE 0 END INTO credit
      FROM paas_settings WHERE key = 'billing_initial_credit_micros';
    IF COALESCE(credit, 0) > 0 THEN
        INSERT INTO paas_ledger (organization_id, amount_micros, kind, description, reference)
        VALUES (NEW.id, credit, 'adjustment', 'initial credit', 'initial-credit:' || NEW.id)
        ON CONFLICT (reference) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_organizations_wallet AFTER INSERT ON paas_organizations
    FOR EACH ROW EXECUTE FUNCTION paas_organizations_wallet();
INSERT INTO paas_wallets (organization_id) SELECT id FROM paas_organizations ON CONFLICT DO NOTHING;

-- Metered replica intervals: what really ran. One open interval per app at
-- most; it is extended while observations keep coming (no gap longer than
-- billing_meter_max_gap_seconds) and closed at the last observation
-- otherwise, so a restart or leader change neither loses nor overlaps time.
-- No foreign key to the app: usage outlives the app row.
CREATE TABLE paas_usage_intervals (
    id                   bigserial PRIMARY KEY,
    app_id               uuid NOT NULL,
    app_name             text NOT NULL,
    organization_id      uuid NOT NULL REFERENCES paas_organizations (id) ON DELETE CASCADE,
    plan_id              uuid,
    price_hourly_micros  bigint NOT NULL CHECK (price_hourly_micros >= 0),
    replicas             integer NOT NULL CHECK (replicas > 0),
    started_at           timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL CHECK (last_seen_at >= started_at),
    open                 boolean NOT NULL DEFAULT true
);
CREATE UNIQUE INDEX paas_usage_intervals_open_idx ON paas_usage_intervals (app_id) WHERE open;
CREATE INDEX paas_usage_intervals_seen_idx ON paas_usage_intervals (last_seen_at);
CREATE INDEX paas_usage_intervals_app_idx ON paas_usage_intervals (app_id, last_seen_at);
CREATE INDEX paas_usage_intervals_org_idx ON paas_usage_intervals (organization_id, started_at);

-- +goose StatementBegin
-- paas_meter records one observation of an app: p_replicas tasks running
-- at p_now on a plan at a price.
CREATE FUNCTION paas_meter(p_app uuid, p_app_name text, p_org uuid, p_plan uuid, p_price bigint,
                           p_replicas integer, p_now timestamptz, p_max_gap interval) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    cur paas_usage_intervals;
BEGIN
    SELECT * INTO cur FROM paas_usage_intervals WHERE app_id = p_app AND open FOR UPDATE;
    IF FOUND THEN
        IF p_now <= cur.last_seen_at THEN
            RETURN; -- not newer than what is recorded
        END IF;
        IF p_now - cur.last_seen_at <= p_max_gap THEN
            IF cur.replicas = p_replicas AND cur.price_hourly_micros = p_price
               AND cur.plan_id IS NOT DISTINCT FROM p_plan THEN
                UPDATE paas_usage_intervals SET last_seen_at = p_now WHERE id = cur.id;
                RETURN;
            END IF;
            -- watched without a break: the old state ran until now.
            UPDATE paas_usage_intervals SET last_seen_at = p_now, open = false WHERE id = cur.id;
        ELSE
            -- nobody watched in between: the gap is not charged.
            UPDATE paas_usage_intervals SET open = false WHERE id = cur.id;
        END IF;
    ELSIF EXISTS (SELECT 1 FROM paas_usage_intervals WHERE app_id = p_app AND last_seen_at >= p_now) THEN
        RETURN; -- a late observation (an old leader's) of a time already recorded
    END IF;
    IF p_replicas > 0 THEN
        INSERT INTO paas_usage_intervals (app_id, app_name, organization_id, plan_id, price_hourly_micros, replicas, started_at, last_seen_at)
        VALUES (p_app, p_app_name, p_org, p_plan, p_price, p_replicas, p_now, p_now);
    END IF;
END $$;
-- +goose StatementEnd

-- One row per charged hour: the sweep's watermark.
CREATE TABLE paas_billing_hours (
    hour          timestamptz PRIMARY KEY CHECK (date_trunc('hour', hour, 'UTC') = hour),
    swept_at      timestamptz NOT NULL,
    charges       integer NOT NULL,
    total_micros  bigint NOT NULL
);

-- +goose StatementBegin
-- paas_billing_sweep charges every app for every complete hour in
-- [p_from, p_to) not yet charged, in one statement; concurrent sweeps queue
-- on an advisory lock, swept hours are skipped, and the unique reference
-- charge:<app>:<hour> makes a second charge impossible whatever happens.
CREATE FUNCTION paas_billing_sweep(p_from timestamptz, p_to timestamptz, p_now timestamptz)
RETURNS TABLE (hours integer, charges integer, total_micros bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(7355608, 13);
    RETURN QUERY
    WITH todo AS (
        SELECT g.h FROM generate_series(p_from, p_to - interval '1 hour', interval '1 hour') AS g(h)
         WHERE NOT EXISTS (SELECT 1 FROM paas_billing_hours b WHERE b.hour = g.h)
    ), usage AS (
        SELECT i.app_id, i.organization_id, t.h,
               round(sum(i.replicas * i.price_hourly_micros *
                         extract(epoch FROM least(i.last_seen_at, t.h + interval '1 hour') - greatest(i.started_at, t.h))) / 3600) AS amount,
               sum(i.replicas * extract(epoch FROM least(i.last_seen_at, t.h + interval '1 hour') - greatest(i.started_at, t.h))) AS replica_seconds
          FROM paas_usage_intervals i
          JOIN todo t ON i.started_at < t.h + interval '1 hour' AND i.last_seen_at > t.h
         WHERE i.last_seen_at > p_from AND i.started_at < p_to
         GROUP BY i.app_id, i.organization_id, t.h
    ), ins AS (
        INSERT INTO paas_ledger (organization_id, amount_micros, kind, description, reference)
        SELECT u.organization_id, -u.amount::bigint, 'charge',
               u.replica_seconds::text || ' replica-seconds',
               'charge:' || u.app_id || ':' || to_char(u.h AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24"Z"')
          FROM usage u WHERE u.amount > 0
         ORDER BY u.app_id, u.h
        -- No ON CONFLICT: the hours are not swept yet (checked under the
        -- lock, and written in this same transaction), so no reference can
        -- exist; were one there anyway, the unique key fails the sweep
        -- rather than charge twice. (DO NOTHING would double the cost.)
        RETURNING amount_micros
    ), per_hour AS (
        SELECT u.h, count(*) AS n, sum(u.amount) AS total FROM usage u WHERE u.amount > 0 GROUP BY u.h
    ), done AS (
        INSERT INTO paas_billing_hours (hour, swept_at, charges, total_micros)
        SELECT t.h, p_now, COALESCE(p.n, 0), COALESCE(p.total, 0)::bigint FROM todo t LEFT JOIN per_hour p ON p.h = t.h
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM done)::integer, (SELECT count(*) FROM ins)::integer,
           (SELECT COALESCE(-sum(amount_micros), 0) FROM ins)::bigint;
END $$;
-- +goose StatementEnd

-- Notifications are deduplicated by key.
ALTER TABLE paas_notifications ADD COLUMN dedup_key text;
CREATE UNIQUE INDEX paas_notifications_dedup_idx ON paas_notifications (organization_id, dedup_key) WHERE dedup_key IS NOT NULL;

-- +goose Down
DROP INDEX paas_notifications_dedup_idx;
ALTER TABLE paas_notifications DROP COLUMN dedup_key;
DROP TABLE paas_billing_hours, paas_usage_intervals;
DROP FUNCTION paas_billing_sweep, paas_meter;
DROP TRIGGER paas_organizations_wallet ON paas_organizations;
DROP FUNCTION paas_organizations_wallet;
DELETE FROM paas_settings WHERE key LIKE 'billing\_%';
DROP TRIGGER paas_ledger_apply_rows ON paas_ledger;
DROP TRIGGER paas_ledger_append_only ON paas_ledger;
DROP FUNCTION paas_ledger_apply_rows, paas_ledger_append_only;
CREATE TRIGGER paas_ledger_apply BEFORE INSERT OR UPDATE OR DELETE ON paas_ledger
    FOR EACH ROW EXECUTE FUNCTION paas_ledger_apply();
DROP TRIGGER paas_organizations_derive_suspended ON paas_organizations;
DROP FUNCTION paas_organizations_derive_suspended;
ALTER TABLE paas_organizations DROP COLUMN admin_suspended, DROP COLUMN admin_suspended_reason,
    DROP COLUMN funds_suspended, DROP COLUMN billing_state;
