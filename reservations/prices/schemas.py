"""Prices schemas: they validate requests and document requests and answers in the API docs."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..api import JsonBoolean, Money, PageFields, PageQuery, RequestSchema
from ..booking.schemas import MAX_SEAT_IDS_IN_REQUEST, SeatIdList, ShowtimePriceSchema
from ..catalog.schemas import SeatTypeSchema as SeatTypeSchema
from ..catalog.schemas import Timestamp, TrimmedString
from .vouchers import MAX_BATCH

TICKET_TYPE_CODE = r"^[a-z0-9][a-z0-9_-]{0,31}$"
LOCAL_TIME = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
VOUCHER_CODE = r"^[A-Za-z0-9][A-Za-z0-9-]{3,63}$"
VOUCHER_PREFIX = r"^[A-Za-z0-9]{1,16}$"


def _money(description: str, **kwargs: Any) -> fields.String:
    return fields.String(metadata={"example": "12.50", "description": description}, **kwargs)


class DecimalText(fields.Decimal):
    """A percent or a multiplier: a decimal string with at most two places ("12.5"), like money,
    from `low` to `high`, answered with two places."""

    PATTERN = r"^[0-9]{1,4}(\.[0-9]{1,2})?$"
    _FORM = re.compile(PATTERN)

    def __init__(self, low: str, high: str, **kwargs: Any) -> None:
        lowest, highest = Decimal(low), Decimal(high)

        def within(value: Decimal) -> None:
            if not lowest <= value <= highest:
                raise ValidationError(f"Must be from {low} to {high}.")

        kwargs["metadata"] = {
            "type": "string",
            "pattern": self.PATTERN,
            **kwargs.get("metadata", {}),
        }
        super().__init__(places=2, as_string=True, allow_nan=False, validate=within, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not self._FORM.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


# ---- ticket types --------------------------------------------------------------------------


class TicketTypeSchema(Schema):
    id = fields.UUID(required=True)
    code = fields.String(required=True, metadata={"example": "child"})
    name = fields.String(required=True, metadata={"example": "Child"})
    description = fields.String(required=True)
    discount_percent = fields.String(
        required=True, metadata={"example": "30.00", "description": "percent off the seat's price"}
    )
    fixed_price = _money(
        "when set, every seat of this type costs this, whatever the seat type",
        allow_none=True,
        required=True,
    )
    is_default = fields.Boolean(
        required=True, metadata={"description": "the type of seats booked without one named"}
    )
    active = fields.Boolean(required=True, metadata={"description": "on sale"})


class TicketTypeListSchema(Schema):
    ticket_types = fields.List(fields.Nested(TicketTypeSchema), required=True)


class TicketTypeListQuery(RequestSchema):
    include_inactive = fields.Boolean(
        load_default=False, metadata={"description": "also those no longer sold (admins only)"}
    )


class _TicketTypeFields(RequestSchema):
    name = TrimmedString(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=1000))
    discount_percent = DecimalText(
        "0", "100", allow_none=True, metadata={"example": "30", "description": "0 to 100"}
    )
    fixed_price = Money(allow_none=True)

    @validates_schema
    def one_price_rule(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("fixed_price") is not None and data.get("discount_percent") not in (None, 0):
            raise ValidationError(
                "Give a discount_percent or a fixed_price, not both.", "fixed_price"
            )


class TicketTypeCreateRequest(_TicketTypeFields):
    code = fields.String(
        required=True,
        validate=[validate.Length(max=32), validate.Regexp(TICKET_TYPE_CODE)],
        metadata={
            "example": "family",
            "pattern": TICKET_TYPE_CODE,
            "description": "lower case letters, digits, - and _; never changes once made",
        },
    )
    name = TrimmedString(required=True, validate=validate.Length(min=1, max=100))


class TicketTypeUpdateRequest(_TicketTypeFields):
    active = JsonBoolean(metadata={"description": "false stops selling it (not the default)"})


# ---- seat types and showtime prices ---------------------------------------------------------


class SeatTypeUpdateRequest(RequestSchema):
    price_multiplier = DecimalText(
        "0.01", "99.99", metadata={"example": "1.00", "description": "0.01 to 99.99"}
    )
    surcharge = DecimalText(
        "0", "1000", metadata={"example": "2.00", "description": "an amount, 0 to 1000"}
    )


class ShowtimePricesSchema(Schema):
    showtime_id = fields.UUID(required=True)
    currency = fields.String(required=True, metadata={"example": "EUR"})
    prices = fields.List(fields.Nested(ShowtimePriceSchema), required=True)


# ---- price cards -------------------------------------------------------------------------------


class _PriceCardFields(RequestSchema):
    name = TrimmedString(validate=validate.Length(min=1, max=100), metadata={"example": "Matinee"})
    weekdays = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=7)),
        validate=validate.Length(min=1, max=7),
        metadata={"example": [1, 2, 3, 4, 5], "description": "ISO weekdays, Monday 1 to Sunday 7"},
    )
    start_local_time = fields.String(
        validate=[validate.Length(max=5), validate.Regexp(LOCAL_TIME)],
        metadata={"example": "10:00", "pattern": LOCAL_TIME, "description": "HH:MM in CINEMA_TZ"},
    )
    end_local_time = fields.String(
        validate=[validate.Length(max=5), validate.Regexp(LOCAL_TIME)],
        metadata={
            "example": "17:00",
            "pattern": LOCAL_TIME,
            "description": "HH:MM in CINEMA_TZ, excluded; 24:00 is midnight; an end at or "
            "before the start runs past midnight",
        },
    )
    theater_id = fields.UUID(
        allow_none=True,
        metadata={"description": "only this theater's showtimes (before general cards)"},
    )
    price = Money()


class PriceCardCreateRequest(_PriceCardFields):
    name = TrimmedString(required=True, validate=validate.Length(min=1, max=100))
    weekdays = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=7)),
        required=True,
        validate=validate.Length(min=1, max=7),
        metadata={"example": [1, 2, 3, 4, 5], "description": "ISO weekdays, Monday 1 to Sunday 7"},
    )
    start_local_time = fields.String(
        required=True,
        validate=[validate.Length(max=5), validate.Regexp(LOCAL_TIME)],
        metadata={"example": "10:00"},
    )
    end_local_time = fields.String(
        required=True,
        validate=[validate.Length(max=5), validate.Regexp(LOCAL_TIME)],
        metadata={"example": "17:00"},
    )
    price = Money(required=True)


class PriceCardUpdateRequest(_PriceCardFields):
    pass


class PriceCardSchema(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    weekdays = fields.List(fields.Integer(), required=True)
    start_local_time = fields.String(required=True, metadata={"example": "10:00"})
    end_local_time = fields.String(required=True, metadata={"example": "17:00"})
    theater_id = fields.UUID(required=True, allow_none=True)
    theater_name = fields.String(required=True, allow_none=True)
    price = _money("the base price of a showtime it matches", required=True)
    created_at = fields.DateTime(required=True)


class PriceCardListSchema(Schema):
    price_cards = fields.List(fields.Nested(PriceCardSchema), required=True)


# ---- vouchers ------------------------------------------------------------------------------


class VoucherCreateRequest(RequestSchema):
    code = fields.String(
        validate=[validate.Length(max=64), validate.Regexp(VOUCHER_CODE)],
        metadata={
            "pattern": VOUCHER_CODE,
            "description": "the code (stored upper case); without it, random codes (about 59 "
            "bits, no look-alike characters)",
        },
    )
    count = fields.Integer(
        load_default=1,
        strict=True,
        validate=validate.Range(min=1, max=MAX_BATCH),
        metadata={"description": f"a batch of this many random codes (at most {MAX_BATCH})"},
    )
    prefix = fields.String(
        validate=[validate.Length(max=16), validate.Regexp(VOUCHER_PREFIX)],
        metadata={"example": "NEWS", "description": "random codes start with it and a dash"},
    )
    discount_percent = DecimalText("0.01", "100", metadata={"example": "20"})
    discount_amount = Money()
    max_redemptions = fields.Integer(
        load_default=1, strict=True, validate=validate.Range(min=1, max=1_000_000)
    )
    valid_from = Timestamp(allow_none=True)
    valid_until = Timestamp(allow_none=True)
    movie_id = fields.UUID(allow_none=True)
    showtime_id = fields.UUID(allow_none=True)

    @validates_schema
    def consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("discount_percent") is None) == (data.get("discount_amount") is None):
            raise ValidationError(
                "Give either discount_percent or discount_amount.", "discount_percent"
            )
        if data.get("discount_amount") is not None and data["discount_amount"] <= 0:
            raise ValidationError("Must be more than 0.00.", "discount_amount")
        if data.get("code") and (data.get("count", 1) > 1 or data.get("prefix")):
            raise ValidationError("A code is one voucher: leave out count and prefix.", "code")
        start, end = data.get("valid_from"), data.get("valid_until")
        if start is not None and end is not None and end <= start:
            raise ValidationError("Must be after valid_from.", "valid_until")


class VoucherSchema(Schema):
    id = fields.UUID(required=True)
    code = fields.String(required=True, metadata={"example": "NEWS-K7QX-2M9P-R4TD"})
    discount_percent = fields.String(required=True, allow_none=True)
    discount_amount = _money("taken off the subtotal", required=True, allow_none=True)
    max_redemptions = fields.Integer(required=True)
    redemptions = fields.Integer(
        required=True, metadata={"description": "confirmed reservations that used it"}
    )
    valid_from = fields.DateTime(required=True, allow_none=True)
    valid_until = fields.DateTime(required=True, allow_none=True)
    movie_id = fields.UUID(required=True, allow_none=True)
    showtime_id = fields.UUID(required=True, allow_none=True)
    active = fields.Boolean(required=True)
    batch_id = fields.UUID(
        required=True, allow_none=True, metadata={"description": "the batch it was made in"}
    )
    created_at = fields.DateTime(required=True)


class VoucherCreatedSchema(Schema):
    vouchers = fields.List(fields.Nested(VoucherSchema), required=True)


class VoucherPageSchema(PageFields):
    vouchers = fields.List(fields.Nested(VoucherSchema), required=True)


class VoucherListQuery(PageQuery):
    q = fields.String(
        validate=validate.Length(min=1, max=64), metadata={"description": "part of a code"}
    )
    batch_id = fields.UUID(
        metadata={
            "description": "every voucher of this batch, by code (page and page_size ignored)"
        }
    )


class VoucherCheckRequest(RequestSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    showtime_id = fields.UUID(required=True)
    seat_ids = SeatIdList(
        validate=validate.Length(max=MAX_SEAT_IDS_IN_REQUEST),
        metadata={"description": "accepted for clients that send them; not needed"},
    )


class VoucherCheckSchema(Schema):
    code = fields.String(required=True)
    discount_percent = fields.String(required=True, allow_none=True)
    discount_amount = _money("taken off the subtotal", required=True, allow_none=True)
    remaining_redemptions = fields.Integer(required=True)
