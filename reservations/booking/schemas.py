"""Booking schemas: they validate requests and document requests and answers in the API docs."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..api import (
    MONEY_PATTERN,
    SEAT_TYPES,
    JsonBoolean,
    Money,
    PageFields,
    PageQuery,
    RequestSchema,
)
from ..settings import GAP_RULES

# A bound on the body, not the rule: MAX_SEATS_PER_HOLD is checked by the service (422
# too_many_seats), since it is a setting.
MAX_SEAT_IDS_IN_REQUEST = 1000
# A bound that keeps the request line short (100 repeated `seat_ids=<uuid>` make about 4.6 KiB),
# well within what the server reads (app.MAX_REQUEST_LINE_BYTES).
MAX_SEAT_IDS_IN_QUERY = 100
SEAT_STATUSES = ("available", "held", "sold")
RESERVATION_STATUSES = ("confirmed", "cancelled")
CANCEL_REASONS = ("cancelled_by_user", "cancelled_by_admin", "showtime_cancelled")


class SeatIdList(fields.List):
    """A list of seat ids whose per-item errors are keyed by position as text ("0"), since JSON
    objects have no integer keys (marshmallow's List uses integers)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.UUID(), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            messages = error.messages
            if isinstance(messages, dict):
                messages = {str(key): message for key, message in messages.items()}
            raise ValidationError(messages, valid_data=error.valid_data) from None


def _money(description: str) -> fields.String:
    return fields.String(
        required=True,
        metadata={"example": "12.50", "description": f"{description} (decimal string)"},
    )


class LockSeatsRequest(RequestSchema):
    seat_ids = SeatIdList(
        required=True,
        validate=validate.Length(min=1, max=MAX_SEAT_IDS_IN_REQUEST),
        metadata={
            "description": "Seats of the showtime's theater; repeated ids count once. Together "
            "with the seats already held, at most MAX_SEATS_PER_HOLD (default 10)."
        },
    )


class ReleaseSeatsRequest(RequestSchema):
    seat_ids = SeatIdList(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_SEAT_IDS_IN_REQUEST),
        metadata={"description": "The held seats to release; absent or null: all of them."},
    )


class ReservationRequest(RequestSchema):
    showtime_id = fields.UUID(required=True)
    seat_ids = SeatIdList(
        required=True,
        validate=validate.Length(min=1, max=MAX_SEAT_IDS_IN_REQUEST),
        metadata={"description": "Seats the caller holds now; repeated ids count once."},
    )
    expected_total = Money(
        load_default=None,
        metadata={
            "type": "string",
            "example": "25.00",
            "pattern": MONEY_PATTERN,
            "description": "Optional: the total the caller agreed to (the hold's total_price). "
            "If the seats now cost something else (the showtime's price changed while they "
            "were held), nothing is booked: 409 price_changed with details.expected_total and "
            "details.total_price.",
        },
    )


class ReservationListQuery(PageQuery):
    include_past = fields.Boolean(
        load_default=False,
        metadata={"description": "Also list reservations whose show has started (after the rest)."},
    )


class SeatMapSeatSchema(Schema):
    id = fields.UUID(required=True)
    row_label = fields.String(required=True, metadata={"example": "A"})
    seat_number = fields.Integer(required=True, metadata={"example": 12})
    seat_label = fields.String(required=True, metadata={"example": "A12"})
    seat_type = fields.String(
        required=True, validate=validate.OneOf(["regular", "premium", "vip", "accessible"])
    )
    row_index = fields.Integer(
        required=True, metadata={"description": "Drawing position: row 0 is nearest the screen."}
    )
    column_index = fields.Integer(
        required=True, metadata={"description": "Drawing position; aisles are gaps in it."}
    )
    price = _money("Showtime price times the seat type's multiplier")
    status = fields.String(required=True, validate=validate.OneOf(SEAT_STATUSES))
    is_available = fields.Boolean(required=True)
    is_locked = fields.Boolean(required=True, metadata={"description": "Held (status held)."})
    held_by_me = fields.Boolean(
        metadata={"description": "Only with a token: the caller holds this seat."}
    )


class SeatMapSchema(Schema):
    showtime_id = fields.UUID(required=True)
    version = fields.Integer(
        required=True,
        metadata={"description": "Grows by one with every seat change (as on the live map)."},
    )
    total_seats = fields.Integer(required=True)
    available_seats = fields.Integer(required=True)
    seats = fields.List(fields.Nested(SeatMapSeatSchema), required=True)


