"""Operations: metrics, request ids, security headers, CORS."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import asyncpg

from reservations.app import create_app
from reservations.db import QUERIES
from tests.api import hold_seats, reserve
from tests.factories import create_hall
from tests.servers import (
    free_port,
    kill_tree,
    read_log,
    start_server,
    statuses_on_new_connections,
    stop,
    workers_listening,
)


async def test_metrics_count_requests_by_route_and_status(client):
    await client.get("/healthz")
    await client.get("/api/v1/auth/me")  # 401
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'http_requests_total{method="GET",route="/api/v1/auth/me",status="401"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
    assert 'db_pool_connections{state="max"} 10.0' in text
    assert "db_pool_acquire_seconds_count" in text


async def test_request_id_is_echoed_or_made(client):
    made = await client.get("/healthz")
    assert len(made.headers["X-Request-ID"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123-def-456"})
    assert echoed.headers["X-Request-ID"] == "abc-123-def-456"
    refused = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert refused.headers["X-Request-ID"] != "bad id\twith junk"


async def test_security_headers(client):
    response = await client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    docs = await client.get("/api/docs")
    # The docs page has no inline script: its policy allows none (styles only, for Swagger UI).
    assert "script-src 'self';" in docs.headers["Content-Security-Policy"]


async def test_cors_is_closed_by_default(client):
    response = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_cors_allows_configured_origins(aiohttp_client, make_settings, database):
    client = await aiohttp_client(
        create_app(make_settings(allowed_origins=("https://tickets.example",)), database)
    )
    preflight = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "https://tickets.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://tickets.example"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    response = await client.get("/healthz", headers={"Origin": "https://tickets.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://tickets.example"
    other = await client.get("/healthz", headers={"Origin": "https://other.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_serve_exits_cleanly_on_sigterm(database):
    """`reservations serve` answers, then on SIGTERM stops accepting, finishes and exits 0."""
    process = await start_server(database, free_port())
    try:
        assert await stop(process) == 0
    finally:
        kill_tree(process)


async def test_workers_share_one_port(database):
    """`--workers 2` runs two processes on one port; both answer, and both stop on SIGTERM."""
    port = free_port()
    process = await start_server(database, port, "--workers", "2")
    try:
        # The first worker answered /readyz; give the second the same time to bind.
        await workers_listening(process, port, 2)
        assert await statuses_on_new_connections(port, "/api/v1/auth/me", 20) == [401] * 20
        assert await stop(process) == 0
    finally:
        kill_tree(process)


async def test_json_logs_have_one_line_per_request(client, user):
    """LOG_FORMAT=json: one JSON object per request with id, route, status, duration, user."""
    import io
    import json
    import logging

    from reservations.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("reservations.access")
    access.addHandler(handler)
    previous_level = access.level
    access.setLevel(logging.INFO)
    try:
        response = await client.get(
            "/api/v1/auth/me", headers={**user.headers, "X-Request-ID": "trace-0001-abcd"}
        )
        assert response.status == 200
    finally:
        access.removeHandler(handler)
        access.setLevel(previous_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["request_id"] == "trace-0001-abcd"
    assert entry["route"] == "/api/v1/auth/me"
    assert entry["status"] == 200
    assert entry["user_id"] == str(user.id)
    assert entry["duration_ms"] >= 0
    assert entry["level"] == "info" and entry["time"].endswith("Z")


async def test_booking_metrics_move_with_holds_and_reservations(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))
    assert response.status == 201
    response = await reserve(client, user, hall.showtime_id, hall.ids("A1", "A2"))
    assert response.status == 201
    reservation = await response.json()
    assert (
        await client.delete(f"/api/v1/reservations/{reservation['id']}", headers=user.headers)
    ).status == 200
    text = await (await client.get("/metrics")).text()
    assert "seat_holds_total 1.0" in text
    assert "seats_held_total 2.0" in text
    assert "reservations_total 1.0" in text
    assert 'reservation_cancellations_total{reason="cancelled_by_user"} 1.0' in text
    assert "live_viewers 0.0" in text
    assert "sweeper_runs_total" in text


async def test_two_instances_show_one_state(aiohttp_client, settings, database, db, user):
    """Behind a load balancer a user may reach either instance: both show the same state."""
    first = await aiohttp_client(create_app(settings, database))
    second = await aiohttp_client(create_app(settings, database))
    hall = await create_hall(db, rows=2, seats_per_row=5)
    seats_url = f"/api/v1/showtimes/{hall.showtime_id}/seats"

    held = await hold_seats(first, user, hall.showtime_id, hall.ids("A1", "A2"))
    assert held.status == 201
    seen = await (await second.get(seats_url, headers=user.headers)).json()
    mine = {seat["seat_label"] for seat in seen["seats"] if seat.get("held_by_me")}
    assert mine == {"A1", "A2"}

    booked = await reserve(second, user, hall.showtime_id, hall.ids("A1", "A2"))
    assert booked.status == 201
    reservation = await booked.json()
    listed = await (await first.get("/api/v1/reservations", headers=user.headers)).json()
    assert [item["id"] for item in listed["reservations"]] == [reservation["id"]]
    first_map = await (await first.get(seats_url)).json()
    second_map = await (await second.get(seats_url)).json()
    assert first_map == second_map
    assert first_map["available_seats"] == 8


async def test_in_flight_request_finishes_during_graceful_shutdown(database, db, user):
    """SIGTERM while a hold waits for its showtime's lock: the hold still answers 201."""
    hall = await create_hall(db, rows=1, seats_per_row=4)
    port = free_port()
    process = await start_server(database, port)
    blocker = await asyncpg.connect(database)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(QUERIES.lock_showtime, str(hall.showtime_id))
        async with aiohttp.ClientSession() as session:
            pending = asyncio.ensure_future(
                session.post(
                    f"http://127.0.0.1:{port}/api/v1/showtimes/{hall.showtime_id}/lock-seats",
                    json={"seat_ids": hall.ids("A1")},
                    headers=user.headers,
                )
            )
            await asyncio.sleep(0.5)  # the request is now waiting for the advisory lock
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            await transaction.rollback()  # let it through
            response = await asyncio.wait_for(pending, timeout=10)
            assert response.status == 201, await response.text()
        assert await asyncio.wait_for(process.wait(), timeout=25) == 0
        assert await db.fetchval("SELECT count(*) FROM seat_claims") == 1
    finally:
        await blocker.close()
        kill_tree(process)


