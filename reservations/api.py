"""What every API route shares: JSON answers, the error schema, pagination, documented errors."""

from __future__ import annotations

import decimal
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiohttp import web
from aiohttp_apispec import response_schema
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from .db import json_dumps
from .errors import NotFound

F = TypeVar("F", bound=Callable[..., Any])

MAX_PAGE_SIZE = 100
# What str.strip() removes, spelled out for documented patterns: `\s` means other things in
# other regex engines (ECMAScript's has U+FEFF but not U+001C to U+001F, which Python strips).
_SPACES = "".join(f"\\u{code:04x}" for code in range(0x10000) if chr(code).isspace())
SPACES_PATTERN = f"[{_SPACES}]*"
NOT_BLANK_PATTERN = f"[^{_SPACES}]"  # text that is not empty once trimmed


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


NUL_MESSAGE = "Must not contain NUL characters."


def _has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character in any string or key (no recursion, so that
    deeply nested input cannot exhaust the stack)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class RequestSchema(Schema):
    """Request bodies and queries: unknown fields are ignored (never assigned), and text with a
    NUL character is refused (422): PostgreSQL cannot store it in text and would fail the query."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def refuse_nul_characters(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, Mapping):
            names = {field.data_key or name for name, field in self.load_fields.items()}
            refused = {name: [NUL_MESSAGE] for name in names if _has_nul(data.get(name))}
            if refused:
                raise ValidationError(refused)
        return data


class ErrorBody(Schema):
    # Each operation's answers carry their own examples (reservations/api_examples.py).
    code = fields.String(
        required=True, metadata={"description": "What went wrong; each operation lists its codes"}
    )
    message = fields.String(required=True, metadata={"description": "The same in plain words"})
    details = fields.Dict(
        required=True,
        metadata={"example": {}, "description": "Depends on the code: ids, fields, limits"},
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class PageQuery(RequestSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class PageFields(Schema):
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)


class JsonBoolean(fields.Boolean):
    """A body's `true` or `false`, as documented; marshmallow's Boolean would also take 1, 0,
    "yes", "on" and more."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


# The names of the seat_types table (migrations/0001_initial.sql).
SEAT_TYPES = ("regular", "premium", "vip", "accessible")
MAX_PRICE = decimal.Decimal("99999999.99")  # numeric(10, 2)
MONEY_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,2}0*)?$"
_MONEY = re.compile(MONEY_PATTERN)
CENT = decimal.Decimal("0.01")


class Money(fields.Decimal):
    """A price: a decimal string ("12.50") of at most MAX_PRICE, with at most two places (zeros
    after them change nothing: "12.500" is 12.50), as the contract says money is. A JSON number
    is refused: Swagger 2.0 cannot document "a string or a number", and the documented pattern
    is exactly what is accepted. Answers render it as a string with two places."""

    default_error_messages = {
        "invalid": 'Use a decimal string such as "12.50": at most 8 digits, then at most two '
        "decimal places.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {
                "type": "string",
                "example": "12.50",
                "pattern": MONEY_PATTERN,
                "description": f"a decimal string, at most two places, from 0 to {MAX_PRICE}",
            },
        )
        super().__init__(allow_nan=False, as_string=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not _MONEY.fullmatch(value):
            raise self.make_error("invalid")
        amount = super()._deserialize(value, attr, data, **kwargs)
        if amount is None:
            raise self.make_error("invalid")
        return amount.quantize(CENT)


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
_RETRY_AFTER = {"Retry-After": {"type": "integer", "minimum": 0, "description": "seconds"}}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"type": "string", "description": 'Bearer realm="reservations"'}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def error_responses(*statuses: int) -> Callable[[F], F]:
    """Document the error answers a route can give, all in the one error shape. Every route
    can answer 503 (database unavailable or busy), so it is always listed."""

    def decorate(handler: F) -> F:
        for status in (*statuses, 503):
            handler = response_schema(ErrorSchema, status, description=_ERROR_DESCRIPTIONS[status])(
                handler
            )
            if status in _ERROR_HEADERS:
                _apispec_of(handler)["responses"][str(status)]["headers"] = _ERROR_HEADERS[status]
        return handler

    return decorate


def _apispec_of(handler: Any) -> dict[str, Any]:
    handler.__dict__.setdefault("__schemas__", [])
    apispec: dict[str, Any] = handler.__dict__.setdefault(
        "__apispec__", {"schemas": [], "responses": {}, "parameters": []}
    )
    return apispec


def uuid_path(description: str, name: str = "id") -> Callable[[F], F]:
    """Document a path parameter that `path_uuid` reads: a UUID, and anything else is a 404
    (it names no resource), like an unknown id."""

    def decorate(handler: F) -> F:
        _apispec_of(handler)["parameters"].append(
            {
                "in": "path",
                "name": name,
                "type": "string",
                "format": "uuid",
                "required": True,
                "description": description,
            }
        )
        return handler

    return decorate


def no_content() -> web.Response:
    """204. Swagger 2.0 names media types per operation, not per response: an operation whose
    errors are JSON "produces" application/json, so its empty 204 says so too."""
    return web.Response(status=204, content_type="application/json")


def page_of(
    name: str, items: Iterable[Any], total: int, page: int, page_size: int
) -> dict[str, Any]:
    return {name: list(items), "total": total, "page": page, "page_size": page_size}
