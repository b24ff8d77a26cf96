"""The admin console under /admin: movies, theaters, showtimes, reports and the bookings of a
showtime, as server-rendered pages.

The console authenticates like every other page: the token lives in the browser's
localStorage, so a page address (`/admin/movies`) answers a shell without data, and its script
fetches the panel (`/admin/panels/movies`) with the token. A panel is rendered here from the
service functions, and only for an admin: the auth middleware refuses anyone else (401 or 403)
before the handler runs, so no admin data ever reaches another person's browser. What the
console changes (adding a movie, a poster, a theater, a showtime; cancelling) goes through the
REST API from the script, so the rules and their checks stay in one place.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp_jinja2
import asyncpg
from aiohttp import web

from ..accounts import service as accounts
from ..accounts.access import ROLES, admin_panel
from ..booking import seat_map as booking_seat_map
from ..catalog import movies as catalog_movies
from ..catalog import showtimes as catalog_showtimes
from ..catalog import theaters as catalog_theaters
from ..checkin import service as checkin
from ..context import POOL, SETTINGS
from ..db import QUERIES
from ..errors import NotFound, Unprocessable
from ..reports import service as reports
from . import hall as hall_view
from .routes import not_found_page

routes = web.RouteTableDef()

PAGE_SIZE = 100
MAX_PAGES = 20
SECTIONS = (
    ("showtimes", "Showtimes"),
    ("movies", "Movies"),
    ("theaters", "Theaters"),
    ("reports", "Reports"),
    ("users", "Users"),
)


async def _every(fetch: Callable[[int], Awaitable[tuple[list[dict], int]]]) -> list[dict]:
    items: list[dict] = []
    for page in range(1, MAX_PAGES + 1):
        batch, total = await fetch(page)
        items.extend(batch)
        if not batch or len(items) >= total:
            break
    return items


def _uuid(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        raise NotFound("There is nothing at this address.") from None


# ---- the shells: public, no data; the script fills them with their panel -------------------


def _shell(section: str, heading: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def shell(request: web.Request) -> web.Response:
        if "id" in request.match_info:
            try:
                uuid.UUID(request.match_info["id"])
            except ValueError:
                return not_found_page(request, "There is nothing at this address.")
        panel = "/admin/panels/" + request.path.removeprefix("/admin/")
        if request.query_string:
            panel += "?" + request.query_string
        return aiohttp_jinja2.render_template(
            "admin/shell.html",
            request,
            {
                "nav": "admin",
                "section": section,
                "sections": SECTIONS,
                "heading": heading,
                "panel_url": panel,
            },
        )

    return shell


async def admin_home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/admin/showtimes")


# ---- the panels: admins only ---------------------------------------------------------------


def _panel(template: str, request: web.Request, context: dict[str, Any]) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, context)
    response.headers["Cache-Control"] = "no-store"  # admin data stays out of shared caches
    return response


@admin_panel
async def movies_panel(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    movies = await _every(
        lambda page: catalog_movies.list_movies(pool, settings, page=page, page_size=PAGE_SIZE)
    )
    duplicated = {row["title_key"] for row in await pool.fetch(QUERIES.duplicate_movie_titles)}
    return _panel(
        "admin/movies.html",
        request,
        {"movies": movies, "duplicated": duplicated, "total": len(movies)},
    )


@admin_panel
async def theaters_panel(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    theaters = await _every(lambda page: catalog_theaters.list_theaters(pool, page, PAGE_SIZE))
    seat_types = [row["name"] for row in await catalog_theaters.list_seat_types(pool)]
    return _panel("admin/theaters.html", request, {"theaters": theaters, "seat_types": seat_types})


def _layout_seats(seats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A theater's seats as the hall drawing wants them (no showtime: no price, all free)."""
    return [{**seat, "price": Decimal(0), "status": "available"} for seat in seats]


@admin_panel
async def theater_panel(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    theater = await catalog_theaters.get_theater(pool, _uuid(request))
    seats = _layout_seats(theater["seats"])
    counts: dict[str, int] = {}
    for seat in seats:
        counts[seat["seat_type"]] = counts.get(seat["seat_type"], 0) + 1
    return _panel(
        "admin/theater.html",
        request,
        {
            "theater": theater,
            "hall": hall_view.build_hall(seats, settings.currency),
            "type_counts": [
                (hall_view.SEAT_TYPE_LABELS.get(name, name.title()), name, count)
                for name, count in sorted(counts.items())
            ],
        },
    )


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "") in ("1", "true", "on")


