"""The SQLite database: connections, pragmas, migrations and serialized writes.

Plain `sqlite3` connections; statements run on the event loop's thread, and what may
wait runs on a worker thread:

- the writer. A write transaction (`Database.transaction()`) is serialized by an
  asyncio lock and runs its statements between BEGIN IMMEDIATE and COMMIT without a
  hop: once SQLite's write lock is held no statement of ours waits for anything, and a
  statement costs microseconds where a hop to a worker thread costs tens (the hops, not
  SQLite, were what a step cost, and made the lock a convoy: ~9 of them inside it). The
  lock is held for the transaction's own work only. A BEGIN that finds another process
  writing waits for it on the writer's thread (the busy timeout), the loop serving on.
- the readers, which only ever see committed data (WAL), and never wait for a writer:
  `Database.read` runs its statements on the loop too, except reads as long as a
  session's whole history, and a read that finds the database busy (a recovering
  process), which go to the reader thread's own connection.

Opening, migrating and closing run on the writer's thread, and checkpoints (writing
the WAL back, syncing the files) on the reader's, every `CHECKPOINT_EVERY` commits,
rather than inside a COMMIT on the loop. WAL + synchronous=NORMAL: a killed process
loses nothing that was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from storage.migrations import MIGRATIONS

if TYPE_CHECKING:
    from storage.repos import Repos

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY = 200
"""Commits between two checkpoints (a step commits one or two transactions)."""

APPLICATION_ID = 0x636C6162
"""`PRAGMA application_id` of our databases ("clab"), set by the first migration run."""

OUR_TABLES = frozenset({"sessions", "messages", "tool_calls", "transitions"})
"""Tables every database of ours has from schema version 1 on."""


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of the product."""


class ForeignDatabase(RuntimeError):
    """The file is another application's SQLite database: it is never adopted."""


