"""Calls of the public HTTP API as tests make them, each written once: the catalog an admin
builds, seats held, released and booked, accounts registered, posters uploaded, and the error
shape read back.

Each takes the test's client (pytest-aiohttp's TestClient, or anything with the same
post/get/delete) and, where the route needs one, the Account making the call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp

API = "/api/v1"
PASSWORD = "correct horse"
# The fields of a hold, as POST .../lock-seats and .../best-available answer it.
HOLD_FIELDS = {
    "hold_id",
    "showtime_id",
    "locked_seat_ids",
    "expires_at",
    "lock_duration_minutes",
    "stranded_seat_ids",
    "total_price",
}
SMALL_HALL = [{"label": "A", "seats": 4}, {"label": "B", "seats": 4}]


def in_future(**delta: float) -> dt.datetime:
    """A whole minute some time from now, in UTC."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(**delta)
    return moment.replace(second=0, microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


async def error_of(response: Any, status: int | None = None) -> dict[str, Any]:
    """The `error` of an answer in the error shape, once its status is `status` (if given)."""
    if status is not None:
        assert response.status == status, await response.text()
    error: dict[str, Any] = (await response.json())["error"]
    return error


# --- accounts ---------------------------------------------------------------------------------


async def register(
    client: Any, email: str = "ann@example.com", password: str = PASSWORD, **extra: Any
) -> Any:
    return await client.post(
        f"{API}/auth/register", json={"email": email, "password": password, **extra}
    )


async def login(client: Any, email: str = "ann@example.com", password: str = PASSWORD) -> Any:
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password})


# --- the catalog, as an admin builds it -------------------------------------------------------


async def create_movie(client: Any, admin: Any, **fields: Any) -> dict[str, Any]:
    body = {"title": f"Movie {uuid.uuid4().hex[:6]}", "genres": ["Drama"], "duration_minutes": 100}
    body.update(fields)
    response = await client.post(f"{API}/movies", json=body, headers=admin.headers)
    assert response.status == 201, await response.text()
    movie: dict[str, Any] = await response.json()
    return movie


