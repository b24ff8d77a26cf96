-- Seat changes: every change of a showtime's seats is one call of a function below.
--
-- Applied by every `reservations migrate`, after the migrations: sql/code/README.md.
--
-- Each entry point takes the showtime's advisory lock, makes the whole change and returns; the
-- lock is released when that call's transaction commits, with no client round trip in between.
-- The version bump and the NOTIFY of the live map happen in triggers on seat_claims
-- (01_announcements.sql), so no change can forget them.
--
-- A refusal (a seat taken, a showtime started, ...) is raised by refuse_seat_change as the
-- exception 'seat_change_refused' (SQLSTATE P0001) whose DETAIL is {"error": code, "details":
-- {...}}: the whole call is undone (expired holds it freed included), nothing is announced, and
-- the service turns the code into its error (reservations/booking/errors.py; tests/test_sql_code.py
-- checks that every code raised here has one).
--
-- PL/pgSQL keeps each statement's plan for the session, but by default it plans most of ours
-- again on every call (a plan made for the given seat ids looks cheaper than the generic one),
-- and planning was about a third of a change's time under the lock. The entry points plan once,
-- with plan_cache_mode = force_generic_plan (set for the call, so the functions they call and
-- the triggers they fire plan once too), and their lookups are written so that the generic plan
-- probes by key whatever the statistics say. They also run with enable_seqscan = off: on a
-- young database (a few dozen showtimes) the generic plans read small tables whole instead of
-- by key, and the showtimes table is not as small as it looks, since every seat change leaves
-- a dead version of its showtime's row (the version bump). On a database of 55 showtimes
-- that was 11 reads of the whole table a hold and booking, and with 8 clients booking it
-- cost about a tenth of PostgreSQL's time (260 us a booking). A table with no index to use
-- (ticket_types' default) is still read whole. The functions they call are planned under the
-- setting when a seat change runs them first in a session; one that an admin's transaction ran
-- first (sql/changes.sql) keeps that plan, which is slower but reads the same rows. Not
-- lock_showtime, open_seat_change nor begin_seat_change, which may run on their own in a
-- transaction (sql/changes.sql): a function's SET clause undoes at its exit what SET LOCAL did
-- inside it, and the lock_timeout that lock_showtime lowers must last for the rest of that
-- transaction.
--
-- The same entry points pin their search_path (pg_catalog, public, then pg_temp last, where it
-- can shadow nothing): a table or function of the same name in a schema earlier in the caller's
-- search_path (or a temporary table) cannot change what a seat change reads or writes. The
-- functions they call inherit it; lock_showtime, open_seat_change and begin_seat_change take
-- no SET clause, as above.

-- --- the start of every seat change -----------------------------------------------------------

-- The advisory lock of a showtime, held until the transaction ends (key: its id as text). The
-- time spent waiting for it is taken off the lock_timeout left to the rest of the transaction
-- (at least 1 ms; 0, no limit, stays 0): behind a row pinned from outside, the requests queued
-- for this lock would otherwise wait once for it and once more for the row, twice the bound.
CREATE OR REPLACE FUNCTION lock_showtime(p_showtime_id uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_showtime_id::text, 727));
    PERFORM set_config(
        'lock_timeout',
        CASE
            WHEN current_setting('lock_timeout')::interval = interval '0' THEN '0'
            ELSE greatest(
                1,
                floor(1000 * extract(epoch FROM current_setting('lock_timeout')::interval
                                                - (clock_timestamp() - statement_timestamp())))
            )::bigint::text
        END,
        true
    );
END;
$$;

