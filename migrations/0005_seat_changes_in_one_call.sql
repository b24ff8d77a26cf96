-- depends: 0004_holds_showtime_expiry_index
-- Every seat change of a showtime is one server-side call (a function below) that takes the
-- showtime's advisory lock, makes the whole change and returns; the lock is released when that
-- call's transaction commits, with no client round trip in between. The version bump and the
-- NOTIFY of the live map happen in triggers on seat_claims, so no change can forget them.
--
-- A refusal (a seat taken, a showtime started, ...) is raised as the exception
-- 'seat_change_refused' (SQLSTATE P0001) whose DETAIL is {"error": code, "details": {...}}: the
-- whole call is undone (expired holds it freed included), nothing is announced, and the service
-- turns the code into its error (reservations/booking/errors.py).

-- --- announcing changes -----------------------------------------------------------------------

-- Bump showtime versions and queue the NOTIFY of the changes (seat ids and their new status, in
-- parallel arrays, several showtimes allowed): one version per chunk of at most 100 seats, so a
-- payload stays far below PostgreSQL's 8000 bytes (about 57 bytes a seat).
-- Payload: {"s": showtime id, "v": version, "c": [[seat id, status], ...]}.
CREATE FUNCTION announce_seat_changes(p_showtime_ids uuid[], p_seat_ids uuid[], p_statuses text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    chunk record;
    new_version bigint;
BEGIN
    IF cardinality(p_seat_ids) <= 100
       AND p_showtime_ids[1] = ALL(p_showtime_ids)
    THEN  -- the usual case, one chunk: no window, no loop
        UPDATE showtimes SET version = version + 1 WHERE id = p_showtime_ids[1]
        RETURNING version INTO new_version;
        IF FOUND THEN
            PERFORM pg_notify('seat_changes', json_build_object(
                's', p_showtime_ids[1],
                'v', new_version,
                'c', (SELECT json_agg(json_build_array(c.seat_id, c.status) ORDER BY c.n)
                      FROM unnest(p_seat_ids, p_statuses) WITH ORDINALITY AS c(seat_id, status, n))
            )::text);
        END IF;
        RETURN;
    END IF;
    FOR chunk IN
        SELECT numbered.showtime_id,
               json_agg(json_build_array(numbered.seat_id, numbered.status) ORDER BY numbered.n)
                   AS changes
        FROM (
            SELECT c.showtime_id, c.seat_id, c.status, c.n,
                   (row_number() OVER (PARTITION BY c.showtime_id ORDER BY c.n) - 1) / 100 AS part
            FROM unnest(p_showtime_ids, p_seat_ids, p_statuses)
                 WITH ORDINALITY AS c(showtime_id, seat_id, status, n)
        ) AS numbered
        GROUP BY numbered.showtime_id, numbered.part
        ORDER BY numbered.showtime_id, numbered.part
    LOOP
        UPDATE showtimes SET version = version + 1 WHERE id = chunk.showtime_id
        RETURNING version INTO new_version;
        IF FOUND THEN  -- not when the showtime itself is being deleted
            PERFORM pg_notify(
                'seat_changes',
                json_build_object('s', chunk.showtime_id, 'v', new_version, 'c', chunk.changes)::text
            );
        END IF;
    END LOOP;
END;
$$;

CREATE FUNCTION seat_claims_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM announce_seat_changes(
        array_agg(showtime_id),
        array_agg(seat_id),
        array_agg(CASE WHEN reservation_id IS NULL THEN 'held' ELSE 'sold' END)
    )
    FROM inserted_claims;
    RETURN NULL;
END;
$$;

CREATE FUNCTION seat_claims_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM announce_seat_changes(
        array_agg(n.showtime_id),
        array_agg(n.seat_id),
        array_agg(CASE WHEN n.reservation_id IS NULL THEN 'held' ELSE 'sold' END)
    )
    FROM new_claims n
    JOIN old_claims o ON o.showtime_id = n.showtime_id AND o.seat_id = n.seat_id
    WHERE (n.reservation_id IS NULL) <> (o.reservation_id IS NULL);
    RETURN NULL;
END;
$$;

CREATE FUNCTION seat_claims_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM announce_seat_changes(
        array_agg(showtime_id), array_agg(seat_id), array_agg('available'::text)
    )
    FROM deleted_claims;
    RETURN NULL;
END;
$$;

CREATE TRIGGER seat_claims_announce_insert AFTER INSERT ON seat_claims
REFERENCING NEW TABLE AS inserted_claims
FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_inserted();

CREATE TRIGGER seat_claims_announce_update AFTER UPDATE ON seat_claims
REFERENCING OLD TABLE AS old_claims NEW TABLE AS new_claims
FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_updated();

CREATE TRIGGER seat_claims_announce_delete AFTER DELETE ON seat_claims
REFERENCING OLD TABLE AS deleted_claims
FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_deleted();

-- A showtime's price, times or cancellation changed (updated_at moves with each, but a hand-made
-- change may forget it): instances drop their cached seat map of it. Payload: the showtime id.
CREATE FUNCTION showtime_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('showtime_changes', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER showtimes_announce_update AFTER UPDATE ON showtimes
FOR EACH ROW WHEN (
    OLD.updated_at IS DISTINCT FROM NEW.updated_at
    OR OLD.price IS DISTINCT FROM NEW.price
    OR OLD.start_time IS DISTINCT FROM NEW.start_time
    OR OLD.cancelled_at IS DISTINCT FROM NEW.cancelled_at
)
EXECUTE FUNCTION showtime_changed();

-- --- the start of every seat change -----------------------------------------------------------

-- The advisory lock of a showtime, held until the transaction ends (key: its id as text). The
-- time spent waiting for it is taken off the lock_timeout left to the rest of the transaction
-- (at least 1 ms; 0, no limit, stays 0): behind a row pinned from outside, the requests queued
-- for this lock would otherwise wait once for it and once more for the row, twice the bound.
CREATE FUNCTION lock_showtime(p_showtime_id uuid) RETURNS void LANGUAGE plpgsql AS $$
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

-- What every hold records when it ends by expiry: since when it was held (a hold that reached
-- its lifetime cap has the same user wait HOLD_COOLDOWN_SECONDS before holding the showtime
-- again, so that a hall cannot be held forever by renewing).
ALTER TABLE expired_holds ADD COLUMN held_since timestamptz;

-- Delete up to p_limit (NULL: all) holds of the showtime expired at p_now, oldest first, noting
-- each in expired_holds (so that booking can answer hold_expired, and for the cooldown). The
-- caller holds the showtime's lock. (holds deleted, seats freed).
CREATE FUNCTION free_expired_holds(p_showtime_id uuid, p_now timestamptz, p_limit integer)
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

-- A showtime as a seat change needs it, with the database clock read after the lock, and
-- whether the lock was free when asked for (alone): work that refuses nothing, the gap rule's
-- warning, is done under the lock only when nobody was changing the showtime.
CREATE TYPE seat_change_showtime AS (
    id           uuid,
    theater_id   uuid,
    price        numeric(10, 2),
    start_time   timestamptz,
    cancelled_at timestamptz,
    now          timestamptz,
    alone        boolean
);

-- Lock the showtime, read it and the clock, free its expired holds. All NULL if unknown.
CREATE FUNCTION begin_seat_change(p_showtime_id uuid)
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
CREATE FUNCTION seat_change_refusal(showtime seat_change_showtime)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN showtime.id IS NULL OR showtime.cancelled_at IS NOT NULL THEN 'showtime_not_found'
        WHEN showtime.start_time <= showtime.now THEN 'showtime_started'
    END;
$$;

CREATE FUNCTION refuse_seat_change(code text, details jsonb DEFAULT '{}')
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
CREATE FUNCTION open_seat_change(p_showtime_id uuid)
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

-- The user's hold on the showtime once p_adding is in it (hold_seat_ids), and the empty seats
-- that hold strands among everyone else's claims (stranded_seat_ids), each front row first, left
-- to right. A seat is stranded when it is empty, has a neighbour in its block (seats on
-- consecutive columns of a row), and each neighbour is taken or an aisle or wall; seats the
-- others alone strand are not counted. Ids not in the theater are left out of both. Only the rows
-- of the seats asked for and of the user's hold are read: a seat's fate depends on its row alone.
-- (reservations/booking/best_seats.py states the same rule for best-available's search.)
CREATE FUNCTION stranded_seats_of_hold(
    p_showtime_id uuid, p_theater_id uuid, p_user_id uuid, p_adding uuid[]
) RETURNS TABLE (hold_seat_ids uuid[], stranded_seat_ids uuid[])
LANGUAGE sql STABLE AS $$
    WITH hall AS MATERIALIZED (
        SELECT s.id,
               s.row_index,
               s.column_index,
               coalesce(
                   c.reservation_id IS NOT NULL
                   OR (h.expires_at > now() AND h.user_id IS DISTINCT FROM p_user_id),
                   false
               ) AS others,
               s.id = ANY(p_adding)
               OR coalesce(h.user_id = p_user_id AND h.expires_at > now(), false) AS mine
        FROM seats s
        LEFT JOIN seat_claims c ON c.showtime_id = p_showtime_id AND c.seat_id = s.id
        LEFT JOIN holds h ON h.id = c.hold_id
        WHERE s.theater_id = p_theater_id
          AND s.row_index = ANY(ARRAY(
                SELECT row_index FROM seats WHERE id = ANY(p_adding) AND theater_id = p_theater_id
                UNION
                SELECT held.row_index
                FROM holds mine
                JOIN seat_claims c ON c.hold_id = mine.id
                JOIN seats held ON held.id = c.seat_id
                WHERE mine.showtime_id = p_showtime_id
                  AND mine.user_id = p_user_id
                  AND mine.expires_at > now()
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

-- --- holds --------------------------------------------------------------------------------------

CREATE INDEX holds_user_idx ON holds (user_id, expires_at);

-- Put the seats p_seat_ids (distinct) in the user's hold on the showtime, all or none: creates
-- the hold or adds to it and renews it (never past created_at + p_max_lifetime_seconds). Refuses
-- with showtime_not_found, showtime_started, unknown_seats, seat_unavailable, too_many_seats,
-- too_many_showtimes_held, hold_cooldown, would_strand_seat (p_gap_rule 'enforce'). Answers the
-- hold: hold_id, showtime_id, locked_seat_ids (front row first), expires_at, now, total_price
-- (of the held seats at today's prices), stranded_seat_ids, stranded_seats_checked (false: under
-- 'warn' with others waiting, left for the service to read after the commit), added (seats new
-- in the hold).
CREATE FUNCTION hold_seats(
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

-- Release the seats p_seat_ids (NULL: all) of the user's hold on the showtime; the seats freed.
-- An emptied hold is kept until it expires, with its created_at: holding again soon after
-- continues the same hold and its lifetime cap instead of starting a fresh one.
CREATE FUNCTION release_held_seats(p_showtime_id uuid, p_user_id uuid, p_seat_ids uuid[])
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    showtime seat_change_showtime;
    freed uuid[];
BEGIN
    showtime := begin_seat_change(p_showtime_id);
    IF showtime.id IS NULL OR showtime.cancelled_at IS NOT NULL THEN
        RETURN refuse_seat_change('showtime_not_found');
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

-- --- reservations -------------------------------------------------------------------------------

-- Turn the user's live hold on the seats p_seat_ids (distinct) into a confirmed reservation,
-- priced now (showtime price x seat type multiplier), with the first free code of
-- p_ticket_codes. With an Idempotency-Key: request_in_flight while another request with the key
-- runs, the earlier reservation (created false) for a retry with the same p_request_hash,
-- idempotency_key_reused for another. Refuses with showtime_not_found, showtime_started,
-- hold_expired or seats_not_held (details.seat_ids: the seats not held), price_changed (the
-- total is not p_expected_total, when given). Answers reservation_id and created.
CREATE FUNCTION book_held_seats(
    p_showtime_id uuid,
    p_user_id uuid,
    p_seat_ids uuid[],
    p_ticket_codes text[],
    p_idempotency_key text,
    p_request_hash text,
    p_expected_total numeric
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    earlier idempotency_keys%ROWTYPE;
    showtime seat_change_showtime;
    the_hold uuid;
    missing uuid[];
    expired_ids uuid[];
    booked_total numeric;
    ticket text;
    booked uuid;
BEGIN
    IF p_idempotency_key IS NOT NULL THEN
        IF NOT pg_try_advisory_xact_lock(
            hashtextextended(p_user_id::text || ':' || p_idempotency_key, 728)
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
    SELECT coalesce(array_agg(r.seat_id ORDER BY r.n), '{}') INTO missing
    FROM unnest(p_seat_ids) WITH ORDINALITY AS r(seat_id, n)
    WHERE NOT EXISTS (
        SELECT 1 FROM seat_claims c
        WHERE c.showtime_id = p_showtime_id AND c.seat_id = r.seat_id AND c.hold_id = the_hold
    );
    IF cardinality(missing) > 0 THEN
        SELECT e.seat_ids INTO expired_ids FROM expired_holds e
        WHERE e.showtime_id = p_showtime_id AND e.user_id = p_user_id;
        RETURN refuse_seat_change(
            CASE WHEN expired_ids && missing THEN 'hold_expired' ELSE 'seats_not_held' END,
            jsonb_build_object('seat_ids', missing)
        );
    END IF;

    SELECT coalesce(sum(round(showtime.price * t.price_multiplier, 2)), 0) INTO booked_total
    FROM seats s JOIN seat_types t ON t.name = s.seat_type
    WHERE s.id = ANY(p_seat_ids);
    IF p_expected_total IS NOT NULL AND p_expected_total <> booked_total THEN
        RETURN refuse_seat_change('price_changed', jsonb_build_object(
            'expected_total', to_char(p_expected_total, 'FM999999999990.00'),
            'total_price', to_char(booked_total, 'FM999999999990.00')
        ));
    END IF;

    FOREACH ticket IN ARRAY p_ticket_codes LOOP
        INSERT INTO reservations (user_id, showtime_id, total_price, ticket_code, created_at,
                                  updated_at)
        VALUES (p_user_id, p_showtime_id, booked_total, ticket, showtime.now, showtime.now)
        ON CONFLICT (ticket_code) DO NOTHING
        RETURNING id INTO booked;
        EXIT WHEN booked IS NOT NULL;
    END LOOP;
    IF booked IS NULL THEN
        RAISE EXCEPTION 'every ticket code offered is taken';
    END IF;
    INSERT INTO reservation_seats (reservation_id, seat_id, price)
    SELECT booked, s.id, round(showtime.price * t.price_multiplier, 2)
    FROM seats s JOIN seat_types t ON t.name = s.seat_type
    WHERE s.id = ANY(p_seat_ids);
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

-- Cancel a confirmed reservation before its show starts, by its owner (p_user_id) or an admin:
-- the record stays, its seats are free at once. A cancelled one is left as it is. Refuses with
-- reservation_not_found (also for someone else's) and showtime_started. Answers the reason it
-- was cancelled now (NULL if it already was).
CREATE FUNCTION cancel_reservation(p_reservation_id uuid, p_user_id uuid, p_is_admin boolean)
RETURNS jsonb LANGUAGE plpgsql AS $$
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
CREATE FUNCTION cancel_showtime(p_showtime_id uuid) RETURNS void LANGUAGE plpgsql AS $$
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
CREATE FUNCTION sweep_showtime(p_showtime_id uuid, p_limit integer)
RETURNS TABLE (holds integer, seats integer) LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_showtime_id::text, 727)) THEN
        RETURN QUERY SELECT 0, 0;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM free_expired_holds(p_showtime_id, clock_timestamp(), p_limit);
END;
$$;
