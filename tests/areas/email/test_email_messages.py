"""What each email says, read back by parsing the message the SMTP server received with the
`email` package: parts, inline QR code, calendar file, links, local times."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import zxingcpp
from aiohttp.test_utils import TestClient
from PIL import Image

from reservations.app import create_app
from reservations.mail.render import qr_png
from reservations.settings import Settings
from tests import api
from tests.factories import Account, create_hall
from tests.images import image_bytes
from tests.smtp_server import SmtpServer, eventually

PARIS = ZoneInfo("Europe/Paris")
BASE = "https://tickets.example.com"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return dataclasses.replace(
        settings,
        smtp_url=smtp.url,
        mail_max_per_second=1000.0,
        mail_poll_seconds=0.3,
        cinema_tz=PARIS,
        public_base_url=BASE,
        mail_from="Cinema Paradiso <tickets@example.com>",
    )


@pytest.fixture
async def mail_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]], mail_settings: Settings, database: str
) -> TestClient:
    return await aiohttp_client(create_app(mail_settings, database))


def parts(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


async def only_message(smtp: SmtpServer, count: int = 1) -> EmailMessage:
    await eventually(lambda: len(smtp.messages) >= count)
    return smtp.messages[count - 1]


async def test_the_booking_confirmation_has_everything_a_moviegoer_needs(
    mail_client: TestClient,
    db: asyncpg.Connection,
    admin: Account,
    user: Account,
    smtp: SmtpServer,
) -> None:
    hall = await create_hall(db, rows=2, seats_per_row=4, price="9.50")
    await db.execute("UPDATE seats SET seat_type = 'premium' WHERE id = $1", hall.seats["B2"])
    poster = await api.upload(mail_client, admin, hall.movie_id, image_bytes("PNG"))
    assert poster.status == 200, await poster.text()
    # 19:30 in Paris on a winter day.
    start = dt.datetime(2031, 1, 15, 19, 30, tzinfo=PARIS)
    await db.execute(
        "UPDATE showtimes SET start_time = $2::timestamptz, end_time = $2::timestamptz + interval '2 hours',"
        " busy_until = $2::timestamptz + interval '2 hours 15 minutes' WHERE id = $1",
        hall.showtime_id,
        start,
    )
    reservation = await api.book(mail_client, user, hall.showtime_id, hall.ids("A1", "B2"))
    message = await only_message(smtp)

    assert message["From"] == "Cinema Paradiso <tickets@example.com>"
    assert message["To"] == user.email
    assert message["Subject"].startswith("Your tickets: Movie ")
    assert "15 Jan 19:30" in message["Subject"]
    email_id = await db.fetchval("SELECT id FROM emails")
    assert message["Message-ID"] == f"<{email_id}@tickets.example.com>"
    assert parts(message) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "text/calendar",
    ]

    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for body in (text, html):
        assert reservation["ticket_code"] in body
        assert "Wednesday 15 January 2031, 19:30" in body
        assert "Europe/Paris" in body
        assert reservation["theater"]["name"] in body
        assert reservation["movie"]["title"] in body
        assert "A1" in body and "B2" in body
        assert "9.50 EUR" in body and "11.88 EUR" in body  # premium: 9.50 x 1.25
        assert "21.38 EUR" in body
        assert f"{BASE}/my/reservations/{reservation['id']}/ticket" in body
        assert f"{BASE}/my/reservations" in body
    poster_url = (await (await mail_client.get(f"/api/v1/movies/{hall.movie_id}")).json())[
        "poster_url"
    ]
    assert f'src="{BASE}{poster_url}"' in html

    # The QR code: inline, shown by its Content-ID, saying what the ticket page's says.
    image = next(part for part in message.walk() if part.get_content_type() == "image/png")
    content_id = image["Content-ID"].strip("<>")
    assert f'src="cid:{content_id}"' in html
    assert image.get_content() == qr_png(reservation["qr_payload"])  # the signed code
    (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.get_content())))
    assert decoded.text == reservation["qr_payload"]
    assert image.get_content_disposition() == "inline"

    # The calendar file: the cinema's zone and local time.
    calendar = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
    assert calendar.get_filename() == "ticket.ics"
    assert calendar.get_content_disposition() == "attachment"
    ics = calendar.get_content()
    ics = ics.decode() if isinstance(ics, bytes) else ics
    assert "DTSTART;TZID=Europe/Paris:20310115T193000" in ics
    assert "DTEND;TZID=Europe/Paris:20310115T213000" in ics
    assert "TZOFFSETTO:+0100" in ics
    assert f"UID:{reservation['id']}@tickets.example.com" in ics
    assert "\r\n" in ics and all(len(line.encode()) <= 75 for line in ics.split("\r\n"))


async def test_a_cancellation_says_which_booking_and_why(
    mail_client: TestClient, db: asyncpg.Connection, user: Account, smtp: SmtpServer
) -> None:
    hall = await create_hall(db, rows=1, seats_per_row=4)
    reservation = await api.book(mail_client, user, hall.showtime_id, hall.ids("A3"))
    await only_message(smtp)
    response = await mail_client.delete(
        f"/api/v1/reservations/{reservation['id']}", headers=user.headers
    )
    assert response.status == 200
    message = await only_message(smtp, 2)
    assert message["Subject"].startswith("Cancelled: ")
    assert parts(message) == ["multipart/alternative", "text/plain", "text/html"]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert reservation["ticket_code"] in text and "You cancelled it." in text and "A3" in text


async def test_a_cancelled_showtime_tells_each_booker_once_with_all_their_bookings(
    mail_client: TestClient,
    db: asyncpg.Connection,
    admin: Account,
    make_account: Callable[..., Awaitable[Account]],
    smtp: SmtpServer,
) -> None:
    hall = await create_hall(db, rows=1, seats_per_row=6)
    ann, bob = await make_account(), await make_account()
    first = await api.book(mail_client, ann, hall.showtime_id, hall.ids("A1"))
    second = await api.book(mail_client, ann, hall.showtime_id, hall.ids("A2"))
    await api.book(mail_client, bob, hall.showtime_id, hall.ids("A5"))
    await only_message(smtp, 3)
    response = await mail_client.delete(
        f"/api/v1/showtimes/{hall.showtime_id}", headers=admin.headers
    )
    assert response.status == 204
    await eventually(lambda: len(smtp.messages) >= 5)
    await eventually(lambda: db.fetchval("SELECT count(*) = 5 FROM emails WHERE status = 'sent'"))
    cancelled = [m for m in smtp.messages if m["Subject"].startswith("Showing cancelled")]
    assert sorted(m["To"] for m in cancelled) == sorted([ann.email, bob.email])
    to_ann = next(m for m in cancelled if m["To"] == ann.email)
    text = to_ann.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert first["ticket_code"] in text and second["ticket_code"] in text
    assert "2 bookings" in text


def test_the_email_qr_codes_read_back_as_their_ticket_codes() -> None:
    """The fixed mask (QR_MASK) reads like the best-scoring one: many random ticket codes."""
    from reservations.booking.reservations import new_ticket_code

    for _ in range(300):
        code = new_ticket_code()
        (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(code))))
        assert decoded.text == code


def link_in(message: EmailMessage, path: str) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"{re.escape(BASE)}/{path}\?token=[A-Za-z0-9_-]+", text)
    assert found, text
    assert found.group(0) in html
    return found.group(0)


async def test_a_password_reset_email_carries_a_one_time_link(
    mail_client: TestClient, db: asyncpg.Connection, smtp: SmtpServer
) -> None:
    await api.register(mail_client, email="reset-me@example.com")
    await only_message(smtp)  # the verification email of the registration
    response = await mail_client.post(
        "/api/v1/auth/password-reset", json={"email": "reset-me@example.com"}
    )
    assert response.status == 202
    message = await only_message(smtp, 2)
    assert message["Subject"] == "Reset your password"
    assert parts(message) == ["multipart/alternative", "text/plain", "text/html"]
    link = link_in(message, "reset-password")
    token = link.rsplit("=", 1)[1]
    # Once sent, the database keeps the email without the token.
    await eventually(
        lambda: db.fetchval(
            "SELECT bool_and(status = 'sent') FROM emails WHERE kind = 'password_reset'"
        )
    )
    stored: Any = await db.fetchrow(
        "SELECT payload, text_body, html_body FROM emails WHERE kind = 'password_reset'"
    )
    assert token not in stored["text_body"] and token not in stored["html_body"]
    assert "token" not in stored["payload"]


async def test_registering_sends_a_verification_link(
    mail_client: TestClient, smtp: SmtpServer
) -> None:
    response = await api.register(mail_client, email="new@example.com")
    assert response.status == 201
    message = await only_message(smtp)
    assert message["To"] == "new@example.com"
    assert message["Subject"] == "Confirm your email address"
    link_in(message, "verify-email")


def test_a_seat_line_names_its_ticket_type_once_reservations_carry_one() -> None:
    from reservations.mail.render import seat_kind

    assert seat_kind({"seat_type": "premium"}) == "premium"
    assert seat_kind({"seat_type": "regular", "ticket_type": "student"}) == "student"
    assert seat_kind({"seat_type": "regular", "ticket_type": {"code": "s", "name": "Student"}}) == (
        "Student"
    )
