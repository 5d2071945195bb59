"""How a turn ends: completed, failed, cancelled, or a plan halted, completed or paused."""

from __future__ import annotations

from protocol.enums import (
    MessageRole,
    PlanStatus,
    SessionState,
    ToolCallStatus,
    TurnStatus,
)
from protocol.errors import ErrorCode
from protocol.methods import ErrorInfo, TurnResult
from protocol.notifications import PLAN_UPDATE, PlanUpdateNotification
from server.agents import texts
from server.plans import rules as planning
from server.turn.fsm import Event
from server.turn.tool_results import call_scope
from server.turn.unit import Unit, fire
from storage.records import MessageKind, PlanRow


def turn_result(unit: Unit, status: TurnStatus, message: str | None = None, **extra: object) -> TurnResult:
    s = unit.session
    return TurnResult.model_validate(
        {
            "session_id": s.id,
            "turn_id": s.turn_id or "",
            "status": status,
            "agent": s.current_agent,
            "message": message,
            **extra,
        }
    )


async def plan_changed(unit: Unit, plan_id: str) -> PlanRow:
    """Re-read a plan inside the transaction and queue its snapshot."""
    plan = await unit.tx.plans.get(plan_id)
    assert plan is not None
    unit.emit(PLAN_UPDATE, PlanUpdateNotification(session_id=unit.session.id, plan=planning.snapshot(plan)))
    return plan


async def set_plan_status(unit: Unit, plan_id: str, status: PlanStatus) -> PlanRow:
    await unit.tx.plans.set_status(plan_id, status)
    return await plan_changed(unit, plan_id)


async def active_plan(unit: Unit) -> PlanRow | None:
    """The session's plan if it is executing (or paused mid-execution)."""
    plan_id = unit.session.active_plan_id
    plan = await unit.tx.plans.get(plan_id) if plan_id else None
    if plan and plan.status in (PlanStatus.IN_PROGRESS, PlanStatus.PAUSED, PlanStatus.FAILED):
        return plan
    return None


async def complete_task(unit: Unit, text: str) -> TurnResult:
    result = turn_result(unit, TurnStatus.COMPLETED, text)
    await fire(unit, Event.TASK_COMPLETED, result=result)
    return result


async def fail(unit: Unit, reason: str, code: int = ErrorCode.MODEL_ERROR) -> TurnResult:
    """End the turn as failed (inside a plan, `plans.execution.fail_subtask` instead)."""
    result = turn_result(unit, TurnStatus.FAILED, reason, error=ErrorInfo(code=code, message=reason))
    await fire(unit, Event.TURN_FAILED, result=result)
    return result


async def close_pending(unit: Unit, text: str) -> None:
    """Give every unanswered client call a synthesized result (status cancelled)."""
    for call in await unit.tx.tool_calls.pending(unit.session.id):
        if await unit.tx.tool_calls.answer(call.call_id, ToolCallStatus.CANCELLED, None):
            scope = await call_scope(unit, call)
            await unit.say(MessageRole.TOOL, text, kind=MessageKind.CANCELLED, tool_call_id=call.call_id, scope=scope)


async def cancel(unit: Unit) -> TurnResult:
    """End the turn as cancelled: unanswered calls closed, a plan awaiting approval
    dropped (inside an executing plan, `plans.execution.pause` instead)."""
    await close_pending(unit, texts.CANCELLED_RESULT)
    if unit.session.state is SessionState.AWAITING_PLAN_APPROVAL and unit.session.active_plan_id:
        await set_plan_status(unit, unit.session.active_plan_id, PlanStatus.CANCELLED)
        await unit.update(active_plan_id=None)
    result = turn_result(unit, TurnStatus.CANCELLED, "Cancelled.")
    await fire(unit, Event.CANCELLED, result=result)
    return result
