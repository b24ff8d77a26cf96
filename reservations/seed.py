"""Demo data for `reservations seed`: an admin, three halls, movies with posters, a week of shows.

Idempotent: everything is looked up by its natural key (email, theater name, movie title, a
theater's time slot) and only what is missing is made, through the catalog's own rules, so a
second run changes nothing. Run on a later day, it fills the days that have come into the week.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import textwrap
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from PIL import Image, ImageDraw, ImageFont

from . import hashing
from .accounts.passwords import PasswordHasher
from .accounts.service import create_admin
from .catalog import movies, posters, showtimes, theaters
from .catalog.errors import ShowtimeOverlap, StartInPast, TheaterNameTaken
from .db import QUERIES, create_pool
from .settings import Settings

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin123"
DAYS = 7
ROW_LABELS = "ABCDEFGHIJ"


def _rows(
    count: int,
    seats: int,
    aisles_after: list[int],
    row_types: dict[str, str],
    single_seats: dict[str, dict[int, str]],
) -> list[dict[str, Any]]:
    return [
        {
            "label": label,
            "seats": seats,
            "seat_type": row_types.get(label, "regular"),
            "aisles_after": aisles_after,
            "seat_types": single_seats.get(label, {}),
        }
        for label in ROW_LABELS[:count]
    ]


# Three shapes, every seat type: (name, rows, first show of the day, minutes between shows)
THEATERS: list[tuple[str, list[dict[str, Any]], dt.time]] = [
    (
        "Studio 1",  # small, no aisle
        _rows(
            6, 10, [], {"E": "premium", "F": "premium"}, {"A": {1: "accessible", 10: "accessible"}}
        ),
        dt.time(12, 0),
    ),
    (
        "Main Hall",  # two aisles, premium middle, vip at the back
        _rows(
            10,
            16,
            [4, 12],
            {"F": "premium", "G": "premium", "H": "premium", "I": "vip", "J": "vip"},
            {"A": {1: "accessible", 2: "accessible", 15: "accessible", 16: "accessible"}},
        ),
        dt.time(12, 30),
    ),
    (
        "Panorama",  # wide, one centre aisle
        _rows(
            8,
            20,
            [10],
            {"D": "premium", "E": "premium", "H": "vip"},
            {"A": {1: "accessible", 20: "accessible"}},
        ),
        dt.time(13, 0),
    ),
]
SHOWS_PER_DAY = 4
SHOW_SPACING = dt.timedelta(hours=3)  # longer than the longest movie plus cleaning
PRICES = [Decimal("9.50"), Decimal("11.00"), Decimal("13.50"), Decimal("13.50")]
# Premium and VIP seats cost the showtime's price plus these (12.50 + 2.00 = 14.50 EUR), prices
# a cinema would print; a demo voucher takes 10% off.
PREMIUM_SURCHARGE = Decimal("2.00")
VIP_SURCHARGE = Decimal("4.00")
DEMO_VOUCHER = "DEMO10"
DEMO_VOUCHER_PERCENT = Decimal(10)
DEMO_VOUCHER_USES = 1000


@dataclass(frozen=True)
class DemoMovie:
    title: str
    genres: list[str]
    duration_minutes: int
    release_date: dt.date
    description: str
    colour: tuple[int, int, int]


MOVIES = [
    DemoMovie(
        "The Last Lighthouse",
        ["Drama", "Mystery"],
        118,
        dt.date(2024, 3, 8),
        "A keeper on a storm-bound island finds a logbook written in her own hand.",
        (24, 58, 94),
    ),
    DemoMovie(
        "Orbit of Ashes",
        ["Sci-Fi", "Action"],
        134,
        dt.date(2024, 7, 19),
        "The crew of a failing station has one orbit left to choose who goes home.",
        (120, 36, 24),
    ),
    DemoMovie(
        "Paper Moons",
        ["Comedy", "Romance"],
        97,
        dt.date(2023, 11, 3),
        "Two rival origami artists are booked for the same wedding.",
        (196, 120, 40),
    ),
    DemoMovie(
        "Midnight at the Archive",
        ["Thriller", "Mystery"],
        109,
        dt.date(2024, 1, 26),
        "A night clerk notices that one file keeps changing between rounds.",
        (40, 40, 56),
    ),
    DemoMovie(
        "The Clockmaker's Garden",
        ["Animation", "Family"],
        92,
        dt.date(2023, 12, 15),
        "A girl and a brass hedgehog keep the seasons running on time.",
        (46, 120, 70),
    ),
    DemoMovie(
        "Salt and Thunder",
        ["Adventure", "Action"],
        141,
        dt.date(2024, 5, 31),
        "A salvage crew races a hurricane to a wreck that should not be there.",
        (30, 90, 120),
    ),
    DemoMovie(
        "Quiet Neighbours",
        ["Horror"],
        101,
        dt.date(2023, 10, 27),
        "The new family on the street never makes a sound. Not one.",
        (70, 16, 30),
    ),
    DemoMovie(
        "A Year of Small Things",
        ["Drama", "Romance"],
        124,
        dt.date(2024, 2, 14),
        "Twelve months, one kitchen table, and everything that happens around it.",
        (150, 90, 110),
    ),
    DemoMovie(
        "Glass Mountains",
        ["Documentary"],
        88,
        dt.date(2023, 9, 1),
        "Glaciologists follow the ice of one valley through a single year.",
        (90, 130, 150),
    ),
]


def draw_poster(title: str, genres: list[str], colour: tuple[int, int, int], path: Path) -> None:
    """A 400x600 PNG: a coloured background, a frame, the title and the genres."""
    image = Image.new("RGB", (400, 600), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((16, 16, 383, 583), outline=(255, 255, 255), width=3)
    try:
        title_font: Any = ImageFont.load_default(size=40)
        small_font: Any = ImageFont.load_default(size=22)
    except (OSError, TypeError):  # Pillow without FreeType: the small bitmap font
        title_font = small_font = ImageFont.load_default()
    y = 200
    for line in textwrap.wrap(title, width=14):
        draw.text((200, y), line, fill=(255, 255, 255), font=title_font, anchor="mm")
        y += 50
    draw.text((200, 520), " · ".join(genres), fill=(235, 235, 235), font=small_font, anchor="mm")
    image.save(path, "PNG")


async def _seed_admin(pool: asyncpg.Pool, settings: Settings) -> tuple[str, bool]:
    """(what happened, whether the demo password is still in use)."""
    hasher = PasswordHasher(settings.bcrypt_rounds)
    existing = await pool.fetchrow(QUERIES.find_user_by_email, ADMIN_EMAIL)
    if existing is None:
        await create_admin(pool, hasher, ADMIN_EMAIL, ADMIN_PASSWORD)
        return "created", True
    return "already there", await hasher.check(ADMIN_PASSWORD, existing["password_hash"])


async def demo_admin_password_works(dsn: str) -> bool:
    """Whether the demo admin (ADMIN_EMAIL) still has the published ADMIN_PASSWORD: anyone who
    read the README can then log in as an admin."""
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        found = await conn.fetchrow(QUERIES.find_user_by_email, ADMIN_EMAIL)
    finally:
        await conn.close()
    if found is None or found["role"] != "admin":
        return False
    # One check, in `serve`'s supervisor: a thread, not a pool of hashing processes.
    return await asyncio.to_thread(
        hashing.check_password, ADMIN_PASSWORD.encode(), found["password_hash"].encode()
    )


async def _seed_theaters(pool: asyncpg.Pool) -> tuple[list[tuple[Any, dt.time]], int]:
    """The theaters' ids with their first show time, and how many were made."""
    made = 0
    found = []
    for name, rows, first_show in THEATERS:
        try:
            theater = await theaters.create_theater(pool, name, rows)
            theater_id = theater["id"]
            made += 1
        except TheaterNameTaken:
            theater_id = await theaters.find_theater_by_name(pool, name)
        found.append((theater_id, first_show))
    return found, made


