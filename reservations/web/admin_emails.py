"""The admin console's outbox: every email, filtered by status, recipient and kind; one email as
its recipient sees it, with its attempts; a failed one queued again (through the API's retry).

The HTML part is shown in a sandboxed iframe (no script, no same-origin access) loaded from
`/admin/email-previews/{id}`. An iframe cannot send the console's bearer token, so the panel,
which only an admin gets, hands it a signed address valid for PREVIEW_TTL_SECONDS; the preview
answers with its own policy: the email's inline styles and data: images, nothing else.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from aiohttp import web

from ..accounts.access import admin_panel
from ..context import POOL, SETTINGS
from ..errors import Unprocessable
from ..mail import outbox
from ..mail.routes import RENDERER
from .admin import PAGE_SIZE, _panel, _shell, _uuid
from .routes import not_found_page

PREVIEW_TTL_SECONDS = 600
PREVIEW_TYPE = "email-preview"


def preview_signature(email_id: uuid.UUID, secret: str) -> str:
    now = int(time.time())
    claims = {
        "sub": str(email_id),
        "typ": PREVIEW_TYPE,
        "iat": now,
        "exp": now + PREVIEW_TTL_SECONDS,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def _signed_for(signature: str, secret: str) -> str | None:
    try:
        claims = jwt.decode(
            signature, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "typ"]}
        )
    except jwt.PyJWTError:
        return None
    return str(claims["sub"]) if claims.get("typ") == PREVIEW_TYPE else None


MAX_ADDRESS_SEARCH = 254


def _filter(request: web.Request, name: str, allowed: tuple[str, ...] | None) -> str | None:
    value = request.query.get(name, "").strip() or None
    if value is not None and len(value) > MAX_ADDRESS_SEARCH:  # said, never cut
        raise Unprocessable(
            "Some filters are invalid.",
            details={"fields": {name: [f"Use at most {MAX_ADDRESS_SEARCH} characters."]}},
        )
    if value is not None and allowed is not None and value not in allowed:
        return None
    return value


@admin_panel
async def emails_panel(request: web.Request) -> web.Response:
    status = _filter(request, "status", outbox.STATUSES)
    kind = _filter(request, "kind", outbox.KINDS)
    to = _filter(request, "to", None)
    try:
        page = max(1, min(1_000_000, int(request.query.get("page", "1"))))
    except ValueError:
        page = 1
    emails, total = await outbox.list_emails(
        request.app[POOL], status=status, to=to, kind=kind, page=page, page_size=PAGE_SIZE
    )
    return _panel(
        "admin/emails.html",
        request,
        {
            "emails": emails,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "filters": {"status": status or "", "kind": kind or "", "to": to or ""},
            "statuses": outbox.STATUSES,
            "kinds": outbox.KINDS,
            "smtp": bool(request.app[SETTINGS].smtp_url),
        },
    )


@admin_panel
async def email_panel(request: web.Request) -> web.Response:
    email: dict[str, Any] = await outbox.get_email(
        request.app[POOL], request.app[RENDERER], _uuid(request)
    )
    signature = preview_signature(email["id"], request.app[SETTINGS].jwt_secret)
    return _panel(
        "admin/email.html",
        request,
        {"email": email, "preview_url": f"/admin/email-previews/{email['id']}?s={signature}"},
    )


async def email_preview(request: web.Request) -> web.Response:
    """The HTML part alone, for the panel's sandboxed iframe; needs the panel's signature."""
    settings = request.app[SETTINGS]
    signed = _signed_for(request.query.get("s", ""), settings.jwt_secret)
    if signed is None or signed != request.match_info["id"]:
        return not_found_page(request, "This preview has expired; open the email again.")
    email = await outbox.get_email(request.app[POOL], request.app[RENDERER], _uuid(request))
    html = email["html"] or "<p>This email has no HTML part yet.</p>"
    return web.Response(
        text=html,
        content_type="text/html",
        headers={
            "Content-Security-Policy": (
                f"default-src 'none'; img-src 'self' data: {settings.public_base_url}; "
                "style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"
            ),
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/admin/emails", _shell("emails", "Outbox"))
    router.add_get("/admin/emails/{id}", _shell("emails", "Email"))
    router.add_get("/admin/panels/emails", emails_panel)
    router.add_get("/admin/panels/emails/{id}", email_panel)
    router.add_get("/admin/email-previews/{id}", email_preview)
