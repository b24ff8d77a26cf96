-- Seat reads: the claims that count now, the seat map, a reservation as the API answers it.
--
-- Applied by every `reservations migrate`, after the migrations: sql/code/README.md.

-- The price of one seat for one ticket type, the one statement of the price rule (issue 25,
-- the contract's "Prices"): the ticket type's fixed price if it has one, else the showtime's
-- price times the seat type's multiplier plus its surcharge, less the ticket type's percent,
-- rounded half up to the cent (round() on numeric rounds half away from zero, and prices are
-- never negative). Every price the service shows or charges comes from here: the seat map and
-- a hold's total (the default type), GET /showtimes/{id}/prices, and booking. Here and not in
-- 05_prices.sql because the SQL functions below are checked against it when created.
CREATE OR REPLACE FUNCTION ticket_price(
    p_showtime_price numeric,
    p_multiplier numeric,
    p_surcharge numeric,
    p_discount_percent numeric,
    p_fixed_price numeric
) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        p_fixed_price,
        round((p_showtime_price * p_multiplier + p_surcharge) * (100 - p_discount_percent) / 100, 2)
    );
$$;

-- The claims that count now, the one statement of the rule "a hold counts while expires_at >
-- now()": every claim of a confirmed reservation ('sold'), and a hold's ('held') until the
-- moment its expires_at passes, whether or not anyone has deleted it yet. Reads of seats (the
-- seat map, available seats, best-available, the gap rule) join this instead of restating it.
-- held_by and held_until are the hold's user and expiry, NULL for a sold seat.
CREATE OR REPLACE VIEW live_claims AS
SELECT c.showtime_id,
       c.seat_id,
       c.hold_id,
       c.reservation_id,
       CASE WHEN c.reservation_id IS NULL THEN 'held' ELSE 'sold' END AS status,
       h.user_id AS held_by,
       h.expires_at AS held_until
FROM seat_claims c
LEFT JOIN holds h ON h.id = c.hold_id
WHERE c.reservation_id IS NOT NULL OR h.expires_at > now();

-- The seat map of showtime p_showtime_id, the one query behind the REST seat map and the live
-- map's snapshots (sql/booking.sql seat_map, sql/live.sql live_snapshot: each selects the
-- columns it sends, and the planner, inlining this function, computes no others). One row per
-- seat of its theater (a NULL seat id for a theater without seats; no row at all when the
-- showtime is unknown or cancelled), each with the showtime's version, updated_at and now(),
-- the seat's price (for the default ticket type) and status ('available', 'held' or 'sold', by live_claims), held_by_me
-- when user p_user_id (may be NULL) holds it, and held_until: when the hold that makes the
-- seat 'held' expires, after which a map read now is no longer right though nothing changed.
-- Unordered: callers order by row_index, column_index.
CREATE OR REPLACE FUNCTION seat_map(p_showtime_id uuid, p_user_id uuid)
RETURNS TABLE (
    showtime_id  uuid,
    version      bigint,
    updated_at   timestamptz,
    now          timestamptz,
    id           uuid,
    row_label    text,
    seat_number  integer,
    seat_label   text,
    seat_type    text,
    row_index    integer,
    column_index integer,
    price        numeric,
    status       text,
    held_by_me   boolean,
    held_until   timestamptz
) LANGUAGE sql STABLE AS $$
    SELECT st.id,
           st.version,
           st.updated_at,
           now(),
           s.id,
           s.row_label,
           s.seat_number,
           s.row_label || s.seat_number,
           s.seat_type,
           s.row_index,
           s.column_index,
           ticket_price(st.price, t.price_multiplier, t.surcharge, d.discount_percent, d.fixed_price),
           coalesce(c.status, 'available'),
           coalesce(c.held_by = p_user_id, false),
           c.held_until
    FROM showtimes st
    LEFT JOIN seats s ON s.theater_id = st.theater_id
    LEFT JOIN seat_types t ON t.name = s.seat_type
    LEFT JOIN ticket_types d ON d.is_default
    LEFT JOIN live_claims c ON c.showtime_id = st.id AND c.seat_id = s.id
    WHERE st.id = p_showtime_id AND st.cancelled_at IS NULL;
$$;

-- A reservation as the API answers it: its seats (one JSON array, front row first, each with
-- its ticket type and price), what it was charged (subtotal, discount, voucher_code), showtime,
-- movie and theater, and whether it may still be cancelled. reservations/booking/reservations.py
-- reservation_view turns a row into the answer.
--
-- Read from the reservation outwards, each row it names by its key (LATERAL ... LIMIT 1, a
-- scalar subquery for the voucher): reservation_rows' generic plan, under the showtime's lock
-- after every booking, otherwise joined every showtime to movies and theaters, rescanned the
-- reservations for each, and matched vouchers by a hash (sql/code/README.md).
CREATE OR REPLACE VIEW reservation_details AS
SELECT r.id, r.user_id, r.showtime_id, r.status, r.total_price, r.ticket_code,
       r.created_at, r.updated_at, r.cancelled_at, r.cancel_reason,
       st.start_time, st.end_time, st.price AS showtime_price,
       m.id AS movie_id, m.title AS movie_title, t.id AS theater_id, t.name AS theater_name,
       (r.status = 'confirmed' AND st.cancelled_at IS NULL AND st.start_time > now())
           AS is_cancellable,
       (SELECT json_agg(json_build_object(
                   'id', s.id, 'row_label', s.row_label, 'seat_number', s.seat_number,
                   'seat_label', s.row_label || s.seat_number, 'seat_type', s.seat_type,
                   'price', rs.price::text, 'ticket_type', tt.code,
                   'ticket_type_name', tt.name)
               ORDER BY s.row_index, s.column_index)
        FROM reservation_seats rs
        JOIN seats s ON s.id = rs.seat_id
        JOIN ticket_types tt ON tt.id = rs.ticket_type_id
        WHERE rs.reservation_id = r.id) AS seats,
       r.subtotal, r.discount,
       (SELECT v.code FROM vouchers v WHERE v.id = r.voucher_id) AS voucher_code
FROM reservations r
CROSS JOIN LATERAL (
    SELECT s.start_time, s.end_time, s.price, s.cancelled_at, s.movie_id, s.theater_id
    FROM showtimes s WHERE s.id = r.showtime_id LIMIT 1
) st
CROSS JOIN LATERAL (SELECT mv.id, mv.title FROM movies mv WHERE mv.id = st.movie_id LIMIT 1) m
CROSS JOIN LATERAL (SELECT th.id, th.name FROM theaters th WHERE th.id = st.theater_id LIMIT 1) t;

-- The reservations p_ids in that order. VOLATILE: called after book_held_seats or
-- cancel_reservation in the same statement (sql/booking.sql), it sees what they changed, so the
-- change and its answer are one round trip.
CREATE OR REPLACE FUNCTION reservation_rows(p_ids uuid[]) RETURNS SETOF reservation_details
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off AS $$
BEGIN
    RETURN QUERY
    SELECT d.* FROM reservation_details d
    WHERE d.id = ANY(p_ids)
    ORDER BY array_position(p_ids, d.id);
END;
$$;