async def test_a_path_cannot_forge_a_log_line(database, tmp_path):
    """CR and LF sent as %0D%0A in the path are decoded in request.path; written as they are,
    they start a line of the attacker's own in the text log. Each record stays one line."""
    port = free_port()
    log = tmp_path / "serve.log"
    process = await start_server(database, port, env={"LOG_LEVEL": "INFO"}, log=log)
    try:
        forged = "12:00:00 INFO    reservations.access: POST /api/v1/admin 200"
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{port}/nothing%0D%0A{forged.replace(' ', '%20')}%0A%1B[2J"
            ) as response,
        ):
            assert response.status == 404
        assert await stop(process) == 0
    finally:
        kill_tree(process)
    lines = read_log(log).splitlines()
    assert not any(line.startswith(forged) for line in lines)
    access = [line for line in lines if "/nothing" in line]
    assert len(access) == 1 and "\\r\\n12:00:00 INFO" in access[0] and "\\x1b" in access[0]


async def test_serve_warns_while_the_demo_admin_password_works(database, tmp_path):
    """On a database of DATABASE_URL, `serve` says so at start while the seeded demo admin
    still has the password the README publishes, and stops saying it once it is changed."""
    from reservations.accounts.passwords import PasswordHasher
    from reservations.accounts.service import create_admin
    from reservations.db import create_pool
    from reservations.seed import ADMIN_EMAIL, ADMIN_PASSWORD
    from reservations.settings import Settings

    settings = Settings(database_url=database, db_pool_min_size=1, db_pool_max_size=2)
    pool = await create_pool(database, settings)
    hasher = PasswordHasher(4)

    async def started_with(password: str) -> str:
        await create_admin(pool, hasher, ADMIN_EMAIL, password)
        log = tmp_path / "serve.log"
        process = await start_server(database, free_port(), log=log)
        try:
            assert await stop(process) == 0
        finally:
            kill_tree(process)
        return read_log(log)

    try:
        assert "demo admin admin@example.com still has the published" in await started_with(
            ADMIN_PASSWORD
        )
        assert "demo admin" not in await started_with("a password of its own")
    finally:
        await pool.close()
