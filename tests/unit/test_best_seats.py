"""Unit tests of the best-available scoring and the stranded-seat rule, on small drawn halls.

A hall is drawn one line per row, the first line nearest the screen. Each character is a
column: `.` a free regular seat, `x` a taken one, `a` / `A` a free / taken accessible seat,
`p` / `P` premium, a space an aisle (a gap in column_index). Seats are named like their labels:
row letter and number within the row ("C5"), aisles not counted.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reservations.booking.best_seats import (
    Layout,
    LayoutSeat,
    Score,
    best_available,
    is_stranded,
    score,
    stranded_seats,
)

TYPES = {".": "regular", "x": "regular", "a": "accessible", "A": "accessible"}
TYPES.update({"p": "premium", "P": "premium"})


def draw(picture: str) -> tuple[Layout, set[str]]:
    """The layout of a drawn hall and the ids of its free seats."""
    lines = [line for line in picture.strip("\n").splitlines()]
    seats, free = [], set()
    for row_index, line in enumerate(lines):
        label = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[row_index]
        number = 0
        for column_index, char in enumerate(line):
            if char == " ":
                continue
            number += 1
            seat_id = f"{label}{number}"
            seats.append(LayoutSeat(seat_id, row_index, column_index, TYPES[char]))
            if char in ".ap":
                free.add(seat_id)
    return Layout(seats), free


def taken(layout: Layout, free: set[str]) -> set[str]:
    return set(layout.seats) - free


def best(picture: str, count: int, **filters: object) -> list[str] | None:
    layout, free = draw(picture)
    return best_available(layout, free, count, **filters)  # type: ignore[arg-type]


# --- the layout -------------------------------------------------------------------------------


def test_aisles_split_rows_into_blocks_and_walls_end_them() -> None:
    layout, _ = draw("... ....")
    assert [[seat.id for seat in block] for block in layout.blocks] == [
        ["A1", "A2", "A3"],
        ["A4", "A5", "A6", "A7"],
    ]
    assert layout.neighbours("A3") == ("A2", None)  # the aisle
    assert layout.neighbours("A4") == (None, "A5")
    assert layout.neighbours("A1") == (None, "A2")  # the wall


def test_centre_line_is_the_middle_of_the_hall_and_ideal_row_sixty_percent_back() -> None:
    layout, _ = draw("\n".join(["." * 9] * 6))
    assert layout.centre_column == 4
    assert layout.ideal_row == pytest.approx(3.0)
    layout, _ = draw("\n".join(["." * 10] * 5))
    assert layout.centre_column == 4.5
    assert layout.ideal_row == pytest.approx(2.4)


def test_two_seats_in_one_place_is_an_error() -> None:
    with pytest.raises(ValueError):
        Layout([LayoutSeat("a", 0, 0), LayoutSeat("b", 0, 0)])


# --- score --------------------------------------------------------------------------------------


def test_score_rewards_the_centre_line_and_the_ideal_row() -> None:
    layout, _ = draw("\n".join(["." * 10] * 5))  # centre 4.5, ideal row 2.4
    middle = score(layout, ["C5", "C6"])
    assert middle == Score(1, pytest.approx(2 * 0.5 + 2 * 0.4))
    assert score(layout, ["C4", "C5"]) > middle  # one seat off the centre line
    assert score(layout, ["D5", "D6"]) > middle  # one row too far back
    assert score(layout, ["A5", "A6"]) > score(layout, ["D5", "D6"])  # the front row is worse


def test_score_prefers_any_single_row_group_over_any_split() -> None:
    layout, _ = draw("\n".join(["." * 10] * 5))
    corner = score(layout, ["E1", "E2", "E3", "E4"])
    split = score(layout, ["C5", "C6", "D5", "D6"])
    assert corner.pieces == 1 and split.pieces == 2
    assert corner < split


def test_score_of_a_split_grows_with_the_distance_between_its_pieces() -> None:
    layout, _ = draw("\n".join(["." * 12] * 6))
    behind = score(layout, ["C6", "C7", "D6", "D7"])
    two_rows_apart = score(layout, ["B6", "B7", "D6", "D7"])
    side_by_side_far = score(layout, ["C2", "C3", "C10", "C11"])
    assert behind.pieces == two_rows_apart.pieces == side_by_side_far.pieces == 2
    assert behind < two_rows_apart
    assert behind < side_by_side_far


def test_score_counts_pieces_across_an_aisle() -> None:
    layout, _ = draw("..... .....")
    assert score(layout, ["A5", "A6"]).pieces == 2  # the aisle parts them
    assert score(layout, ["A4", "A5"]).pieces == 1


# --- stranded seats -----------------------------------------------------------------------------


def test_a_seat_between_two_taken_seats_is_stranded() -> None:
    layout, _ = draw(".....")
    assert stranded_seats(layout, {"A1"}, {"A1", "A3"}) == {"A2"}


def test_a_seat_between_a_taken_seat_and_a_wall_or_an_aisle_is_stranded() -> None:
    layout, _ = draw("..... ...")
    assert stranded_seats(layout, set(), {"A2"}) == {"A1"}  # the wall on its left
    assert stranded_seats(layout, set(), {"A4"}) == {"A5"}  # the aisle on its right
    assert stranded_seats(layout, set(), {"A7"}) == {"A6", "A8"}  # the aisle, and the wall


def test_a_seat_stranded_before_the_selection_is_not_counted() -> None:
    layout, _ = draw(".....")
    before = {"A1", "A3"}  # A2 is stranded already
    assert stranded_seats(layout, before, before | {"A4"}) == {"A5"}


def test_filling_a_stranded_seat_strands_nothing() -> None:
    layout, _ = draw(".....")
    assert stranded_seats(layout, {"A1", "A3"}, {"A1", "A2", "A3"}) == set()


def test_releasing_a_seat_can_strand_it() -> None:
    layout, _ = draw(".....")
    assert stranded_seats(layout, {"A1", "A2", "A3"}, {"A1", "A3"}) == {"A2"}


def test_a_block_of_one_seat_is_never_stranded() -> None:
    layout, _ = draw(". . ...")
    assert not is_stranded(layout, "A1", set())
    assert stranded_seats(layout, set(), {"A3", "A4", "A5"}) == set()


def test_two_empty_seats_together_are_not_stranded() -> None:
    layout, _ = draw("......")
    assert stranded_seats(layout, set(), {"A1", "A4"}) == set()  # A2 A3 and A5 A6 stay pairs
    assert stranded_seats(layout, set(), {"A1", "A4", "A5", "A6"}) == set()


# --- best available: side by side ------------------------------------------------------------


def test_even_width_picks_the_middle_of_the_ideal_row() -> None:
    hall = "\n".join(["." * 10] * 5)
    assert best(hall, 2) == ["C5", "C6"]
    assert best(hall, 4) == ["C4", "C5", "C6", "C7"]
    # An odd group in an even row cannot be centred: both are off by half a seat; left wins.
    assert best(hall, 3) == ["C4", "C5", "C6"]


def test_odd_width_picks_the_middle_seat_and_breaks_ties_to_the_left() -> None:
    hall = "\n".join(["." * 9] * 5)
    assert best(hall, 1) == ["C5"]
    assert best(hall, 3) == ["C4", "C5", "C6"]
    assert best(hall, 2) == ["C4", "C5"]


def test_rows_as_far_from_the_ideal_one_tie_to_the_row_further_back() -> None:
    # Six rows: the ideal is row index 3.0 (D), which is full; C and E are both one row away.
    hall = "\n".join(["." * 9] * 3 + ["x" * 9] + ["." * 9] * 2)
    assert best(hall, 1) == ["E5"]


def test_a_taken_centre_moves_the_group_to_the_best_remaining_place() -> None:
    hall = """
