"""An ACP client for the end-to-end tests, on the SDK's own client side: it spawns
`codelab-agent acp` with `acp.spawn_agent_process`, records every `session/update`,
answers `session/request_permission` from a script, and serves `fs/*` and `terminal/*`
from a real directory and real processes (as an editor would), when it announces them."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, RequestError, spawn_agent_process
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    CreateTerminalResponse,
    DeniedOutcome,
    FileSystemCapabilities,
    ReadTextFileResponse,
    ReleaseTerminalResponse,
    RequestPermissionResponse,
    TerminalExitStatus,
    TerminalOutputResponse,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)

from tests.harness import base_env

Decide = Callable[[Any, list[Any]], str | None]
"""(the tool call asked about, the options) → the option id to pick, or None to cancel."""


def always(option: str) -> Decide:
    return lambda _call, _options: option


@dataclass
class Terminal:
    process: subprocess.Popen[bytes]
    output: bytes = b""


@dataclass
class Recorder:
    """The client side: what an editor hosting the agent does."""

    root: Path
    decide: Decide = field(default_factory=lambda: always("allow"))
    updates: list[tuple[str, Any]] = field(default_factory=lambda: [])
    permissions: list[Any] = field(default_factory=lambda: [])
    fs_calls: list[tuple[str, str]] = field(default_factory=lambda: [])
    terminals: dict[str, Terminal] = field(default_factory=lambda: {})
    commands: list[str] = field(default_factory=lambda: [])
    asked: asyncio.Event = field(default_factory=asyncio.Event)
    hold_permissions: bool = False

    # --- what the agent asks of the client -------------------------------------------

    async def request_permission(self, session_id: str, tool_call: Any, options: list[Any], **_: Any) -> Any:
        self.permissions.append(tool_call)
        self.asked.set()
        if self.hold_permissions:
            await asyncio.Event().wait()  # an editor whose user never answers
        choice = self.decide(tool_call, options)
        if choice is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id=choice))

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        self.updates.append((session_id, update))

    async def read_text_file(
        self, session_id: str, path: str, line: int | None = None, limit: int | None = None, **_: Any
    ) -> ReadTextFileResponse:
        self.fs_calls.append(("read", path))
        target = Path(path)
        if not target.is_file():  # noqa: ASYNC240 - a test's editor, reading small files
            raise RequestError(-32002, f"Resource not found: {path}")
        text = target.read_text()  # noqa: ASYNC240
        if line is not None or limit is not None:
            lines = text.splitlines(keepends=True)
            start = (line or 1) - 1
            text = "".join(lines[start : start + limit if limit else None])
        return ReadTextFileResponse(content=text)

    async def write_text_file(self, session_id: str, path: str, content: str, **_: Any) -> WriteTextFileResponse:
        self.fs_calls.append(("write", path))
        Path(path).write_text(content)  # noqa: ASYNC240 - a test's editor, writing small files
        return WriteTextFileResponse()

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        *,
        cwd: str | None = None,
        **_: Any,
    ) -> CreateTerminalResponse:
        self.commands.append(" ".join([command, *(args or [])]))
        process = subprocess.Popen(  # noqa: ASYNC220 - waited for on a thread (wait_for_terminal_exit)
            [command, *(args or [])], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        terminal_id = f"term-{uuid.uuid4().hex[:8]}"
        self.terminals[terminal_id] = Terminal(process)
        return CreateTerminalResponse(terminal_id=terminal_id)

    async def wait_for_terminal_exit(self, session_id: str, terminal_id: str, **_: Any) -> WaitForTerminalExitResponse:
        terminal = self.terminals[terminal_id]
        out, _ = await asyncio.to_thread(terminal.process.communicate)
        terminal.output = out
        return WaitForTerminalExitResponse(exit_code=terminal.process.returncode)

    async def terminal_output(self, session_id: str, terminal_id: str, **_: Any) -> TerminalOutputResponse:
        terminal = self.terminals[terminal_id]
        code = terminal.process.returncode
        return TerminalOutputResponse(
            output=terminal.output.decode(errors="replace"),
            truncated=False,
            exit_status=TerminalExitStatus(exit_code=code) if code is not None else None,
        )

    async def release_terminal(self, session_id: str, terminal_id: str, **_: Any) -> ReleaseTerminalResponse:
        self.terminals.pop(terminal_id, None)
        return ReleaseTerminalResponse()

    async def kill_terminal(self, session_id: str, terminal_id: str, **_: Any) -> None:
        self.terminals[terminal_id].process.kill()

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None

    def on_connect(self, conn: Any) -> None:
        return None

    # --- what the tests read ---------------------------------------------------------

    def of(self, kind: str) -> list[Any]:
        return [u for _, u in self.updates if u.session_update == kind]

    def text(self) -> str:
        return "".join(u.content.text for u in self.of("agent_message_chunk"))

    def tool_status(self, call_id: str) -> list[str | None]:
        return [
            u.status
            for u in self.of("tool_call") + self.of("tool_call_update")
            if u.tool_call_id == call_id and u.status
        ]


def capabilities(fs: bool = True, terminal: bool = True) -> ClientCapabilities:
    return ClientCapabilities(fs=FileSystemCapabilities(read_text_file=fs, write_text_file=fs), terminal=terminal)


@contextlib.asynccontextmanager
async def acp_agent(
    recorder: Recorder,
    db: Path,
    model: str,
    api_base: str | None,
    *,
    caps: ClientCapabilities | None = None,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[Any, asyncio.subprocess.Process]]:
    """`codelab-agent acp` spawned and initialized; yields (the SDK's connection, the process)."""
    args = ["-m", "server", "acp", "--db", str(db), "--model", model, *extra]
    if api_base:
        args += ["--api-base", api_base]
    async with spawn_agent_process(
        recorder, sys.executable, *args, env=base_env(**(env or {})), cwd=str(recorder.root), use_unstable_protocol=True
    ) as (conn, process):
        await conn.initialize(protocol_version=PROTOCOL_VERSION, client_capabilities=caps or capabilities())
        yield conn, process
