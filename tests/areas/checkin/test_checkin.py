"""Check-in at the door: the usher role, signed ticket codes, each seat admitted exactly once
(under real concurrency too), partial admission, every refusal, offline batches, undoing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
import re
import uuid
from collections import Counter

import aiohttp
import asyncpg
import pytest

from reservations.accounts.access import ADMIN, USHER, access_of
from reservations.app import create_app
from reservations.checkin.codes import TicketKey, TicketSigner, format_keys
from reservations.checkin.errors import REFUSALS
from reservations.context import TICKET_SIGNER
from reservations.web.routes import ticket_svg
from tests.api import error_of, route_path
from tests.checkin import API, admitted_seat_count, open_door, scan, scan_body
from tests.live_map import next_message, snapshot_of, watch
from tests.statements import listening


@pytest.fixture
async def usher(make_account):
    return await make_account("usher")


@pytest.fixture
def signer(app):
    return app[TICKET_SIGNER]


# --- the usher role ----------------------------------------------------------------------------


async def test_an_usher_is_refused_every_admin_route(app, client, usher):
    """Walk the router: every route (API or console panel) marked for admins answers an usher
    403, whatever it is; the door's routes let the usher through."""
    admin_routes = usher_routes = 0
    for route in app.router.routes():
        level = access_of(route.handler)
        if route.method == "HEAD" or level not in (ADMIN, USHER):
            continue
        response = await client.request(route.method, route_path(route), headers=usher.headers)
        if level == ADMIN:
            admin_routes += 1
            assert response.status == 403, (route.method, route_path(route))
        else:
            usher_routes += 1
            assert response.status not in (401, 403), (route.method, route_path(route))
    assert admin_routes >= 20 and usher_routes >= 5


async def test_the_admin_console_pages_show_an_usher_nothing(client, usher):
    for panel in ("showtimes", "movies", "theaters", "reports"):
        response = await client.get(f"/admin/panels/{panel}", headers=usher.headers)
        assert response.status == 403


