"""The API routes the admin console manages with (issue 29, items 4, 5 and 7): theaters renamed
and deleted, a user's sessions ended, row types that name rows, dates within the documented
years, prices within MAX_TICKET_PRICE, and an overlap that names the showtime in the way."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from tests.api import (
    API,
    create_movie,
    create_showtime,
    create_theater,
    error_of,
    in_future,
    post_showtime,
)

# ---- theaters: rename and delete ------------------------------------------------------------


async def test_a_theater_is_renamed_and_keeps_its_seats(client, admin):
    theater = await create_theater(client, admin, "Studoi 9")
    response = await client.put(
        f"{API}/theaters/{theater['id']}", json={"name": "  Studio 9 "}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    renamed = await response.json()
    assert renamed["name"] == "Studio 9"
    assert [seat["id"] for seat in renamed["seats"]] == [seat["id"] for seat in theater["seats"]]
    listed = await (await client.get(f"{API}/theaters")).json()
    assert [item["name"] for item in listed["theaters"]] == ["Studio 9"]


async def test_renaming_a_theater_to_a_name_in_use_or_to_nothing_is_refused(client, admin, user):
    first = await create_theater(client, admin, "Main Hall")
    second = await create_theater(client, admin, "Small Hall")
    path = f"{API}/theaters/{second['id']}"
    taken = await client.put(path, json={"name": "MAIN HALL"}, headers=admin.headers)
    assert (await error_of(taken, 409))["code"] == "theater_name_taken"
    blank = await client.put(path, json={"name": "  "}, headers=admin.headers)
    assert "name" in (await error_of(blank, 422))["details"]["fields"]
    too_long = await client.put(path, json={"name": "x" * 101}, headers=admin.headers)
    assert (await error_of(too_long, 422))["details"]["fields"]["name"] == [
        "Use 1 to 100 characters."
    ]
    unknown = await client.put(
        f"{API}/theaters/{uuid.uuid4()}", json={"name": "Other"}, headers=admin.headers
    )
    assert (await error_of(unknown, 404))["code"] == "theater_not_found"
    not_admin = await client.put(path, json={"name": "Mine"}, headers=user.headers)
    assert not_admin.status == 403
    assert (await (await client.get(f"{API}/theaters/{first['id']}")).json())["name"] == (
        "Main Hall"
    )


async def test_a_theater_that_never_had_a_showtime_is_deleted_with_its_seats(client, admin, db):
    theater = await create_theater(client, admin, "Typo Hall")
    response = await client.delete(f"{API}/theaters/{theater['id']}", headers=admin.headers)
    assert response.status == 204
    assert (await client.get(f"{API}/theaters/{theater['id']}")).status == 404
    assert await db.fetchval("SELECT count(*) FROM seats WHERE theater_id = $1", theater["id"]) == 0
    again = await client.delete(f"{API}/theaters/{theater['id']}", headers=admin.headers)
    assert (await error_of(again, 404))["code"] == "theater_not_found"


async def test_a_theater_that_has_had_a_showtime_is_not_deleted(client, admin, user):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    showtime = await create_showtime(client, admin, movie, theater, in_future(days=1))
    path = f"{API}/theaters/{theater['id']}"
    assert (await client.delete(path, headers=user.headers)).status == 403
    in_use = await client.delete(path, headers=admin.headers)
    assert (await error_of(in_use, 409))["code"] == "theater_in_use"
    # A cancelled showtime still counts: its reservations name the theater.
    cancelled = await client.delete(f"{API}/showtimes/{showtime['id']}", headers=admin.headers)
    assert cancelled.status == 204
    still = await client.delete(path, headers=admin.headers)
    assert (await error_of(still, 409))["code"] == "theater_in_use"
    assert (await client.get(path)).status == 200


async def test_a_showtime_scheduled_while_the_theater_is_deleted_keeps_it(client, admin, db):
    """The check is the database's: a showtime inserted by a transaction still open when the
    delete starts makes the delete wait, then fail (409), never leave a showtime without a
    theater."""
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    async with db.transaction():
        await db.execute(
            "INSERT INTO showtimes (movie_id, theater_id, theater_number, start_time, end_time,"
            " busy_until, price) SELECT $1, id, number, now() + interval '1 day',"
            " now() + interval '1 day 2 hours', now() + interval '1 day 2 hours', 10"
            " FROM theaters WHERE id = $2",
            uuid.UUID(movie["id"]),
            uuid.UUID(theater["id"]),
        )
        deleting = asyncio.ensure_future(
            client.delete(f"{API}/theaters/{theater['id']}", headers=admin.headers)
        )
        await asyncio.sleep(0.5)
        assert not deleting.done()  # waiting for the showtime's transaction
    response = await deleting
    assert (await error_of(response, 409))["code"] == "theater_in_use"
    assert (await client.get(f"{API}/theaters/{theater['id']}")).status == 200


# ---- theaters: row types --------------------------------------------------------------------


async def test_row_types_give_whole_rows_a_type(client, admin):
    response = await client.post(
        f"{API}/theaters",
        json={
            "name": "Typed",
            "rows": [{"label": "A", "seats": 2}, {"label": "B", "seats": 2}],
            "row_types": {"b": "vip"},
        },
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()
    types = {seat["seat_label"]: seat["seat_type"] for seat in (await response.json())["seats"]}
    assert types == {"A1": "regular", "A2": "regular", "B1": "vip", "B2": "vip"}


async def test_a_row_type_for_a_row_that_does_not_exist_is_refused_naming_it(client, admin):
    response = await client.post(
        f"{API}/theaters",
        json={
            "name": "Typo rows",
            "rows": [{"label": "A", "seats": 2}, {"label": "B", "seats": 2}],
            "row_types": {"Z": "vip"},
        },
        headers=admin.headers,
    )
    error = await error_of(response, 422)
    assert error["details"]["fields"]["row_types"] == ["No row is labelled Z; the rows are A, B."]
    assert (await (await client.get(f"{API}/theaters")).json())["total"] == 0


# ---- dates, prices and text within their stated limits ---------------------------------------


@pytest.mark.parametrize("day", ["1800-05-01", "3000-01-01"])
async def test_a_release_date_outside_1900_to_2999_is_refused(client, admin, day):
    body = {"title": "Old", "genres": [], "duration_minutes": 90, "release_date": day}
    created = await client.post(f"{API}/movies", json=body, headers=admin.headers)
    assert (await error_of(created, 422))["details"]["fields"]["release_date"] == [
        "Use a year from 1900 to 2999."
    ]
    movie = await create_movie(client, admin)
    changed = await client.put(
        f"{API}/movies/{movie['id']}", json={"release_date": day}, headers=admin.headers
    )
    assert "release_date" in (await error_of(changed, 422))["details"]["fields"]


async def test_release_dates_at_the_limits_and_none_are_taken(client, admin):
    movie = await create_movie(client, admin, release_date="1900-01-01")
    assert movie["release_date"] == "1900-01-01"
    changed = await client.put(
        f"{API}/movies/{movie['id']}", json={"release_date": None}, headers=admin.headers
    )
    assert (await changed.json())["release_date"] is None


async def test_a_start_after_2999_is_refused(client, admin):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    response = await post_showtime(client, admin, movie, theater, "3000-01-01T20:00:00+00:00")
    assert (await error_of(response, 422))["details"]["fields"]["start_time"] == [
        "Use a year from 1900 to 2999."
    ]


@pytest.mark.parametrize("price", ["0.00", "1000.01", "99999999.99"])
async def test_a_price_outside_the_sane_range_is_refused(client, admin, price):
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    response = await post_showtime(client, admin, movie, theater, in_future(days=1), price)
    message = (await error_of(response, 422))["details"]["fields"]["price"][0]
    assert "0.01 to 1000.00" in message


async def test_long_text_is_refused_with_its_limit_never_cut(client, admin):
    body = {"title": "T" * 201, "genres": ["G" * 51], "duration_minutes": 90}
    body["description"] = "d" * 5001
    response = await client.post(f"{API}/movies", json=body, headers=admin.headers)
    fields = (await error_of(response, 422))["details"]["fields"]
    assert fields["title"] == ["Use 1 to 200 characters."]
    assert fields["description"] == ["Use at most 5000 characters."]
    assert fields["genres"] == {"0": ["Use 1 to 50 characters."]}


# ---- the overlap names the showtime in the way ----------------------------------------------


async def test_an_overlap_names_the_other_showtime_with_its_local_times(sweeperless_client, admin):
    client = await sweeperless_client(cinema_tz=ZoneInfo("Europe/Berlin"))
    movie = await create_movie(client, admin, title="Heat", duration_minutes=170)
    theater = await create_theater(client, admin)
    day = (dt.datetime.now(ZoneInfo("Europe/Berlin")) + dt.timedelta(days=2)).date()
    start = dt.datetime.combine(day, dt.time(20, 0), tzinfo=ZoneInfo("Europe/Berlin"))
    first = await create_showtime(client, admin, movie, theater, start)

    clash = await post_showtime(client, admin, movie, theater, start + dt.timedelta(hours=1))
    error = await error_of(clash, 409)
    assert error["code"] == "showtime_overlap"
    assert "“Heat”" in error["message"]
    assert "20:00 to 22:50" in error["message"]
    assert first["id"] in error["message"]
    assert "Europe/Berlin" in error["message"]
    details = error["details"]
    assert details["conflicting_showtime_id"] == first["id"]
    assert details["conflicting_movie_title"] == "Heat"
    assert details["conflicting_local_start"] == f"{day.isoformat()}T20:00"
    assert details["conflicting_local_end"] == f"{day.isoformat()}T22:50"

    # Moving another showtime onto it names it the same way.
    second = await create_showtime(client, admin, movie, theater, start + dt.timedelta(days=1))
    moved = await client.put(
        f"{API}/showtimes/{second['id']}",
        json={"start_time": (start + dt.timedelta(minutes=30)).isoformat()},
        headers=admin.headers,
    )
    moved_error = await error_of(moved, 409)
    assert moved_error["details"]["conflicting_showtime_id"] == first["id"]
    assert "“Heat”" in moved_error["message"]


# ---- users: sessions ended by an admin -------------------------------------------------------


async def test_an_admin_logs_a_user_out_everywhere(client, admin, user):
    before = await client.get(f"{API}/auth/me", headers=user.headers)
    assert before.status == 200
    response = await client.post(
        f"{API}/admin/users/{user.id}/revoke-sessions", headers=admin.headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["email"] == user.email
    after = await client.get(f"{API}/auth/me", headers=user.headers)
    assert (await error_of(after, 401))["code"] == "unauthorized"
    assert (await client.get(f"{API}/auth/me", headers=admin.headers)).status == 200


async def test_revoking_sessions_is_for_admins_and_known_users(client, admin, user):
    refused = await client.post(
        f"{API}/admin/users/{admin.id}/revoke-sessions", headers=user.headers
    )
    assert refused.status == 403
    assert (await client.get(f"{API}/auth/me", headers=admin.headers)).status == 200
    unknown = await client.post(
        f"{API}/admin/users/{uuid.uuid4()}/revoke-sessions", headers=admin.headers
    )
    assert unknown.status == 404


@pytest.mark.parametrize("price", ["0.00", "99999999.99"])
async def test_a_price_card_outside_the_sane_range_is_refused(client, admin, price):
    """A card's price becomes the price of the showtimes it matches: the same range."""
    card = {
        "name": "Matinee",
        "weekdays": [1, 2, 3],
        "start_local_time": "10:00",
        "end_local_time": "17:00",
        "price": price,
    }
    created = await client.post(f"{API}/admin/price-cards", json=card, headers=admin.headers)
    assert "0.01 to 1000.00" in (await error_of(created, 422))["details"]["fields"]["price"][0]
    fine = await client.post(
        f"{API}/admin/price-cards", json={**card, "price": "9.50"}, headers=admin.headers
    )
    assert fine.status == 201, await fine.text()
    changed = await client.put(
        f"{API}/admin/price-cards/{(await fine.json())['id']}",
        json={"price": price},
        headers=admin.headers,
    )
    assert (await error_of(changed, 422))["details"]["fields"]["price"]