..........
..........
....xx....
..........
..........
"""
    # Row C's best is now off-centre (cost 1.5 + 2.5 + 0.8); row D centred costs 1 + 1.2.
    assert best(hall, 2) == ["D5", "D6"]


def test_aisles_are_respected_and_the_centre_is_the_hall_s() -> None:
    # Three blocks: 3, 6 and 3 seats, aisles at columns 3 and 10; centre column 6.5; the
    # ideal row is 1.8, so row C. The centred C5..C8 (columns 5-8) would strand C9 against the
    # aisle; C4..C7 and C6..C9 are equally far off (cost 5 each); ties go left.
    hall = "\n".join(["... ...... ..."] * 4)
    assert best(hall, 4) == ["C4", "C5", "C6", "C7"]
    # Six seats fit the middle block only.
    assert best(hall, 6) == ["C4", "C5", "C6", "C7", "C8", "C9"]
    # Seven seats fit no block: the whole middle block of row C and one seat next to it in row
    # B (0.8 rows off the ideal, D is 1.2 off), at the centre line (B6 or B7 tie; left wins).
    assert best(hall, 7) == ["B6", "C4", "C5", "C6", "C7", "C8", "C9"]


def test_the_group_never_straddles_an_aisle_when_it_fits_a_block() -> None:
    hall = "\n".join(["..... ....."] * 3)  # the aisle is right on the centre line
    # Two seats: by the aisle on either side is equally central; ties go left.
    assert best(hall, 2) == ["B4", "B5"]


def test_short_front_row_is_judged_by_where_its_seats_are() -> None:
    hall = """
  ......
