"""Catalog routes: thin handlers that parse, call the rules and answer."""

from __future__ import annotations

import uuid

from aiohttp import web
from aiohttp_apispec import docs, querystring_schema, request_schema, response_schema

from .. import representations
from ..accounts.access import admin_only
from ..api import (
    PageQuery,
    error_responses,
    json_response,
    no_content,
    page_of,
    path_uuid,
    uuid_path,
)
from ..context import POOL, SEAT_MAPS, SETTINGS
from ..db import json_dumps
from ..errors import NotFound
from . import listings, movies, posters, showtimes, theaters
from .schemas import (
    GenreListSchema,
    MovieCreateRequest,
    MovieListQuery,
    MovieListSchema,
    MovieSchema,
    MovieShowtimesQuery,
    MovieUpdateRequest,
    SeatTypeListSchema,
    ShowtimeCreateRequest,
    ShowtimeListQuery,
    ShowtimeListSchema,
    ShowtimeSchema,
    ShowtimeUpdateRequest,
    TheaterCreateRequest,
    TheaterListSchema,
    TheaterRenameRequest,
    TheaterSchema,
)

routes = web.RouteTableDef()

NO_CONTENT = {204: {"description": "Done; no body"}}


# ---- genres and seat types ----------------------------------------------------------------


@routes.get("/api/v1/genres")
@docs(tags=["catalog"], summary="Every genre, by name")
@response_schema(GenreListSchema, 200, description="The genres")
@error_responses()
async def list_genres(request: web.Request) -> web.Response:
    return json_response({"genres": await movies.list_genres(request.app[POOL])})


@routes.get("/api/v1/seat-types")
@docs(
    tags=["theaters"],
    summary="Seat types and their prices",
    description="A seat costs the showtime's price times its type's multiplier plus its "
    "surcharge, less its ticket type's discount, rounded half up to the cent (admins set them "
    "with PUT /api/v1/seat-types/{name}; GET /api/v1/showtimes/{id}/prices lists every price).",
)
@response_schema(SeatTypeListSchema, 200, description="The seat types")
@error_responses()
async def list_seat_types(request: web.Request) -> web.Response:
    return json_response({"seat_types": await theaters.list_seat_types(request.app[POOL])})


# ---- movies -------------------------------------------------------------------------------


@routes.get("/api/v1/movies")
@docs(
    tags=["catalog"],
    summary="Movies by title",
    description="Filters combine: `genre` (a name, any case), `date` (a showtime that day in "
    "the cinema's time zone, CINEMA_TZ), `q` (a piece of the title, any case).",
)
@querystring_schema(MovieListQuery)
@response_schema(MovieListSchema, 200, description="One page of movies")
@error_responses(422)
async def list_movies(request: web.Request) -> web.Response:
    query = request["querystring"]
    items, total = await movies.list_movies(
        request.app[POOL],
        request.app[SETTINGS],
        genre=query.get("genre"),
        day=query.get("date"),
        search=query.get("q"),
        page=query["page"],
        page_size=query["page_size"],
    )
    return json_response(page_of("movies", items, total, query["page"], query["page_size"]))


@routes.post("/api/v1/movies")
@docs(tags=["catalog"], summary="Add a movie (genres named for the first time are created)")
@admin_only
@request_schema(MovieCreateRequest, required=True)
@response_schema(MovieSchema, 201, description="The new movie")
@error_responses(400, 401, 403, 413, 415, 422)
@listings.announces_catalog_change
async def create_movie(request: web.Request) -> web.Response:
    movie = await movies.create_movie(request.app[POOL], **request["data"])
    return json_response(movie, status=201)


@routes.get("/api/v1/movies/{id}")
@docs(tags=["catalog"], summary="A movie")
@uuid_path("The movie")
@response_schema(MovieSchema, 200, description="The movie")
@error_responses(404)
async def get_movie(request: web.Request) -> web.Response:
    return json_response(await movies.get_movie(request.app[POOL], path_uuid(request)))


