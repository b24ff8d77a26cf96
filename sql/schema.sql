-- The whole schema as migrations/ leave it, for reading: the migrations are what the database
-- runs. Written by `make schema` (python -m reservations.schema_dump) from pg_dump 16;
-- tests/test_schema.py checks that it matches.

SET check_function_bodies = false;

CREATE TYPE seat_change_showtime AS (
	id uuid,
	theater_id uuid,
	price numeric(10,2),
	start_time timestamp with time zone,
	cancelled_at timestamp with time zone,
	now timestamp with time zone,
	alone boolean
);

CREATE FUNCTION announce_seat_changes(p_showtime_ids uuid[], p_seat_ids uuid[], p_statuses text[]) RETURNS void
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION begin_seat_change(p_showtime_id uuid) RETURNS seat_change_showtime
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION book_held_seats(p_showtime_id uuid, p_user_id uuid, p_seat_ids uuid[], p_ticket_codes text[], p_idempotency_key text, p_request_hash text, p_expected_total numeric) RETURNS jsonb
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE FUNCTION cancel_reservation(p_reservation_id uuid, p_user_id uuid, p_is_admin boolean) RETURNS jsonb
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE FUNCTION cancel_showtime(p_showtime_id uuid) RETURNS void
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE FUNCTION free_expired_holds(p_showtime_id uuid, p_now timestamp with time zone, p_limit integer) RETURNS TABLE(holds integer, seats integer)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION hold_seats(p_showtime_id uuid, p_user_id uuid, p_seat_ids uuid[], p_hold_seconds integer, p_max_lifetime_seconds integer, p_max_seats integer, p_max_showtimes integer, p_cooldown_seconds integer, p_gap_rule text) RETURNS jsonb
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE FUNCTION lock_showtime(p_showtime_id uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION open_seat_change(p_showtime_id uuid) RETURNS seat_change_showtime
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION refuse_seat_change(code text, details jsonb DEFAULT '{}'::jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'P0001',
        MESSAGE = 'seat_change_refused',
        DETAIL = jsonb_build_object('error', code, 'details', details)::text;
END;
$$;

CREATE FUNCTION release_held_seats(p_showtime_id uuid, p_user_id uuid, p_seat_ids uuid[]) RETURNS jsonb
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE TABLE movies (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    title text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    duration_minutes integer NOT NULL,
    release_date date,
    poster_file text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    CONSTRAINT movies_description_check CHECK ((length(description) <= 5000)),
    CONSTRAINT movies_duration_minutes_check CHECK (((duration_minutes >= 1) AND (duration_minutes <= 1440))),
    CONSTRAINT movies_title_check CHECK (((length(title) >= 1) AND (length(title) <= 200)))
);

CREATE TABLE reservation_seats (
    reservation_id uuid NOT NULL,
    seat_id uuid NOT NULL,
    price numeric(10,2) NOT NULL,
    CONSTRAINT reservation_seats_price_check CHECK ((price >= (0)::numeric))
);

CREATE TABLE reservations (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    showtime_id uuid NOT NULL,
    status text DEFAULT 'confirmed'::text NOT NULL,
    total_price numeric(10,2) NOT NULL,
    ticket_code text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    cancelled_at timestamp with time zone,
    cancel_reason text,
    CONSTRAINT reservations_check CHECK (((status = 'cancelled'::text) = (cancelled_at IS NOT NULL))),
    CONSTRAINT reservations_status_check CHECK ((status = ANY (ARRAY['confirmed'::text, 'cancelled'::text]))),
    CONSTRAINT reservations_total_price_check CHECK ((total_price >= (0)::numeric))
);

CREATE TABLE seats (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    theater_id uuid NOT NULL,
    row_label text NOT NULL,
    seat_number integer NOT NULL,
    seat_type text NOT NULL,
    row_index integer NOT NULL,
    column_index integer NOT NULL,
    CONSTRAINT seats_column_index_check CHECK ((column_index >= 0)),
    CONSTRAINT seats_row_index_check CHECK ((row_index >= 0)),
    CONSTRAINT seats_row_label_check CHECK (((length(row_label) >= 1) AND (length(row_label) <= 5))),
    CONSTRAINT seats_seat_number_check CHECK ((seat_number > 0))
);

CREATE TABLE showtimes (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    movie_id uuid NOT NULL,
    theater_id uuid NOT NULL,
    theater_number integer NOT NULL,
    start_time timestamp with time zone NOT NULL,
    end_time timestamp with time zone NOT NULL,
    busy_until timestamp with time zone NOT NULL,
    price numeric(10,2) NOT NULL,
    version bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    cancelled_at timestamp with time zone,
    CONSTRAINT showtimes_check CHECK (((end_time > start_time) AND (busy_until >= end_time))),
    CONSTRAINT showtimes_price_check CHECK ((price >= (0)::numeric))
);

CREATE TABLE theaters (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    number integer NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT theaters_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100)))
);

