"""Email: the transactional outbox, the sender in every process, the emails themselves and the
admin API over the outbox."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..context import DSN, METRICS, SETTINGS
from ..db import create_pool
from . import routes
from .render import Renderer
from .sender import CONCURRENCY, Sender

SENDER_CONNECTIONS = CONCURRENCY + 1  # one a delivery slot, and one to claim

SENDER = web.AppKey("mail_sender", Sender)


class _MailCollector(Collector):
    """The sender's counters and the outbox backlog, read at scrape time."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        sender = self.app.get(SENDER)
        if sender is None:
            return
        yield GaugeMetricFamily(
            "emails_queued", "Emails waiting in the outbox (all instances).", value=sender.queued
        )
        yield GaugeMetricFamily(
            "emails_oldest_queued_age_seconds",
            "Age of the oldest email waiting in the outbox (0 without any).",
            value=sender.oldest_queued_age,
        )
        for name, value, text in (
            ("emails_sent", sender.sent, "Emails the SMTP server accepted from this process."),
            ("emails_captured", sender.captured, "Emails kept without SMTP_URL by this process."),
            ("emails_failed", sender.failed, "Emails this process marked failed for good."),
            ("emails_retried", sender.retried, "Temporary failures queued again by this process."),
        ):
            yield CounterMetricFamily(name, text, value=value)


async def _sender_context(app: web.Application) -> AsyncIterator[None]:
    """The sender gets a small pool of its own: it never takes a connection a request is
    waiting for, and a request never waits behind a burst of emails."""
    settings = app[SETTINGS]
    sizes = dataclasses.replace(settings, db_pool_min_size=1, db_pool_max_size=SENDER_CONNECTIONS)
    pool = await create_pool(app[DSN], sizes, connect_now=False)  # the database may be down
    sender = Sender(pool, app[DSN], settings)
    app[SENDER] = sender
    sender.start(listen=False)  # the live listener's connection wakes it (live/__init__.py)
    yield
    await sender.stop()
    try:
        await asyncio.wait_for(pool.close(), timeout=10)
    except TimeoutError:
        pool.terminate()


def setup(app: web.Application) -> None:
    """The admin routes, the sender (started after the database pool, stopped before it
    closes) and its metrics."""
    routes.setup(app, Renderer(app[SETTINGS]))
    app[METRICS].registry.register(_MailCollector(app))
    app.cleanup_ctx.append(_sender_context)
