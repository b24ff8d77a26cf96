"""Response hardening: security headers on every answer, and CORS closed unless configured.

Pages get a Content-Security-Policy without inline script (all script is served from /static),
whose `connect-src 'self'` lets them reach this origin only (its ws:/wss: included, in CSP 3);
the Swagger UI page (/api/docs, no inline script either) gets one that lets Swagger UI set
inline styles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from .context import SETTINGS

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# What `harden` adds to every answer but its Content-Security-Policy.
_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
# All of it for an API answer (JSON, not under /api/docs), as one list.
_API_HEADERS = (*_SECURITY_HEADERS, ("Content-Security-Policy", API_POLICY))
CORS_ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
CORS_ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_EXPOSED_HEADERS = "Retry-After, X-Request-ID"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _policy_for(path: str, content_type: str) -> str:
    if path == "/api/docs" or path.startswith("/api/docs/static"):
        return DOCS_POLICY
    if content_type == "text/html":
        return PAGE_POLICY
    return API_POLICY


def allowed_origin(request: web.Request) -> str | None:
    """The request's Origin when ALLOWED_ORIGINS admits it (`*` admits any)."""
    origin = request.headers.get("Origin")
    if not origin:
        return None
    allowed = request.app[SETTINGS].allowed_origins
    if "*" in allowed or origin.rstrip("/") in allowed:
        return origin
    return None


def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    origin = allowed_origin(request)
    if origin is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
    response.headers.add("Vary", "Origin")


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if (
        request.method == "OPTIONS"
        and "Access-Control-Request-Method" in request.headers
        and request.path.startswith("/api/")
    ):
        preflight = web.Response(status=204)
        if allowed_origin(request) is not None:
            preflight.headers["Access-Control-Allow-Methods"] = CORS_ALLOWED_METHODS
            preflight.headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
            preflight.headers["Access-Control-Max-Age"] = "600"
        _add_cors(request, preflight)
        return preflight
    response = await handler(request)
    if response.prepared:  # WebSockets and streamed answers have sent their headers already
        return response
    harden(request, response)
    return response


def harden_api_answer(request: web.Request, response: web.StreamResponse) -> None:
    """`harden` for a JSON answer of the API that has none of these headers yet (the seat map's
    fast path): the same headers, added in one step."""
    response.headers.extend(_API_HEADERS)
    if "Origin" in request.headers:
        _add_cors(request, response)


def harden(
    request: web.Request, response: web.StreamResponse, content_type: str | None = None
) -> None:
    """The security headers (and CORS, when allowed) of every answer not yet sent
    (`content_type`: the answer's, when the caller knows it without parsing the header)."""
    headers = response.headers
    for name, value in _SECURITY_HEADERS:
        headers.setdefault(name, value)
    headers.setdefault(
        "Content-Security-Policy",
        _policy_for(request.path, content_type or response.content_type),
    )
    if "Origin" in request.headers:
        _add_cors(request, response)
