-- The admin console's own reads (reservations/web/admin.py). Everything it changes goes
-- through the REST API, so the rules stay in one place.

-- name: showtime_bookings
-- The reservations of showtime $1, confirmed first and then cancelled, each oldest first: who
-- booked (email and name), the seats (labels in hall order), total, ticket code and status.
-- $2: a piece of the ticket code (any case, spaces and dashes ignored), or null for all.
SELECT r.id, r.status, r.total_price, r.ticket_code, r.created_at, r.cancelled_at,
       r.cancel_reason, u.email, trim(u.first_name || ' ' || u.last_name) AS name,
       (SELECT string_agg(s.row_label || s.seat_number, ', '
                          ORDER BY s.row_index, s.column_index)
          FROM reservation_seats rs JOIN seats s ON s.id = rs.seat_id
         WHERE rs.reservation_id = r.id) AS seats,
       (SELECT count(*) FROM reservation_seats rs WHERE rs.reservation_id = r.id)::int
           AS seat_count
  FROM reservations r
  JOIN users u ON u.id = r.user_id
 WHERE r.showtime_id = $1
   AND ($2::text IS NULL
        OR strpos(replace(r.ticket_code, '-', ''), upper(translate($2::text, ' -', ''))) > 0)
 ORDER BY r.status = 'cancelled', r.created_at, r.id;

-- name: duplicate_movie_titles
-- Titles (in any case) that more than one live movie has.
SELECT lower(title) AS title_key
  FROM movies
 WHERE deleted_at IS NULL
 GROUP BY lower(title)
HAVING count(*) > 1;

-- name: theater_showtime_count
-- How many showtimes theater $1 has ever had, cancelled ones included (none: it may be deleted).
SELECT count(*)::int FROM showtimes WHERE theater_id = $1;
