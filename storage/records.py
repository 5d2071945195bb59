"""Rows as plain data. Repositories return these; nothing else reads SQL rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from protocol.enums import (
    AgentName,
    ExecutedBy,
    MessageRole,
    PlanStatus,
    SessionState,
    SubtaskStatus,
    ToolCallStatus,
    ToolResultStatus,
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    title: str
    state: SessionState
    current_agent: AgentName
    switch_count: int
    turn_id: str | None
    turn_steps: int
    nudges: int
    active_plan_id: str | None
    last_result: str | None
    created_at: str
    updated_at: str
    workspace_root: str | None = None
    resume_state: SessionState | None = None
    """Where the current pause returns to (set when it begins)."""


class MessageKind(StrEnum):
    """What a stored message is, beyond its role (`agent/getSession` shows it as text)."""

    MESSAGE = "message"
    TASK = "task"
    ANSWER = "answer"
    QUESTION = "question"
    COMPLETION = "completion"
    NUDGE = "nudge"
    SWITCH_NOTE = "switch_note"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    BRIEF = "brief"
    REVISION = "revision"
    PLAN_REJECTED = "plan_rejected"
    PLAN_SUMMARY = "plan_summary"
    SUMMARY = "summary"
    """Older turns of a thread, summarised to save context (`meta` says which)."""
    ELISION = "elision"
    """Old tool results left out of what the model is shown (`meta` says which)."""


@dataclass(frozen=True, slots=True)
class ThreadScope:
    """The thread of one attempt at one subtask of a plan (the session's main thread has none)."""

    plan_id: str
    subtask_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ModelToolCall:
    """A tool call inside an assistant message, as the model sees it again."""

    id: str
    name: str
    arguments: str

    def to_openai(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True, slots=True)
class MessageRow:
    seq: int
    session_id: str
    turn_id: str | None
    role: MessageRole
    agent: AgentName | None
    content: str
    tool_calls: tuple[ModelToolCall, ...]
    tool_call_id: str | None
    kind: MessageKind
    segment: int
    plan_id: str | None
    subtask_id: str | None
    attempt: int | None
    created_at: str
    meta: dict[str, Any] | None = None
    """A compaction's record (summary and elision rows); None for every other message."""


@dataclass(frozen=True, slots=True)
class ToolCallRow:
    call_id: str
    session_id: str
    turn_id: str
    message_seq: int
    name: str
    arguments: dict[str, Any]
    status: ToolCallStatus
    requires_approval: bool
    reason: str | None
    result_status: ToolResultStatus | None
    plan_id: str | None
    subtask_id: str | None
    created_at: str
    answered_at: str | None
    executed_by: ExecutedBy = ExecutedBy.CLIENT
    server: str | None = None
    """The MCP server of a call the sidecar runs."""
    read_only: bool = False
    """A server-executed call its server annotated read-only: safe to run again."""
    approved_at: str | None = None
    """A server-executed call: when it was cleared to run (by the policy or the user)."""
    started_at: str | None = None
    """A server-executed call: when its last run began. Started and still pending means
    it was cut off (a crash): whether it took effect is unknown."""
    starts: int = 0

    @property
    def awaits_editor(self) -> bool:
        """Pending on the editor's answer: a client call, or a server call to approve."""
        return self.status is ToolCallStatus.PENDING and (
            self.executed_by is ExecutedBy.CLIENT or self.approved_at is None
        )


@dataclass(frozen=True, slots=True)
class SubtaskRow:
    plan_id: str
    id: str
    ord: int
    title: str
    description: str
    agent: AgentName
    dependencies: tuple[str, ...]
    status: SubtaskStatus
    result: str | None
    attempt: int


@dataclass(frozen=True, slots=True)
class PlanRow:
    id: str
    session_id: str
    version: int
    goal: str
    status: PlanStatus
    feedback: str | None
    created_at: str
    updated_at: str
    subtasks: tuple[SubtaskRow, ...]


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    session_id: str
    call_id: str
    tool: str
    decided_by: str
    decision: str
    reason: str
    at: str


@dataclass(frozen=True, slots=True)
class UsageRow:
    agent: AgentName
    requests: int
    prompt_tokens: int
    completion_tokens: int
    duration_ms: int
    nudges: int
    cached_tokens: int = 0
    """Prompt tokens served from the provider's cache (counted in `prompt_tokens` too)."""
    cost_usd: float = 0.0
    """The summed cost of the requests whose price was known."""
    unpriced: int = 0
    """Requests whose price was unknown."""

    @property
    def cost(self) -> float | None:
        """The cost in USD; None while any request's price was unknown (a partial sum
        would understate it)."""
        return None if self.unpriced else self.cost_usd


@dataclass(frozen=True, slots=True)
class TurnUsageRow:
    """A turn's own model usage, across its agents."""

    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: int = 0

    @property
    def cost(self) -> float | None:
        """As `UsageRow.cost`."""
        return None if self.unpriced else self.cost_usd


@dataclass(frozen=True, slots=True)
class TransitionRow:
    session_id: str
    turn_id: str | None
    from_state: SessionState
    to_state: SessionState
    event: str
    at: str


@dataclass(frozen=True, slots=True)
class LeaseRow:
    session_id: str
    holder: str
    host: str
    pid: int
    expires_at: float
