"""Admin reports: every figure of a known set of bookings, local-day periods, CSV, who may ask.

The cinema below runs in America/New_York (UTC-4 in these days of March 2026). The period asked
is 2026-03-10 to 2026-03-11, local:

  showtime       movie  theater  local start        UTC start          sold (confirmed)
  before         Alpha  Hall B   03-09 23:59        03-10 03:59        1 x 9.00      (outside)
  s1             Alpha  Hall A   03-10 00:00        03-10 04:00        2 x 10.00 + 1 x 12.50; 1 cancelled
  s2             Zulu   Hall B   03-10 19:00        03-10 23:00        2 x 12.50; 1 cancelled
  s3             Alpha  Hall B   03-10 23:30        03-11 03:30        2 x 9.00
  s8             +1     Hall A   03-11 09:00        03-11 13:00        5 x 3.00
  s6             +1     Empty    03-11 10:00        03-11 14:00        - (a theater without seats)
  s5 cancelled   Alpha  Hall A   03-11 14:00        03-11 18:00        - (2 seats, cancelled with it)
  s7             +1     Hall B   03-11 12:00        03-11 16:00        1 x 3.00
  s4             Zulu   Hall A   03-11 20:00        03-12 00:00        2 x 8.00 + 1 x 10.00
  after          Zulu   Hall B   03-12 00:00        03-12 04:00        1 x 12.50     (outside)

Hall A has 10 seats, Hall B 3, Empty none.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest

from tests.factories import (
    insert_movie,
    insert_reservation,
    insert_seat,
    insert_showtime,
    insert_theater,
)

NEW_YORK = ZoneInfo("America/New_York")
CAPACITY = "/api/v1/admin/reports/capacity"
REVENUE = "/api/v1/admin/reports/revenue"
POPULAR = "/api/v1/admin/reports/popular-movies"
PERIOD = {"start_date": "2026-03-10", "end_date": "2026-03-11"}


@dataclass
class Cinema:
    theaters: dict[str, uuid.UUID] = field(default_factory=dict)
    movies: dict[str, uuid.UUID] = field(default_factory=dict)
    showtimes: dict[str, uuid.UUID] = field(default_factory=dict)
    seats: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)  # (theater, "A1")


async def add_theater(db, cinema: Cinema, name: str, rows: dict[str, tuple[int, str]]) -> None:
    """rows: label -> (seats in the row, seat type)."""
    cinema.theaters[name], _ = await insert_theater(db, name)
    for row_index, (label, (count, seat_type)) in enumerate(rows.items()):
        for number in range(1, count + 1):
            cinema.seats[name, f"{label}{number}"] = await insert_seat(
                db, cinema.theaters[name], label, number, seat_type, row_index, number - 1
            )


async def add_showtime(
    db,
    cinema: Cinema,
    name: str,
    movie: str,
    theater: str,
    local_start: dt.datetime,
    price: str,
    cancelled: bool = False,
) -> None:
    start = local_start.replace(tzinfo=NEW_YORK)
    cinema.showtimes[name] = await insert_showtime(
        db,
        cinema.movies[movie],
        cinema.theaters[theater],
        start,
        start + dt.timedelta(minutes=90),
        price,
        cancelled,
    )


async def add_reservation(
    db,
    cinema: Cinema,
    user_id: uuid.UUID,
    showtime: str,
    theater: str,
    seats: dict[str, str],
    status: str = "confirmed",
    cancel_reason: str | None = None,
) -> None:
    """seats: label -> price."""
    prices = {cinema.seats[theater, label]: price for label, price in seats.items()}
    await insert_reservation(db, user_id, cinema.showtimes[showtime], prices, status, cancel_reason)


@pytest.fixture
async def cinema(db, make_account) -> Cinema:
    ann = (await make_account("user")).id
    bob = (await make_account("user")).id
    cinema = Cinema()
    await add_theater(db, cinema, "Hall A", {"A": (5, "regular"), "B": (5, "premium")})
    await add_theater(db, cinema, "Hall B", {"A": (3, "regular")})
    await add_theater(db, cinema, "Empty", {})
    for title in ("Alpha", "Zulu", "+1"):
        cinema.movies[title] = await insert_movie(db, title, 90)
    day = dt.datetime
    await add_showtime(db, cinema, "before", "Alpha", "Hall B", day(2026, 3, 9, 23, 59), "9.00")
    await add_showtime(db, cinema, "s1", "Alpha", "Hall A", day(2026, 3, 10, 0, 0), "10.00")
    await add_showtime(db, cinema, "s2", "Zulu", "Hall B", day(2026, 3, 10, 19, 0), "12.50")
    await add_showtime(db, cinema, "s3", "Alpha", "Hall B", day(2026, 3, 10, 23, 30), "9.00")
    await add_showtime(db, cinema, "s8", "+1", "Hall A", day(2026, 3, 11, 9, 0), "3.00")
    await add_showtime(db, cinema, "s6", "+1", "Empty", day(2026, 3, 11, 10, 0), "5.00")
    await add_showtime(db, cinema, "s7", "+1", "Hall B", day(2026, 3, 11, 12, 0), "3.00")
    await add_showtime(
        db, cinema, "s5", "Alpha", "Hall A", day(2026, 3, 11, 14, 0), "10.00", cancelled=True
    )
    await add_showtime(db, cinema, "s4", "Zulu", "Hall A", day(2026, 3, 11, 20, 0), "8.00")
    await add_showtime(db, cinema, "after", "Zulu", "Hall B", day(2026, 3, 12, 0, 0), "12.50")

    book = add_reservation
    await book(db, cinema, ann, "before", "Hall B", {"A1": "9.00"})
    await book(db, cinema, ann, "s1", "Hall A", {"A1": "10.00", "A2": "10.00"})
    await book(db, cinema, bob, "s1", "Hall A", {"B1": "12.50"})
    await book(db, cinema, bob, "s1", "Hall A", {"A3": "10.00"}, "cancelled", "user_cancelled")
    await book(db, cinema, ann, "s2", "Hall B", {"A1": "12.50", "A2": "12.50"})
    await book(db, cinema, bob, "s2", "Hall B", {"A3": "12.50"}, "cancelled", "user_cancelled")
    await book(db, cinema, bob, "s3", "Hall B", {"A2": "9.00", "A3": "9.00"})
    await book(
        db,
        cinema,
        ann,
        "s8",
        "Hall A",
        {"A1": "3.00", "A2": "3.00", "A3": "3.00", "A4": "3.00", "A5": "3.00"},
    )
    await book(db, cinema, ann, "s7", "Hall B", {"A1": "3.00"})
    await book(
        db,
        cinema,
        ann,
        "s5",
        "Hall A",
        {"A1": "10.00", "A2": "10.00"},
        "cancelled",
        "showtime_cancelled",
    )
    await book(db, cinema, bob, "s4", "Hall A", {"A1": "8.00", "A2": "8.00"})
    await book(db, cinema, ann, "s4", "Hall A", {"B5": "10.00"})
    await book(db, cinema, bob, "after", "Hall B", {"A2": "12.50"})
    return cinema


@pytest.fixture
async def new_york(aiohttp_client, make_settings, database):
    """A client of the service running with CINEMA_TZ=America/New_York."""
    from reservations.app import create_app

    return await aiohttp_client(create_app(make_settings(cinema_tz=NEW_YORK), database))


async def get_json(client, path, account, **params):
    response = await client.get(path, params=params, headers=account.headers)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def get_csv(client, path, account, **params):
    response = await client.get(
        path, params=params, headers={**account.headers, "Accept": "text/csv"}
    )
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = await response.text()
    return response, list(csv.reader(io.StringIO(text)))


# Capacity ------------------------------------------------------------------------------------


def capacity_row(cinema, showtime, movie, theater, start, total, sold, rate):
    return {
        "showtime_id": str(cinema.showtimes[showtime]),
        "movie_title": movie,
        "theater_name": theater,
        "start_time": start,
        "total_seats": total,
        "sold_seats": sold,
        "occupancy_rate": rate,
        "admitted_seats": 0,  # nobody came through the door (tests/areas/checkin/test_checkin.py counts them)
        "no_shows": sold,
    }


async def test_capacity_counts_confirmed_seats_of_live_showtimes_in_local_days(
    new_york, admin, cinema
):
    report = await get_json(new_york, CAPACITY, admin, **PERIOD)
    assert report["rows"] == [
        capacity_row(cinema, "s1", "Alpha", "Hall A", "2026-03-10T04:00:00+00:00", 10, 3, 0.3),
        capacity_row(cinema, "s2", "Zulu", "Hall B", "2026-03-10T23:00:00+00:00", 3, 2, 0.6667),
        capacity_row(cinema, "s3", "Alpha", "Hall B", "2026-03-11T03:30:00+00:00", 3, 2, 0.6667),
        capacity_row(cinema, "s8", "+1", "Hall A", "2026-03-11T13:00:00+00:00", 10, 5, 0.5),
        capacity_row(cinema, "s6", "+1", "Empty", "2026-03-11T14:00:00+00:00", 0, 0, 0),
        capacity_row(cinema, "s7", "+1", "Hall B", "2026-03-11T16:00:00+00:00", 3, 1, 0.3333),
        capacity_row(cinema, "s4", "Zulu", "Hall A", "2026-03-12T00:00:00+00:00", 10, 3, 0.3),
    ]
    # 16 of 39 seats = 0.41025...
    assert report["totals"] == {
        "showtimes": 7,
        "total_seats": 39,
        "sold_seats": 16,
        "occupancy_rate": 0.4103,
        "admitted_seats": 0,
        "no_shows": 16,
    }
    assert report["start_date"] == "2026-03-10"
    assert report["end_date"] == "2026-03-11"
    assert report["time_zone"] == "America/New_York"


async def test_capacity_filters_by_movie_and_theater(new_york, admin, cinema):
    alpha = str(cinema.movies["Alpha"])
    hall_b = str(cinema.theaters["Hall B"])

    by_movie = await get_json(new_york, CAPACITY, admin, movie_id=alpha, **PERIOD)
    assert [row["showtime_id"] for row in by_movie["rows"]] == [
        str(cinema.showtimes["s1"]),
        str(cinema.showtimes["s3"]),
    ]
    # 5 of 13 seats = 0.3846...
    assert by_movie["totals"] == {
        "showtimes": 2,
        "total_seats": 13,
        "sold_seats": 5,
        "occupancy_rate": 0.3846,
        "admitted_seats": 0,
        "no_shows": 5,
    }

    by_theater = await get_json(new_york, CAPACITY, admin, theater_id=hall_b, **PERIOD)
    assert [row["showtime_id"] for row in by_theater["rows"]] == [
        str(cinema.showtimes[name]) for name in ("s2", "s3", "s7")
    ]
    # 5 of 9 seats = 0.5555...
    assert by_theater["totals"] == {
        "showtimes": 3,
        "total_seats": 9,
        "sold_seats": 5,
        "occupancy_rate": 0.5556,
        "admitted_seats": 0,
        "no_shows": 5,
    }

    both = await get_json(new_york, CAPACITY, admin, movie_id=alpha, theater_id=hall_b, **PERIOD)
    assert both["rows"] == [
        capacity_row(cinema, "s3", "Alpha", "Hall B", "2026-03-11T03:30:00+00:00", 3, 2, 0.6667)
    ]
    assert both["totals"] == {
        "showtimes": 1,
        "total_seats": 3,
        "sold_seats": 2,
        "occupancy_rate": 0.6667,
        "admitted_seats": 0,
        "no_shows": 2,
    }


async def test_capacity_of_an_empty_period_has_zero_totals(new_york, admin, cinema):
    report = await get_json(
        new_york, CAPACITY, admin, start_date="2025-01-01", end_date="2025-01-31"
    )
    assert report["rows"] == []
    assert report["totals"] == {
        "showtimes": 0,
        "total_seats": 0,
        "sold_seats": 0,
        "occupancy_rate": 0,
        "admitted_seats": 0,
        "no_shows": 0,
    }


async def test_unknown_movie_gives_an_empty_report(new_york, admin, cinema):
    report = await get_json(new_york, CAPACITY, admin, movie_id=str(uuid.uuid4()), **PERIOD)
    assert report["rows"] == []
    assert report["totals"]["showtimes"] == 0


# Revenue -------------------------------------------------------------------------------------


async def test_revenue_by_local_day(new_york, admin, cinema):
    report = await get_json(new_york, REVENUE, admin, group_by="day", **PERIOD)
    assert report == {
        "rows": [
            # s1 32.50 (3) + s2 25.00 (2) + s3 18.00 (2)
            {"key": "2026-03-10", "id": None, "tickets": 7, "revenue": "75.50"},
            # s8 15.00 (5) + s6 0 + s7 3.00 (1) + s4 26.00 (3)
            {"key": "2026-03-11", "id": None, "tickets": 9, "revenue": "44.00"},
        ],
        "total_revenue": "119.50",
        "total_tickets": 16,
        "group_by": "day",
        "start_date": "2026-03-10",
        "end_date": "2026-03-11",
        "time_zone": "America/New_York",
    }


async def test_revenue_is_grouped_by_day_unless_asked_otherwise(new_york, admin, cinema):
    report = await get_json(new_york, REVENUE, admin, **PERIOD)
    assert report["group_by"] == "day"
    assert [row["key"] for row in report["rows"]] == ["2026-03-10", "2026-03-11"]


async def test_revenue_by_movie_most_revenue_first(new_york, admin, cinema):
    report = await get_json(new_york, REVENUE, admin, group_by="movie", **PERIOD)
    movies = cinema.movies
    assert report["rows"] == [
        {"key": "Zulu", "id": str(movies["Zulu"]), "tickets": 5, "revenue": "51.00"},
        {"key": "Alpha", "id": str(movies["Alpha"]), "tickets": 5, "revenue": "50.50"},
        {"key": "+1", "id": str(movies["+1"]), "tickets": 6, "revenue": "18.00"},
    ]
    assert report["total_revenue"] == "119.50"
    assert report["total_tickets"] == 16
    assert report["group_by"] == "movie"


async def test_revenue_by_theater_lists_theaters_that_sold_nothing(new_york, admin, cinema):
    report = await get_json(new_york, REVENUE, admin, group_by="theater", **PERIOD)
    theaters = cinema.theaters
    assert report["rows"] == [
        {"key": "Hall A", "id": str(theaters["Hall A"]), "tickets": 11, "revenue": "73.50"},
        {"key": "Hall B", "id": str(theaters["Hall B"]), "tickets": 5, "revenue": "46.00"},
        {"key": "Empty", "id": str(theaters["Empty"]), "tickets": 0, "revenue": "0.00"},
    ]
    assert report["total_revenue"] == "119.50"
    assert report["total_tickets"] == 16


async def test_revenue_of_an_empty_period_is_zero(new_york, admin, cinema):
    for group_by in ("day", "movie", "theater"):
        report = await get_json(
            new_york,
            REVENUE,
            admin,
            group_by=group_by,
            start_date="2027-01-01",
            end_date="2027-01-01",
        )
        assert report["rows"] == []
        assert report["total_revenue"] == "0.00"
        assert report["total_tickets"] == 0


# Popular movies ------------------------------------------------------------------------------


async def test_popular_movies_by_tickets_then_revenue(new_york, admin, cinema):
    report = await get_json(new_york, POPULAR, admin, **PERIOD)
    movies = cinema.movies
    assert report["movies"] == [
        # 6 of 13 seats (s8, s6, s7)
        {
            "movie_id": str(movies["+1"]),
            "title": "+1",
            "tickets_sold": 6,
            "revenue": "18.00",
            "occupancy_rate": 0.4615,
        },
        # 5 tickets each: Zulu's 51.00 beats Alpha's 50.50; 5 of 13 seats each
        {
            "movie_id": str(movies["Zulu"]),
            "title": "Zulu",
            "tickets_sold": 5,
            "revenue": "51.00",
            "occupancy_rate": 0.3846,
        },
        {
            "movie_id": str(movies["Alpha"]),
            "title": "Alpha",
            "tickets_sold": 5,
            "revenue": "50.50",
            "occupancy_rate": 0.3846,
        },
    ]
    assert report["start_date"] == "2026-03-10"
    assert report["end_date"] == "2026-03-11"

    top_two = await get_json(new_york, POPULAR, admin, limit=2, **PERIOD)
    assert [movie["title"] for movie in top_two["movies"]] == ["+1", "Zulu"]


async def test_popular_movies_include_movies_that_sold_nothing(new_york, admin, cinema, db):
    await db.execute(
        "UPDATE reservations SET status = 'cancelled', cancelled_at = now() WHERE showtime_id = ANY($1)",
        [cinema.showtimes["s1"], cinema.showtimes["s3"]],
    )
    report = await get_json(new_york, POPULAR, admin, **PERIOD)
    assert report["movies"][-1] == {
        "movie_id": str(cinema.movies["Alpha"]),
        "title": "Alpha",
        "tickets_sold": 0,
        "revenue": "0.00",
        "occupancy_rate": 0,
    }


# Periods -------------------------------------------------------------------------------------


async def test_one_local_day_runs_from_midnight_to_midnight(new_york, admin, cinema):
    day = {"start_date": "2026-03-10", "end_date": "2026-03-10"}
    report = await get_json(new_york, CAPACITY, admin, **day)
    # 'before' (23:59 the day before) is out, s3 (23:30, already the 11th in UTC) is in.
    assert [row["showtime_id"] for row in report["rows"]] == [
        str(cinema.showtimes[name]) for name in ("s1", "s2", "s3")
    ]
    next_day = await get_json(
        new_york, CAPACITY, admin, start_date="2026-03-12", end_date="2026-03-12"
    )
    assert [row["showtime_id"] for row in next_day["rows"]] == [str(cinema.showtimes["after"])]
    day_before = await get_json(
        new_york, REVENUE, admin, start_date="2026-03-09", end_date="2026-03-09"
    )
    assert day_before["rows"] == [
        {"key": "2026-03-09", "id": None, "tickets": 1, "revenue": "9.00"}
    ]


async def test_the_same_dates_in_utc_cover_other_showtimes(client, admin, cinema):
    """The default app runs in UTC: the 10th and 11th are UTC days there."""
    report = await get_json(client, REVENUE, admin, group_by="day", **PERIOD)
    assert report["time_zone"] == "UTC"
    assert report["rows"] == [
        # before 9.00 (1) + s1 32.50 (3) + s2 25.00 (2)
        {"key": "2026-03-10", "id": None, "tickets": 6, "revenue": "66.50"},
        # s3 18.00 (2) + s8 15.00 (5) + s6 + s7 3.00 (1); s4 starts 03-12 00:00 UTC
        {"key": "2026-03-11", "id": None, "tickets": 8, "revenue": "36.00"},
    ]
    assert report["total_revenue"] == "102.50"
    assert report["total_tickets"] == 14


async def test_default_period_is_thirty_days_around_today(new_york, admin, db, make_account):
    today = dt.datetime.now(NEW_YORK).date()
    theater_id, _ = await insert_theater(db, "Hall")
    movie_id = await insert_movie(db, "Now", 60)
    starts = {}
    for name, days in {"first": -30, "last": 30, "too_early": -31, "too_late": 31}.items():
        local = dt.datetime.combine(today + dt.timedelta(days=days), dt.time(12), NEW_YORK)
        starts[name] = await insert_showtime(
            db, movie_id, theater_id, local, local + dt.timedelta(hours=1)
        )
    report = await get_json(new_york, CAPACITY, admin)
    assert report["start_date"] == (today - dt.timedelta(days=30)).isoformat()
    assert report["end_date"] == (today + dt.timedelta(days=30)).isoformat()
    assert [row["showtime_id"] for row in report["rows"]] == [
        str(starts["first"]),
        str(starts["last"]),
    ]

    only_start = await get_json(
        new_york, REVENUE, admin, start_date=(today - dt.timedelta(days=31)).isoformat()
    )
    assert only_start["end_date"] == (today + dt.timedelta(days=30)).isoformat()
    assert [row["key"] for row in only_start["rows"]] == [
        (today - dt.timedelta(days=31)).isoformat(),
        (today - dt.timedelta(days=30)).isoformat(),
        (today + dt.timedelta(days=30)).isoformat(),
    ]


async def test_a_year_of_366_days_is_allowed(new_york, admin):
    report = await get_json(
        new_york, CAPACITY, admin, start_date="2024-01-01", end_date="2024-12-31"
    )
    assert report["rows"] == []


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
@pytest.mark.parametrize(
    ("start", "end"), [("0001-01-01", "0001-12-31"), ("9999-01-01", "9999-12-31")]
)
async def test_dates_at_the_ends_of_the_calendar_are_answered(
    aiohttp_client, make_settings, database, admin, zone, start, end
):
    from reservations.app import create_app

    client = await aiohttp_client(create_app(make_settings(cinema_tz=ZoneInfo(zone)), database))
    for path in (CAPACITY, REVENUE, POPULAR):
        report = await get_json(client, path, admin, start_date=start, end_date=end)
        assert (report["start_date"], report["end_date"]) == (start, end)


@pytest.mark.parametrize(
    ("path", "params", "code", "field"),
    [
        (
            CAPACITY,
            {"start_date": "2026-03-11", "end_date": "2026-03-10"},
            "invalid_date_range",
            "end_date",
        ),
        (
            REVENUE,
            {"start_date": "2025-01-01", "end_date": "2026-01-02"},
            "invalid_date_range",
            "end_date",
        ),
        (POPULAR, {"start_date": "2999-01-01"}, "invalid_date_range", "end_date"),
        (CAPACITY, {"start_date": "2026-02-30"}, "validation_error", "start_date"),
        (CAPACITY, {"end_date": "03/10/2026"}, "validation_error", "end_date"),
        (CAPACITY, {"start_date": "2026-03-10T00:00:00"}, "validation_error", "start_date"),
        (CAPACITY, {"start_date": ""}, "validation_error", "start_date"),
        (CAPACITY, {"movie_id": "42"}, "validation_error", "movie_id"),
        (REVENUE, {"group_by": "week"}, "validation_error", "group_by"),
        (REVENUE, {"group_by": "DAY"}, "validation_error", "group_by"),
        (POPULAR, {"limit": "0"}, "validation_error", "limit"),
        (POPULAR, {"limit": "101"}, "validation_error", "limit"),
        (POPULAR, {"limit": "ten"}, "validation_error", "limit"),
    ],
)
async def test_bad_parameters_are_422(client, admin, path, params, code, field):
    response = await client.get(path, params=params, headers=admin.headers)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == code
    assert field in error["details"]["fields"]


async def test_limit_of_100_is_allowed(client, admin):
    assert (await get_json(client, POPULAR, admin, limit=100))["movies"] == []


# CSV -----------------------------------------------------------------------------------------


async def test_capacity_as_csv(new_york, admin, cinema):
    response, lines = await get_csv(new_york, CAPACITY, admin, **PERIOD)
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="capacity-2026-03-10-to-2026-03-11.csv"'
    )
    ids = {name: str(showtime_id) for name, showtime_id in cinema.showtimes.items()}
    assert lines == [
        [
            "showtime_id",
            "movie_title",
            "theater_name",
            "start_time",
            "total_seats",
            "sold_seats",
            "occupancy_rate",
            "admitted_seats",
            "no_shows",
        ],
        [ids["s1"], "Alpha", "Hall A", "2026-03-10T04:00:00+00:00", "10", "3", "0.3", "0", "3"],
        [ids["s2"], "Zulu", "Hall B", "2026-03-10T23:00:00+00:00", "3", "2", "0.6667", "0", "2"],
        [ids["s3"], "Alpha", "Hall B", "2026-03-11T03:30:00+00:00", "3", "2", "0.6667", "0", "2"],
        # "+1" would be a formula in a spreadsheet
        [ids["s8"], "'+1", "Hall A", "2026-03-11T13:00:00+00:00", "10", "5", "0.5", "0", "5"],
        [ids["s6"], "'+1", "Empty", "2026-03-11T14:00:00+00:00", "0", "0", "0.0", "0", "0"],
        [ids["s7"], "'+1", "Hall B", "2026-03-11T16:00:00+00:00", "3", "1", "0.3333", "0", "1"],
        [ids["s4"], "Zulu", "Hall A", "2026-03-12T00:00:00+00:00", "10", "3", "0.3", "0", "3"],
    ]


async def test_revenue_as_csv(new_york, admin, cinema):
    response, lines = await get_csv(new_york, REVENUE, admin, group_by="movie", **PERIOD)
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="revenue-by-movie-2026-03-10-to-2026-03-11.csv"'
    )
    movies = cinema.movies
    assert lines == [
        ["key", "id", "tickets", "revenue"],
        ["Zulu", str(movies["Zulu"]), "5", "51.00"],
        ["Alpha", str(movies["Alpha"]), "5", "50.50"],
        ["'+1", str(movies["+1"]), "6", "18.00"],
    ]
    _, by_day = await get_csv(new_york, REVENUE, admin, **PERIOD)
    assert by_day == [
        ["key", "id", "tickets", "revenue"],
        ["2026-03-10", "", "7", "75.50"],
        ["2026-03-11", "", "9", "44.00"],
    ]


async def test_popular_movies_as_csv(new_york, admin, cinema):
    response, lines = await get_csv(new_york, POPULAR, admin, limit=2, **PERIOD)
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="popular-movies-2026-03-10-to-2026-03-11.csv"'
    )
    assert lines == [
        ["movie_id", "title", "tickets_sold", "revenue", "occupancy_rate"],
        [str(cinema.movies["+1"]), "'+1", "6", "18.00", "0.4615"],
        [str(cinema.movies["Zulu"]), "Zulu", "5", "51.00", "0.3846"],
    ]


async def test_csv_cells_that_look_like_formulas_are_quoted(new_york, admin, cinema, db):
    titles = {
        "Alpha": '=HYPERLINK("http://evil.example","x")',
        "Zulu": "@SUM(A1:A2)",
        "+1": "-2+3",
    }
    for old, new in titles.items():
        await db.execute("UPDATE movies SET title = $2 WHERE title = $1", old, new)
    await db.execute("UPDATE theaters SET name = 'Hall, \"B\"' WHERE name = 'Hall B'")
    _, lines = await get_csv(new_york, REVENUE, admin, group_by="movie", **PERIOD)
    assert [line[0] for line in lines[1:]] == [
        "'@SUM(A1:A2)",
        '\'=HYPERLINK("http://evil.example","x")',
        "'-2+3",
    ]
    _, by_theater = await get_csv(new_york, REVENUE, admin, group_by="theater", **PERIOD)
    assert [line[0] for line in by_theater[1:]] == ["Hall A", 'Hall, "B"', "Empty"]


async def test_an_empty_csv_has_its_header(client, admin):
    _, lines = await get_csv(client, POPULAR, admin, start_date="2020-01-01", end_date="2020-01-02")
    assert lines == [["movie_id", "title", "tickets_sold", "revenue", "occupancy_rate"]]


@pytest.mark.parametrize(
    ("accept", "csv_expected"),
    [
        ("text/csv", True),
        ("text/csv, */*;q=0.1", True),
        ("application/json;q=0.5, text/csv", True),
        ("text/csv;q=0.9, application/json", False),
        ("application/json, text/csv", False),
        ("text/csv;q=0", False),
        ("*/*", False),
        ("", False),
    ],
)
async def test_csv_only_when_preferred(client, admin, accept, csv_expected):
    response = await client.get(CAPACITY, headers={**admin.headers, "Accept": accept})
    assert response.status == 200
    assert response.content_type == ("text/csv" if csv_expected else "application/json")
    assert response.headers["Vary"] == "Accept"


async def test_errors_stay_json_when_csv_is_asked(client, admin):
    response = await client.get(
        REVENUE, params={"group_by": "week"}, headers={**admin.headers, "Accept": "text/csv"}
    )
    assert response.status == 422
    assert (await response.json())["error"]["code"] == "validation_error"


# Who may ask, and the docs -------------------------------------------------------------------


@pytest.mark.parametrize("path", [CAPACITY, REVENUE, POPULAR])
async def test_reports_are_for_admins_only(client, user, path):
    anonymous = await client.get(path)
    assert anonymous.status == 401
    assert (await anonymous.json())["error"]["code"] == "unauthorized"
    as_user = await client.get(path, headers={**user.headers, "Accept": "text/csv"})
    assert as_user.status == 403
    assert (await as_user.json())["error"]["code"] == "forbidden"


async def test_reports_are_documented(client):
    spec = await (await client.get("/api/docs/swagger.json")).json()
    expected = {
        CAPACITY: {"start_date", "end_date", "movie_id", "theater_id"},
        REVENUE: {"start_date", "end_date", "group_by"},
        POPULAR: {"start_date", "end_date", "limit"},
    }
    for path, parameters in expected.items():
        operation = spec["paths"][path]["get"]
        assert operation["tags"] == ["admin"]
        assert operation["summary"]
        assert operation["security"] == [{"bearerAuth": []}]
        assert operation["produces"] == ["application/json", "text/csv"]
        assert {p["name"] for p in operation["parameters"] if p["in"] == "query"} == parameters
        assert {"200", "401", "403", "422", "503"} <= set(operation["responses"])
