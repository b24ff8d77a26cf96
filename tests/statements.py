"""What the app says to the database: every statement its pool runs, recorded as sent; and the
rows a transaction read from each table."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from reservations.context import POOL
from reservations.db import QUERIES
from reservations.live.listener import LISTENER


@contextlib.contextmanager
def pool_statements(app: Any, matching: re.Pattern[str] | None = None) -> Iterator[list[str]]:
    """Every statement (matching `matching`, when given) that the app's pool runs in the block,
    in order. Query loggers run soon after their query: await `asyncio.sleep(0)` before reading
    the list."""
    pool = app[POOL]
    seen: list[str] = []
    active = True

    def log(record: Any) -> None:
        if active and (matching is None or matching.search(record.query)):
            seen.append(record.query)

    wait_for_connection = pool.wait_for_connection

    async def logging_wait(timeout: float) -> Any:  # noqa: ASYNC109 - passed on
        conn = await wait_for_connection(timeout)
        conn.add_query_logger(log)  # a set: once per connection, however often it is lent
        return conn

    pool.wait_for_connection = logging_wait
    try:
        yield seen
    finally:
        active = False
        pool.wait_for_connection = wait_for_connection


# asyncpg's own statements: it reads the catalog the first time a connection meets a type.
_INTROSPECTION = re.compile(r"typeinfo_tree|'jit'")


def named(statements: list[str]) -> list[str]:
    """The statements as the names of sql/ queries (another statement as its text), leaving out
    asyncpg's catalog reads."""
    by_text = {getattr(QUERIES, name): name for name in QUERIES.names()}
    return [by_text.get(sql, sql) for sql in statements if not _INTROSPECTION.search(sql)]


async def listening(client: Any) -> None:
    """Until the app's listener is connected (its caches serve only while it listens)."""
    await asyncio.wait_for(client.app[LISTENER].connected.wait(), 5)


async def _transaction_counts(db: Any, counted: str, tables: tuple[str, ...]) -> Counter[str]:
    """`counted` (a column expression of pg_stat_xact_user_tables) for each table that `db`'s
    transaction has touched so far, or for `tables` only when given: take two and subtract."""
    rows = await db.fetch(
        f"SELECT relname, {counted} AS counted FROM pg_stat_xact_user_tables"
        " WHERE cardinality($1::text[]) = 0 OR relname = ANY($1::text[])",
        list(tables),
    )
    return Counter({row["relname"]: row["counted"] for row in rows if row["counted"]})


async def rows_read(db: Any, *tables: str) -> Counter[str]:
    """The rows of each of `tables` that `db`'s transaction has read so far (sequential scans
    and index fetches)."""
    return await _transaction_counts(db, "seq_tup_read + coalesce(idx_tup_fetch, 0)", tables)


async def sequential_scans(db: Any) -> Counter[str]:
    """The sequential scans of each table that `db`'s transaction has made so far."""
    return await _transaction_counts(db, "seq_scan", ())
