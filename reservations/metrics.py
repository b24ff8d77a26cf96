"""Prometheus metrics at /metrics: requests by route and status, booking events, the sweeper,
live viewers and the database pool.

Each application has its own registry (tests run several apps in one process). Figures that
other parts already keep (sweeper counters, hub viewers, pool sizes) are read at scrape time
rather than copied.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from aiohttp_apispec import docs
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .context import HUB, METRICS, PASSWORDS, POOL, SWEEPER

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The counters a request handler bumps: `request.app[METRICS].holds.inc()`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # (route, method, status) -> the labelled request counter and latency histogram
        self.request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
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
    metrics = request.app[METRICS]
    key = (_route_name(request), request.method, status)
    children = metrics.request_children.get(key)
    if children is None:  # labels() locks and hashes strings: once per route, method, status
        route, method, _ = key
        children = (
            metrics.requests.labels(route, method, str(status)),
            metrics.latency.labels(route, method),
        )
        metrics.request_children[key] = children
    children[0].inc()
    children[1].observe(time.perf_counter() - started)


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
