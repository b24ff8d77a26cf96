"""bcrypt, always off the event loop: hashing takes tens of milliseconds at cost 12."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import bcrypt

MIN_PASSWORD_BYTES = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit; bcrypt 5 raises beyond it instead of truncating


class PasswordHasher:
    """Hashes and checks passwords in a small thread pool (bcrypt releases the GIL)."""

    def __init__(self, rounds: int, threads: int = 2) -> None:
        self.rounds = rounds
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bcrypt")
        # Checked against when the email is unknown, so both failures cost the same time.
        self._decoy_hash = bcrypt.hashpw(b"decoy-password", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        salt = bcrypt.gensalt(self.rounds)
        hashed = await loop.run_in_executor(self._executor, bcrypt.hashpw, password.encode(), salt)
        return hashed.decode()

    async def check(self, password: str, hashed: str | None) -> bool:
        loop = asyncio.get_running_loop()
        target = hashed.encode() if hashed else self._decoy_hash
        matches = await loop.run_in_executor(
            self._executor, bcrypt.checkpw, password.encode(), target
        )
        return bool(matches) and hashed is not None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
