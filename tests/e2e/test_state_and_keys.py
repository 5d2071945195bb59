"""Hardening end to end: keys go only where the user sent them, a foreign database is
refused untouched, and a process that lost its lease never commits its stale step."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.fake_llm import FakeLLM, Reply, Scripted
from tests.harness import FAKE_MODEL, FAKE_MODEL_LITELLM, Editor

OPENAI_SECRET = "sk-test-openai-0123456789abcdef"
GROQ_SECRET = "gsk_live0123456789abcdefghijklmn"


async def test_the_key_variable_bound_on_the_command_line_goes_to_its_api_base(
    workspace, db_path, llm: FakeLLM
) -> None:
    llm.script = Scripted(code=[Reply("hi")])
    editor = await Editor(
        workspace,
        db_path,
        model=FAKE_MODEL_LITELLM,
        api_base=llm.url,
        env={"MY_PROXY_KEY": "proxy-key-0123456789", "OPENAI_API_KEY": OPENAI_SECRET},
        extra_args=("--api-key-env", "MY_PROXY_KEY"),
    ).start()
    assert (await editor.send("hello", mode="code"))["status"] == "completed"
    assert llm.requests[0].headers["authorization"] == "Bearer proxy-key-0123456789"
    await editor.stop()


async def test_an_api_base_from_editor_settings_never_gets_the_users_key(workspace, db_path, llm: FakeLLM) -> None:
    """A workspace's settings point the model at a server on this machine: it is used,
    but with a placeholder, not the provider key from the user's environment."""
    llm.script = Scripted(code=[Reply("hi")])
    editor = await Editor(
        workspace,
        db_path,
        model=FAKE_MODEL_LITELLM,
        options={"llm": {"apiBase": llm.url}},
        env={"OPENAI_API_KEY": OPENAI_SECRET},
    ).start()
    assert (await editor.send("hello", mode="code"))["status"] == "completed"
    assert OPENAI_SECRET not in str(llm.requests[0].headers)
    assert llm.requests[0].headers["authorization"] == "Bearer not-needed"
    await editor.stop()


async def test_a_remote_api_base_from_editor_settings_is_refused(workspace, db_path, tmp_path: Path) -> None:
    log = tmp_path / "sidecar.log"
    editor = await Editor(
        workspace,
        db_path,
        model="openai/gpt-4.1",
        options={"llm": {"apiBase": "http://203.0.113.9/v1"}},  # TEST-NET: never reached
        env={"OPENAI_API_KEY": OPENAI_SECRET},
        extra_args=("--log-file", str(log)),
    ).start()
    result = await editor.send("hello", mode="code")
    assert result["status"] == "failed"
    assert "--api-base" in result["error"]["message"] and "203.0.113.9" in result["error"]["message"]
    assert not editor.statuses("retrying")  # refused at once, not retried
    # the session survives: the same request again gets the same clear answer
    again = await editor.send("hello again", session_id=result["sessionId"], mode="code")
    assert again["status"] == "failed"
    await editor.stop()
    assert OPENAI_SECRET not in log.read_text()


async def test_the_bound_api_base_gets_the_openai_key_and_one_changed_live_by_the_editor_is_refused(
    workspace, db_path, llm: FakeLLM
) -> None:
    """openai/ with the API base bound on the command line sends the OpenAI key there.
    `workspace/didChangeConfiguration` is editor settings as well: a remote API base it
    sets gets no key, and setting the bound one back makes the session work again.
    (One sidecar for both: each litellm sidecar costs the suite seconds of import.)"""
    llm.script = Scripted(code=[Reply("hi"), Reply("hi")])
    editor = await Editor(
        workspace, db_path, model=FAKE_MODEL_LITELLM, api_base=llm.url, env={"OPENAI_API_KEY": OPENAI_SECRET}
    ).start()
    assert (await editor.send("hello", mode="code"))["status"] == "completed"
    assert llm.requests[0].headers["authorization"] == f"Bearer {OPENAI_SECRET}"
    llm.requests.clear()
    assert editor.client is not None
    editor.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codelabAgent": {"llm": {"apiBase": "http://203.0.113.9/v1"}}})
    )
    refused = await editor.send("hello", mode="code")
    assert refused["status"] == "failed" and "--api-base" in refused["error"]["message"]
    assert llm.requests == []  # nothing was sent anywhere
    editor.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codelabAgent": {"llm": {"apiBase": llm.url}}})
    )
    done = await editor.send("hello again", session_id=refused["sessionId"], mode="code")
    assert done["status"] == "completed"
    assert llm.requests[0].headers["authorization"] == f"Bearer {OPENAI_SECRET}"
    await editor.stop()


