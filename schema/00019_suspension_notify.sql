-- +goose Up
-- An organization's apps are woken when anything their Suspended condition
-- says changes: which suspension holds them (admin or funds) and the
-- administrator's reason, not only the derived flag. A new reason alone
-- used to wait for the next resync to reach the condition's message.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION paas_organizations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.suspended, NEW.network_id, NEW.admin_suspended, NEW.admin_suspended_reason, NEW.funds_suspended)
       IS DISTINCT FROM (OLD.suspended, OLD.network_id, OLD.admin_suspended, OLD.admin_suspended_reason, OLD.funds_suspended) THEN
        PERFORM pg_notify('paas_desired', 'app/' || a.id)
           FROM paas_apps a WHERE a.organization_id = NEW.id;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION paas_organizations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.suspended, NEW.network_id) IS DISTINCT FROM (OLD.suspended, OLD.network_id) THEN
        PERFORM pg_notify('paas_desired', 'app/' || a.id)
           FROM paas_apps a WHERE a.organization_id = NEW.id;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
