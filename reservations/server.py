"""Running the service: one process, or N processes sharing the port with SO_REUSEPORT."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from multiprocessing.connection import wait

from aiohttp import web

from .app import create_app
from .db import migrate, resolve_dsn
from .settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_SECONDS = 15
# A worker that dies is started again; one that dies this often in this many seconds will not
# come up by itself (a bad port, a broken install): the parent stops the others and exits 1.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60


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
        return _supervise(settings, dsn, host, port, workers)
    finally:
        if embedded is not None:
            embedded.stop()


def _supervise(settings: Settings, dsn: str, host: str, port: int, workers: int) -> int:
    """Run `workers` processes on one port until SIGTERM or SIGINT, starting again any that
    dies meanwhile; 0 after a clean stop, 1 when workers keep dying (see MAX_RESTARTS)."""
    context = multiprocessing.get_context("spawn")

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_run_worker, args=(settings, dsn, host, port, True), daemon=False
        )
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    stopping = False
    gave_up = False
    restarts: deque[float] = deque()
    signalled: set[int] = set()

    def stop_all() -> None:
        """SIGTERM, once, to each worker (a second one would cut its graceful stop short)."""
        for process in processes:
            if process.pid and process.pid not in signalled and process.is_alive():
                signalled.add(process.pid)
                os.kill(process.pid, signal.SIGTERM)

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        stop_all()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while any(process.is_alive() for process in processes):
        wait([process.sentinel for process in processes if process.is_alive()], timeout=1.0)
        if stopping or gave_up:
            stop_all()  # also any worker started just before the signal came
            continue
        for index, process in enumerate(processes):
            if process.is_alive():
                continue
            now = time.monotonic()
            while restarts and restarts[0] < now - RESTART_WINDOW_SECONDS:
                restarts.popleft()
            if len(restarts) >= MAX_RESTARTS:
                log.critical(
                    "worker %s exited with %s, %d workers died in %d s: stopping",
                    process.pid,
                    process.exitcode,
                    len(restarts) + 1,
                    RESTART_WINDOW_SECONDS,
                )
                gave_up = True
                stop_all()
                break
            restarts.append(now)
            log.error("worker %s exited with %s; starting another", process.pid, process.exitcode)
            processes[index] = start()
    if gave_up:
        return 1
    return max((process.exitcode or 0) for process in processes)
