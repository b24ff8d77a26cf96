"""The production topology of docs/deploy.md, run: two `reservations serve` instances on one
database behind nginx (the Debian package, deploy/nginx/reservations.conf verbatim). Customers
book through nginx, each from its own loopback address, while live-map viewers watch the
showtime through it; one instance is killed (SIGKILL) mid-storm.

What must hold: every acknowledged booking is stored, confirmed, with its seats; no seat is sold
twice; a retry with the same Idempotency-Key books nothing more; every viewer that was on the
killed instance reconnects through nginx to the other one and, after its snapshot, sees what
the database says; and the service counts clients, not nginx, in its per-address limits."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp import WSMsgType

from tests.factories import create_account, create_hall
from tests.nginx import NGINX, SITE_CONFIG, start_nginx, stop_nginx
from tests.servers import ROOT, free_port, kill_hard, kill_tree, start_server, stop

CUSTOMERS = 30
ROUNDS = 3  # bookings per customer, two seats each
VIEWERS = 6
LOGIN_FAILURES_PER_ADDRESS = 3
RETRIED = {502, 503, 504}  # nginx without an instance, or an instance without its database
STORM_DEADLINE = 15.0  # seconds: every booking is acknowledged well within it

needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx-light; .ci/run does)"
)


def test_deploy_md_shows_the_config_the_test_runs():
    """docs/deploy.md shows deploy/nginx/reservations.conf as it is, so that what is tested is
    what is documented."""
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```nginx\n(.*?)```", deploy, flags=re.DOTALL)
    assert SITE_CONFIG.read_text() in blocks


@dataclass
class Booking:
    key: str
    seats: list[str]
    reservation_id: str | None = None
    attempts: int = 0


@dataclass
class Storm:
    """What the customers were answered."""

    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    unexpected: list[tuple[int, str]] = field(default_factory=list)
    bookings: dict[str, list[Booking]] = field(default_factory=dict)  # user id -> its bookings

    def acknowledged(self) -> list[Booking]:
        return [b for done in self.bookings.values() for b in done if b.reservation_id]


def session_from(address: str) -> aiohttp.ClientSession:
    """A client on its own loopback address: nginx sees it as the peer and forwards it."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def send_until_answered(
    storm: Storm,
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    deadline: float,
) -> tuple[int, dict[str, Any]]:
    """POST until an answer that is not "try again": 502/503/504, 409 request_in_flight and a
    connection cut are retried with the very same request (the same Idempotency-Key)."""
    while True:
        assert time.monotonic() < deadline, f"{url} was not answered in time"
        try:
            async with session.post(url, json=body, headers=headers) as response:
                status = response.status
                answer = await response.json(content_type=None) if status != 502 else {}
        except aiohttp.ClientConnectionError:
            storm.connection_errors += 1
            await asyncio.sleep(0.1)
            continue
        storm.statuses[status] += 1
        in_flight = status == 409 and answer.get("error", {}).get("code") == "request_in_flight"
        if status in RETRIED or in_flight:
            await asyncio.sleep(0.1)
            continue
        return status, answer


async def customer(
    storm: Storm,
    base: str,
    address: str,
    user: Any,
    showtime_id: str,
    seats: list[list[str]],
    deadline: float,
) -> None:
    done = storm.bookings.setdefault(str(user.id), [])
    async with session_from(address) as session:
        for pair in seats:
            status, answer = await send_until_answered(
                storm,
                session,
                f"{base}/api/v1/showtimes/{showtime_id}/lock-seats",
                {"seat_ids": pair},
                user.headers,
                deadline,
            )
            if status != 201:
                storm.unexpected.append((status, str(answer)))
                continue
            booking = Booking(uuid.uuid4().hex, pair)
            done.append(booking)
            status, answer = await send_until_answered(
                storm,
                session,
                f"{base}/api/v1/reservations",
                {"showtime_id": showtime_id, "seat_ids": pair},
                {**user.headers, "Idempotency-Key": booking.key},
                deadline,
            )
            if status in (200, 201):
                booking.reservation_id = answer["id"]
                assert sorted(answer_seat_ids(answer)) == sorted(pair), answer
            else:
                storm.unexpected.append((status, str(answer)))


def answer_seat_ids(reservation: dict[str, Any]) -> list[str]:
    return [seat["id"] if isinstance(seat, dict) else seat for seat in reservation["seats"]]


