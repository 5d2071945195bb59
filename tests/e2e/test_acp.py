"""`codelab-agent acp` end to end, driven by the ACP SDK's own client side: tool calls
through `fs/*` and `terminal/*`, permissions (allowed, always, rejected), a plan, cancel,
`session/load` replay, a kill -9 at a pending permission, a client without `fs` or
`terminal`, and a stdout that carries nothing but ACP lines."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from acp import RequestError, text_block
from acp.schema import EmbeddedResourceContentBlock, EnvVariable, McpServerStdio, TextResourceContents

from tests.acp_client import Recorder, acp_agent, capabilities
from tests.fake_llm import FakeLLM, Reply, Request, Scripted, call, classify
from tests.harness import FAKE_MODEL, FAKE_MODEL_LITELLM, ROOT, base_env
from tests.mcp_servers import ENV_SERVER


def _calls(request: Request) -> list[str]:
    return [m["content"] for m in request.messages if m["role"] == "tool"]


async def _new(conn: Any, root: Path, mode: str = "code") -> str:
    session = await conn.new_session(cwd=str(root), mcp_servers=[])
    await conn.set_session_mode(session_id=session.session_id, mode_id=mode)
    return session.session_id


async def test_a_task_reads_writes_and_runs_through_the_client(workspace: Path, db_path: Path, llm: FakeLLM) -> None:
    (workspace / "a.txt").write_text("alpha\n")
    llm.script = Scripted(
        code=[
            Reply("Reading.", [call("read_file", path="a.txt")]),
            Reply("", [call("write_file", path="b.txt", content="beta\n")]),
            Reply("", [call("edit_file", path="b.txt", old_text="beta", new_text="gamma")]),
            Reply("", [call("execute_command", command="cat b.txt")]),
            Reply("", [call("attempt_completion", result="copied and checked")]),
        ]
    )
    recorder = Recorder(workspace)
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url) as (conn, _):
        session_id = await _new(conn, workspace)
        done = await conn.prompt(session_id=session_id, prompt=[text_block("copy a to b, then check it")])
    assert done.stop_reason == "end_turn"
    assert (workspace / "b.txt").read_text() == "gamma\n"
    reads = [p for kind, p in recorder.fs_calls if kind == "read"]
    writes = [p for kind, p in recorder.fs_calls if kind == "write"]
    assert str(workspace / "a.txt") in reads and writes == [str(workspace / "b.txt")] * 2
    assert recorder.commands == ["/bin/sh -c cat b.txt"]
    code = llm.by_agent("code")
    assert "alpha" in _calls(code[1])[0] and "gamma" in _calls(code[4])[-1]  # the command's output reached the model
    starts = recorder.of("tool_call")
    assert [s.title for s in starts] == ["Read a.txt", "Write b.txt", "Edit b.txt", "Run cat b.txt"]
    assert [s.kind for s in starts] == ["read", "edit", "edit", "execute"]
    assert starts[0].locations[0].path == str(workspace / "a.txt")
    for start in starts:
        assert recorder.tool_status(start.tool_call_id) == ["pending", "in_progress", "completed"]
    # the write, the edit and the command were asked about (the policy asks for them), the read was not
    assert [p.title for p in recorder.permissions] == ["Write b.txt", "Edit b.txt", "Run cat b.txt"]
    edit_diff = next(c for c in recorder.permissions[1].content if c.type == "diff")
    assert (edit_diff.old_text, edit_diff.new_text) == ("beta\n", "gamma\n")
    terminal = [c for u in recorder.of("tool_call_update") for c in (u.content or []) if c.type == "terminal"]
    assert len(terminal) == 1
    assert "copied and checked" in recorder.text()


async def test_always_allow_remembers_and_a_rejection_reaches_the_model(
    workspace: Path, db_path: Path, llm: FakeLLM
) -> None:
    llm.script = Scripted(
        code=[
            Reply("", [call("execute_command", command="ls")]),
            Reply("", [call("execute_command", command="ls -la")]),
            Reply("", [call("write_file", path="x.txt", content="x")]),
            Reply("", [call("attempt_completion", result="done")]),
        ]
    )
    choices = iter(["always", "reject"])
    recorder = Recorder(workspace, decide=lambda _call, _options: next(choices))
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url) as (conn, _):
        session_id = await _new(conn, workspace)
        done = await conn.prompt(session_id=session_id, prompt=[text_block("list, then write x")])
    assert done.stop_reason == "end_turn"
    assert [p.title for p in recorder.permissions] == ["Run ls", "Write x.txt"]  # `ls -la` was remembered
    assert [o for o in recorder.commands] == ["/bin/sh -c ls", "/bin/sh -c ls -la"]
    assert not (workspace / "x.txt").exists()
    write_id = recorder.of("tool_call")[2].tool_call_id
    assert recorder.tool_status(write_id) == ["pending", "failed"]
    assert "rejected" in _calls(llm.by_agent("code")[3])[-1].lower()


async def test_a_plan_is_approved_in_the_client_and_runs(workspace: Path, db_path: Path, llm: FakeLLM) -> None:
    plan = {
        "goal": "two files",
        "subtasks": [
            {"id": "1", "title": "Write one", "description": "one.txt", "agent": "code"},
            {"id": "2", "title": "Write two", "description": "two.txt", "agent": "code", "dependencies": ["1"]},
        ],
    }
    llm.script = Scripted(
        architect=[Reply("", [call("create_plan", **plan)])],
        code=[
            Reply("", [call("write_file", path="one.txt", content="1")]),
            Reply("", [call("attempt_completion", result="one written")]),
            Reply("", [call("write_file", path="two.txt", content="2")]),
            Reply("", [call("attempt_completion", result="two written")]),
        ],
    )
    recorder = Recorder(workspace, decide=lambda c, _o: "approve" if c.tool_call_id.startswith("plan-") else "allow")
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url) as (conn, _):
        session_id = await _new(conn, workspace, mode="architect")
        done = await conn.prompt(session_id=session_id, prompt=[text_block("make two files")])
    assert done.stop_reason == "end_turn"
    assert (workspace / "one.txt").read_text() == "1" and (workspace / "two.txt").read_text() == "2"
    assert recorder.permissions[0].title == "Approve the plan: two files"
    plans = recorder.of("plan")
    assert [e.content.split(" —")[0] for e in plans[0].entries] == ["Write one", "Write two"]
    assert [e.status for e in plans[-1].entries] == ["completed", "completed"]


async def test_a_reply_to_a_plan_awaiting_approval_revises_it(workspace: Path, db_path: Path, llm: FakeLLM) -> None:
    first = {"goal": "v1", "subtasks": [{"id": "1", "title": "Old", "description": "", "agent": "code"}]}
    second = {"goal": "v2", "subtasks": [{"id": "1", "title": "New", "description": "", "agent": "code"}]}
    llm.script = Scripted(
        architect=[Reply("", [call("create_plan", **first)]), Reply("", [call("create_plan", **second)])]
    )
    recorder = Recorder(workspace, decide=lambda _c, _o: None)  # the user dismisses the approval
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url) as (conn, _):
        session_id = await _new(conn, workspace, mode="architect")
        dismissed = await conn.prompt(session_id=session_id, prompt=[text_block("plan it")])
        assert dismissed.stop_reason == "cancelled"
        revised = await conn.prompt(session_id=session_id, prompt=[text_block("call the step New instead")])
    assert revised.stop_reason == "cancelled"  # dismissed again, now on version 2
    assert "call the step New instead" in llm.by_agent("architect")[1].text
    assert recorder.permissions[-1].title == "Approve the plan: v2"


async def test_cancel_ends_the_turn_and_the_session_goes_on(workspace: Path, db_path: Path, llm: FakeLLM) -> None:
    llm.script = Scripted(code=[Reply("", [call("write_file", path="x.txt", content="x")]), Reply("later")])
    recorder = Recorder(workspace, hold_permissions=True)
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url) as (conn, _):
        session_id = await _new(conn, workspace)
        turn = asyncio.ensure_future(conn.prompt(session_id=session_id, prompt=[text_block("write x")]))
        await asyncio.wait_for(recorder.asked.wait(), 30)
        await conn.cancel(session_id=session_id)
        done = await asyncio.wait_for(turn, 30)
        assert done.stop_reason == "cancelled"
        recorder.hold_permissions = False
        again = await conn.prompt(session_id=session_id, prompt=[text_block("say something")])
    assert again.stop_reason == "end_turn" and "later" in recorder.text()
    assert not (workspace / "x.txt").exists()


async def test_load_replays_the_history(workspace: Path, db_path: Path, llm: FakeLLM) -> None:
    (workspace / "a.txt").write_text("alpha\n")
    llm.script = Scripted(
        code=[Reply("Looking.", [call("read_file", path="a.txt")]), Reply("", [call("attempt_completion", result="A")])]
    )
    recorder = Recorder(workspace)
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url) as (conn, _):
        session_id = await _new(conn, workspace)
        await conn.prompt(session_id=session_id, prompt=[text_block("what is in a.txt?")])
    later = Recorder(workspace)
    async with acp_agent(later, db_path, FAKE_MODEL, llm.url) as (conn, _):
        listed = await conn.list_sessions(cwd=str(workspace))
        assert session_id in [s.session_id for s in listed.sessions]
        await conn.load_session(cwd=str(workspace), session_id=session_id, mcp_servers=[])
    kinds = [u.session_update for _, u in later.updates]
    assert kinds[0] == "user_message_chunk" and later.updates[0][1].content.text == "what is in a.txt?"
    assert "Looking." in later.text() and "A" in later.text()
    call_update = later.of("tool_call")[0]
    assert (
        call_update.status == "completed" and call_update.title == "Read a.txt" and "alpha" in str(call_update.content)
    )
    assert len(llm.requests) == 2  # loading asks the model nothing


async def test_a_kill_at_a_pending_permission_comes_back_with_the_same_id(
    workspace: Path, db_path: Path, llm: FakeLLM
) -> None:
    llm.script = Scripted(
        code=[
            Reply("", [call("write_file", path="x.txt", content="kept\n")]),
            Reply("", [call("attempt_completion", result="written")]),
        ]
    )
    first = Recorder(workspace, hold_permissions=True)
    async with acp_agent(first, db_path, FAKE_MODEL, llm.url) as (conn, process):
        session_id = await _new(conn, workspace)
        turn = asyncio.ensure_future(conn.prompt(session_id=session_id, prompt=[text_block("write x")]))
        await asyncio.wait_for(first.asked.wait(), 30)
        asked_id = first.permissions[0].tool_call_id
        process.kill()
        await process.wait()
        turn.cancel()
    assert not (workspace / "x.txt").exists()

    second = Recorder(workspace)
    async with acp_agent(second, db_path, FAKE_MODEL, llm.url) as (conn, _):
        await conn.load_session(cwd=str(workspace), session_id=session_id, mcp_servers=[])
        for _ in range(300):
            if any(u.status == "completed" for u in second.of("tool_call_update")) and "written" in second.text():
                break
            await asyncio.sleep(0.05)
    assert [p.tool_call_id for p in second.permissions] == [asked_id]  # the same call, asked again
    assert (workspace / "x.txt").read_text() == "kept\n"
    assert second.tool_status(asked_id)[-1] == "completed"
    assert len(llm.by_agent("code")) == 2  # the write step was not asked of the model again


async def test_a_client_without_fs_or_terminal_gets_the_work_done_inside_cwd(
    workspace: Path, db_path: Path, llm: FakeLLM, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    llm.script = Scripted(
        code=[
            Reply("", [call("write_file", path="in.txt", content="inside\n")]),
            Reply("", [call("execute_command", command="cat in.txt")]),
            Reply("", [call("read_file", path=str(outside))]),
            Reply("", [call("attempt_completion", result="done")]),
        ]
    )
    recorder = Recorder(workspace)
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url, caps=capabilities(fs=False, terminal=False)) as (
        conn,
        _,
    ):
        session_id = await _new(conn, workspace)
        done = await conn.prompt(session_id=session_id, prompt=[text_block("write and read")])
    assert done.stop_reason == "end_turn"
    assert recorder.fs_calls == [] and recorder.commands == []  # nothing went through the client
    assert (workspace / "in.txt").read_text() == "inside\n"
    results = _calls(llm.by_agent("code")[3])
    assert "inside" in results[1]  # the command ran here, in the workspace
    assert "secret" not in results[2] and "outside the workspace" in results[2]


async def test_embedded_files_become_context_and_bad_requests_are_refused(
    workspace: Path, db_path: Path, llm: FakeLLM
) -> None:
    llm.script = Scripted(code=[Reply("seen"), Reply("yes")])
    recorder = Recorder(workspace)
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url) as (conn, _):
        session_id = await _new(conn, workspace)
        resource = EmbeddedResourceContentBlock(
            type="resource",
            resource=TextResourceContents(uri=f"file://{workspace}/notes.md", text="EMBEDDED-NOTE"),
        )
        done = await conn.prompt(session_id=session_id, prompt=[text_block("read my notes"), resource])
        assert done.stop_reason == "end_turn"
        with pytest.raises(RequestError, match="absolute"):
            await conn.new_session(cwd="relative/dir", mcp_servers=[])
        with pytest.raises(RequestError, match="not a directory"):
            await conn.new_session(cwd=str(workspace / "missing"), mcp_servers=[])
        with pytest.raises(RequestError, match="unknown mode"):
            await conn.set_session_mode(session_id=session_id, mode_id="wizard")
        with pytest.raises(RequestError, match="no open session"):
            await conn.prompt(session_id="nope", prompt=[text_block("hi")])
        with pytest.raises(RequestError, match="no text"):
            await conn.prompt(session_id=session_id, prompt=[])
        again = await conn.prompt(session_id=session_id, prompt=[text_block("still there?")])
    shown = llm.by_agent("code")[0].text
    assert "EMBEDDED-NOTE" in shown and "notes.md" in shown
    assert again.stop_reason == "end_turn"  # every refusal left the session working


async def test_stdout_carries_only_acp_lines_with_litellm_debug_logging(
    workspace: Path, db_path: Path, llm: FakeLLM
) -> None:
    llm.script = Scripted(orchestrator=[classify("code")], code=[Reply("hello there")])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "acp",
        "--db",
        str(db_path),
        "--model",
        FAKE_MODEL_LITELLM,
        "--api-base",
        llm.url,
        "--log-level",
        "DEBUG",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=base_env(LITELLM_LOG="DEBUG"),
        cwd=str(ROOT),
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    errors = asyncio.ensure_future(process.stderr.read())  # drained, or debug logging fills the pipe
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}},
        {"jsonrpc": "2.0", "id": 2, "method": "session/new", "params": {"cwd": str(workspace), "mcpServers": []}},
    ]
    for request in requests:
        process.stdin.write(json.dumps(request).encode() + b"\n")
    await process.stdin.drain()
    lines: list[dict[str, Any]] = []
    while len([m for m in lines if "id" in m]) < 2:
        lines.append(json.loads(await asyncio.wait_for(process.stdout.readline(), 60)))
    assert "result" in lines[-1], lines
    session_id = lines[-1]["result"]["sessionId"]
    # garbage and bad params first: answered (or skipped), and the process goes on
    process.stdin.write(b"this is not json\n")
    bad = {"jsonrpc": "2.0", "id": 9, "method": "session/prompt", "params": {"sessionId": 123, "prompt": "x"}}
    process.stdin.write(json.dumps(bad).encode() + b"\n")
    await process.stdin.drain()
    while not any(m.get("id") == 9 for m in lines):
        lines.append(json.loads(await asyncio.wait_for(process.stdout.readline(), 60)))
    assert next(m for m in lines if m.get("id") == 9)["error"]["code"] == -32602
    prompt = {"sessionId": session_id, "prompt": [{"type": "text", "text": "say hello"}]}
    process.stdin.write(
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": prompt}).encode() + b"\n"
    )
    await process.stdin.drain()
    while not any(m.get("id") == 3 for m in lines):
        raw = await asyncio.wait_for(process.stdout.readline(), 60)
        assert raw.endswith(b"\n")
        lines.append(json.loads(raw))  # every line is one JSON-RPC message, nothing else
    process.stdin.close()
    rest = await asyncio.wait_for(process.stdout.read(), 60)
    await asyncio.wait_for(process.wait(), 60)
    for raw in rest.splitlines():
        assert json.loads(raw)["jsonrpc"] == "2.0"
    assert all(m["jsonrpc"] == "2.0" for m in lines)
    answer = next(m for m in lines if m.get("id") == 3)
    assert answer.get("result", {}).get("stopReason") == "end_turn", answer
    assert b"litellm" in (await errors).lower()  # the debug logging ran, on stderr
    assert process.returncode == 0


async def test_mcp_servers_of_session_new_are_the_agents_tools(
    workspace: Path, db_path: Path, llm: FakeLLM, tmp_path: Path
) -> None:
    """`session/new`'s stdio MCP servers: a read-only tool runs without asking, as a tool
    call card that completes; another asks through `session/request_permission` first."""
    log = tmp_path / "appended.log"
    llm.script = Scripted(
        code=[
            Reply("", [call("mcp__time__get_current_time", timezone="UTC")]),
            Reply("", [call("mcp__env__append", path=str(log), line="approved")]),
            Reply("", [call("attempt_completion", result="done")]),
        ]
    )
    servers = [
        McpServerStdio(
            name="time", command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"], env=[]
        ),
        McpServerStdio(
            name="env", command=sys.executable, args=[str(ENV_SERVER)], env=[EnvVariable(name="A", value="b")]
        ),
    ]
    recorder = Recorder(workspace)
    async with acp_agent(recorder, db_path, FAKE_MODEL, llm.url) as (conn, _):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=servers)
        await conn.set_session_mode(session_id=session.session_id, mode_id="code")
        done = await conn.prompt(session_id=session.session_id, prompt=[text_block("what time is it?")])
    assert done.stop_reason == "end_turn"
    assert "UTC" in _calls(llm.by_agent("code")[1])[0]
    assert log.read_text() == "approved\n"
    assert [p.title for p in recorder.permissions] == ["append (MCP server env)"]
    starts = recorder.of("tool_call")
    assert [s.title for s in starts] == ["mcp__time__get_current_time", "append (MCP server env)"]
    for start in starts:
        assert recorder.tool_status(start.tool_call_id)[-1] == "completed"


async def test_mcp_servers_given_at_load_are_used_by_the_loaded_session(
    workspace: Path, db_path: Path, llm: FakeLLM
) -> None:
    """A later process loads the session with the client's servers: its next prompt (or a
    turn resumed after a crash) runs their tools."""
    time_server = McpServerStdio(
        name="time", command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"], env=[]
    )
    llm.script = Scripted(
        code=[
            Reply("", [call("attempt_completion", result="first")]),
            Reply("", [call("mcp__time__get_current_time", timezone="UTC")]),
            Reply("", [call("attempt_completion", result="second")]),
        ]
    )
    async with acp_agent(Recorder(workspace), db_path, FAKE_MODEL, llm.url) as (conn, _):
        session_id = await _new(conn, workspace)
        await conn.prompt(session_id=session_id, prompt=[text_block("first")])
    async with acp_agent(Recorder(workspace), db_path, FAKE_MODEL, llm.url) as (conn, _):
        await conn.load_session(cwd=str(workspace), session_id=session_id, mcp_servers=[time_server])
        await conn.set_session_mode(session_id=session_id, mode_id="code")
        done = await conn.prompt(session_id=session_id, prompt=[text_block("what time is it?")])
    assert done.stop_reason == "end_turn"
    assert "UTC" in _calls(llm.by_agent("code")[2])[-1]
