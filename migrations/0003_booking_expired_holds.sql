-- depends: 0001_initial
-- What a user's hold held when it expired. Whoever deletes an expired hold (the next request that
-- changes the showtime's seats, or the sweeper) leaves this note, so that POST /reservations can
-- answer `hold_expired` rather than `seats_not_held` however soon the sweeper ran. A new hold of
-- the same user and showtime removes the note; the sweeper forgets notes after two days.

CREATE TABLE expired_holds (
    showtime_id uuid NOT NULL REFERENCES showtimes (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seat_ids    uuid[] NOT NULL,
    expired_at  timestamptz NOT NULL,
    PRIMARY KEY (showtime_id, user_id)
);
CREATE INDEX expired_holds_expired_idx ON expired_holds (expired_at);
