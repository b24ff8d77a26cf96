-- depends: 0011_report_building_blocks
-- Check-in at the door (issue 27): the usher role, and the admissions that let each seat of a
-- reservation in exactly once. The function that writes them is admit_ticket in
-- sql/code/07_checkin.sql.

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'usher', 'admin'));

-- One scan that admitted seats: which device, which usher, when. A mistaken one is undone
-- (undone_at), never deleted, so the record of the door stays whole. `nonce` is the scanner's
-- name for the scan: a retry with the same nonce answers this check-in again.
CREATE TABLE checkins (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    reservation_id uuid NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    showtime_id    uuid NOT NULL REFERENCES showtimes (id) ON DELETE CASCADE,
    nonce          text NOT NULL UNIQUE CHECK (length(nonce) BETWEEN 1 AND 100),
    device         text NOT NULL DEFAULT '' CHECK (length(device) <= 100),
    admitted_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    admitted_at    timestamptz NOT NULL DEFAULT now(),  -- the scan's time (offline: when made)
    recorded_at    timestamptz NOT NULL DEFAULT now(),  -- when the server learnt of it
    undone_at      timestamptz,
    undone_by      uuid REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX checkins_showtime_idx ON checkins (showtime_id, admitted_at);
CREATE INDEX checkins_reservation_idx ON checkins (reservation_id);

-- The seats a check-in admitted, one row each. The partial unique index is the guarantee: a
-- seat of a reservation is in at most one admission that is not undone, whatever the callers do.
CREATE TABLE admissions (
    checkin_id     uuid NOT NULL REFERENCES checkins (id) ON DELETE CASCADE,
    reservation_id uuid NOT NULL,
    seat_id        uuid NOT NULL,
    undone_at      timestamptz,
    PRIMARY KEY (checkin_id, seat_id),
    FOREIGN KEY (reservation_id, seat_id)
        REFERENCES reservation_seats (reservation_id, seat_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX admissions_once ON admissions (reservation_id, seat_id)
    WHERE undone_at IS NULL;
