"""The pages of a forgotten password and of address verification: plain HTML forms posted to
the server, which calls the same service functions as the API (reservations/accounts/
email_tokens.py) and renders the outcome, so they work without JavaScript.

Emails link to `/reset-password?token=...` and `/verify-email?token=...`; both show a form
whose button sends the token, so a mail scanner that opens links spends nothing.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from ..accounts import email_tokens
from ..accounts.passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES
from ..context import PASSWORDS, POOL, SETTINGS, USERS
from ..errors import RateLimited

routes = web.RouteTableDef()
MAX_FIELD_LENGTH = 1024


def _render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, {"nav": "login", **context})
    response.set_status(status)
    response.headers["Cache-Control"] = "no-store"  # a token may be in the page
    return response


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {
        name: value[:MAX_FIELD_LENGTH].replace("\x00", "")
        for name, value in data.items()
        if isinstance(value, str)
    }


@routes.get("/forgot-password", name="forgot_password")
async def forgot_password_page(request: web.Request) -> web.Response:
    return _render(request, "forgot_password.html", {})


@routes.post("/forgot-password")
async def forgot_password(request: web.Request) -> web.Response:
    email = (await _form(request)).get("email", "").strip()
    if not email or len(email) > 254:
        return _render(
            request, "forgot_password.html", {"error": "Enter the email of your account."}, 422
        )
    try:
        await email_tokens.request_password_reset(
            request.app[POOL], request.app[SETTINGS], email, request.remote
        )
    except RateLimited as limited:
        return _render(request, "forgot_password.html", {"error": limited.message}, 429)
    return _render(request, "forgot_password.html", {"sent_to": email})


def _token(request: web.Request) -> str:
    return request.query.get("token", "")[:200]


@routes.get("/reset-password", name="reset_password")
async def reset_password_page(request: web.Request) -> web.Response:
    return _render(request, "reset_password.html", {"token": _token(request)})


@routes.post("/reset-password")
async def reset_password(request: web.Request) -> web.Response:
    form = await _form(request)
    token, password = form.get("token", ""), form.get("password", "")
    size = len(password.encode())
    if not MIN_PASSWORD_BYTES <= size <= MAX_PASSWORD_BYTES:
        error = (
            f"Choose a password of {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes "
            "(most characters are one byte)."
        )
        return _render(request, "reset_password.html", {"token": token, "error": error}, 422)
    if password != form.get("password_again", password):
        error = "The two passwords differ."
        return _render(request, "reset_password.html", {"token": token, "error": error}, 422)
    try:
        await email_tokens.reset_password(
            request.app[POOL], request.app[PASSWORDS], request.app[USERS], token, password
        )
    except email_tokens.TokenInvalid:
        return _render(request, "reset_password.html", {"invalid": True}, 422)
    return _render(request, "reset_password.html", {"done": True})


@routes.get("/verify-email", name="verify_email")
async def verify_email_page(request: web.Request) -> web.Response:
    return _render(request, "verify_email.html", {"token": _token(request)})


@routes.post("/verify-email")
async def verify_email(request: web.Request) -> web.Response:
    token = (await _form(request)).get("token", "")
    try:
        user = await email_tokens.verify_email(request.app[POOL], request.app[USERS], token)
    except email_tokens.TokenInvalid:
        return _render(request, "verify_email.html", {"invalid": True}, 422)
    return _render(request, "verify_email.html", {"verified": user["email"]})


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
