-- +goose Up
-- The node alert webhook's outbox: one row per webhook to post, inserted in
-- the transaction that decides the alert (so a crash after the commit cannot
-- lose it) and posted afterwards, at least once, with retries and backoff.
-- Rows are written only while node_alert_webhook_url is set.
CREATE TABLE paas_alert_deliveries (
    -- sent as X-Paas-Delivery: stable across retries, for receivers to deduplicate
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- the exact body posted (controllers/node.Payload)
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    delivered_at     timestamptz,
    -- why the last attempt failed; kept when delivery is given up
    last_error       text NOT NULL DEFAULT ''
);
CREATE INDEX paas_alert_deliveries_pending_idx ON paas_alert_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL;

-- +goose Down
DROP TABLE paas_alert_deliveries;
