"""The one error shape, and the middleware that turns every failure into it.

Handlers and services raise `ApiError` subclasses with a code; nothing else builds error JSON.
`{"error": {"code": "...", "message": "...", "details": {...}}}`
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from .db import is_connection_fault, json_dumps

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    status = 500
    code = "internal_error"
    message = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(ApiError):
    status = 400
    code = "bad_request"
    message = "The request is malformed."


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    message = "A valid bearer token is required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="reservations"'})
        super().__init__(message, **kwargs)


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(ApiError):
    status = 404
    code = "not_found"
    message = "No such resource."


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"
    message = "This method is not allowed here."


class Conflict(ApiError):
    status = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    message = "The request body is too large."


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    message = "This media type is not supported here."


class Unprocessable(ApiError):
    status = 422
    code = "validation_error"
    message = "The request is well-formed but invalid."


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"
    message = "Too many attempts; try again later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(
            message,
            details={"retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class DatabaseUnavailable(ApiError):
    status = 503
    code = "database_unavailable"
    message = "The database is unavailable; try again shortly."

    def __init__(self, message: str | None = None, retry_after: int = 2) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class Busy(ApiError):
    status = 503
    code = "busy"
    message = "The service is busy; try again shortly."

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


def error_response(error: ApiError, request_id: str | None = None) -> web.Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    headers = dict(error.headers)
    if request_id:
        headers["X-Request-ID"] = request_id
    return web.Response(
        body=json_dumps(body),
        status=error.status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


_HTTP_CODES = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthorized", "A valid bearer token is required."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "No route or resource matches this path."),
    405: ("method_not_allowed", "This method is not allowed here."),
    408: ("request_timeout", "The request took too long to arrive."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "This media type is not supported here."),
    422: ("validation_error", "The request is well-formed but invalid."),
    500: ("internal_error", ApiError.message),
}


def from_http_exception(exc: web.HTTPException) -> ApiError:
    code, message = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
    error = ApiError(message, code=code)
    error.status = exc.status
    if exc.status == 405 and isinstance(exc, web.HTTPMethodNotAllowed):
        error.details = {"allowed_methods": sorted(exc.allowed_methods)}
        error.headers = {"Allow": ",".join(sorted(exc.allowed_methods))}
    if exc.status == 413:
        error.message = "The request body is too large."
    return error


def from_protocol_error(status: int, exc: BaseException | None = None) -> ApiError:
    """aiohttp's own answers, which no middleware sees: 400 for a request it cannot parse (an
    over-long line, a bad header byte, a bad chunk), 500 for an error that escaped every
    middleware. `details.reason` names what was wrong with the request, in aiohttp's words
    without the bytes it quotes."""
    code, message = _HTTP_CODES.get(status, ("http_error", "The request failed."))
    error = ApiError(message, code=code)
    error.status = status
    if status == 400:
        error.message = "The request is not valid HTTP."
        reason = str(getattr(exc, "message", "") or "").strip().split(":", 1)[0].strip()
        if reason:
            error.details = {"reason": reason[:200]}
    return error


def from_database_error(exc: BaseException) -> ApiError | None:
    """Faults of the database itself become 503 with Retry-After, never a 500."""
    if isinstance(exc, asyncpg.exceptions.LockNotAvailableError):
        return Busy("The seats are being changed by another request; try again.")
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError):
        return Busy("The database took too long to answer; try again.")
    if isinstance(exc, asyncpg.exceptions.TransactionRollbackError):
        # A deadlock or serialization failure (class 40), e.g. with an operator's session
        # holding rows: the transaction was rolled back whole, so trying again is safe.
        return Busy("The request collided with another change and was undone; try again.")
    if isinstance(exc, asyncio.TimeoutError):
        # Waiting for a pooled connection, connecting, or a query past its command timeout.
        return DatabaseUnavailable("The database did not answer in time; try again shortly.")
    if is_connection_fault(exc) or isinstance(exc, asyncpg.exceptions.TooManyConnectionsError):
        # The connection broke (and was discarded by the pool), or none could be opened.
        return DatabaseUnavailable()
    return None


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def make_error_middleware(request_id_key: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return error_response(error, request.get(request_id_key))
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return error_response(from_http_exception(exc), request.get(request_id_key))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, OSError) and _client_gone(request):
                # The client hung up (mid-body, typically): nobody will read an answer, and the
                # database is not at fault. The 400 is for the access log and metrics.
                log.info(
                    "client went away during %s %s: %r",
                    request.method,
                    request.path,
                    exc,
                    extra={"request_id": request.get(request_id_key)},
                )
                return error_response(
                    BadRequest(
                        "The connection was closed before the request was read.",
                        code="client_closed_request",
                    ),
                    request.get(request_id_key),
                )
            database_error = from_database_error(exc)
            if database_error is not None:
                log.warning(
                    "database fault on %s %s: %r",
                    request.method,
                    request.path,
                    exc,
                    extra={"request_id": request.get(request_id_key)},
                )
                return error_response(database_error, request.get(request_id_key))
            log.exception(
                "unhandled error on %s %s (request id %s)",
                request.method,
                request.path,
                request.get(request_id_key),
                extra={"request_id": request.get(request_id_key)},
            )
            return error_response(ApiError(), request.get(request_id_key))

    return error_middleware
