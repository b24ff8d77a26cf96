-- depends: 0014_checkin
-- Attempts in flight: a login counted before its password is checked waits here (`pending`)
-- until it is decided, a failure (moved to `attempts`) or a success (dropped). The limit
-- judges by real failures; an attempt past it waits for this client's undecided ones.
ALTER TABLE login_attempts
    ADD COLUMN pending timestamptz[] NOT NULL DEFAULT '{}';