@dataclass
class Viewer:
    """A live-map viewer that reconnects, as the service's pages do, whenever its socket ends."""

    session: aiohttp.ClientSession
    url: str
    origin: str
    statuses: dict[str, str] = field(default_factory=dict)
    version: int = -1
    drops: int = 0
    snapshots: int = 0
    snapshots_after_drop: int = 0
    refused: list[str] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                ws = await self.session.ws_connect(self.url, headers={"Origin": self.origin})
            except (TimeoutError, aiohttp.ClientError) as refused:
                self.refused.append(f"{type(refused).__name__} {getattr(refused, 'status', '')}")
                await asyncio.sleep(0.1)
                continue
            async with ws:
                await self.follow(ws, stopping)
            if not stopping.is_set():
                self.drops += 1

    async def follow(self, ws: aiohttp.ClientWebSocketResponse, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                message = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if message.type is not WSMsgType.TEXT:
                return  # closed or cut: reconnect
            data = orjson.loads(message.data)
            if data["type"] == "snapshot":
                self.statuses = {seat["id"]: seat["status"] for seat in data["seats"]}
                self.version = data["version"]
                self.snapshots += 1
                if self.drops:
                    self.snapshots_after_drop += 1
                self.connected.set()
            elif data["type"] == "seats" and data["version"] == self.version + 1:
                self.statuses.update({seat["id"]: seat["status"] for seat in data["changes"]})
                self.version = data["version"]
            elif data["type"] == "seats" and data["version"] > self.version + 1:
                await ws.send_str('{"type": "resync"}')  # a gap: ask for a fresh snapshot


async def failed_login_statuses(base: str, address: str, count: int) -> list[int]:
    """`count` wrong logins of unknown emails from `address`, each claiming another address in
    X-Forwarded-For (nginx appends the real one, which is what the service must count)."""
    statuses = []
    async with session_from(address) as session:
        for index in range(count):
            async with session.post(
                f"{base}/api/v1/auth/login",
                json={"email": f"nobody{index}@example.com", "password": "wrong password"},
                headers={"X-Forwarded-For": f"203.0.113.{index + 1}"},
            ) as response:
                statuses.append(response.status)
    return statuses


async def database_seat_statuses(db: asyncpg.Connection, showtime_id: Any) -> tuple[int, dict]:
    rows = await db.fetch("SELECT version, id, status FROM seat_map($1, NULL)", showtime_id)
    return rows[0]["version"], {str(row["id"]): row["status"] for row in rows}


@pytest.mark.slow
@needs_nginx
async def test_storm_through_nginx_survives_an_instance_killed(database, db, tmp_path):
    await run_storm_through_nginx(database, db, tmp_path, SITE_CONFIG)


async def run_storm_through_nginx(
    database: str, db: asyncpg.Connection, tmp_path: Path, site_config: Path
) -> None:
    hall = await create_hall(db, rows=10, seats_per_row=20)
    users = [await create_account(db) for _ in range(CUSTOMERS)]
    labels = list(hall.seats)
    pairs = [
        [
            [str(hall.seats[label]) for label in labels[at : at + 2]]
            for at in range(start, start + 2 * ROUNDS, 2)
        ]
        for start in range(0, CUSTOMERS * 2 * ROUNDS, 2 * ROUNDS)
    ]
    showtime_id = str(hall.showtime_id)

    ports = (free_port(), free_port())
    environment = {
        "TRUSTED_PROXIES": "127.0.0.1",
        "LOGIN_MAX_FAILURES": str(LOGIN_FAILURES_PER_ADDRESS),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": str(LOGIN_FAILURES_PER_ADDRESS),
    }
    logs = (tmp_path / "instance-1.log", tmp_path / "instance-2.log")
    instances = await asyncio.gather(
        *(
            start_server(database, port, env=environment, log=log)
            for port, log in zip(ports, logs, strict=True)
        )
    )
    listen = f"127.0.0.1:{free_port()}"
    base = f"http://{listen}"
    proxy = None
    viewer_sessions: list[aiohttp.ClientSession] = []
    tasks: list[asyncio.Task[None]] = []  # cancelled if the test fails half way
    try:
        proxy = await start_nginx(
            tmp_path / "nginx",
            (f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"),
            listen,
            site_config,
        )

        # Viewers first, one after the other: nginx's round robin puts every other one on the
        # instance that will be killed. Each sends the Origin of a page served through nginx.
        stopping = asyncio.Event()
        viewers = []
        for index in range(VIEWERS):
            session = session_from(f"127.0.1.{index + 1}")
            viewer_sessions.append(session)
            viewers.append(
                Viewer(session, f"{base.replace('http', 'ws')}/ws/showtimes/{showtime_id}", base)
            )
        watching = []
        for viewer in viewers:
            watching.append(asyncio.create_task(viewer.run(stopping)))
            tasks.append(watching[-1])
            try:
                await asyncio.wait_for(viewer.connected.wait(), timeout=5)
            except TimeoutError:
                raise AssertionError(f"no live map through nginx: {viewer.refused[-1:]}") from None

        # The per-address login limit counts the client behind nginx: one address is stopped
        # after its failures whatever it claims, the next address is not.
        from_one = await failed_login_statuses(base, "127.0.3.1", LOGIN_FAILURES_PER_ADDRESS + 1)
        from_another = await failed_login_statuses(base, "127.0.3.2", 1)
        assert from_one == [401] * LOGIN_FAILURES_PER_ADDRESS + [429], from_one
        assert from_another == [401], "the limit counted nginx, not the clients"

        storm = Storm()
        deadline = time.monotonic() + STORM_DEADLINE
        customers = [
            asyncio.create_task(
                customer(
                    storm, base, f"127.0.2.{index + 1}", user, showtime_id, pairs[index], deadline
                )
            )
            for index, user in enumerate(users)
        ]
        tasks.extend(customers)
        while len(storm.acknowledged()) < CUSTOMERS * ROUNDS // 4:
            assert time.monotonic() < deadline, "the storm did not get going"
            await asyncio.sleep(0.01)
        in_flight_at_kill = sum(1 for task in customers if not task.done())
        acknowledged_at_kill = len(storm.acknowledged())
        await kill_hard(instances[0])
        await asyncio.gather(*customers)
        print(
            f"\nkilled with {acknowledged_at_kill} bookings acknowledged and {in_flight_at_kill}"
            f" customers busy; statuses {dict(storm.statuses)}, {storm.connection_errors}"
            " connections cut"
        )

        # -- the bookings -------------------------------------------------------------------
        assert not storm.unexpected, storm.unexpected
        acknowledged = storm.acknowledged()
        assert len(acknowledged) == CUSTOMERS * ROUNDS, "every booking is acknowledged in the end"
        assert 500 not in storm.statuses
        stored = await db.fetch(
            "SELECT r.id::text, r.user_id::text, r.status, array_agg(s.seat_id::text) AS seats"
            " FROM reservations r JOIN reservation_seats s ON s.reservation_id = r.id"
            " WHERE r.showtime_id = $1 GROUP BY r.id",
            hall.showtime_id,
        )
        by_id = {row["id"]: row for row in stored}
        for user_id, bookings in storm.bookings.items():
            for booking in bookings:
                row = by_id.get(booking.reservation_id or "")
                assert row is not None, f"acknowledged reservation {booking.reservation_id} is lost"
                assert row["status"] == "confirmed" and row["user_id"] == user_id
                assert sorted(row["seats"]) == sorted(booking.seats)
        # Retries with the same key booked nothing more: no reservation beyond the acknowledged
        # ones, and one idempotency record per key, naming the acknowledged reservation.
        assert len(stored) == len(acknowledged)
        keys = await db.fetch(
            "SELECT key, reservation_id::text FROM idempotency_keys WHERE key = ANY($1::text[])",
            [booking.key for booking in acknowledged],
        )
        assert sorted((row["key"], row["reservation_id"]) for row in keys) == sorted(
            (booking.key, booking.reservation_id) for booking in acknowledged
        )
        sold = Counter(
            seat for row in stored if row["status"] == "confirmed" for seat in row["seats"]
        )
        assert max(sold.values()) == 1, "a seat was sold twice"

        # -- the live map -------------------------------------------------------------------
        version, truth = await database_seat_statuses(db, hall.showtime_id)
        for _ in range(100):  # at most 5 s for the last changes to reach every viewer
            if all(viewer.version == version for viewer in viewers):
                break
            await asyncio.sleep(0.05)
        stopping.set()
        await asyncio.gather(*watching)
        dropped = [viewer for viewer in viewers if viewer.drops]
        print(
            f"viewers dropped: {len(dropped)} of {VIEWERS};"
            f" refused reconnections: {sum(len(v.refused) for v in viewers)}"
        )
        assert len(dropped) == VIEWERS // 2, "the killed instance's viewers should have dropped"
        for viewer in dropped:
            assert viewer.snapshots_after_drop >= 1, "a dropped viewer did not get back in"
        for viewer in viewers:
            assert viewer.version == version, f"a viewer is at {viewer.version}, not {version}"
            assert viewer.statuses == truth, "a viewer's seat map differs from the database"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in viewer_sessions:
            await session.close()
        if proxy is not None:
            await stop_nginx(proxy)
        for instance in instances:
            kill_tree(instance)
        await asyncio.gather(*(stop(instance) for instance in instances), return_exceptions=True)
