"""The user's MCP servers as one set of tools: `tools()` lists them all (starting the
servers not started yet, in parallel), `call()` routes a qualified name to its server.
A server that cannot be started is left out of `tools()`; see `connection.py` for the
lifecycle of each.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

from server.mcp.config import HttpServer, McpConfig, StdioServer
from server.mcp.connection import ServerConnection
from server.mcp.options import FailureCallback, McpOptions
from server.mcp.tools import McpResult, McpTool, McpToolNotFound

log = logging.getLogger(__name__)


def _ignore_failure(server: str, reason: str) -> None:
    pass


class McpManager:
    """The user's MCP servers (see the module docstring). Not reusable after `close()`."""

    def __init__(
        self,
        servers: McpConfig | Mapping[str, StdioServer | HttpServer],
        *,
        on_failure: FailureCallback | None = None,
        options: McpOptions | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        configured = servers.enabled() if isinstance(servers, McpConfig) else dict(servers)
        self.options = options or McpOptions()
        self._on_failure: FailureCallback = on_failure or _ignore_failure
        parent = os.environ if env is None else env
        self._parent = parent
        self._servers = {
            name: ServerConnection(name, config, self.options, parent, self._report)
            for name, config in configured.items()
        }
        self._index: dict[str, McpTool] = {}

    def add(self, servers: McpConfig | Mapping[str, StdioServer | HttpServer]) -> list[str]:
        """More servers, started when first needed; a name already present keeps its
        server. Returns the names added."""
        configured = servers.enabled() if isinstance(servers, McpConfig) else dict(servers)
        added = [name for name in configured if name not in self._servers]
        for name in added:
            self._servers[name] = ServerConnection(name, configured[name], self.options, self._parent, self._report)
        return added

    async def tools(self) -> list[McpTool]:
        """Every available server's tools, starting the servers not started yet (in parallel).
        A server that cannot be started is left out (and reported once)."""
        listings = await asyncio.gather(*(server.tools() for server in self._servers.values()))
        index: dict[str, McpTool] = {}
        for tool in (tool for listing in listings for tool in listing):
            if tool.qualified in index:
                log.warning("MCP tool %s of %s left out: its name is taken", tool.name, tool.server)
                continue
            index[tool.qualified] = tool
        self._index = index
        return list(index.values())

    def known(self) -> list[McpTool]:
        """The tools as last listed (no server is started)."""
        return list(self._index.values())

    async def call(
        self, qualified: str, arguments: Mapping[str, Any] | None = None, *, timeout_seconds: float | None = None
    ) -> McpResult:
        """Call a tool by its qualified name. A result the server gave, error or not, is
        returned; `McpCallError` is raised when there is none (see its subclasses)."""
        tool = self._index.get(qualified) or await self._find(qualified)
        server = self._servers[tool.server]
        return await server.call(tool, dict(arguments or {}), timeout_seconds or self.options.call_timeout)

    async def close(self) -> None:
        """Stop every server (each gets its stdin closed, then SIGTERM, then SIGKILL)."""
        await asyncio.gather(*(server.close() for server in self._servers.values()))

    async def _find(self, qualified: str) -> McpTool:
        """A tool not in the last listing: ask the servers whose prefix it has."""
        owners = [s for name, s in self._servers.items() if qualified.startswith(f"mcp__{name}__")]
        for server in sorted(owners, key=lambda s: len(s.name), reverse=True):
            for tool in await server.tools(strict=len(owners) == 1):
                self._index.setdefault(tool.qualified, tool)
                if tool.qualified == qualified:
                    return tool
        raise McpToolNotFound(qualified)

    def _report(self, server: str, reason: str) -> None:
        try:
            self._on_failure(server, reason)
        except Exception:
            log.exception("on_failure raised for MCP server %s", server)
