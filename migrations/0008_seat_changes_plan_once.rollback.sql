-- hold_seats and stranded_seats_of_hold as migrations/0005 and 0007 wrote them, and the plans
-- of the other seat changes chosen per call again.
DROP FUNCTION IF EXISTS reservation_rows(uuid[]);
DROP VIEW IF EXISTS reservation_details;
ALTER FUNCTION release_held_seats(uuid, uuid, uuid[]) RESET plan_cache_mode;
ALTER FUNCTION book_held_seats(uuid, uuid, uuid[], text[], text, text, numeric)
    RESET plan_cache_mode;
ALTER FUNCTION cancel_reservation(uuid, uuid, boolean) RESET plan_cache_mode;
ALTER FUNCTION cancel_showtime(uuid) RESET plan_cache_mode;
ALTER FUNCTION sweep_showtime(uuid, integer) RESET plan_cache_mode;
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
) RETURNS jsonb LANGUAGE plpgsql AS $$
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
                 AND (c.reservation_id IS NOT NULL OR h.user_id <> p_user_id)
           ), '{}'),
           coalesce(array_agg(r.seat_id ORDER BY r.n) FILTER (
               WHERE s.id IS NOT NULL AND c.seat_id IS NULL
           ), '{}')
    INTO unknown_ids, taken_ids, new_ids
    FROM unnest(p_seat_ids) WITH ORDINALITY AS r(seat_id, n)
    LEFT JOIN seats s ON s.id = r.seat_id AND s.theater_id = showtime.theater_id
    LEFT JOIN seat_claims c ON c.showtime_id = p_showtime_id AND c.seat_id = r.seat_id
    LEFT JOIN holds h ON h.id = c.hold_id;
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

    -- Under 'warn' the warning refuses nothing: it is worked out here only when nobody else was
    -- waiting for the lock; otherwise the service works it out after the commit, outside the
    -- lock (the same function, on the committed hold), so that it holds nobody up.
    IF p_gap_rule = 'enforce' OR (p_gap_rule = 'warn' AND showtime.alone) THEN
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
        'stranded_seats_checked', p_gap_rule <> 'warn' OR showtime.alone,
        'added', cardinality(new_ids)
    );
END;
$$;
