-- Seat changes: versions and notifications (see reservations/booking/changes.py).

-- name: bump_showtime_version
-- One more change of showtime $1; its new version.
UPDATE showtimes SET version = version + 1 WHERE id = $1 RETURNING version;

-- name: notify_seat_changes
-- Queue a notification on channel $1 with payload $2; delivered when the transaction commits.
SELECT pg_notify($1, $2);

-- name: lock_showtime
-- The advisory lock of showtime $1 (its id as text), held until the transaction ends. The time
-- spent waiting for it is taken off the lock_timeout left to the rest of the transaction (at
-- least 1 ms; 0, no limit, stays 0): behind a row pinned from outside, the requests queued for
-- this lock would otherwise wait once for it and once more for the row, twice the bound.
WITH locked AS MATERIALIZED (
    SELECT pg_advisory_xact_lock(hashtextextended($1, 727))
)
SELECT set_config(
    'lock_timeout',
    CASE
        WHEN current_setting('lock_timeout')::interval = interval '0' THEN '0'
        ELSE greatest(
            1,
            floor(1000 * extract(epoch FROM current_setting('lock_timeout')::interval
                                            - (clock_timestamp() - statement_timestamp())))
        )::bigint::text
    END,
    true
)
FROM locked;
