-- Seat changes: versions and notifications (see reservations/booking/changes.py).

-- name: bump_showtime_version
-- One more change of showtime $1; its new version.
UPDATE showtimes SET version = version + 1 WHERE id = $1 RETURNING version;

-- name: notify_seat_changes
-- Queue a notification on channel $1 with payload $2; delivered when the transaction commits.
SELECT pg_notify($1, $2);

-- name: lock_showtime
-- The advisory lock of showtime $1 (its id as text), held until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended($1, 727));
