-- Accounts: users, roles and the login failure counters.

-- name: insert_user
-- Create a user; $1 email, $2 password hash, $3 first name, $4 last name, $5 role.
-- Returns nothing when the email (any case) is taken.
INSERT INTO users (email, password_hash, first_name, last_name, role)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (lower(email)) DO NOTHING
RETURNING id, email, first_name, last_name, role, created_at;

-- name: find_user_by_email
-- The user with this email, compared case-insensitively; $1 email.
SELECT id, email, password_hash, first_name, last_name, role, created_at
FROM users WHERE lower(email) = lower($1);

-- name: find_user_by_id
-- The user as the database says now (so a promotion or a deletion takes effect at once).
SELECT id, email, first_name, last_name, role, created_at FROM users WHERE id = $1;

-- name: set_user_role
-- $1 user id, $2 role.
UPDATE users SET role = $2 WHERE id = $1
RETURNING id, email, first_name, last_name, role, created_at;

-- name: upsert_admin
-- Create an admin, or make an existing user admin with this password; $1 email, $2 hash.
INSERT INTO users (email, password_hash, role) VALUES ($1, $2, 'admin')
ON CONFLICT (lower(email)) DO UPDATE SET role = 'admin', password_hash = EXCLUDED.password_hash
RETURNING id, email, first_name, last_name, role, created_at;

-- name: login_blocked_for
-- Seconds until the most blocked of the keys $1 (text[]) may try again, or 0.
-- $2 max failures per window, $3 window length in seconds.
SELECT coalesce(max(ceil(extract(epoch FROM window_start + make_interval(secs => $3) - now())))::int, 0)
FROM login_failures
WHERE key = ANY($1::text[])
  AND failures >= $2
  AND window_start + make_interval(secs => $3) > now();

-- name: record_login_failure
-- Count a failure for each key $1 (text[]) in the current fixed window of $2 seconds.
INSERT INTO login_failures (key, window_start, failures)
SELECT k, to_timestamp(floor(extract(epoch FROM now()) / $2) * $2), 1
FROM unnest($1::text[]) AS k
ON CONFLICT (key, window_start) DO UPDATE SET failures = login_failures.failures + 1;

-- name: forget_old_login_failures
-- Housekeeping: windows that ended more than a day ago.
DELETE FROM login_failures WHERE window_start < now() - interval '1 day';
