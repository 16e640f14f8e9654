-- +goose Up
-- Domains: every app gets a default hostname under the default_domain
-- setting, and custom hostnames once their owner proves control of them
-- with a TXT record. Two loops keep them: the domain loop (key
-- domain/<uuid>) checks the proof and writes a domain's status; the route
-- loop (key app/<uuid>) owns the traefik.* labels of the app's service and
-- marks the domains it routes.

-- default_host_label is the first DNS label of the app's default hostname
-- (<label>.<default_domain>), fixed when the app is created so that a
-- change of default_domain moves every app at once and no two apps ever
-- share one: <app>-<org slug>, cut to 63 characters, with a piece of the
-- app id appended when another app already holds it.
ALTER TABLE paas_apps ADD COLUMN default_host_label text;

-- +goose StatementBegin
CREATE FUNCTION paas_default_host_label(app_id uuid, app_name text, org uuid) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    base text;
    candidate text;
BEGIN
    SELECT rtrim(left(app_name || '-' || o.slug, 63), '-') INTO base FROM paas_organizations o WHERE o.id = org;
    candidate := base;
    IF EXISTS (SELECT 1 FROM paas_apps WHERE default_host_label = candidate AND id <> app_id) THEN
        candidate := rtrim(left(base, 54), '-') || '-' || left(replace(app_id::text, '-', ''), 8);
    END IF;
    RETURN candidate;
END $$;
-- +goose StatementEnd

UPDATE paas_apps SET default_host_label = paas_default_host_label(id, name, organization_id);

-- +goose StatementBegin
CREATE FUNCTION paas_apps_default_host_label() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.default_host_label := paas_default_host_label(NEW.id, NEW.name, NEW.organization_id);
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_apps_default_host_label BEFORE INSERT ON paas_apps
    FOR EACH ROW EXECUTE FUNCTION paas_apps_default_host_label();

ALTER TABLE paas_apps ALTER COLUMN default_host_label SET NOT NULL;
CREATE UNIQUE INDEX paas_apps_default_host_label_key ON paas_apps (default_host_label);

-- A domain's proof and what the loops observed of it (status: written by
-- the domain and route loops only).
--   pending   never proven (checks that fail keep it pending);
--   verified  the TXT record was found at the last check;
--   routed    verified, and the app's service routes it;
--   failed    a check asked for, or a re-check of a proven domain, did not
--             find the record (last_error says what was found instead);
--             it is not routed.
ALTER TABLE paas_domains
    ADD COLUMN verification_token text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    ADD COLUMN last_error text NOT NULL DEFAULT '',
    ADD COLUMN checked_at timestamptz,
    ADD COLUMN verified_at timestamptz,
    -- verify_requested_at is spec: a client asking for a check now.
    ADD COLUMN verify_requested_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT paas_domains_status_check CHECK (status IN ('pending', 'verified', 'routed', 'failed'));

-- +goose StatementBegin
-- paas_domains_notify: a domain added, removed or asked to be checked wakes
-- the domain loop (domain/<uuid>); a domain whose routability changed
-- wakes the route loop of its app (app/<uuid> on paas_routes).
CREATE FUNCTION paas_domains_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.verify_requested_at IS DISTINCT FROM OLD.verify_requested_at THEN
        PERFORM pg_notify('paas_desired', 'domain/' || COALESCE(NEW.id, OLD.id));
    END IF;
    IF TG_OP <> 'UPDATE' OR NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM pg_notify('paas_routes', 'app/' || COALESCE(NEW.app_id, OLD.app_id));
    END IF;
    -- A routed domain is one of the app's status.urls: watchers must see
    -- it move. (Only on UPDATE: a domain deleted with its app must not
    -- touch the app row being deleted.)
    IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
        UPDATE paas_apps SET status_seq = nextval('paas_status_seq') WHERE id = NEW.app_id;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_domains_notify AFTER INSERT OR UPDATE OR DELETE ON paas_domains
    FOR EACH ROW EXECUTE FUNCTION paas_domains_notify();

-- A domain's status shows in its app's object.
DROP TRIGGER paas_api_domains_changed ON paas_domains;
CREATE TRIGGER paas_api_domains_changed
    AFTER INSERT OR DELETE OR UPDATE OF app_id, hostname, status, last_error ON paas_domains
    FOR EACH ROW EXECUTE FUNCTION paas_api_app_child_changed();

-- +goose StatementBegin
-- paas_settings_routes_notify: a new default_domain changes every app's
-- routes.
CREATE FUNCTION paas_settings_routes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key = 'default_domain' AND (TG_OP = 'INSERT' OR NEW.value IS DISTINCT FROM OLD.value) THEN
        PERFORM pg_notify('paas_routes', 'app/' || a.id) FROM paas_apps a;
        PERFORM pg_notify('paas_api', 'all');
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_settings_routes_notify AFTER INSERT OR UPDATE ON paas_settings
    FOR EACH ROW EXECUTE FUNCTION paas_settings_routes_notify();

INSERT INTO paas_settings (key, value) VALUES ('domain_recheck_minutes', '60') ON CONFLICT (key) DO NOTHING;

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
CREATE VIEW paas_app_view AS
SELECT a.id, a.organization_id, a.name, a.service_name, a.image, a.replicas, a.port, a.command, a.plan_id,
       a.health_check, a.stopped, a.restart_count, a.env_revision, a.generation, a.version,
       a.observed_generation, a.phase, a.conditions, a.status_message, a.running_replicas,
       a.desired_replicas, a.current_deployment_id, a.service_id, a.status_seq, a.deleted_at,
       a.created_at, a.updated_at, p.name AS plan_name,
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
DELETE FROM paas_settings WHERE key = 'domain_recheck_minutes';
DROP TRIGGER paas_settings_routes_notify ON paas_settings;
DROP FUNCTION paas_settings_routes_notify();
DROP TRIGGER paas_api_domains_changed ON paas_domains;
CREATE TRIGGER paas_api_domains_changed
    AFTER INSERT OR DELETE OR UPDATE OF app_id, hostname ON paas_domains
    FOR EACH ROW EXECUTE FUNCTION paas_api_app_child_changed();
DROP TRIGGER paas_domains_notify ON paas_domains;
DROP FUNCTION paas_domains_notify();
ALTER TABLE paas_domains
    DROP CONSTRAINT paas_domains_status_check,
    DROP COLUMN updated_at, DROP COLUMN verify_requested_at, DROP COLUMN verified_at,
    DROP COLUMN checked_at, DROP COLUMN last_error, DROP COLUMN verification_token;
DROP INDEX paas_apps_default_host_label_key;
DROP TRIGGER paas_apps_default_host_label ON paas_apps;
DROP FUNCTION paas_apps_default_host_label();
DROP FUNCTION paas_default_host_label(uuid, text, uuid);
ALTER TABLE paas_apps DROP COLUMN default_host_label;