-- Delete up to p_limit (NULL: all) holds of the showtime expired at p_now, oldest first, noting
-- each in expired_holds (so that booking can answer hold_expired, and for the cooldown). The
-- caller holds the showtime's lock. (holds deleted, seats freed).
CREATE OR REPLACE FUNCTION free_expired_holds(p_showtime_id uuid, p_now timestamptz, p_limit integer)
RETURNS TABLE (holds integer, seats integer) LANGUAGE plpgsql AS $$
BEGIN
    -- Nearly always nothing has expired: one index probe, and the statement below (whose
    -- plan is kept for the session, as in every PL/pgSQL function) is not run at all.
    IF NOT EXISTS (
        SELECT 1 FROM holds h WHERE h.showtime_id = p_showtime_id AND h.expires_at <= p_now
    ) THEN
        RETURN QUERY SELECT 0, 0;
        RETURN;
    END IF;
    RETURN QUERY
        WITH expired AS (
            SELECT id, user_id, created_at, expires_at
            FROM holds
            WHERE showtime_id = p_showtime_id AND expires_at <= p_now
            ORDER BY expires_at
            LIMIT p_limit
        ), freed AS (
            DELETE FROM seat_claims c
            USING expired e
            WHERE c.hold_id = e.id
            RETURNING c.seat_id, c.hold_id
        ), gone AS (
            DELETE FROM holds h
            USING expired e
            WHERE h.id = e.id
            RETURNING h.id
        ), noted AS (
            INSERT INTO expired_holds (showtime_id, user_id, seat_ids, expired_at, held_since)
            SELECT p_showtime_id,
                   e.user_id,
                   coalesce(
                       (SELECT array_agg(f.seat_id) FROM freed f WHERE f.hold_id = e.id), '{}'
                   ),
                   e.expires_at,
                   e.created_at
            FROM expired e
            ON CONFLICT (showtime_id, user_id) DO UPDATE
            SET seat_ids = EXCLUDED.seat_ids,
                expired_at = EXCLUDED.expired_at,
                held_since = EXCLUDED.held_since
        )
        SELECT (SELECT count(*) FROM gone)::integer, (SELECT count(*) FROM freed)::integer;
END;
$$;

-- Lock the showtime, read it and the clock, free its expired holds. All NULL if unknown.
CREATE OR REPLACE FUNCTION begin_seat_change(p_showtime_id uuid)
RETURNS seat_change_showtime LANGUAGE plpgsql AS $$
DECLARE
    showtime seat_change_showtime;
    alone boolean;
BEGIN
    alone := pg_try_advisory_xact_lock(hashtextextended(p_showtime_id::text, 727));
    IF NOT alone THEN
        PERFORM lock_showtime(p_showtime_id);
    END IF;
    SELECT s.id, s.theater_id, s.price, s.start_time, s.cancelled_at, clock_timestamp(), alone
    INTO showtime
    FROM showtimes s
    WHERE s.id = p_showtime_id;
    IF showtime.id IS NOT NULL THEN
        PERFORM free_expired_holds(p_showtime_id, showtime.now, NULL);
    END IF;
    RETURN showtime;
END;
$$;

-- Why seats of this showtime cannot change now (an error code), or NULL when they can.
CREATE OR REPLACE FUNCTION seat_change_refusal(showtime seat_change_showtime)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN showtime.id IS NULL OR showtime.cancelled_at IS NOT NULL THEN 'showtime_not_found'
        WHEN showtime.start_time <= showtime.now THEN 'showtime_started'
    END;
$$;

