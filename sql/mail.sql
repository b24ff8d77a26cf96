-- Email: the outbox as the senders (reservations/mail/sender.py) and the admin console use it.

-- name: claim_emails
-- Claim up to $1 due emails for $3 seconds, at most $2 a second across all instances
-- (claim_emails in sql/code/06_email.sql): {"emails": [...], "paced"}.
SELECT claim_emails($1, $2, $3) AS claim;

-- name: begin_email_attempt
-- Email $1 is about to go to the SMTP server: count the attempt and mark it in flight, committed
-- before the first SMTP command. Nothing unless it is still queued, due and under this sender's
-- claim $2 (a claim token of claim_emails): another sender's claim after ours ran out wins.
WITH started AS (
    UPDATE emails SET sending_since = now(), attempts = attempts + 1
    WHERE id = $1 AND claim_token = $2 AND status = 'queued' AND sending_since IS NULL
      AND next_attempt_at <= now()
    RETURNING id, attempts
)
INSERT INTO email_attempts (email_id, attempt)
SELECT id, attempts FROM started
RETURNING attempt;

-- name: finish_email_delivered
-- Attempt $2 of email $1 was accepted by the server ($3 'sent') or kept ($3 'captured'): record
-- it with what was delivered ($4 subject, $5 text, $6 html) and the payload to keep ($7).
WITH done AS (
    UPDATE emails
    SET status = $3, sent_at = now(), sending_since = NULL, claimed_until = NULL,
        last_error = NULL, subject = $4, text_body = $5, html_body = $6, payload = $7
    WHERE id = $1
    RETURNING id
)
UPDATE email_attempts a SET finished_at = now(), outcome = $3
FROM done WHERE a.email_id = done.id AND a.attempt = $2;

-- name: finish_email_failed
-- Attempt $2 of email $1 failed: $3 outcome (temporary_failure, permanent_failure), $4 SMTP
-- code, $5 error. Queued again in $6 seconds, or (NULL) failed for good; $7 subject, $8 text,
-- $9 html as far as they were rendered (NULL: kept as they are).
WITH done AS (
    UPDATE emails
    SET status = CASE WHEN $6::float8 IS NULL THEN 'failed' ELSE 'queued' END,
        next_attempt_at = CASE WHEN $6::float8 IS NULL THEN next_attempt_at
                               ELSE now() + make_interval(secs => $6::float8) END,
        sending_since = NULL, claimed_until = NULL, last_error = $5,
        subject = coalesce($7, subject), text_body = coalesce($8, text_body),
        html_body = coalesce($9, html_body)
    WHERE id = $1
    RETURNING id
)
UPDATE email_attempts a SET finished_at = now(), outcome = $3, smtp_code = $4, error = $5
FROM done WHERE a.email_id = done.id AND a.attempt = $2;

-- name: release_emails
-- A sender stopping gives back its claims $1 (uuid[]) that it has not begun sending.
UPDATE emails SET claimed_until = NULL
WHERE id = ANY($1::uuid[]) AND status = 'queued' AND sending_since IS NULL;

-- name: fail_stuck_emails
-- Emails in flight for more than $1 seconds: their sender died between marking them and recording
-- the outcome, so the server may have accepted them. Never sent again by itself (at most once):
-- failed, outcome unknown, for an admin to look into and retry. The ids.
WITH stuck AS (
    UPDATE emails
    SET status = 'failed', sending_since = NULL, claimed_until = NULL,
        last_error = 'outcome unknown: the sender stopped while delivering it; '
                     || 'check the mail server''s log before retrying'
    WHERE status = 'queued' AND sending_since < now() - make_interval(secs => $1::float8)
    RETURNING id, attempts
)
UPDATE email_attempts a SET finished_at = now(), outcome = 'unknown', error = 'sender stopped'
FROM stuck WHERE a.email_id = stuck.id AND a.attempt = stuck.attempts
RETURNING a.email_id;

-- name: outbox_backlog
-- Queued emails and the age in seconds of the oldest (0 without any): the metrics.
SELECT count(*)::int AS queued,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age
FROM emails WHERE status = 'queued';

-- name: email_to_render
-- The user an email is for: the name to greet.
SELECT first_name, last_name FROM users WHERE id = $1;

-- name: showtime_for_email
-- Showtime $1 with its movie and theater, for the showtime_cancelled email.
SELECT st.id, st.start_time, st.end_time, m.id AS movie_id, m.title AS movie_title,
       t.name AS theater_name
FROM showtimes st JOIN movies m ON m.id = st.movie_id JOIN theaters t ON t.id = st.theater_id
WHERE st.id = $1;

-- name: list_emails
-- A page of the outbox, newest first: $1 status, $2 part of the recipient (any case), $3 kind
-- (NULL: any), $4 limit, $5 offset; each row with the total.
SELECT id, kind, recipient, status, attempts, last_error, created_at, sent_at, subject,
       count(*) OVER () AS total
FROM emails
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::text IS NULL OR strpos(lower(recipient), lower($2)) > 0)
  AND ($3::text IS NULL OR kind = $3)
ORDER BY created_at DESC, id
LIMIT $4 OFFSET $5;

-- name: count_emails
-- How many list_emails would find ($1, $2, $3 as there): for a page past the end.
SELECT count(*)::int FROM emails
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::text IS NULL OR strpos(lower(recipient), lower($2)) > 0)
  AND ($3::text IS NULL OR kind = $3);

-- name: email_by_id
-- Email $1, every column.
SELECT * FROM emails WHERE id = $1;

-- name: attempts_of_email
-- The attempts of email $1, first first.
SELECT attempt, started_at, finished_at, outcome, smtp_code, error
FROM email_attempts WHERE email_id = $1 ORDER BY attempt;

-- name: retry_email
-- Queue failed email $1 again, now, with MAIL_MAX_ATTEMPTS attempts more (the trigger wakes the
-- senders). Nothing when it is not failed.
UPDATE emails
SET status = 'queued', next_attempt_at = now(), attempts_before_retry = attempts,
    claimed_until = NULL
WHERE id = $1 AND status = 'failed'
RETURNING id;

-- name: forget_old_account_tokens
-- Housekeeping: tokens expired more than a day ago.
DELETE FROM account_tokens WHERE expires_at < now() - interval '1 day';

-- name: reservation_for_email
-- Reservation $1 as the API answers it (reservation_rows), with its movie's poster file and the
-- name of user $2 (NULL without one): all a booking or cancellation email says, in one query.
SELECT d.*, m.poster_file, u.first_name AS greeting_first_name,
       u.last_name AS greeting_last_name
FROM reservation_rows(ARRAY[$1::uuid]) AS d
JOIN movies m ON m.id = d.movie_id
LEFT JOIN users u ON u.id = $2;