@routes.put("/api/v1/movies/{id}")
@docs(
    tags=["catalog"],
    summary="Change a movie: fields present are replaced",
    description="A new `duration_minutes` also moves the end of the movie's showtimes that "
    "have not started (409 `showtime_overlap` if one would then overlap the next).",
)
@admin_only
@uuid_path("The movie")
@request_schema(MovieUpdateRequest)
@response_schema(MovieSchema, 200, description="The movie as it is now")
@error_responses(400, 401, 403, 404, 409, 413, 415, 422)
@listings.announces_catalog_change
async def update_movie(request: web.Request) -> web.Response:
    movie = await movies.update_movie(
        request.app[POOL], request.app[SETTINGS], path_uuid(request), request["data"]
    )
    return json_response(movie)


@routes.delete("/api/v1/movies/{id}")
@docs(
    tags=["catalog"],
    summary="Delete a movie",
    description="The movie leaves the catalog (404 afterwards) and its upcoming showtimes are "
    "cancelled; the records of its past reservations stay readable. 409 "
    "`movie_has_reservations` while an upcoming showtime has confirmed reservations.",
    responses=NO_CONTENT,
)
@admin_only
@uuid_path("The movie")
@error_responses(401, 403, 404, 409)
@listings.announces_catalog_change
async def delete_movie(request: web.Request) -> web.Response:
    await movies.delete_movie(request.app[POOL], request.app[SETTINGS], path_uuid(request))
    return no_content()


@routes.get("/api/v1/movies/{id}/showtimes")
@docs(
    tags=["showtimes"],
    summary="A movie's showtimes, earliest first",
    description="Showtimes that have ended are left out unless `include_past=true`.",
)
@uuid_path("The movie")
@querystring_schema(MovieShowtimesQuery)
@response_schema(ShowtimeListSchema, 200, description="One page of showtimes")
@error_responses(404, 422)
async def list_movie_showtimes(request: web.Request) -> web.Response:
    movie_id = path_uuid(request)
    query = request["querystring"]
    await movies.ensure_movie(request.app[POOL], movie_id)
    items, total = await showtimes.list_showtimes(
        request.app[POOL],
        request.app[SETTINGS],
        showtimes.ShowtimeFilters(
            day=query.get("date"), movie_id=movie_id, include_past=query["include_past"]
        ),
        query["page"],
        query["page_size"],
    )
    return json_response(page_of("showtimes", items, total, query["page"], query["page_size"]))


@routes.post("/api/v1/movies/{id}/poster")
@docs(
    tags=["catalog"],
    summary="Upload a movie's poster (replaces the old one)",
    description="multipart/form-data with the image in the field `file`: JPEG, PNG or WebP, "
    "recognised by content, at most MAX_POSTER_BYTES (413 beyond) and MAX_POSTER_PIXELS "
    "pixels (422 `image_too_large`); anything else is 415 `unsupported_image`. Other form "
    "fields are ignored, like unknown JSON fields. The poster is served at the movie's "
    "`poster_url`.",
    consumes=["multipart/form-data"],
    parameters=[
        {
            "in": "formData",
            "name": posters.FIELD,
            "type": "file",
            "required": True,
            "description": "the image",
        }
    ],
)
@admin_only
@uuid_path("The movie")
@response_schema(MovieSchema, 200, description="The movie with its new poster_url")
@error_responses(400, 401, 403, 404, 413, 415, 422)
@listings.announces_catalog_change
async def upload_poster(request: web.Request) -> web.Response:
    movie_id = path_uuid(request)
    pool, settings = request.app[POOL], request.app[SETTINGS]
    await movies.ensure_movie(pool, movie_id)  # before reading a byte of the body
    upload = await posters.receive_upload(request, settings)
    return json_response(await movies.set_poster(pool, settings, movie_id, upload))


@routes.get("/posters/{name}")
@docs(
    tags=["catalog"],
    summary="A poster image (a movie's poster_url)",
    description="Served with its image content type and `Cache-Control: "
    f"{posters.CACHE_CONTROL}` (a replaced poster gets a new name).",
    produces=[*sorted(posters.CONTENT_TYPES.values()), "application/json"],
    parameters=[
        {
            "in": "path",
            "name": "name",
            "type": "string",
            "pattern": posters.POSTER_NAME.pattern,
            "required": True,
            "description": "the last part of a movie's poster_url; any other name is a 404",
        }
    ],
    responses={200: {"description": "The image"}},
)
@error_responses(404)
async def serve_poster(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = posters.poster_path(request.app[SETTINGS].poster_dir, name)
    if path is None or not path.is_file():
        raise NotFound("No poster has this name.")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": posters.CONTENT_TYPES[path.suffix.lstrip(".")],
            "Cache-Control": posters.CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
        },
    )


