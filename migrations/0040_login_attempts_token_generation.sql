-- depends: 0004_holds_showtime_expiry_index
-- Abuse resistance (issue 19).
--
-- login_attempts: the attempts of each rate-limit key (a login's email and client network
-- pair, its email, its client network, a registration's client network) in the last window,
-- as a list of their times. An attempt is counted before its password is hashed, under the
-- key's row lock, and only while the list is shorter than the key's limit: the limit holds
-- under any concurrency, on any number of instances, over any window-long stretch of time
-- (no fixed windows to straddle). The old fixed-window login_failures table is no longer used.
CREATE TABLE login_attempts (
    key          text PRIMARY KEY CHECK (length(key) <= 600),
    attempts     timestamptz[] NOT NULL DEFAULT '{}',
    last_attempt timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_last_attempt_idx ON login_attempts (last_attempt);

-- Put in every access token and compared on every request: raising it revokes every token the
-- user holds (create-admin does it when it takes over an existing account).
ALTER TABLE users ADD COLUMN token_generation integer NOT NULL DEFAULT 0;
