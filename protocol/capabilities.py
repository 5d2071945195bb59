"""The `capabilities.experimental.agent` block of the `initialize` result,
and the classifier's answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from protocol.base import WireModel
from protocol.enums import AgentName, ClassifiedAgent, Confidence, ExecutedBy, ToolCategory

PROTOCOL_VERSION = 1


class ToolInfo(WireModel):
    name: str
    executed_by: ExecutedBy
    category: ToolCategory
    description: str
    parameters: dict[str, Any]
    server: str | None = Field(
        default=None,
        description="The MCP server that runs the tool (`mcp__<server>__<tool>`); absent for built-in tools.",
    )


class AgentInfo(WireModel):
    name: AgentName
    description: str
    tools: list[str]


class AgentCapability(WireModel):
    protocol_version: int = PROTOCOL_VERSION
    agents: list[AgentInfo]
    tools: list[ToolInfo]


class ClassifierAnswer(BaseModel):
    """The JSON object the classifier model must answer with (snake_case, as the
    model writes it). `is_atomic == False` implies `agent == "plan"`."""

    model_config = ConfigDict(extra="ignore")

    is_atomic: bool
    agent: ClassifiedAgent
    confidence: Confidence
    reason: str