async def test_a_showtime_scheduled_in_a_theater_being_deleted_is_a_404(client, admin, db):
    """The other order of the race: the delete commits first, and the showtime waiting on the
    theater's row is told the theater is gone (404), not a 500."""
    movie = await create_movie(client, admin)
    theater = await create_theater(client, admin)
    async with db.transaction():
        await db.execute("DELETE FROM theaters WHERE id = $1", uuid.UUID(theater["id"]))
        creating = asyncio.ensure_future(
            post_showtime(client, admin, movie, theater, in_future(days=1))
        )
        await asyncio.sleep(0.5)
        assert not creating.done()  # waiting for the delete's transaction
    response = await creating
    assert (await error_of(response, 404))["code"] == "theater_not_found"
    assert await db.fetchval("SELECT count(*) FROM showtimes") == 0


async def test_a_longer_movie_names_the_showtime_it_would_run_into(client, admin):
    heat = await create_movie(client, admin, title="Heat", duration_minutes=100)
    alien = await create_movie(client, admin, title="Alien", duration_minutes=100)
    theater = await create_theater(client, admin)
    start = in_future(days=2)
    mine = await create_showtime(client, admin, heat, theater, start)
    next_one = await create_showtime(client, admin, alien, theater, start + dt.timedelta(hours=2))
    response = await client.put(
        f"{API}/movies/{heat['id']}", json={"duration_minutes": 150}, headers=admin.headers
    )
    error = await error_of(response, 409)
    assert error["code"] == "showtime_overlap"
    assert "“Alien” plays from" in error["message"]
    assert next_one["id"] in error["message"]
    assert error["details"]["conflicting_showtime_id"] == next_one["id"]
    assert error["details"]["stretched_showtime_id"] == mine["id"]
    assert error["details"]["duration_minutes"] == 150
