"""Best available seats and the single-seat gap rule, over HTTP on a real PostgreSQL.

Halls are drawn as in tests/unit/test_best_seats.py: one line per row, the first nearest the screen;
`.` a free regular seat, `x` a seat someone else holds, `a` accessible, `p` premium, a space
an aisle. Seats are named by row letter and number within the row ("C5").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid

import pytest

from reservations.app import create_app
from reservations.booking.best_seats import Layout, LayoutSeat, is_stranded, score, stranded_seats
from tests.api import HOLD_FIELDS, best_available, error_of, hold_seats, hold_seats_after_a_wait
from tests.factories import (
    Hall,
    claim_for_hold,
    create_drawn_hall,
    create_hall,
    hold_directly,
)

# --- helpers --------------------------------------------------------------------------------


async def held_by(db, hall: Hall, user_id) -> list[str]:
    """Labels of the seats the user holds on the hall's showtime, front row first."""
    rows = await db.fetch(
        "SELECT s.row_label || s.seat_number AS label FROM seat_claims c"
        " JOIN holds h ON h.id = c.hold_id JOIN seats s ON s.id = c.seat_id"
        " WHERE h.showtime_id = $1 AND h.user_id = $2 ORDER BY s.row_index, s.column_index",
        hall.showtime_id,
        user_id,
    )
    return [row["label"] for row in rows]


def labels(hall: Hall, seat_ids) -> list[str]:
    names = {str(seat_id): label for label, seat_id in hall.seats.items()}
    return [names[str(seat_id)] for seat_id in seat_ids]


@pytest.fixture
async def enforcing(aiohttp_client, make_settings, database):
    """A client of a service with SINGLE_SEAT_GAP_RULE=enforce."""
    settings = make_settings(single_seat_gap_rule="enforce")
    return await aiohttp_client(create_app(settings, database))


@pytest.fixture
async def gap_rule_off(aiohttp_client, make_settings, database):
    return await aiohttp_client(create_app(make_settings(single_seat_gap_rule="off"), database))


# --- best available -------------------------------------------------------------------------


async def test_best_available_holds_the_middle_of_the_ideal_row(client, db, user, make_account):
    hall = await create_hall(db, rows=5, seats_per_row=10)  # ideal row: 2.4, so C
    response = await best_available(client, user, hall.showtime_id, count=2)
    assert response.status == 201, await response.text()
    hold = await response.json()
    assert set(hold) == HOLD_FIELDS
    assert hold["locked_seat_ids"] == hall.ids("C5", "C6")
    assert hold["stranded_seat_ids"] == []
    assert 9.9 <= hold["lock_duration_minutes"] <= 10
    assert await held_by(db, hall, user.id) == ["C5", "C6"]

    # The next group of four: row C has only four-seat ends left; D's middle is better.
    other = await make_account()
    response = await best_available(client, other, hall.showtime_id, count=4)
    assert labels(hall, (await response.json())["locked_seat_ids"]) == ["D4", "D5", "D6", "D7"]


async def test_best_available_works_around_taken_seats_and_aisles(client, db, user):
    hall = await create_drawn_hall(
        db,
        """
...... ......
...... ......
.xxxx. ......
...... ......
""",
    )
    # The ideal row is 1.8 (C) and the centre line is the aisle (column 6). C's left block has
    # only two single seats left. C7 C8 C9 (columns 7-9) costs 1+2+3 + 3*0.2 = 6.6; the best
    # of row B, B4 B5 B6 (columns 3-5), costs 3+2+1 + 3*0.8 = 8.4.
    response = await best_available(client, user, hall.showtime_id, count=3)
    assert response.status == 201, await response.text()
    assert labels(hall, (await response.json())["locked_seat_ids"]) == ["C7", "C8", "C9"]


async def test_best_available_never_strands_a_seat(client, db, user):
    hall = await create_drawn_hall(db, "xx.....xxx")
    # A5 A6 would leave A7 alone against a taken seat, A4 A5 would leave A3: A6 A7 it is.
    response = await best_available(client, user, hall.showtime_id, count=2)
    hold = await response.json()
    assert labels(hall, hold["locked_seat_ids"]) == ["A6", "A7"]
    assert hold["stranded_seat_ids"] == []


