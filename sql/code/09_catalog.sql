-- Catalog: how a seat's id is made.
--
-- Applied by every `reservations migrate`, after the migrations: sql/code/README.md.

-- The id of the seat at (p_row_index, p_column_index) of theater p_theater_id: a UUIDv8 (RFC
-- 9562) whose first 80 bits are the theater id's (its random bits, the version nibble set to 8)
-- and whose last 48 are the position (row << 24 | column). Seat ids are public (every seat map
-- lists them), so nothing is lost by making them predictable, and a seat map is mostly seat
-- ids: with random ones a 300-seat map is 8.7 KB gzipped, with these about 2.5 KB, because the
-- 80-bit prefix repeats and compresses to a back-reference. Unique: the position is unique in
-- its theater (seats' UNIQUE (theater_id, row_index, column_index)), and two theaters share a
-- prefix with odds of one in 2^74.
CREATE OR REPLACE FUNCTION seat_id_at(
    p_theater_id uuid, p_row_index integer, p_column_index integer
) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (substr(hex, 1, 12) || '8' || substr(hex, 14, 7)
            || lpad(to_hex((p_row_index::bigint << 24) | p_column_index), 12, '0'))::uuid
    FROM (SELECT replace(p_theater_id::text, '-', '') AS hex) AS theater;
$$;

-- Every seat inserted gets its id from seat_id_at, whoever inserts it (the catalog, the demo
-- data, the tests' and the benchmark's factories), so the seat maps of every hall compress
-- alike. Seats inserted before this trigger keep their random ids.
CREATE OR REPLACE FUNCTION positional_seat_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.row_index >= 16777216 OR NEW.column_index >= 16777216 THEN
        RAISE EXCEPTION 'seat position (%, %) out of range', NEW.row_index, NEW.column_index;
    END IF;
    NEW.id := seat_id_at(NEW.theater_id, NEW.row_index, NEW.column_index);
    RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER seats_positional_id
BEFORE INSERT ON seats
FOR EACH ROW EXECUTE FUNCTION positional_seat_id();