CREATE OR REPLACE FUNCTION refuse_seat_change(code text, details jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'P0001',
        MESSAGE = 'seat_change_refused',
        DETAIL = jsonb_build_object('error', code, 'details', details)::text;
END;
$$;

-- begin_seat_change for a change that needs the showtime open: refused when it is unknown,
-- cancelled or started.
CREATE OR REPLACE FUNCTION open_seat_change(p_showtime_id uuid)
RETURNS seat_change_showtime LANGUAGE plpgsql AS $$
DECLARE
    showtime seat_change_showtime;
    refusal text;
BEGIN
    showtime := begin_seat_change(p_showtime_id);
    refusal := seat_change_refusal(showtime);
    IF refusal IS NOT NULL THEN
        PERFORM refuse_seat_change(refusal);
    END IF;
    RETURN showtime;
END;
$$;

-- --- the single-seat gap rule -----------------------------------------------------------------

-- The seats p_mine as the user's whole hold on the showtime (hold_seat_ids), and the empty seats
-- that hold strands among everyone else's claims (stranded_seat_ids), each front row first, left
-- to right; seats the user holds that are not in p_mine count as empty. A seat is stranded
-- when it is empty, has a neighbour in its block (seats on consecutive columns of a row), and
-- each neighbour is taken or an aisle or wall; seats the others alone strand are not counted. Ids not in the theater are left out of both.
-- (reservations/booking/best_seats.py states the same rule for best-available's search.)
-- It reads only the seats within two columns of the user's, each seat's neighbours found by a window over its row: about 3 ms for
-- a row of 60 seats before (two self-joins of every seat of the rows), a few index probes now.
-- PL/pgSQL, so that its plan is kept (an SQL function that is not inlined is planned again on
-- every call).
CREATE OR REPLACE FUNCTION stranded_seats_among(
    p_showtime_id uuid, p_theater_id uuid, p_user_id uuid, p_mine uuid[]
) RETURNS TABLE (hold_seat_ids uuid[], stranded_seat_ids uuid[])
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    mine_rows integer[];
    mine_columns integer[];
BEGIN
    -- Where the user's seats will be.
    SELECT array_agg(seats.row_index), array_agg(seats.column_index)
    INTO mine_rows, mine_columns
    FROM seats
    WHERE seats.id = ANY(p_mine) AND seats.theater_id = p_theater_id;
    RETURN QUERY
    WITH hall AS (
        SELECT s.id,
               s.row_index,
               s.column_index,
               coalesce(
                   c.claimed AND (c.status = 'sold' OR c.held_by IS DISTINCT FROM p_user_id),
                   false
               ) AS others,
               s.id = ANY(p_mine) AS mine
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

-- The user's hold on the showtime once p_adding is in it, and the empty seats it strands
-- (stranded_seats_among): what holding p_adding would leave.
CREATE OR REPLACE FUNCTION stranded_seats_of_hold(
    p_showtime_id uuid, p_theater_id uuid, p_user_id uuid, p_adding uuid[]
) RETURNS TABLE (hold_seat_ids uuid[], stranded_seat_ids uuid[])
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    RETURN QUERY SELECT * FROM stranded_seats_among(
        p_showtime_id, p_theater_id, p_user_id, p_adding || held_seats_of(p_showtime_id, p_user_id)
    );
END;
$$;

-- The seats of the user's live hold on the showtime.
CREATE OR REPLACE FUNCTION held_seats_of(p_showtime_id uuid, p_user_id uuid)
RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN ARRAY(
        SELECT c.seat_id FROM live_claims c
        WHERE c.showtime_id = p_showtime_id AND c.held_by = p_user_id
    );
END;
$$;

-- The seats that the user's hold of exactly p_after strands and that its hold of p_before does
-- not, front row first: what the gap rule refuses in a change from one to the other (a
-- release, the seats booked out of a bigger hold). Seats stranded already are not the change's.
CREATE OR REPLACE FUNCTION seats_newly_stranded(
    p_showtime_id uuid, p_theater_id uuid, p_user_id uuid, p_before uuid[], p_after uuid[]
) RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
DECLARE
    before_ids uuid[];
    after_ids uuid[];
BEGIN
    SELECT g.stranded_seat_ids INTO after_ids
    FROM stranded_seats_among(p_showtime_id, p_theater_id, p_user_id, p_after) g;
    IF cardinality(after_ids) = 0 THEN
        RETURN after_ids;
    END IF;
    SELECT g.stranded_seat_ids INTO before_ids
    FROM stranded_seats_among(p_showtime_id, p_theater_id, p_user_id, p_before) g;
    RETURN ARRAY(
        SELECT seat FROM unnest(after_ids) WITH ORDINALITY AS a(seat, n)
        WHERE NOT seat = ANY(before_ids)
        ORDER BY n
    );
END;
$$;

-- --- holds --------------------------------------------------------------------------------------

-- Put the seats p_seat_ids (distinct) in the user's hold on the showtime, all or none: creates
-- the hold or adds to it and renews it (never past created_at + p_max_lifetime_seconds; a hold
-- made less than p_cooldown_seconds after the user's last one on the showtime ended continues
-- its created_at, the start of the user's unbroken holding). Refuses
-- with showtime_not_found, showtime_started, unknown_seats, seat_unavailable, too_many_seats,
-- user_seat_limit (held plus booked seats of the user for the showtime beyond p_max_user_seats),
-- too_many_showtimes_held, hold_cooldown, would_strand_seat (p_gap_rule 'enforce'). Answers the
-- hold: hold_id, showtime_id, locked_seat_ids (front row first), expires_at, now, total_price
-- (of the held seats at today's prices), stranded_seat_ids (the gap rule's warning, worked out
-- under the lock in every case), added (seats new in the hold). Each seat's claim is read by its
-- key.
CREATE OR REPLACE FUNCTION hold_seats(
    p_showtime_id uuid,
    p_user_id uuid,
    p_seat_ids uuid[],
    p_hold_seconds integer,
    p_max_lifetime_seconds integer,
    p_max_seats integer,
    p_max_showtimes integer,
    p_cooldown_seconds integer,
    p_gap_rule text,
    p_max_user_seats integer
) RETURNS jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    showtime seat_change_showtime;
    unknown_ids uuid[];
    taken_ids uuid[];
    new_ids uuid[];
    held_count integer;
    booked_count integer;
    other_showtimes integer;
    last_hold expired_holds%ROWTYPE;
    stranded_ids uuid[] := '{}';
    hold holds%ROWTYPE;
    held_ids uuid[];
    total numeric;
    holding_since timestamptz;
BEGIN
    showtime := open_seat_change(p_showtime_id);
    holding_since := showtime.now;

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
    -- Each seat, and its claim, by primary key, whatever the statistics say of the theater's
    -- seats and the showtime's claims: a cached generic plan would otherwise read all of them
    -- to join the few asked (0.7 ms instead of 0.05 for a pair in a hall of 3,000 seats).
    -- LIMIT 1 keeps each subquery a probe the planner cannot turn into a join.
    LEFT JOIN LATERAL (
        SELECT seat.id FROM seats seat
        WHERE seat.id = r.seat_id AND seat.theater_id = showtime.theater_id
        LIMIT 1
    ) s ON true
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

    -- What one customer may buy: seats held plus seats of confirmed reservations. Counted under
    -- the showtime's lock, so two sessions of the user cannot both pass it, and booking held
    -- seats moves them from one count to the other without freeing room. Each reservation's
    -- seat_count (its seats, counted only where a row was not written by the booking).
    IF cardinality(new_ids) > 0 THEN
        SELECT coalesce(sum(coalesce(
                   r.seat_count,
                   (SELECT count(*) FROM reservation_seats rs WHERE rs.reservation_id = r.id)
               )), 0)::integer
        INTO booked_count
        FROM reservations r
        WHERE r.user_id = p_user_id AND r.showtime_id = p_showtime_id AND r.status = 'confirmed';
        IF held_count + booked_count + cardinality(new_ids) > p_max_user_seats THEN
            RETURN refuse_seat_change('user_seat_limit', jsonb_build_object(
                'max_seats_per_user', p_max_user_seats,
                'held_seats', held_count,
                'booked_seats', booked_count,
                'requested_seats', cardinality(new_ids)
            ));
        END IF;
    END IF;

    IF held_count = 0 THEN
        SELECT count(*) INTO other_showtimes
        FROM holds h
        WHERE h.user_id = p_user_id
          AND h.showtime_id <> p_showtime_id
          AND h.expires_at > showtime.now
          AND EXISTS (SELECT 1 FROM seat_claims c WHERE c.hold_id = h.id);
        IF other_showtimes >= p_max_showtimes THEN
            -- Name the showtimes held, so that the person knows which to book or release.
            RETURN refuse_seat_change('too_many_showtimes_held', jsonb_build_object(
                'max_showtimes_held', p_max_showtimes,
                'held_showtimes', (
                    SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'showtime_id', s.id,
                               'movie_title', m.title,
                               'start_time', to_char(s.start_time AT TIME ZONE 'UTC',
                                                     'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
                               'hold_expires_at', to_char(h.expires_at AT TIME ZONE 'UTC',
                                                          'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')
                           ) ORDER BY s.start_time, s.id), '[]'::jsonb)
                    FROM holds h
                    JOIN showtimes s ON s.id = h.showtime_id
                    JOIN movies m ON m.id = s.movie_id
                    WHERE h.user_id = p_user_id
                      AND h.showtime_id <> p_showtime_id
                      AND h.expires_at > showtime.now
                      AND EXISTS (SELECT 1 FROM seat_claims c WHERE c.hold_id = h.id)
                )
            ));
        END IF;
        -- The user's holding of the showtime goes on across a break shorter than the
        -- cooldown: a hold that replaces one freed less than p_cooldown_seconds ago keeps its
        -- start (expired_holds.held_since), so letting a hold run out just before its cap and
        -- holding again does not start a fresh lifetime. A holding that has used its lifetime
        -- waits out the cooldown from its last hold's end.
        SELECT * INTO last_hold
        FROM expired_holds e
        WHERE e.showtime_id = p_showtime_id AND e.user_id = p_user_id;
        IF last_hold.held_since IS NOT NULL
           AND showtime.now < last_hold.expired_at + make_interval(secs => p_cooldown_seconds)
        THEN
            IF showtime.now >= last_hold.held_since + make_interval(secs => p_max_lifetime_seconds)
            THEN
                RETURN refuse_seat_change('hold_cooldown', jsonb_build_object(
                    'retry_after_seconds',
                    greatest(1, ceil(extract(epoch FROM last_hold.expired_at
                                                        + make_interval(secs => p_cooldown_seconds)
                                                        - showtime.now)))::integer
                ));
            END IF;
            holding_since := last_hold.held_since;
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
        p_showtime_id, p_user_id, holding_since,
        least(
            showtime.now + make_interval(secs => p_hold_seconds),
            holding_since + make_interval(secs => p_max_lifetime_seconds)
        )
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
           coalesce(sum(ticket_price(showtime.price, t.price_multiplier, t.surcharge,
                                     d.discount_percent, d.fixed_price)), 0)
    INTO held_ids, total
    FROM seat_claims c
    CROSS JOIN LATERAL (
        SELECT seat.id, seat.row_index, seat.column_index, seat.seat_type FROM seats seat
        WHERE seat.id = c.seat_id
        LIMIT 1
    ) s
    JOIN seat_types t ON t.name = s.seat_type
    LEFT JOIN ticket_types d ON d.is_default
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

-- Release the seats p_seat_ids (NULL: all) of the user's hold on the showtime; the seats freed.
-- An emptied hold is kept until it expires, with its created_at: holding again soon after
-- continues the same hold and its lifetime cap instead of starting a fresh one. Under p_gap_rule
-- 'enforce', a release of some of the seats that would strand a single empty seat the hold did
-- not strand is refused (would_strand_seat): what holding the rest alone would be refused for.
-- Releasing the whole hold is always allowed.
CREATE OR REPLACE FUNCTION release_held_seats_v2(
    p_showtime_id uuid, p_user_id uuid, p_seat_ids uuid[], p_gap_rule text
)
RETURNS jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    showtime seat_change_showtime;
    held uuid[];
    stranded_ids uuid[];
    freed uuid[];
BEGIN
    showtime := begin_seat_change(p_showtime_id);
    IF showtime.id IS NULL OR showtime.cancelled_at IS NOT NULL THEN
        RETURN refuse_seat_change('showtime_not_found');
    END IF;
    IF p_gap_rule = 'enforce' AND p_seat_ids IS NOT NULL THEN
        held := held_seats_of(p_showtime_id, p_user_id);
        stranded_ids := seats_newly_stranded(
            p_showtime_id, showtime.theater_id, p_user_id, held,
            ARRAY(SELECT seat FROM unnest(held) AS seat WHERE NOT seat = ANY(p_seat_ids))
        );
        IF cardinality(stranded_ids) > 0 THEN
            RETURN refuse_seat_change(
                'would_strand_seat', jsonb_build_object('stranded_seat_ids', stranded_ids)
            );
        END IF;
    END IF;
    WITH released AS (
        DELETE FROM seat_claims c
        USING holds h
        WHERE h.showtime_id = p_showtime_id
          AND h.user_id = p_user_id
          AND c.hold_id = h.id
          AND (p_seat_ids IS NULL OR c.seat_id = ANY(p_seat_ids))
        RETURNING c.seat_id
    )
    SELECT coalesce(array_agg(seat_id), '{}') INTO freed FROM released;
    RETURN jsonb_build_object('freed_seat_ids', freed);
END;
$$;

-- release_held_seats_v2 without the gap rule, as instances before it was applied to releases
-- call it. Kept until no released version calls it; then a migration drops it.
CREATE OR REPLACE FUNCTION release_held_seats(p_showtime_id uuid, p_user_id uuid, p_seat_ids uuid[])
RETURNS jsonb LANGUAGE sql
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT release_held_seats_v2(p_showtime_id, p_user_id, p_seat_ids, 'off');
$$;

-- --- reservations -------------------------------------------------------------------------------

-- Turn the user's live hold on the seats p_seat_ids (distinct) into a confirmed reservation with
-- the first free code of p_ticket_codes. Each seat is sold as the ticket type whose code is at
-- the same place in p_ticket_types (NULL, or an array shorter than p_seat_ids: the default
-- type) at ticket_price (sql/code/02_seat_reads.sql), now, under the showtime's lock; with
-- p_voucher_code its discount comes off the subtotal (never below zero), is shared among the
-- seats by price (reservation_seats.discount), and the voucher's redemption is counted
-- (redeem_voucher, sql/code/05_prices.sql). With an Idempotency-Key: request_in_flight while
-- another request with the key runs, the earlier reservation (created false) for a retry with
-- the same p_request_hash, idempotency_key_reused for another. Refuses with showtime_not_found,
-- showtime_started, hold_expired or seats_not_held (details.seat_ids: the seats not held),
-- unknown_ticket_type, voucher_invalid, voucher_exhausted, price_changed (the total charged is
-- not p_expected_total, when given), would_strand_seat (p_gap_rule 'enforce': the seats booked
-- out of a bigger hold strand a seat, as a hold of just them would). Answers reservation_id and
-- created.
CREATE OR REPLACE FUNCTION book_held_seats_v2(
    p_showtime_id uuid,
    p_user_id uuid,
    p_seat_ids uuid[],
    p_ticket_types text[],
    p_voucher_code text,
    p_ticket_codes text[],
    p_idempotency_key text,
    p_request_hash text,
    p_expected_total numeric,
    p_gap_rule text
) RETURNS jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    earlier idempotency_keys%ROWTYPE;
    showtime seat_change_showtime;
    the_hold uuid;
    missing uuid[];
    held uuid[];
    stranded_ids uuid[];
    expired_ids uuid[];
    unknown_types text[];
    seat_ids uuid[];
    type_ids uuid[];
    prices numeric[];
    subtotal numeric;
    voucher vouchers%ROWTYPE;
    discount numeric := 0;
    booked_total numeric;
    ticket text;
    booked uuid;
BEGIN
    IF p_idempotency_key IS NOT NULL THEN
        -- The key is the client's text: its lock is a two-int4 key of class 2, a keyspace
        -- apart from the bigint keys of the showtimes' locks (and from class 1, the theaters'),
        -- so no key can be chosen to block a showtime or be blocked by one.
        IF NOT pg_try_advisory_xact_lock(
            2, hashtext(p_user_id::text || ':' || p_idempotency_key)
        ) THEN
            RETURN refuse_seat_change('request_in_flight');
        END IF;
        SELECT * INTO earlier
        FROM idempotency_keys k
        WHERE k.user_id = p_user_id AND k.key = p_idempotency_key;
        IF FOUND THEN
            IF earlier.request_hash <> p_request_hash OR earlier.reservation_id IS NULL THEN
                RETURN refuse_seat_change('idempotency_key_reused');
            END IF;
            RETURN jsonb_build_object('reservation_id', earlier.reservation_id, 'created', false);
        END IF;
    END IF;

    showtime := open_seat_change(p_showtime_id);

    SELECT h.id INTO the_hold FROM holds h
    WHERE h.showtime_id = p_showtime_id AND h.user_id = p_user_id;
    -- Each seat's claim by its primary key (as in hold_seats), whatever the statistics say.
    SELECT coalesce(array_agg(r.seat_id ORDER BY r.n), '{}') INTO missing
    FROM unnest(p_seat_ids) WITH ORDINALITY AS r(seat_id, n)
    LEFT JOIN LATERAL (
        SELECT c.hold_id FROM seat_claims c
        WHERE c.showtime_id = p_showtime_id AND c.seat_id = r.seat_id
        LIMIT 1
    ) c ON true
    WHERE NOT coalesce(c.hold_id = the_hold, false);
    IF cardinality(missing) > 0 THEN
        SELECT e.seat_ids INTO expired_ids FROM expired_holds e
        WHERE e.showtime_id = p_showtime_id AND e.user_id = p_user_id;
        RETURN refuse_seat_change(
            CASE WHEN expired_ids && missing THEN 'hold_expired' ELSE 'seats_not_held' END,
            jsonb_build_object('seat_ids', missing)
        );
    END IF;

    -- Booking part of a hold under 'enforce': the rest of the hold runs out or is released, so
    -- the seats booked must pass the gap rule on their own, as a hold of just them would.
    IF p_gap_rule = 'enforce' THEN
        held := held_seats_of(p_showtime_id, p_user_id);
        IF cardinality(held) > cardinality(p_seat_ids) THEN
            stranded_ids := seats_newly_stranded(
                p_showtime_id, showtime.theater_id, p_user_id, held, p_seat_ids
            );
            IF cardinality(stranded_ids) > 0 THEN
                RETURN refuse_seat_change(
                    'would_strand_seat', jsonb_build_object('stranded_seat_ids', stranded_ids)
                );
            END IF;
        END IF;
    END IF;

    -- Each seat's ticket type (an active one by its code, the default one when not named) and
    -- its price, front row first.
    SELECT coalesce(array_agg(DISTINCT r.code) FILTER (WHERE tt.id IS NULL), '{}'),
           array_agg(r.seat_id ORDER BY s.row_index, s.column_index),
           array_agg(tt.id ORDER BY s.row_index, s.column_index),
           array_agg(ticket_price(showtime.price, st.price_multiplier, st.surcharge,
                                  tt.discount_percent, tt.fixed_price)
                     ORDER BY s.row_index, s.column_index)
    INTO unknown_types, seat_ids, type_ids, prices
    FROM unnest(p_seat_ids, p_ticket_types[1:cardinality(p_seat_ids)]) AS r(seat_id, code)
    CROSS JOIN LATERAL (
        SELECT seat.row_index, seat.column_index, seat.seat_type FROM seats seat
        WHERE seat.id = r.seat_id
        LIMIT 1
    ) s
    JOIN seat_types st ON st.name = s.seat_type
    LEFT JOIN ticket_types tt
           ON CASE WHEN r.code IS NULL THEN tt.is_default ELSE tt.code = r.code AND tt.active END;
    IF cardinality(unknown_types) > 0 THEN
        RETURN refuse_seat_change('unknown_ticket_type', jsonb_build_object('codes', unknown_types));
    END IF;
    SELECT coalesce(sum(price), 0) INTO subtotal FROM unnest(prices) AS price;

    IF p_voucher_code IS NOT NULL THEN
        SELECT * INTO voucher FROM redeem_voucher(p_voucher_code, p_showtime_id, showtime.now);
        discount := voucher_discount(voucher.discount_percent, voucher.discount_amount, subtotal);
    END IF;
    booked_total := subtotal - discount;

    IF p_expected_total IS NOT NULL AND p_expected_total <> booked_total THEN
        RETURN refuse_seat_change('price_changed', jsonb_build_object(
            'expected_total', to_char(p_expected_total, 'FM999999999990.00'),
            'total_price', to_char(booked_total, 'FM999999999990.00')
        ));
    END IF;

    FOREACH ticket IN ARRAY p_ticket_codes LOOP
        INSERT INTO reservations (user_id, showtime_id, discount, total_price, voucher_id,
                                  ticket_code, created_at, updated_at, seat_count)
        VALUES (p_user_id, p_showtime_id, discount, booked_total, voucher.id, ticket,
                showtime.now, showtime.now, cardinality(seat_ids))
        ON CONFLICT (ticket_code) DO NOTHING
        RETURNING id INTO booked;
        EXIT WHEN booked IS NOT NULL;
    END LOOP;
    IF booked IS NULL THEN
        RAISE EXCEPTION 'every ticket code offered is taken';
    END IF;
    -- The discount shared by price: each seat takes the cents between the rounded shares of
    -- the seats before it and of those up to it, so the shares add up to the discount exactly
    -- and none is more than its seat's price.
    INSERT INTO reservation_seats (reservation_id, seat_id, ticket_type_id, price, discount)
    SELECT booked, p.seat_id, p.type_id, p.price,
           CASE WHEN subtotal = 0 THEN 0
                ELSE round(discount * sum(p.price) OVER upto / subtotal, 2)
                     - round(discount * (sum(p.price) OVER upto - p.price) / subtotal, 2)
           END
    FROM unnest(seat_ids, type_ids, prices) WITH ORDINALITY AS p(seat_id, type_id, price, n)
    WINDOW upto AS (ORDER BY p.n);
    UPDATE seat_claims c
    SET hold_id = NULL, reservation_id = booked
    WHERE c.showtime_id = p_showtime_id AND c.hold_id = the_hold
      AND c.seat_id = ANY(p_seat_ids);
    DELETE FROM holds h
    WHERE h.id = the_hold
      AND NOT EXISTS (SELECT 1 FROM seat_claims c WHERE c.hold_id = h.id);
    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (user_id, key, request_hash, reservation_id)
        VALUES (p_user_id, p_idempotency_key, p_request_hash, booked);
    END IF;
    RETURN jsonb_build_object('reservation_id', booked, 'created', true);
END;
$$;

-- book_held_seats_v2 without the gap rule, as instances before it was applied to bookings
-- call it. Kept until no released version calls it; then a migration drops it.
CREATE OR REPLACE FUNCTION book_held_seats(
    p_showtime_id uuid,
    p_user_id uuid,
    p_seat_ids uuid[],
    p_ticket_types text[],
    p_voucher_code text,
    p_ticket_codes text[],
    p_idempotency_key text,
    p_request_hash text,
    p_expected_total numeric
) RETURNS jsonb LANGUAGE sql
SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT book_held_seats_v2(
        p_showtime_id, p_user_id, p_seat_ids, p_ticket_types, p_voucher_code, p_ticket_codes,
        p_idempotency_key, p_request_hash, p_expected_total, 'off'
    );
$$;

-- Cancel a confirmed reservation before its show starts, by its owner (p_user_id) or an admin:
-- the record stays, its seats are free at once. A cancelled one is left as it is. Refuses with
-- reservation_not_found (also for someone else's) and showtime_started. Answers the reason it
-- was cancelled now (NULL if it already was). A voucher it used gets its redemption back
-- (the trigger reservation_gives_back_voucher, sql/code/05_prices.sql).
CREATE OR REPLACE FUNCTION cancel_reservation(p_reservation_id uuid, p_user_id uuid, p_is_admin boolean)
RETURNS jsonb LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    owner record;
    showtime seat_change_showtime;
    reason text;
BEGIN
    SELECT r.user_id, r.showtime_id INTO owner FROM reservations r WHERE r.id = p_reservation_id;
    IF NOT FOUND OR NOT (p_is_admin OR owner.user_id = p_user_id) THEN
        RETURN refuse_seat_change('reservation_not_found');
    END IF;
    showtime := begin_seat_change(owner.showtime_id);
    IF (SELECT r.status FROM reservations r WHERE r.id = p_reservation_id FOR UPDATE)
       = 'confirmed' THEN
        IF showtime.start_time <= showtime.now THEN
            RETURN refuse_seat_change('showtime_started');
        END IF;
        reason := CASE WHEN owner.user_id = p_user_id THEN 'cancelled_by_user'
                       ELSE 'cancelled_by_admin' END;
        UPDATE reservations r
        SET status = 'cancelled', cancelled_at = showtime.now, updated_at = showtime.now,
            cancel_reason = reason
        WHERE r.id = p_reservation_id;
        DELETE FROM seat_claims c WHERE c.reservation_id = p_reservation_id;
    END IF;
    RETURN jsonb_build_object('reason', reason);
END;
$$;

-- --- showtimes and the sweeper -----------------------------------------------------------------

-- Cancel a showtime that has not started: its confirmed reservations become cancelled (reason
-- showtime_cancelled, seats kept on record), its holds and claims go. Refuses with
-- showtime_not_found (unknown or cancelled already) or showtime_started.
CREATE OR REPLACE FUNCTION cancel_showtime(p_showtime_id uuid) RETURNS void LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    showtime seat_change_showtime;
    refusal text;
BEGIN
    -- Not begin_seat_change: every claim goes below, in one statement, hence one announcement.
    PERFORM lock_showtime(p_showtime_id);
    SELECT s.id, s.theater_id, s.price, s.start_time, s.cancelled_at, clock_timestamp(), false
    INTO showtime
    FROM showtimes s
    WHERE s.id = p_showtime_id;
    refusal := seat_change_refusal(showtime);
    IF refusal IS NOT NULL THEN
        PERFORM refuse_seat_change(refusal);
    END IF;
    UPDATE showtimes s SET cancelled_at = showtime.now, updated_at = showtime.now
    WHERE s.id = p_showtime_id;
    UPDATE reservations r
    SET status = 'cancelled', cancelled_at = showtime.now, cancel_reason = 'showtime_cancelled',
        updated_at = showtime.now
    WHERE r.showtime_id = p_showtime_id AND r.status = 'confirmed';
    DELETE FROM seat_claims c WHERE c.showtime_id = p_showtime_id;
    DELETE FROM holds h WHERE h.showtime_id = p_showtime_id;
END;
$$;

-- The sweeper's work on one showtime: unless someone holds its lock (then nothing, at once),
-- free up to p_limit of its expired holds. (holds deleted, seats freed).
CREATE OR REPLACE FUNCTION sweep_showtime(p_showtime_id uuid, p_limit integer)
RETURNS TABLE (holds integer, seats integer) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_showtime_id::text, 727)) THEN
        RETURN QUERY SELECT 0, 0;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM free_expired_holds(p_showtime_id, clock_timestamp(), p_limit);
END;
$$;
