-- The live seat map (see reservations/live/).

-- name: live_snapshot
-- The seat map of showtime $1 in one consistent read: its version and every seat's status, with
-- held_by_me for seats held by user $2 (NULL: anonymous). No rows: unknown or cancelled showtime;
-- one row with a NULL seat id: a theater without seats. An expired hold counts as available.
SELECT showtimes.version,
       seats.id,
       CASE
           WHEN seat_claims.reservation_id IS NOT NULL THEN 'sold'
           WHEN holds.expires_at > now() THEN 'held'
           ELSE 'available'
       END AS status,
       coalesce(holds.expires_at > now() AND holds.user_id = $2, false) AS held_by_me
FROM showtimes
LEFT JOIN seats ON seats.theater_id = showtimes.theater_id
LEFT JOIN seat_claims ON seat_claims.showtime_id = showtimes.id AND seat_claims.seat_id = seats.id
LEFT JOIN holds ON holds.id = seat_claims.hold_id
WHERE showtimes.id = $1 AND showtimes.cancelled_at IS NULL
ORDER BY seats.row_index, seats.column_index;
