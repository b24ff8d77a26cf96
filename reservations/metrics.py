"""Prometheus metrics at /metrics: requests by route and status, booking events, the sweeper,
live viewers and the database pool.

Each application has its own registry (tests run several apps in one process). Figures that
other parts already keep (sweeper counters, hub viewers, pool sizes) are read at scrape time
rather than copied.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from .context import HUB, METRICS, PASSWORDS, POOL, SWEEPER

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The counters a request handler bumps: `request.app[METRICS].holds.inc()`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = RequestStats()
        self.registry.register(self.requests)
        self.holds = Counter(
            "seat_holds", "Successful lock-seats requests.", registry=self.registry
        )
        self.held_seats = Counter("seats_held", "Seats put on hold.", registry=self.registry)
        self.reservations = Counter(
            "reservations", "Reservations confirmed.", registry=self.registry
        )
        self.cancellations = Counter(
            "reservation_cancellations",
            "Reservations cancelled.",
            ("reason",),
            registry=self.registry,
        )
        self.pool_waits = Histogram(
            "db_pool_acquire_seconds",
            "Time spent waiting for a database connection.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestStats(Collector):
    """Requests answered and their latency, by route pattern, method and status: plain counts
    bumped per request and turned into `http_requests` and `http_request_duration_seconds` at
    scrape time. prometheus_client's labelled Counter and Histogram take a lock and walk the
    buckets on every request, about 6 us: as much as a tenth of serving a cached seat map."""

    def __init__(self) -> None:
        # (route, method, status) -> [count, seconds in all, count per bucket (and +Inf)]
        self.stats: dict[tuple[str, str, int], list[Any]] = {}

    def add(self, key: tuple[str, str, int], seconds: float) -> None:
        entry = self.stats.get(key)
        if entry is None:
            entry = self.stats[key] = [0, 0.0, [0] * (len(LATENCY_BUCKETS) + 1)]
        entry[0] += 1
        entry[1] += seconds
        entry[2][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        requests = CounterMetricFamily(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status.",
            labels=["route", "method", "status"],
        )
        by_route: dict[tuple[str, str], list[Any]] = {}
        for (route, method, status), (count, seconds, buckets) in list(self.stats.items()):
            requests.add_metric([route, method, str(status)], count)
            total = by_route.setdefault((route, method), [0.0, [0] * len(buckets)])
            total[0] += seconds
            total[1] = [a + b for a, b in zip(total[1], buckets, strict=True)]
        yield requests
        latency = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern and method.",
            labels=["route", "method"],
        )
        for (route, method), (seconds, buckets) in by_route.items():
            cumulative, running = [], 0
            for bound, count in zip([*map(str, LATENCY_BUCKETS), "+Inf"], buckets, strict=True):
                running += count
                cumulative.append((bound, running))
            latency.add_metric([route, method], cumulative, seconds)
        yield latency


class _StateCollector(Collector):
    """Reads the sweeper, the hub and the pool at scrape time."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        pool = self.app.get(POOL)
        if pool is not None:
            size = GaugeMetricFamily(
                "db_pool_connections", "Connections in the pool.", labels=["state"]
            )
            size.add_metric(["open"], pool.get_size())
            size.add_metric(["idle"], pool.get_idle_size())
            size.add_metric(["max"], pool.get_max_size())
            yield size
        sweeper = self.app.get(SWEEPER)
        if sweeper is not None:
            yield CounterMetricFamily(
                "sweeper_runs", "Sweeper ticks.", value=getattr(sweeper, "runs", 0)
            )
            yield CounterMetricFamily(
                "sweeper_freed_seats",
                "Seats freed by the sweeper.",
                value=getattr(sweeper, "freed_seats", 0),
            )
            yield CounterMetricFamily(
                "sweeper_errors", "Sweeper ticks that failed.", value=getattr(sweeper, "errors", 0)
            )
        hasher = self.app.get(PASSWORDS)
        if hasher is not None:
            yield CounterMetricFamily(
                "password_checks",
                "Passwords checked against a hash (bcrypt), decoys for unknown emails included.",
                value=hasher.checks,
            )
        hub = self.app.get(HUB)
        if hub is not None:
            yield GaugeMetricFamily(
                "live_viewers", "Open live seat-map WebSockets.", value=hub.viewer_count()
            )


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def make_metrics_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def metrics_middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        count_request(request, response.status, started)
        return response

    return metrics_middleware


def count_request(request: web.Request, status: int, started: float) -> None:
    """One answered request in the metrics (`started`: its time.perf_counter())."""
    request.app[METRICS].requests.add(
        (_route_name(request), request.method, status), time.perf_counter() - started
    )


@docs(
    tags=["service"],
    summary="Prometheus metrics",
    description="The Prometheus text format (version 0.0.4): requests by route and status, "
    "booking events, the sweeper, live viewers and the database pool.",
    produces=["text/plain"],
    responses={200: {"description": "The metrics, in the Prometheus text format"}},
)
async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[METRICS].render(),
        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
    )


def setup(app: web.Application) -> Metrics:
    metrics = Metrics()
    metrics.registry.register(_StateCollector(app))
    app[METRICS] = metrics
    app.router.add_get("/metrics", metrics_handler)
    return metrics
