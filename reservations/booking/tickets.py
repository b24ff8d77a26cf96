"""What a ticket's QR code says.

The ticket page, GET /reservations/{id}/ticket.svg (reservations/web/routes.py) and the booking
confirmation email (reservations/mail/render.py) all draw this one value, so a change here (a
signed code for check-in) reaches all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def ticket_qr_content(reservation: Mapping[str, Any]) -> str:
    """For a reservation as the API answers it: its ticket code."""
    return str(reservation["ticket_code"])