..........
..........
"""
    layout, free = draw(hall)
    assert layout.centre_column == 4.5
    assert best_available(layout, free, 2) == ["B5", "B6"]


# --- filters ----------------------------------------------------------------------------------


def test_accessible_request_gets_only_accessible_seats() -> None:
    hall = """
aa........aa
............
............
"""
    # Two pairs, equally far from the centre line: ties go left.
    assert best(hall, 2, accessible=True) == ["A1", "A2"]
    # No four accessible seats side by side: both pairs, the only four there are.
    assert best(hall, 4, accessible=True) == ["A1", "A2", "A11", "A12"]
    assert best(hall, 5, accessible=True) is None


def test_requests_without_a_filter_leave_accessible_seats_alone() -> None:
    hall = """
..aaaaaaaa..
..aaaaaaaa..
"""
    # The centre is all accessible; a plain request goes to the ends instead, in row B (the
    # ideal row is 0.6), left on a tie.
    assert best(hall, 2) == ["B1", "B2"]
    # Four: one pair behind the other (gap 1) beats both pairs of row B (8 columns apart).
    assert best(hall, 4) == ["A1", "A2", "B1", "B2"]
    assert best(hall, 8, accessible=True) == [f"B{n}" for n in range(3, 11)]


def test_seat_type_filter() -> None:
    hall = """
............
...pppppp...
............
"""
    assert best(hall, 2, seat_type="premium") == ["B6", "B7"]
    # Row B's regular seats are at its ends (cost 10.4 for B1 B2); C's centre costs 2.6.
    assert best(hall, 2, seat_type="regular") == ["C6", "C7"]
    assert best(hall, 2) == ["B6", "B7"]  # no filter: premium seats are fair game
    assert best(hall, 7, seat_type="premium") is None  # there are six


def test_filters_together_must_both_match() -> None:
    hall = "aa..aa"
    assert best(hall, 1, accessible=True, seat_type="premium") is None
    assert best(hall, 1, accessible=True, seat_type="accessible") is not None


# --- best available: no stranded seat -----------------------------------------------------------


def test_never_leaves_one_seat_against_a_wall() -> None:
    # Only a run of three seats against the wall is free. Two seats there would strand one.
    hall = """
...xxxxxxx
"""
    assert best(hall, 2) is None
    assert best(hall, 3) == ["A1", "A2", "A3"]
    # Taking one: A1 or A3 leaves two together; A2 would strand both. A3 is nearer the centre.
    assert best(hall, 1) == ["A3"]


def test_never_leaves_one_seat_beside_a_taken_seat() -> None:
    hall = """
