"""Prices: ticket types chosen per seat, seat types priced by the cinema, the migration of
existing reservations. Every price comes from one SQL function (ticket_price) and is computed
in the booking's one call; the client never names one."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import asyncpg

from reservations.booking.seat_map import SeatMapCache
from reservations.db import migrate
from reservations.live.listener import LISTENER
from tests.api import API, book_tickets, error_of, hold_and_book, hold_seats, seat_map
from tests.factories import (
    create_hall,
    insert_movie,
    insert_reservation,
    insert_seat,
    insert_showtime,
    insert_theater,
)
from tests.statements import listening


async def price_seat_type(client, admin, name, **body):
    response = await client.put(f"{API}/seat-types/{name}", json=body, headers=admin.headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def ticket_type_id(client, code):
    response = await client.get(f"{API}/ticket-types")
    types = {item["code"]: item for item in (await response.json())["ticket_types"]}
    return types[code]["id"]


# --- ticket types ---------------------------------------------------------------------------


async def test_four_ticket_types_are_seeded_with_adult_the_default(client):
    response = await client.get(f"{API}/ticket-types")
    assert response.status == 200
    types = (await response.json())["ticket_types"]
    assert [item["code"] for item in types] == ["adult", "child", "senior", "student"]
    assert [item["is_default"] for item in types] == [True, False, False, False]
    assert types[0]["discount_percent"] == "0.00" and types[0]["fixed_price"] is None
    assert all(item["active"] for item in types)


async def test_admin_adds_changes_and_deactivates_a_ticket_type(client, admin, user):
    made = await client.post(
        f"{API}/ticket-types",
        json={"code": "family", "name": "Family", "fixed_price": "7.50"},
        headers=admin.headers,
    )
    assert made.status == 201, await made.text()
    family = await made.json()
    assert family["fixed_price"] == "7.50" and family["discount_percent"] == "0.00"
    again = await client.post(
        f"{API}/ticket-types", json={"code": "family", "name": "Again"}, headers=admin.headers
    )
    assert (await error_of(again, 409))["code"] == "ticket_type_code_taken"
    by_user = await client.post(
        f"{API}/ticket-types", json={"code": "x", "name": "X"}, headers=user.headers
    )
    assert by_user.status == 403

    changed = await client.put(
        f"{API}/ticket-types/{family['id']}", json={"discount_percent": "25"}, headers=admin.headers
    )
    assert changed.status == 200
    assert (await changed.json())["fixed_price"] is None
    assert (await changed.json())["discount_percent"] == "25.00"

    gone = await client.delete(f"{API}/ticket-types/{family['id']}", headers=admin.headers)
    assert gone.status == 204
    listed = await (await client.get(f"{API}/ticket-types")).json()
    assert "family" not in [item["code"] for item in listed["ticket_types"]]
    everything = await client.get(
        f"{API}/ticket-types", params={"include_inactive": "true"}, headers=admin.headers
    )
    assert "family" in [item["code"] for item in (await everything.json())["ticket_types"]]
    hidden = await client.get(f"{API}/ticket-types", params={"include_inactive": "true"})
    assert hidden.status == 403


async def test_the_default_ticket_type_cannot_be_removed(client, admin):
    adult = await ticket_type_id(client, "adult")
    response = await client.delete(f"{API}/ticket-types/{adult}", headers=admin.headers)
    assert (await error_of(response, 409))["code"] == "default_ticket_type"


# --- a ticket type per seat -------------------------------------------------------------------


async def test_each_seat_is_priced_by_its_ticket_type_and_seat_type(client, db, admin, user):
    hall = await create_hall(db, rows=2, seats_per_row=3, price="11.00")
    await db.execute("UPDATE seats SET seat_type = 'premium' WHERE id = $1", hall.seats["B1"])
    await price_seat_type(client, admin, "premium", price_multiplier="1.00", surcharge="2.00")
    a1, a2, a3, b1 = (hall.seats[label] for label in ("A1", "A2", "A3", "B1"))

    response = await hold_and_book(
        client, user, hall.showtime_id, {a1: None, a2: "child", a3: "senior", b1: "student"}
    )
    assert response.status == 201, await response.text()
    reservation = await response.json()
    seats = {
        seat["seat_label"]: (seat["ticket_type"], seat["price"]) for seat in reservation["seats"]
    }
    assert seats == {
        "A1": ("adult", "11.00"),
        "A2": ("child", "7.70"),  # 11.00 x 0.70
        "A3": ("senior", "8.80"),  # 11.00 x 0.80
        "B1": ("student", "11.05"),  # (11.00 + 2.00) x 0.85
    }
    assert reservation["subtotal"] == "38.55"
    assert reservation["discount"] == "0.00"
    assert reservation["voucher_code"] is None
    assert reservation["total_price"] == "38.55"


async def test_showtime_prices_list_every_pair_as_booking_charges_it(client, db, admin, user):
    hall = await create_hall(db, rows=1, seats_per_row=2, price="9.99", seat_type="vip")
    await price_seat_type(client, admin, "vip", surcharge="3.00")
    response = await client.get(f"{API}/showtimes/{hall.showtime_id}/prices")
    assert response.status == 200
    body = await response.json()
    assert body["currency"] == "EUR"
    prices = {(row["ticket_type"], row["seat_type"]): row["price"] for row in body["prices"]}
    assert len(prices) == 16
    assert prices["adult", "vip"] == "17.99"  # 9.99 x 1.50 + 3.00 = 17.985, half up
    assert prices["child", "vip"] == "12.59"  # 17.985 x 0.70 = 12.5895
    assert prices["adult", "regular"] == "9.99"

    a1, a2 = hall.seats["A1"], hall.seats["A2"]
    booked = await (
        await hold_and_book(client, user, hall.showtime_id, {a1: None, a2: "child"})
    ).json()
    assert [seat["price"] for seat in booked["seats"]] == [
        prices["adult", "vip"],
        prices["child", "vip"],
    ]
    (await seat_map(client, hall.showtime_id))  # the map still answers
    missing = await client.get(f"{API}/showtimes/{uuid.uuid4()}/prices")
    assert missing.status == 404


async def test_the_seat_map_and_the_hold_show_the_default_ticket_price(client, db, admin, user):
    hall = await create_hall(db, rows=1, seats_per_row=2, price="10.00", seat_type="premium")
    await price_seat_type(client, admin, "premium", price_multiplier="1.00", surcharge="2.50")
    prices = {
        seat["seat_label"]: seat["price"]
        for seat in (await seat_map(client, hall.showtime_id))["seats"]
    }
    assert prices == {"A1": "12.50", "A2": "12.50"}
    held = await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))
    assert (await held.json())["total_price"] == "25.00"


async def test_the_seat_map_prices_every_ticket_type_and_follows_their_changes(client, db, admin):
    """The seat map carries each (seat type, ticket type) price of its hall, exactly as
    GET /prices answers them, and a new or changed ticket type reaches the cached map."""
    hall = await create_hall(db, rows=1, seats_per_row=2, price="10.00", seat_type="premium")
    await price_seat_type(client, admin, "premium", price_multiplier="1.00", surcharge="2.00")
    listed = await (await client.get(f"{API}/showtimes/{hall.showtime_id}/prices")).json()
    on_map = (await seat_map(client, hall.showtime_id))["prices"]
    assert on_map == [row for row in listed["prices"] if row["seat_type"] == "premium"]
    assert {row["ticket_type"]: row["price"] for row in on_map} == {
        "adult": "12.00",
        "child": "8.40",
        "senior": "9.60",
        "student": "10.20",
    }

    child = await ticket_type_id(client, "child")
    changed = await client.put(
        f"{API}/ticket-types/{child}", json={"fixed_price": "5.00"}, headers=admin.headers
    )
    assert changed.status == 200, await changed.text()
    made = await client.post(
        f"{API}/ticket-types",
        json={"code": "family", "name": "Family", "discount_percent": "50"},
        headers=admin.headers,
    )
    assert made.status == 201, await made.text()
    after = {
        row["ticket_type"]: row["price"]
        for row in (await seat_map(client, hall.showtime_id))["prices"]
    }
    assert after["child"] == "5.00"
    assert after["family"] == "6.00"


async def test_a_price_change_reaches_the_seat_maps_of_its_process_before_any_notify(
    client, db, admin
):
    """The process that changes a ticket type or a seat type serves the new prices at once,
    without waiting for the showtimes' NOTIFYs (here they reach a cache nobody reads)."""
    hall = await create_hall(db, rows=1, seats_per_row=2, price="10.00", seat_type="premium")
    await price_seat_type(client, admin, "premium", price_multiplier="1.00", surcharge="2.00")
    await listening(client)

    async def prices():
        return {
            row["ticket_type"]: row["price"]
            for row in (await seat_map(client, hall.showtime_id))["prices"]
        }

    assert (await prices())["child"] == "8.40"
    client.app[LISTENER].seat_maps = SeatMapCache()
    child = await ticket_type_id(client, "child")
    changed = await client.put(
        f"{API}/ticket-types/{child}", json={"fixed_price": "5.00"}, headers=admin.headers
    )
    assert changed.status == 200, await changed.text()
    assert (await prices())["child"] == "5.00"
    made = await client.post(
        f"{API}/ticket-types",
        json={"code": "family", "name": "Family", "discount_percent": "50"},
        headers=admin.headers,
    )
    assert made.status == 201, await made.text()
    assert (await prices())["family"] == "6.00"
    await price_seat_type(client, admin, "premium", surcharge="4.00")
    assert (await prices())["adult"] == "14.00"
    removed = await client.delete(
        f"{API}/ticket-types/{(await made.json())['id']}", headers=admin.headers
    )
    assert removed.status == 204
    assert "family" not in await prices()


