-- Prices: vouchers redeemed and given back, price cards. The price rule itself, ticket_price,
-- is in 02_seat_reads.sql (the seat map, an SQL function, is checked against it when created).
--
-- Applied by every `reservations migrate`, after the migrations: sql/code/README.md.

-- Why voucher p_voucher cannot be used for showtime p_showtime_id at p_now (voucher_invalid:
-- unknown, disabled, outside its window, for another movie or showtime; voucher_exhausted:
-- redeemed max_redemptions times), or NULL when it can. PL/pgSQL, not SQL: it is called inside
-- every booking with a voucher, under the showtime's lock, and an SQL function that is not
-- inlined plans its body again at every call (0.13 ms; PL/pgSQL keeps its plan).
CREATE OR REPLACE FUNCTION voucher_refusal(p_voucher vouchers, p_showtime_id uuid, p_now timestamptz)
RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_voucher.id IS NULL OR NOT p_voucher.active
       OR (p_voucher.valid_from IS NOT NULL AND p_now < p_voucher.valid_from)
       OR (p_voucher.valid_until IS NOT NULL AND p_now >= p_voucher.valid_until)
       OR (p_voucher.showtime_id IS NOT NULL AND p_voucher.showtime_id <> p_showtime_id)
       OR (p_voucher.movie_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM showtimes s WHERE s.id = p_showtime_id AND s.movie_id = p_voucher.movie_id
           ))
    THEN
        RETURN 'voucher_invalid';
    END IF;
    IF p_voucher.redemptions >= p_voucher.max_redemptions THEN
        RETURN 'voucher_exhausted';
    END IF;
    RETURN NULL;
END;
$$;

-- The discount a voucher gives on p_subtotal: its percent of it rounded half up to the cent,
-- or its amount, never more than the subtotal.
CREATE OR REPLACE FUNCTION voucher_discount(
    p_discount_percent numeric, p_discount_amount numeric, p_subtotal numeric
) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT least(
        p_subtotal,
        coalesce(round(p_subtotal * p_discount_percent / 100, 2), p_discount_amount, 0)
    );
$$;

-- Redeem the voucher of code p_code (any case) once for a booking of showtime p_showtime_id at
-- p_now, in the booking's transaction: refused (the whole booking undone) with voucher_invalid
-- or voucher_exhausted. One UPDATE, under the showtime's lock: it locks the voucher's row until
-- the booking commits, so bookings of every showtime redeem it one after the other (a booking
-- that waited for the row judges it again as the other left it), and its CHECK (redemptions <=
-- max_redemptions) refuses whatever would go past the limit. Only a refused code is read again,
-- to say why. The voucher as redeemed.
CREATE OR REPLACE FUNCTION redeem_voucher(p_code text, p_showtime_id uuid, p_now timestamptz)
RETURNS vouchers LANGUAGE plpgsql AS $$
DECLARE
    voucher vouchers%ROWTYPE;
    wanted text := upper(btrim(p_code));
BEGIN
    UPDATE vouchers v SET redemptions = v.redemptions + 1
    WHERE v.code = wanted AND voucher_refusal(v, p_showtime_id, p_now) IS NULL
    RETURNING * INTO voucher;
    IF NOT FOUND THEN
        SELECT * INTO voucher FROM vouchers v WHERE v.code = wanted;
        PERFORM refuse_seat_change(
            CASE coalesce(voucher_refusal(voucher, p_showtime_id, p_now), 'voucher_exhausted')
                WHEN 'voucher_exhausted' THEN 'voucher_exhausted' ELSE 'voucher_invalid' END,
            jsonb_build_object('code', wanted)
        );
    END IF;
    RETURN voucher;
END;
$$;

