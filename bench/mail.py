"""How fast the outbox empties: emails/s delivered to a local SMTP server (issue 26, target at
least 200/s), alone and while bookings run.

    python -m bench.mail [--emails 2000] [--workers 2] [--booking-clients 8]
                         [--sink-kind aiosmtpd|minimal]

The server under test is `reservations serve --workers N` (bench/procs.py) with SMTP_URL set to
a sink in its own process that accepts every message (`python -m bench.mail --sink PORT`):
aiosmtpd, as the tests use, or a minimal asyncio responder (MinimalSink) that costs the machine
far less, so that the sink's CPU does not count against the sender's. MAIL_MAX_PER_SECOND is
high enough not to pace. A burst is N booking confirmations written in one transaction (N
reservations inserted at once, their emails by the trigger, as cancelling a full showtime writes
its emails): the figure is N over the time from that commit to the last email's `sent_at`, with
each email's latency (written -> sent) as p50/p99. Then the same burst again while
`--booking-clients` clients book pairs of seats over HTTP (hold, then reserve; each pair by the
next of 512 users) as fast as they can, each booking writing its own email too; their
bookings/s is printed beside it. Every email is a booking confirmation (QR code, .ics), the
heaviest kind. Each phase says where the CPU went (CpuMeter): server, database, sink, the bench
itself, and "other", the rest of the machine (other sessions on a shared one).

Last, with the server stopped, what the outbox costs a booking: a hot showtime's hold and booking
calls from 8 connections with the booking email's trigger and without it, in alternating blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import asyncpg
import psutil

from reservations.accounts.tokens import issue_token
from reservations.db import EmbeddedDatabase, migrate, with_database

from .data import BenchData
from .procs import ROOT, Server, free_port
from .report import OUTBOX_SECTION, RESULTS_PATH, write_section

DATA_DIR = ROOT / ".data" / "bench"
# What this run printed, for its section of bench/RESULTS.md.
_SAID: list[str] = []


def say(text: str, flush: bool = True) -> None:
    print(text, flush=flush)
    _SAID.append(text)


TARGET_PER_SECOND = 200.0


# ---- the SMTP sink ---------------------------------------------------------------------------


SINKS = ("aiosmtpd", "minimal")


class MinimalSink(asyncio.Protocol):
    """The least an SMTP server must do to take a message: a reply to each command, the data
    read up to its end (CRLF . CRLF) and dropped. A measuring tool, not a server: no checks,
    no dot-unstuffing, no limits; it costs the machine a fraction of what aiosmtpd does, so
    that the sender's figure is not the sink's."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        self.in_data = False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    self.buffer = self.buffer[-4:]  # the end may straddle two reads
                    return
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                self.transport.write(b"250 2.0.0 OK\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            verb = self.buffer[:4].upper()
            self.buffer = self.buffer[line_end + 2 :]
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 50000000\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buffer = b"\r\n" + self.buffer  # an empty message ends at once
                self.transport.write(b"354 end with <CRLF>.<CRLF>\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 OK\r\n")


def run_sink(port: int, kind: str) -> None:
    """An SMTP server on 127.0.0.1:port accepting (and dropping) every message: aiosmtpd, or
    the minimal one."""
    from aiosmtpd.smtp import SMTP

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    def protocol() -> asyncio.Protocol:
        if kind == "minimal":
            return MinimalSink()
        return SMTP(Accept(), hostname="sink", ident="sink")

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(protocol, "127.0.0.1", port)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(serve())


# ---- the benchmark ---------------------------------------------------------------------------


async def queue_burst(
    conn: asyncpg.Connection,
    showtime_id: uuid.UUID,
    users: list[uuid.UUID],
    seats: list[uuid.UUID],
    count: int,
) -> tuple[list[uuid.UUID], float]:
    """`count` reservations (two seats each) committed at once: their emails' ids and the
    commit's time (epoch seconds)."""
    async with conn.transaction():
        reservation_ids = await conn.fetch(
            """
            INSERT INTO reservations (user_id, showtime_id, total_price, ticket_code)
            SELECT ($2::uuid[])[1 + n % cardinality($2::uuid[])], $1, 24.00,
                   'BENCH-' || upper(substr(md5(random()::text || n), 1, 12))
            FROM generate_series(1, $3) AS n
            RETURNING id
            """,
            showtime_id,
            users,
            count,
        )
        ids = [row["id"] for row in reservation_ids]
        await conn.execute(
            """
            INSERT INTO reservation_seats (reservation_id, seat_id, price)
            SELECT r.id, s.seat, 12.00
            FROM unnest($1::uuid[]) WITH ORDINALITY AS r(id, n),
                 LATERAL (VALUES ((($2::uuid[])[1 + (2 * r.n) % cardinality($2::uuid[])])),
                                 ((($2::uuid[])[1 + (2 * r.n + 1) % cardinality($2::uuid[])])))
                     AS s(seat)
            """,
            ids,
            seats,
        )
        email_ids = await conn.fetch(
            "SELECT id FROM emails WHERE reservation_id = ANY($1::uuid[])", ids
        )
    return [row["id"] for row in email_ids], time.time()


async def wait_sent(conn: asyncpg.Connection, email_ids: list[uuid.UUID], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        left = await conn.fetchval(
            "SELECT count(*) FROM emails WHERE id = ANY($1::uuid[]) AND status = 'queued'",
            email_ids,
        )
        if left == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{left} emails still queued after {within} s")
        await asyncio.sleep(0.1)


async def burst_figures(
    conn: asyncpg.Connection, email_ids: list[uuid.UUID], committed: float
) -> dict[str, float]:
    rows = await conn.fetch(
        "SELECT status, extract(epoch FROM sent_at) AS sent, extract(epoch FROM sent_at -"
        " created_at) AS latency FROM emails WHERE id = ANY($1::uuid[])",
        email_ids,
    )
    sent = [row for row in rows if row["status"] == "sent"]
    last = max(float(row["sent"]) for row in sent)
    latencies = sorted(float(row["latency"]) * 1000 for row in sent)
    return {
        "emails": len(rows),
        "sent": len(sent),
        "failed": sum(1 for row in rows if row["status"] == "failed"),
        "seconds": last - committed,
        "per_second": len(sent) / (last - committed),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


async def booking_load(
    base_url: str,
    tokens: list[str],
    items: list[tuple[uuid.UUID, list[uuid.UUID]]],
    clients: int,
    stop: asyncio.Event,
    refusals: collections.Counter[str],
) -> int:
    """Clients holding and booking pairs of seats until `stop`; the bookings made (answers
    other than 201 counted in `refusals`)."""
    booked = 0
    pending = list(items)

    async def client(index: int) -> None:
        nonlocal booked
        async with aiohttp.ClientSession(base_url) as session:
            while pending and not stop.is_set():
                showtime_id, seats = pending.pop()
                # Each pair by the next user: one user may have at most 10 seats of a showtime
                # (MAX_SEATS_PER_USER_PER_SHOWTIME), which 8 fixed users reach at once.
                headers = {"Authorization": f"Bearer {tokens[len(pending) % len(tokens)]}"}
                body = {"seat_ids": [str(seat) for seat in seats]}
                async with session.post(
                    f"/api/v1/showtimes/{showtime_id}/lock-seats", json=body, headers=headers
                ) as held:
                    if held.status != 201:
                        refusals[f"hold {held.status} {await held.text()}"[:120]] += 1
                        continue
                async with session.post(
                    "/api/v1/reservations",
                    json={"showtime_id": str(showtime_id), **body},
                    headers=headers,
                ) as reserved:
                    if reserved.status == 201:
                        booked += 1
                    else:
                        refusals[f"book {reserved.status} {await reserved.text()}"[:120]] += 1

    await asyncio.gather(*(client(index) for index in range(clients)))
    return booked


async def booking_rate(
    pool: asyncpg.Pool,
    users: list[uuid.UUID],
    items: list[tuple[uuid.UUID, list[uuid.UUID]]],
    clients: int,
) -> float:
    """Bookings/s of `clients` connections holding then booking these pairs, as the service's
    two calls (hold_seats, book_held_seats), with no HTTP in between."""
    pending = list(items)

    async def client(index: int) -> None:
        user = users[index % len(users)]
        async with pool.acquire() as conn:
            while pending:
                showtime_id, seats = pending.pop()
                await conn.fetchval(
                    "SELECT hold_seats($1, $2, $3, 600, 1800, 10, 1000000, 0, 'off', 1000000)",
                    showtime_id,
                    user,
                    seats,
                )
                await conn.fetchval(
                    "SELECT book_held_seats($1, $2, $3, NULL, NULL, $4, NULL, 'bench', NULL)",
                    showtime_id,
                    user,
                    seats,
                    [uuid.uuid4().hex[:14].upper()],
                )

    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(clients)))
    return len(items) / (time.perf_counter() - started)


async def trigger_cost(
    conn: asyncpg.Connection, dsn: str, data: BenchData, users: list[uuid.UUID], rounds: int
) -> None:
    """The booking's extra insert: a hot showtime's bookings/s with the booking email's trigger
    and without it, blocks alternating in one run (median of `rounds` each)."""
    hall = await data.theater(20, 30)
    pool = await asyncpg.create_pool(dsn, min_size=8, max_size=8)
    rates: dict[str, list[float]] = {"with the email": [], "without": []}
    try:
        for _ in range(rounds):
            for mode in rates:
                action = "ENABLE" if mode == "with the email" else "DISABLE"
                await conn.execute(
                    f"ALTER TABLE reservations {action} TRIGGER reservations_email_booked"
                )
                (showtime,) = await data.showtimes(hall, 1)
                items = [(showtime, pair) for pair in hall.pairs()]
                rates[mode].append(await booking_rate(pool, users, items, 8))
    finally:
        await conn.execute("ALTER TABLE reservations ENABLE TRIGGER reservations_email_booked")
        await pool.close()
    with_email = statistics.median(rates["with the email"])
    without = statistics.median(rates["without"])
    say(
        f"hot showtime, 8 connections, hold + book calls: {with_email:.0f} bookings/s with the "
        f"booking's email, {without:.0f} without ({with_email / without:.2f}x; runs "
        + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(*rates.values(), strict=True))
        + ")",
        flush=True,
    )


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User and system CPU time used so far by these processes (those still running)."""
    return sum(_cpu_by_pid(processes).values())


def _cpu_by_pid(processes: list[psutil.Process]) -> dict[int, float]:
    used = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            used[process.pid] = times.user + times.system
    return used


def database_processes() -> list[psutil.Process]:
    """The embedded PostgreSQL's processes (its postmaster and every backend), or none."""
    pid_file = DATA_DIR / "pgdata" / "postmaster.pid"
    try:
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        return [postmaster, *postmaster.children(recursive=True)]
    except (OSError, ValueError, IndexError, psutil.Error):
        return []


