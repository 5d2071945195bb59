from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from protocol.enums import AgentName, MessageRole, ToolCallStatus, ToolResultStatus
from storage import default_database_path
from storage.db import APPLICATION_ID, Database, ForeignDatabase, SchemaTooNew
from storage.migrations import MIGRATIONS
from storage.records import ToolCallRow


async def test_migrates_and_records_the_version(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    await db.close()
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = await Database.open(tmp_path / "a.db")  # idempotent
    await again.close()


async def test_refuses_a_database_from_a_newer_release(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew, match="newer release"):
        await Database.open(path)


async def test_write_transactions_do_not_interleave(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "w.db")
    async with db.transaction() as tx:
        await tx.sessions.create("s", "t", AgentName.CODE)

    async def writer(n: int) -> None:
        async with db.transaction() as tx:
            for i in range(20):
                await tx.messages.add("s", role=MessageRole.USER, content=f"{n}:{i}", segment=0, turn_id=None)
                await asyncio.sleep(0)

    await asyncio.gather(*(writer(n) for n in range(5)))
    contents = [m.content for m in await db.read.messages.for_session("s")]
    for n in range(5):  # each transaction's rows are contiguous
        rows = [c for c in contents if c.startswith(f"{n}:")]
        start = contents.index(rows[0])
        assert contents[start : start + 20] == rows
    await db.close()


async def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "r.db")
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.sessions.create("s", "t", AgentName.CODE)
            raise RuntimeError("boom")
    assert await db.read.sessions.get("s") is None
    await db.close()


async def test_tool_call_answered_once_and_cascade_delete(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db")
    async with db.transaction() as tx:
        await tx.sessions.create("s", "t", AgentName.CODE)
        seq = await tx.messages.add("s", role=MessageRole.ASSISTANT, content="", segment=0, turn_id="t")
        await tx.tool_calls.add(
            ToolCallRow(
                call_id="c1",
                session_id="s",
                turn_id="t",
                message_seq=seq,
                name="read_file",
                arguments={"path": "a"},
                status=ToolCallStatus.PENDING,
                requires_approval=False,
                reason=None,
                result_status=None,
                plan_id=None,
                subtask_id=None,
                created_at="now",
                answered_at=None,
            )
        )
    async with db.transaction() as tx:
        assert await tx.tool_calls.answer("c1", ToolCallStatus.ANSWERED, ToolResultStatus.SUCCESS)
        assert not await tx.tool_calls.answer("c1", ToolCallStatus.ANSWERED, ToolResultStatus.ERROR)
    call = await db.read.tool_calls.get("s", "c1")
    assert call is not None and call.result_status is ToolResultStatus.SUCCESS
    async with db.transaction() as tx:
        assert await tx.sessions.delete("s")
    assert await db.read.tool_calls.get("s", "c1") is None
    assert await db.read.messages.for_session("s") == []
    await db.close()


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_database_path() == tmp_path / "codelab-agent" / "agent.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_database_path() == Path.home() / ".local" / "share" / "codelab-agent" / "agent.db"


async def test_an_older_database_is_migrated_forward_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a database written by the release with one migration
        conn.executescript(MIGRATIONS[0])
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO sessions (id, title, state, current_agent, created_at, updated_at)"
            " VALUES ('old', 'kept', 'idle', 'code', 'x', 'x')"
        )
    db = await Database.open(path)
    session = await db.read.sessions.get("old")
    assert session is not None and session.title == "kept" and session.workspace_root is None
    assert session.resume_state is None
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5


async def test_refuses_another_applications_database_and_leaves_it_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    before = path.read_bytes()
    with pytest.raises(ForeignDatabase, match="another application's SQLite database"):
        await Database.open(path)
    assert path.read_bytes() == before  # no tables added, not switched to WAL
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


async def test_refuses_a_foreign_database_that_has_a_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "versioned.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sessions (id TEXT)")  # one of our names, not our schema
        conn.execute("PRAGMA user_version = 1")
    with pytest.raises(ForeignDatabase):
        await Database.open(path)


async def test_marks_its_databases_and_still_opens_older_unmarked_ones(tmp_path: Path) -> None:
    path = tmp_path / "ours.db"
    db = await Database.open(path)
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        conn.execute("PRAGMA application_id = 0")  # as a database made before the mark existed
    again = await Database.open(path)
    await again.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
