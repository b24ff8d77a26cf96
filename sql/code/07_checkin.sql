-- Check-in: admitting a reservation's seats at the door, exactly once.
--
-- Applied by every `reservations migrate`, after the migrations: sql/code/README.md.
--
-- Every admission is one call of admit_ticket. It locks the reservation's row (FOR UPDATE), so
-- two scans of one ticket take turns and the second sees what the first admitted; cancelling a
-- reservation updates the same row, so a scan and a cancellation take turns too. The partial
-- unique index admissions_once (migrations/0014_checkin.sql) is the guarantee underneath: even
-- a writer that skipped the lock could not admit a seat twice, and admit_ticket turns that
-- unique violation into the same refusal.
--
-- Each admission and undo sends NOTIFY checkin_changes with the showtime's id, which the live
-- map's WebSocket passes on to the viewers of that showtime as {"type": "admissions"}
-- (reservations/live/listener.py): the usher's page refreshes its admitted/sold counter.
--
-- A refusal is not raised: admit_ticket returns it as (outcome 'refused', error, details), so a
-- batch of offline scans (POST /checkins/batch) goes on after one is refused, in one round
-- trip per scan and no savepoints. reservations/checkin/errors.py turns each code into its
-- error; tests/test_checkin.py checks that every code here has one.

-- The admissions of reservation p_reservation_id not undone, each check-in once, latest first:
-- [{checkin_id, admitted_at, device, seat_ids}], what already_admitted reports.
CREATE OR REPLACE FUNCTION live_admissions(p_reservation_id uuid)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'checkin_id', c.id,
               'admitted_at', c.admitted_at,
               'device', c.device,
               'seat_ids', (SELECT jsonb_agg(a.seat_id ORDER BY a.seat_id)
                              FROM admissions a
                             WHERE a.checkin_id = c.id AND a.undone_at IS NULL))
           ORDER BY c.admitted_at DESC, c.id), '[]'::jsonb)
      FROM checkins c
     WHERE c.reservation_id = p_reservation_id AND c.undone_at IS NULL;
$$;

