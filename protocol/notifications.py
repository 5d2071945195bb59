"""Params of every notification the sidecar sends."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from protocol.base import WireModel
from protocol.enums import AgentName, ExecutedBy, StatusEvent
from protocol.plans import Plan


class ToolCallNotification(WireModel):
    session_id: str
    turn_id: str
    call_id: str
    name: str
    arguments: dict[str, Any] = Field(description="The tool's arguments, snake_case as in the tool schema.")
    requires_approval: bool
    reason: str | None = None
    plan_id: str | None = None
    subtask_id: str | None = None
    executed_by: ExecutedBy | None = Field(
        default=None,
        description='"server": the sidecar runs this call (an MCP tool) once the user approves it; the editor only asks '
        "and answers `agent/toolResult` with `success` (run it) or `rejected`, and never executes it. Absent: the editor "
        "executes the call.",
    )
    server: str | None = Field(default=None, description="The MCP server of a server-executed call.")


StreamKind = Literal["text", "thought"]


class StreamNotification(WireModel):
    session_id: str
    turn_id: str
    agent: AgentName
    delta: str
    kind: StreamKind | None = Field(
        default=None,
        description='"thought": the model\'s reasoning, for clients to show dimmed or folded; absent (or "text"): '
        "the assistant's text.",
    )


class StatusNotification(WireModel):
    session_id: str
    turn_id: str
    event: StatusEvent
    detail: str = Field(description="A line for people.")
    data: dict[str, Any] | None = Field(default=None, description="The same, for programs.")


class PlanUpdateNotification(WireModel):
    session_id: str
    plan: Plan


class Notification:
    def __init__(self, name: str, params: type[WireModel]) -> None:
        self.name = name
        self.params = params


TOOL_CALL = Notification("agent/toolCall", ToolCallNotification)
STREAM = Notification("agent/stream", StreamNotification)
STATUS = Notification("agent/status", StatusNotification)
PLAN_UPDATE = Notification("agent/planUpdate", PlanUpdateNotification)

NOTIFICATIONS: tuple[Notification, ...] = (TOOL_CALL, STREAM, STATUS, PLAN_UPDATE)