CREATE VIEW reservation_details AS
 SELECT r.id,
    r.user_id,
    r.showtime_id,
    r.status,
    r.total_price,
    r.ticket_code,
    r.created_at,
    r.updated_at,
    r.cancelled_at,
    r.cancel_reason,
    st.start_time,
    st.end_time,
    st.price AS showtime_price,
    m.id AS movie_id,
    m.title AS movie_title,
    t.id AS theater_id,
    t.name AS theater_name,
    ((r.status = 'confirmed'::text) AND (st.cancelled_at IS NULL) AND (st.start_time > now())) AS is_cancellable,
    ( SELECT json_agg(json_build_object('id', s.id, 'row_label', s.row_label, 'seat_number', s.seat_number, 'seat_label', (s.row_label || s.seat_number), 'seat_type', s.seat_type, 'price', (rs.price)::text) ORDER BY s.row_index, s.column_index) AS json_agg
           FROM (reservation_seats rs
             JOIN seats s ON ((s.id = rs.seat_id)))
          WHERE (rs.reservation_id = r.id)) AS seats
   FROM (((reservations r
     JOIN showtimes st ON ((st.id = r.showtime_id)))
     JOIN movies m ON ((m.id = st.movie_id)))
     JOIN theaters t ON ((t.id = st.theater_id)));

CREATE FUNCTION reservation_rows(p_ids uuid[]) RETURNS SETOF reservation_details
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
BEGIN
    RETURN QUERY
    SELECT d.* FROM reservation_details d
    WHERE d.id = ANY(p_ids)
    ORDER BY array_position(p_ids, d.id);
END;
$$;

CREATE FUNCTION seat_change_refusal(showtime seat_change_showtime) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE
        WHEN showtime.id IS NULL OR showtime.cancelled_at IS NOT NULL THEN 'showtime_not_found'
        WHEN showtime.start_time <= showtime.now THEN 'showtime_started'
    END;
$$;

CREATE FUNCTION seat_claims_deleted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM announce_seat_changes(
        array_agg(showtime_id), array_agg(seat_id), array_agg('available'::text)
    )
    FROM deleted_claims;
    RETURN NULL;
END;
$$;

CREATE FUNCTION seat_claims_inserted() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION seat_claims_updated() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION seat_map(p_showtime_id uuid, p_user_id uuid) RETURNS TABLE(showtime_id uuid, version bigint, updated_at timestamp with time zone, now timestamp with time zone, id uuid, row_label text, seat_number integer, seat_label text, seat_type text, row_index integer, column_index integer, price numeric, status text, held_by_me boolean, held_until timestamp with time zone)
    LANGUAGE sql STABLE
    AS $$
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

CREATE FUNCTION showtime_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('showtime_changes', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE FUNCTION showtime_sales(p_showtime_id uuid) RETURNS TABLE(tickets bigint, revenue numeric)
    LANGUAGE sql STABLE
    AS $$
    SELECT count(*), sum(rs.price)
    FROM reservations r
    JOIN reservation_seats rs ON rs.reservation_id = r.id
    WHERE r.showtime_id = p_showtime_id AND r.status = 'confirmed';
$$;

CREATE FUNCTION showtimes_in_period(p_first date, p_last date, p_zone text) RETURNS SETOF showtimes
    LANGUAGE sql STABLE
    AS $$
    SELECT *
    FROM showtimes s
    WHERE s.cancelled_at IS NULL
      AND s.start_time >= p_first::timestamp AT TIME ZONE p_zone
      AND s.start_time < (p_last + 1)::timestamp AT TIME ZONE p_zone;
$$;

CREATE FUNCTION stranded_seats_of_hold(p_showtime_id uuid, p_theater_id uuid, p_user_id uuid, p_adding uuid[]) RETURNS TABLE(hold_seat_ids uuid[], stranded_seat_ids uuid[])
    LANGUAGE plpgsql STABLE
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
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

CREATE FUNCTION sweep_showtime(p_showtime_id uuid, p_limit integer) RETURNS TABLE(holds integer, seats integer)
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_showtime_id::text, 727)) THEN
        RETURN QUERY SELECT 0, 0;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM free_expired_holds(p_showtime_id, clock_timestamp(), p_limit);
