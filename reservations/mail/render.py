"""What each email says: its facts read from the database when it is sent, rendered with the
Jinja2 templates of templates/email/ into a plain-text part and an HTML part.

A booking confirmation also carries its QR code (a PNG, inline: a `related` part that the HTML
shows by Content-ID) and an .ics file for the calendar. The QR code says what the ticket page
says: the signed code of `TicketSigner.qr_payload` (reservations/checkin/codes.py), so the two
never disagree.

`Rendered.stored_html` is the HTML as the admin console shows it: the inline images as data:
URLs, since no mail client is there to resolve `cid:`. Secrets (a reset or verification token)
are listed so that a sent email can be kept without them.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import struct
import urllib.parse
import uuid
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import asyncpg
import jinja2
import segno

from ..booking.reservations import reservation_view
from ..catalog.posters import poster_url
from ..checkin.codes import signer_for
from ..db import QUERIES
from ..paths import TEMPLATES_DIR
from ..settings import Settings
from . import calendar, mime, qr

QR_CONTENT_ID = "ticket-qr"
CANCEL_REASONS = {
    "cancelled_by_user": "You cancelled it.",
    "cancelled_by_admin": "The cinema cancelled it.",
}


class CannotRender(Exception):
    """What the email is about is gone (a deleted reservation): it can never be sent."""


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    stored_html: str
    message: bytes  # the whole message, as it goes to the SMTP server
    secrets: list[str] = field(default_factory=list)

    def without_secrets(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, "[removed once sent]")
        return value


def seat_kind(seat: dict[str, Any]) -> str:
    """What a seat's line says beside its label: its ticket type once reservations carry one
    (a name, or an object with a name), else its seat type."""
    ticket_type = seat.get("ticket_type")
    if isinstance(ticket_type, dict):
        ticket_type = ticket_type.get("name") or ticket_type.get("code")
    return str(ticket_type or seat.get("seat_type") or "")


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "email")),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # no stat() of every template for every email
    )
    environment.filters["money"] = lambda value: f"{Decimal(value):.2f}"
    environment.filters["seat_kind"] = seat_kind
    return environment


TEMPLATES = _environment()


@dataclass(frozen=True)
class Email:
    """An outbox row as a sender claimed it."""

    id: uuid.UUID
    kind: str
    recipient: str
    user_id: uuid.UUID | None
    reservation_id: uuid.UUID | None
    showtime_id: uuid.UUID | None
    payload: dict[str, Any]
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Email:
        def maybe_uuid(value: Any) -> uuid.UUID | None:
            return uuid.UUID(str(value)) if value else None

        created = row["created_at"]
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        return cls(
            id=uuid.UUID(str(row["id"])),
            kind=row["kind"],
            recipient=row["recipient"],
            user_id=maybe_uuid(row.get("user_id")),
            reservation_id=maybe_uuid(row.get("reservation_id")),
            showtime_id=maybe_uuid(row.get("showtime_id")),
            payload=dict(row.get("payload") or {}),
            created_at=created,
        )


QR_SCALE = 6  # pixels a module
QR_BORDER = 4  # the standard quiet zone, in modules
# Every QR mask reads alike; choosing the best-scoring of the eight (segno's default) was most of
# an email's cost (2.5 ms of 4.4). tests/areas/email/test_email_messages.py decodes the codes it makes.
QR_MASK = 0
# A module (a byte 0 light or 1 dark, read as a character) as QR_SCALE pixels of a 1-bit
# greyscale PNG row, written as binary digits: 1 white, 0 black. One str.translate a row.
_PIXELS = {0: "1" * QR_SCALE, 1: "0" * QR_SCALE}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


@functools.lru_cache(maxsize=1024)
def qr_png(content: str) -> bytes:
    """The QR code of `content` (error correction M, like ticket.svg) as a black-and-white
    PNG. Drawn by reservations/mail/qr.py (segno's symbol at a tenth of its cost; segno itself
    for what that does not draw); the PNG (1 bit a pixel, QR_SCALE pixels a module) is written
    here directly: segno's own writer took 2 ms, Pillow's resize, convert and save 1.5 ms,
    this 0.15 ms. Cached: a retry or the console's preview of the same ticket draws it once."""
    symbol = qr.matrix(content)
    if symbol is None:
        code = segno.make(content, error="m", micro=False, mask=QR_MASK, boost_error=False)
        symbol = [bytes(row) for row in code.matrix]
    modules = len(symbol) + 2 * QR_BORDER
    width = modules * QR_SCALE
    row_bytes = (width + 7) // 8
    padding = "1" * (row_bytes * 8 - width)
    quiet = "1" * (QR_BORDER * QR_SCALE)

    def scanline(bits: str) -> bytes:
        return b"\x00" + int(bits + padding, 2).to_bytes(row_bytes, "big")

    blank = scanline("1" * width) * (QR_BORDER * QR_SCALE)
    rows = [blank]
    for row in symbol:
        line = scanline(quiet + row.decode("latin-1").translate(_PIXELS) + quiet)
        rows.append(line * QR_SCALE)
    rows.append(blank)
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(b"".join(rows), 6)),
            _png_chunk(b"IEND", b""),
        )
    )