async def test_an_unknown_or_inactive_ticket_type_books_nothing(client, db, admin, user):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    a1, a2 = hall.seats["A1"], hall.seats["A2"]
    response = await hold_and_book(client, user, hall.showtime_id, {a1: "child", a2: "pirate"})
    error = await error_of(response, 422)
    assert error["code"] == "unknown_ticket_type"
    assert error["details"]["codes"] == ["pirate"]

    student = await ticket_type_id(client, "student")
    await client.delete(f"{API}/ticket-types/{student}", headers=admin.headers)
    response = await book_tickets(client, user, hall.showtime_id, {a1: "student", a2: None})
    assert (await error_of(response, 422))["code"] == "unknown_ticket_type"
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
    assert await db.fetchval("SELECT count(*) FROM seat_claims WHERE hold_id IS NOT NULL") == 2


async def test_tickets_may_name_only_the_seats_booked(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))
    response = await client.post(
        f"{API}/reservations",
        json={
            "showtime_id": str(hall.showtime_id),
            "seat_ids": hall.ids("A1"),
            "tickets": {hall.ids("A2")[0]: "child"},
        },
        headers=user.headers,
    )
    assert response.status == 422
    assert "tickets" in (await error_of(response))["details"]["fields"]


async def test_changing_a_ticket_type_or_seat_type_never_changes_a_reservation(
    client, db, admin, user
):
    hall = await create_hall(db, rows=1, seats_per_row=2, price="10.00")
    a1, a2 = hall.seats["A1"], hall.seats["A2"]
    booked = await (
        await hold_and_book(client, user, hall.showtime_id, {a1: "child", a2: None})
    ).json()
    child = await ticket_type_id(client, "child")
    await client.put(
        f"{API}/ticket-types/{child}", json={"fixed_price": "1.00"}, headers=admin.headers
    )
    await client.delete(f"{API}/ticket-types/{child}", headers=admin.headers)
    await price_seat_type(client, admin, "regular", price_multiplier="2.00", surcharge="5.00")
    again = await (
        await client.get(f"{API}/reservations/{booked['id']}", headers=user.headers)
    ).json()
    assert again["seats"] == booked["seats"]
    assert again["total_price"] == booked["total_price"] == "17.00"


