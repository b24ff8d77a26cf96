"""GET /ws/showtimes/{id}: the live seat map of one showtime over a WebSocket.

The socket gets a `snapshot` on connect, then one `seats` message per committed change; a
`{"type": "resync"}` frame from the client asks for a fresh snapshot. Anything else the client
sends is ignored, and a frame over MAX_CLIENT_FRAME_BYTES closes the socket (1009). An unknown or
cancelled showtime (or an id that is not a UUID) is accepted and then closed with 4404.

`?token=` (an access token) marks the caller's own held seats with `held_by_me` in snapshots. An
invalid or expired token is treated as no token, as on the REST routes that take an optional
one: the map is public, only the marks are lost.
"""

from __future__ import annotations

import socket
import uuid
from urllib.parse import urlsplit

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp_apispec import docs

from ..accounts.tokens import InvalidToken, read_token
from ..api import error_responses
from ..context import HUB, SETTINGS
from ..errors import Forbidden, RateLimited
from .hub import UNKNOWN_SHOWTIME

MAX_CLIENT_FRAME_BYTES = 4096
# The kernel's send buffer of a viewer's socket. Left alone, Linux grows it to megabytes for a
# client that stops reading; capped, a stalled viewer's backlog (this + the transport's 64 KiB +
# its queue) stays small and the hub notices the stall, and drops it, within a few hundred KiB.
SEND_BUFFER_BYTES = 128 * 1024


def _origin_allowed(request: web.Request, allowed_origins: tuple[str, ...]) -> bool:
    """Browsers send Origin on every WebSocket handshake; refuse other sites' pages (cross-site
    WebSocket hijacking) unless listed. Clients that send no Origin are not browsers."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/")
    if "*" in allowed_origins or origin in allowed_origins:
        return True
    return urlsplit(origin).netloc.lower() == request.host.lower()


def _cap_send_buffer(request: web.Request) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    try:
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    except (OSError, AttributeError):  # not a TCP socket here: nothing to cap
        pass


def _showtime_id(request: web.Request) -> str | None:
    try:
        return str(uuid.UUID(request.match_info["id"]))
    except ValueError:
        return None


def _viewer_id(request: web.Request) -> uuid.UUID | None:
    token = request.query.get("token")
    if not token:
        return None
    try:
        return read_token(token, request.app[SETTINGS].jwt_secret)
    except InvalidToken:
        return None


def _asks_for_resync(data: str) -> bool:
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(message, dict) and message.get("type") == "resync"


@docs(
    tags=["live"],
    summary="Live seat map of a showtime (WebSocket)",
    description=(
        "Upgrades to a WebSocket. Server to client, JSON text frames: on connect "
        '`{"type": "snapshot", "showtime_id", "version", "seats": [{id, status, held_by_me?}]}`, '
        'then after every committed change `{"type": "seats", "showtime_id", "version", '
        '"changes": [{id, status}]}`; `version` grows by one per change. Send '
        '`{"type": "resync"}` for a fresh snapshot (after a gap in versions). Close codes: 4404 '
        "unknown or cancelled showtime, 1013 try again (the client read too slowly, or the "
        "database is unavailable: reconnect for a fresh snapshot), 1001 server shutting down, "
        "1009 client frame too large. Before the upgrade: 400 without the handshake, 403 when an "
        "Origin header matches neither the host nor ALLOWED_ORIGINS, 429 when an address has "
        "MAX_VIEWERS_PER_ADDRESS maps open."
    ),
    parameters=[
        {
            "in": "path",
            "name": "id",
            "type": "string",
            "required": True,
            "description": "The showtime. An id that names no showtime (a UUID or not) is "
            "upgraded, then closed with code 4404.",
        },
        {
            "in": "query",
            "name": "token",
            "type": "string",
            "required": False,
            "description": "An access token: marks the caller's held seats with held_by_me "
            "(an invalid or expired one counts as none)",
        },
        # The WebSocket opening handshake (RFC 6455): without it, 400.
        {
            "in": "header",
            "name": "Upgrade",
            "type": "string",
            "required": True,
            "enum": ["websocket"],
        },
        {
            "in": "header",
            "name": "Connection",
            "type": "string",
            "required": True,
            "enum": ["Upgrade"],
        },
        {
            "in": "header",
            "name": "Sec-WebSocket-Version",
            "type": "string",
            "required": True,
            "enum": ["13", "8", "7"],
        },
        {
            "in": "header",
            "name": "Sec-WebSocket-Key",
            "type": "string",
            "required": True,
            "pattern": "^[A-Za-z0-9+/]{22}==$",
            "description": "16 random bytes, base64",
        },
    ],
    responses={
        101: {
            "description": "Switching to the WebSocket protocol; then JSON text frames (see "
            "above) until a close code: 4404 unknown or cancelled showtime, 1013 try again, 1001 "
            "server shutting down, 1009 client frame too large"
        }
    },
)
@error_responses(400, 403, 429)
async def watch_showtime(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    hub = request.app[HUB]
    if not _origin_allowed(request, settings.allowed_origins):
        raise Forbidden("WebSocket connections from this origin are not allowed.")
    address = request.remote or ""
    if not hub.admit(address):
        raise RateLimited(retry_after=5, message="Too many live seat maps open from this address.")
    try:
        ws = web.WebSocketResponse(
            heartbeat=settings.ws_heartbeat_seconds,
            autoping=True,
            compress=False,
            max_msg_size=MAX_CLIENT_FRAME_BYTES,
            timeout=2.0,  # for the client's answer to our close frame
        )
        await ws.prepare(request)
        _cap_send_buffer(request)
        showtime_id = _showtime_id(request)
        if showtime_id is None or hub.closed:
            code = UNKNOWN_SHOWTIME if showtime_id is None else WSCloseCode.GOING_AWAY
            await ws.close(code=code, message=b"unknown showtime" if showtime_id is None else b"")
            return ws
        viewer = hub.join(ws, showtime_id, _viewer_id(request), request.transport)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT and _asks_for_resync(message.data):
                    hub.resync(viewer)
        finally:
            await hub.leave(viewer)
    finally:
        hub.release(address)
    return ws
