"""A stdio transport for MCP servers that controls exactly what the child gets.

The SDK's `stdio_client` adds its own list of inherited variables (`LOGNAME`, `SHELL`,
`TERM`, `USER`) to the environment and wants a file for stderr. Here the child gets
only the environment it is given, and its stderr goes line by line to the log. The
process runs in its own session so that stopping it stops its children too (npx, uvx).
Messages are one JSON-RPC object per line, as the MCP stdio transport specifies.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.os.posix.utilities import terminate_posix_process_tree
from mcp.shared.message import SessionMessage
from mcp.types import jsonrpc_message_adapter
from pydantic import ValidationError

log = logging.getLogger(__name__)

TransportStreams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]

EXIT_GRACE_SECONDS = 2.0
"""How long a server has to exit once its stdin is closed, then again after SIGTERM."""


class CommandNotFound(FileNotFoundError):
    def __init__(self, command: str) -> None:
        super().__init__(f"command not found: {command}")


def resolve_command(command: str, env: Mapping[str, str]) -> str:
    """`command` as an executable path, looked up on the child's own `PATH`."""
    if os.sep in command:
        if os.access(command, os.X_OK) and Path(command).is_file():
            return command
        raise CommandNotFound(command)
    found = shutil.which(command, path=env.get("PATH", os.defpath))
    if found is None:
        raise CommandNotFound(command)
    return found


async def _lines(stream: anyio.abc.ByteReceiveStream) -> AsyncIterator[bytes]:
    pending = bytearray()
    async for chunk in stream:
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            yield bytes(pending[start:end])
            start = end + 1
        del pending[:start]
    if pending:
        yield bytes(pending)


@asynccontextmanager
async def stdio_transport(
    name: str,
    command: str,
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    on_exit: Callable[[], None],
    on_stderr: Callable[[str], None] = lambda _line: None,
    cwd: Path | None = None,
) -> AsyncGenerator[TransportStreams, None]:
    """Run the server and yield the session's streams; `on_exit` is called when its
    stdout ends (it exited or closed it), `on_stderr` with each line it writes there
    (after logging it). Raises `CommandNotFound` or `OSError` if it cannot be started.
    Leaving the context stops the process and its children."""
    process = await anyio.open_process(
        [resolve_command(command, env), *args], env=dict(env), cwd=cwd, start_new_session=True
    )
    to_session, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, from_session = anyio.create_memory_object_stream[SessionMessage](0)

    async def read_stdout() -> None:
        assert process.stdout is not None
        async with to_session:
            with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                async for line in _lines(process.stdout):
                    if not line.strip():
                        continue
                    try:
                        message = jsonrpc_message_adapter.validate_json(line, by_name=False)
                    except ValidationError:
                        log.warning("MCP server %s wrote a line that is not JSON-RPC: %.200r", name, line)
                        continue
                    await to_session.send(SessionMessage(message))
        on_exit()

    async def write_stdin() -> None:
        assert process.stdin is not None
        async with from_session:
            try:
                async for outgoing in from_session:
                    data = outgoing.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                    await process.stdin.send(data.encode())
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
                on_exit()

    async def log_stderr() -> None:
        assert process.stderr is not None
        with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async for line in _lines(process.stderr):
                text = line.decode(errors="replace").rstrip()
                log.info("[%s] %s", name, text)
                on_stderr(text)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read_stdout)
        tasks.start_soon(write_stdin)
        tasks.start_soon(log_stderr)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(name, process)
                for stream in (read_stream, write_stream, to_session, from_session):
                    await stream.aclose()
            tasks.cancel_scope.cancel()


async def _stop(name: str, process: anyio.abc.Process) -> None:
    """Close stdin, give the server a moment to exit, then stop its whole process group."""
    if process.stdin is not None:
        with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdin.aclose()
    if await _exited(process, EXIT_GRACE_SECONDS):
        return
    log.info("MCP server %s did not exit when its stdin closed; terminating it", name)
    if sys.platform == "win32":  # pragma: no cover
        process.kill()
    else:
        await terminate_posix_process_tree(process, EXIT_GRACE_SECONDS)
    if not await _exited(process, EXIT_GRACE_SECONDS):
        log.warning("MCP server %s (pid %d) is still running after SIGKILL", name, process.pid)


async def _exited(process: anyio.abc.Process, seconds: float) -> bool:
    """Whether the process ended within `seconds` (by its return code: `wait()` would
    also wait for a grandchild that holds the pipes)."""
    with anyio.move_on_after(seconds):
        while process.returncode is None:  # noqa: ASYNC110 - only wait() says it ended, see above
            await anyio.sleep(0.02)
    return process.returncode is not None
