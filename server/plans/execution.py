"""Executing an approved plan, one subtask at a time, as a loop (never recursion).

Each call of `plan_step` does one thing and commits it: start the next ready subtask,
run one step of the subtask in progress, or complete the plan. A client tool call of a
subtask stops the turn; its result resumes that subtask's agent, because the subtask
stays `in_progress` and the session's state says where to continue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from protocol.enums import MessageRole, PlanStatus, SessionState, StatusEvent, SubtaskStatus, TurnStatus
from protocol.errors import ErrorCode
from protocol.methods import ErrorInfo, TurnResult
from server.agents import texts
from server.plans import rules as planning
from server.plans.rules import scope_of
from server.turn.agent_step import (
    Completed,
    Continues,
    OutOfSteps,
    Paused,
    PlanSubmitted,
    StepOutcome,
    TextOnly,
    agent_step,
    nudge,
)
from server.turn.deps import Kit, Scope
from server.turn.endings import active_plan, cancel, close_pending, fail, plan_changed, set_plan_status, turn_result
from server.turn.fsm import Event
from server.turn.prompt_view import subtask_brief
from server.turn.unit import Unit, fire, switch_agent
from storage.records import MessageKind, PlanRow, SessionRow, SubtaskRow

SubtaskAction = Callable[[Unit, PlanRow, str], Awaitable[None]]

PLAN_NUDGES = 1


class SubtaskConduct:
    """What a step's outcome means inside a plan: the subtask is done, its agent is
    nudged once, or the subtask (and with it the plan) fails."""

    switch_refusal = (
        "Error: switch_mode is not allowed while a plan executes. Finish this subtask with attempt_completion "
        "(failed: true if you cannot)."
    )

    def __init__(self, plan: PlanRow, subtask: SubtaskRow) -> None:
        self.plan = plan
        self.subtask = subtask

    @property
    def scope(self) -> Scope:
        return scope_of(self.plan, self.subtask)

    async def settle(self, kit: Kit, unit: Unit, outcome: StepOutcome) -> TurnResult | None:
        match outcome:
            case Paused(result=result):
                return result
            case Continues():
                return None
            case Completed(result=text, failed=True) | OutOfSteps(reason=text):
                return await fail_subtask(kit, unit, self.plan, text)
            case Completed(result=text):
                await self._done(unit, text)
                return None
            case TextOnly(text=text):
                if unit.session.nudges < PLAN_NUDGES:
                    await nudge(unit, unit.session.current_agent, texts.PLAN_NUDGE, self.scope)
                else:
                    await self._done(unit, text or "(no result given)")
                return None
            case PlanSubmitted(call_id=call_id):
                text = "Error: create_plan is not available while a plan executes. Finish this subtask instead."
                await unit.say(MessageRole.TOOL, text, tool_call_id=call_id, scope=self.scope)
                return None

    async def _done(self, unit: Unit, result: str) -> None:
        plan, subtask = self.plan, self.subtask
        await unit.tx.plans.set_subtask(plan.id, subtask.id, SubtaskStatus.DONE, result=result)
        await plan_changed(unit, plan.id)
        unit.status(
            StatusEvent.SUBTASK_COMPLETED,
            f"subtask {subtask.id} done: {subtask.title}",
            {"planId": plan.id, "subtaskId": subtask.id, "result": result},
        )


async def plan_step(kit: Kit, s: SessionRow, cancel: asyncio.Event) -> TurnResult | None:
    assert s.active_plan_id is not None
    plan = await kit.db.read.plans.get(s.active_plan_id)
    assert plan is not None
    await kit.progress.start(s.id, plan)
    subtask = planning.current(plan)
    if subtask is not None:
        return await agent_step(kit, s, SubtaskConduct(plan, subtask), cancel)
    async with kit.commit(s.id) as unit:
        upcoming = planning.next_ready(plan)
        if upcoming is not None:
            await _start_subtask(kit, unit, plan, upcoming.id)
            return None
        if all(t.status in planning.SETTLED for t in plan.subtasks):
            return await _complete_plan(kit, unit, plan)
        return await fail_subtask(
            kit, unit, plan, "no subtask can run: " + ", ".join(f"{t.id} is {t.status}" for t in plan.subtasks)
        )


async def _start_subtask(kit: Kit, unit: Unit, plan: PlanRow, subtask_id: str) -> None:
    subtask = next(t for t in plan.subtasks if t.id == subtask_id)
    await unit.tx.plans.set_subtask(plan.id, subtask.id, SubtaskStatus.IN_PROGRESS)
    index, total = planning.position(plan, subtask.id)
    await switch_agent(unit, subtask.agent, f"plan subtask {subtask.id} ({index} of {total}): {subtask.title}")
    await unit.update(turn_steps=0, nudges=0)
    s = unit.session
    brief = subtask_brief(plan, subtask)
    await unit.say(
        MessageRole.USER,
        brief,
        kind=MessageKind.BRIEF,
        agent=subtask.agent,
        scope=scope_of(plan, subtask),
    )
    await plan_changed(unit, plan.id)
    unit.status(
        StatusEvent.SUBTASK_STARTED,
        f"subtask {index} of {total}: {subtask.title}",
        {"planId": plan.id, "subtaskId": subtask.id, "agent": subtask.agent, "index": index, "total": total},
    )
    unit.later(kit.progress.report(s.id, index, total, subtask.title))


async def _complete_plan(kit: Kit, unit: Unit, plan: PlanRow) -> TurnResult:
    done = await set_plan_status(unit, plan.id, PlanStatus.COMPLETED)
    text = planning.summary(done)
    s = unit.session
    await unit.say(MessageRole.ASSISTANT, text, kind=MessageKind.PLAN_SUMMARY)
    await unit.update(active_plan_id=None)
    unit.status(StatusEvent.PLAN_COMPLETED, f"plan completed: {plan.goal}", {"planId": plan.id})
    unit.later(kit.progress.end(s.id, "plan completed"))
    result = turn_result(unit, TurnStatus.COMPLETED, text, plan_id=plan.id)
    await fire(unit, Event.PLAN_COMPLETED, result=result)
    return result


async def approve(unit: Unit, plan: PlanRow) -> None:
    await set_plan_status(unit, plan.id, PlanStatus.IN_PROGRESS)
    await unit.update(turn_steps=0, nudges=0)
    unit.status(StatusEvent.PLAN_APPROVED, f"plan v{plan.version} approved", {"planId": plan.id})
    await fire(unit, Event.PLAN_APPROVED)


async def reject(unit: Unit, plan: PlanRow, feedback: str | None) -> TurnResult:
    await set_plan_status(unit, plan.id, PlanStatus.REJECTED)
    text = "Plan rejected." + (f" Feedback: {feedback}" if feedback else "")
    await unit.say(MessageRole.USER, text, kind=MessageKind.PLAN_REJECTED)
    await unit.update(active_plan_id=None)
    unit.status(StatusEvent.PLAN_REJECTED, text, {"planId": plan.id})
    result = turn_result(unit, TurnStatus.COMPLETED, text, plan_id=plan.id)
    await fire(unit, Event.PLAN_REJECTED, result=result)
    return result


async def revise(unit: Unit, plan: PlanRow, feedback: str) -> None:
    """The architect gets the feedback and will submit version N+1."""
    await set_plan_status(unit, plan.id, PlanStatus.REJECTED)
    await unit.say(
        MessageRole.USER, texts.REVISION.format(version=plan.version, feedback=feedback), kind=MessageKind.REVISION
    )
    await unit.update(active_plan_id=None, turn_steps=0, nudges=0)
    await fire(unit, Event.REVISION_REQUESTED)


async def resume_plan(unit: Unit, plan: PlanRow, why: str) -> None:
    await set_plan_status(unit, plan.id, PlanStatus.IN_PROGRESS)
    await unit.update(turn_steps=0, nudges=0)
    unit.status(StatusEvent.PLAN_RESUMED, why, {"planId": plan.id})
    await fire(unit, Event.PLAN_RESUMED)


async def retry_subtask(unit: Unit, plan: PlanRow, subtask_id: str) -> None:
    subtask = next(t for t in plan.subtasks if t.id == subtask_id)
    await unit.tx.plans.reset_subtask(plan.id, subtask_id, subtask.attempt + 1)
    await resume_plan(unit, plan, f"retrying subtask {subtask_id} (attempt {subtask.attempt + 1})")


async def skip_subtask(unit: Unit, plan: PlanRow, subtask_id: str) -> None:
    await unit.tx.plans.set_subtask(plan.id, subtask_id, SubtaskStatus.SKIPPED)
    unit.status(
        StatusEvent.SUBTASK_SKIPPED, f"subtask {subtask_id} skipped", {"planId": plan.id, "subtaskId": subtask_id}
    )
    await resume_plan(unit, plan, f"subtask {subtask_id} skipped; the plan resumes")


async def in_progress(unit: Unit) -> PlanRow | None:
    """The plan a failure or a cancel of this turn belongs to: one still executing."""
    plan = await active_plan(unit)
    if (
        plan is not None
        and plan.status is PlanStatus.IN_PROGRESS
        and unit.session.state is not SessionState.PLAN_PAUSED
    ):
        return plan
    return None


async def fail_subtask(
    kit: Kit, unit: Unit, plan: PlanRow, reason: str, code: int = ErrorCode.MODEL_ERROR
) -> TurnResult:
    """The running subtask and the plan fail; the session waits for `agent/retrySubtask`
    or `agent/skipSubtask`."""
    subtask = planning.current(plan)
    if subtask is not None:
        await unit.tx.plans.set_subtask(plan.id, subtask.id, SubtaskStatus.FAILED, result=f"failed: {reason}")
        reason = f"subtask {subtask.id} ({subtask.title}) failed: {reason}"
        unit.status(StatusEvent.SUBTASK_FAILED, reason, {"planId": plan.id, "subtaskId": subtask.id})
    await set_plan_status(unit, plan.id, PlanStatus.FAILED)
    unit.status(StatusEvent.PLAN_FAILED, reason, {"planId": plan.id})
    unit.later(kit.progress.end(unit.session.id, "plan failed"))
    result = turn_result(unit, TurnStatus.FAILED, reason, error=ErrorInfo(code=code, message=reason), plan_id=plan.id)
    await fire(unit, Event.PLAN_HALTED, result=result)
    return result


async def pause(kit: Kit, unit: Unit, plan: PlanRow) -> TurnResult:
    """Cancelled inside a plan: unanswered calls closed, the plan paused (`agent/resume`
    continues it with the same subtask)."""
    await close_pending(unit, texts.CANCELLED_RESULT)
    await set_plan_status(unit, plan.id, PlanStatus.PAUSED)
    unit.status(StatusEvent.PLAN_PAUSED, "plan paused: the turn was cancelled", {"planId": plan.id})
    unit.later(kit.progress.end(unit.session.id, "plan paused"))
    result = turn_result(unit, TurnStatus.CANCELLED, "Cancelled; agent/resume continues the plan.", plan_id=plan.id)
    await fire(unit, Event.CANCELLED, result=result)
    return result


async def end_failed(kit: Kit, unit: Unit, reason: str, code: int = ErrorCode.MODEL_ERROR) -> TurnResult:
    """A turn fails: its plan's subtask if one is executing, else the turn."""
    plan = await in_progress(unit)
    return await (fail_subtask(kit, unit, plan, reason, code) if plan else fail(unit, reason, code))


async def end_cancelled(kit: Kit, unit: Unit) -> TurnResult:
    """A turn is cancelled: its executing plan pauses, else the turn ends."""
    plan = await in_progress(unit)
    return await (pause(kit, unit, plan) if plan else cancel(unit))
