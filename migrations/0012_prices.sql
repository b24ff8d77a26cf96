-- depends: 0011_report_building_blocks
-- Prices a cinema sells (issue 25): ticket types (adult, child, ...) chosen per seat, seat types
-- priced by a surcharge as well as a multiplier, price cards that give a new showtime its price,
-- vouchers, and what a reservation was charged: subtotal, discount and total.
-- The price rule and the code that applies it are in sql/code/05_prices.sql.

-- What a seat of a type costs on top of the showtime's price times its multiplier. Existing
-- types get 0: every price stays what it was.
ALTER TABLE seat_types
    ADD COLUMN surcharge numeric(10, 2) NOT NULL DEFAULT 0 CHECK (surcharge >= 0 AND surcharge <= 1000);

-- A ticket type: a percent off the seat's price, or a fixed price. Its code is never changed
-- once made (reports and old reservations name it); deactivating one keeps it for them.
CREATE TABLE ticket_types (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code             text NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    discount_percent numeric(5, 2) NOT NULL DEFAULT 0
                     CHECK (discount_percent >= 0 AND discount_percent <= 100),
    fixed_price      numeric(10, 2) CHECK (fixed_price >= 0),
    is_default       boolean NOT NULL DEFAULT false,
    active           boolean NOT NULL DEFAULT true,
    sort_order       integer NOT NULL DEFAULT 100,
    CHECK (fixed_price IS NULL OR discount_percent = 0),
    -- The default type is what unnamed seats get: it is always there and always sold.
    CHECK (NOT is_default OR active)
);
CREATE UNIQUE INDEX ticket_types_code_key ON ticket_types (code);
CREATE UNIQUE INDEX ticket_types_one_default ON ticket_types (is_default) WHERE is_default;

-- Fixed ids, so that every database (and sql/schema.sql) has the same rows.
INSERT INTO ticket_types (id, code, name, description, discount_percent, is_default, sort_order) VALUES
    ('00000000-0000-4000-8000-00000000a001', 'adult', 'Adult', '', 0, true, 1),
    ('00000000-0000-4000-8000-00000000a002', 'child', 'Child', 'Up to 14 years', 30, false, 2),
    ('00000000-0000-4000-8000-00000000a003', 'senior', 'Senior', '65 years and over', 20, false, 3),
    ('00000000-0000-4000-8000-00000000a004', 'student', 'Student', 'With a student card', 15, false, 4);

-- Base prices by weekday and local time (CINEMA_TZ), for one theater or all.
CREATE TABLE price_cards (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    weekdays         smallint[] NOT NULL
                     CHECK (cardinality(weekdays) >= 1 AND weekdays <@ '{1,2,3,4,5,6,7}'),
    start_local_time time NOT NULL,
    -- '24:00' is the end of the day; an end at or before the start runs past midnight.
    end_local_time   time NOT NULL,
    theater_id       uuid REFERENCES theaters (id) ON DELETE CASCADE,
    price            numeric(10, 2) NOT NULL CHECK (price >= 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Vouchers. redemptions counts the confirmed reservations that used it; the CHECK is what makes
-- "at most max_redemptions" hold whatever runs at once (sql/code/05_prices.sql redeem_voucher).
CREATE TABLE vouchers (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code             text NOT NULL CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{3,63}$'),
    discount_percent numeric(5, 2) CHECK (discount_percent > 0 AND discount_percent <= 100),
    discount_amount  numeric(10, 2) CHECK (discount_amount > 0),
    max_redemptions  integer NOT NULL DEFAULT 1 CHECK (max_redemptions >= 1),
    redemptions      integer NOT NULL DEFAULT 0,
    valid_from       timestamptz,
    valid_until      timestamptz,
    movie_id         uuid REFERENCES movies (id),
    showtime_id      uuid REFERENCES showtimes (id),
    active           boolean NOT NULL DEFAULT true,
    batch_id         uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((discount_percent IS NULL) <> (discount_amount IS NULL)),
    CHECK (redemptions >= 0 AND redemptions <= max_redemptions),
    CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from)
);
CREATE UNIQUE INDEX vouchers_code_key ON vouchers (code);
CREATE INDEX vouchers_created_idx ON vouchers (created_at DESC, id);

-- What a reservation was charged: total_price (as before) is what was paid, discount what a
-- voucher took off, and subtotal, the sum of the seat prices, follows from them (so a writer
-- that knows nothing of vouchers still writes a consistent row). Existing ones: no discount.
ALTER TABLE reservations
    ADD COLUMN discount numeric(10, 2) NOT NULL DEFAULT 0 CHECK (discount >= 0),
    ADD COLUMN subtotal numeric(10, 2) GENERATED ALWAYS AS (total_price + discount) STORED,
    ADD COLUMN voucher_id uuid REFERENCES vouchers (id);
CREATE INDEX reservations_voucher_idx ON reservations (voucher_id) WHERE voucher_id IS NOT NULL;
-- The seats a user owns of a showtime, counted by every hold (MAX_SEATS_PER_USER_PER_SHOWTIME):
-- found by the pair, not by reading all of the user's reservations.
CREATE INDEX reservations_showtime_user_idx ON reservations (showtime_id, user_id)
    WHERE status = 'confirmed';

-- Each seat's ticket type, and its share of the reservation's discount (so that revenue by any
-- grouping is after discounts and adds up to the totals charged). Existing seats (and seats
-- written by anything that names no type): the default type, adult, at the price they were
-- booked at, no discount.
ALTER TABLE reservation_seats
    ADD COLUMN ticket_type_id uuid NOT NULL DEFAULT '00000000-0000-4000-8000-00000000a001'
        REFERENCES ticket_types (id),
    ADD COLUMN discount numeric(10, 2) NOT NULL DEFAULT 0,
    ADD CONSTRAINT reservation_seats_discount_check CHECK (discount >= 0 AND discount <= price);

-- The seat changes whose signatures grew (sql/code/03_seat_changes.sql): hold_seats takes the
-- per-user seat limit, book_held_seats the ticket types and the voucher. No running code calls
-- the old ones once this is applied with the code that comes with it.
DROP FUNCTION IF EXISTS hold_seats(uuid, uuid, uuid[], integer, integer, integer, integer, integer, text);
DROP FUNCTION IF EXISTS book_held_seats(uuid, uuid, uuid[], text[], text, text, numeric);
