"""Who may call a route, decided in one place.

Handlers are marked with `@user_only`, `@usher_only`, `@admin_only` or `@optional_user`;
`auth_middleware` reads the mark before the body is parsed, so an anonymous caller gets 401 and
a user on an admin route 403, whatever the body. An usher (door staff) passes `@usher_only`
(check-in) and `@user_only`, never `@admin_only`; an admin passes every mark.

The user's role and token generation (raising it revokes every token issued before) come from
the database, through this instance's cache of users (user_cache.py): while the instance
listens for user changes, a cached user costs no query, and a role change, a revocation or a
deletion made through another instance or the CLI takes effect here within the NOTIFY delay
(this instance's own changes, such as a promotion through the API, at once); while the listener
is down, the row is read on every request, so they take effect at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

from ..context import CURRENT_USER, POOL, SETTINGS, USERS
from ..errors import Forbidden, Unauthorized
from .tokens import InvalidToken, read_access_token
from .user_cache import user_of_token

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
OPTIONAL = "optional"
USER = "user"
USHER = "usher"
ADMIN = "admin"
ROLES = (USER, USHER, ADMIN)
# Who passes each mark that needs a role beyond signing in.
_ALLOWED_ROLES = {USHER: frozenset({USHER, ADMIN}), ADMIN: frozenset({ADMIN})}
BEARER_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _mark(level: str) -> Callable[[F], F]:
    def decorate(handler: F) -> F:
        handler.__access__ = level  # type: ignore[attr-defined]
        if level in (USER, USHER, ADMIN):
            apispec = handler.__dict__.setdefault(
                "__apispec__", {"schemas": [], "responses": {}, "parameters": []}
            )
            handler.__dict__.setdefault("__schemas__", [])
            apispec["security"] = BEARER_SECURITY
        return handler

    return decorate


user_only = _mark(USER)
usher_only = _mark(USHER)  # ushers and admins: the door
admin_only = _mark(ADMIN)
optional_user = _mark(OPTIONAL)


def admin_panel(handler: F) -> F:
    """Admins only, like `admin_only`, for a route that is not part of the API (the admin
    console's panels): access is checked the same way, but nothing goes into the API docs."""
    handler.__access__ = ADMIN  # type: ignore[attr-defined]
    return handler


def access_of(handler: Any) -> str:
    return getattr(handler, "__access__", PUBLIC)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def user_from_token(request: web.Request, token: str) -> asyncpg.Record | None:
    try:
        claims = read_access_token(token, request.app[SETTINGS].jwt_secret)
    except InvalidToken:
        return None
    # None: deleted, or its tokens were revoked (create-admin took the account over).
    return await user_of_token(
        request.app[POOL], request.app[USERS], claims.user_id, claims.generation
    )


@web.middleware
async def auth_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    level = access_of(request.match_info.handler)
    if level == PUBLIC:
        return await handler(request)
    token = bearer_token(request)
    if token is None:
        if level == OPTIONAL:
            return await handler(request)
        raise Unauthorized()
    user = await user_from_token(request, token)
    if user is None:
        if level == OPTIONAL:
            return await handler(request)
        raise Unauthorized("The token is invalid or expired, or its user no longer exists.")
    allowed = _ALLOWED_ROLES.get(level)
    if allowed is not None and user["role"] not in allowed:
        raise Forbidden(
            "This needs an admin account."
            if level == ADMIN
            else "This needs an usher's or an admin's account."
        )
    request[CURRENT_USER] = user
    return await handler(request)


def current_user(request: web.Request) -> asyncpg.Record:
    return request[CURRENT_USER]


def maybe_user(request: web.Request) -> asyncpg.Record | None:
    return request.get(CURRENT_USER)
