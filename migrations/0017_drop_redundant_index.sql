-- depends: 0016_reservation_seat_count
-- reservations_showtime_idx (showtime_id) WHERE status = 'confirmed' is the leading column of
-- reservations_showtime_user_idx (showtime_id, user_id), with the same predicate (0012): every
-- query it served, the other serves too. Every booking wrote both, under the showtime's lock.
DROP INDEX reservations_showtime_idx;
