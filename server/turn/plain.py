"""What a step's outcome means in a plain turn (outside a plan): the turn completes or
fails, the agent is nudged, or the architect's plan is taken for the user's approval."""

from __future__ import annotations

from protocol.enums import AgentName, MessageRole, StatusEvent, TurnStatus
from protocol.methods import TurnResult
from protocol.tools import CreatePlanArgs
from server.agents import texts
from server.plans import rules as planning
from server.turn.agent_step import (
    Completed,
    Continues,
    OutOfSteps,
    Paused,
    PlanSubmitted,
    StepOutcome,
    TextOnly,
    nudge,
)
from server.turn.deps import Kit, Scope
from server.turn.endings import complete_task, fail, plan_changed, turn_result
from server.turn.fsm import Event
from server.turn.unit import Unit, fire
from storage.records import MessageKind

ARCHITECT_NUDGES = 2
EMPTY_NUDGES = 2


class PlainTurn:
    """The conduct of a step in the session's main conversation."""

    scope: Scope = None
    switch_refusal: str | None = None

    async def settle(self, kit: Kit, unit: Unit, outcome: StepOutcome) -> TurnResult | None:
        match outcome:
            case Paused(result=result):
                return result
            case Continues():
                return None
            case Completed(result=text, failed=failed):
                await unit.say(MessageRole.ASSISTANT, text, kind=MessageKind.COMPLETION)
                return await fail(unit, text) if failed else await complete_task(unit, text)
            case TextOnly(text=text):
                return await self._text_only(unit, text)
            case PlanSubmitted(call_id=call_id, args=args):
                return await _take_plan(kit, unit, call_id, args)
            case OutOfSteps(reason=reason):
                return await fail(unit, reason)

    @staticmethod
    async def _text_only(unit: Unit, text: str) -> TurnResult | None:
        s = unit.session
        if s.current_agent is AgentName.ARCHITECT:
            if s.nudges < ARCHITECT_NUDGES:
                await nudge(unit, s.current_agent, texts.ARCHITECT_NUDGE, None)
                return None
            return await fail(
                unit,
                f"the architect answered {s.nudges + 1} times without calling create_plan or ask_followup_question",
            )
        if not text:
            if s.nudges < EMPTY_NUDGES:
                await nudge(unit, s.current_agent, texts.EMPTY_NUDGE, None)
                return None
            return await fail(unit, "the model kept answering with empty replies")
        return await complete_task(unit, text)


async def _take_plan(kit: Kit, unit: Unit, call_id: str, args: CreatePlanArgs) -> TurnResult | None:
    """A valid plan becomes the session's next version, submitted for approval; an
    invalid one goes back to the architect."""

    async def answer(text: str) -> None:
        await unit.say(MessageRole.TOOL, text, tool_call_id=call_id)

    try:
        planning.validate(args)
    except planning.PlanInvalid as exc:
        await answer(f"Error: the plan is invalid: {exc}. Correct it and call create_plan again.")
        return None
    s = unit.session
    version = await unit.tx.plans.latest_version(s.id) + 1
    feedback = await _revision_feedback(kit, s.id) if version > 1 else None
    plan = planning.new_plan(s.id, version, args, feedback)
    await unit.tx.plans.add(plan)
    await unit.update(active_plan_id=plan.id)
    await answer(
        f"Plan version {version} ({len(plan.subtasks)} subtasks) was submitted to the user for approval. Stop here."
    )
    await plan_changed(unit, plan.id)
    unit.status(StatusEvent.PLAN_CREATED, f"plan v{version}: {plan.goal}", {"planId": plan.id, "version": version})
    result = turn_result(unit, TurnStatus.AWAITING_PLAN_APPROVAL, f"Plan v{version}: {plan.goal}", plan_id=plan.id)
    await fire(unit, Event.PLAN_CREATED, result=result)
    return result


async def _revision_feedback(kit: Kit, session_id: str) -> str | None:
    messages = await kit.threads.get(session_id, None)
    revisions = [m.content for m in messages if m.kind is MessageKind.REVISION]
    return revisions[-1] if revisions else None