async def test_best_available_splits_into_adjacent_rows_when_no_row_has_room(client, db, user):
    hall = await create_drawn_hall(
        db,
        """
xxxxxxxxxx
xxxx..xxxx
xxxx..xxxx
xxxxxxxxxx
""",
    )
    response = await best_available(client, user, hall.showtime_id, count=4)
    assert response.status == 201, await response.text()
    assert labels(hall, (await response.json())["locked_seat_ids"]) == ["B5", "B6", "C5", "C6"]


async def test_best_available_filters_by_seat_type_and_accessibility(
    client, db, user, make_account
):
    picture = """
a.........a
...........
..ppppppp..
...........
"""
    hall = await create_drawn_hall(db, picture)
    # Four rows: the ideal row is 1.8 (C); the centre line is column 5.
    cases = [
        ({"count": 3, "seat_type": "premium"}, ["C5", "C6", "C7"]),
        ({"count": 2, "seat_type": "regular"}, ["B5", "B6"]),
        ({"count": 1, "accessible": True}, ["A1"]),  # A1 and A11 tie; left wins
        ({"count": 2, "accessible": True, "seat_type": "accessible"}, ["A1", "A11"]),
    ]
    for body, expected in cases:
        hall = await create_drawn_hall(db, picture)
        response = await best_available(client, await make_account(), hall.showtime_id, **body)
        assert response.status == 201, (body, await response.text())
        assert labels(hall, (await response.json())["locked_seat_ids"]) == expected, body


async def test_without_a_filter_accessible_seats_are_left_for_those_who_ask(client, db, user):
    hall = await create_drawn_hall(db, "xxaaaaxx\nxxxxxxxx")
    error = await error_of(await best_available(client, user, hall.showtime_id, count=1), 409)
    assert error["code"] == "not_enough_seats"
    assert error["details"] == {"requested_count": 1, "available_count": 0}
    # The centred A4 A5 would strand A3 and A6; A3 A4 and A5 A6 tie, left wins.
    response = await best_available(client, user, hall.showtime_id, count=2, accessible=True)
    assert labels(hall, (await response.json())["locked_seat_ids"]) == ["A3", "A4"]


async def test_not_enough_seats_is_409_and_holds_nothing(client, db, user):
    hall = await create_drawn_hall(db, "xx..xx\n...xxx")
    error = await error_of(await best_available(client, user, hall.showtime_id, count=6), 409)
    assert error["code"] == "not_enough_seats"
    assert error["details"] == {"requested_count": 6, "available_count": 5}
    assert await held_by(db, hall, user.id) == []


async def test_free_seats_that_would_strand_one_do_not_count_as_room(client, db, user):
    hall = await create_drawn_hall(db, "...xxxxxxx")
    # Three seats against the wall: two of them would leave one alone.
    error = await error_of(await best_available(client, user, hall.showtime_id, count=2), 409)
    assert error["code"] == "not_enough_seats"
    assert error["details"] == {"requested_count": 2, "available_count": 3}
    response = await best_available(client, user, hall.showtime_id, count=3)
    assert response.status == 201


async def test_best_available_adds_to_the_callers_hold_within_the_cap(
    aiohttp_client, make_settings, database, db, user
):
    client = await aiohttp_client(create_app(make_settings(max_seats_per_hold=4), database))
    hall = await create_hall(db, rows=3, seats_per_row=8)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    response = await best_available(client, user, hall.showtime_id, count=2)
    assert response.status == 201, await response.text()
    assert await held_by(db, hall, user.id) == ["A1", "A2", "B4", "B5"]
    assert len((await response.json())["locked_seat_ids"]) == 4

    error = await error_of(await best_available(client, user, hall.showtime_id, count=1), 422)
    assert error["code"] == "too_many_seats"
    assert await held_by(db, hall, user.id) == ["A1", "A2", "B4", "B5"]