-- Seconds until the rate-limit key p_key may try a voucher code again (0: it may now): its
-- failures of the last p_window_seconds, with attempts left undecided for more than
-- p_undecided_seconds, against its limit p_max_failures. judge_attempt's 'refuse' rule
-- (08_rate_limits.sql), read only, so that a booking with a voucher writes nothing for it. A
-- booking asks it in its own statement, before the showtime's lock (sql/booking.sql), so that
-- the check costs no round trip of its own; PL/pgSQL, so that its plan is kept. 0 when p_key is
-- NULL (a booking without a voucher code): the statement is then the same with or without one,
-- and PostgreSQL keeps one plan for it instead of planning it again at every booking.
CREATE OR REPLACE FUNCTION voucher_guessing_wait(
    p_key text, p_window_seconds double precision, p_max_failures integer,
    p_undecided_seconds double precision
) RETURNS integer LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_key IS NULL THEN
        RETURN 0;
    END IF;
    RETURN (
        SELECT CASE WHEN count(*) >= p_max_failures
                    THEN greatest(1, ceil(extract(epoch FROM
                             min(f.at) + make_interval(secs => p_window_seconds) - now())))
                    ELSE 0 END::integer
        FROM login_attempts l
        CROSS JOIN LATERAL (
            SELECT a AS at FROM unnest(l.attempts) AS a
            UNION ALL
            SELECT p FROM unnest(l.pending) AS p
            WHERE p <= now() - make_interval(secs => p_undecided_seconds)
        ) AS f
        WHERE l.key = p_key AND f.at > now() - make_interval(secs => p_window_seconds)
    );
END;
$$;

-- A reservation that used a voucher and is cancelled (by its user, an admin, or with its
-- showtime) gives the redemption back, whichever function cancelled it.
CREATE OR REPLACE FUNCTION give_back_voucher() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE vouchers v SET redemptions = v.redemptions - 1 WHERE v.id = NEW.voucher_id;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER reservation_gives_back_voucher
AFTER UPDATE OF status ON reservations
FOR EACH ROW
WHEN (OLD.status = 'confirmed' AND NEW.status = 'cancelled' AND NEW.voucher_id IS NOT NULL)
EXECUTE FUNCTION give_back_voucher();

-- The base price of a showtime of theater p_theater_id starting at p_start, from the price card
-- matching its local weekday (ISO, Monday 1) and time in p_zone, daylight saving included: the
-- theater's own cards before general ones, then the narrowest time range, then the newest.
-- A range whose end is at or before its start runs past midnight (its weekdays are those of
-- its start). NULL when no card matches.
CREATE OR REPLACE FUNCTION price_card_price(p_theater_id uuid, p_start timestamptz, p_zone text)
RETURNS numeric LANGUAGE sql STABLE AS $$
    WITH local AS (
        SELECT (p_start AT TIME ZONE p_zone) AS moment
    ), cards AS (
        SELECT c.*,
               CASE WHEN c.end_local_time > c.start_local_time
                    THEN c.end_local_time - c.start_local_time
                    ELSE interval '24 hours' - (c.start_local_time - c.end_local_time)
               END AS span,
               CASE WHEN c.end_local_time > c.start_local_time THEN 0 ELSE 1 END AS wraps
        FROM price_cards c
        WHERE c.theater_id IS NULL OR c.theater_id = p_theater_id
    )
    SELECT c.price
    FROM cards c, local l
    WHERE (c.wraps = 0
           AND extract(isodow FROM l.moment)::smallint = ANY(c.weekdays)
           AND l.moment::time >= c.start_local_time AND l.moment::time < c.end_local_time)
       OR (c.wraps = 1
           AND extract(isodow FROM l.moment)::smallint = ANY(c.weekdays)
           AND l.moment::time >= c.start_local_time)
       OR (c.wraps = 1
           AND extract(isodow FROM l.moment - interval '1 day')::smallint = ANY(c.weekdays)
           AND l.moment::time < c.end_local_time)
    ORDER BY c.theater_id IS NULL, c.span, c.created_at DESC, c.id
    LIMIT 1;
$$;
