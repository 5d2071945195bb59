"""The real litellm path against a local OpenAI-compatible server, and a stdout that
carries nothing but protocol frames even with litellm's debug logging on."""

from __future__ import annotations

import asyncio
import json
import sys

from tests.e2e.test_turns import _frames
from tests.fake_llm import FakeLLM, Reply, Scripted, call
from tests.harness import base_env

CONTENT = "# Überschrift — ünïcödé\n" + "\n".join(f"line {i}: {'x' * 40}" for i in range(60)) + "\n"


async def test_split_tool_call_arguments_are_reassembled(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        litellm=True,
        code=[Reply("Here it comes: ", [call("write_file", path="big.md", content=CONTENT)]), Reply("done")],
    )
    result = await editor.send("write big.md", mode="code")
    tool_call = editor.call(result["pendingToolCalls"][0])
    assert tool_call["arguments"] == {"path": "big.md", "content": CONTENT}
    done = await editor.execute(result["sessionId"], tool_call["callId"])
    assert done["status"] == "completed"
    assert (editor.workspace / "big.md").read_text() == CONTENT
    request = llm.requests[0].body
    assert request["stream"] is True and request["model"] == "fake"
    assert {t["function"]["name"] for t in request["tools"]} >= {"read_file", "write_file", "attempt_completion"}
    usage = (await editor.request("agent/getSession", {"sessionId": result["sessionId"]}))["usage"]
    assert usage["byAgent"]["code"]["requests"] == 2 and usage["byAgent"]["code"]["promptTokens"] > 0


async def test_transient_errors_are_retried_then_reported(make_editor, llm: FakeLLM) -> None:
    editor = await make_editor(
        litellm=True,
        options={"llm": {"maxRetries": 1}},
        code=[Reply(status=503, text="overloaded"), Reply(status=503, text="overloaded"), Reply("never")],
    )
    result = await editor.send("hello", mode="code")
    assert result["status"] == "failed"
    assert result["error"]["code"] == -32015 and "after 2 attempts" in result["error"]["message"]
    assert [s["data"]["attempt"] for s in editor.statuses("retrying")] == [1]
    llm.script = Scripted(code=[Reply(status=503, text="busy"), Reply("recovered")])
    again = await editor.send("hello again", session_id=result["sessionId"], mode="code")
    assert again["status"] == "completed" and again["message"] == "recovered"


def _frame(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def _read_frame(stream: asyncio.StreamReader, raw: bytearray) -> dict:
    header = await stream.readuntil(b"\r\n\r\n")
    raw += header
    length = next(
        int(line.split(b":")[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    body = await stream.readexactly(length)
    raw += body
    return json.loads(body)


async def test_stdout_carries_only_frames_with_litellm_debug_logging(workspace, db_path, llm: FakeLLM) -> None:
    llm.script = Scripted(code=[Reply("Writing.", [call("write_file", path="x.txt", content="x")]), Reply("done")])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        "--stdio",
        "--db",
        str(db_path),
        "--model",
        "openai/fake",
        "--api-base",
        llm.url,
        "--log-level",
        "DEBUG",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=base_env(LITELLM_LOG="DEBUG"),
        cwd=workspace,
    )
    assert process.stdin and process.stdout and process.stderr
    raw = bytearray()
    errors = bytearray()

    async def drain() -> None:  # DEBUG logs are plenty: keep the pipe from filling
        while chunk := await process.stderr.read(65536):
            errors.extend(chunk)

    draining = asyncio.ensure_future(drain())

    async def request(msg_id: int, method: str, params: dict) -> dict:
        process.stdin.write(_frame({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}))
        while True:
            message = await asyncio.wait_for(_read_frame(process.stdout, raw), 60)
            if message.get("id") == msg_id and "method" not in message:
                return message

    try:
        await request(1, "initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}})
        process.stdin.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        sent = await request(2, "agent/sendMessage", {"text": "write x", "mode": "code"})
        result = sent["result"]
        call_id = result["pendingToolCalls"][0]
        done = await request(
            3,
            "agent/toolResult",
            {"sessionId": result["sessionId"], "callId": call_id, "status": "success", "content": "ok"},
        )
        assert done["result"]["status"] == "completed"
        await request(4, "shutdown", {})
        process.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit"}))
        await process.stdin.drain()
        raw += await asyncio.wait_for(process.stdout.read(), 30)
        await asyncio.wait_for(process.wait(), 30)
        await draining
    finally:  # a failed step must not leave a sidecar behind
        if process.returncode is None:
            process.kill()
            await process.wait()
        draining.cancel()
    messages = _frames(bytes(raw))  # every byte is part of a frame
    assert any(m.get("method") == "agent/stream" for m in messages)
    assert b"LiteLLM" in errors or b"litellm" in errors  # the debug logging really ran (on stderr)
    assert process.returncode == 0
