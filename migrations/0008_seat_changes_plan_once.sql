-- depends: 0007_live_claims_and_seat_map
-- The seat changes of migrations/0005, faster under the showtime's lock, and a booking or a
-- cancellation that answers its reservation in the same round trip.
--
-- PL/pgSQL keeps each statement's plan for the session, but by default it plans most of ours
-- again on every call (a plan made for the given seat ids looks cheaper than the generic one),
-- and planning was about a third of a change's time under the lock. The entry points below plan
-- once, with plan_cache_mode = force_generic_plan (set for the call, so the functions they call
-- and the triggers they fire plan once too), and their lookups are written so that the generic
-- plan probes by key whatever the statistics say.

-- hold_seats as migrations/0005 describes it, with two changes: it reads each seat's claim by
-- its key, and it works out the gap rule's warning under 'warn' in every case, so its answer
-- has no stranded_seats_checked (0005 left the warning to a read after the commit when others
-- were waiting for the lock; the gap rule is cheap enough now to do under it).
CREATE OR REPLACE FUNCTION hold_seats(
    p_showtime_id uuid,
    p_user_id uuid,
    p_seat_ids uuid[],
    p_hold_seconds integer,
    p_max_lifetime_seconds integer,
    p_max_seats integer,
    p_max_showtimes integer,
    p_cooldown_seconds integer,
    p_gap_rule text
) RETURNS jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    showtime seat_change_showtime;
    unknown_ids uuid[];
    taken_ids uuid[];
    new_ids uuid[];
    held_count integer;
    other_showtimes integer;
    last_hold expired_holds%ROWTYPE;
    stranded_ids uuid[] := '{}';
    hold holds%ROWTYPE;
    held_ids uuid[];
    total numeric;
