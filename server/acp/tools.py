"""Running a tool call for an ACP client, and showing it.

Where ACP has a method and the client announced the capability, the client runs the
call: `read_file` → `fs/read_text_file`; `write_file` → `fs/write_text_file` (the old
text read first, so the editor can show the diff); `edit_file` → read, one exact
replacement, write; `execute_command` → `terminal/create`, `wait_for_exit`, `output`,
`release`. Everything else (`list_files`, `search_in_code`, `create_directory`, or any
call whose capability is missing) runs inside the sidecar, confined to the session's
workspace by the same code the terminal client uses.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from acp import helpers
from acp.schema import (
    ClientCapabilities,
    ContentToolCallContent,
    FileEditToolCallContent,
    TerminalToolCallContent,
    ToolCallLocation,
)

from protocol.enums import ToolResultStatus
from protocol.notifications import ToolCallNotification
from server.chat.tools import ToolFailure, WorkspaceTools
from server.mcp import McpConfig, McpConfigError

OUTPUT_LIMIT = 256 * 1024
"""Bytes of a command's output kept (the client truncates from the beginning)."""

KINDS = {
    "read_file": "read",
    "list_files": "search",
    "search_in_code": "search",
    "write_file": "edit",
    "edit_file": "edit",
    "create_directory": "edit",
    "execute_command": "execute",
}

Content = ContentToolCallContent | FileEditToolCallContent | TerminalToolCallContent


class ClientSide(Protocol):
    """The ACP client methods a call may use (the SDK's connection to the client)."""

    async def read_text_file(
        self, session_id: str, path: str, line: int | None = None, limit: int | None = None
    ) -> Any: ...

    async def write_text_file(self, session_id: str, path: str, content: str) -> Any: ...

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
    ) -> Any: ...

    async def wait_for_terminal_exit(self, session_id: str, terminal_id: str) -> Any: ...

    async def terminal_output(self, session_id: str, terminal_id: str) -> Any: ...

    async def release_terminal(self, session_id: str, terminal_id: str) -> Any: ...


@dataclass(frozen=True)
class Outcome:
    status: ToolResultStatus
    text: str
    """What the model gets."""
    content: Sequence[Content] = ()
    """What the editor shows."""


def title(call: ToolCallNotification) -> str:
    """A title a person reads: `Read src/app.py`, `Run pytest -q`."""
    a = call.arguments
    path = str(a.get("path") or ".")
    match call.name:
        case "read_file":
            return f"Read {path}"
        case "list_files":
            return f"List {path}"
        case "search_in_code":
            return f"Search for {a.get('query', '')!r} in {path}"
        case "write_file":
            return f"Write {path}"
        case "edit_file":
            return f"Edit {path}"
        case "create_directory":
            return f"Create directory {path}"
        case "execute_command":
            return f"Run {a.get('command', '')}"
        case _ if call.server:
            return f"{call.name.removeprefix(f'mcp__{call.server}__')} (MCP server {call.server})"
        case _:
            return call.name


def mcp_config(servers: Sequence[Any]) -> McpConfig:
    """`session/new`'s `mcpServers` as the sidecar's configuration: stdio servers and HTTP
    ones (SSE is not supported). A character outside `[A-Za-z0-9_-]` in a name becomes
    `-`; two servers that end up with one name are refused."""
    configured: dict[str, Any] = {}
    problems: list[str] = []
    for index, server in enumerate(servers):
        data: dict[str, Any] = server.model_dump() if hasattr(server, "model_dump") else dict(server)
        name = re.sub(r"[^A-Za-z0-9_-]", "-", str(data.get("name") or f"server{index}"))[:32]
        if name in configured:
            problems.append(f"{index}: {name}: a second server of that name")
            continue
        listed: list[dict[str, Any]] = data.get("env") or data.get("headers") or []
        pairs = {str(pair["name"]): str(pair["value"]) for pair in listed}
        if "command" in data:
            configured[name] = {"command": data["command"], "args": list(data.get("args") or []), "env": pairs}
        elif "url" in data and data.get("type", "http") == "http":
            configured[name] = {"url": data["url"], "headers": pairs}
        else:
            problems.append(f"{index}: {name}: only stdio and HTTP MCP servers are supported")
    if problems:
        raise McpConfigError("mcpServers", problems)
    return McpConfig.parse(configured, "mcpServers")