async def test_an_admin_makes_a_user_an_usher_and_back(client, admin, user):
    keys = f"{API}/checkins/keys"
    assert (await client.get(keys, headers=user.headers)).status == 403
    response = await client.post(
        f"{API}/admin/users/{user.id}/role", json={"role": "usher"}, headers=admin.headers
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["role"] == "usher"
    # The same token, at once: the role is read from the database.
    assert (await client.get(keys, headers=user.headers)).status == 200
    assert (await client.get(f"{API}/admin/users", headers=user.headers)).status == 403
    response = await client.post(
        f"{API}/admin/users/{user.id}/role", json={"role": "user"}, headers=admin.headers
    )
    assert (await response.json())["role"] == "user"
    assert (await client.get(keys, headers=user.headers)).status == 403


async def test_setting_a_role_refuses_bad_input(client, admin, user, usher):
    path = f"{API}/admin/users/{user.id}/role"
    await error_of(await client.post(path, json={"role": "owner"}, headers=admin.headers), 422)
    await error_of(await client.post(path, json={}, headers=admin.headers), 422)
    unknown = f"{API}/admin/users/{uuid.uuid4()}/role"
    await error_of(await client.post(unknown, json={"role": "usher"}, headers=admin.headers), 404)
    await error_of(await client.post(path, json={"role": "admin"}, headers=usher.headers), 403)


async def test_an_usher_cannot_register(client):
    response = await client.post(
        f"{API}/auth/register",
        json={"email": "door@example.com", "password": "correct horse", "role": "usher"},
    )
    assert (await response.json())["role"] == "user"


async def test_admins_list_users_by_email_and_role(client, admin, make_account):
    await make_account("usher", "door.one@example.com")
    await make_account("usher", "Door.Two@example.com")
    await make_account("user", "door.three@example.com")
    response = await client.get(f"{API}/admin/users?q=DOOR&role=usher", headers=admin.headers)
    body = await response.json()
    assert response.status == 200, body
    assert [u["email"] for u in body["users"]] == ["door.one@example.com", "Door.Two@example.com"]
    assert body["total"] == 2 and body["page"] == 1 and body["page_size"] == 20
    response = await client.get(
        f"{API}/admin/users?q=door&page_size=1&page=4", headers=admin.headers
    )
    body = await response.json()
    assert body["users"] == [] and body["total"] == 3
    response = await client.get(f"{API}/admin/users?q=door&page_size=2", headers=admin.headers)
    assert len((await response.json())["users"]) == 2
    await error_of(await client.get(f"{API}/admin/users?role=boss", headers=admin.headers), 422)
    await error_of(await client.get(f"{API}/admin/users?page_size=101", headers=admin.headers), 422)


# --- signed codes ------------------------------------------------------------------------------


async def test_a_reservation_carries_its_signed_code(client, db, signer, make_account):
    owner = await make_account("user")
    door = await open_door(db, signer, tickets=0)
    from tests.factories import book_directly

    reservation_id = await book_directly(db, owner.id, door.hall.showtime_id, door.hall.ids("A1"))
    response = await client.get(f"{API}/reservations/{reservation_id}", headers=owner.headers)
    reservation = await response.json()
    kid, code, signature = reservation["qr_payload"].split(".")
    assert code == reservation["ticket_code"] and len(signature) == 86
    assert kid == signer.active.kid
    listed = await (await client.get(f"{API}/reservations", headers=owner.headers)).json()
    assert listed["reservations"][0]["qr_payload"] == reservation["qr_payload"]
    # The QR code of ticket.svg holds the signed code, not the bare ticket code.
    svg = await (
        await client.get(f"{API}/reservations/{reservation_id}/ticket.svg", headers=owner.headers)
    ).read()
    assert svg == ticket_svg(code, reservation["qr_payload"])
    assert svg != ticket_svg(code, code)


async def test_the_keys_are_published_for_scanners(client, usher, signer):
    body = await (await client.get(f"{API}/checkins/keys", headers=usher.headers)).json()
    [key] = body["keys"]
    assert key["kid"] == signer.active.kid and key["algorithm"] == "Ed25519" and key["active"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key["public_key"])


async def test_forged_and_altered_codes_are_refused(client, db, usher, signer):
    door = await open_door(db, signer, tickets=2)
    real, other = door.tickets
    kid, code, signature = real.qr_payload.split(".")
    forger = TicketSigner([TicketKey(kid, TicketKey.generate().private_key)])
    cases = {
        "bad_signature": [
            f"{kid}.{other.ticket_code}.{signature}",  # another ticket's code, this signature
            f"{kid}.{code}.{signature[:-2]}{'AB' if signature[-2:] != 'AB' else 'CD'}",
            forger.qr_payload(code),  # signed with a key of the right name, not ours
        ],
        "unknown_key": [TicketSigner([TicketKey.generate()]).qr_payload(code)],
        "malformed": [f"{kid}.{code}.short", f".{code}.{signature}"],
    }
    for reason, codes in cases.items():
        for forged in codes:
            error = await error_of(await scan(client, usher, forged), 422)
            assert error["code"] == "ticket_forged", forged
            assert error["details"]["reason"] == reason, forged
    assert await admitted_seat_count(db, door.showtime_id) == 0


async def test_rotated_keys_keep_old_codes_until_the_old_key_is_dropped(
    aiohttp_client, make_settings, database, db, usher
):
    old, new = TicketKey.generate(), TicketKey.generate()
    before = create_app(make_settings(ticket_signing_keys=format_keys([old])), database)
    door = await open_door(db, before[TICKET_SIGNER], tickets=2)
    first, second = door.tickets  # codes signed with the old key

    rotated = await aiohttp_client(
        create_app(make_settings(ticket_signing_keys=format_keys([new, old])), database)
    )
    assert (await scan(rotated, usher, first)).status == 201
    assert rotated.app[TICKET_SIGNER].qr_payload("X").startswith(f"{new.kid}.")
    keys = await (await rotated.get(f"{API}/checkins/keys", headers=usher.headers)).json()
    assert [(k["kid"], k["active"]) for k in keys["keys"]] == [(new.kid, True), (old.kid, False)]

    retired = await aiohttp_client(
        create_app(make_settings(ticket_signing_keys=format_keys([new])), database)
    )
    error = await error_of(await scan(retired, usher, second), 422)
    assert (error["code"], error["details"]["reason"]) == ("ticket_forged", "unknown_key")
    # Shown again, the ticket is signed with the new key, and admitted.
    resigned = dataclasses.replace(
        second, qr_payload=retired.app[TICKET_SIGNER].qr_payload(second.ticket_code)
    )
    assert (await scan(retired, usher, resigned)).status == 201


def test_the_embedded_key_is_generated_once_under_data_dir(make_settings, database, tmp_path):
    settings = make_settings(data_dir=tmp_path / "data")
    first = create_app(settings, database)[TICKET_SIGNER]
    again = create_app(settings, database)[TICKET_SIGNER]
    assert first.active.kid == again.active.kid
    assert first.public_keys() == again.public_keys()
    assert (tmp_path / "data" / "ticket_signing_keys").stat().st_mode & 0o077 == 0


def test_a_bad_key_setting_stops_the_start(make_settings, database):
    from reservations.settings import SettingsError

    for bad in (
        "nokid",
        "k1:tooshort",
        "bad kid:" + "A" * 43,
        "k1:" + "A" * 43 + ",k1:" + "B" * 43,
    ):
        with pytest.raises(SettingsError, match="TICKET_SIGNING_KEYS"):
            create_app(make_settings(ticket_signing_keys=bad), database)


# --- one scan ----------------------------------------------------------------------------------


async def test_a_ticket_is_admitted_once_and_a_replayed_nonce_answers_the_first_result(
    client, db, usher, signer
):
    door = await open_door(db, signer, tickets=1, seats_per_ticket=3)
    [ticket] = door.tickets
    body = scan_body(ticket, device="door-1", showtime_id=door.showtime_id)
    response = await client.post(f"{API}/checkins", json=body, headers=usher.headers)
    first = await response.json()
    assert response.status == 201, first
    assert first["reservation_id"] == str(ticket.reservation_id)
    assert sorted(first["seat_ids"]) == sorted(ticket.seat_ids)
    assert first["seat_labels"] == ["A1", "A2", "A3"]
    assert first["device"] == "door-1" and first["undone_at"] is None

    # A retry of the same scan (its answer was lost): the first result, nothing more admitted.
    again = await client.post(f"{API}/checkins", json=body, headers=usher.headers)
    assert again.status == 200
    assert await again.json() == first

    # Another scan of the same ticket: already admitted, when, where and which seats.
    error = await error_of(await scan(client, usher, ticket, device="door-2"), 409)
    assert error["code"] == "already_admitted"
    assert error["details"]["device"] == "door-1"
    assert error["details"]["admitted_at"].startswith(first["admitted_at"][:19])
    assert sorted(error["details"]["seat_ids"]) == sorted(ticket.seat_ids)
    assert error["details"]["remaining_seat_ids"] == []
    assert await admitted_seat_count(db, door.showtime_id) == 3


async def test_the_bare_ticket_code_is_accepted_online(client, db, usher, signer):
    door = await open_door(db, signer, tickets=1)
    await db.execute(
        "UPDATE reservations SET ticket_code = 'K7QX-2M9P-R4TD' WHERE id = $1",
        door.tickets[0].reservation_id,
    )
    response = await scan(client, usher, " k7qx-2m9p-r4td ")  # typed in, in any case
    assert response.status == 201, await response.text()


async def test_a_family_ticket_is_admitted_in_parts(client, db, usher, signer):
    door = await open_door(db, signer, tickets=1, seats_per_ticket=4)
    [ticket] = door.tickets
    two = ticket.seat_ids[:2]
    response = await scan(client, usher, ticket, seat_ids=two)
    assert response.status == 201
    assert sorted((await response.json())["seat_ids"]) == sorted(two)
    # Naming a seat already in refuses the whole scan, and says which seats are still out.
    error = await error_of(await scan(client, usher, ticket, seat_ids=ticket.seat_ids[1:3]), 409)
    assert error["details"]["seat_ids"] == [ticket.seat_ids[1]]
    assert sorted(error["details"]["remaining_seat_ids"]) == sorted(ticket.seat_ids[2:])
    # The whole ticket later: the two seats still out.
    response = await scan(client, usher, ticket)
    assert sorted((await response.json())["seat_ids"]) == sorted(ticket.seat_ids[2:])
    await error_of(await scan(client, usher, ticket), 409)
    assert await admitted_seat_count(db, door.showtime_id) == 4
    # A seat of another ticket is no seat of this one.
    error = await error_of(
        await scan(client, usher, ticket, seat_ids=[str(door.hall.seats["A9"])]), 422
    )
    assert error["code"] == "seats_not_on_ticket"


async def test_every_refusal_has_its_own_code(client, db, usher, user, signer, make_settings):
    door = await open_door(db, signer, tickets=3)
    unknown = await error_of(await scan(client, usher, "NOPE-NOPE-NOPE"), 404)
    assert unknown["code"] == "ticket_unknown"

    cancelled = door.tickets[0]
    await db.execute(
        "UPDATE reservations SET status = 'cancelled', cancelled_at = now(),"
        " cancel_reason = 'cancelled_by_user' WHERE id = $1",
        cancelled.reservation_id,
    )
    error = await error_of(await scan(client, usher, cancelled), 409)
    assert error["code"] == "reservation_cancelled"

    elsewhere = await error_of(
        await scan(client, usher, door.tickets[1], showtime_id=str(uuid.uuid4())), 409
    )
    assert elsewhere["code"] == "wrong_showtime"
    assert elsewhere["details"]["showtime_id"] == door.showtime_id

    later = await open_door(db, signer, tickets=1, starts_in=dt.timedelta(hours=3))
    error = await error_of(await scan(client, usher, later.tickets[0]), 409)
    assert error["code"] == "checkin_not_open" and "opens_at" in error["details"]

    over = await open_door(db, signer, tickets=1, starts_in=dt.timedelta(hours=-3))
    error = await error_of(await scan(client, usher, over.tickets[0]), 409)
    assert error["code"] == "showtime_ended"

    reused = scan_body(door.tickets[1])
    assert (await client.post(f"{API}/checkins", json=reused, headers=usher.headers)).status == 201
    reused["code"] = door.tickets[2].qr_payload
    error = await error_of(
        await client.post(f"{API}/checkins", json=reused, headers=usher.headers), 422
    )
    assert error["code"] == "nonce_reused"

    await error_of(await scan(client, user, door.tickets[2]), 403)
    await error_of(await client.post(f"{API}/checkins", json=scan_body(door.tickets[2])), 401)
    await error_of(
        await client.post(f"{API}/checkins", json={"nonce": "x"}, headers=usher.headers), 422
    )


async def test_the_door_opens_checkin_opens_minutes_before_the_start(
    aiohttp_client, make_settings, database, db, usher
):
    client = await aiohttp_client(create_app(make_settings(checkin_opens_minutes=240), database))
    door = await open_door(db, client.app[TICKET_SIGNER], starts_in=dt.timedelta(hours=3))
    assert (await scan(client, usher, door.tickets[0])).status == 201


def test_every_refusal_code_of_the_sql_has_its_error():
    from reservations.paths import SQL_DIR

    code = (SQL_DIR / "code" / "07_checkin.sql").read_text()
    raised = set(re.findall(r"'refused', NULL::uuid, '([a-z_]+)'", code))
    assert raised and raised <= set(REFUSALS)


async def test_the_database_refuses_a_second_admission_of_a_seat(db, signer):
    """The guarantee does not rest on admit_ticket's lock: the partial unique index refuses a
    second live admission however it is written, and allows one again after an undo."""
    door = await open_door(db, signer, tickets=1, seats_per_ticket=1)
    [ticket] = door.tickets

    async def insert(nonce: str) -> uuid.UUID:
        checkin_id = await db.fetchval(
            "INSERT INTO checkins (reservation_id, showtime_id, nonce) VALUES ($1, $2, $3)"
            " RETURNING id",
            ticket.reservation_id,
            door.hall.showtime_id,
            nonce,
        )
        await db.execute(
            "INSERT INTO admissions (checkin_id, reservation_id, seat_id) VALUES ($1, $2, $3)",
            checkin_id,
            ticket.reservation_id,
            uuid.UUID(ticket.seat_ids[0]),
        )
        return checkin_id

    first = await insert("one")
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction():
            await insert("two")
    await db.execute("UPDATE admissions SET undone_at = now() WHERE checkin_id = $1", first)
    await insert("three")


# --- under real concurrency ------------------------------------------------------------------


async def _devices(server, count: int):
    return [aiohttp.ClientSession(str(server.make_url(""))) for _ in range(count)]


@pytest.mark.slow
async def test_200_scans_of_20_tickets_from_10_devices_admit_each_seat_once(
    aiohttp_server, app, db, make_account
):
    server = await aiohttp_server(app)
    door = await open_door(db, app[TICKET_SIGNER], tickets=20, seats_per_ticket=3)
    ushers = [await make_account("usher") for _ in range(10)]
    devices = await _devices(server, 10)
    rng = random.Random(27)
    # Each ticket scanned 10 times: by every device once, in a shuffled order; some scans name
    # seats (a family admitted in parts), most admit whatever is still out.
    plan = []
    for ticket in door.tickets:
        for device in range(10):
            seats = rng.choice([None, None, ticket.seat_ids[:1], ticket.seat_ids[1:]])
            plan.append((device, ticket, seats))
    rng.shuffle(plan)

    async def one(device: int, ticket, seats):
        body = scan_body(ticket, device=f"door-{device}", showtime_id=door.showtime_id)
        if seats is not None:
            body["seat_ids"] = seats
        async with devices[device].post(
            f"{API}/checkins", json=body, headers=ushers[device].headers
        ) as response:
            return response.status, await response.json()

    try:
        answers = await asyncio.gather(*(one(*step) for step in plan))
    finally:
        for session in devices:
            await session.close()

    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {201, 409}, statuses
    assert all(body["error"]["code"] == "already_admitted" for s, body in answers if s == 409)
    admitted = Counter(seat for s, body in answers if s == 201 for seat in body["seat_ids"])
    every_seat = [seat for ticket in door.tickets for seat in ticket.seat_ids]
    assert admitted == Counter(every_seat)  # each seat once, none missed
    rows = await db.fetch(
        "SELECT seat_id, count(*) FROM admissions WHERE undone_at IS NULL GROUP BY seat_id"
    )
    assert len(rows) == 60 and all(row["count"] == 1 for row in rows)


async def test_two_ushers_scanning_one_ticket_at_once_get_one_201_and_one_409(
    aiohttp_server, app, db, make_account
):
    server = await aiohttp_server(app)
    door = await open_door(db, app[TICKET_SIGNER], tickets=10)
    ushers = [await make_account("usher"), await make_account("usher")]
    devices = await _devices(server, 2)
    try:
        for ticket in door.tickets:  # ten rounds: each a race of two scans of one ticket

            async def one(index: int, ticket=ticket):
                body = scan_body(ticket, device=f"door-{index}")
                async with devices[index].post(
                    f"{API}/checkins", json=body, headers=ushers[index].headers
                ) as response:
                    return response.status, await response.json()

            answers = await asyncio.gather(one(0), one(1))
            assert sorted(status for status, _ in answers) == [201, 409]
            [(_, winner)] = [a for a in answers if a[0] == 201]
            [(_, loser)] = [a for a in answers if a[0] == 409]
            assert loser["error"]["details"]["device"] == winner["device"]
            assert sorted(loser["error"]["details"]["seat_ids"]) == sorted(ticket.seat_ids)
    finally:
        for session in devices:
            await session.close()


async def test_concurrent_retries_of_one_nonce_admit_once(aiohttp_server, app, db, usher):
    server = await aiohttp_server(app)
    door = await open_door(db, app[TICKET_SIGNER], tickets=1)
    body = scan_body(door.tickets[0])
    devices = await _devices(server, 5)
    try:

        async def one(session):
            async with session.post(f"{API}/checkins", json=body, headers=usher.headers) as r:
                return r.status, await r.json()

        answers = await asyncio.gather(*(one(session) for session in devices))
    finally:
        for session in devices:
            await session.close()
    assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 201]
    assert len({body["id"] for _, body in answers}) == 1


