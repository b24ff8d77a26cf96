-- Email: the outbox as the senders (reservations/mail/sender.py) and the admin console use it.

-- name: claim_emails
-- Claim up to $1 due emails for $3 seconds, at most $2 a second across all instances
-- (claim_emails in sql/code/06_email.sql): {"emails": [...], "paced"}.
SELECT claim_emails($1, $2, $3) AS claim;

-- name: begin_email_attempts
-- Emails $1 (uuid[]) are about to go to the SMTP server, one after another on one connection:
-- count an attempt of each and mark it in flight, committed before the first SMTP command. Only
-- those still queued, due and under this sender's claim $2 (a claim token of claim_emails):
-- another sender's claim after ours ran out wins. (email_id, attempt) of each begun.
WITH started AS (
    UPDATE emails SET sending_since = now(), attempts = attempts + 1
    WHERE id = ANY($1::uuid[]) AND claim_token = $2 AND status = 'queued'
      AND sending_since IS NULL AND next_attempt_at <= now()
    RETURNING id, attempts
)
INSERT INTO email_attempts (email_id, attempt)
SELECT id, attempts FROM started
RETURNING email_id, attempt;

-- name: finish_email_attempts
-- The outcomes of begun attempts, one statement for a connection's run of messages; element i
-- of each array is about email $1[i], attempt $2[i]: $3 outcome (sent, captured,
-- temporary_failure, permanent_failure), $4 SMTP code, $5 error. A failure is queued again in
-- $6 seconds, or (NULL) failed for good. $7 subject, $8 text, $9 html as delivered or as far as
-- they were rendered (NULL: kept as they are); $10 the payload to keep (NULL: as it is).
WITH outcome AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::text[],
                         $6::float8[], $7::text[], $8::text[], $9::text[], $10::jsonb[])
        AS o(id, attempt, outcome, smtp_code, error, retry_in, subject, text_body, html_body,
             payload)
), done AS (
    UPDATE emails e
    SET status = CASE WHEN o.outcome IN ('sent', 'captured') THEN o.outcome
                      WHEN o.retry_in IS NULL THEN 'failed' ELSE 'queued' END,
        sent_at = CASE WHEN o.outcome IN ('sent', 'captured') THEN now() ELSE e.sent_at END,
        next_attempt_at = CASE WHEN o.retry_in IS NULL THEN e.next_attempt_at
                               ELSE now() + make_interval(secs => o.retry_in) END,
        sending_since = NULL, claimed_until = NULL, last_error = o.error,
        subject = coalesce(o.subject, e.subject), text_body = coalesce(o.text_body, e.text_body),
        html_body = coalesce(o.html_body, e.html_body), payload = coalesce(o.payload, e.payload)
    FROM outcome o
    WHERE e.id = o.id
    RETURNING e.id
)
UPDATE email_attempts a
SET finished_at = now(), outcome = o.outcome, smtp_code = o.smtp_code, error = o.error
FROM outcome o JOIN done ON done.id = o.id
WHERE a.email_id = o.id AND a.attempt = o.attempt;

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

-- name: users_to_greet
-- The users $1 (uuid[]) emails are for: the names to greet.
SELECT id, first_name, last_name FROM users WHERE id = ANY($1::uuid[]);

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

-- name: reservations_for_emails
-- Reservations $1 (uuid[]) as the API answers them (reservation_rows) with their movie's poster
-- file: all a booking, cancellation or showtime-cancelled email says, for a batch in one query.
SELECT d.*, m.poster_file
FROM reservation_rows($1::uuid[]) AS d
JOIN movies m ON m.id = d.movie_id;
