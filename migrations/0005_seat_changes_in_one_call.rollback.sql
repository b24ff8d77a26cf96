DROP INDEX IF EXISTS holds_user_idx;
DROP TYPE IF EXISTS seat_change_showtime;
ALTER TABLE expired_holds DROP COLUMN IF EXISTS held_since;