# --- offline batches, the showtime's admissions, undoing --------------------------------------


async def test_an_offline_batch_reports_every_conflict(client, db, usher, make_account, signer):
    door = await open_door(db, signer, tickets=4)
    first, second, third, fourth = door.tickets
    other_usher = await make_account("usher")
    online = await (await scan(client, other_usher, first, device="door-A")).json()
    now = dt.datetime.now(dt.UTC)

    def offline(ticket, minutes_ago: float, **extra):
        made = (now - dt.timedelta(minutes=minutes_ago)).isoformat()
        return {**scan_body(ticket, device="door-B"), "scanned_at": made, **extra}

    duplicate = offline(third, 4)
    await client.post(f"{API}/checkins/batch", json={"scans": [duplicate]}, headers=usher.headers)
    scans = [
        offline(first, 5),  # admitted online by door-A meanwhile: a conflict
        offline(second, 3),  # scanned twice offline: the later one is a conflict
        offline(second, 6),
        duplicate,  # uploaded before: its first result
        offline(fourth, 2, showtime_id=str(uuid.uuid4())),  # another showtime's door
        offline("NOPE", 1),
    ]
    response = await client.post(
        f"{API}/checkins/batch", json={"scans": scans}, headers=usher.headers
    )
    body = await response.json()
    assert response.status == 200, body
    results = body["results"]
    assert [r["nonce"] for r in results] == [s["nonce"] for s in scans]
    assert [r["status"] for r in results] == [
        "conflict",
        "conflict",
        "admitted",
        "duplicate",
        "refused",
        "refused",
    ]
    conflict = results[0]["error"]
    assert conflict["code"] == "already_admitted"
    assert conflict["details"]["device"] == "door-A"
    assert conflict["details"]["admissions"][0]["checkin_id"] == online["id"]
    assert results[1]["error"]["details"]["device"] == "door-B"
    # The admission keeps the time the scan was made, not the upload's.
    assert results[2]["checkin"]["admitted_at"] < results[2]["checkin"]["recorded_at"]
    assert results[4]["error"]["code"] == "wrong_showtime"
    assert results[5]["error"]["code"] == "ticket_unknown"
    assert await admitted_seat_count(db, door.showtime_id) == 6


