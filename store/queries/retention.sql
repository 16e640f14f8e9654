-- name: PruneEvents :execrows
-- Events not seen again since before a time.
DELETE FROM paas_events WHERE last_timestamp < sqlc.arg(before)::timestamptz;

-- name: PruneAudit :execrows
DELETE FROM paas_audit_log WHERE created_at < sqlc.arg(before)::timestamptz;

-- name: PruneReleases :execrows
-- Keeps each app's newest releases (with their env snapshots) and always
-- the one it runs and any still rolling out; older ones can no longer be
-- rolled back to.
DELETE FROM paas_deployments d
USING (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY app_id ORDER BY version DESC) AS rn FROM paas_deployments
    ) ranked WHERE rn > sqlc.arg(keep)::int
) old
WHERE d.id = old.id AND d.status NOT IN ('pending', 'deploying')
  AND NOT EXISTS (SELECT 1 FROM paas_apps a WHERE a.current_deployment_id = d.id);

-- name: PruneReleaseLogs :execrows
-- Empties the rollout logs of releases finished before a time.
UPDATE paas_deployments SET log = '' WHERE finished_at < sqlc.arg(before)::timestamptz AND log <> '';

-- name: PruneAlertDeliveries :execrows
-- Node alert webhooks delivered before a time; pending and given-up ones
-- are kept.
DELETE FROM paas_alert_deliveries WHERE delivered_at < sqlc.arg(before)::timestamptz;
