-- Email: the outbox rows written in the transaction of what they report, and the NOTIFY that
-- wakes the senders (reservations/mail/sender.py, channel EMAIL_CHANNEL) when it commits.
--
-- The reservation emails come from triggers on `reservations`, so that every way a reservation
-- is made or cancelled (book_held_seats, cancel_reservation, cancel_showtime, a hand-made
-- change) writes its email in the same transaction, whoever calls it. A row names what the
-- email is about; the sender renders it from there when it sends it.

-- A confirmed reservation made: its booking confirmation, to the booker's address of now.
CREATE OR REPLACE FUNCTION reservation_booked_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO emails (kind, recipient, user_id, reservation_id, showtime_id)
    SELECT 'booking_confirmed', u.email, u.id, NEW.id, NEW.showtime_id
    FROM users u WHERE u.id = NEW.user_id;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER reservations_email_booked AFTER INSERT ON reservations
FOR EACH ROW WHEN (NEW.status = 'confirmed')
EXECUTE FUNCTION reservation_booked_email();

-- A confirmed reservation cancelled. By its owner or an admin: one reservation_cancelled email.
-- Because its showtime was cancelled (cancel_reason showtime_cancelled): one showtime_cancelled
-- email per booker and showtime (the unique index emails_showtime_cancelled_key), listing all
-- of that booker's reservations for it.
CREATE OR REPLACE FUNCTION reservation_cancelled_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.cancel_reason IS NOT DISTINCT FROM 'showtime_cancelled' THEN
        INSERT INTO emails (kind, recipient, user_id, reservation_id, showtime_id, payload)
        SELECT 'showtime_cancelled', u.email, u.id, NEW.id, NEW.showtime_id,
               jsonb_build_object('reservation_ids', jsonb_build_array(NEW.id))
        FROM users u WHERE u.id = NEW.user_id
        ON CONFLICT (user_id, showtime_id) WHERE kind = 'showtime_cancelled'
        DO UPDATE SET payload = jsonb_set(
            emails.payload, '{reservation_ids}',
            (emails.payload -> 'reservation_ids') || to_jsonb(NEW.id)
        );
    ELSE
        INSERT INTO emails (kind, recipient, user_id, reservation_id, showtime_id, payload)
        SELECT 'reservation_cancelled', u.email, u.id, NEW.id, NEW.showtime_id,
               jsonb_build_object('reason', NEW.cancel_reason)
        FROM users u WHERE u.id = NEW.user_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER reservations_email_cancelled AFTER UPDATE OF status ON reservations
FOR EACH ROW WHEN (OLD.status = 'confirmed' AND NEW.status = 'cancelled')
EXECUTE FUNCTION reservation_cancelled_email();

-- Emails queued (inserted, or queued again by a retry): wake the senders once the transaction
-- commits. One NOTIFY per statement, and PostgreSQL folds equal ones of a transaction into one.
CREATE OR REPLACE FUNCTION email_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('email_outbox', '');
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER emails_announce_insert AFTER INSERT ON emails
FOR EACH STATEMENT EXECUTE FUNCTION email_queued();

CREATE OR REPLACE TRIGGER emails_announce_requeue AFTER UPDATE OF status ON emails
FOR EACH ROW WHEN (OLD.status <> 'queued' AND NEW.status = 'queued')
EXECUTE FUNCTION email_queued();

-- --- the senders ----------------------------------------------------------------------------

-- Claim up to p_limit due emails for p_lease_seconds (reservations/mail/sender.py), oldest first,
-- skipping those another sender has locked or claimed. Across every instance at most
-- p_per_second emails are claimed in any window of max(1, 1/p_per_second) seconds: the claims
-- are counted under one advisory lock (each statement of this VOLATILE function sees what the
-- one before it committed). Answers {"emails": [...], "paced": true when the pace held some
-- back}.
--
-- Its cost does not grow with the backlog: the moment is read once, after the lock, into a
-- variable, which the index scans can bound (clock_timestamp() itself is volatile, and in the
-- WHERE clause it made both reads scan every email); and with sorting off the due emails come
-- in order from emails_due_idx, the first p_limit of them, instead of all of them sorted.
CREATE OR REPLACE FUNCTION claim_emails(p_limit integer, p_per_second double precision,
                                        p_lease_seconds double precision)
RETURNS jsonb LANGUAGE plpgsql
SET enable_sort = off AS $$
DECLARE
    window_length interval := make_interval(secs => greatest(1.0, 1.0 / p_per_second));
    allowed integer := greatest(1, floor(p_per_second * greatest(1.0, 1.0 / p_per_second)))::int;
    moment timestamptz;
    recent integer;
    token uuid := gen_random_uuid();
    budget integer;
    claimed jsonb;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('email pacing', 726));
    moment := clock_timestamp();
    SELECT count(*) INTO recent FROM emails e
    WHERE e.claimed_at > moment - window_length;
    budget := least(p_limit, allowed - recent);
    IF budget <= 0 THEN
        RETURN jsonb_build_object('emails', '[]'::jsonb, 'paced', true);
    END IF;
    WITH due AS (
        SELECT e.id FROM emails e
        WHERE e.status = 'queued' AND e.next_attempt_at <= moment
          AND e.sending_since IS NULL
          AND (e.claimed_until IS NULL OR e.claimed_until < moment)
        ORDER BY e.next_attempt_at, e.created_at
        LIMIT budget
        FOR UPDATE SKIP LOCKED
    ), taken AS (
        UPDATE emails e
        SET claimed_at = moment, claim_token = token,
            claimed_until = moment + make_interval(secs => p_lease_seconds)
        FROM due WHERE e.id = due.id
        RETURNING e.id, e.kind, e.recipient, e.user_id, e.reservation_id, e.showtime_id,
                  e.claim_token, e.payload, e.attempts, e.attempts_before_retry, e.created_at,
                  e.next_attempt_at
    )
    SELECT coalesce(jsonb_agg(to_jsonb(taken) ORDER BY taken.next_attempt_at, taken.created_at),
                    '[]'::jsonb)
    INTO claimed FROM taken;
    RETURN jsonb_build_object('emails', claimed,
                              'paced', jsonb_array_length(claimed) = budget AND budget < p_limit);
END;
$$;