async def test_a_batch_refuses_bad_input(client, usher):
    path = f"{API}/checkins/batch"
    await error_of(await client.post(path, json={"scans": []}, headers=usher.headers), 422)
    no_time = {"scans": [{"code": "X", "nonce": "n"}]}
    await error_of(await client.post(path, json=no_time, headers=usher.headers), 422)


async def test_admissions_of_a_showtime_and_undoing_one(client, db, usher, admin, signer):
    door = await open_door(db, signer, tickets=3, seats_per_ticket=2)
    path = f"{API}/showtimes/{door.showtime_id}/checkins"
    body = await (await client.get(path, headers=usher.headers)).json()
    assert (body["sold_seats"], body["admitted_seats"], body["checkins"]) == (6, 0, [])

    checkin = await (await scan(client, usher, door.tickets[0], device="door-1")).json()
    await scan(client, usher, door.tickets[1])
    body = await (await client.get(path, headers=usher.headers)).json()
    assert (body["sold_seats"], body["admitted_seats"]) == (6, 4)
    assert body["checkins"][0]["id"] == checkin["id"]
    assert body["checkins"][0]["admitted_by"] == usher.email

    # An usher may not undo; an admin may, and the record stays.
    undo = f"{API}/checkins/{checkin['id']}"
    await error_of(await client.delete(undo, headers=usher.headers), 403)
    assert (await client.delete(undo, headers=admin.headers)).status == 204
    assert (await client.delete(undo, headers=admin.headers)).status == 204  # no change
    await error_of(
        await client.delete(f"{API}/checkins/{uuid.uuid4()}", headers=admin.headers), 404
    )
    body = await (await client.get(path, headers=admin.headers)).json()
    assert body["admitted_seats"] == 2
    [undone] = [c for c in body["checkins"] if c["id"] == checkin["id"]]
    assert undone["undone_at"] is not None and undone["undone_by"] == admin.email
    # The seats may be admitted again.
    assert (await scan(client, usher, door.tickets[0])).status == 201

    await error_of(
        await client.get(f"{API}/showtimes/{uuid.uuid4()}/checkins", headers=usher.headers), 404
    )


