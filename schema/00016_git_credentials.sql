-- +goose Up
-- Git credentials of an organization: the build runner clones an http(s)
-- git URL with the credential whose host is the URL's host (HTTP basic
-- auth: a username and a token). The token is sealed like env values, with
-- secret.GitCredentialAD(<organization id>, <host>): a sealed token copied
-- to another organization's row or host does not open. The API lists hosts
-- and usernames, never tokens.
CREATE TABLE paas_git_credentials (
    organization_id uuid NOT NULL REFERENCES paas_organizations(id) ON DELETE CASCADE,
    -- lower-case host, with a port when the URL has one (git.example.com:8443).
    host            text NOT NULL CHECK (host <> '' AND host = lower(host)),
    username        text NOT NULL,
    token_encrypted bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, host)
);

-- Build logs are capped (build_log_max_bytes): appends past the cap drop
-- the log's head. log_dropped counts the bytes dropped so far, so
-- log_dropped + octet_length(log) is the log's end as a byte offset from
-- the build's first byte of output, which only grows: SSE followers of a
-- build log send only the suffix past the offset they reached, and resume
-- from it (Last-Event-ID).
ALTER TABLE paas_builds ADD COLUMN log_dropped bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE paas_builds DROP COLUMN log_dropped;
DROP TABLE paas_git_credentials;
