"""Every answer has the shape its documentation gives.

A resource's answer is made by one view function (`reservation_view`, `showtime_view`, ...) and
documented by one marshmallow schema (`ReservationSchema`, `ShowtimeSchema`, ...) that the API
docs are generated from. This test holds the two together: it drives the API through a whole
booking, records every successful JSON answer with the handler that made it, and loads each with
the schema that handler documents for that status, strictly: a field the view adds and the
schema does not know, a required field the view forgets, or a value of another type or outside
the documented enum fails, naming the route.
"""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import brotli
import orjson
import pytest
from aiohttp import web
from marshmallow import RAISE, Schema, ValidationError, fields

API = "/api/v1"


@dataclass
class Answer:
    route: str
    status: int
    body: Any
    schema: Schema | None


def _documented_schema(handler: Any, status: int) -> Schema | None:
    responses = getattr(handler, "__apispec__", {}).get("responses", {})
    documented = responses.get(str(status)) or responses.get(status) or {}
    schema = documented.get("schema")
    if isinstance(schema, type):
        schema = schema()
    return schema


@pytest.fixture
def answers() -> list[Answer]:
    return []


@pytest.fixture
async def recording_client(
    app: web.Application, aiohttp_client: Callable[..., Awaitable[Any]], answers: list[Answer]
) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if (
            200 <= response.status < 300
            and isinstance(response, web.Response)
            and response.content_type == "application/json"
            and response.body
        ):
            route = request.match_info.route
            answers.append(
                Answer(
                    f"{request.method} {route.resource.canonical if route.resource else ''}",
                    response.status,
                    orjson.loads(_decoded(response)),
                    _documented_schema(route.handler, response.status),
                )
            )
        return response

    app.middlewares.append(record)  # innermost: it sees the handler's own answer
    return await aiohttp_client(app)


def _decoded(response: web.Response) -> bytes:
    """The answer's JSON bytes, whatever Content-Encoding the test client's Accept-Encoding got."""
    body = bytes(response.body)  # type: ignore[arg-type]
    coding = response.headers.get("Content-Encoding")
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "br":
        return bytes(brotli.decompress(body))
    return body


def _strict(schema: Schema) -> Schema:
    """The same schema refusing unknown fields (nested ones refuse them too: marshmallow's
    default, which no response schema changes)."""
    return type(schema)(unknown=RAISE)


def _problems(answers: list[Answer]) -> list[str]:
    problems = []
    for answer in answers:
        if answer.schema is None:
            problems.append(f"{answer.route} {answer.status}: no schema documents this answer")
            continue
        try:
            _strict(answer.schema).load(answer.body)
        except ValidationError as error:
            problems.append(f"{answer.route} {answer.status}: {error.messages}")
    return problems


