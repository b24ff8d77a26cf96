"""Every price combination: seat type x ticket type x price card x voucher, each rounded half up
to the cent, booked through the API and compared with the rule written out in Python."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest

from reservations.app import create_app
from tests.api import API, create_movie, create_theater, hold_seats

CENT = Decimal("0.01")
SEAT_TYPES = {  # name: (multiplier, surcharge)
    "regular": (Decimal("1.00"), Decimal("0.00")),
    "premium": (Decimal("1.25"), Decimal("0.00")),
    "vip": (Decimal("1.10"), Decimal("1.35")),
}
TICKET_TYPES = {  # code: (percent off, fixed price)
    "adult": (Decimal(0), None),
    "child": (Decimal(30), None),
    "senior": (Decimal(20), None),
    "student": (Decimal(15), None),
    "family": (Decimal(0), Decimal("6.66")),
}
CARDS = {"own card": Decimal("10.10"), "general card": Decimal("9.99")}
VOUCHERS = {  # code: (percent, amount)
    None: (None, None),
    "EIGHTH": (Decimal("12.5"), None),
    "THREEOFF": (None, Decimal("3.00")),
}


def rule(base: Decimal, seat_type: str, ticket_type: str) -> Decimal:
    multiplier, surcharge = SEAT_TYPES[seat_type]
    percent, fixed = TICKET_TYPES[ticket_type]
    if fixed is not None:
        return fixed
    return ((base * multiplier + surcharge) * (100 - percent) / 100).quantize(CENT, ROUND_HALF_UP)


def discount_of(voucher: str | None, subtotal: Decimal) -> Decimal:
    percent, amount = VOUCHERS[voucher]
    if percent is not None:
        return min(subtotal, (subtotal * percent / 100).quantize(CENT, ROUND_HALF_UP))
    return min(subtotal, amount) if amount is not None else Decimal("0.00")


def test_the_rule_rounds_half_up():
    assert rule(Decimal("10.10"), "premium", "adult") == Decimal("12.63")  # 12.625
    assert rule(Decimal("9.99"), "vip", "child") == Decimal("8.64")  # 12.339 x 0.7 = 8.6373


@pytest.fixture
async def cinema(aiohttp_client, make_settings, database):
    settings = make_settings(max_seats_per_hold=20, max_seats_per_user_per_showtime=20)
    return await aiohttp_client(create_app(settings, database))


async def test_every_combination_is_booked_at_the_rule_s_price(cinema, admin, user, db):
    client = cinema
    for name, (multiplier, surcharge) in SEAT_TYPES.items():
        response = await client.put(
            f"{API}/seat-types/{name}",
            json={"price_multiplier": str(multiplier), "surcharge": str(surcharge)},
            headers=admin.headers,
        )
        assert response.status == 200
    made = await client.post(
        f"{API}/ticket-types",
        json={"code": "family", "name": "Family", "fixed_price": "6.66"},
        headers=admin.headers,
    )
    assert made.status == 201
    for code, (percent, amount) in VOUCHERS.items():
        if code is None:
            continue
        body = {"code": code, "max_redemptions": 10}
        body.update(
            {"discount_percent": str(percent)} if percent else {"discount_amount": str(amount)}
        )
        assert (
            await client.post(f"{API}/admin/vouchers", json=body, headers=admin.headers)
        ).status == 201

    rows = [
        {"label": label, "seats": 5, "seat_type": kind}
        for label, kind in zip("ABC", SEAT_TYPES, strict=True)
    ]
    movie = await create_movie(client, admin, duration_minutes=60)
    theaters = {card: await create_theater(client, admin, rows=rows) for card in CARDS}
    every_day = [1, 2, 3, 4, 5, 6, 7]
    for card, price in CARDS.items():
        body = {
            "name": card,
            "weekdays": every_day,
            "start_local_time": "00:00",
            "end_local_time": "24:00",
            "price": str(price),
        }
        if card == "own card":
            body["theater_id"] = theaters[card]["id"]
        assert (
            await client.post(f"{API}/admin/price-cards", json=body, headers=admin.headers)
        ).status == 201

    start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(days=2)
    checked = 0
    for card, base in CARDS.items():
        theater = theaters[card]
        seats_by_row: dict[str, list[dict]] = {}
        for seat in theater["seats"]:
            seats_by_row.setdefault(seat["row_label"], []).append(seat)
        for index, voucher in enumerate(VOUCHERS):
            created = await client.post(
                f"{API}/showtimes",
                json={
                    "movie_id": movie["id"],
                    "theater_id": theater["id"],
                    "start_time": (start + dt.timedelta(hours=2 * index)).isoformat(),
                },
                headers=admin.headers,
            )
            showtime = await created.json()
            assert showtime["price"] == str(base), card

            listed = await (await client.get(f"{API}/showtimes/{showtime['id']}/prices")).json()
            shown = {
                (row["ticket_type"], row["seat_type"]): row["price"] for row in listed["prices"]
            }
            tickets, expected = {}, {}
            for label, kind in zip("ABC", SEAT_TYPES, strict=True):
                for seat, ticket_type in zip(seats_by_row[label], TICKET_TYPES, strict=True):
                    tickets[seat["id"]] = ticket_type
                    expected[seat["id"]] = rule(base, kind, ticket_type)
                    assert shown[ticket_type, kind] == str(expected[seat["id"]]), (
                        ticket_type,
                        kind,
                    )
            held = await hold_seats(client, user, showtime["id"], list(tickets))
            assert held.status == 201, await held.text()
            subtotal = sum(expected.values(), Decimal(0))
            discount = discount_of(voucher, subtotal)
            body = {
                "showtime_id": showtime["id"],
                "seat_ids": list(tickets),
                "tickets": tickets,
                "expected_total": str(subtotal - discount),
            }
            if voucher:
                body["voucher_code"] = voucher.lower()
            booked = await client.post(f"{API}/reservations", json=body, headers=user.headers)
            assert booked.status == 201, (card, voucher, await booked.text())
            reservation = await booked.json()
            for seat in reservation["seats"]:
                assert seat["price"] == str(expected[seat["id"]])
                assert seat["ticket_type"] == tickets[seat["id"]]
                checked += 1
            assert reservation["subtotal"] == str(subtotal)
            assert reservation["discount"] == str(discount)
            assert reservation["total_price"] == str(subtotal - discount)
            shares = await db.fetchval(
                "SELECT sum(discount) FROM reservation_seats WHERE reservation_id = $1",
                reservation["id"],
            )
            assert shares == discount
    assert checked == len(CARDS) * len(VOUCHERS) * len(SEAT_TYPES) * len(TICKET_TYPES)
