-- The tables, indexes and types as migrations/ leave them, for reading: the migrations are what
-- the database runs. The functions, views and triggers are in sql/code/. Written by `make schema`
-- (python -m reservations.schema_dump) from pg_dump 16; tests/contract/test_schema.py checks it.

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

CREATE TABLE account_tokens (
    token_hash bytea NOT NULL,
    purpose text NOT NULL,
    user_id uuid,
    email text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    CONSTRAINT account_tokens_email_check CHECK ((length(email) <= 254)),
    CONSTRAINT account_tokens_purpose_check CHECK ((purpose = ANY (ARRAY['password_reset'::text, 'verify_email'::text]))),
    CONSTRAINT account_tokens_token_hash_check CHECK ((length(token_hash) = 32))
);

CREATE TABLE admissions (
    checkin_id uuid NOT NULL,
    reservation_id uuid NOT NULL,
    seat_id uuid NOT NULL,
    undone_at timestamp with time zone
);

CREATE TABLE checkins (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    reservation_id uuid NOT NULL,
    showtime_id uuid NOT NULL,
    nonce text NOT NULL,
    device text DEFAULT ''::text NOT NULL,
    admitted_by uuid,
    admitted_at timestamp with time zone DEFAULT now() NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    undone_at timestamp with time zone,
    undone_by uuid,
    CONSTRAINT checkins_device_check CHECK ((length(device) <= 100)),
    CONSTRAINT checkins_nonce_check CHECK (((length(nonce) >= 1) AND (length(nonce) <= 100)))
);

CREATE TABLE email_attempts (
    email_id uuid NOT NULL,
    attempt integer NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    outcome text,
    smtp_code integer,
    error text,
    CONSTRAINT email_attempts_attempt_check CHECK ((attempt >= 1)),
    CONSTRAINT email_attempts_outcome_check CHECK ((outcome = ANY (ARRAY['sent'::text, 'captured'::text, 'temporary_failure'::text, 'permanent_failure'::text, 'unknown'::text])))
);

CREATE TABLE emails (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    kind text NOT NULL,
    recipient text NOT NULL,
    user_id uuid,
    reservation_id uuid,
    showtime_id uuid,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    attempts_before_retry integer DEFAULT 0 NOT NULL,
    last_error text,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    claimed_at timestamp with time zone,
    claimed_until timestamp with time zone,
    claim_token uuid,
    sending_since timestamp with time zone,
    subject text,
    text_body text,
    html_body text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    CONSTRAINT emails_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT emails_check CHECK (((status = ANY (ARRAY['sent'::text, 'captured'::text])) = (sent_at IS NOT NULL))),
    CONSTRAINT emails_check1 CHECK (((sending_since IS NULL) OR (status = 'queued'::text))),
    CONSTRAINT emails_kind_check CHECK ((kind = ANY (ARRAY['booking_confirmed'::text, 'reservation_cancelled'::text, 'showtime_cancelled'::text, 'password_reset'::text, 'verify_email'::text]))),
    CONSTRAINT emails_recipient_check CHECK (((length(recipient) >= 3) AND (length(recipient) <= 254))),
    CONSTRAINT emails_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'sent'::text, 'failed'::text, 'captured'::text])))
);

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

CREATE TABLE login_attempts (
    key text NOT NULL,
    attempts timestamp with time zone[] DEFAULT '{}'::timestamp with time zone[] NOT NULL,
    last_attempt timestamp with time zone DEFAULT now() NOT NULL,
    pending timestamp with time zone[] DEFAULT '{}'::timestamp with time zone[] NOT NULL,
    CONSTRAINT login_attempts_key_check CHECK ((length(key) <= 600))
);

CREATE TABLE movie_genres (
    movie_id uuid NOT NULL,
    genre_id uuid NOT NULL
);

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

CREATE TABLE price_cards (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    weekdays smallint[] NOT NULL,
    start_local_time time without time zone NOT NULL,
    end_local_time time without time zone NOT NULL,
    theater_id uuid,
    price numeric(10,2) NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT price_cards_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT price_cards_price_check CHECK ((price >= (0)::numeric)),
    CONSTRAINT price_cards_weekdays_check CHECK (((cardinality(weekdays) >= 1) AND (weekdays <@ '{1,2,3,4,5,6,7}'::smallint[])))
);

