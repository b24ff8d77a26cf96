-- stranded_seats_of_hold as migrations/0005 wrote it, before live_claims.
CREATE OR REPLACE FUNCTION stranded_seats_of_hold(
    p_showtime_id uuid, p_theater_id uuid, p_user_id uuid, p_adding uuid[]
) RETURNS TABLE (hold_seat_ids uuid[], stranded_seat_ids uuid[])
LANGUAGE sql STABLE AS $$
    WITH hall AS MATERIALIZED (
        SELECT s.id,
               s.row_index,
               s.column_index,
               coalesce(
                   c.reservation_id IS NOT NULL
                   OR (h.expires_at > now() AND h.user_id IS DISTINCT FROM p_user_id),
                   false
               ) AS others,
               s.id = ANY(p_adding)
               OR coalesce(h.user_id = p_user_id AND h.expires_at > now(), false) AS mine
        FROM seats s
        LEFT JOIN seat_claims c ON c.showtime_id = p_showtime_id AND c.seat_id = s.id
        LEFT JOIN holds h ON h.id = c.hold_id
        WHERE s.theater_id = p_theater_id
          AND s.row_index = ANY(ARRAY(
                SELECT row_index FROM seats WHERE id = ANY(p_adding) AND theater_id = p_theater_id
                UNION
                SELECT held.row_index
                FROM holds mine
                JOIN seat_claims c ON c.hold_id = mine.id
                JOIN seats held ON held.id = c.seat_id
                WHERE mine.showtime_id = p_showtime_id
                  AND mine.user_id = p_user_id
                  AND mine.expires_at > now()
          ))
    )
    SELECT coalesce(array_agg(seat.id ORDER BY seat.row_index, seat.column_index)
                        FILTER (WHERE seat.mine), '{}'),
           coalesce(array_agg(seat.id ORDER BY seat.row_index, seat.column_index) FILTER (
               WHERE NOT (seat.others OR seat.mine)
                 AND (l.id IS NOT NULL OR r.id IS NOT NULL)
                 -- stranded once the hold is in ...
                 AND (l.id IS NULL OR l.others OR l.mine)
                 AND (r.id IS NULL OR r.others OR r.mine)
                 -- ... and not before it
                 AND NOT ((l.id IS NULL OR l.others) AND (r.id IS NULL OR r.others))
           ), '{}')
    FROM hall seat
    LEFT JOIN hall l ON l.row_index = seat.row_index AND l.column_index = seat.column_index - 1
    LEFT JOIN hall r ON r.row_index = seat.row_index AND r.column_index = seat.column_index + 1;
$$;
DROP FUNCTION IF EXISTS seat_map(uuid, uuid);
DROP VIEW IF EXISTS live_claims;