async def test_the_ticket_list_a_scanner_keeps(client, db, usher, signer):
    door = await open_door(db, signer, tickets=2, seats_per_ticket=2)
    await scan(client, usher, door.tickets[0], seat_ids=door.tickets[0].seat_ids[:1])
    body = await (
        await client.get(f"{API}/showtimes/{door.showtime_id}/tickets", headers=usher.headers)
    ).json()
    assert body["sold_seats"] == 4 and body["admitted_seats"] == 1
    first = body["tickets"][0]
    assert first["ticket_code"] == door.tickets[0].ticket_code
    assert first["qr_payload"] == door.tickets[0].qr_payload
    assert first["seat_labels"] == ["A1", "A2"]
    assert first["admitted_seat_ids"] == door.tickets[0].seat_ids[:1]


async def test_the_capacity_report_counts_admitted_seats_and_no_shows(
    client, db, usher, admin, signer
):
    door = await open_door(db, signer, tickets=3, seats_per_ticket=2)
    await scan(client, usher, door.tickets[0])
    await scan(client, usher, door.tickets[1], seat_ids=door.tickets[1].seat_ids[:1])
    response = await client.get(f"{API}/admin/reports/capacity", headers=admin.headers)
    body = await response.json()
    [row] = [r for r in body["rows"] if r["showtime_id"] == door.showtime_id]
    assert (row["sold_seats"], row["admitted_seats"], row["no_shows"]) == (6, 3, 3)
    assert (body["totals"]["admitted_seats"], body["totals"]["no_shows"]) == (3, 3)