async def test_a_key_echoed_in_a_provider_error_is_redacted_everywhere(
    workspace, db_path, llm: FakeLLM, tmp_path: Path
) -> None:
    log = tmp_path / "sidecar.log"
    echo = f"invalid request for key {GROQ_SECRET}; also sk-or-v1-abcdef0123456789 was wrong"
    llm.script = Scripted(code=[Reply(echo, status=400)])
    editor = await Editor(
        workspace,
        db_path,
        model=FAKE_MODEL_LITELLM,
        api_base=llm.url,
        env={"GROQ_API_KEY": GROQ_SECRET},
        extra_args=("--log-file", str(log), "--log-level", "DEBUG"),
    ).start()
    result = await editor.send("hello", mode="code")
    assert result["status"] == "failed" and "[redacted]" in result["error"]["message"]
    session = await editor.request("agent/getSession", {"sessionId": result["sessionId"]})
    await editor.stop()
    for where, text in (
        ("result", str(result)),
        ("session", str(session)),
        ("database", db_path.read_bytes().decode("latin-1")),
        ("log", log.read_text()),
    ):
        assert GROQ_SECRET not in text, where
        assert "sk-or-v1-abcdef0123456789" not in text, where


async def test_a_database_that_is_not_ours_is_refused_untouched(workspace, tmp_path: Path) -> None:
    other = tmp_path / "other-app.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('ada')")
    before = other.read_bytes()
    with pytest.raises(JsonRpcException) as error:
        await Editor(workspace, other).start()
    assert "another application's SQLite database" in error.value.message
    assert other.read_bytes() == before
    assert not os.path.exists(f"{other}-wal")  # noqa: ASYNC240 - a test's check


async def test_a_process_paused_past_its_lease_never_commits_its_stale_step(workspace, db_path, llm: FakeLLM) -> None:
    """SIGSTOP the process mid model call until another takes the session over; when it
    wakes, its step is dropped (SessionBusy, lease_lost) and nothing of it is stored."""
    hold = threading.Event()
    llm.script = Scripted(code=[Reply("stale step", hold=hold), Reply("fresh step")])
    lease = {"CODELAB_AGENT_LEASE_SECONDS": "1"}
    first = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url, env=lease).start()
    second = await Editor(workspace, db_path, model=FAKE_MODEL, api_base=llm.url, env=lease).start()
    pending = asyncio.ensure_future(first.send("hello", mode="code"))
    await first.wait_for(lambda: len(llm.requests) == 1)
    session = first.statuses()[0]["sessionId"]

    os.kill(first.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(1.6)  # the lease expires; the process still exists
        taken = await second.request("agent/resume", {"sessionId": session})
        assert taken["status"] == "completed" and taken["message"] == "fresh step"
    finally:
        hold.set()  # the stale reply arrives while the first sleeps
        os.kill(first.pid, signal.SIGCONT)
    with pytest.raises(JsonRpcException) as lost:
        await pending
    assert lost.value.code == -32011 and lost.value.data["reason"] == "lease_lost"

    seen = await first.request("agent/getSession", {"sessionId": session})  # it still serves
    texts = [m["content"] for m in seen["messages"]]
    assert "fresh step" in texts and "stale step" not in texts
    assert seen["session"]["state"] == "idle"
    await first.stop()
    await second.stop()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
