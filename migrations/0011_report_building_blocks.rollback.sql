DROP FUNCTION IF EXISTS showtime_sales(uuid);
DROP FUNCTION IF EXISTS showtimes_in_period(date, date, text);
