"""Running the service: one process, or N processes sharing the port with SO_REUSEPORT."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .app import create_app
from .db import migrate, resolve_dsn
from .errors import error_response, from_protocol_error
from .logs import configure_logging
from .settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_SECONDS = 15
KEEPALIVE_TIMEOUT_SECONDS = 75


class ShapedErrorRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what aiohttp answers by itself (a request it
    cannot parse, an error that escaped every middleware) in the service's error shape
    rather than as text/plain. aiohttp has no hook for these answers (aio-libs/aiohttp#3287);
    `handle_error` is the method that makes them."""

    __slots__ = ()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own first: it logs, and refuses if part of an answer has already gone out.
        super().handle_error(request, status, exc, message)
        response = error_response(from_protocol_error(status, exc), uuid.uuid4().hex)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.force_close()
        return response


class ShapedErrorServer(web.Server):
    """aiohttp's low-level server, making `ShapedErrorRequestHandler`s for its connections."""

    def __call__(self) -> RequestHandler:
        handler = super().__call__()
        # The subclass adds no state (empty __slots__), so the built handler can become one.
        handler.__class__ = ShapedErrorRequestHandler
        return handler


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - optional speed-up
        return None
    return uvloop.new_event_loop


async def _serve_app(app: web.Application, host: str, port: int, reuse_port: bool) -> None:
    """What `web.run_app` does, with the runner's server made a `ShapedErrorServer`: serve
    until SIGTERM or SIGINT, then stop accepting, let in-flight requests finish (at most
    SHUTDOWN_TIMEOUT_SECONDS) and run the app's cleanup."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    await runner.setup()
    try:
        assert runner.server is not None
        # AppRunner builds the server with every setting (handler_args included); only the
        # class of the connection handlers it makes changes.
        runner.server.__class__ = ShapedErrorServer
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        log.info("======== Running on %s ========", site.name)
        await stop.wait()
    finally:
        await runner.cleanup()


def hashing_threads(workers: int, cores: int | None = None) -> int:
    """bcrypt threads per worker: one a core in all (at least one each). More would only take
    turns with the event loops for the same cores; measured in bench/ (login storm)."""
    return max(1, (cores or os.cpu_count() or 1) // workers)


def _run_worker(settings: Settings, dsn: str, host: str, port: int, reuse_port: bool) -> None:
    configure_logging(settings)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(_serve_app(create_app(settings, dsn), host, port, reuse_port))


def serve(
    settings: Settings, host: str | None = None, port: int | None = None, workers: int = 1
) -> int:
    settings = settings.with_jwt_secret()
    host = host or settings.host
    port = settings.port if port is None else port
    if workers < 1:
        print("reservations: --workers must be at least 1", file=sys.stderr)
        return 2
    if not settings.hashing_threads:
        settings = dataclasses.replace(settings, hashing_threads=hashing_threads(workers))
    dsn, embedded = resolve_dsn(settings)
    try:
        if embedded is not None:
            # The embedded demo keeps itself current; with DATABASE_URL run `reservations migrate`.
            migrate(dsn)
        if workers == 1:
            _run_worker(settings, dsn, host, port, reuse_port=False)
            return 0
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(
                target=_run_worker, args=(settings, dsn, host, port, True), daemon=False
            )
            for _ in range(workers)
        ]
        for process in processes:
            process.start()

        def forward(signum: int, _frame: object) -> None:
            for process in processes:
                if process.pid and process.is_alive():
                    os.kill(process.pid, signal.SIGTERM)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        for process in processes:
            process.join()
        return max((process.exitcode or 0) for process in processes)
    finally:
        if embedded is not None:
            embedded.stop()
