"""Best available seats and the single-seat gap rule: pure functions over a hall's layout.

No I/O here. The booking service reads the seat map under the showtime's lock, builds a `Layout`,
asks `best_available` which seats to hold and `stranded_seats` whether a selection leaves a
single empty seat behind.

Geometry. Every seat has a `row_index` (0 = nearest the screen) and a `column_index` (its
position across the hall; an aisle is a gap in column_index, so columns line up from row to
row). A *block* is a maximal run of seats of one row with consecutive column_index: aisles and
the row ends (walls) bound it. Two seats are *adjacent* when they are in the same row and their
column_index differ by one, i.e. when they are neighbours in a block.

A seat is *stranded* when it is empty, its block has more than one seat, and each of its two
neighbours in the block is taken or missing (an aisle or a wall). Nobody buys such a seat: a
couple cannot sit there and a single person rarely picks it. A lone seat between two aisles
(a block of one) is never stranded, it was built that way.

Quality of a seat (`seat_distance`, lower is better): how far it is from the hall's centre line,
in seats, plus how far its row is from the ideal row, in rows:

    |column_index - centre_column| + ROW_WEIGHT * |row_index - ideal_row|

`centre_column` is the middle of the hall, halfway between the smallest and the largest
column_index of all its seats (the screen is centred on the hall, not on each row, so a short
front row is judged by where it really sits). `ideal_row` is IDEAL_ROW_FRACTION of the way from
the first row to the last: somewhat behind the middle, where the whole screen fills the view
without turning the head, the spot cinema seating guides and most booking sites single out.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

SeatId = Hashable

ACCESSIBLE = "accessible"
# The ideal row, as a fraction of the way from the first row (0) to the last (1).
IDEAL_ROW_FRACTION = 0.6
# One row nearer or further than the ideal costs as much as this many seats sideways.
ROW_WEIGHT = 1.0
# A split group pays this much per unit of gap between its pieces (see `score`).
SPLIT_GAP_WEIGHT = 2.0
# Bounds of the split search (only used when no row has the whole group side by side).
SPLIT_CANDIDATES_PER_ROW = 4
SPLIT_BEAM_WIDTH = 12
# Costs are sums of halves and tenths; rounding makes equal costs compare equal.
_PRECISION = 6


@dataclass(frozen=True, slots=True)
class LayoutSeat:
    id: SeatId
    row_index: int
    column_index: int
    seat_type: str = "regular"


class Score(NamedTuple):
    """The value of a selection; a smaller Score is better (tuples compare field by field)."""

    pieces: int  # 1 = all side by side in one row
    cost: float  # seat distances, plus the gaps between the pieces of a split


class _Piece(NamedTuple):
    row_index: int
    first_column: int
    last_column: int


class Layout:
    """A hall's seats grouped into blocks, each seat with its distance from the best spot.

    Build it once per request from the theater's seats; it does not know who holds what.
    """

    def __init__(self, seats: Iterable[LayoutSeat]) -> None:
        self.seats: dict[SeatId, LayoutSeat] = {}
        by_row: dict[int, list[LayoutSeat]] = {}
        for seat in seats:
            if seat.id in self.seats:
                raise ValueError(f"seat {seat.id!r} is listed twice")
            self.seats[seat.id] = seat
            by_row.setdefault(seat.row_index, []).append(seat)

        if self.seats:
            columns = [seat.column_index for seat in self.seats.values()]
            rows = sorted(by_row)
            self.centre_column = (min(columns) + max(columns)) / 2
            self.ideal_row = rows[0] + IDEAL_ROW_FRACTION * (rows[-1] - rows[0])
        else:
            self.centre_column = 0.0
            self.ideal_row = 0.0

        # Blocks in row order, each a tuple of seats from left to right; where each seat sits.
        self.blocks: list[tuple[LayoutSeat, ...]] = []
        self._place: dict[SeatId, tuple[int, int]] = {}
        for row in sorted(by_row):
            ordered = sorted(by_row[row], key=lambda seat: seat.column_index)
            block: list[LayoutSeat] = []
            for seat in ordered:
                if block and seat.column_index == block[-1].column_index:
                    raise ValueError(f"two seats at row {row}, column {seat.column_index}")
                if block and seat.column_index != block[-1].column_index + 1:
                    self._add_block(block)
                    block = []
                block.append(seat)
            self._add_block(block)

        self.distance: dict[SeatId, float] = {
            seat.id: seat_distance(self, seat) for seat in self.seats.values()
        }
        # Prefix sums of distances per block: the cost of any window in O(1).
        self._prefix: list[list[float]] = []
        for seats_of_block in self.blocks:
            sums = [0.0]
            for seat in seats_of_block:
                sums.append(sums[-1] + self.distance[seat.id])
            self._prefix.append(sums)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Layout:
        """From rows with `id`, `row_index`, `column_index` and `seat_type` (database records)."""
        return cls(
            LayoutSeat(r["id"], r["row_index"], r["column_index"], r["seat_type"]) for r in records
        )

    def _add_block(self, block: list[LayoutSeat]) -> None:
        index = len(self.blocks)
        self.blocks.append(tuple(block))
        for position, seat in enumerate(block):
            self._place[seat.id] = (index, position)

    def neighbours(self, seat_id: SeatId) -> tuple[SeatId | None, SeatId | None]:
        """The seats left and right of this one in its block; None for an aisle or a wall."""
        index, position = self._place[seat_id]
        block = self.blocks[index]
        left = block[position - 1].id if position > 0 else None
        right = block[position + 1].id if position + 1 < len(block) else None
        return left, right

    def window_cost(self, block_index: int, start: int, size: int) -> float:
        sums = self._prefix[block_index]
        return sums[start + size] - sums[start]


def seat_distance(layout: Layout, seat: LayoutSeat) -> float:
    """How far a seat is from the best spot of the hall; 0 is the best, lower is better."""
    return abs(seat.column_index - layout.centre_column) + ROW_WEIGHT * abs(
        seat.row_index - layout.ideal_row
    )


def score(layout: Layout, seat_ids: Collection[SeatId]) -> Score:
    """The value of a selection of seats; a smaller Score is better.

    - `pieces`: how many runs of adjacent seats the selection makes. It is compared first, so a
      group side by side in one row beats any split, and a split in two pieces beats any in three.
    - `cost`: the sum of the seats' `seat_distance` (closeness to the centre line and the ideal
      row), plus, for a split, SPLIT_GAP_WEIGHT times the gaps that join its pieces: the
      smallest total of `piece_gap` that connects every piece (a minimum spanning tree over the
      pieces). So a split prefers pieces in one row across an aisle or one behind the other in
      adjacent rows, over pieces far apart.
    """
    if not seat_ids:
        raise ValueError("a selection needs at least one seat")
    pieces = _pieces(layout, seat_ids)
    cost = sum(layout.distance[seat_id] for seat_id in seat_ids)
    cost += SPLIT_GAP_WEIGHT * _spanning_gap(pieces)
    return Score(len(pieces), round(cost, _PRECISION))


def piece_gap(first: _Piece, second: _Piece) -> int:
    """How far apart two pieces sit: rows between them plus empty columns between them.

    Same row across a one-column aisle: 1. Directly behind each other in adjacent rows (their
    column spans overlap): 1. Each further row or column apart adds one.
    """
    rows = abs(first.row_index - second.row_index)
    columns = max(
        second.first_column - first.last_column - 1,
        first.first_column - second.last_column - 1,
        0,
    )
    return rows + columns


def _pieces(layout: Layout, seat_ids: Collection[SeatId]) -> list[_Piece]:
    cells = sorted(
        (layout.seats[seat_id].row_index, layout.seats[seat_id].column_index)
        for seat_id in seat_ids
    )
    pieces: list[_Piece] = []
    for row, column in cells:
        if pieces and pieces[-1].row_index == row and pieces[-1].last_column == column - 1:
            pieces[-1] = pieces[-1]._replace(last_column=column)
        else:
            pieces.append(_Piece(row, column, column))
    return pieces


def _spanning_gap(pieces: Sequence[_Piece]) -> int:
    """Total gap of a minimum spanning tree over the pieces (Prim's; a group has few pieces)."""
    if len(pieces) < 2:
        return 0
    best = {index: piece_gap(pieces[0], piece) for index, piece in enumerate(pieces[1:], 1)}
    total = 0
    while best:
        nearest = min(best, key=lambda index: best[index])
        total += best.pop(nearest)
        for index in best:
            best[index] = min(best[index], piece_gap(pieces[nearest], pieces[index]))
    return total


def is_stranded(layout: Layout, seat_id: SeatId, taken: Collection[SeatId]) -> bool:
    """An empty seat of a block of two or more whose neighbours are taken, aisles or walls."""
    if seat_id in taken:
        return False
    left, right = layout.neighbours(seat_id)
    if left is None and right is None:  # a block of one seat
        return False
    return (left is None or left in taken) and (right is None or right in taken)


def stranded_seats(
    layout: Layout, taken_before: Collection[SeatId], taken_after: Collection[SeatId]
) -> set[SeatId]:
    """The seats that going from `taken_before` to `taken_after` strands (see `is_stranded`).

    Seats already stranded before are not counted: the selection did not create them. Only
    seats next to a seat that changed (or a changed seat itself) can change, so this looks at
    those alone. Ids not in the layout are ignored.
    """
    before = taken_before if isinstance(taken_before, (set, frozenset)) else set(taken_before)
    after = taken_after if isinstance(taken_after, (set, frozenset)) else set(taken_after)
    suspects: set[SeatId] = set()
    for seat_id in before ^ after:
        if seat_id not in layout.seats:
            continue
        suspects.add(seat_id)
        suspects.update(n for n in layout.neighbours(seat_id) if n is not None)
    return {
        seat_id
        for seat_id in suspects
        if is_stranded(layout, seat_id, after) and not is_stranded(layout, seat_id, before)
    }


def matches(seat: LayoutSeat, seat_type: str | None = None, accessible: bool = False) -> bool:
    """Whether best-available may pick this seat for the request's filter.

    `accessible=True` asks for wheelchair spaces (seat_type "accessible"); `seat_type` asks for
    exactly that type. Without either, every type but "accessible" fits: those spaces are kept
    for the people who ask for them.
    """
    if accessible and seat.seat_type != ACCESSIBLE:
        return False
    if seat_type is not None:
        return seat.seat_type == seat_type
    return accessible or seat.seat_type != ACCESSIBLE


class _Window(NamedTuple):
    cost: float
    block: int
    start: int  # position in the block
    size: int
    row_index: int
    first_column: int

    @property
    def piece(self) -> _Piece:
        return _Piece(self.row_index, self.first_column, self.first_column + self.size - 1)


class _Search:
    """One best-available request: which seats are free and which may be picked, per block."""

    def __init__(
        self, layout: Layout, free: Collection[SeatId], seat_type: str | None, accessible: bool
    ) -> None:
        self.layout = layout
        free_set = free if isinstance(free, (set, frozenset)) else set(free)
        self.free = [[seat.id in free_set for seat in block] for block in layout.blocks]
        self.eligible = [
            [
                is_free and matches(seat, seat_type, accessible)
                for seat, is_free in zip(block, row, strict=True)
            ]
            for block, row in zip(layout.blocks, self.free, strict=True)
        ]
        # exposed_left[b][p]: seat p is free and closed on its left (taken seat, aisle or wall),
        # so taking the seat on its right strands it; exposed_right mirrors it.
        self.exposed_left = [
            [row[p] and (p == 0 or not row[p - 1]) for p in range(len(row))] for row in self.free
        ]
        self.exposed_right = [
            [row[p] and (p == len(row) - 1 or not row[p + 1]) for p in range(len(row))]
            for row in self.free
        ]
        self.runs = list(self._runs())
        self.eligible_count = sum(end - start for _, start, end in self.runs)
        self.longest_run = max((end - start for _, start, end in self.runs), default=0)

    def _runs(self) -> Iterator[tuple[int, int, int]]:
        """(block, start, end) of each maximal run of eligible seats; `end` is exclusive."""
        for index, eligible in enumerate(self.eligible):
            start = None
            for position, ok in enumerate(eligible):
                if ok and start is None:
                    start = position
                elif not ok and start is not None:
                    yield index, start, position
                    start = None
            if start is not None:
                yield index, start, len(eligible)

    def windows(self, size: int, spread: int | None = None) -> Iterator[_Window]:
        """Windows of `size` eligible seats side by side that strand nobody by themselves.

        With `spread`, only the starts within `spread` of each run's best start are tried. A
        window's cost is convex in its start (a sum of distances to the centre line), and at most
        one start at each end of a run can strand a seat: the first when the seat before the run
        is free (of another type) and closed on its far side, the second when the seat before the
        run is taken or missing; never both. So a run's best window is within one start of its
        unconstrained best, and its k best within k + 1.
        """
        layout = self.layout
        for index, run_start, run_end in self.runs:
            last = run_end - size
            if last < run_start:
                continue
            block = layout.blocks[index]
            if spread is None:
                low, high = run_start, last
            else:
                ideal = layout.centre_column - (size - 1) / 2 - block[0].column_index
                ideal = min(max(ideal, run_start), last)
                low = max(run_start, math.floor(ideal) - spread)
                high = min(last, math.ceil(ideal) + spread)
            exposed_left, exposed_right = self.exposed_left[index], self.exposed_right[index]
            for start in range(low, high + 1):
                end = start + size
                if (start > 0 and exposed_left[start - 1]) or (
                    end < len(block) and exposed_right[end]
                ):
                    continue
                yield _Window(
                    round(layout.window_cost(index, start, size), _PRECISION),
                    index,
                    start,
                    size,
                    block[start].row_index,
                    block[start].column_index,
                )

    def strands(
        self, block: int, start: int, size: int, others: Sequence[tuple[int, int]] = ()
    ) -> bool:
        """Whether taking this window strands the seat on either side of it, given the other
        windows (start, size) already chosen in the same block. Only the seats right next to
        the window can become stranded by it."""
        free = self.free[block]
        end = start + size

        def taken(position: int) -> bool:
            return (
                position < 0
                or position >= len(free)
                or not free[position]
                or start <= position < end
                or any(s <= position < s + n for s, n in others)
            )

        return any(
            0 <= seat < len(free) and not taken(seat) and taken(beyond)
            for seat, beyond in ((start - 1, start - 2), (end, end + 1))
        )

    def ids(self, windows: Iterable[_Window]) -> list[SeatId]:
        return [
            self.layout.blocks[w.block][position].id
            for w in windows
            for position in range(w.start, w.start + w.size)
        ]


def best_available(
    layout: Layout,
    free: Collection[SeatId],
    count: int,
    seat_type: str | None = None,
    accessible: bool = False,
) -> list[SeatId] | None:
    """The ids of the best `count` free seats that match the filter, or None if there are none.

    1. Side by side in one row when possible: every window of `count` seats side by side in a
       block is scanned, and the one with the lowest `score` wins. Ties go to the row further
       back, then to the left.
    2. Otherwise the best split (see `score`): as few pieces as possible, each piece side by
       side, the pieces in one row or in adjacent rows (each piece in a row at most one away from
       another piece's). The search goes over the ways to cut `count` into pieces, largest piece
       first, keeping the SPLIT_BEAM_WIDTH cheapest partial groups and, per row and piece size,
       the SPLIT_CANDIDATES_PER_ROW best windows: a bounded beam search, not an exhaustive one.
    3. Never a selection that strands a seat (`stranded_seats` of it is empty).

    `free` are the seats nobody holds or bought. The filter is `matches`. Seats are returned
    ordered by row, then from left to right.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    search = _Search(layout, free, seat_type, accessible)
    if search.eligible_count < count:
        return None
    together = _best_together(search, count)
    if together is not None:
        return search.ids([together])
    split = _best_split(search, count)
    return None if split is None else search.ids(split)


def _best_together(search: _Search, count: int) -> _Window | None:
    if search.longest_run < count:
        return None
    return min(
        search.windows(count, spread=2),
        key=lambda w: (w.cost, -w.row_index, w.first_column),
        default=None,
    )


def _partitions(total: int, parts: int, largest: int) -> Iterator[tuple[int, ...]]:
    """Ways to cut `total` into `parts` pieces of at most `largest`, each no larger than the one
    before, larger first pieces first: 5 in 2 -> (4, 1), (3, 2)."""
    if parts == 1:
        if 1 <= total <= largest:
            yield (total,)
        return
    for first in range(min(largest, total - parts + 1), 0, -1):
        if first * parts < total:
            break
        for rest in _partitions(total - first, parts - 1, first):
            yield (first, *rest)


def _best_split(search: _Search, count: int) -> list[_Window] | None:
    largest = min(search.longest_run, count - 1)
    if largest < 1:
        return None
    # The best few windows per piece size and row.
    candidates: dict[int, dict[int, list[_Window]]] = {}
    for size in range(1, largest + 1):
        by_row: dict[int, list[_Window]] = {}
        for window in search.windows(size, spread=SPLIT_CANDIDATES_PER_ROW + 2):
            by_row.setdefault(window.row_index, []).append(window)
        candidates[size] = {
            row: heapq.nsmallest(
                SPLIT_CANDIDATES_PER_ROW,
                found,
                key=lambda w: (w.cost, -w.row_index, w.first_column),
            )
            for row, found in by_row.items()
        }

    for parts in range(2, count + 1):
        best: tuple[Score, list[tuple[int, int]]] | None = None
        best_group: list[_Window] = []
        for sizes in _partitions(count, parts, largest):
            for group in _beam(search, candidates, sizes):
                value = score(search.layout, search.ids(group))
                if value.pieces != parts:
                    continue  # two pieces that touch are one; such a group is counted elsewhere
                # Ties go to the group further back, then further left, as for one piece.
                key = (value, sorted((-w.row_index, w.first_column) for w in group))
                if best is None or key < best:
                    best, best_group = key, group
        if best is not None:
            return sorted(best_group, key=lambda w: (w.row_index, w.first_column))
    return None


def _beam(
    search: _Search, candidates: dict[int, dict[int, list[_Window]]], sizes: tuple[int, ...]
) -> list[list[_Window]]:
    """Complete groups for these piece sizes, found piece by piece keeping the cheapest few."""
    states: list[tuple[float, list[_Window]]] = [(0.0, [])]
    for size in sizes:
        by_row = candidates.get(size, {})
        grown: dict[frozenset[tuple[int, int]], tuple[float, list[_Window]]] = {}
        for cost, chosen in states:
            if chosen:
                rows: Iterable[int] = {w.row_index + step for w in chosen for step in (-1, 0, 1)}
            else:
                rows = by_row.keys()
            for row in rows:
                for window in by_row.get(row, ()):
                    if not _fits(search, chosen, window):
                        continue
                    gap = min(piece_gap(window.piece, w.piece) for w in chosen) if chosen else 0
                    group = [*chosen, window]
                    key = frozenset((w.block, w.start) for w in group)
                    value = cost + window.cost + SPLIT_GAP_WEIGHT * gap
                    if key not in grown or value < grown[key][0]:
                        grown[key] = (value, group)
        states = heapq.nsmallest(SPLIT_BEAM_WIDTH, grown.values(), key=lambda state: state[0])
        if not states:
            return []
    return [group for _, group in states]


def _fits(search: _Search, chosen: Sequence[_Window], window: _Window) -> bool:
    """No overlap or touching with the chosen windows, and no seat stranded between them."""
    same_block = [(w.start, w.size) for w in chosen if w.block == window.block]
    for start, size in same_block:
        if window.start <= start + size and start <= window.start + window.size:
            return False  # overlapping, or touching (then it would be one piece)
    return not search.strands(window.block, window.start, window.size, same_block)
