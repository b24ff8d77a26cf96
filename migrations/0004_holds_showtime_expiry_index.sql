-- depends: 0003_booking_expired_holds
-- Every seat change of a showtime first deletes that showtime's expired holds, oldest first
-- (delete_expired_holds in sql/booking.sql), under the showtime's lock. This index finds them by
-- showtime and expiry, in expiry order; without it the plan walked holds_expires_idx (the
-- sweeper's, across all showtimes) past every expired hold of every other showtime: 7 ms a
-- change, under the lock, with 100,000 expired holds waiting for the sweeper.
CREATE INDEX holds_showtime_expires_idx ON holds (showtime_id, expires_at);
