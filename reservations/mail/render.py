"""What each email says: its facts read from the database when it is sent, rendered with the
Jinja2 templates of templates/email/ into a plain-text part and an HTML part.

A booking confirmation also carries its QR code (a PNG, inline: a `related` part that the HTML
shows by Content-ID) and an .ics file for the calendar. The QR code says what the ticket page
says (`ticket_qr_content`, reservations/booking/tickets.py), so the two never disagree.

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
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import asyncpg
import jinja2
import segno

from ..booking.reservations import reservation_view
from ..booking.tickets import ticket_qr_content
from ..catalog.posters import poster_url
from ..db import QUERIES
from ..paths import TEMPLATES_DIR
from ..settings import Settings
from . import calendar

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
    message: EmailMessage
    secrets: list[str] = field(default_factory=list)

    def without_secrets(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, "[removed once sent]")
        return value


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR / "email")),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["money"] = lambda value: f"{Decimal(value):.2f}"
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


def qr_png(content: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(content, error="m", micro=False).save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()


class Renderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.public_base_url
        self.host = urllib.parse.urlsplit(self.base_url).hostname or "localhost"

    def _local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.settings.cinema_tz)

    def _common(self, email: Email, user: asyncpg.Record | None) -> dict[str, Any]:
        name = ""
        if user is not None:
            name = f"{user['first_name']} {user['last_name']}".strip()
        return {
            "name": name,
            "base_url": self.base_url,
            "currency": self.settings.currency,
            "time_zone": str(self.settings.cinema_tz.key),
            "local": self._local,
            "email": email,
        }

    async def render(self, conn: asyncpg.Connection, email: Email) -> Rendered:
        user = None
        if email.user_id is not None:
            user = await conn.fetchrow(QUERIES.email_to_render, email.user_id)
        context = self._common(email, user)
        attachments: list[tuple[bytes, str, str, str]] = []
        related: list[tuple[bytes, str]] = []
        secrets: list[str] = []
        if email.kind in ("booking_confirmed", "reservation_cancelled"):
            reservation = await self._reservation(conn, email.reservation_id)
            context["reservation"] = reservation
            context["ticket_url"] = f"{self.base_url}/my/reservations/{reservation['id']}/ticket"
            context["reservations_url"] = f"{self.base_url}/my/reservations"
            context["reason"] = CANCEL_REASONS.get(
                str(email.payload.get("reason")), "It was cancelled."
            )
            if email.kind == "booking_confirmed":
                context["poster_url"] = await self._poster(conn, reservation["movie"]["id"])
                related.append((qr_png(ticket_qr_content(reservation)), QR_CONTENT_ID))
                attachments.append(
                    (
                        self._ics(reservation, context["ticket_url"]),
                        "text",
                        "calendar",
                        "ticket.ics",
                    )
                )
        elif email.kind == "showtime_cancelled":
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

    async def _reservation(
        self, conn: asyncpg.Connection, reservation_id: uuid.UUID | None
    ) -> dict[str, Any]:
        row = None
        if reservation_id is not None:
            row = await conn.fetchrow(QUERIES.reservations_by_ids, [reservation_id])
        if row is None or row["id"] is None:
            raise CannotRender("its reservation no longer exists")
        return reservation_view(row)

    async def _poster(self, conn: asyncpg.Connection, movie_id: uuid.UUID) -> str | None:
        path = poster_url(await conn.fetchval(QUERIES.movie_poster_file, movie_id))
        return f"{self.base_url}{path}" if path else None

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
    ) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = email.recipient
        message["Subject"] = subject
        message["Date"] = format_datetime(email.created_at.astimezone(dt.UTC))
        # The same on every attempt: a receiving system that got it twice can tell.
        message["Message-ID"] = f"<{email.id}@{self.host}>"
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        if related:
            html_part: EmailMessage = message.get_payload()[1]  # type: ignore[index,assignment]
            for data, content_id in related:
                html_part.add_related(
                    data,
                    maintype="image",
                    subtype="png",
                    cid=f"<{content_id}>",
                    filename=f"{content_id}.png",
                    disposition="inline",
                )
        for data, maintype, subtype, filename in attachments:
            message.add_attachment(
                data,
                maintype=maintype,
                subtype=subtype,
                filename=filename,
                params={"method": "PUBLISH"} if subtype == "calendar" else {},
            )
        return message
