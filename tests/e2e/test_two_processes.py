"""Two editor windows, two sidecars, one database: a session is driven by one process
at a time; the other gets SessionBusy naming the holder until it lets go."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tests.fake_llm import FakeLLM, Reply, Scripted, call
from tests.harness import FAKE_MODEL, Editor


def _script() -> Scripted:
    return Scripted(code=[Reply("", [call("write_file", path="a.txt", content="A")]), Reply("done")])


async def _lease_expired(db: Path, session_id: str, within: float = 30) -> None:
    """Wait until the session's lease in the database has expired (or is gone)."""

    def expires_at() -> float | None:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            row = conn.execute("SELECT expires_at FROM leases WHERE session_id = ?", (session_id,)).fetchone()
        return row[0] if row else None

    deadline = time.monotonic() + within
    while (at := expires_at()) is not None and at >= time.time():
        assert time.monotonic() < deadline, f"the lease of {session_id} did not expire within {within}s"
        await asyncio.sleep(min(0.05, at - time.time() + 0.001))


async def _busy(editor: Editor, session_id: str) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as info:
        await editor.request("agent/resume", {"sessionId": session_id})
    return info.value


async def test_the_second_process_waits_until_the_first_exits(workspace, db_path, llm: FakeLLM) -> None:
    llm.script = _script()
    first = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url).start()
    second = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url).start()
    started = await first.send("write a", mode="code")
    session, call_id = started["sessionId"], started["pendingToolCalls"][0]

    busy = await _busy(second, session)
    assert busy.code == -32011 and busy.data["reason"] == "held_by_other_process"
    assert busy.data["holder"]["pid"] == first.pid and f"pid {first.pid}" in busy.message
    with pytest.raises(JsonRpcException) as answer:
        await second.answer(session, call_id, content="ok")
    assert answer.value.code == -32011
    seen = await second.request("agent/getSession", {"sessionId": session})  # reading is always allowed
    assert seen["pendingToolCalls"][0]["callId"] == call_id
    assert [s["id"] for s in (await second.request("agent/listSessions", {}))["sessions"]] == [session]

    await first.stop()  # the holder exits and lets go
    resumed = await second.request("agent/resume", {"sessionId": session})
    assert resumed["pendingToolCalls"] == [call_id] and second.calls()[0]["callId"] == call_id
    done = await second.execute(session, call_id)
    assert done["status"] == "completed" and (workspace / "a.txt").read_text() == "A"
    assert len(llm.requests) == 2
    await second.stop()


async def test_a_killed_holder_releases_at_once_and_a_stuck_one_when_its_lease_expires(
    workspace, db_path, llm: FakeLLM
) -> None:
    llm.script = Scripted(code=[Reply("one"), Reply("two"), Reply("three")])
    lease = {"CODELAB_AGENT_LEASE_SECONDS": "1.5"}
    first = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url, env=lease).start()
    second = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url, env=lease).start()
    session = (await first.send("hello", mode="code"))["sessionId"]

    os.kill(first.pid, signal.SIGSTOP)  # alive but not renewing: only expiry frees the session
    try:
        assert (await _busy(second, session)).data["reason"] == "held_by_other_process"
        await _lease_expired(db_path, session)
        assert (await second.send("again", session_id=session, mode="code"))["message"] == "two"
    finally:
        os.kill(first.pid, signal.SIGCONT)
    busy = await _busy(first, session)
    assert busy.data["holder"]["pid"] == second.pid

    await second.kill()  # a dead holder on this host is stale at once
    assert (await first.send("and again", session_id=session, mode="code"))["message"] == "three"
    await first.stop()


async def test_a_session_running_elsewhere_is_not_reported_interrupted(workspace, db_path, llm: FakeLLM) -> None:
    import threading

    hold = threading.Event()
    llm.script = Scripted(code=[Reply("slow", hold=hold)])
    first = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url).start()
    second = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url).start()
    running = asyncio.ensure_future(first.send("think", mode="code"))
    await first.wait_for(lambda: len(llm.requests) == 1)
    session = first.statuses()[0]["sessionId"]
    seen = (await second.request("agent/getSession", {"sessionId": session}))["session"]
    assert seen["state"] == "agent_running" and seen["interrupted"] is False
    hold.set()
    assert (await running)["status"] == "completed"
    await first.stop()
    await second.stop()
