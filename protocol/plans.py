"""The plan snapshot sent in `agent/planUpdate` and returned by `agent/getSession`."""

from __future__ import annotations

from pydantic import Field

from protocol.base import WireModel
from protocol.enums import AgentName, PlanStatus, SubtaskStatus


class Subtask(WireModel):
    id: str
    title: str
    description: str = ""
    agent: AgentName
    dependencies: list[str] = Field(default_factory=list[str])
    status: SubtaskStatus
    result: str | None = None


class Plan(WireModel):
    id: str
    session_id: str
    version: int = Field(ge=1)
    goal: str
    status: PlanStatus
    subtasks: list[Subtask]
    feedback: str | None = Field(default=None, description="The revision feedback this version answers.")
