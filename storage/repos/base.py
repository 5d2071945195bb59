"""What every repository shares: a link to its connection and five helpers over it.

A link decides where a statement runs. Statements run at once on the calling thread
(the event loop's): inside a write transaction SQLite's write lock is already held, and
a read of committed data (WAL) does not wait for writers, so a statement costs
microseconds where a hop to a worker thread costs tens. A read that returns a whole
session's history (`_bulk`) goes to the reader's own thread instead, and so does a read
that finds the database busy (`storage.db`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

Params = Sequence[Any]
Row = sqlite3.Row
T = TypeVar("T")


class Link(Protocol):
    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on the connection, on the calling thread."""
        ...

    async def far(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` on the connection, off the event loop where the link can."""
        ...

    def wrote_messages(self, session_id: str) -> None:
        """Told by the statement that adds messages to the session (the writer counts
        them, so that cached threads know when to read again)."""
        ...


class Repo:
    """A repository bound to one link (the reader, or the writer inside a transaction)."""

    def __init__(self, link: Link) -> None:
        self._link = link

    async def _one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._link.call(lambda c: c.execute(sql, params).fetchone())

    async def _all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._link.call(lambda c: c.execute(sql, params).fetchall())

    async def _bulk(self, sql: str, params: Params = ()) -> list[Row]:
        """`_all` for reads as long as a session's whole history, off the event loop."""
        return await self._link.far(lambda c: c.execute(sql, params).fetchall())

    async def _run(self, sql: str, params: Params = ()) -> int:
        """Execute a data-changing statement; returns the number of rows it changed."""
        return await self._link.call(lambda c: c.execute(sql, params).rowcount)

    async def _insert(self, sql: str, params: Params = ()) -> int:
        """Execute an INSERT; returns the new row's rowid."""
        return await self._link.call(lambda c: c.execute(sql, params).lastrowid or 0)
