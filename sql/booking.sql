-- Booking: the seat map, holds, reservations and the sweeper (see reservations/booking/).
-- Every query that changes seats runs after lock_showtime (sql/changes.sql) in the same
-- transaction, and takes "now" as a parameter read from the database clock after the lock.

-- name: seat_map_showtime
-- The showtime $1 with its version, unless unknown or cancelled.
SELECT id, theater_id, version
FROM showtimes
WHERE id = $1 AND cancelled_at IS NULL;

-- name: seat_map
-- The whole seat map of showtime $1 in one statement, hence one snapshot: one row per seat of
-- its theater (a NULL seat id for a theater without seats; no row at all when the showtime is
-- unknown or cancelled), each with the showtime's version, updated_at and now(), the seat's
-- price and status ('available', 'held' or 'sold'; a hold past expires_at counts as available),
-- held_by_me when user $2 (may be NULL) holds it, and held_until: when the hold that makes the
-- seat 'held' expires, after which this map is no longer right even though nothing changed.
SELECT st.id AS showtime_id,
       st.version,
       st.updated_at,
       now() AS now,
       s.id,
       s.row_label,
       s.seat_number,
       s.row_label || s.seat_number AS seat_label,
       s.seat_type,
       s.row_index,
       s.column_index,
       round(st.price * t.price_multiplier, 2) AS price,
       CASE
           WHEN c.reservation_id IS NOT NULL THEN 'sold'
           WHEN h.expires_at > now() THEN 'held'
           ELSE 'available'
       END AS status,
       coalesce(h.user_id = $2 AND h.expires_at > now(), false) AS held_by_me,
       CASE WHEN c.reservation_id IS NULL AND h.expires_at > now() THEN h.expires_at END
           AS held_until
FROM showtimes st
LEFT JOIN seats s ON s.theater_id = st.theater_id
LEFT JOIN seat_types t ON t.name = s.seat_type
LEFT JOIN seat_claims c ON c.showtime_id = st.id AND c.seat_id = s.id
LEFT JOIN holds h ON h.id = c.hold_id
WHERE st.id = $1 AND st.cancelled_at IS NULL
ORDER BY s.row_index, s.column_index;

-- name: seat_map_freshness
-- What says whether a seat map of showtime $1 read earlier is still right: its version (grown
-- by every seat change, in the changing transaction), updated_at (its price or times changed)
-- and the database clock (an expired hold changes the map without a new version). No row when
-- the showtime is unknown or cancelled.
SELECT version, updated_at, now() AS now
FROM showtimes
WHERE id = $1 AND cancelled_at IS NULL;

-- name: showtime_for_seat_change
-- Showtime $1 as a seat change needs it, with the database clock read now (after the lock).
SELECT id,
       theater_id,
       start_time,
       cancelled_at,
       clock_timestamp() AS now,
       start_time <= clock_timestamp() AS started
FROM showtimes
WHERE id = $1;

-- name: try_lock_showtime
-- The advisory lock of showtime $1 (its id as text) if nobody holds it, else false at once.
-- Same key as lock_showtime in sql/changes.sql.
SELECT pg_try_advisory_xact_lock(hashtextextended($1, 727));

-- name: database_clock
-- The database's clock now (not the transaction's start).
SELECT clock_timestamp();

-- name: delete_expired_holds
-- Delete up to $2 (NULL: all) holds of showtime $1 expired at $3, noting them in expired_holds.
-- One row: the number of holds deleted and the seats they freed.
WITH expired AS (
    SELECT id, user_id, expires_at
    FROM holds
    WHERE showtime_id = $1 AND expires_at <= $3
    ORDER BY expires_at
    LIMIT $2
), freed AS (
    DELETE FROM seat_claims c
    USING expired e
    WHERE c.hold_id = e.id
    RETURNING c.seat_id, e.user_id, e.expires_at
), gone AS (
    DELETE FROM holds h
    USING expired e
    WHERE h.id = e.id
    RETURNING h.id
), noted AS (
    INSERT INTO expired_holds (showtime_id, user_id, seat_ids, expired_at)
    SELECT $1, user_id, array_agg(seat_id), max(expires_at)
    FROM freed
    GROUP BY user_id
    ON CONFLICT (showtime_id, user_id)
    DO UPDATE SET seat_ids = EXCLUDED.seat_ids, expired_at = EXCLUDED.expired_at
)
SELECT (SELECT count(*) FROM gone)::int AS holds,
       coalesce((SELECT array_agg(seat_id) FROM freed), '{}'::uuid[]) AS seat_ids;

