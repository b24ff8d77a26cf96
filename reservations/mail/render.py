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
import io
import urllib.parse
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import asyncpg
import jinja2
import segno
from PIL import Image

from ..booking.reservations import reservation_view
from ..catalog.posters import poster_url
from ..checkin.codes import signer_for
from ..db import QUERIES
from ..paths import TEMPLATES_DIR
from ..settings import Settings
from . import calendar, mime

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


def qr_png(content: str) -> bytes:
    """The QR code of `content` (error correction M, like ticket.svg) as a black-and-white
    PNG. segno encodes; Pillow writes the PNG (segno's own writer, in Python, took 2 ms)."""
    code = segno.make(content, error="m", micro=False, mask=QR_MASK)
    rows = list(code.matrix_iter(scale=1, border=QR_BORDER))
    size = len(rows)
    pixels = bytes(0 if dark else 255 for row in rows for dark in row)
    image = Image.frombytes("L", (size, size), pixels)
    image = image.resize((size * QR_SCALE, size * QR_SCALE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.convert("1").save(buffer, "PNG")
    return buffer.getvalue()


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

    async def render(self, conn: asyncpg.Connection, email: Email) -> Rendered:
        attachments: list[tuple[bytes, str, str, str]] = []
        related: list[tuple[bytes, str]] = []
        secrets: list[str] = []
        if email.kind in ("booking_confirmed", "reservation_cancelled"):
            row = None
            if email.reservation_id is not None:
                row = await conn.fetchrow(
                    QUERIES.reservation_for_email, email.reservation_id, email.user_id
                )
            if row is None or row["id"] is None:
                raise CannotRender("its reservation no longer exists")
            context = self._common(email, row["greeting_first_name"], row["greeting_last_name"])
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
        else:
            user = None
            if email.user_id is not None:
                user = await conn.fetchrow(QUERIES.email_to_render, email.user_id)
            context = self._common(
                email, user["first_name"] if user else "", user["last_name"] if user else ""
            )
            if email.kind == "showtime_cancelled":
                ids = [uuid.UUID(str(i)) for i in email.payload.get("reservation_ids", [])]
                rows = await conn.fetch(QUERIES.reservations_by_ids, ids) if ids else []
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