async def test_best_available_request_validation(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    bad_bodies = [
        {},
        {"count": 0},
        {"count": "two"},
        {"count": 2, "seat_type": "balcony"},
        {"count": 2, "seat_type": "premium", "accessible": True},
        {"count": 2, "accessible": 1},  # JSON true or false only, as documented
        {"count": 2, "accessible": "yes"},
    ]
    for body in bad_bodies:
        error = await error_of(await best_available(client, user, hall.showtime_id, **body), 422)
        assert error["code"] == "validation_error", body
    error = await error_of(await best_available(client, user, hall.showtime_id, count=11), 422)
    assert error["code"] == "too_many_seats"  # MAX_SEATS_PER_HOLD is 10
    response = await client.post(
        f"/api/v1/showtimes/{hall.showtime_id}/best-available", json={"count": 1}
    )
    assert response.status == 401
    response = await best_available(client, user, uuid.uuid4(), count=1)
    assert (await error_of(response, 404))["code"] == "showtime_not_found"


async def test_best_available_refuses_a_started_showtime(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4, starts_in=-dt.timedelta(minutes=5))
    error = await error_of(await best_available(client, user, hall.showtime_id, count=1), 409)
    assert error["code"] == "showtime_started"


@pytest.mark.slow
async def test_concurrent_requests_never_share_or_strand_a_seat(client, db, make_account):
    hall = await create_drawn_hall(db, "\n".join(["......... ........."] * 8))  # 144 seats
    randomly = random.Random(5)
    people = [(await make_account(), randomly.randint(2, 4)) for _ in range(20)]

    responses = await asyncio.gather(
        *(best_available(client, person, hall.showtime_id, count=count) for person, count in people)
    )
    holds = []
    for response, (_, count) in zip(responses, people, strict=True):
        assert response.status == 201, await response.text()
        hold = await response.json()
        assert len(hold["locked_seat_ids"]) == count
        holds.append(hold["locked_seat_ids"])

    every_seat = [seat for hold in holds for seat in hold]
    assert len(every_seat) == len(set(every_seat)) == sum(count for _, count in people)
    assert await db.fetchval(
        "SELECT count(*) FROM seat_claims WHERE showtime_id = $1", hall.showtime_id
    ) == len(every_seat)

    # The final map: no seat is stranded, and with this much room every group sits together.
    response = await client.get(f"/api/v1/showtimes/{hall.showtime_id}/seats")
    seats = (await response.json())["seats"]
    layout = Layout(LayoutSeat(s["id"], s["row_index"], s["column_index"]) for s in seats)
    taken = {s["id"] for s in seats if s["status"] != "available"}
    assert taken == set(every_seat)
    assert [seat for seat in layout.seats if is_stranded(layout, seat, taken)] == []
    assert all(score(layout, hold).pieces == 1 for hold in holds)


# --- the single-seat gap rule -------------------------------------------------------------


async def test_enforce_refuses_a_seat_that_strands_one_against_the_wall(enforcing, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=5)
    error = await error_of(await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A2")), 409)
    assert error["code"] == "would_strand_seat"
    assert error["details"]["stranded_seat_ids"] == hall.ids("A1")
    assert await held_by(db, hall, user.id) == []  # nothing held

    response = await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A1", "A2"))
    assert response.status == 201
    assert (await response.json())["stranded_seat_ids"] == []


async def test_enforce_judges_the_callers_whole_hold(enforcing, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=6)
    assert (await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    # A4 on its own is fine, but with A1 A2 already held it leaves A3 alone.
    error = await error_of(await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A4")), 409)
    assert error["details"]["stranded_seat_ids"] == hall.ids("A3")
    assert await held_by(db, hall, user.id) == ["A1", "A2"]
    assert (await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A3", "A4"))).status == 201


async def test_enforce_counts_other_peoples_seats_and_aisles_as_edges(enforcing, db, user):
    hall = await create_drawn_hall(db, ".... ...x")
    # A8 is someone else's. A6 strands A5 against the aisle and A7 against the taken A8.
    error = await error_of(await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A6")), 409)
    assert error["details"]["stranded_seat_ids"] == hall.ids("A5", "A7")
    # A3 strands A4 against the aisle.
    error = await error_of(await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A3")), 409)
    assert error["details"]["stranded_seat_ids"] == hall.ids("A4")
    # A3 A4 with A6 A7 still strands A5 between the aisle and A6; with A5 too, nothing.
    error = await error_of(
        await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A3", "A4", "A6", "A7")), 409
    )
    assert error["details"]["stranded_seat_ids"] == hall.ids("A5")
    response = await hold_seats(
        enforcing, user, hall.showtime_id, hall.ids("A3", "A4", "A5", "A6", "A7")
    )
    assert response.status == 201, await response.text()


async def test_enforce_ignores_seats_stranded_by_others(enforcing, db, user):
    hall = await create_drawn_hall(db, "x.x...")
    # A2 is stranded already, by someone else's seats; A4 A5 A6 strand nothing new.
    response = await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A4", "A5", "A6"))
    assert response.status == 201, await response.text()
    assert (await response.json())["stranded_seat_ids"] == []


async def test_a_lone_seat_between_aisles_is_never_stranded(enforcing, db, user):
    hall = await create_drawn_hall(db, ".. . ..")
    response = await hold_seats(enforcing, user, hall.showtime_id, hall.ids("A1", "A2", "A4", "A5"))
    assert response.status == 201, await response.text()


async def test_best_available_under_enforce_holds_without_stranding(enforcing, db, user):
    hall = await create_drawn_hall(db, "xx.....xxx")
    response = await best_available(enforcing, user, hall.showtime_id, count=2)
    assert response.status == 201, await response.text()
    assert labels(hall, (await response.json())["locked_seat_ids"]) == ["A6", "A7"]


async def test_warn_holds_and_reports_the_stranded_seats(client, db, user):
    hall = await create_drawn_hall(db, ".... ...")
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A2", "A6"))
    assert response.status == 201, await response.text()
    hold = await response.json()
    assert hold["stranded_seat_ids"] == hall.ids("A1", "A5", "A7")
    assert await held_by(db, hall, user.id) == ["A2", "A6"]
    # Filling the gaps: nothing is stranded any more.
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A5", "A7"))
    assert (await response.json())["stranded_seat_ids"] == []


async def test_warn_reports_the_stranded_seats_when_the_hold_had_to_wait(client, db, user):
    """A hold that had to wait for the showtime's lock works out the warning once it has the
    lock, against the seats as they are then: the answer is the same."""
    hall = await create_drawn_hall(db, ".... ...")
    response = await hold_seats_after_a_wait(
        client, db, user, hall.showtime_id, hall.ids("A2", "A6")
    )
    assert response.status == 201, await response.text()
    assert (await response.json())["stranded_seat_ids"] == hall.ids("A1", "A5", "A7")


async def test_off_holds_and_reports_nothing(gap_rule_off, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=5)
    response = await hold_seats(gap_rule_off, user, hall.showtime_id, hall.ids("A2"))
    assert response.status == 201
    assert (await response.json())["stranded_seat_ids"] == []


# --- the check the seat-selection page calls --------------------------------------------------


async def test_stranded_seat_check_before_holding(client, db, user):
    hall = await create_drawn_hall(db, "x.....")
    url = f"/api/v1/showtimes/{hall.showtime_id}/stranded-seats"
    response = await client.get(url, params=[("seat_ids", str(hall.seats["A3"]))])
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body == {
        "showtime_id": str(hall.showtime_id),
        "seat_ids": hall.ids("A3"),
        "stranded_seat_ids": hall.ids("A2"),
        "single_seat_gap_rule": "warn",
    }
    assert await held_by(db, hall, user.id) == []  # a check holds nothing

    # With a token, the caller's hold counts: holding A5, adding A3 strands A2 and A4.
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A5", "A6"))).status == 201
    response = await client.get(
        url, params=[("seat_ids", str(hall.seats["A3"]))], headers=user.headers
    )
    body = await response.json()
    assert body["seat_ids"] == hall.ids("A3", "A5", "A6")
    assert body["stranded_seat_ids"] == hall.ids("A2", "A4")


async def test_stranded_seat_check_tells_the_page_what_lock_seats_would_do(enforcing, db):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    response = await enforcing.get(
        f"/api/v1/showtimes/{hall.showtime_id}/stranded-seats",
        params=[("seat_ids", str(hall.seats["A2"]))],
    )
    body = await response.json()
    assert body["single_seat_gap_rule"] == "enforce"
    assert body["stranded_seat_ids"] == hall.ids("A1")


async def test_stranded_seat_check_errors(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    other = await create_hall(db, rows=1, seats_per_row=4)
    url = f"/api/v1/showtimes/{hall.showtime_id}/stranded-seats"
    error = await error_of(await client.get(url, params=[("seat_ids", "nope")]), 422)
    assert error["code"] == "validation_error"
    error = await error_of(await client.get(url), 422)
    assert error["code"] == "validation_error"
    # At most 100 ids; more get the documented 422, not the HTTP parser's bare text/plain 400
    # (found by schemathesis: a request line past aiohttp's default 8190 bytes).
    for count in (101, 300):
        too_many = [("seat_ids", str(uuid.uuid4())) for _ in range(count)]
        error = await error_of(await client.get(url, params=too_many), 422)
        assert error["code"] == "validation_error"
    response = await client.get(url, params=[("seat_ids", str(other.seats["A1"]))])
    assert (await error_of(response, 422))["code"] == "unknown_seats"
    response = await client.get(
        f"/api/v1/showtimes/{uuid.uuid4()}/stranded-seats",
        params=[("seat_ids", str(hall.seats["A1"]))],
    )
    await error_of(response, 404)


# --- documentation --------------------------------------------------------------------------


async def test_best_available_and_the_gap_rule_are_documented(client):
    spec = await (await client.get("/api/docs/swagger.json")).json()
    best = spec["paths"]["/api/v1/showtimes/{id}/best-available"]["post"]
    assert best["security"] == [{"bearerAuth": []}]
    assert {"201", "401", "404", "409", "422"} <= set(best["responses"])
    assert "not_enough_seats" in best["description"]
    body = next(p for p in best["parameters"] if p["in"] == "body")
    assert "count" in str(body) or "BestAvailable" in str(body)
    lock_seats = spec["paths"]["/api/v1/showtimes/{id}/lock-seats"]["post"]
    assert "would_strand_seat" in lock_seats["description"]
    assert "stranded_seat_ids" in str(spec["definitions"]["Hold"])
    check = spec["paths"]["/api/v1/showtimes/{id}/stranded-seats"]["get"]
    assert {"200", "404", "422"} <= set(check["responses"])


async def test_the_database_and_best_seats_agree_on_stranded_seats(db, make_account):
    """The gap rule is stated twice: in SQL for holds (stranded_seats_of_hold, under the lock)
    and in Python for best-available's search. On random halls and claims they must agree."""
    rng = random.Random(16)
    hall = await create_hall(db, rows=3, seats_per_row=8)
    # Aisles: row A after seat 3, row C after seat 5.
    await db.execute(
        "UPDATE seats SET column_index = column_index + 100 WHERE theater_id = $1"
        " AND ((row_label = 'A' AND seat_number > 3) OR (row_label = 'C' AND seat_number > 5))",
        hall.theater_id,
    )
    await db.execute(
        "UPDATE seats SET column_index = column_index - 99"
        " WHERE theater_id = $1 AND column_index >= 100",
        hall.theater_id,
    )
    records = await db.fetch(
        "SELECT id, row_index, column_index, seat_type FROM seats WHERE theater_id = $1",
        hall.theater_id,
    )
    layout = Layout.from_records(records)
    seat_ids = sorted(record["id"] for record in records)
    me, rival = await make_account(), await make_account()
    holds = {
        account.id: await hold_directly(db, account.id, hall.showtime_id, [])
        for account in (me, rival)
    }
    trials_with_stranded_seats = 0
    for _ in range(60):
        await db.execute("DELETE FROM seat_claims WHERE showtime_id = $1", hall.showtime_id)
        shuffled = rng.sample(seat_ids, len(seat_ids))
        others = set(shuffled[: rng.randint(0, 10)])
        mine = set(shuffled[10 : 10 + rng.randint(0, 3)])
        adding = shuffled[13 : 13 + rng.randint(1, 4)]
        await claim_for_hold(db, hall.showtime_id, holds[rival.id], others)
        await claim_for_hold(db, hall.showtime_id, holds[me.id], mine)
        row = await db.fetchrow(
            "SELECT * FROM stranded_seats_of_hold($1, $2, $3, $4)",
            hall.showtime_id,
            hall.theater_id,
            me.id,
            adding,
        )
        assert set(row["hold_seat_ids"]) == mine | set(adding)
        expected = stranded_seats(layout, others, others | mine | set(adding))
        assert set(row["stranded_seat_ids"]) == expected, (others, mine, adding)
        trials_with_stranded_seats += bool(expected)
    assert trials_with_stranded_seats >= 10  # the rule was exercised, not only empty answers
