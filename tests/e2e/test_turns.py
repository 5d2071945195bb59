"""The walking skeleton over stdio, where the wire itself is the subject: requests
before initialize and garbage frames, and `$/cancelRequest` of a running turn.
The rest of the walking skeleton runs in-process (tests/runtime/test_turns.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.fake_llm import FakeLLM, Reply


async def _error(coro: object) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as info:
        await coro  # type: ignore[misc]
    return info.value


def test_requests_before_initialize_and_garbage(workspace, db_path) -> None:
    import json
    import subprocess
    import sys

    from tests.harness import base_env

    def frame(payload: object) -> bytes:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)

    stdin = b"".join(
        [
            frame({"jsonrpc": "2.0", "id": 1, "method": "agent/listSessions", "params": {}}),
            frame(b"{not json"),
            frame({"jsonrpc": "2.0", "id": 2}),
            frame([1, 2]),
        ]
    )
    done = subprocess.run(
        [sys.executable, "-m", "server", "--db", str(db_path)],
        input=stdin,
        capture_output=True,
        env=base_env(),
        cwd=workspace,
        timeout=30,
        check=False,
    )
    replies = _frames(done.stdout)
    assert len(replies) == 4
    by_id = {r["id"]: r for r in replies if r["id"] is not None}
    assert by_id[1]["error"]["code"] == -32002 and "initialize" in by_id[1]["error"]["message"]
    assert by_id[2]["error"]["code"] == -32600
    anonymous = sorted(r["error"]["code"] for r in replies if r["id"] is None)
    assert sorted(anonymous) == [-32700, -32600]


def _frames(raw: bytes) -> list[dict]:
    """Parse a byte stream as LSP frames, failing on any byte that is not one."""
    import json

    messages, rest = [], raw
    while rest:
        header, sep, rest = rest.partition(b"\r\n\r\n")
        assert sep, f"stray bytes on stdout: {header[:200]!r}"
        lines = header.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
        body, rest = rest[:length], rest[length:]
        messages.append(json.loads(body))
    return messages


async def test_cancel_request_of_a_running_turn(make_editor, llm: FakeLLM) -> None:
    hold = threading.Event()
    editor = await make_editor(code=[Reply("never", hold=hold), Reply("next")])
    running = asyncio.ensure_future(
        editor.client.protocol.send_request_async(
            "agent/sendMessage", {"text": "think", "mode": "code"}, msg_id="turn-1"
        )
    )
    await editor.wait_for(lambda: len(llm.requests) == 1)
    editor.client.protocol.notify("$/cancelRequest", types.CancelParams(id="turn-1"))
    error = await _error(running)
    assert error.code == -32800
    hold.set()
    session = editor.statuses()[0]["sessionId"]
    state = (await editor.request("agent/getSession", {"sessionId": session}))["session"]
    assert state["state"] == "idle" and state["interrupted"] is False  # the turn was cancelled cleanly
    assert (await editor.send("again", session_id=session, mode="code"))["message"] == "next"