async def _ok(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_every_answer_of_a_booking_is_what_its_schema_documents(
    recording_client: Any, admin: Any, user: Any, answers: list[Answer]
) -> None:
    client = recording_client
    as_admin, as_user = admin.headers, user.headers
    theater = await _ok(
        await client.post(
            f"{API}/theaters",
            json={
                "name": f"Hall {uuid.uuid4().hex[:6]}",
                "rows": [{"label": "A", "seats": 4}, {"label": "B", "seats": 4}],
            },
            headers=as_admin,
        ),
        201,
    )
    movie = await _ok(
        await client.post(
            f"{API}/movies",
            json={"title": "Views", "genres": ["Drama"], "duration_minutes": 100},
            headers=as_admin,
        ),
        201,
    )
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    showtime = await _ok(
        await client.post(
            f"{API}/showtimes",
            json={
                "movie_id": movie["id"],
                "theater_id": theater["id"],
                "start_time": start.isoformat(),
                "price": "10.00",
            },
            headers=as_admin,
        ),
        201,
    )
    showtime_url = f"{API}/showtimes/{showtime['id']}"
    await _ok(await client.get(f"{API}/movies"))
    await _ok(await client.get(f"{API}/movies/{movie['id']}"))
    await _ok(await client.get(f"{API}/movies/{movie['id']}/showtimes"))
    await _ok(await client.get(f"{API}/theaters"))
    await _ok(await client.get(f"{API}/theaters/{theater['id']}"))
    await _ok(await client.get(f"{API}/showtimes"))
    await _ok(await client.get(showtime_url))
    await _ok(await client.get(f"{API}/genres"))
    await _ok(await client.get(f"{API}/seat-types"))

    seat_map = await _ok(await client.get(f"{showtime_url}/seats"))
    seat_ids = [seat["id"] for seat in seat_map["seats"][:2]]
    await _ok(
        await client.post(
            f"{showtime_url}/lock-seats", json={"seat_ids": seat_ids}, headers=as_user
        ),
        201,
    )
    await _ok(await client.get(f"{showtime_url}/seats", headers=as_user))
    await _ok(await client.get(f"{showtime_url}/seats"))  # anonymous, a seat now held
    await _ok(
        await client.get(
            f"{showtime_url}/stranded-seats",
            params=[("seat_ids", seat_map["seats"][3]["id"])],
            headers=as_user,
        )
    )
    await _ok(
        await client.post(f"{showtime_url}/best-available", json={"count": 1}, headers=as_user),
        201,
    )
    held = [
        seat["id"]
        for seat in (await _ok(await client.get(f"{showtime_url}/seats", headers=as_user)))["seats"]
        if seat.get("held_by_me")
    ]
    reservation = await _ok(
        await client.post(
            f"{API}/reservations",
            json={"showtime_id": showtime["id"], "seat_ids": held},
            headers=as_user,
        ),
        201,
    )
    await _ok(await client.get(f"{API}/reservations", headers=as_user))
    await _ok(await client.get(f"{API}/reservations/{reservation['id']}", headers=as_user))
    await _ok(await client.get(f"{API}/auth/me", headers=as_user))
    await _ok(
        await client.post(
            f"{API}/ws-tickets", json={"showtime_id": showtime["id"]}, headers=as_user
        )
    )
    for report in ("capacity", "popular-movies"):
        await _ok(await client.get(f"{API}/admin/reports/{report}", headers=as_admin))
    for group_by in ("day", "movie", "theater"):
        await _ok(
            await client.get(
                f"{API}/admin/reports/revenue", params={"group_by": group_by}, headers=as_admin
            )
        )
    await _ok(await client.delete(f"{API}/reservations/{reservation['id']}", headers=as_user))
    await _ok(await client.put(showtime_url, json={"price": "12.00"}, headers=as_admin))

    routes = {answer.route for answer in answers}
    for made_by_a_view in (
        "GET /api/v1/reservations/{id}",  # reservation_view
        "GET /api/v1/reservations",
        "GET /api/v1/showtimes/{id}",  # showtime_view
        "GET /api/v1/movies/{id}",  # movie_view
        "GET /api/v1/theaters/{id}",  # theater_view
        "GET /api/v1/showtimes/{id}/seats",  # seat_map_view
        "POST /api/v1/showtimes/{id}/lock-seats",  # hold_view
        "GET /api/v1/auth/me",  # user_view
        "POST /api/v1/ws-tickets",
        "GET /api/v1/admin/reports/revenue",  # the reports' row views
    ):
        assert made_by_a_view in routes
    problems = _problems(answers)
    assert not problems, "answers their schemas do not describe:\n" + "\n".join(problems)


def test_the_check_sees_a_field_the_schema_does_not_document() -> None:
    class Documented(Schema):
        id = fields.UUID(required=True)

    answer = Answer("GET /thing", 200, {"id": str(uuid.uuid4()), "extra": 1}, Documented())
    assert _problems([answer]) == ["GET /thing 200: {'extra': ['Unknown field.']}"]
    missing = Answer("GET /thing", 200, {}, Documented())
    assert _problems([missing]) == ["GET /thing 200: {'id': ['Missing data for required field.']}"]