# ---- theaters -----------------------------------------------------------------------------


@routes.get("/api/v1/theaters")
@docs(tags=["theaters"], summary="Theaters by name, with their rows (seats left out)")
@querystring_schema(PageQuery)
@response_schema(TheaterListSchema, 200, description="One page of theaters")
@error_responses(422)
async def list_theaters(request: web.Request) -> web.Response:
    query = request["querystring"]
    items, total = await theaters.list_theaters(
        request.app[POOL], query["page"], query["page_size"]
    )
    return json_response(page_of("theaters", items, total, query["page"], query["page_size"]))


@routes.post("/api/v1/theaters")
@docs(
    tags=["theaters"],
    summary="Add a theater and its seat layout",
    description="Rows are listed from the screen backwards. Each row has a label, a number of "
    "seats (numbered from 1), a seat type (default regular), optional single-seat types "
    '(`seat_types: {"3": "accessible"}`) and aisle gaps after given seat numbers. A seat\'s '
    "`column_index` counts the aisle gaps before it, so the hall can be drawn as it looks.",
)
@admin_only
@request_schema(TheaterCreateRequest, required=True)
@response_schema(TheaterSchema, 201, description="The new theater with its seats")
@error_responses(400, 401, 403, 409, 413, 415, 422)
@listings.announces_catalog_change
async def create_theater(request: web.Request) -> web.Response:
    data = request["data"]
    theater = await theaters.create_theater(request.app[POOL], data["name"], data["rows"])
    return json_response(theater, status=201)


@routes.get("/api/v1/theaters/{id}")
@docs(tags=["theaters"], summary="A theater with its seats")
@uuid_path("The theater")
@response_schema(TheaterSchema, 200, description="The theater")
@error_responses(404)
async def get_theater(request: web.Request) -> web.Response:
    return json_response(await theaters.get_theater(request.app[POOL], path_uuid(request)))


@routes.put("/api/v1/theaters/{id}")
@docs(
    tags=["theaters"],
    summary="Rename a theater",
    description="Only the name changes; seats and showtimes stay. 409 `theater_name_taken` "
    "when another theater has the name (in any case).",
)
@admin_only
@uuid_path("The theater")
@request_schema(TheaterRenameRequest, required=True)
@response_schema(TheaterSchema, 200, description="The theater with its new name")
@error_responses(400, 401, 403, 404, 409, 413, 415, 422)
@listings.announces_catalog_change
async def rename_theater(request: web.Request) -> web.Response:
    theater = await theaters.rename_theater(
        request.app[POOL], path_uuid(request), request["data"]["name"]
    )
    return json_response(theater)


@routes.delete("/api/v1/theaters/{id}")
@docs(
    tags=["theaters"],
    summary="Delete a theater that has never had a showtime",
    description="For a theater added by mistake: it goes with its seats and its own price "
    "cards. 409 `theater_in_use` once it has had a showtime (cancelled ones count: their "
    "reservations name it); rename it instead.",
    responses=NO_CONTENT,
)
@admin_only
@uuid_path("The theater")
@error_responses(401, 403, 404, 409)
@listings.announces_catalog_change
async def delete_theater(request: web.Request) -> web.Response:
    await theaters.delete_theater(request.app[POOL], path_uuid(request))
    return no_content()


# ---- showtimes ----------------------------------------------------------------------------


