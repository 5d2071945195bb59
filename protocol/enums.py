"""Every enumerated value of the wire contract."""

from __future__ import annotations

from enum import StrEnum


class AgentName(StrEnum):
    ORCHESTRATOR = "orchestrator"
    ARCHITECT = "architect"
    CODE = "code"
    DEBUG = "debug"
    EXPLAIN = "explain"


class Mode(StrEnum):
    """What `agent/sendMessage` may ask for: the classifier (`auto`) or one agent."""

    AUTO = "auto"
    CODE = "code"
    ARCHITECT = "architect"
    DEBUG = "debug"
    EXPLAIN = "explain"


class TurnStatus(StrEnum):
    COMPLETED = "completed"
    AWAITING_TOOL_RESULTS = "awaiting_tool_results"
    AWAITING_PLAN_APPROVAL = "awaiting_plan_approval"
    AWAITING_USER_INPUT = "awaiting_user_input"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SessionState(StrEnum):
    """The orchestrator's state machine, one per session (see `server/fsm.py`)."""

    IDLE = "idle"
    CLASSIFYING = "classifying"
    PLAN_REQUIRED = "plan_required"
    ARCHITECT_PLANNING = "architect_planning"
    AGENT_RUNNING = "agent_running"
    AWAITING_TOOL_RESULTS = "awaiting_tool_results"
    AWAITING_USER_INPUT = "awaiting_user_input"
    AWAITING_PLAN_APPROVAL = "awaiting_plan_approval"
    EXECUTING_PLAN = "executing_plan"
    PLAN_PAUSED = "plan_paused"


class ToolCategory(StrEnum):
    READ = "read"
    WRITE = "write"
    COMMAND = "command"
    PLAN = "plan"
    META = "meta"


class ExecutedBy(StrEnum):
    CLIENT = "client"
    SERVER = "server"


class ToolResultStatus(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    REJECTED = "rejected"


class ToolCallStatus(StrEnum):
    """A client tool call's life: sent and unanswered, answered, or cancelled."""

    PENDING = "pending"
    ANSWERED = "answered"
    CANCELLED = "cancelled"


class PlanDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REVISE = "revise"


class PlanStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class SubtaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class StatusEvent(StrEnum):
    """`agent/status` events. Editors must ignore events they do not know."""

    CLASSIFIED = "classified"
    AGENT_SWITCHED = "agent_switched"
    PLAN_CREATED = "plan_created"
    PLAN_APPROVED = "plan_approved"
    PLAN_REJECTED = "plan_rejected"
    PLAN_PAUSED = "plan_paused"
    PLAN_RESUMED = "plan_resumed"
    SUBTASK_STARTED = "subtask_started"
    SUBTASK_COMPLETED = "subtask_completed"
    SUBTASK_FAILED = "subtask_failed"
    SUBTASK_SKIPPED = "subtask_skipped"
    PLAN_COMPLETED = "plan_completed"
    PLAN_FAILED = "plan_failed"
    RETRYING = "retrying"
    NUDGED = "nudged"
    STATE_CHANGED = "state_changed"
    CONTEXT_COMPACTED = "context_compacted"
    MCP_SERVER_FAILED = "mcp_server_failed"
    SERVER_TOOL_CALL = "server_tool_call"
    """A call the sidecar runs (an MCP tool) started or ended: `data` has callId, name, server,
    status (`in_progress`, `completed`, `failed`) and, at the end, the head of its output."""


class ClassifiedAgent(StrEnum):
    """The classifier's `agent` field: a specialist, or `plan` for a complex task."""

    CODE = "code"
    PLAN = "plan"
    DEBUG = "debug"
    EXPLAIN = "explain"


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class OutsideWorkspace(StrEnum):
    """What a tool call touching a path outside the workspace root gets."""

    ASK = "ask"
    DENY = "deny"


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    SYSTEM = "system"


class DecidedBy(StrEnum):
    POLICY = "policy"
    SESSION_RULE = "session_rule"
    USER = "user"


class Decision(StrEnum):
    AUTO_APPROVED = "auto_approved"
    ASK = "ask"
    REFUSED = "refused"
    APPROVED = "approved"
    REJECTED = "rejected"
