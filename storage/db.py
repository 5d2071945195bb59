"""The SQLite database: connections, pragmas, migrations and serialized writes.

One writer connection behind an asyncio lock (coroutines sharing a connection share
its transaction, so write transactions must not interleave) and one reader connection
that only ever sees committed data (WAL).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from storage.migrations import MIGRATIONS
from storage.repos import Repos

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


APPLICATION_ID = 0x636C6162
"""`PRAGMA application_id` of our databases ("clab"), set by the first migration run."""

OUR_TABLES = frozenset({"sessions", "messages", "tool_calls", "transitions"})
"""Tables every database of ours has from schema version 1 on."""


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of the product."""


class ForeignDatabase(RuntimeError):
    """The file is another application's SQLite database: it is never adopted."""


def default_database_path() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "codelab-agent" / "agent.db"


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA foreign_keys = ON")
    # WAL + NORMAL: a killed process loses nothing that was committed.
    await conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class Database:
    def __init__(self, path: str, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self.read = Repos(reader)

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Open (creating if needed) and migrate the database at `path` (or `:memory:`)."""
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        try:
            await _check_ours(writer, path)  # before WAL: a foreign file is left exactly as it was
            if path != ":memory:":
                await writer.execute("PRAGMA journal_mode = WAL")
            await _migrate(writer, path)
            reader = writer if path == ":memory:" else await _connect(path)
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    @asynccontextmanager
    async def transaction(self) -> AsyncGenerator[Repos, None]:
        """A write transaction: committed when the block ends, rolled back on error."""
        async with self._write_lock:
            await self._writer.execute_fetchall("BEGIN IMMEDIATE")
            try:
                yield Repos(self._writer)
            except BaseException:
                await self._writer.execute_fetchall("ROLLBACK")
                raise
            await self._writer.execute_fetchall("COMMIT")

    async def close(self) -> None:
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()


async def _pragma(conn: aiosqlite.Connection, name: str) -> int:
    async with conn.execute(f"PRAGMA {name}") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _check_ours(conn: aiosqlite.Connection, path: str) -> None:
    """Refuse a database that another application made: it has tables, and either no
    schema version of ours or another application's id. Ours carry APPLICATION_ID
    (databases made before it existed are recognised by their tables)."""
    async with conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cur:
        tables = {str(r[0]) for r in await cur.fetchall()} - {"sqlite_sequence"}
    if not tables:
        return
    app_id = await _pragma(conn, "application_id")
    version = await _pragma(conn, "user_version")
    ours = app_id == APPLICATION_ID or (app_id == 0 and version > 0 and tables >= OUR_TABLES)
    if not ours:
        raise ForeignDatabase(
            f"{path} is another application's SQLite database (tables: {', '.join(sorted(tables)[:5])}"
            f"{', …' if len(tables) > 5 else ''}); codelab-agent never adopts it. Point --db at a new file."
        )


async def _migrate(conn: aiosqlite.Connection, path: str) -> None:
    version = await _pragma(conn, "user_version")
    if await _pragma(conn, "application_id") != APPLICATION_ID:
        await conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the database {path} has schema version {version}, but this codelab-agent "
            f"knows versions up to {len(MIGRATIONS)}: it was written by a newer release. "
            "Upgrade codelab-agent or point --db at another file."
        )
    for number in range(version + 1, len(MIGRATIONS) + 1):
        log.info("migrating %s to schema version %d", path, number)
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number - 1]):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
