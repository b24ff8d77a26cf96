"""Report schemas: they validate the query strings and document the answers in the API docs."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..api import RequestSchema
from .service import DEFAULT_DAYS_AROUND_TODAY, GROUPINGS, MAX_PERIOD_DAYS

MAX_POPULAR_MOVIES = 100

_PERIOD = (
    "Days are whole local days in the cinema's time zone (CINEMA_TZ, echoed as `time_zone`): "
    "the report covers the showtimes starting from `start_date` 00:00 up to `end_date` 24:00 "
    f"local time. At most {MAX_PERIOD_DAYS} days, and `end_date` may not be before `start_date` "
    "(otherwise 422); a missing date takes its default whatever the other one is."
)
_OCCUPANCY = "Seats sold / seats, from 0 to 1, rounded to 4 places; 0 when there are no seats."
_RATE = validate.Range(min=0, max=1)
_MONEY = {"example": "12.50", "pattern": r"^\d+\.\d{2}$", "description": "Money: a decimal string"}


class PeriodQuery(RequestSchema):
    start_date = fields.Date(
        metadata={
            "description": "YYYY-MM-DD, first local day of the report; by default "
            f"{DEFAULT_DAYS_AROUND_TODAY} days before today (local). " + _PERIOD
        },
    )
    end_date = fields.Date(
        metadata={
            "description": "YYYY-MM-DD, last local day of the report (included); by default "
            f"{DEFAULT_DAYS_AROUND_TODAY} days after today (local). " + _PERIOD
        },
    )


class CapacityQuery(PeriodQuery):
    movie_id = fields.UUID(metadata={"description": "Only this movie"})
    theater_id = fields.UUID(metadata={"description": "Only this theater"})


class RevenueQuery(PeriodQuery):
    group_by = fields.String(
        load_default="day",
        validate=validate.OneOf(GROUPINGS),
        metadata={
            "description": "`day`: one row per local day with showtimes (key YYYY-MM-DD, oldest "
            "first); `movie`: one row per movie shown (key its title, id its id); `theater`: "
            "one row per theater used (key its name, id its id); movies and theaters by most "
            "revenue first. Default `day`."
        },
    )


class PopularMoviesQuery(PeriodQuery):
    limit = fields.Integer(
        load_default=10,
        validate=validate.Range(min=1, max=MAX_POPULAR_MOVIES),
        metadata={"description": f"How many movies, 1 to {MAX_POPULAR_MOVIES} (default 10)"},
    )


class _PeriodFields(Schema):
    start_date = fields.Date(required=True, metadata={"description": "First local day"})
    end_date = fields.Date(required=True, metadata={"description": "Last local day (included)"})
    time_zone = fields.String(
        required=True,
        metadata={"example": "Europe/Paris", "description": "The zone the days are read in"},
    )


class CapacityRow(Schema):
    showtime_id = fields.UUID(required=True)
    movie_title = fields.String(required=True)
    theater_name = fields.String(required=True)
    start_time = fields.DateTime(required=True)
    total_seats = fields.Integer(required=True, metadata={"description": "Seats of the theater"})
    sold_seats = fields.Integer(
        required=True, metadata={"description": "Seats of confirmed reservations"}
    )
    occupancy_rate = fields.Float(
        required=True, validate=_RATE, metadata={"description": _OCCUPANCY}
    )
    admitted_seats = fields.Integer(
        required=True, metadata={"description": "Seats sold that were admitted at the door"}
    )
    no_shows = fields.Integer(
        required=True, metadata={"description": "Seats sold never admitted: sold - admitted"}
    )


class CapacityTotals(Schema):
    showtimes = fields.Integer(required=True)
    total_seats = fields.Integer(required=True)
    sold_seats = fields.Integer(required=True)
    occupancy_rate = fields.Float(
        required=True, validate=_RATE, metadata={"description": _OCCUPANCY}
    )
    admitted_seats = fields.Integer(
        required=True, metadata={"description": "Seats sold that were admitted at the door"}
    )
    no_shows = fields.Integer(
        required=True, metadata={"description": "Seats sold never admitted: sold - admitted"}
    )


class CapacityReport(_PeriodFields):
    rows = fields.List(
        fields.Nested(CapacityRow),
        required=True,
        metadata={"description": "Showtimes of the period that are not cancelled, earliest first"},
    )
    totals = fields.Nested(CapacityTotals, required=True)


class RevenueRow(Schema):
    key = fields.String(
        required=True, metadata={"description": "The local day, the movie title or theater name"}
    )
    id = fields.UUID(
        required=True,
        allow_none=True,
        metadata={"description": "The movie or theater id; null when grouped by day"},
    )
    tickets = fields.Integer(required=True, metadata={"description": "Seats sold"})
    revenue = fields.String(required=True, metadata=_MONEY)


class RevenueReport(_PeriodFields):
    rows = fields.List(fields.Nested(RevenueRow), required=True)
    total_revenue = fields.String(required=True, metadata=_MONEY)
    total_tickets = fields.Integer(required=True)
    group_by = fields.String(required=True, validate=validate.OneOf(GROUPINGS))


class PopularMovie(Schema):
    movie_id = fields.UUID(required=True)
    title = fields.String(required=True)
    tickets_sold = fields.Integer(required=True)
    revenue = fields.String(required=True, metadata=_MONEY)
    occupancy_rate = fields.Float(
        required=True,
        validate=_RATE,
        metadata={"description": "Over all its showtimes of the period. " + _OCCUPANCY},
    )


class PopularMoviesReport(_PeriodFields):
    movies = fields.List(
        fields.Nested(PopularMovie),
        required=True,
        metadata={"description": "Most tickets sold first, then most revenue"},
    )
