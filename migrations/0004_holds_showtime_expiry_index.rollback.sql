DROP INDEX IF EXISTS holds_showtime_expires_idx;
