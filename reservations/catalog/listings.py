"""The programme page and GET /showtimes, kept as finished answers while they are right.

Every visitor loads them, and they are the same for everyone until something changes, so each
instance keeps the answer of each query it was asked (a Representation: the bytes, an ETag,
gzip and Brotli made once) and serves it with no query and no rendering, answering 304 to the
ETag, while its listener is up. What changes them, and how the instance hears of it:

- a seat change of a listed showtime (its available seats): `seat_changes` NOTIFY, and this
  instance's own changes at once; only the answers listing that showtime are dropped;
- a showtime's price, times or cancellation: `showtime_changes` NOTIFY; everything is dropped;
- a catalog change made through the API (a showtime, movie, poster or theater added, changed or
  deleted): CATALOG_CHANNEL, sent by the admin routes (`announces_catalog_change`) after the
  change committed, and heard by every instance; everything is dropped;
- the clock: a showtime starting (the programme marks it) or ending (it leaves the lists), and
  the cinema's midnight (the programme's "today"): each answer ends at the first of them;
- a change nobody announced (SQL typed by hand, `reservations seed`): each answer is kept
  MAX_AGE_SECONDS at most.
While the listener is down nothing is kept: every request renders afresh (still compressed and
answered 304 when its ETag has not changed).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from ..context import LISTINGS, POOL
from ..db import QUERIES
from ..representations import Representation, tag_of

CATALOG_CHANNEL = "catalog_changes"  # payload: empty; something in the catalog changed
MAX_AGE_SECONDS = 60.0
MAX_ENTRIES = 256


@dataclass(frozen=True)
class CachedListing:
    answer: Representation
    showtime_ids: frozenset[uuid.UUID]
    good_until_monotonic: float


class ListingCache:
    """Answers of the listing queries last asked for (see the module)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, CachedListing] = OrderedDict()
        self._by_showtime: dict[uuid.UUID, set[Hashable]] = {}
        self.generation = 0  # grows with every change heard: a render begun before is not kept
        self.listening = False
        self.hits = 0
        self.renders = 0

    def serve(self, key: Hashable) -> Representation | None:
        entry = self._entries.get(key)
        if entry is None or not self.listening or time.monotonic() >= entry.good_until_monotonic:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.answer

    def put(
        self,
        key: Hashable,
        answer: Representation,
        showtime_ids: Iterable[uuid.UUID],
        good_until_monotonic: float,
        generation: int,
    ) -> Representation:
        """Keep an answer rendered when `generation` was current; the answer to send (the one
        already kept when it is the same, with the encodings it has made)."""
        current = self._entries.get(key)
        if current is not None and current.answer.tag == answer.tag:
            answer = current.answer
        if not self.listening or generation != self.generation:
            return answer
        self._drop(key)
        entry = CachedListing(answer, frozenset(showtime_ids), good_until_monotonic)
        self._entries[key] = entry
        for showtime_id in entry.showtime_ids:
            self._by_showtime.setdefault(showtime_id, set()).add(key)
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))
        return answer

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for showtime_id in entry.showtime_ids:
            keys = self._by_showtime.get(showtime_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_showtime[showtime_id]

    def seats_changed(self, showtime_id: uuid.UUID) -> None:
        """Its available seats changed: the answers that list it are wrong."""
        self.generation += 1
        for key in list(self._by_showtime.get(showtime_id, ())):
            self._drop(key)

    def showtime_changed(self, _showtime_id: uuid.UUID) -> None:
        """Its price, times or cancellation changed: it may have moved into another listing."""
        self.everything_changed()

    def everything_changed(self) -> None:
        """A showtime or the catalog changed: any answer may be wrong."""
        self.generation += 1
        self._entries.clear()
        self._by_showtime.clear()

    def set_listening(self, listening: bool) -> None:
        self.everything_changed()
        self.listening = listening


async def clock_bound(pool: asyncpg.Pool) -> float:
    """Until when (this process's monotonic clock) the listings stay right by the clock: the
    next start or end of a live showtime, and MAX_AGE_SECONDS from now at most."""
    started = time.monotonic()
    row = await pool.fetchrow(QUERIES.next_listing_change)
    bound = started + MAX_AGE_SECONDS
    if row["next_change"] is not None:
        bound = min(bound, started + (row["next_change"] - row["now"]).total_seconds())
    return bound


Render = Callable[[], Awaitable[tuple[bytes, Iterable[uuid.UUID]]]]


async def listing_answer(
    app: web.Application,
    key: Hashable,
    render: Render,
    content_type: str = "application/json",
    until: float = float("inf"),
) -> Representation:
    """The answer kept for `key` while it is right, else `render()` (the body and the ids of
    the showtimes it shows), kept until the clock bound or `until` (monotonic) at most."""
    listings = app[LISTINGS]
    answer = listings.serve(key)
    if answer is not None:
        return answer
    generation = listings.generation
    bound = min(until, await clock_bound(app[POOL])) if listings.listening else 0.0
    listings.renders += 1
    body, showtime_ids = await render()
    answer = Representation(body, tag_of(body), content_type)
    return listings.put(key, answer, showtime_ids, bound, generation)


async def announce_catalog_change(pool: asyncpg.Pool, listings: ListingCache | None) -> None:
    """Something in the catalog changed: this instance's listings go now, every instance's
    (this one's again) when the NOTIFY arrives."""
    if listings is not None:
        listings.everything_changed()
    await pool.execute(QUERIES.announce_catalog_change)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def announces_catalog_change(handler: Handler) -> Handler:
    """Decorate an admin handler (innermost, below the role check) whose success changes what
    the listings show: after it answers, every instance hears of the change."""

    @functools.wraps(handler)
    async def changing(request: web.Request) -> web.StreamResponse:
        listings = request.app.get(LISTINGS)
        try:
            response = await handler(request)
        except BaseException:
            # Refused, or its answer lost (it may have committed all the same): drop ours.
            if listings is not None:
                listings.everything_changed()
            raise
        await announce_catalog_change(request.app[POOL], listings)
        return response

    return changing