async def test_expected_total_is_the_total_with_ticket_types(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=2, price="10.00")
    a1, a2 = hall.seats["A1"], hall.seats["A2"]
    held = await hold_seats(client, user, hall.showtime_id, [a1, a2])
    assert (await held.json())["total_price"] == "20.00"  # both adults
    wrong = await book_tickets(
        client, user, hall.showtime_id, {a1: None, a2: "child"}, expected_total="20.00"
    )
    error = await error_of(wrong, 409)
    assert error["code"] == "price_changed"
    assert error["details"]["total_price"] == "17.00"
    right = await book_tickets(
        client, user, hall.showtime_id, {a1: None, a2: "child"}, expected_total="17.00"
    )
    assert right.status == 201, await right.text()


async def test_seat_types_are_priced_by_admins_only(client, user, admin):
    response = await client.put(
        f"{API}/seat-types/premium", json={"surcharge": "2.00"}, headers=user.headers
    )
    assert response.status == 403
    unknown = await client.put(
        f"{API}/seat-types/balcony", json={"surcharge": "2.00"}, headers=admin.headers
    )
    assert unknown.status == 404
    listed = await (await client.get(f"{API}/seat-types")).json()
    assert listed["seat_types"][1] == {
        "name": "premium",
        "price_multiplier": "1.25",
        "surcharge": "0.00",
    }


