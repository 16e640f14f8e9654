-- name: ListPlans :many
SELECT * FROM paas_plans ORDER BY price_hourly_micros, name;

-- name: GetPlan :one
SELECT * FROM paas_plans WHERE id = $1;

-- name: GetPlanByName :one
SELECT * FROM paas_plans WHERE name = $1;