class CpuMeter:
    """Where the machine's CPU went during a phase: each group of processes (read again at the
    end, so that a backend started meanwhile counts), the rest of the machine ("other": other
    sessions on a shared machine) and the wall time."""

    def __init__(self, groups: dict[str, Callable[[], list[psutil.Process]]]) -> None:
        self.groups = groups
        self.start()

    def start(self) -> None:
        self.before = {name: _cpu_by_pid(find()) for name, find in self.groups.items()}
        self.machine = self._machine_busy()
        self.wall = time.monotonic()

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    def used(self) -> tuple[dict[str, float], float]:
        """CPU seconds of each group and of "other", and the wall seconds, since start()."""
        used = {}
        for name, find in self.groups.items():
            before = self.before[name]
            after = _cpu_by_pid(find())
            used[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
        used["other"] = max(0.0, self._machine_busy() - self.machine - sum(used.values()))
        return used, time.monotonic() - self.wall

    def describe(self, emails: int) -> str:
        used, wall = self.used()
        per_email = ", ".join(
            f"{name} {used[name] / emails * 1000:.2f} ms" for name in ("server", "database", "sink")
        )
        cores = ", ".join(f"{name} {seconds / wall:.2f}" for name, seconds in used.items())
        return f"CPU a email: {per_email}; cores busy: {cores}"


def report(name: str, figures: dict[str, float], extra: str = "") -> None:
    met = "yes" if figures["per_second"] >= TARGET_PER_SECOND else "NO"
    say(
        f"{name}: {figures['sent']:.0f}/{figures['emails']:.0f} emails sent in "
        f"{figures['seconds']:.2f} s = {figures['per_second']:.0f} emails/s "
        f"(target >= {TARGET_PER_SECOND:.0f}: {met}); latency p50 {figures['p50_ms']:.0f} ms, "
        f"p99 {figures['p99_ms']:.0f} ms; failed {figures['failed']:.0f}{extra}",
        flush=True,
    )


async def run(options: argparse.Namespace) -> int:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    embedded = None
    if os.environ.get("DATABASE_URL"):
        admin = os.environ["DATABASE_URL"]
    else:
        embedded = EmbeddedDatabase(DATA_DIR)
        embedded.start()
        admin = embedded.admin_dsn()
    name = f"bench_mail_{dt.datetime.now():%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    dsn = with_database(admin, name)
    sink: subprocess.Popen[bytes] | None = None
    server: Server | None = None
    try:
        await asyncio.get_running_loop().run_in_executor(None, migrate, dsn)
        conn = await asyncpg.connect(dsn)
        data = BenchData(conn)
        users = await data.users(512, "mail")
        burst_hall = await data.theater(15, 20)
        (burst_showtime,) = await data.showtimes(burst_hall, 1)
        hot_hall = await data.theater(50, 60)
        hot_showtimes = await data.showtimes(hot_hall, 3)
        items = [(showtime, pair) for showtime in hot_showtimes for pair in hot_hall.pairs()]
        port = free_port()
        sink = subprocess.Popen(  # noqa: ASYNC220 - a start, not a wait
            [
                sys.executable,
                "-m",
                "bench.mail",
                "--sink",
                str(port),
                "--sink-kind",
                options.sink_kind,
            ],
            cwd=ROOT,
        )
        secret = uuid.uuid4().hex * 2
        server = Server(
            {
                "DATABASE_URL": dsn,
                "JWT_SECRET": secret,
                "LOG_LEVEL": "WARNING",
                "SMTP_URL": f"smtp://127.0.0.1:{port}",
                "MAIL_MAX_PER_SECOND": "100000",
                "MAX_SHOWTIMES_HELD_PER_USER": "1000000",
                "DATA_DIR": str(DATA_DIR / "server"),
            },
            options.workers,
            DATA_DIR,
        )
        await server.start()
        await asyncio.sleep(1.0)  # the senders' listeners connect

        say(
            f"bench.mail: {options.emails} booking confirmations a burst, "
            f"serve --workers {options.workers}, {os.cpu_count()} cores, "
            f"{options.sink_kind} SMTP sink",
            flush=True,
        )
        this = psutil.Process()
        meter = CpuMeter(
            {
                "server": server.processes,
                "database": database_processes,
                "sink": lambda: [psutil.Process(sink.pid)] if sink else [],
                "bench": lambda: [this],
            }
        )
        email_ids, committed = await queue_burst(
            conn, burst_showtime, users, burst_hall.seat_ids, options.emails
        )
        await wait_sent(conn, email_ids, within=300)
        report(
            "alone",
            await burst_figures(conn, email_ids, committed),
            f"; {meter.describe(options.emails)}",
        )

        tokens = [issue_token(user, secret, 3600) for user in users]
        stop = asyncio.Event()
        refusals: collections.Counter[str] = collections.Counter()
        load = asyncio.create_task(
            booking_load(server.base_url, tokens, items, options.booking_clients, stop, refusals)
        )
        await asyncio.sleep(2.0)  # the load is running
        meter.start()
        email_ids, committed = await queue_burst(
            conn, burst_showtime, users, burst_hall.seat_ids, options.emails
        )
        load_started = time.time()
        await wait_sent(conn, email_ids, within=300)
        figures = await burst_figures(conn, email_ids, committed)
        used = meter.describe(options.emails)
        stop.set()
        booked = await load
        load_seconds = time.time() - load_started + 2.0
        report(
            f"with {options.booking_clients} booking clients",
            figures,
            f"; bookings during the run: {booked / load_seconds:.0f}/s; {used} (the server's "
            "and the database's include the bookings)",
        )
        for refusal, count in refusals.most_common(5):
            say(f"  booking load refused {count} times: {refusal}", flush=True)
        server.stop()
        server = None
        await trigger_cost(conn, dsn, data, users, options.rounds)
        await conn.close()
        write_section(
            RESULTS_PATH,
            OUTBOX_SECTION,
            [
                f"Written by `python -m bench.mail --sink-kind {options.sink_kind}` on "
                f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')} (one run; `python -m bench` "
                "keeps this section).",
                "",
                *(f"- {line.strip()}" for line in _SAID),
            ],
        )
        return 0
    finally:
        if server is not None:
            server.stop()
        if sink is not None:
            sink.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                sink.wait(timeout=5)
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
        if embedded is not None:
            embedded.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mail", description=__doc__)
    parser.add_argument("--emails", type=int, default=2000, help="emails in a burst")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--booking-clients", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="blocks of the trigger-cost comparison, each way"
    )
    parser.add_argument(
        "--sink-kind",
        choices=SINKS,
        default="aiosmtpd",
        help="the local SMTP server: aiosmtpd (as the tests), or a minimal responder in this "
        "module that costs the machine far less CPU a message",
    )
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.sink:
        run_sink(options.sink, options.sink_kind)
        return 0
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
