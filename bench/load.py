"""Load loops and statistics, shared by the load-generator processes (bench/worker.py).

* `closed_loop`: N clients, each sending its next request when the last one is answered. Used for
  maximum throughput only: a closed loop waits for the server and so hides slow periods.
* `open_loop`: requests scheduled at a fixed rate, whatever the server does; each latency is
  measured from the request's *scheduled* send time, so a stall delays (and counts against) every
  request scheduled during it (no coordinated omission).

Times are `time.monotonic()` (CLOCK_MONOTONIC, one clock for every process of the machine), so
a time taken in one process can be compared with one taken in another.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Never more than this many requests of an open loop in flight: beyond it a scheduled request is
# counted as failed ("overflow") instead of sent, so a stalled server cannot exhaust the client.
MAX_OUTSTANDING = 5000
# An open or closed loop waits at most this long for its last answers once its time is up.
DRAIN_SECONDS = 30.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    return {
        "count": len(latencies_ms),
        "p50": percentile(latencies_ms, 50),
        "p90": percentile(latencies_ms, 90),
        "p99": percentile(latencies_ms, 99),
        "max": max(latencies_ms) if latencies_ms else math.nan,
    }


@dataclass
class LoopResult:
    completed: int = 0  # requests (or operations) answered successfully
    errors: int = 0  # answered with an unexpected status, or failed
    overflow: int = 0  # open loop only: not sent because MAX_OUTSTANDING were in flight
    started: float = 0.0
    finished: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    # open loop only: the latencies of requests sent `settle` seconds or more after the start
    settled_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return max(self.finished - self.started, 1e-9)

    def as_dict(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "errors": self.errors,
            "overflow": self.overflow,
            "started": self.started,
            "finished": self.finished,
            "elapsed": self.elapsed,
            "throughput": self.completed / self.elapsed,
            "latencies_ms": self.latencies_ms,
            "settled_ms": self.settled_ms,
            "statuses": self.statuses,
        }


class NoMoreWork(Exception):
    """Raised by an operation when its work list is exhausted: the client stops."""


# An operation: does one unit of work for client `index`; returns an error label or None.
Operation = Callable[[int], Awaitable[str | None]]


async def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def closed_loop(
    operation: Operation,
    clients: int,
    start_at: float,
    duration: float,
    warmup: float = 0.0,
    stop: asyncio.Event | None = None,
) -> LoopResult:
    """`clients` loops sending back to back from `start_at` until `start_at + warmup + duration`
    (or until the work runs out). Counted: the answers that arrive after the warm-up and before
    the deadline; throughput is their number over that window (cut short if the work ran out),
    so neither the ramp-up nor the drain of the last requests dilutes it."""
    result = LoopResult()
    measure_from = start_at + warmup
    deadline = measure_from + duration
    last_answer = measure_from

    async def client(index: int) -> None:
        nonlocal last_answer
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            began = time.monotonic()
            try:
                error = await operation(index)
            except NoMoreWork:
                return
            except Exception as exc:  # noqa: BLE001 - counted, the loop goes on
                error = type(exc).__name__
            done = time.monotonic()
            if done < measure_from or done > deadline:
                continue
            last_answer = max(last_answer, done)
            if error is None:
                result.completed += 1
                result.latencies_ms.append((done - began) * 1000)
            else:
                result.errors += 1
                result.statuses[error] = result.statuses.get(error, 0) + 1

    await sleep_until(start_at)
    tasks = [asyncio.create_task(client(index)) for index in range(clients)]
    await asyncio.wait(tasks, timeout=duration + warmup + DRAIN_SECONDS)
    for task in tasks:
        task.cancel()
    result.started = measure_from
    ended = time.monotonic()
    # Every client ended before the deadline: the work ran out at the last answer.
    result.finished = deadline if ended >= deadline else last_answer
    return result


async def open_loop(
    operation: Operation,
    rate: float,
    start_at: float,
    duration: float,
    max_requests: int | None = None,
    stop: asyncio.Event | None = None,
    settle: float = 0.0,
) -> LoopResult:
    """Send at `rate` per second from `start_at` for `duration` seconds (at most `max_requests`);
    latency from each request's scheduled time to its answer (in `settled_ms` too for those
    sent `settle` seconds or more after the start)."""
    result = LoopResult()
    count = int(rate * duration)
    if max_requests is not None:
        count = min(count, max_requests)
    interval = 1.0 / rate
    in_flight: set[asyncio.Task[None]] = set()
    await sleep_until(start_at)
    result.started = start_at

    async def one(index: int, scheduled: float) -> None:
        try:
            error = await operation(index)
        except NoMoreWork:
            error = "no_more_work"
        except Exception as exc:  # noqa: BLE001 - counted
            error = type(exc).__name__
        if error is None:
            result.completed += 1
            latency_ms = (time.monotonic() - scheduled) * 1000
            result.latencies_ms.append(latency_ms)
            if scheduled - start_at >= settle:
                result.settled_ms.append(latency_ms)
        else:
            result.errors += 1
            result.statuses[error] = result.statuses.get(error, 0) + 1

    for index in range(count):
        scheduled = start_at + index * interval
        await sleep_until(scheduled)
        if stop is not None and stop.is_set():
            break
        if len(in_flight) >= MAX_OUTSTANDING:
            result.overflow += 1
            continue
        task = asyncio.create_task(one(index, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(set(in_flight), timeout=DRAIN_SECONDS)
    for task in list(in_flight):
        task.cancel()
    result.finished = time.monotonic()
    return result
