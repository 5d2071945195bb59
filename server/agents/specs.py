"""The five agents: what each is for, which tool groups it may use, its prompt.

Tool permissions are groups of the registry (`server/tools.py`), never lists of names;
an agent may only subtract a tool by name, and a name the registry lacks fails
`validate()` at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from protocol.capabilities import AgentInfo
from protocol.enums import AgentName
from protocol.enums import ToolCategory as G
from server.agents.toolbox import McpAccess
from server.agents.tools import ToolSpec, check_registry, tools_in


@dataclass(frozen=True)
class AgentSpec:
    name: AgentName
    description: str
    groups: tuple[G, ...]
    without: tuple[str, ...] = ()
    mcp: McpAccess = McpAccess.NONE
    """Which of the user's MCP tools it is given, beside its groups."""

    @property
    def tools(self) -> tuple[ToolSpec, ...]:
        return tools_in(self.groups, self.without)

    @property
    def tool_names(self) -> frozenset[str]:
        return frozenset(t.name for t in self.tools)

    @property
    def tools_by_name(self) -> dict[str, ToolSpec]:
        return {t.name: t for t in self.tools}

    @property
    def prompt(self) -> str:
        return _prompt(self.name)

    def info(self) -> AgentInfo:
        return AgentInfo(name=self.name, description=self.description, tools=[t.name for t in self.tools])


AGENTS: dict[AgentName, AgentSpec] = {
    spec.name: spec
    for spec in (
        AgentSpec(AgentName.ORCHESTRATOR, "Classifies each new task and routes it; never calls tools.", ()),
        AgentSpec(
            AgentName.ARCHITECT,
            "Explores the code read-only and writes a plan of subtasks for the user to approve.",
            (G.READ, G.PLAN, G.META),
            without=("switch_mode",),
            mcp=McpAccess.READ_ONLY,
        ),
        AgentSpec(AgentName.CODE, "Writes and changes code.", (G.READ, G.WRITE, G.COMMAND, G.META), mcp=McpAccess.ALL),
        AgentSpec(
            AgentName.DEBUG, "Investigates and fixes errors.", (G.READ, G.WRITE, G.COMMAND, G.META), mcp=McpAccess.ALL
        ),
        AgentSpec(
            AgentName.EXPLAIN, "Answers questions about code and concepts.", (G.READ, G.META), mcp=McpAccess.READ_ONLY
        ),
    )
}


@cache
def _prompt(name: AgentName) -> str:
    return resources.files("server.agents.prompts").joinpath(f"{name.value}.md").read_text(encoding="utf-8").strip()


def validate() -> None:
    """Fail at start-up if an agent names a tool the registry lacks or has no prompt."""
    check_registry()
    for spec in AGENTS.values():
        _ = spec.tools
        if not spec.prompt:
            raise LookupError(f"agent {spec.name} has an empty prompt")
    if set(AGENTS) != set(AgentName):
        raise LookupError("every AgentName needs an AgentSpec")
