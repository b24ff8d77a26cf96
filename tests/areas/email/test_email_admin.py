"""The outbox through the admin API: lists with filters, one email with its parts and attempts,
and a failed one retried."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from reservations.app import create_app
from reservations.settings import Settings
from tests import api
from tests.api import error_of
from tests.factories import Account, create_hall
from tests.smtp_server import SmtpServer, eventually

API = "/api/v1/admin/emails"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def mail_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    settings: Settings,
    database: str,
    smtp: SmtpServer,
) -> TestClient:
    changed = dataclasses.replace(
        settings,
        smtp_url=smtp.url,
        mail_max_per_second=1000.0,
        mail_poll_seconds=0.3,
        mail_retry_base_seconds=0.2,
    )
    return await aiohttp_client(create_app(changed, database))


async def test_admins_list_and_filter_the_outbox(
    client: TestClient, db: asyncpg.Connection, admin: Account, user: Account
) -> None:
    hall = await create_hall(db, rows=1, seats_per_row=4)
    await api.book(client, user, hall.showtime_id, hall.ids("A1"))
    await api.register(client, email="newcomer@example.com")
    await eventually(lambda: db.fetchval("SELECT bool_and(status = 'captured') FROM emails"))
    response = await client.get(API, headers=admin.headers)
    assert response.status == 200
    body = await response.json()
    assert body["total"] == 2 and body["page"] == 1 and body["page_size"] == 20
    assert [email["kind"] for email in body["emails"]] == ["verify_email", "booking_confirmed"]
    assert set(body["emails"][0]) == {
        "id",
        "kind",
        "to",
        "subject",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    }
    by_kind = await (
        await client.get(f"{API}?kind=booking_confirmed", headers=admin.headers)
    ).json()
    assert [email["to"] for email in by_kind["emails"]] == [user.email]
    by_to = await (await client.get(f"{API}?to=NEWCOMER", headers=admin.headers)).json()
    assert [email["kind"] for email in by_to["emails"]] == ["verify_email"]
    by_status = await (await client.get(f"{API}?status=failed", headers=admin.headers)).json()
    assert by_status == {"emails": [], "total": 0, "page": 1, "page_size": 20}
    bad = await client.get(f"{API}?status=lost", headers=admin.headers)
    assert (await error_of(bad, 422))["code"] == "validation_error"
    assert (await client.get(API, headers=user.headers)).status == 403
    assert (await client.get(API)).status == 401


async def test_an_admin_reads_an_email_as_its_recipient_sees_it(
    client: TestClient, db: asyncpg.Connection, admin: Account, user: Account
) -> None:
    hall = await create_hall(db, rows=1, seats_per_row=4)
    reservation = await api.book(client, user, hall.showtime_id, hall.ids("A2"))
    await eventually(lambda: db.fetchval("SELECT bool_and(status = 'captured') FROM emails"))
    email_id = await db.fetchval("SELECT id FROM emails")
    response = await client.get(f"{API}/{email_id}", headers=admin.headers)
    assert response.status == 200
    email = await response.json()
    assert email["status"] == "captured" and email["attempts"] == 1
    assert reservation["ticket_code"] in email["text"]
    assert reservation["ticket_code"] in email["html"]
    assert "data:image/png;base64," in email["html"]  # the QR code, without a mail client
    assert [a["outcome"] for a in email["delivery_attempts"]] == ["captured"]
    missing = await client.get(f"{API}/{hall.showtime_id}", headers=admin.headers)
    assert (await error_of(missing, 404))["code"] == "email_not_found"


async def test_a_failed_email_is_retried_by_an_admin_and_delivered(
    mail_client: TestClient,
    db: asyncpg.Connection,
    admin: Account,
    user: Account,
    smtp: SmtpServer,
) -> None:
    smtp.refuse_next("554 5.7.1 rejected for now")
    hall = await create_hall(db, rows=1, seats_per_row=4)
    await api.book(mail_client, user, hall.showtime_id, hall.ids("A3"))
    await eventually(lambda: db.fetchval("SELECT bool_and(status = 'failed') FROM emails"))
    email_id = await db.fetchval("SELECT id FROM emails")
    failed = await (await mail_client.get(f"{API}?status=failed", headers=admin.headers)).json()
    assert failed["total"] == 1 and "554" in failed["emails"][0]["last_error"]
    detail = await (await mail_client.get(f"{API}/{email_id}", headers=admin.headers)).json()
    assert [(a["outcome"], a["smtp_code"]) for a in detail["delivery_attempts"]] == [
        ("permanent_failure", 554)
    ]
    retried = await mail_client.post(f"{API}/{email_id}/retry", headers=admin.headers)
    assert retried.status == 200
    assert (await retried.json())["status"] == "queued"
    await eventually(lambda: len(smtp.messages) == 1)
    await eventually(lambda: db.fetchval("SELECT status = 'sent' FROM emails"))
    again = await mail_client.post(f"{API}/{email_id}/retry", headers=admin.headers)
    assert (await error_of(again, 409))["code"] == "email_not_failed"
    forbidden = await mail_client.post(f"{API}/{email_id}/retry", headers=user.headers)
    assert forbidden.status == 403


async def test_the_console_lists_and_shows_emails_to_admins_only(
    client: TestClient, db: asyncpg.Connection, admin: Account, user: Account
) -> None:
    hall = await create_hall(db, rows=1, seats_per_row=4)
    reservation = await api.book(client, user, hall.showtime_id, hall.ids("A1"))
    await api.register(client, email="newcomer@example.com")
    await eventually(lambda: db.fetchval("SELECT bool_and(status = 'captured') FROM emails"))
    shell = await client.get("/admin/emails")
    assert shell.status == 200 and 'data-panel-url="/admin/panels/emails"' in await shell.text()
    assert (await client.get("/admin/panels/emails", headers=user.headers)).status == 403

    listing = await client.get("/admin/panels/emails?kind=booking_confirmed", headers=admin.headers)
    text = await listing.text()
    assert listing.status == 200 and user.email in text and "newcomer@" not in text
    email_id = await db.fetchval("SELECT id FROM emails WHERE kind = 'booking_confirmed'")
    assert f'href="/admin/emails/{email_id}"' in text

    panel = await client.get(f"/admin/panels/emails/{email_id}", headers=admin.headers)
    body = await panel.text()
    assert reservation["ticket_code"] in body  # the plain-text part
    preview = re.search(r'<iframe[^>]*sandbox src="([^"]+)"', body)
    assert preview, body
    url = html.unescape(preview.group(1))
    shown = await client.get(url)
    assert shown.status == 200
    assert reservation["ticket_code"] in await shown.text()
    policy = shown.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "script-src" not in policy and "default-src 'none'" in policy
    assert shown.headers["X-Frame-Options"] == "SAMEORIGIN"
    # Without the panel's signature (or with another email's) there is nothing to see.
    assert (await client.get(f"/admin/email-previews/{email_id}")).status == 404
    other = await db.fetchval("SELECT id FROM emails WHERE kind = 'verify_email'")
    stolen = url.replace(str(email_id), str(other))
    assert (await client.get(stolen)).status == 404