BEGIN
    showtime := open_seat_change(p_showtime_id);

    SELECT coalesce(array_agg(r.seat_id ORDER BY r.n) FILTER (WHERE s.id IS NULL), '{}'),
           coalesce(array_agg(r.seat_id ORDER BY r.n) FILTER (
               WHERE s.id IS NOT NULL
                 AND c.seat_id IS NOT NULL
                 AND (c.reservation_id IS NOT NULL OR c.user_id <> p_user_id)
           ), '{}'),
           coalesce(array_agg(r.seat_id ORDER BY r.n) FILTER (
               WHERE s.id IS NOT NULL AND c.seat_id IS NULL
           ), '{}')
    INTO unknown_ids, taken_ids, new_ids
    FROM unnest(p_seat_ids) WITH ORDINALITY AS r(seat_id, n)
    LEFT JOIN seats s ON s.id = r.seat_id AND s.theater_id = showtime.theater_id
    -- Each seat's claim by its primary key, whatever the statistics say of the showtime's
    -- claims (a cached generic plan would otherwise read all of them to join the few asked).
    LEFT JOIN LATERAL (
        SELECT claim.seat_id, claim.reservation_id, h.user_id
        FROM seat_claims claim
        LEFT JOIN holds h ON h.id = claim.hold_id
        WHERE claim.showtime_id = p_showtime_id AND claim.seat_id = r.seat_id
        LIMIT 1
    ) c ON true;
    IF cardinality(unknown_ids) > 0 THEN
        RETURN refuse_seat_change('unknown_seats', jsonb_build_object('seat_ids', unknown_ids));
    END IF;
    IF cardinality(taken_ids) > 0 THEN
        RETURN refuse_seat_change(
            'seat_unavailable', jsonb_build_object('unavailable_seat_ids', taken_ids)
        );
    END IF;

    SELECT count(*) INTO held_count
    FROM holds h JOIN seat_claims c ON c.hold_id = h.id
    WHERE h.showtime_id = p_showtime_id AND h.user_id = p_user_id;
    IF held_count + cardinality(new_ids) > p_max_seats THEN
        RETURN refuse_seat_change('too_many_seats', jsonb_build_object(
            'max_seats_per_hold', p_max_seats,
            'requested_total', held_count + cardinality(new_ids)
        ));
    END IF;

    IF held_count = 0 THEN
        SELECT count(*) INTO other_showtimes
        FROM holds h
        WHERE h.user_id = p_user_id
          AND h.showtime_id <> p_showtime_id
          AND h.expires_at > showtime.now
          AND EXISTS (SELECT 1 FROM seat_claims c WHERE c.hold_id = h.id);
        IF other_showtimes >= p_max_showtimes THEN
            RETURN refuse_seat_change('too_many_showtimes_held', jsonb_build_object(
                'max_showtimes_held', p_max_showtimes
            ));
        END IF;
        SELECT * INTO last_hold
        FROM expired_holds e
        WHERE e.showtime_id = p_showtime_id AND e.user_id = p_user_id;
        IF last_hold.held_since IS NOT NULL
           AND last_hold.expired_at - last_hold.held_since
               >= make_interval(secs => p_max_lifetime_seconds)
           AND showtime.now < last_hold.expired_at + make_interval(secs => p_cooldown_seconds)
        THEN
            RETURN refuse_seat_change('hold_cooldown', jsonb_build_object(
                'retry_after_seconds',
                ceil(extract(epoch FROM last_hold.expired_at
                                        + make_interval(secs => p_cooldown_seconds)
                                        - showtime.now))::integer
            ));
        END IF;
    END IF;

    -- The gap rule reads only the seats within two columns of the user's (a few index probes),
    -- so it is worked out here under both 'enforce' and 'warn'.
    IF p_gap_rule <> 'off' THEN
        SELECT g.stranded_seat_ids INTO stranded_ids
        FROM stranded_seats_of_hold(p_showtime_id, showtime.theater_id, p_user_id, p_seat_ids) g;
        IF p_gap_rule = 'enforce' AND cardinality(stranded_ids) > 0 THEN
            RETURN refuse_seat_change(
                'would_strand_seat', jsonb_build_object('stranded_seat_ids', stranded_ids)
            );
        END IF;
    END IF;

    INSERT INTO holds AS h (showtime_id, user_id, created_at, expires_at)
    VALUES (
        p_showtime_id, p_user_id, showtime.now,
        showtime.now + make_interval(secs => p_hold_seconds)
    )
    ON CONFLICT (showtime_id, user_id) DO UPDATE
    SET expires_at = least(
        showtime.now + make_interval(secs => p_hold_seconds),
        h.created_at + make_interval(secs => p_max_lifetime_seconds)
    )
    RETURNING * INTO hold;

    IF cardinality(new_ids) > 0 THEN
        INSERT INTO seat_claims (showtime_id, seat_id, hold_id)
        SELECT p_showtime_id, seat_id, hold.id FROM unnest(new_ids) AS seat_id;
    END IF;
    DELETE FROM expired_holds e WHERE e.showtime_id = p_showtime_id AND e.user_id = p_user_id;

    SELECT coalesce(array_agg(s.id ORDER BY s.row_index, s.column_index), '{}'),
           coalesce(sum(round(showtime.price * t.price_multiplier, 2)), 0)
    INTO held_ids, total
    FROM seat_claims c
    JOIN seats s ON s.id = c.seat_id
    JOIN seat_types t ON t.name = s.seat_type
    WHERE c.hold_id = hold.id;

    RETURN jsonb_build_object(
        'hold_id', hold.id,
        'showtime_id', p_showtime_id,
        'locked_seat_ids', held_ids,
        'expires_at', hold.expires_at,
        'lock_duration_minutes',
            round(greatest(extract(epoch FROM hold.expires_at - showtime.now), 0) / 60, 2),
        'total_price', to_char(total, 'FM999999999990.00'),
        'stranded_seat_ids', stranded_ids,
        'added', cardinality(new_ids)
    );
END;
$$;

-- The single-seat gap rule (as migrations/0005 states it), reading only the seats within two
-- columns of the user's, each seat's neighbours found by a window over its row: about 3 ms for
-- a row of 60 seats before (two self-joins of every seat of the rows), a few index probes now.
-- PL/pgSQL, so that its plan is kept (an SQL function that is not inlined is planned again on
-- every call).
CREATE OR REPLACE FUNCTION stranded_seats_of_hold(
    p_showtime_id uuid, p_theater_id uuid, p_user_id uuid, p_adding uuid[]
) RETURNS TABLE (hold_seat_ids uuid[], stranded_seat_ids uuid[])
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    mine_rows integer[];
    mine_columns integer[];
