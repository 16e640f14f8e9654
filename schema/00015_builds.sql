-- +goose Up
-- Deploy from source. An app with a row in paas_app_sources is built from
-- git: each build is a job in paas_builds, claimed by the leader's build
-- runner with FOR UPDATE SKIP LOCKED. A build holds a lease it renews while
-- it runs; a build whose lease ran out (its runner died) is requeued, or
-- failed after max attempts, so none stays 'building'. A successful build
-- pushes its image to the registry and writes the pinned digest reference
-- into the app's image, which bumps the generation: the app loop then cuts
-- the release for that generation (recorded here as generation) and pins
-- the digest as usual.
CREATE TABLE paas_app_sources (
    app_id         uuid PRIMARY KEY REFERENCES paas_apps(id) ON DELETE CASCADE,
    git_url        text NOT NULL,
    git_ref        text NOT NULL DEFAULT 'main',
    git_path       text NOT NULL DEFAULT '',
    dockerfile     text NOT NULL DEFAULT 'Dockerfile',
    builder        text NOT NULL DEFAULT 'dockerfile' CHECK (builder IN ('dockerfile', 'auto')),
    -- HMAC key of push webhooks, sealed with secret.SettingAD("webhook:<app id>").
    webhook_secret_encrypted bytea,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE paas_builds (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    app_id           uuid NOT NULL REFERENCES paas_apps(id) ON DELETE CASCADE,
    number           int NOT NULL,
    ref              text NOT NULL,
    trigger          text NOT NULL DEFAULT 'api',
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'building', 'succeeded', 'build_failed', 'cancelled', 'superseded')),
    commit_sha       text,
    cancel_requested boolean NOT NULL DEFAULT false,
    attempts         int NOT NULL DEFAULT 0,
    lease_until      timestamptz,
    step             int NOT NULL DEFAULT 0,
    steps            int NOT NULL DEFAULT 0,
    image            text,
    image_digest     text,
    -- the app generation the built image was written at: its release.
    generation       bigint,
    message          text NOT NULL DEFAULT '',
    log              text NOT NULL DEFAULT '',
    log_truncated    boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    duration_ms      bigint,
    UNIQUE (app_id, number)
);
-- One build at a time per app.
CREATE UNIQUE INDEX paas_builds_one_running ON paas_builds (app_id) WHERE status = 'building';
CREATE INDEX paas_builds_pending ON paas_builds (created_at) WHERE status IN ('queued', 'building');

-- +goose Down
DROP TABLE paas_builds;
DROP TABLE paas_app_sources;
