-- +goose Up
-- Worker nodes: the node loop (key node/<swarm id>) keeps Swarm's nodes and
-- paas_worker_nodes in step. The columns added here split what admins
-- declare (approved, desired_availability, remove_requested_at) from what
-- the loop observes (the rest), and keep the alert state per node and kind
-- so that a restart of paasd never sends an alert twice.
ALTER TABLE paas_worker_nodes
    ADD COLUMN engine_version text NOT NULL DEFAULT '',
    -- '' for a worker; reachable, unreachable or unknown for a manager.
    ADD COLUMN manager_reachability text NOT NULL DEFAULT '',
    ADD COLUMN is_leader boolean NOT NULL DEFAULT false,
    -- A node that joins is pending (not approved) and held at drain.
    ADD COLUMN approved boolean NOT NULL DEFAULT false,
    ADD COLUMN desired_availability text NOT NULL DEFAULT 'drain'
        CHECK (desired_availability IN ('active', 'pause', 'drain')),
    -- Set by an admin's DELETE: drain, wait for the tasks to move, remove.
    ADD COLUMN remove_requested_at timestamptz,
    -- Sum of the reservations of the tasks running on the node.
    ADD COLUMN cpu_reserved_millis bigint NOT NULL DEFAULT 0,
    ADD COLUMN memory_reserved_bytes bigint NOT NULL DEFAULT 0,
    ADD COLUMN tasks_running integer NOT NULL DEFAULT 0,
    ADD COLUMN resources_checked_at timestamptz,
    ADD COLUMN health_checked_at timestamptz,
    -- Last thing the loop had to say (a reverted hand change, a removal waiting).
    ADD COLUMN message text NOT NULL DEFAULT '';
-- Rows written before the loop existed described nodes already in use.
UPDATE paas_worker_nodes SET approved = true,
    desired_availability = CASE WHEN availability IN ('active', 'pause', 'drain') THEN availability ELSE 'active' END;

-- +goose StatementBegin
-- paas_worker_nodes_notify: an admin's decision wakes the node loop.
CREATE FUNCTION paas_worker_nodes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (NEW.approved, NEW.desired_availability, NEW.remove_requested_at)
       IS DISTINCT FROM (OLD.approved, OLD.desired_availability, OLD.remove_requested_at) THEN
        PERFORM pg_notify('paas_desired', 'node/' || NEW.swarm_node_id);
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_worker_nodes_notify AFTER INSERT OR UPDATE ON paas_worker_nodes
    FOR EACH ROW EXECUTE FUNCTION paas_worker_nodes_notify();

-- One row per node and alert kind (down, cpu, memory): whether the alert
-- is firing and when it was last sent, for the cooldown.
CREATE TABLE paas_node_alerts (
    swarm_node_id  text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('down', 'cpu', 'memory')),
    firing         boolean NOT NULL DEFAULT false,
    -- whether this episode's alert was sent (a resolution is sent only then)
    notified       boolean NOT NULL DEFAULT false,
    since          timestamptz,
    last_sent_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (swarm_node_id, kind)
);

INSERT INTO paas_settings (key, value) VALUES
    ('auto_approve_nodes', 'false'),
    ('node_resource_interval_seconds', '30'),
    ('node_health_interval_seconds', '60'),
    ('node_alert_threshold_percent', '90'),
    ('node_alert_cooldown_minutes', '30'),
    ('node_alert_webhook_url', '')
ON CONFLICT (key) DO NOTHING;

-- updated_replicas: tasks running the app's current release (the app loop).
ALTER TABLE paas_apps ADD COLUMN updated_replicas integer NOT NULL DEFAULT 0;

-- +goose StatementBegin
-- A change of updated_replicas is a status change watchers must see; runs
-- after paas_apps_bump (triggers fire by name), which may have moved
-- status_seq already.
CREATE FUNCTION paas_apps_updated_replicas_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_replicas IS DISTINCT FROM OLD.updated_replicas AND NEW.status_seq = OLD.status_seq THEN
        NEW.status_seq := nextval('paas_status_seq');
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_apps_updated_replicas_seq BEFORE UPDATE ON paas_apps
    FOR EACH ROW EXECUTE FUNCTION paas_apps_updated_replicas_seq();

-- paas_app_view expands a.* when created: recreate it to show the new column.
DROP VIEW paas_app_view;
CREATE VIEW paas_app_view AS
SELECT a.*, p.name AS plan_name,
       COALESCE(dm.hostnames, '{}')::text[] AS hostnames,
       COALESCE(ev.env_keys, '{}')::text[] AS env_keys,
       COALESCE(ev.env_values, '{}')::bytea[] AS env_values,
       cd.version AS current_version, cd.status AS current_status, cd.image AS current_image
FROM paas_apps a
JOIN paas_plans p ON p.id = a.plan_id
LEFT JOIN paas_deployments cd ON cd.id = a.current_deployment_id
LEFT JOIN LATERAL (
    SELECT array_agg(e.key ORDER BY e.key) AS env_keys, array_agg(e.value_encrypted ORDER BY e.key) AS env_values
    FROM paas_env_vars e WHERE e.app_id = a.id
) ev ON true
LEFT JOIN LATERAL (
    SELECT array_agg(d.hostname ORDER BY d.hostname) AS hostnames FROM paas_domains d WHERE d.app_id = a.id
) dm ON true;

-- +goose Down
DROP VIEW paas_app_view;
DROP TRIGGER paas_apps_updated_replicas_seq ON paas_apps;
DROP FUNCTION paas_apps_updated_replicas_seq();
ALTER TABLE paas_apps DROP COLUMN updated_replicas;
CREATE VIEW paas_app_view AS
SELECT a.*, p.name AS plan_name,
       COALESCE(dm.hostnames, '{}')::text[] AS hostnames,
       COALESCE(ev.env_keys, '{}')::text[] AS env_keys,
       COALESCE(ev.env_values, '{}')::bytea[] AS env_values,
       cd.version AS current_version, cd.status AS current_status, cd.image AS current_image
FROM paas_apps a
JOIN paas_plans p ON p.id = a.plan_id
LEFT JOIN paas_deployments cd ON cd.id = a.current_deployment_id
LEFT JOIN LATERAL (
    SELECT array_agg(e.key ORDER BY e.key) AS env_keys, array_agg(e.value_encrypted ORDER BY e.key) AS env_values
    FROM paas_env_vars e WHERE e.app_id = a.id
) ev ON true
LEFT JOIN LATERAL (
    SELECT array_agg(d.hostname ORDER BY d.hostname) AS hostnames FROM paas_domains d WHERE d.app_id = a.id
) dm ON true;
DELETE FROM paas_settings WHERE key IN ('auto_approve_nodes', 'node_resource_interval_seconds', 'node_health_interval_seconds',
    'node_alert_threshold_percent', 'node_alert_cooldown_minutes', 'node_alert_webhook_url', 'nodes_adopted');
DROP TABLE paas_node_alerts;
DROP TRIGGER paas_worker_nodes_notify ON paas_worker_nodes;
DROP FUNCTION paas_worker_nodes_notify();
ALTER TABLE paas_worker_nodes
    DROP COLUMN engine_version, DROP COLUMN manager_reachability, DROP COLUMN is_leader, DROP COLUMN approved,
    DROP COLUMN desired_availability, DROP COLUMN remove_requested_at, DROP COLUMN cpu_reserved_millis,
    DROP COLUMN memory_reserved_bytes, DROP COLUMN tasks_running, DROP COLUMN resources_checked_at,
    DROP COLUMN health_checked_at, DROP COLUMN message;