-- Admit the seats p_seat_ids (NULL: every seat not admitted yet) of the ticket p_ticket_code.
-- p_showtime_id: the showtime the usher is at (NULL: any); p_scanned_at: when an offline scan
-- was made (NULL: now; never later than now), which also decides whether the door was open;
-- p_opens_minutes: how long before the start the door opens. A replay of p_nonce answers the
-- first check-in (outcome 'replayed'). Returns (outcome: 'admitted' | 'replayed' | 'refused',
-- checkin_id, error, details).
CREATE OR REPLACE FUNCTION admit_ticket(
    p_ticket_code text,
    p_nonce text,
    p_showtime_id uuid,
    p_seat_ids uuid[],
    p_device text,
    p_usher_id uuid,
    p_scanned_at timestamptz,
    p_opens_minutes integer
)
RETURNS TABLE (outcome text, checkin_id uuid, error text, details jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    ticket record;
    earlier record;
    scanned timestamptz := least(coalesce(p_scanned_at, clock_timestamp()), clock_timestamp());
    ticket_seats uuid[];
    wanted uuid[];
    taken uuid[];
    new_id uuid;
BEGIN
    SELECT r.id, r.ticket_code, r.status, r.cancelled_at, r.showtime_id,
           s.start_time, s.end_time, s.cancelled_at AS showtime_cancelled_at
      INTO ticket
      FROM reservations r
      JOIN showtimes s ON s.id = r.showtime_id
     WHERE r.ticket_code IN (p_ticket_code, upper(p_ticket_code))  -- typed in any case
       FOR UPDATE OF r;
    IF ticket.id IS NULL THEN
        RETURN QUERY SELECT 'refused', NULL::uuid, 'ticket_unknown', '{}'::jsonb;
        RETURN;
    END IF;

    -- After the lock: a retry of a scan that is still being made waited for it, and sees it.
    SELECT c.id, c.reservation_id INTO earlier FROM checkins c WHERE c.nonce = p_nonce;
    IF earlier.id IS NOT NULL THEN
        IF earlier.reservation_id = ticket.id THEN
            RETURN QUERY SELECT 'replayed', earlier.id, NULL::text, NULL::jsonb;
        ELSE
            RETURN QUERY SELECT 'refused', NULL::uuid, 'nonce_reused', '{}'::jsonb;
        END IF;
        RETURN;
    END IF;

    IF ticket.status = 'cancelled' OR ticket.showtime_cancelled_at IS NOT NULL THEN
        RETURN QUERY SELECT 'refused', NULL::uuid, 'reservation_cancelled',
            jsonb_build_object('cancelled_at',
                               coalesce(ticket.cancelled_at, ticket.showtime_cancelled_at));
        RETURN;
    END IF;
    IF p_showtime_id IS NOT NULL AND p_showtime_id <> ticket.showtime_id THEN
        RETURN QUERY SELECT 'refused', NULL::uuid, 'wrong_showtime',
            jsonb_build_object('showtime_id', ticket.showtime_id,
                               'start_time', ticket.start_time);
        RETURN;
    END IF;
    IF scanned < ticket.start_time - make_interval(mins => p_opens_minutes) THEN
        RETURN QUERY SELECT 'refused', NULL::uuid, 'checkin_not_open',
            jsonb_build_object('opens_at',
                               ticket.start_time - make_interval(mins => p_opens_minutes),
                               'start_time', ticket.start_time);
        RETURN;
    END IF;
    IF scanned >= ticket.end_time THEN
        RETURN QUERY SELECT 'refused', NULL::uuid, 'showtime_ended',
            jsonb_build_object('end_time', ticket.end_time);
        RETURN;
    END IF;

    SELECT array_agg(rs.seat_id) INTO ticket_seats
      FROM reservation_seats rs WHERE rs.reservation_id = ticket.id;
    IF p_seat_ids IS NOT NULL THEN
        SELECT array_agg(DISTINCT w) INTO wanted FROM unnest(p_seat_ids) AS w;
        IF NOT wanted <@ ticket_seats THEN
            RETURN QUERY SELECT 'refused', NULL::uuid, 'seats_not_on_ticket',
                jsonb_build_object('seat_ids', (
                    SELECT jsonb_agg(w) FROM unnest(wanted) AS w WHERE w <> ALL (ticket_seats)));
            RETURN;
        END IF;
    ELSE
        wanted := ticket_seats;
    END IF;

    SELECT array_agg(a.seat_id) INTO taken
      FROM admissions a
     WHERE a.reservation_id = ticket.id AND a.undone_at IS NULL AND a.seat_id = ANY (wanted);
    -- Named seats are all or nothing; a scan of the whole ticket admits the seats still out.
    IF taken IS NOT NULL AND (p_seat_ids IS NOT NULL OR wanted <@ taken) THEN
        RETURN QUERY SELECT 'refused', NULL::uuid, 'already_admitted',
            already_admitted_details(ticket.id, taken, ticket_seats);
        RETURN;
    END IF;
    IF taken IS NOT NULL THEN
        SELECT array_agg(w) INTO wanted FROM unnest(wanted) AS w WHERE w <> ALL (taken);
    END IF;

    BEGIN
        INSERT INTO checkins (reservation_id, showtime_id, nonce, device, admitted_by,
                              admitted_at)
        VALUES (ticket.id, ticket.showtime_id, p_nonce, coalesce(p_device, ''), p_usher_id,
                scanned)
        RETURNING id INTO new_id;
        INSERT INTO admissions (checkin_id, reservation_id, seat_id)
        SELECT new_id, ticket.id, w FROM unnest(wanted) AS w;
    EXCEPTION WHEN unique_violation THEN
        -- Only a writer that did not take the row lock gets here; the index refused it.
        SELECT array_agg(a.seat_id) INTO taken
          FROM admissions a
         WHERE a.reservation_id = ticket.id AND a.undone_at IS NULL AND a.seat_id = ANY (wanted);
        IF taken IS NULL THEN
            RAISE;  -- the nonce's index: the same nonce committed meanwhile; the client retries
        END IF;
        RETURN QUERY SELECT 'refused', NULL::uuid, 'already_admitted',
            already_admitted_details(ticket.id, taken, ticket_seats);
        RETURN;
    END;
    -- Scanners watching the showtime's live map refresh their counter (delivered on commit).
    PERFORM pg_notify('checkin_changes', ticket.showtime_id::text);
    RETURN QUERY SELECT 'admitted', new_id, NULL::text, NULL::jsonb;
END;
$$;

-- What already_admitted says: the seats p_taken of reservation p_reservation_id that are
-- already in, when and by which device the latest of them was admitted, every admission of the
-- ticket, and the seats of p_ticket_seats still out (a later scan may admit those).
CREATE OR REPLACE FUNCTION already_admitted_details(
    p_reservation_id uuid, p_taken uuid[], p_ticket_seats uuid[]
) RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH latest AS (
        SELECT c.admitted_at, c.device
          FROM checkins c
          JOIN admissions a ON a.checkin_id = c.id
         WHERE a.reservation_id = p_reservation_id AND a.undone_at IS NULL
           AND a.seat_id = ANY (p_taken)
         ORDER BY c.admitted_at DESC
         LIMIT 1
    )
    SELECT jsonb_build_object(
        'admitted_at', (SELECT admitted_at FROM latest),
        'device', (SELECT device FROM latest),
        'seat_ids', (SELECT jsonb_agg(t ORDER BY t) FROM unnest(p_taken) AS t),
        'remaining_seat_ids', coalesce((
            SELECT jsonb_agg(s ORDER BY s) FROM unnest(p_ticket_seats) AS s
             WHERE NOT EXISTS (SELECT 1 FROM admissions a
                                WHERE a.reservation_id = p_reservation_id
                                  AND a.seat_id = s AND a.undone_at IS NULL)), '[]'::jsonb),
        'admissions', live_admissions(p_reservation_id));
$$;

-- Undo check-in p_checkin_id (an admission made by mistake): it and its seats stay on record,
-- marked undone by p_user_id, and the seats may be admitted again. Returns the check-in's id,
-- or nothing when no check-in has this id; undoing twice changes nothing.
CREATE OR REPLACE FUNCTION undo_checkin(p_checkin_id uuid, p_user_id uuid)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    found_id uuid;
    reservation uuid;
    showtime uuid;
BEGIN
    SELECT c.reservation_id, c.showtime_id INTO reservation, showtime
      FROM checkins c WHERE c.id = p_checkin_id;
    IF reservation IS NULL THEN
        RETURN NULL;
    END IF;
    -- The same lock as admit_ticket, so an undo and a scan of the ticket take turns.
    PERFORM 1 FROM reservations r WHERE r.id = reservation FOR UPDATE;
    UPDATE checkins c SET undone_at = coalesce(c.undone_at, clock_timestamp()),
                          undone_by = coalesce(c.undone_by, p_user_id)
     WHERE c.id = p_checkin_id
    RETURNING c.id INTO found_id;
    UPDATE admissions a SET undone_at = c.undone_at
      FROM checkins c
     WHERE c.id = p_checkin_id AND a.checkin_id = c.id AND a.undone_at IS NULL;
    PERFORM pg_notify('checkin_changes', showtime::text);
    RETURN found_id;
END;
$$;
