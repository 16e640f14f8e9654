-- +goose Up
-- Channel paas_api tells API processes which cached answers went stale, so
-- they can serve repeated reads (GET /api/paas/apps, authentication) from
-- memory and still show every committed change as soon as it is announced.
-- Payloads are keys, never rows:
--   org/<uuid>  something an organization's app list shows changed (an app,
--               its releases, its domains);
--   auth        a user, membership, organization or API token changed: every
--               cached credential is re-read;
--   all         anything else a cached answer may show (a plan's name).
-- Postgres folds identical notifications of one transaction into one, so a
-- bulk write sends one message per organization, not one per row.

-- +goose StatementBegin
CREATE FUNCTION paas_api_notify_org(org uuid) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('paas_api', 'org/' || org) WHERE org IS NOT NULL;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION paas_api_apps_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Both sides: Postgres folds the two into one when they are equal.
    PERFORM paas_api_notify_org(OLD.organization_id);
    PERFORM paas_api_notify_org(NEW.organization_id);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_api_apps_changed AFTER INSERT OR UPDATE OR DELETE ON paas_apps
    FOR EACH ROW EXECUTE FUNCTION paas_api_apps_changed();

-- +goose StatementBegin
-- paas_api_app_child_changed: releases and domains show in their app's
-- object; the app may be gone already (cascade), and then its own trigger
-- has announced the organization.
CREATE FUNCTION paas_api_app_child_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM paas_api_notify_org(a.organization_id)
       FROM paas_apps a WHERE a.id IN (OLD.app_id, NEW.app_id);
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- Only the columns an app's object shows: a rollout appending to its
-- release's log must not make every cached page of the organization stale.
CREATE TRIGGER paas_api_deployments_changed
    AFTER INSERT OR DELETE OR UPDATE OF app_id, version, status, image ON paas_deployments
    FOR EACH ROW EXECUTE FUNCTION paas_api_app_child_changed();
CREATE TRIGGER paas_api_domains_changed
    AFTER INSERT OR DELETE OR UPDATE OF app_id, hostname ON paas_domains
    FOR EACH ROW EXECUTE FUNCTION paas_api_app_child_changed();

-- +goose StatementBegin
CREATE FUNCTION paas_api_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paas_api', 'auth');
    IF TG_TABLE_NAME = 'paas_organizations' THEN
        PERFORM paas_api_notify_org(COALESCE(NEW.id, OLD.id));
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_api_users_changed AFTER UPDATE OR DELETE ON paas_users
    FOR EACH ROW EXECUTE FUNCTION paas_api_auth_changed();
CREATE TRIGGER paas_api_memberships_changed AFTER INSERT OR UPDATE OR DELETE ON paas_memberships
    FOR EACH ROW EXECUTE FUNCTION paas_api_auth_changed();
CREATE TRIGGER paas_api_organizations_changed AFTER UPDATE OR DELETE ON paas_organizations
    FOR EACH ROW EXECUTE FUNCTION paas_api_auth_changed();
-- A token's use (last_used_at) changes nothing a cache holds.
CREATE TRIGGER paas_api_tokens_changed AFTER UPDATE OF expires_at, token_hash, user_id OR DELETE ON paas_api_tokens
    FOR EACH ROW EXECUTE FUNCTION paas_api_auth_changed();

-- +goose StatementBegin
CREATE FUNCTION paas_api_all_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paas_api', 'all');
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_api_plans_changed AFTER UPDATE OR DELETE ON paas_plans
    FOR EACH ROW EXECUTE FUNCTION paas_api_all_changed();

-- +goose Down
DROP TRIGGER paas_api_plans_changed ON paas_plans;
DROP FUNCTION paas_api_all_changed();
DROP TRIGGER paas_api_tokens_changed ON paas_api_tokens;
DROP TRIGGER paas_api_organizations_changed ON paas_organizations;
DROP TRIGGER paas_api_memberships_changed ON paas_memberships;
DROP TRIGGER paas_api_users_changed ON paas_users;
DROP FUNCTION paas_api_auth_changed();
DROP TRIGGER paas_api_domains_changed ON paas_domains;
DROP TRIGGER paas_api_deployments_changed ON paas_deployments;
DROP FUNCTION paas_api_app_child_changed();
DROP TRIGGER paas_api_apps_changed ON paas_apps;
DROP FUNCTION paas_api_apps_changed();
DROP FUNCTION paas_api_notify_org(uuid);
