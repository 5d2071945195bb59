"""What a user's message does to a session, by the state it finds: a new task, an
answer to the agent's question, or a clear refusal that says what to do instead."""

from __future__ import annotations

import uuid

from protocol.enums import MessageRole, Mode, PlanStatus, SessionState
from protocol.errors import InvalidState
from server.plans import rules as planning
from server.turn.deps import Scope
from server.turn.endings import active_plan, set_plan_status
from server.turn.fsm import Event
from server.turn.orchestrator import route
from server.turn.unit import Unit, fire
from storage.records import MessageKind


async def take_message(unit: Unit, text: str, mode: Mode) -> None:
    s = unit.session
    if s.state in (SessionState.IDLE, SessionState.PLAN_PAUSED):
        if s.state is SessionState.PLAN_PAUSED and s.active_plan_id:
            await set_plan_status(unit, s.active_plan_id, PlanStatus.CANCELLED)  # abandoned for the new task
            await unit.update(active_plan_id=None)
        await unit.update(turn_id=f"turn_{uuid.uuid4().hex[:20]}", turn_steps=0, nudges=0)
        await unit.say(MessageRole.USER, text, kind=MessageKind.TASK)
        await route(unit, mode)
    elif s.state is SessionState.AWAITING_USER_INPUT:
        await unit.say(MessageRole.USER, text, kind=MessageKind.ANSWER, scope=await _scope(unit))
        await unit.update(nudges=0)
        await fire(unit, Event.USER_ANSWERED)
    elif s.state is SessionState.AWAITING_TOOL_RESULTS:
        pending = [c.call_id for c in await unit.tx.tool_calls.pending(s.id) if c.awaits_editor]
        raise InvalidState(
            f"session {s.id} waits for {len(pending)} tool result(s): answer them with agent/toolResult "
            "or end the turn with agent/cancel",
            {"state": s.state, "pendingToolCalls": pending},
        )
    elif s.state is SessionState.AWAITING_PLAN_APPROVAL:
        raise InvalidState(
            f"plan {s.active_plan_id} awaits approval: answer it with agent/approvePlan (approve, reject or revise)",
            {"state": s.state, "planId": s.active_plan_id},
        )
    else:
        raise InvalidState(
            f"session {s.id} was interrupted in state {s.state}: continue it with agent/resume", {"state": s.state}
        )


async def _scope(unit: Unit) -> Scope:
    """The thread the answer belongs to: the running subtask's, else the main one."""
    plan = await active_plan(unit)
    subtask = planning.current(plan) if plan else None
    return planning.scope_of(plan, subtask) if plan and subtask else None
