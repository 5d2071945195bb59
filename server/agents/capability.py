"""The `capabilities.experimental.agent` block of the `initialize` result: the protocol
version, the agents and every tool with its JSON Schema.

It depends on nothing but the agent specs and the tool registry, so it is computed once,
when they change, and shipped as `capability.json` beside this module: `initialize`
reads the file instead of importing the agents, the tools and their ~70 pydantic models
(~25 ms of a start). A test keeps the file equal to what `agent_capability()` computes;
after changing an agent or a tool, write it again with

    python -m server.agents.capability > server/agents/capability.json
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from protocol.capabilities import AgentCapability

CAPABILITY_FILE = Path(__file__).with_name("capability.json")


def agent_capability() -> AgentCapability:
    """The block, computed from the agent specs and the tool registry."""
    from protocol.capabilities import AgentCapability  # noqa: PLC0415
    from server.agents.specs import AGENTS  # noqa: PLC0415
    from server.agents.tools import REGISTRY  # noqa: PLC0415

    return AgentCapability(
        agents=[spec.info() for spec in AGENTS.values()],
        tools=[spec.info() for spec in REGISTRY],
    )


@cache
def capability_wire() -> dict[str, Any]:
    """The block as it goes on the wire, from the shipped file."""
    return cast(dict[str, Any], json.loads(CAPABILITY_FILE.read_text(encoding="utf-8")))


def render() -> str:
    return json.dumps(agent_capability().wire(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
