DROP FUNCTION IF EXISTS seat_map(uuid, uuid);
DROP VIEW IF EXISTS live_claims;
