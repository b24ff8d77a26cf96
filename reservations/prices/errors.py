"""The errors of prices: ticket types, vouchers and price cards.

Those a booking can meet (unknown_ticket_type, voucher_invalid, voucher_exhausted,
user_seat_limit) are raised in SQL by the seat-change functions and read back by
reservations/booking/errors.py `refusals`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Conflict, NotFound, Unprocessable


class UnknownTicketType(Unprocessable):
    code = "unknown_ticket_type"
    message = "No ticket type on sale has this code (GET /api/v1/ticket-types)."

    def __init__(self, codes: Sequence[str]) -> None:
        super().__init__(details={"codes": list(codes)})


class VoucherInvalid(Unprocessable):
    code = "voucher_invalid"
    message = (
        "This voucher code is unknown, disabled, outside its validity, or not for this showtime."
    )

    def __init__(self, code: str | None = None) -> None:
        super().__init__(details={"code": code} if code else {})


class VoucherExhausted(Conflict):
    code = "voucher_exhausted"
    message = "This voucher has been redeemed as many times as it may be."

    def __init__(self, code: str | None = None) -> None:
        super().__init__(details={"code": code} if code else {})


class UserSeatLimit(Conflict):
    code = "user_seat_limit"

    def __init__(self, limit: int, held: int, booked: int, requested: int) -> None:
        super().__init__(
            f"One person may hold and own at most {limit} seats of a showtime.",
            details={
                "max_seats_per_user": limit,
                "held_seats": held,
                "booked_seats": booked,
                "requested_seats": requested,
            },
        )


class TicketTypeNotFound(NotFound):
    code = "ticket_type_not_found"
    message = "No ticket type has this id."


class TicketTypeCodeTaken(Conflict):
    code = "ticket_type_code_taken"
    message = "A ticket type with this code already exists."


class DefaultTicketTypeKept(Conflict):
    code = "default_ticket_type"
    message = "The default ticket type is always sold; it cannot be removed or deactivated."


class SeatTypeNotFound(NotFound):
    code = "seat_type_not_found"
    message = "No seat type has this name."


class PriceCardNotFound(NotFound):
    code = "price_card_not_found"
    message = "No price card has this id."


class CardTheaterNotFound(NotFound):
    """The catalog's theater_not_found, for a price card (prices does not import the catalog,
    which imports prices to price a new showtime)."""

    code = "theater_not_found"
    message = "No theater has this id."


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    message = "No voucher has this id."


class VoucherCodeTaken(Conflict):
    code = "voucher_code_taken"
    message = "A voucher with this code already exists."


class NoPrice(Unprocessable):
    code = "no_price"
    message = "No price was given and no price card matches this showtime's local weekday and time."


class VoucherTarget(Unprocessable):
    code = "voucher_target_unknown"
    message = "The movie or showtime this voucher is for does not exist."