# --- the admin console -------------------------------------------------------------------------


async def test_the_console_lists_admissions_with_undo(client, db, usher, admin, signer):
    door = await open_door(db, signer, tickets=2, seats_per_ticket=2)
    checkin = await (await scan(client, usher, door.tickets[0], device="door-7")).json()
    panel = f"/admin/panels/showtimes/{door.showtime_id}/admissions"
    await error_of(await client.get(panel, headers=usher.headers), 403)
    response = await client.get(panel, headers=admin.headers)
    html = await response.text()
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert "<strong>2</strong> of 4 seats sold admitted" in html
    assert "door-7" in html and usher.email in html and "A1, A2" in html
    assert f'data-api-delete="/api/v1/checkins/{checkin["id"]}"' in html
    await client.delete(f"{API}/checkins/{checkin['id']}", headers=admin.headers)
    html = await (await client.get(panel, headers=admin.headers)).text()
    assert 'data-status="undone"' in html and f"by {admin.email}" in html
    assert "data-api-delete" not in html
    shell = await client.get(f"/admin/showtimes/{door.showtime_id}/admissions")
    assert shell.status == 200 and "door-7" not in await shell.text()


async def test_the_console_finds_users_and_sets_their_roles(client, admin, make_account):
    usher = await make_account("usher", "door.one@example.com")
    await make_account("user", "someone@example.com")
    html = await (await client.get("/admin/panels/users?q=DOOR", headers=admin.headers)).text()
    assert "door.one@example.com" in html and "someone@example.com" not in html
    assert f'data-api="/api/v1/admin/users/{usher.id}/role"' in html
    html = await (await client.get("/admin/panels/users?role=usher", headers=admin.headers)).text()
    assert "door.one@example.com" in html and admin.email not in html
    response = await client.get("/admin/panels/users?q=%00&role=nonsense", headers=admin.headers)
    assert response.status == 200


