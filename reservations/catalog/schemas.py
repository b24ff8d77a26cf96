"""Catalog schemas: they validate requests and document requests and answers in the API docs."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from ..api import (
    MONEY_PATTERN,
    NOT_BLANK_PATTERN,
    SEAT_TYPES,
    SPACES_PATTERN,
    Money,
    PageFields,
    PageQuery,
    RequestSchema,
)

MAX_ROWS = 50
MAX_SEATS_PER_ROW = 100
MAX_GENRES_PER_MOVIE = 20
# Days and times the API takes: any real programme, none near datetime's limits (years 1 and
# 9999, where moving to another offset overflows). Swagger 2.0 cannot bound a date, so the
# documented schemas bound its year with a pattern.
EARLIEST_DAY = dt.date(1900, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)
YEAR_PATTERN = r"^(19|2[0-9])[0-9]{2}-"

_ROW_LABEL = re.compile(r"^[A-Za-z0-9]{1,5}$")
_SEAT_NUMBER = re.compile(r"^[1-9][0-9]{0,2}$")


# ---- fields -------------------------------------------------------------------------------


def text_length(maximum: int, minimum: int = 0) -> validate.Length:
    """A length check whose message states the limit in words (the console shows it next to
    the field's name); text is never cut to fit."""
    if minimum:
        return validate.Length(
            min=minimum, max=maximum, error=f"Use {minimum} to {maximum} characters."
        )
    return validate.Length(max=maximum, error=f"Use at most {maximum} characters.")


def release_date_field(**kwargs: Any) -> fields.Date:
    return fields.Date(
        allow_none=True,
        validate=validate.Range(
            min=EARLIEST_DAY,
            max=LATEST_DAY,
            error=f"Use a year from {EARLIEST_DAY.year} to {LATEST_DAY.year}.",
        ),
        metadata={
            "example": "2026-05-01",
            "pattern": YEAR_PATTERN,
            "description": f"years {EARLIEST_DAY.year} to {LATEST_DAY.year}",
        },
        **kwargs,
    )


class TrimmedString(fields.String):
    """A string with surrounding whitespace removed, so "  " counts as empty (and is documented
    as needing a non-space character when it may not be empty)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if any(isinstance(check, validate.Length) and check.min for check in self.validators):
            self.metadata = {"pattern": NOT_BLANK_PATTERN, **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).strip()


class Timestamp(fields.AwareDateTime):
    """RFC 3339 with an explicit offset, any offset accepted; loaded as UTC. A timestamp without
    an offset is refused: its meaning would depend on the server's clock."""

    default_error_messages = {
        "year": f"Use a year from {EARLIEST_DAY.year} to {LATEST_DAY.year}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {
                "example": "2026-12-01T19:00:00+00:00",
                "pattern": YEAR_PATTERN,
                "description": f"with an offset; years {EARLIEST_DAY.year} to {LATEST_DAY.year}",
            },
        )
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        # The year as written, checked before moving to UTC, which could overflow.
        if not EARLIEST_DAY.year <= moment.year <= LATEST_DAY.year:
            raise self.make_error("year")
        return moment.astimezone(dt.UTC)


# ---- genres and seat types ----------------------------------------------------------------


class GenreSchema(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True, metadata={"example": "Drama"})


class GenreListSchema(Schema):
    genres = fields.List(fields.Nested(GenreSchema), required=True)


class SeatTypeSchema(Schema):
    name = fields.String(required=True, validate=validate.OneOf(SEAT_TYPES))
    price_multiplier = fields.String(
        required=True,
        metadata={
            "example": "1.25",
            "description": "a seat of this type costs the showtime's price times this, plus "
            "the surcharge",
        },
    )
    surcharge = fields.String(
        required=True,
        metadata={"example": "2.00", "description": "added to the price (a decimal string)"},
    )


class SeatTypeListSchema(Schema):
    seat_types = fields.List(fields.Nested(SeatTypeSchema), required=True)


# ---- movies -------------------------------------------------------------------------------


