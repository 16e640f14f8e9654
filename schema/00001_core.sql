-- +goose Up
-- Core model of SkyPanel PaaS. Conventions:
--   * every table carries the paas_ prefix (the admin guide names paas_settings
--     and paas_worker_nodes; the rest follow);
--   * money is integer micro-units (1 USD = 1_000_000), never floats;
--   * secrets are stored as AES-256-GCM ciphertext (bytea) sealed by the app
--     with ENCRYPTION_KEY; the database never sees a plaintext secret;
--   * declarative objects (apps) split spec columns, written by the API, from
--     status columns, written by reconcilers only.

CREATE TABLE paas_organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    -- suspended is set by the billing reconciler when the wallet is empty; the
    -- scale loop then holds every app of the organization at zero replicas.
    suspended   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE paas_users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL CHECK (email = lower(email) AND position('@' in email) > 1),
    name           text NOT NULL DEFAULT '',
    -- bcrypt hash; never the password itself.
    password_hash  text NOT NULL,
    -- platform administrators see every organization and the /api/admin routes.
    is_admin       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX paas_users_email_key ON paas_users (email);

CREATE TABLE paas_memberships (
    organization_id uuid NOT NULL REFERENCES paas_organizations (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES paas_users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('owner', 'member')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX paas_memberships_user_idx ON paas_memberships (user_id);

CREATE TABLE paas_api_tokens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES paas_users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    -- SHA-256 of the token: tokens are random and long, so a fast hash is
    -- enough and lets the API look a token up by its hash.
    token_hash    bytea NOT NULL UNIQUE,
    -- the first characters of the token, shown in listings to tell tokens apart.
    prefix        text NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paas_api_tokens_user_idx ON paas_api_tokens (user_id);

CREATE TABLE paas_plans (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                 text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$'),
    display_name         text NOT NULL,
    cpu_millis           integer NOT NULL CHECK (cpu_millis > 0),
    memory_mb            integer NOT NULL CHECK (memory_mb > 0),
    max_replicas         integer NOT NULL CHECK (max_replicas > 0),
    price_hourly_micros  bigint  NOT NULL CHECK (price_hourly_micros >= 0),
    active               boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- The four plans of the Node version, prices in micro-dollars per hour.
INSERT INTO paas_plans (name, display_name, cpu_millis, memory_mb, max_replicas, price_hourly_micros) VALUES
    ('hobby',    'Hobby',     500,  512,  1,   6900),
    ('standard', 'Standard', 1000, 1024,  3,  34700),
    ('pro',      'Pro',      2000, 2048, 10,  69400),
    ('business', 'Business', 4000, 4096, 20, 138900);

CREATE SEQUENCE paas_status_seq;

CREATE TABLE paas_apps (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id  uuid NOT NULL REFERENCES paas_organizations (id) ON DELETE RESTRICT,
    name             text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    -- service_name is the Swarm service name, unique across the installation
    -- (and, with the instance prefix, across installations sharing a Swarm).
    service_name     text NOT NULL UNIQUE,

    -- spec: desired state, written by the API.
    image            text NOT NULL,
    replicas         integer NOT NULL DEFAULT 1 CHECK (replicas >= 0),
    port             integer NOT NULL DEFAULT 8080 CHECK (port BETWEEN 1 AND 65535),
    command          text[] NOT NULL DEFAULT '{}',
    plan_id          uuid NOT NULL REFERENCES paas_plans (id),
    health_check     jsonb,
    stopped          boolean NOT NULL DEFAULT false,
    -- restart_count is an explicit counter: bumping it asks for a rolling
    -- restart (Swarm's ForceUpdate), so a restart is desired state too.
    restart_count    bigint NOT NULL DEFAULT 0,
    -- env_revision is bumped by a trigger on paas_env_vars, so env changes
    -- bump generation like any other spec change.
    env_revision     bigint NOT NULL DEFAULT 0,

    -- generation counts spec changes (trigger-maintained); version counts
    -- every row change and serves optimistic concurrency for writers.
    generation       bigint NOT NULL DEFAULT 1,
    version          bigint NOT NULL DEFAULT 1,

    -- status: observed state, written by reconcilers only.
    observed_generation    bigint NOT NULL DEFAULT 0,
    phase                  text NOT NULL DEFAULT 'Pending',
    conditions             jsonb NOT NULL DEFAULT '[]',
    status_message         text NOT NULL DEFAULT '',
    running_replicas       integer NOT NULL DEFAULT 0,
    desired_replicas       integer NOT NULL DEFAULT 0,
    current_deployment_id  uuid,
    service_id             text,
    -- status_seq orders status changes across the installation (trigger-set
    -- from paas_status_seq); watchers resume from the last one they saw.
    status_seq             bigint NOT NULL DEFAULT 0,

    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX paas_apps_org_name_key ON paas_apps (organization_id, name);
CREATE INDEX paas_apps_status_seq_idx ON paas_apps (organization_id, status_seq);
CREATE INDEX paas_apps_deleted_idx ON paas_apps (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE paas_deployments (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id        uuid NOT NULL REFERENCES paas_apps (id) ON DELETE CASCADE,
    version       integer NOT NULL CHECK (version > 0),
    -- the app generation this release was cut from.
    generation    bigint NOT NULL,
    -- spec is a snapshot of the app spec (env as keys and sealed values
    -- included) so a rollback can recreate it exactly.
    spec          jsonb NOT NULL,
    image         text NOT NULL,
    -- image_resolved is the digest or image id the reference pointed to when
    -- the release was cut; the service runs exactly that.
    image_resolved text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'deploying', 'deployed', 'failed', 'rolled_back', 'superseded')),
    message       text NOT NULL DEFAULT '',
    -- rollback_of is the version whose snapshot this release restores.
    rollback_of   integer,
    log           text NOT NULL DEFAULT '',
    started_at    timestamptz,
    deadline_at   timestamptz,
    finished_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, version)
);
CREATE UNIQUE INDEX paas_deployments_app_generation_key ON paas_deployments (app_id, generation);

ALTER TABLE paas_apps ADD CONSTRAINT paas_apps_current_deployment_fk
    FOREIGN KEY (current_deployment_id) REFERENCES paas_deployments (id) ON DELETE SET NULL;

CREATE TABLE paas_env_vars (
    app_id           uuid NOT NULL REFERENCES paas_apps (id) ON DELETE CASCADE,
    key              text NOT NULL CHECK (key ~ '^[A-Z_][A-Z0-9_]{0,63}$' AND key <> 'PORT'),
    value_encrypted  bytea NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, key)
);

CREATE TABLE paas_domains (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id      uuid NOT NULL REFERENCES paas_apps (id) ON DELETE CASCADE,
    hostname    text NOT NULL CHECK (hostname = lower(hostname) AND length(hostname) <= 253),
    status      text NOT NULL DEFAULT 'pending',
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- A hostname routes to one app in the whole installation.
CREATE UNIQUE INDEX paas_domains_hostname_key ON paas_domains (hostname);
CREATE INDEX paas_domains_app_idx ON paas_domains (app_id);

CREATE TABLE paas_wallets (
    organization_id  uuid PRIMARY KEY REFERENCES paas_organizations (id) ON DELETE CASCADE,
    -- balance is maintained by a trigger from the ledger, never written directly.
    balance_micros   bigint NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE paas_ledger (
    id               bigserial PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES paas_organizations (id) ON DELETE CASCADE,
    -- positive for top-ups and credits, negative for charges.
    amount_micros    bigint NOT NULL CHECK (amount_micros <> 0),
    kind             text NOT NULL CHECK (kind IN ('topup', 'charge', 'refund', 'adjustment')),
    description      text NOT NULL DEFAULT '',
    -- idempotency key: an hourly sweep that runs twice charges once.
    reference        text UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paas_ledger_org_idx ON paas_ledger (organization_id, id);

CREATE TABLE paas_worker_nodes (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    swarm_node_id  text NOT NULL UNIQUE,
    hostname       text NOT NULL,
    role           text NOT NULL DEFAULT 'worker',
    availability   text NOT NULL DEFAULT 'active',
    state          text NOT NULL DEFAULT 'unknown',
    address        text NOT NULL DEFAULT '',
    cpu_millis     bigint NOT NULL DEFAULT 0,
    memory_bytes   bigint NOT NULL DEFAULT 0,
    labels         jsonb NOT NULL DEFAULT '{}',
    last_seen_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE paas_settings (
    key              text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]*$'),
    -- value holds non-sensitive settings; value_encrypted sensitive ones.
    value            text,
    value_encrypted  bytea,
    sensitive        boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((sensitive AND value IS NULL) OR (NOT sensitive AND value_encrypted IS NULL))
);
INSERT INTO paas_settings (key, value) VALUES
    ('max_apps_per_org', '25'),
    ('max_deployments_per_hour', '60'),
    ('default_domain', ''),
    ('traefik_acme_email', ''),
    ('loki_retention_days', '7');

CREATE TABLE paas_events (
    id                    bigserial PRIMARY KEY,
    object_kind           text NOT NULL,
    object_id             uuid NOT NULL,
    type                  text NOT NULL CHECK (type IN ('Normal', 'Warning')),
    reason                text NOT NULL,
    message               text NOT NULL,
    reporting_controller  text NOT NULL,
    count                 integer NOT NULL DEFAULT 1,
    first_timestamp       timestamptz NOT NULL DEFAULT now(),
    last_timestamp        timestamptz NOT NULL DEFAULT now()
);
-- Repeats of one event are folded into a count, as Kubernetes does.
CREATE UNIQUE INDEX paas_events_dedup_key ON paas_events (object_kind, object_id, reason, message);
CREATE INDEX paas_events_object_idx ON paas_events (object_kind, object_id, last_timestamp DESC);

CREATE TABLE paas_notifications (
    id               bigserial PRIMARY KEY,
    organization_id  uuid REFERENCES paas_organizations (id) ON DELETE CASCADE,
    user_id          uuid REFERENCES paas_users (id) ON DELETE CASCADE,
    kind             text NOT NULL,
    title            text NOT NULL,
    body             text NOT NULL DEFAULT '',
    read_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paas_notifications_org_idx ON paas_notifications (organization_id, created_at DESC);

CREATE TABLE paas_audit_log (
    id             bigserial PRIMARY KEY,
    actor_user_id  uuid REFERENCES paas_users (id) ON DELETE SET NULL,
    action         text NOT NULL,
    target_kind    text NOT NULL,
    target_id      text NOT NULL,
    organization_id uuid,
    details        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paas_audit_log_created_idx ON paas_audit_log (created_at DESC);

-- +goose StatementBegin
-- paas_apps_bump: keeps generation and version honest whatever the writer.
-- generation moves when a spec column changes; version on every update.
CREATE FUNCTION paas_apps_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.image, NEW.replicas, NEW.port, NEW.command, NEW.plan_id, NEW.health_check,
        NEW.stopped, NEW.restart_count, NEW.env_revision, NEW.deleted_at)
       IS DISTINCT FROM
       (OLD.image, OLD.replicas, OLD.port, OLD.command, OLD.plan_id, OLD.health_check,
        OLD.stopped, OLD.restart_count, OLD.env_revision, OLD.deleted_at) THEN
        NEW.generation := OLD.generation + 1;
    END IF;
    IF (NEW.phase, NEW.conditions, NEW.observed_generation, NEW.running_replicas,
        NEW.desired_replicas, NEW.current_deployment_id, NEW.status_message, NEW.generation)
       IS DISTINCT FROM
       (OLD.phase, OLD.conditions, OLD.observed_generation, OLD.running_replicas,
        OLD.desired_replicas, OLD.current_deployment_id, OLD.status_message, OLD.generation) THEN
        NEW.status_seq := nextval('paas_status_seq');
    END IF;
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_apps_bump BEFORE UPDATE ON paas_apps
    FOR EACH ROW EXECUTE FUNCTION paas_apps_bump();

-- +goose StatementBegin
CREATE FUNCTION paas_apps_insert_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.status_seq := nextval('paas_status_seq');
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_apps_insert_seq BEFORE INSERT ON paas_apps
    FOR EACH ROW EXECUTE FUNCTION paas_apps_insert_seq();

-- paas_app_tombstones remembers deleted apps so a watcher resuming after
-- the row is gone still learns of the deletion.
CREATE TABLE paas_app_tombstones (
    app_id           uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    name             text NOT NULL,
    status_seq       bigint NOT NULL,
    deleted_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paas_app_tombstones_seq_idx ON paas_app_tombstones (organization_id, status_seq);

-- +goose StatementBegin
-- paas_apps_notify: tells listeners which object changed. The payload is a
-- key ("app/<uuid>"), never the row: reconcilers re-read desired state.
-- Channel paas_desired wakes reconcilers on spec changes; paas_status wakes
-- watchers on status changes.
CREATE FUNCTION paas_apps_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO paas_app_tombstones (app_id, organization_id, name, status_seq)
             VALUES (OLD.id, OLD.organization_id, OLD.name, nextval('paas_status_seq'))
        ON CONFLICT (app_id) DO NOTHING;
        PERFORM pg_notify('paas_desired', 'app/' || OLD.id);
        PERFORM pg_notify('paas_status', 'app/' || OLD.id);
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.generation <> OLD.generation THEN
        PERFORM pg_notify('paas_desired', 'app/' || NEW.id);
    END IF;
    IF TG_OP = 'INSERT' OR NEW.status_seq <> OLD.status_seq THEN
        PERFORM pg_notify('paas_status', 'app/' || NEW.id);
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_apps_notify AFTER INSERT OR UPDATE OR DELETE ON paas_apps
    FOR EACH ROW EXECUTE FUNCTION paas_apps_notify();

-- +goose StatementBegin
-- paas_env_vars_bump: an env change is a spec change of its app.
CREATE FUNCTION paas_env_vars_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE paas_apps SET env_revision = env_revision + 1
     WHERE id = COALESCE(NEW.app_id, OLD.app_id);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_env_vars_bump AFTER INSERT OR UPDATE OR DELETE ON paas_env_vars
    FOR EACH ROW EXECUTE FUNCTION paas_env_vars_bump();

-- +goose StatementBegin
-- paas_organizations_notify: suspension changes the desired replicas of
-- every app of the organization, so wake their reconcilers.
CREATE FUNCTION paas_organizations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.suspended IS DISTINCT FROM OLD.suspended THEN
        PERFORM pg_notify('paas_desired', 'app/' || a.id)
           FROM paas_apps a WHERE a.organization_id = NEW.id;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_organizations_notify AFTER UPDATE ON paas_organizations
    FOR EACH ROW EXECUTE FUNCTION paas_organizations_notify();

-- +goose StatementBegin
-- paas_plans_notify: apps render their resources from their plan's row, so
-- a change of a plan's CPU or memory wakes every app on it.
CREATE FUNCTION paas_plans_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.cpu_millis, NEW.memory_mb) IS DISTINCT FROM (OLD.cpu_millis, OLD.memory_mb) THEN
        PERFORM pg_notify('paas_desired', 'app/' || a.id)
           FROM paas_apps a WHERE a.plan_id = NEW.id;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_plans_notify AFTER UPDATE ON paas_plans
    FOR EACH ROW EXECUTE FUNCTION paas_plans_notify();

-- +goose StatementBegin
-- paas_ledger_apply: the ledger is append-only and the wallet balance is its sum.
CREATE FUNCTION paas_ledger_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'paas_ledger is append-only' USING ERRCODE = 'restrict_violation';
    END IF;
    INSERT INTO paas_wallets (organization_id, balance_micros, updated_at)
         VALUES (NEW.organization_id, NEW.amount_micros, now())
    ON CONFLICT (organization_id) DO UPDATE
         SET balance_micros = paas_wallets.balance_micros + EXCLUDED.balance_micros,
             updated_at = now();
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_ledger_apply BEFORE INSERT OR UPDATE OR DELETE ON paas_ledger
    FOR EACH ROW EXECUTE FUNCTION paas_ledger_apply();

-- +goose Down
DROP TABLE paas_app_tombstones, paas_audit_log, paas_notifications, paas_events, paas_settings, paas_worker_nodes,
    paas_ledger, paas_wallets, paas_domains, paas_env_vars, paas_apps, paas_deployments,
    paas_plans, paas_api_tokens, paas_memberships, paas_users, paas_organizations CASCADE;
DROP SEQUENCE paas_status_seq;
DROP FUNCTION paas_plans_notify, paas_apps_insert_seq, paas_apps_bump, paas_apps_notify, paas_env_vars_bump, paas_organizations_notify, paas_ledger_apply;
