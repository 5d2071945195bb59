"""The walking skeleton, in-process: a turn stops at client tool calls and resumes on
their results, one flow, persisted; errors name what is wrong."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pygls.exceptions import JsonRpcException

from tests.fake_llm import Reply, Request, call
from tests.runtime.editor import InProcessEditor as Editor
from tests.runtime.model import InProcessLLM as FakeLLM


async def _error(coro: object) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as info:
        await coro  # type: ignore[misc]
    return info.value


async def test_two_sequential_tool_calls(make_editor, llm: FakeLLM) -> None:
    (await make_editor()).workspace.joinpath("a.txt").write_text("alpha\n")
    editor = await make_editor(
        code=[
            Reply("Reading it.", [call("read_file", path="a.txt")]),
            Reply("", [call("write_file", path="b.txt", content="beta\n")]),
            Reply("", [call("attempt_completion", result="copied")]),
        ]
    )
    first = await editor.send("copy a to b", mode="code")
    assert first["status"] == "awaiting_tool_results"
    assert len(first["pendingToolCalls"]) == 1
    read = editor.call(first["pendingToolCalls"][0])
    assert (read["name"], read["arguments"], read["requiresApproval"]) == ("read_file", {"path": "a.txt"}, False)
    second = await editor.execute(first["sessionId"], read["callId"])
    assert second["status"] == "awaiting_tool_results"
    write = editor.call(second["pendingToolCalls"][0])
    assert write["name"] == "write_file" and write["requiresApproval"] is True
    done = await editor.execute(first["sessionId"], write["callId"])
    assert done["status"] == "completed" and done["message"] == "copied"
    assert done["turnId"] == first["turnId"] and done["agent"] == "code"
    assert (editor.workspace / "b.txt").read_text() == "beta\n"
    code = llm.by_agent("code")
    assert len(code) == 3
    assert "alpha" in code[1].tool_results[0]  # the model got the file's content back
    assert code[1].tool_names == code[0].tool_names  # tool schemas from the one registry


async def test_two_calls_in_one_reply_resume_when_both_answered(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        code=[
            Reply("", [call("create_directory", path="pkg"), call("write_file", path="pkg/x.py", content="x = 1\n")]),
            Reply("done", []),
        ]
    )
    result = await editor.send("make a package", mode="code")
    assert len(result["pendingToolCalls"]) == 2
    first, second = result["pendingToolCalls"]
    partial = await editor.execute(result["sessionId"], first)
    assert partial["status"] == "awaiting_tool_results" and partial["pendingToolCalls"] == [second]
    assert len(llm.by_agent("code")) == 1  # nothing resumed on a partial batch
    done = await editor.execute(result["sessionId"], second)
    assert done["status"] == "completed" and done["message"] == "done"
    resumed = llm.by_agent("code")[1]
    assert len(resumed.tool_results) == 2
    assert (editor.workspace / "pkg" / "x.py").exists()


async def test_stream_deltas_arrive_before_the_result(make_editor) -> None:
    editor = await make_editor(code=[Reply("Hello there, streaming works.")])
    result = await editor.send("say hello", mode="code")
    deltas = editor.of("agent/stream")
    assert len(deltas) >= 2
    assert "".join(d["delta"] for d in deltas) == "Hello there, streaming works." == result["message"]
    assert all(d["turnId"] == result["turnId"] and d["agent"] == "code" for d in deltas)
    last_delta = max(i for i, (name, _) in enumerate(editor.events) if name == "agent/stream")
    assert last_delta < editor.index("response:agent/sendMessage")


async def test_unknown_and_already_answered_calls(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(code=[Reply("", [call("read_file", path="x")]), Reply("ok")])
    result = await editor.send("read x", mode="code")
    session, call_id = result["sessionId"], result["pendingToolCalls"][0]
    unknown = await _error(editor.answer(session, "call_nope", content="x"))
    assert unknown.code == -32012 and "call_nope" in unknown.message
    await editor.answer(session, call_id, content="first")
    requests = len(llm.requests)
    again = await _error(editor.answer(session, call_id, content="second"))
    assert again.code == -32013 and "already answered" in again.message
    assert len(llm.requests) == requests  # no second model call
    state = await editor.request("agent/getSession", {"sessionId": session})
    tool_messages = [m for m in state["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["first"]  # nothing changed


async def test_session_busy_while_a_turn_runs(make_editor) -> None:
    hold = threading.Event()
    editor = await make_editor(code=[Reply("slow", hold=hold), Reply("later")])
    first = asyncio.ensure_future(editor.send("take your time", mode="code"))
    await editor.wait_for(lambda: bool(editor.statuses("state_changed")))
    session = editor.statuses()[0]["sessionId"]
    busy = await _error(editor.send("another", session_id=session, mode="code"))
    assert busy.code == -32011 and busy.data["reason"] == "turn_running"
    hold.set()
    assert (await first)["status"] == "completed"
    assert (await editor.send("another", session_id=session, mode="code"))["message"] == "later"


async def test_session_not_found_and_invalid_params(demo: Editor) -> None:
    missing = await _error(demo.request("agent/resume", {"sessionId": "nope"}))
    assert missing.code == -32010 and "nope" in missing.message
    no_session = await _error(
        demo.request("agent/toolResult", {"sessionId": "nope", "callId": "c", "status": "success"})
    )
    assert no_session.code == -32010
    bad = await _error(demo.request("agent/sendMessage", {"text": "", "mode": "wizard"}))
    assert bad.code == -32602
    assert "text" in bad.message and "mode" in bad.message
    typo = await _error(demo.request("agent/sendMessage", {"text": "hi", "sessionID": "x"}))
    assert typo.code == -32602 and "sessionID" in typo.message
    wrong = await _error(demo.request("agent/toolResult", {"sessionId": "s", "callId": "c", "status": "maybe"}))
    assert wrong.code == -32602 and "status" in wrong.message
    not_object = await _error(demo.request("agent/getSession", ["s"]))
    assert not_object.code == -32602 and "params must be an object" in not_object.message


async def test_request_without_params_gets_an_error(demo: Editor) -> None:
    error = await _error(asyncio.wait_for(demo.request("agent/sendMessage"), 10))
    assert error.code == -32602 and "text" in error.message
    listed = await asyncio.wait_for(demo.request("agent/listSessions"), 10)
    assert listed == {"sessions": []}


async def test_payload_too_large(make_editor) -> None:
    editor = await make_editor(options={"limits": {"maxMessageBytes": 100}})
    error = await _error(editor.send("x" * 200, mode="code"))
    assert error.code == -32016 and "text" in error.message
    assert (await editor.request("agent/listSessions", {}))["sessions"] == []


async def test_cancel_ends_the_turn_and_closes_pending_calls(make_editor, llm: FakeLLM) -> None:
    hold = threading.Event()
    editor = await make_editor(
        code=[Reply("", [call("write_file", path="a", content="a")]), Reply("never", hold=hold), Reply("fresh")]
    )
    # cancel while the editor holds an unanswered call
    result = await editor.send("write a", mode="code")
    session, call_id = result["sessionId"], result["pendingToolCalls"][0]
    assert await editor.request("agent/cancel", {"sessionId": session}) == {"cancelled": True}
    late = await _error(editor.answer(session, call_id, content="done"))
    assert late.code == -32013
    state = await editor.request("agent/getSession", {"sessionId": session})
    assert state["session"]["state"] == "idle" and state["pendingToolCalls"] == []
    assert "Cancelled by the user" in [m for m in state["messages"] if m["role"] == "tool"][-1]["content"]
    # cancel while the model is thinking: the running request ends as cancelled
    running = asyncio.ensure_future(editor.send("think", session_id=session, mode="code"))
    await editor.wait_for(lambda: len(llm.requests) == 2)
    assert await editor.request("agent/cancel", {"sessionId": session}) == {"cancelled": True}
    assert (await running)["status"] == "cancelled"
    hold.set()
    assert await editor.request("agent/cancel", {"sessionId": session}) == {"cancelled": False}
    assert (await editor.send("again", session_id=session, mode="code"))["message"] == "fresh"


async def test_step_budget_ends_a_runaway_turn(make_editor) -> None:
    loop = [Reply("", [call("list_files", path=".")]) for _ in range(10)]
    editor = await make_editor(options={"limits": {"maxSteps": 3}}, code=loop)
    result = await editor.drive(await editor.send("loop forever", mode="code"))
    assert result["status"] == "failed"
    assert result["error"]["code"] == -32015 and "budget of 3 model calls" in result["error"]["message"]


async def test_editor_settings_cannot_name_a_model_adapter(workspace, db_path) -> None:
    editor = Editor(workspace, db_path, options={"llm": {"model": "py:os:getcwd"}})
    error = await _error(editor.start())
    assert error.code == -32602 and "llm.model" in error.message and "command line" in error.message


async def test_sessions_are_listed_paged_and_deleted(make_editor) -> None:
    editor = await make_editor(code=[Reply("1"), Reply("2"), Reply("3")])
    ids = [(await editor.send(f"task {n}", mode="code"))["sessionId"] for n in range(3)]
    first = await editor.request("agent/listSessions", {"limit": 2})
    assert [s["id"] for s in first["sessions"]] == ids[::-1][:2] and first["nextCursor"]
    assert first["sessions"][0]["title"] == "task 2" and first["sessions"][0]["state"] == "idle"
    assert first["sessions"][0]["workspaceRoot"] == str(editor.workspace)
    rest = await editor.request("agent/listSessions", {"limit": 2, "cursor": first["nextCursor"]})
    assert [s["id"] for s in rest["sessions"]] == [ids[0]] and "nextCursor" not in rest
    bad = await _error(editor.request("agent/listSessions", {"cursor": "garbage"}))
    assert bad.code == -32602 and "cursor" in bad.message
    assert await editor.request("agent/deleteSession", {"sessionId": ids[1]}) == {"deleted": True}
    assert await editor.request("agent/deleteSession", {"sessionId": ids[1]}) == {"deleted": False}
    gone = await _error(editor.request("agent/getSession", {"sessionId": ids[1]}))
    assert gone.code == -32010


async def test_a_session_belongs_to_its_workspace(make_editor, llm: FakeLLM, tmp_path) -> None:
    from tests.runtime.editor import FAKE_MODEL

    editor = await make_editor(code=[Reply("", [call("read_file", path="a")])])
    session = (await editor.send("read a", mode="code"))["sessionId"]
    await editor.stop()
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    other = await Editor(elsewhere, editor.db, model=FAKE_MODEL, api_base=llm.url).start()
    try:
        assert (await other.request("agent/listSessions", {}))["sessions"] == []
        listed = await other.request("agent/listSessions", {"allWorkspaces": True})
        assert [s["id"] for s in listed["sessions"]] == [session]
        refused = await _error(other.request("agent/resume", {"sessionId": session}))
        assert refused.code == -32014 and str(editor.workspace) in refused.message
        assert (await other.request("agent/getSession", {"sessionId": session}))["pendingToolCalls"]
    finally:
        await other.stop()


async def test_an_oversized_tool_result_is_refused_and_the_call_stays_open(make_editor) -> None:
    editor = await make_editor(
        options={"limits": {"maxToolResultBytes": 50}}, code=[Reply("", [call("read_file", path="big")]), Reply("read")]
    )
    result = await editor.send("read big", mode="code")
    session, call_id = result["sessionId"], result["pendingToolCalls"][0]
    error = await _error(editor.answer(session, call_id, content="x" * 100))
    assert error.code == -32016 and "truncate" in error.message
    assert (await editor.answer(session, call_id, content="x" * 10))["message"] == "read"


async def test_a_cancel_that_arrives_with_the_models_reply_still_ends_the_turn(make_editor, llm: FakeLLM) -> None:
    """The reply is in, its calls about to be committed, when `agent/cancel` comes: the
    request that runs the turn ends `cancelled` (not waiting for those calls)."""
    editor = await make_editor(code=[Reply("hello")])
    session = (await editor.send("hi", mode="code"))["sessionId"]

    def cancel_as_the_reply_arrives(request: Request) -> Reply:
        turn = editor.app.runtime.claims.running(session)
        assert turn is not None
        turn.cancel.set()
        return Reply("", [call("write_file", path="a", content="a")])

    llm.script = cancel_as_the_reply_arrives
    result = await editor.send("write a", session_id=session, mode="code")
    assert result["status"] == "cancelled", result
    state = await editor.request("agent/getSession", {"sessionId": session})
    assert state["session"]["state"] == "idle" and state["pendingToolCalls"] == []
    assert not (editor.workspace / "a").exists()
