"""Scenario connect: CONNECT_VIEWERS live viewers of one showtime connect at the same moment (as when sales open);
each one's time from connecting to its snapshot."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from ..load import percentile
from ..procs import Worker
from ..report import Row

if TYPE_CHECKING:
    from ..suite import Suite

CONNECT_VIEWERS = 5000  # live viewers connecting at the same moment


async def run(suite: Suite, run: int) -> None:
    """CONNECT_VIEWERS live viewers of one showtime connect at the same moment (as when
    sales open); each one's time from connecting to its snapshot."""
    (showtime_id,) = await suite.data.showtimes(suite.map_hall, 1)
    server = await suite.server()
    workers: list[Worker] = []
    try:
        await suite.warm_live(server, showtime_id)
        processes = 2
        workers = suite.viewer_workers(
            server, showtime_id, CONNECT_VIEWERS, processes, None, max_seconds=60
        )
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
    suite.add(
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