@admin_panel
async def showtimes_panel(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    include_past = _flag(request, "include_past")
    filters = catalog_showtimes.ShowtimeFilters(include_past=include_past)
    showtimes = await _every(
        lambda page: catalog_showtimes.list_showtimes(pool, settings, filters, page, PAGE_SIZE)
    )
    movies = await _every(
        lambda page: catalog_movies.list_movies(pool, settings, page=page, page_size=PAGE_SIZE)
    )
    theaters = await _every(lambda page: catalog_theaters.list_theaters(pool, page, PAGE_SIZE))
    now = dt.datetime.now(dt.UTC)
    return _panel(
        "admin/showtimes.html",
        request,
        {
            "showtimes": showtimes,
            "movies": movies,
            "theaters": theaters,
            "include_past": include_past,
            "now": now,
            "money": hall_view.money,
        },
    )


@admin_panel
async def bookings_panel(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    showtime_id = _uuid(request)
    showtime = await catalog_showtimes.get_showtime(pool, showtime_id)
    seat_map = await booking_seat_map.seat_map(pool, showtime_id, None)
    bookings: list[asyncpg.Record] = await pool.fetch(QUERIES.showtime_bookings, showtime_id)
    confirmed = [row for row in bookings if row["status"] == "confirmed"]
    return _panel(
        "admin/bookings.html",
        request,
        {
            "showtime": showtime,
            "hall": hall_view.build_hall(seat_map["seats"], settings.currency),
            "bookings": bookings,
            "confirmed_count": len(confirmed),
            "sold_seats": sum(row["seat_count"] for row in confirmed),
            "revenue": hall_view.money(sum((row["total_price"] for row in confirmed), Decimal(0))),
            "money": hall_view.money,
        },
    )


@admin_panel
async def admissions_panel(request: web.Request) -> web.Response:
    """Who came in at the door: every check-in of the showtime (undone ones too), each with an
    Undo button that calls DELETE /api/v1/checkins/{id}."""
    pool = request.app[POOL]
    showtime_id = _uuid(request)
    showtime = await catalog_showtimes.get_showtime(pool, showtime_id)
    door = await checkin.showtime_checkins(pool, showtime_id)
    return _panel("admin/admissions.html", request, {"showtime": showtime, "door": door})


@admin_panel
async def users_panel(request: web.Request) -> web.Response:
    """Users found by part of their email and by role, each with its role to change (POST
    /api/v1/admin/users/{id}/role)."""
    q = request.query.get("q", "").replace("\x00", "").strip()[:254]
    role = request.query.get("role", "")
    role = role if role in ROLES else ""
    users, total = await accounts.list_users(
        request.app[POOL], q or None, role or None, 1, PAGE_SIZE
    )
    return _panel(
        "admin/users.html",
        request,
        {"users": users, "total": total, "q": q, "role": role, "roles": ROLES},
    )


def _date(request: web.Request, name: str) -> dt.date | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise Unprocessable(
            f"{name} must be a date like 2026-12-31.",
            details={"fields": {name: ["Not a valid date."]}},
        ) from None


@admin_panel
async def reports_panel(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    period = reports.Period.resolve(
        _date(request, "start_date"), _date(request, "end_date"), settings.cinema_tz
    )
    group_by = request.query.get("group_by", "day")
    if group_by not in reports.GROUPINGS:
        group_by = "day"
    capacity = await reports.capacity(pool, period)
    revenue = await reports.revenue(pool, period, group_by)
    popular = await reports.popular_movies(pool, period, 10)
    query = f"start_date={period.start_date}&end_date={period.end_date}"
    return _panel(
        "admin/reports.html",
        request,
        {
            "period": period,
            "group_by": group_by,
            "groupings": reports.GROUPINGS,
            "capacity": capacity,
            "revenue": revenue,
            "popular": popular,
            "csv": {
                "capacity": f"/api/v1/admin/reports/capacity?{query}",
                "revenue": f"/api/v1/admin/reports/revenue?{query}&group_by={group_by}",
                "popular": f"/api/v1/admin/reports/popular-movies?{query}&limit=10",
            },
        },
    )


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/admin", admin_home)
    router.add_get("/admin/showtimes", _shell("showtimes", "Showtimes"))
    router.add_get("/admin/showtimes/{id}/bookings", _shell("showtimes", "Bookings of a showtime"))
    router.add_get("/admin/movies", _shell("movies", "Movies"))
    router.add_get("/admin/theaters", _shell("theaters", "Theaters"))
    router.add_get("/admin/theaters/{id}", _shell("theaters", "Theater"))
    router.add_get("/admin/reports", _shell("reports", "Reports"))
    router.add_get(
        "/admin/showtimes/{id}/admissions", _shell("showtimes", "Admissions of a showtime")
    )
    router.add_get("/admin/users", _shell("users", "Users"))
    router.add_get("/admin/panels/showtimes", showtimes_panel)
    router.add_get("/admin/panels/showtimes/{id}/bookings", bookings_panel)
    router.add_get("/admin/panels/movies", movies_panel)
    router.add_get("/admin/panels/theaters", theaters_panel)
    router.add_get("/admin/panels/theaters/{id}", theater_panel)
    router.add_get("/admin/panels/reports", reports_panel)
    router.add_get("/admin/panels/showtimes/{id}/admissions", admissions_panel)
    router.add_get("/admin/panels/users", users_panel)
