-- +goose Up
-- A key rotation (paasd rotate-key) rewrites every env value sealed under the
-- old key. The plaintext does not change, so neither may the app's spec:
-- inside a transaction that set paas.resealing to 'on' (set_config(...,
-- true), local to it), updates of paas_env_vars do not bump env_revision,
-- hence no new generation, no wake-up and no release.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION paas_env_vars_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('paas.resealing', true) = 'on' THEN
        RETURN NULL;
    END IF;
    UPDATE paas_apps SET env_revision = env_revision + 1
     WHERE id = COALESCE(NEW.app_id, OLD.app_id);
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION paas_env_vars_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE paas_apps SET env_revision = env_revision + 1
     WHERE id = COALESCE(NEW.app_id, OLD.app_id);
    RETURN NULL;
END $$;
-- +goose StatementEnd
