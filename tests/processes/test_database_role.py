"""The service runs with the least-privileged database role that docs/security.md tells operators
to create, and that role cannot delete a booking record or change the schema.

The grants are read from the SQL block of docs/security.md, so the documentation is what is
tested.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid

import asyncpg
import pytest

from reservations.app import create_app
from reservations.context import POOL, SWEEPER
from tests.api import API, create_movie, create_theater, in_future, iso, upload
from tests.factories import create_hall
from tests.images import image_bytes
from tests.servers import ROOT


def documented_grants(role: str, database: str) -> list[str]:
    text = (ROOT / "docs" / "security.md").read_text()
    block = next(code for code in re.findall(r"```sql\n(.*?)```", text, re.S) if "GRANT" in code)
    block = block.replace("reservations_app", role).replace(
        "ON DATABASE reservations", f'ON DATABASE "{database}"'
    )
    return [statement.strip() for statement in block.split(";") if statement.strip()]


def as_role(dsn: str, role: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{role}:secret@{host}"))


@pytest.fixture
async def app_role(db, database):
    """A role made by the documented statements; dropped with everything granted to it."""
    role = f"reservations_app_{uuid.uuid4().hex[:8]}"
    name = urllib.parse.urlsplit(database).path.lstrip("/")
    for statement in documented_grants(role, name):
        await db.execute(statement.replace("'change this'", "'secret'"))
    yield role
    await db.execute(f'DROP OWNED BY "{role}"')
    await db.execute(f'DROP ROLE "{role}"')


async def test_the_service_runs_with_the_documented_runtime_role(
    aiohttp_client, make_settings, database, db, admin, make_account, app_role
):
    dsn = as_role(database, app_role)
    client = await aiohttp_client(create_app(make_settings(database_url=dsn), dsn))
    async with client.app[POOL].acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == app_role

    # Accounts: register, a failed and a good login.
    body = {"email": "role@example.com", "password": "password1"}
    assert (await client.post(f"{API}/auth/register", json=body)).status == 201
    wrong = await client.post(f"{API}/auth/login", json={**body, "password": "wrong-one"})
    assert wrong.status == 401
    assert (await client.post(f"{API}/auth/login", json=body)).status == 200

    # Catalog: a movie with genres, changed, with a poster; a theater; a showtime.
    movie = await create_movie(client, admin, genres=["Drama", "Comedy"])
    changed = await client.put(
        f"{API}/movies/{movie['id']}", json={"genres": ["Noir"]}, headers=admin.headers
    )
    assert changed.status == 200
    assert (await upload(client, admin, movie["id"], image_bytes())).status == 200
    theater = await create_theater(client, admin)
    response = await client.post(
        f"{API}/showtimes",
        json={
            "movie_id": movie["id"],
            "theater_id": theater["id"],
            "start_time": iso(in_future(days=3)),
            "price": "9.00",
        },
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()
    showtime = await response.json()

    # Booking: hold, best available, release, book with a key, cancel; live map; the sweeper.
    user = await make_account()
    hall = await create_hall(db, rows=2, seats_per_row=6)
    seats = f"{API}/showtimes/{hall.showtime_id}"
    held = await client.post(
        f"{seats}/lock-seats", json={"seat_ids": hall.ids("A1", "A2")}, headers=user.headers
    )
    assert held.status == 201
    assert (
        await client.post(f"{seats}/best-available", json={"count": 2}, headers=user.headers)
    ).status == 201
    assert (
        await client.delete(
            f"{seats}/lock-seats", json={"seat_ids": hall.ids("A2")}, headers=user.headers
        )
    ).status == 204
    booked = await client.post(
        f"{API}/reservations",
        json={"showtime_id": str(hall.showtime_id), "seat_ids": hall.ids("A1")},
        headers={**user.headers, "Idempotency-Key": "role-test"},
    )
    assert booked.status == 201
    reservation = await booked.json()
    cancelled = await client.delete(f"{API}/reservations/{reservation['id']}", headers=user.headers)
    assert cancelled.status == 200
    viewer = await client.ws_connect(f"/ws/showtimes/{hall.showtime_id}")
    assert (await viewer.receive_json(timeout=5))["type"] == "snapshot"
    await viewer.close()
    await db.execute("UPDATE holds SET expires_at = now() - interval '1 second'")
    await db.execute("UPDATE idempotency_keys SET created_at = now() - interval '3 days'")
    assert await client.app[SWEEPER].sweep_once(housekeeping=True) == 2
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 0

    # Admin: a report, cancelling the showtime, deleting the movie (both kept as records).
    report = await client.get(f"{API}/admin/reports/revenue", headers=admin.headers)
    assert report.status == 200
    gone = await client.delete(f"{API}/showtimes/{showtime['id']}", headers=admin.headers)
    assert gone.status == 204
    assert (await client.delete(f"{API}/movies/{movie['id']}", headers=admin.headers)).status == 204
    assert (
        await client.get(f"{API}/reservations/{reservation['id']}", headers=user.headers)
    ).status == 200


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM reservations",
        "DELETE FROM reservation_seats",
        "DELETE FROM users",
        "TRUNCATE seat_claims",
        "ALTER TABLE seat_claims DROP CONSTRAINT seat_claims_pkey",
        "DROP TABLE holds",
        "CREATE TABLE notes (x int)",
    ],
)
async def test_the_runtime_role_cannot_delete_records_or_change_the_schema(
    database, app_role, statement
):
    conn = await asyncpg.connect(as_role(database, app_role))
    try:
        with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()
