"""Price cards: a showtime created without a price takes the price of the card matching its
local weekday and time in CINEMA_TZ (daylight saving included), the theater's own card first."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from reservations.app import create_app
from tests.api import API, create_movie, create_theater, error_of


@pytest.fixture
async def berlin(aiohttp_client, make_settings, database):
    """The service of a cinema in Berlin (CET in winter, CEST in summer)."""
    settings = make_settings(cinema_tz=ZoneInfo("Europe/Berlin"))
    return await aiohttp_client(create_app(settings, database))


async def add_card(client, admin, **body):
    response = await client.post(f"{API}/admin/price-cards", json=body, headers=admin.headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def unpriced_showtime(client, admin, movie, theater, start):
    return await client.post(
        f"{API}/showtimes",
        json={"movie_id": movie["id"], "theater_id": theater["id"], "start_time": start},
        headers=admin.headers,
    )


async def price_of(client, admin, movie, start):
    theater = await create_theater(client, admin)
    response = await unpriced_showtime(client, admin, movie, theater, start)
    assert response.status == 201, await response.text()
    return (await response.json())["price"]


async def test_the_night_the_clocks_go_forward_and_back(berlin, admin):
    """Sunday 28 March 2027, 02:00 CET becomes 03:00 CEST; Sunday 31 October 2027, 03:00 CEST
    becomes 02:00 CET. A card ends at 03:00 local time, whatever the offset."""
    movie = await create_movie(berlin, admin, duration_minutes=30)
    await add_card(
        berlin,
        admin,
        name="Night",
        weekdays=[7],
        start_local_time="00:00",
        end_local_time="03:00",
        price="5.00",
    )
    await add_card(
        berlin,
        admin,
        name="Sunday",
        weekdays=[7],
        start_local_time="03:00",
        end_local_time="24:00",
        price="9.00",
    )
    await add_card(
        berlin,
        admin,
        name="Saturday",
        weekdays=[6],
        start_local_time="00:00",
        end_local_time="24:00",
        price="11.00",
    )
    cases = {
        "2027-03-27T22:30:00+00:00": "11.00",  # Saturday 23:30 CET
        "2027-03-27T23:30:00+00:00": "5.00",  # Sunday 00:30 CET: Saturday in UTC
        "2027-03-28T00:30:00+00:00": "5.00",  # 01:30 CET
        "2027-03-28T01:30:00+00:00": "9.00",  # 03:30 CEST (02:30 never happens)
        "2027-10-31T00:30:00+00:00": "5.00",  # 02:30 CEST, the first time
        "2027-10-31T01:30:00+00:00": "5.00",  # 02:30 CET, the second time
        "2027-10-31T02:00:00+00:00": "9.00",  # 03:00 CET
    }
    for start, price in cases.items():
        assert await price_of(berlin, admin, movie, start) == price, start


async def test_the_theaters_own_card_comes_before_a_general_one(berlin, admin):
    movie = await create_movie(berlin, admin, duration_minutes=30)
    own_hall, other_hall = await create_theater(berlin, admin), await create_theater(berlin, admin)
    every_day = [1, 2, 3, 4, 5, 6, 7]
    await add_card(
        berlin,
        admin,
        name="All day",
        weekdays=every_day,
        start_local_time="00:00",
        end_local_time="24:00",
        price="10.00",
    )
    await add_card(
        berlin,
        admin,
        name="Own hall",
        weekdays=every_day,
        start_local_time="00:00",
        end_local_time="24:00",
        price="14.00",
        theater_id=own_hall["id"],
    )
    start = "2027-02-03T18:00:00+00:00"
    own = await unpriced_showtime(berlin, admin, movie, own_hall, start)
    other = await unpriced_showtime(berlin, admin, movie, other_hall, start)
    assert (await own.json())["price"] == "14.00"
    assert (await other.json())["price"] == "10.00"
    priced = await berlin.post(
        f"{API}/showtimes",
        json={
            "movie_id": movie["id"],
            "theater_id": own_hall["id"],
            "start_time": "2027-02-04T18:00:00+00:00",
            "price": "3.00",
        },
        headers=admin.headers,
    )
    assert (await priced.json())["price"] == "3.00"  # a price given wins over every card


async def test_a_card_may_run_past_midnight_and_the_narrowest_wins(berlin, admin):
    movie = await create_movie(berlin, admin, duration_minutes=30)
    await add_card(
        berlin,
        admin,
        name="Late",
        weekdays=[5],
        start_local_time="22:00",
        end_local_time="02:00",
        price="6.50",
    )
    await add_card(
        berlin,
        admin,
        name="Friday",
        weekdays=[5],
        start_local_time="00:00",
        end_local_time="24:00",
        price="12.00",
    )
    # Friday 5 February 2027, CET (+01:00).
    assert await price_of(berlin, admin, movie, "2027-02-05T20:00:00+00:00") == "12.00"
    assert await price_of(berlin, admin, movie, "2027-02-05T22:30:00+00:00") == "6.50"
    assert await price_of(berlin, admin, movie, "2027-02-06T00:30:00+00:00") == "6.50"  # Sat 01:30


async def test_no_matching_card_and_no_price_is_refused(berlin, admin):
    movie = await create_movie(berlin, admin, duration_minutes=30)
    theater = await create_theater(berlin, admin)
    response = await unpriced_showtime(berlin, admin, movie, theater, "2027-02-03T18:00:00+00:00")
    error = await error_of(response, 422)
    assert error["code"] == "no_price"
    assert error["details"]["weekday"] == 3
    assert error["details"]["local_start"] == "2027-02-03T19:00:00+01:00"


async def test_admins_list_change_and_remove_cards(berlin, admin, user):
    card = await add_card(
        berlin,
        admin,
        name="Matinee",
        weekdays=[1, 2, 3],
        start_local_time="10:00",
        end_local_time="17:00",
        price="7.00",
    )
    assert card["weekdays"] == [1, 2, 3] and card["theater_id"] is None
    changed = await berlin.put(
        f"{API}/admin/price-cards/{card['id']}",
        json={"price": "7.50", "weekdays": [4, 4, 1]},
        headers=admin.headers,
    )
    assert changed.status == 200
    assert (await changed.json())["price"] == "7.50"
    assert (await changed.json())["weekdays"] == [1, 4]
    listed = await (await berlin.get(f"{API}/admin/price-cards", headers=admin.headers)).json()
    assert [item["name"] for item in listed["price_cards"]] == ["Matinee"]
    assert (await berlin.get(f"{API}/admin/price-cards", headers=user.headers)).status == 403
    gone = await berlin.delete(f"{API}/admin/price-cards/{card['id']}", headers=admin.headers)
    assert gone.status == 204
    again = await berlin.delete(f"{API}/admin/price-cards/{card['id']}", headers=admin.headers)
    assert again.status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"weekdays": [0]},
        {"weekdays": []},
        {"start_local_time": "25:00"},
        {"end_local_time": "24:30"},
        {"price": 7},
        {"theater_id": "not-a-uuid"},
    ],
)
async def test_card_bodies_are_checked(berlin, admin, body):
    good = {
        "name": "Card",
        "weekdays": [1],
        "start_local_time": "10:00",
        "end_local_time": "12:00",
        "price": "7.00",
    }
    response = await berlin.post(
        f"{API}/admin/price-cards", json={**good, **body}, headers=admin.headers
    )
    assert response.status == 422, await response.text()
