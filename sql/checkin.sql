-- Check-in at the door: admissions written by admit_ticket (sql/code/07_checkin.sql), the
-- admissions of a showtime, the ticket list a scanner keeps for offline use.

-- name: admit_ticket
-- One scan: $1 ticket code, $2 nonce, $3 showtime id or NULL, $4 seat ids or NULL, $5 device,
-- $6 usher id, $7 when an offline scan was made or NULL, $8 CHECKIN_OPENS_MINUTES.
SELECT outcome, checkin_id, error, details
  FROM admit_ticket(
      p_ticket_code => $1::text, p_nonce => $2::text, p_showtime_id => $3::uuid,
      p_seat_ids => $4::uuid[], p_device => $5::text, p_usher_id => $6::uuid,
      p_scanned_at => $7::timestamptz, p_opens_minutes => $8::integer
  );

-- name: undo_checkin
-- Undo check-in $1 by user $2; its id, or NULL when there is no such check-in.
SELECT undo_checkin($1::uuid, $2::uuid);

-- name: checkins_by_ids
-- Check-ins $1 (uuid[]) as the API answers them: the seats each admitted, in hall order, with
-- their labels.
SELECT c.id, c.reservation_id, c.showtime_id, c.device, c.admitted_at, c.recorded_at,
       c.undone_at, r.ticket_code,
       array_agg(a.seat_id ORDER BY s.row_index, s.column_index) AS seat_ids,
       array_agg(s.row_label || s.seat_number ORDER BY s.row_index, s.column_index)
           AS seat_labels
  FROM checkins c
  JOIN reservations r ON r.id = c.reservation_id
  JOIN admissions a ON a.checkin_id = c.id
  JOIN seats s ON s.id = a.seat_id
 WHERE c.id = ANY ($1::uuid[])
 GROUP BY c.id, r.ticket_code;

-- name: showtime_checkins
-- Every check-in of showtime $1, undone ones too, in the order they were admitted; with the
-- usher who scanned and who undid it.
SELECT c.id, c.reservation_id, c.showtime_id, c.device, c.admitted_at, c.recorded_at,
       c.undone_at, r.ticket_code, admitter.email AS admitted_by, undoer.email AS undone_by,
       array_agg(a.seat_id ORDER BY s.row_index, s.column_index) AS seat_ids,
       array_agg(s.row_label || s.seat_number ORDER BY s.row_index, s.column_index)
           AS seat_labels
  FROM checkins c
  JOIN reservations r ON r.id = c.reservation_id
  JOIN admissions a ON a.checkin_id = c.id
  JOIN seats s ON s.id = a.seat_id
  LEFT JOIN users admitter ON admitter.id = c.admitted_by
  LEFT JOIN users undoer ON undoer.id = c.undone_by
 WHERE c.showtime_id = $1
 GROUP BY c.id, r.ticket_code, admitter.email, undoer.email
 ORDER BY c.admitted_at, c.id;

-- name: showtime_door_counts
-- Showtime $1 at the door: whether it exists (NULL row otherwise), its times, the seats sold
-- (of confirmed reservations) and the seats admitted (admissions not undone).
SELECT s.id, s.start_time, s.end_time, s.cancelled_at,
       (SELECT tickets FROM showtime_sales(s.id))::int AS sold_seats,
       showtime_admitted_seats(s.id)::int AS admitted_seats
  FROM showtimes s
 WHERE s.id = $1;

-- name: showtime_tickets
-- The tickets of showtime $1 a scanner keeps to answer offline: every reservation (cancelled
-- ones too, so that a cancelled ticket is refused), its seats in hall order with labels, and
-- the seats already admitted.
SELECT r.id AS reservation_id, r.ticket_code, r.status,
       array_agg(rs.seat_id ORDER BY s.row_index, s.column_index) AS seat_ids,
       array_agg(s.row_label || s.seat_number ORDER BY s.row_index, s.column_index)
           AS seat_labels,
       coalesce(array_agg(rs.seat_id ORDER BY s.row_index, s.column_index)
                    FILTER (WHERE EXISTS (SELECT 1 FROM admissions a
                                           WHERE a.reservation_id = r.id
                                             AND a.seat_id = rs.seat_id
                                             AND a.undone_at IS NULL)),
                '{}') AS admitted_seat_ids
  FROM reservations r
  JOIN reservation_seats rs ON rs.reservation_id = r.id
  JOIN seats s ON s.id = rs.seat_id
 WHERE r.showtime_id = $1
 GROUP BY r.id
 ORDER BY r.created_at, r.id;
