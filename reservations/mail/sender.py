"""The sender: an asyncio task in every process that delivers the outbox.

It wakes when an email is queued (a NOTIFY on EMAIL_CHANNEL, sent by the emails trigger when the
transaction that wrote it commits) and every MAIL_POLL_SECONDS in case a notification was missed
(the listening connection was down). In the service the process's live listener hears the NOTIFY
(live/listener.py, `wake`), so that a process keeps one listening connection; a sender started
with `listen=True` (alone, as some tests run it) listens on a connection of its own. Any number
of senders share one outbox:

1. `claim_emails` takes a few due emails for this sender alone (FOR UPDATE SKIP LOCKED, then a
   lease with a claim token, committed), at most MAIL_MAX_PER_SECOND across all instances.
2. What the batch's emails say is read in one query (Renderer.load); the batch is cut into runs
   of at most MAX_RUN, shared by CONCURRENCY delivery slots (an SMTP connection each). A slot
   renders a run, then `begin_email_attempts` marks it in flight (`sending_since`, committed
   before the first SMTP command; only the emails still under our claim).
3. The run's messages go to the SMTP server one after another on the slot's connection (or are
   captured without SMTP_URL).
4. Right after the run's last answer, in one statement, every outcome: `sent`, queued again
   after MAIL_RETRY_BASE_SECONDS x 2^(n-1) for a temporary failure (at most MAIL_MAX_ATTEMPTS),
   or `failed` for a permanent one, with the error kept.

Once the server has accepted a message it is never sent again: the only way to send it again is
an email still `queued`, not in flight, and the in-flight mark is only cleared together with the
outcome. The crash window: a process that dies after step 2 and before step 4 leaves its run
(at most MAX_RUN emails) in flight with an unknown outcome (the server may have accepted some of
them). No sender touches them again; after STUCK_AFTER they are marked `failed` ("outcome
unknown", attempt outcome `unknown`) for an admin to check the mail server's log and retry.
Delivery is at most once, not at least once, for that window only; its Message-ID is the same
on every attempt, so a receiving system can still tell a copy. A claimed email a dying sender
had not begun (step 1 only) is claimed again by another sender when the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from email.utils import parseaddr
from typing import Any

import asyncpg

from ..db import QUERIES
from ..settings import Settings
from .render import CannotRender, Email, Facts, Rendered, Renderer
from .smtp import DeliveryFailed, Transport, make_transport, tls_context

log = logging.getLogger(__name__)

# The channel of the emails trigger (sql/code/06_email.sql): an email was queued.
EMAIL_CHANNEL = "email_outbox"
MAX_BATCH = 50
CONCURRENCY = 4  # SMTP connections per process
# Messages a delivery slot sends between marking them in flight and recording their outcomes
# (one statement each way): the more, the fewer commits, and the more emails a process dying
# mid-run leaves with an unknown outcome.
MAX_RUN = 8
HOUSEKEEPING_EVERY_SECONDS = 60.0
# The backlog for the metrics (a count of every queued email, which grows with the outbox: 20 ms
# at 40,000) is read this often, about as often as Prometheus scrapes.
BACKLOG_EVERY_SECONDS = 15.0
IDLE_CLOSE_SECONDS = 5.0  # SMTP connections unused this long are closed
STOP_GRACE_SECONDS = 10.0
RECONNECT_SECONDS = 5.0
# After a wake, wait this long before claiming: the NOTIFYs of a burst of bookings (one each)
# then cost one claim per process, not one each.
WAKE_DEBOUNCE_SECONDS = 0.05


class Outcomes:
    """The outcomes of a run's attempts, as the arrays of finish_email_attempts."""

    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []
        self.columns: list[list[Any]] = [[] for _ in range(9)]

    def add(self, email_id: uuid.UUID, *values: Any) -> None:
        self.ids.append(email_id)
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    def arguments(self) -> list[list[Any]]:
        return [self.ids, *self.columns]


