-- name: ReadBuildLogFrom :one
-- A followed build log from byte offset from_offset of its output (see
-- log_dropped), at most max_bytes of it: log_start is the offset of the
-- log's first byte still kept, log_end the offset of its end. chunk starts
-- at from_offset, or at log_start when that was dropped since.
SELECT status, log_truncated, log_dropped AS log_start,
    (log_dropped + octet_length(log))::bigint AS log_end,
    substring(convert_to(log, 'UTF8')
        FROM (GREATEST(sqlc.arg(from_offset)::bigint - log_dropped, 0) + 1)::int
        FOR sqlc.arg(max_bytes)::int)::bytea AS chunk
FROM paas_builds WHERE app_id = $1 AND number = $2;
