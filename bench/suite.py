"""The benchmark suite: `python -m bench [--quick] [--only NAME[,NAME]] [--workers N] ...`.

One machine runs the server, PostgreSQL and the load generator, so every throughput is set
against a baseline measured in the same run on the same data, and each figure is the median of
`--runs` runs (3; 1 with --quick). The baselines are the physics of the work, not our own code:
what any implementation must at least spend on this machine. Scenarios (targets from the
benchmark issues):

  seatmap  GET the seat map of a 300-seat hall, 64 connections      >= 0.35x bare aiohttp serving
           the same bytes from memory, same load generator and connections, as many processes as
           the server has workers (bench/bare.py); with Accept-Encoding gzip >= 0.8x bare aiohttp
           serving the same gzip bytes; a revalidation (If-None-Match, 304) >= 0.8x bare aiohttp
           answering the same 304; bytes on the wire (Brotli <= 8 KiB)
  connect  5,000 live viewers of one showtime connecting at once     p99 connect -> snapshot < 1 s
  hot      8 / 32 / 128 clients hold and book seats of one showtime 32 and 128: >= 0.5x the
           physics: the same hold and booking as one PL/pgSQL call each, bound parameters and
           plans cached per connection, over plain asyncpg (advisory lock, hold, claims,
           reservation, version, NOTIFY, commit; no HTTP, no service code: db_book_plpgsql in
           bench/worker.py); from 8 to 128 clients throughput falls no more than the physics'
           does (>= 0.95x its change); no seat booked twice, by the service or by a baseline.
           Notes split the gap: the service's own SQL called through its Python with no HTTP
           (db_book_service: SQL cost), and the old multi-statement simple-query scripts
           (db_book_raw, planned on every call)
  before   the hot showtime on main before email and prices (a      >= 0.9x, with ticket types
           worktree of bench/before.py's BEFORE_REV) and on today's      and a voucher on every
           code, same run                                                booking, too
  spread   the same across 1,000 showtimes, 64 clients               >= 0.5x its raw baseline
  live     1,000 and 5,000 viewers of one showtime, 10 changes/s:   p99 hold answer -> last viewer
           < 50 ms / < 250 ms; server memory per viewer < 30 KiB
  sweeper  100,000 expired holds swept under the hot load at half    load p99 <= 2x its normal p99
           its maximum
  login    logins/s at the configured bcrypt cost                    >= 0.85x bare bcrypt, 2 threads
           and seat-map p99 during the login storm                   <= 2x its normal p99

Maximum throughput comes from closed loops; every p50/p99 from an open (fixed-rate) loop at half
the measured maximum unless said otherwise, latency counted from each request's scheduled time.
The server is `python -m reservations serve` in a subprocess, fresh for every scenario, on a
database made fresh for the run (the embedded PostgreSQL under .data/bench, or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import math
import os
import platform
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from reservations.accounts.tokens import issue_token
from reservations.db import EmbeddedDatabase, migrate, with_database

from . import before
from .data import BenchData, Theater
from .load import percentile
from .procs import ROOT, BareServer, Server, Worker, run_together

SCENARIOS = ("seatmap", "connect", "hot", "before", "spread", "live", "sweeper", "login", "crowd")
CONNECT_VIEWERS = 5000  # live viewers connecting at the same moment (scenario connect)
# Seat-map requests per second read by viewers during the login storm (an open loop): everyday
# traffic next to the storm, not a second load test.
LOGIN_STORM_MAP_RATE = 100.0
RESULTS_PATH = ROOT / "bench" / "RESULTS.md"
DATA_DIR = ROOT / ".data" / "bench"


@dataclass
class Options:
    quick: bool
    only: tuple[str, ...]
    workers: int
    runs: int
    duration: float  # seconds of each measured phase
    warmup: float
    bcrypt_rounds: int
    pool_size: int
    viewers: tuple[int, ...]
    live_seconds: float
    change_rate: float
    expired_holds: int
    hot_clients: tuple[int, ...]
    before_rev: str  # the revision scenario "before" compares with (bench/before.py)
    hot_bookings: int  # bookings (hold + book) of each hot phase
    spread_bookings: int
    spread_clients: int
    load_processes: int
    extra_env: dict[str, str]
    out: Path


@dataclass
class Row:
    """One line of the results table, for one run."""

    scenario: str
    throughput: float
    unit: str
    p50: float = math.nan
    p99: float = math.nan
    baseline: float = math.nan
    baseline_unit: str = ""
    ratio: float = math.nan
    target: str = ""
    # How the median ratio is judged: ("min", 0.5) means ratio >= 0.5; ("max", 2.0) ratio <= 2;
    # ("none", 0) not judged (shown for comparison).
    rule: tuple[str, float] = ("min", 0.0)
    judged: str = "ratio"  # or "p99", "throughput": the figure the rule applies to
    notes: list[str] = field(default_factory=list)


def fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


class Suite:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.rows: dict[str, list[Row]] = {}
        self.order: list[str] = []
        self.log_dir = DATA_DIR / "logs"
        self.jwt_secret = secrets.token_urlsafe(48)
        self.embedded: EmbeddedDatabase | None = None
        self.maxima: dict[str, float] = {}  # per run: hot-32 max, seat-map max
        self.notes: list[str] = []
        self.before: before.Before | None = None

    # -- setting up ----------------------------------------------------------------------

    async def open_database(self) -> None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if os.environ.get("DATABASE_URL"):
            admin = os.environ["DATABASE_URL"]
        else:
            self.embedded = EmbeddedDatabase(DATA_DIR)
            self.embedded.start()
            admin = self.embedded.admin_dsn()
        self.admin_dsn = admin
        self.db_name = f"bench_{dt.datetime.now().strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{self.db_name}"')
            self.pg_version = await conn.fetchval("SHOW server_version")
            self.pg_settings = {
                name: await conn.fetchval(f"SHOW {name}")
                for name in (
                    "max_connections",
                    "shared_buffers",
                    "synchronous_commit",
                    "fsync",
                    "max_wal_size",
                )
            }
        finally:
            await conn.close()
        self.dsn = with_database(admin, self.db_name)
        await asyncio.get_running_loop().run_in_executor(None, migrate, self.dsn)
        self.conn = await asyncpg.connect(self.dsn)
        self.data = BenchData(self.conn)
        self.users = await self.data.users(256, "bench")
        self.tokens = [issue_token(user, self.jwt_secret, 24 * 3600) for user in self.users]
        # Halls: the seat map's 300 seats; a 3,000-seat hot hall (it must not sell out within a
        # phase); ten 300-seat halls for the spread and the sweeper's expired holds.
        self.map_hall = await self.data.theater(15, 20)
        self.hot_hall = await self.data.theater(50, 60)
        self.spread_halls = [await self.data.theater(15, 20) for _ in range(10)]
        self.sweep_hall = await self.data.theater(15, 20)

    async def close_database(self) -> None:
        await self.conn.close()
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        finally:
            await conn.close()
        if self.embedded is not None:
            self.embedded.stop()

    def server_env(self, **extra: str) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.dsn,
            "JWT_SECRET": self.jwt_secret,
            "BCRYPT_ROUNDS": str(self.options.bcrypt_rounds),
            "LOG_LEVEL": "WARNING",
            "MAX_VIEWERS_PER_ADDRESS": "100000",
            # The same 256 users book in every phase, each on fresh showtimes, and the phases'
            # holds outlive them: the abuse limit of 3 showtimes held at once would refuse them.
            "MAX_SHOWTIMES_HELD_PER_USER": "1000000",
            # Likewise a user books more than 10 seats of a hot showtime over a phase; the
            # per-user count is still made on every hold, only never reached.
            "MAX_SEATS_PER_USER_PER_SHOWTIME": "1000000",
            "DB_POOL_MAX_SIZE": str(self.options.pool_size),
            "DATA_DIR": str(DATA_DIR / "server"),
        }
        env.update(self.options.extra_env)
        env.update(extra)
        return env

    async def server(self, **extra_env: str) -> Server:
        server = Server(self.server_env(**extra_env), self.options.workers, self.log_dir)
        await server.start()
        return server

    def add(self, row: Row) -> None:
        if row.scenario not in self.rows:
            self.rows[row.scenario] = []
            self.order.append(row.scenario)
        self.rows[row.scenario].append(row)
        print(
            f"    {row.scenario}: {fmt(row.throughput)} {row.unit}, p50 {fmt(row.p50)} ms, "
            f"p99 {fmt(row.p99)} ms, baseline {fmt(row.baseline)} {row.baseline_unit}, "
            f"ratio {fmt(row.ratio, 2)}" + (f" [{'; '.join(row.notes)}]" if row.notes else ""),
            flush=True,
        )

    async def ensure_analyzed(self) -> None:
        await self.conn.execute("ANALYZE")

    # -- helpers -------------------------------------------------------------------------

    def http_spec(self, server: Server, kind: str, **spec: Any) -> dict[str, Any]:
        return {"kind": kind, "base_url": server.base_url, **spec}

    def split(self, total: int, parts: int) -> list[int]:
        return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]

    async def booking_items(
        self,
        hall: Theater,
        showtimes: int,
        limit: int | None = None,
        data: BenchData | None = None,
    ) -> tuple[list[uuid.UUID], list[list[Any]]]:
        """Fresh showtimes of `hall` (in `data`'s database, this run's by default) and their
        side-by-side pairs as booking items, one showtime after the other (each showtime's pairs
        shuffled): a "hot" sequence."""
        ids = await (data or self.data).showtimes(hall, showtimes)
        items: list[list[Any]] = []
        for showtime_id in ids:
            pairs = hall.pairs()
            random.shuffle(pairs)
            items.extend([str(showtime_id), [str(seat) for seat in pair]] for pair in pairs)
        return ids, items[:limit] if limit else items

    async def spread_items(self, count: int) -> tuple[list[uuid.UUID], list[list[Any]]]:
        """1,000 fresh showtimes over the ten spread halls and `count` random pairs of them."""
        ids: list[uuid.UUID] = []
        items: list[list[Any]] = []
        per_hall = 100
        for hall in self.spread_halls:
            showtimes = await self.data.showtimes(hall, per_hall)
            ids.extend(showtimes)
            pairs = hall.pairs()
            for showtime_id in showtimes:
                items.extend([str(showtime_id), [str(seat) for seat in pair]] for pair in pairs)
        random.shuffle(items)
        return ids, items[:count]

    def book_specs(
        self,
        server: Server,
        items: list[list[Any]],
        clients: int,
        mode: str = "closed",
        rate: float = 0.0,
        duration: float = 600.0,
        tokens: list[str] | None = None,
        **booking: Any,
    ) -> list[dict[str, Any]]:
        """Load-generator specs booking `items` with `clients` users (of `tokens`, this run's
        by default), split over processes; `booking` goes into each spec (http_book's
        ticket_types, voucher_code)."""
        tokens = tokens or self.tokens
        processes = max(1, min(self.options.load_processes, clients))
        specs = []
        user_offset = 0
        for index, share in enumerate(self.split(clients, processes)):
            specs.append(
                self.http_spec(
                    server,
                    "http_book",
                    mode=mode,
                    connections=share,
                    rate=rate / processes,
                    duration=duration,
                    items=items[index::processes],
                    tokens=tokens[user_offset : user_offset + share],
                    **booking,
                )
            )
            user_offset += share
        return specs

    def db_book_specs(
        self, items: list[list[Any]], clients: int, kind: str = "db_book_raw"
    ) -> list[dict[str, Any]]:
        """A booking loop without HTTP (`kind`: db_book_raw, db_book_plpgsql or db_book_service
        in bench/worker.py): the same clients, users and pool size per process as the service
        phase, in as many processes as the server has workers."""
        processes = max(1, min(self.options.workers, clients))
        specs = []
        user_offset = 0
        for index, share in enumerate(self.split(clients, processes)):
            specs.append(
                {
                    "kind": kind,
                    "env": self.server_env(),
                    "dsn": self.dsn,
                    "pool_size": self.options.pool_size,
                    "connections": share,
                    "duration": 600.0,
                    "items": items[index::processes],
                    "user_ids": [
                        str(user) for user in self.users[user_offset : user_offset + share]
                    ],
                }
            )
            user_offset += share
        return specs

    @staticmethod
    def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
        """Several workers' results as one: throughput over the union of their time spans."""
        completed = sum(result["completed"] for result in results)
        errors = sum(result["errors"] for result in results)
        started = min(result["started"] for result in results)
        finished = max(result["finished"] for result in results)
        latencies = [value for result in results for value in result["latencies_ms"]]
        statuses: dict[str, int] = {}
        for result in results:
            for key, value in result["statuses"].items():
                statuses[key] = statuses.get(key, 0) + value
        return {
            "completed": completed,
            "errors": errors,
            "overflow": sum(result.get("overflow", 0) for result in results),
            "elapsed": finished - started,
            "throughput": completed / max(finished - started, 1e-9),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "statuses": statuses,
        }

    async def run_phase(self, specs: list[dict[str, Any]], within: float = 900) -> dict[str, Any]:
        return self.merge(await run_together(specs, self.log_dir, within))

    def error_note(self, label: str, result: dict[str, Any]) -> list[str]:
        if not result["errors"] and not result.get("overflow"):
            return []
        return [
            f"{label}: {result['errors']} errors {result['statuses']}, overflow {result.get('overflow', 0)}"
        ]

    # -- seat map ------------------------------------------------------------------------

    async def map_showtime(self) -> uuid.UUID:
        """A showtime of the 300-seat hall with 100 seats sold and 30 held (3 holds of 10)."""
        (showtime_id,) = await self.data.showtimes(self.map_hall, 1)
        seats = list(self.map_hall.seat_ids)
        random.shuffle(seats)
        held = {self.users[200 + k]: seats[100 + 10 * k : 110 + 10 * k] for k in range(3)}
        await self.data.fill(showtime_id, seats[:100], held, buyer=self.users[199])
        return showtime_id

    # Headers of the service's answer that belong to one connection or one moment, not to the
    # answer: the bare server makes its own.
    OWN_HEADERS = frozenset(
        ("date", "server", "content-length", "connection", "keep-alive", "transfer-encoding")
    )

    async def fetch_answer(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """The status, body (as sent: compressed or not) and headers of one anonymous GET."""
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.get(url, headers=headers or {}) as response:
                body = await response.read()
                if response.status not in (200, 304):
                    raise RuntimeError(f"GET {url} answered {response.status}")
                kept = {
                    str(key): value  # keys are multidict's istr, which orjson refuses
                    for key, value in response.headers.items()
                    if key.lower() not in self.OWN_HEADERS
                }
        return {
            "status": response.status,
            "body_base64": base64.b64encode(body).decode(),
            "headers": kept,
            "size": len(body),
        }

    def seatmap_specs(
        self, base_url: str, showtime_id: uuid.UUID, **spec: Any
    ) -> list[dict[str, Any]]:
        """The seat-map load (64 connections, closed loop unless `spec` says otherwise) against
        `base_url`, split over the load-generator processes."""
        processes = self.options.load_processes
        return [
            {
                "kind": "http_seatmap",
                "base_url": base_url,
                "showtime_id": str(showtime_id),
                "mode": "closed",
                "connections": share,
                "duration": self.options.duration,
                "warmup": self.options.warmup,
                **spec,
            }
            for share in self.split(64, processes)
        ]

    # The seat map as phones get it: (row name, request headers of the load, target, minimum).
    SEATMAP_VARIANTS = (
        (
            "seat map, 300 seats, 64 connections",
            {"Accept-Encoding": "identity"},
            ">= 0.35x bare aiohttp, same bytes from memory",
            0.35,
        ),
        (
            "seat map, gzip, 300 seats, 64 connections",
            {"Accept-Encoding": "gzip"},
            ">= 0.8x bare aiohttp, same gzip bytes from memory",
            0.8,
        ),
        (
            "seat map revalidation (304), 64 connections",
            {"Accept-Encoding": "gzip", "If-None-Match": "(the current ETag)"},
            ">= 0.8x bare aiohttp answering the same 304",
            0.8,
        ),
    )

    @staticmethod
    def cpu_per_answer(entry: dict[str, Any]) -> tuple[float, float, float]:
        """Server and bare CPU microseconds per answer of the closed phases, and bare/server.
        The closed loop's warm-up is in the CPU time but not in the count: both alike."""
        service = entry["cpu"] / max(entry["closed"]["completed"], 1) * 1e6
        bare = entry["bare_cpu"] / max(entry["baseline"]["completed"], 1) * 1e6
        return service, bare, bare / service if service else math.nan

    async def scenario_seatmap(self, run: int) -> None:
        options = self.options
        showtime_id = await self.map_showtime()
        await self.ensure_analyzed()
        path = f"/api/v1/showtimes/{showtime_id}/seats"
        server = await self.server()
        measured: list[dict[str, Any]] = []
        try:
            url = server.base_url + path
            sizes = {
                coding: (await self.fetch_answer(url, {"Accept-Encoding": coding}))["size"]
                for coding in ("identity", "gzip", "br")
            }
            etag = next(
                value
                for key, value in (await self.fetch_answer(url))["headers"].items()
                if key.lower() == "etag"
            )
            processes = options.load_processes
            for _name, headers, _target, _minimum in self.SEATMAP_VARIANTS:
                sent = dict(headers)
                if "If-None-Match" in sent:
                    sent["If-None-Match"] = etag
                load = {
                    "accept_encoding": sent["Accept-Encoding"],
                    "if_none_match": sent.get("If-None-Match"),
                    "expect": 304 if "If-None-Match" in sent else 200,
                }
                cpu_before = server.cpu_seconds()
                closed = await self.run_phase(
                    self.seatmap_specs(server.base_url, showtime_id, **load)
                )
                cpu = server.cpu_seconds() - cpu_before
                rate = closed["throughput"] / 2
                latency = await self.run_phase(
                    self.seatmap_specs(
                        server.base_url, showtime_id, mode="open", rate=rate / processes, **load
                    )
                )
                answer = await self.fetch_answer(url, sent)
                entry = {
                    "load": load,
                    "closed": closed,
                    "latency": latency,
                    "rate": rate,
                    "answer": answer,
                    "cpu": cpu,
                }
                measured.append(entry)
                # Its baseline right after (the machine's load drifts): the same status, bytes
                # and headers served from memory by bare aiohttp in as many processes as the
                # server has workers (the server idles meanwhile), same load and connections.
                bare = BareServer(answer, options.workers, self.log_dir)
                try:
                    await bare.start()
                    served = await self.fetch_answer(bare.base_url + path, sent)
                    cpu_before = bare.cpu_seconds()
                    entry["baseline"] = await self.run_phase(
                        self.seatmap_specs(bare.base_url, showtime_id, **load)
                    )
                    entry["bare_cpu"] = bare.cpu_seconds() - cpu_before
                finally:
                    bare.stop()
                entry["same"] = served["body_base64"] == answer["body_base64"]
        finally:
            server.stop()
        # Kept for comparison with earlier runs: the seat map's query + orjson, no HTTP.
        database = await self.run_phase(
            [
                {
                    "kind": "db_seatmap",
                    "dsn": self.dsn,
                    "showtime_id": str(showtime_id),
                    "connections": share,
                    "pool_size": options.pool_size,
                    "duration": options.duration,
                    "warmup": options.warmup,
                }
                for share in self.split(64, options.workers)
            ]
        )
        self.maxima["seatmap"] = measured[0]["closed"]["throughput"]
        for (name, _headers, target, minimum), entry in zip(
            self.SEATMAP_VARIANTS, measured, strict=True
        ):
            closed, latency, baseline = entry["closed"], entry["latency"], entry["baseline"]
            answer = entry["answer"]
            notes = [] if entry["same"] else ["BARE SERVER ANSWERED OTHER BYTES"]
            notes += [
                f"{answer['status']}, {answer['size']:,} bytes"
                + (
                    f" {answer['headers']['Content-Encoding']}"
                    if "Content-Encoding" in answer["headers"]
                    else ""
                ),
                f"latency at {entry['rate']:,.0f} req/s",
                # CPU per answer does not depend on what else the shared machine runs.
                "server CPU per answer {:.0f} us, bare {:.0f} us ({:.2f}x as efficient)".format(
                    *self.cpu_per_answer(entry)
                ),
            ]
            if entry is measured[0]:
                notes.append(
                    f"asyncpg query + orjson, no HTTP: {database['throughput']:,.0f} req/s "
                    f"({closed['throughput'] / database['throughput']:.2f}x)"
                )
                notes += self.error_note("asyncpg+orjson", database)
            self.add(
                Row(
                    name,
                    closed["throughput"],
                    "req/s",
                    latency["p50"],
                    latency["p99"],
                    baseline["throughput"],
                    "req/s bare aiohttp",
                    closed["throughput"] / baseline["throughput"],
                    target,
                    ("min", minimum),
                    notes=notes
                    + self.error_note("max", closed)
                    + self.error_note("latency", latency)
                    + self.error_note("bare", baseline),
                )
            )
        self.add(
            Row(
                "seat map on the wire, 300 seats (100 sold, 30 held)",
                sizes["br"],
                "bytes br",
                target="<= 8 KiB (8,192 bytes) with Brotli",
                rule=("max", 8193),
                judged="throughput",
                notes=[
                    f"identity {sizes['identity']:,} bytes, gzip {sizes['gzip']:,}, "
                    f"br {sizes['br']:,}; a 304 has no body"
                ],
            )
        )

    # -- a crowd of viewers connecting at once ------------------------------------------------

    async def scenario_connect(self, run: int) -> None:
        """CONNECT_VIEWERS live viewers of one showtime connect at the same moment (as when
        sales open); each one's time from connecting to its snapshot."""
        (showtime_id,) = await self.data.showtimes(self.map_hall, 1)
        server = await self.server()
        workers: list[Worker] = []
        try:
            async with aiohttp.ClientSession() as session:  # warm: imports, a first WebSocket
                async with session.ws_connect(
                    f"{server.base_url}/ws/showtimes/{showtime_id}"
                ) as ws:
                    await ws.receive(timeout=10)
            await asyncio.sleep(1.0)
            processes = 2
            for share in self.split(CONNECT_VIEWERS, processes):
                worker = Worker(
                    {
                        "kind": "viewers",
                        "host": "127.0.0.1",
                        "port": server.port,
                        "path": f"/ws/showtimes/{showtime_id}",
                        "count": share,
                        "connect_concurrency": share,  # all at once
                        "max_seconds": 60,
                    },
                    self.log_dir,
                )
                workers.append(worker)
            await asyncio.gather(*(worker.launch() for worker in workers))
            connect_started = time.monotonic()
            ready = [await worker.ready(within=300) for worker in workers]
            connect_seconds = time.monotonic() - connect_started
            for worker in workers:
                worker.send(stop=True)
            results = [await worker.result(within=120) for worker in workers]
        finally:
            for worker in workers:
                await worker.close()
            server.stop()
        connected = sum(event["ready"] for event in ready)
        failed = sum(event["failed"] for event in ready)
        times = [value for result in results for value in result["snapshot_ms"]]
        self.add(
            Row(
                f"live map, {CONNECT_VIEWERS:,} viewers connecting at once",
                connected / max(connect_seconds, 1e-9),
                "viewers/s",
                percentile(times, 50),
                percentile(times, 99),
                target="p99 < 1,000 ms (connect -> snapshot)",
                rule=("max", 1000),
                judged="p99",
                notes=[
                    f"{connected} connected ({failed} failed) in {connect_seconds:.1f}s; "
                    f"slowest {max(times, default=math.nan):,.0f} ms; in {processes} "
                    "load processes"
                ],
            )
        )

    # -- hot showtime and spread ---------------------------------------------------------

    async def check_bookings(
        self, server: Server | None, showtime_ids: list[uuid.UUID], booked: int
    ) -> list[str]:
        """No seat booked twice; as many seats sold as bookings answered; a sold seat refused."""
        notes = []
        twice = await self.data.double_bookings(showtime_ids)
        sold = await self.data.sold_seats(showtime_ids)
        if twice:
            notes.append(f"DOUBLE BOOKED: {twice} seats")
        if sold != 2 * booked:
            notes.append(f"sold {sold} seats for {booked} bookings of 2")
        if server is not None and booked:
            row = await self.conn.fetchrow(
                """
                SELECT c.showtime_id, c.seat_id FROM seat_claims c
                WHERE c.showtime_id = ANY($1::uuid[]) AND c.reservation_id IS NOT NULL LIMIT 1
                """,
                showtime_ids,
            )
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"{server.base_url}/api/v1/showtimes/{row['showtime_id']}/lock-seats",
                    json={"seat_ids": [str(row["seat_id"])]},
                    headers={"Authorization": f"Bearer {self.tokens[-1]}"},
                ) as response:
                    if response.status != 409:
                        notes.append(f"holding a sold seat answered {response.status}")
        return notes

    async def hot_phase(self, server: Server, clients: int) -> tuple[dict[str, Any], list[str]]:
        bookings = self.options.hot_bookings
        showtimes = math.ceil(bookings / len(self.hot_hall.pairs()))
        ids, items = await self.booking_items(self.hot_hall, showtimes, bookings)
        result = await self.run_phase(self.book_specs(server, items, clients))
        notes = await self.check_bookings(server, ids, result["completed"])
        return result, notes + self.error_note(f"{clients} clients", result)

    async def hot_baseline(
        self, clients: int, kind: str = "db_book_raw"
    ) -> tuple[dict[str, Any], list[str]]:
        bookings = self.options.hot_bookings
        showtimes = math.ceil(bookings / len(self.hot_hall.pairs()))
        ids, items = await self.booking_items(self.hot_hall, showtimes, bookings)
        result = await self.run_phase(self.db_book_specs(items, clients, kind))
        notes = await self.check_bookings(None, ids, result["completed"])
        return result, notes + self.error_note(f"{kind} {clients}", result)

    @staticmethod
    def split_notes(
        service: dict[str, Any],
        direct: dict[str, Any],
        simple: dict[str, Any],
        physics: dict[str, Any],
    ) -> list[str]:
        """Where the gap to the physics goes: the service's SQL called without HTTP against the
        physics is the SQL cost; HTTP against that is the HTTP cost."""
        if not (direct["throughput"] and physics["throughput"] and simple["throughput"]):
            return ["split: a phase booked nothing"]
        return [
            f"service SQL without HTTP {direct['throughput']:.0f}/s "
            f"= {direct['throughput'] / physics['throughput']:.2f}x PL/pgSQL (SQL cost); "
            f"HTTP {service['throughput'] / direct['throughput']:.2f}x of that (HTTP cost); "
            f"simple-query scripts {simple['throughput']:.0f}/s "
            f"= {simple['throughput'] / physics['throughput']:.2f}x PL/pgSQL"
        ]

    async def hot_latency(
        self, server: Server, clients: int, rate: float, duration: float
    ) -> dict[str, Any]:
        needed = int(rate * duration) + 1
        showtimes = math.ceil(needed / len(self.hot_hall.pairs()))
        _, items = await self.booking_items(self.hot_hall, showtimes, needed)
        return await self.run_phase(
            self.book_specs(server, items, clients, mode="open", rate=rate, duration=duration)
        )

    async def scenario_hot(self, run: int) -> None:
        options = self.options
        server = await self.server()
        maxima: dict[int, float] = {}
        base_maxima: dict[int, float] = {}
        try:
            for clients in options.hot_clients:
                service, notes = await self.hot_phase(server, clients)
                # The physics (issue 28 item 10): one PL/pgSQL call a transaction, plans cached.
                baseline, base_notes = await self.hot_baseline(clients, "db_book_plpgsql")
                # For the split: the simple-query scripts (the old baseline), and the service's
                # own SQL called through its Python, no HTTP (SQL cost vs HTTP cost).
                simple, simple_notes = await self.hot_baseline(clients, "db_book_raw")
                direct, direct_notes = await self.hot_baseline(clients, "db_book_service")
                base_notes += (
                    simple_notes
                    + direct_notes
                    + self.split_notes(service, direct, simple, baseline)
                )
                rate = service["throughput"] / 2
                latency: dict[str, Any] = {"p50": math.nan, "p99": math.nan, "errors": 0}
                if not options.quick or clients == 32:  # quick: one latency phase, at 32
                    latency = await self.hot_latency(server, clients, rate, options.duration)
                maxima[clients] = service["throughput"]
                base_maxima[clients] = baseline["throughput"]
                judged = clients >= 32  # the 8-client row shows the ratio; 32 and 128 are judged
                self.add(
                    Row(
                        f"hot showtime, {clients} clients",
                        service["throughput"],
                        "bookings/s",
                        latency["p50"],
                        latency["p99"],
                        baseline["throughput"],
                        "bookings/s PL/pgSQL",
                        service["throughput"] / baseline["throughput"],
                        ">= 0.5x PL/pgSQL, one call a transaction"
                        if judged
                        else "none (32, 128 judged)",
                        ("min", 0.5) if judged else ("none", 0.0),
                        notes=notes + base_notes + self.error_note("latency", latency),
                    )
                )
        finally:
            server.stop()
        if 32 in maxima:
            self.maxima["hot32"] = maxima[32]
        low, high = min(options.hot_clients), max(options.hot_clients)
        if low in maxima and high in maxima and low != high:
            # More clients on one showtime queue for its lock, and even the raw SQL books fewer
            # a second with 128 queued than with 8 (wake-ups, a longer queue to hand the lock
            # down). Judged: the service's throughput keeps up with that physics, i.e. falls
            # from `low` to `high` clients no more than the raw SQL's does.
            ours = maxima[high] / maxima[low]
            physics = base_maxima[high] / base_maxima[low]
            self.add(
                Row(
                    f"hot showtime, {high} vs {low} clients",
                    ours,
                    f"x its {low}-client throughput",
                    baseline=physics,
                    baseline_unit="x, PL/pgSQL's",
                    ratio=ours / physics,
                    target=">= 0.95x the PL/pgSQL's own change (scales as the physics does)",
                    rule=("min", 0.95),
                    notes=[
                        f"service {maxima[high]:.0f} vs {maxima[low]:.0f} bookings/s, "
                        f"PL/pgSQL {base_maxima[high]:.0f} vs {base_maxima[low]:.0f}"
                    ],
                )
            )

    async def scenario_spread(self, run: int) -> None:
        options = self.options
        clients = options.spread_clients
        server = await self.server()
        try:
            ids, items = await self.spread_items(options.spread_bookings)
            await self.ensure_analyzed()
            service = await self.run_phase(self.book_specs(server, items, clients))
            notes = await self.check_bookings(server, ids, service["completed"])
            ids, items = await self.spread_items(options.spread_bookings)
            baseline = await self.run_phase(self.db_book_specs(items, clients))
            notes += await self.check_bookings(None, ids, baseline["completed"])
            rate = service["throughput"] / 2
            _, items = await self.spread_items(int(rate * options.duration) + 1)
            latency = await self.run_phase(
                self.book_specs(
                    server, items, clients, mode="open", rate=rate, duration=options.duration
                )
            )
        finally:
            server.stop()
        self.add(
            Row(
                f"spread over 1,000 showtimes, {clients} clients",
                service["throughput"],
                "bookings/s",
                latency["p50"],
                latency["p99"],
                baseline["throughput"],
                "bookings/s raw SQL",
                service["throughput"] / baseline["throughput"],
                ">= 0.5x raw SQL, one call a transaction",
                ("min", 0.5),
                notes=notes
                + self.error_note("max", service)
                + self.error_note("baseline", baseline)
                + self.error_note("latency", latency),
            )
        )

    # -- live map ------------------------------------------------------------------------

    async def live_phase(self, viewers: int) -> None:
        options = self.options
        (showtime_id,) = await self.data.showtimes(self.map_hall, 1)
        changes = min(int(options.change_rate * options.live_seconds), 280)
        seats = [str(seat) for seat in self.map_hall.seat_ids[:changes]]
        server = await self.server()
        workers: list[Worker] = []
        try:
            async with aiohttp.ClientSession() as session:  # warm: imports, a first WebSocket
                async with session.get(f"{server.base_url}/api/v1/showtimes/{showtime_id}/seats"):
                    pass
                async with session.ws_connect(
                    f"{server.base_url}/ws/showtimes/{showtime_id}"
                ) as ws:
                    await ws.receive(timeout=10)
            await asyncio.sleep(1.0)
            rss_before = server.rss()
            processes = 1 if viewers <= 1000 else 2
            for share in self.split(viewers, processes):
                worker = Worker(
                    {
                        "kind": "viewers",
                        "host": "127.0.0.1",
                        "port": server.port,
                        "path": f"/ws/showtimes/{showtime_id}",
                        "count": share,
                        "connect_concurrency": 50,
                        "max_seconds": 300,
                    },
                    self.log_dir,
                )
                workers.append(worker)
                await worker.launch()
            connect_started = time.monotonic()
            ready = [await worker.ready(within=300) for worker in workers]
            connect_seconds = time.monotonic() - connect_started
            connected = sum(event["ready"] for event in ready)
            failed = sum(event["failed"] for event in ready)
            await asyncio.sleep(1.0)
            rss_connected = server.rss()
            (changer,) = await run_together(
                [
                    self.http_spec(
                        server,
                        "changer",
                        showtime_id=str(showtime_id),
                        seats=seats,
                        tokens=self.tokens[:64],
                        rate=options.change_rate,
                        duration=len(seats) / options.change_rate + 1,
                        connections=4,
                    )
                ],
                self.log_dir,
                within=300,
            )
            await asyncio.sleep(2.0)  # the last changes reach the last viewers
            rss_after = server.rss()
            for worker in workers:
                worker.send(stop=True)
            results = [await worker.result(within=120) for worker in workers]
        finally:
            for worker in workers:
                await worker.close()
            server.stop()
        receipts: dict[str, list[Any]] = {}
        for result in results:
            for key, (count, first, last) in result["receipts"].items():
                entry = receipts.setdefault(key, [0, math.inf, -math.inf])
                entry[0] += count
                entry[1] = min(entry[1], first)
                entry[2] = max(entry[2], last)
        latencies = []
        partial = 0
        for seat, answered, status in changer["answers"]:
            if status != 201:
                continue
            receipt = receipts.get(f"{seat}:held")
            if receipt is None or receipt[0] < connected:
                partial += 1
                continue
            latencies.append((receipt[2] - answered) * 1000)
        gaps = sum(result["version_gaps"] for result in results)
        closed = sum(result["closed"] for result in results)
        answered_ok = sum(1 for answer in changer["answers"] if answer[2] == 201)
        notes = [
            f"{connected} viewers connected in {connect_seconds:.1f}s ({failed} failed)",
            f"{len(latencies)}/{answered_ok} changes reached every viewer",
        ]
        if partial or gaps or closed:
            notes.append(
                f"{partial} changes missed by some viewer, {gaps} version gaps, {closed} viewers closed"
            )
        notes += self.error_note("changer", changer)
        if changer.get("errors"):
            notes.append(f"changer statuses {changer['statuses']}")
        target_ms = 50 if viewers <= 1000 else 250
        self.add(
            Row(
                f"live map, {viewers:,} viewers, {options.change_rate:g} changes/s",
                len(latencies) * connected / max(changer["elapsed"], 1e-9),
                "msgs/s",
                percentile(latencies, 50),
                percentile(latencies, 99),
                target=f"p99 < {target_ms} ms (hold answer -> last viewer)",
                rule=("max", target_ms),
                judged="p99",
                notes=notes,
            )
        )
        per_viewer = (rss_after - rss_before) / max(connected, 1) / 1024
        self.add(
            Row(
                f"live map memory, {viewers:,} viewers",
                per_viewer,
                "KiB/viewer",
                target="< 30 KiB per viewer (server RSS delta)",
                rule=("max", 30),
                judged="throughput",
                notes=[
                    f"RSS {rss_before / 2**20:.0f} MiB -> {rss_connected / 2**20:.0f} MiB connected "
                    f"-> {rss_after / 2**20:.0f} MiB after changes"
                ],
            )
        )

    async def scenario_live(self, run: int) -> None:
        for viewers in self.options.viewers:
            await self.live_phase(viewers)

    # -- sweeper -------------------------------------------------------------------------

    async def scenario_sweeper(self, run: int) -> None:
        options = self.options
        clients = 32
        server = await self.server()
        try:
            maximum = self.maxima.get("hot32")
            if maximum is None:
                result, _ = await self.hot_phase(server, clients)
                maximum = result["throughput"]
            rate = maximum / 2
            normal = await self.hot_latency(server, clients, rate, options.duration)
            # 100,000 expired holds: 1,000 showtimes x 100 users, one seat each.
            holds_per_showtime = 100
            showtime_count = math.ceil(options.expired_holds / holds_per_showtime)
            showtimes = await self.data.showtimes(self.sweep_hall, showtime_count)
            made = time.monotonic()
            inserted = await self.data.expired_holds(
                showtimes, self.sweep_hall, self.users[:holds_per_showtime]
            )
            # Holds pile up over time in real life, and autovacuum keeps the planner's statistics
            # up with them; made in one go here, they need an explicit ANALYZE to look the same.
            await self.conn.execute("ANALYZE holds, seat_claims")
            made = time.monotonic() - made
            cap = 20.0 if options.quick else 180.0
            needed = int(rate * cap) + 1
            _, items = await self.booking_items(
                self.hot_hall, math.ceil(needed / len(self.hot_hall.pairs())), needed
            )
            specs = self.book_specs(server, items, clients, mode="open", rate=rate, duration=cap)
            workers = [Worker(spec, self.log_dir) for spec in specs]
            try:
                for worker in workers:
                    await worker.launch()
                for worker in workers:
                    await worker.ready()
                began = time.monotonic() + 0.5
                for worker in workers:
                    worker.send(start=began)
                await asyncio.sleep(0.5)
                swept_at = None
                while time.monotonic() - began < cap:
                    left = await self.conn.fetchval(
                        "SELECT count(*) FROM holds WHERE showtime_id = ANY($1::uuid[])", showtimes
                    )
                    if left == 0:
                        swept_at = time.monotonic()
                        break
                    await asyncio.sleep(0.5)
                for worker in workers:
                    worker.send(stop=True)
                during = self.merge([await worker.result(within=120) for worker in workers])
            finally:
                for worker in workers:
                    await worker.close()
        finally:
            server.stop()
        sweep_seconds = (swept_at or time.monotonic()) - began
        notes = [
            f"{inserted:,} expired holds made in {made:.1f}s, "
            + (f"swept in {sweep_seconds:.1f}s" if swept_at else f"NOT swept within {cap:.0f}s"),
            f"load {rate:,.0f} bookings/s; normal p50 {fmt(normal['p50'])} ms",
        ]
        self.add(
            Row(
                f"sweeper: {inserted:,} expired holds under hot load at half max",
                inserted / sweep_seconds if swept_at else math.nan,
                "holds swept/s",
                during["p50"],
                during["p99"],
                normal["p99"],
                "ms normal p99",
                during["p99"] / normal["p99"],
                "load p99 <= 2x normal",
                ("max", 2.0),
                notes=notes + self.error_note("normal", normal) + self.error_note("during", during),
            )
        )

    # -- login ---------------------------------------------------------------------------

    async def scenario_login(self, run: int) -> None:
        import bcrypt

        options = self.options
        password = "bench-password-1"
        if not hasattr(self, "login_users"):
            hashed = bcrypt.hashpw(
                password.encode(), bcrypt.gensalt(options.bcrypt_rounds)
            ).decode()
            self.login_hash = hashed
            prefix = f"login{uuid.uuid4().hex[:6]}"
            await self.data.users(16, prefix, hashed)
            self.login_users = [f"{prefix}-{n}@bench.example.com" for n in range(1, 17)]
        showtime_id = await self.map_showtime()
        map_rate = LOGIN_STORM_MAP_RATE
        server = await self.server()

        def map_spec() -> dict[str, Any]:
            return self.http_spec(
                server,
                "http_seatmap",
                showtime_id=str(showtime_id),
                mode="open",
                connections=16,
                rate=map_rate,
                duration=options.duration,
            )

        try:
            (normal,) = await run_together([map_spec()], self.log_dir, within=300)
            storm_results = await run_together(
                [
                    self.http_spec(
                        server,
                        "http_login",
                        emails=self.login_users,
                        password=password,
                        mode="closed",
                        connections=16,
                        duration=options.duration,
                        warmup=options.warmup,
                    ),
                    map_spec(),
                ],
                self.log_dir,
                within=300,
            )
        finally:
            server.stop()
        bare = await self.run_phase(
            [
                {
                    "kind": "bcrypt",
                    "hash": self.login_hash,
                    "password": password,
                    "threads": 2,
                    "service_priority": True,
                    "duration": options.duration,
                    "warmup": options.warmup,
                }
            ]
        )
        normal = self.merge([normal])
        storm = self.merge([storm_results[0]])
        during = self.merge([storm_results[1]])
        self.add(
            Row(
                f"login storm, bcrypt cost {options.bcrypt_rounds}",
                storm["throughput"],
                "logins/s",
                storm["p50"],
                storm["p99"],
                bare["throughput"],
                "checks/s bare bcrypt",
                storm["throughput"] / bare["throughput"],
                ">= 0.85x bare bcrypt, 2 threads",
                ("min", 0.85),
                notes=["p50/p99 of logins: closed loop, 16 clients"]
                + self.error_note("storm", storm),
            )
        )
        self.add(
            Row(
                "seat map during the login storm",
                during["throughput"],
                "req/s",
                during["p50"],
                during["p99"],
                normal["p99"],
                "ms normal p99",
                during["p99"] / normal["p99"],
                "p99 <= 2x normal",
                ("max", 2.0),
                notes=[f"open loop {map_rate:,.0f} req/s; normal p50 {fmt(normal['p50'])} ms"]
                + self.error_note("during", during)
                + self.error_note("normal", normal),
            )
        )

    # -- crowd -------------------------------------------------------------------------

    # Clients of the crowd on one showtime, and the open loop of other reads beside it.
    CROWD_CLIENTS = 500
    CROWD_READ_RATE = 60.0

    async def crowd_tokens(self) -> list[str]:
        """Tokens of CROWD_CLIENTS users of their own (the suite's 256 are too few)."""
        if not hasattr(self, "crowd_users"):
            self.crowd_users = await self.data.users(
                self.CROWD_CLIENTS, f"crowd{uuid.uuid4().hex[:6]}"
            )
        return [issue_token(user, self.jwt_secret, 24 * 3600) for user in self.crowd_users]

    async def crowd_reads(self, server: Server, start_at: float, duration: float) -> dict[str, Any]:
        """An open loop, in this process, of what everyone else does meanwhile: another
        showtime's seat map (with a token: read from the database, not the anonymous cache),
        the programme (GET /api/v1/showtimes) and the caller's reservations, in turn."""
        from .load import open_loop

        showtimes = [await self.map_showtime() for _ in range(3)]
        headers = {"Authorization": f"Bearer {self.tokens[0]}"}
        paths = [
            *(f"/api/v1/showtimes/{showtime_id}/seats" for showtime_id in showtimes),
            "/api/v1/showtimes",
            "/api/v1/reservations",
        ]
        async with aiohttp.ClientSession(
            base_url=server.base_url, timeout=aiohttp.ClientTimeout(total=60)
        ) as session:

            async def read(index: int) -> str | None:
                async with session.get(paths[index % len(paths)], headers=headers) as response:
                    await response.read()
                    return None if response.status == 200 else f"http_{response.status}"

            for index in range(len(paths)):  # connections up, routes warm
                await read(index)
            result = await open_loop(read, self.CROWD_READ_RATE, start_at, duration)
        return self.merge([result.as_dict()])

    async def scenario_crowd(self, run: int) -> None:
        """crowd: CROWD_CLIENTS clients hold and book seats of one showtime at half the maximum
        rate (hot, 32 clients) while an open loop reads other showtimes' seat maps, the
        programme and reservations. Target: the reads' p99 within 2x of their idle p99, and
        no 503 anywhere (issue 28 item 8: a hot showtime must not starve everything else)."""
        options = self.options
        tokens = await self.crowd_tokens()
        server = await self.server()
        try:
            maximum = self.maxima.get("hot32")
            if maximum is None:
                result, _ = await self.hot_phase(server, 32)
                maximum = self.maxima["hot32"] = result["throughput"]
            rate = maximum / 2
            idle = await self.crowd_reads(server, time.monotonic() + 0.5, options.duration)
            needed = int(rate * options.duration) + 1
            _, items = await self.booking_items(
                self.hot_hall, math.ceil(needed / len(self.hot_hall.pairs())), needed
            )
            processes = max(1, min(options.load_processes, self.CROWD_CLIENTS))
            specs = []
            for index, share in enumerate(self.split(self.CROWD_CLIENTS, processes)):
                first = sum(self.split(self.CROWD_CLIENTS, processes)[:index])
                specs.append(
                    self.http_spec(
                        server,
                        "http_book",
                        mode="open",
                        connections=share,
                        rate=rate / processes,
                        duration=options.duration,
                        items=items[index::processes],
                        tokens=tokens[first : first + share],
                    )
                )
            workers = [Worker(spec, self.log_dir) for spec in specs]
            try:
                for worker in workers:
                    await worker.launch()
                for worker in workers:
                    await worker.ready()
                began = time.monotonic() + 0.5
                for worker in workers:
                    worker.send(start=began)
                during = await self.crowd_reads(server, began, options.duration)
                crowd = self.merge([await worker.result(within=300) for worker in workers])
            finally:
                for worker in workers:
                    await worker.close()
        finally:
            server.stop()
        busy = sum(
            count
            for result in (during, crowd)
            for status, count in result["statuses"].items()
            if status.endswith("503")
        )
        self.add(
            Row(
                f"crowd: {self.CROWD_CLIENTS} clients on one showtime, other reads beside",
                during["throughput"],
                "reads/s",
                during["p50"],
                during["p99"],
                idle["p99"],
                "ms idle p99",
                during["p99"] / idle["p99"],
                "reads p99 <= 2x idle, 0 x 503",
                ("max", 2.0),
                notes=[
                    f"crowd {crowd['throughput']:,.0f} bookings/s at {rate:,.0f}/s asked "
                    f"(half of hot-32's {maximum:,.0f}/s), crowd p99 {fmt(crowd['p99'])} ms",
                    f"{busy} x 503; idle p50 {fmt(idle['p50'])} ms",
                ]
                + self.error_note("crowd", crowd)
                + self.error_note("reads", during)
                + self.error_note("idle", idle),
            )
        )

    # -- the whole suite -----------------------------------------------------------------

    async def run(self) -> None:
        started = time.monotonic()
        await self.open_database()
        try:
            scenarios: dict[str, Callable[[int], Awaitable[None]]] = {
                "seatmap": self.scenario_seatmap,
                "connect": self.scenario_connect,
                "hot": self.scenario_hot,
                "before": lambda run: before.scenario_before(self, run),
                "spread": self.scenario_spread,
                "live": self.scenario_live,
                "sweeper": self.scenario_sweeper,
                "login": self.scenario_login,
                "crowd": self.scenario_crowd,
            }
            for run in range(1, self.options.runs + 1):
                self.maxima = {}
                print(f"run {run}/{self.options.runs}", flush=True)
                for name in self.options.only:
                    print(f"  {name}", flush=True)
                    began = time.monotonic()
                    await scenarios[name](run)
                    print(f"  {name}: {time.monotonic() - began:.0f}s", flush=True)
        finally:
            if self.before is not None:
                await before.close(self, self.before)
            await self.close_database()
        self.seconds = time.monotonic() - started
        write_results(self, self.options.out)
        print(f"wrote {self.options.out} in {self.seconds:.0f}s", flush=True)