-- name: requested_seat_states
-- Sort the seats $2 (uuid[]) asked for on showtime $1 (theater $3) by user $4: not of the
-- theater, claimed by someone else (a hold or a reservation), already in the user's hold.
-- Run after delete_expired_holds, so every claim left is live.
SELECT coalesce(array_agg(r.seat_id ORDER BY r.n) FILTER (WHERE s.id IS NULL), '{}'::uuid[])
           AS unknown_seat_ids,
       coalesce(array_agg(r.seat_id ORDER BY r.n) FILTER (
           WHERE s.id IS NOT NULL
             AND c.seat_id IS NOT NULL
             AND (c.reservation_id IS NOT NULL OR h.user_id <> $4)
       ), '{}'::uuid[]) AS taken_seat_ids,
       coalesce(array_agg(r.seat_id ORDER BY r.n) FILTER (WHERE h.user_id = $4), '{}'::uuid[])
           AS mine_seat_ids
FROM unnest($2::uuid[]) WITH ORDINALITY AS r(seat_id, n)
LEFT JOIN seats s ON s.id = r.seat_id AND s.theater_id = $3
LEFT JOIN seat_claims c ON c.showtime_id = $1 AND c.seat_id = r.seat_id
LEFT JOIN holds h ON h.id = c.hold_id;

-- name: taken_seats
-- Which of the seats $2 (uuid[]) of showtime $1 someone other than user $3 claims now.
SELECT c.seat_id
FROM seat_claims c
LEFT JOIN holds h ON h.id = c.hold_id
WHERE c.showtime_id = $1
  AND c.seat_id = ANY($2::uuid[])
  AND (c.reservation_id IS NOT NULL OR (h.user_id <> $3 AND h.expires_at > now()));

-- name: hold_of_user
-- User $2's hold on showtime $1 with the number of seats in it, if any.
SELECT h.id, h.created_at, h.expires_at, count(c.seat_id)::int AS seat_count
FROM holds h
LEFT JOIN seat_claims c ON c.hold_id = h.id
WHERE h.showtime_id = $1 AND h.user_id = $2
GROUP BY h.id;

-- name: upsert_hold
-- Create user $2's hold on showtime $1 at $3 for $4 seconds, or renew it: never past its
-- creation plus $5 seconds (the lifetime cap).
INSERT INTO holds (showtime_id, user_id, created_at, expires_at)
VALUES ($1, $2, $3::timestamptz, $3::timestamptz + make_interval(secs => $4))
ON CONFLICT (showtime_id, user_id) DO UPDATE
SET expires_at = least(
    $3::timestamptz + make_interval(secs => $4),
    holds.created_at + make_interval(secs => $5)
)
RETURNING id, created_at, expires_at;

-- name: insert_hold_claims
-- Claim the seats $2 (uuid[]) of showtime $1 for hold $3; the primary key refuses a seat
-- that is claimed already.
INSERT INTO seat_claims (showtime_id, seat_id, hold_id)
SELECT $1, seat_id, $3
FROM unnest($2::uuid[]) AS seat_id;

-- name: seats_of_hold
-- The seats in hold $1, front row first, left to right.
SELECT c.seat_id
FROM seat_claims c
JOIN seats s ON s.id = c.seat_id
WHERE c.hold_id = $1
ORDER BY s.row_index, s.column_index;

