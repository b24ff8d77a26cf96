"""Request validation by the same marshmallow schemas that document the routes.

aiohttp-apispec's decorators record the schemas on the handler (`__schemas__`); this middleware
loads them. It replaces aiohttp-apispec's own middleware to keep our error shape and our split
between 400 (malformed: not JSON, not an object) and 422 (well-formed but invalid), and to parse
JSON with orjson.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from marshmallow import Schema, ValidationError, fields

from .errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType

JSON_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def read_json_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object; None when there is no body."""
    if not request.body_exists:
        return None
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "Send the body as application/json.", details={"content_type": request.content_type}
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            details={"max_bytes": exc.max_size if hasattr(exc, "max_size") else None}
        ) from None
    if not raw.strip():
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(
            "The body is not valid JSON.", code="invalid_json", details={"reason": str(exc)}
        ) from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.", code="invalid_json")
    return data


def _query_dict(schema: Schema, request: web.Request) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in request.query.keys():
        field = schema.fields.get(key)
        if isinstance(field, fields.List):
            data[key] = request.query.getall(key)
        else:
            values = request.query.getall(key)
            data[key] = values[-1]
    return data


def load(schema: Schema, data: Any, location: str) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise Unprocessable(
            "Some fields are invalid." if location == "json" else "Some parameters are invalid.",
            details={"location": location, "fields": exc.messages},
        ) from None


@web.middleware
async def validation_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    schemas = getattr(request.match_info.handler, "__schemas__", None)
    if not schemas:
        return await handler(request)
    result: dict[str, Any] = {}
    for entry in schemas:
        schema: Schema = entry["schema"]
        location = entry["location"]
        if location == "json":
            body = await read_json_object(request)
            loaded = load(schema, body if body is not None else {}, "json")
        elif location in ("query", "querystring"):
            loaded = load(schema, _query_dict(schema, request), "query")
        elif location in ("match_info", "path"):
            loaded = load(schema, dict(request.match_info), "path")
        else:
            continue
        if entry.get("put_into"):
            request[entry["put_into"]] = loaded
        else:
            result.update(loaded)
    request["data"] = result
    return await handler(request)
