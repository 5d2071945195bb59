"""The user's MCP servers as the agents' tools, end to end over stdio: the sidecar runs
real MCP servers this project did not write (`mcp-server-time` from PyPI,
`@modelcontextprotocol/server-filesystem` from npm) and tests/mcp_servers/env_server.py,
and an editor answers only what it is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.fake_llm import FakeLLM, Reply, Scripted, call
from tests.harness import FAKE_MODEL, Editor, base_env
from tests.mcp_servers import ENV_SERVER

TIME = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
ENV = {"command": sys.executable, "args": [str(ENV_SERVER)], "env": {"SHOWN": "to the server"}}
DONE = Reply(calls=[call("attempt_completion", result="done")])


def editor(workspace: Path, db_path: Path, llm: FakeLLM, servers: dict[str, Any], **options: Any) -> Editor:
    return Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url, options={"mcpServers": servers, **options})


def tool_results(llm: FakeLLM) -> dict[str, str]:
    """Every tool result the model has read, by call id (the last request holds them all)."""
    messages = llm.requests[-1].messages
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


def last_result(llm: FakeLLM) -> str:
    return next(m["content"] for m in reversed(llm.requests[-1].messages) if m["role"] == "tool")


def offered(llm: FakeLLM, index: int = 0) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in llm.requests[index].body.get("tools", [])}


async def test_a_read_only_tool_of_a_real_server_runs_without_asking(workspace, db_path, llm: FakeLLM) -> None:
    llm.script = Scripted(code=[Reply(calls=[call("mcp__time__get_current_time", timezone="UTC")]), DONE])
    e = await editor(workspace, db_path, llm, {"time": TIME}).start()
    try:
        result = await e.send("what time is it in UTC?", mode="code")
        assert result["status"] == "completed", result
        assert e.calls() == []  # nothing asked of the editor
        tools = offered(llm)
        assert "mcp__time__get_current_time" in tools and "read_file" in tools
        assert "timezone" in json.dumps(tools["mcp__time__get_current_time"]["parameters"])
        answer = json.loads(last_result(llm))
        assert answer["timezone"] == "UTC" and answer["datetime"][:2] == "20"
        runs = [s["data"] for s in e.statuses("server_tool_call")]
        assert [r["status"] for r in runs] == ["in_progress", "completed"]
        assert runs[0]["name"] == "mcp__time__get_current_time" and runs[0]["server"] == "time"
        session = await e.request("agent/getSession", {"sessionId": result["sessionId"]})
        listed = {t["name"]: t for t in session["tools"]}
        assert listed["mcp__time__get_current_time"]["executedBy"] == "server"
        assert listed["mcp__time__get_current_time"]["server"] == "time"
        assert listed["mcp__time__get_current_time"]["category"] == "read"
    finally:
        await e.stop()


async def test_explain_gets_only_read_only_tools(workspace, db_path, llm: FakeLLM) -> None:
    llm.script = Scripted(explain=[Reply("an answer")])
    e = await editor(workspace, db_path, llm, {"env": ENV}).start()
    try:
        assert (await e.send("explain", mode="explain"))["status"] == "completed"
        tools = offered(llm)
        assert "mcp__env__environment" in tools and "mcp__env__pid" in tools  # read-only
        assert "mcp__env__append" not in tools and "mcp__env__exit_now" not in tools
    finally:
        await e.stop()


async def test_a_write_tool_asks_is_approved_rejected_and_remembered(
    workspace, db_path, llm: FakeLLM, tmp_path: Path, filesystem_server: Path
) -> None:
    folder = (tmp_path / "files").resolve()
    folder.mkdir()

    def write(name: str, text: str) -> Reply:
        return Reply(calls=[call("mcp__fs__write_file", path=str(folder / name), content=text)])

    llm.script = Scripted(
        code=[write("a.txt", "one"), write("b.txt", "two"), write("c.txt", "three"), write("d.txt", "four"), DONE]
    )
    fs = {"command": "node", "args": [str(filesystem_server), str(folder)]}
    e = await editor(workspace, db_path, llm, {"fs": fs}).start()
    try:
        result = await e.send("write the files", mode="code")
        sid = result["sessionId"]
        assert result["status"] == "awaiting_tool_results"
        asked = e.call(result["pendingToolCalls"][0])
        assert asked["executedBy"] == "server" and asked["server"] == "fs" and asked["requiresApproval"] is True
        assert "destructive" in asked["reason"]
        assert not (folder / "a.txt").exists()  # nothing runs before the user says so

        result = await e.answer(sid, asked["callId"], "success")  # approve once
        assert (folder / "a.txt").read_text() == "one"
        assert result["status"] == "awaiting_tool_results"

        second = result["pendingToolCalls"][0]
        result = await e.answer(sid, second, "rejected", feedback="not b")
        assert not (folder / "b.txt").exists()
        rejected = last_result(llm)
        assert "rejected" in rejected and "not b" in rejected  # the model sees the rejection

        third = result["pendingToolCalls"][0]
        result = await e.answer(sid, third, "success", remember=True)
        assert (folder / "c.txt").read_text() == "three"
        # remembered: the fourth write runs without asking, and the turn completes
        assert result["status"] == "completed", result
        assert (folder / "d.txt").read_text() == "four"
        assert len(e.calls()) == 3
        with pytest.raises(JsonRpcException) as answered:  # an answered call stays answered
            await e.answer(sid, third, "success")
        assert answered.value.code == -32013
    finally:
        await e.stop()


async def test_a_server_that_exits_is_restarted_and_the_next_call_works(workspace, db_path, llm: FakeLLM) -> None:
    llm.script = Scripted(
        code=[
            Reply(calls=[call("mcp__env__pid")]),
            Reply(calls=[call("mcp__env__exit_now", code=3)]),
            Reply(calls=[call("mcp__env__pid")]),
            DONE,
        ]
    )
    e = await editor(workspace, db_path, llm, {"env": ENV}).start()
    try:
        result = await e.send("restart it", mode="code")
        first_pid = int(last_result(llm))
        assert result["status"] == "awaiting_tool_results"  # exit_now is destructive: it asks
        result = await e.answer(result["sessionId"], result["pendingToolCalls"][0], "success")
        assert result["status"] == "completed", result
        results = list(tool_results(llm).values())
        assert "may or may not have taken effect" in results[1]  # the server died during the call
        assert int(results[2]) != first_pid  # a new server answered
    finally:
        await e.stop()


async def test_a_server_that_cannot_start_is_reported_and_the_turn_completes(workspace, db_path, llm: FakeLLM) -> None:
    llm.script = Scripted(code=[Reply(calls=[call("mcp__time__get_current_time", timezone="UTC")]), DONE])
    ghost = {"command": "codelab-no-such-command-here"}
    e = await editor(workspace, db_path, llm, {"ghost": ghost, "time": TIME}).start()
    try:
        result = await e.send("go", mode="code")
        assert result["status"] == "completed", result
        failed = e.statuses("mcp_server_failed")
        assert len(failed) == 1 and failed[0]["data"]["server"] == "ghost"
        assert "codelab-no-such-command-here" in failed[0]["data"]["reason"]
        assert not any(name.startswith("mcp__ghost__") for name in offered(llm))
        assert "mcp__time__get_current_time" in offered(llm)  # the other server is used
        again = await e.send("again", session_id=result["sessionId"], mode="code")
        assert again["status"] == "failed"  # the script is exhausted; reported only once before
        assert len(e.statuses("mcp_server_failed")) == 1
    finally:
        await e.stop()


async def test_no_provider_key_reaches_a_server(workspace, db_path, llm: FakeLLM) -> None:
    secret = "sk-provider-secret-0123456789"
    llm.script = Scripted(code=[Reply(calls=[call("mcp__env__environment")]), DONE])
    servers = {"env": {**ENV, "env": {"SHOWN": "to the server", "LEAK": "${OPENAI_API_KEY}"}}}
    e = editor(workspace, db_path, llm, servers)
    e.env.update({"OPENAI_API_KEY": secret, "ANTHROPIC_API_KEY": secret, "UNRELATED_PARENT_VARIABLE": "x"})
    await e.start()
    try:
        assert (await e.send("show the environment", mode="code"))["status"] == "completed"
        environment = json.loads(last_result(llm))
        assert environment["SHOWN"] == "to the server" and "PATH" in environment
        assert secret not in json.dumps(environment)
        assert "UNRELATED_PARENT_VARIABLE" not in environment  # only what the configuration names
    finally:
        await e.stop()


async def test_bad_mcp_servers_in_the_options_are_refused_by_name(workspace, db_path, llm: FakeLLM) -> None:
    with pytest.raises(Exception, match=r"mcpServers.*bad name|bad name.*mcpServers|mcpServers"):
        await editor(workspace, db_path, llm, {"bad name!": {"command": "x"}}).start()
    e = await editor(workspace, db_path, llm, {}).start()  # the database is untouched and usable
    await e.stop()


@pytest.mark.parametrize("answer", ["rejected", "success"])
async def test_a_call_cut_off_by_a_crash_asks_before_it_runs_again(
    workspace, db_path, llm: FakeLLM, tmp_path: Path, answer: str
) -> None:
    """kill -9 while a non-read-only MCP call runs: after a restart, `agent/resume` asks
    the user (run again / skip) with the same callId instead of running it again."""
    log = tmp_path / "appended.log"
    llm.script = Scripted(code=[Reply(calls=[call("mcp__env__append", path=str(log), line="ran", seconds=2)]), DONE])
    options = {"approval": {"allowedMcpTools": ["env__append"]}}
    first = await editor(workspace, db_path, llm, {"env": ENV}, **options).start()
    turn = asyncio.ensure_future(first.send("append a line", mode="code"))
    try:
        await first.wait_for(lambda: log.exists() and log.read_text() == "ran\n")
        started = first.statuses("server_tool_call")[0]
        await first.kill()
    finally:
        turn.cancel()
        with contextlib.suppress(BaseException):
            await turn
    sid, call_id = started["sessionId"], started["data"]["callId"]

    second = await editor(workspace, db_path, llm, {"env": ENV}, **options).start()
    try:
        resumed = await second.request("agent/resume", {"sessionId": sid})
        assert resumed["status"] == "awaiting_tool_results" and resumed["pendingToolCalls"] == [call_id]
        asked = second.call(call_id)
        assert asked["executedBy"] == "server" and asked["requiresApproval"] is True
        assert "may or may not have taken effect" in asked["reason"]
        assert log.read_text() == "ran\n"  # not run again on its own
        done = await second.answer(sid, call_id, answer)
        assert done["status"] == "completed", done
        if answer == "rejected":
            assert log.read_text() == "ran\n"
            assert "chose not to run it again" in last_result(llm)
        else:
            assert log.read_text() == "ran\nran\n"  # run again, because the user said so
            assert "appended" in last_result(llm)
        assert len(llm.by_agent("code")) == 2  # the step that made the call was not asked again
    finally:
        await second.stop()


async def test_a_workspace_file_starts_nothing_until_approved_and_the_user_file_is_read(
    workspace, db_path, llm: FakeLLM, tmp_path: Path
) -> None:
    config_home = tmp_path / "config"
    (config_home / "codelab-agent").mkdir(parents=True)
    (config_home / "codelab-agent" / "mcp.json").write_text(json.dumps({"mcpServers": {"time": TIME}}))
    proposed = workspace / ".codelab-agent" / "mcp.json"
    proposed.parent.mkdir()
    proposed.write_text(json.dumps({"mcpServers": {"env": ENV}}))
    env = {"XDG_CONFIG_HOME": str(config_home)}

    async def tools_offered() -> tuple[set[str], list[dict[str, Any]]]:
        llm.script = Scripted(code=[Reply("ok")])
        e = editor(workspace, db_path, llm, {})
        e.env.update(env)
        await e.start()
        try:
            assert (await e.send("hi", mode="code"))["status"] == "completed"
            return set(offered(llm, -1)), e.statuses("mcp_server_failed")
        finally:
            await e.stop()

    names, failed = await tools_offered()
    assert "mcp__time__get_current_time" in names  # the user's file
    assert not any(n.startswith("mcp__env__") for n in names)  # the workspace's, not approved
    assert "not approved" in failed[0]["data"]["reason"] and "codelab-agent mcp approve" in failed[0]["data"]["reason"]

    approve = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "mcp", "approve", "--workspace", str(workspace),
        env={**base_env(), **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await approve.communicate()
    assert approve.returncode == 0 and b"env:" in out
    names, failed = await tools_offered()
    assert "mcp__env__pid" in names and failed == []

    proposed.write_text(json.dumps({"mcpServers": {"env": {**ENV, "args": [str(ENV_SERVER), "changed"]}}}))
    names, failed = await tools_offered()
    assert not any(n.startswith("mcp__env__") for n in names)  # an edited file needs approving again


async def test_a_cancel_during_an_mcp_call_ends_the_turn_and_the_session_goes_on(
    workspace, db_path, llm: FakeLLM
) -> None:
    llm.script = Scripted(code=[Reply(calls=[call("mcp__env__sleep", seconds=30)]), Reply("fresh")])
    e = await editor(workspace, db_path, llm, {"env": ENV}, approval={"allowedMcpTools": ["env__sleep"]}).start()
    try:
        turn = asyncio.ensure_future(e.send("sleep", mode="code"))
        await e.wait_for(lambda: bool(e.statuses("server_tool_call")))
        sid = e.statuses("server_tool_call")[0]["sessionId"]
        assert await e.request("agent/cancel", {"sessionId": sid}) == {"cancelled": True}
        assert (await asyncio.wait_for(turn, 10))["status"] == "cancelled"  # not 30 s later
        state = await e.request("agent/getSession", {"sessionId": sid})
        assert state["session"]["state"] == "idle" and state["pendingToolCalls"] == []
        assert (await e.send("again", session_id=sid, mode="code"))["message"] == "fresh"
        assert "Cancelled by the user" in last_result(llm)  # the model is told the call was cut off
    finally:
        await e.stop()


async def test_a_big_or_binary_result_reaches_the_model_cut_and_described(workspace, db_path, llm: FakeLLM) -> None:
    llm.script = Scripted(
        code=[Reply(calls=[call("mcp__env__big", size=3_000_000)]), Reply(calls=[call("mcp__env__media")]), DONE]
    )
    options = {"approval": {"allowedMcpTools": ["env__*"]}, "limits": {"maxToolResultBytes": 100_000}}
    e = await editor(workspace, db_path, llm, {"env": ENV}, **options).start()
    try:
        assert (await e.send("big and media", mode="code"))["status"] == "completed"
        big, media = list(tool_results(llm).values())
        assert len(big.encode()) < 110_000 and "MCP result cut" in big
        assert "image/png" in media and "not shown" in media and "iVBORw0KGgo" not in media  # no binary in the prompt
    finally:
        await e.stop()


async def test_two_answers_to_one_asked_call_run_it_once(workspace, db_path, llm: FakeLLM, tmp_path: Path) -> None:
    log = tmp_path / "appended.log"
    llm.script = Scripted(code=[Reply(calls=[call("mcp__env__append", path=str(log), line="ran")]), DONE])
    e = await editor(workspace, db_path, llm, {"env": ENV}).start()
    try:
        result = await e.send("append", mode="code")
        sid, call_id = result["sessionId"], result["pendingToolCalls"][0]
        answers = await asyncio.gather(
            e.answer(sid, call_id, "success"), e.answer(sid, call_id, "success"), return_exceptions=True
        )
        refused = [a for a in answers if isinstance(a, JsonRpcException)]
        done = [a for a in answers if isinstance(a, dict)]
        # the second is refused: the call was answered (-32013), or its turn runs (-32011)
        assert len(refused) == 1 and refused[0].code in (-32013, -32011), answers
        assert done[0]["status"] == "completed"
        assert log.read_text() == "ran\n"
    finally:
        await e.stop()