async def _seed_movies(pool: asyncpg.Pool, settings: Settings) -> tuple[list[Any], int, int]:
    """The movies' ids, how many were made and how many posters were drawn."""
    loop = asyncio.get_running_loop()
    made = drawn = 0
    ids = []
    for demo in MOVIES:
        existing = await movies.find_movie_by_title(pool, demo.title)
        if existing is None:
            movie = await movies.create_movie(
                pool,
                title=demo.title,
                description=demo.description,
                genres=demo.genres,
                duration_minutes=demo.duration_minutes,
                release_date=demo.release_date,
            )
            movie_id, poster_file = movie["id"], None
            made += 1
        else:
            movie_id, poster_file = existing["id"], existing["poster_file"]
        poster = posters.poster_path(settings.poster_dir, poster_file) if poster_file else None
        if poster is None or not await loop.run_in_executor(None, poster.is_file):
            upload = await loop.run_in_executor(None, posters.new_upload_file, settings.poster_dir)
            await loop.run_in_executor(
                None, draw_poster, demo.title, demo.genres, demo.colour, upload
            )
            await movies.set_poster(pool, settings, movie_id, upload)
            drawn += 1
        ids.append(movie_id)
    return ids, made, drawn


async def _seed_showtimes(
    pool: asyncpg.Pool,
    settings: Settings,
    halls: list[tuple[Any, dt.time]],
    movie_ids: list[Any],
) -> tuple[int, int]:
    """Shows at fixed local times over the next days; (shows in the week, how many made).
    A slot that is already taken, or already past, is left as it is."""
    zone = settings.cinema_tz
    today = dt.datetime.now(zone).date()
    made = existing = 0
    for day_number in range(DAYS):
        day = today + dt.timedelta(days=day_number)
        for hall_number, (theater_id, first_show) in enumerate(halls):
            for slot in range(SHOWS_PER_DAY):
                start = dt.datetime.combine(day, first_show, tzinfo=zone) + slot * SHOW_SPACING
                movie_id = movie_ids[
                    (day_number * SHOWS_PER_DAY + slot + hall_number * 3) % len(movie_ids)
                ]
                try:
                    await showtimes.create_showtime(
                        pool,
                        settings,
                        movie_id=movie_id,
                        theater_id=theater_id,
                        start_time=start.astimezone(dt.UTC),
                        price=PRICES[slot],
                    )
                    made += 1
                except ShowtimeOverlap:
                    existing += 1
                except StartInPast:
                    pass
    return made + existing, made