async def test_viewers_of_the_showtime_hear_of_admissions_and_undos(
    client, db, usher, admin, signer
):
    """The usher's page keeps its counter live on the showtime's WebSocket: each admission and
    undo is a notice ({"type": "admissions"}, no figures: anyone may watch a seat map)."""
    door = await open_door(db, signer, tickets=1)
    await listening(client)
    ws = await watch(client, door.showtime_id)
    try:
        await snapshot_of(ws)
        checkin = await (await scan(client, usher, door.tickets[0])).json()
        notice = await next_message(ws, within=3.0)
        assert notice == {"type": "admissions", "showtime_id": door.showtime_id}
        await client.delete(f"{API}/checkins/{checkin['id']}", headers=admin.headers)
        assert (await next_message(ws, within=3.0))["type"] == "admissions"
        # A refused scan changes nothing, and says nothing.
        await db.execute(
            "UPDATE showtimes SET start_time = start_time + interval '5 hours',"
            " end_time = end_time + interval '5 hours',"
            " busy_until = busy_until + interval '5 hours' WHERE id = $1",
            door.hall.showtime_id,
        )
        assert (await scan(client, usher, door.tickets[0])).status == 409
        with pytest.raises(asyncio.TimeoutError):
            await next_message(ws, within=0.5)
    finally:
        await ws.close()
