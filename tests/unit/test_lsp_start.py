"""`AgentServer`'s two-step start: `initialize` opens the database, the runtime is built
after (on `initialized` or the first request). A start that fails answers every waiting
request with why, is tried again by the next request, and never closes the database
twice or leaves it open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from lsprotocol import types

from protocol.errors import AgentError, ServerNotInitialized
from server.lsp.server import AgentServer
from server.runtime import Runtime
from server.settings import base_settings

SECRET = "sk-or-v1-abcdef0123456789abcdef0123"


def _server(tmp_path: Path) -> AgentServer:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return AgentServer(base_settings(db=str(tmp_path / "agent.db"), model="demo", workspace=str(workspace)))


async def _initialize(server: AgentServer, tmp_path: Path) -> None:
    root = (tmp_path / "workspace").as_uri()
    await server._initialize(types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=root))  # pyright: ignore[reportPrivateUsage]


def _closed(server: AgentServer) -> bool:
    opened = server._opened  # pyright: ignore[reportPrivateUsage]
    assert opened is not None
    try:
        opened.db._writer.execute("SELECT 1")  # pyright: ignore[reportPrivateUsage]
    except sqlite3.ProgrammingError:
        return True
    return False


async def test_no_app_before_initialize(tmp_path: Path) -> None:
    with pytest.raises(ServerNotInitialized):
        await _server(tmp_path).require_app()


async def test_a_failed_start_says_why_redacted_and_the_next_request_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server(tmp_path)
    await _initialize(server, tmp_path)
    original = Runtime.recover
    failures = [RuntimeError(f"disk on fire near {SECRET}")]

    async def recover(self: Runtime) -> None:
        if failures:
            raise failures.pop()
        await original(self)

    monkeypatch.setattr(Runtime, "recover", recover)
    with pytest.raises(AgentError) as failed:
        await server.require_app()
    assert "could not finish starting" in failed.value.message and "disk on fire" in failed.value.message
    assert SECRET not in failed.value.message
    assert not _closed(server)  # the database stays open for the next try
    app = await server.require_app()
    assert app is server.app and await server.require_app() is app
    await server.close()
    assert _closed(server)


async def test_a_start_that_never_succeeds_closes_the_database_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def recover(self: Runtime) -> None:
        raise RuntimeError("the recovery failed")

    monkeypatch.setattr(Runtime, "recover", recover)
    server = _server(tmp_path)
    await _initialize(server, tmp_path)
    for _ in range(2):
        with pytest.raises(AgentError, match="the recovery failed"):
            await server.require_app()
    await server.close()  # no second close of what a failed start closed
    assert _closed(server)


async def test_a_sidecar_closed_before_its_runtime_was_built_closes_its_database(tmp_path: Path) -> None:
    server = _server(tmp_path)
    await _initialize(server, tmp_path)
    assert server.app is None
    await server.close()
    assert _closed(server)


async def test_nothing_is_built_once_the_sidecar_is_closing(tmp_path: Path) -> None:
    """An `initialized` or a request handled after `exit` (asyncio.run runs what was left)
    must not build a runtime on a closed database."""
    server = _server(tmp_path)
    await _initialize(server, tmp_path)
    await server.close()
    await server._initialized(types.InitializedParams())  # pyright: ignore[reportPrivateUsage]
    with pytest.raises(AgentError, match="stopping"):
        await server.require_app()
    assert server.app is None and server._finishing is None  # pyright: ignore[reportPrivateUsage]
