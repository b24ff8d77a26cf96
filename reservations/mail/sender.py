"""The sender: an asyncio task in every process that delivers the outbox.

It wakes when an email is queued (a NOTIFY on EMAIL_CHANNEL, sent by the emails trigger when the
transaction that wrote it commits) and every MAIL_POLL_SECONDS in case a notification was missed
(the listening connection was down). Any number of senders share one outbox:

1. `claim_emails` takes a few due emails for this sender alone (FOR UPDATE SKIP LOCKED, then a
   lease with a claim token, committed), at most MAIL_MAX_PER_SECOND across all instances.
2. For each: render it, then `begin_email_attempt` marks it in flight (`sending_since`, committed
   before the first SMTP command; refused unless the claim is still ours).
3. The message goes to the SMTP server (or is captured without SMTP_URL).
4. Right after the server's answer, in its own transaction, the outcome: `sent`, queued again
   after MAIL_RETRY_BASE_SECONDS x 2^(n-1) for a temporary failure (at most MAIL_MAX_ATTEMPTS),
   or `failed` for a permanent one, with the error kept.

Once the server has accepted a message it is never sent again: the only way to send it again is
an email still `queued`, not in flight, and the in-flight mark is only cleared together with the
outcome. The crash window: a process that dies after step 2 and before step 4 leaves the email in
flight with an unknown outcome (the server may or may not have accepted it). No sender touches
it again; after STUCK_AFTER it is marked `failed` ("outcome unknown", attempt outcome `unknown`)
for an admin to check the mail server's log and retry. Delivery is at most once, not at least
once, for that window only; its Message-ID is the same on every attempt, so a receiving system
can still tell a copy. A claimed email a dying sender had not begun (step 1 only) is claimed
again by another sender when the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from email.utils import parseaddr
from typing import Any

import asyncpg

from ..db import QUERIES
from ..settings import Settings
from .render import CannotRender, Email, Renderer
from .smtp import DeliveryFailed, Transport, make_transport

log = logging.getLogger(__name__)

# The channel of the emails trigger (sql/code/06_email.sql): an email was queued.
EMAIL_CHANNEL = "email_outbox"
MAX_BATCH = 50
CONCURRENCY = 4  # SMTP connections per process
HOUSEKEEPING_EVERY_SECONDS = 60.0
IDLE_CLOSE_SECONDS = 5.0  # SMTP connections unused this long are closed
STOP_GRACE_SECONDS = 10.0
RECONNECT_SECONDS = 5.0
# After a wake, wait this long before claiming: the NOTIFYs of a burst of bookings (one each)
# then cost one claim per process, not one each.
WAKE_DEBOUNCE_SECONDS = 0.05


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
        self.transports: list[Transport] = [
            make_transport(settings.smtp_url, settings.mail_timeout_seconds, host)
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

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
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
                    backlog_due = loop.time() + 1.0
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
        pending: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for row in rows:
            pending.put_nowait(row)

        async def work(transport: Transport) -> None:
            while not pending.empty() and not self._stopping.is_set():
                row = pending.get_nowait()
                try:
                    await self.deliver(transport, row)
                except Exception:  # noqa: BLE001 - one email's fault must not stop the rest
                    self.errors += 1
                    log.exception("email %s: unexpected error", row.get("id"))

        workers = min(len(self.transports), len(rows))
        await asyncio.gather(*(work(t) for t in self.transports[:workers]))
        left = []
        while not pending.empty():
            left.append(uuid.UUID(str(pending.get_nowait()["id"])))
        if left:  # stopping: give them back at once rather than after the lease
            async with self.pool.acquire() as conn:
                await conn.execute(QUERIES.release_emails, left)

    async def deliver(self, transport: Transport, row: dict[str, Any]) -> None:
        """Render, mark in flight, send, record the outcome of one claimed email."""
        email = Email.from_row(row)
        before = int(row.get("attempts_before_retry") or 0)
        claim_token = uuid.UUID(str(row["claim_token"]))
        rendered = None
        problem: str | None = None
        async with self.pool.acquire() as conn:
            try:
                rendered = await self.renderer.render(conn, email)
            except CannotRender as exc:
                problem = f"cannot be written: {exc}"
            except Exception as exc:  # noqa: BLE001 - a template fault fails this email only
                log.exception("email %s: rendering failed", email.id)
                problem = f"cannot be written: {type(exc).__name__}: {exc}"
            attempt = await conn.fetchval(QUERIES.begin_email_attempt, email.id, claim_token)
        if attempt is None:
            return  # no longer ours (our claim ran out and another sender took it)
        if rendered is None:
            failure = DeliveryFailed(problem or "", temporary=False)
            await self._failed(email, attempt - before, attempt, failure)
            return
        started = time.perf_counter()
        try:
            delivered = await transport.deliver(
                self.envelope_sender, email.recipient, rendered.message
            )
        except DeliveryFailed as failure:
            await self._failed(email, attempt - before, attempt, failure, rendered)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. a header the server cannot take
            unexpected = DeliveryFailed(f"{type(exc).__name__}: {exc}", False)
            await self._failed(email, attempt - before, attempt, unexpected, rendered)
            return
        status = "captured" if delivered.captured else "sent"
        payload = dict(email.payload)
        text, html = rendered.text, rendered.stored_html
        if status == "sent" and rendered.secrets:
            # Delivered: the token lives on in the recipient's mailbox only.
            payload.pop("token", None)
            text, html = rendered.without_secrets(text), rendered.without_secrets(html)
        async with self.pool.acquire() as conn:
            await conn.execute(
                QUERIES.finish_email_delivered,
                email.id,
                attempt,
                status,
                rendered.subject,
                text,
                html,
                payload,
            )
        if delivered.captured:
            self.captured += 1
        else:
            self.sent += 1
            log.info(
                "email %s (%s) sent in %.0f ms",
                email.id,
                email.kind,
                (time.perf_counter() - started) * 1000,
            )

    async def _failed(
        self,
        email: Email,
        row_attempts: int,
        attempt: int,
        failure: DeliveryFailed,
        rendered: Any = None,
    ) -> None:
        """Record a failed attempt; `row_attempts` counts those since the last retry."""
        retry_in: float | None = None
        if failure.temporary and row_attempts < self.settings.mail_max_attempts:
            retry_in = self.settings.mail_retry_base_seconds * 2 ** (row_attempts - 1)
        outcome = "temporary_failure" if failure.temporary else "permanent_failure"
        error = str(failure)[:2000]
        async with self.pool.acquire() as conn:
            await conn.execute(
                QUERIES.finish_email_failed,
                email.id,
                attempt,
                outcome,
                failure.code,
                error,
                retry_in,
                rendered.subject if rendered else None,
                rendered.text if rendered else None,
                rendered.stored_html if rendered else None,
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
