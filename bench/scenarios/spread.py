"""Scenario spread: Bookings spread over 1,000 showtimes, 64 clients, against the raw SQL."""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any

from ..report import Row

if TYPE_CHECKING:
    from ..suite import Suite


async def spread_items(suite: Suite, count: int) -> tuple[list[uuid.UUID], list[list[Any]]]:
    """1,000 fresh showtimes over the ten spread halls and `count` random pairs of them."""
    ids: list[uuid.UUID] = []
    items: list[list[Any]] = []
    per_hall = 100
    for hall in suite.spread_halls:
        showtimes = await suite.data.showtimes(hall, per_hall)
        ids.extend(showtimes)
        pairs = hall.pairs()
        for showtime_id in showtimes:
            items.extend([str(showtime_id), [str(seat) for seat in pair]] for pair in pairs)
    random.shuffle(items)
    return ids, items[:count]


async def run(suite: Suite, run: int) -> None:
    options = suite.options
    clients = options.spread_clients
    server = await suite.server()
    try:
        ids, items = await spread_items(suite, options.spread_bookings)
        await suite.ensure_analyzed()
        service = await suite.run_phase(suite.book_specs(server, items, clients))
        notes = await suite.check_bookings(server, ids, service["completed"])
        ids, items = await spread_items(suite, options.spread_bookings)
        baseline = await suite.run_phase(suite.db_book_specs(items, clients))
        notes += await suite.check_bookings(None, ids, baseline["completed"])
        rate = service["throughput"] / 2
        _, items = await spread_items(suite, int(rate * options.duration) + 1)
        latency = await suite.run_phase(
            suite.book_specs(
                server, items, clients, mode="open", rate=rate, duration=options.duration
            )
        )
    finally:
        server.stop()
    suite.add(
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
            + suite.error_note("max", service)
            + suite.error_note("baseline", baseline)
            + suite.error_note("latency", latency),
        )
    )
