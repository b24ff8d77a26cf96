"""Scenario "before": the hot showtime against the code as it was before a change, same run.

Issues 25 (prices) and 26 (email) each ask that the hot-showtime rows stay within 10% of the
figures measured before the change, in the same run: prices add a ticket type per seat, a
voucher and their reads to the booking's one call; email adds an outbox row to the booking's
transaction and a sender in every process. So this scenario runs main as it was just before
both were merged (BEFORE_REV, or `--before-rev`) from a git worktree under .data/bench, on a
database of its own migrated by that revision, next to today's code on this run's database,
and books the same way on both, in three phases:

  before  BEFORE_REV's server; hold then book a pair, the default price      (the yardstick)
  plain   today's server, the same bookings                                  >= 0.9x before
  priced  today's server, each pair one adult and one child, and a voucher   >= 0.9x before
          (10% off, one code for every booking, its redemptions counted under the lock)

Both servers run with the same settings and worker count, with the same number of users, on
the same embedded PostgreSQL, each on a database made fresh for this scenario and migrated by
its own checkout (not the run's database, which holds every earlier scenario's rows). Emails
are captured (no SMTP_URL), so today's sender works as it would behind `make run`. Every phase
checks that no seat was booked twice.

The three phases of a clients count take turns: each books its share in TURNS slices, in an
order that rotates from turn to turn, and its throughput is its bookings over the time its
slices took. Run one after the other, the machine's slow and fast moments (it is shared)
decided the ratio as often as the code did. The notes give each phase's CPU per booking, of
the server's processes and of PostgreSQL's (the whole cluster, the other side idle), which
say where a difference comes from and vary less than the throughput.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import psutil

from reservations.accounts.tokens import issue_token
from reservations.db import with_database

from ..data import BenchData, Theater
from ..procs import ROOT, Server, cpu_seconds
from ..report import Row

if TYPE_CHECKING:
    from ..suite import Suite

# main just before the email (issue 26) and prices (issue 25) branches were merged.
BEFORE_REV = "6e98e1d2aeb5454653f0a720f4ba23e639a911e4"
VOUCHER_CODE = "BENCH-TEN-PERCENT"
# Each side books its share in this many slices, the sides taking turns (_take_turns).
TURNS = 5
PRICED_TYPES = ["adult", "child"]


@dataclass
class Side:
    """One side of the comparison: a checkout, a database that checkout migrated itself, made
    fresh for this scenario (the run's own database carries every earlier scenario's rows and
    queued emails, which the other side would not), its users and its hot hall."""

    root: Path
    name: str
    dsn: str
    conn: asyncpg.Connection
    data: BenchData
    hall: Theater
    tokens: list[str]


@dataclass
class Before:
    """BEFORE_REV's side and today's, made once per suite run."""

    rev: str
    was: Side
    now: Side


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


async def _side(suite: Suite, root: Path, label: str) -> Side:
    name = f"{suite.db_name}_{label}"
    admin = await asyncpg.connect(suite.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = with_database(suite.admin_dsn, name)
    migrated = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reservations",
        "migrate",
        cwd=root,
        env={**suite.server_env(), "DATABASE_URL": dsn},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await migrated.communicate()
    if migrated.returncode:
        raise RuntimeError(f"{root}'s migrate failed: {output.decode()[-2000:]}")
    conn = await asyncpg.connect(dsn)
    data = BenchData(conn)
    users = await data.users(len(suite.users), label)
    tokens = [issue_token(user, suite.jwt_secret, 24 * 3600) for user in users]
    hall = await data.theater(suite.hot_hall.rows, suite.hot_hall.columns)
    return Side(root, name, dsn, conn, data, hall, tokens)


async def prepare(suite: Suite) -> Before:
    """A worktree of the revision, and a fresh database for each side."""
    rev = _git("rev-parse", suite.options.before_rev)
    root = suite.log_dir.parent / f"before-{rev[:12]}"
    if not (root / "reservations").is_dir():
        _git("worktree", "add", "--force", "--detach", str(root), rev)
    was = await _side(suite, root, "before")
    now = await _side(suite, ROOT, "now")
    await now.conn.execute(
        """
        INSERT INTO vouchers (code, discount_percent, max_redemptions)
        VALUES ($1, 10, 1000000000) ON CONFLICT DO NOTHING
        """,
        VOUCHER_CODE,
    )
    return Before(rev, was, now)


async def close(suite: Suite, before: Before) -> None:
    admin = await asyncpg.connect(suite.admin_dsn)
    try:
        for side in (before.was, before.now):
            await side.conn.close()
            await admin.execute(f'DROP DATABASE IF EXISTS "{side.name}" WITH (FORCE)')
    finally:
        await admin.close()
    _git("worktree", "remove", "--force", str(before.was.root))


@dataclass
class Phase:
    """One side's share of a clients count: its server, its bookings (one hot showtime after
    another) and what its turns added up to."""

    server: Server
    side: Side
    booking: dict[str, Any]
    ids: list[Any]
    items: list[list[Any]]
    completed: int = 0
    elapsed: float = 0.0
    server_cpu: float = 0.0
    database_cpu: float = 0.0

    @property
    def throughput(self) -> float:
        return self.completed / max(self.elapsed, 1e-9)


async def _phase(suite: Suite, server: Server, side: Side, **booking: Any) -> Phase:
    bookings = suite.options.hot_bookings
    showtimes = math.ceil(bookings / len(side.hall.pairs()))
    ids, items = await suite.booking_items(side.hall, showtimes, bookings, data=side.data)
    return Phase(server, side, booking, ids, items)


async def _turn(suite: Suite, phase: Phase, clients: int, items: list[list[Any]]) -> list[str]:
    server, side = phase.server, phase.side
    server_cpu, database_cpu = server.cpu_seconds(), cpu_seconds(_postgres())
    result = await suite.run_phase(
        suite.book_specs(server, items, clients, tokens=side.tokens, **phase.booking)
    )
    phase.server_cpu += server.cpu_seconds() - server_cpu
    phase.database_cpu += cpu_seconds(_postgres()) - database_cpu
    phase.completed += result["completed"]
    phase.elapsed += result["elapsed"]
    return suite.error_note(f"{clients} clients", result)


async def _take_turns(suite: Suite, phases: list[Phase], clients: int) -> list[list[str]]:
    """Each phase's bookings in TURNS slices, the phases taking turns in a rotating order, so
    that the machine's slow and fast moments fall on every side alike: one phase after the
    other, a slow minute decided the ratio as often as the code did. The notes of each."""
    notes: list[list[str]] = [[] for _ in phases]
    for turn in range(TURNS):
        for offset in range(len(phases)):
            index = (turn + offset) % len(phases)
            phase = phases[index]
            size = math.ceil(len(phase.items) / TURNS)
            part = phase.items[turn * size : (turn + 1) * size]
            if part:
                notes[index] += await _turn(suite, phase, clients, part)
    for phase, phase_notes in zip(phases, notes, strict=True):
        phase_notes[:0] = await suite.check_bookings(
            None, phase.ids, phase.completed, phase.side.data
        )
        completed = max(phase.completed, 1)
        phase_notes.append(
            f"CPU per booking: server {phase.server_cpu / completed * 1e6:,.0f} us, "
            f"PostgreSQL {phase.database_cpu / completed * 1e6:,.0f} us"
        )
    return notes


def _postgres() -> list[psutil.Process]:
    """Every PostgreSQL process of the machine: the bench's cluster is the only one running."""
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


