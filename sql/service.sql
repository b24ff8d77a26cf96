-- The service itself: start-up checks.

-- name: time_zone_is_known
-- Whether PostgreSQL knows the IANA time zone $1.
SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1);