def _genre_names(**kwargs: Any) -> fields.List:
    return fields.List(
        TrimmedString(validate=text_length(50, 1)),
        validate=validate.Length(
            max=MAX_GENRES_PER_MOVIE, error=f"Name at most {MAX_GENRES_PER_MOVIE} genres."
        ),
        metadata={
            "description": "genre names, compared in any case; a name used for the first time "
            "creates the genre",
            "example": ["Drama", "Comedy"],
        },
        **kwargs,
    )


class MovieUpdateRequest(RequestSchema):
    """Fields present are replaced; absent fields keep their value. A new duration also moves
    the end of the movie's showtimes that have not started."""

    title = TrimmedString(validate=text_length(200, 1))
    description = fields.String(allow_none=True, validate=text_length(5000))
    genres = _genre_names()
    duration_minutes = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=1440), metadata={"example": 120}
    )
    release_date = release_date_field()

    @post_load
    def clean(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "description" in data and data["description"] is None:
            data["description"] = ""
        if "genres" in data:
            data["genres"] = unique_names(data["genres"])
        return data


class MovieCreateRequest(MovieUpdateRequest):
    title = TrimmedString(required=True, validate=text_length(200, 1))
    description = fields.String(load_default="", allow_none=True, validate=text_length(5000))
    genres = _genre_names(required=True)
    duration_minutes = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=1440),
        metadata={"example": 120},
    )
    release_date = release_date_field(load_default=None)