# --- the migration of existing reservations ---------------------------------------------------


async def test_migration_keeps_every_past_reservation_and_revenue_to_the_cent(
    aiohttp_client, app, database, db, admin
):
    """Reservations made before 0012_prices (at prices like 16.88 and 15.63 from the old
    multipliers) become the default type at their stored prices; the revenue reports of their
    period answer exactly what the old ones did: the sum of the seat prices as booked."""
    await db.close()
    while migrate(database, rollback=True) != ["0012_prices"]:
        pass  # the migrations after 0012 first; then back to 0011: no ticket types, no vouchers
    old = await asyncpg.connect(database)
    try:
        theater_id, _ = await insert_theater(old, "Old hall")
        seats = [
            await insert_seat(old, theater_id, "A", number, kind, 0, number - 1)
            for number, kind in enumerate(("regular", "premium", "vip", "premium"), start=1)
        ]
        movie_id = await insert_movie(old, "Old movie", 90)
        user_id = admin.id
        start = dt.datetime(2026, 3, 10, 19, 0, tzinfo=dt.UTC)
        showtime_id = await insert_showtime(
            old, movie_id, theater_id, start, start + dt.timedelta(minutes=90), "13.50"
        )
        await insert_reservation(old, user_id, showtime_id, {seats[0]: "13.50", seats[1]: "16.88"})
        await insert_reservation(old, user_id, showtime_id, {seats[2]: "20.25"})
        await insert_reservation(
            old, user_id, showtime_id, {seats[3]: "16.88"}, "cancelled", "cancelled_by_user"
        )
        before = await old.fetchval(
            "SELECT sum(rs.price) FROM reservations r"
            " JOIN reservation_seats rs ON rs.reservation_id = r.id WHERE r.status = 'confirmed'"
        )
        totals_before = await old.fetch("SELECT id, total_price FROM reservations ORDER BY id")
    finally:
        await old.close()
    assert before == Decimal("50.63")

    assert migrate(database)[0] == "0012_prices"
    check = await asyncpg.connect(database)
    try:
        rows = await check.fetch(
            "SELECT t.code, rs.price, rs.discount FROM reservation_seats rs"
            " JOIN ticket_types t ON t.id = rs.ticket_type_id"
        )
        assert {row["code"] for row in rows} == {"adult"}
        assert all(row["discount"] == 0 for row in rows)
        after = await check.fetch(
            "SELECT id, total_price, subtotal, discount, voucher_id FROM reservations ORDER BY id"
        )
    finally:
        await check.close()
    assert [(row["id"], row["total_price"]) for row in after] == [tuple(r) for r in totals_before]
    assert all(row["subtotal"] == row["total_price"] and row["discount"] == 0 for row in after)

    client = await aiohttp_client(app)
    for group_by in ("day", "movie", "theater", "ticket_type"):
        response = await client.get(
            f"{API}/admin/reports/revenue",
            params={"start_date": "2026-03-01", "end_date": "2026-03-31", "group_by": group_by},
            headers=admin.headers,
        )
        assert response.status == 200, await response.text()
        report = await response.json()
        assert report["total_revenue"] == "50.63", group_by
        assert report["total_tickets"] == 3, group_by
    popular = await client.get(
        f"{API}/admin/reports/popular-movies",
        params={"start_date": "2026-03-01", "end_date": "2026-03-31"},
        headers=admin.headers,
    )
    assert (await popular.json())["movies"][0]["revenue"] == "50.63"