-- name: forget_expired_hold
-- User $2 holds seats of showtime $1 again: the note of an earlier expired hold is stale.
DELETE FROM expired_holds WHERE showtime_id = $1 AND user_id = $2;

-- name: expired_hold_seats
-- The seats of user $2's last expired hold on showtime $1 (NULL when none is noted).
SELECT seat_ids FROM expired_holds WHERE showtime_id = $1 AND user_id = $2;

-- name: release_held_seats
-- Release the seats $3 (uuid[]; NULL: all) of user $2's hold on showtime $1; the seats freed.
DELETE FROM seat_claims c
USING holds h
WHERE h.showtime_id = $1
  AND h.user_id = $2
  AND c.hold_id = h.id
  AND ($3::uuid[] IS NULL OR c.seat_id = ANY($3::uuid[]))
RETURNING c.seat_id;

-- name: delete_empty_hold
-- Delete user $2's hold on showtime $1 if no seat is left in it.
DELETE FROM holds h
WHERE h.showtime_id = $1
  AND h.user_id = $2
  AND NOT EXISTS (SELECT 1 FROM seat_claims c WHERE c.hold_id = h.id);

-- name: try_lock_idempotency_key
-- The advisory lock of user $1's Idempotency-Key $2 if nobody holds it, else false at once.
SELECT pg_try_advisory_xact_lock(hashtextextended($1::uuid::text || ':' || $2, 728));

-- name: find_idempotency_key
-- User $1's Idempotency-Key $2: the hash of the request that used it and what it booked.
SELECT request_hash, reservation_id FROM idempotency_keys WHERE user_id = $1 AND key = $2;

-- name: insert_idempotency_key
-- Remember user $1's key $2 for the request with hash $3 that booked reservation $4.
INSERT INTO idempotency_keys (user_id, key, request_hash, reservation_id)
VALUES ($1, $2, $3, $4);

-- name: insert_reservation
-- Book the seats $3 (uuid[]) of showtime $2 for user $1 with ticket code $4 at $5, each at
-- its price now (showtime price x seat type multiplier). No row if the ticket code is taken.
WITH priced AS (
    SELECT s.id AS seat_id, round(st.price * t.price_multiplier, 2) AS price
    FROM showtimes st
    JOIN seats s ON s.theater_id = st.theater_id
    JOIN seat_types t ON t.name = s.seat_type
    WHERE st.id = $2 AND s.id = ANY($3::uuid[])
), reservation AS (
    INSERT INTO reservations (user_id, showtime_id, total_price, ticket_code, created_at, updated_at)
    SELECT $1, $2, coalesce(sum(price), 0), $4, $5::timestamptz, $5::timestamptz
    FROM priced
    ON CONFLICT (ticket_code) DO NOTHING
    RETURNING id
), booked AS (
    INSERT INTO reservation_seats (reservation_id, seat_id, price)
    SELECT r.id, p.seat_id, p.price
    FROM reservation r, priced p
)
SELECT id FROM reservation;

-- name: claim_seats_for_reservation
-- Turn hold $3's claims on the seats $4 (uuid[]) of showtime $1 into reservation $2's.
UPDATE seat_claims
SET hold_id = NULL, reservation_id = $2
WHERE showtime_id = $1 AND hold_id = $3 AND seat_id = ANY($4::uuid[])
RETURNING seat_id;

-- name: reservation_owner
-- Who owns reservation $1 and which showtime it is for.
SELECT user_id, showtime_id FROM reservations WHERE id = $1;

-- name: reservation_status
-- The status of reservation $1, the row locked until the transaction ends.
SELECT status FROM reservations WHERE id = $1 FOR UPDATE;

-- name: cancel_reservation
-- Cancel reservation $1 at $2 for reason $3 (only a confirmed one).
UPDATE reservations
SET status = 'cancelled', cancelled_at = $2, updated_at = $2, cancel_reason = $3
WHERE id = $1 AND status = 'confirmed';