class MovieSchema(Schema):
    id = fields.UUID(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    genres = fields.List(fields.String(), required=True)
    duration_minutes = fields.Integer(required=True)
    release_date = fields.Date(allow_none=True, required=True)
    poster_url = fields.String(
        allow_none=True,
        required=True,
        metadata={"example": "/posters/3f2a0c9d8e7b4a6f9e1d2c3b4a5f6e7d.png"},
    )
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class MovieListSchema(PageFields):
    movies = fields.List(fields.Nested(MovieSchema), required=True)


class MovieListQuery(PageQuery):
    genre = TrimmedString(
        validate=validate.Length(max=50), metadata={"description": "a genre name, any case"}
    )
    date = fields.Date(
        validate=validate.Range(min=EARLIEST_DAY, max=LATEST_DAY),
        metadata={
            "description": "YYYY-MM-DD: movies with a showtime that day (CINEMA_TZ), "
            f"from {EARLIEST_DAY.year} to {LATEST_DAY.year}",
            "pattern": YEAR_PATTERN,
        },
    )
    q = TrimmedString(
        validate=validate.Length(max=200), metadata={"description": "title search, any case"}
    )


def unique_names(names: list[str]) -> list[str]:
    """Names in their order, the first spelling of each (compared in any case)."""
    seen: set[str] = set()
    kept = []
    for name in names:
        if name.casefold() not in seen:
            seen.add(name.casefold())
            kept.append(name)
    return kept


# ---- theaters -----------------------------------------------------------------------------


class RowRequest(RequestSchema):
    label = TrimmedString(
        required=True,
        validate=validate.Length(min=1, max=5),
        metadata={
            "description": "1 to 5 letters or digits, unique in the theater",
            "example": "A",
            "pattern": f"^{SPACES_PATTERN}[A-Za-z0-9]{{1,5}}{SPACES_PATTERN}$",  # trimmed
        },
    )
    seats = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_SEATS_PER_ROW),
        metadata={"example": 12},
    )
    seat_type = fields.String(
        load_default="regular",
        validate=validate.OneOf(SEAT_TYPES),
        metadata={"description": "the type of the row's seats unless seat_types says otherwise"},
    )
    aisles_after = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_SEATS_PER_ROW - 1)),
        load_default=list,
        validate=validate.Length(max=MAX_SEATS_PER_ROW),
        metadata={
            "description": "seat numbers after which an aisle gap follows (1 to seats - 1), "
            "each once",
            "example": [4, 8],
            "uniqueItems": True,
        },
    )
    seat_types = fields.Dict(
        keys=fields.String(validate=validate.Length(max=3)),
        values=fields.String(validate=validate.OneOf(SEAT_TYPES)),
        load_default=dict,
        validate=validate.Length(max=MAX_SEATS_PER_ROW),
        metadata={
            "description": 'types of single seats: {"<seat number>": "<type>"}',
            "example": {"1": "accessible", "2": "accessible"},
        },
    )

    @validates("label")
    def label_format(self, value: str, **kwargs: Any) -> None:
        if not _ROW_LABEL.match(value):
            raise ValidationError("Use 1 to 5 letters or digits.")

    @validates_schema(skip_on_field_errors=True)
    def positions_inside_the_row(self, data: dict[str, Any], **kwargs: Any) -> None:
        seats = data["seats"]
        aisles = data["aisles_after"]
        if any(not 1 <= position < seats for position in aisles):
            raise ValidationError(
                f"Aisles go after a seat number from 1 to {seats - 1}.", "aisles_after"
            )
        if len(set(aisles)) != len(aisles):
            raise ValidationError("Each aisle position once.", "aisles_after")
        for key in data["seat_types"]:
            if not _SEAT_NUMBER.match(key) or int(key) > seats:
                raise ValidationError(
                    f"Keys are seat numbers from 1 to {seats}; {key!r} is not.", "seat_types"
                )

    @post_load
    def seat_numbers(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["aisles_after"] = sorted(data["aisles_after"])
        data["seat_types"] = {int(key): value for key, value in data["seat_types"].items()}
        return data


def _theater_name(**kwargs: Any) -> TrimmedString:
    return TrimmedString(validate=text_length(100, 1), **kwargs)


class TheaterRenameRequest(RequestSchema):
    name = _theater_name(required=True)


class TheaterCreateRequest(RequestSchema):
    name = _theater_name(required=True)
    rows = fields.List(
        fields.Nested(RowRequest),
        required=True,
        validate=validate.Length(min=1, max=MAX_ROWS, error=f"Give 1 to {MAX_ROWS} rows."),
        metadata={"description": "from the screen backwards: the first row is nearest the screen"},
    )
    row_types = fields.Dict(
        keys=fields.String(validate=text_length(5, 1)),
        values=fields.String(validate=validate.OneOf(SEAT_TYPES)),
        load_default=dict,
        validate=validate.Length(max=MAX_ROWS),
        metadata={
            "description": "seat types of whole rows by row label (any case), replacing those "
            "rows' `seat_type`; a label that no row has is refused (422 naming it)",
            "example": {"A": "premium"},
        },
    )

    @validates_schema(skip_on_field_errors=True)
    def labels_unique(self, data: dict[str, Any], **kwargs: Any) -> None:
        labels = [row["label"].casefold() for row in data["rows"]]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValidationError(
                f"Row labels must be unique; repeated: {', '.join(duplicates)}.", "rows"
            )
        unknown = [label for label in data["row_types"] if label.strip().casefold() not in labels]
        if unknown:
            rows = ", ".join(row["label"] for row in data["rows"])
            raise ValidationError(
                f"No row is labelled {', '.join(unknown)}; the rows are {rows}.", "row_types"
            )

    @post_load
    def apply_row_types(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        types = {label.strip().casefold(): name for label, name in data.pop("row_types").items()}
        for row in data["rows"]:
            row["seat_type"] = types.get(row["label"].casefold(), row["seat_type"])
        return data


class SeatSchema(Schema):
    id = fields.UUID(required=True)
    row_label = fields.String(required=True, metadata={"example": "A"})
    seat_number = fields.Integer(required=True, metadata={"example": 12})
    seat_label = fields.String(required=True, metadata={"example": "A12"})
    seat_type = fields.String(required=True, validate=validate.OneOf(SEAT_TYPES))
    row_index = fields.Integer(
        required=True, metadata={"description": "0 is the row nearest the screen"}
    )
    column_index = fields.Integer(
        required=True,
        metadata={"description": "column in the drawn hall, aisle gaps counted, from 0"},
    )


class TheaterRowSchema(Schema):
    label = fields.String(required=True)
    seats = fields.Integer(required=True)
    aisles_after = fields.List(fields.Integer(), required=True)


class TheaterSummarySchema(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    total_seats = fields.Integer(required=True)
    columns = fields.Integer(
        required=True, metadata={"description": "width of the hall in columns, aisles included"}
    )
    rows = fields.List(
        fields.Nested(TheaterRowSchema),
        required=True,
        metadata={"description": "from the screen backwards"},
    )
    created_at = fields.DateTime(required=True)


class TheaterSchema(TheaterSummarySchema):
    seats = fields.List(fields.Nested(SeatSchema), required=True)


class TheaterListSchema(PageFields):
    theaters = fields.List(fields.Nested(TheaterSummarySchema), required=True)


# ---- showtimes ----------------------------------------------------------------------------


_TICKET_PRICE = {
    "type": "string",
    "example": "12.50",
    "pattern": MONEY_PATTERN,
    "description": "a decimal string, at most two places, from 0.01 to MAX_TICKET_PRICE "
    "(1000.00 unless configured); 422 outside",
}


class ShowtimeCreateRequest(RequestSchema):
    movie_id = fields.UUID(required=True)
    theater_id = fields.UUID(required=True)
    start_time = Timestamp(required=True)
    price = Money(
        load_default=None,
        allow_none=False,  # absent: the price cards decide; null is a mistake
        metadata={
            **_TICKET_PRICE,
            "description": _TICKET_PRICE["description"] + "; without it, the price of the price "
            "card matching the local start (GET /api/v1/admin/price-cards), or 422 no_price",
        },
    )


class ShowtimeUpdateRequest(RequestSchema):
    start_time = Timestamp()
    price = Money(metadata=_TICKET_PRICE)


class _Reference(Schema):
    id = fields.UUID(required=True)


class MovieReference(_Reference):
    title = fields.String(required=True)


class TheaterReference(_Reference):
    name = fields.String(required=True)


class ShowtimeSchema(Schema):
    id = fields.UUID(required=True)
    movie_id = fields.UUID(required=True)
    theater_id = fields.UUID(required=True)
    start_time = fields.DateTime(required=True)
    end_time = fields.DateTime(
        required=True,
        metadata={"description": "start_time plus the movie's duration (cleaning not included)"},
    )
    price = fields.String(
        required=True,
        metadata={
            "example": "12.50",
            "description": "base price; a seat costs this times its type's multiplier "
            "(GET /api/v1/seat-types)",
        },
    )
    available_seats = fields.Integer(
        required=True, metadata={"description": "seats neither sold nor held by a live hold"}
    )
    total_seats = fields.Integer(required=True)
    movie = fields.Nested(MovieReference, required=True)
    theater = fields.Nested(TheaterReference, required=True)
    cancelled_at = fields.DateTime(
        allow_none=True,
        required=True,
        metadata={"description": "set once the showtime is cancelled (DELETE)"},
    )


class ShowtimeListSchema(PageFields):
    showtimes = fields.List(fields.Nested(ShowtimeSchema), required=True)


class MovieShowtimesQuery(PageQuery):
    date = fields.Date(
        validate=validate.Range(min=EARLIEST_DAY, max=LATEST_DAY),
        metadata={
            "description": f"YYYY-MM-DD, a day in CINEMA_TZ, from {EARLIEST_DAY.year} to "
            f"{LATEST_DAY.year}",
            "pattern": YEAR_PATTERN,
        },
    )
    include_past = fields.Boolean(
        load_default=False,
        metadata={"description": "also showtimes that have ended (hidden by default)"},
    )


class ShowtimeListQuery(MovieShowtimesQuery):
    movie_id = fields.UUID()
    theater_id = fields.UUID()
    genre = TrimmedString(
        validate=validate.Length(max=50), metadata={"description": "a genre name, any case"}
    )
