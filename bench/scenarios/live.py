"""Scenario live: 1,000 and 5,000 viewers of one showtime while seats change 10 times a second: the time from
a hold's answer to its last viewer, and the server's memory per viewer."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any

from ..load import percentile
from ..procs import Worker, run_together
from ..report import Row

if TYPE_CHECKING:
    from ..suite import Suite


async def live_phase(suite: Suite, viewers: int) -> None:
    options = suite.options
    (showtime_id,) = await suite.data.showtimes(suite.map_hall, 1)
    changes = min(int(options.change_rate * options.live_seconds), 280)
    seats = [str(seat) for seat in suite.map_hall.seat_ids[:changes]]
    server = await suite.server()
    workers: list[Worker] = []
    try:
        await suite.warm_live(server, showtime_id)
        rss_before = server.rss()
        processes = 1 if viewers <= 1000 else 2
        workers = suite.viewer_workers(server, showtime_id, viewers, processes, 50, max_seconds=300)
        for worker in workers:
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
                suite.http_spec(
                    server,
                    "changer",
                    showtime_id=str(showtime_id),
                    seats=seats,
                    tokens=suite.tokens[:64],
                    rate=options.change_rate,
                    duration=len(seats) / options.change_rate + 1,
                    connections=4,
                )
            ],
            suite.log_dir,
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
    notes += suite.error_note("changer", changer)
    if changer.get("errors"):
        notes.append(f"changer statuses {changer['statuses']}")
    target_ms = 50 if viewers <= 1000 else 250
    suite.add(
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
    suite.add(
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


async def run(suite: Suite, run: int) -> None:
    for viewers in suite.options.viewers:
        await live_phase(suite, viewers)
