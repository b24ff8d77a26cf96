-- Report building blocks: what every admin report (sql/reports.sql) is made of, stated once.
--
-- Applied by every `reservations migrate`, after the migrations: sql/code/README.md.
--
-- Both are SQL functions the planner inlines into the report's query, so each report stays one
-- statement that reads the period's showtimes through showtimes_start_idx and their sales by
-- index lookups.

-- The showtimes of a report's period: not cancelled, starting in [p_first 00:00, p_last + 1 day
-- 00:00) in the cinema's time zone p_zone.
CREATE OR REPLACE FUNCTION showtimes_in_period(p_first date, p_last date, p_zone text)
RETURNS SETOF showtimes LANGUAGE sql STABLE AS $$
    SELECT *
    FROM showtimes s
    WHERE s.cancelled_at IS NULL
      AND s.start_time >= p_first::timestamp AT TIME ZONE p_zone
      AND s.start_time < (p_last + 1)::timestamp AT TIME ZONE p_zone;
$$;

-- What showtime p_showtime_id sold: tickets (the seats of its confirmed reservations) and revenue
-- (the sum of their prices as booked, less each seat's share of a voucher's discount: what was
-- charged), from reservations_showtime_user_idx and reservation_seats' primary key however
-- long the history is.
CREATE OR REPLACE FUNCTION showtime_sales(p_showtime_id uuid)
RETURNS TABLE (tickets bigint, revenue numeric) LANGUAGE sql STABLE AS $$
    SELECT count(*), sum(rs.price - rs.discount)
    FROM reservations r
    JOIN reservation_seats rs ON rs.reservation_id = r.id
    WHERE r.showtime_id = p_showtime_id AND r.status = 'confirmed';
$$;

-- The seats of showtime p_showtime_id admitted at the door (issue 27): admissions not undone of
-- its confirmed reservations, through checkins_showtime_idx. No-shows are its tickets minus these.
CREATE OR REPLACE FUNCTION showtime_admitted_seats(p_showtime_id uuid)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT count(*)
    FROM checkins c
    JOIN admissions a ON a.checkin_id = c.id AND a.undone_at IS NULL
    JOIN reservations r ON r.id = c.reservation_id AND r.status = 'confirmed'
    WHERE c.showtime_id = p_showtime_id AND c.undone_at IS NULL;
$$;