@dataclass(frozen=True)
class Facts:
    """What a batch of emails is about, read at once (Renderer.load): reservations by id (the
    rows of reservations_for_emails) and the (first, last) names of users by id."""

    reservations: dict[uuid.UUID, Any]
    users: dict[uuid.UUID, tuple[str | None, str | None]]


def _listed_reservations(email: Email) -> list[uuid.UUID]:
    """The reservations a showtime_cancelled email lists, in their order."""
    return [uuid.UUID(str(id_)) for id_ in email.payload.get("reservation_ids", [])]


class Renderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.public_base_url
        self.host = urllib.parse.urlsplit(self.base_url).hostname or "localhost"
        self.from_header = mime.address(settings.mail_from)
        # The same keys as the app's (TICKET_SIGNING_KEYS, or those kept under DATA_DIR).
        self.signer = signer_for(settings.ticket_signing_keys, settings.data_dir)

    def _local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.settings.cinema_tz)

    def _common(
        self, email: Email, first_name: str | None, last_name: str | None
    ) -> dict[str, Any]:
        name = f"{first_name or ''} {last_name or ''}".strip()
        return {
            "name": name,
            "base_url": self.base_url,
            "currency": self.settings.currency,
            "time_zone": str(self.settings.cinema_tz.key),
            "local": self._local,
            "email": email,
        }

    async def load(self, conn: asyncpg.Connection, emails: list[Email]) -> Facts:
        """What these emails say, read in two queries whatever their number: a sender reads a
        whole claimed batch at once."""
        reservation_ids: set[uuid.UUID] = set()
        user_ids = {email.user_id for email in emails if email.user_id is not None}
        for email in emails:
            if email.kind in ("booking_confirmed", "reservation_cancelled"):
                if email.reservation_id is not None:
                    reservation_ids.add(email.reservation_id)
            elif email.kind == "showtime_cancelled":
                reservation_ids.update(_listed_reservations(email))
        reservations = (
            await conn.fetch(QUERIES.reservations_for_emails, list(reservation_ids))
            if reservation_ids
            else []
        )
        users = await conn.fetch(QUERIES.users_to_greet, list(user_ids)) if user_ids else []
        return Facts(
            {row["id"]: row for row in reservations},
            {row["id"]: (row["first_name"], row["last_name"]) for row in users},
        )

    async def render(self, conn: asyncpg.Connection, email: Email) -> Rendered:
        """One email, its facts read now (the admin console's preview)."""
        return self.render_with(email, await self.load(conn, [email]))

    def render_with(self, email: Email, facts: Facts) -> Rendered:
        """The email from facts `load` read; CannotRender when what it is about is gone."""
        attachments: list[tuple[bytes, str, str, str]] = []
        related: list[tuple[bytes, str]] = []
        secrets: list[str] = []
        first_name, last_name = (
            facts.users.get(email.user_id, ("", "")) if email.user_id else ("", "")
        )
        context = self._common(email, first_name, last_name)
        if email.kind in ("booking_confirmed", "reservation_cancelled"):
            row = facts.reservations.get(email.reservation_id) if email.reservation_id else None
            if row is None:
                raise CannotRender("its reservation no longer exists")
            reservation = reservation_view(row)
            context["reservation"] = reservation
            context["ticket_url"] = f"{self.base_url}/my/reservations/{reservation['id']}/ticket"
            context["reservations_url"] = f"{self.base_url}/my/reservations"
            context["reason"] = CANCEL_REASONS.get(
                str(email.payload.get("reason")), "It was cancelled."
            )
            if email.kind == "booking_confirmed":
                poster = poster_url(row["poster_file"])
                context["poster_url"] = f"{self.base_url}{poster}" if poster else None
                qr = self.signer.qr_payload(reservation["ticket_code"])
                related.append((qr_png(qr), QR_CONTENT_ID))
                attachments.append(
                    (
                        self._ics(reservation, context["ticket_url"]),
                        "text",
                        "calendar",
                        "ticket.ics",
                    )
                )
        elif email.kind == "showtime_cancelled":
            rows = [
                facts.reservations[id_]
                for id_ in _listed_reservations(email)
                if id_ in facts.reservations
            ]
            if not rows:
                raise CannotRender("its reservations no longer exist")
            context["reservations"] = [reservation_view(row) for row in rows]
            context["reservation"] = context["reservations"][0]
            context["reservations_url"] = f"{self.base_url}/my/reservations"
        elif email.kind in ("password_reset", "verify_email"):
            token = str(email.payload.get("token", ""))
            if not token:
                raise CannotRender("its token is no longer kept")
            secrets.append(token)
            page = "reset-password" if email.kind == "password_reset" else "verify-email"
            context["link"] = f"{self.base_url}/{page}?token={urllib.parse.quote(token)}"
            context["valid_minutes"] = int(email.payload.get("valid_seconds", 3600)) // 60
        else:
            raise CannotRender(f"no template for {email.kind!r}")

        subject = " ".join(
            TEMPLATES.get_template(f"{email.kind}.subject.txt").render(context).split()
        )
        context["subject"] = subject
        text = TEMPLATES.get_template(f"{email.kind}.txt").render(context)
        html = TEMPLATES.get_template(f"{email.kind}.html").render(context)
        message = self._message(email, subject, text, html, related, attachments)
        stored_html = html
        for data, content_id in related:
            inline = "data:image/png;base64," + base64.b64encode(data).decode()
            stored_html = stored_html.replace(f"cid:{content_id}", inline)
        return Rendered(subject, text, html, stored_html, message, secrets)

    def _ics(self, reservation: dict[str, Any], ticket_url: str) -> bytes:
        seats = ", ".join(seat["seat_label"] for seat in reservation["seats"])
        return calendar.event(
            uid=f"{reservation['id']}@{self.host}",
            summary=reservation["movie"]["title"],
            location=reservation["theater"]["name"],
            description=f"Seats {seats}. Ticket code {reservation['ticket_code']}.",
            start=reservation["showtime"]["start_time"],
            end=reservation["showtime"]["end_time"],
            zone=self.settings.cinema_tz,
            url=ticket_url,
            stamp=reservation["created_at"],
        )

    def _message(
        self,
        email: Email,
        subject: str,
        text: str,
        html: str,
        related: list[tuple[bytes, str]],
        attachments: list[tuple[bytes, str, str, str]],
    ) -> bytes:
        body = mime.Part("multipart/alternative", parts=[mime.text_part("text/plain", text)])
        html_part = mime.text_part("text/html", html)
        if related:
            images = [
                mime.Part(
                    "image/png",
                    data,
                    {"name": f"{content_id}.png"},
                    [
                        ("Content-ID", f"<{content_id}>"),
                        ("Content-Disposition", f'inline; filename="{content_id}.png"'),
                    ],
                )
                for data, content_id in related
            ]
            html_part = mime.Part("multipart/related", parts=[html_part, *images])
        body.parts.append(html_part)
        if attachments:
            files = [
                mime.Part(
                    f"{maintype}/{subtype}",
                    data,
                    {"charset": "utf-8", "method": "PUBLISH", "name": filename}
                    if subtype == "calendar"
                    else {"name": filename},
                    [("Content-Disposition", f'attachment; filename="{filename}"')],
                )
                for data, maintype, subtype, filename in attachments
            ]
            body = mime.Part("multipart/mixed", parts=[body, *files])
        headers = [
            ("From", self.from_header),
            ("To", email.recipient),  # a bare address, as users.email holds it
            ("Subject", mime.subject(subject)),
            ("Date", format_datetime(email.created_at.astimezone(dt.UTC))),
            # The same on every attempt: a receiving system that got it twice can tell.
            ("Message-ID", f"<{email.id}@{self.host}>"),
            ("Auto-Submitted", "auto-generated"),
        ]
        return mime.message_bytes(headers, body)
