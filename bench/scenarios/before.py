"""Scenario "before": the hot showtime against the code as it was before a change, same run.

Issues 25 (prices) and 26 (email) each ask that the hot-showtime rows stay within 10% of the
figures measured before the change, in the same run: prices add a ticket type per seat, a
voucher and their reads to the booking's one call; email adds an outbox row to the booking's
transaction and a sender in every process. So this scenario runs main as it was just before
both were merged (BEFORE_REV, or `--before-rev`) from a git worktree under .data/bench, on a
database of its own migrated by that revision, next to today's code on this run's database,
and books the same way on both, phase after phase:

  before  BEFORE_REV's server; hold then book a pair, the default price      (the yardstick)
  plain   today's server, the same bookings                                  >= 0.9x before
  priced  today's server, each pair one adult and one child, and a voucher   >= 0.9x before
          (10% off, one code for every booking, its redemptions counted under the lock)

Both servers run with the same settings and worker count, with the same number of users, on
the same embedded PostgreSQL, each on a database made fresh for this scenario and migrated by
its own checkout (not the run's database, which holds every earlier scenario's rows). Emails
are captured (no SMTP_URL), so today's sender works as it would behind `make run`. Every phase
checks that no seat was booked twice.
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

from reservations.accounts.tokens import issue_token
from reservations.db import with_database

from ..data import BenchData, Theater
from ..procs import ROOT, Server
from ..report import Row

if TYPE_CHECKING:
    from ..suite import Suite

# main just before the email (issue 26) and prices (issue 25) branches were merged.
BEFORE_REV = "6e98e1d2aeb5454653f0a720f4ba23e639a911e4"
VOUCHER_CODE = "BENCH-TEN-PERCENT"
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


async def _phase(
    suite: Suite, server: Server, side: Side, clients: int, **booking: Any
) -> tuple[dict[str, Any], list[str]]:
    data, hall, tokens = side.data, side.hall, side.tokens
    bookings = suite.options.hot_bookings
    showtimes = math.ceil(bookings / len(hall.pairs()))
    ids, items = await suite.booking_items(hall, showtimes, bookings, data=data)
    result = await suite.run_phase(
        suite.book_specs(server, items, clients, tokens=tokens, **booking)
    )
    notes = await suite.check_bookings(None, ids, result["completed"], data)
    return result, notes + suite.error_note(f"{clients} clients", result)


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
            was, was_notes = await _phase(suite, old, before.was, clients)
            plain, plain_notes = await _phase(suite, new, before.now, clients)
            priced, priced_notes = await _phase(
                suite,
                new,
                before.now,
                clients,
                ticket_types=PRICED_TYPES,
                voucher_code=VOUCHER_CODE,
            )
            suite.add(
                Row(
                    f"hot showtime before email and prices ({label}), {clients} clients",
                    was["throughput"],
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
                        result["throughput"],
                        "bookings/s",
                        math.nan,
                        math.nan,
                        was["throughput"],
                        f"bookings/s {label}",
                        result["throughput"] / was["throughput"],
                        f">= 0.9x {label} (before email and prices), same run",
                        ("min", 0.9),
                        notes=notes,
                    )
                )
    finally:
        old.stop()
        new.stop()
