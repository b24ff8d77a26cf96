-- Prices: ticket types, seat type prices, price cards and vouchers (see reservations/prices/).
-- The price rule is ticket_price (sql/code/02_seat_reads.sql); vouchers are redeemed inside the
-- booking's one call (sql/code/05_prices.sql).

-- name: list_ticket_types
-- The ticket types in their order; $1 true: also the inactive ones.
SELECT id, code, name, description, discount_percent, fixed_price, is_default, active
FROM ticket_types
WHERE $1 OR active
ORDER BY sort_order, code;

-- name: ticket_type_by_id
-- Ticket type $1.
SELECT id, code, name, description, discount_percent, fixed_price, is_default, active
FROM ticket_types WHERE id = $1;

-- name: insert_ticket_type
-- A new ticket type: code $1, name $2, description $3, percent $4, fixed price $5 (may be
-- NULL), after the others. Nothing when the code is taken.
INSERT INTO ticket_types (code, name, description, discount_percent, fixed_price, sort_order)
VALUES ($1, $2, $3, $4, $5, (SELECT coalesce(max(sort_order), 0) + 1 FROM ticket_types))
ON CONFLICT (code) DO NOTHING
RETURNING id, code, name, description, discount_percent, fixed_price, is_default, active;

-- name: update_ticket_type
-- Ticket type $1 now named $2, described $3, $4 percent off or fixed price $5, active $6.
-- Reservations made keep the prices they were booked at.
UPDATE ticket_types
SET name = $2, description = $3, discount_percent = $4, fixed_price = $5, active = $6
WHERE id = $1
RETURNING id, code, name, description, discount_percent, fixed_price, is_default, active;

-- name: update_seat_type
-- Seat type $1 now costs the showtime's price times $2, plus $3. Bookings from now on.
UPDATE seat_types SET price_multiplier = $2, surcharge = $3 WHERE name = $1
RETURNING name, price_multiplier, surcharge;

-- name: seat_type_by_name
SELECT name, price_multiplier, surcharge FROM seat_types WHERE name = $1;

-- name: showtime_prices
-- The price of every active ticket type on every seat type for showtime $1 (not cancelled):
-- ticket types in their order, then seat types. No row: unknown or cancelled.
SELECT tt.code AS ticket_type, st.name AS seat_type,
       ticket_price(s.price, st.price_multiplier, st.surcharge, tt.discount_percent,
                    tt.fixed_price) AS price
FROM showtimes s
CROSS JOIN ticket_types tt
CROSS JOIN seat_types st
WHERE s.id = $1 AND s.cancelled_at IS NULL AND tt.active
ORDER BY tt.sort_order, tt.code, st.sort_order;

-- name: live_showtime_exists
SELECT EXISTS (SELECT 1 FROM showtimes WHERE id = $1 AND cancelled_at IS NULL);

-- name: price_card_price
-- The base price the price cards give a showtime of theater $1 starting at $2 in zone $3; NULL
-- when none matches.
SELECT price_card_price($1, $2, $3);

-- name: list_price_cards
-- Every price card: the theater's name with it, general ones first.
SELECT c.id, c.name, c.weekdays::int[] AS weekdays,
       to_char(c.start_local_time, 'HH24:MI') AS start_local_time,
       to_char(c.end_local_time, 'HH24:MI') AS end_local_time,
       c.theater_id, t.name AS theater_name, c.price, c.created_at
FROM price_cards c LEFT JOIN theaters t ON t.id = c.theater_id
WHERE $1::uuid IS NULL OR c.id = $1
ORDER BY c.theater_id IS NOT NULL, t.name, c.start_local_time, c.name, c.id;

-- name: insert_price_card
-- A price card: name $1, weekdays $2 (int[]), local times $3 to $4 ('HH:MM'), theater $5 (may
-- be NULL), price $6. Its id.
INSERT INTO price_cards (name, weekdays, start_local_time, end_local_time, theater_id, price)
VALUES ($1, $2::smallint[], $3::text::time, $4::text::time, $5, $6)
RETURNING id;

-- name: update_price_card
-- Price card $1 replaced by the fields of insert_price_card ($2 to $7). Its id, or nothing.
UPDATE price_cards
SET name = $2, weekdays = $3::smallint[], start_local_time = $4::text::time, end_local_time = $5::text::time,
    theater_id = $6, price = $7
WHERE id = $1
RETURNING id;