xx.....xxx
"""
    # Free A3..A7 (columns 2-6; centre 4.5). A5 A6 would leave A7 alone against the taken A8,
    # A4 A5 would leave A3; A6 A7 (cost 2) beats A3 A4 (cost 4) and leaves A3..A5 together.
    assert best(hall, 2) == ["A6", "A7"]
    layout, free = draw(hall)
    chosen = best_available(layout, free, 2)
    assert chosen is not None
    assert stranded_seats(layout, taken(layout, free), taken(layout, free) | set(chosen)) == set()


def test_nearly_full_hall() -> None:
    hall = """
xxxxxxxxxx
xxx..xxxxx
xxxxx.xxxx
xxxx...xxx
xxxxxxx..x
"""
    # Free: B4 B5, C6 (stranded already), D5 D6 D7, E8 E9.
    assert best(hall, 1) == ["C6"]  # filling the stranded seat strands nobody
    assert best(hall, 2) == ["B4", "B5"]  # D5 D6 or D6 D7 would strand a seat; E8 E9 is off-centre
    assert best(hall, 3) == ["D5", "D6", "D7"]
    # Four: no row has four; 3 in D and 1 in C above them, which fills the stranded seat.
    assert best(hall, 4) == ["C6", "D5", "D6", "D7"]


# --- best available: splits ---------------------------------------------------------------------


def test_split_into_two_adjacent_rows_when_no_row_has_room() -> None:
    hall = """
xxxxxxxxxx
xxxx..xxxx
xxxx..xxxx
xxxxxxxxxx
"""
    assert best(hall, 4) == ["B5", "B6", "C5", "C6"]


def test_split_prefers_rows_next_to_each_other_over_better_rows_apart() -> None:
    hall = """
xxxx..xxxx
xxxxxxxxxx
xxxx..xxxx
xxx..xxxxx
xxxxxxxxxx
"""
    # A5 A6 + C5 C6 are two rows apart; C5 C6 + D4 D5 are adjacent: the latter wins.
    assert best(hall, 4) == ["C5", "C6", "D4", "D5"]


def test_split_uses_as_few_pieces_as_possible() -> None:
    hall = """
xx.xx.xx.x
x..x...xxx
xxxxxxxxxx
"""
    # Free: A3 A6 A9 (singles), B2 B3, B5 B6 B7. Four seats: 3 + 1 (B5 B6 B7 + A6 above) beats
    # 2 + 1 + 1 or any three pieces.
    assert best(hall, 4) == ["A6", "B5", "B6", "B7"]


def test_group_wider_than_every_block_is_split_across_the_aisle_or_rows() -> None:
    hall = "\n".join(["..... ....."] * 3)
    chosen = best(hall, 8)
    assert chosen is not None and len(chosen) == 8
    layout, free = draw(hall)
    assert score(layout, chosen).pieces == 2


def test_split_never_strands_a_seat_between_its_pieces() -> None:
    hall = """
