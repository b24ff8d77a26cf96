"""Scenario hot: 8 / 32 / 128 clients hold and book seats of one showtime, against the physics (one PL/pgSQL call
a transaction, plans cached) and, in the notes, the service's own SQL without HTTP."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..procs import Server
from ..report import Row

if TYPE_CHECKING:
    from ..suite import Suite


async def hot_phase(suite: Suite, server: Server, clients: int) -> tuple[dict[str, Any], list[str]]:
    bookings = suite.options.hot_bookings
    showtimes = math.ceil(bookings / len(suite.hot_hall.pairs()))
    ids, items = await suite.booking_items(suite.hot_hall, showtimes, bookings)
    result = await suite.run_phase(suite.book_specs(server, items, clients))
    notes = await suite.check_bookings(server, ids, result["completed"])
    return result, notes + suite.error_note(f"{clients} clients", result)


async def hot_baseline(
    suite: Suite, clients: int, kind: str = "db_book_raw"
) -> tuple[dict[str, Any], list[str]]:
    bookings = suite.options.hot_bookings
    showtimes = math.ceil(bookings / len(suite.hot_hall.pairs()))
    ids, items = await suite.booking_items(suite.hot_hall, showtimes, bookings)
    result = await suite.run_phase(suite.db_book_specs(items, clients, kind))
    notes = await suite.check_bookings(None, ids, result["completed"])
    return result, notes + suite.error_note(f"{kind} {clients}", result)


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
    suite: Suite, server: Server, clients: int, rate: float, duration: float
) -> dict[str, Any]:
    needed = int(rate * duration) + 1
    showtimes = math.ceil(needed / len(suite.hot_hall.pairs()))
    _, items = await suite.booking_items(suite.hot_hall, showtimes, needed)
    return await suite.run_phase(
        suite.book_specs(server, items, clients, mode="open", rate=rate, duration=duration)
    )


async def run(suite: Suite, run: int) -> None:
    options = suite.options
    server = await suite.server()
    maxima: dict[int, float] = {}
    base_maxima: dict[int, float] = {}
    try:
        for clients in options.hot_clients:
            service, notes = await hot_phase(suite, server, clients)
            # The physics (issue 28 item 10): one PL/pgSQL call a transaction, plans cached.
            baseline, base_notes = await hot_baseline(suite, clients, "db_book_plpgsql")
            # For the split: the simple-query scripts (the old baseline), and the service's
            # own SQL called through its Python, no HTTP (SQL cost vs HTTP cost).
            simple, simple_notes = await hot_baseline(suite, clients, "db_book_raw")
            direct, direct_notes = await hot_baseline(suite, clients, "db_book_service")
            base_notes += (
                simple_notes + direct_notes + split_notes(service, direct, simple, baseline)
            )
            rate = service["throughput"] / 2
            latency: dict[str, Any] = {"p50": math.nan, "p99": math.nan, "errors": 0}
            if not options.quick or clients == 32:  # quick: one latency phase, at 32
                latency = await hot_latency(suite, server, clients, rate, options.duration)
            maxima[clients] = service["throughput"]
            base_maxima[clients] = baseline["throughput"]
            judged = clients >= 32  # the 8-client row shows the ratio; 32 and 128 are judged
            suite.add(
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
                    notes=notes + base_notes + suite.error_note("latency", latency),
                )
            )
    finally:
        server.stop()
    if 32 in maxima:
        suite.maxima["hot32"] = maxima[32]
    low, high = min(options.hot_clients), max(options.hot_clients)
    if low in maxima and high in maxima and low != high:
        # More clients on one showtime queue for its lock, and even the raw SQL books fewer
        # a second with 128 queued than with 8 (wake-ups, a longer queue to hand the lock
        # down). Judged: the service's throughput keeps up with that physics, i.e. falls
        # from `low` to `high` clients no more than the raw SQL's does.
        ours = maxima[high] / maxima[low]
        physics = base_maxima[high] / base_maxima[low]
        suite.add(
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