END;
$$;

CREATE FUNCTION user_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('user_changes', '');
    ELSE
        PERFORM pg_notify('user_changes', OLD.id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TABLE expired_holds (
    showtime_id uuid NOT NULL,
    user_id uuid NOT NULL,
    seat_ids uuid[] NOT NULL,
    expired_at timestamp with time zone NOT NULL,
    held_since timestamp with time zone
);

CREATE TABLE genres (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    CONSTRAINT genres_name_check CHECK (((length(name) >= 1) AND (length(name) <= 50)))
);

CREATE TABLE holds (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    showtime_id uuid NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE idempotency_keys (
    user_id uuid NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    reservation_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT idempotency_keys_key_check CHECK (((length(key) >= 1) AND (length(key) <= 255)))
);

CREATE TABLE seat_claims (
    showtime_id uuid NOT NULL,
    seat_id uuid NOT NULL,
    hold_id uuid,
    reservation_id uuid,
    CONSTRAINT seat_claims_check CHECK (((hold_id IS NULL) <> (reservation_id IS NULL)))
);

CREATE VIEW live_claims AS
 SELECT c.showtime_id,
    c.seat_id,
    c.hold_id,
    c.reservation_id,
        CASE
            WHEN (c.reservation_id IS NULL) THEN 'held'::text
            ELSE 'sold'::text
        END AS status,
    h.user_id AS held_by,
    h.expires_at AS held_until
   FROM (seat_claims c
     LEFT JOIN holds h ON ((h.id = c.hold_id)))
  WHERE ((c.reservation_id IS NOT NULL) OR (h.expires_at > now()));

CREATE TABLE login_attempts (
    key text NOT NULL,
    attempts timestamp with time zone[] DEFAULT '{}'::timestamp with time zone[] NOT NULL,
    last_attempt timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT login_attempts_key_check CHECK ((length(key) <= 600))
);

CREATE TABLE movie_genres (
    movie_id uuid NOT NULL,
    genre_id uuid NOT NULL
);

CREATE TABLE seat_types (
    name text NOT NULL,
    price_multiplier numeric(4,2) NOT NULL,
    sort_order integer NOT NULL,
    CONSTRAINT seat_types_price_multiplier_check CHECK ((price_multiplier > (0)::numeric))
);

ALTER TABLE theaters ALTER COLUMN number ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME theaters_number_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    password_hash text NOT NULL,
    first_name text DEFAULT ''::text NOT NULL,
    last_name text DEFAULT ''::text NOT NULL,
    role text DEFAULT 'user'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    token_generation integer DEFAULT 0 NOT NULL,
    CONSTRAINT users_email_check CHECK (((length(email) >= 3) AND (length(email) <= 254))),
    CONSTRAINT users_first_name_check CHECK ((length(first_name) <= 100)),
    CONSTRAINT users_last_name_check CHECK ((length(last_name) <= 100)),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['user'::text, 'admin'::text])))
);

ALTER TABLE ONLY expired_holds
    ADD CONSTRAINT expired_holds_pkey PRIMARY KEY (showtime_id, user_id);

ALTER TABLE ONLY genres
    ADD CONSTRAINT genres_pkey PRIMARY KEY (id);

ALTER TABLE ONLY holds
    ADD CONSTRAINT holds_pkey PRIMARY KEY (id);

ALTER TABLE ONLY holds
    ADD CONSTRAINT holds_showtime_id_user_id_key UNIQUE (showtime_id, user_id);

ALTER TABLE ONLY idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key);

ALTER TABLE ONLY login_attempts
    ADD CONSTRAINT login_attempts_pkey PRIMARY KEY (key);

ALTER TABLE ONLY movie_genres
    ADD CONSTRAINT movie_genres_pkey PRIMARY KEY (movie_id, genre_id);

ALTER TABLE ONLY movies
    ADD CONSTRAINT movies_pkey PRIMARY KEY (id);

ALTER TABLE ONLY reservation_seats
    ADD CONSTRAINT reservation_seats_pkey PRIMARY KEY (reservation_id, seat_id);

ALTER TABLE ONLY reservations
    ADD CONSTRAINT reservations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY reservations
    ADD CONSTRAINT reservations_ticket_code_key UNIQUE (ticket_code);

ALTER TABLE ONLY seat_claims
    ADD CONSTRAINT seat_claims_pkey PRIMARY KEY (showtime_id, seat_id);

