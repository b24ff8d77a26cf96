"""Admin reports: capacity, revenue and popular movies over a period of local days.

Every figure is computed by one query of sql/reports.sql; this module picks the period, runs the
query and shapes its rows. Only showtimes that are not cancelled count, and only confirmed
reservations sell seats.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from ..db import QUERIES
from ..errors import Unprocessable

DEFAULT_DAYS_AROUND_TODAY = 30
MAX_PERIOD_DAYS = 366
GROUPINGS = ("day", "movie", "theater")

CAPACITY_COLUMNS = (
    "showtime_id",
    "movie_title",
    "theater_name",
    "start_time",
    "total_seats",
    "sold_seats",
    "occupancy_rate",
    "admitted_seats",
    "no_shows",
)
CAPACITY_TOTALS = (
    "showtimes",
    "total_seats",
    "sold_seats",
    "occupancy_rate",
    "admitted_seats",
    "no_shows",
)
REVENUE_COLUMNS = ("key", "id", "tickets", "revenue")
POPULAR_MOVIE_COLUMNS = ("movie_id", "title", "tickets_sold", "revenue", "occupancy_rate")


class InvalidPeriod(Unprocessable):
    code = "invalid_date_range"
    message = "The date range is invalid."


@dataclass(frozen=True)
class Period:
    """Whole local days, `start_date` to `end_date` included, read in `time_zone`."""

    start_date: dt.date
    end_date: dt.date
    time_zone: ZoneInfo

    @classmethod
    def resolve(
        cls,
        start_date: dt.date | None,
        end_date: dt.date | None,
        time_zone: ZoneInfo,
        today: dt.date | None = None,
    ) -> Period:
        """The asked days; a missing start is 30 days before today (local), a missing end 30
        days after, whether or not the other was given."""
        today = today or dt.datetime.now(time_zone).date()
        around = dt.timedelta(days=DEFAULT_DAYS_AROUND_TODAY)
        start = start_date if start_date is not None else today - around
        end = end_date if end_date is not None else today + around
        if end < start:
            raise InvalidPeriod(
                "end_date is before start_date.",
                details=_period_details(
                    start, end, {"end_date": ["Must not be before start_date."]}
                ),
            )
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise InvalidPeriod(
                f"A report covers at most {MAX_PERIOD_DAYS} days.",
                details=_period_details(
                    start, end, {"end_date": [f"At most {MAX_PERIOD_DAYS} days after start_date."]}
                ),
            )
        return cls(start, end, time_zone)

    @property
    def arguments(self) -> tuple[dt.date, dt.date, str]:
        """The first three parameters of every report query."""
        return self.start_date, self.end_date, self.time_zone.key

    def describe(self) -> dict[str, Any]:
        return {
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "time_zone": self.time_zone.key,
        }


def _period_details(start: dt.date, end: dt.date, messages: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "location": "query",
        "fields": messages,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
    }


def _row_view(record: asyncpg.Record, names: tuple[str, ...]) -> dict[str, Any]:
    """A report row as the API answers it: the columns its schema (schemas.py) documents."""
    return {name: record[name] for name in names}


def _split_totals(records: list[asyncpg.Record]) -> tuple[list[asyncpg.Record], asyncpg.Record]:
    """The queries end with their totals row (is_total), present even when nothing matched."""
    *rows, totals = records
    assert totals["is_total"], "report query without its totals row"
    return rows, totals


async def capacity(
    pool: asyncpg.Pool,
    period: Period,
    movie_id: uuid.UUID | None = None,
    theater_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        records = await conn.fetch(QUERIES.capacity_report, *period.arguments, movie_id, theater_id)
    rows, totals = _split_totals(records)
    return {
        "rows": [_row_view(row, CAPACITY_COLUMNS) for row in rows],
        "totals": _row_view(totals, CAPACITY_TOTALS),
        **period.describe(),
    }


async def revenue(pool: asyncpg.Pool, period: Period, group_by: str) -> dict[str, Any]:
    if group_by not in GROUPINGS:
        raise ValueError(f"unknown grouping {group_by!r}")
    async with pool.acquire() as conn:
        records = await conn.fetch(QUERIES.revenue_report, *period.arguments, group_by)
    rows, totals = _split_totals(records)
    return {
        "rows": [_row_view(row, REVENUE_COLUMNS) for row in rows],
        "total_revenue": totals["revenue"],
        "total_tickets": totals["tickets"],
        "group_by": group_by,
        **period.describe(),
    }


async def popular_movies(pool: asyncpg.Pool, period: Period, limit: int) -> dict[str, Any]:
    async with pool.acquire() as conn:
        records = await conn.fetch(QUERIES.popular_movies, *period.arguments, limit)
    return {
        "movies": [_row_view(row, POPULAR_MOVIE_COLUMNS) for row in records],
        **period.describe(),
    }
