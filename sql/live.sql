-- The live seat map (see reservations/live/).

-- name: live_snapshot
-- The seat map of showtime $1 (the seat_map function of sql/code/02_seat_reads.sql, as the REST seat map
-- reads it), only what a snapshot sends and needs: the version, and each seat's id, status and
-- held_by_me for user $2 (NULL: anonymous), and held_until, when a held seat's hold expires (the
-- snapshot is wrong from the first of them). No rows: unknown or cancelled showtime; one row with
-- a NULL seat id: a theater without seats.
SELECT version, id, status, held_by_me, held_until
FROM seat_map($1, $2)
ORDER BY row_index, column_index;

-- name: live_snapshot_freshness
-- Whether a snapshot of showtime $1 read earlier is still right: the showtime's version (grown
-- by every seat change, in the changing transaction) and the database clock (an expiring hold
-- changes the map without a new version). No row: unknown or cancelled showtime.
SELECT version, now() AS now FROM showtimes WHERE id = $1 AND cancelled_at IS NULL;
