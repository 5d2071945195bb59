"""Params and results of every request the editor sends."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from protocol import method_names as names
from protocol.base import WireModel
from protocol.capabilities import ToolInfo
from protocol.enums import (
    AgentName,
    DecidedBy,
    Decision,
    ExecutedBy,
    MessageRole,
    Mode,
    PlanDecision,
    SessionState,
    ToolCallStatus,
    ToolResultStatus,
    TurnStatus,
)
from protocol.plans import Plan

SessionId = str


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty or whitespace only")
    return value


NonBlank = Annotated[str, Field(min_length=1, json_schema_extra={"pattern": r"\S"}), AfterValidator(_not_blank)]
"""A text or id in params: at least one character that is not whitespace."""


# --- params ------------------------------------------------------------------------


class SendMessageParams(WireModel):
    session_id: NonBlank | None = Field(default=None, description="Absent: a new session.")
    text: NonBlank
    mode: Mode = Mode.AUTO


class ToolResultParams(WireModel):
    session_id: NonBlank
    call_id: NonBlank
    status: ToolResultStatus
    content: str | None = None
    feedback: str | None = None
    remember: bool = False


class ApprovePlanParams(WireModel):
    session_id: NonBlank
    plan_id: NonBlank
    decision: PlanDecision
    feedback: str | None = None


class SessionParams(WireModel):
    """Params of the requests that name only a session."""

    session_id: NonBlank


class ResumeParams(SessionParams):
    pass


class CancelParams(SessionParams):
    pass


class GetSessionParams(SessionParams):
    pass


class DeleteSessionParams(SessionParams):
    pass


class SubtaskParams(WireModel):
    session_id: NonBlank
    plan_id: NonBlank
    subtask_id: NonBlank


class RetrySubtaskParams(SubtaskParams):
    pass


class SkipSubtaskParams(SubtaskParams):
    pass


class ListSessionsParams(WireModel):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: NonBlank | None = None
    all_workspaces: bool = Field(default=False, description="List every workspace's sessions, not only this one's.")


# --- results -----------------------------------------------------------------------


class ErrorInfo(WireModel):
    code: int
    message: str


class TurnUsage(WireModel):
    """A turn's own model usage, across its agents, from its first request so far."""

    requests: int = 0
    prompt_tokens: int = Field(default=0, description="Input tokens, cached ones included.")
    cached_tokens: int = Field(default=0, description="Input tokens the provider served from its prompt cache.")
    completion_tokens: int = 0
    cost_usd: float | None = Field(
        default=None,
        description="USD by litellm's offline price map; absent when a request's price is unknown (never a "
        "partial sum).",
    )


class TurnResult(WireModel):
    """What a request that starts or continues work returns at the turn's stop point."""

    session_id: SessionId
    turn_id: str
    status: TurnStatus
    agent: AgentName
    message: str | None = None
    pending_tool_calls: list[str] = Field(default_factory=list[str])
    plan_id: str | None = None
    error: ErrorInfo | None = None
    usage: TurnUsage | None = Field(default=None, description="The turn's own requests, tokens and cost so far.")


class CancelResult(WireModel):
    cancelled: bool


class DeleteSessionResult(WireModel):
    deleted: bool


class SessionInfo(WireModel):
    id: SessionId
    title: str
    state: SessionState
    current_agent: AgentName
    switch_count: int
    created_at: str
    updated_at: str
    turn_id: str | None = None
    active_plan_id: str | None = None
    interrupted: bool = Field(default=False, description="A step was cut off (crash); `agent/resume` continues it.")
    workspace_root: str | None = Field(default=None, description="The workspace the session works in.")


class MessageInfo(WireModel):
    id: int
    role: MessageRole
    agent: AgentName | None = None
    content: str
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    kind: str = "message"
    plan_id: str | None = None
    subtask_id: str | None = None
    created_at: str
    meta: dict[str, Any] | None = Field(
        default=None,
        description="What a `summary` or `elision` row records: the seqs it covers, tokens before and after.",
    )


class PendingToolCall(WireModel):
    call_id: str
    turn_id: str
    name: str
    arguments: dict[str, Any]
    requires_approval: bool
    reason: str | None = None
    plan_id: str | None = None
    subtask_id: str | None = None
    status: ToolCallStatus = ToolCallStatus.PENDING
    executed_by: ExecutedBy | None = Field(default=None, description='"server": an MCP tool the sidecar runs.')
    server: str | None = None


class AgentUsage(WireModel):
    requests: int = 0
    prompt_tokens: int = Field(default=0, description="Input tokens, cached ones included.")
    completion_tokens: int = 0
    duration_ms: int = 0
    nudges: int = 0
    cached_tokens: int = Field(default=0, description="Input tokens the provider served from its prompt cache.")
    cost_usd: float | None = Field(
        default=None,
        description="USD by litellm's offline price map; absent when any request's price is unknown (never a "
        "partial sum).",
    )


class UsageInfo(WireModel):
    total: AgentUsage
    by_agent: dict[str, AgentUsage]


class ApprovalRecord(WireModel):
    call_id: str
    tool: str
    decided_by: DecidedBy
    decision: Decision
    reason: str
    at: str


class GetSessionResult(WireModel):
    session: SessionInfo
    messages: list[MessageInfo]
    plan: Plan | None = None
    plan_versions: list[Plan] = Field(
        default_factory=list[Plan], description="Every version of the session's plans, oldest first."
    )
    pending_tool_calls: list[PendingToolCall]
    usage: UsageInfo
    approvals: list[ApprovalRecord] = Field(default_factory=list[ApprovalRecord])
    tools: list[ToolInfo] | None = Field(
        default=None,
        description='The MCP tools the session\'s agents may be offered (`executedBy: "server"`, with their '
        "server), as last listed; absent when no MCP server is configured.",
    )


class ListSessionsResult(WireModel):
    sessions: list[SessionInfo]
    next_cursor: str | None = None


class Method:
    """A request's name with its params and result models."""

    def __init__(self, name: str, params: type[WireModel], result: type[WireModel]) -> None:
        self.name = name
        self.params = params
        self.result = result


SEND_MESSAGE = Method(names.SEND_MESSAGE, SendMessageParams, TurnResult)
TOOL_RESULT = Method(names.TOOL_RESULT, ToolResultParams, TurnResult)
APPROVE_PLAN = Method(names.APPROVE_PLAN, ApprovePlanParams, TurnResult)
RESUME = Method(names.RESUME, ResumeParams, TurnResult)
RETRY_SUBTASK = Method(names.RETRY_SUBTASK, RetrySubtaskParams, TurnResult)
SKIP_SUBTASK = Method(names.SKIP_SUBTASK, SkipSubtaskParams, TurnResult)
CANCEL = Method(names.CANCEL, CancelParams, CancelResult)
GET_SESSION = Method(names.GET_SESSION, GetSessionParams, GetSessionResult)
LIST_SESSIONS = Method(names.LIST_SESSIONS, ListSessionsParams, ListSessionsResult)
DELETE_SESSION = Method(names.DELETE_SESSION, DeleteSessionParams, DeleteSessionResult)

METHODS: tuple[Method, ...] = (
    SEND_MESSAGE,
    TOOL_RESULT,
    APPROVE_PLAN,
    RESUME,
    RETRY_SUBTASK,
    SKIP_SUBTASK,
    CANCEL,
    GET_SESSION,
    LIST_SESSIONS,
    DELETE_SESSION,
)
