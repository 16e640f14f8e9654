-- +goose Up
-- paas_deploy_requests counts the API writes that ask for a new release, for
-- the max_deployments_per_hour limit. Releases are cut later by the
-- reconciler, so counting them would let a burst of writes through before
-- any is cut; the API records each request in the transaction that makes
-- it, under a per-organization lock, and forgets requests older than the
-- window as it goes. No foreign key: the insert must not lock the
-- organization's row, which app creation holds while it takes a slot.
CREATE TABLE paas_deploy_requests (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id  uuid NOT NULL,
    requested_at     timestamptz NOT NULL
);
CREATE INDEX paas_deploy_requests_org_idx ON paas_deploy_requests (organization_id, requested_at);

-- +goose Down
DROP TABLE paas_deploy_requests;