xx.....xxx
xxxxxxxxxx
"""
    # Five free together but six wanted: impossible, and no split may leave A-row gaps.
    assert best(hall, 6) is None
    assert best(hall, 5) == ["A3", "A4", "A5", "A6", "A7"]


# --- impossible requests ------------------------------------------------------------------------


def test_more_seats_than_are_free_is_none() -> None:
    assert best("xx..xx", 3) is None


def test_a_full_hall_is_none() -> None:
    assert best("xxxx\nxxxx", 1) is None


def test_count_must_be_positive() -> None:
    layout, free = draw("....")
    with pytest.raises(ValueError):
        best_available(layout, free, 0)


def test_an_empty_layout_has_nothing() -> None:
    assert best_available(Layout([]), set(), 1) is None


# --- properties and speed -----------------------------------------------------------------------


@st.composite
def halls(draw_: st.DrawFn) -> tuple[Layout, set[str]]:
    rows = draw_(st.integers(1, 6))
    width = draw_(st.integers(1, 24))
    aisles = draw_(st.sets(st.integers(1, max(1, width - 1)), max_size=2))
    lines = []
    for _ in range(rows):
        cells = draw_(st.lists(st.sampled_from(".x.a"), min_size=width, max_size=width))
        for aisle in aisles:
            if aisle < width:
                cells[aisle] = " "
        lines.append("".join(cells))
    return draw("\n".join(lines))


@given(halls(), st.integers(1, 6), st.sampled_from([None, "regular", "accessible"]), st.booleans())
@settings(max_examples=300, deadline=None)
def test_any_answer_is_free_matching_distinct_and_strands_nobody(
    hall: tuple[Layout, set[str]], count: int, seat_type: str | None, accessible: bool
) -> None:
    layout, free = hall
    chosen = best_available(layout, free, count, seat_type=seat_type, accessible=accessible)
    if chosen is None:
        return
    assert len(chosen) == len(set(chosen)) == count
    assert set(chosen) <= free
    for seat_id in chosen:
        seat_type_of = layout.seats[seat_id].seat_type
        if accessible:
            assert seat_type_of == "accessible"
        if seat_type is not None:
            assert seat_type_of == seat_type
        if not accessible and seat_type is None:
            assert seat_type_of != "accessible"
    before = taken(layout, free)
    assert stranded_seats(layout, before, before | set(chosen)) == set()


@given(halls(), st.integers(1, 4))
@settings(max_examples=200, deadline=None)
def test_side_by_side_is_found_whenever_it_exists(
    hall: tuple[Layout, set[str]], count: int
) -> None:
    """Brute force over every window of the hall: if one strands nobody, the answer is one piece,
    and no such window scores better."""
    layout, free = hall
    before = taken(layout, free)
    possible = []
    for block in layout.blocks:
        for start in range(len(block) - count + 1):
            window = [seat.id for seat in block[start : start + count]]
            if all(s in free and layout.seats[s].seat_type != "accessible" for s in window):
                if not stranded_seats(layout, before, before | set(window)):
                    possible.append(window)
    chosen = best_available(layout, free, count)
    if not possible:
        assert chosen is None or score(layout, chosen).pieces > 1
        return
    assert chosen is not None
    assert score(layout, chosen) == min(score(layout, window) for window in possible)


def test_a_two_thousand_seat_hall_is_answered_without_a_combinatorial_search() -> None:
    rows, blocks = 40, (12, 26, 12)  # 50 seats a row, two aisles: 2,000 seats
    randomly = random.Random(11)
    lines = []
    for _ in range(rows):
        line = " ".join("".join(randomly.choice("..x") for _ in range(n)) for n in blocks)
        lines.append(line)
    layout, free = draw_big("\n".join(lines))
    assert len(layout.seats) == 2000
    timings = []
    for count in (1, 2, 4, 6, 10):
        started = time.perf_counter()
        chosen = best_available(layout, free, count)
        timings.append(time.perf_counter() - started)
        assert chosen is not None and len(chosen) == count
    # Not a speed target (about 1 ms each on a laptop, 10-25 ms on a loaded 2-core machine): a
    # guard against a search gone combinatorial, which takes seconds here.
    assert sorted(timings)[2] < 0.1, [f"{t * 1000:.1f} ms" for t in timings]


def draw_big(picture: str) -> tuple[Layout, set[str]]:
    """Like draw, with row ids that go past Z."""
    seats, free = [], set()
    for row_index, line in enumerate(picture.splitlines()):
        number = 0
        for column_index, char in enumerate(line):
            if char == " ":
                continue
            number += 1
            seat_id = f"R{row_index}S{number}"
            seats.append(LayoutSeat(seat_id, row_index, column_index, TYPES[char]))
            if char == ".":
                free.add(seat_id)
    return Layout(seats), free
