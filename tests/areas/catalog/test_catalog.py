"""Catalog: genres, movies, theaters and their layouts, showtimes, and how listings scale."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from reservations.booking.changes import CHANNEL, decode_notification
from reservations.catalog import movies, showtimes, theaters
from reservations.db import QUERIES
from reservations.settings import Settings
from tests.api import (
    API,
    SMALL_HALL,
    book,
    create_movie,
    create_showtime,
    create_theater,
    error_of,
    in_future,
    iso,
    post_showtime,
)
from tests.factories import book_directly, create_hall, hold_directly, insert_showtime

# ---- arranging ----------------------------------------------------------------------------


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


async def insert_past_showtime(db, movie, theater, hours_ago=5, duration=100) -> uuid.UUID:
    """A showtime that has ended: the API refuses to create one in the past."""
    start = await db.fetchval("SELECT now()") - dt.timedelta(hours=hours_ago)
    end = start + dt.timedelta(minutes=duration)
    return await insert_showtime(db, movie["id"], theater["id"], start, end)


# ---- genres and movies --------------------------------------------------------------------


async def test_genres_named_for_the_first_time_are_created_once_whatever_the_case(client, admin):
    first = await create_movie(client, admin, genres=["Drama", "Sci-Fi", "drama"])
    assert first["genres"] == ["Drama", "Sci-Fi"]
    second = await create_movie(client, admin, genres=["DRAMA", " comedy "])
    assert second["genres"] == ["comedy", "Drama"]

    response = await client.get(f"{API}/genres")
    assert response.status == 200
    genres = (await response.json())["genres"]
    assert [genre["name"] for genre in genres] == ["comedy", "Drama", "Sci-Fi"]
    assert all(uuid.UUID(genre["id"]) for genre in genres)


async def test_movie_is_created_read_and_has_the_contract_shape(client, admin):
    movie = await create_movie(
        client,
        admin,
        title="  Arrival ",
        description="Linguists and heptapods.",
        genres=["Sci-Fi", "Drama"],
        duration_minutes=116,
        release_date="2016-11-11",
    )
    assert set(movie) == {
        "id",
        "title",
        "description",
        "genres",
        "duration_minutes",
        "release_date",
        "poster_url",
        "created_at",
        "updated_at",
    }
    assert movie["title"] == "Arrival"
    assert movie["release_date"] == "2016-11-11"
    assert movie["poster_url"] is None
    assert movie["created_at"].endswith("+00:00")

    response = await client.get(f"{API}/movies/{movie['id']}")
    assert response.status == 200
    assert await response.json() == movie


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({"title": 12}, "title"),
        ({"duration_minutes": -5}, "duration_minutes"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": 1441}, "duration_minutes"),
        ({"duration_minutes": "120"}, "duration_minutes"),
        ({"duration_minutes": 90.5}, "duration_minutes"),
        ({"duration_minutes": None}, "duration_minutes"),
        ({"genres": "Drama"}, "genres"),
        ({"genres": [""]}, "genres"),
        ({"genres": ["  "]}, "genres"),
        ({"genres": [7]}, "genres"),
        ({"release_date": "yesterday"}, "release_date"),
        ({"description": "x" * 5001}, "description"),
    ],
)
async def test_bad_movie_bodies_are_422(client, admin, change, field):
    body = {"title": "Heat", "genres": ["Crime"], "duration_minutes": 170, **change}
    response = await client.post(f"{API}/movies", json=body, headers=admin.headers)
    assert response.status == 422
    error = await error_of(response)
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]


@pytest.mark.parametrize("missing", ["title", "genres", "duration_minutes"])
async def test_required_movie_fields(client, admin, missing):
    body = {"title": "Heat", "genres": ["Crime"], "duration_minutes": 170}
    del body[missing]
    response = await client.post(f"{API}/movies", json=body, headers=admin.headers)
    assert response.status == 422
    assert missing in (await error_of(response))["details"]["fields"]


async def test_catalog_writes_need_an_admin(client, user):
    body = {"title": "Heat", "genres": [], "duration_minutes": 170}
    assert (await client.post(f"{API}/movies", json=body)).status == 401
    assert (await client.post(f"{API}/movies", json=body, headers=user.headers)).status == 403
    theater = {"name": "X", "rows": SMALL_HALL}
    assert (await client.post(f"{API}/theaters", json=theater, headers=user.headers)).status == 403


async def test_unknown_ids_are_404(client, admin):
    unknown = uuid.uuid4()
    for method, path in [
        ("GET", f"{API}/movies/{unknown}"),
        ("GET", f"{API}/movies/not-a-uuid"),
        ("PUT", f"{API}/movies/{unknown}"),
        ("DELETE", f"{API}/movies/{unknown}"),
        ("GET", f"{API}/movies/{unknown}/showtimes"),
        ("GET", f"{API}/theaters/{unknown}"),
        ("GET", f"{API}/theaters/42"),
        ("GET", f"{API}/showtimes/{unknown}"),
        ("PUT", f"{API}/showtimes/{unknown}"),
        ("DELETE", f"{API}/showtimes/{unknown}"),
    ]:
        kwargs = {"json": {"title": "x"}} if method == "PUT" else {}
        response = await client.request(method, path, headers=admin.headers, **kwargs)
        assert response.status == 404, (method, path)
        assert (await error_of(response))["code"].endswith("not_found")


async def test_put_movie_replaces_only_the_fields_present(client, admin):
    movie = await create_movie(
        client,
        admin,
        title="Alien",
        description="In space.",
        genres=["Horror"],
        duration_minutes=117,
        release_date="1979-05-25",
    )
    path = f"{API}/movies/{movie['id']}"
    response = await client.put(
        path, json={"title": "Aliens", "id": str(uuid.uuid4())}, headers=admin.headers
    )
    assert response.status == 200
    changed = await response.json()
    assert changed["id"] == movie["id"]
    assert changed["title"] == "Aliens"
    assert changed["description"] == "In space."
    assert changed["genres"] == ["Horror"]
    assert changed["release_date"] == "1979-05-25"
    assert changed["updated_at"] > movie["updated_at"]

    response = await client.put(
        path,
        json={"genres": ["Action", "horror"], "release_date": None, "description": None},
        headers=admin.headers,
    )
    changed = await response.json()
    assert changed["genres"] == ["Action", "Horror"]
    assert changed["release_date"] is None
    assert changed["description"] == ""
    assert changed["title"] == "Aliens"

    bad = await client.put(path, json={"duration_minutes": -1}, headers=admin.headers)
    assert bad.status == 422


async def test_new_duration_moves_the_end_of_showtimes_not_started(client, admin, db):
    movie = await create_movie(client, admin, duration_minutes=100)
    theater = await create_theater(client, admin)
    start = in_future(days=2)
    showtime = await create_showtime(client, admin, movie, theater, start)
    ended = await insert_past_showtime(db, movie, theater)

    response = await client.put(
        f"{API}/movies/{movie['id']}", json={"duration_minutes": 130}, headers=admin.headers
    )
    assert response.status == 200
    moved = await (await client.get(f"{API}/showtimes/{showtime['id']}")).json()
    assert parse(moved["end_time"]) == start + dt.timedelta(minutes=130)
    past = await db.fetchrow("SELECT start_time, end_time FROM showtimes WHERE id = $1", ended)
    assert past["end_time"] - past["start_time"] == dt.timedelta(minutes=100)

    # Longer still would run into the next showtime of the theater: refused, nothing changes.
    await create_showtime(client, admin, movie, theater, start + dt.timedelta(hours=3))
    response = await client.put(
        f"{API}/movies/{movie['id']}", json={"duration_minutes": 200}, headers=admin.headers
    )
    assert response.status == 409
    assert (await error_of(response))["code"] == "showtime_overlap"
    again = await (await client.get(f"{API}/movies/{movie['id']}")).json()
    assert again["duration_minutes"] == 130


async def test_movie_filters_genre_title_and_pagination(client, admin):
    await create_movie(client, admin, title="The Thing", genres=["Horror", "Sci-Fi"])
    await create_movie(client, admin, title="Thing Two", genres=["Comedy"])
    await create_movie(client, admin, title="Alien", genres=["horror"])

    async def titles(query: str) -> list[str]:
        response = await client.get(f"{API}/movies?{query}")
        assert response.status == 200
        return [movie["title"] for movie in (await response.json())["movies"]]

    assert await titles("") == ["Alien", "The Thing", "Thing Two"]
    assert await titles("genre=HORROR") == ["Alien", "The Thing"]
    assert await titles("genre=sci-fi") == ["The Thing"]
    assert await titles("genre=Western") == []
    assert await titles("q=thing") == ["The Thing", "Thing Two"]
    assert await titles("q=THING&genre=comedy") == ["Thing Two"]
    assert await titles("q=%25") == []  # no wildcard: a literal percent sign

    response = await client.get(f"{API}/movies?page=2&page_size=2")
    body = await response.json()
    assert [movie["title"] for movie in body["movies"]] == ["Thing Two"]
    assert (body["total"], body["page"], body["page_size"]) == (3, 2, 2)

    past_the_end = await (await client.get(f"{API}/movies?page=5&page_size=2")).json()
    assert past_the_end["movies"] == [] and past_the_end["total"] == 3


@pytest.mark.parametrize(
    "query",
    [
        "page_size=101",
        "page_size=0",
        "page=0",
        "page=x",
        "date=2026-13-01",
        "date=soon",
        "date=9999-12-31",
    ],
)
async def test_bad_list_parameters_are_422(client, query):
    for path in (f"{API}/movies", f"{API}/showtimes", f"{API}/theaters"):
        if "date" in query and path.endswith("theaters"):
            continue
        response = await client.get(f"{path}?{query}")
        assert response.status == 422, (path, query)
        assert (await error_of(response))["details"]["location"] == "query"


async def test_page_size_100_is_allowed(client):
    for path in (f"{API}/movies", f"{API}/showtimes", f"{API}/theaters"):
        response = await client.get(f"{path}?page_size=100")
        assert response.status == 200
        assert (await response.json())["page_size"] == 100


async def test_date_filters_use_the_cinema_time_zone(
    aiohttp_client, make_settings, database, admin
):
    from reservations.app import create_app

    new_york = ZoneInfo("America/New_York")
    client = await aiohttp_client(create_app(make_settings(cinema_tz=new_york), database))
    movie = await create_movie(client, admin, title="Late Show")
    other = await create_movie(client, admin, title="Matinee")
    theater = await create_theater(client, admin)
    day = (dt.datetime.now(new_york) + dt.timedelta(days=3)).date()
    late = dt.datetime.combine(day, dt.time(23, 30), tzinfo=new_york)  # the next day in UTC
    showtime = await create_showtime(client, admin, movie, theater, late)
    assert parse(showtime["start_time"]).date() == day + dt.timedelta(days=1)
    assert showtime["start_time"].endswith("+00:00")
    await create_showtime(
        client, admin, other, theater, dt.datetime.combine(day, dt.time(14, 0), tzinfo=new_york)
    )

    async def listed(path: str, key: str, date: dt.date) -> list[str]:
        response = await client.get(f"{API}/{path}?date={date.isoformat()}")
        assert response.status == 200
        return sorted(item.get("title") or item["id"] for item in (await response.json())[key])

    assert await listed("movies", "movies", day) == ["Late Show", "Matinee"]
    assert await listed("movies", "movies", day + dt.timedelta(days=1)) == []
    assert showtime["id"] in await listed("showtimes", "showtimes", day)
    assert await listed("showtimes", "showtimes", day + dt.timedelta(days=1)) == []
    on_day = await client.get(f"{API}/movies/{movie['id']}/showtimes?date={day.isoformat()}")
    assert [item["id"] for item in (await on_day.json())["showtimes"]] == [showtime["id"]]


def test_local_day_bounds_follow_daylight_saving():
    new_york = ZoneInfo("America/New_York")
    start, end = showtimes.local_day_bounds(dt.date(2030, 3, 10), new_york)  # spring forward
    assert end - start == dt.timedelta(hours=23)
    assert start == dt.datetime(2030, 3, 10, 5, tzinfo=dt.UTC)
    start, end = showtimes.local_day_bounds(dt.date(2030, 11, 3), new_york)  # fall back
    assert end - start == dt.timedelta(hours=25)


async def test_deleting_a_movie_cancels_its_upcoming_showtimes(client, admin, user, db):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    upcoming = await create_showtime(client, admin, movie, theater, in_future(days=1))
    past = await insert_past_showtime(db, movie, theater)
    past_booking = await book_directly(
        db, user.id, past, [theater["seats"][0]["id"], theater["seats"][1]["id"]]
    )
    await hold_directly(db, user.id, upcoming["id"], [theater["seats"][2]["id"]])

    response = await client.delete(f"{API}/movies/{movie['id']}", headers=admin.headers)
    assert response.status == 204
    assert (await client.get(f"{API}/movies/{movie['id']}")).status == 404
    assert (await client.delete(f"{API}/movies/{movie['id']}", headers=admin.headers)).status == 404
    listed = await (await client.get(f"{API}/movies")).json()
    assert listed["total"] == 0
    cancelled = await (await client.get(f"{API}/showtimes/{upcoming['id']}")).json()
    assert cancelled["cancelled_at"] is not None
    assert await db.fetchval("SELECT count(*) FROM holds") == 0
    # The record of the past reservation is untouched and still joins to its movie.
    record = await db.fetchrow(
        "SELECT r.status, m.title FROM reservations r JOIN showtimes s ON s.id = r.showtime_id"
        " JOIN movies m ON m.id = s.movie_id WHERE r.id = $1",
        past_booking,
    )
    assert record["status"] == "confirmed" and record["title"] == movie["title"]
    assert await db.fetchval("SELECT cancelled_at FROM showtimes WHERE id = $1", past) is None


async def test_a_movie_with_upcoming_confirmed_reservations_cannot_be_deleted(
    client, admin, user, db
):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    showtime = await create_showtime(client, admin, movie, theater, in_future(days=1))
    await book_directly(db, user.id, showtime["id"], [theater["seats"][0]["id"]])

    response = await client.delete(f"{API}/movies/{movie['id']}", headers=admin.headers)
    assert response.status == 409
    error = await error_of(response)
    assert error["code"] == "movie_has_reservations"
    assert error["details"]["confirmed_reservations"] == 1
    assert (await client.get(f"{API}/movies/{movie['id']}")).status == 200
    still = await (await client.get(f"{API}/showtimes/{showtime['id']}")).json()
    assert still["cancelled_at"] is None


# ---- theaters -----------------------------------------------------------------------------


async def test_theater_layout_with_aisles_and_seat_types(client, admin):
    theater = await create_theater(
        client,
        admin,
        name="Main Hall",
        rows=[
            {"label": "A", "seats": 6, "aisles_after": [2, 4], "seat_types": {"1": "accessible"}},
            {"label": "B", "seats": 5, "seat_type": "vip", "aisles_after": [3]},
            {"label": "C", "seats": 3, "seat_type": "premium", "unknown": "ignored"},
        ],
    )
    assert theater["name"] == "Main Hall"
    assert theater["total_seats"] == 14
    assert theater["columns"] == 8
    assert theater["rows"] == [
        {"label": "A", "seats": 6, "aisles_after": [2, 4]},
        {"label": "B", "seats": 5, "aisles_after": [3]},
        {"label": "C", "seats": 3, "aisles_after": []},
    ]
    seats = {seat["seat_label"]: seat for seat in theater["seats"]}
    assert len(seats) == 14
    assert set(seats["A1"]) == {
        "id",
        "row_label",
        "seat_number",
        "seat_label",
        "seat_type",
        "row_index",
        "column_index",
    }
    assert [seats[f"A{n}"]["column_index"] for n in range(1, 7)] == [0, 1, 3, 4, 6, 7]
    assert [seats[f"B{n}"]["column_index"] for n in range(1, 6)] == [0, 1, 2, 4, 5]
    assert [seats[f"C{n}"]["row_index"] for n in range(1, 4)] == [2, 2, 2]
    assert seats["A1"]["seat_type"] == "accessible"
    assert seats["A2"]["seat_type"] == "regular"
    assert seats["B4"]["seat_type"] == "vip"
    assert seats["C3"]["seat_type"] == "premium"
    assert (seats["B4"]["row_label"], seats["B4"]["seat_number"]) == ("B", 4)

    fetched = await (await client.get(f"{API}/theaters/{theater['id']}")).json()
    assert fetched == theater


async def test_seat_ids_are_the_theaters_bits_and_the_position(client, admin):
    """Seat ids are UUIDv8: the theater's first 80 bits, then row << 24 | column. Unique in
    the theater and across theaters, and a map of them compresses (sql/code/09_catalog.sql)."""
    rows = [{"label": "A", "seats": 3, "aisles_after": [1]}, {"label": "B", "seats": 2}]
    made = [await create_theater(client, admin, name=name, rows=rows) for name in ("One", "Two")]
    every_id = []
    for theater in made:
        prefix = uuid.UUID(theater["id"]).hex[:12]
        for seat in theater["seats"]:
            seat_id = uuid.UUID(seat["id"])
            assert seat_id.version == 8 and seat_id.variant == uuid.RFC_4122
            assert seat_id.hex[:12] == prefix
            assert seat_id.int & (2**48 - 1) == seat["row_index"] << 24 | seat["column_index"]
            every_id.append(seat_id)
    assert len(set(every_id)) == len(every_id) == 10


def test_seat_plan_counts_aisles_before_each_seat():
    plan = theaters.plan_seats(
        [{"label": "A", "seats": 4, "aisles_after": [1, 3], "seat_types": {4: "vip"}}]
    )
    assert [(seat.seat_number, seat.column_index, seat.seat_type) for seat in plan] == [
        (1, 0, "regular"),
        (2, 2, "regular"),
        (3, 3, "regular"),
        (4, 5, "vip"),
    ]


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([], "no rows"),
        ([{"label": "A", "seats": 4}, {"label": "a", "seats": 4}], "labels repeat (any case)"),
        ([{"label": "", "seats": 4}], "empty label"),
        ([{"label": "ABCDEF", "seats": 4}], "label too long"),
        ([{"label": "A B", "seats": 4}], "label with a space"),
        ([{"label": "A", "seats": 0}], "no seats"),
        ([{"label": "A", "seats": -3}], "negative seats"),
        ([{"label": "A", "seats": 101}], "too many seats"),
        ([{"label": "A", "seats": "10"}], "seats as a string"),
        ([{"label": f"R{i}", "seats": 1} for i in range(51)], "too many rows"),
        ([{"label": "A", "seats": 4, "aisles_after": [0]}], "aisle before the first seat"),
        ([{"label": "A", "seats": 4, "aisles_after": [4]}], "aisle after the last seat"),
        ([{"label": "A", "seats": 4, "aisles_after": [2, 2]}], "aisle twice"),
        ([{"label": "A", "seats": 4, "seat_type": "gold"}], "unknown seat type"),
        ([{"label": "A", "seats": 4, "seat_types": {"5": "vip"}}], "seat type of no seat"),
        ([{"label": "A", "seats": 4, "seat_types": {"x": "vip"}}], "seat type key not a number"),
        ([{"label": "A", "seats": 4, "seat_types": {"2": "sofa"}}], "unknown single seat type"),
        ("A", "rows not a list"),
    ],
)
async def test_bad_theater_layouts_are_422(client, admin, rows, why):
    response = await client.post(
        f"{API}/theaters", json={"name": "Hall", "rows": rows}, headers=admin.headers
    )
    assert response.status == 422, why
    assert "rows" in (await error_of(response))["details"]["fields"]


@pytest.mark.parametrize("name", ["", "   ", None, "x" * 101])
async def test_bad_theater_names_are_422(client, admin, name):
    response = await client.post(
        f"{API}/theaters", json={"name": name, "rows": SMALL_HALL}, headers=admin.headers
    )
    assert response.status == 422
    assert "name" in (await error_of(response))["details"]["fields"]


async def test_theater_names_are_unique_in_any_case(client, admin, db):
    await create_theater(client, admin, name="Studio")
    response = await client.post(
        f"{API}/theaters", json={"name": "STUDIO", "rows": SMALL_HALL}, headers=admin.headers
    )
    assert response.status == 409
    assert (await error_of(response))["code"] == "theater_name_taken"
    assert await db.fetchval("SELECT count(*) FROM seats") == 8


async def test_theater_list_is_paginated_and_leaves_seats_out(client, admin):
    for name in ("Cinema 3", "Cinema 1", "Cinema 2"):
        await create_theater(client, admin, name=name)
    body = await (await client.get(f"{API}/theaters?page_size=2")).json()
    assert body["total"] == 3
    assert [theater["name"] for theater in body["theaters"]] == ["Cinema 1", "Cinema 2"]
    assert "seats" not in body["theaters"][0]
    assert body["theaters"][0]["total_seats"] == 8
    assert body["theaters"][0]["rows"][0] == {"label": "A", "seats": 4, "aisles_after": []}
    last = await (await client.get(f"{API}/theaters?page=2&page_size=2")).json()
    assert [theater["name"] for theater in last["theaters"]] == ["Cinema 3"]


async def test_seat_types_give_price_multipliers(client):
    response = await client.get(f"{API}/seat-types")
    assert response.status == 200
    assert (await response.json())["seat_types"] == [
        {"name": "regular", "price_multiplier": "1.00", "surcharge": "0.00"},
        {"name": "premium", "price_multiplier": "1.25", "surcharge": "0.00"},
        {"name": "vip", "price_multiplier": "1.50", "surcharge": "0.00"},
        {"name": "accessible", "price_multiplier": "1.00", "surcharge": "0.00"},
    ]


# ---- showtimes ----------------------------------------------------------------------------


async def test_showtime_end_follows_the_movie_and_times_come_back_in_utc(client, admin):
    movie = await create_movie(client, admin, title="Heat", duration_minutes=170)
    theater = await create_theater(client, admin)
    start = in_future(days=2)
    paris_offset = dt.timezone(dt.timedelta(hours=2))
    response = await post_showtime(
        client, admin, movie, theater, start.astimezone(paris_offset).isoformat(), price="12.5"
    )
    assert response.status == 201
    showtime = await response.json()
    assert set(showtime) == {
        "id",
        "movie_id",
        "theater_id",
        "start_time",
        "end_time",
        "price",
        "available_seats",
        "total_seats",
        "movie",
        "theater",
        "cancelled_at",
    }
    assert showtime["start_time"] == start.isoformat()
    assert showtime["start_time"].endswith("+00:00")
    assert parse(showtime["end_time"]) == start + dt.timedelta(minutes=170)
    assert showtime["price"] == "12.50"
    assert showtime["available_seats"] == showtime["total_seats"] == 8
    assert showtime["movie"] == {"id": movie["id"], "title": "Heat"}
    assert showtime["theater"] == {"id": theater["id"], "name": theater["name"]}
    assert showtime["cancelled_at"] is None
    fetched = await (await client.get(f"{API}/showtimes/{showtime['id']}")).json()
    assert fetched == showtime


async def test_the_cleaning_buffer_keeps_showtimes_apart(client, admin, make_settings):
    assert make_settings().cleaning_buffer_minutes == 15
    movie = await create_movie(client, admin, duration_minutes=100)
    theater = await create_theater(client, admin)
    other_theater = await create_theater(client, admin)
    first = await create_showtime(client, admin, movie, theater, in_future(days=1))
    end = parse(first["end_time"])

    during_cleaning = await post_showtime(
        client, admin, movie, theater, end + dt.timedelta(minutes=10)
    )
    assert during_cleaning.status == 409
    error = await error_of(during_cleaning)
    assert error["code"] == "showtime_overlap"
    assert error["details"]["conflicting_showtime_id"] == first["id"]

    before = await post_showtime(
        client, admin, movie, theater, parse(first["start_time"]) - dt.timedelta(minutes=110)
    )
    assert before.status == 409  # would still be cleaning when the first starts

    assert (
        await post_showtime(client, admin, movie, other_theater, first["start_time"])
    ).status == 201
    after_cleaning = await post_showtime(
        client, admin, movie, theater, end + dt.timedelta(minutes=15)
    )
    assert after_cleaning.status == 201


async def test_two_concurrent_overlapping_creations_exactly_one_wins(client, admin, db):
    movie = await create_movie(client, admin, duration_minutes=120)
    theater = await create_theater(client, admin)
    start = in_future(days=3)
    for attempt in range(3):
        starts = [
            start + dt.timedelta(days=attempt),
            start + dt.timedelta(days=attempt, minutes=30),
        ]
        responses = await asyncio.gather(
            *(post_showtime(client, admin, movie, theater, moment) for moment in starts)
        )
        assert sorted(response.status for response in responses) == [201, 409]
        loser = next(response for response in responses if response.status == 409)
        assert (await error_of(loser))["code"] == "showtime_overlap"
    assert await db.fetchval("SELECT count(*) FROM showtimes") == 3


async def test_many_concurrent_creations_of_one_slot_leave_one_showtime(client, admin, db):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    start = in_future(days=2)
    responses = await asyncio.gather(
        *(
            post_showtime(client, admin, movie, theater, start + dt.timedelta(minutes=5 * i))
            for i in range(8)
        )
    )
    assert sorted(response.status for response in responses) == [201] + [409] * 7
    assert await db.fetchval("SELECT count(*) FROM showtimes") == 1


@pytest.mark.parametrize(
    ("change", "status", "field_or_code"),
    [
        ({"start_time": "2020-01-01T10:00:00+00:00"}, 422, "start_in_past"),
        ({"start_time": "2999-01-01T10:00:00"}, 422, "start_time"),  # no offset
        ({"start_time": "2999-01-01"}, 422, "start_time"),
        ({"start_time": 1893456000}, 422, "start_time"),
        ({"price": "-1.00"}, 422, "price"),
        ({"price": -1}, 422, "price"),
        ({"price": "12.345"}, 422, "price"),
        ({"price": "ten"}, 422, "price"),
        ({"price": True}, 422, "price"),
        ({"price": None}, 422, "price"),
        ({"price": "NaN"}, 422, "price"),
        ({"price": "100000000.00"}, 422, "price"),
        ({"price": "1e400"}, 422, "price"),
        # Money is a decimal string: Swagger 2.0 could not document "or a JSON number".
        ({"price": 7}, 422, "price"),
        ({"price": 12.5}, 422, "price"),
        ({"price": " 12.50"}, 422, "price"),
        ({"price": "+5"}, 422, "price"),
        ({"price": "12."}, 422, "price"),
        ({"start_time": "9999-12-31T23:59:00+00:00"}, 422, "start_time"),
        # Found by schemathesis: moving these to UTC overflowed (a 500).
        ({"start_time": "0001-01-01T00:00:00+05:00"}, 422, "start_time"),
        ({"start_time": "9999-12-31T23:00:00-05:00"}, 422, "start_time"),
        ({"movie_id": "not-a-uuid"}, 422, "movie_id"),
        ({"theater_id": 5}, 422, "theater_id"),
        ({"movie_id": str(uuid.uuid4())}, 404, "movie_not_found"),
        ({"theater_id": str(uuid.uuid4())}, 404, "theater_not_found"),
    ],
)
async def test_bad_showtime_bodies(client, admin, db, change, status, field_or_code):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    body = {
        "movie_id": movie["id"],
        "theater_id": theater["id"],
        "start_time": iso(in_future(days=1)),
        "price": "10.00",
        **change,
    }
    response = await client.post(f"{API}/showtimes", json=body, headers=admin.headers)
    assert response.status == status
    error = await error_of(response)
    if error["code"] == "validation_error":
        assert field_or_code in error["details"]["fields"]
    else:
        assert error["code"] == field_or_code
    assert await db.fetchval("SELECT count(*) FROM showtimes") == 0


@pytest.mark.parametrize(
    ("price", "shown"), [("0.01", "0.01"), ("7", "7.00"), ("9.9", "9.90"), ("12.500", "12.50")]
)
async def test_prices_are_decimal_strings_with_two_places(client, admin, price, shown):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    showtime = await create_showtime(client, admin, movie, theater, in_future(days=1), price=price)
    assert showtime["price"] == shown


async def test_a_deleted_movie_gets_no_showtime(client, admin):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    assert (await client.delete(f"{API}/movies/{movie['id']}", headers=admin.headers)).status == 204
    response = await post_showtime(client, admin, movie, theater, in_future(days=1))
    assert response.status == 404
    assert (await error_of(response))["code"] == "movie_not_found"


async def test_showtime_filters_and_order(client, admin, db):
    drama = await create_movie(client, admin, title="Drama One", genres=["Drama"])
    comedy = await create_movie(client, admin, title="Comedy One", genres=["Comedy", "Family"])
    hall = await create_theater(client, admin)
    studio = await create_theater(client, admin)
    later = await create_showtime(client, admin, drama, hall, in_future(days=3))
    sooner = await create_showtime(client, admin, comedy, hall, in_future(days=1))
    elsewhere = await create_showtime(client, admin, drama, studio, in_future(days=1, hours=1))
    cancelled = await create_showtime(client, admin, comedy, studio, in_future(days=4))
    await client.delete(f"{API}/showtimes/{cancelled['id']}", headers=admin.headers)
    ended = await insert_past_showtime(db, drama, hall)

    async def ids(query: str = "") -> list[str]:
        response = await client.get(f"{API}/showtimes?{query}")
        assert response.status == 200, await response.text()
        return [showtime["id"] for showtime in (await response.json())["showtimes"]]

    assert await ids() == [sooner["id"], elsewhere["id"], later["id"]]
    assert await ids(f"movie_id={drama['id']}") == [elsewhere["id"], later["id"]]
    assert await ids(f"theater_id={hall['id']}") == [sooner["id"], later["id"]]
    assert await ids("genre=fAmIlY") == [sooner["id"]]
    assert await ids(f"genre=drama&theater_id={studio['id']}") == [elsewhere["id"]]
    assert await ids(f"date={parse(later['start_time']).date()}") == [later["id"]]
    assert await ids(f"movie_id={uuid.uuid4()}") == []
    assert await ids("include_past=true") == [
        str(ended),
        sooner["id"],
        elsewhere["id"],
        later["id"],
    ]
    assert (await client.get(f"{API}/showtimes?movie_id=nope")).status == 422

    page = await (await client.get(f"{API}/showtimes?page=2&page_size=2")).json()
    assert [showtime["id"] for showtime in page["showtimes"]] == [later["id"]]
    assert (page["total"], page["page"], page["page_size"]) == (3, 2, 2)

    of_movie = await (await client.get(f"{API}/movies/{drama['id']}/showtimes")).json()
    assert [showtime["id"] for showtime in of_movie["showtimes"]] == [elsewhere["id"], later["id"]]
    assert of_movie["total"] == 2


async def test_available_seats_count_only_live_claims(client, admin, user, db, make_account):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    showtime = await create_showtime(client, admin, movie, theater, in_future(days=1))
    other = await create_showtime(client, admin, movie, theater, in_future(days=2))
    seats = [seat["id"] for seat in theater["seats"]]
    someone = await make_account()
    await book_directly(db, user.id, showtime["id"], seats[:2])
    await hold_directly(db, someone.id, showtime["id"], seats[2:3])
    await hold_directly(
        db, admin.id, showtime["id"], seats[3:5], expires_in=dt.timedelta(seconds=-1)
    )

    fetched = await (await client.get(f"{API}/showtimes/{showtime['id']}")).json()
    assert (fetched["total_seats"], fetched["available_seats"]) == (8, 5)
    listed = await (await client.get(f"{API}/showtimes")).json()
    available = {item["id"]: item["available_seats"] for item in listed["showtimes"]}
    assert available == {showtime["id"]: 5, other["id"]: 8}


async def test_moving_a_showtime(client, admin, user, db):
    movie = await create_movie(client, admin, duration_minutes=90)
    theater = await create_theater(client, admin)
    showtime = await create_showtime(client, admin, movie, theater, in_future(days=1))
    neighbour = await create_showtime(client, admin, movie, theater, in_future(days=2))
    path = f"{API}/showtimes/{showtime['id']}"

    new_start = in_future(days=1, hours=3)
    response = await client.put(path, json={"start_time": iso(new_start)}, headers=admin.headers)
    assert response.status == 200
    moved = await response.json()
    assert parse(moved["start_time"]) == new_start
    assert parse(moved["end_time"]) == new_start + dt.timedelta(minutes=90)
    assert moved["price"] == "10.00"
    busy_until = await db.fetchval(
        "SELECT busy_until FROM showtimes WHERE id = $1", uuid.UUID(showtime["id"])
    )
    assert busy_until == new_start + dt.timedelta(minutes=105)

    onto_neighbour = await client.put(
        path, json={"start_time": neighbour["start_time"]}, headers=admin.headers
    )
    assert onto_neighbour.status == 409
    assert (await error_of(onto_neighbour))["code"] == "showtime_overlap"
    into_past = await client.put(
        path, json={"start_time": "2020-05-01T18:00:00+00:00"}, headers=admin.headers
    )
    assert into_past.status == 422
    assert (await error_of(into_past))["code"] == "start_in_past"
    bad_price = await client.put(path, json={"price": "-3"}, headers=admin.headers)
    assert bad_price.status == 422
    unchanged = await (await client.get(path)).json()
    assert unchanged == moved


async def test_a_showtime_with_confirmed_reservations_cannot_move_but_can_be_repriced(
    client, admin, user, db
):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    showtime = await create_showtime(client, admin, movie, theater, in_future(days=1))
    await book_directly(db, user.id, showtime["id"], [theater["seats"][0]["id"]])
    path = f"{API}/showtimes/{showtime['id']}"

    moved = await client.put(
        path, json={"start_time": iso(in_future(days=3))}, headers=admin.headers
    )
    assert moved.status == 409
    assert (await error_of(moved))["code"] == "showtime_has_reservations"

    same_start = await client.put(
        path, json={"start_time": showtime["start_time"], "price": "15"}, headers=admin.headers
    )
    assert same_start.status == 200
    assert (await same_start.json())["price"] == "15.00"
    assert (await same_start.json())["start_time"] == showtime["start_time"]


async def test_cancelling_a_showtime_cancels_its_reservations_and_frees_its_seats(
    client, admin, user, db, make_account
):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    showtime = await create_showtime(client, admin, movie, theater, in_future(days=1))
    seats = [seat["id"] for seat in theater["seats"]]
    booked = await book_directly(db, user.id, showtime["id"], seats[:2])
    someone = await make_account()
    await hold_directly(db, someone.id, showtime["id"], seats[2:3])
    await hold_directly(
        db, admin.id, showtime["id"], seats[3:4], expires_in=dt.timedelta(seconds=-5)
    )
    version = await db.fetchval(
        "SELECT version FROM showtimes WHERE id = $1", uuid.UUID(showtime["id"])
    )

    notifications: asyncio.Queue = asyncio.Queue()
    await db.add_listener(CHANNEL, lambda *args: notifications.put_nowait(args[-1]))

    response = await client.delete(f"{API}/showtimes/{showtime['id']}", headers=admin.headers)
    assert response.status == 204

    reservation = await db.fetchrow("SELECT * FROM reservations WHERE id = $1", booked)
    assert reservation["status"] == "cancelled"
    assert reservation["cancel_reason"] == "showtime_cancelled"
    assert reservation["cancelled_at"] is not None
    assert reservation["updated_at"] >= reservation["cancelled_at"]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM reservation_seats WHERE reservation_id = $1", booked
        )
        == 2
    )
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 0
    assert await db.fetchval("SELECT count(*) FROM holds") == 0

    showtime_id, new_version, changes = decode_notification(
        await asyncio.wait_for(notifications.get(), timeout=5)
    )
    assert showtime_id == showtime["id"]
    assert new_version == version + 1
    # The seats held or sold become available, in one change (the expired hold's seat, which
    # already was, may be announced with them).
    assert set(seats[:3]) <= {change["id"] for change in changes} <= set(seats[:4])
    assert {change["status"] for change in changes} == {"available"}

    fetched = await (await client.get(f"{API}/showtimes/{showtime['id']}")).json()
    assert fetched["cancelled_at"] is not None
    assert fetched["available_seats"] == 0
    assert (await (await client.get(f"{API}/showtimes")).json())["total"] == 0
    assert (
        await client.delete(f"{API}/showtimes/{showtime['id']}", headers=admin.headers)
    ).status == 404
    assert (
        await client.put(
            f"{API}/showtimes/{showtime['id']}", json={"price": "1"}, headers=admin.headers
        )
    ).status == 404
    # The slot is free again for a new showtime.
    assert (
        await post_showtime(client, admin, movie, theater, showtime["start_time"])
    ).status == 201


# ---- listings scale -----------------------------------------------------------------------


@pytest.fixture
async def counting_pool(database):
    """A pool that records the named queries (sql/*.sql) its connections send; asyncpg's own
    housekeeping (type introspection, the reset on release) is not counted."""
    named = {getattr(QUERIES, name) for name in QUERIES.names()}
    statements: list[str] = []

    def record(logged) -> None:
        if logged.query in named:
            statements.append(logged.query)

    async def init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(record)

    pool = await asyncpg.create_pool(database, min_size=1, max_size=1, init=init)
    yield pool, statements
    await pool.close()


async def test_listings_take_two_queries_whatever_the_page_holds(
    client, admin, db, counting_pool, settings: Settings
):
    movie = await create_movie(client, admin, genres=["Drama"])
    theater = await create_theater(client, admin)
    await db.execute(
        "INSERT INTO showtimes (movie_id, theater_id, theater_number, start_time, end_time,"
        " busy_until, price)"
        " SELECT $1, id, number, now() + make_interval(hours => 3 * n),"
        " now() + make_interval(hours => 3 * n + 2), now() + make_interval(hours => 3 * n + 2), 10"
        " FROM theaters, generate_series(1, 120) AS n WHERE id = $2",
        uuid.UUID(movie["id"]),
        uuid.UUID(theater["id"]),
    )
    await db.execute(
        "INSERT INTO movies (title, duration_minutes) SELECT 'Extra ' || n, 90"
        " FROM generate_series(1, 120) AS n"
    )
    await db.execute(
        "INSERT INTO movie_genres (movie_id, genre_id) SELECT m.id, g.id FROM movies m, genres g"
        " ON CONFLICT DO NOTHING"
    )
    await db.execute(
        "WITH t AS (INSERT INTO theaters (name) SELECT 'Extra ' || n FROM generate_series(1, 120)"
        " AS n RETURNING id)"
        " INSERT INTO seats (theater_id, row_label, seat_number, seat_type, row_index, column_index)"
        " SELECT t.id, 'A', s, 'regular', 0, s - 1 FROM t, generate_series(1, 5) AS s"
    )
    pool, statements = counting_pool

    async def count(listing) -> tuple[int, int]:
        statements.clear()
        items, total = await listing
        return len(statements), len(items)

    for size in (1, 100):
        assert await count(
            showtimes.list_showtimes(
                pool, settings, showtimes.ShowtimeFilters(genre="drama"), 1, size
            )
        ) == (2, size)
        assert await count(movies.list_movies(pool, settings, genre="DRAMA", page_size=size)) == (
            2,
            size,
        )
        assert await count(theaters.list_theaters(pool, 1, size)) == (2, size)
    # A page past the end needs only the count.
    assert await count(theaters.list_theaters(pool, 99, 100)) == (1, 0)

    # And over HTTP the full page is right, available seats and all.
    page = await (await client.get(f"{API}/showtimes?page_size=100")).json()
    assert page["total"] == 120 and len(page["showtimes"]) == 100
    assert {showtime["available_seats"] for showtime in page["showtimes"]} == {8}
    theaters_page = await (await client.get(f"{API}/theaters?page_size=100")).json()
    assert theaters_page["total"] == 121
    assert theaters_page["theaters"][0]["rows"] == [{"label": "A", "seats": 5, "aisles_after": []}]


async def test_the_api_docs_cover_the_catalog(client):
    spec = await (await client.get("/api/docs/swagger.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/genres", "get"),
        ("/api/v1/seat-types", "get"),
        ("/api/v1/movies", "get"),
        ("/api/v1/movies", "post"),
        ("/api/v1/movies/{id}", "put"),
        ("/api/v1/movies/{id}", "delete"),
        ("/api/v1/movies/{id}/showtimes", "get"),
        ("/api/v1/movies/{id}/poster", "post"),
        ("/api/v1/theaters", "post"),
        ("/api/v1/theaters/{id}", "get"),
        ("/api/v1/showtimes", "get"),
        ("/api/v1/showtimes", "post"),
        ("/api/v1/showtimes/{id}", "put"),
        ("/api/v1/showtimes/{id}", "delete"),
        ("/posters/{name}", "get"),
    ]:
        assert method in paths[path], (path, method)
    assert paths["/api/v1/showtimes"]["post"]["security"] == [{"bearerAuth": []}]
    assert "409" in paths["/api/v1/showtimes"]["post"]["responses"]
    assert any(
        p["in"] == "query" and p["name"] == "genre"
        for p in paths["/api/v1/showtimes"]["get"]["parameters"]
    )
    poster = paths["/api/v1/movies/{id}/poster"]["post"]
    assert any(p["in"] == "formData" and p["type"] == "file" for p in poster["parameters"])


async def deadlocks_so_far(db) -> int:
    """The deadlocks PostgreSQL has detected in this test's database (other backends report
    their statistics within a second)."""
    await asyncio.sleep(1.2)
    await db.execute("SELECT pg_stat_clear_snapshot()")
    return await db.fetchval(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )


@pytest.mark.slow
async def test_rounds_of_concurrent_overlapping_creations_answer_409_never_503(
    client, admin, db, database
):
    """Creations in one theater are serialised on the theater's lock: every loser sees the
    winner committed and gets its 409. Without it, creations that meet each other's index
    entries wait for each other: a deadlock, tried again or answered 503 (the database counts
    it either way). Each round lines them up: a session's transaction holds an overlapping
    showtime, which it deletes before it commits, so that every creation waiting for it wakes
    to find only the others."""
    movie = await create_movie(client, admin, duration_minutes=120)
    theater = await create_theater(client, admin)
    start = in_future(days=3)
    rounds, clients = 3, 6
    deadlocks_before = await deadlocks_so_far(db)
    gate = await asyncpg.connect(database)
    try:
        for round_number in range(rounds):
            day = start + dt.timedelta(days=round_number)
            closed = gate.transaction()
            await closed.start()
            gone = await insert_showtime(
                gate, movie["id"], theater["id"], day, day + dt.timedelta(hours=2)
            )
            await gate.execute("DELETE FROM showtimes WHERE id = $1", gone)
            creations = asyncio.gather(
                *(
                    post_showtime(client, admin, movie, theater, day + dt.timedelta(minutes=7 * i))
                    for i in range(clients)
                )
            )
            await asyncio.sleep(0.5)  # every creation waits at the gate now
            await closed.commit()
            responses = await creations
            answers = sorted(response.status for response in responses)
            assert answers == [201] + [409] * (clients - 1), answers
            for response in responses:
                if response.status == 409:
                    assert (await error_of(response))["code"] == "showtime_overlap"
    finally:
        await gate.close()
    assert await db.fetchval("SELECT count(*) FROM showtimes") == rounds
    assert await deadlocks_so_far(db) == deadlocks_before


@pytest.mark.slow
async def test_concurrent_moves_and_creations_into_one_slot_answer_409(client, admin, db, database):
    """Moves take the same theater lock as creations: moved into one slot at once (lined up
    as in the test above), one wins and the others answer 409, never 503."""
    movie = await create_movie(client, admin, duration_minutes=60)
    theater = await create_theater(client, admin)
    base = in_future(days=4)
    deadlocks_before = await deadlocks_so_far(db)
    gate = await asyncpg.connect(database)
    try:
        for round_number in range(3):
            day = base + dt.timedelta(days=round_number)
            parked = [
                await create_showtime(
                    client, admin, movie, theater, day + dt.timedelta(hours=3 * i)
                )
                for i in range(1, 4)
            ]
            target = day - dt.timedelta(hours=1)
            closed = gate.transaction()
            await closed.start()
            gone = await insert_showtime(
                gate, movie["id"], theater["id"], target, target + dt.timedelta(hours=1)
            )
            await gate.execute("DELETE FROM showtimes WHERE id = $1", gone)
            moves = [
                client.put(
                    f"{API}/showtimes/{showtime['id']}",
                    json={"start_time": iso(target)},
                    headers=admin.headers,
                )
                for showtime in parked
            ]
            creations = [post_showtime(client, admin, movie, theater, target) for _ in range(3)]
            answering = asyncio.gather(*moves, *creations)
            await asyncio.sleep(0.5)
            await closed.commit()
            answers = sorted(response.status for response in await answering)
            assert answers.count(409) == 5, answers
            assert len([a for a in answers if a in (200, 201)]) == 1, answers
    finally:
        await gate.close()
    assert await deadlocks_so_far(db) == deadlocks_before


@pytest.mark.slow
async def test_creations_queued_behind_an_open_overlap_all_answer_409(client, admin, db, database):
    """An overlapping showtime inserted by a transaction still open (an operator's session):
    the creations that meet it must wait, then each answer 409 once it commits. Without the
    theater lock they wait on each other's index entries too, and deadlock into 503s."""
    movie = await create_movie(client, admin, duration_minutes=120)
    theater = await create_theater(client, admin)
    start = in_future(days=3)
    operator = await asyncpg.connect(database)
    try:
        for round_number in range(3):
            day = start + dt.timedelta(days=round_number)
            transaction = operator.transaction()
            await transaction.start()
            await insert_showtime(
                operator, movie["id"], theater["id"], day, day + dt.timedelta(hours=2)
            )
            creations = asyncio.gather(
                *(
                    post_showtime(client, admin, movie, theater, day + dt.timedelta(minutes=7 * i))
                    for i in range(1, 7)
                )
            )
            await asyncio.sleep(0.5)  # every creation is waiting now
            await transaction.commit()
            responses = await creations
            assert sorted(response.status for response in responses) == [409] * 6
    finally:
        await operator.close()


@pytest.mark.parametrize("price", ["0", "0.00", "1000.01", "99999999.99"])
async def test_a_showtime_price_outside_what_a_ticket_may_cost_is_422(client, admin, db, price):
    """Above MAX_TICKET_PRICE (1000.00 here), a seat's price times its multiplier, or a
    reservation's total, overflowed numeric(10,2): a 500 at booking. A free ticket is refused
    too. Both on creation and on a change of price."""
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    response = await post_showtime(client, admin, movie, theater, in_future(days=1), price=price)
    assert response.status == 422
    assert "price" in (await error_of(response))["details"]["fields"]
    showtime = await create_showtime(client, admin, movie, theater, in_future(days=2))
    changed = await client.put(
        f"{API}/showtimes/{showtime['id']}", json={"price": price}, headers=admin.headers
    )
    assert changed.status == 422
    assert await db.fetchval("SELECT price::text FROM showtimes") == "10.00"


async def test_the_dearest_ticket_in_the_dearest_seats_can_be_booked(client, db, user):
    """MAX_TICKET_PRICE in seats of the largest multiplier, MAX_SEATS_PER_HOLD of them: the
    reservation's total still fits (no 500)."""
    hall = await create_hall(db, rows=1, seats_per_row=10, price="1000.00")
    await db.execute("UPDATE seat_types SET price_multiplier = 99.99")
    reservation = await book(client, user, hall.showtime_id, hall.seats.values())
    assert reservation["total_price"] == "999900.00"
