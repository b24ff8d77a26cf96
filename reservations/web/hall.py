"""The hall as it looks, for the seat map page: pure functions over the booking seat map.

Seats are placed by `row_index` (0 nearest the screen) and `column_index`; a column without a
seat in a row is drawn as a gap, so aisles line up across rows, and a row index without seats
(a cross walkway) is drawn as an empty row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SEAT_TYPE_LABELS = {
    "regular": "Regular",
    "premium": "Premium",
    "vip": "VIP",
    "accessible": "Wheelchair space",
}
STATUS_WORDS = {"available": "available", "held": "held by someone else", "sold": "sold"}


def money(value: Decimal | str) -> str:
    return f"{Decimal(value):.2f}"


def priced(value: Decimal | str, currency: str) -> str:
    """'12.50 EUR': an amount as pages show it, always with the cinema's currency."""
    return f"{money(value)} {currency}"


def seat_aria_label(seat: Mapping[str, Any], currency: str, status_words: str | None = None) -> str:
    """'Row C, seat 7, premium, 12.50 EUR, available': what a screen reader says for a seat."""
    words = status_words or STATUS_WORDS.get(seat["status"], seat["status"])
    return (
        f"Row {seat['row_label']}, seat {seat['seat_number']}, {seat['seat_type']}, "
        f"{priced(seat['price'], currency)}, {words}"
    )


@dataclass
class HallSeat:
    id: str
    row_label: str
    seat_number: int
    seat_label: str
    seat_type: str
    price: str
    status: str
    aria_label: str


@dataclass
class HallRow:
    label: str | None  # None for a walkway (a row index without seats)
    cells: list[HallSeat | None] = field(default_factory=list)


@dataclass
class Hall:
    rows: list[HallRow]
    columns: int
    total: int
    available: int


@dataclass(frozen=True)
class LegendType:
    name: str
    label: str
    price: str


def build_hall(seats: Sequence[Mapping[str, Any]], currency: str) -> Hall:
    """Rows from the screen backwards, each with one cell per column (None where there is none)."""
    if not seats:
        return Hall(rows=[], columns=0, total=0, available=0)
    first_row = min(seat["row_index"] for seat in seats)
    last_row = max(seat["row_index"] for seat in seats)
    first_column = min(seat["column_index"] for seat in seats)
    last_column = max(seat["column_index"] for seat in seats)
    by_place = {(seat["row_index"], seat["column_index"]): seat for seat in seats}
    labels = {seat["row_index"]: seat["row_label"] for seat in seats}
    rows = []
    for row_index in range(first_row, last_row + 1):
        if row_index not in labels:
            rows.append(HallRow(label=None))
            continue
        row = HallRow(label=labels[row_index])
        for column_index in range(first_column, last_column + 1):
            seat = by_place.get((row_index, column_index))
            row.cells.append(None if seat is None else _hall_seat(seat, currency))
        rows.append(row)
    return Hall(
        rows=rows,
        columns=last_column - first_column + 1,
        total=len(seats),
        available=sum(1 for seat in seats if seat["status"] == "available"),
    )


def _hall_seat(seat: Mapping[str, Any], currency: str) -> HallSeat:
    return HallSeat(
        id=str(seat["id"]),
        row_label=seat["row_label"],
        seat_number=seat["seat_number"],
        seat_label=seat["seat_label"],
        seat_type=seat["seat_type"],
        price=money(seat["price"]),
        status=seat["status"],
        aria_label=seat_aria_label(seat, currency),
    )


def legend_types(seats: Iterable[Mapping[str, Any]], type_order: Sequence[str]) -> list[LegendType]:
    """The seat types this hall has, in the catalog's order, each with its price here."""
    prices: dict[str, str] = {}
    for seat in seats:
        prices.setdefault(seat["seat_type"], money(seat["price"]))
    order = list(type_order) + sorted(set(prices) - set(type_order))
    return [
        LegendType(name, SEAT_TYPE_LABELS.get(name, name.title()), prices[name])
        for name in order
        if name in prices
    ]
