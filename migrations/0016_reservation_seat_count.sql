-- depends: 0015_reliability
-- Each reservation's number of seats, written by the booking (book_held_seats_v2). The limit on
-- what one customer may buy (hold_seats) adds these up over the customer's reservations for the
-- showtime, under the showtime's lock, instead of visiting every one of their seats: with a few
-- hundred of them (MAX_SEATS_PER_USER_PER_SHOWTIME raised for a box office) the count took
-- most of a hold's time. NULL: not written by the booking (a row inserted by hand, or by a tool);
-- the limit then counts that reservation's seats.
ALTER TABLE reservations ADD COLUMN seat_count integer CHECK (seat_count > 0);
UPDATE reservations r SET seat_count = s.seats
FROM (SELECT reservation_id, count(*)::integer AS seats
      FROM reservation_seats GROUP BY reservation_id) s
WHERE s.reservation_id = r.id;
