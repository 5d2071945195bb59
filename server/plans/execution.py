"""Executing an approved plan, one subtask at a time, as a loop (never recursion).

Each call of `plan_step` does one thing and commits it: start the next ready subtask,
run one step of the subtask in progress, or complete the plan. A client tool call of a
subtask stops the turn; its result resumes that subtask's agent, because the subtask
stays `in_progress` and the session's state says where to continue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from protocol.enums import MessageRole, PlanStatus, StatusEvent, SubtaskStatus, TurnStatus
from protocol.methods import TurnResult
from server.plans import rules as planning
from server.turn.agent_step import Where, agent_step
from server.turn.deps import Kit
from server.turn.endings import fail, plan_changed, set_plan_status, turn_result
from server.turn.fsm import Event
from server.turn.prompt_view import subtask_brief
from server.turn.unit import Unit, fire, switch_agent
from storage.records import PlanRow, SessionRow

SubtaskAction = Callable[[Unit, PlanRow, str], Awaitable[None]]


async def plan_step(kit: Kit, s: SessionRow, cancel: asyncio.Event) -> TurnResult | None:
    assert s.active_plan_id is not None
    plan = await kit.db.read.plans.get(s.active_plan_id)
    assert plan is not None
    await kit.progress.start(s.id, plan)
    subtask = planning.current(plan)
    if subtask is not None:
        return await agent_step(kit, s, Where(plan, subtask), cancel)
    async with kit.commit(s.id) as unit:
        upcoming = planning.next_ready(plan)
        if upcoming is not None:
            await _start_subtask(kit, unit, plan, upcoming.id)
            return None
        if all(t.status in planning.SETTLED for t in plan.subtasks):
            return await _complete_plan(kit, unit, plan)
        return await fail(kit, unit, "no subtask can run: " + ", ".join(f"{t.id} is {t.status}" for t in plan.subtasks))


async def _start_subtask(kit: Kit, unit: Unit, plan: PlanRow, subtask_id: str) -> None:
    subtask = next(t for t in plan.subtasks if t.id == subtask_id)
    await unit.tx.plans.set_subtask(plan.id, subtask.id, SubtaskStatus.IN_PROGRESS)
    index, total = planning.position(plan, subtask.id)
    await switch_agent(unit, subtask.agent, f"plan subtask {subtask.id} ({index} of {total}): {subtask.title}")
    await unit.update(turn_steps=0, nudges=0)
    s = unit.session
    brief = subtask_brief(plan, subtask)
    await unit.say(
        MessageRole.USER, brief, kind="brief", agent=subtask.agent, scope=(plan.id, subtask.id, subtask.attempt)
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
    await unit.say(MessageRole.ASSISTANT, text, kind="plan_summary")
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
    await unit.say(MessageRole.USER, text, kind="plan_rejected")
    await unit.update(active_plan_id=None)
    unit.status(StatusEvent.PLAN_REJECTED, text, {"planId": plan.id})
    result = turn_result(unit, TurnStatus.COMPLETED, text, plan_id=plan.id)
    await fire(unit, Event.PLAN_REJECTED, result=result)
    return result


async def revise(unit: Unit, plan: PlanRow, feedback: str) -> None:
    """The architect gets the feedback and will submit version N+1."""
    await set_plan_status(unit, plan.id, PlanStatus.REJECTED)
    await unit.say(MessageRole.USER, f"Revise the plan (version {plan.version}): {feedback}", kind="revision")
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
