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

-- name: find_login_account
-- The email $1 as accounts are found by it (the database's lower(), which the login limits key
-- on: Python's lower() differs, e.g. for U+0130), and the account it finds, if any (nulls).
SELECT lower($1) AS email_key, u.id, u.password_hash, u.token_generation
FROM (SELECT) AS one
LEFT JOIN users u ON lower(u.email) = lower($1);

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

-- name: revoke_user_tokens
-- Every token issued to user $1 until now stops working (its generation goes up); the user.
UPDATE users SET token_generation = token_generation + 1 WHERE id = $1
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

-- name: judge_attempt
-- Judge an attempt on the keys $1 (text[]) with their maxima $2 (int[]) in the last $3 seconds;
-- undecided after $4 seconds counts as failed; $5 true counts it at once as decided (see the
-- function in sql/code/08_rate_limits.sql). One row: verdict, seconds, attempted_at.
SELECT verdict, seconds, attempted_at FROM judge_attempt($1::text[], $2::integer[], $3, $4, $5);

-- name: decide_attempt
-- Settle the attempt made at $2 on the keys $1 (text[]): $3 true if it failed; on a success,
-- forget the failures of key $4 (or none).
SELECT decide_attempt($1::text[], $2::timestamptz, $3, $4);

-- name: forget_old_login_attempts
-- Housekeeping: at most $1 keys without an attempt for a day (the longest window), skipping
-- rows a login holds now; the number forgotten (the caller repeats while it is $1).
WITH forgotten AS (
    DELETE FROM login_attempts l
    USING (
        SELECT key FROM login_attempts WHERE last_attempt < now() - interval '1 day'
        ORDER BY last_attempt LIMIT $1 FOR UPDATE SKIP LOCKED
    ) AS old
    WHERE l.key = old.key
    RETURNING 1
)
SELECT count(*)::int FROM forgotten;
