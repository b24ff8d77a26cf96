"""Scenario sweeper: 100,000 expired holds swept while the hot load runs at half its maximum: the load's p99
against its normal p99."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from ..procs import Worker
from ..report import Row, fmt

if TYPE_CHECKING:
    from ..suite import Suite

from . import hot


async def run(suite: Suite, run: int) -> None:
    options = suite.options
    clients = 32
    server = await suite.server()
    try:
        maximum = suite.maxima.get("hot32")
        if maximum is None:
            result, _ = await hot.hot_phase(suite, server, clients)
            maximum = result["throughput"]
        rate = maximum / 2
        normal = await hot.hot_latency(suite, server, clients, rate, options.duration)
        # 100,000 expired holds: 1,000 showtimes x 100 users, one seat each.
        holds_per_showtime = 100
        showtime_count = math.ceil(options.expired_holds / holds_per_showtime)
        showtimes = await suite.data.showtimes(suite.sweep_hall, showtime_count)
        made = time.monotonic()
        inserted = await suite.data.expired_holds(
            showtimes, suite.sweep_hall, suite.users[:holds_per_showtime]
        )
        # Holds pile up over time in real life, and autovacuum keeps the planner's statistics
        # up with them; made in one go here, they need an explicit ANALYZE to look the same.
        await suite.conn.execute("ANALYZE holds, seat_claims")
        made = time.monotonic() - made
        cap = 20.0 if options.quick else 180.0
        needed = int(rate * cap) + 1
        _, items = await suite.booking_items(
            suite.hot_hall, math.ceil(needed / len(suite.hot_hall.pairs())), needed
        )
        specs = suite.book_specs(server, items, clients, mode="open", rate=rate, duration=cap)
        workers = [Worker(spec, suite.log_dir) for spec in specs]
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
                left = await suite.conn.fetchval(
                    "SELECT count(*) FROM holds WHERE showtime_id = ANY($1::uuid[])", showtimes
                )
                if left == 0:
                    swept_at = time.monotonic()
                    break
                await asyncio.sleep(0.5)
            for worker in workers:
                worker.send(stop=True)
            during = suite.merge([await worker.result(within=120) for worker in workers])
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
    suite.add(
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
            notes=notes + suite.error_note("normal", normal) + suite.error_note("during", during),
        )
    )
