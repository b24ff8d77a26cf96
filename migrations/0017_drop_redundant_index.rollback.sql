CREATE INDEX reservations_showtime_idx ON reservations (showtime_id) WHERE status = 'confirmed';
