"""Page handlers: read through the catalog's and booking's service functions, render a template.

Pages answer HTML whatever goes wrong (a friendly page with the right status), while the API
keeps its JSON errors. The ticket QR code is the one API route here: the reservations page
draws it, and only the reservation's owner (or an admin) may fetch it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import segno
from aiohttp import web
from aiohttp_apispec import docs

from .. import representations
from ..accounts.access import current_user, user_only
from ..api import error_responses, path_uuid, uuid_path
from ..booking import reservations as booking_reservations
from ..booking import seat_map as booking_seat_map
from ..catalog import listings
from ..catalog import movies as catalog_movies
from ..catalog import showtimes as catalog_showtimes
from ..catalog import theaters as catalog_theaters
from ..context import POOL, SETTINGS, TICKET_SIGNER
from ..errors import ApiError, NotFound, from_database_error
from ..paths import STATIC_DIR
from . import hall as hall_view
from . import programme

routes = web.RouteTableDef()

LISTING_PAGE_SIZE = 100
MAX_LISTING_PAGES = 20  # 2000 showtimes a day is more than any cinema has
BEST_AVAILABLE_PATH = "/api/v1/showtimes/{id}/best-available"
STRANDED_SEATS_PATH = "/api/v1/showtimes/{id}/stranded-seats"
SVG_CONTENT_TYPE = "image/svg+xml"

PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_page(request: web.Request, status: int, heading: str, message: str) -> web.Response:
    return aiohttp_jinja2.render_template(
        "error.html", request, {"heading": heading, "message": message}, status=status
    )


def not_found_page(request: web.Request, message: str) -> web.Response:
    return error_page(request, 404, "Not found", message)


def friendly_errors(handler: PageHandler) -> PageHandler:
    """A page that fails shows a page, not the API's JSON error."""

    @functools.wraps(handler)
    async def page(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return _page_for(request, error)
        except Exception as exc:
            database_error = from_database_error(exc)
            if database_error is None:
                raise
            return _page_for(request, database_error)

    return page


def _page_for(request: web.Request, error: ApiError) -> web.Response:
    if error.status == 404:
        return not_found_page(request, "There is nothing at this address.")
    if error.status == 503:
        response = error_page(
            request,
            503,
            "Back in a moment",
            "We cannot reach our database right now. Please try again in a few seconds.",
        )
        response.headers.update(error.headers)
        return response
    return error_page(request, error.status, "Something went wrong", error.message)


# ---- the programme ------------------------------------------------------------------------


async def _all_pages(fetch: Callable[[int], Awaitable[tuple[list[dict], int]]]) -> list[dict]:
    items: list[dict] = []
    for page in range(1, MAX_LISTING_PAGES + 1):
        batch, total = await fetch(page)
        items.extend(batch)
        if not batch or len(items) >= total:
            break
    return items


@routes.get("/", name="programme")
@friendly_errors
async def programme_page(request: web.Request) -> web.Response:
    """The programme of a day; kept as a finished, compressed page while it is right (see
    catalog/listings.py), and answered 304 to its ETag."""
    zone: ZoneInfo = request.app[SETTINGS].cinema_tz
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(zone).date()
    try:
        day = programme.parse_day(request.query.get("date"), today)
        genre = programme.parse_genre(request.query.get("genre"))
    except programme.BadProgrammeQuery as bad:
        return error_page(request, 400, "We could not read that", str(bad))

    async def render() -> tuple[bytes, list[uuid.UUID]]:
        context = await _programme(request, today, day, genre)
        showtime_ids = [
            uuid.UUID(showtime.id) for movie in context["movies"] for showtime in movie.showtimes
        ]
        return aiohttp_jinja2.render_string("index.html", request, context).encode(), showtime_ids

    # "Today" and the days offered change at the cinema's midnight.
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    until = time.monotonic() + (midnight - now).total_seconds()
    answer = await listings.listing_answer(
        request.app, ("programme", today, day, genre), render, "text/html", until
    )
    return representations.answer(request, answer)


async def _programme(
    request: web.Request, today: dt.date, day: dt.date, genre: str | None
) -> dict[str, Any]:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    now = dt.datetime.now(dt.UTC)
    genres = [row["name"] for row in await catalog_movies.list_genres(pool)]
    unknown_genre = genre is not None and genre.lower() not in {name.lower() for name in genres}
    movies: list[programme.ProgrammeMovie] = []
    if not unknown_genre:
        filters = catalog_showtimes.ShowtimeFilters(day=day, genre=genre)
        showtimes = await _all_pages(
            lambda page: catalog_showtimes.list_showtimes(
                pool, settings, filters, page, LISTING_PAGE_SIZE
            )
        )
        if showtimes:
            listed = await _all_pages(
                lambda page: catalog_movies.list_movies(
                    pool, settings, genre=genre, day=day, page=page, page_size=LISTING_PAGE_SIZE
                )
            )
            prices = await catalog_showtimes.lowest_prices(
                pool, [showtime["id"] for showtime in showtimes]
            )
            movies = programme.group_by_movie(listed, showtimes, now, prices)
    return {
        "nav": "programme",
        "days": programme.day_tabs(today, day, genre),
        "day_label": programme.day_label(day, today),
        "date_value": day.isoformat(),
        "genre": genre,
        "genres": genres,
        "unknown_genre": unknown_genre,
        "all_genres_href": programme.href(day, None),
        "movies": movies,
    }


# ---- the seat map -------------------------------------------------------------------------


def _has_route(app: web.Application, canonical: str) -> bool:
    return any(resource.canonical == canonical for resource in app.router.resources())


@routes.get("/showtimes/{id}", name="showtime")
@friendly_errors
@aiohttp_jinja2.template("showtime.html")
async def showtime_page(request: web.Request) -> dict[str, Any] | web.Response:
    pool, settings = request.app[POOL], request.app[SETTINGS]
    try:
        showtime_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        return not_found_page(request, "We have no showtime at this address.")
    try:
        showtime = await catalog_showtimes.get_showtime(pool, showtime_id)
        if showtime["cancelled_at"] is not None:
            return not_found_page(request, "This showtime has been cancelled.")
        movie = await catalog_movies.get_movie(pool, showtime["movie_id"])
        seat_map = await booking_seat_map.seat_map(pool, showtime_id, None)
    except NotFound:
        return not_found_page(request, "We have no showtime at this address.")
    seat_types = [row["name"] for row in await catalog_theaters.list_seat_types(pool)]
    seats = seat_map["seats"]
    start = showtime["start_time"]
    return {
        "showtime": {
            "id": str(showtime_id),
            "movie_title": movie["title"],
            "poster_url": movie["poster_url"],
            "duration_minutes": movie["duration_minutes"],
            "theater_name": showtime["theater"]["name"],
            "start": start.astimezone(settings.cinema_tz),
            "price": hall_view.money(showtime["price"]),
            "currency": settings.currency,
            "started": start <= dt.datetime.now(dt.UTC),
        },
        "hall": hall_view.build_hall(seats, settings.currency),
        "seat_types": hall_view.legend_types(seats, seat_types),
        "has_accessible": any(seat["seat_type"] == "accessible" for seat in seats),
        "max_seats_per_hold": settings.max_seats_per_hold,
        "best_available": _has_route(request.app, BEST_AVAILABLE_PATH),
        "stranded_check": _has_route(request.app, STRANDED_SEATS_PATH),
    }


# ---- account pages: shells that the scripts fill in ----------------------------------------


@routes.get("/login", name="login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    return {"nav": "login"}


@routes.get("/register", name="register")
@aiohttp_jinja2.template("register.html")
async def register_page(request: web.Request) -> dict[str, Any]:
    return {"nav": "register"}


# Without JavaScript the forms post here: say that the page needs it (and keep the password
# out of any URL, which a GET form would not).
@routes.post("/login")
@aiohttp_jinja2.template("login.html")
async def login_without_script(request: web.Request) -> dict[str, Any]:
    return {"nav": "login", "no_script": True}


@routes.post("/register")
@aiohttp_jinja2.template("register.html")
async def register_without_script(request: web.Request) -> dict[str, Any]:
    return {"nav": "register", "no_script": True}


@routes.get("/my/reservations", name="my_reservations")
@aiohttp_jinja2.template("my_reservations.html")
async def my_reservations_page(request: web.Request) -> dict[str, Any]:
    return {"nav": "mine"}


# The ticket of one reservation, to show at the door or print: a shell like the reservations
# page (the reservation is the signed-in person's, read by the script with their token).
@routes.get("/my/reservations/{id}/ticket", name="ticket")
@aiohttp_jinja2.template("ticket.html")
async def ticket_page(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        reservation_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        return not_found_page(request, "We have no reservation at this address.")
    return {"nav": "mine", "reservation_id": str(reservation_id)}


# ---- the ticket's QR code -----------------------------------------------------------------


def ticket_svg(ticket_code: str, qr_payload: str) -> bytes:
    """The ticket's signed code (`qr_payload`) as a QR code (error correction M, the standard
    4-module quiet zone), titled with the ticket code."""
    buffer = io.BytesIO()
    segno.make(qr_payload, error="m", micro=False).save(
        buffer,
        kind="svg",
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        xmldecl=False,
        title=f"Ticket {ticket_code}",
    )
    return buffer.getvalue()


@routes.get("/api/v1/reservations/{id}/ticket.svg")
@docs(
    tags=["booking"],
    summary="The reservation's signed ticket code (qr_payload) as a QR code (SVG)",
    description="For the owner or an admin; 404 for anyone else, as for the reservation.",
    produces=[SVG_CONTENT_TYPE, "application/json"],
    responses={200: {"description": "An SVG image of the QR code"}},
)
@user_only
@uuid_path("The reservation")
@error_responses(401, 404)
async def ticket_qr_code(request: web.Request) -> web.Response:
    reservation = await booking_reservations.get_reservation(
        request.app[POOL], current_user(request), path_uuid(request)
    )
    return web.Response(
        body=ticket_svg(
            reservation["ticket_code"],
            request.app[TICKET_SIGNER].qr_payload(reservation["ticket_code"]),
        ),
        content_type=SVG_CONTENT_TYPE,
        charset="utf-8",
        headers={"Cache-Control": "private, max-age=3600"},
    )


# ---- template helpers ---------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _asset_version(path: str, modified_ns: int) -> str:
    with open(path, "rb") as asset:
        return hashlib.sha256(asset.read()).hexdigest()[:12]


def asset_url(name: str) -> str:
    """/static/<name>?v=<content hash>: a changed file gets a new URL, so no stale caches."""
    path = STATIC_DIR / name
    try:
        version = _asset_version(str(path), path.stat().st_mtime_ns)
    except OSError:
        return f"/static/{name}"
    return f"/static/{name}?v={version}"


def _setup_templates(app: web.Application) -> None:
    environment = aiohttp_jinja2.get_env(app)
    zone: ZoneInfo = app[SETTINGS].cinema_tz

    def local(moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(zone)

    def clock(moment: dt.datetime) -> str:
        return local(moment).strftime("%H:%M")

    def day_and_clock(moment: dt.datetime) -> str:
        when = local(moment)
        return (
            f"{when.strftime('%a')} {when.day} {when.strftime('%b %Y')}, {when.strftime('%H:%M')}"
        )

    environment.filters["clock"] = clock
    environment.filters["day_and_clock"] = day_and_clock
    environment.globals["asset"] = asset_url
    environment.globals["cinema_tz"] = str(zone)
    environment.globals["currency"] = app[SETTINGS].currency


# Where a browser may be sent by a typed or stale address; everything else (the API, the live
# seat map, files) keeps answering JSON or nothing.
_NOT_PAGES = ("/api/", "/ws/", "/static/", "/posters/", "/metrics", "/healthz", "/readyz")


def _wants_page(request: web.Request) -> bool:
    return (
        request.method in ("GET", "HEAD")
        and not request.path.startswith(_NOT_PAGES)
        and "text/html" in request.headers.get("Accept", "")
    )


@web.middleware
async def page_not_found_middleware(
    request: web.Request, handler: PageHandler
) -> web.StreamResponse:
    """An unknown address asked for by a browser gets the friendly 404 page; the API's clients
    (and a browser's fetch of an API path) still get the JSON error from the error middleware."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if not _wants_page(request):
            raise
        return not_found_page(
            request, "There is no page at this address. It may have moved, or the link is wrong."
        )


def setup(app: web.Application) -> None:
    _setup_templates(app)
    app.router.add_routes(routes)
    # Innermost (after the error middleware), so it sees the router's 404 before it turns JSON.
    app.middlewares.append(page_not_found_middleware)
