-- The live seat map (see reservations/live/).

-- name: live_snapshot
-- The seat map of showtime $1 in one consistent read: its version and every seat's status, with
-- held_by_me for seats held by user $2 (NULL: anonymous). No rows: unknown or cancelled showtime;
-- one row with a NULL seat id: a theater without seats. An expired hold counts as available;
-- held_until, when a held seat's hold expires (the snapshot is wrong from the first of them).
SELECT showtimes.version,
       seats.id,
       CASE
           WHEN seat_claims.reservation_id IS NOT NULL THEN 'sold'
           WHEN holds.expires_at > now() THEN 'held'
           ELSE 'available'
       END AS status,
       coalesce(holds.expires_at > now() AND holds.user_id = $2, false) AS held_by_me,
       CASE
           WHEN seat_claims.reservation_id IS NULL AND holds.expires_at > now()
           THEN holds.expires_at
       END AS held_until
FROM showtimes
LEFT JOIN seats ON seats.theater_id = showtimes.theater_id
LEFT JOIN seat_claims ON seat_claims.showtime_id = showtimes.id AND seat_claims.seat_id = seats.id
LEFT JOIN holds ON holds.id = seat_claims.hold_id
WHERE showtimes.id = $1 AND showtimes.cancelled_at IS NULL
ORDER BY seats.row_index, seats.column_index;

-- name: live_snapshot_freshness
-- Whether a snapshot of showtime $1 read earlier is still right: the showtime's version (grown
-- by every seat change, in the changing transaction) and the database clock (an expiring hold
-- changes the map without a new version). No row: unknown or cancelled showtime.
SELECT version, now() AS now FROM showtimes WHERE id = $1 AND cancelled_at IS NULL;
