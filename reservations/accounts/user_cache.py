"""The per-process cache of the users that access tokens name.

Every authenticated request needs its user's role and token generation, and reading them was one
more query per request on the hot booking path. While this instance is listening
(reservations/live/listener.py), a cached user is served with no query: a change of what is
cached (role, token generation, email, names) or a deletion, made anywhere, sends a NOTIFY on
USER_CHANNEL (sql/code/01_announcements.sql) that drops the entry when it arrives, so a
revocation, role change or deletion made through another instance or the CLI takes effect here
within the NOTIFY delay. This process's own changes drop the entry at once (`user_changed`,
called by accounts/service.py). While the listener is down nothing is served from here: every
request reads the row, as it did before the cache. A read that began before an invalidation of
its user (or of all) is not stored: it may have read the row as it was before the change.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

import asyncpg

from ..db import QUERIES

# The channel of the users trigger (one NOTIFY per changed or deleted user, payload its id; ''
# after a TRUNCATE: every user).
USER_CHANNEL = "user_changes"
MAX_ENTRIES = 4096


class UserCache:
    """The rows (`find_user_by_id`) of the users last seen, least recently used dropped first."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[uuid.UUID, asyncpg.Record] = OrderedDict()
        # Invalidations are numbered: a read remembers the number current when it began
        # (`generation`) and is stored only if its user's last invalidation is not newer. The
        # users invalidated most recently keep their number, oldest first; past max_entries the
        # oldest are forgotten, and reads begun before the last one forgotten are not stored.
        self._sequence = 0
        self._invalidated: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._forgotten = 0
        self.listening = False  # set by the live listener while its LISTEN connection is up
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def generation(self) -> int:
        """Taken before reading a user, and given back to `put`."""
        return self._sequence

    def serve(self, user_id: uuid.UUID) -> asyncpg.Record | None:
        """The cached user, when it is known right without asking the database (listening)."""
        if not self.listening:
            return None
        user = self._entries.get(user_id)
        if user is None:
            self.misses += 1
            return None
        self._entries.move_to_end(user_id)
        self.hits += 1
        return user

    def put(self, user_id: uuid.UUID, user: asyncpg.Record, generation: int) -> None:
        """Store a user read when `generation` was current, unless it changed since."""
        if not self.listening:
            return  # never served before the listener connects, which clears everything
        if generation < self._forgotten or self._invalidated.get(user_id, 0) > generation:
            return  # the user changed (or may have) since the read began: it may be stale
        self._entries[user_id] = user
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def user_changed(self, user_id: uuid.UUID) -> None:
        """The user's row changed or was deleted (here, or elsewhere: a notification)."""
        self._sequence += 1
        self._invalidated[user_id] = self._sequence
        self._invalidated.move_to_end(user_id)
        while len(self._invalidated) > self.max_entries:
            _, self._forgotten = self._invalidated.popitem(last=False)
        self._entries.pop(user_id, None)

    def all_changed(self) -> None:
        """Any user may have changed."""
        self._sequence += 1
        self._forgotten = self._sequence
        self._invalidated.clear()
        self._entries.clear()

    def set_listening(self, listening: bool) -> None:
        """The listener connected (changes from now on will be heard) or lost its connection
        (changes may be missed: every request reads the database until it is back)."""
        self.all_changed()
        self.listening = listening


async def user_of_token(
    pool: asyncpg.Pool, users: UserCache, user_id: uuid.UUID, token_generation: int
) -> asyncpg.Record | None:
    """User `user_id` (its `find_user_by_id` row), if it exists and its tokens of generation
    `token_generation` are not revoked; None otherwise. Served from `users` while it is right;
    a token newer than the cached row (its revocation's NOTIFY is still on the way) reads it."""
    cached = users.serve(user_id)
    if cached is not None:
        if cached["token_generation"] == token_generation:
            return cached
        if cached["token_generation"] > token_generation:
            return None  # revoked: generations only grow
    generation = users.generation()
    async with pool.acquire() as conn:
        user = await conn.fetchrow(QUERIES.find_user_by_id, user_id)
    if user is None:
        return None  # deleted
    users.put(user_id, user, generation)
    return user if user["token_generation"] == token_generation else None
