"""What every repository shares: its connection and four helpers over it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

Params = Sequence[Any]


class Repo:
    """A repository bound to one connection (the reader, or the writer inside a transaction)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    # Each helper is one hop to aiosqlite's worker thread (the hops, not SQLite, are
    # what a step costs): no cursor objects, counts through RETURNING.

    async def _one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        rows = list(await self._conn.execute_fetchall(sql, params))
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Params = ()) -> Iterable[aiosqlite.Row]:
        return await self._conn.execute_fetchall(sql, params)

    async def _run(self, sql: str, params: Params = ()) -> int:
        """Execute a data-changing statement; returns the number of rows it changed."""
        return len(list(await self._conn.execute_fetchall(sql + " RETURNING 1", params)))

    async def _insert(self, sql: str, params: Params = ()) -> int:
        row = await self._conn.execute_insert(sql, params)
        return int(row[0]) if row else 0
