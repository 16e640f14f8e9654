-- +goose Up
-- Each organization's apps share an overlay network of their own, so one
-- tenant's containers cannot reach another's. The network loop creates it
-- (key org/<uuid>) and records its id here: status, written by that loop
-- only. The app loop attaches services to the recorded network and waits
-- while there is none.
ALTER TABLE paas_organizations ADD COLUMN network_id text;

-- +goose StatementBegin
-- paas_organizations_notify: suspension changes the desired replicas of
-- every app of the organization, and a new network id their networks, so
-- wake their reconcilers.
CREATE OR REPLACE FUNCTION paas_organizations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.suspended, NEW.network_id) IS DISTINCT FROM (OLD.suspended, OLD.network_id) THEN
        PERFORM pg_notify('paas_desired', 'app/' || a.id)
           FROM paas_apps a WHERE a.organization_id = NEW.id;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- paas_organizations_desired: an organization created or deleted wakes the
-- network loop (payload org/<uuid>).
CREATE FUNCTION paas_organizations_desired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('paas_desired', 'org/' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_organizations_desired AFTER INSERT OR DELETE ON paas_organizations
    FOR EACH ROW EXECUTE FUNCTION paas_organizations_desired();

-- +goose Down
DROP TRIGGER paas_organizations_desired ON paas_organizations;
DROP FUNCTION paas_organizations_desired();
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION paas_organizations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.suspended IS DISTINCT FROM OLD.suspended THEN
        PERFORM pg_notify('paas_desired', 'app/' || a.id)
           FROM paas_apps a WHERE a.organization_id = NEW.id;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
ALTER TABLE paas_organizations DROP COLUMN network_id;
