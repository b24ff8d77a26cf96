"""The refusals of a scan, each with its own code, so that the usher's screen can say why.

admit_ticket (sql/code/07_checkin.sql) returns a refusal as a code and details rather than
raising it; `refusal` turns it into the error of that code here (tests/areas/checkin/test_checkin.py checks
that every code the function returns has one).
"""

from __future__ import annotations

from typing import Any

from ..errors import ApiError, Conflict, NotFound


class TicketUnknown(NotFound):
    code = "ticket_unknown"
    message = "No ticket has this code."


class TicketForged(ApiError):
    status = 422
    code = "ticket_forged"
    message = "This code's signature does not verify: the ticket is forged or altered."


class AlreadyAdmitted(Conflict):
    code = "already_admitted"
    message = "These seats of the ticket were already admitted."


class ReservationCancelled(Conflict):
    code = "reservation_cancelled"
    message = "This ticket's reservation is cancelled."


class WrongShowtime(Conflict):
    code = "wrong_showtime"
    message = "This ticket is for another showtime."


class CheckinNotOpen(Conflict):
    code = "checkin_not_open"
    message = "Check-in for this showtime has not opened yet."


class ShowtimeEnded(Conflict):
    code = "showtime_ended"
    message = "This showtime has ended."


class SeatsNotOnTicket(ApiError):
    status = 422
    code = "seats_not_on_ticket"
    message = "Some of these seats are not on this ticket."


class NonceReused(ApiError):
    status = 422
    code = "nonce_reused"
    message = "This nonce was used for a scan of another ticket; make a new one for each scan."


class CheckinNotFound(NotFound):
    code = "checkin_not_found"
    message = "No check-in has this id."


REFUSALS: dict[str, type[ApiError]] = {
    error.code: error
    for error in (
        TicketUnknown,
        AlreadyAdmitted,
        ReservationCancelled,
        WrongShowtime,
        CheckinNotOpen,
        ShowtimeEnded,
        SeatsNotOnTicket,
        NonceReused,
    )
}


def refusal(code: str, details: dict[str, Any] | None) -> ApiError:
    return REFUSALS[code](details=details or {})
