-- Booking: the seat map, holds, reservations and the sweeper (see reservations/booking/).
-- Every seat change is one call of a function of sql/code/03_seat_changes.sql:
-- it takes the showtime's advisory lock, frees its expired holds, makes the change (the version
-- bump and NOTIFY follow from triggers on seat_claims) and answers jsonb; a refusal is raised as
-- 'seat_change_refused' (reservations/booking/errors.py). Called outside an explicit
-- transaction, the lock is held for that one execution.

-- name: seat_map
-- The whole seat map of showtime $1 for user $2 (may be NULL) in one statement, hence one
-- snapshot: every column of the seat_map function (sql/code/02_seat_reads.sql), front row first. No row
-- when the showtime is unknown or cancelled. The live map's snapshots (sql/live.sql) read the
-- same function.
SELECT * FROM seat_map($1, $2) ORDER BY row_index, column_index;

-- name: seat_map_freshness
-- What says whether a seat map of showtime $1 read earlier is still right: its version (grown
-- by every seat change, in the changing transaction), updated_at (its price or times changed)
-- and the database clock (an expired hold changes the map without a new version). No row when
-- the showtime is unknown or cancelled.
SELECT version, updated_at, now() AS now
FROM showtimes
WHERE id = $1 AND cancelled_at IS NULL;

-- name: seats_held_by
-- What turns a cached anonymous map of showtime $1 into user $2's, in one statement: the seats
-- $2 holds (held_by_me, by live_claims as seat_map reads it), and what says whether that map is
-- still right (as seat_map_freshness). No row when the showtime is unknown or cancelled.
SELECT st.version,
       st.updated_at,
       now() AS now,
       array(
           SELECT c.seat_id FROM live_claims c WHERE c.showtime_id = st.id AND c.held_by = $2
       ) AS seat_ids
FROM showtimes st
WHERE st.id = $1 AND st.cancelled_at IS NULL;

