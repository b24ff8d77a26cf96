-- One-time tokens sent by email: password reset and address verification. Each token is stored
-- as its SHA-256 ($hash); the token itself goes only into the email's payload, which the sender
-- drops once the SMTP server has accepted the email.

-- name: request_password_reset
-- A reset asked for email $1: a token row ($2 hash, valid $3 seconds) whatever the email, and,
-- when a user has that email, the password_reset email carrying token $4. One statement doing
-- the same writes both ways, so the answer's timing does not tell whether the account exists.
WITH target AS (
    SELECT id, email FROM users WHERE lower(email) = lower($1)
), token AS (
    INSERT INTO account_tokens (token_hash, purpose, user_id, email, expires_at)
    SELECT $2, 'password_reset', (SELECT id FROM target), left($1, 254),
           now() + make_interval(secs => $3)
    RETURNING user_id
)
INSERT INTO emails (kind, recipient, user_id, payload)
SELECT 'password_reset', t.email, t.id, jsonb_build_object('token', $4::text, 'valid_seconds', $3)
FROM target t, token
RETURNING id;

-- name: valid_password_reset_token
-- True when $1 (hash) is an unused, unexpired reset token of an existing user.
SELECT EXISTS (
    SELECT 1 FROM account_tokens
    WHERE token_hash = $1 AND purpose = 'password_reset' AND used_at IS NULL
      AND expires_at > now() AND user_id IS NOT NULL
);

-- name: reset_password
-- Use reset token $1 (hash), once: the user's password becomes hash $2, every other reset token
-- of the user is spent, every access token issued before is revoked (token_generation), and the
-- address the token was sent to counts as verified. The user, or nothing for a token that is
-- unknown, used or expired (a concurrent use of the same token waits, then finds it used).
WITH spent AS (
    UPDATE account_tokens SET used_at = now()
    WHERE token_hash = $1 AND purpose = 'password_reset' AND used_at IS NULL
      AND expires_at > now() AND user_id IS NOT NULL
    RETURNING user_id, email
), others AS (
    UPDATE account_tokens t SET used_at = now()
    FROM spent
    WHERE t.user_id = spent.user_id AND t.purpose = 'password_reset' AND t.used_at IS NULL
      AND t.token_hash <> $1
)
UPDATE users u
SET password_hash = $2,
    token_generation = u.token_generation + 1,
    email_verified_at = CASE WHEN lower(u.email) = lower(spent.email)
                             THEN coalesce(u.email_verified_at, now())
                             ELSE u.email_verified_at END
FROM spent
WHERE u.id = spent.user_id
RETURNING u.id, u.email, u.first_name, u.last_name, u.role, u.created_at,
          u.email_verified_at IS NOT NULL AS email_verified;

-- name: queue_verification
-- A verify_email for user $1 with token $3 (stored as hash $2, valid $4 seconds), unless the
-- user's address is verified already. The email's id, or nothing.
WITH target AS (
    SELECT id, email FROM users WHERE id = $1 AND email_verified_at IS NULL
), token AS (
    INSERT INTO account_tokens (token_hash, purpose, user_id, email, expires_at)
    SELECT $2, 'verify_email', id, email, now() + make_interval(secs => $4) FROM target
    RETURNING user_id
)
INSERT INTO emails (kind, recipient, user_id, payload)
SELECT 'verify_email', t.email, t.id, jsonb_build_object('token', $3::text, 'valid_seconds', $4)
FROM target t, token
RETURNING id;

-- name: verify_email
-- Use verification token $1 (hash), once: the user's address is verified, if it is still the
-- address the token was sent to. The user, or nothing (unknown, used, expired, address changed).
WITH spent AS (
    UPDATE account_tokens SET used_at = now()
    WHERE token_hash = $1 AND purpose = 'verify_email' AND used_at IS NULL
      AND expires_at > now()
    RETURNING user_id, email
)
UPDATE users u SET email_verified_at = coalesce(u.email_verified_at, now())
FROM spent
WHERE u.id = spent.user_id AND lower(u.email) = lower(spent.email)
RETURNING u.id, u.email, u.first_name, u.last_name, u.role, u.created_at,
          u.email_verified_at IS NOT NULL AS email_verified;
