"""`reservations seed`: a useful demo, and running it again changes nothing."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

from reservations.seed import ADMIN_EMAIL, seed

TABLES = ("users", "genres", "movies", "movie_genres", "theaters", "seats", "showtimes")


async def counts(db) -> dict[str, int]:
    return {table: await db.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


async def test_seeding_twice_changes_nothing(database, settings, db):
    first = await seed(database, settings)
    after_first = await counts(db)
    files = sorted(os.listdir(settings.poster_dir))
    showtimes = await db.fetch("SELECT id, start_time, updated_at FROM showtimes ORDER BY id")

    second = await seed(database, settings)
    assert await counts(db) == after_first
    assert sorted(os.listdir(settings.poster_dir)) == files
    assert (
        await db.fetch("SELECT id, start_time, updated_at FROM showtimes ORDER BY id") == showtimes
    )

    assert "admin admin@example.com: created" in first
    assert "admin admin@example.com: already there" in second
    assert "(0 new" in second.split("theaters:")[1]
    assert "change it" in first and "change it" in second  # the demo password is still in use
    assert after_first["users"] == 1
    assert after_first["theaters"] == 3
    assert after_first["movies"] >= 8
    assert len(files) == after_first["movies"]


async def test_the_demo_is_useful(database, settings, db, client):
    await seed(database, settings)
    admin = await db.fetchrow("SELECT role FROM users WHERE email = $1", ADMIN_EMAIL)
    assert admin["role"] == "admin"
    login = await client.post(
        "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": "admin123"}
    )
    assert login.status == 200

    # Three halls of different shapes, with every seat type and aisles.
    halls = (await (await client.get("/api/v1/theaters")).json())["theaters"]
    assert len({(len(hall["rows"]), hall["rows"][0]["seats"]) for hall in halls}) == 3
    assert any(hall["rows"][0]["aisles_after"] for hall in halls)
    seat_types = {
        row["seat_type"] for row in await db.fetch("SELECT DISTINCT seat_type FROM seats")
    }
    assert seat_types == {"regular", "premium", "vip", "accessible"}

    # Movies in several genres, each with a poster that is on disk and served.
    listed = (await (await client.get("/api/v1/movies?page_size=100")).json())["movies"]
    assert len(listed) >= 8
    assert len({genre for movie in listed for genre in movie["genres"]}) >= 5
    for movie in listed:
        assert movie["poster_url"]
        name = movie["poster_url"].removeprefix("/posters/")
        assert (settings.poster_dir / name).is_file()
        served = await client.get(movie["poster_url"])
        assert served.status == 200
        assert served.headers["Content-Type"] == "image/png"
        assert (await served.read()).startswith(b"\x89PNG")

    # Showtimes over the coming week, listed with their available seats.
    now = dt.datetime.now(dt.UTC)
    starts = [row["start_time"] for row in await db.fetch("SELECT start_time FROM showtimes")]
    assert starts and all(now < start < now + dt.timedelta(days=8) for start in starts)
    days = {start.date() for start in starts}
    assert len(days) >= 6
    page = await (await client.get("/api/v1/showtimes?page_size=5")).json()
    assert page["total"] == len(starts)
    assert all(item["available_seats"] == item["total_seats"] > 0 for item in page["showtimes"])

    # Prices a cinema would print: a full-price seat costs whole ten cents; a voucher to try.
    showtime_id = page["showtimes"][0]["id"]
    prices = (await (await client.get(f"/api/v1/showtimes/{showtime_id}/prices")).json())["prices"]
    adult = {row["seat_type"]: row["price"] for row in prices if row["ticket_type"] == "adult"}
    base = page["showtimes"][0]["price"]
    assert adult["premium"] == f"{float(base) + 2:.2f}" and adult["vip"] == f"{float(base) + 4:.2f}"
    assert all(price.endswith("0") for price in adult.values())
    assert await db.fetchval("SELECT count(*) FROM vouchers WHERE code = 'DEMO10'") == 1


async def test_a_lost_poster_is_drawn_again(database, settings, db):
    await seed(database, settings)
    victim = sorted(os.listdir(settings.poster_dir))[0]
    (settings.poster_dir / victim).unlink()
    summary = await seed(database, settings)
    assert "1 posters drawn" in summary
    assert len(os.listdir(settings.poster_dir)) == await db.fetchval("SELECT count(*) FROM movies")


async def test_showtimes_follow_the_cinema_time_zone(database, make_settings, db):
    zone = ZoneInfo("Asia/Tokyo")
    await seed(database, make_settings(cinema_tz=zone))
    local_times = {
        row["start_time"].astimezone(zone).time()
        for row in await db.fetch("SELECT start_time FROM showtimes")
    }
    assert dt.time(12, 0) in local_times or dt.time(15, 0) in local_times
    assert all(time.minute in (0, 30) and 12 <= time.hour <= 22 for time in local_times)