-- name: release_reservation_claims
-- Free the seats of reservation $1; the seats freed.
DELETE FROM seat_claims WHERE reservation_id = $1 RETURNING seat_id;

-- name: reservation_by_id
-- Reservation $1 with its seats (one JSON array), showtime, movie and theater.
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
JOIN theaters t ON t.id = st.theater_id
WHERE r.id = $1;

-- name: reservations_of_user
-- A page of user $1's reservations (with seats, showtime, movie and theater): upcoming first,
-- soonest first; with $2 also those whose show has started, most recent first. $3 limit, $4 offset.
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
JOIN theaters t ON t.id = st.theater_id
WHERE r.user_id = $1 AND ($2 OR st.start_time > now())
ORDER BY st.start_time > now() DESC,
         CASE WHEN st.start_time > now() THEN st.start_time END ASC,
         st.start_time DESC,
         r.created_at DESC,
         r.id
LIMIT $3 OFFSET $4;

-- name: count_reservations_of_user
-- How many reservations reservations_of_user lists for user $1 (with $2: also past ones).
SELECT count(*)::int
FROM reservations r
JOIN showtimes st ON st.id = r.showtime_id
WHERE r.user_id = $1 AND ($2 OR st.start_time > now());

-- name: showtimes_with_expired_holds
-- Showtimes among the $1 holds that expired first (the sweeper's bounded batch).
SELECT DISTINCT showtime_id
FROM (
    SELECT showtime_id FROM holds WHERE expires_at <= now() ORDER BY expires_at LIMIT $1
) AS due;

-- name: forget_old_idempotency_keys
-- Housekeeping: Idempotency-Keys older than two days (they are promised for one).
DELETE FROM idempotency_keys WHERE created_at < now() - interval '48 hours';

-- name: forget_old_expired_holds
-- Housekeeping: notes of holds that expired more than two days ago.
DELETE FROM expired_holds WHERE expired_at < now() - interval '48 hours';

-- Best available
-- Choosing seats for a group and the single-seat gap rule (reservations/booking/best_seats.py).

-- name: seats_with_claims
-- The seats of theater $2 with their place in the hall, whether showtime $1 claims them (a
-- reservation or a live hold) and whether user $3's hold does ($3 may be NULL). When $4
-- (uuid[]) is not NULL, only the rows of those seats and of user $3's held seats: whether a
-- seat is stranded depends on its row alone.
WITH claims AS (
    SELECT c.seat_id, h.user_id
    FROM seat_claims c
    LEFT JOIN holds h ON h.id = c.hold_id
    WHERE c.showtime_id = $1
      AND (c.reservation_id IS NOT NULL OR h.expires_at > now())
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

-- name: seats_with_claims_in_rows
-- What seats_with_claims answers with $4 (uuid[]) given: the rows of the seats $4 and of user
-- $3's held seats, with the same columns. A query of its own whose plan follows the rows asked
-- for (the theater's rows by index, each seat's claim by its primary key) instead of reading
-- every claim of the showtime, so a hold on a full, popular showtime stays as fast.
SELECT s.id,
       s.row_index,
       s.column_index,
       s.seat_type,
       coalesce(c.reservation_id IS NOT NULL OR h.expires_at > now(), false) AS claimed,
       coalesce(h.user_id = $3 AND h.expires_at > now(), false) AS mine
FROM seats s
LEFT JOIN seat_claims c ON c.showtime_id = $1 AND c.seat_id = s.id
LEFT JOIN holds h ON h.id = c.hold_id
WHERE s.theater_id = $2
  AND s.row_index = ANY(ARRAY(
        SELECT row_index FROM seats WHERE id = ANY($4::uuid[])
        UNION
        SELECT held.row_index
        FROM holds mine
        JOIN seat_claims c ON c.hold_id = mine.id
        JOIN seats held ON held.id = c.seat_id
        WHERE mine.showtime_id = $1 AND mine.user_id = $3 AND mine.expires_at > now()
  ))
ORDER BY s.row_index, s.column_index;
