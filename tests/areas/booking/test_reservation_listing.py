"""A user's reservations: listing, reading and cancelling them."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.api import (
    book,
    error_of,
    hold_seats,
    seat_map,
    statuses,
)
from tests.factories import create_hall
from tests.holds import when

# --- listing, reading and cancelling -------------------------------------------------------


async def move_showtime(db, showtime_id, by):
    await db.execute(
        "UPDATE showtimes SET start_time = start_time + $2::interval,"
        " end_time = end_time + $2::interval, busy_until = busy_until + $2::interval"
        " WHERE id = $1",
        showtime_id,
        by,
    )


async def test_list_reservations_upcoming_first_and_past_on_request(client, db, user):
    later = await create_hall(db, rows=1, seats_per_row=1, starts_in=dt.timedelta(days=3))
    sooner = await create_hall(db, rows=1, seats_per_row=1, starts_in=dt.timedelta(days=1))
    long_ago = await create_hall(db, rows=1, seats_per_row=1, starts_in=dt.timedelta(days=2))
    recently = await create_hall(db, rows=1, seats_per_row=1, starts_in=dt.timedelta(days=2))
    ids = {}
    for name, hall in [
        ("later", later),
        ("sooner", sooner),
        ("long_ago", long_ago),
        ("recently", recently),
    ]:
        ids[name] = (await book(client, user, hall.showtime_id, hall.ids("A1")))["id"]
    await move_showtime(db, long_ago.showtime_id, -dt.timedelta(days=5))
    await move_showtime(db, recently.showtime_id, -dt.timedelta(days=2, hours=1))
    response = await client.get("/api/v1/reservations", headers=user.headers)
    assert response.status == 200
    page = await response.json()
    assert [item["id"] for item in page["reservations"]] == [ids["sooner"], ids["later"]]
    assert (page["total"], page["page"], page["page_size"]) == (2, 1, 20)

    response = await client.get("/api/v1/reservations?include_past=true", headers=user.headers)
    page = await response.json()
    assert [item["id"] for item in page["reservations"]] == [
        ids["sooner"],
        ids["later"],
        ids["recently"],
        ids["long_ago"],
    ]
    assert page["total"] == 4
    assert page["reservations"][2]["is_cancellable"] is False

    response = await client.get(
        "/api/v1/reservations?include_past=true&page=2&page_size=3", headers=user.headers
    )
    page = await response.json()
    assert [item["id"] for item in page["reservations"]] == [ids["long_ago"]]
    assert page["total"] == 4
    response = await client.get("/api/v1/reservations?page=9", headers=user.headers)
    page = await response.json()
    assert page["reservations"] == [] and page["total"] == 2

    response = await client.get("/api/v1/reservations?page_size=101", headers=user.headers)
    assert response.status == 422
    assert (await client.get("/api/v1/reservations")).status == 401


async def test_others_reservations_are_not_listed(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await book(client, await make_account(), hall.showtime_id, hall.ids("A1"))
    page = await (await client.get("/api/v1/reservations", headers=user.headers)).json()
    assert page["reservations"] == [] and page["total"] == 0


async def test_a_reservation_is_visible_to_its_owner_and_admins_only(
    client, db, user, admin, make_account
):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1"))
    path = f"/api/v1/reservations/{reservation['id']}"
    assert (await (await client.get(path, headers=user.headers)).json()) == reservation
    assert (await client.get(path, headers=admin.headers)).status == 200
    stranger = await make_account()
    assert (await error_of(await client.get(path, headers=stranger.headers), 404))[
        "code"
    ] == "reservation_not_found"
    assert (await client.delete(path, headers=stranger.headers)).status == 404
    assert (
        await client.get(f"/api/v1/reservations/{uuid.uuid4()}", headers=user.headers)
    ).status == 404
    assert (await client.get("/api/v1/reservations/zzz", headers=user.headers)).status == 404
    assert (await client.get(path)).status == 401
    # The stranger's attempt changed nothing.
    assert (await (await client.get(path, headers=user.headers)).json())["status"] == "confirmed"


async def test_cancel_keeps_the_record_and_frees_the_seats(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1", "A2"))
    path = f"/api/v1/reservations/{reservation['id']}"

    response = await client.delete(path, headers=user.headers)
    assert response.status == 200
    cancelled = await response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "cancelled_by_user"
    assert cancelled["cancelled_at"] is not None
    assert cancelled["is_cancellable"] is False
    assert cancelled["seats"] == reservation["seats"]
    assert cancelled["total_price"] == reservation["total_price"]
    assert cancelled["ticket_code"] == reservation["ticket_code"]
    assert when(cancelled["updated_at"]) >= when(reservation["updated_at"])

    # The seats are free at once, for anyone.
    assert (await seat_map(client, hall.showtime_id))["available_seats"] == 3
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 0
    assert await db.fetchval("SELECT count(*) FROM reservation_seats") == 2
    assert (
        await hold_seats(client, await make_account(), hall.showtime_id, hall.ids("A1"))
    ).status == 201

    # Cancelling again changes nothing.
    again = await client.delete(path, headers=user.headers)
    assert again.status == 200
    assert await again.json() == cancelled
    listed = await (await client.get("/api/v1/reservations", headers=user.headers)).json()
    assert listed["reservations"][0]["status"] == "cancelled"


async def test_an_admin_can_cancel_anyones_reservation(client, db, user, admin):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1"))
    response = await client.delete(
        f"/api/v1/reservations/{reservation['id']}", headers=admin.headers
    )
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "cancelled_by_admin"
    assert body["user_id"] == str(user.id)


async def test_no_cancelling_once_the_show_started(client, db, user, admin):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1"))
    await move_showtime(db, hall.showtime_id, -dt.timedelta(days=1, minutes=5))
    path = f"/api/v1/reservations/{reservation['id']}"
    for account in (user, admin):
        error = await error_of(await client.delete(path, headers=account.headers), 409)
        assert error["code"] == "showtime_started"
    body = await (await client.get(path, headers=user.headers)).json()
    assert body["status"] == "confirmed" and body["is_cancellable"] is False
    assert statuses(await seat_map(client, hall.showtime_id))[hall.ids("A1")[0]] == "sold"
