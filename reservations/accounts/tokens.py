"""JWTs: HS256 only, `sub`, `iat`, `exp` and `typ` required.

Three kinds, each refused where another is expected: access tokens (`typ` "access", the bearer
token of every request, with the user's token generation `gen`), live-map tickets (`typ`
"ws", valid for a minute and for one showtime's WebSocket only, so that no access token has to
travel in a URL, where proxies log it) and device tokens (`typ` "device", a device id `did`:
proof that this device logged into this account before, which lets its owner past the
per-email login ceiling; they authorise nothing else).
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
ACCESS = "access"
WS_TICKET = "ws"
WS_TICKET_TTL_SECONDS = 60
DEVICE = "device"
LEEWAY_SECONDS = 5
# Access tokens verified lately, per process. A session sends the same bearer token with every
# request, and verifying it (HS256, then PyJWT's claim checks) cost about a twentieth of a
# booking request's CPU. What a token says never changes once its signature checked out, so a
# token seen before only has its expiry compared again. Tokens that fail are never kept.
VERIFIED_TOKENS_KEPT = 4096


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    generation: int


def issue_token(user_id: uuid.UUID, secret: str, ttl_seconds: int, generation: int = 0) -> str:
    now = int(time.time())
    payload = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + ttl_seconds,
        "typ": ACCESS,
        "gen": generation,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def issue_ws_ticket(
    user_id: uuid.UUID, showtime_id: uuid.UUID, secret: str, generation: int = 0
) -> str:
    now = int(time.time())
    payload = {
        "sub": str(user_id),
        "sid": str(showtime_id),
        "iat": now,
        "exp": now + WS_TICKET_TTL_SECONDS,
        "typ": WS_TICKET,
        "gen": generation,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def _decode(token: str, secret: str, kind: str) -> dict[str, Any]:
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "typ"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    if payload.get("typ") != kind:
        raise InvalidToken(f"not a token of type {kind}")
    return payload


def _claims(payload: dict[str, Any]) -> Claims:
    generation = payload.get("gen", 0)
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise InvalidToken("bad gen")
    try:
        return Claims(uuid.UUID(str(payload["sub"])), generation)
    except (ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None


@functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verified_access_token(token: str, secret: str) -> tuple[Claims, int]:
    """The claims of an access token that verified, and its expiry (an int: PyJWT checks)."""
    payload = _decode(token, secret, ACCESS)
    return _claims(payload), payload["exp"]


def read_access_token(token: str, secret: str) -> Claims:
    """The claims of a valid access token; raises InvalidToken for anything else. Verified
    once per process (VERIFIED_TOKENS_KEPT); its expiry every time, with the same leeway."""
    claims, expires = _verified_access_token(token, secret)
    if time.time() >= expires + LEEWAY_SECONDS:  # as PyJWT: exp <= now - leeway
        raise InvalidToken("Signature has expired")
    return claims


def read_token(token: str, secret: str) -> uuid.UUID:
    """The user id of a valid access token; raises InvalidToken for anything else."""
    return read_access_token(token, secret).user_id


def read_ws_ticket(ticket: str, secret: str, showtime_id: str) -> Claims:
    """The claims of a valid live-map ticket for `showtime_id`; InvalidToken for anything else
    (an access token, a ticket for another showtime, an expired one)."""
    payload = _decode(ticket, secret, WS_TICKET)
    if payload.get("sid") != showtime_id:
        raise InvalidToken("a ticket for another showtime")
    return _claims(payload)


@dataclass(frozen=True)
class Device:
    user_id: uuid.UUID
    device_id: uuid.UUID


def issue_device_token(device: Device, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    payload = {
        "sub": str(device.user_id),
        "did": str(device.device_id),
        "iat": now,
        "exp": now + ttl_seconds,
        "typ": DEVICE,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_device_token(token: str, secret: str) -> Device:
    """The device of a valid device token; InvalidToken for anything else."""
    payload = _decode(token, secret, DEVICE)
    try:
        return Device(uuid.UUID(str(payload["sub"])), uuid.UUID(str(payload.get("did"))))
    except (ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None