CREATE TABLE reservation_seats (
    reservation_id uuid NOT NULL,
    seat_id uuid NOT NULL,
    price numeric(10,2) NOT NULL,
    ticket_type_id uuid DEFAULT '00000000-0000-4000-8000-00000000a001'::uuid NOT NULL,
    discount numeric(10,2) DEFAULT 0 NOT NULL,
    CONSTRAINT reservation_seats_discount_check CHECK (((discount >= (0)::numeric) AND (discount <= price))),
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
    discount numeric(10,2) DEFAULT 0 NOT NULL,
    subtotal numeric(10,2) GENERATED ALWAYS AS ((total_price + discount)) STORED,
    voucher_id uuid,
    seat_count integer,
    CONSTRAINT reservations_check CHECK (((status = 'cancelled'::text) = (cancelled_at IS NOT NULL))),
    CONSTRAINT reservations_discount_check CHECK ((discount >= (0)::numeric)),
    CONSTRAINT reservations_seat_count_check CHECK ((seat_count > 0)),
    CONSTRAINT reservations_status_check CHECK ((status = ANY (ARRAY['confirmed'::text, 'cancelled'::text]))),
    CONSTRAINT reservations_total_price_check CHECK ((total_price >= (0)::numeric))
);

CREATE TABLE seat_claims (
    showtime_id uuid NOT NULL,
    seat_id uuid NOT NULL,
    hold_id uuid,
    reservation_id uuid,
    CONSTRAINT seat_claims_check CHECK (((hold_id IS NULL) <> (reservation_id IS NULL)))
);

CREATE TABLE seat_types (
    name text NOT NULL,
    price_multiplier numeric(4,2) NOT NULL,
    sort_order integer NOT NULL,
    surcharge numeric(10,2) DEFAULT 0 NOT NULL,
    CONSTRAINT seat_types_price_multiplier_check CHECK ((price_multiplier > (0)::numeric)),
    CONSTRAINT seat_types_surcharge_check CHECK (((surcharge >= (0)::numeric) AND (surcharge <= (1000)::numeric)))
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

ALTER TABLE theaters ALTER COLUMN number ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME theaters_number_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE ticket_types (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    code text NOT NULL,
    name text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    discount_percent numeric(5,2) DEFAULT 0 NOT NULL,
    fixed_price numeric(10,2),
    is_default boolean DEFAULT false NOT NULL,
    active boolean DEFAULT true NOT NULL,
    sort_order integer DEFAULT 100 NOT NULL,
    CONSTRAINT ticket_types_check CHECK (((fixed_price IS NULL) OR (discount_percent = (0)::numeric))),
    CONSTRAINT ticket_types_check1 CHECK (((NOT is_default) OR active)),
    CONSTRAINT ticket_types_code_check CHECK ((code ~ '^[a-z0-9][a-z0-9_-]{0,31}$'::text)),
    CONSTRAINT ticket_types_description_check CHECK ((length(description) <= 1000)),
    CONSTRAINT ticket_types_discount_percent_check CHECK (((discount_percent >= (0)::numeric) AND (discount_percent <= (100)::numeric))),
    CONSTRAINT ticket_types_fixed_price_check CHECK ((fixed_price >= (0)::numeric)),
    CONSTRAINT ticket_types_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100)))
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
    email_verified_at timestamp with time zone,
    CONSTRAINT users_email_check CHECK (((length(email) >= 3) AND (length(email) <= 254))),
    CONSTRAINT users_first_name_check CHECK ((length(first_name) <= 100)),
    CONSTRAINT users_last_name_check CHECK ((length(last_name) <= 100)),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['user'::text, 'usher'::text, 'admin'::text])))
);

CREATE TABLE vouchers (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    code text NOT NULL,
    discount_percent numeric(5,2),
    discount_amount numeric(10,2),
    max_redemptions integer DEFAULT 1 NOT NULL,
    redemptions integer DEFAULT 0 NOT NULL,
    valid_from timestamp with time zone,
    valid_until timestamp with time zone,
    movie_id uuid,
    showtime_id uuid,
    active boolean DEFAULT true NOT NULL,
    batch_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT vouchers_check CHECK (((discount_percent IS NULL) <> (discount_amount IS NULL))),
    CONSTRAINT vouchers_check1 CHECK (((redemptions >= 0) AND (redemptions <= max_redemptions))),
    CONSTRAINT vouchers_check2 CHECK (((valid_until IS NULL) OR (valid_from IS NULL) OR (valid_until > valid_from))),
    CONSTRAINT vouchers_code_check CHECK ((code ~ '^[A-Z0-9][A-Z0-9-]{3,63}$'::text)),
    CONSTRAINT vouchers_discount_amount_check CHECK ((discount_amount > (0)::numeric)),
    CONSTRAINT vouchers_discount_percent_check CHECK (((discount_percent > (0)::numeric) AND (discount_percent <= (100)::numeric))),
    CONSTRAINT vouchers_max_redemptions_check CHECK ((max_redemptions >= 1))
);

