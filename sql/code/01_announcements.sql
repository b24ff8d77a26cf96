-- Announcements: what every instance hears, sent by triggers when a transaction commits.
--
-- Applied by every `reservations migrate`, after the migrations: sql/code/README.md.
--
-- Channels (reservations/live/listener.py names each): seat_changes, showtime_changes,
-- showtime_cancellations, user_changes.

-- --- seat changes -------------------------------------------------------------------------------

-- Bump showtime versions and queue the NOTIFY of the changes (seat ids and their new status, in
-- parallel arrays, several showtimes allowed): one version per chunk of at most 100 seats, so a
-- payload stays far below PostgreSQL's 8000 bytes (about 57 bytes a seat).
-- Payload: {"s": showtime id, "v": version, "c": [[seat id, status], ...]}, and for seats newly
-- held (one hold_seats call: one hold) "u", the holder's user id, and "x", when the hold expires
-- now, so that each of the holder's pages (every tab, every device) shows the seats as theirs,
-- with the same countdown.
CREATE OR REPLACE FUNCTION announce_seat_changes(p_showtime_ids uuid[], p_seat_ids uuid[], p_statuses text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    chunk record;
    new_version bigint;
    held_seat uuid;
    holder_id uuid;
    held_until timestamptz;
BEGIN
    IF cardinality(p_seat_ids) <= 100
       AND p_showtime_ids[1] = ALL(p_showtime_ids)
    THEN  -- the usual case, one chunk: no window, no loop
        UPDATE showtimes SET version = version + 1 WHERE id = p_showtime_ids[1]
        RETURNING version INTO new_version;
        IF FOUND THEN
            held_seat := p_seat_ids[array_position(p_statuses, 'held')];
            IF held_seat IS NOT NULL THEN
                SELECT h.user_id, h.expires_at INTO holder_id, held_until
                FROM seat_claims c JOIN holds h ON h.id = c.hold_id
                WHERE c.showtime_id = p_showtime_ids[1] AND c.seat_id = held_seat;
            END IF;
            PERFORM pg_notify('seat_changes', json_build_object(
                's', p_showtime_ids[1],
                'v', new_version,
                'c', (SELECT json_agg(json_build_array(c.seat_id, c.status) ORDER BY c.n)
                      FROM unnest(p_seat_ids, p_statuses) WITH ORDINALITY AS c(seat_id, status, n)),
                'u', holder_id,
                'x', held_until
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

CREATE OR REPLACE FUNCTION seat_claims_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION seat_claims_updated() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION seat_claims_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM announce_seat_changes(
        array_agg(showtime_id), array_agg(seat_id), array_agg('available'::text)
    )
    FROM deleted_claims;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER seat_claims_announce_insert AFTER INSERT ON seat_claims
REFERENCING NEW TABLE AS inserted_claims
FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_inserted();

CREATE OR REPLACE TRIGGER seat_claims_announce_update AFTER UPDATE ON seat_claims
REFERENCING OLD TABLE AS old_claims NEW TABLE AS new_claims
FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_updated();

CREATE OR REPLACE TRIGGER seat_claims_announce_delete AFTER DELETE ON seat_claims
REFERENCING OLD TABLE AS deleted_claims
FOR EACH STATEMENT EXECUTE FUNCTION seat_claims_deleted();

-- A showtime's price, times or cancellation changed (updated_at moves with each, but a hand-made
-- change may forget it): instances drop their cached seat map of it. Payload: the showtime id.
-- A cancellation also goes on 'showtime_cancellations' (same payload), on which instances tell
-- the showtime's live viewers and close their sockets; a channel of its own, so that instances
-- of an earlier release, which do not listen on it, are not confused by it.
CREATE OR REPLACE FUNCTION showtime_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('showtime_changes', NEW.id::text);
    IF OLD.cancelled_at IS NULL AND NEW.cancelled_at IS NOT NULL THEN
        PERFORM pg_notify('showtime_cancellations', NEW.id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER showtimes_announce_update AFTER UPDATE ON showtimes
FOR EACH ROW WHEN (
    OLD.updated_at IS DISTINCT FROM NEW.updated_at
    OR OLD.price IS DISTINCT FROM NEW.price
    OR OLD.start_time IS DISTINCT FROM NEW.start_time
    OR OLD.cancelled_at IS DISTINCT FROM NEW.cancelled_at
)
EXECUTE FUNCTION showtime_changed();

-- --- users ---------------------------------------------------------------------------------------

-- Instances cache the users that tokens name (reservations/accounts/user_cache.py: the columns
-- of find_user_by_id in sql/accounts.sql) and serve them with no query while they listen on
-- 'user_changes'. A change of any of those columns (a promotion or demotion, a bump of
-- token_generation that revokes every token issued before, an email or name change) and a
-- deletion tell them, when the transaction commits, to drop that user: payload the user's id
-- (its id before the change). A TRUNCATE tells them to drop every user: payload ''.
CREATE OR REPLACE FUNCTION user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('user_changes', '');
    ELSE
        PERFORM pg_notify('user_changes', OLD.id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER users_announce_update AFTER UPDATE ON users
FOR EACH ROW WHEN (
    OLD.role IS DISTINCT FROM NEW.role
    OR OLD.token_generation IS DISTINCT FROM NEW.token_generation
    OR OLD.email IS DISTINCT FROM NEW.email
    OR OLD.first_name IS DISTINCT FROM NEW.first_name
    OR OLD.last_name IS DISTINCT FROM NEW.last_name
    OR OLD.created_at IS DISTINCT FROM NEW.created_at
    OR OLD.id IS DISTINCT FROM NEW.id
)
EXECUTE FUNCTION user_changed();

CREATE OR REPLACE TRIGGER users_announce_delete AFTER DELETE ON users
FOR EACH ROW EXECUTE FUNCTION user_changed();

CREATE OR REPLACE TRIGGER users_announce_truncate AFTER TRUNCATE ON users
FOR EACH STATEMENT EXECUTE FUNCTION user_changed();
