"""Scenario connect: CONNECT_VIEWERS live viewers of one showtime connect at the same moment (as when sales open);
each one's time from connecting to its snapshot, against bare aiohttp answering the same
handshakes with the same snapshot from memory."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from typing import TYPE_CHECKING, Any

from ..load import percentile
from ..procs import BareServer, Worker
from ..report import Row

if TYPE_CHECKING:
    from ..procs import Server
    from ..suite import Suite

CONNECT_VIEWERS = 5000  # live viewers connecting at the same moment
LOAD_PROCESSES = 2


async def _connect_all(
    suite: Suite, server: Server | BareServer, showtime_id: uuid.UUID
) -> dict[str, Any]:
    """CONNECT_VIEWERS viewers of the showtime's live map at once, from LOAD_PROCESSES processes: how many
    connected and failed, in how long, and each one's milliseconds to its snapshot."""
    workers: list[Worker] = suite.viewer_workers(
        server, showtime_id, CONNECT_VIEWERS, LOAD_PROCESSES, None, max_seconds=60
    )
    try:
        await asyncio.gather(*(worker.launch() for worker in workers))
        started = time.monotonic()
        ready = [await worker.ready(within=300) for worker in workers]
        seconds = time.monotonic() - started
        for worker in workers:
            worker.send(stop=True)
        results = [await worker.result(within=120) for worker in workers]
    finally:
        for worker in workers:
            await worker.close()
    return {
        "connected": sum(event["ready"] for event in ready),
        "failed": sum(event["failed"] for event in ready),
        "seconds": seconds,
        "times": [value for result in results for value in result["snapshot_ms"]],
    }


async def run(suite: Suite, run: int) -> None:
    """CONNECT_VIEWERS live viewers of one showtime connect at the same moment (as when
    sales open); each one's time from connecting to its snapshot. Then the baseline: bare
    aiohttp in as many processes as the server has workers, answering the same handshakes
    with the snapshot the service sent, from memory (bench/bare.py), same load."""
    (showtime_id,) = await suite.data.showtimes(suite.map_hall, 1)
    server = await suite.server()
    try:
        snapshot = await suite.warm_live(server, showtime_id)
        measured = await _connect_all(suite, server, showtime_id)
    finally:
        server.stop()
    bare = BareServer(
        {"status": 200, "body_base64": "", "headers": {}, "websocket_message": snapshot},
        suite.options.workers,
        suite.log_dir,
    )
    try:
        await bare.start()
        await asyncio.sleep(1.0)  # as warm_live leaves the server
        baseline = await _connect_all(suite, bare, showtime_id)
    finally:
        bare.stop()
    times = measured["times"]
    p99 = percentile(times, 99)
    baseline_p99 = percentile(baseline["times"], 99)
    suite.add(
        Row(
            f"live map, {CONNECT_VIEWERS:,} viewers connecting at once",
            measured["connected"] / max(measured["seconds"], 1e-9),
            "viewers/s",
            percentile(times, 50),
            p99,
            baseline=baseline_p99,
            baseline_unit="ms p99 bare aiohttp",
            ratio=baseline_p99 / p99 if p99 else math.nan,
            target="p99 < 1,000 ms (connect -> snapshot)",
            rule=("max", 1000),
            judged="p99",
            notes=[
                f"{measured['connected']} connected ({measured['failed']} failed) in "
                f"{measured['seconds']:.1f}s; slowest {max(times, default=math.nan):,.0f} ms; "
                f"in {LOAD_PROCESSES} load processes",
                f"bare aiohttp, the same handshakes and snapshot ({len(snapshot):,} bytes) from "
                f"memory: {baseline['connected']} connected ({baseline['failed']} failed) in "
                f"{baseline['seconds']:.1f}s, p50 {percentile(baseline['times'], 50):,.0f} ms, "
                f"p99 {baseline_p99:,.0f} ms",
            ],
        )
    )