ALTER TABLE ONLY account_tokens
    ADD CONSTRAINT account_tokens_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY admissions
    ADD CONSTRAINT admissions_pkey PRIMARY KEY (checkin_id, seat_id);

ALTER TABLE ONLY checkins
    ADD CONSTRAINT checkins_nonce_key UNIQUE (nonce);

ALTER TABLE ONLY checkins
    ADD CONSTRAINT checkins_pkey PRIMARY KEY (id);

ALTER TABLE ONLY email_attempts
    ADD CONSTRAINT email_attempts_pkey PRIMARY KEY (email_id, attempt);

ALTER TABLE ONLY emails
    ADD CONSTRAINT emails_pkey PRIMARY KEY (id);

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

ALTER TABLE ONLY price_cards
    ADD CONSTRAINT price_cards_pkey PRIMARY KEY (id);

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

ALTER TABLE ONLY ticket_types
    ADD CONSTRAINT ticket_types_pkey PRIMARY KEY (id);

ALTER TABLE ONLY users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY vouchers
    ADD CONSTRAINT vouchers_pkey PRIMARY KEY (id);

CREATE INDEX account_tokens_expires_idx ON account_tokens USING btree (expires_at);

CREATE INDEX account_tokens_user_idx ON account_tokens USING btree (user_id, purpose) WHERE (used_at IS NULL);

CREATE UNIQUE INDEX admissions_once ON admissions USING btree (reservation_id, seat_id) WHERE (undone_at IS NULL);

CREATE INDEX checkins_reservation_idx ON checkins USING btree (reservation_id);

CREATE INDEX checkins_showtime_idx ON checkins USING btree (showtime_id, admitted_at);

CREATE INDEX emails_claimed_idx ON emails USING btree (claimed_at) WHERE (claimed_at IS NOT NULL);

CREATE INDEX emails_created_idx ON emails USING btree (created_at DESC);

CREATE INDEX emails_due_idx ON emails USING btree (next_attempt_at, created_at) WHERE (status = 'queued'::text);

CREATE INDEX emails_sending_idx ON emails USING btree (sending_since) WHERE (sending_since IS NOT NULL);

CREATE UNIQUE INDEX emails_showtime_cancelled_key ON emails USING btree (user_id, showtime_id) WHERE (kind = 'showtime_cancelled'::text);

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

CREATE INDEX reservations_showtime_user_idx ON reservations USING btree (showtime_id, user_id) WHERE (status = 'confirmed'::text);

CREATE INDEX reservations_user_idx ON reservations USING btree (user_id, created_at DESC);

CREATE INDEX reservations_voucher_idx ON reservations USING btree (voucher_id) WHERE (voucher_id IS NOT NULL);

CREATE INDEX seat_claims_hold_idx ON seat_claims USING btree (hold_id) WHERE (hold_id IS NOT NULL);

CREATE INDEX seat_claims_reservation_idx ON seat_claims USING btree (reservation_id) WHERE (reservation_id IS NOT NULL);

CREATE INDEX showtimes_movie_idx ON showtimes USING btree (movie_id, start_time);

CREATE INDEX showtimes_start_idx ON showtimes USING btree (start_time) WHERE (cancelled_at IS NULL);

CREATE INDEX showtimes_theater_idx ON showtimes USING btree (theater_id, start_time);

CREATE UNIQUE INDEX theaters_name_key ON theaters USING btree (lower(name));

CREATE UNIQUE INDEX ticket_types_code_key ON ticket_types USING btree (code);

CREATE UNIQUE INDEX ticket_types_one_default ON ticket_types USING btree (is_default) WHERE is_default;

CREATE UNIQUE INDEX users_email_key ON users USING btree (lower(email));

CREATE UNIQUE INDEX vouchers_code_key ON vouchers USING btree (code);

CREATE INDEX vouchers_created_idx ON vouchers USING btree (created_at DESC, id);

ALTER TABLE ONLY account_tokens
    ADD CONSTRAINT account_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE;

ALTER TABLE ONLY admissions
    ADD CONSTRAINT admissions_checkin_id_fkey FOREIGN KEY (checkin_id) REFERENCES checkins(id) ON DELETE CASCADE;

