"""The storage layer's own guarantees: a transaction is all or nothing, writers
serialize (in one process and across two), readers see committed state only, and
closing leaves everything in the database file."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from protocol.enums import AgentName, MessageRole
from storage.db import Database

ROOT = Path(__file__).resolve().parents[2]


async def _session(db: Database, session_id: str = "s") -> None:
    async with db.transaction() as tx:
        await tx.sessions.create(session_id, "t", AgentName.CODE)


async def _say(db: Database, text: str, session_id: str = "s") -> None:
    async with db.transaction() as tx:
        await tx.messages.add(session_id, role=MessageRole.USER, content=text, segment=0, turn_id=None)


async def test_a_failing_statement_rolls_the_whole_transaction_back(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    await _session(db)
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.messages.add("s", role=MessageRole.USER, content="kept?", segment=0, turn_id=None)
            await tx.sessions.update("s", title="changed")
            # no such session: the foreign key refuses the row
            await tx.messages.add("nobody", role=MessageRole.USER, content="x", segment=0, turn_id=None)
    assert await db.read.messages.for_session("s") == []
    session = await db.read.sessions.get("s")
    assert session is not None and session.title == "t"
    assert db.messages_mark("s") == 0  # nothing committed: cached threads stay as they are
    await _say(db, "after")  # the connection is usable again
    assert [m.content for m in await db.read.messages.for_session("s")] == ["after"]
    assert db.messages_mark("s") == 1
    await db.close()


async def test_readers_see_committed_state_only(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "r.db")
    await _session(db)
    async with db.transaction() as tx:
        await tx.messages.add("s", role=MessageRole.USER, content="pending", segment=0, turn_id=None)
        assert await db.read.messages.main_thread("s") == []
        assert await db.read.messages.for_session("s") == []  # the bulk read, on the reader's thread
    assert [m.content for m in await db.read.messages.main_thread("s")] == ["pending"]
    await db.close()


async def test_writers_in_one_process_serialize_and_the_lock_is_fair(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "w.db")
    await _session(db)
    order: list[int] = []

    async def writer(n: int) -> None:
        async with db.transaction() as tx:
            order.append(n)
            await tx.messages.add("s", role=MessageRole.USER, content=f"{n}a", segment=0, turn_id=None)
            await asyncio.sleep(0)  # another writer runs meanwhile, and must wait
            await tx.messages.add("s", role=MessageRole.USER, content=f"{n}b", segment=0, turn_id=None)

    await asyncio.gather(*(writer(n) for n in range(10)))
    assert order == list(range(10))  # first come, first served
    contents = [m.content for m in await db.read.messages.for_session("s")]
    assert contents == [f"{n}{part}" for n in range(10) for part in "ab"]
    await db.close()


async def test_a_writer_of_another_process_is_waited_for_off_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    db = await Database.open(path)
    await _session(db)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    other.execute("UPDATE sessions SET title = 'other' WHERE id = 's'")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    clock = asyncio.ensure_future(ticker())
    writing = asyncio.ensure_future(_say(db, "mine"))
    await asyncio.sleep(0.2)
    assert not writing.done() and ticks >= 5  # the loop serves while the BEGIN waits
    assert (await db.read.sessions.get("s")) is not None  # and reads go on
    other.execute("COMMIT")
    await asyncio.wait_for(writing, 5)
    clock.cancel()
    session = await db.read.sessions.get("s")
    assert session is not None and session.title == "other"
    assert [m.content for m in await db.read.messages.for_session("s")] == ["mine"]
    other.close()
    await db.close()


@pytest.mark.parametrize("cancels", [1, 2])
async def test_a_transaction_cancelled_while_waiting_for_another_process_leaves_nothing_open(
    tmp_path: Path, cancels: int
) -> None:
    """The BEGIN still waiting on the writer's thread is undone before the lock is given
    up, even when a second cancel comes while it is being undone (else the writer stays
    inside a transaction and every later write fails)."""
    path = tmp_path / "c.db"
    db = await Database.open(path)
    await _session(db)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writing = asyncio.ensure_future(_say(db, "never"))
    await asyncio.sleep(0.1)
    for _ in range(cancels):
        writing.cancel()
        await asyncio.sleep(0.05)  # the task now waits for the BEGIN still running on the thread
    other.execute("COMMIT")  # the waiting BEGIN now succeeds on the thread, and is undone
    with pytest.raises(asyncio.CancelledError):
        await writing
    await _say(db, "next")
    assert [m.content for m in await db.read.messages.for_session("s")] == ["next"]
    other.close()
    await db.close()


async def test_close_leaves_every_commit_in_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "f.db"
    db = await Database.open(path)
    await _session(db)
    for i in range(450):  # past two checkpoints
        await _say(db, f"m{i}")
    await db.close()
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 450


async def test_a_killed_process_loses_no_commit(tmp_path: Path) -> None:
    """A process that commits and then dies without closing (os._exit: no close, no
    checkpoint) leaves every commit for the next one to read."""
    path = tmp_path / "k.db"
    script = f"""
import asyncio, os
from protocol.enums import AgentName, MessageRole
from storage.db import Database
async def main():
    db = await Database.open({str(path)!r})
    async with db.transaction() as tx:
        await tx.sessions.create("s", "t", AgentName.CODE)
    for i in range(30):
        async with db.transaction() as tx:
            await tx.messages.add("s", role=MessageRole.USER, content=f"m{{i}}", segment=0, turn_id=None)
    os._exit(0)
asyncio.run(main())
"""
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=ROOT)
    assert await child.wait() == 0
    assert path.with_name(path.name + "-wal").stat().st_size > 0  # the commits are still in the WAL
    db = await Database.open(path)
    assert [m.content for m in await db.read.messages.for_session("s")] == [f"m{i}" for i in range(30)]
    await db.close()


async def test_memory_databases_read_their_own_connection() -> None:
    db = await Database.open(":memory:")
    await _session(db)
    await _say(db, "hello")
    assert [m.content for m in await db.read.messages.for_session("s")] == ["hello"]
    await db.close()
