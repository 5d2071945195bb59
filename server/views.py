"""Read-only views of sessions for `agent/getSession` and `agent/listSessions`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence

from protocol.enums import ExecutedBy, ToolCallStatus
from protocol.errors import InvalidParams
from protocol.methods import (
    AgentUsage,
    ApprovalRecord,
    GetSessionResult,
    MessageInfo,
    PendingToolCall,
    SessionInfo,
    TurnUsage,
    UsageInfo,
)
from protocol.notifications import ToolCallNotification
from server.plans import rules as planning
from server.turn.fsm import WORKING
from storage.db import Database
from storage.records import MessageRow, SessionRow, ToolCallRow, UsageRow


def session_info(s: SessionRow, driven: bool) -> SessionInfo:
    return SessionInfo(
        id=s.id,
        title=s.title,
        state=s.state,
        current_agent=s.current_agent,
        switch_count=s.switch_count,
        created_at=s.created_at,
        updated_at=s.updated_at,
        turn_id=s.turn_id,
        active_plan_id=s.active_plan_id,
        interrupted=s.state in WORKING and not driven,
        workspace_root=s.workspace_root,
    )


def message_info(m: MessageRow) -> MessageInfo:
    return MessageInfo(
        id=m.seq,
        role=m.role,
        agent=m.agent,
        content=m.content,
        tool_calls=[c.to_openai() for c in m.tool_calls] or None,
        tool_call_id=m.tool_call_id,
        kind=m.kind,
        plan_id=m.plan_id,
        subtask_id=m.subtask_id,
        created_at=m.created_at,
        meta=m.meta,
    )


def tool_call_notification(c: ToolCallRow) -> ToolCallNotification:
    """The `agent/toolCall` of a stored call: the first send and every re-send alike."""
    return ToolCallNotification(
        session_id=c.session_id,
        turn_id=c.turn_id,
        call_id=c.call_id,
        name=c.name,
        arguments=c.arguments,
        requires_approval=c.requires_approval,
        reason=c.reason,
        plan_id=c.plan_id,
        subtask_id=c.subtask_id,
        executed_by=c.executed_by if c.executed_by is ExecutedBy.SERVER else None,
        server=c.server,
    )


def pending_info(c: ToolCallRow) -> PendingToolCall:
    fields = tool_call_notification(c).model_dump(exclude={"session_id"})
    return PendingToolCall.model_validate({**fields, "status": c.status})


async def get_session(db: Database, s: SessionRow, driven: bool) -> GetSessionResult:
    read = db.read
    messages = await read.messages.for_session(s.id)
    plans = await read.plans.for_session(s.id)
    current = next((p for p in plans if p.id == s.active_plan_id), plans[-1] if plans else None)
    calls = await read.tool_calls.for_session(s.id)
    usage_rows = await read.usage.for_session(s.id)
    by_agent = {u.agent.value: agent_usage([u]) for u in usage_rows}
    total = agent_usage(usage_rows)
    approvals = [
        ApprovalRecord.model_validate(
            {
                "call_id": a.call_id,
                "tool": a.tool,
                "decided_by": a.decided_by,
                "decision": a.decision,
                "reason": a.reason,
                "at": a.at,
            }
        )
        for a in await read.approvals.for_session(s.id)
    ]
    return GetSessionResult(
        session=session_info(s, driven),
        messages=[message_info(m) for m in messages],
        plan=planning.snapshot(current) if current else None,
        plan_versions=[planning.snapshot(p) for p in plans],
        pending_tool_calls=[pending_info(c) for c in calls if c.status is ToolCallStatus.PENDING],
        usage=UsageInfo(total=total, by_agent=by_agent),
        approvals=approvals,
    )


def _cost(costs: Iterable[float | None]) -> float | None:
    """The sum, or None if any is unknown (a partial sum would understate the cost)."""
    known = list(costs)
    return None if None in known else round(sum((c or 0.0) for c in known), 8)


def agent_usage(rows: Sequence[UsageRow]) -> AgentUsage:
    """The figures of `rows` (one agent's, or every agent's for the total) added up."""
    return AgentUsage(
        requests=sum(u.requests for u in rows),
        prompt_tokens=sum(u.prompt_tokens for u in rows),
        cached_tokens=sum(u.cached_tokens for u in rows),
        completion_tokens=sum(u.completion_tokens for u in rows),
        cost_usd=_cost(u.cost for u in rows),
        duration_ms=sum(u.duration_ms for u in rows),
        nudges=sum(u.nudges for u in rows),
    )


async def turn_usage(db: Database, session_id: str, turn_id: str) -> TurnUsage:
    """A turn's own usage, as its TurnResult reports it."""
    u = await db.read.usage.for_turn(session_id, turn_id)
    return TurnUsage(
        requests=u.requests,
        prompt_tokens=u.prompt_tokens,
        cached_tokens=u.cached_tokens,
        completion_tokens=u.completion_tokens,
        cost_usd=_cost([u.cost]),
    )


def encode_cursor(s: SessionRow) -> str:
    return base64.urlsafe_b64encode(json.dumps([s.updated_at, s.id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        updated_at, session_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(updated_at), str(session_id)
    except (ValueError, TypeError) as exc:
        raise InvalidParams("cursor: not a cursor this server returned", {"field": "cursor"}) from exc
