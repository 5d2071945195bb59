"""`McpManager` against real MCP servers, over real stdio and HTTP, with no network:

- `mcp-server-time` (PyPI, in the `dev` extra) and `@modelcontextprotocol/server-filesystem`
  (npm, installed once into tests/mcp_servers/node_modules by the `filesystem_server`
  fixture, pinned in tests/mcp_servers/package.json): servers this project did not write;
- tests/mcp_servers/env_server.py, written with the SDK's `MCPServer`: it shows its
  environment, exits when told, adds tools, and returns images and big results.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from server.mcp import (
    HttpServer,
    McpCallInterrupted,
    McpOptions,
    McpServerUnavailable,
    McpToolNotFound,
    StdioServer,
)
from server.mcp.manager import McpManager
from tests.mcp_servers import ENV_SERVER

FAST = McpOptions(call_timeout=20.0, start_timeout=20.0, backoff_initial=0.05)

Failures = list[tuple[str, str]]

pytestmark = pytest.mark.asyncio(loop_scope="module")


def env_server(**fields: object) -> StdioServer:
    return StdioServer.model_validate({"command": sys.executable, "args": [str(ENV_SERVER)], **fields})


def time_server() -> StdioServer:
    return StdioServer(command=sys.executable, args=("-m", "mcp_server_time", "--local-timezone", "UTC"))


@pytest_asyncio.fixture(loop_scope="module")
async def start() -> AsyncIterator[Callable[..., tuple[McpManager, Failures]]]:
    """`start(servers, **options)` → a manager (closed after the test) and the failures it reported."""
    managers: list[McpManager] = []

    def make(servers: dict[str, StdioServer | HttpServer], **options: object) -> tuple[McpManager, Failures]:
        failures: Failures = []
        settings = replace(FAST, **options)
        manager = McpManager(servers, on_failure=lambda s, r: failures.append((s, r)), options=settings)
        managers.append(manager)
        return manager, failures

    yield make
    for manager in managers:
        await manager.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared() -> AsyncIterator[McpManager]:
    """One env server for the tests that do not stop it (each start costs a Python start-up)."""
    manager = McpManager({"env": env_server()}, options=replace(FAST, max_result_bytes=1000))
    await manager.tools()
    yield manager
    await manager.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_time_server_is_a_read_only_tool(start: Callable[..., tuple[McpManager, Failures]]) -> None:
    manager, failures = start({"time": time_server()})
    tools = {tool.qualified: tool for tool in await manager.tools()}
    current = tools["mcp__time__get_current_time"]
    assert (current.server, current.name, current.read_only, current.destructive) == (
        "time",
        "get_current_time",
        True,
        False,
    )
    assert current.input_schema["type"] == "object" and "timezone" in current.input_schema["properties"]
    result = await manager.call("mcp__time__get_current_time", {"timezone": "Europe/Paris"})
    assert not result.is_error
    assert json.loads(result.text)["timezone"] == "Europe/Paris"
    wrong = await manager.call("mcp__time__get_current_time", {"timezone": "Mars/Olympus"})
    assert wrong.is_error and "Mars/Olympus" in wrong.text
    assert failures == []


async def test_filesystem_server_reads_and_writes_its_folder_only(
    start: Callable[..., tuple[McpManager, Failures]], filesystem_server: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "notes.txt").write_text("hello\n")
    manager, failures = start({"fs": StdioServer(command="node", args=(str(filesystem_server), str(root)))})
    tools = {tool.name: tool for tool in await manager.tools()}
    assert tools["read_text_file"].read_only and not tools["read_text_file"].destructive
    assert tools["write_file"].destructive and not tools["write_file"].read_only
    assert tools["write_file"].qualified == "mcp__fs__write_file"
    assert "$ref" not in json.dumps([tool.input_schema for tool in tools.values()])

    read = await manager.call("mcp__fs__read_text_file", {"path": str(root / "notes.txt")})
    assert (read.is_error, read.text) == (False, "hello\n")
    wrote = await manager.call("mcp__fs__write_file", {"path": str(root / "new.txt"), "content": "written"})
    assert not wrote.is_error
    assert (root / "new.txt").read_text() == "written"
    outside = await manager.call("mcp__fs__read_text_file", {"path": str(tmp_path / "elsewhere.txt")})
    assert outside.is_error and "outside" in outside.text
    assert failures == []


async def test_no_provider_key_reaches_a_server(
    start: Callable[..., tuple[McpManager, Failures]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-openai-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-parent-0123456789")
    monkeypatch.setenv("MY_LLM_SECRET", "bound-by-api-key-env")
    monkeypatch.setenv("CODELAB_AGENT_API_KEY_ENV", "MY_LLM_SECRET")
    monkeypatch.setenv("PROJECT_SETTING", "shared")
    monkeypatch.setenv("UNRELATED", "not passed")
    env = {
        "PASSED": "${PROJECT_SETTING}",
        "WRAPPED": "Bearer ${env:OPENAI_API_KEY}",
        "BOUND": "${MY_LLM_SECRET}",
        "LITERAL_API_KEY": "written-in-the-config",
    }
    manager, _ = start({"env": env_server(env=env)})
    seen = json.loads((await manager.call("mcp__env__environment")).text)
    seen.pop("LC_CTYPE", None)  # set by the child Python itself (PEP 538 locale coercion)
    assert seen == {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "PASSED": "shared",
        "LITERAL_API_KEY": "written-in-the-config",
    }


@pytest.fixture
def http_port() -> Iterator[int]:
    """The env server over streamable HTTP on a free local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(ENV_SERVER), "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "the HTTP server did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_http_server_gets_headers_but_no_provider_key(
    start: Callable[..., tuple[McpManager, Failures]], monkeypatch: pytest.MonkeyPatch, http_port: int
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-openai-0123456789")
    monkeypatch.setenv("SERVICE_TOKEN", "service-token")
    headers = {"X-Service": "Bearer ${SERVICE_TOKEN}", "X-Model": "${OPENAI_API_KEY}", "X-Fixed": "fixed"}
    manager, failures = start({"web": HttpServer(url=f"http://127.0.0.1:{http_port}/mcp", headers=headers)})
    assert "mcp__web__headers" in {tool.qualified for tool in await manager.tools()}
    seen = json.loads((await manager.call("mcp__web__headers")).text)
    assert (seen.get("x-service"), seen.get("x-fixed")) == ("Bearer service-token", "fixed")
    assert "x-model" not in seen
    assert failures == []


async def test_a_server_that_exits_is_restarted_and_the_next_call_works(
    start: Callable[..., tuple[McpManager, Failures]],
) -> None:
    manager, failures = start({"env": env_server()})
    first = int((await manager.call("mcp__env__pid")).text)
    with pytest.raises(McpCallInterrupted) as interrupted:
        await manager.call("mcp__env__exit_now")
    assert interrupted.value.may_have_run and interrupted.value.server == "env"
    second = int((await manager.call("mcp__env__pid")).text)
    assert second != first and not _alive(first)
    await manager.close()
    assert not _alive(second)
    assert failures == []


async def test_a_missing_command_is_reported_once_and_the_others_tools_stay(
    start: Callable[..., tuple[McpManager, Failures]],
) -> None:
    crash = StdioServer(command=sys.executable, args=("-c", "import sys; sys.exit('broken on purpose')"))
    manager, failures = start(
        {"env": env_server(), "missing": StdioServer(command="no-such-mcp-server-xyz"), "crash": crash},
        backoff_initial=0.0,
    )
    names = {tool.qualified for tool in await manager.tools()}
    assert "mcp__env__pid" in names
    assert not any(name.startswith(("mcp__missing__", "mcp__crash__")) for name in names)
    await manager.tools()  # tried again (no back-off here), not reported again
    assert sorted(server for server, _ in failures) == ["crash", "missing"]
    reasons = dict(failures)
    assert "command not found: no-such-mcp-server-xyz" in reasons["missing"]
    assert "broken on purpose" in reasons["crash"]  # its stderr says why
    with pytest.raises(McpServerUnavailable, match="missing"):
        await manager.call("mcp__missing__anything")
    with pytest.raises(McpToolNotFound):
        await manager.call("mcp__env__no_such_tool")
    with pytest.raises(McpToolNotFound):
        await manager.call("mcp__elsewhere__tool")


async def test_results_become_text_within_the_limit(shared: McpManager) -> None:
    manager = shared
    media = await manager.call("mcp__env__media")
    assert not media.is_error
    assert media.text.splitlines() == [
        "a caption",
        "[image: image/png, 108 bytes; not shown]",
        "[resource file:///data.bin: application/octet-stream, 108 bytes of binary data; not shown]",
    ]
    failed = await manager.call("mcp__env__fail", {"message": "it went wrong"})
    assert failed.is_error and "it went wrong" in failed.text
    big = await manager.call("mcp__env__big", {"size": 5000})
    assert len(big.text.encode()) <= 1000 and big.text.startswith("xxx")
    assert big.text.endswith("[MCP result cut: 5,000 bytes, only the first part is shown]")
    invalid = await manager.call("mcp__env__big", {"size": "many"})
    assert invalid.is_error


async def test_schemas_are_inlined_and_names_qualified(shared: McpManager) -> None:
    manager = shared
    tools = {tool.name: tool for tool in await manager.tools()}
    counting = tools["count.nodes"]
    assert counting.qualified == "mcp__env__count_nodes"
    node = {"title": {"type": "string"}, "children": {"default": [], "items": {}, "type": "array"}}
    assert counting.input_schema == {  # no $ref, $defs or titles; the recursion left open
        "properties": {
            "tree": {
                "description": "A tree: its schema refers to itself.",
                "properties": node,
                "required": ["title"],
                "type": "object",
            }
        },
        "required": ["tree"],
        "type": "object",
    }
    tree = {"title": "root", "children": [{"title": "leaf"}, {"title": "leaf", "children": [{"title": "x"}]}]}
    assert (await manager.call("mcp__env__count_nodes", {"tree": tree})).text == "4"


async def test_list_changed_refreshes_the_tools(shared: McpManager) -> None:
    manager = shared
    assert "mcp__env__greet" not in {tool.qualified for tool in await manager.tools()}
    assert (await manager.call("mcp__env__add_tool", {"name": "greet"})).text == "added greet"
    assert "mcp__env__greet" in {tool.qualified for tool in await manager.tools()}
    assert (await manager.call("mcp__env__greet")).text == "I am greet"


async def test_every_call_has_a_timeout(shared: McpManager) -> None:
    manager = shared
    with pytest.raises(McpCallInterrupted, match=r"no answer within 0\.3 s"):
        await manager.call("mcp__env__sleep", {"seconds": 5}, timeout_seconds=0.3)
    assert (await manager.call("mcp__env__sleep", {"seconds": 0})).text == "slept"


async def test_stderr_goes_to_the_log_not_to_our_output(
    start: Callable[..., tuple[McpManager, Failures]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO, logger="server.mcp")
    manager, _ = start({"env": env_server()})
    await manager.tools()
    await manager.call("mcp__env__fail", {"message": "logged failure"})
    await manager.close()
    assert "[env] env-server starting" in caplog.text
    out, err = capfd.readouterr()
    assert "env-server starting" not in out + err


@pytest.fixture(autouse=True)
def _no_leftover_processes() -> Iterator[None]:
    """Every test closes its managers; their servers must be gone with them."""
    before = set(_children())
    yield
    deadline = time.monotonic() + 5
    while (left := set(_children()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"MCP server processes left running: {left}"


def _children() -> list[int]:
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []
