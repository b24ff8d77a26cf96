-- Catalog: genres, movies, posters, theaters and their seats, showtimes.
-- Listings are two queries whatever the page holds: one page of ids with the total, then the
-- full rows of exactly those ids (the *_by_ids queries, which also serve single lookups).

-- name: list_genres
-- Every genre, by name.
SELECT id, name FROM genres ORDER BY lower(name), id;

-- name: ensure_genres
-- The genres named in $1 (text[]), created when named for the first time (names compared in
-- any case; the first spelling is kept). DO UPDATE rather than DO NOTHING so that a genre made
-- by a concurrent transaction is returned too.
WITH wanted AS (
    SELECT DISTINCT ON (lower(name)) name
    FROM unnest($1::text[]) AS name
    ORDER BY lower(name)
)
INSERT INTO genres (name)
SELECT name FROM wanted
ON CONFLICT (lower(name)) DO UPDATE SET name = genres.name
RETURNING id, name;

-- name: clear_movie_genres
-- Forget the genres of movie $1 (add_movie_genres then gives the new ones).
DELETE FROM movie_genres WHERE movie_id = $1;

-- name: add_movie_genres
-- Give movie $1 the genre ids $2 (uuid[]).
INSERT INTO movie_genres (movie_id, genre_id)
SELECT $1, genre_id FROM unnest($2::uuid[]) AS genre_id
ON CONFLICT DO NOTHING;

-- name: insert_movie
-- A new movie; $1 title, $2 description, $3 duration in minutes, $4 release date or null.
INSERT INTO movies (title, description, duration_minutes, release_date)
VALUES ($1, $2, $3, $4)
RETURNING id;

-- name: update_movie
-- Change live movie $1: $2 title, $3 description, $4 duration (null keeps each), and when $5 is
-- true the release date becomes $6 (which may be null). Returns nothing for an unknown movie.
UPDATE movies
SET title = coalesce($2, title),
    description = coalesce($3, description),
    duration_minutes = coalesce($4, duration_minutes),
    release_date = CASE WHEN $5::boolean THEN $6::date ELSE release_date END,
    updated_at = now()
WHERE id = $1 AND deleted_at IS NULL
RETURNING id;

-- name: stretch_movie_showtimes
-- After movie $1's duration changed: end and busy-until of its live showtimes that have not
-- started follow the new duration $2 (minutes) plus the cleaning buffer $3 (minutes).
UPDATE showtimes
SET end_time = start_time + make_interval(mins => $2),
    busy_until = start_time + make_interval(mins => $2 + $3),
    updated_at = now()
WHERE movie_id = $1 AND cancelled_at IS NULL AND start_time > now();

-- name: movie_page
-- One page of live movies by title with the total; filters (each null for all): $1 genre name
-- (any case), $2 and $3 the bounds of a day (a live showtime starting then), $4 a piece of the
-- title (any case). $5 limit, $6 offset. Always one row at least: the total with a null id
-- when the page is empty.
WITH matching AS (
    SELECT m.id, m.title
    FROM movies m
    WHERE m.deleted_at IS NULL
      AND ($1::text IS NULL OR EXISTS (
            SELECT 1 FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id
            WHERE mg.movie_id = m.id AND lower(g.name) = lower($1)))
      AND ($2::timestamptz IS NULL OR EXISTS (
            SELECT 1 FROM showtimes s
            WHERE s.movie_id = m.id AND s.cancelled_at IS NULL
              AND s.start_time >= $2 AND s.start_time < $3::timestamptz))
      AND ($4::text IS NULL OR strpos(lower(m.title), lower($4)) > 0)
),
counted AS (SELECT count(*) AS total FROM matching),
page AS (SELECT id, title FROM matching ORDER BY lower(title), id LIMIT $5 OFFSET $6)
SELECT counted.total, page.id
FROM counted LEFT JOIN page ON true
ORDER BY lower(page.title), page.id;

-- name: movies_by_ids
-- The live movies $1 (uuid[]) with their genre names, by title.
SELECT m.id, m.title, m.description, m.duration_minutes, m.release_date, m.poster_file,
       m.created_at, m.updated_at,
       coalesce(genre_names.names, '{}') AS genres
FROM movies m
LEFT JOIN LATERAL (
    SELECT array_agg(g.name ORDER BY lower(g.name)) AS names
    FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id
    WHERE mg.movie_id = m.id
) genre_names ON true
WHERE m.id = ANY($1::uuid[]) AND m.deleted_at IS NULL
ORDER BY lower(m.title), m.id;

-- name: live_movie_by_title
-- The live movie titled $1 (any case), if any; the oldest when there are several.
SELECT id, poster_file FROM movies
WHERE lower(title) = lower($1) AND deleted_at IS NULL
ORDER BY created_at, id
LIMIT 1;

-- name: movie_is_live
-- True when movie $1 exists and is not deleted.
SELECT EXISTS (SELECT 1 FROM movies WHERE id = $1 AND deleted_at IS NULL);

-- name: lock_live_movie
-- Live movie $1, locked until the transaction ends (deletion, poster, duration changes).
SELECT id, poster_file, duration_minutes FROM movies
WHERE id = $1 AND deleted_at IS NULL
FOR UPDATE;

-- name: upcoming_showtimes_of_movie
-- Ids of movie $1's live showtimes that have not started, in id order (the lock order).
SELECT id FROM showtimes
WHERE movie_id = $1 AND cancelled_at IS NULL AND start_time > now()
ORDER BY id;

-- name: count_confirmed_reservations
-- Confirmed reservations of the showtimes $1 (uuid[]).
SELECT count(*) FROM reservations
WHERE showtime_id = ANY($1::uuid[]) AND status = 'confirmed';

-- name: soft_delete_movie
-- Hide movie $1 from the catalog; its rows stay for the records of past reservations.
UPDATE movies SET deleted_at = now(), poster_file = NULL, updated_at = now()
WHERE id = $1 AND deleted_at IS NULL;

-- name: replace_movie_poster
-- Set live movie $1's poster file to $2; returns the file it replaces (maybe null), or nothing
-- when the movie is unknown or deleted.
UPDATE movies m
SET poster_file = $2, updated_at = now()
FROM (SELECT id, poster_file FROM movies WHERE id = $1 AND deleted_at IS NULL FOR UPDATE) old
WHERE m.id = old.id
RETURNING old.poster_file AS old_file;

-- name: list_seat_types
-- Seat types and what they make of a showtime's price: times the multiplier, plus the surcharge.
SELECT name, price_multiplier, surcharge FROM seat_types ORDER BY sort_order;

-- name: insert_theater
-- A new theater named $1; nothing when the name (any case) is taken.
INSERT INTO theaters (name) VALUES ($1)
ON CONFLICT (lower(name)) DO NOTHING
RETURNING id;

-- name: rename_theater
-- Theater $1 is now named $2; its id, or nothing when it is unknown. A name another theater
-- has (any case) fails the unique index theaters_name_key.
UPDATE theaters SET name = $2 WHERE id = $1
RETURNING id;

-- name: delete_unused_theater
-- Delete theater $1 (its seats and its own price cards go with it) unless it has ever had a
-- showtime, cancelled ones included. `deleted` says whether it went, `found` whether it
-- existed. A showtime inserted meanwhile fails the delete on the showtimes_theater_id_fkey
-- foreign key, so the database, not this check, keeps a used theater.
WITH gone AS (
    DELETE FROM theaters t
    WHERE t.id = $1 AND NOT EXISTS (SELECT 1 FROM showtimes s WHERE s.theater_id = t.id)
    RETURNING t.id
)
SELECT EXISTS (SELECT 1 FROM gone) AS deleted,
       EXISTS (SELECT 1 FROM theaters WHERE id = $1) AS found;

-- name: insert_seats
-- The seats of theater $1, given as parallel arrays: $2 row labels, $3 seat numbers,
-- $4 seat types, $5 row indexes, $6 column indexes.
INSERT INTO seats (theater_id, row_label, seat_number, seat_type, row_index, column_index)
SELECT $1, seat.* FROM unnest($2::text[], $3::int[], $4::text[], $5::int[], $6::int[]) AS seat;

-- name: theater_page
-- One page of theaters by name with the total; $1 limit, $2 offset. Always one row at least.
WITH counted AS (SELECT count(*) AS total FROM theaters),
page AS (SELECT id, name FROM theaters ORDER BY lower(name), id LIMIT $1 OFFSET $2)
SELECT counted.total, page.id
FROM counted LEFT JOIN page ON true
ORDER BY lower(page.name), page.id;

-- name: theaters_by_ids
-- The theaters $1 (uuid[]) by name, each with its layout: total seats, width in columns
-- (aisles included) and rows as json [{label, seats, aisles_after}] from the screen backwards.
-- An aisle follows a seat when the next seat of its row is more than one column further.
SELECT t.id, t.name, t.created_at, layout.total_seats, layout.columns, layout.rows
FROM theaters t
LEFT JOIN LATERAL (
    SELECT coalesce(sum(r.seats), 0)::int AS total_seats,
           coalesce(max(r.last_column) + 1, 0)::int AS columns,
           coalesce(jsonb_agg(jsonb_build_object(
               'label', r.row_label, 'seats', r.seats, 'aisles_after', r.aisles_after
           ) ORDER BY r.row_index), '[]'::jsonb) AS rows
    FROM (
        SELECT row_index, row_label, count(*)::int AS seats, max(column_index) AS last_column,
               coalesce(array_agg(seat_number ORDER BY seat_number) FILTER (WHERE aisle_after),
                        '{}') AS aisles_after
        FROM (
            SELECT row_index, row_label, seat_number, column_index,
                   lead(column_index) OVER (PARTITION BY row_index ORDER BY seat_number)
                       - column_index > 1 AS aisle_after
            FROM seats WHERE theater_id = t.id
        ) seat
        GROUP BY row_index, row_label
    ) r
) layout ON true
WHERE t.id = ANY($1::uuid[])
ORDER BY lower(t.name), t.id;

-- name: theater_seats
-- The seats of theater $1, row by row from the screen, seat by seat.
SELECT id, row_label, seat_number, row_label || seat_number AS seat_label, seat_type,
       row_index, column_index
FROM seats WHERE theater_id = $1
ORDER BY row_index, seat_number;

-- name: theater_by_name
-- The id of the theater named $1 (any case), if any.
SELECT id FROM theaters WHERE lower(name) = lower($1);

-- name: movie_for_showtime
-- The duration of live movie $1, share-locked so that it is not deleted meanwhile, and the
-- database's now() to judge what is in the past.
SELECT duration_minutes, now() AS now FROM movies
WHERE id = $1 AND deleted_at IS NULL
FOR SHARE;

-- name: lock_theater_schedule
-- The schedule lock of theater $1 until the transaction ends: creations and moves of its
-- showtimes take turns, so an overlapping one waits for the other to commit and meets the
-- exclusion constraint (409), instead of two waiting for each other's index entry (a deadlock).
-- Two-int4 advisory keys (class 1) are a keyspace of their own, apart from the bigint keys of
-- showtimes (hashtextextended(id, 727)) and idempotency keys (728).
SELECT pg_advisory_xact_lock(1, hashtext($1::uuid::text));

-- name: lock_schedule_of_showtime_theater
-- lock_theater_schedule for the theater of showtime $1 (a showtime never changes theater).
SELECT pg_advisory_xact_lock(1, hashtext(theater_id::text)) FROM showtimes WHERE id = $1;

-- name: lock_schedules_of_movie_theaters
-- lock_theater_schedule for every theater where movie $1 has a live showtime that has not
-- started, in key order (so two of these never wait for each other in a circle).
SELECT pg_advisory_xact_lock(1, key)
FROM (
    SELECT DISTINCT hashtext(theater_id::text) AS key FROM showtimes
    WHERE movie_id = $1 AND cancelled_at IS NULL AND start_time > now()
    ORDER BY key
) AS theater_keys;

-- name: insert_showtime
-- A showtime of movie $1 in theater $2: $3 start, $4 end, $5 busy until (end + cleaning),
-- $6 price. Nothing when the theater is unknown; the exclusion constraint refuses overlaps.
INSERT INTO showtimes (movie_id, theater_id, theater_number, start_time, end_time, busy_until, price)
SELECT $1, t.id, t.number, $3, $4, $5, $6 FROM theaters t WHERE t.id = $2
RETURNING id;

-- name: lock_live_showtime
-- Showtime $1 unless cancelled, locked for update, with its movie's duration and now().
SELECT s.id, s.start_time, s.price, s.theater_id, m.duration_minutes, now() AS now
FROM showtimes s JOIN movies m ON m.id = s.movie_id
WHERE s.id = $1 AND s.cancelled_at IS NULL
FOR UPDATE OF s;

-- name: update_showtime
-- Showtime $1 now starts at $2, ends at $3, keeps the theater busy until $4 and costs $5.
UPDATE showtimes
SET start_time = $2, end_time = $3, busy_until = $4, price = $5, updated_at = now()
WHERE id = $1;

-- name: update_showtime_price
-- Showtime $1 now costs $2 (seats already booked keep the price they were booked at).
UPDATE showtimes SET price = $2, updated_at = now() WHERE id = $1;

-- name: find_overlapping_showtime
-- A live showtime of theater $1 whose busy span meets [$2, $3), other than showtime $4, with
-- its movie's title (the 409 names it).
SELECT s.id, s.start_time, s.end_time, s.busy_until, m.title AS movie_title
FROM showtimes s JOIN movies m ON m.id = s.movie_id
WHERE s.theater_id = $1 AND s.cancelled_at IS NULL
  AND tstzrange(s.start_time, s.busy_until, '[)') && tstzrange($2, $3, '[)')
  AND s.id IS DISTINCT FROM $4::uuid
ORDER BY s.start_time
LIMIT 1;

-- name: find_stretched_overlap
-- After movie $1's duration could not become $2 minutes (cleaning $3 minutes more): a showtime
-- of it that has not started whose longer span would meet another live showtime of its
-- theater (also stretched, when it is the movie's too), and that other one with its title.
WITH stretched AS (
    SELECT s.id, s.theater_id, s.start_time,
           CASE WHEN s.movie_id = $1 AND s.start_time > now()
                THEN s.start_time + make_interval(mins => $2::int + $3::int)
                ELSE s.busy_until END AS busy_until
    FROM showtimes s
    WHERE s.cancelled_at IS NULL
)
SELECT mine.id AS stretched_id, mine.start_time AS stretched_start_time,
       o.id, o.start_time, o.end_time, o.busy_until, m.title AS movie_title
FROM showtimes s
JOIN stretched mine ON mine.id = s.id
JOIN stretched other ON other.theater_id = mine.theater_id AND other.id <> mine.id
     AND tstzrange(mine.start_time, mine.busy_until, '[)')
         && tstzrange(other.start_time, other.busy_until, '[)')
JOIN showtimes o ON o.id = other.id
JOIN movies m ON m.id = o.movie_id
WHERE s.movie_id = $1 AND s.cancelled_at IS NULL AND s.start_time > now()
ORDER BY mine.start_time, other.start_time
LIMIT 1;

-- name: showtime_page
-- One page of live showtimes of live movies, earliest first, with the total. Filters (each
-- null for all): $1 and $2 the bounds of a day, $3 movie, $4 theater, $5 genre name (any
-- case); $6 true to include showtimes that have ended. $7 limit, $8 offset. Always one row at
-- least: the total with a null id when the page is empty.
WITH matching AS (
    SELECT s.id, s.start_time
    FROM showtimes s JOIN movies m ON m.id = s.movie_id
    WHERE s.cancelled_at IS NULL AND m.deleted_at IS NULL
      AND ($1::timestamptz IS NULL OR s.start_time >= $1)
      AND ($2::timestamptz IS NULL OR s.start_time < $2)
      AND ($3::uuid IS NULL OR s.movie_id = $3)
      AND ($4::uuid IS NULL OR s.theater_id = $4)
      AND ($5::text IS NULL OR EXISTS (
            SELECT 1 FROM movie_genres mg JOIN genres g ON g.id = mg.genre_id
            WHERE mg.movie_id = s.movie_id AND lower(g.name) = lower($5)))
      AND ($6::boolean OR s.end_time > now())
),
counted AS (SELECT count(*) AS total FROM matching),
page AS (SELECT id, start_time FROM matching ORDER BY start_time, id LIMIT $7 OFFSET $8)
SELECT counted.total, page.id
FROM counted LEFT JOIN page ON true
ORDER BY page.start_time, page.id;

-- name: showtimes_by_ids
-- The showtimes $1 (uuid[]), cancelled ones included, earliest first, with their movie's title,
-- theater's name, total seats and available seats: seats without a live claim (live_claims: a
-- confirmed reservation's, or a hold's that has not expired). A cancelled showtime has none
-- available.
SELECT s.id, s.movie_id, s.theater_id, s.start_time, s.end_time, s.price, s.cancelled_at,
       m.title AS movie_title, t.name AS theater_name,
       seat_count.total AS total_seats,
       CASE WHEN s.cancelled_at IS NULL THEN seat_count.total - claimed.total ELSE 0 END
           AS available_seats
FROM showtimes s
JOIN movies m ON m.id = s.movie_id
JOIN theaters t ON t.id = s.theater_id
CROSS JOIN LATERAL (
    SELECT count(*)::int AS total FROM seats WHERE seats.theater_id = s.theater_id
) seat_count
CROSS JOIN LATERAL (
    SELECT count(*)::int AS total FROM live_claims c WHERE c.showtime_id = s.id
) claimed
WHERE s.id = ANY($1::uuid[])
ORDER BY s.start_time, s.id;

-- name: showtime_lowest_prices
-- The lowest price of a seat of each showtime $1 (uuid[]) for the default ticket type (adult):
-- the programme's "from 9.50 EUR". Priced as the seat map prices its seats (ticket_price), over
-- the seat types the showtime's theater has. One query for a whole day's programme.
SELECT s.id AS showtime_id,
       min(ticket_price(s.price, t.price_multiplier, t.surcharge,
                        coalesce(d.discount_percent, 0), d.fixed_price)) AS lowest_price
FROM showtimes s
CROSS JOIN LATERAL (
    SELECT DISTINCT seats.seat_type FROM seats WHERE seats.theater_id = s.theater_id
) present
JOIN seat_types t ON t.name = present.seat_type
LEFT JOIN ticket_types d ON d.is_default
WHERE s.id = ANY($1::uuid[])
GROUP BY s.id;

-- name: next_listing_change
-- When the showtime listings next change by the clock alone (reservations/catalog/listings.py):
-- the first start or end of a live showtime after now(), or expiry of a hold (its seats become
-- available with no notification), NULL when none is to come; and now().
SELECT least(
           (SELECT min(start_time) FROM showtimes WHERE cancelled_at IS NULL AND start_time > now()),
           (SELECT min(end_time) FROM showtimes WHERE cancelled_at IS NULL AND end_time > now()),
           (SELECT min(expires_at) FROM holds WHERE expires_at > now())
       ) AS next_change,
       now() AS now;

-- name: announce_catalog_change
-- Tell every instance that the catalog changed (CATALOG_CHANNEL of reservations/catalog/
-- listings.py): they drop the listings they keep.
SELECT pg_notify('catalog_changes', '');
