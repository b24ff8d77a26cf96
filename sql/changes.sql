-- Seat changes: the showtime's advisory lock, for the admin changes that take it themselves
-- (moving or deleting showtimes). Versions and notifications come from the triggers on
-- seat_claims (sql/code/01_announcements.sql).

-- name: lock_showtime
-- The advisory lock of showtime $1, held until the transaction ends; the wait is taken off the
-- lock_timeout left to the rest of the transaction (see the function).
SELECT lock_showtime($1::uuid);

-- name: cancel_showtime
-- Cancel showtime $1 under its lock (reservations, holds and claims go); refused when unknown,
-- cancelled already or started.
SELECT cancel_showtime($1);