@routes.get("/api/v1/showtimes")
@docs(
    tags=["showtimes"],
    summary="Showtimes, earliest first, each with its available seats",
    description="Filters combine: `date` (a day in CINEMA_TZ), `movie_id`, `theater_id`, "
    "`genre` (a name, any case). Cancelled showtimes are never listed; showtimes that have "
    "ended only with `include_past=true`. Conditional and compressed like the seat map: a weak "
    "ETag, Cache-Control no-cache, 304 with no body to an If-None-Match naming the current "
    "answer, br or gzip as Accept-Encoding allows.",
    parameters=[representations.IF_NONE_MATCH_HEADER],
    responses={304: representations.NOT_MODIFIED_DOC},
)
@querystring_schema(ShowtimeListQuery)
@response_schema(ShowtimeListSchema, 200, description="One page of showtimes")
@error_responses(422)
async def list_showtimes(request: web.Request) -> web.Response:
    query = request["querystring"]

    async def render() -> tuple[bytes, list[uuid.UUID]]:
        items, total = await showtimes.list_showtimes(
            request.app[POOL],
            request.app[SETTINGS],
            showtimes.ShowtimeFilters(
                day=query.get("date"),
                movie_id=query.get("movie_id"),
                theater_id=query.get("theater_id"),
                genre=query.get("genre"),
                include_past=query["include_past"],
            ),
            query["page"],
            query["page_size"],
        )
        page = page_of("showtimes", items, total, query["page"], query["page_size"])
        return json_dumps(page), [uuid.UUID(str(item["id"])) for item in items]

    key = ("showtimes", tuple(sorted((name, str(value)) for name, value in query.items())))
    return representations.answer(request, await listings.listing_answer(request.app, key, render))


@routes.post("/api/v1/showtimes")
@docs(
    tags=["showtimes"],
    summary="Schedule a showtime",
    description="`end_time` is the start plus the movie's duration; the theater stays busy "
    "for CLEANING_BUFFER_MINUTES more. 409 `showtime_overlap` if that meets another showtime "
    "of the theater (decided by the database, so concurrent requests cannot both pass); 422 "
    "`start_in_past`; 404 for an unknown movie or theater. Without `price`, the price card "
    "matching the local start decides it (422 `no_price` when none does).",
)
@admin_only
@request_schema(ShowtimeCreateRequest, required=True)
@response_schema(ShowtimeSchema, 201, description="The new showtime")
@error_responses(400, 401, 403, 404, 409, 413, 415, 422)
@listings.announces_catalog_change
async def create_showtime(request: web.Request) -> web.Response:
    showtime = await showtimes.create_showtime(
        request.app[POOL], request.app[SETTINGS], **request["data"]
    )
    return json_response(showtime, status=201)


@routes.get("/api/v1/showtimes/{id}")
@docs(
    tags=["showtimes"],
    summary="A showtime",
    description="A cancelled showtime still answers (reservations link to it), with "
    "`cancelled_at` set and no available seats.",
)
@uuid_path("The showtime")
@response_schema(ShowtimeSchema, 200, description="The showtime")
@error_responses(404)
async def get_showtime(request: web.Request) -> web.Response:
    return json_response(await showtimes.get_showtime(request.app[POOL], path_uuid(request)))


@routes.put("/api/v1/showtimes/{id}")
@docs(
    tags=["showtimes"],
    summary="Move a showtime or change its price",
    description="A new `start_time` moves `end_time` with it: same overlap rule as creation, "
    "422 in the past, 409 `showtime_has_reservations` if it has confirmed reservations. The "
    "price can always change; booked seats keep the price they were booked at.",
)
@admin_only
@uuid_path("The showtime")
@request_schema(ShowtimeUpdateRequest)
@response_schema(ShowtimeSchema, 200, description="The showtime as it is now")
@error_responses(400, 401, 403, 404, 409, 413, 415, 422)
async def update_showtime(request: web.Request) -> web.Response:
    data = request["data"]
    showtime = await showtimes.update_showtime(
        request.app[POOL],
        request.app[SETTINGS],
        path_uuid(request),
        start_time=data.get("start_time"),
        price=data.get("price"),
    )
    request.app[SEAT_MAPS].showtime_changed(path_uuid(request))
    return json_response(showtime)


@routes.delete("/api/v1/showtimes/{id}")
@docs(
    tags=["showtimes"],
    summary="Cancel a showtime",
    description="Its confirmed reservations become `cancelled` with reason "
    "`showtime_cancelled` (never deleted), its holds are released and live seat maps are told. "
    "A showtime that has started (or ended) cannot be cancelled: 409 `showtime_started`.",
    responses=NO_CONTENT,
)
@admin_only
@uuid_path("The showtime")
@error_responses(401, 403, 404, 409)
async def cancel_showtime(request: web.Request) -> web.Response:
    try:
        await showtimes.cancel_showtime(request.app[POOL], path_uuid(request))
    finally:
        request.app[SEAT_MAPS].showtime_changed(path_uuid(request))
    return no_content()


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
