-- depends: 0006_login_attempts_token_generation
-- The claims that count now, the one statement of the rule "a hold counts while expires_at >
-- now()": every claim of a confirmed reservation ('sold'), and a hold's ('held') until the
-- moment its expires_at passes, whether or not anyone has deleted it yet. Reads of seats (the
-- seat map, available seats, best-available, the gap rule) join this instead of restating it.
-- held_by and held_until are the hold's user and expiry, NULL for a sold seat.
CREATE VIEW live_claims AS
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
-- the seat's price and status ('available', 'held' or 'sold', by live_claims), held_by_me
-- when user p_user_id (may be NULL) holds it, and held_until: when the hold that makes the
-- seat 'held' expires, after which a map read now is no longer right though nothing changed.
-- Unordered: callers order by row_index, column_index.
CREATE FUNCTION seat_map(p_showtime_id uuid, p_user_id uuid)
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
           round(st.price * t.price_multiplier, 2),
           coalesce(c.status, 'available'),
           coalesce(c.held_by = p_user_id, false),
           c.held_until
    FROM showtimes st
    LEFT JOIN seats s ON s.theater_id = st.theater_id
    LEFT JOIN seat_types t ON t.name = s.seat_type
    LEFT JOIN live_claims c ON c.showtime_id = st.id AND c.seat_id = s.id
    WHERE st.id = p_showtime_id AND st.cancelled_at IS NULL;
$$;

-- The single-seat gap rule (as migrations/0005 states it) reading live_claims.
CREATE OR REPLACE FUNCTION stranded_seats_of_hold(
    p_showtime_id uuid, p_theater_id uuid, p_user_id uuid, p_adding uuid[]
) RETURNS TABLE (hold_seat_ids uuid[], stranded_seat_ids uuid[])
LANGUAGE sql STABLE AS $$
    WITH hall AS MATERIALIZED (
        SELECT s.id,
               s.row_index,
               s.column_index,
               coalesce(
                   c.claimed AND (c.status = 'sold' OR c.held_by IS DISTINCT FROM p_user_id),
                   false
               ) AS others,
               s.id = ANY(p_adding) OR coalesce(c.held_by = p_user_id, false) AS mine
        FROM seats s
        -- Each seat's claim by its primary key (LIMIT 1 keeps the planner from reading every
        -- claim of the showtime, thousands on a popular one, to join the few rows asked for).
        LEFT JOIN LATERAL (
            SELECT true AS claimed, claim.status, claim.held_by
            FROM live_claims claim
            WHERE claim.showtime_id = p_showtime_id AND claim.seat_id = s.id
            LIMIT 1
        ) c ON true
        WHERE s.theater_id = p_theater_id
          AND s.row_index = ANY(ARRAY(
                SELECT row_index FROM seats WHERE id = ANY(p_adding) AND theater_id = p_theater_id
                UNION
                SELECT held.row_index
                FROM live_claims mine
                JOIN seats held ON held.id = mine.seat_id
                WHERE mine.showtime_id = p_showtime_id AND mine.held_by = p_user_id
          ))
    )
    SELECT coalesce(array_agg(seat.id ORDER BY seat.row_index, seat.column_index)
                        FILTER (WHERE seat.mine), '{}'),
           coalesce(array_agg(seat.id ORDER BY seat.row_index, seat.column_index) FILTER (
               WHERE NOT (seat.others OR seat.mine)
                 AND (l.id IS NOT NULL OR r.id IS NOT NULL)
                 -- stranded once the hold is in ...
                 AND (l.id IS NULL OR l.others OR l.mine)
                 AND (r.id IS NULL OR r.others OR r.mine)
                 -- ... and not before it
                 AND NOT ((l.id IS NULL OR l.others) AND (r.id IS NULL OR r.others))
           ), '{}')
    FROM hall seat
    LEFT JOIN hall l ON l.row_index = seat.row_index AND l.column_index = seat.column_index - 1
    LEFT JOIN hall r ON r.row_index = seat.row_index AND r.column_index = seat.column_index + 1;
$$;
