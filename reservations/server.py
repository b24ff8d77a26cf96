"""Running the service: one process, or N processes sharing the port with SO_REUSEPORT."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import sys

from aiohttp import web

from .app import create_app
from .db import migrate, resolve_dsn
from .settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_SECONDS = 15


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - optional speed-up
        return
    uvloop.install()


def hashing_threads(workers: int, cores: int | None = None) -> int:
    """bcrypt threads per worker: one a core in all (at least one each). More would only take
    turns with the event loops for the same cores; measured in bench/ (login storm)."""
    return max(1, (cores or os.cpu_count() or 1) // workers)


def _run_worker(settings: Settings, dsn: str, host: str, port: int, reuse_port: bool) -> None:
    from .logs import configure_logging

    configure_logging(settings)
    _install_uvloop()
    app = create_app(settings, dsn)
    web.run_app(
        app,
        host=host,
        port=port,
        reuse_port=reuse_port,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        access_log=None,
        print=lambda message: log.info("%s", message.strip()),
    )


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
