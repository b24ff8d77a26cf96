-- depends: 0004_holds_showtime_expiry_index
-- Every seat change of a showtime is one server-side call (sql/code/03_seat_changes.sql); what it
-- needs of the schema is here.
-- Its functions, views and triggers live in sql/code/ now, each written once (sql/code/README.md).

-- What every hold records when it ends by expiry: since when it was held (a hold that reached
-- its lifetime cap has the same user wait HOLD_COOLDOWN_SECONDS before holding the showtime
-- again, so that a hall cannot be held forever by renewing).
ALTER TABLE expired_holds ADD COLUMN held_since timestamptz;

-- A showtime as a seat change needs it, with the database clock read after the lock, and
-- whether the lock was free when asked for (alone).
CREATE TYPE seat_change_showtime AS (
    id           uuid,
    theater_id   uuid,
    price        numeric(10, 2),
    start_time   timestamptz,
    cancelled_at timestamptz,
    now          timestamptz,
    alone        boolean
);

-- A user's holds across showtimes (the limit of showtimes held at once).
CREATE INDEX holds_user_idx ON holds (user_id, expires_at);
