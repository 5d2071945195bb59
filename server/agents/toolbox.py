"""The tools an agent is offered at one step: the registry's, plus the tools of the
user's MCP servers that its `McpAccess` admits (`server/agents/specs.py`).

An MCP tool is a `McpSpec`: the sidecar executes it (`executedBy: "server"`), its
arguments are checked against the server's own JSON Schema, and its category is `read`
when the server annotates it `readOnlyHint`, else `write` (it may change something).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from protocol.capabilities import ToolInfo
from protocol.enums import ExecutedBy, ToolCategory
from server.agents.tools import ToolArgumentsError, ToolSpec, function_schema, json_arguments
from server.mcp import McpConfig, McpOptions, McpResult, McpTool, McpToolNotFound

if TYPE_CHECKING:
    from server.mcp.manager import McpManager

log = logging.getLogger(__name__)


class McpAccess(Enum):
    """Which MCP tools an agent is given."""

    NONE = "none"
    READ_ONLY = "read_only"
    """Only tools their server annotates `readOnlyHint: true`."""
    ALL = "all"


@dataclass(frozen=True)
class McpSpec:
    """An MCP server's tool as an agent sees it."""

    tool: McpTool

    executed_by = ExecutedBy.SERVER

    @property
    def name(self) -> str:
        return self.tool.qualified

    @property
    def server(self) -> str:
        return self.tool.server

    @property
    def read_only(self) -> bool:
        return self.tool.read_only

    @property
    def destructive(self) -> bool:
        return self.tool.destructive

    @property
    def category(self) -> ToolCategory:
        return ToolCategory.READ if self.tool.read_only else ToolCategory.WRITE

    @property
    def description(self) -> str:
        own = self.tool.description.strip() or self.tool.name
        return f"{own} (tool {self.tool.name} of the MCP server {self.tool.server})"

    @property
    def parameters(self) -> dict[str, Any]:
        schema = dict(self.tool.input_schema)
        schema.setdefault("type", "object")
        return schema

    def openai_schema(self) -> dict[str, Any]:
        return function_schema(self.name, self.description, self.parameters)

    @property
    def schema_chars(self) -> int:
        """The length of `openai_schema()` as JSON (`ToolSpec.schema_chars`)."""
        return len(json.dumps(self.openai_schema()))

    def info(self) -> ToolInfo:
        return ToolInfo(
            name=self.name,
            executed_by=ExecutedBy.SERVER,
            category=self.category,
            description=self.description,
            parameters=self.parameters,
            server=self.server,
        )

    def parse_arguments(self, raw: str) -> dict[str, Any]:
        """The model's JSON arguments, checked against the tool's schema, or
        `ToolArgumentsError` with what is wrong."""
        arguments = json_arguments(self.name, raw)
        from jsonschema import SchemaError, ValidationError, validators  # noqa: PLC0415 (only once MCP tools are called)

        try:
            validator = validators.validator_for(self.parameters)(self.parameters)  # pyright: ignore[reportUnknownMemberType]
            problems = [
                f"{'.'.join(str(p) for p in error.absolute_path) or '(arguments)'}: {error.message}"
                for error in validator.iter_errors(arguments)  # pyright: ignore[reportUnknownMemberType]
            ]
        except (SchemaError, ValidationError, TypeError, ValueError) as exc:
            # the server's schema itself is broken: let the server judge the arguments
            log.warning("the schema of MCP tool %s cannot be used: %s", self.name, exc)
            return arguments
        if problems:
            raise ToolArgumentsError(f"invalid arguments for {self.name}: {'; '.join(problems[:5])}")
        return arguments


AnyTool = ToolSpec | McpSpec


class Toolbox:
    """The registry's tools and the user's MCP servers' (none without a manager)."""

    def __init__(self, manager: McpManager | None = None, options: McpOptions | None = None) -> None:
        self.manager = manager
        self.options = options or McpOptions()
        self._failures: list[tuple[str, str]] = []

    def add(self, servers: McpConfig) -> list[str]:
        """Servers to offer (started when a step first needs them); a name already
        known keeps its server. Returns the names added."""
        if not servers.enabled():
            return []
        if self.manager is None:
            from server.mcp.manager import McpManager  # noqa: PLC0415 (the SDK loads only when servers are configured)

            self.manager = McpManager(McpConfig(), on_failure=self.failed, options=self.options)
        return self.manager.add(servers)

    def failed(self, server: str, reason: str) -> None:
        """The manager's report of a server that cannot be started (once per server)."""
        self._failures.append((server, reason))

    def take_failures(self) -> list[tuple[str, str]]:
        """The failures not announced yet; the step that met them announces them."""
        failures, self._failures = self._failures, []
        return failures

    async def mcp_tools(self) -> list[McpSpec]:
        """Every MCP tool, starting the servers not started yet; a server that cannot
        start is left out (the manager reports it once)."""
        if self.manager is None:
            return []
        return [McpSpec(t) for t in await self.manager.tools()]

    def known_mcp_tools(self) -> list[McpSpec]:
        """The MCP tools as last listed, starting nothing."""
        if self.manager is None:
            return []
        return [McpSpec(t) for t in self.manager.known()]

    async def for_agent(self, builtin: tuple[ToolSpec, ...], access: McpAccess) -> dict[str, AnyTool]:
        tools: dict[str, AnyTool] = {t.name: t for t in builtin}
        if access is McpAccess.NONE:
            return tools
        for spec in await self.mcp_tools():
            if access is McpAccess.ALL or spec.read_only:
                tools.setdefault(spec.name, spec)
        return tools

    async def call(self, name: str, arguments: Mapping[str, Any], timeout_seconds: float | None = None) -> McpResult:
        if self.manager is None:
            raise McpToolNotFound(name)
        return await self.manager.call(name, arguments, timeout_seconds=timeout_seconds)

    async def close(self) -> None:
        if self.manager is not None:
            await self.manager.close()