BEGIN
    -- Where the user's seats will be: those asked for and those the user holds.
    SELECT array_agg(mine.row_index), array_agg(mine.column_index)
    INTO mine_rows, mine_columns
    FROM (
        SELECT seats.row_index, seats.column_index FROM seats
        WHERE seats.id = ANY(p_adding) AND seats.theater_id = p_theater_id
        UNION
        SELECT held.row_index, held.column_index
        FROM live_claims held_claim
        JOIN seats held ON held.id = held_claim.seat_id
        WHERE held_claim.showtime_id = p_showtime_id AND held_claim.held_by = p_user_id
    ) AS mine;
    RETURN QUERY
    WITH hall AS (
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
          AND s.row_index = ANY(mine_rows)
          -- Only an empty seat next to one of the user's can be stranded by the hold, and
          -- whether it is depends on its own neighbours: the seats up to two columns from the
          -- user's are all it takes (a seat two columns away is read as a neighbour only).
          AND EXISTS (
              SELECT 1
              FROM unnest(mine_rows, mine_columns) AS near(row_index, column_index)
              WHERE near.row_index = s.row_index
                AND s.column_index BETWEEN near.column_index - 2 AND near.column_index + 2
          )
    ), placed AS (
        -- Each seat with its neighbours in the row: a neighbour is the seat on the next column
        -- to either side, if there is one (a gap in the columns is an aisle).
        SELECT hall.*,
               coalesce(lag(hall.column_index) OVER seat_row = hall.column_index - 1, false)
                   AS has_left,
               lag(hall.others) OVER seat_row AS left_others,
               lag(hall.mine) OVER seat_row AS left_mine,
               coalesce(lead(hall.column_index) OVER seat_row = hall.column_index + 1, false)
                   AS has_right,
               lead(hall.others) OVER seat_row AS right_others,
               lead(hall.mine) OVER seat_row AS right_mine
        FROM hall
        WINDOW seat_row AS (PARTITION BY hall.row_index ORDER BY hall.column_index)
    )
    SELECT coalesce(array_agg(seat.id ORDER BY seat.row_index, seat.column_index)
                        FILTER (WHERE seat.mine), '{}'),
           coalesce(array_agg(seat.id ORDER BY seat.row_index, seat.column_index) FILTER (
               WHERE NOT (seat.others OR seat.mine)
                 AND (seat.has_left OR seat.has_right)
                 -- stranded once the hold is in ...
                 AND (NOT seat.has_left OR seat.left_others OR seat.left_mine)
                 AND (NOT seat.has_right OR seat.right_others OR seat.right_mine)
                 -- ... and not before it
                 AND NOT ((NOT seat.has_left OR seat.left_others)
                          AND (NOT seat.has_right OR seat.right_others))
           ), '{}')
    FROM placed seat;
END;
$$;

ALTER FUNCTION release_held_seats(uuid, uuid, uuid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION book_held_seats(uuid, uuid, uuid[], text[], text, text, numeric)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION cancel_reservation(uuid, uuid, boolean) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION cancel_showtime(uuid) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION sweep_showtime(uuid, integer) SET plan_cache_mode = force_generic_plan;
-- Not open_seat_change, which best-available calls on its own in its transaction: a function's
-- SET clause undoes at its exit what SET LOCAL did inside it, and the lock_timeout that
-- lock_showtime lowers must last for the rest of that transaction.

-- A reservation as the API answers it: its seats (one JSON array, front row first), showtime,
-- movie and theater, and whether it may still be cancelled. reservations/booking/reservations.py
-- reservation_view turns a row into the answer.
CREATE VIEW reservation_details AS
SELECT r.id, r.user_id, r.showtime_id, r.status, r.total_price, r.ticket_code,
       r.created_at, r.updated_at, r.cancelled_at, r.cancel_reason,
       st.start_time, st.end_time, st.price AS showtime_price,
       m.id AS movie_id, m.title AS movie_title, t.id AS theater_id, t.name AS theater_name,
       (r.status = 'confirmed' AND st.cancelled_at IS NULL AND st.start_time > now())
           AS is_cancellable,
       (SELECT json_agg(json_build_object(
                   'id', s.id, 'row_label', s.row_label, 'seat_number', s.seat_number,
                   'seat_label', s.row_label || s.seat_number, 'seat_type', s.seat_type,
                   'price', rs.price::text)
               ORDER BY s.row_index, s.column_index)
        FROM reservation_seats rs JOIN seats s ON s.id = rs.seat_id
        WHERE rs.reservation_id = r.id) AS seats
FROM reservations r
JOIN showtimes st ON st.id = r.showtime_id
JOIN movies m ON m.id = st.movie_id
JOIN theaters t ON t.id = st.theater_id;

-- The reservations p_ids in that order. VOLATILE: called after book_held_seats or
-- cancel_reservation in the same statement (sql/booking.sql), it sees what they changed, so the
-- change and its answer are one round trip.
CREATE FUNCTION reservation_rows(p_ids uuid[]) RETURNS SETOF reservation_details
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
    SELECT d.* FROM reservation_details d
    WHERE d.id = ANY(p_ids)
    ORDER BY array_position(p_ids, d.id);
END;
$$;
