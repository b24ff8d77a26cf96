"""The outbox as admins read it: lists, one email as its recipient sees it, and a retry."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg

from ..db import QUERIES
from ..errors import Conflict, NotFound
from .render import Email, Renderer

log = logging.getLogger(__name__)

KINDS = (
    "booking_confirmed",
    "reservation_cancelled",
    "showtime_cancelled",
    "password_reset",
    "verify_email",
)
STATUSES = ("queued", "sent", "failed", "captured")


class EmailNotFound(NotFound):
    code = "email_not_found"
    message = "No email has this id."


class EmailNotFailed(Conflict):
    code = "email_not_failed"
    message = "Only a failed email can be queued again."


def email_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "to": row["recipient"],
        "subject": row["subject"],
        "status": row["status"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "created_at": row["created_at"],
        "sent_at": row["sent_at"],
    }


async def list_emails(
    pool: asyncpg.Pool,
    *,
    status: str | None,
    to: str | None,
    kind: str | None,
    page: int,
    page_size: int,
) -> tuple[list[dict[str, Any]], int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            QUERIES.list_emails, status, to, kind, page_size, (page - 1) * page_size
        )
        total = (
            rows[0]["total"]
            if rows
            else await conn.fetchval(QUERIES.count_emails, status, to, kind)
        )
    return [email_view(row) for row in rows], int(total)


async def get_email(pool: asyncpg.Pool, renderer: Renderer, email_id: uuid.UUID) -> dict[str, Any]:
    """The email with its `text` and `html` (as delivered; one not yet sent is rendered now, as
    it would be sent) and its attempts."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.email_by_id, email_id)
        if row is None:
            raise EmailNotFound()
        attempts = await conn.fetch(QUERIES.attempts_of_email, email_id)
        view = email_view(row)
        text, html = row["text_body"], row["html_body"]
        if text is None and html is None:
            try:
                rendered = await renderer.render(conn, Email.from_row(dict(row)))
            except Exception as exc:  # noqa: BLE001 - a preview that cannot be made is absent
                log.info("email %s cannot be previewed: %s", email_id, exc)
            else:
                view["subject"] = rendered.subject
                text, html = rendered.text, rendered.stored_html
    return {**view, "text": text, "html": html, "delivery_attempts": [dict(a) for a in attempts]}


async def retry_email(pool: asyncpg.Pool, email_id: uuid.UUID) -> dict[str, Any]:
    async with pool.acquire() as conn:
        queued = await conn.fetchval(QUERIES.retry_email, email_id)
        row = await conn.fetchrow(QUERIES.email_by_id, email_id)
    if row is None:
        raise EmailNotFound()
    if queued is None:
        raise EmailNotFailed(details={"status": row["status"]})
    return email_view(row)
