"""Running the service: one process, or N processes sharing the port with SO_REUSEPORT."""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import gc
import logging
import multiprocessing
import os
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .accounts.passwords import stop_hashing
from .app import create_app, ticket_signer
from .db import migrate, resolve_dsn
from .errors import error_response, from_protocol_error
from .logs import configure_logging
from .seed import ADMIN_EMAIL, demo_admin_password_works
from .settings import Settings

log = logging.getLogger(__name__)

KEEPALIVE_TIMEOUT_SECONDS = 75
# Connections waiting to be accepted, per listening socket (the kernel caps it at somaxconn).
# aiohttp's 128 drops the SYNs of a crowd arriving at once (sales opening: thousands of phones
# open the seat map together), and each dropped one waits a second or more to try again.
LISTEN_BACKLOG = 4096
# The garbage collector's thresholds in a serving process (Python's default: 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 20)
# After SHUTDOWN_TIMEOUT_SECONDS for requests, the app's cleanup may take this long (closing the
# pool); a worker still running past both is killed.
CLEANUP_SECONDS = 10
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PARENT_CHECK_SECONDS = 1.0
# A worker that dies is started again; one that dies this often in this many seconds will not
# come up by itself (a bad port, a broken install): the parent stops the others and exits 1.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60


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


async def _serve_app(
    app: web.Application,
    host: str,
    port: int,
    reuse_port: bool,
    shutdown_timeout: float,
    parent_pid: int | None = None,
) -> None:
    """What `web.run_app` does, with the runner's server made a `ShapedErrorServer`: serve
    until SIGTERM or SIGINT (or, for a worker, until its parent `parent_pid` is gone), then
    stop accepting, let in-flight requests finish (at most `shutdown_timeout` seconds) and run
    the app's cleanup."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watching = None
    if parent_pid is not None:
        watching = asyncio.create_task(_watch_parent(parent_pid, stop))
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    # What startup made (modules, routes, the API spec, templates) lives as long as the process:
    # frozen, no collection walks it again. And young collections come every GC_THRESHOLDS[0]
    # new objects rather than 700: 5,000 viewers connecting at once spent about a third of
    # their time in the collector (p99 1.4 s; 0.84 s with it off, 1.0 s with these).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        assert runner.server is not None
        # AppRunner builds the server with every setting (handler_args included); only the
        # class of the connection handlers it makes changes.
        runner.server.__class__ = ShapedErrorServer
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=LISTEN_BACKLOG)
        await site.start()
        log.info("======== Running on %s ========", site.name)
        await stop.wait()
    finally:
        if watching is not None:
            watching.cancel()
        await runner.cleanup()


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Stop when the parent is gone (killed outright, it could not stop its workers): the
    portable twin of PR_SET_PDEATHSIG, and the cover for a parent that died before it was set."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            log.warning("the supervising process %s is gone: stopping", parent_pid)
            stop.set()
            return
        await asyncio.sleep(PARENT_CHECK_SECONDS)


def _die_with_parent() -> None:
    """Linux: have the kernel send SIGTERM to this worker when its parent dies, whatever kills
    it (SIGKILL included), so that no worker is left serving without a supervisor."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: _watch_parent covers it
        pass


def hashing_processes(workers: int, cores: int | None = None) -> int:
    """Hashing processes per worker: one a core in all (at least one each). More would only take
    turns with the event loops for the same cores; measured in bench/ (login storm)."""
    return max(1, (cores or os.cpu_count() or 1) // workers)


def _run_worker(
    settings: Settings,
    dsn: str,
    host: str,
    port: int,
    reuse_port: bool,
    parent_pid: int | None = None,
) -> None:
    if parent_pid is not None:
        _die_with_parent()
    configure_logging(settings)
    app = create_app(settings, dsn)
    serving = _serve_app(app, host, port, reuse_port, settings.shutdown_timeout_seconds, parent_pid)
    try:
        with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
            runner.run(serving)
    finally:
        stop_hashing()


def _warn_of_demo_admin(dsn: str) -> None:
    """On a real database (DATABASE_URL), say it loudly while the seeded demo admin still has
    the password the README publishes."""
    try:
        works = asyncio.run(demo_admin_password_works(dsn))
    except Exception as exc:  # noqa: BLE001 - a database away now is the workers' to handle
        log.warning("could not check the demo admin's password: %r", exc)
        return
    if works:
        message = (
            f"WARNING: the demo admin {ADMIN_EMAIL} still has the published demo password: "
            f"anyone can log in as an admin. Change it: reservations create-admin --email "
            f"{ADMIN_EMAIL} --password-stdin (or remove the account)."
        )
        print(message, file=sys.stderr, flush=True)
        log.warning("the demo admin %s still has the published demo password", ADMIN_EMAIL)


def serve(
    settings: Settings, host: str | None = None, port: int | None = None, workers: int = 1
) -> int:
    settings = settings.with_jwt_secret()
    ticket_signer(settings)  # a bad TICKET_SIGNING_KEYS stops the start; workers share the keys
    host = host or settings.host
    port = settings.port if port is None else port
    if workers < 1:
        print("reservations: --workers must be at least 1", file=sys.stderr)
        return 2
    if not settings.hashing_processes:
        settings = dataclasses.replace(settings, hashing_processes=hashing_processes(workers))
    dsn, embedded = resolve_dsn(settings)
    try:
        if embedded is not None:
            # The embedded demo keeps itself current; with DATABASE_URL run `reservations migrate`.
            migrate(dsn)
        else:
            _warn_of_demo_admin(dsn)
        if workers == 1:
            _run_worker(settings, dsn, host, port, reuse_port=False)
            return 0
        return _supervise(settings, dsn, host, port, workers)
    finally:
        if embedded is not None:
            embedded.stop()


def _supervise(settings: Settings, dsn: str, host: str, port: int, workers: int) -> int:
    """Run `workers` processes on one port until SIGTERM or SIGINT, starting again any that
    dies meanwhile; 0 after a clean stop, 1 when workers keep dying (see MAX_RESTARTS). A worker
    still running SHUTDOWN_TIMEOUT_SECONDS + CLEANUP_SECONDS after it was told to stop is
    killed; workers stop by themselves when this process dies (PR_SET_PDEATHSIG)."""
    context = multiprocessing.get_context("spawn")
    kill_after = settings.shutdown_timeout_seconds + CLEANUP_SECONDS
    me = os.getpid()

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(
            target=_run_worker, args=(settings, dsn, host, port, True, me), daemon=False
        )
        process.start()
        return process

    processes: list[multiprocessing.process.BaseProcess] = []
    stopping = False
    gave_up = False
    restarts: deque[float] = deque()
    signalled: dict[int, float] = {}  # pid: when it was told to stop

    def stop_all() -> None:
        """SIGTERM, once, to each worker (a second one would cut its graceful stop short);
        SIGKILL to one that has not stopped `kill_after` seconds later."""
        now = time.monotonic()
        for process in processes:
            if not process.pid or not process.is_alive():
                continue
            told = signalled.get(process.pid)
            if told is None:
                signalled[process.pid] = now
                os.kill(process.pid, signal.SIGTERM)
            elif now - told > kill_after:
                log.error("worker %s did not stop in %d s: killing it", process.pid, kill_after)
                process.kill()

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        stop_all()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for _ in range(workers):  # after the handlers: a signal now stops the ones started
        if not stopping:
            processes.append(start())
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