-- name: try_lock_idempotency_key
-- The advisory lock of user $1's Idempotency-Key $2 if nobody holds it, else false at once
-- (book_held_seats takes the same: class 2 of the two-int4 keys, apart from every showtime's).
SELECT pg_try_advisory_xact_lock(2, hashtext($1::uuid::text || ':' || $2));

-- name: reservations_by_ids
-- The reservations $1 (uuid[]) in that order: every column reservation_view answers (the
-- reservation_details view of sql/code/02_seat_reads.sql), for single lookups and listings alike.
SELECT * FROM reservation_rows($1::uuid[]);

-- name: reservation_page
-- One page of user $1's reservations with the total: upcoming first, soonest first; with $2
-- also those whose show has started, most recent first. $3 limit, $4 offset. Always one row at
-- least: the total with a null id when the page is empty (reservations_by_ids reads the rest).
WITH matching AS (
    SELECT r.id, r.created_at, st.start_time
    FROM reservations r
    JOIN showtimes st ON st.id = r.showtime_id
    WHERE r.user_id = $1 AND ($2 OR st.start_time > now())
),
counted AS (SELECT count(*)::int AS total FROM matching),
page AS (
    SELECT id, row_number() OVER (
               ORDER BY start_time > now() DESC,
                        CASE WHEN start_time > now() THEN start_time END ASC,
                        start_time DESC,
                        created_at DESC,
                        id
           ) AS position
    FROM matching
    ORDER BY position
    LIMIT $3 OFFSET $4
)
SELECT counted.total, page.id
FROM counted LEFT JOIN page ON true
ORDER BY page.position;

-- name: showtimes_with_expired_holds
-- Showtimes among the $1 holds that expired first (the sweeper's bounded batch).
SELECT DISTINCT showtime_id
FROM (
    SELECT showtime_id FROM holds WHERE expires_at <= now() ORDER BY expires_at LIMIT $1
) AS due;

-- name: next_hold_expiry
-- Seconds until the earliest live hold expires (NULL: none), for the sweeper's next wake.
SELECT extract(epoch FROM min(expires_at) - now())::float8 FROM holds WHERE expires_at > now();

-- name: forget_old_idempotency_keys
-- Housekeeping: at most $1 Idempotency-Keys older than two days (they are promised for one),
-- skipping rows locked now; the number forgotten (the caller repeats while it is $1).
WITH forgotten AS (
    DELETE FROM idempotency_keys i
    USING (
        SELECT user_id, key FROM idempotency_keys WHERE created_at < now() - interval '48 hours'
        ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED
    ) AS old
    WHERE i.user_id = old.user_id AND i.key = old.key
    RETURNING 1
)
SELECT count(*)::int FROM forgotten;

-- name: forget_old_expired_holds
-- Housekeeping: at most $1 notes of holds that expired more than two days ago, skipping rows
-- locked now; the number forgotten (the caller repeats while it is $1).
WITH forgotten AS (
    DELETE FROM expired_holds e
    USING (
        SELECT showtime_id, user_id FROM expired_holds
        WHERE expired_at < now() - interval '48 hours'
        ORDER BY expired_at LIMIT $1 FOR UPDATE SKIP LOCKED
    ) AS old
    WHERE e.showtime_id = old.showtime_id AND e.user_id = old.user_id
    RETURNING 1
)
SELECT count(*)::int FROM forgotten;

-- name: hold_seats
-- Hold the seats $3 (uuid[], distinct) of showtime $1 for user $2: hold $4 seconds, lifetime cap
-- $5 seconds, at most $6 seats, seats of at most $7 other showtimes held, cooldown $8 seconds
-- after a hold that reached its cap, gap rule $9 ('off', 'warn', 'enforce'), at most $10 seats
-- held plus booked by the user for the showtime. The hold.
SELECT hold_seats(
    p_showtime_id => $1, p_user_id => $2, p_seat_ids => $3, p_hold_seconds => $4,
    p_max_lifetime_seconds => $5, p_max_seats => $6, p_max_showtimes => $7,
    p_cooldown_seconds => $8, p_gap_rule => $9, p_max_user_seats => $10
);

-- name: release_held_seats
-- Release the seats $3 (uuid[]; NULL: all) of user $2's hold on showtime $1, under gap rule $4
-- (SINGLE_SEAT_GAP_RULE): {freed_seat_ids}.
SELECT release_held_seats_v2(
    p_showtime_id => $1, p_user_id => $2, p_seat_ids => $3, p_gap_rule => $4
);

-- name: book_held_seats
-- Book user $2's held seats $3 (uuid[], distinct) of showtime $1, each as the ticket type of
-- code at the same place in $4 (text[]; NULL: the default type), with voucher code $5 (may be
-- NULL), with the first free ticket code of $6 (text[]); Idempotency-Key $7 (may be NULL) for a
-- request of hash $8; the total charged must be $9 when not NULL; gap rule $10
-- (SINGLE_SEAT_GAP_RULE). First the guessing limit of a booking with a voucher code:
-- rate-limit key $11 (NULL without a code), window $12 s, $13 failures, attempts undecided
-- after $14 s (voucher_guessing_wait). retry_after: seconds the user must wait before trying a
-- code (0: none; otherwise nothing was booked or locked); booking: {reservation_id, created};
-- then the reservation's columns (as reservations_by_ids), read after the booking in the same
-- statement.
WITH g AS MATERIALIZED (  -- asked once: the answer gates the booking and is answered
    SELECT voucher_guessing_wait($11, $12, $13, $14) AS retry_after
)
SELECT g.retry_after, b.booking, r.*
FROM g
LEFT JOIN LATERAL (
    SELECT book_held_seats_v2(
        p_showtime_id => $1, p_user_id => $2, p_seat_ids => $3, p_ticket_types => $4::text[],
        p_voucher_code => $5, p_ticket_codes => $6, p_idempotency_key => $7,
        p_request_hash => $8, p_expected_total => $9::numeric, p_gap_rule => $10::text
    ) AS booking
    WHERE g.retry_after = 0
) AS b ON true
LEFT JOIN LATERAL reservation_rows(ARRAY[(b.booking ->> 'reservation_id')::uuid]) AS r ON true;

-- name: cancel_reservation
-- Cancel reservation $1 for user $2 ($3: an admin, who may cancel anyone's). cancellation:
-- {reason}; then the reservation's columns (as reservations_by_ids), read after the change.
SELECT c.cancellation, r.*
FROM cancel_reservation(p_reservation_id => $1, p_user_id => $2, p_is_admin => $3) AS c(cancellation)
LEFT JOIN LATERAL reservation_rows(ARRAY[$1::uuid]) AS r ON true;

-- name: showtime_to_choose_seats_of
-- Best-available's first step, with no lock: showtime $1's theater and whether it has started.
-- No row when it is unknown or cancelled.
SELECT theater_id, start_time <= now() AS started
FROM showtimes
WHERE id = $1 AND cancelled_at IS NULL;

-- name: sweep_showtime
-- The sweeper on showtime $1: unless its lock is taken, free up to $2 expired holds. (holds, seats).
SELECT holds, seats FROM sweep_showtime($1, $2);

-- name: stranded_seats_of_hold
-- What holding the seats $3 (uuid[]) would make of user $2's hold (NULL: no hold) on showtime
-- $1: hold_seat_ids (those of the theater) and stranded_seat_ids. No row: unknown or cancelled.
SELECT g.hold_seat_ids, g.stranded_seat_ids
FROM showtimes st, stranded_seats_of_hold(st.id, st.theater_id, $2, $3) AS g
WHERE st.id = $1 AND st.cancelled_at IS NULL;

-- Best available
-- Choosing seats for a group and the single-seat gap rule (reservations/booking/best_seats.py).

-- name: seats_with_claims
-- The seats of theater $2 with their place in the hall, whether showtime $1 claims them (a
-- reservation or a live hold) and whether user $3's hold does ($3 may be NULL). When $4
-- (uuid[]) is not NULL, only the rows of those seats and of user $3's held seats: whether a
-- seat is stranded depends on its row alone.
WITH claims AS (
    SELECT seat_id, held_by AS user_id FROM live_claims WHERE showtime_id = $1
)
SELECT s.id,
       s.row_index,
       s.column_index,
       s.seat_type,
       c.seat_id IS NOT NULL AS claimed,
       coalesce(c.user_id = $3, false) AS mine
FROM seats s
LEFT JOIN claims c ON c.seat_id = s.id
WHERE s.theater_id = $2
  AND ($4::uuid[] IS NULL OR s.row_index IN (
        SELECT row_index
        FROM seats
        WHERE theater_id = $2
          AND (id = ANY($4::uuid[]) OR id IN (SELECT seat_id FROM claims WHERE user_id = $3))
  ))
ORDER BY s.row_index, s.column_index;