async def seed(dsn: str, settings: Settings) -> str:
    """Add the demo data that is missing; a short summary of what is there."""
    pool = await create_pool(dsn, settings)
    try:
        admin, demo_password = await _seed_admin(pool, settings)
        halls, theaters_made = await _seed_theaters(pool)
        movie_ids, movies_made, posters_drawn = await _seed_movies(pool, settings)
        shows, shows_made = await _seed_showtimes(pool, settings, halls, movie_ids)
        await pool.execute(QUERIES.seed_seat_type_prices, PREMIUM_SURCHARGE, VIP_SURCHARGE)
        await pool.execute(
            QUERIES.seed_demo_voucher, DEMO_VOUCHER, DEMO_VOUCHER_PERCENT, DEMO_VOUCHER_USES
        )
    finally:
        await pool.close()
    lines = [
        "Demo data:",
        f"  admin {ADMIN_EMAIL}: {admin}",
        f"  theaters: {len(halls)} ({theaters_made} new)",
        f"  movies: {len(movie_ids)} ({movies_made} new, {posters_drawn} posters drawn)",
        f"  showtimes in the next {DAYS} days ({settings.cinema_tz.key}): "
        f"{shows} ({shows_made} new)",
        f"  seat prices: premium +{PREMIUM_SURCHARGE}, vip +{VIP_SURCHARGE}; "
        f"voucher {DEMO_VOUCHER} takes {DEMO_VOUCHER_PERCENT}% off",
    ]
    if demo_password:
        lines.append(
            f"WARNING: {ADMIN_EMAIL} has the public demo password {ADMIN_PASSWORD!r}; change it "
            f"with `reservations create-admin --email {ADMIN_EMAIL} --password <new password>`."
        )
    return "\n".join(lines)