async def create_theater(
    client: Any, admin: Any, name: str | None = None, rows: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body = {"name": name or f"Hall {uuid.uuid4().hex[:6]}", "rows": rows or SMALL_HALL}
    response = await client.post(f"{API}/theaters", json=body, headers=admin.headers)
    assert response.status == 201, await response.text()
    theater: dict[str, Any] = await response.json()
    return theater


async def post_showtime(
    client: Any,
    admin: Any,
    movie: dict[str, Any],
    theater: dict[str, Any],
    start: dt.datetime | str,
    price: str = "10.00",
) -> Any:
    return await client.post(
        f"{API}/showtimes",
        json={
            "movie_id": movie["id"],
            "theater_id": theater["id"],
            "start_time": iso(start) if isinstance(start, dt.datetime) else start,
            "price": price,
        },
        headers=admin.headers,
    )


async def create_showtime(
    client: Any, admin: Any, *arguments: Any, **options: Any
) -> dict[str, Any]:
    """post_showtime (movie, theater, start, price), answered 201: the showtime."""
    response = await post_showtime(client, admin, *arguments, **options)
    assert response.status == 201, await response.text()
    showtime: dict[str, Any] = await response.json()
    return showtime


def poster_form(data: bytes, filename: str = "poster.png", field: str = "file") -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("title", "ignored")
    body.add_field(field, data, filename=filename, content_type="application/octet-stream")
    return body


async def upload(client: Any, admin: Any, movie_id: Any, data: bytes, **form: Any) -> Any:
    return await client.post(
        f"{API}/movies/{movie_id}/poster", data=poster_form(data, **form), headers=admin.headers
    )


# --- seats: the map, holds and reservations ---------------------------------------------------


def _seat_ids(seat_ids: Iterable[Any]) -> list[str]:
    return [str(seat) for seat in seat_ids]


async def hold_seats(client: Any, account: Any, showtime_id: Any, seat_ids: Iterable[Any]) -> Any:
    """POST .../lock-seats: the answer."""
    return await client.post(
        f"{API}/showtimes/{showtime_id}/lock-seats",
        json={"seat_ids": _seat_ids(seat_ids)},
        headers=account.headers,
    )


async def hold_seats_after_a_wait(
    client: Any, db: Any, account: Any, showtime_id: Any, seat_ids: Iterable[Any]
) -> Any:
    """POST lock-seats while `db` holds the showtime's lock (someone else changing its seats),
    released once the request is seen waiting for it: the answer."""
    async with db.transaction():
        await db.execute("SELECT lock_showtime($1)", showtime_id)
        pending = asyncio.ensure_future(hold_seats(client, account, showtime_id, seat_ids))
        await asyncio.sleep(0.3)
        assert not pending.done()  # waiting for the lock
    return await pending


async def release(
    client: Any, account: Any, showtime_id: Any, seat_ids: Iterable[Any] | None = None
) -> Any:
    """DELETE .../lock-seats, of these seats or (None) of the whole hold: the answer."""
    body = None if seat_ids is None else {"seat_ids": _seat_ids(seat_ids)}
    return await client.delete(
        f"{API}/showtimes/{showtime_id}/lock-seats", json=body, headers=account.headers
    )


async def best_available(client: Any, account: Any, showtime_id: Any, **body: Any) -> Any:
    return await client.post(
        f"{API}/showtimes/{showtime_id}/best-available", json=body, headers=account.headers
    )


async def reserve(
    client: Any, account: Any, showtime_id: Any, seat_ids: Iterable[Any], key: str | None = None
) -> Any:
    """POST /reservations of held seats, with an Idempotency-Key if given: the answer."""
    headers = dict(account.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(
        f"{API}/reservations",
        json={"showtime_id": str(showtime_id), "seat_ids": _seat_ids(seat_ids)},
        headers=headers,
    )


async def book(client: Any, account: Any, showtime_id: Any, seat_ids: Iterable[Any]) -> Any:
    """Hold then reserve; the reservation."""
    seat_ids = list(seat_ids)
    held = await hold_seats(client, account, showtime_id, seat_ids)
    assert held.status == 201, await held.text()
    response = await reserve(client, account, showtime_id, seat_ids)
    assert response.status == 201, await response.text()
    return await response.json()


async def book_tickets(
    client: Any,
    account: Any,
    showtime_id: Any,
    tickets: Mapping[Any, str | None],
    voucher_code: str | None = None,
    **extra: Any,
) -> Any:
    """POST /reservations of held seats with ticket types (seat id -> code; None: default)."""
    body: dict[str, Any] = {
        "showtime_id": str(showtime_id),
        "seat_ids": [str(seat) for seat in tickets],
        "tickets": {str(seat): code for seat, code in tickets.items() if code is not None},
        **extra,
    }
    if voucher_code is not None:
        body["voucher_code"] = voucher_code
    return await client.post(f"{API}/reservations", json=body, headers=account.headers)


async def hold_and_book(
    client: Any,
    account: Any,
    showtime_id: Any,
    tickets: Mapping[Any, str | None],
    voucher_code: str | None = None,
    **extra: Any,
) -> Any:
    held = await hold_seats(client, account, showtime_id, list(tickets))
    assert held.status == 201, await held.text()
    return await book_tickets(client, account, showtime_id, tickets, voucher_code, **extra)


async def seat_map(client: Any, showtime_id: Any, account: Any = None) -> Any:
    response = await client.get(
        f"{API}/showtimes/{showtime_id}/seats", headers=account.headers if account else None
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def status_of(client: Any, path: str, headers: Mapping[str, str]) -> int:
    """GET `path` with these headers (an account's, say); the status."""
    response = await client.get(path, headers=headers)
    await response.read()
    return response.status


def statuses(seat_map_body: dict[str, Any]) -> dict[str, str]:
    """Seat id -> status, of a seat map or a live-map snapshot."""
    return {seat["id"]: seat["status"] for seat in seat_map_body["seats"]}


def route_path(route: Any) -> str:
    """A path that reaches `route`: its own, or its pattern with made-up ids filled in."""
    info = route.resource.get_info()
    path: str = info.get("path") or info["formatter"].format_map(
        {name: str(uuid.uuid4()) for name in ("id", "movie_id", "showtime_id", "user_id")}
        | {"name": "premium"}  # PUT /seat-types/{name}
    )
    return path