def locations(call: ToolCallNotification, root: Path) -> list[ToolCallLocation]:
    raw = call.arguments.get("path") or (call.arguments.get("cwd") if call.name == "execute_command" else None)
    if not isinstance(raw, str) or not raw:
        return []
    line = call.arguments.get("start_line")
    return [ToolCallLocation(path=str(absolute(root, raw)), line=line if isinstance(line, int) else None)]


def absolute(root: Path, raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else root / path


def text_content(text: str) -> ContentToolCallContent:
    return helpers.tool_content(helpers.text_block(text))


class Runner:
    """Runs calls for one session: through the client where it can, else here."""

    def __init__(self, client: ClientSide, caps: ClientCapabilities | None, session_id: str, root: Path) -> None:
        self._client = client
        self._session = session_id
        self._root = root
        fs = caps.fs if caps else None
        self._read = bool(fs and fs.read_text_file)
        self._write = bool(fs and fs.write_text_file)
        self._terminal = bool(caps and caps.terminal)
        self._local = WorkspaceTools(root)

    async def run(self, call: ToolCallNotification) -> Outcome:
        try:
            match call.name:
                case "read_file" if self._read:
                    return await self._read_file(call.arguments)
                case "write_file" if self._read and self._write:
                    return await self._write_file(call.arguments)
                case "edit_file" if self._read and self._write:
                    return await self._edit_file(call.arguments)
                case "execute_command" if self._terminal:
                    return await self._command(call.arguments)
                case _:
                    return self._here(call)
        except ToolFailure as exc:
            return Outcome(ToolResultStatus.ERROR, str(exc), [text_content(str(exc))])
        except Exception as exc:  # noqa: BLE001 - the client's error becomes the call's error result
            message = f"the editor could not run {call.name}: {_reason(exc)}"
            return Outcome(ToolResultStatus.ERROR, message, [text_content(message)])

    async def preview(self, call: ToolCallNotification) -> list[Content]:
        """What a write or an edit would change, as ACP's diff, for the permission request
        (an MCP call: its arguments)."""
        if call.server:
            return [text_content(json.dumps(call.arguments, indent=2, ensure_ascii=False)[:4_000])]
        if call.name not in ("write_file", "edit_file"):
            return []
        if not (self._read and self._write):
            diff = self._diff_here(call)
            return [diff] if diff is not None else []
        try:
            path = self._path(call.arguments)
        except ToolFailure:
            return []
        old = await self._old_text(path)
        args = call.arguments
        if call.name == "write_file":
            new = str(args.get("content", ""))
        else:
            new = (old or "").replace(str(args.get("old_text", "")), str(args.get("new_text", "")), 1)
        return [helpers.tool_diff_content(path, new, old)]

    def _here(self, call: ToolCallNotification) -> Outcome:
        diff = self._diff_here(call)
        status, text = self._local.run(call.name, call.arguments)
        content: list[Content] = [diff] if diff is not None and status is ToolResultStatus.SUCCESS else []
        return Outcome(status, text, [*content, text_content(text)])

    def _diff_here(self, call: ToolCallNotification) -> FileEditToolCallContent | None:
        args = call.arguments
        if call.name not in ("write_file", "edit_file") or not isinstance(args.get("path"), str):
            return None
        try:
            target = self._local.path(args["path"])
            old = target.read_text() if target.is_file() else None
        except (ToolFailure, OSError, UnicodeDecodeError):
            return None
        if call.name == "write_file":
            new = str(args.get("content", ""))
        else:
            new = (old or "").replace(str(args.get("old_text", "")), str(args.get("new_text", "")), 1)
        return helpers.tool_diff_content(str(target), new, old)

    def _path(self, args: dict[str, Any]) -> str:
        raw = args.get("path")
        if not isinstance(raw, str) or not raw or "\x00" in raw:
            raise ToolFailure("path must be a non-empty string without NUL bytes")
        return str(absolute(self._root, raw))

    async def _old_text(self, path: str) -> str | None:
        try:
            return (await self._client.read_text_file(session_id=self._session, path=path)).content
        except Exception:  # noqa: BLE001 - a file that does not exist yet has no old text
            return None

    async def _read_file(self, args: dict[str, Any]) -> Outcome:
        path = self._path(args)
        start = args.get("start_line")
        end = args.get("end_line")
        line = start if isinstance(start, int) else None
        limit = end - (line or 1) + 1 if isinstance(end, int) else None
        read = await self._client.read_text_file(session_id=self._session, path=path, line=line, limit=limit)
        return Outcome(ToolResultStatus.SUCCESS, read.content, [])

    async def _write_file(self, args: dict[str, Any]) -> Outcome:
        path = self._path(args)
        content = args.get("content")
        if not isinstance(content, str):
            raise ToolFailure("content must be a string")
        old = await self._old_text(path)
        await self._client.write_text_file(session_id=self._session, path=path, content=content)
        done = f"wrote {len(content.encode())} bytes to {args['path']}"
        return Outcome(ToolResultStatus.SUCCESS, done, [helpers.tool_diff_content(path, content, old)])

    async def _edit_file(self, args: dict[str, Any]) -> Outcome:
        path = self._path(args)
        old_text, new_text = args.get("old_text"), args.get("new_text")
        if not isinstance(old_text, str) or not old_text or not isinstance(new_text, str):
            raise ToolFailure("old_text must be a non-empty string and new_text a string")
        old = await self._old_text(path)
        if old is None:
            raise ToolFailure(f"{args['path']} does not exist")
        found = old.count(old_text)
        if found != 1:
            raise ToolFailure(f"old_text occurs {found} times in {args['path']}; it must occur exactly once")
        new = old.replace(old_text, new_text, 1)
        await self._client.write_text_file(session_id=self._session, path=path, content=new)
        return Outcome(ToolResultStatus.SUCCESS, f"edited {args['path']}", [helpers.tool_diff_content(path, new, old)])

    async def _command(self, args: dict[str, Any]) -> Outcome:
        command = args.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ToolFailure("command must be a non-empty string")
        cwd_raw = args.get("cwd")
        cwd = self._local.path(cwd_raw) if isinstance(cwd_raw, str) and cwd_raw else self._root
        terminal = await self._client.create_terminal(
            session_id=self._session,
            command="/bin/sh",
            args=["-c", command],
            cwd=str(cwd),
            output_byte_limit=OUTPUT_LIMIT,
        )
        terminal_id = terminal.terminal_id
        try:
            exit_status = await self._client.wait_for_terminal_exit(session_id=self._session, terminal_id=terminal_id)
            output = await self._client.terminal_output(session_id=self._session, terminal_id=terminal_id)
        finally:
            await self._client.release_terminal(session_id=self._session, terminal_id=terminal_id)
        code = exit_status.exit_code
        signal = exit_status.signal
        ended = f"exit code {code}" if code is not None else f"killed by {signal}" if signal else "ended"
        cut = " (output truncated)" if output.truncated else ""
        text = f"$ {shlex.join(['sh', '-c', command])}\n{output.output}\n[{ended}{cut}]"
        status = ToolResultStatus.SUCCESS if code == 0 else ToolResultStatus.ERROR
        return Outcome(status, text, [helpers.tool_terminal_ref(terminal_id)])


def _reason(exc: Exception) -> str:
    data = getattr(exc, "data", None)
    message = str(exc) or type(exc).__name__
    return f"{message} ({json.dumps(data)})" if data else message
