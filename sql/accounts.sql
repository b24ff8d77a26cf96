-- Accounts: users, roles and the login failure counters.

-- name: insert_user
-- Create a user; $1 email, $2 password hash, $3 first name, $4 last name, $5 role.
-- Returns nothing when the email (any case) is taken.
INSERT INTO users (email, password_hash, first_name, last_name, role)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (lower(email)) DO NOTHING
RETURNING id, email, first_name, last_name, role, created_at,
          email_verified_at IS NOT NULL AS email_verified;

-- name: find_user_by_email
-- The user with this email, compared case-insensitively; $1 email.
SELECT id, email, password_hash, first_name, last_name, role, created_at, token_generation,
       email_verified_at IS NOT NULL AS email_verified
FROM users WHERE lower(email) = lower($1);

-- name: find_user_by_id
-- The user as the database says now; what instances cache of a user (accounts/user_cache.py),
-- which the users trigger of sql/code/01_announcements.sql announces a change of.
SELECT id, email, first_name, last_name, role, created_at, token_generation,
       email_verified_at IS NOT NULL AS email_verified
FROM users WHERE id = $1;

-- name: set_user_role
-- $1 user id, $2 role.
UPDATE users SET role = $2 WHERE id = $1
RETURNING id, email, first_name, last_name, role, created_at,
          email_verified_at IS NOT NULL AS email_verified;

-- name: user_page
-- Users whose email contains $1 (any case; NULL: all) and whose role is $2 (NULL: any), by
-- email; $3 page size, $4 offset. `total` counts every match (a row with NULL id when the page
-- is past the end).
WITH matching AS (
    SELECT id, email, first_name, last_name, role, created_at,
           email_verified_at IS NOT NULL AS email_verified
      FROM users
     WHERE ($1::text IS NULL OR strpos(lower(email), lower($1::text)) > 0)
       AND ($2::text IS NULL OR role = $2::text)
)
SELECT page.id, page.email, page.first_name, page.last_name, page.role, page.created_at,
       page.email_verified, (SELECT count(*) FROM matching)::int AS total
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (
      SELECT * FROM matching ORDER BY lower(email), id LIMIT $3 OFFSET $4
  ) AS page ON true;

-- name: upsert_admin
-- Create an admin, or take over the existing account of this email: admin, this password, and
-- every token issued to it before revoked; $1 email, $2 hash. `existed` says which happened,
-- `previous_role` what the account was before.
WITH previous AS (  -- read in the statement's snapshot: the role before this update
    SELECT role FROM users WHERE lower(email) = lower($1)
)
INSERT INTO users (email, password_hash, role) VALUES ($1, $2, 'admin')
ON CONFLICT (lower(email)) DO UPDATE
SET role = 'admin',
    password_hash = EXCLUDED.password_hash,
    token_generation = users.token_generation + 1
RETURNING id, email, first_name, last_name, role, created_at,
          email_verified_at IS NOT NULL AS email_verified,
          (xmax <> 0) AS existed, (SELECT role FROM previous) AS previous_role;

-- name: open_rate_limit_keys
-- Make sure each key of $1 (text[]) has its row, so that it can be locked; in key order, as
-- lock_rate_limit_keys locks them, so two requests never wait for each other in a circle.
INSERT INTO login_attempts (key)
SELECT k FROM unnest($1::text[]) AS k ORDER BY k
ON CONFLICT (key) DO NOTHING;

-- name: lock_rate_limit_keys
-- Lock the rows of the keys $1 (text[]) until the transaction ends, in key order.
SELECT key FROM login_attempts WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE;

-- name: count_rate_limit_attempts
-- Per key of $1 (text[]): its attempts in the last $2 seconds, and the seconds until the
-- oldest of them leaves that window (NULL without any). Read after lock_rate_limit_keys.
SELECT key,
       recent.attempts,
       ceil(extract(epoch FROM recent.oldest + make_interval(secs => $2) - now()))::int
           AS seconds_to_room
FROM login_attempts,
     LATERAL (
         SELECT count(*)::int AS attempts, min(t) AS oldest
         FROM unnest(login_attempts.attempts) AS t
         WHERE t > now() - make_interval(secs => $2)
     ) AS recent
WHERE key = ANY($1::text[]);

-- name: add_rate_limit_attempt
-- Count an attempt now for each key of $1 (text[]), forgetting those older than $2 seconds.
-- Returns the attempt's time, which refund_rate_limit_attempt takes back.
UPDATE login_attempts
SET attempts = ARRAY(
        SELECT t FROM unnest(attempts) AS t
        WHERE t > now() - make_interval(secs => $2)
        ORDER BY t
    ) || now(),
    last_attempt = now()
WHERE key = ANY($1::text[])
RETURNING now() AS attempted_at;

-- name: refund_rate_limit_attempt
-- Take back the attempt made at $2 from each key of $1 (text[]): it turned out well.
UPDATE login_attempts SET attempts = array_remove(attempts, $2::timestamptz)
WHERE key = ANY($1::text[]);

-- name: forget_rate_limit_key
-- Forget every attempt of key $1 (a client that proved it knows the password).
DELETE FROM login_attempts WHERE key = $1;

-- name: forget_old_login_attempts
-- Housekeeping: keys without an attempt for a day (the longest window).
DELETE FROM login_attempts WHERE last_attempt < now() - interval '1 day';
