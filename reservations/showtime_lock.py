"""What every area that changes a showtime shares: its advisory lock, the refusal contract of
the database's seat-change functions, and ShowtimeNotFound.

Below catalog, booking and prices, which all lock showtimes or call functions that refuse: the
catalog moves and cancels showtimes, booking holds and books seats, prices refuses vouchers and
ticket types inside the booking's call. Each area registers the errors of the codes its SQL
raises (`register_refusals`); `refusals` turns a refusal into the registered error.

The functions of sql/code/ refuse a change by raising 'seat_change_refused' with
{"error": code, "details": {...}} as its DETAIL (the whole call is undone).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import asyncpg
import orjson

from .db import QUERIES
from .errors import ApiError, NotFound

REFUSED = "seat_change_refused"

Refusal = Callable[[dict[str, Any]], ApiError]
_REFUSALS: dict[str, Refusal] = {}


class ShowtimeNotFound(NotFound):
    code = "showtime_not_found"
    message = "No showtime has this id."


def register_refusals(errors: Mapping[str, Refusal]) -> None:
    """The error each refusal code raises, given by the area whose rule it is (once a code)."""
    for code, make in errors.items():
        if _REFUSALS.get(code, make) is not make:
            raise RuntimeError(f"refusal code {code!r} registered twice")
        _REFUSALS[code] = make


def registered_refusals() -> dict[str, Refusal]:
    """Every refusal code registered so far, with its error (tests/test_sql_code.py)."""
    return dict(_REFUSALS)


register_refusals({"showtime_not_found": lambda _: ShowtimeNotFound()})


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """Around a call of a seat-change function: its refusal raised as the error of its code."""
    try:
        yield
    except asyncpg.RaiseError as exc:
        if exc.message != REFUSED:
            raise
        refusal = orjson.loads(exc.detail)
        raise _REFUSALS[refusal["error"]](refusal["details"]) from None


async def lock_showtime(conn: asyncpg.Connection, showtime_id: uuid.UUID) -> None:
    """Inside a transaction: serialise with every seat change of the showtime (its advisory
    lock, released at commit or rollback), for admin changes that must not race a booking.
    Bounded by the connection's lock_timeout (503 `busy` past it)."""
    await conn.execute(QUERIES.lock_showtime, showtime_id)
