-- Undo 0012_prices: the prices of seats booked stay in reservation_seats.price and the totals
-- in reservations.total_price (the amount charged, after any discount).
DROP INDEX reservations_showtime_user_idx;
ALTER TABLE reservation_seats DROP COLUMN discount, DROP COLUMN ticket_type_id;
ALTER TABLE reservations
    DROP COLUMN voucher_id,
    DROP COLUMN subtotal,
    DROP COLUMN discount;
DROP TABLE vouchers;
DROP TABLE price_cards;
DROP TABLE ticket_types;
ALTER TABLE seat_types DROP COLUMN surcharge;