class HoldSchema(Schema):
    hold_id = fields.UUID(required=True)
    showtime_id = fields.UUID(required=True)
    locked_seat_ids = fields.List(
        fields.UUID(),
        required=True,
        metadata={"description": "Every seat now in the caller's hold, not only those just added."},
    )
    expires_at = fields.DateTime(
        required=True,
        metadata={
            "description": "When the whole hold expires: HOLD_TTL_SECONDS from now, but never "
            "more than MAX_HOLD_LIFETIME_SECONDS from the hold's creation."
        },
    )
    lock_duration_minutes = fields.Float(
        required=True, metadata={"example": 10.0, "description": "Minutes until expires_at."}
    )
    total_price = _money(
        "What the seats of the hold cost now: send it as expected_total when booking to be "
        "told (409 price_changed) rather than charged if the price changes meanwhile"
    )
    stranded_seat_ids = fields.List(
        fields.UUID(),
        required=True,
        metadata={
            "description": "Single empty seats the caller's whole hold leaves stranded between "
            "taken seats, aisles and walls (SINGLE_SEAT_GAP_RULE=warn); always empty when the "
            "rule is off, and under enforce such a hold is refused instead (409 "
            "would_strand_seat)."
        },
    )


class BestAvailableRequest(RequestSchema):
    count = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_SEAT_IDS_IN_REQUEST),
        metadata={
            "example": 4,
            "description": "How many seats. Together with the seats already held, at most "
            "MAX_SEATS_PER_HOLD (default 10; beyond it 422 too_many_seats).",
        },
    )
    seat_type = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(SEAT_TYPES),
        metadata={"description": "Only seats of this type."},
    )
    accessible = JsonBoolean(
        load_default=False,
        metadata={
            "description": "Only accessible seats (wheelchair spaces). Without it and without "
            "seat_type, accessible seats are never picked: they are kept for those who ask."
        },
    )

    @validates_schema
    def filters_agree(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("accessible") and data.get("seat_type") not in (None, "accessible"):
            raise ValidationError(
                "accessible asks for seats of type accessible; leave seat_type out.", "seat_type"
            )


class StrandedSeatsQuery(RequestSchema):
    seat_ids = SeatIdList(
        required=True,
        validate=validate.Length(min=1, max=MAX_SEAT_IDS_IN_QUERY),
        metadata={"description": "Seats the caller is about to hold (repeat the parameter)."},
    )


class StrandedSeatsSchema(Schema):
    showtime_id = fields.UUID(required=True)
    seat_ids = fields.List(
        fields.UUID(),
        required=True,
        metadata={"description": "The selection judged: the caller's hold plus seat_ids."},
    )
    stranded_seat_ids = fields.List(
        fields.UUID(),
        required=True,
        metadata={"description": "Single empty seats that selection would strand."},
    )
    single_seat_gap_rule = fields.String(
        required=True,
        validate=validate.OneOf(GAP_RULES),
        metadata={
            "description": "enforce: lock-seats refuses such a selection; warn: it holds "
            "and reports it; off: it does not check."
        },
    )


class ReservedSeatSchema(Schema):
    id = fields.UUID(required=True)
    row_label = fields.String(required=True)
    seat_number = fields.Integer(required=True)
    seat_label = fields.String(required=True)
    seat_type = fields.String(required=True)
    price = _money("Price fixed when booked")


class ReservationShowtimeSchema(Schema):
    id = fields.UUID(required=True)
    start_time = fields.DateTime(required=True)
    end_time = fields.DateTime(required=True)
    price = _money("The showtime's base price now")


class ReservationMovieSchema(Schema):
    id = fields.UUID(required=True)
    title = fields.String(required=True)


class ReservationTheaterSchema(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)


class ReservationSchema(Schema):
    id = fields.UUID(required=True)
    user_id = fields.UUID(required=True)
    showtime_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(RESERVATION_STATUSES))
    total_price = _money("Sum of the seat prices")
    seats = fields.List(fields.Nested(ReservedSeatSchema), required=True)
    ticket_code = fields.String(required=True, metadata={"example": "K7QX-2M9P-R4TD"})
    qr_payload = fields.String(
        required=True,
        metadata={
            "description": "What the ticket's QR code holds: the ticket code signed with the "
            "service's Ed25519 key, `<kid>.<ticket code>.<signature>` (POST /checkins `code`)."
        },
    )
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    cancelled_at = fields.DateTime(required=True, allow_none=True)
    cancel_reason = fields.String(
        required=True, allow_none=True, validate=validate.OneOf(CANCEL_REASONS)
    )
    showtime = fields.Nested(ReservationShowtimeSchema, required=True)
    movie = fields.Nested(ReservationMovieSchema, required=True)
    theater = fields.Nested(ReservationTheaterSchema, required=True)
    is_cancellable = fields.Boolean(
        required=True, metadata={"description": "Confirmed and the show has not started."}
    )


class ReservationPageSchema(PageFields):
    reservations = fields.List(fields.Nested(ReservationSchema), required=True)
