"""The outbox and its senders, against a real SMTP server (aiosmtpd) started by each test:
delivery, retries after temporary failures, permanent failures, a server that is down for a
while, two senders on one outbox, and a booking rolled back."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from reservations.app import create_app
from reservations.db import create_pool
from reservations.mail.sender import Sender
from reservations.settings import Settings
from tests import api
from tests.factories import Account, create_hall
from tests.smtp_server import FAST_MAIL, SmtpServer, eventually, queue_verification_emails
from tests.statements import rows_read


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return dataclasses.replace(settings, smtp_url=smtp.url, **FAST_MAIL)  # type: ignore[arg-type]


@pytest.fixture
async def mail_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]], mail_settings: Settings, database: str
) -> TestClient:
    return await aiohttp_client(create_app(mail_settings, database))


async def book_once(client: TestClient, db: asyncpg.Connection, user: Account) -> dict[str, Any]:
    hall = await create_hall(db, rows=1, seats_per_row=4)
    return await api.book(client, user, hall.showtime_id, hall.ids("A1", "A2"))


async def statuses(db: asyncpg.Connection) -> list[tuple[str, str, int]]:
    rows = await db.fetch("SELECT kind, status, attempts FROM emails ORDER BY created_at")
    return [(row["kind"], row["status"], row["attempts"]) for row in rows]


async def test_a_booking_is_emailed_to_its_booker(
    mail_client: TestClient, db: asyncpg.Connection, user: Account, smtp: SmtpServer
) -> None:
    reservation = await book_once(mail_client, db, user)
    await eventually(lambda: smtp.messages)
    (message,) = smtp.messages
    assert message["To"] == user.email
    assert reservation["ticket_code"] in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await eventually(lambda: _all_are(db, "sent"))
    assert await statuses(db) == [("booking_confirmed", "sent", 1)]
    attempts = await db.fetch("SELECT outcome, finished_at FROM email_attempts")
    assert [row["outcome"] for row in attempts] == ["sent"]


async def _all_are(db: asyncpg.Connection, status: str) -> bool:
    rows = await db.fetch("SELECT status FROM emails")
    return bool(rows) and all(row["status"] == status for row in rows)


async def test_a_temporary_refusal_is_retried_and_delivered_once(
    mail_client: TestClient, db: asyncpg.Connection, user: Account, smtp: SmtpServer
) -> None:
    smtp.refuse_next("451 4.3.0 try again later")
    await book_once(mail_client, db, user)
    await eventually(lambda: _all_are(db, "sent"))
    await asyncio.sleep(1.0)  # a second copy would have come by now
    assert len(smtp.messages) == 1
    assert smtp.handler.data_commands == 2
    assert await statuses(db) == [("booking_confirmed", "sent", 2)]
    outcomes = await db.fetch("SELECT outcome, smtp_code FROM email_attempts ORDER BY attempt")
    assert [(row["outcome"], row["smtp_code"]) for row in outcomes] == [
        ("temporary_failure", 451),
        ("sent", None),
    ]


async def test_a_permanent_refusal_fails_the_email_and_keeps_the_error(
    mail_client: TestClient, db: asyncpg.Connection, user: Account, smtp: SmtpServer
) -> None:
    smtp.refuse_next("550 5.1.1 no such mailbox")
    await book_once(mail_client, db, user)
    await eventually(lambda: _all_are(db, "failed"))
    await asyncio.sleep(0.8)  # no retry follows
    assert smtp.messages == []
    assert smtp.handler.data_commands == 1
    row = await db.fetchrow("SELECT status, attempts, last_error FROM emails")
    assert row["attempts"] == 1
    assert "550" in row["last_error"] and "no such mailbox" in row["last_error"]


async def test_temporary_failures_stop_after_the_most_attempts(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    mail_settings: Settings,
    database: str,
    db: asyncpg.Connection,
    smtp: SmtpServer,
) -> None:
    smtp.refuse_next(*["421 4.7.0 slow down"] * 5)
    await aiohttp_client(
        create_app(dataclasses.replace(mail_settings, mail_max_attempts=3), database)
    )
    await queue_verification_emails(db, 1)
    await eventually(lambda: _all_are(db, "failed"))
    assert smtp.handler.data_commands == 3
    row = await db.fetchrow("SELECT attempts, last_error FROM emails")
    assert row["attempts"] == 3 and "421" in row["last_error"]


async def test_a_server_down_for_a_while_gets_everything_once_it_is_back(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    mail_settings: Settings,
    database: str,
    db: asyncpg.Connection,
    smtp: SmtpServer,
) -> None:
    await smtp.stop()
    await aiohttp_client(create_app(mail_settings, database))
    await queue_verification_emails(db, 20)
    # Refused connections: every email fails an attempt or more, and stays queued.
    await eventually(
        lambda: db.fetchval("SELECT count(*) = 20 FROM emails WHERE attempts >= 2"), within=15
    )
    assert await db.fetchval("SELECT count(*) FROM emails WHERE status <> 'queued'") == 0
    await smtp.start()
    await eventually(lambda: _all_are(db, "sent"), within=20)
    await asyncio.sleep(0.5)
    recipients = smtp.recipients()
    assert len(recipients) == 20 and len(set(recipients)) == 20


async def test_two_senders_on_one_outbox_send_each_email_once(
    database: str, mail_settings: Settings, db: asyncpg.Connection, smtp: SmtpServer
) -> None:
    await queue_verification_emails(db, 120)
    pools = [await create_pool(database, mail_settings) for _ in range(2)]
    senders = [Sender(pool, database, mail_settings) for pool in pools]
    try:
        for sender in senders:
            sender.start()
        await eventually(lambda: _all_are(db, "sent"), within=30)
        await asyncio.sleep(0.5)
    finally:
        for sender in senders:
            await sender.stop()
        for pool in pools:
            await pool.close()
    recipients = smtp.recipients()
    assert len(recipients) == 120 and len(set(recipients)) == 120
    assert all(sender.sent > 0 for sender in senders), [s.sent for s in senders]
    assert await db.fetchval("SELECT count(*) FROM email_attempts") == 120


async def test_a_booking_rolled_back_writes_no_email(
    mail_client: TestClient, db: asyncpg.Connection, user: Account, smtp: SmtpServer
) -> None:
    hall = await create_hall(db, rows=1, seats_per_row=4)
    held = await api.hold_seats(mail_client, user, hall.showtime_id, hall.ids("A1"))
    assert held.status == 201

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack):
        async with db.transaction():
            booked = await db.fetchval(
                "SELECT book_held_seats($1, $2, $3, NULL, NULL, $4, NULL, 'h', NULL)",
                hall.showtime_id,
                user.id,
                [hall.seats["A1"]],
                ["ROLL-BACK-0001"],
            )
            assert "reservation_id" in booked
            assert await db.fetchval("SELECT count(*) FROM emails") == 1  # written with it
            raise RolledBack
    await asyncio.sleep(1.0)  # the sender polls and is woken on commits
    assert await db.fetchval("SELECT count(*) FROM emails") == 0
    assert smtp.handler.data_commands == 0
    # The same booking committed is emailed.
    await api.reserve(mail_client, user, hall.showtime_id, hall.ids("A1"))
    await eventually(lambda: len(smtp.messages) == 1)


async def test_without_smtp_emails_are_captured(
    client: TestClient, db: asyncpg.Connection, user: Account
) -> None:
    await book_once(client, db, user)
    await eventually(lambda: _all_are(db, "captured"))
    row = await db.fetchrow("SELECT subject, text_body, html_body, sent_at FROM emails")
    assert row["subject"].startswith("Your tickets:")
    assert "data:image/png;base64," in row["html_body"]
    assert row["sent_at"] is not None


async def test_cancelling_a_showtime_emails_each_booker_once(
    client: TestClient,
    db: asyncpg.Connection,
    admin: Account,
    make_account: Callable[..., Awaitable[Account]],
) -> None:
    hall = await create_hall(db, rows=1, seats_per_row=6)
    ann, bob = await make_account(), await make_account()
    await api.book(client, ann, hall.showtime_id, hall.ids("A1"))
    await api.book(client, ann, hall.showtime_id, hall.ids("A2"))
    await api.book(client, bob, hall.showtime_id, hall.ids("A4"))
    response = await client.delete(f"/api/v1/showtimes/{hall.showtime_id}", headers=admin.headers)
    assert response.status == 204
    rows = await db.fetch(
        "SELECT recipient, jsonb_array_length(payload -> 'reservation_ids') AS n FROM emails"
        " WHERE kind = 'showtime_cancelled' ORDER BY recipient"
    )
    assert sorted((row["recipient"], row["n"]) for row in rows) == sorted(
        [(ann.email, 2), (bob.email, 1)]
    )
    await eventually(lambda: _all_are(db, "captured"))


async def test_cancelling_a_reservation_emails_its_booker(
    client: TestClient, db: asyncpg.Connection, user: Account
) -> None:
    reservation = await book_once(client, db, user)
    response = await client.delete(
        f"/api/v1/reservations/{reservation['id']}", headers=user.headers
    )
    assert response.status == 200
    kinds = [row["kind"] for row in await db.fetch("SELECT kind FROM emails ORDER BY created_at")]
    assert kinds == ["booking_confirmed", "reservation_cancelled"]


async def test_the_outbox_is_in_the_metrics(
    client: TestClient, db: asyncpg.Connection, user: Account
) -> None:
    await book_once(client, db, user)
    await eventually(lambda: _all_are(db, "captured"))

    async def scraped() -> str:
        text = await (await client.get("/metrics")).text()
        return text if "emails_captured_total 1.0" in text else ""

    text = await eventually(scraped)
    for name in (
        "emails_queued",
        "emails_oldest_queued_age_seconds",
        "emails_sent_total",
        "emails_failed_total",
        "emails_retried_total",
    ):
        assert f"\n{name} " in text, name


def test_smtp_urls_are_read_as_documented() -> None:
    from reservations.mail.smtp import SmtpServer as Server
    from reservations.settings import SettingsError

    starttls = Server.from_url("smtp://apikey:s%40cret@smtp.example.com")
    assert (starttls.hostname, starttls.port, starttls.username, starttls.password) == (
        "smtp.example.com",
        587,
        "apikey",
        "s@cret",
    )
    assert not starttls.implicit_tls
    implicit = Server.from_url("smtps://user:pw@mail.example.com")
    assert implicit.implicit_tls and implicit.port == 465
    relay = Server.from_url("smtp://127.0.0.1:2525")
    assert (relay.port, relay.username, relay.password) == (2525, None, None)
    for bad in ("http://host", "smtp://", "smtp://user:hunter2@host:99999"):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env({"SMTP_URL": bad})
        assert "hunter2" not in str(refused.value)  # a password is never echoed


async def test_sending_keeps_to_the_pace_across_senders(
    database: str, settings: Settings, db: asyncpg.Connection
) -> None:
    paced = dataclasses.replace(settings, mail_max_per_second=5.0, mail_poll_seconds=0.2)
    await queue_verification_emails(db, 15)
    pools = [await create_pool(database, paced) for _ in range(2)]
    senders = [Sender(pool, database, paced) for pool in pools]
    try:
        for sender in senders:
            sender.start()
        await eventually(lambda: _all_are(db, "captured"), within=20)
    finally:
        for sender in senders:
            await sender.stop()
        for pool in pools:
            await pool.close()
    claimed = sorted(row["claimed_at"] for row in await db.fetch("SELECT claimed_at FROM emails"))
    # In any second at most five were taken, whichever sender took them.
    for index, start in enumerate(claimed):
        within = [moment for moment in claimed[index:] if (moment - start).total_seconds() < 1]
        assert len(within) <= 5, (start, within)
    assert (claimed[-1] - claimed[0]).total_seconds() >= 2.0


async def test_a_batch_is_begun_and_recorded_a_run_at_a_time(
    database: str, settings: Settings, db: asyncpg.Connection
) -> None:
    """Sending commits a few transactions a run of emails, not two an email (the attempt begun,
    then its outcome): counted as the transactions that last wrote the emails and their
    attempts (xmin), which are this database's own (the cluster's transaction ids are shared
    with every other test running at the same time)."""
    fast = dataclasses.replace(settings, mail_max_per_second=1000.0, mail_poll_seconds=0.2)
    await queue_verification_emails(db, 40)
    pool = await create_pool(database, fast)
    sender = Sender(pool, database, fast)
    sender.start()
    try:
        await eventually(lambda: _all_are(db, "captured"), within=20)
    finally:
        await sender.stop()
        await pool.close()
    used = await db.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM"
        " (SELECT xmin FROM emails UNION ALL SELECT xmin FROM email_attempts) AS written"
    )
    # 5 runs of 8, each recorded in one statement (one email an outcome would make 40).
    assert used <= 12, used
    attempts = await db.fetch("SELECT attempt, outcome FROM email_attempts")
    assert len(attempts) == 40 and {(a["attempt"], a["outcome"]) for a in attempts} == {
        (1, "captured")
    }


@pytest.mark.parametrize("statistics", ["none yet", "analyzed"])
async def test_a_claim_reads_the_emails_it_takes_not_the_whole_backlog(
    db: asyncpg.Connection, statistics: str
) -> None:
    """A sender claims every MAIL_POLL_SECONDS and, while the pace holds it back, ten times a
    second; behind an SMTP outage or a sold-out night the backlog is thousands of emails. Each
    claim reads the emails it may take and the recent claims, counted in this transaction's
    table statistics, with the plans PostgreSQL keeps after the fifth call."""
    await queue_verification_emails(db, 3000)
    if statistics == "analyzed":
        await db.execute("ANALYZE emails")
    async with db.transaction():
        for call in range(8):
            before = await rows_read(db, "emails")
            claim = json.loads(await db.fetchval("SELECT claim_emails(10, 1000.0, 60.0)"))
            read = (await rows_read(db, "emails") - before)["emails"]
            assert len(claim["emails"]) == 10
            # The 10 taken, the claims of the window (at most 70) and a few passed over.
            assert read <= 150, (call, read)


async def test_the_live_listener_wakes_the_sender_on_one_connection_per_process(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    mail_settings: Settings,
    database: str,
    db: asyncpg.Connection,
    user: Account,
    smtp: SmtpServer,
) -> None:
    """Every NOTIFY wakes each listening backend of its database, whatever the channel: one
    listening connection per process, not one for the seats and one for the emails. With the
    poll a minute away, only the NOTIFY heard on it can bring the booking's email this soon."""
    patient = dataclasses.replace(mail_settings, mail_poll_seconds=60.0)
    client = await aiohttp_client(create_app(patient, database))
    await book_once(client, db, user)
    await eventually(lambda: smtp.messages, within=5)
    listening = await db.fetch(
        "SELECT application_name, count(*) AS connections FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name LIKE 'reservations-%'"
        " GROUP BY application_name"
    )
    assert {row["application_name"]: row["connections"] for row in listening} == {
        "reservations-listener": 1
    }
