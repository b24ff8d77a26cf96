"""bcrypt, always off the event loop: hashing takes a quarter of a second at cost 12.

The hashing threads run at the lowest CPU priority (on Linux, where each thread has its own
scheduling policy: SCHED_IDLE, else the highest nice value). A storm of logins then uses the CPU
that the event loop and PostgreSQL leave idle instead of taking turns with them, so seat maps and
bookings keep their latency while logins wait; with nothing else to do, bcrypt still gets all of
the CPU (it releases the GIL while hashing).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt

MIN_PASSWORD_BYTES = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit; bcrypt 5 raises beyond it instead of truncating
HASHING_NICENESS = 19  # the nice value of hashing where SCHED_IDLE is refused


def lower_priority() -> None:
    """Run the calling thread (only) at the lowest priority. Linux schedules each thread on its
    own, by its thread id; elsewhere that id would name a process, so nothing is done."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        # Preempted at once by any normal thread that wakes up, e.g. an event loop.
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):  # refused too: run at normal priority
            os.setpriority(os.PRIO_PROCESS, thread, HASHING_NICENESS)


class PasswordHasher:
    """Hashes and checks passwords in a small pool of low-priority threads."""

    def __init__(self, rounds: int, threads: int = 2) -> None:
        self.rounds = rounds
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="bcrypt", initializer=lower_priority
        )
        # Checked against when the email is unknown, so both failures cost the same time.
        self._decoy_hash = bcrypt.hashpw(b"decoy-password", bcrypt.gensalt(rounds))
        self.checks = 0  # passwords checked (the /metrics counter password_checks)

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        salt = bcrypt.gensalt(self.rounds)
        hashed = await loop.run_in_executor(self._executor, bcrypt.hashpw, password.encode(), salt)
        return hashed.decode()

    async def check(self, password: str, hashed: str | None) -> bool:
        loop = asyncio.get_running_loop()
        target = hashed.encode() if hashed else self._decoy_hash
        self.checks += 1
        matches = await loop.run_in_executor(
            self._executor, bcrypt.checkpw, password.encode(), target
        )
        return bool(matches) and hashed is not None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