-- name: delete_price_card
DELETE FROM price_cards WHERE id = $1 RETURNING id;

-- name: theater_exists
SELECT EXISTS (SELECT 1 FROM theaters WHERE id = $1);

-- name: insert_vouchers
-- New vouchers of codes $1 (text[]), each $2 percent or $3 off, $4 redemptions, valid from $5
-- until $6, for movie $7 and showtime $8 (each may be NULL), one batch $9. Nothing at all when
-- a code is taken (the caller draws again).
INSERT INTO vouchers (code, discount_percent, discount_amount, max_redemptions, valid_from,
                      valid_until, movie_id, showtime_id, batch_id)
SELECT code, $2, $3, $4, $5, $6, $7, $8, $9 FROM unnest($1::text[]) AS code
ON CONFLICT (code) DO NOTHING
RETURNING id;

-- name: vouchers_by_ids
SELECT id, code, discount_percent, discount_amount, max_redemptions, redemptions, valid_from,
       valid_until, movie_id, showtime_id, active, batch_id, created_at
FROM vouchers WHERE id = ANY($1::uuid[])
ORDER BY code;

-- name: voucher_page
-- One page of vouchers, newest first; $1 part of a code (any case, may be NULL), $2 limit, $3
-- offset; the total in every row (none when the page is empty, see voucher_count).
SELECT id, code, discount_percent, discount_amount, max_redemptions, redemptions, valid_from,
       valid_until, movie_id, showtime_id, active, batch_id, created_at,
       count(*) OVER () AS total
FROM vouchers
WHERE $1::text IS NULL OR code LIKE '%' || upper($1) || '%'
ORDER BY created_at DESC, code
LIMIT $2 OFFSET $3;

-- name: voucher_count
SELECT count(*) FROM vouchers WHERE $1::text IS NULL OR code LIKE '%' || upper($1) || '%';

-- name: disable_voucher
UPDATE vouchers SET active = false WHERE id = $1 RETURNING id;

-- name: check_voucher
-- What booking showtime $2 with voucher code $1 would meet now, without redeeming it: refusal
-- (NULL when it would be accepted), and the voucher. No row: no live showtime $2.
SELECT voucher_refusal(v, s.id, now()) AS refusal,
       v.code, v.discount_percent, v.discount_amount,
       v.max_redemptions - v.redemptions AS remaining_redemptions
FROM showtimes s
LEFT JOIN vouchers v ON v.code = upper(btrim($1))
WHERE s.id = $2 AND s.cancelled_at IS NULL;

-- name: vouchers_of_batch
-- The vouchers made together as batch $1, by code (for the console's CSV).
SELECT id, code, discount_percent, discount_amount, max_redemptions, redemptions, valid_from,
       valid_until, movie_id, showtime_id, active, batch_id, created_at
FROM vouchers WHERE batch_id = $1
ORDER BY code;

-- name: touch_upcoming_showtimes
-- A seat type's or a ticket type's price changed: the seat maps of showtimes not yet
-- over show other prices now. Moving their updated_at tells every instance to drop its cached
-- map (the showtimes_announce_update trigger) and fails the freshness check of the others.
UPDATE showtimes SET updated_at = now() WHERE cancelled_at IS NULL AND end_time > now();

-- name: voucher_batches
-- The $1 newest batches of vouchers: their id, size, first code and when made.
SELECT batch_id, count(*)::int AS count, min(code) AS first_code, min(created_at) AS created_at
FROM vouchers
WHERE batch_id IS NOT NULL
GROUP BY batch_id
ORDER BY min(created_at) DESC, batch_id
LIMIT $1;

-- name: seed_seat_type_prices
-- The demo's seat prices: premium and vip cost the showtime's price plus $1 and $2 (not times
-- 1.25 and 1.50, which print as 16.88), for a seat type still as migration 0001 left it.
UPDATE seat_types
SET price_multiplier = 1.00,
    surcharge = CASE name WHEN 'premium' THEN $1::numeric ELSE $2::numeric END
WHERE (name = 'premium' AND price_multiplier = 1.25 AND surcharge = 0)
   OR (name = 'vip' AND price_multiplier = 1.50 AND surcharge = 0);

-- name: seed_demo_voucher
-- The demo voucher $1: $2 percent off, $3 redemptions; nothing when it exists.
INSERT INTO vouchers (code, discount_percent, max_redemptions)
VALUES ($1, $2, $3)
ON CONFLICT (code) DO NOTHING;
