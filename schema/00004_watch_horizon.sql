-- +goose Up
-- paas_watch_horizon is the highest status_seq among the tombstones pruned
-- so far. A watch resuming from an event id below it may have missed a
-- deletion whose tombstone is gone, so it starts over instead (event reset).
CREATE TABLE paas_watch_horizon (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    status_seq  bigint NOT NULL DEFAULT 0
);
INSERT INTO paas_watch_horizon DEFAULT VALUES;

-- +goose Down
DROP TABLE paas_watch_horizon;
