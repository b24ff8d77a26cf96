-- The live seat map (see reservations/live/).

-- name: live_snapshot
-- The seat map of showtime $1 (the seat_map function of migrations/0060, as the REST seat map
-- reads it), only what a snapshot sends: the version, and each seat's id, status and held_by_me
-- for user $2 (NULL: anonymous). No rows: unknown or cancelled showtime; one row with a NULL
-- seat id: a theater without seats.
SELECT version, id, status, held_by_me
FROM seat_map($1, $2)
ORDER BY row_index, column_index;
