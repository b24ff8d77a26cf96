"""What every API route shares: JSON answers, the error schema, pagination, documented errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp_apispec import response_schema
from marshmallow import EXCLUDE, Schema, fields, validate

from .db import json_dumps
from .errors import NotFound

F = TypeVar("F", bound=Callable[..., Any])

MAX_PAGE_SIZE = 100


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json_dumps(data),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def path_uuid(request: web.Request, name: str = "id") -> uuid.UUID:
    """A UUID from the path; anything else names no resource, so 404."""
    raw = request.match_info[name]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"No resource has the id {raw[:64]!r}.") from None


class RequestSchema(Schema):
    """Request bodies and queries: unknown fields are ignored (never assigned)."""

    class Meta:
        unknown = EXCLUDE


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"example": "seat_unavailable"})
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class PageQuery(RequestSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class PageFields(Schema):
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)


_ERROR_DESCRIPTIONS = {
    400: "Malformed body or parameter",
    401: "No token, or a bad one",
    403: "Authenticated but not allowed",
    404: "Unknown resource",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Wrong media type",
    422: "Well-formed but invalid",
    429: "Rate limited (see Retry-After)",
    503: "Database unavailable or busy (see Retry-After)",
}


def error_responses(*statuses: int) -> Callable[[F], F]:
    """Document the error answers a route can give, all in the one error shape."""

    def decorate(handler: F) -> F:
        for status in (*statuses, 503):
            handler = response_schema(ErrorSchema, status, description=_ERROR_DESCRIPTIONS[status])(
                handler
            )
        return handler

    return decorate


def page_of(
    name: str, items: Iterable[Any], total: int, page: int, page_size: int
) -> dict[str, Any]:
    return {name: list(items), "total": total, "page": page, "page_size": page_size}