async def run(suite: Suite, run: int) -> None:
    if suite.before is None:
        suite.before = await prepare(suite)
    before = suite.before
    old, new = (
        Server(
            {**suite.server_env(), "DATABASE_URL": side.dsn},
            suite.options.workers,
            suite.log_dir,
            root=side.root,
        )
        for side in (before.was, before.now)
    )
    await old.start()
    await new.start()
    label = before.rev[:7]
    try:
        for clients in suite.options.hot_clients:
            phases = [
                await _phase(suite, old, before.was),
                await _phase(suite, new, before.now),
                await _phase(
                    suite,
                    new,
                    before.now,
                    ticket_types=PRICED_TYPES,
                    voucher_code=VOUCHER_CODE,
                ),
            ]
            was_notes, plain_notes, priced_notes = await _take_turns(suite, phases, clients)
            was, plain, priced = phases
            suite.add(
                Row(
                    f"hot showtime before email and prices ({label}), {clients} clients",
                    was.throughput,
                    "bookings/s",
                    target="the yardstick",
                    rule=("none", 0.0),
                    notes=was_notes,
                )
            )
            for name, result, notes in (
                ("plain bookings", plain, plain_notes),
                ("adult + child and a voucher", priced, priced_notes),
            ):
                suite.add(
                    Row(
                        f"hot showtime now, {name}, {clients} clients",
                        result.throughput,
                        "bookings/s",
                        math.nan,
                        math.nan,
                        was.throughput,
                        f"bookings/s {label}",
                        result.throughput / was.throughput,
                        f">= 0.9x {label} (before email and prices), same run",
                        ("min", 0.9),
                        notes=notes,
                    )
                )
    finally:
        old.stop()
        new.stop()
