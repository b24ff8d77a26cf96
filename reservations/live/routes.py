"""GET /ws/showtimes/{id}: the live seat map of one showtime over a WebSocket.

The socket gets a `snapshot` on connect, then one `seats` message per committed change; a
`{"type": "resync"}` frame from the client asks for a fresh snapshot (at most one a second per
viewer: see Hub.resync_requested). Anything else the client sends is ignored, and a frame over
MAX_CLIENT_FRAME_BYTES closes the socket (1009). An unknown or cancelled showtime (or an id
that is not a UUID) is accepted and then closed with 4404.

`?ticket=` (from POST /api/v1/ws-tickets: valid 60 s, for this showtime's socket only) marks the
caller's own held seats with `held_by_me` in snapshots; so does `?token=` (an access token, as the
public contract has it), though an access token in a URL ends up in proxy logs, which is why the
page uses tickets. An invalid or expired ticket or token is treated as none, as on the REST
routes that take an optional token: the map is public, only the marks are lost.
"""

from __future__ import annotations

import socket
import uuid
from urllib.parse import urlsplit

import orjson
from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp_apispec import docs, request_schema, response_schema
from marshmallow import Schema, fields

from ..accounts.access import current_user, user_only
from ..accounts.tokens import (
    WS_TICKET_TTL_SECONDS,
    Claims,
    InvalidToken,
    issue_ws_ticket,
    read_access_token,
    read_ws_ticket,
)
from ..accounts.user_cache import user_of_token
from ..api import RequestSchema, error_responses, json_response
from ..context import HUB, POOL, SETTINGS, USERS
from ..errors import Busy, Forbidden, RateLimited, from_database_error
from .hub import RESYNC_INTERVAL_SECONDS, UNKNOWN_SHOWTIME

MAX_CLIENT_FRAME_BYTES = 4096
# The kernel's send buffer of a viewer's socket. Left alone, Linux grows it to megabytes for a
# client that stops reading; capped, a stalled viewer's backlog (this + the transport's 64 KiB +
# its queue) stays small and the hub notices the stall, and drops it, within a few hundred KiB.
SEND_BUFFER_BYTES = 128 * 1024


def _origin_allowed(request: web.Request, allowed_origins: tuple[str, ...]) -> bool:
    """Browsers send Origin on every WebSocket handshake; refuse other sites' pages (cross-site
    WebSocket hijacking) unless listed. Clients that send no Origin are not browsers.

    The service's own origin is this host with this scheme, or https when the request came
    over plain http: behind a proxy that terminates TLS the service sees http while its pages
    are https. So a plain-http page never opens the map of a service reached over https, and
    any other scheme (a browser extension's, `null`) is another origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/")
    if "*" in allowed_origins or origin in allowed_origins:
        return True
    parts = urlsplit(origin)
    scheme = parts.scheme.lower()
    own_schemes = ("http", "https") if request.scheme == "http" else (request.scheme,)
    return scheme in own_schemes and parts.netloc.lower() == request.host.lower()


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


async def _viewer_id(request: web.Request, showtime_id: str) -> Claims | None:
    """The user whose held seats the snapshots mark (and the generation of its token), if the
    ticket (or token) is valid and its user's tokens have not been revoked since."""
    secret = request.app[SETTINGS].jwt_secret
    ticket = request.query.get("ticket")
    token = request.query.get("token")
    try:
        if ticket:
            claims = read_ws_ticket(ticket, secret, showtime_id)
        elif token:
            claims = read_access_token(token, secret)
        else:
            return None
    except InvalidToken:
        return None
    user = await user_of_token(
        request.app[POOL], request.app[USERS], claims.user_id, claims.generation
    )
    return claims if user is not None else None


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
        '`{"type": "resync"}` for a fresh snapshot (after a gap in versions); a viewer gets at most '
        f"one snapshot per {RESYNC_INTERVAL_SECONDS:g} s, one asked for sooner comes when the "
        "time is up. Close codes: 4404 "
        "unknown or cancelled showtime, 1013 try again (the client read too slowly, or the "
        "database is unavailable: reconnect for a fresh snapshot), 1001 server shutting down, "
        "1009 client frame too large. Before the upgrade: 400 without the handshake, 403 when an "
        "Origin header matches neither the service's own origin (scheme and host) nor "
        "ALLOWED_ORIGINS, 429 when a client address (an IPv6 /64 network) has "
        "MAX_VIEWERS_PER_ADDRESS maps open, 503 when the process has MAX_VIEWERS open."
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
            "name": "ticket",
            "type": "string",
            "required": False,
            "description": "A ticket from POST /api/v1/ws-tickets for this showtime: marks the "
            "caller's held seats with held_by_me (an invalid, expired or other showtime's one "
            "counts as none)",
        },
        {
            "in": "query",
            "name": "token",
            "type": "string",
            "required": False,
            "description": "An access token, as the ticket (kept for the public contract; a URL "
            "ends up in proxy logs, so prefer a ticket)",
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
@error_responses(400, 403, 429, 503)
async def watch_showtime(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    hub = request.app[HUB]
    if not _origin_allowed(request, settings.allowed_origins):
        raise Forbidden("WebSocket connections from this origin are not allowed.")
    if hub.full():
        raise Busy("This server has as many live seat maps open as it takes.", retry_after=5)
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
        try:
            claims = await _viewer_id(request, showtime_id)
        except Exception as exc:
            if from_database_error(exc) is None:
                raise
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"database unavailable")
            return ws
        viewer = hub.join(
            ws,
            showtime_id,
            claims.user_id if claims else None,
            request.transport,
            claims.generation if claims else 0,
        )
        if claims is not None:
            # A revocation announced between the check above and the join found no socket of
            # this viewer to close: check once more, now that it is one.
            hub.users_changed(claims.user_id)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT and _asks_for_resync(message.data):
                    hub.resync_requested(viewer)
        finally:
            await hub.leave(viewer)
    finally:
        hub.release(address)
    return ws


class TicketRequest(RequestSchema):
    showtime_id = fields.UUID(required=True)


class TicketSchema(Schema):
    ticket = fields.String(
        required=True,
        metadata={"description": "for GET /ws/showtimes/{showtime_id}?ticket=..."},
    )
    showtime_id = fields.UUID(required=True)
    expires_in = fields.Integer(
        required=True, metadata={"description": "seconds", "example": WS_TICKET_TTL_SECONDS}
    )


@docs(
    tags=["live"],
    summary="A ticket to open one showtime's live seat map as yourself",
    description=(
        "The ticket goes in the WebSocket URL (`/ws/showtimes/{showtime_id}?ticket=...`) instead "
        f"of the access token, which would end up in proxy logs: it is valid {WS_TICKET_TTL_SECONDS} "
        "s, for that showtime's socket only, and is no access token anywhere else. It only marks "
        "the caller's held seats (held_by_me); the showtime is not checked here (an unknown one "
        "closes the socket with 4404)."
    ),
)
@user_only
@request_schema(TicketRequest, required=True)
@response_schema(TicketSchema, 200, description="The ticket")
@error_responses(400, 401, 413, 415, 422)
async def issue_ticket(request: web.Request) -> web.Response:
    user = current_user(request)
    showtime_id = request["data"]["showtime_id"]
    ticket = issue_ws_ticket(
        user["id"], showtime_id, request.app[SETTINGS].jwt_secret, user["token_generation"]
    )
    return json_response(
        {"ticket": ticket, "showtime_id": showtime_id, "expires_in": WS_TICKET_TTL_SECONDS}
    )
