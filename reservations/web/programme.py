"""The programme page's rules: which days it offers, what its query may say, and how a day's
showtimes are grouped under their movies."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DAYS_SHOWN = 7
MAX_GENRE_LENGTH = 50
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BadProgrammeQuery(ValueError):
    """A query value the page cannot use; the message is shown to the person."""


@dataclass(frozen=True)
class Day:
    date: dt.date
    name: str
    short: str
    href: str
    current: bool


@dataclass
class ProgrammeShowtime:
    id: str
    start: dt.datetime
    theater_name: str
    available_seats: int | None
    started: bool
    from_price: str | None = None  # "9.50": the cheapest seat for the default ticket type


@dataclass
class ProgrammeMovie:
    id: str
    title: str
    description: str
    genres: list[str]
    duration_minutes: int
    poster_url: str | None
    showtimes: list[ProgrammeShowtime] = field(default_factory=list)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def parse_day(raw: str | None, today: dt.date) -> dt.date:
    """The day asked for (YYYY-MM-DD), today when absent; one of the next DAYS_SHOWN days."""
    if raw is None or raw == "":
        return today
    if not _DATE.match(raw):
        raise BadProgrammeQuery("Dates look like 2026-12-01 (year, month, day).")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise BadProgrammeQuery(f"There is no such day as {raw}.") from None
    if not today <= day < today + dt.timedelta(days=DAYS_SHOWN):
        raise BadProgrammeQuery(
            f"The programme covers the next {DAYS_SHOWN} days, from {today.isoformat()} to "
            f"{(today + dt.timedelta(days=DAYS_SHOWN - 1)).isoformat()}."
        )
    return day


def parse_genre(raw: str | None) -> str | None:
    if raw is None:
        return None
    genre = raw.strip()
    if not genre:
        return None
    if len(genre) > MAX_GENRE_LENGTH or any(
        unicodedata.category(character).startswith("C") for character in genre
    ):
        raise BadProgrammeQuery("That is not a genre we know.")
    return genre


def href(day: dt.date | None, genre: str | None) -> str:
    query = {}
    if day is not None:
        query["date"] = day.isoformat()
    if genre:
        query["genre"] = genre
    return "/?" + urllib.parse.urlencode(query) if query else "/"


def day_tabs(today: dt.date, chosen: dt.date, genre: str | None) -> list[Day]:
    days = []
    for offset in range(DAYS_SHOWN):
        date = today + dt.timedelta(days=offset)
        name = {0: "Today", 1: "Tomorrow"}.get(offset, date.strftime("%a"))
        days.append(
            Day(
                date=date,
                name=name,
                short=f"{date.day} {date.strftime('%b')}",
                href=href(date, genre),
                current=date == chosen,
            )
        )
    return days


def day_label(day: dt.date, today: dt.date) -> str:
    if day == today:
        return "today"
    if day == today + dt.timedelta(days=1):
        return "tomorrow"
    return f"on {day.strftime('%A')} {day.day} {day.strftime('%B')}"


def group_by_movie(
    movies: Iterable[Mapping[str, Any]],
    showtimes: Iterable[Mapping[str, Any]],
    now: dt.datetime,
    lowest_prices: Mapping[Any, Decimal] | None = None,
) -> list[ProgrammeMovie]:
    """Movies (in the order given) with their showtimes of the day, earliest first, each with
    its "from" price when `lowest_prices` (showtime id -> price) has one; movies without a
    showtime left out."""
    lowest_prices = lowest_prices or {}
    by_movie: dict[str, list[ProgrammeShowtime]] = {}
    for showtime in sorted(showtimes, key=lambda item: item["start_time"]):
        by_movie.setdefault(str(showtime["movie_id"]), []).append(
            ProgrammeShowtime(
                id=str(showtime["id"]),
                start=showtime["start_time"],
                theater_name=showtime["theater"]["name"],
                available_seats=showtime.get("available_seats"),
                started=showtime["start_time"] <= now,
                from_price=_money(lowest_prices.get(showtime["id"])),
            )
        )
    grouped = []
    for movie in movies:
        times = by_movie.get(str(movie["id"]))
        if not times:
            continue
        grouped.append(
            ProgrammeMovie(
                id=str(movie["id"]),
                title=movie["title"],
                description=movie.get("description") or "",
                genres=list(movie.get("genres") or []),
                duration_minutes=movie["duration_minutes"],
                poster_url=movie.get("poster_url"),
                showtimes=times,
            )
        )
    return grouped