class Sender:
    """Counters for metrics: `sent`, `captured`, `failed` (for good), `retried` (temporary
    failures queued again); `queued` and `oldest_queued_age` as last read from the outbox."""

    def __init__(self, pool: asyncpg.Pool, dsn: str, settings: Settings) -> None:
        self.pool = pool
        self.dsn = dsn
        self.settings = settings
        self.renderer = Renderer(settings)
        self.envelope_sender = parseaddr(settings.mail_from)[1]
        host = self.renderer.host
        context = tls_context(settings.smtp_ca_file) if settings.smtp_url else None
        self.transports: list[Transport] = [
            make_transport(settings.smtp_url, settings.mail_timeout_seconds, host, context)
            for _ in range(CONCURRENCY)
        ]
        self.stuck_after = max(120.0, 10 * settings.mail_timeout_seconds)
        self.lease_seconds = max(60.0, 3 * settings.mail_timeout_seconds)
        self.sent = self.captured = self.failed = self.retried = self.errors = 0
        self.queued = 0
        self.oldest_queued_age = 0.0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._listen_conn: asyncpg.Connection | None = None
        self.listening = asyncio.Event()

    # ---- life cycle ---------------------------------------------------------------------

    def start(self, listen: bool = True) -> None:
        """Start sending; with `listen`, on a listening connection of its own (else whoever
        hears EMAIL_CHANNEL calls `wake`)."""
        if self._task is None:
            self._stopping.clear()
            if listen:
                self._listener = asyncio.create_task(self._listen(), name="mail-listener")
            self._task = asyncio.create_task(self._run(), name="mail-sender")

    async def stop(self) -> None:
        """Let the emails being sent finish (a few seconds), give back the others' claims."""
        self._stopping.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=STOP_GRACE_SECONDS)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for transport in self.transports:
            await transport.close()

    def wake(self) -> None:
        self._wake.set()

    # ---- waking -------------------------------------------------------------------------

    async def _listen(self) -> None:
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(
                    self.dsn, timeout=5, server_settings={"application_name": "reservations-mail"}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(EMAIL_CHANNEL, lambda *_: self._wake.set())
                self._listen_conn = conn
                self.listening.set()
                self._wake.set()  # anything queued while nobody listened
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect after any fault
                log.warning("email listener: %s; polling until it reconnects", exc)
            finally:
                self.listening.clear()
                self._listen_conn = None
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(RECONNECT_SECONDS)

    # ---- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        housekeeping_due = loop.time()
        idle_since: float | None = None
        backlog_due = loop.time()
        while not self._stopping.is_set():
            self._wake.clear()
            paced = False
            try:
                if loop.time() >= housekeeping_due:
                    housekeeping_due = loop.time() + HOUSEKEEPING_EVERY_SECONDS
                    await self.housekeeping()
                worked, paced = await self.send_due()
                if loop.time() >= backlog_due:
                    backlog_due = loop.time() + BACKLOG_EVERY_SECONDS
                    await self.read_backlog()
            except Exception:  # noqa: BLE001 - log it, try again at the next wake or poll
                self.errors += 1
                worked = False
                log.exception("sending emails failed; trying again shortly")
                await asyncio.sleep(1)
            if worked:
                idle_since = None
            elif idle_since is None:
                idle_since = loop.time()
            if paced:
                timeout = max(0.05, min(1.0, 1.0 / self.settings.mail_max_per_second))
            elif idle_since is not None and loop.time() - idle_since < IDLE_CLOSE_SECONDS:
                timeout = min(self.settings.mail_poll_seconds, IDLE_CLOSE_SECONDS)
            else:
                timeout = self.settings.mail_poll_seconds
            if idle_since is not None and loop.time() - idle_since >= IDLE_CLOSE_SECONDS:
                for transport in self.transports:
                    await transport.close()
            if paced:
                await asyncio.sleep(timeout)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
                if not self._stopping.is_set():  # a stop ends the loop now
                    await asyncio.sleep(WAKE_DEBOUNCE_SECONDS)

    async def send_due(self) -> tuple[bool, bool]:
        """Send due emails until none is left or the pace stops us: (any sent, paced)."""
        worked = False
        batch = max(1, min(MAX_BATCH, int(self.settings.mail_max_per_second)))
        while not self._stopping.is_set():
            async with self.pool.acquire() as conn:
                claim = await conn.fetchval(
                    QUERIES.claim_emails,
                    batch,
                    self.settings.mail_max_per_second,
                    self.lease_seconds,
                )
            rows: list[dict[str, Any]] = claim["emails"]
            if rows:
                worked = True
                await self._deliver_batch(rows)
            if claim["paced"]:
                return worked, True
            if len(rows) < batch:
                return worked, False
        return worked, False

    async def _deliver_batch(self, rows: list[dict[str, Any]]) -> None:
        """A claimed batch: its facts read in one go, then runs of it (at most MAX_RUN) sent
        by the delivery slots, each run begun and recorded in one statement apiece."""
        emails = [Email.from_row(row) for row in rows]
        before = {
            email.id: int(row.get("attempts_before_retry") or 0)
            for email, row in zip(emails, rows, strict=True)
        }
        claim_token = uuid.UUID(str(rows[0]["claim_token"]))  # one claim, one token
        facts: Facts | None = None
        unreadable: str | None = None
        try:
            async with self.pool.acquire() as conn:
                facts = await self.renderer.load(conn, emails)
        except (asyncpg.PostgresError, OSError, TimeoutError):
            raise  # the database is away: the claims run out, and are claimed again
        except Exception as exc:  # noqa: BLE001 - e.g. a malformed payload: fail them, not loop
            log.exception("reading what %d emails say failed", len(emails))
            unreadable = f"cannot be written: {type(exc).__name__}: {exc}"
        slots = len(self.transports)
        size = max(1, min(MAX_RUN, -(-len(emails) // slots)))
        runs: asyncio.Queue[list[Email]] = asyncio.Queue()
        for start in range(0, len(emails), size):
            runs.put_nowait(emails[start : start + size])

        async def work(transport: Transport) -> None:
            while not runs.empty() and not self._stopping.is_set():
                run = runs.get_nowait()
                try:
                    await self._send_run(transport, run, facts, unreadable, claim_token, before)
                except Exception:  # noqa: BLE001 - one run's fault must not stop the rest
                    self.errors += 1
                    log.exception("emails %s: unexpected error", [str(e.id) for e in run])

        await asyncio.gather(*(work(t) for t in self.transports[: min(slots, runs.qsize())]))
        left: list[uuid.UUID] = []
        while not runs.empty():
            left.extend(email.id for email in runs.get_nowait())
        if left:  # stopping: give them back at once rather than after the lease
            async with self.pool.acquire() as conn:
                await conn.execute(QUERIES.release_emails, left)

    def _render(self, email: Email, facts: Facts | None, unreadable: str | None) -> Rendered | str:
        """The rendered email, or why it can never be written."""
        if facts is None:
            return unreadable or "cannot be written"
        try:
            return self.renderer.render_with(email, facts)
        except CannotRender as exc:
            return f"cannot be written: {exc}"
        except Exception as exc:  # noqa: BLE001 - a template fault fails this email only
            log.exception("email %s: rendering failed", email.id)
            return f"cannot be written: {type(exc).__name__}: {exc}"

    async def _send_run(
        self,
        transport: Transport,
        run: list[Email],
        facts: Facts | None,
        unreadable: str | None,
        claim_token: uuid.UUID,
        before: dict[uuid.UUID, int],
    ) -> None:
        """Render a run, mark it in flight (one statement, committed before the first SMTP
        command), send its messages one after another on this slot's connection, then record
        every outcome in one statement. A failed connection fails the rest of the run with
        it (temporarily: they are tried again after the back-off) rather than trying each."""
        rendered: dict[uuid.UUID, Rendered | str] = {}
        for email in run:
            rendered[email.id] = self._render(email, facts, unreadable)
            await asyncio.sleep(0)  # let requests in between: rendering takes CPU
        async with self.pool.acquire() as conn:
            begun = await conn.fetch(
                QUERIES.begin_email_attempts, [email.id for email in run], claim_token
            )
        attempts = {row["email_id"]: row["attempt"] for row in begun}
        outcomes = Outcomes()
        broken: DeliveryFailed | None = None
        for email in run:
            attempt = attempts.get(email.id)
            if attempt is None:
                continue  # no longer ours (our claim ran out and another sender took it)
            since_retry = attempt - before[email.id]
            made = rendered[email.id]
            if isinstance(made, str):
                failure = DeliveryFailed(made, temporary=False)
                self._failed(outcomes, email, since_retry, attempt, failure)
                continue
            if broken is not None:
                self._failed(outcomes, email, since_retry, attempt, broken, made)
                continue
            try:
                delivered = await transport.deliver(
                    self.envelope_sender, email.recipient, made.message
                )
            except DeliveryFailed as failure:
                if failure.connection:
                    broken = failure
                self._failed(outcomes, email, since_retry, attempt, failure, made)
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. a header the server cannot take
                unexpected = DeliveryFailed(f"{type(exc).__name__}: {exc}", False)
                self._failed(outcomes, email, since_retry, attempt, unexpected, made)
                continue
            self._delivered(outcomes, email, attempt, made, delivered.captured)
        if outcomes.ids:
            async with self.pool.acquire() as conn:
                await conn.execute(QUERIES.finish_email_attempts, *outcomes.arguments())

    def _delivered(
        self, outcomes: Outcomes, email: Email, attempt: int, rendered: Rendered, captured: bool
    ) -> None:
        payload: dict[str, Any] | None = None
        text, html = rendered.text, rendered.stored_html
        if not captured and rendered.secrets:
            # Delivered: the token lives on in the recipient's mailbox only.
            payload = {key: value for key, value in email.payload.items() if key != "token"}
            text, html = rendered.without_secrets(text), rendered.without_secrets(html)
        status = "captured" if captured else "sent"
        subject = rendered.subject
        outcomes.add(email.id, attempt, status, None, None, None, subject, text, html, payload)
        if captured:
            self.captured += 1
        else:
            self.sent += 1
            log.debug("email %s (%s) sent", email.id, email.kind)

    def _failed(
        self,
        outcomes: Outcomes,
        email: Email,
        row_attempts: int,
        attempt: int,
        failure: DeliveryFailed,
        rendered: Rendered | None = None,
    ) -> None:
        """A failed attempt; `row_attempts` counts those since the last retry."""
        retry_in: float | None = None
        if failure.temporary and row_attempts < self.settings.mail_max_attempts:
            retry_in = self.settings.mail_retry_base_seconds * 2 ** (row_attempts - 1)
        outcome = "temporary_failure" if failure.temporary else "permanent_failure"
        error = str(failure)[:2000]
        outcomes.add(
            email.id,
            attempt,
            outcome,
            failure.code,
            error,
            retry_in,
            rendered.subject if rendered else None,
            rendered.text if rendered else None,
            rendered.stored_html if rendered else None,
            None,
        )
        if retry_in is None:
            self.failed += 1
            log.warning("email %s (%s) failed for good: %s", email.id, email.kind, error)
        else:
            self.retried += 1
            log.info("email %s: %s; trying again in %.0f s", email.id, error, retry_in)

    # ---- upkeep -------------------------------------------------------------------------

    async def housekeeping(self) -> None:
        async with self.pool.acquire() as conn:
            stuck = await conn.fetch(QUERIES.fail_stuck_emails, self.stuck_after)
            await conn.execute(QUERIES.forget_old_account_tokens)
        for row in stuck:
            self.failed += 1
            log.error(
                "email %s was left in flight by a sender that stopped: failed, outcome unknown",
                row["email_id"],
            )

    async def read_backlog(self) -> None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(QUERIES.outbox_backlog)
        self.queued = row["queued"]
        self.oldest_queued_age = row["oldest_age"]
