-- +goose Up
-- paas_app_view is an app as the API shows it, in one row: the app, its
-- plan's name, its domains' hostnames, its env (keys and sealed values, in
-- key order) and its current release. The API's app reads (one app, a page,
-- apps by id, the admin listing) select from it, each with its own filter,
-- order and limit; Postgres inlines the view, so the lateral aggregates run
-- only for the rows a query returns.
-- a.* is expanded when the view is created: a migration that adds a
-- paas_apps column must recreate the view for the API to see it.
CREATE VIEW paas_app_view AS
SELECT a.*, p.name AS plan_name,
       COALESCE(dm.hostnames, '{}')::text[] AS hostnames,
       COALESCE(ev.env_keys, '{}')::text[] AS env_keys,
       COALESCE(ev.env_values, '{}')::bytea[] AS env_values,
       cd.version AS current_version, cd.status AS current_status, cd.image AS current_image
FROM paas_apps a
JOIN paas_plans p ON p.id = a.plan_id
LEFT JOIN paas_deployments cd ON cd.id = a.current_deployment_id
LEFT JOIN LATERAL (
    SELECT array_agg(e.key ORDER BY e.key) AS env_keys, array_agg(e.value_encrypted ORDER BY e.key) AS env_values
    FROM paas_env_vars e WHERE e.app_id = a.id
) ev ON true
LEFT JOIN LATERAL (
    SELECT array_agg(d.hostname ORDER BY d.hostname) AS hostnames FROM paas_domains d WHERE d.app_id = a.id
) dm ON true;

-- +goose Down
DROP VIEW paas_app_view;
