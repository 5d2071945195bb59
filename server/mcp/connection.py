"""One MCP server, running: started when first needed, kept alive, restarted.

Each server has one owner task for the sidecar's lifetime. It alone enters and leaves the
transport and the `ClientSession` (anyio requires a task group to be left by the task that
entered it), and publishes each connection through a future; callers then use the session
from their own tasks, which the SDK allows. So a call never starts or stops anything, and
a caller that is cancelled cannot take a server down with it.

After a server dies, the owner starts it again at once, then with growing delays while it
keeps dying (a call that succeeds, or a long run, resets them); the calls that arrive
meanwhile wait for the new connection. A server that fails to start is reported once
through `on_failure` (again only after it has run in between); it is tried again, after
the same delays, only when next needed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import httpx2
from mcp import types
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT
from pydantic import ValidationError

from server.mcp.config import HttpServer, StdioServer, child_environment, request_headers
from server.mcp.options import FailureCallback, McpOptions
from server.mcp.stdio import EXIT_GRACE_SECONDS, stdio_transport
from server.mcp.tools import (
    McpCallInterrupted,
    McpResult,
    McpServerUnavailable,
    McpTool,
    render,
    to_tool,
)

log = logging.getLogger(__name__)

CLIENT_INFO = types.Implementation(name="codelab-agent", version="0.1.0")
MAX_PAGES = 100
"""`tools/list` pages read from one server (a server that pages forever is cut off)."""


@dataclass
class _Live:
    """One running connection."""

    session: ClientSession
    tools: list[McpTool]
    ended: anyio.Event
    since: float = field(default_factory=lambda: asyncio.get_running_loop().time())


class ServerConnection:
    """One configured server and its owner task (see the module docstring)."""

    def __init__(
        self,
        name: str,
        config: StdioServer | HttpServer,
        options: McpOptions,
        env: Mapping[str, str],
        on_failure: FailureCallback,
    ) -> None:
        self.name = name
        self._config = config
        self._options = options
        self._env = env
        self._on_failure = on_failure
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[_Live] | None = None
        """The current connection, or the attempt to make one (None: never needed yet)."""
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._scope: anyio.CancelScope | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._reported = False
        self._stale = False
        self._stderr: deque[str] = deque(maxlen=5)

    async def live(self) -> _Live:
        """The running connection, started (or waited for) if need be."""
        if self._closed.is_set():
            raise McpServerUnavailable(self.name, "the sidecar is shutting down")
        loop = asyncio.get_running_loop()
        ready = self._ready
        if ready is not None and ready.done() and ready.exception() is None and ready.result().ended.is_set():
            self._died(ready.result())  # it has just exited: wait for the restart rather than fail on it
            ready = self._ready
        if ready is None or (ready.done() and ready.exception() is not None and loop.time() >= self._retry_at):
            ready = self._ready = loop.create_future()
            self._wake.set()
        if self._task is None:
            self._task = loop.create_task(self._own(), name=f"mcp server {self.name}")
            self._task.add_done_callback(self._owner_done)
        wait = self._options.start_timeout + max(self._retry_at - loop.time(), 0.0) + 1.0
        try:
            return await asyncio.wait_for(asyncio.shield(ready), wait)
        except TimeoutError:
            raise McpServerUnavailable(self.name, f"not started within {wait:.0f} s") from None

    async def tools(self, *, strict: bool = False) -> list[McpTool]:
        """Its tools (listed again if it said they changed); none if it is not available,
        unless `strict`, which raises `McpServerUnavailable`."""
        try:
            live = await self.live()
        except McpServerUnavailable:
            if strict:
                raise
            return []
        if self._stale:
            self._stale = False
            try:
                with anyio.fail_after(self._options.call_timeout):
                    live.tools = await self._list(live.session)
            except (MCPError, TimeoutError, ValidationError) as error:
                self._stale = True
                log.warning("MCP server %s: listing its tools again failed: %s", self.name, error)
        return live.tools

    async def call(self, tool: McpTool, arguments: dict[str, Any], timeout_seconds: float) -> McpResult:
        timeout = timeout_seconds  # (ruff's ASYNC109 keeps `timeout` out of async signatures)
        live = await self.live()
        try:
            with anyio.fail_after(timeout + 1.0):
                result = await live.session.call_tool(tool.name, arguments, read_timeout_seconds=timeout)
        except MCPError as error:
            if error.code == CONNECTION_CLOSED:
                self._died(live)
                raise McpCallInterrupted(self.name, "the server stopped during the call") from None
            if error.code == REQUEST_TIMEOUT:
                raise McpCallInterrupted(self.name, f"no answer within {timeout:g} s") from None
            return McpResult(is_error=True, text=f"MCP error {error.code}: {error.message}")
        except TimeoutError:
            raise McpCallInterrupted(self.name, f"no answer within {timeout:g} s") from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._died(live)
            raise McpCallInterrupted(self.name, "the connection to the server broke during the call") from None
        except (ValidationError, RuntimeError) as error:
            return McpResult(is_error=True, text=f"the MCP server's answer is not valid: {error}")
        self._failures = 0
        return render(result, self._options.max_result_bytes)

    async def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._ready is not None and not self._ready.done():
            self._fail(self._ready, "the sidecar is shutting down")
        if self._scope is not None:
            self._scope.cancel()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 3 * EXIT_GRACE_SECONDS + 2.0)
        except TimeoutError:
            log.warning("MCP server %s did not stop in time; abandoning it", self.name)
            self._task.cancel()

    def _died(self, live: _Live) -> None:
        """Make new callers wait for the restart, and tell the owner."""
        ready = self._ready
        if ready is not None and ready.done() and not ready.exception() and ready.result() is live:
            self._ready = asyncio.get_running_loop().create_future()
        live.ended.set()

    def _fail(self, ready: asyncio.Future[_Live], reason: str) -> None:
        ready.set_exception(McpServerUnavailable(self.name, reason))
        ready.exception()  # retrieved: a failure nobody waited for is not an error to log

    def _owner_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("MCP server %s: its owner task failed", self.name, exc_info=task.exception())

    async def _own(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closed.is_set():
                return
            ready = self._ready
            assert ready is not None
            failure, uptime = await self._connect(ready)
            if self._closed.is_set():
                return
            if uptime > self._options.backoff_max:  # it had been fine for a while
                self._failures = 0
            self._failures += 1
            delay = min(self._options.backoff_initial * 2 ** (self._failures - 2), self._options.backoff_max)
            if failure is None:  # it ran, then stopped: start it again, at once the first time
                delay = 0.0 if self._failures == 1 else delay
                log.warning("MCP server %s stopped; starting it again in %.1f s", self.name, delay)
                self._retry_at = loop.time() + delay
                if await self._sleep(delay):
                    return
                self._wake.set()
                continue
            log.warning("MCP server %s could not be started: %s", self.name, failure)
            self._retry_at = loop.time() + max(delay, self._options.backoff_initial)
            if not ready.done():
                self._fail(ready, failure)
            if not self._reported:
                self._reported = True
                self._on_failure(self.name, failure)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless closed first; whether it was closed."""
        try:
            await asyncio.wait_for(self._closed.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _connect(self, ready: asyncio.Future[_Live]) -> tuple[str | None, float]:
        """Run one connection until it ends: the reason it could not start (None if it
        did), and for how many seconds it ran."""
        live: _Live | None = None
        self._stderr.clear()
        ended = anyio.Event()
        try:
            with anyio.CancelScope() as self._scope:
                if self._closed.is_set():
                    self._scope.cancel()
                async with AsyncExitStack() as stack:
                    session = await self._open(stack, ended)
                    tools: list[McpTool] = []
                    with anyio.move_on_after(self._options.start_timeout) as start:
                        await session.initialize()
                        tools = await self._list(session)
                    if start.cancelled_caught:
                        reason = self._reason(f"no answer within {self._options.start_timeout:g} s")
                        if not ready.done():
                            self._fail(ready, reason)  # now: stopping it may take a while
                        return reason, 0.0
                    live = _Live(session, tools, ended)
                    self._reported, self._stale = False, False
                    log.info("MCP server %s started with %d tools", self.name, len(tools))
                    if ready.done():  # close() gave up on this attempt
                        return None, 0.0
                    ready.set_result(live)
                    await ended.wait()
        except Exception as error:  # noqa: BLE001 - every way a server fails is reported, none is raised
            if live is None:
                return self._reason(_describe(error)), 0.0
            log.warning("MCP server %s failed: %s", self.name, _describe(error))
        finally:
            self._scope = None
            if live is not None:
                self._died(live)
        if live is None:
            return self._reason("it stopped during start-up"), 0.0
        return None, asyncio.get_running_loop().time() - live.since

    async def _open(self, stack: AsyncExitStack, ended: anyio.Event) -> ClientSession:
        """Start the transport and the session on `stack`; `ended` is set if the process exits."""
        protected = self._options.protected_env
        if isinstance(self._config, StdioServer):
            env = child_environment(self._config, self._env, protected=protected)
            transport = stdio_transport(
                self.name,
                self._config.command,
                self._config.args,
                env,
                on_exit=ended.set,
                on_stderr=self._stderr.append,
                cwd=self._options.cwd,
            )
            read, write = await stack.enter_async_context(transport)
        else:
            headers = request_headers(self._config, self._env, protected=protected)
            client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
            await stack.enter_async_context(client)
            read, write = await stack.enter_async_context(streamable_http_client(self._config.url, http_client=client))
        session = ClientSession(
            read,
            write,
            read_timeout_seconds=self._options.call_timeout,
            message_handler=self._on_message,
            logging_callback=self._on_log,
            client_info=CLIENT_INFO,
        )
        return await stack.enter_async_context(session)

    def _reason(self, what: str) -> str:
        tail = " | ".join(line for line in self._stderr if line.strip())
        return f"{what} (its last stderr lines: {tail})" if tail else what

    async def _list(self, session: ClientSession) -> list[McpTool]:
        tools: list[McpTool] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            tools += [to_tool(self.name, tool) for tool in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._stale = True
        elif isinstance(message, Exception):
            log.warning("MCP server %s: %s", self.name, _describe(message))

    async def _on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        log.info("[%s] %s: %s", self.name, params.level, params.data)


def _describe(error: BaseException) -> str:
    """The innermost meaningful message of an error (anyio wraps them in groups)."""
    leaf = _leaf(error)
    if isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED:
        return "it closed the connection"
    return str(leaf) or type(leaf).__name__


def _leaf(error: BaseException) -> BaseException:
    group = cast(BaseExceptionGroup[BaseException], error) if isinstance(error, BaseExceptionGroup) else None
    return _leaf(group.exceptions[0]) if group is not None and group.exceptions else cast(BaseException, error)