ALTER TABLE ONLY seat_types
    ADD CONSTRAINT seat_types_pkey PRIMARY KEY (name);

ALTER TABLE ONLY seats
    ADD CONSTRAINT seats_pkey PRIMARY KEY (id);

ALTER TABLE ONLY seats
    ADD CONSTRAINT seats_theater_id_row_index_column_index_key UNIQUE (theater_id, row_index, column_index);

ALTER TABLE ONLY seats
    ADD CONSTRAINT seats_theater_id_row_label_seat_number_key UNIQUE (theater_id, row_label, seat_number);

ALTER TABLE ONLY showtimes
    ADD CONSTRAINT showtimes_no_overlap EXCLUDE USING gist (int4range(theater_number, theater_number, '[]'::text) WITH &&, tstzrange(start_time, busy_until, '[)'::text) WITH &&) WHERE ((cancelled_at IS NULL));

ALTER TABLE ONLY showtimes
    ADD CONSTRAINT showtimes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY theaters
    ADD CONSTRAINT theaters_number_key UNIQUE (number);

ALTER TABLE ONLY theaters
    ADD CONSTRAINT theaters_pkey PRIMARY KEY (id);

ALTER TABLE ONLY users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

CREATE INDEX expired_holds_expired_idx ON expired_holds USING btree (expired_at);

CREATE UNIQUE INDEX genres_name_key ON genres USING btree (lower(name));

CREATE INDEX holds_expires_idx ON holds USING btree (expires_at);

CREATE INDEX holds_showtime_expires_idx ON holds USING btree (showtime_id, expires_at);

CREATE INDEX holds_user_idx ON holds USING btree (user_id, expires_at);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys USING btree (created_at);

CREATE INDEX login_attempts_last_attempt_idx ON login_attempts USING btree (last_attempt);

CREATE INDEX movie_genres_genre_idx ON movie_genres USING btree (genre_id, movie_id);

CREATE INDEX movies_live_title_idx ON movies USING btree (lower(title)) WHERE (deleted_at IS NULL);

CREATE INDEX reservation_seats_seat_idx ON reservation_seats USING btree (seat_id);

CREATE INDEX reservations_showtime_idx ON reservations USING btree (showtime_id) WHERE (status = 'confirmed'::text);

CREATE INDEX reservations_user_idx ON reservations USING btree (user_id, created_at DESC);

CREATE INDEX seat_claims_hold_idx ON seat_claims USING btree (hold_id) WHERE (hold_id IS NOT NULL);

CREATE INDEX seat_claims_reservation_idx ON seat_claims USING btree (reservation_id) WHERE (reservation_id IS NOT NULL);

CREATE INDEX showtimes_movie_idx ON showtimes USING btree (movie_id, start_time);

CREATE INDEX showtimes_start_idx ON showtimes USING btree (start_time) WHERE (cancelled_at IS NULL);

CREATE INDEX showtimes_theater_idx ON showtimes USING btree (theater_id, start_time);

CREATE UNIQUE INDEX theaters_name_key ON theaters USING btree (lower(name));

CREATE UNIQUE INDEX users_email_key ON users USING btree (lower(email));

CREATE TRIGGER seat_claims_announce_delete AFTER DELETE ON seat_claims REFERENCING OLD TABLE AS deleted_claims FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_deleted();

CREATE TRIGGER seat_claims_announce_insert AFTER INSERT ON seat_claims REFERENCING NEW TABLE AS inserted_claims FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_inserted();

CREATE TRIGGER seat_claims_announce_update AFTER UPDATE ON seat_claims REFERENCING OLD TABLE AS old_claims NEW TABLE AS new_claims FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_updated();

CREATE TRIGGER showtimes_announce_update AFTER UPDATE ON showtimes FOR EACH ROW WHEN (((old.updated_at IS DISTINCT FROM new.updated_at) OR (old.price IS DISTINCT FROM new.price) OR (old.start_time IS DISTINCT FROM new.start_time) OR (old.cancelled_at IS DISTINCT FROM new.cancelled_at))) EXECUTE FUNCTION showtime_changed();

CREATE TRIGGER users_announce_delete AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION user_changed();

CREATE TRIGGER users_announce_truncate AFTER TRUNCATE ON users FOR EACH STATEMENT EXECUTE FUNCTION user_changed();

