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
            "description": "Optional: the total the caller agreed to pay (the hold's "
            "total_price for default tickets and no voucher; else the total the page worked out "
            "from GET /showtimes/{id}/prices and POST /vouchers/check). If the booking would "
            "charge something else (a price changed meanwhile), nothing is booked: 409 "
            "price_changed with details.expected_total and details.total_price.",
        },
    )

    tickets = fields.Dict(
        keys=fields.UUID(),
        values=fields.String(validate=validate.Length(min=1, max=32)),
        load_default=dict,
        validate=validate.Length(max=MAX_SEAT_IDS_IN_REQUEST),
        metadata={
            "example": {"5b0c1c52-7d4e-4a43-9d1e-3c1f1e1b2a10": "child"},
            "description": "Seat id to ticket type code (GET /api/v1/ticket-types), for seats "
            "of seat_ids; seats not named are the default type (adult). 422 "
            "unknown_ticket_type for a code not on sale.",
        },
    )
    voucher_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=64),
        metadata={
            "example": "NEWS-K7QX-2M9P-R4TD",
            "description": "A voucher to apply (any case): 422 voucher_invalid, 409 "
            "voucher_exhausted. Check it first with POST /api/v1/vouchers/check.",
        },
    )

    @validates_schema
    def tickets_name_booked_seats(self, data: dict[str, Any], **kwargs: Any) -> None:
        strangers = set(data.get("tickets", {})) - set(data.get("seat_ids", []))
        if strangers:
            raise ValidationError(
                "Name only seats listed in seat_ids; "
                f"{', '.join(sorted(str(seat) for seat in strangers))} are not.",
                "tickets",
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
    price = _money(
        "The price for the default ticket type: showtime price times the seat type's "
        "multiplier, plus its surcharge (GET /showtimes/{id}/prices has every ticket type)"
    )
    status = fields.String(required=True, validate=validate.OneOf(SEAT_STATUSES))
    is_available = fields.Boolean(required=True)
    is_locked = fields.Boolean(required=True, metadata={"description": "Held (status held)."})
    held_by_me = fields.Boolean(
        metadata={"description": "Only with a token: the caller holds this seat."}
    )


class ShowtimePriceSchema(Schema):
    ticket_type = fields.String(required=True, metadata={"example": "child"})
    seat_type = fields.String(required=True, metadata={"example": "premium"})
    price = _money("What a seat of this seat type costs as this ticket type")


class SeatMapSchema(Schema):
    showtime_id = fields.UUID(required=True)
    version = fields.Integer(
        required=True,
        metadata={"description": "Grows by one with every seat change (as on the live map)."},
    )
    total_seats = fields.Integer(required=True)
    available_seats = fields.Integer(required=True)
    prices = fields.List(
        fields.Nested(ShowtimePriceSchema),
        required=True,
        metadata={
            "description": "Every active ticket type's price on every seat type of the hall, as "
            "booking would charge it now (a seat's own `price` is the default type's); the same "
            "as GET /showtimes/{id}/prices, less the seat types the hall does not have."
        },
    )
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
    price = _money("Price of its ticket type, fixed when booked (before any voucher)")
    ticket_type = fields.String(
        required=True, metadata={"example": "adult", "description": "The ticket type's code"}
    )
    ticket_type_name = fields.String(required=True, metadata={"example": "Adult"})


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
    subtotal = _money("Sum of the seat prices")
    discount = _money("What the voucher took off (0.00 without one)")
    voucher_code = fields.String(
        required=True, allow_none=True, metadata={"description": "The voucher used, if any"}
    )
    total_price = _money("What was charged: subtotal minus discount, never below zero")
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
