-- The whole initial schema. Invariants live here, not only in Python:
--   * emails are unique whatever their case (unique index on lower(email));
--   * two live showtimes of one theater never overlap (exclusion constraint);
--   * a seat of a showtime has at most one live claim, a hold or a confirmed reservation
--     (primary key of seat_claims); an expired hold's claim is removed by whichever
--     transaction next needs the seat, so correctness never waits for the sweeper.
-- depends:

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    first_name    text NOT NULL DEFAULT '' CHECK (length(first_name) <= 100),
    last_name     text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Failed logins, counted per key ("email:..." or "address:...") in fixed windows; shared by
-- every instance because it lives in the database.
CREATE TABLE login_failures (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    failures     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (key, window_start)
);

CREATE TABLE genres (
    id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 50)
);
CREATE UNIQUE INDEX genres_name_key ON genres (lower(name));

CREATE TABLE movies (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),
    release_date     date,
    poster_file      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- A deleted movie is hidden from the catalog; its past reservations stay readable.
    deleted_at       timestamptz
);
CREATE INDEX movies_live_title_idx ON movies (lower(title)) WHERE deleted_at IS NULL;

CREATE TABLE movie_genres (
    movie_id uuid NOT NULL REFERENCES movies (id) ON DELETE CASCADE,
    genre_id uuid NOT NULL REFERENCES genres (id) ON DELETE CASCADE,
    PRIMARY KEY (movie_id, genre_id)
);
CREATE INDEX movie_genres_genre_idx ON movie_genres (genre_id, movie_id);

-- Price of a seat = showtime price x the multiplier of its seat type.
CREATE TABLE seat_types (
    name             text PRIMARY KEY,
    price_multiplier numeric(4, 2) NOT NULL CHECK (price_multiplier > 0),
    sort_order       integer NOT NULL
);
INSERT INTO seat_types (name, price_multiplier, sort_order) VALUES
    ('regular', 1.00, 1),
    ('premium', 1.25, 2),
    ('vip', 1.50, 3),
    ('accessible', 1.00, 4);

CREATE TABLE theaters (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- A small integer twin of the id, for the overlap exclusion constraint (core PostgreSQL
    -- has no GiST operator class for uuid equality without btree_gist).
    number     integer GENERATED ALWAYS AS IDENTITY UNIQUE,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX theaters_name_key ON theaters (lower(name));

CREATE TABLE seats (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    theater_id   uuid NOT NULL REFERENCES theaters (id) ON DELETE CASCADE,
    row_label    text NOT NULL CHECK (length(row_label) BETWEEN 1 AND 5),
    seat_number  integer NOT NULL CHECK (seat_number > 0),
    seat_type    text NOT NULL REFERENCES seat_types (name),
    -- Position in the drawn hall: row 0 is nearest the screen; columns count aisle gaps.
    row_index    integer NOT NULL CHECK (row_index >= 0),
    column_index integer NOT NULL CHECK (column_index >= 0),
    UNIQUE (theater_id, row_label, seat_number),
    UNIQUE (theater_id, row_index, column_index)
);

CREATE TABLE showtimes (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    movie_id       uuid NOT NULL REFERENCES movies (id),
    theater_id     uuid NOT NULL REFERENCES theaters (id),
    theater_number integer NOT NULL REFERENCES theaters (number),
    start_time     timestamptz NOT NULL,
    end_time       timestamptz NOT NULL,
    -- end_time plus the cleaning buffer: the theater is busy until then.
    busy_until     timestamptz NOT NULL,
    price          numeric(10, 2) NOT NULL CHECK (price >= 0),
    -- Grows by one with every seat change, in the same transaction as the change.
    version        bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    cancelled_at   timestamptz,
    CHECK (end_time > start_time AND busy_until >= end_time),
    CONSTRAINT showtimes_no_overlap EXCLUDE USING gist (
        int4range(theater_number, theater_number, '[]') WITH &&,
        tstzrange(start_time, busy_until, '[)') WITH &&
    ) WHERE (cancelled_at IS NULL)
);
CREATE INDEX showtimes_start_idx ON showtimes (start_time) WHERE cancelled_at IS NULL;
CREATE INDEX showtimes_movie_idx ON showtimes (movie_id, start_time);
CREATE INDEX showtimes_theater_idx ON showtimes (theater_id, start_time);

-- One hold per user and showtime; locking again adds seats and renews expires_at, but never
-- past created_at + MAX_HOLD_LIFETIME_SECONDS.
CREATE TABLE holds (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    showtime_id uuid NOT NULL REFERENCES showtimes (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    UNIQUE (showtime_id, user_id)
);
CREATE INDEX holds_expires_idx ON holds (expires_at);

CREATE TABLE reservations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id),
    showtime_id   uuid NOT NULL REFERENCES showtimes (id),
    status        text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled')),
    total_price   numeric(10, 2) NOT NULL CHECK (total_price >= 0),
    ticket_code   text NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    cancel_reason text,
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);
CREATE INDEX reservations_user_idx ON reservations (user_id, created_at DESC);
CREATE INDEX reservations_showtime_idx ON reservations (showtime_id) WHERE status = 'confirmed';

-- The permanent record of what was booked, kept after cancellation.
CREATE TABLE reservation_seats (
    reservation_id uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    seat_id        uuid NOT NULL REFERENCES seats (id),
    price          numeric(10, 2) NOT NULL CHECK (price >= 0),
    PRIMARY KEY (reservation_id, seat_id)
);
CREATE INDEX reservation_seats_seat_idx ON reservation_seats (seat_id);

-- The live claims. The primary key is the no-double-booking guarantee: whatever the Python
-- does, a seat of a showtime is claimed at most once, by a hold or by a confirmed reservation.
CREATE TABLE seat_claims (
    showtime_id    uuid NOT NULL REFERENCES showtimes (id) ON DELETE CASCADE,
    seat_id        uuid NOT NULL REFERENCES seats (id),
    hold_id        uuid REFERENCES holds (id) ON DELETE CASCADE,
    reservation_id uuid REFERENCES reservations (id) ON DELETE CASCADE,
    PRIMARY KEY (showtime_id, seat_id),
    CHECK ((hold_id IS NULL) <> (reservation_id IS NULL))
);
CREATE INDEX seat_claims_hold_idx ON seat_claims (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX seat_claims_reservation_idx ON seat_claims (reservation_id) WHERE reservation_id IS NOT NULL;

-- Idempotency-Key of POST /reservations, per user, kept at least 24 hours.
CREATE TABLE idempotency_keys (
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash   text NOT NULL,
    reservation_id uuid REFERENCES reservations (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