class _Thread:
    """One worker thread: what it is given runs there, in order."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)

    async def run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def stop(self) -> None:
        self._pool.shutdown(wait=True)


class Inline:
    """A link (`storage.repos.base.Link`) that runs every statement on the calling thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return work(self.conn)

    async def far(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return work(self.conn)

    def wrote_messages(self, session_id: str) -> None:
        pass


class _Reader:
    """The readers' link: statements on the loop's connection (it never waits: its busy
    timeout is 0); bulk reads, and reads that found the database busy, on the thread's."""

    def __init__(self, conn: sqlite3.Connection, thread: _Thread, threaded: sqlite3.Connection) -> None:
        self._conn = conn
        self._thread = thread
        self._threaded = threaded

    async def call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._conn)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        return await self.far(work)

    async def far(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._threaded
        return await self._thread.run(lambda: work(conn))

    def wrote_messages(self, session_id: str) -> None:
        pass


def _busy(exc: sqlite3.OperationalError) -> bool:
    return exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Writer(Inline):
    """The writer's link inside a transaction; it notes whose messages were added."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.written: set[str] = set()

    def wrote_messages(self, session_id: str) -> None:
        self.written.add(session_id)


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class Database:
    def __init__(self, path: str, writer: sqlite3.Connection, readers: tuple[sqlite3.Connection, ...]) -> None:
        self.path = path
        self._writer = writer
        self._readers = readers
        self._write_thread = _Thread("db-writer")
        self._read_thread = _Thread("db-reader")
        self._write_lock = asyncio.Lock()
        self._link = _Writer(writer)
        self._marks: defaultdict[str, int] = defaultdict(int)
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Open (creating if needed) and migrate the database at `path` (or `:memory:`)."""
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        opener = _Thread("db-open")
        try:
            writer, readers = await opener.run(lambda: _open(path))
        finally:
            opener.stop()
        return cls(path, writer, readers)

    # The repositories are built on first use: a sidecar opens its database to answer
    # `initialize` and needs none of them for that (their modules are ~15 ms of its start).

    @cached_property
    def read(self) -> Repos:
        """Reads of committed data (outside any transaction)."""
        from storage.repos import Repos  # noqa: PLC0415

        readers = self._readers
        # :memory: has one connection, read where it is written
        return Repos(_Reader(readers[0], self._read_thread, readers[1]) if readers else Inline(self._writer))

    @cached_property
    def _tx(self) -> Repos:
        from storage.repos import Repos  # noqa: PLC0415

        return Repos(self._link)

    def messages_mark(self, session_id: str) -> int:
        """Grows each time a transaction that added messages to the session commits."""
        return self._marks[session_id]

    @asynccontextmanager
    async def transaction(self) -> AsyncGenerator[Repos, None]:
        """A write transaction: committed when the block ends, rolled back on error."""
        async with self._write_lock:
            await self._begin()
            conn = self._writer
            try:
                yield self._tx
                conn.execute("COMMIT")
            except BaseException:
                self._link.written.clear()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            for session_id in self._link.written:
                self._marks[session_id] += 1
            self._link.written.clear()
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0 and self._readers:
                self._start_checkpoint()

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE at once if no other process is writing; else wait for it on
        the writer's thread (the loop goes on serving meanwhile)."""
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")  # the writer's busy timeout is 0: this never waits
            return
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        waiting = asyncio.ensure_future(self._write_thread.run(lambda: _begin_waiting(conn)))
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # the BEGIN goes on in the thread: undo it before the lock is given up, even
            # if this task is cancelled again meanwhile (else the writer stays in it)
            while not waiting.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(waiting)
            if not waiting.cancelled() and waiting.exception() is None and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _start_checkpoint(self) -> None:
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        conn = self._readers[1]
        self._checkpoint = asyncio.get_running_loop().create_task(
            self._read_thread.run(lambda: _checkpoint(conn)), name="db-checkpoint"
        )
        self._checkpoint.add_done_callback(_log_failure)

    async def close(self) -> None:
        """Wait for a checkpoint under way, then close every connection (the last close
        writes the WAL back into the database file)."""
        async with self._write_lock:  # no transaction is cut off by the close
            if self._checkpoint is not None:
                with contextlib.suppress(Exception):  # logged by `_log_failure`
                    await self._checkpoint
            readers, writer = self._readers, self._writer
            await self._read_thread.run(lambda: [r.close() for r in readers])
            await self._write_thread.run(writer.close)
        self._read_thread.stop()
        self._write_thread.stop()


def _begin_waiting(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting up to the busy timeout for another process's write (the
    writer's own timeout is put back after)."""
    own = _pragma(conn, "busy_timeout")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        conn.execute(f"PRAGMA busy_timeout = {own}")


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("WAL checkpoint failed", exc_info=task.exception())


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _open(path: str) -> tuple[sqlite3.Connection, tuple[sqlite3.Connection, ...]]:
    writer = _connect(path)
    opened = [writer]
    try:
        _check_ours(writer, path)  # before WAL: a foreign file is left exactly as it was
        wal = path != ":memory:" and writer.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal"
        if wal:
            # checkpoints run off the event loop (`Database._start_checkpoint`)
            writer.execute("PRAGMA wal_autocheckpoint = 0")
        _migrate(writer, path)
        if path == ":memory:":
            return writer, ()
        if wal:
            # Inside a transaction begun IMMEDIATE no statement waits, and a WAL reader
            # never does: only the BEGIN may, and it waits on the writer's thread
            # (`Database._begin`), a read on the reader's. Without WAL (a filesystem
            # that has no shared memory) a COMMIT waits for readers: the timeouts stay.
            writer.execute("PRAGMA busy_timeout = 0")
        opened.append(_connect(path))
        if wal:
            opened[-1].execute("PRAGMA busy_timeout = 0")
        opened.append(_connect(path))
        return writer, (opened[1], opened[2])
    except BaseException:
        for conn in opened:
            conn.close()
        raise


def _pragma(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(f"PRAGMA {name}").fetchone()
    return int(row[0]) if row else 0


def _check_ours(conn: sqlite3.Connection, path: str) -> None:
    """Refuse a database that another application made: it has tables, and either no
    schema version of ours or another application's id. Ours carry APPLICATION_ID
    (databases made before it existed are recognised by their tables)."""
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    tables = {str(r[0]) for r in rows} - {"sqlite_sequence"}
    if not tables:
        return
    app_id = _pragma(conn, "application_id")
    version = _pragma(conn, "user_version")
    ours = app_id == APPLICATION_ID or (app_id == 0 and version > 0 and tables >= OUR_TABLES)
    if not ours:
        raise ForeignDatabase(
            f"{path} is another application's SQLite database (tables: {', '.join(sorted(tables)[:5])}"
            f"{', …' if len(tables) > 5 else ''}); codelab-agent never adopts it. Point --db at a new file."
        )


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    version = _pragma(conn, "user_version")
    if _pragma(conn, "application_id") != APPLICATION_ID:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    if version > len(MIGRATIONS):
        raise SchemaTooNew(
            f"the database {path} has schema version {version}, but this codelab-agent "
            f"knows versions up to {len(MIGRATIONS)}: it was written by a newer release. "
            "Upgrade codelab-agent or point --db at another file."
        )
    for number in range(version + 1, len(MIGRATIONS) + 1):
        log.info("migrating %s to schema version %d", path, number)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
