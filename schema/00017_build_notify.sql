-- +goose Up
-- A build queued, or one that ended (which frees its app for the next
-- queued build), is announced on paas_builds as app/<app id> so the
-- leader's build runner claims at once instead of at its next poll; a
-- cancel requested of a running build as cancel/<build id>, so its runner
-- stops it at once instead of at its next lease renewal.

-- +goose StatementBegin
CREATE FUNCTION paas_builds_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        PERFORM pg_notify('paas_builds', 'app/' || NEW.app_id);
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.cancel_requested AND NOT OLD.cancel_requested AND NEW.status = 'building' THEN
        PERFORM pg_notify('paas_builds', 'cancel/' || NEW.id);
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER paas_builds_notify AFTER INSERT OR UPDATE OF status, cancel_requested ON paas_builds
    FOR EACH ROW EXECUTE FUNCTION paas_builds_notify();

-- +goose Down
DROP TRIGGER paas_builds_notify ON paas_builds;
DROP FUNCTION paas_builds_notify();
