-- The limit counts every reservation's seats again.
ALTER TABLE reservations DROP COLUMN seat_count;
