-- Admin reports (see reservations/reports/service.py). Each report is one query.
--
-- Shared parameters: $1 first day and $2 last day (dates), $3 the cinema's IANA time zone.
-- A report covers showtimes_in_period($1, $2, $3): those not cancelled that start in
-- [$1 00:00, $2 + 1 day 00:00) local time, found through showtimes_start_idx. Each one's sales
-- are showtime_sales(id), from index lookups however long the history is: tickets are the
-- seats of its confirmed reservations, revenue the sum of their prices as booked (both SQL
-- functions of sql/code/04_reports.sql, inlined by the planner). Hall sizes are counted once per
-- theater from the small seats table.
-- Reports with totals end with one extra row where is_total is true (GROUPING SETS with the
-- empty set, so it is there even when nothing matched).

-- name: capacity_report
-- Seats, seats sold and seats admitted at the door (no-shows: sold - admitted) per showtime of
-- the period, then the totals; $4 movie id, $5 theater id (each or both may be null).
WITH hall_sizes AS (
    SELECT theater_id, count(*) AS seats FROM seats GROUP BY theater_id
)
SELECT grouping(s.id) = 1 AS is_total,
       s.id AS showtime_id,
       m.title AS movie_title,
       t.name AS theater_name,
       s.start_time,
       count(*)::int AS showtimes,
       coalesce(sum(coalesce(h.seats, 0)), 0)::int AS total_seats,
       coalesce(sum(sold.tickets), 0)::int AS sold_seats,
       coalesce(round(sum(sold.tickets)::numeric / nullif(sum(h.seats), 0), 4), 0)::float8
           AS occupancy_rate,
       coalesce(sum(door.admitted), 0)::int AS admitted_seats,
       coalesce(sum(sold.tickets - door.admitted), 0)::int AS no_shows
  FROM showtimes_in_period($1::date, $2::date, $3::text) AS s
  JOIN movies m ON m.id = s.movie_id
  JOIN theaters t ON t.id = s.theater_id
  LEFT JOIN hall_sizes h ON h.theater_id = s.theater_id
 CROSS JOIN LATERAL showtime_sales(s.id) AS sold
 CROSS JOIN LATERAL (SELECT showtime_admitted_seats(s.id) AS admitted) AS door
 WHERE ($4::uuid IS NULL OR s.movie_id = $4::uuid)
   AND ($5::uuid IS NULL OR s.theater_id = $5::uuid)
 GROUP BY GROUPING SETS ((s.id, m.title, t.name, s.start_time), ())
 ORDER BY is_total, s.start_time, m.title, t.name, s.id;

-- name: revenue_report
-- Tickets and revenue per group of the period, then the totals. $4 the group: 'day' (local
-- days with a showtime, in date order; key the date, id null), 'movie' (movies shown; key the
-- title) or 'theater' (theaters used; key the name), those two most revenue first.
SELECT grouping(grp.key) = 1 AS is_total,
       grp.key,
       grp.id,
       coalesce(sum(sold.tickets), 0)::int AS tickets,
       coalesce(sum(sold.revenue), 0)::numeric(14, 2) AS revenue
  FROM showtimes_in_period($1::date, $2::date, $3::text) AS s
  JOIN movies m ON m.id = s.movie_id
  JOIN theaters t ON t.id = s.theater_id
 CROSS JOIN LATERAL (
       SELECT CASE $4::text
                  WHEN 'day' THEN to_char(s.start_time AT TIME ZONE $3::text, 'YYYY-MM-DD')
                  WHEN 'movie' THEN m.title
                  WHEN 'theater' THEN t.name
              END AS key,
              CASE $4::text
                  WHEN 'movie' THEN s.movie_id
                  WHEN 'theater' THEN s.theater_id
              END AS id) AS grp
 CROSS JOIN LATERAL showtime_sales(s.id) AS sold
 GROUP BY GROUPING SETS ((grp.key, grp.id), ())
 ORDER BY is_total,
          CASE WHEN $4::text = 'day' THEN grp.key END,
          revenue DESC, tickets DESC, grp.key, grp.id;

-- name: popular_movies
-- The $4 movies of the period with the most tickets sold (then most revenue), with their occupancy.
WITH hall_sizes AS (
    SELECT theater_id, count(*) AS seats FROM seats GROUP BY theater_id
)
SELECT m.id AS movie_id,
       m.title,
       sum(sold.tickets)::int AS tickets_sold,
       coalesce(sum(sold.revenue), 0)::numeric(14, 2) AS revenue,
       coalesce(round(sum(sold.tickets)::numeric / nullif(sum(h.seats), 0), 4), 0)::float8
           AS occupancy_rate
  FROM showtimes_in_period($1::date, $2::date, $3::text) AS s
  JOIN movies m ON m.id = s.movie_id
  LEFT JOIN hall_sizes h ON h.theater_id = s.theater_id
 CROSS JOIN LATERAL showtime_sales(s.id) AS sold
 GROUP BY m.id, m.title
 ORDER BY tickets_sold DESC, revenue DESC, m.title, m.id
 LIMIT $4;
