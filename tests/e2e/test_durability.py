"""Kill -9 at a pause or mid-step, restart on the same database, resume: nothing lost,
nothing repeated, the same callId re-sent."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tests.fake_llm import FakeLLM, Reply, Request, call
from tests.harness import FAKE_MODEL, Editor


async def _restart(editor: Editor, llm: FakeLLM) -> Editor:
    await editor.kill()
    return await Editor(editor.workspace, editor.db, model=FAKE_MODEL, api_base=llm.url).start()


async def test_kill_while_a_call_awaits_the_editor(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        code=[
            Reply("Writing.", [call("write_file", path="out.txt", content="kept\n")]),
            Reply("", [call("attempt_completion", result="written")]),
        ]
    )
    first = await editor.send("write out.txt", mode="code")
    sent = editor.calls()
    assert len(sent) == 1 and sent[0]["requiresApproval"] is True
    call_id = sent[0]["callId"]

    editor = await _restart(editor, llm)
    resumed = await editor.request("agent/resume", {"sessionId": first["sessionId"]})
    assert resumed["status"] == "awaiting_tool_results" and resumed["pendingToolCalls"] == [call_id]
    again = editor.calls()
    assert len(again) == 1 and again[0] == sent[0]  # the same call, the same callId
    done = await editor.execute(first["sessionId"], call_id)
    assert done["status"] == "completed" and done["message"] == "written"
    assert (editor.workspace / "out.txt").read_text() == "kept\n"
    assert len(llm.by_agent("code")) == 2  # no completed model step was asked again
    duplicate = await _answer_error(editor, first["sessionId"], call_id)
    assert duplicate.code == -32013
    await editor.stop()
    assert _integrity(editor.db) == "ok"


async def test_kill_mid_step_reruns_only_the_interrupted_step(make_editor, llm: FakeLLM) -> None:
    hold = threading.Event()

    def script(request: Request) -> Reply:
        done = len(request.tool_results)
        if done == 0:
            return Reply("", [call("read_file", path="a.txt")])
        if len([r for r in llm.requests if len(r.tool_results) == 1]) == 1:
            return Reply("thinking…", hold=hold)  # the step the crash interrupts
        return Reply("", [call("attempt_completion", result="read it")])

    editor = await make_editor()
    llm.script = script
    (editor.workspace / "a.txt").write_text("A\n")
    first = await editor.send("read a.txt", mode="code")
    editor_task = editor.execute(first["sessionId"], first["pendingToolCalls"][0])
    import asyncio

    answering = asyncio.ensure_future(editor_task)
    await editor.wait_for(lambda: len(llm.requests) == 2)
    editor2 = await _restart(editor, llm)
    with pytest.raises(RuntimeError, match="exited"):  # the first process died mid-request
        await answering
    hold.set()
    state = await editor2.request("agent/getSession", {"sessionId": first["sessionId"]})
    assert state["session"]["interrupted"] is True and state["session"]["state"] == "agent_running"
    done = await editor2.request("agent/resume", {"sessionId": first["sessionId"]})
    assert done["status"] == "completed" and done["message"] == "read it"
    steps = [len(r.tool_results) for r in llm.requests]
    assert steps == [0, 1, 1]  # step 1 once; the interrupted step 2 again; nothing else
    await editor2.stop()
    assert _integrity(editor2.db) == "ok"


async def _answer_error(editor: Editor, session: str, call_id: str) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as info:
        await editor.answer(session, call_id, content="again")
    return info.value


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