# --- the report ------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    present = [value for value in values if not math.isnan(value)]
    return statistics.median(present) if present else math.nan


def machine() -> dict[str, str]:
    import aiohttp as aiohttp_module
    import asyncpg as asyncpg_module
    import orjson
    import psutil

    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:  # pragma: no cover
        uvloop_version = "not installed"
    return {
        "nproc": str(os.cpu_count()),
        "CPU": model,
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "aiohttp / asyncpg / orjson / uvloop": (
            f"{aiohttp_module.__version__} / {asyncpg_module.__version__} / "
            f"{orjson.__version__} / {uvloop_version}"
        ),
    }


def write_results(suite: Suite, path: Path) -> None:
    options = suite.options
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python -m bench{' --quick' if options.quick else ''}"
        f"{' --only ' + ','.join(options.only) if set(options.only) != set(SCENARIOS) else ''}` on "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')} in {suite.seconds / 60:.1f} min. "
        f"Each figure is the median of {options.runs} run(s); ratio = service / baseline, "
        "both measured in the same run. p50/p99 in ms from an open (fixed-rate) loop at half the "
        "measured maximum unless the notes say otherwise.",
        "",
        "| scenario | throughput | p50 ms | p99 ms | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    details = []
    for name in suite.order:
        rows = suite.rows[name]
        first = rows[0]
        throughput = median([row.throughput for row in rows])
        p50 = median([row.p50 for row in rows])
        p99 = median([row.p99 for row in rows])
        baseline = median([row.baseline for row in rows])
        ratio = median([row.ratio for row in rows])
        judged = {"ratio": ratio, "p99": p99, "throughput": throughput}[first.judged]
        kind, bound = first.rule
        if kind == "none":
            met = "-"
        elif math.isnan(judged):
            met = "?"
        elif kind == "min":
            met = "yes" if judged >= bound else "**no**"
        else:
            met = (
                "yes"
                if judged < bound or (first.judged == "ratio" and judged <= bound)
                else "**no**"
            )
        lines.append(
            f"| {name} | {fmt(throughput)} {first.unit} | {fmt(p50)} | {fmt(p99)} | "
            f"{fmt(baseline)} {first.baseline_unit if not math.isnan(baseline) else ''} | "
            f"{fmt(ratio, 2) + 'x' if not math.isnan(ratio) else '-'} | {first.target} | {met} |"
        )
        details.append(f"- **{name}**")
        for index, row in enumerate(rows, 1):
            figures = (
                f"{fmt(row.throughput)} {row.unit}, p50 {fmt(row.p50)}, p99 {fmt(row.p99)}, "
                f"baseline {fmt(row.baseline)}, ratio {fmt(row.ratio, 2)}"
            )
            note = f"; {'; '.join(row.notes)}" if row.notes else ""
            details.append(f"  - run {index}: {figures}{note}")
    info = machine()
    info["PostgreSQL"] = (
        f"{suite.pg_version} ({'DATABASE_URL' if suite.embedded is None else 'embedded pgserver'}; "
        + ", ".join(f"{key}={value}" for key, value in suite.pg_settings.items())
        + ")"
    )
    lines += ["", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += [
        "",
        "## Settings",
        "",
        f"- server: `python -m reservations serve --workers {options.workers}`, "
        + ", ".join(
            f"{key}={value}"
            for key, value in suite.server_env().items()
            if key not in ("DATABASE_URL", "JWT_SECRET", "DATA_DIR")
        ),
        f"- runs {options.runs}; measured phases {options.duration:g}s (closed loops after "
        f"{options.warmup:g}s warm-up); hot phases book {options.hot_bookings:,} pairs each "
        f"(clients {', '.join(map(str, options.hot_clients))}); spread books "
        f"{options.spread_bookings:,} pairs with {options.spread_clients} clients; live viewers "
        f"{', '.join(f'{v:,}' for v in options.viewers)} for {options.live_seconds:g}s at "
        f"{options.change_rate:g} changes/s; {options.expired_holds:,} expired holds; "
        f"load-generator processes {options.load_processes}; baselines in "
        f"{options.workers} process(es)",
        "- baselines (the physics, not our own code): seat map = a bare aiohttp server "
        f"(bench/bare.py; uvloop, no access log, no middleware) in {options.workers} process(es) "
        "sharing the port with SO_REUSEPORT, answering every GET with the status, body and "
        "headers of the service's anonymous seat map as the same request got it (plain, gzip, "
        "or the 304 of a revalidation; fetched from the service once) held in memory, driven "
        "by the same load generator with the same 64 connections, which reads bodies as sent "
        "(no decompression); the notes also give the seat "
        "map's query + orjson over plain asyncpg, no HTTP (the earlier baseline); hot = "
        "PL/pgSQL, each booking as two transactions of one PL/pgSQL call each (bound "
        "parameters, plans cached per connection, temporary functions; db_book_plpgsql), with "
        "the service's own SQL called through its Python and no HTTP (db_book_service: SQL "
        "cost) and the simple-query scripts below in the notes; spread = raw SQL, each booking "
        "as two transactions of one call each (one multi-statement "
        "simple-query message over plain asyncpg, no HTTP, no service code): hold = advisory "
        "lock on the showtime (hashtextextended(id, 727)), holds row upsert, seat_claims rows, "
        "showtimes.version + 1, pg_notify('seat_changes') with the held seats, commit; book = the "
        "same lock, reservations row priced as showtime price x seat type multiplier, its "
        "reservation_seats, the claims turned to the reservation, the emptied hold deleted, "
        "version + 1, pg_notify with the sold seats, commit; same clients, users and pool size "
        "per process as the service phase, with the same no-double-booking check afterwards; "
        "login = bcrypt.checkpw on 2 threads at the priority of the service's hashing threads "
        "(SCHED_IDLE), nothing else running; "
        f"seat map during the storm: an open loop at {LOGIN_STORM_MAP_RATE:g} req/s",
        "",
        "## Every run",
        "",
        *details,
        "",
    ]
    path.write_text("\n".join(lines))


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run, short phases: under 2 min")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--runs", type=int, help="runs (median taken); 3, or 1 with --quick")
    parser.add_argument("--duration", type=float, help="seconds per measured phase")
    parser.add_argument("--bcrypt-rounds", type=int, default=12)
    parser.add_argument("--pool-size", type=int, default=20, help="DB_POOL_MAX_SIZE per worker")
    parser.add_argument("--viewers", help="live viewers per phase, comma-separated")
    parser.add_argument("--load-processes", type=int, default=1, help="HTTP load processes")
    parser.add_argument("--expired-holds", type=int, help="expired holds for the sweeper")
    parser.add_argument(
        "--hot-clients", default="8,32,128", help="hot showtime client counts, comma-separated"
    )
    parser.add_argument(
        "--before-rev",
        default=before.BEFORE_REV,
        help="the revision scenario before compares with (main before email and prices)",
    )
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = [name for name in only if name not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    quick = bool(args.quick)
    viewers = args.viewers or ("1000" if quick else "1000,5000")
    extra_env = dict(item.split("=", 1) for item in args.env)
    return Options(
        quick=quick,
        only=only,
        workers=args.workers,
        runs=args.runs or (1 if quick else 3),
        duration=args.duration or (2.0 if quick else 8.0),
        warmup=0.5 if quick else 2.0,
        bcrypt_rounds=args.bcrypt_rounds,
        pool_size=args.pool_size,
        viewers=tuple(int(value) for value in viewers.split(",")),
        live_seconds=3.0 if quick else 15.0,
        change_rate=10.0,
        expired_holds=args.expired_holds or (5_000 if quick else 100_000),
        hot_clients=tuple(int(value) for value in args.hot_clients.split(",")),
        before_rev=args.before_rev,
        hot_bookings=250 if quick else 1_500,
        spread_bookings=600 if quick else 4_000,
        spread_clients=64,
        load_processes=args.load_processes,
        extra_env=extra_env,
        out=args.out,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    asyncio.run(Suite(options).run())
    return 0
