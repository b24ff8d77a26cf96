"""The console's showtimes: the list (filtered by day, movie and theater, a page at a time), one
showtime to move or reprice, and its bookings (found by ticket code, printed as a guest list,
downloaded as CSV).

Like every panel, these render for admins only; what they change goes through the REST API
(PUT and DELETE /api/v1/showtimes/{id}) from the console's script.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import asyncpg
from aiohttp import web
from marshmallow import ValidationError

from ..accounts.access import admin_panel
from ..booking import seat_map as booking_seat_map
from ..catalog import movies as catalog_movies
from ..catalog import showtimes as catalog_showtimes
from ..catalog import theaters as catalog_theaters
from ..catalog.schemas import ShowtimeListQuery
from ..context import POOL, SETTINGS
from ..db import QUERIES
from ..errors import Unprocessable
from ..reports.export import CSV_TYPE, csv_body
from . import hall as hall_view
from .admin import PAGE_SIZE, _every, _panel, _shell, _uuid, pager

SHOWTIMES_PER_PAGE = 25
MAX_TICKET_SEARCH = 40  # a ticket code is 14 characters; more is surely not a piece of one
GUEST_COLUMNS = (
    "ticket_code",
    "status",
    "email",
    "name",
    "seats",
    "seat_count",
    "total_price",
    "booked_at",
    "cancelled_at",
)


def _filters(request: web.Request) -> dict[str, Any]:
    """The list's query (empty fields of the filter form mean "any"), checked as the API
    checks GET /api/v1/showtimes: a bad one is a 422 naming the field."""
    given = {name: value for name, value in request.query.items() if value.strip()}
    given.pop("page_size", None)
    try:
        loaded: dict[str, Any] = ShowtimeListQuery().load(given)
    except ValidationError as error:
        raise Unprocessable(
            "Some filters are invalid.",
            details={"location": "querystring", "fields": error.messages},
        ) from None
    return loaded


def local_input(moment: dt.datetime, zone: Any) -> str:
    """The value of a datetime-local input showing `moment` on the cinema's clock."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


@admin_panel
async def showtimes_panel(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    query = _filters(request)
    filters = catalog_showtimes.ShowtimeFilters(
        day=query.get("date"),
        movie_id=query.get("movie_id"),
        theater_id=query.get("theater_id"),
        include_past=query["include_past"],
    )
    showtimes, total = await catalog_showtimes.list_showtimes(
        pool, settings, filters, query["page"], SHOWTIMES_PER_PAGE
    )
    movies = await _every(
        lambda page: catalog_movies.list_movies(pool, settings, page=page, page_size=PAGE_SIZE)
    )
    theaters = await _every(lambda page: catalog_theaters.list_theaters(pool, page, PAGE_SIZE))
    filtered = any(name in query for name in ("date", "movie_id", "theater_id"))
    return _panel(
        "admin/showtimes.html",
        request,
        {
            "showtimes": showtimes,
            "movies": movies,
            "theaters": theaters,
            "filters": query,
            "filtered": filtered,
            "include_past": filters.include_past,
            "pager": pager(request, query["page"], SHOWTIMES_PER_PAGE, total),
            "now": dt.datetime.now(dt.UTC),
            "money": hall_view.money,
        },
    )


@admin_panel
async def showtime_panel(request: web.Request) -> web.Response:
    """One showtime: move it (while it has no confirmed bookings) or change its price."""
    pool, settings = request.app[POOL], request.app[SETTINGS]
    showtime_id = _uuid(request)
    showtime = await catalog_showtimes.get_showtime(pool, showtime_id)
    booked = await pool.fetchval(QUERIES.count_confirmed_reservations, [showtime_id])
    return _panel(
        "admin/showtime.html",
        request,
        {
            "showtime": showtime,
            "booked": booked,
            "local_start": local_input(showtime["start_time"], settings.cinema_tz),
            "started": showtime["start_time"] <= dt.datetime.now(dt.UTC),
            "money": hall_view.money,
        },
    )


def _ticket_search(request: web.Request) -> str | None:
    q = request.query.get("q", "").replace("\x00", "").strip()  # no ticket code has a NUL
    if len(q) > MAX_TICKET_SEARCH:
        raise Unprocessable(
            "Some filters are invalid.",
            details={
                "location": "querystring",
                "fields": {"q": [f"A ticket code has at most {MAX_TICKET_SEARCH} characters."]},
            },
        )
    return q or None


async def _bookings(request: web.Request) -> tuple[uuid.UUID, dict, list[asyncpg.Record]]:
    pool = request.app[POOL]
    showtime_id = _uuid(request)
    showtime = await catalog_showtimes.get_showtime(pool, showtime_id)
    rows = await pool.fetch(QUERIES.showtime_bookings, showtime_id, _ticket_search(request))
    return showtime_id, showtime, rows


@admin_panel
async def bookings_panel(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    showtime_id, showtime, bookings = await _bookings(request)
    seat_map = await booking_seat_map.seat_map(pool, showtime_id, None)
    q = _ticket_search(request) or ""
    every = await pool.fetch(QUERIES.showtime_bookings, showtime_id, None) if q else bookings
    confirmed = [row for row in every if row["status"] == "confirmed"]
    return _panel(
        "admin/bookings.html",
        request,
        {
            "showtime": showtime,
            "hall": hall_view.build_hall(seat_map["seats"], settings.currency),
            "bookings": bookings,
            "q": q,
            "confirmed_count": len(confirmed),
            "sold_seats": sum(row["seat_count"] for row in confirmed),
            "revenue": hall_view.money(sum((row["total_price"] for row in confirmed), Decimal(0))),
            "csv_href": f"/admin/panels/showtimes/{showtime_id}/guests.csv"
            + ("?" + urlencode({"q": q}) if q else ""),
            "money": hall_view.money,
        },
    )


def guest_list_name(showtime: dict, zone: Any) -> str:
    """'guests-2026-12-10-2000-heat.csv': a file name that says which showtime it is."""
    start = showtime["start_time"].astimezone(zone).strftime("%Y-%m-%d-%H%M")
    title = re.sub(r"[^a-z0-9]+", "-", showtime["movie"]["title"].lower()).strip("-")[:40]
    return f"guests-{start}-{title or 'showtime'}.csv"


@admin_panel
async def guests_csv(request: web.Request) -> web.Response:
    """The guest list as CSV (cells that a spreadsheet would run as formulas are quoted)."""
    _, showtime, bookings = await _bookings(request)
    rows = [
        {**dict(row), "booked_at": row["created_at"], "name": row["name"] or ""} for row in bookings
    ]
    name = guest_list_name(showtime, request.app[SETTINGS].cinema_tz)
    return web.Response(
        body=csv_body(rows, GUEST_COLUMNS),
        content_type=CSV_TYPE,
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/admin/showtimes", _shell("showtimes", "Showtimes"))
    router.add_get("/admin/showtimes/{id}", _shell("showtimes", "Showtime"))
    router.add_get("/admin/showtimes/{id}/bookings", _shell("showtimes", "Bookings of a showtime"))
    router.add_get("/admin/panels/showtimes", showtimes_panel)
    router.add_get("/admin/panels/showtimes/{id}", showtime_panel)
    router.add_get("/admin/panels/showtimes/{id}/bookings", bookings_panel)
    router.add_get("/admin/panels/showtimes/{id}/guests.csv", guests_csv)
