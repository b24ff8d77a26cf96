"""The booking errors, and the refusal codes of the seat-change functions they answer
(registered with reservations/showtime_lock.py, which turns a refusal into its error)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from ..errors import ApiError, Conflict, NotFound, RateLimited
from ..prices.errors import UnknownTicketType, UserSeatLimit, VoucherExhausted, VoucherInvalid
from ..showtime_lock import ShowtimeNotFound as ShowtimeNotFound
from ..showtime_lock import refusals as refusals
from ..showtime_lock import register_refusals


def _ids(seat_ids: Sequence[uuid.UUID | str]) -> list[str]:
    return [str(seat) for seat in seat_ids]


class SeatUnavailable(Conflict):
    code = "seat_unavailable"
    message = "Some of these seats are held by someone else or sold."

    def __init__(self, seat_ids: Sequence[uuid.UUID | str]) -> None:
        super().__init__(details={"unavailable_seat_ids": _ids(seat_ids)})


class SeatsNotHeld(Conflict):
    code = "seats_not_held"
    message = "Hold these seats (POST /showtimes/{id}/lock-seats) before booking them."

    def __init__(self, seat_ids: Sequence[uuid.UUID | str]) -> None:
        super().__init__(details={"seat_ids": _ids(seat_ids)})


class HoldExpired(Conflict):
    code = "hold_expired"
    message = "Your hold on these seats has expired; hold them again."

    def __init__(self, seat_ids: Sequence[uuid.UUID | str]) -> None:
        super().__init__(details={"seat_ids": _ids(seat_ids)})


class ShowtimeStarted(Conflict):
    code = "showtime_started"
    message = "This showtime has started; its seats can no longer change."


class TooManySeats(ApiError):
    status = 422
    code = "too_many_seats"

    def __init__(self, limit: int, requested: int) -> None:
        super().__init__(
            f"One person can hold at most {limit} seats of a showtime.",
            details={"max_seats_per_hold": limit, "requested_total": requested},
        )


class TooManyShowtimesHeld(Conflict):
    code = "too_many_showtimes_held"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You are holding seats of {limit} other showtimes; book or release those first.",
            details={"max_showtimes_held": limit},
        )


class HoldCooldown(RateLimited):
    code = "hold_cooldown"
    message = (
        "Your hold on this showtime reached its time limit; "
        "you can hold its seats again after a short wait."
    )


class UnknownSeats(ApiError):
    status = 422
    code = "unknown_seats"
    message = "Some of these seats are not in this showtime's theater."

    def __init__(self, seat_ids: Sequence[uuid.UUID | str]) -> None:
        super().__init__(details={"seat_ids": _ids(seat_ids)})


class NotEnoughSeats(Conflict):
    code = "not_enough_seats"
    message = "There are not enough free seats of this kind to seat the group together."

    def __init__(self, requested: int, available: int) -> None:
        super().__init__(details={"requested_count": requested, "available_count": available})


class WouldStrandSeat(Conflict):
    code = "would_strand_seat"
    message = "These seats would leave a single empty seat stranded; take it too or pick others."

    def __init__(self, seat_ids: Sequence[uuid.UUID | str]) -> None:
        super().__init__(details={"stranded_seat_ids": _ids(seat_ids)})


class PriceChanged(Conflict):
    code = "price_changed"
    message = "The price of these seats changed since you chose them; check the new total."

    def __init__(self, expected_total: str, total_price: str) -> None:
        super().__init__(details={"expected_total": expected_total, "total_price": total_price})


class IdempotencyKeyReused(ApiError):
    status = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request."


class RequestInFlight(Conflict):
    code = "request_in_flight"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class ReservationNotFound(NotFound):
    code = "reservation_not_found"
    message = "No reservation has this id."


register_refusals(
    {
        "showtime_started": lambda _: ShowtimeStarted(),
        "unknown_seats": lambda d: UnknownSeats(d["seat_ids"]),
        "seat_unavailable": lambda d: SeatUnavailable(d["unavailable_seat_ids"]),
        "too_many_seats": lambda d: TooManySeats(d["max_seats_per_hold"], d["requested_total"]),
        "too_many_showtimes_held": lambda d: TooManyShowtimesHeld(d["max_showtimes_held"]),
        "hold_cooldown": lambda d: HoldCooldown(d["retry_after_seconds"]),
        "would_strand_seat": lambda d: WouldStrandSeat(d["stranded_seat_ids"]),
        "seats_not_held": lambda d: SeatsNotHeld(d["seat_ids"]),
        "hold_expired": lambda d: HoldExpired(d["seat_ids"]),
        "price_changed": lambda d: PriceChanged(d["expected_total"], d["total_price"]),
        "request_in_flight": lambda _: RequestInFlight(),
        "idempotency_key_reused": lambda _: IdempotencyKeyReused(),
        "reservation_not_found": lambda _: ReservationNotFound(),
        "user_seat_limit": lambda d: UserSeatLimit(
            d["max_seats_per_user"], d["held_seats"], d["booked_seats"], d["requested_seats"]
        ),
        "unknown_ticket_type": lambda d: UnknownTicketType(d["codes"]),
        "voucher_invalid": lambda d: VoucherInvalid(d.get("code")),
        "voucher_exhausted": lambda d: VoucherExhausted(d.get("code")),
    }
)