CREATE TRIGGER users_announce_update AFTER UPDATE ON users FOR EACH ROW WHEN (((old.role IS DISTINCT FROM new.role) OR (old.token_generation IS DISTINCT FROM new.token_generation) OR (old.email IS DISTINCT FROM new.email) OR (old.first_name IS DISTINCT FROM new.first_name) OR (old.last_name IS DISTINCT FROM new.last_name) OR (old.created_at IS DISTINCT FROM new.created_at) OR (old.id IS DISTINCT FROM new.id))) EXECUTE FUNCTION user_changed();

ALTER TABLE ONLY expired_holds
    ADD CONSTRAINT expired_holds_showtime_id_fkey FOREIGN KEY (showtime_id) REFERENCES showtimes(id) ON DELETE CASCADE;

ALTER TABLE ONLY expired_holds
    ADD CONSTRAINT expired_holds_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

ALTER TABLE ONLY holds
    ADD CONSTRAINT holds_showtime_id_fkey FOREIGN KEY (showtime_id) REFERENCES showtimes(id) ON DELETE CASCADE;

ALTER TABLE ONLY holds
    ADD CONSTRAINT holds_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

ALTER TABLE ONLY idempotency_keys
    ADD CONSTRAINT idempotency_keys_reservation_id_fkey FOREIGN KEY (reservation_id) REFERENCES reservations(id);

ALTER TABLE ONLY idempotency_keys
    ADD CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

ALTER TABLE ONLY movie_genres
    ADD CONSTRAINT movie_genres_genre_id_fkey FOREIGN KEY (genre_id) REFERENCES genres(id) ON DELETE CASCADE;

ALTER TABLE ONLY movie_genres
    ADD CONSTRAINT movie_genres_movie_id_fkey FOREIGN KEY (movie_id) REFERENCES movies(id) ON DELETE CASCADE;

ALTER TABLE ONLY reservation_seats
    ADD CONSTRAINT reservation_seats_reservation_id_fkey FOREIGN KEY (reservation_id) REFERENCES reservations(id) ON DELETE CASCADE;

ALTER TABLE ONLY reservation_seats
    ADD CONSTRAINT reservation_seats_seat_id_fkey FOREIGN KEY (seat_id) REFERENCES seats(id);

ALTER TABLE ONLY reservations
    ADD CONSTRAINT reservations_showtime_id_fkey FOREIGN KEY (showtime_id) REFERENCES showtimes(id);

ALTER TABLE ONLY reservations
    ADD CONSTRAINT reservations_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id);

ALTER TABLE ONLY seat_claims
    ADD CONSTRAINT seat_claims_hold_id_fkey FOREIGN KEY (hold_id) REFERENCES holds(id) ON DELETE CASCADE;

ALTER TABLE ONLY seat_claims
    ADD CONSTRAINT seat_claims_reservation_id_fkey FOREIGN KEY (reservation_id) REFERENCES reservations(id) ON DELETE CASCADE;

ALTER TABLE ONLY seat_claims
    ADD CONSTRAINT seat_claims_seat_id_fkey FOREIGN KEY (seat_id) REFERENCES seats(id);

ALTER TABLE ONLY seat_claims
    ADD CONSTRAINT seat_claims_showtime_id_fkey FOREIGN KEY (showtime_id) REFERENCES showtimes(id) ON DELETE CASCADE;

ALTER TABLE ONLY seats
    ADD CONSTRAINT seats_seat_type_fkey FOREIGN KEY (seat_type) REFERENCES seat_types(name);

ALTER TABLE ONLY seats
    ADD CONSTRAINT seats_theater_id_fkey FOREIGN KEY (theater_id) REFERENCES theaters(id) ON DELETE CASCADE;

ALTER TABLE ONLY showtimes
    ADD CONSTRAINT showtimes_movie_id_fkey FOREIGN KEY (movie_id) REFERENCES movies(id);

ALTER TABLE ONLY showtimes
    ADD CONSTRAINT showtimes_theater_id_fkey FOREIGN KEY (theater_id) REFERENCES theaters(id);

ALTER TABLE ONLY showtimes
    ADD CONSTRAINT showtimes_theater_number_fkey FOREIGN KEY (theater_number) REFERENCES theaters(number);

-- Rows the migrations insert.

SET check_function_bodies = false;

INSERT INTO seat_types (name, price_multiplier, sort_order) VALUES ('regular', 1.00, 1);
INSERT INTO seat_types (name, price_multiplier, sort_order) VALUES ('premium', 1.25, 2);
INSERT INTO seat_types (name, price_multiplier, sort_order) VALUES ('vip', 1.50, 3);
INSERT INTO seat_types (name, price_multiplier, sort_order) VALUES ('accessible', 1.00, 4);
