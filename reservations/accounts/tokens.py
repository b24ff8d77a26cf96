"""JWT access tokens: HS256 only, `sub`, `iat` and `exp` required."""

from __future__ import annotations

import time
import uuid

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    pass


def issue_token(user_id: uuid.UUID, secret: str, ttl_seconds: int) -> str:
    now = int(time.time())
    payload = {"sub": str(user_id), "iat": now, "exp": now + ttl_seconds, "typ": "access"}
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_token(token: str, secret: str) -> uuid.UUID:
    """The user id of a valid token; raises InvalidToken for anything else."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub"]},
            leeway=5,
        )
        return uuid.UUID(str(payload["sub"]))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from None
