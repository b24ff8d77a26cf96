-- Rate limits on attempts (logins, registrations): reservations/accounts/limits.py.
--
-- Each key (`login:<network> <email>`, `login-email:<email>`, ...) keeps its failures of the
-- last window (`attempts`) and its attempts in flight (`pending`), counted before the password
-- is hashed and decided after. Every function locks the rows of its keys in key order, so two
-- calls never wait for each other in a circle (a deadlock's 503 on a correct password).

-- The keys $1, their rows made if missing and locked until the transaction ends, in key order.
CREATE OR REPLACE FUNCTION lock_rate_limit_keys(p_keys text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    INSERT INTO login_attempts (key)
    SELECT k FROM unnest(p_keys) AS k ORDER BY k
    ON CONFLICT (key) DO NOTHING;
    PERFORM 1 FROM login_attempts WHERE key = ANY (p_keys) ORDER BY key FOR UPDATE;
END;
$$;

-- The array `p_times` without one occurrence of `p_at` (two attempts may share an instant).
CREATE OR REPLACE FUNCTION without_one(p_times timestamptz[], p_at timestamptz)
RETURNS timestamptz[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT CASE
        WHEN array_position(p_times, p_at) IS NULL THEN p_times
        ELSE p_times[:array_position(p_times, p_at) - 1]
             || p_times[array_position(p_times, p_at) + 1:]
    END;
$$;

-- Judge one attempt on every key of `p_keys`, key i allowing `p_maxima[i]` failures in the
-- last `p_window_seconds` seconds. An attempt in flight for more than `p_undecided_seconds`
-- (its process died before deciding it) counts as a failure.
--   'refuse': a key has had its failures; `seconds` until the oldest leaves the window.
--   'wait':   failures and attempts in flight together fill a key; ask again once those in
--             flight are decided (a success does not count, so the caller may yet pass).
--   'go':     counted in flight on every key as `attempted_at`, which decide_attempt settles;
--             with `p_decided` it counts at once as a failure instead (registrations).
CREATE OR REPLACE FUNCTION judge_attempt(
    p_keys text[],
    p_maxima integer[],
    p_window_seconds integer,
    p_undecided_seconds integer,
    p_decided boolean DEFAULT false
)
RETURNS TABLE (verdict text, seconds integer, attempted_at timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    v_window constant interval := make_interval(secs => p_window_seconds);
    v_undecided constant interval := make_interval(secs => p_undecided_seconds);
    v_refuse_for integer := 0;
    v_full boolean := false;
    v_row record;
BEGIN
    PERFORM lock_rate_limit_keys(p_keys);
    FOR v_row IN
        SELECT l.key, m.max_failures, f.failures, f.oldest, f.in_flight
        FROM unnest(p_keys, p_maxima) AS m (key, max_failures)
        JOIN login_attempts l ON l.key = m.key
        CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE NOT t.in_flight)::integer AS failures,
                   min(t.at) FILTER (WHERE NOT t.in_flight) AS oldest,
                   count(*) FILTER (WHERE t.in_flight)::integer AS in_flight
            FROM (
                SELECT a AS at, false AS in_flight FROM unnest(l.attempts) AS a
                UNION ALL
                SELECT p, p > now() - v_undecided FROM unnest(l.pending) AS p
            ) AS t
            WHERE t.at > now() - v_window
        ) AS f
    LOOP
        IF v_row.failures >= v_row.max_failures THEN
            v_refuse_for := greatest(
                v_refuse_for, 1,
                ceil(extract(epoch FROM v_row.oldest + v_window - now()))::integer
            );
        ELSIF v_row.failures + v_row.in_flight >= v_row.max_failures THEN
            v_full := true;
        END IF;
    END LOOP;
    IF v_refuse_for > 0 THEN
        RETURN QUERY SELECT 'refuse'::text, v_refuse_for, NULL::timestamptz;
        RETURN;
    END IF;
    IF v_full THEN
        RETURN QUERY SELECT 'wait'::text, 0, NULL::timestamptz;
        RETURN;
    END IF;
    UPDATE login_attempts
    SET attempts = ARRAY(SELECT a FROM unnest(attempts) AS a WHERE a > now() - v_window ORDER BY a)
            || CASE WHEN p_decided THEN ARRAY[now()] ELSE '{}'::timestamptz[] END,
        pending = ARRAY(SELECT p FROM unnest(pending) AS p WHERE p > now() - v_window ORDER BY p)
            || CASE WHEN p_decided THEN '{}'::timestamptz[] ELSE ARRAY[now()] END,
        last_attempt = now()
    WHERE key = ANY (p_keys);
    RETURN QUERY SELECT 'go'::text, 0, now();
END;
$$;

-- Settle the attempt made at `p_at` on the keys `p_keys`: a failure counts from now on, a
-- success is forgotten, and with it every failure of `p_forget` (the client that proved it
-- knows the password).
CREATE OR REPLACE FUNCTION decide_attempt(
    p_keys text[], p_at timestamptz, p_failed boolean, p_forget text DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM 1 FROM login_attempts WHERE key = ANY (p_keys) ORDER BY key FOR UPDATE;
    UPDATE login_attempts
    SET pending = without_one(pending, p_at),
        attempts = CASE WHEN p_failed THEN attempts || p_at ELSE attempts END
    WHERE key = ANY (p_keys);
    IF NOT p_failed AND p_forget IS NOT NULL THEN
        UPDATE login_attempts SET attempts = '{}' WHERE key = p_forget;
    END IF;
END;
$$;