ALTER TABLE ONLY admissions
    ADD CONSTRAINT admissions_reservation_id_seat_id_fkey FOREIGN KEY (reservation_id, seat_id) REFERENCES reservation_seats(reservation_id, seat_id) ON DELETE CASCADE;

ALTER TABLE ONLY checkins
    ADD CONSTRAINT checkins_admitted_by_fkey FOREIGN KEY (admitted_by) REFERENCES users(id) ON DELETE SET NULL;

ALTER TABLE ONLY checkins
    ADD CONSTRAINT checkins_reservation_id_fkey FOREIGN KEY (reservation_id) REFERENCES reservations(id) ON DELETE CASCADE;

ALTER TABLE ONLY checkins
    ADD CONSTRAINT checkins_showtime_id_fkey FOREIGN KEY (showtime_id) REFERENCES showtimes(id) ON DELETE CASCADE;

ALTER TABLE ONLY checkins
    ADD CONSTRAINT checkins_undone_by_fkey FOREIGN KEY (undone_by) REFERENCES users(id) ON DELETE SET NULL;

ALTER TABLE ONLY email_attempts
    ADD CONSTRAINT email_attempts_email_id_fkey FOREIGN KEY (email_id) REFERENCES emails(id) ON DELETE CASCADE;

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

ALTER TABLE ONLY price_cards
    ADD CONSTRAINT price_cards_theater_id_fkey FOREIGN KEY (theater_id) REFERENCES theaters(id) ON DELETE CASCADE;

ALTER TABLE ONLY reservation_seats
    ADD CONSTRAINT reservation_seats_reservation_id_fkey FOREIGN KEY (reservation_id) REFERENCES reservations(id) ON DELETE CASCADE;

ALTER TABLE ONLY reservation_seats
    ADD CONSTRAINT reservation_seats_seat_id_fkey FOREIGN KEY (seat_id) REFERENCES seats(id);

ALTER TABLE ONLY reservation_seats
    ADD CONSTRAINT reservation_seats_ticket_type_id_fkey FOREIGN KEY (ticket_type_id) REFERENCES ticket_types(id);

ALTER TABLE ONLY reservations
    ADD CONSTRAINT reservations_showtime_id_fkey FOREIGN KEY (showtime_id) REFERENCES showtimes(id);

ALTER TABLE ONLY reservations
    ADD CONSTRAINT reservations_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id);

ALTER TABLE ONLY reservations
    ADD CONSTRAINT reservations_voucher_id_fkey FOREIGN KEY (voucher_id) REFERENCES vouchers(id);

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

ALTER TABLE ONLY vouchers
    ADD CONSTRAINT vouchers_movie_id_fkey FOREIGN KEY (movie_id) REFERENCES movies(id);

ALTER TABLE ONLY vouchers
    ADD CONSTRAINT vouchers_showtime_id_fkey FOREIGN KEY (showtime_id) REFERENCES showtimes(id);

-- Rows the migrations insert.

SET check_function_bodies = false;

INSERT INTO seat_types (name, price_multiplier, sort_order, surcharge) VALUES ('regular', 1.00, 1, 0.00);
INSERT INTO seat_types (name, price_multiplier, sort_order, surcharge) VALUES ('premium', 1.25, 2, 0.00);
INSERT INTO seat_types (name, price_multiplier, sort_order, surcharge) VALUES ('vip', 1.50, 3, 0.00);
INSERT INTO seat_types (name, price_multiplier, sort_order, surcharge) VALUES ('accessible', 1.00, 4, 0.00);

INSERT INTO ticket_types (id, code, name, description, discount_percent, fixed_price, is_default, active, sort_order) VALUES ('00000000-0000-4000-8000-00000000a001', 'adult', 'Adult', '', 0.00, NULL, true, true, 1);
INSERT INTO ticket_types (id, code, name, description, discount_percent, fixed_price, is_default, active, sort_order) VALUES ('00000000-0000-4000-8000-00000000a002', 'child', 'Child', 'Up to 14 years', 30.00, NULL, false, true, 2);
INSERT INTO ticket_types (id, code, name, description, discount_percent, fixed_price, is_default, active, sort_order) VALUES ('00000000-0000-4000-8000-00000000a003', 'senior', 'Senior', '65 years and over', 20.00, NULL, false, true, 3);
INSERT INTO ticket_types (id, code, name, description, discount_percent, fixed_price, is_default, active, sort_order) VALUES ('00000000-0000-4000-8000-00000000a004', 'student', 'Student', 'With a student card', 15.00, NULL, false, true, 4);
