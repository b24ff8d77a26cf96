"""bcrypt, always off the event loop: hashing takes a quarter of a second at cost 12.

Hashing runs in separate processes at the lowest CPU priority (reservations/hashing.py). A storm
of logins then uses the CPU that the event loop and PostgreSQL leave idle instead of taking turns
with them, so seat maps and bookings keep their latency while logins wait; with nothing else to
do, bcrypt still gets all of the CPU.

Processes, not threads: a low-priority thread needs the GIL between two hashes, and on a busy
CPU it can be left waiting for its turn while it holds the GIL, and the event loop with it (a
priority inversion: the seat map's p99 during a login storm was 5x its normal one; bench/).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import bcrypt

from .. import hashing

MIN_PASSWORD_BYTES = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit; bcrypt 5 raises beyond it instead of truncating

# This process's pools of hashing processes, by process id and size: started on first use and
# shared by every app of the process (a test run makes hundreds of apps, `serve` one a worker);
# a forked child makes its own.
_POOLS: dict[tuple[int, int], ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def hashing_pool(processes: int) -> ProcessPoolExecutor:
    with _POOLS_LOCK:
        key = (os.getpid(), processes)
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ProcessPoolExecutor(
                max_workers=processes,
                # Not forked: a fork of a process with threads and an event loop is unsafe.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=hashing.start,
            )
        return pool


def _forget(pool: ProcessPoolExecutor) -> None:
    """A pool whose process died (killed, out of memory) is broken for good: the next hash
    starts a new one."""
    with _POOLS_LOCK:
        for key, known in list(_POOLS.items()):
            if known is pool:
                del _POOLS[key]
    pool.shutdown(wait=False, cancel_futures=True)


def stop_hashing() -> None:
    """Stop this process's hashing processes; a worker of `serve` does it as it ends, as its
    own end would otherwise wait for them (multiprocessing joins its children first)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


class PasswordHasher:
    """Hashes and checks passwords in a small pool of low-priority processes (the process's
    own, shared and stopped by `stop_hashing`: a hasher has nothing to close)."""

    def __init__(self, rounds: int, processes: int = 2) -> None:
        self.rounds = rounds
        self.processes = processes
        # Checked against when the email is unknown, so both failures cost the same time.
        self._decoy_hash: bytes | None = None
        self.checks = 0  # passwords checked (the /metrics counter password_checks)

    async def start(self) -> None:
        """Start the hashing processes now, not at the first login (starting one is a tenth of a
        second of CPU at normal priority), and make the decoy hash."""
        pool = hashing_pool(self.processes)
        for _ in range(self.processes):
            # Each call that finds no process idle starts one, at once; its answer is not
            # awaited, as it comes at the processes' low priority (late on a busy machine).
            pool.submit(os.getpid)
        await self._decoy()

    async def _decoy(self) -> bytes:
        """The decoy hash, made once, on a thread at normal priority: an app's start must not
        wait for the CPU to be idle."""
        if self._decoy_hash is None:
            salt = bcrypt.gensalt(self.rounds)
            self._decoy_hash = await asyncio.to_thread(bcrypt.hashpw, b"decoy-password", salt)
        return self._decoy_hash

    async def _run(self, function: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        pool = hashing_pool(self.processes)
        try:
            return await loop.run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            _forget(pool)  # once more, in a new process
            return await loop.run_in_executor(hashing_pool(self.processes), function, *args)

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self.rounds)
        hashed: bytes = await self._run(hashing.hash_password, password.encode(), salt)
        return hashed.decode()

    async def check(self, password: str, hashed: str | None) -> bool:
        target = hashed.encode() if hashed else await self._decoy()
        self.checks += 1
        matches = await self._run(hashing.check_password, password.encode(), target)
        return bool(matches) and hashed is not None
