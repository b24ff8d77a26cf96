"""The booking confirmation's HTML rendered by Debian's Chromium (Playwright): as a mail client
shows it (the inline QR code resolved from its Content-ID) on a phone and a desktop, and as an
admin reads it in the console's sandboxed preview."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.browser import ARTIFACTS, register
from tests.factories import create_hall
from tests.smtp_server import SmtpServer, eventually

pytestmark = pytest.mark.browser

# tests.browser has skipped this module if Chromium is not there.
from playwright.async_api import Browser, expect  # noqa: E402

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


def as_a_mail_client_shows_it(message: Any) -> str:
    """The HTML part with each cid: reference replaced by its related part's data."""
    html: str = message.get_body(("html",)).get_content()
    for part in message.walk():
        content_id = part.get("Content-ID")
        if content_id:
            data = base64.b64encode(part.get_content()).decode()
            html = html.replace(
                f"cid:{content_id.strip('<>')}", f"data:{part.get_content_type()};base64,{data}"
            )
    return html


async def book(base: str, token: str, showtime_id: Any, seat_ids: list[str]) -> dict[str, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        held = await session.post(
            f"{base}/api/v1/showtimes/{showtime_id}/lock-seats",
            json={"seat_ids": seat_ids},
            headers=headers,
        )
        assert held.status == 201, await held.text()
        booked = await session.post(
            f"{base}/api/v1/reservations",
            json={"showtime_id": str(showtime_id), "seat_ids": seat_ids},
            headers=headers,
        )
        assert booked.status == 201, await booked.text()
        reservation: dict[str, Any] = await booked.json()
        return reservation


async def test_the_booking_email_renders_on_a_phone_and_a_desktop(
    browser: Browser, start_site: Any, db: Any, smtp: SmtpServer
) -> None:
    base = await start_site(smtp_url=smtp.url, mail_poll_seconds=0.3, mail_max_per_second=100.0)
    hall = await create_hall(db, rows=2, seats_per_row=6)
    email = f"eve-{uuid.uuid4().hex[:6]}@example.com"
    token = await register(base, email)
    reservation = await book(base, token, hall.showtime_id, hall.ids("B3", "B4"))
    await eventually(lambda: any(m["Subject"].startswith("Your tickets") for m in smtp.messages))
    message = next(m for m in smtp.messages if m["Subject"].startswith("Your tickets"))
    html = as_a_mail_client_shows_it(message)

    for name, options in (("phone", PHONE), ("desktop", DESKTOP)):
        context = await browser.new_context(**options)
        page = await context.new_page()
        await page.set_content(html)
        await expect(page.locator("[data-field=ticket-code]")).to_have_text(
            reservation["ticket_code"]
        )
        qr = page.locator("img[data-field=qr]")
        await expect(qr).to_be_visible()
        natural = await qr.evaluate("image => [image.complete, image.naturalWidth]")
        assert natural[0] and natural[1] >= 150, natural  # the inline PNG decoded
        seats = await page.locator("[data-field=seats] td:first-child").all_inner_texts()
        assert seats[:2] == ["B3", "B4"]
        ticket = page.locator("a[data-link=ticket]")
        await expect(ticket).to_be_visible()
        assert await ticket.get_attribute("href") == (
            f"http://localhost:8080/my/reservations/{reservation['id']}/ticket"
        )
        # Nothing wider than the screen: no sideways scrolling on a phone.
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= options["viewport"]["width"], (name, width)  # type: ignore[index]
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"booking-email-{name}.png"), full_page=True)
        await context.close()


async def test_an_admin_reads_the_captured_email_in_the_console(
    browser: Browser, start_site: Any, db: Any
) -> None:
    base = await start_site(mail_poll_seconds=0.3)
    hall = await create_hall(db, rows=1, seats_per_row=4)
    guest = f"guest-{uuid.uuid4().hex[:6]}@example.com"
    reservation = await book(base, await register(base, guest), hall.showtime_id, hall.ids("A2"))
    admin_email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    token = await register(base, admin_email)
    await db.execute("UPDATE users SET role = 'admin' WHERE lower(email) = lower($1)", admin_email)
    await eventually(
        lambda: db.fetchval(
            "SELECT status = 'captured' FROM emails WHERE kind = 'booking_confirmed'"
        )
    )
    email_id = await db.fetchval("SELECT id FROM emails WHERE kind = 'booking_confirmed'")

    context = await browser.new_context(**DESKTOP)
    context.set_default_timeout(10_000)
    stored = {"token": token, "email": admin_email, "expiresAt": (time.time() + 3000) * 1000}
    await context.add_init_script(
        f"localStorage.setItem('reservations.session', {json.dumps(json.dumps(stored))})"
    )
    page = await context.new_page()
    await page.goto(f"{base}/admin/emails?kind=booking_confirmed")
    row = page.locator(f"tr[data-email-id='{email_id}']")
    await expect(row).to_contain_text(guest)
    await expect(row).to_contain_text("captured")
    await row.get_by_role("link").click()
    await page.wait_for_url(f"{base}/admin/emails/{email_id}")
    await expect(page.locator("[data-email-text]")).to_contain_text(reservation["ticket_code"])
    frame = page.frame_locator("iframe[data-email-preview]")
    await expect(frame.locator("[data-field=ticket-code]")).to_have_text(reservation["ticket_code"])
    qr = frame.locator("img[data-field=qr]")
    await expect(qr).to_be_visible()
    assert await qr.evaluate("image => image.naturalWidth") >= 150
    await page.screenshot(path=str(ARTIFACTS / "console-email.png"), full_page=True)

    # A failed email is sent again from its page.
    failed = await db.fetchval(
        "INSERT INTO emails (kind, recipient, payload, status, attempts, last_error)"
        " VALUES ('verify_email', 'lost@example.com', '{\"token\": \"t\"}', 'failed', 8,"
        " '421 4.7.0 try later') RETURNING id"
    )
    await page.goto(f"{base}/admin/emails/{failed}")
    await expect(page.locator("[data-email-error]")).to_contain_text("421")
    await page.get_by_role("button", name="Send again").click()
    await expect(page.locator("[data-messages]")).to_have_text("The email is queued again.")
    await eventually(
        lambda: db.fetchval("SELECT status = 'captured' FROM emails WHERE id = $1", failed)
    )
    await context.close()
