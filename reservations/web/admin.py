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
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from ..accounts import service as accounts
from ..accounts.access import ROLES, admin_panel
from ..catalog import movies as catalog_movies
from ..catalog import showtimes as catalog_showtimes
from ..catalog import theaters as catalog_theaters
from ..checkin import service as checkin
from ..context import POOL, SETTINGS
from ..db import QUERIES
from ..errors import NotFound, Unprocessable
from ..prices import price_cards as prices_cards
from ..prices import ticket_types as prices_ticket_types
from ..prices import vouchers as prices_vouchers
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
    ("emails", "Outbox"),  # reservations/web/admin_emails.py
    ("prices", "Prices"),
    ("vouchers", "Vouchers"),
)
WEEKDAYS = ((1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun"))
NEWEST_VOUCHERS = 100
NEWEST_BATCHES = 20


async def _every(fetch: Callable[[int], Awaitable[tuple[list[dict], int]]]) -> list[dict]:
    items: list[dict] = []
    for page in range(1, MAX_PAGES + 1):
        batch, total = await fetch(page)
        items.extend(batch)
        if not batch or len(items) >= total:
            break
    return items


def pager(request: web.Request, page: int, per_page: int, total: int) -> dict[str, Any]:
    """Where the previous and next pages are (the same filters, another `page`), and what this
    one shows: "26 to 50 of 112"."""
    last = max(1, -(-total // per_page))
    query = {name: value for name, value in request.query.items() if name != "page"}
    path = request.path.replace("/admin/panels/", "/admin/", 1)

    def href(number: int) -> str:
        return path + "?" + urlencode({**query, "page": number})

    first_shown = (page - 1) * per_page + 1
    return {
        "page": page,
        "last": last,
        "total": total,
        "first_shown": min(first_shown, total),
        "last_shown": min(page * per_page, total),
        "previous": href(page - 1) if page > 1 else None,
        "next": href(page + 1) if page < last else None,
    }


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
async def movie_panel(request: web.Request) -> web.Response:
    """One movie with every field to change (PUT /api/v1/movies/{id}) and its poster."""
    pool = request.app[POOL]
    movie = await catalog_movies.get_movie(pool, _uuid(request))
    return _panel("admin/movie.html", request, {"movie": movie})


@admin_panel
async def theaters_panel(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    theaters = await _every(lambda page: catalog_theaters.list_theaters(pool, page, PAGE_SIZE))
    seat_types = [
        (row["name"], seat_type_label(row["name"]))
        for row in await catalog_theaters.list_seat_types(pool)
    ]
    return _panel("admin/theaters.html", request, {"theaters": theaters, "seat_types": seat_types})


def seat_type_label(name: str) -> str:
    """A seat type as the public seat map names it ("Wheelchair space" for accessible)."""
    return hall_view.SEAT_TYPE_LABELS.get(name, name.title())


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
                (seat_type_label(name), name, count) for name, count in sorted(counts.items())
            ],
            "showtime_count": await pool.fetchval(QUERIES.theater_showtime_count, theater["id"]),
        },
    )


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "") in ("1", "true", "on")


@admin_panel
async def admissions_panel(request: web.Request) -> web.Response:
    """Who came in at the door: every check-in of the showtime (undone ones too), each with an
    Undo button that calls DELETE /api/v1/checkins/{id}."""
    pool = request.app[POOL]
    showtime_id = _uuid(request)
    showtime = await catalog_showtimes.get_showtime(pool, showtime_id)
    door = await checkin.showtime_checkins(pool, showtime_id)
    return _panel("admin/admissions.html", request, {"showtime": showtime, "door": door})


USERS_PER_PAGE = 50
MAX_EMAIL_SEARCH = 254


@admin_panel
async def users_panel(request: web.Request) -> web.Response:
    """Users found by part of their email and by role, a page at a time, each with its role to
    change (POST /api/v1/admin/users/{id}/role) and its sessions to end (.../revoke-sessions)."""
    q = request.query.get("q", "").replace("\x00", "").strip()  # no email has a NUL
    if len(q) > MAX_EMAIL_SEARCH:
        raise Unprocessable(
            "Some filters are invalid.",
            details={"fields": {"q": [f"An email has at most {MAX_EMAIL_SEARCH} characters."]}},
        )
    role = request.query.get("role", "")
    role = role if role in ROLES else ""
    page = _page(request)
    users, total = await accounts.list_users(
        request.app[POOL], q or None, role or None, page, USERS_PER_PAGE
    )
    return _panel(
        "admin/users.html",
        request,
        {
            "users": users,
            "total": total,
            "q": q,
            "role": role,
            "roles": ROLES,
            "pager": pager(request, page, USERS_PER_PAGE, total),
        },
    )


def _page(request: web.Request) -> int:
    raw = request.query.get("page", "1").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise Unprocessable(
            "Some filters are invalid.",
            details={"fields": {"page": ["Use a page number from 1 to 100000."]}},
        )
    return int(raw)


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


@admin_panel
async def prices_panel(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    names = dict(WEEKDAYS)
    cards = [
        {**card, "days": ", ".join(names[day] for day in card["weekdays"])}
        for card in await prices_cards.list_price_cards(pool)
    ]
    theaters = await _every(lambda page: catalog_theaters.list_theaters(pool, page, PAGE_SIZE))
    return _panel(
        "admin/prices.html",
        request,
        {
            "ticket_types": await prices_ticket_types.list_ticket_types(pool, True),
            "seat_types": await catalog_theaters.list_seat_types(pool),
            "price_cards": cards,
            "theaters": theaters,
            "weekdays": WEEKDAYS,
            "money": hall_view.money,
        },
    )


@admin_panel
async def vouchers_panel(request: web.Request) -> web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    vouchers, total = await prices_vouchers.list_vouchers(pool, None, 1, NEWEST_VOUCHERS)
    movies = await _every(
        lambda page: catalog_movies.list_movies(pool, settings, page=page, page_size=PAGE_SIZE)
    )
    return _panel(
        "admin/vouchers.html",
        request,
        {
            "vouchers": vouchers,
            "total": total,
            "batches": await pool.fetch(QUERIES.voucher_batches, NEWEST_BATCHES),
            "movies": movies,
            "money": hall_view.money,
        },
    )


def setup(app: web.Application) -> None:
    # The public seat map's names for seat types, in the console too (one wording for both).
    aiohttp_jinja2.get_env(app).filters["seat_type_label"] = seat_type_label
    router = app.router
    router.add_get("/admin", admin_home)
    router.add_get("/admin/movies", _shell("movies", "Movies"))
    router.add_get("/admin/movies/{id}", _shell("movies", "Movie"))
    router.add_get("/admin/theaters", _shell("theaters", "Theaters"))
    router.add_get("/admin/theaters/{id}", _shell("theaters", "Theater"))
    router.add_get("/admin/reports", _shell("reports", "Reports"))
    router.add_get(
        "/admin/showtimes/{id}/admissions", _shell("showtimes", "Admissions of a showtime")
    )
    router.add_get("/admin/users", _shell("users", "Users"))
    router.add_get("/admin/prices", _shell("prices", "Prices"))
    router.add_get("/admin/vouchers", _shell("vouchers", "Vouchers"))
    router.add_get("/admin/panels/prices", prices_panel)
    router.add_get("/admin/panels/vouchers", vouchers_panel)
    router.add_get("/admin/panels/movies", movies_panel)
    router.add_get("/admin/panels/movies/{id}", movie_panel)
    router.add_get("/admin/panels/theaters", theaters_panel)
    router.add_get("/admin/panels/theaters/{id}", theater_panel)
    router.add_get("/admin/panels/reports", reports_panel)
    router.add_get("/admin/panels/showtimes/{id}/admissions", admissions_panel)
    router.add_get("/admin/panels/users", users_panel)
