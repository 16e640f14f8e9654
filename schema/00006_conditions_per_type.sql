-- +goose Up
-- paas_set_conditions merges one loop's conditions into an app's list, type
-- by type: a type in upd replaces the same type in cur, every other type of
-- cur is kept, new types are added. Each loop writes only its own types
-- (app: Ready/Progressing/Degraded, scale: Suspended, ...), so two loops
-- writing at once never lose each other's update: the UPDATE that calls
-- this reads the row it locks. last_transition_time moves to at only when a
-- type's status flips or the type is new. The result is sorted by the
-- position of each type in ord (the display order the caller owns), then
-- by type.
-- +goose StatementBegin
CREATE FUNCTION paas_set_conditions(cur jsonb, upd jsonb, at timestamptz, ord text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(jsonb_agg(m.c ORDER BY array_position(ord, m.c->>'type'), m.c->>'type'), '[]'::jsonb)
    FROM (
        SELECT CASE
                   WHEN n.c IS NULL THEN o.c
                   WHEN o.c->>'status' = n.c->>'status'
                       THEN n.c || jsonb_build_object('last_transition_time', o.c->'last_transition_time')
                   ELSE n.c || jsonb_build_object('last_transition_time', to_jsonb(at))
               END AS c
          FROM jsonb_array_elements(COALESCE(cur, '[]')) AS o(c)
          LEFT JOIN jsonb_array_elements(upd) AS n(c) ON n.c->>'type' = o.c->>'type'
        UNION ALL
        SELECT n.c || jsonb_build_object('last_transition_time', to_jsonb(at))
          FROM jsonb_array_elements(upd) AS n(c)
         WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(COALESCE(cur, '[]')) AS o(c)
                            WHERE o.c->>'type' = n.c->>'type')
    ) AS m
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION paas_set_conditions(jsonb, jsonb, timestamptz, text[]);
