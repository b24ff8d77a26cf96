"""Vouchers: made one by one or in batches, applied at booking, checked first, never redeemed
past their limit whatever runs at once (the database enforces it), given back on cancelling."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
import uuid

import pytest

from reservations.app import create_app
from tests.api import API, book_tickets, error_of, hold_and_book, hold_seats
from tests.factories import create_hall, create_showtime

SAFE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


async def make_vouchers(client, admin, **body):
    response = await client.post(f"{API}/admin/vouchers", json=body, headers=admin.headers)
    assert response.status == 201, await response.text()
    return (await response.json())["vouchers"]


async def check(client, account, code, showtime_id):
    return await client.post(
        f"{API}/vouchers/check",
        json={"code": code, "showtime_id": str(showtime_id)},
        headers=account.headers,
    )


async def test_a_batch_of_random_codes_is_unguessable_and_has_no_look_alikes(client, admin):
    made = await make_vouchers(client, admin, count=50, prefix="news", discount_percent="10")
    codes = [voucher["code"] for voucher in made]
    assert len(set(codes)) == 50
    for code in codes:
        prefix, *groups = code.split("-")
        assert prefix == "NEWS"
        random_part = "".join(groups)
        assert set(random_part) <= set(SAFE_ALPHABET)
        assert len(random_part) * math.log2(len(SAFE_ALPHABET)) >= 50
    assert {voucher["batch_id"] for voucher in made} != {None}
    assert len({voucher["batch_id"] for voucher in made}) == 1
    assert all(voucher["max_redemptions"] == 1 and voucher["redemptions"] == 0 for voucher in made)


async def test_voucher_requests_are_checked(client, admin, user):
    bad_bodies = [
        {"code": "SPRING10"},  # no discount
        {"code": "SPRING10", "discount_percent": "10", "discount_amount": "2.00"},
        {"code": "SPRING10", "count": 2, "discount_percent": "10"},
        {"code": "AB", "discount_percent": "10"},
        {"discount_percent": "101"},
        {"discount_amount": "0.00"},
        {"discount_percent": "5", "max_redemptions": 0},
        {
            "discount_percent": "5",
            "valid_from": "2027-01-02T00:00:00+00:00",
            "valid_until": "2027-01-01T00:00:00+00:00",
        },
    ]
    for body in bad_bodies:
        response = await client.post(f"{API}/admin/vouchers", json=body, headers=admin.headers)
        assert response.status == 422, (body, await response.text())
    by_user = await client.post(
        f"{API}/admin/vouchers", json={"discount_percent": "5"}, headers=user.headers
    )
    assert by_user.status == 403
    await make_vouchers(client, admin, code="spring10", discount_percent="10")
    taken = await client.post(
        f"{API}/admin/vouchers",
        json={"code": "SPRING10", "discount_percent": "10"},
        headers=admin.headers,
    )
    assert (await error_of(taken, 409))["code"] == "voucher_code_taken"


async def test_a_percent_voucher_is_shared_among_the_seats_to_the_cent(client, db, admin, user):
    hall = await create_hall(db, rows=1, seats_per_row=3, price="10.00")
    [voucher] = await make_vouchers(client, admin, code="THIRD", discount_percent="33.33")
    a1, a2, a3 = (hall.seats[label] for label in ("A1", "A2", "A3"))
    response = await hold_and_book(
        client, user, hall.showtime_id, {a1: None, a2: None, a3: "child"}, "third"
    )
    assert response.status == 201, await response.text()
    reservation = await response.json()
    assert reservation["subtotal"] == "27.00"
    assert reservation["discount"] == "9.00"  # 27.00 x 33.33% = 8.9991
    assert reservation["total_price"] == "18.00"
    assert reservation["voucher_code"] == "THIRD"
    shares = await db.fetch(
        "SELECT price, discount FROM reservation_seats WHERE reservation_id = $1 ORDER BY price",
        uuid.UUID(reservation["id"]),
    )
    assert sum(row["discount"] for row in shares) == 9
    assert all(0 <= row["discount"] <= row["price"] for row in shares)
    voucher_now = await db.fetchval("SELECT redemptions FROM vouchers WHERE code = 'THIRD'")
    assert voucher_now == 1
    assert voucher["redemptions"] == 0


async def test_an_amount_voucher_never_takes_the_total_below_zero(client, db, admin, user):
    hall = await create_hall(db, rows=1, seats_per_row=1, price="6.00")
    await make_vouchers(client, admin, code="TENOFF", discount_amount="10.00")
    response = await hold_and_book(
        client, user, hall.showtime_id, {hall.seats["A1"]: None}, "TENOFF"
    )
    reservation = await response.json()
    assert (reservation["subtotal"], reservation["discount"], reservation["total_price"]) == (
        "6.00",
        "6.00",
        "0.00",
    )


async def test_vouchers_outside_their_rules_are_invalid_and_book_nothing(
    aiohttp_client, make_settings, database, db, admin, user
):
    # Twelve wrong tries below: more than the default guessing limit allows.
    settings = make_settings(voucher_check_max_failures=50)
    client = await aiohttp_client(create_app(settings, database))
    hall = await create_hall(db, rows=1, seats_per_row=2, price="10.00")
    other = await create_showtime(db, hall, dt.timedelta(days=3))
    now = dt.datetime.now(dt.UTC)
    await make_vouchers(
        client,
        admin,
        code="LATER",
        discount_percent="10",
        valid_from=(now + dt.timedelta(days=1)).isoformat(),
    )
    await make_vouchers(
        client,
        admin,
        code="OVER",
        discount_percent="10",
        valid_until=(now - dt.timedelta(minutes=1)).isoformat(),
    )
    await make_vouchers(
        client, admin, code="ELSEWHERE", discount_percent="10", showtime_id=str(other)
    )
    movie_id = await db.fetchval(
        "INSERT INTO movies (title, duration_minutes) VALUES ('X', 90) RETURNING id"
    )
    await make_vouchers(
        client, admin, code="OTHERFILM", discount_percent="10", movie_id=str(movie_id)
    )
    [off] = await make_vouchers(client, admin, code="DISABLED", discount_percent="10")
    assert (
        await client.delete(f"{API}/admin/vouchers/{off['id']}", headers=admin.headers)
    ).status == 204
    await make_vouchers(
        client, admin, code="THISFILM", discount_percent="10", movie_id=str(hall.movie_id)
    )

    seat = hall.seats["A1"]
    assert (await hold_seats(client, user, hall.showtime_id, [seat])).status == 201
    for code in ("NOSUCHCODE", "LATER", "OVER", "ELSEWHERE", "OTHERFILM", "DISABLED"):
        response = await book_tickets(client, user, hall.showtime_id, {seat: None}, code)
        assert (await error_of(response, 422))["code"] == "voucher_invalid", code
        checked = await check(client, user, code, hall.showtime_id)
        assert (await error_of(checked, 422))["code"] == "voucher_invalid", code
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
    assert await db.fetchval("SELECT sum(redemptions) FROM vouchers") == 0
    good = await book_tickets(client, user, hall.showtime_id, {seat: None}, "thisfilm")
    assert good.status == 201, await good.text()


async def test_cancelling_gives_the_redemption_back(client, db, admin, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=2, price="10.00")
    await make_vouchers(client, admin, code="ONCE", discount_percent="50")
    first = await (
        await hold_and_book(client, user, hall.showtime_id, {hall.seats["A1"]: None}, "ONCE")
    ).json()
    other = await make_account()
    refused = await hold_and_book(client, other, hall.showtime_id, {hall.seats["A2"]: None}, "ONCE")
    assert (await error_of(refused, 409))["code"] == "voucher_exhausted"
    exhausted = await check(client, other, "ONCE", hall.showtime_id)
    assert (await error_of(exhausted, 409))["code"] == "voucher_exhausted"

    cancelled = await client.delete(f"{API}/reservations/{first['id']}", headers=user.headers)
    assert cancelled.status == 200
    assert await db.fetchval("SELECT redemptions FROM vouchers WHERE code = 'ONCE'") == 0
    checked = await check(client, other, "ONCE", hall.showtime_id)
    assert checked.status == 200
    assert await checked.json() == {
        "code": "ONCE",
        "discount_percent": "50.00",
        "discount_amount": None,
        "remaining_redemptions": 1,
    }
    again = await book_tickets(client, other, hall.showtime_id, {hall.seats["A2"]: None}, "ONCE")
    assert again.status == 201, await again.text()
    assert (await again.json())["total_price"] == "5.00"


async def test_cancelling_a_showtime_gives_its_redemptions_back(client, db, admin, user):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await make_vouchers(client, admin, code="TWICE", discount_percent="10", max_redemptions=2)
    await hold_and_book(client, user, hall.showtime_id, {hall.seats["A1"]: None}, "TWICE")
    assert await db.fetchval("SELECT redemptions FROM vouchers") == 1
    response = await client.delete(f"{API}/showtimes/{hall.showtime_id}", headers=admin.headers)
    assert response.status == 204
    assert await db.fetchval("SELECT redemptions FROM vouchers") == 0


async def test_guessing_codes_is_rate_limited_per_user(
    aiohttp_client, make_settings, database, db, make_account
):
    client = await aiohttp_client(create_app(make_settings(voucher_check_max_failures=3), database))
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await db.execute("INSERT INTO vouchers (code, discount_percent) VALUES ('REAL-CODE', 10)")
    guesser, other = await make_account(), await make_account()
    # A right code is not a guess: it never counts.
    assert (await check(client, guesser, "real-code", hall.showtime_id)).status == 200
    for _ in range(2):
        response = await check(client, guesser, f"GUESS-{uuid.uuid4().hex[:8]}", hall.showtime_id)
        assert response.status == 422
    # A booking with a wrong code counts too.
    seat = hall.seats["A1"]
    assert (await hold_seats(client, guesser, hall.showtime_id, [seat])).status == 201
    wrong = await book_tickets(client, guesser, hall.showtime_id, {seat: None}, "GUESS-BOOKING")
    assert (await error_of(wrong, 422))["code"] == "voucher_invalid"

    limited = await check(client, guesser, "GUESS-LAST", hall.showtime_id)
    assert (await error_of(limited, 429))["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    # Past the limit, a booking with a code (even a right one) is not tried at all.
    booking = await book_tickets(client, guesser, hall.showtime_id, {seat: None}, "REAL-CODE")
    assert (await error_of(booking, 429))["code"] == "rate_limited"
    assert int(booking.headers["Retry-After"]) > 0
    assert await db.fetchval("SELECT redemptions FROM vouchers") == 0
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
    # Without a code the booking goes on; another user is not limited.
    plain = await book_tickets(client, guesser, hall.showtime_id, {seat: None})
    assert plain.status == 201, await plain.text()
    assert (await check(client, other, "GUESS-OTHER", hall.showtime_id)).status == 422


@pytest.mark.slow
async def test_a_five_use_code_gives_exactly_five_discounts_to_a_hundred_bookings_at_once(
    client, db, admin, make_account
):
    """Ten showtimes, so that the bookings do not queue behind one showtime's lock: only the
    voucher's own row and CHECK stand between them and a sixth discount."""
    hall = await create_hall(db, rows=1, seats_per_row=10, price="10.00")
    showtimes = [hall.showtime_id] + [
        await create_showtime(db, hall, dt.timedelta(days=day)) for day in range(2, 11)
    ]
    await make_vouchers(client, admin, code="FIRST5", discount_percent="20", max_redemptions=5)
    users = [await make_account() for _ in range(100)]
    places = [(showtime, seat) for showtime in showtimes for seat in hall.seats.values()]
    held = await asyncio.gather(
        *(
            hold_seats(client, person, showtime, [seat])
            for person, (showtime, seat) in zip(users, places, strict=True)
        )
    )
    assert [response.status for response in held] == [201] * 100

    answers = await asyncio.gather(
        *(
            book_tickets(client, person, showtime, {seat: None}, "FIRST5")
            for person, (showtime, seat) in zip(users, places, strict=True)
        )
    )
    statuses = [response.status for response in answers]
    assert statuses.count(201) == 5, statuses
    assert statuses.count(409) == 95, statuses
    bodies = [await response.json() for response in answers]
    assert {body["error"]["code"] for body in bodies if "error" in body} == {"voucher_exhausted"}
    assert sorted(body["total_price"] for body in bodies if "id" in body) == ["8.00"] * 5
    assert await db.fetchval("SELECT redemptions FROM vouchers WHERE code = 'FIRST5'") == 5
    assert await db.fetchval("SELECT count(*) FROM reservations WHERE voucher_id IS NOT NULL") == 5


def test_random_codes_follow_the_pattern():
    from reservations.prices.vouchers import random_code

    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", random_code())
    assert random_code("x1").startswith("X1-")
