-- depends: 0012_prices
-- Email (issue 26): the transactional outbox, its attempts, one-time account tokens (password
-- reset, address verification) and verified addresses.
--
-- emails: every email the service writes, inserted in the transaction of what it reports (the
-- reservations triggers of sql/code/06_email.sql, the reset and verification requests), so a
-- committed change always has its email and a rolled-back one never does. The senders
-- (reservations/mail/sender.py) claim due rows with FOR UPDATE SKIP LOCKED and mark each one
-- `sending_since` before talking to the SMTP server; the outcome is recorded right after.
-- What the email says is rendered from `payload` and the rows it names when it is sent, and
-- kept (subject, text_body, html_body) once it is sent, captured or failed.
CREATE TABLE emails (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind            text NOT NULL CHECK (kind IN ('booking_confirmed', 'reservation_cancelled',
                                                  'showtime_cancelled', 'password_reset',
                                                  'verify_email')),
    recipient       text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254),
    -- No foreign keys: an email is a record of what was written to whom (its recipient kept
    -- here), it must not block deleting a user, and each check would cost every booking.
    user_id         uuid,
    reservation_id  uuid,
    showtime_id     uuid,  -- of a showtime_cancelled email: one per booker and showtime
    payload         jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'sent', 'failed', 'captured')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- attempts when an admin last queued it again: it gets MAIL_MAX_ATTEMPTS more from there.
    attempts_before_retry integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A sender's claim (claim_emails): others leave it alone until claimed_until. claimed_at
    -- also paces sending across every instance (MAIL_MAX_PER_SECOND).
    claimed_at      timestamptz,
    claimed_until   timestamptz,
    claim_token     uuid,  -- the claim's own id: only its holder may begin sending it
    -- Set (committed) just before the message goes to the SMTP server, cleared with the
    -- outcome: an email left with it set by a crash has an unknown outcome.
    sending_since   timestamptz,
    subject         text,
    text_body       text,
    html_body       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    CHECK ((status IN ('sent', 'captured')) = (sent_at IS NOT NULL)),
    CHECK (sending_since IS NULL OR status = 'queued')
);
-- What a sender claims: due queued emails, oldest first; small because sent ones leave it.
CREATE INDEX emails_due_idx ON emails (next_attempt_at, created_at) WHERE status = 'queued';
CREATE INDEX emails_claimed_idx ON emails (claimed_at) WHERE claimed_at IS NOT NULL;
CREATE INDEX emails_sending_idx ON emails (sending_since) WHERE sending_since IS NOT NULL;
CREATE INDEX emails_created_idx ON emails (created_at DESC);
CREATE UNIQUE INDEX emails_showtime_cancelled_key ON emails (user_id, showtime_id)
    WHERE kind = 'showtime_cancelled';

-- One row per delivery attempt; `outcome` NULL while it is under way.
CREATE TABLE email_attempts (
    email_id    uuid NOT NULL REFERENCES emails (id) ON DELETE CASCADE,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text CHECK (outcome IN ('sent', 'captured', 'temporary_failure',
                                        'permanent_failure', 'unknown')),
    smtp_code   integer,
    error       text,
    PRIMARY KEY (email_id, attempt)
);

-- Single-use tokens sent by email, stored as their SHA-256 (the token itself is only in the
-- email). A password-reset request for an unknown address writes a row too (user_id NULL, never
-- usable), so both answers do the same work.
CREATE TABLE account_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    purpose     text NOT NULL CHECK (purpose IN ('password_reset', 'verify_email')),
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (length(email) <= 254),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);

-- When the address was last proven to be the user's (NULL: never). Accounts made before this
-- migration have not proven theirs.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
